//! The supervisor process itself receives a signal: SIGTERM (what `trainyard cancel` sends) and
//! SIGINT cancel the job cleanly; SIGKILL leaves it no chance to clean up, and still no rank
//! nor any of its descendants survives (the rank guards see their lifeline close).
//!
//! The supervisor must be a process of its own, so these tests re-run this test binary with
//! only [`child_supervisor_entry`] selected and an environment variable that makes it run a
//! job (without the variable that test does nothing).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use trainyard_exec::{LocalDriver, NullSink};

const CHILD_DIR: &str = "TRAINYARD_EXEC_TEST_SUPERVISOR_DIR";
/// The job's `stop_grace`; ranks and grandchildren ignore SIGTERM, so teardown takes this long.
const GRACE: Duration = Duration::from_secs(1);

/// Runs a 2 × 2 job of ranks that ignore SIGTERM, each with a grandchild that ignores it too,
/// and that never end; writes the outcome to `$CHILD_DIR/outcome`.
#[test]
fn child_supervisor_entry() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let pid_dir = dir.join("pids");
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
    spec.stop_grace = GRACE;
    let outcome = LocalDriver::new(spec, "job-child", dir.join("logs"), NullSink, None)
        .guard(guard())
        .run()
        .unwrap();
    std::fs::write(
        dir.join("outcome"),
        format!("{}\n{}\n", outcome.state, outcome.reason),
    )
    .unwrap();
}

/// Starts the supervisor process and waits for its 4 ranks and 4 grandchildren; returns it
/// with the pids of every process of the job (guards, ranks, grandchildren).
fn start_supervisor(dir: &Path) -> (std::process::Child, Vec<u32>) {
    let pid_dir = dir.join("pids");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_supervisor_entry", "--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || read_pids(&pid_dir).len() == 8),
        "the job's processes did not start"
    );
    let mut pids = read_pids(&pid_dir);
    // The guards are the ranks' parents.
    let guards: Vec<u32> = pids
        .iter()
        .filter_map(|pid| parent_of(*pid))
        .filter(|ppid| *ppid != child.id())
        .collect();
    pids.extend(guards);
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() >= 12,
        "ranks, grandchildren and guards: {pids:?}"
    );
    assert!(pids.iter().all(|&p| !process_gone(p)));
    (child, pids)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), signal).unwrap();
}

#[test]
fn sigkill_of_the_supervisor_leaves_no_rank_or_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let (mut supervisor, pids) = start_supervisor(dir.path());
    let killed_at = Instant::now();
    signal(supervisor.id(), Signal::SIGKILL);
    supervisor.wait().unwrap();
    // The guards send SIGTERM (ignored here), wait the grace, then SIGKILL their groups.
    let all_gone = wait_for(GRACE + Duration::from_secs(10), || {
        pids.iter().all(|&p| process_gone(p))
    });
    println!(
        "SIGKILL of the supervisor -> all {} processes gone in {:?}",
        pids.len(),
        killed_at.elapsed()
    );
    let alive: Vec<_> = pids.iter().filter(|&&p| !process_gone(p)).collect();
    assert!(all_gone, "still running: {alive:?}");
}

fn signal_cancels_cleanly(sig: Signal) {
    let dir = tempfile::tempdir().unwrap();
    let (mut supervisor, pids) = start_supervisor(dir.path());
    let sent = Instant::now();
    signal(supervisor.id(), sig);
    let status = supervisor.wait().unwrap();
    println!("{sig:?} -> supervisor exited in {:?}", sent.elapsed());
    assert!(status.success(), "{status:?}");
    let outcome = std::fs::read_to_string(dir.path().join("outcome")).unwrap();
    assert!(outcome.starts_with("cancelled\n"), "{outcome}");
    // The supervisor returns only after every rank is gone; grandchildren are SIGKILLed
    // with their group and may take a moment to be reaped by init.
    let all_gone = wait_for(Duration::from_secs(5), || {
        pids.iter().all(|&p| process_gone(p))
    });
    let alive: Vec<_> = pids.iter().filter(|&&p| !process_gone(p)).collect();
    assert!(all_gone, "still running: {alive:?}");
}

#[test]
fn sigterm_to_the_supervisor_cancels_and_leaves_nothing() {
    signal_cancels_cleanly(Signal::SIGTERM);
}

#[test]
fn sigint_to_the_supervisor_cancels_and_leaves_nothing() {
    signal_cancels_cleanly(Signal::SIGINT);
}
