//! Property tests: any event sequence, however nonsensical, keeps the contract's invariants;
//! and any mix of crashes, hangs, launch failures and cancels on the virtual cluster ends in
//! exactly one `Finish`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::cluster::{Cluster, Plan};
use support::*;
use trainyard_job::{
    Action, Backoff, Event, ExitStatus, FinalState, JobEventKind, Millis, Policy, Supervisor,
};

fn arb_status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        3 => Just(ExitStatus::Code(0)),
        2 => (-2i32..3).prop_map(ExitStatus::Code),
        1 => (1i32..16).prop_map(ExitStatus::Signal),
    ]
}

fn arb_node() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..4).prop_map(|i| format!("local-{i}")),
        Just("nowhere".to_owned())
    ]
}

/// Events with small attempt and rank numbers, so most of them hit something.
fn arb_event() -> impl Strategy<Value = Event> {
    let attempt = 0u32..5;
    let rank = 0u32..5;
    prop_oneof![
        1 => Just(Event::Start),
        3 => (attempt.clone(), rank.clone(), arb_node(), proptest::option::of(0u32..100))
            .prop_map(|(attempt, rank, node, pid)| Event::RankStarted { attempt, rank, node, pid }),
        1 => (attempt.clone(), "[a-z ]{0,8}").prop_map(|(attempt, error)| Event::LaunchFailed { attempt, error }),
        1 => (attempt.clone(), "[a-z ]{0,8}", any::<bool>()).prop_map(|(attempt, reason, retry)| Event::AttemptLost { attempt, reason, retry }),
        2 => attempt.clone().prop_map(|attempt| Event::AttemptRunning { attempt }),
        4 => (attempt.clone(), rank.clone(), proptest::option::of(0u64..1000))
            .prop_map(|(attempt, rank, step)| Event::Progress { attempt, rank, step }),
        4 => (attempt.clone(), rank, arb_status())
            .prop_map(|(attempt, rank, status)| Event::RankExited { attempt, rank, status, stderr_tail: vec![] }),
        3 => attempt.prop_map(|attempt| Event::AttemptStopped { attempt }),
        3 => Just(Event::Tick),
        1 => (arb_node(), any::<bool>(), "[a-z]{0,5}").prop_map(|(node, healthy, reason)| Event::NodeVerdict { node, healthy, reason }),
        1 => "[a-z]{0,5}".prop_map(|reason| Event::Cancel { reason }),
    ]
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        1u32..4,
        1u32..3,
        0u32..4,
        0u64..3_000,
        1u32..4,
        proptest::option::of(1u64..20_000),
        1u32..4,
    )
        .prop_map(
            |(nodes, procs_per_node, max_restarts, initial, factor, hang, limit)| Policy {
                nodes,
                procs_per_node,
                max_restarts,
                backoff: Backoff {
                    initial: Duration::from_millis(initial),
                    max: Duration::from_millis(initial * 4),
                    factor: f64::from(factor),
                },
                hang_timeout: hang.map(Duration::from_millis),
                stop_grace: Duration::from_secs(1),
                node_failure_limit: limit,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any sequence (times may even go backwards), with the hang clock starting at the attempt
    /// or at its `AttemptRunning`: no panic, the invariants hold, and a cancel followed by the
    /// driver's confirmation always ends the job.
    #[test]
    fn any_event_sequence_keeps_the_invariants(
        policy in arb_policy(),
        spares in 0u32..2,
        queued in any::<bool>(),
        events in proptest::collection::vec((arb_event(), 0u64..5_000), 0..80),
    ) {
        let pool = pool(policy.nodes + spares);
        let mut sup = Supervisor::new(policy.clone(), pool, Millis(0));
        if queued {
            sup = sup.hang_clock_from_running();
        }
        let mut all = Vec::new();
        let mut t = 0u64;
        for (e, dt) in events {
            // Mostly forward, sometimes backward.
            t = if dt > 4_500 { t.saturating_sub(dt) } else { t + dt };
            let out = sup.handle(e, Millis(t));
            prop_assert!(sup.restart_count() <= policy.max_restarts);
            all.extend(out);
            if let Err(e) = check_invariants(&all, &policy, false) {
                prop_assert!(false, "{e}\n{all:#?}");
            }
        }
        // Liveness: cancel, confirm whatever attempt is open, and the job is over.
        let open = all.iter().rev().find_map(|a| match a {
            Action::StartAttempt { attempt, .. } => Some(*attempt),
            _ => None,
        });
        all.extend(sup.handle(Event::Cancel { reason: "end of test".into() }, Millis(t)));
        if let Some(attempt) = open {
            all.extend(sup.handle(Event::AttemptStopped { attempt }, Millis(t)));
        }
        prop_assert!(sup.state().is_finished(), "{:?}", sup.state());
        prop_assert!(sup.poll_timeout().is_none());
        if let Err(e) = check_invariants(&all, &policy, true) {
            prop_assert!(false, "{e}\n{all:#?}");
        }
        // Nothing after the finish.
        prop_assert!(sup.handle(Event::Start, Millis(t + 1)).is_empty());
        prop_assert!(sup.handle(Event::Tick, Millis(t + 1_000_000)).is_empty());
    }
}

/// Whether `event` says attempt `attempt` runs: its `AttemptRunning`, or a report from one of
/// its ranks (`world` ranks).
fn shows_running(event: &Event, attempt: u32, world: u32) -> bool {
    match event {
        Event::AttemptRunning { attempt: a } => *a == attempt,
        Event::RankStarted {
            attempt: a, rank, ..
        }
        | Event::Progress {
            attempt: a, rank, ..
        }
        | Event::RankExited {
            attempt: a, rank, ..
        } => *a == attempt && *rank < world,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// With the hang clock starting at `AttemptRunning`, no attempt is ever declared hung
    /// before something said it runs, whatever the events and however long it waits.
    #[test]
    fn a_queued_attempt_is_never_hung(
        policy in arb_policy(),
        events in proptest::collection::vec((arb_event(), 0u64..50_000), 0..60),
    ) {
        let world = policy.nodes * policy.procs_per_node;
        let mut sup = Supervisor::new(policy.clone(), pool(policy.nodes + 1), Millis(0))
            .hang_clock_from_running();
        let mut current = 0u32;
        let mut running = false;
        let mut t = 0u64;
        let mut start = vec![(Event::Start, 0u64)];
        start.extend(events);
        for (e, dt) in start {
            t += dt;
            if shows_running(&e, current, world) {
                running = true;
            }
            for action in sup.handle(e, Millis(t)) {
                match action {
                    Action::StartAttempt { attempt, .. } => {
                        current = attempt;
                        running = false;
                    }
                    Action::Record(r) if r.kind == JobEventKind::HangDetected => {
                        prop_assert!(running, "attempt {current} hung while queued: {r:?}");
                    }
                    _ => {}
                }
            }
        }
    }
}

fn arb_plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        6 => Just(Plan::Finish),
        2 => (1u64..30, arb_status().prop_filter("fails", |s| !s.success()))
            .prop_map(|(at, status)| Plan::Fail { at, status }),
        1 => (1u64..30).prop_map(|at| Plan::Hang { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The virtual cluster with random faults always reaches exactly one `Finish`, with every
    /// attempt stopped or successful, and the outcome agrees with the history.
    #[test]
    fn virtual_cluster_always_finishes(
        policy in arb_policy(),
        spares in 0u32..3,
        plans in proptest::collection::vec(arb_plan(), 64),
        launch_fails in proptest::collection::btree_set(1u32..5, 0..2),
        cancel_at in proptest::option::of(0u64..60_000),
    ) {
        let world = policy.nodes * policy.procs_per_node;
        // Without hang detection a hung rank hangs the job forever, as it should.
        let hangs_detected = policy.hang_timeout.is_some();
        let mut c = Cluster::new(policy.clone(), pool(policy.nodes + spares), move |attempt, rank, _| {
            match plans[((attempt - 1) * world + rank) as usize % plans.len()] {
                Plan::Hang { .. } if !hangs_detected => Plan::Finish,
                p => p,
            }
        });
        c.steps = 30;
        c.launch_fails = launch_fails;
        c.cancel_at = cancel_at.map(|t| Millis(1_000_000 + t));
        let state = c.run();
        let state = match state {
            Ok(s) => s,
            Err(e) => { prop_assert!(false, "{e}"); unreachable!() }
        };
        if let Err(e) = check_invariants(&c.actions(), &policy, true) {
            prop_assert!(false, "{e}");
        }
        let sum = c.sup.summary();
        prop_assert!(sum.restart_count <= policy.max_restarts);
        prop_assert_eq!(sum.attempts.len() as u32, sum.restart_count + 1);
        match state {
            FinalState::Succeeded => {
                let last = sum.attempts.last().unwrap();
                prop_assert_eq!(last.state, trainyard_job::AttemptState::Succeeded);
                prop_assert_eq!(last.last_step, Some(30));
            }
            FinalState::Failed => {}
            FinalState::Cancelled => prop_assert!(cancel_at.is_some()),
        }
        for a in &sum.attempts {
            prop_assert!(a.ended_at.is_some(), "attempt {} never ended", a.number);
            prop_assert!(a.productive_time() <= a.wall_time(c.now));
        }
        let g = sum.goodput(c.now).unwrap_or(0.0);
        prop_assert!((0.0..=1.0).contains(&g));
    }
}
