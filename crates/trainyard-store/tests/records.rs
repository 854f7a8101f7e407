//! Writing and reading jobs, attempts, ranks, events and verdicts.
#![allow(clippy::unwrap_used)] // A test that cannot read its own data should fail loudly.

mod common;

use std::path::Path;

use common::{at, T0};
use trainyard_store::{
    AttemptEnd, AttemptState, Error, ExitStatus, JobId, JobState, Liveness, NewEvent, NodeVerdict,
    RankStart, Store, Verdict,
};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn create_job_assigns_a_readable_id_and_a_job_dir() {
    let (dir, mut store) = open();
    let job = common::job(&mut store, "train", T0);
    assert!(
        job.id.as_str().starts_with("j-20261128-153012-"),
        "{}",
        job.id
    );
    assert_eq!(job.job_dir, dir.path().join("jobs").join(job.id.as_str()));
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(job.created_at, T0);
    assert_eq!(job.supervisor_pid, Some(std::process::id()));
    assert_eq!(job.heartbeat_at, Some(T0));
    assert!(job.spec_toml.contains("name = \"train\""));

    // Many jobs in the same second still get distinct ids.
    let ids: std::collections::HashSet<JobId> = (0..200)
        .map(|_| common::job(&mut store, "train", T0).id)
        .collect();
    assert_eq!(ids.len(), 200);
}

#[test]
fn state_updates_set_and_clear_finished_at() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    store
        .update_job_state(&job.id, JobState::Running, None, at(T0, 10))
        .unwrap();
    let j = store.job(&job.id).unwrap().unwrap();
    assert_eq!(
        (j.state, j.finished_at, j.updated_at),
        (JobState::Running, None, at(T0, 10))
    );

    store
        .update_job_state(
            &job.id,
            JobState::Failed,
            Some("out of restarts"),
            at(T0, 20),
        )
        .unwrap();
    let j = store.job(&job.id).unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert_eq!(j.finished_at, Some(at(T0, 20)));
    assert_eq!(j.reason.as_deref(), Some("out of restarts"));

    // Back to an active state (a supervisor outliving a `lost` verdict): no longer finished.
    store
        .update_job_state(&job.id, JobState::Running, None, at(T0, 30))
        .unwrap();
    assert_eq!(store.job(&job.id).unwrap().unwrap().finished_at, None);

    let missing = store
        .update_job_state(&JobId::from("j-nope"), JobState::Running, None, T0)
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }));
    assert_eq!(missing.to_string(), "job j-nope not found");
}

#[test]
fn heartbeat_returns_cancel_requests() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let c = store.heartbeat(&job.id, 4242, at(T0, 1000)).unwrap();
    assert_eq!(c.state, JobState::Pending);
    assert_eq!(c.cancel_requested_at, None);

    store.request_cancel(&job.id, at(T0, 1500)).unwrap();
    store.request_cancel(&job.id, at(T0, 1700)).unwrap();
    let c = store.heartbeat(&job.id, 4242, at(T0, 2000)).unwrap();
    assert_eq!(c.cancel_requested_at, Some(at(T0, 1500)));

    let j = store.job(&job.id).unwrap().unwrap();
    assert_eq!(j.supervisor_pid, Some(4242));
    assert_eq!(j.heartbeat_at, Some(at(T0, 2000)));
    assert_eq!(
        j.supervisor_host.as_deref(),
        Some(trainyard_store::this_host().as_str())
    );
}

#[test]
fn lookup_by_id_or_latest_name() {
    let (_dir, mut store) = open();
    let old = common::job(&mut store, "bert", T0);
    let new = common::job(&mut store, "bert", at(T0, 5000));
    let other = common::job(&mut store, "gpt", at(T0, 1000));
    let live = Liveness::default();
    let find = |store: &mut Store, key: &str| {
        store
            .find_job(key, at(T0, 6000), &live)
            .unwrap()
            .map(|j| j.id)
    };
    assert_eq!(find(&mut store, "bert"), Some(new.id.clone()));
    assert_eq!(find(&mut store, old.id.as_str()), Some(old.id.clone()));
    assert_eq!(find(&mut store, "gpt"), Some(other.id));
    assert_eq!(find(&mut store, "nope"), None);
}

#[test]
fn list_jobs_short_list_has_active_and_lost_only() {
    let (_dir, mut store) = open();
    let done = common::job(&mut store, "done", T0);
    let running = common::job(&mut store, "running", at(T0, 1));
    store
        .update_job_state(&done.id, JobState::Succeeded, None, at(T0, 2))
        .unwrap();
    store
        .update_job_state(&running.id, JobState::Running, None, at(T0, 2))
        .unwrap();
    let live = Liveness::default();
    let short = store.list_jobs(false, at(T0, 3), &live).unwrap();
    assert_eq!(
        short.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
        ["running"]
    );
    let all = store.list_jobs(true, at(T0, 3), &live).unwrap();
    // Newest first.
    assert_eq!(
        all.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
        ["running", "done"]
    );
}

#[test]
fn attempts_ranks_and_progress() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    common::attempt(&mut store, &job, 1, at(T0, 100));
    for rank in 0..2 {
        store
            .rank_started(
                &job.id,
                &RankStart {
                    attempt: 1,
                    rank,
                    node: "local-0",
                    local_rank: rank,
                    pid: Some(1000 + rank),
                    started_at: at(T0, 110),
                    stdout_path: Some(Path::new("/tmp/r.out")),
                    stderr_path: None,
                },
            )
            .unwrap();
    }
    store
        .record_progress(&job.id, 1, None, at(T0, 500))
        .unwrap();
    store
        .record_progress(&job.id, 1, Some(7), at(T0, 600))
        .unwrap();
    // A lagging rank's lower step does not move the step back; its time still counts.
    store
        .record_progress(&job.id, 1, Some(5), at(T0, 700))
        .unwrap();
    store.record_checkpoint(&job.id, 1, 5, at(T0, 650)).unwrap();
    store
        .rank_exited(&job.id, 1, 1, ExitStatus::Signal(9), at(T0, 800))
        .unwrap();
    store
        .rank_exited(&job.id, 1, 0, ExitStatus::Code(143), at(T0, 900))
        .unwrap();
    store
        .end_attempt(
            &job.id,
            1,
            &AttemptEnd {
                state: AttemptState::Failed,
                reason: "rank 1 on local-0 was killed by signal 9",
                blamed_node: Some("local-0"),
                blamed_rank: Some(1),
                exit: Some(ExitStatus::Signal(9)),
                ended_at: at(T0, 950),
            },
        )
        .unwrap();

    let attempts = store.attempts(&job.id).unwrap();
    let a = &attempts[0];
    assert_eq!(a.state, AttemptState::Failed);
    assert_eq!(a.exit, Some(ExitStatus::Signal(9)));
    assert_eq!(
        (a.blamed_node.as_deref(), a.blamed_rank),
        (Some("local-0"), Some(1))
    );
    assert_eq!(a.last_step, Some(7));
    assert_eq!(a.first_progress_at, Some(at(T0, 500)));
    assert_eq!(a.last_progress_at, Some(at(T0, 700)));
    assert_eq!(
        (a.checkpoint_step, a.checkpoint_at),
        (Some(5), Some(at(T0, 650)))
    );
    assert_eq!(a.ended_at, Some(at(T0, 950)));
    assert_eq!(a.nodes, ["local-0", "local-1"]);

    let ranks = store.ranks(&job.id, Some(1)).unwrap();
    assert_eq!(ranks.len(), 2);
    assert_eq!(ranks[0].exit, Some(ExitStatus::Code(143)));
    assert_eq!(ranks[1].exit, Some(ExitStatus::Signal(9)));
    assert_eq!(ranks[1].pid, Some(1001));
    assert_eq!(
        ranks[0].stdout_path.as_deref(),
        Some(Path::new("/tmp/r.out"))
    );
    assert!(store.ranks(&job.id, Some(2)).unwrap().is_empty());

    let err = store.record_progress(&job.id, 9, Some(1), T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("attempt 9 of job {} not found", job.id)
    );
    let err = store
        .rank_exited(&job.id, 1, 9, ExitStatus::Code(0), T0)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
}

#[test]
fn events_are_append_only_and_ordered() {
    let (dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let data = serde_json::json!({"exit": {"code": 1}, "stderr_tail": ["boom"]});
    let first = store
        .append_event(
            &job.id,
            &NewEvent {
                at: T0,
                kind: "attempt_started",
                attempt: Some(1),
                rank: None,
                node: None,
                message: "attempt 1 started on local-0, local-1",
                data: None,
            },
        )
        .unwrap();
    let second = store
        .append_event(
            &job.id,
            &NewEvent {
                at: at(T0, 5),
                kind: "attempt_failed",
                attempt: Some(1),
                rank: Some(3),
                node: Some("local-1"),
                message: "rank 3 exited with code 1",
                data: Some(&data),
            },
        )
        .unwrap();
    assert!(second > first);
    let events = store.events(&job.id, None).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].data.as_ref(), Some(&data));
    assert_eq!(events[1].node.as_deref(), Some("local-1"));
    assert_eq!(store.events(&job.id, Some(first)).unwrap().len(), 1);

    // Even SQL that bypasses the API cannot rewrite history.
    let conn = rusqlite::Connection::open(dir.path().join("trainyard.db")).unwrap();
    let err = conn
        .execute("UPDATE events SET message = 'edited'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(store.events(&job.id, None).unwrap().len(), 2);
}

#[test]
fn node_verdicts_newest_wins() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let verdict = |node: &str, verdict, at| NodeVerdict {
        node: node.to_owned(),
        job_id: Some(job.id.clone()),
        verdict,
        reason: "test".to_owned(),
        at,
    };
    store
        .record_node_verdict(&verdict("n1", Verdict::Bad, T0))
        .unwrap();
    store
        .record_node_verdict(&verdict("n2", Verdict::Bad, T0))
        .unwrap();
    store
        .record_node_verdict(&verdict("n1", Verdict::Healthy, at(T0, 1)))
        .unwrap();
    assert_eq!(store.bad_nodes().unwrap(), ["n2"]);
    assert_eq!(store.node_verdicts(Some("n1")).unwrap().len(), 2);
    assert_eq!(store.node_verdicts(None).unwrap().len(), 3);
}

#[test]
fn job_detail_and_goodput() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "story", T0);
    let s = |ms| at(T0, ms);
    // Attempt 1: starts at 1 s, trains 2 s..10 s, fails at 12 s (2 s lost to detection).
    common::attempt(&mut store, &job, 1, s(1_000));
    store
        .record_progress(&job.id, 1, Some(1), s(2_000))
        .unwrap();
    store
        .record_progress(&job.id, 1, Some(9), s(10_000))
        .unwrap();
    store
        .end_attempt(
            &job.id,
            1,
            &AttemptEnd {
                state: AttemptState::Failed,
                reason: "rank 0 exited with code 1",
                blamed_node: Some("local-0"),
                blamed_rank: Some(0),
                exit: Some(ExitStatus::Code(1)),
                ended_at: s(12_000),
            },
        )
        .unwrap();
    // Attempt 2: starts at 15 s, trains 16 s..20 s, succeeds at 20 s; the job ends at 20 s.
    common::attempt(&mut store, &job, 2, s(15_000));
    store
        .record_progress(&job.id, 2, Some(10), s(16_000))
        .unwrap();
    store
        .end_attempt(
            &job.id,
            2,
            &AttemptEnd {
                state: AttemptState::Succeeded,
                reason: "every rank exited 0",
                blamed_node: None,
                blamed_rank: None,
                exit: None,
                ended_at: s(20_000),
            },
        )
        .unwrap();
    store
        .update_job_state(
            &job.id,
            JobState::Succeeded,
            Some("every rank exited 0"),
            s(20_000),
        )
        .unwrap();

    let detail = store
        .job_detail("story", s(99_000), &Liveness::default())
        .unwrap()
        .unwrap();
    assert_eq!(detail.job.id, job.id);
    assert_eq!(detail.attempts.len(), 2);
    let g = &detail.goodput;
    assert_eq!(g.wall_ms, 20_000);
    assert_eq!(g.productive_ms, 8_000 + 4_000);
    assert_eq!(g.lost_ms, 2_000);
    assert_eq!(g.ratio, Some(0.6));
    assert_eq!(g.attempts[0].startup_ms, Some(1_000));
    assert_eq!(g.attempts[0].duration_ms, 11_000);
    assert_eq!(g.attempts[1].productive_ms, 4_000);

    // The CLI serializes the detail as JSON.
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["job"]["state"], "succeeded");
    assert_eq!(json["attempts"][0]["exit"]["code"], 1);
}

#[test]
fn a_failing_write_closure_rolls_back_everything() {
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let err = store
        .write(|w| {
            w.update_job_state(&job.id, JobState::Running, None, at(T0, 1))?;
            w.append_event(
                &job.id,
                &NewEvent {
                    at: at(T0, 1),
                    kind: "x",
                    attempt: None,
                    rank: None,
                    node: None,
                    message: "never committed",
                    data: None,
                },
            )?;
            // Progress for an attempt that does not exist fails the whole transaction.
            w.record_progress(&job.id, 1, Some(1), at(T0, 1))
        })
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(
        store.job(&job.id).unwrap().unwrap().state,
        JobState::Pending
    );
    assert!(store.events(&job.id, None).unwrap().is_empty());

    // A panic inside the closure rolls back too, and the store stays usable.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.write(|w| -> trainyard_store::Result<()> {
            w.update_job_state(&job.id, JobState::Running, None, at(T0, 2))?;
            panic!("writer crashed mid-transaction");
        })
    }));
    assert!(result.is_err());
    assert_eq!(
        store.job(&job.id).unwrap().unwrap().state,
        JobState::Pending
    );
    store
        .update_job_state(&job.id, JobState::Running, None, at(T0, 3))
        .unwrap();
}

#[test]
fn supervisor_job_events_keep_their_details() {
    use trainyard_job::{JobEvent, JobEventKind};
    let (_dir, mut store) = open();
    let job = common::job(&mut store, "a", T0);
    let event = JobEvent {
        attempt: Some(2),
        rank: Some(3),
        node: Some("local-1".into()),
        exit: Some(ExitStatus::Code(1)),
        step: Some(57),
        stderr_tail: vec!["Traceback".to_owned(), "boom".to_owned()],
        ..JobEvent::new(at(T0, 9), JobEventKind::AttemptFailed, "attempt 2 failed")
    };
    store.record_job_event(&job.id, &event).unwrap();
    store
        .record_job_event(
            &job.id,
            &JobEvent::new(T0, JobEventKind::JobStarted, "started"),
        )
        .unwrap();
    let events = store.events(&job.id, None).unwrap();
    let e = &events[0];
    assert_eq!(
        (e.kind.as_str(), e.attempt, e.rank),
        ("attempt_failed", Some(2), Some(3))
    );
    assert_eq!(e.node.as_deref(), Some("local-1"));
    assert_eq!(e.at, at(T0, 9));
    assert_eq!(
        e.data,
        Some(
            serde_json::json!({"exit": {"code": 1}, "step": 57, "stderr_tail": ["Traceback", "boom"]})
        )
    );
    assert_eq!(events[1].data, None);
}
