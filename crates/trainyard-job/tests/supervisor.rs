//! The supervisor's decisions, one table row per situation, plus the finer points (blame,
//! timers, summary and goodput) as separate tests.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use trainyard_job::{
    Action, AttemptState, Event, ExitStatus, JobEventKind, JobState, Millis, Policy, Supervisor,
};

/// Seconds, as the supervisor's time.
fn s(secs: u64) -> Millis {
    Millis(secs * 1_000)
}

/// Runs `events` (at their times) through a fresh supervisor after `Start` at t=0.
fn play(policy: Policy, pool_n: u32, events: &[(u64, Event)]) -> (Supervisor, Vec<Action>) {
    let mut sup = Supervisor::new(policy.clone(), pool(pool_n), Millis(0));
    let mut all = sup.handle(Event::Start, Millis(0));
    for (t, e) in events {
        all.extend(sup.handle(e.clone(), s(*t)));
    }
    check_invariants(&all, &policy, sup.state().is_finished()).unwrap();
    (sup, all)
}

struct Case {
    name: &'static str,
    policy: fn() -> Policy,
    pool: u32,
    events: Vec<(u64, Event)>,
    /// `compact` rendering of every non-record action.
    want: &'static [&'static str],
    state: JobState,
    /// Substrings expected in the records, in order.
    says: &'static [&'static str],
}

fn no_restarts() -> Policy {
    Policy {
        max_restarts: 0,
        ..policy()
    }
}
fn generous_nodes() -> Policy {
    Policy {
        node_failure_limit: 10,
        ..policy()
    }
}
fn no_backoff() -> Policy {
    Policy {
        backoff: trainyard_job::Backoff {
            initial: Duration::ZERO,
            ..policy().backoff
        },
        ..policy()
    }
}
fn no_hang() -> Policy {
    Policy {
        hang_timeout: None,
        ..policy()
    }
}
fn two_per_node() -> Policy {
    Policy {
        procs_per_node: 2,
        ..policy()
    }
}

fn cases() -> Vec<Case> {
    const START1: &str = "start 1 local-0,local-1 r0";
    vec![
        Case {
            name: "every rank exits 0",
            policy,
            pool: 3,
            events: vec![(0, started(1, 0)), (0, started(1, 1)), (5, exit(1, 0, 0)), (6, exit(1, 1, 0))],
            want: &[START1, "finish succeeded"],
            state: JobState::Succeeded,
            says: &["job started: 2 node(s) × 1 rank(s)", "attempt 1 started on local-0, local-1 (restart 0 of 2)", "rank 0 started on local-0 (pid 1000)", "attempt 1: all 2 rank(s) exited 0", "job succeeded"],
        },
        Case {
            name: "the backend lost the attempt (Slurm time limit): stop, blame nobody, restart",
            policy,
            pool: 3,
            events: vec![
                (1, progress(1, 0, 7)),
                (2, Event::AttemptLost { attempt: 1, reason: "Slurm time limit reached".into(), retry: true }),
                (3, killed(1, 0, 15)),
                (3, stopped(1)),
                (4, Event::Tick),
            ],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1"],
            state: JobState::Running,
            says: &["attempt 1 failed: Slurm time limit reached; stopping the other ranks", "rank 0 on local-0 was killed by signal 15 (SIGTERM) (while stopping)", "attempt 1 failed: Slurm time limit reached; restarting in 1s (restart 1 of 2)"],
        },
        Case {
            name: "an attempt that can never run (more nodes than the partition has) fails the job at once",
            policy,
            pool: 3,
            events: vec![
                (1, Event::AttemptLost { attempt: 1, reason: "Slurm cannot run it: PartitionConfig".into(), retry: false }),
                (2, stopped(1)),
            ],
            want: &[START1, "stop 1", "finish failed"],
            state: JobState::Failed,
            says: &["attempt 1 failed: Slurm cannot run it: PartitionConfig; stopping the other ranks", "not restarting: no attempt can run as asked"],
        },
        Case {
            name: "a rank exiting 0 while others run is fine",
            policy,
            pool: 3,
            events: vec![(1, exit(1, 0, 0)), (8, progress(1, 1, 3)), (15, Event::Tick), (17, exit(1, 1, 0))],
            want: &[START1, "finish succeeded"],
            state: JobState::Succeeded,
            says: &["rank 0 on local-0 exited with code 0"],
        },
        Case {
            name: "fail fast, then restart after the backoff",
            policy,
            pool: 3,
            events: vec![
                (1, progress(1, 0, 57)),
                (2, exit_tail(1, 1, 1, &["Traceback", "RuntimeError: CUDA error"])),
                (3, killed(1, 0, 15)),
                (3, stopped(1)),
                (3, Event::Tick), // backoff 1s: not yet
                (4, Event::Tick),
                (5, exit(2, 0, 0)),
                (5, exit(2, 1, 0)),
            ],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1", "finish succeeded"],
            state: JobState::Succeeded,
            says: &[
                "attempt 1 failed: rank 1 on local-1 exited with code 1 at step 57; stopping the other ranks",
                "rank 0 on local-0 was killed by signal 15 (SIGTERM) (while stopping)",
                "attempt 1 failed: rank 1 on local-1 exited with code 1 at step 57; restarting in 1s (restart 1 of 2)",
                "attempt 2 started on local-0, local-1 (restart 1 of 2)",
            ],
        },
        Case {
            name: "out of restarts",
            policy: generous_nodes,
            pool: 2,
            events: vec![
                (1, killed(1, 0, 11)), (1, stopped(1)), (2, Event::Tick),
                (3, exit(2, 0, 2)), (3, stopped(2)), (5, Event::Tick),
                (6, exit(3, 1, 3)), (6, stopped(3)), (7, Event::Tick),
            ],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1", "stop 2", "start 3 local-0,local-1 r2", "stop 3", "finish failed"],
            state: JobState::Failed,
            says: &[
                "rank 0 on local-0 was killed by signal 11 (SIGSEGV)",
                "restarting in 1s (restart 1 of 2)",
                "restarting in 2s (restart 2 of 2)",
                "attempt 3 failed: rank 1 on local-1 exited with code 3; no restarts left (2 of 2 used)",
            ],
        },
        Case {
            name: "a node blamed twice is marked bad and replaced by a spare",
            policy,
            pool: 3,
            events: vec![
                (1, exit(1, 1, 1)), (1, stopped(1)), (2, Event::Tick),
                (3, exit(2, 1, 1)), (3, stopped(2)), (5, Event::Tick),
                (6, exit(3, 0, 0)), (6, exit(3, 1, 0)),
            ],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1", "stop 2", "bad local-1", "start 3 local-0,local-2 r2", "finish succeeded"],
            state: JobState::Succeeded,
            says: &["node local-1 marked bad: 2 failure(s) blamed on it (limit 2)", "attempt 3 started on local-0, local-2"],
        },
        Case {
            name: "too few healthy nodes left",
            policy,
            pool: 2,
            events: vec![(1, exit(1, 1, 1)), (1, stopped(1)), (2, Event::Tick), (3, exit(2, 1, 1)), (3, stopped(2))],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1", "stop 2", "bad local-1", "finish failed"],
            state: JobState::Failed,
            says: &["cannot restart: too few healthy nodes: the job needs 2, 1 of 2 are healthy (bad: local-1: 2 failure(s)"],
        },
        Case {
            name: "a hang is detected, the silent rank blamed",
            policy,
            pool: 3,
            events: vec![(0, started(1, 0)), (0, started(1, 1)), (5, progress(1, 0, 4)), (9, Event::Tick), (10, Event::Tick), (11, stopped(1))],
            want: &[START1, "stop 1"],
            state: JobState::Backoff,
            says: &["attempt 1 hung: rank 1 on local-1 made no progress for 10s; stopping all ranks", "restarting in 1s"],
        },
        Case {
            name: "the rank with the oldest progress is blamed for a hang",
            policy,
            pool: 3,
            events: vec![(1, progress(1, 0, 1)), (2, progress(1, 1, 1)), (9, output(1, 1)), (11, Event::Tick)],
            want: &[START1, "stop 1"],
            state: JobState::Stopping,
            says: &["rank 0 on local-0 made no progress for 10s after step 1"],
        },
        Case {
            name: "no hang detection when it is off",
            policy: no_hang,
            pool: 3,
            events: vec![(1_000_000, Event::Tick)],
            want: &[START1],
            state: JobState::Running,
            says: &[],
        },
        Case {
            name: "ranks killed by our stop are never blamed",
            policy,
            pool: 3,
            events: vec![(1, exit(1, 1, 1)), (1, exit(1, 0, 1)), (2, killed(1, 0, 9)), (2, stopped(1))],
            want: &[START1, "stop 1"],
            state: JobState::Backoff,
            says: &["rank 1 on local-1 exited with code 1; stopping", "rank 0 on local-0 exited with code 1 (while stopping)", "attempt 1 failed: rank 1 on local-1"],
        },
        Case {
            name: "a launch failure is a failed attempt",
            policy: no_restarts,
            pool: 3,
            events: vec![(0, launch_failed(1)), (1, stopped(1))],
            want: &[START1, "stop 1", "finish failed"],
            state: JobState::Failed,
            says: &["attempt 1 could not be launched: no such file: python4", "attempt 1 failed: launch failed: no such file: python4; no restarts left (0 of 0 used)"],
        },
        Case {
            name: "cancel while running stops the attempt first",
            policy,
            pool: 3,
            events: vec![(1, cancel()), (2, killed(1, 0, 15)), (2, stopped(1))],
            want: &[START1, "stop 1", "finish cancelled"],
            state: JobState::Cancelled,
            says: &["cancel requested: cancelled by user", "attempt 1: all ranks stopped", "job cancelled: cancelled: cancelled by user"],
        },
        Case {
            name: "cancel during the backoff finishes at once",
            policy,
            pool: 3,
            events: vec![(1, exit(1, 0, 1)), (1, stopped(1)), (1, cancel())],
            want: &[START1, "stop 1", "finish cancelled"],
            state: JobState::Cancelled,
            says: &[],
        },
        Case {
            name: "cancel while stopping a failure wins over the restart",
            policy,
            pool: 3,
            events: vec![(1, exit(1, 0, 1)), (1, cancel()), (1, cancel()), (2, stopped(1))],
            want: &[START1, "stop 1", "finish cancelled"],
            state: JobState::Cancelled,
            says: &[],
        },
        Case {
            name: "events after the finish are ignored",
            policy,
            pool: 3,
            events: vec![(1, cancel()), (1, stopped(1)), (2, Event::Start), (2, exit(1, 0, 1)), (3, cancel()), (4, Event::Tick), (5, verdict("local-0", false))],
            want: &[START1, "stop 1", "finish cancelled"],
            state: JobState::Cancelled,
            says: &[],
        },
        Case {
            name: "nonsense is ignored: unknown attempts and ranks, duplicates, a second start",
            policy,
            pool: 3,
            events: vec![
                (0, Event::Start), (1, exit(7, 0, 1)), (1, exit(1, 99, 1)), (1, progress(2, 0, 5)),
                (1, stopped(9)), (1, launch_failed(3)), (2, exit(1, 0, 0)), (2, exit(1, 0, 0)),
                (2, started(1, 0)), (3, verdict("elsewhere", false)),
            ],
            want: &[START1],
            state: JobState::Running,
            says: &[],
        },
        Case {
            name: "the driver reports the attempt gone though nothing failed",
            policy,
            pool: 3,
            events: vec![(1, exit(1, 0, 0)), (2, stopped(1))],
            want: &[START1, "stop 1"],
            state: JobState::Backoff,
            says: &["the driver reported every rank gone but only 1 of 2 exited 0", "restarting in 1s"],
        },
        Case {
            name: "a bad verdict keeps the node out of the next attempt; a good one brings it back",
            policy,
            pool: 3,
            events: vec![
                (1, verdict("local-0", false)), (2, exit(1, 1, 1)), (2, stopped(1)), (3, Event::Tick),
                (4, verdict("local-0", true)), (4, verdict("local-2", false)), (5, exit(2, 0, 1)), (5, stopped(2)), (8, Event::Tick),
            ],
            want: &[START1, "bad local-0", "stop 1", "start 2 local-2,local-1 r1", "bad local-2", "stop 2", "start 3 local-0,local-1 r2"],
            state: JobState::Running,
            says: &["node local-0 marked bad: outside verdict: health check", "node local-0 is healthy again"],
        },
        Case {
            name: "zero backoff restarts within the same call",
            policy: no_backoff,
            pool: 3,
            events: vec![(1, exit(1, 0, 1)), (1, stopped(1))],
            want: &[START1, "stop 1", "start 2 local-0,local-1 r1"],
            state: JobState::Running,
            says: &["restarting in 0s"],
        },
        Case {
            name: "the node of a rank comes from the layout when it never reported",
            policy: two_per_node,
            pool: 2,
            events: vec![(1, exit(1, 3, 1))],
            want: &[START1, "stop 1"],
            state: JobState::Stopping,
            says: &["rank 3 on local-1 exited with code 1"],
        },
        Case {
            name: "the node a rank reported wins over the layout",
            policy: two_per_node,
            pool: 2,
            events: vec![(0, started_on(1, 3, "local-0")), (1, exit(1, 3, 1))],
            want: &[START1, "stop 1"],
            state: JobState::Stopping,
            says: &["rank 3 on local-0 exited"],
        },
        Case {
            name: "a policy without ranks fails at once",
            policy: || Policy { nodes: 0, ..policy() },
            pool: 3,
            events: vec![],
            want: &["finish failed"],
            state: JobState::Failed,
            says: &["asks for no ranks"],
        },
        Case {
            name: "a pool smaller than the job fails at once",
            policy,
            pool: 1,
            events: vec![],
            want: &["finish failed"],
            state: JobState::Failed,
            says: &["too few healthy nodes: the job needs 2, 1 of 1 are healthy"],
        },
    ]
}

#[test]
fn decisions() {
    for case in cases() {
        let (sup, actions) = play((case.policy)(), case.pool, &case.events);
        assert_eq!(compact(&actions), case.want, "{}", case.name);
        assert_eq!(sup.state(), case.state, "{}", case.name);
        let msgs = messages(&actions);
        let mut from = 0;
        for want in case.says {
            match msgs[from..].iter().position(|m| m.contains(want)) {
                Some(i) => from += i + 1,
                None => panic!(
                    "{}: no record saying {want:?} (in order) in\n{}",
                    case.name,
                    msgs.join("\n")
                ),
            }
        }
    }
}

#[test]
fn blame_lands_in_the_summary() {
    let (sup, actions) = play(
        policy(),
        3,
        &[
            (1, progress(1, 0, 57)),
            (2, exit_tail(1, 1, 1, &["boom"])),
            (2, killed(1, 0, 15)),
            (3, stopped(1)),
        ],
    );
    let a = &sup.attempts()[0];
    assert_eq!(a.state, AttemptState::Failed);
    assert_eq!(
        (a.blamed_rank, a.blamed_node.as_deref()),
        (Some(1), Some("local-1"))
    );
    assert_eq!((a.exit_code, a.signal), (Some(1), None));
    assert_eq!(a.last_step, Some(57));
    assert_eq!(a.ended_at, Some(s(3)));
    assert_eq!(
        a.reason.as_deref(),
        Some("rank 1 on local-1 exited with code 1 at step 57")
    );
    let failed = actions.iter().find_map(|a| match a {
        Action::Record(e) if e.kind == JobEventKind::AttemptFailed => Some(e.clone()),
        _ => None,
    });
    let failed = failed.unwrap();
    assert_eq!(failed.stderr_tail, ["boom"]);
    assert_eq!(failed.exit, Some(ExitStatus::Code(1)));
    assert_eq!((failed.rank, failed.step), (Some(1), Some(57)));
}

#[test]
fn a_signal_is_blamed_as_a_signal() {
    let (sup, _) = play(policy(), 3, &[(1, killed(1, 0, 9))]);
    let a = &sup.attempts()[0];
    assert_eq!(
        (a.exit_code, a.signal, a.blamed_rank),
        (None, Some(9), Some(0))
    );
}

#[test]
fn poll_timeout_follows_hang_deadlines_and_backoff() {
    let mut sup = Supervisor::new(policy(), pool(3), Millis(0));
    assert_eq!(sup.poll_timeout(), None);
    let _ = sup.handle(Event::Start, s(0));
    // No rank heard from: the deadline runs from the attempt's start.
    assert_eq!(sup.poll_timeout(), Some(s(10)));
    let _ = sup.handle(progress(1, 0, 1), s(4));
    assert_eq!(
        sup.poll_timeout(),
        Some(s(10)),
        "rank 1 is still silent since 0"
    );
    let _ = sup.handle(progress(1, 1, 1), s(6));
    assert_eq!(sup.poll_timeout(), Some(s(14)));
    let _ = sup.handle(exit(1, 0, 0), s(7));
    assert_eq!(
        sup.poll_timeout(),
        Some(s(16)),
        "an exited rank cannot hang"
    );
    let stop = sup.handle(exit(1, 1, 1), s(8));
    assert_eq!(compact(&stop), ["stop 1"]);
    assert_eq!(sup.poll_timeout(), None, "stopping waits for the driver");
    let _ = sup.handle(stopped(1), s(9));
    assert_eq!(sup.poll_timeout(), Some(s(10)), "backoff of 1s");
    assert!(sup.handle(Event::Tick, Millis(9_999)).is_empty());
    assert_eq!(
        compact(&sup.handle(Event::Tick, s(10))),
        ["start 2 local-0,local-1 r1"]
    );
    // A late tick loses nothing; time going backwards decides nothing.
    assert!(sup.handle(Event::Tick, s(1)).is_empty());
    assert_eq!(compact(&sup.handle(Event::Tick, s(100))), ["stop 2"]);
}

#[test]
fn backoff_grows_between_restarts() {
    let p = Policy {
        max_restarts: 4,
        node_failure_limit: 100,
        ..policy()
    };
    let mut sup = Supervisor::new(p, pool(2), Millis(0));
    let mut t = 0;
    let mut delays = Vec::new();
    let _ = sup.handle(Event::Start, s(t));
    for attempt in 1..=4 {
        let _ = sup.handle(exit(attempt, 0, 1), s(t));
        let _ = sup.handle(stopped(attempt), s(t));
        let until = sup.poll_timeout().unwrap();
        delays.push((until.0 - s(t).0) / 1_000);
        t = until.0 / 1_000;
        let _ = sup.handle(Event::Tick, until);
    }
    assert_eq!(delays, [1, 2, 4, 8]);
    assert_eq!(sup.restart_count(), 4);
}

#[test]
fn backoff_starts_over_after_a_long_healthy_attempt() {
    // A crash loop backs off further each time; an attempt that trained for longer than the
    // backoff cap before failing is a new failure, not part of the loop.
    let p = Policy {
        max_restarts: 6,
        node_failure_limit: 100,
        hang_timeout: None,
        ..policy()
    };
    let cap_s = p.backoff.max.as_secs();
    let mut sup = Supervisor::new(p, pool(2), Millis(0));
    let mut t = 0;
    let mut delays = Vec::new();
    let _ = sup.handle(Event::Start, s(t));
    for attempt in 1..=5u32 {
        if attempt == 4 {
            // Attempt 4 trains for longer than the cap before it fails.
            let _ = sup.handle(progress(attempt, 0, 1), s(t + 1));
            t += cap_s + 10;
            let _ = sup.handle(progress(attempt, 0, 2), s(t));
        }
        let _ = sup.handle(exit(attempt, 0, 1), s(t));
        let _ = sup.handle(stopped(attempt), s(t));
        let until = sup.poll_timeout().unwrap();
        delays.push((until.0 - s(t).0) / 1_000);
        t = until.0 / 1_000;
        let _ = sup.handle(Event::Tick, until);
    }
    assert_eq!(delays, [1, 2, 4, 1, 2]);
    assert_eq!(sup.restart_count(), 5);
}

#[test]
fn summary_and_goodput() {
    let p = Policy {
        hang_timeout: None,
        ..policy()
    };
    let mut sup = Supervisor::new(p, pool(3), Millis(0));
    let _ = sup.handle(Event::Start, s(0));
    let _ = sup.handle(progress(1, 0, 1), s(10));
    let _ = sup.handle(progress(1, 1, 50), s(50));
    let _ = sup.handle(exit(1, 1, 1), s(60));
    // Progress while stopping is not training.
    let _ = sup.handle(progress(1, 0, 51), s(61));
    let _ = sup.handle(stopped(1), s(62));
    let _ = sup.handle(Event::Tick, s(63));
    let _ = sup.handle(progress(2, 0, 41), s(70));
    let _ = sup.handle(progress(2, 1, 90), s(100));
    let _ = sup.handle(exit(2, 0, 0), s(110));
    let done = sup.handle(exit(2, 1, 0), s(110));
    assert_eq!(compact(&done), ["finish succeeded"]);

    let sum = sup.summary();
    assert_eq!(sum.state, JobState::Succeeded);
    assert_eq!(sum.restart_count, 1);
    let [a1, a2] = &sum.attempts[..] else {
        panic!("{:?}", sum.attempts)
    };
    assert_eq!(
        (a1.number, a1.state, a2.number, a2.state),
        (1, AttemptState::Failed, 2, AttemptState::Succeeded)
    );
    assert_eq!(a1.startup_time(), Some(Duration::from_secs(10)));
    assert_eq!(a1.productive_time(), Duration::from_secs(40));
    assert_eq!(a1.lost_time(), Duration::from_secs(12));
    assert_eq!(a1.last_progress_at, Some(s(50)));
    assert_eq!(a2.startup_time(), Some(Duration::from_secs(7)));
    assert_eq!(a2.productive_time(), Duration::from_secs(40));
    assert_eq!(a2.lost_time(), Duration::ZERO);
    assert_eq!(
        (a2.started_at, a2.ended_at, a2.last_step),
        (s(63), Some(s(110)), Some(90))
    );
    assert_eq!(sum.wall_time(s(999)), Duration::from_secs(110));
    assert_eq!(sum.productive_time(), Duration::from_secs(80));
    assert_eq!(sum.lost_time(), Duration::from_secs(12));
    let g = sum.goodput(s(999)).unwrap();
    assert!((g - 80.0 / 110.0).abs() < 1e-9, "{g}");
    assert_eq!(
        sum.reason.as_deref(),
        Some("attempt 2: all 2 rank(s) exited 0")
    );
}

#[test]
fn goodput_before_start_is_none() {
    let sup = Supervisor::new(policy(), pool(2), Millis(5));
    assert_eq!(sup.summary().goodput(Millis(10)), None);
    assert_eq!(sup.created_at(), Millis(5));
}

#[test]
fn records_serialize_with_stable_names() {
    let (_, actions) = play(policy(), 3, &[(1, exit(1, 1, 1))]);
    let json = serde_json::to_string(&actions).unwrap();
    assert!(json.contains(r#""kind":"attempt_failed""#), "{json}");
    assert!(json.contains(r#""type":"stop_attempt""#), "{json}");
    assert!(json.contains(r#""exit":{"code":1}"#), "{json}");
}

/// Time in a scheduler's queue is nobody's hang: with `hang_clock_from_running`, the clock of
/// ranks not heard from starts at `AttemptRunning`, one row per way the attempt starts running.
#[test]
fn queue_wait_does_not_count_toward_the_hang_timeout() {
    struct Row {
        name: &'static str,
        /// (time, event) after Start at 0; the hang timeout is 10 s.
        events: Vec<(u64, Event)>,
        /// What `poll_timeout` says after the events.
        deadline: Option<u64>,
        /// The first time (s) a Tick stops the attempt, searched up to 200 s.
        hung_at: Option<u64>,
    }
    let rows = [
        Row {
            name: "queued for 100 s (10 × the hang timeout), no deadline while queued",
            events: vec![(100, Event::Tick)],
            deadline: None,
            hung_at: None,
        },
        Row {
            name: "running at 100 s: the silent ranks hang 10 s later",
            events: vec![(100, Event::AttemptRunning { attempt: 1 })],
            deadline: Some(110),
            hung_at: Some(110),
        },
        Row {
            name: "a repeated AttemptRunning does not move the clock",
            events: vec![
                (50, Event::AttemptRunning { attempt: 1 }),
                (55, Event::AttemptRunning { attempt: 1 }),
            ],
            deadline: Some(60),
            hung_at: Some(60),
        },
        Row {
            name: "a rank's first report starts the clock (rank 1 silent from 30 s)",
            events: vec![(30, started(1, 0)), (38, progress(1, 0, 1))],
            deadline: Some(40),
            hung_at: Some(40),
        },
        Row {
            name: "an AttemptRunning of another attempt is ignored",
            events: vec![(20, Event::AttemptRunning { attempt: 7 })],
            deadline: None,
            hung_at: None,
        },
        Row {
            name: "a report from a rank outside the world is ignored",
            events: vec![(20, progress(1, 9, 1))],
            deadline: None,
            hung_at: None,
        },
    ];
    for row in rows {
        let mut sup = Supervisor::new(policy(), pool(3), Millis(0)).hang_clock_from_running();
        let mut all = sup.handle(Event::Start, s(0));
        let mut last = 0;
        for (t, e) in &row.events {
            all.extend(sup.handle(e.clone(), s(*t)));
            last = *t;
        }
        assert_eq!(
            compact(&all),
            ["start 1 local-0,local-1 r0"],
            "{}: nothing stopped yet",
            row.name
        );
        assert_eq!(sup.poll_timeout(), row.deadline.map(s), "{}", row.name);
        let hung = (last..=200).find(|&t| {
            let acts = sup.handle(Event::Tick, s(t));
            !acts.is_empty()
        });
        assert_eq!(hung, row.hung_at, "{}", row.name);
        if hung.is_some() {
            assert_eq!(sup.state(), JobState::Stopping, "{}", row.name);
        }
    }
}

/// The queue wait is recorded once per queued attempt, when it first runs (by
/// `AttemptRunning` or by a rank's first word), with how long it waited; never without
/// `hang_clock_from_running` (nothing queues there).
#[test]
fn the_queue_wait_is_recorded_once_per_attempt() {
    fn running_records(actions: &[Action]) -> Vec<(Option<u32>, u64, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Record(r) if r.kind == JobEventKind::AttemptRunning => {
                    Some((r.attempt, r.at.0, r.message.clone()))
                }
                _ => None,
            })
            .collect()
    }
    let mut sup = Supervisor::new(policy(), pool(3), Millis(0)).hang_clock_from_running();
    let mut all = sup.handle(Event::Start, s(0));
    all.extend(sup.handle(Event::AttemptRunning { attempt: 1 }, Millis(90_400)));
    all.extend(sup.handle(Event::AttemptRunning { attempt: 1 }, s(95)));
    all.extend(sup.handle(started(1, 0), s(96)));
    all.extend(sup.handle(progress(1, 0, 1), s(97)));
    assert_eq!(
        running_records(&all),
        [(
            Some(1),
            90_400,
            "attempt 1 running after 1m30s in the queue".to_owned()
        )]
    );
    // The restart waits again; this time a rank's first word says it runs.
    assert_eq!(compact(&sup.handle(exit(1, 0, 1), s(98))), ["stop 1"]);
    let _ = sup.handle(stopped(1), s(99));
    let restart = sup.handle(Event::Tick, s(100));
    assert_eq!(compact(&restart), ["start 2 local-0,local-1 r1"]);
    let mut all = sup.handle(started(2, 1), Millis(100_250));
    all.extend(sup.handle(Event::AttemptRunning { attempt: 2 }, s(101)));
    assert_eq!(
        running_records(&all),
        [(
            Some(2),
            100_250,
            "attempt 2 running after 250ms in the queue".to_owned()
        )]
    );
    // Without a queue, nothing of the kind.
    let mut sup = Supervisor::new(policy(), pool(3), Millis(0));
    let mut all = sup.handle(Event::Start, s(0));
    all.extend(sup.handle(Event::AttemptRunning { attempt: 1 }, s(5)));
    all.extend(sup.handle(started(1, 0), s(6)));
    assert!(running_records(&all).is_empty());
}

/// The same queue wait without `hang_clock_from_running` (the local backend, the simulator):
/// the clock starts with the attempt, as it always did, and `AttemptRunning` changes nothing.
#[test]
fn without_hang_clock_from_running_the_attempt_start_counts() {
    let mut sup = Supervisor::new(policy(), pool(3), Millis(0));
    let _ = sup.handle(Event::Start, s(0));
    assert_eq!(sup.poll_timeout(), Some(s(10)));
    assert!(sup
        .handle(Event::AttemptRunning { attempt: 1 }, s(5))
        .is_empty());
    assert_eq!(sup.poll_timeout(), Some(s(10)));
    assert_eq!(compact(&sup.handle(Event::Tick, s(10))), ["stop 1"]);
}

/// A restart after a queued attempt is queued again: its clock waits for its own
/// `AttemptRunning`, not the previous attempt's.
#[test]
fn every_attempt_waits_for_its_own_running() {
    let mut sup = Supervisor::new(policy(), pool(3), Millis(0)).hang_clock_from_running();
    let _ = sup.handle(Event::Start, s(0));
    let _ = sup.handle(Event::AttemptRunning { attempt: 1 }, s(1));
    assert_eq!(compact(&sup.handle(exit(1, 0, 1), s(2))), ["stop 1"]);
    let _ = sup.handle(stopped(1), s(3));
    assert_eq!(
        compact(&sup.handle(Event::Tick, s(4))),
        ["start 2 local-0,local-1 r1"]
    );
    assert_eq!(sup.poll_timeout(), None, "attempt 2 is queued");
    assert!(sup.handle(Event::Tick, s(100)).is_empty());
    let _ = sup.handle(Event::AttemptRunning { attempt: 2 }, s(120));
    assert_eq!(sup.poll_timeout(), Some(s(130)));
}
