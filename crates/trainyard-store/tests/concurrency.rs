//! Readers work while a supervisor writes, in threads and across processes, and a writer
#![allow(clippy::unwrap_used)] // A test that cannot read its own data should fail loudly.
//! killed mid-transaction leaves a consistent, readable database.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trainyard_store::{JobId, JobState, Liveness, NewEvent, Store};

/// Events per write transaction in the writers below: large, so a kill lands mid-transaction.
const BATCH: u64 = 50;

/// One writer transaction: `BATCH` progress events, then the attempt's step set to their
/// batch number. Readers check the two always agree.
fn write_batch(store: &mut Store, job: &JobId, step: u64) -> trainyard_store::Result<()> {
    let now = trainyard_store::now();
    store.write(|w| {
        for i in 0..BATCH {
            w.append_event(
                job,
                &NewEvent {
                    at: now,
                    kind: "progress",
                    attempt: Some(1),
                    rank: Some(0),
                    node: None,
                    message: &format!("step {step} part {i}"),
                    data: None,
                },
            )?;
        }
        w.record_progress(job, 1, Some(step), now)?;
        w.heartbeat(job, std::process::id(), now)?;
        Ok(())
    })
}

/// Reads the job on one snapshot and checks the writer's invariant; returns the step.
fn check_consistent(store: &mut Store, job: &JobId) -> u64 {
    let detail = store
        .job_detail(job.as_str(), trainyard_store::now(), &Liveness::default())
        .unwrap()
        .unwrap();
    let progress = detail
        .events
        .iter()
        .filter(|e| e.kind == "progress")
        .count() as u64;
    let step = detail.attempts[0].last_step.unwrap_or(0);
    assert_eq!(
        progress,
        step * BATCH,
        "events and step disagree: a torn transaction"
    );
    step
}

fn setup(home: &std::path::Path) -> JobId {
    let mut store = Store::open(home).unwrap();
    let job = common::job(&mut store, "busy", trainyard_store::now());
    common::attempt(&mut store, &job, 1, trainyard_store::now());
    store
        .update_job_state(&job.id, JobState::Running, None, trainyard_store::now())
        .unwrap();
    job.id
}

#[test]
fn readers_in_threads_work_while_a_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let job = setup(dir.path());
    let home = dir.path().to_owned();

    let writer = {
        let (home, job) = (home.clone(), job.clone());
        std::thread::spawn(move || {
            let mut store = Store::open(&home).unwrap();
            for step in 1..=200 {
                write_batch(&mut store, &job, step).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (home, job) = (home.clone(), job.clone());
            std::thread::spawn(move || {
                let mut store = Store::open(&home).unwrap();
                let mut last = 0;
                let mut reads = 0;
                while last < 200 {
                    let step = check_consistent(&mut store, &job);
                    assert!(step >= last, "a reader went back in time");
                    last = step;
                    reads += 1;
                    // `ps` too, which may write a `lost` verdict: it must not be one here.
                    let jobs = store
                        .list_jobs(false, trainyard_store::now(), &Liveness::default())
                        .unwrap();
                    assert_eq!(jobs[0].state, JobState::Running);
                }
                reads
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// The child half of [`a_writer_killed_with_sigkill_leaves_a_consistent_database`]: when
/// started by it (the env var names the home and job), writes batches until killed.
#[test]
fn writer_child() {
    let (Ok(home), Ok(job)) = (
        std::env::var("TRAINYARD_STORE_TEST_HOME"),
        std::env::var("TRAINYARD_STORE_TEST_JOB"),
    ) else {
        return;
    };
    let mut store = Store::open(home.as_ref()).unwrap();
    let job = JobId(job);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut step = 0;
    // Continue where the database is, so a second child extends the same history.
    if let Some(a) = store.attempts(&job).unwrap().first() {
        step = a.last_step.unwrap_or(0);
    }
    while Instant::now() < deadline {
        step += 1;
        write_batch(&mut store, &job, step).unwrap();
    }
}

fn spawn_writer(home: &std::path::Path, job: &JobId) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
        .env("TRAINYARD_STORE_TEST_HOME", home)
        .env("TRAINYARD_STORE_TEST_JOB", job.as_str())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_writer_killed_with_sigkill_leaves_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let job = setup(dir.path());
    let mut reader = Store::open(dir.path()).unwrap();

    for round in 1..=3 {
        let mut child = spawn_writer(dir.path(), &job);
        // Read alongside the other process until it has written a good amount.
        let before = check_consistent(&mut reader, &job);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let step = check_consistent(&mut reader, &job);
            if step >= before + 20 {
                break;
            }
            assert!(Instant::now() < deadline, "writer made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SIGKILL, most likely in the middle of a 50-insert transaction.
        child.kill().unwrap();
        // SIGKILL is delivered asynchronously; wait for the zombie.
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while trainyard_store::pid_alive(pid) != Some(false) {
            assert!(Instant::now() < deadline, "killed writer still alive");
            std::thread::sleep(Duration::from_millis(1));
        }

        // Not yet reaped: the job reads as lost, by pid, at once.
        let jobs = reader
            .list_jobs(false, trainyard_store::now(), &Liveness::default())
            .unwrap();
        assert_eq!(jobs[0].state, JobState::Lost, "round {round}");
        child.wait().unwrap();

        // A fresh connection sees a sound file and no torn transaction.
        let mut fresh = Store::open(dir.path()).unwrap();
        check_consistent(&mut fresh, &job);
        let conn = rusqlite::Connection::open(fresh.path()).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");

        // The next writer carries on after a crash (as a restarted supervisor would).
        fresh
            .update_job_state(&job, JobState::Running, None, trainyard_store::now())
            .unwrap();
    }
    let step = check_consistent(&mut reader, &job);
    assert!(step >= 60);
}
