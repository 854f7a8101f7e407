//! The pure pieces of the Slurm driver: the sbatch plan, the agent's placement, the wire.
use std::collections::HashMap;

use trainyard_slurm::placement::Placement;
use trainyard_slurm::protocol::{decode, encode, AgentMsg, SupervisorMsg};
use trainyard_slurm::submit::{shell_quote, AttemptRequest};

fn request() -> AttemptRequest {
    AttemptRequest {
        job_id: "j42".into(),
        attempt: 2,
        nodes: 2,
        nodelist: vec![],
        exclude: vec!["n3".into(), "n1".into()],
        partition: Some("debug".into()),
        time_limit: Some("10:00".into()),
        extra_args: vec!["--exclusive".into()],
        output: "/tmp/x/slurm-%j.out".into(),
        agent: vec![
            "/usr/bin/trainyard".into(),
            "agent".into(),
            "--connect".into(),
            "10.0.0.1:5000".into(),
            "it's".into(),
        ],
    }
}

#[test]
fn plan_excludes_bad_nodes_and_starts_one_agent_per_node() {
    let plan = request().plan();
    assert!(
        plan.args.contains(&"--exclude=n[1,3]".to_string()),
        "{:?}",
        plan.args
    );
    assert!(plan.args.contains(&"--nodes=2".to_string()));
    assert!(plan
        .args
        .contains(&"--job-name=trainyard-j42-a2".to_string()));
    assert!(plan.args.contains(&"--partition=debug".to_string()));
    assert!(plan.args.contains(&"--time=10:00".to_string()));
    assert!(plan.args.contains(&"--no-requeue".to_string()));
    assert_eq!(plan.args.last().map(String::as_str), Some("--exclusive"));
    assert!(plan.script.starts_with("#!/bin/sh\n"));
    assert!(plan.script.contains(
        "exec srun --kill-on-bad-exit=0 --ntasks-per-node=1 --nodes=2 /usr/bin/trainyard agent --connect 10.0.0.1:5000 'it'\\''s'\n"
    ), "{}", plan.script);
    let mut pinned = request();
    pinned.nodelist = vec!["n4".into(), "n2".into()];
    assert!(pinned
        .plan()
        .args
        .contains(&"--nodelist=n[2,4]".to_string()));
    assert!(!plan.args.iter().any(|a| a.starts_with("--nodelist")));
    let mut no_bad = request();
    no_bad.exclude.clear();
    assert!(!no_bad
        .plan()
        .args
        .iter()
        .any(|a| a.starts_with("--exclude")));
}

#[test]
fn shell_quoting() {
    assert_eq!(shell_quote("plain-word_1.2/x=y"), "plain-word_1.2/x=y");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn placement_from_srun_env() {
    let p = Placement::from_env(env(&[
        ("SLURM_JOB_ID", "17"),
        ("SLURM_JOB_NODELIST", "n[1,3-4]"),
        ("SLURM_NODEID", "2"),
        ("SLURMD_NODENAME", "n4"),
    ]))
    .expect("placement");
    assert_eq!(p.nodes, ["n1", "n3", "n4"]);
    assert_eq!(p.master_node(), "n1");
    assert_eq!(p.node_rank, 2);
    assert_eq!(p.ranks(2), 4..6);
    assert_eq!(p.slurm_job_id, 17);
}

#[test]
fn placement_errors_name_the_variable() {
    let e = Placement::from_env(env(&[])).expect_err("empty");
    assert!(e.to_string().contains("SLURM_JOB_NODELIST"), "{e}");
    let e = Placement::from_env(env(&[
        ("SLURM_JOB_ID", "1"),
        ("SLURM_JOB_NODELIST", "n[1-2]"),
        ("SLURM_NODEID", "1"),
        ("SLURMD_NODENAME", "n1"),
    ]))
    .expect_err("mismatch");
    assert!(e.to_string().contains("not node 1"), "{e}");
    let e = Placement::from_env(env(&[
        ("SLURM_JOB_ID", "1"),
        ("SLURM_JOB_NODELIST", "n[1-"),
        ("SLURM_NODEID", "0"),
        ("SLURMD_NODENAME", "n1"),
    ]))
    .expect_err("bad list");
    assert!(e.to_string().contains("n[1-"), "{e}");
}

/// An older agent's `Hello` (no `master_port`) still reads, and a non-master `Hello` is
/// written without the field: the protocol change is additive.
#[test]
fn hello_master_port_is_optional_on_the_wire() {
    let old =
        r#"{"type":"hello","job_id":"j","attempt":2,"node":"n1","node_rank":0,"slurm_job_id":7}"#;
    match decode::<AgentMsg>(old).unwrap() {
        AgentMsg::Hello { master_port, .. } => assert_eq!(master_port, None),
        other => panic!("{other:?}"),
    }
    let line = encode(&AgentMsg::Hello {
        job_id: "j".into(),
        attempt: 2,
        node: "n2".into(),
        node_rank: 1,
        slurm_job_id: 7,
        master_port: None,
    });
    assert!(!line.contains("master_port"), "{line}");
}

#[test]
fn wire_round_trip_one_line_each() {
    let msgs = [
        AgentMsg::Hello {
            job_id: "j".into(),
            attempt: 1,
            node: "n2".into(),
            node_rank: 1,
            slurm_job_id: 9,
            master_port: None,
        },
        AgentMsg::Hello {
            job_id: "j".into(),
            attempt: 1,
            node: "n1".into(),
            node_rank: 0,
            slurm_job_id: 9,
            master_port: Some(29_501),
        },
        AgentMsg::RankStarted { rank: 3, pid: 1234 },
        AgentMsg::Progress {
            rank: 3,
            step: Some(10),
        },
        AgentMsg::RankExited {
            rank: 3,
            code: Some(1),
            signal: None,
            stderr_tail: vec!["boom\n\"x\"".into()],
            failed_at_ms: Some(1_700_000_000_123),
        },
        AgentMsg::Output {
            rank: 2,
            stderr: true,
            text: "Traceback (most recent call last):".into(),
        },
        AgentMsg::Signalled {
            signal: "SIGTERM".into(),
        },
        AgentMsg::Bye,
    ];
    for m in &msgs {
        let line = encode(m);
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line}"
        );
        assert_eq!(&decode::<AgentMsg>(&line).expect("decodes"), m);
    }
    assert!(encode(&AgentMsg::Bye).contains(r#""type":"bye""#));
    let stop = SupervisorMsg::Stop {
        reason: "rank 3 failed".into(),
    };
    assert_eq!(
        decode::<SupervisorMsg>(&encode(&stop)).expect("decodes"),
        stop
    );
    let launch = SupervisorMsg::Launch(trainyard_slurm::protocol::Launch {
        command: vec!["python3".into(), "train.py".into()],
        env: [("A".to_string(), "b c".to_string())].into_iter().collect(),
        workdir: Some("/work".into()),
        procs_per_node: 2,
        master_port: 29500,
        restart_count: 1,
        max_restarts: 3,
        log_dir: "/tmp/j/attempt-2".into(),
        progress_regex: Some(r"^step (\d+)".into()),
        stop_grace_ms: 2000,
    });
    assert_eq!(
        decode::<SupervisorMsg>(&encode(&launch)).expect("decodes"),
        launch
    );
    // An exit from an agent that does not send failed_at_ms still reads.
    let old = r#"{"type":"rank_exited","rank":1,"code":0,"signal":null,"stderr_tail":[]}"#;
    assert!(matches!(
        decode::<AgentMsg>(old),
        Ok(AgentMsg::RankExited {
            failed_at_ms: None,
            ..
        })
    ));
    assert!(decode::<AgentMsg>("{\"type\":\"nope\"}").is_err());
    assert!(decode::<AgentMsg>("garbage").is_err());
}
