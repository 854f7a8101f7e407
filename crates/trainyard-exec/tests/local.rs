//! The local driver with real processes: `examples/train.py` and `tests/fixtures/fake_rank.py`.
//!
//! Timing is asserted only where the contract names a bound (hang detection within
//! `hang_timeout` plus a margin), and generously.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use trainyard_job::{ExitStatus, FinalState, JobEventKind};

/// The `final step ...` line of a train.py rank log.
fn final_line(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .rev()
        .find(|l| l.starts_with("final step"))
        .unwrap_or_else(|| panic!("no final line in {}:\n{text}", path.display()))
        .to_string()
}

#[test]
fn crash_once_restarts_from_checkpoint_and_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let train = train_py();
    let run_job = |name: &str, extra: &[&str]| {
        let ckpt = dir.path().join(name).join("ckpt");
        let ckpt = ckpt.to_str().unwrap().to_string();
        let mut args = vec![
            "python3",
            &train,
            "--steps",
            "40",
            "--checkpoint-every",
            "10",
            "--checkpoint-dir",
            &ckpt,
            "--sleep-per-step",
            "0.01",
        ];
        args.extend_from_slice(extra);
        let mut spec = spec(&args, 2, 2);
        spec.max_restarts = 2;
        let job_dir = dir.path().join(name);
        let (outcome, rec) = run(spec, &job_dir);
        (outcome, rec, job_dir)
    };

    let (clean, _, clean_dir) = run_job("clean", &[]);
    assert_eq!(clean.state, FinalState::Succeeded, "{clean:?}");
    assert_eq!(clean.attempts, 1);

    let (crashed, rec, crashed_dir) = run_job("crashed", &["--fail-at-step", "25"]);
    assert_eq!(crashed.state, FinalState::Succeeded, "{crashed:?}");
    assert_eq!(crashed.attempts, 2, "exactly one restart");
    let failed = rec.events_of(JobEventKind::AttemptFailed);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let deaths: Vec<String> = (0..4)
        .map(|r| {
            let path = crashed_dir.join(format!("logs/attempt-1/rank-{r}.exit"));
            format!("rank {r} died at {:?}", std::fs::read_to_string(path).ok())
        })
        .collect();
    assert_eq!(
        failed[0].rank,
        Some(3),
        "the last rank failed: {failed:?}\n{deaths:?}"
    );
    assert_eq!(failed[0].exit, Some(ExitStatus::Code(1)));
    assert!(
        failed[0]
            .stderr_tail
            .iter()
            .any(|l| l.contains("injected failure at step 25")),
        "{failed:?}"
    );

    let resumed = std::fs::read_to_string(rank_log(&crashed_dir, 2, 0, "out")).unwrap();
    assert!(
        resumed.contains("resumed from checkpoint at step 20"),
        "{resumed}"
    );
    let expected = final_line(&rank_log(&clean_dir, 1, 0, "out"));
    for rank in 0..4 {
        assert_eq!(
            final_line(&rank_log(&crashed_dir, 2, rank, "out")),
            expected
        );
    }
}

#[test]
fn hang_is_detected_within_the_timeout_and_the_job_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let train = train_py();
    let ckpt = dir.path().join("ckpt");
    let hang_timeout = Duration::from_secs(3);
    let mut spec = spec(
        &[
            "python3",
            &train,
            "--steps",
            "20",
            "--checkpoint-every",
            "5",
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
            "--hang-at-step",
            "8",
            "--sleep-per-step",
            "0.02",
        ],
        1,
        2,
    );
    // A rank starved of CPU on a loaded machine is indistinguishable from a hung one; spare
    // restarts keep such a spurious second hang from failing the test.
    spec.max_restarts = 3;
    spec.hang_timeout = Some(hang_timeout);
    let rec = Recorder::default();
    let lines = Lines::default();
    let outcome = driver(spec, dir.path(), rec.clone(), Some(&lines))
        .run()
        .unwrap();
    assert_eq!(outcome.state, FinalState::Succeeded, "{outcome:?}");
    assert!(outcome.attempts >= 2, "{outcome:?}");

    let hangs = rec
        .log()
        .events
        .iter()
        .filter(|(_, e)| e.kind == JobEventKind::HangDetected)
        .map(|(t, e)| (*t, e.attempt))
        .collect::<Vec<_>>();
    assert_eq!(hangs.first().map(|h| h.1), Some(Some(1)), "attempt 1 hung");
    let hangs: Vec<Instant> = hangs.iter().map(|h| h.0).collect();
    // The last output before the hang was declared is when the ranks stopped progressing.
    let last_output = lines
        .all()
        .iter()
        .filter(|(t, _)| *t < hangs[0])
        .map(|(t, _)| *t)
        .max()
        .unwrap();
    let latency = hangs[0] - last_output;
    println!("hang declared {latency:?} after the last output (hang_timeout {hang_timeout:?})");
    assert!(
        latency >= hang_timeout - Duration::from_millis(200),
        "{latency:?}"
    );
    assert!(
        latency <= hang_timeout + Duration::from_secs(2),
        "{latency:?}"
    );
    let out = std::fs::read_to_string(rank_log(dir.path(), 2, 0, "out")).unwrap();
    assert!(out.contains("resumed from checkpoint at step 5"), "{out}");
}

#[test]
fn always_failing_job_stops_after_max_restarts_with_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(&["sh", "-c", "echo boom on rank $RANK >&2; exit 3"], 1, 2);
    spec.max_restarts = 2;
    let (outcome, rec) = run(spec, dir.path());
    assert_eq!(outcome.state, FinalState::Failed, "{outcome:?}");
    assert_eq!(outcome.attempts, 3, "first attempt + 2 restarts");
    println!("verdict: {}", outcome.reason);
    let failed = rec.events_of(JobEventKind::AttemptFailed);
    assert_eq!(failed.len(), 3);
    for f in &failed {
        assert_eq!(f.exit, Some(ExitStatus::Code(3)), "{f:?}");
        assert!(
            f.stderr_tail.iter().any(|l| l.starts_with("boom on rank")),
            "{f:?}"
        );
    }
}

#[test]
fn missing_command_fails_with_a_clear_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(&["trainyard-no-such-command", "--x"], 1, 2);
    spec.max_restarts = 1;
    let (outcome, rec) = run(spec, dir.path());
    assert_eq!(outcome.state, FinalState::Failed);
    let launch = rec.events_of(JobEventKind::LaunchFailed);
    assert!(!launch.is_empty(), "{:?}", rec.log().events);
    assert!(
        launch[0]
            .message
            .contains("command not found: `trainyard-no-such-command`"),
        "{launch:?}"
    );
    assert!(rec.log().started.is_empty(), "no rank starts");
    println!("verdict: {}", outcome.reason);
}

#[test]
fn commands_that_exit_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = run(spec(&["true"], 2, 2), &dir.path().join("true"));
    assert_eq!(ok.state, FinalState::Succeeded, "{ok:?}");

    let (bad, rec) = run(spec(&["false"], 1, 2), &dir.path().join("false"));
    assert_eq!(bad.state, FinalState::Failed, "{bad:?}");
    let failed = rec.events_of(JobEventKind::AttemptFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].exit, Some(ExitStatus::Code(1)));
    println!("verdict: {}", bad.reason);

    let (killed, rec) = run(
        spec(&["sh", "-c", "kill -SEGV $$"], 1, 1),
        &dir.path().join("segv"),
    );
    assert_eq!(killed.state, FinalState::Failed);
    let failed = rec.events_of(JobEventKind::AttemptFailed);
    assert_eq!(
        failed[0].exit,
        Some(ExitStatus::Signal(11)),
        "the guard relays the signal"
    );
}

#[test]
fn cancel_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pid_dir = dir.path().join("pids");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let fake = fake_rank();
    let mut spec = spec(
        &[
            "python3",
            &fake,
            "--grandchild",
            "--ignore-term",
            "--hang",
            "--pid-dir",
            pid_dir.to_str().unwrap(),
        ],
        2,
        2,
    );
    spec.stop_grace = Duration::from_millis(500);
    let rec = Recorder::default();
    let driver = driver(spec, dir.path(), rec.clone(), None);
    let cancel = driver.cancel_handle();
    let runner = std::thread::spawn(move || driver.run());
    assert!(
        wait_for(Duration::from_secs(20), || read_pids(&pid_dir).len() == 8),
        "ranks and grandchildren did not start"
    );
    let mut pids = read_pids(&pid_dir);
    pids.extend(rec.guard_pids());
    assert_eq!(pids.len(), 12);
    assert!(pids.iter().all(|&p| !process_gone(p)));

    let cancelled_at = Instant::now();
    cancel.cancel("test cancel");
    let outcome = runner.join().unwrap().unwrap();
    println!("cancel -> run returned in {:?}", cancelled_at.elapsed());
    assert_eq!(outcome.state, FinalState::Cancelled, "{outcome:?}");
    // Ranks and grandchildren ignore SIGTERM: only the SIGKILL after the grace ends them.
    let gone: Vec<_> = pids.iter().filter(|&&p| !process_gone(p)).collect();
    assert!(gone.is_empty(), "still running: {gone:?}");
    let exits = rec.log().exited.clone();
    assert_eq!(exits.len(), 4);
    assert!(
        exits.iter().all(|e| e.3 == ExitStatus::Signal(9)),
        "{exits:?}"
    );
}

#[test]
fn progress_reaches_the_sink_and_a_heartbeat_can_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let train = train_py();
    let ckpt = dir.path().join("ckpt");
    let mut spec = spec(
        &[
            "python3",
            &train,
            "--steps",
            "100000",
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
            "--sleep-per-step",
            "0.01",
        ],
        1,
        2,
    );
    spec.progress_regex = Some(trainyard_job::ProgressRegex::new(r"^step (\d+) loss").unwrap());
    let rec = Recorder::default();
    let driver = driver(spec, dir.path(), rec.clone(), None);
    let runner = std::thread::spawn(move || driver.run());
    assert!(wait_for(Duration::from_secs(30), || {
        rec.log().progress.iter().any(|p| p.1 > Some(5))
    }));
    // As the store does when `trainyard cancel` asked: the next heartbeat answers "cancel".
    rec.log().cancel = Some("cancelled through the store".into());
    let outcome = runner.join().unwrap().unwrap();
    assert_eq!(outcome.state, FinalState::Cancelled, "{outcome:?}");
    let pids = rec.guard_pids();
    assert!(pids.iter().all(|&p| process_gone(p)));
    // Steps only grow, and the progress file (train.py writes it) agrees with the output.
    let steps: Vec<u64> = rec.log().progress.iter().filter_map(|p| p.1).collect();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    let file_step =
        trainyard_exec::read_step_file(&dir.path().join("logs/attempt-1/rank-0.progress"));
    assert!(
        file_step >= steps.last().copied(),
        "{file_step:?} {steps:?}"
    );
}
