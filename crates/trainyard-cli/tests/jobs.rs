//! The job commands end to end, with real processes: `launch` (foreground and `--detach`),
//! `show --json`, `ps`, `logs`, `cancel`, and the supervisor killed with SIGKILL. Every test
//! has its own `TRAINYARD_HOME` in a temporary directory. No timing is asserted except as
//! generous bounds on waiting.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{
    alive, assert_cancelled_on_request, assert_hang_then_success, crash_spec, detached_id, events,
    hang_spec, kill_9, rank_pids, slow_train_spec, text, train_spec, wait_all_dead, Ctx,
};

/// The `final step ... weights [...]` line of rank `rank` in `attempt`.
fn final_line(ctx: &Ctx, job: &str, attempt: u32, rank: u32) -> String {
    let out = ctx.rank_log(job, attempt, rank);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.contains("final step"))
        .unwrap_or_else(|| panic!("no final line:\n{stdout}"));
    line.split_once("] ").unwrap().1.to_string()
}

#[test]
fn the_readme_example_runs_from_the_repository() {
    let ctx = Ctx::new();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/job.toml");
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for rank in 0..4 {
        let node = rank / 2;
        assert!(
            stdout.contains(&format!("[local-{node}/{rank}] final step 200")),
            "{stdout}"
        );
    }
    let doc = ctx.show("sgd-example");
    assert_eq!(doc["state"], "succeeded");
    assert_eq!(doc["checkpoint_step"], 200, "{doc:#}");
    let ckpt = doc["checkpoint_dir"].as_str().unwrap();
    assert!(ckpt.starts_with(ctx.home().to_str().unwrap()), "{ckpt}");
}

#[test]
fn a_crash_restarts_once_and_ends_with_the_uninterrupted_weights() {
    let ctx = Ctx::new();
    let clean = ctx.spec("clean", &train_spec(40, &["--sleep-per-step", "0.01"], ""));
    let out = ctx.run(&["launch", clean.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let crash = ctx.spec("crash", &crash_spec(""));
    let out = ctx.run(&["launch", crash.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[local-1/3] "),
        "merged, prefixed log: {stdout}"
    );

    let doc = ctx.show("crash");
    assert_eq!(doc["state"], "succeeded", "{doc:#}");
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{doc:#}");
    let first = &attempts[0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["state"], "failed");
    assert_eq!(first["blamed_rank"], 3, "{first:#}");
    assert_eq!(first["blamed_node"], "local-1");
    assert_eq!(first["exit_code"], 1);
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"),
        "{first:#}"
    );
    assert!(first["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(first["ended_at"].as_str().is_some());
    assert!(
        first["stderr_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("injected failure at step 25")),
        "{first:#}"
    );
    assert_eq!(attempts[1]["state"], "succeeded");
    assert_eq!(attempts[1]["restart_count"], 1);
    let goodput = doc["goodput"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&goodput), "{goodput}");

    // Resumed from a checkpoint, and bit-for-bit the uninterrupted run's model.
    ctx.assert_resumed("crash", 2, 20);
    let expected = final_line(&ctx, "clean", 1, 0);
    for rank in 0..4 {
        assert_eq!(final_line(&ctx, "crash", 2, rank), expected, "rank {rank}");
    }

    // The text timeline tells the same story.
    let out = ctx.run(&["show", "crash"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("rank 3 on local-1, exit code 1"), "{shown}");
    assert!(shown.contains("goodput"), "{shown}");
}

#[test]
fn a_hang_is_detected_and_the_job_restarts() {
    let ctx = Ctx::new();
    let spec = ctx.spec("hang", &hang_spec());
    let start = Instant::now();
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(90));
    let doc = ctx.show("hang");
    let attempts = assert_hang_then_success(&doc);
    // Every rank stops at the same step (the others wait in the all-reduce for the hung one),
    // so any of them may be the silent-longest; one is blamed, with no exit status.
    assert!(attempts[0]["blamed_rank"].as_u64().is_some(), "{doc:#}");
    assert!(events(&doc).iter().any(|e| e["kind"] == "hang_detected"));
}

#[test]
fn an_always_failing_job_stops_after_max_restarts() {
    let ctx = Ctx::new();
    let spec = ctx.spec(
        "doomed",
        "command = [\"sh\", \"-c\", \"echo doomed >&2; exit 3\"]\nnodes = 2\n\
         max_restarts = 2\nrestart_backoff = \"100ms\"\nnode_failure_limit = 10\n",
    );
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no restarts left"), "{stderr}");
    let doc = ctx.show("doomed");
    assert_eq!(doc["state"], "failed");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("no restarts left (2 of 2 used)"),
        "{doc:#}"
    );
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for a in attempts {
        assert_eq!(a["state"], "failed", "{a:#}");
        assert_eq!(a["exit_code"], 3, "{a:#}");
    }
    let jobs = ctx.ps_json(&["--all"]);
    assert_eq!(jobs[0]["state"], "failed");
    assert_eq!(jobs[0]["attempts"], 3);
    assert_eq!(jobs[0]["restarts"], 2);
}

/// A long-running detached job; returns its id once its ranks run.
fn detached_job(ctx: &Ctx, name: &str) -> (String, Value) {
    let spec = ctx.spec(name, &slow_train_spec(100_000));
    let id = detached_id(&ctx.run(&["launch", spec.to_str().unwrap(), "--detach"]));
    assert!(id.starts_with("j-"), "{id}");
    let doc = ctx.wait_four_ranks_running(&id);
    (id, doc)
}

#[test]
fn cancel_stops_a_detached_job_and_leaves_no_process() {
    let ctx = Ctx::new();
    let (id, doc) = detached_job(&ctx, "to-cancel");
    let supervisor = doc["supervisor_pid"].as_u64().unwrap();
    let pids = rank_pids(&doc);
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");

    // The detached supervisor is in a session of its own, not ours.
    let doc = ctx.cancel(&id);
    assert_cancelled_on_request(&doc);
    wait_all_dead(&pids, Duration::from_secs(10));
    wait_all_dead(&[supervisor], Duration::from_secs(10));
    // Cancelling again is harmless.
    let again = ctx.run(&["cancel", &id]);
    assert!(again.status.success(), "{}", text(&again));
}

#[test]
fn a_killed_supervisor_leaves_no_rank_and_the_job_reads_lost() {
    let ctx = Ctx::new();
    let (id, doc) = detached_job(&ctx, "orphan");
    let supervisor = doc["supervisor_pid"].as_u64().unwrap();
    let pids = rank_pids(&doc);
    kill_9(supervisor);
    wait_all_dead(&pids, Duration::from_secs(20));

    let jobs = ctx.ps_json(&[]);
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{jobs:#}"));
    assert_eq!(job["state"], "lost", "{job:#}");
    let table = ctx.run(&["ps"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("lost"));

    // A lost job can be acknowledged with cancel.
    assert_eq!(ctx.cancel(&id)["state"], "cancelled");
}

#[test]
fn a_bad_spec_is_refused_with_its_file_and_line() {
    let ctx = Ctx::new();
    let spec = ctx.spec("typo", "command = [\"true\"]\nhang_timout = \"3s\"\n");
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.toml:3:1"), "{stderr}");
    assert!(stderr.contains("did you mean `hang_timeout`?"), "{stderr}");
    // Nothing was created.
    let ps = ctx.run(&["ps", "--all", "--json"]);
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "[]");
}

#[test]
fn a_missing_command_is_a_clear_error() {
    let ctx = Ctx::new();
    let spec = ctx.spec(
        "missing",
        "command = [\"no-such-program-trainyard\", \"--x\"]\n",
    );
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("command not found"), "{stderr}");
    assert!(stderr.contains("no-such-program-trainyard"), "{stderr}");
}

#[test]
fn an_unknown_job_is_a_clear_error() {
    let ctx = Ctx::new();
    for cmd in ["show", "logs", "cancel"] {
        let out = ctx.run(&[cmd, "nope"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no job `nope`"));
    }
}
