//! Parsers on output captured from Slurm 22.05.8 (and hand-written 23.11 shapes).
use trainyard_slurm::{sacct, sinfo, squeue, EndCause, JobState};

fn fixture(path: &str) -> String {
    let p = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn sacct_json_22_05() {
    let jobs = sacct::parse_json(&fixture("slurm-22.05/sacct.json")).expect("parses");
    let ids: Vec<u64> = jobs.iter().map(|j| j.job_id).collect();
    assert_eq!(ids, [6, 7, 8, 9]);
    assert_eq!(jobs[0].state, JobState::Completed);
    assert_eq!(jobs[0].nodes, ["n1", "n2"]);
    assert_eq!(jobs[0].exit_code, Some(0));
    assert_eq!(jobs[1].state, JobState::Failed);
    assert_eq!(jobs[2].state, JobState::Cancelled);
    assert_eq!(jobs[2].state.end_cause(), Some(EndCause::Cancelled));
    assert_eq!(jobs[3].state, JobState::Failed);
    assert_eq!(jobs[3].signal, Some(9));
    assert_eq!(jobs[3].exit_code, None);
    assert!(jobs.iter().all(|j| j.reason.is_none()));
}

#[test]
fn sacct_parsable2_22_05_has_the_real_exit_codes() {
    let jobs = sacct::parse_parsable2(&fixture("slurm-22.05/sacct.txt")).expect("parses");
    assert_eq!(jobs.len(), 4, "steps are skipped");
    assert_eq!(jobs[1].job_id, 7);
    // The JSON of 22.05.8 says 0 here; parsable2 keeps `exit 3`.
    assert_eq!(jobs[1].exit_code, Some(3));
    assert_eq!(jobs[2].state, JobState::Cancelled, "CANCELLED by 0");
    assert_eq!(jobs[3].signal, Some(9));
    assert_eq!(jobs[0].nodes, ["n1", "n2"]);
}

#[test]
fn sacct_json_23_11_shapes() {
    let jobs = sacct::parse_json(&fixture("slurm-23.11/sacct.json")).expect("parses");
    assert_eq!(jobs[0].state, JobState::Timeout);
    assert_eq!(jobs[0].state.end_cause(), Some(EndCause::TimeLimit));
    assert_eq!(jobs[0].signal, Some(15));
    assert_eq!(jobs[0].exit_code, None);
    assert_eq!(jobs[1].state, JobState::Failed);
    assert_eq!(jobs[1].exit_code, Some(3));
    assert_eq!(jobs[1].reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(jobs[1].nodes, ["gpu001", "gpu002", "gpu010"]);
    assert_eq!(jobs[2].state.end_cause(), Some(EndCause::NodeFailure));
}

#[test]
fn sacct_errors_are_reported() {
    assert!(sacct::parse_json("not json").is_err());
    assert!(sacct::parse_json("{}").is_err());
    let e = sacct::parse_json(
        r#"{"errors":[{"error":"Slurm accounting storage is disabled"}],"jobs":[]}"#,
    )
    .expect_err("errors list");
    assert!(e.to_string().contains("accounting storage is disabled"));
    assert!(sacct::parse_parsable2("").is_err());
    assert!(
        sacct::parse_parsable2("A|B\n1|2").is_err(),
        "missing columns"
    );
}

#[test]
fn squeue_running_and_pending() {
    let jobs = squeue::parse(&fixture("slurm-22.05/squeue.txt"));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job_id, 8);
    assert_eq!(jobs[0].state, JobState::Running);
    assert_eq!(jobs[0].nodes, ["n1"]);
    assert_eq!(jobs[0].reason, None);

    let pending = squeue::parse(&fixture("slurm-22.05/squeue-pending.txt"));
    assert_eq!(pending[0].state, JobState::Pending);
    assert!(pending[0].nodes.is_empty());
    let reason = pending[0].reason.as_deref().expect("a reason");
    assert_eq!(reason, "PartitionNodeLimit");
    assert!(squeue::reason_is_permanent(reason));
    assert!(!squeue::reason_is_permanent("Resources"));
    assert!(!squeue::reason_is_permanent("Priority"));
}

#[test]
fn squeue_skips_garbage_lines() {
    let jobs = squeue::parse("warning: something\n12|RUNNING|n[1-2]|None\nabc|R|n1|None\n");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].nodes, ["n1", "n2"]);
}

#[test]
fn sinfo_states_and_drain_reasons() {
    let nodes = sinfo::parse(&fixture("slurm-22.05/sinfo.txt"));
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| !n.unusable));
    assert_eq!(nodes[0].state, "mix");
    let drained = sinfo::parse(&fixture("slurm-22.05/sinfo-drain.txt"));
    assert!(drained[3].unusable);
    assert_eq!(
        drained[3].reason.as_deref(),
        Some("trainyard: rank 3 exit 1")
    );
    let down = sinfo::parse("n1|idle*|none\nn1|idle*|none\n");
    assert_eq!(down.len(), 1, "one line per partition folds");
    assert!(down[0].unusable);
}

/// `sacctmgr -n -P list event` from the dev cluster after the drain and node-down tests: a
/// cluster-wide line (no node), our drain, and the downs.
#[test]
fn node_events_and_which_are_failures() {
    let events = sinfo::parse_events(&fixture("slurm-22.05/sacctmgr-events.txt"));
    assert!(events.iter().all(|e| !e.node.is_empty()), "{events:?}");
    let drain = events.iter().find(|e| e.state == "DRAIN").unwrap();
    assert!(!drain.is_failure());
    assert!(drain
        .reason
        .as_deref()
        .unwrap()
        .starts_with("trainyard: job "));
    let down = events.iter().find(|e| e.state == "DOWN").unwrap();
    assert!(down.is_failure());
    assert_eq!(
        (down.node.as_str(), down.reason.as_deref()),
        ("n2", Some("trainyard-test"))
    );
    let odd = sinfo::parse_events("n3|DOWN*|\n|FAIL|x\nn4|FAILING|\n");
    assert_eq!(odd.len(), 2, "{odd:?}");
    assert!(odd.iter().all(sinfo::NodeEvent::is_failure));
    assert_eq!(odd[0].reason, None);
}

#[test]
fn states_words() {
    assert_eq!(JobState::parse("CANCELLED by 1000"), JobState::Cancelled);
    assert_eq!(JobState::parse("NODE_FAIL"), JobState::NodeFail);
    assert_eq!(
        JobState::parse("PREEMPTED").end_cause(),
        Some(EndCause::Preempted)
    );
    assert_eq!(
        JobState::parse("OUT_OF_MEMORY").end_cause(),
        Some(EndCause::OutOfMemory)
    );
    assert!(JobState::parse("COMPLETED").is_finished());
    assert!(!JobState::parse("PENDING").is_finished());
    assert!(matches!(JobState::parse("REQUEUED"), JobState::Other(_)));
}

#[test]
fn node_addr_from_scontrol_show_node() {
    // Captured from the 22.05.8 dev cluster (`scontrol show node -o n1`), shortened.
    let line = "NodeName=n1 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUEfctv=2 CPUTot=2 NodeAddr=127.0.0.1 NodeHostName=localhost Version=22.05.8 State=IDLE";
    assert_eq!(
        trainyard_slurm::cmd::node_addr_of(line).as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        trainyard_slurm::cmd::node_addr_of("NodeName=n1 State=IDLE"),
        None
    );
}

#[test]
fn job_state_from_scontrol_show_job() {
    // Captured from the 22.05.8 dev cluster right after `scancel` (squeue said COMPLETING).
    let line = "JobId=64 JobName=wrap UserId=root(0) GroupId=root(0) Priority=1 JobState=CANCELLED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:15 NodeList=n1";
    let (state, reason) = trainyard_slurm::cmd::job_state_of(line).expect("a job");
    assert_eq!(state, trainyard_slurm::JobState::Cancelled);
    assert_eq!(reason, None);
    let pending = "JobId=9 JobState=PENDING Reason=PartitionConfig Dependency=(null)";
    let (state, reason) = trainyard_slurm::cmd::job_state_of(pending).expect("a job");
    assert_eq!(state, trainyard_slurm::JobState::Pending);
    assert_eq!(reason.as_deref(), Some("PartitionConfig"));
    assert_eq!(trainyard_slurm::cmd::job_state_of("garbage"), None);
}
