//! Whole jobs on the virtual cluster: the stories `trainyard show` will tell.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::cluster::{Cluster, Plan};
use support::*;
use trainyard_job::{AttemptState, Event, ExitStatus, FinalState, Millis, Policy};

fn four_ranks() -> Policy {
    Policy {
        nodes: 2,
        procs_per_node: 2,
        hang_timeout: Some(Duration::from_secs(30)),
        ..policy()
    }
}

fn run(c: &mut Cluster) -> FinalState {
    let state = c.run().unwrap();
    check_invariants(&c.actions(), &c.policy, true).unwrap();
    state
}

#[test]
fn uninterrupted_job_succeeds_with_high_goodput() {
    let mut c = Cluster::new(four_ranks(), pool(2), |_, _, _| Plan::Finish);
    assert_eq!(run(&mut c), FinalState::Succeeded);
    let sum = c.sup.summary();
    assert_eq!(sum.attempts.len(), 1);
    assert_eq!(sum.attempts[0].last_step, Some(100));
    let g = sum.goodput(c.now).unwrap();
    assert!(g > 0.95, "{g}");
}

#[test]
fn a_crash_restarts_once_from_the_checkpoint() {
    let mut c = Cluster::new(four_ranks(), pool(2), |attempt, rank, _| {
        match (attempt, rank) {
            (1, 3) => Plan::Fail {
                at: 57,
                status: ExitStatus::Code(1),
            },
            _ => Plan::Finish,
        }
    });
    assert_eq!(run(&mut c), FinalState::Succeeded);
    let sum = c.sup.summary();
    let [a1, a2] = &sum.attempts[..] else {
        panic!("{:?}", sum.attempts)
    };
    assert_eq!(a1.state, AttemptState::Failed);
    assert_eq!(
        (a1.blamed_rank, a1.blamed_node.as_deref(), a1.exit_code),
        (Some(3), Some("local-1"), Some(1))
    );
    assert_eq!(
        a1.last_step,
        Some(57),
        "the other ranks printed step 57 before blocking"
    );
    assert_eq!(a2.restart_count, 1);
    // Resumed after the checkpoint at step 50: the first step of attempt 2 is 51.
    let first_step_2 = c.delivered.iter().find_map(|(_, e)| match e {
        Event::Progress {
            attempt: 2, step, ..
        } => *step,
        _ => None,
    });
    assert_eq!(first_step_2, Some(51));
    let msgs = messages(&c.actions());
    // The blamed rank's own last step: it died before printing step 57.
    assert!(
        msgs.iter().any(|m| m == "attempt 1 failed: rank 3 on local-1 exited with code 1 at step 56; restarting in 1s (restart 1 of 2)"),
        "{msgs:#?}"
    );
    // Time lost is the teardown after the last progress: well under a minute here.
    assert!(
        a1.lost_time() < Duration::from_secs(2),
        "{:?}",
        a1.lost_time()
    );
    assert!(sum.goodput(c.now).unwrap() > 0.9);
}

#[test]
fn a_hang_is_detected_within_the_timeout() {
    let mut c = Cluster::new(four_ranks(), pool(2), |attempt, rank, _| {
        match (attempt, rank) {
            (1, 2) => Plan::Hang { at: 20 },
            _ => Plan::Finish,
        }
    });
    assert_eq!(run(&mut c), FinalState::Succeeded);
    let a1 = &c.sup.attempts()[0];
    assert_eq!(
        (a1.blamed_rank, a1.blamed_node.as_deref()),
        (Some(2), Some("local-1"))
    );
    // The hung rank's last progress was step 19; the stop came exactly hang_timeout later.
    let last_19 = c.delivered.iter().rev().find_map(|(t, e)| match e {
        Event::Progress {
            attempt: 1,
            rank: 2,
            step: Some(19),
        } => Some(*t),
        _ => None,
    });
    let stop_at = c.log.iter().find_map(|(t, a)| {
        matches!(a, trainyard_job::Action::StopAttempt { attempt: 1, .. }).then_some(*t)
    });
    assert_eq!(
        stop_at.unwrap().saturating_since(last_19.unwrap()),
        Duration::from_secs(30)
    );
    assert!(a1
        .reason
        .as_deref()
        .unwrap()
        .starts_with("hang: rank 2 on local-1 made no progress for 30s after step 19"));
}

#[test]
fn a_job_that_always_fails_stops_after_max_restarts() {
    let p = Policy {
        node_failure_limit: 100,
        ..four_ranks()
    };
    let mut c = Cluster::new(p, pool(2), |_, rank, _| {
        if rank == 0 {
            Plan::Fail {
                at: 3,
                status: ExitStatus::Signal(6),
            }
        } else {
            Plan::Finish
        }
    });
    assert_eq!(run(&mut c), FinalState::Failed);
    assert_eq!(c.sup.attempts().len(), 3);
    assert_eq!(c.sup.restart_count(), 2);
    let (_, reason) = c.finished.clone().unwrap();
    assert_eq!(reason, "attempt 3 failed: rank 0 on local-0 was killed by signal 6 (SIGABRT) at step 2; no restarts left (2 of 2 used)");
}

#[test]
fn a_bad_node_is_excluded_and_a_spare_takes_its_place() {
    let p = Policy {
        max_restarts: 5,
        ..four_ranks()
    };
    let mut c = Cluster::new(p, pool(3), |_, _, node| {
        if node == "local-1" {
            Plan::Fail {
                at: 12,
                status: ExitStatus::Code(134),
            }
        } else {
            Plan::Finish
        }
    });
    assert_eq!(run(&mut c), FinalState::Succeeded);
    let nodes: Vec<Vec<String>> = c.sup.attempts().iter().map(|a| a.nodes.clone()).collect();
    assert_eq!(
        nodes,
        [
            vec!["local-0", "local-1"],
            vec!["local-0", "local-1"],
            vec!["local-0", "local-2"]
        ]
    );
    assert_eq!(c.sup.bad_nodes().keys().collect::<Vec<_>>(), ["local-1"]);
}

#[test]
fn without_spares_a_bad_node_fails_the_job() {
    let p = Policy {
        max_restarts: 5,
        ..four_ranks()
    };
    let mut c = Cluster::new(p, pool(2), |_, _, node| {
        if node == "local-1" {
            Plan::Fail {
                at: 12,
                status: ExitStatus::Code(1),
            }
        } else {
            Plan::Finish
        }
    });
    assert_eq!(run(&mut c), FinalState::Failed);
    let (_, reason) = c.finished.clone().unwrap();
    assert!(
        reason.contains("too few healthy nodes: the job needs 2, 1 of 2 are healthy"),
        "{reason}"
    );
}

#[test]
fn launch_failures_use_up_the_budget() {
    let mut c = Cluster::new(four_ranks(), pool(2), |_, _, _| Plan::Finish);
    c.launch_fails = [1, 2].into();
    assert_eq!(run(&mut c), FinalState::Succeeded);
    assert_eq!(c.sup.attempts().len(), 3);
    assert!(c.sup.attempts()[0]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("launch failed"));
}

#[test]
fn cancel_stops_the_attempt_then_finishes() {
    let mut c = Cluster::new(four_ranks(), pool(2), |_, _, _| Plan::Finish);
    c.cancel_at = Some(Millis(1_000_000 + 30_000));
    assert_eq!(run(&mut c), FinalState::Cancelled);
    let acts = compact(&c.actions());
    assert_eq!(
        acts,
        ["start 1 local-0,local-1 r0", "stop 1", "finish cancelled"]
    );
    assert_eq!(c.sup.attempts()[0].state, AttemptState::Cancelled);
    // No rank event is delivered after the attempt is confirmed stopped.
    let stopped_at = c
        .delivered
        .iter()
        .position(|(_, e)| matches!(e, Event::AttemptStopped { .. }))
        .unwrap();
    assert_eq!(stopped_at, c.delivered.len() - 1);
}
