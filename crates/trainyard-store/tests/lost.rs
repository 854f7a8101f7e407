//! A supervisor that dies leaves a job that reads as `lost`, never as running forever.
#![allow(clippy::unwrap_used)] // A test that cannot read its own data should fail loudly.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{at, T0};
use trainyard_store::{pid_alive, AttemptState, JobState, Liveness, Store};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn fresh_heartbeat_from_a_live_pid_is_not_lost() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    store
        .update_job_state(&job.id, JobState::Running, None, T0)
        .unwrap();
    store
        .heartbeat(&job.id, std::process::id(), at(T0, 9_000))
        .unwrap();
    let jobs = store
        .list_jobs(false, at(T0, 10_000), &Liveness::default())
        .unwrap();
    assert_eq!(jobs[0].state, JobState::Running);
}

#[test]
fn stale_heartbeat_is_lost_and_persisted_with_open_attempts_closed() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    common::attempt(&mut store, &job, 1, at(T0, 100));
    store
        .update_job_state(&job.id, JobState::Running, None, at(T0, 100))
        .unwrap();
    store
        .record_progress(&job.id, 1, Some(3), at(T0, 2_000))
        .unwrap();
    store
        .heartbeat(&job.id, std::process::id(), at(T0, 3_000))
        .unwrap();

    // The threshold is a parameter: 10 s by default, 1 s here.
    let quick = Liveness {
        stale_after: Duration::from_secs(1),
    };
    let now = at(T0, 4_500);
    assert_eq!(
        store.list_jobs(false, now, &Liveness::default()).unwrap()[0].state,
        JobState::Running
    );
    let jobs = store.list_jobs(false, now, &quick).unwrap();
    assert_eq!(jobs[0].state, JobState::Lost);
    assert!(
        jobs[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no supervisor heartbeat for 1.5 s"),
        "{:?}",
        jobs[0].reason
    );

    // Persisted: a plain read sees it, with the job ending at its last sign of life.
    let stored = store.job(&job.id).unwrap().unwrap();
    assert_eq!(stored.state, JobState::Lost);
    assert_eq!(stored.finished_at, Some(at(T0, 3_000)));
    let attempts = store.attempts(&job.id).unwrap();
    assert_eq!(attempts[0].state, AttemptState::Lost);
    assert_eq!(attempts[0].ended_at, Some(at(T0, 3_000)));
    let events = store.events(&job.id, None).unwrap();
    assert_eq!(events.last().unwrap().kind, "job_lost");

    // Judged once: a second reader does not append another event.
    store.list_jobs(false, at(T0, 9_000), &quick).unwrap();
    assert_eq!(store.events(&job.id, None).unwrap().len(), events.len());

    // Goodput stops at the last sign of life: 1 s of training out of 3 s of wall.
    let detail = store
        .job_detail(job.id.as_str(), at(T0, 99_000), &quick)
        .unwrap()
        .unwrap();
    assert_eq!(detail.goodput.wall_ms, 3_000);
    assert_eq!(detail.goodput.lost_ms, 1_000);
}

#[test]
fn a_job_that_never_heartbeats_is_lost_after_the_threshold_from_creation() {
    let (_dir, mut store) = open();
    let job = store
        .create_job(&trainyard_store::NewJob {
            name: "detached",
            spec_toml: "",
            created_at: T0,
            supervisor_pid: None,
        })
        .unwrap();
    let live = Liveness::default();
    assert_eq!(
        store
            .find_job("detached", at(T0, 10_000), &live)
            .unwrap()
            .unwrap()
            .state,
        JobState::Pending
    );
    assert_eq!(
        store
            .find_job(job.id.as_str(), at(T0, 10_001), &live)
            .unwrap()
            .unwrap()
            .state,
        JobState::Lost
    );
}

#[test]
fn dead_supervisor_pid_is_lost_at_once() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    store
        .update_job_state(&job.id, JobState::Running, None, T0)
        .unwrap();

    // A supervisor killed with SIGKILL and not yet reaped is a zombie: still in /proc.
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    store.heartbeat(&job.id, pid, at(T0, 1_000)).unwrap();
    assert_eq!(pid_alive(pid), Some(true));
    let live = Liveness::default();
    assert_eq!(
        store.list_jobs(false, at(T0, 1_500), &live).unwrap()[0].state,
        JobState::Running
    );
    child.kill().unwrap();
    // Wait until the kernel has turned it into a zombie.
    for _ in 0..100 {
        if pid_alive(pid) == Some(false) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pid_alive(pid), Some(false), "a zombie is not alive");
    let jobs = store.list_jobs(false, at(T0, 1_500), &live).unwrap();
    assert_eq!(jobs[0].state, JobState::Lost);
    assert_eq!(
        jobs[0].reason.as_deref(),
        Some(format!("supervisor (pid {pid}) is gone").as_str())
    );
    child.wait().unwrap();
    assert_eq!(pid_alive(pid), Some(false), "a reaped process is gone");
}

#[test]
fn finished_jobs_are_never_lost() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    store
        .update_job_state(&job.id, JobState::Succeeded, None, at(T0, 1))
        .unwrap();
    let jobs = store
        .list_jobs(true, at(T0, 1_000_000), &Liveness::default())
        .unwrap();
    assert_eq!(jobs[0].state, JobState::Succeeded);
}

#[test]
fn a_supervisor_that_moved_on_wins_the_race() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let seen = store.job(&job.id).unwrap().unwrap();
    // The reader judged `seen` stale, but the supervisor heartbeats before the reader writes.
    store
        .heartbeat(&job.id, std::process::id(), at(T0, 20_000))
        .unwrap();
    let marked = store
        .write(|w| w.mark_lost(&seen, "stale", at(T0, 20_001)))
        .unwrap();
    assert!(!marked);
    assert_eq!(
        store.job(&job.id).unwrap().unwrap().state,
        JobState::Pending
    );
}

#[test]
fn a_stalled_supervisor_can_reassert_its_state() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    store
        .update_job_state(&job.id, JobState::Running, None, T0)
        .unwrap();
    store
        .list_jobs(false, at(T0, 60_000), &Liveness::default())
        .unwrap();
    let control = store
        .heartbeat(&job.id, std::process::id(), at(T0, 60_001))
        .unwrap();
    assert_eq!(control.state, JobState::Lost);
    store
        .update_job_state(&job.id, JobState::Running, None, at(T0, 60_002))
        .unwrap();
    let jobs = store
        .list_jobs(false, at(T0, 60_003), &Liveness::default())
        .unwrap();
    assert_eq!(jobs[0].state, JobState::Running);
}
