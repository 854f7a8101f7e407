//! Test support: event shorthands, a compact rendering of actions, an invariant checker for
//! action streams, and a deterministic virtual cluster that plays ranks against the
//! supervisor (quinn-proto's `Pair::step` in miniature).
#![allow(dead_code, clippy::unwrap_used)]

pub mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use trainyard_job::{Action, Backoff, Event, ExitStatus, FinalState, JobEventKind, Policy};

/// 2 nodes × 1 rank, 2 restarts, backoff 1s/×2/10s, hang 10s, grace 5s, 2 failures per node.
pub fn policy() -> Policy {
    Policy {
        nodes: 2,
        procs_per_node: 1,
        max_restarts: 2,
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            factor: 2.0,
        },
        hang_timeout: Some(Duration::from_secs(10)),
        stop_grace: Duration::from_secs(5),
        node_failure_limit: 2,
    }
}

pub fn pool(n: u32) -> Vec<String> {
    trainyard_job::local_nodes(n)
}

pub fn started(attempt: u32, rank: u32) -> Event {
    Event::RankStarted {
        attempt,
        rank,
        node: format!("local-{rank}"),
        pid: Some(1000 + rank),
    }
}
pub fn started_on(attempt: u32, rank: u32, node: &str) -> Event {
    Event::RankStarted {
        attempt,
        rank,
        node: node.into(),
        pid: None,
    }
}
pub fn exit(attempt: u32, rank: u32, code: i32) -> Event {
    Event::RankExited {
        attempt,
        rank,
        status: ExitStatus::Code(code),
        stderr_tail: vec![],
    }
}
pub fn exit_tail(attempt: u32, rank: u32, code: i32, tail: &[&str]) -> Event {
    Event::RankExited {
        attempt,
        rank,
        status: ExitStatus::Code(code),
        stderr_tail: tail.iter().map(|s| (*s).to_owned()).collect(),
    }
}
pub fn killed(attempt: u32, rank: u32, sig: i32) -> Event {
    Event::RankExited {
        attempt,
        rank,
        status: ExitStatus::Signal(sig),
        stderr_tail: vec![],
    }
}
pub fn progress(attempt: u32, rank: u32, step: u64) -> Event {
    Event::Progress {
        attempt,
        rank,
        step: Some(step),
    }
}
pub fn output(attempt: u32, rank: u32) -> Event {
    Event::Progress {
        attempt,
        rank,
        step: None,
    }
}
pub fn stopped(attempt: u32) -> Event {
    Event::AttemptStopped { attempt }
}
pub fn launch_failed(attempt: u32) -> Event {
    Event::LaunchFailed {
        attempt,
        error: "no such file: python4".into(),
    }
}
pub fn cancel() -> Event {
    Event::Cancel {
        reason: "cancelled by user".into(),
    }
}
pub fn verdict(node: &str, healthy: bool) -> Event {
    Event::NodeVerdict {
        node: node.into(),
        healthy,
        reason: "health check".into(),
    }
}

/// Actions without the records, one short line each: `start 2 local-0,local-2 r1`,
/// `stop 2`, `bad local-1`, `finish failed`.
pub fn compact(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StartAttempt {
                attempt,
                nodes,
                restart_count,
            } => Some(format!(
                "start {attempt} {} r{restart_count}",
                nodes.join(",")
            )),
            Action::StopAttempt { attempt, .. } => Some(format!("stop {attempt}")),
            Action::MarkNodeBad { node, .. } => Some(format!("bad {node}")),
            Action::Finish { state, .. } => Some(format!("finish {state}")),
            Action::Record(_) => None,
        })
        .collect()
}

/// The record messages, in order.
pub fn messages(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(e) => Some(e.message.clone()),
            _ => None,
        })
        .collect()
}

/// Checks the contract's invariants on a complete action stream. `finished_expected`: the
/// stream must contain a `Finish`.
pub fn check_invariants(
    actions: &[Action],
    policy: &Policy,
    finished_expected: bool,
) -> Result<(), String> {
    let mut open: Option<u32> = None; // started, not yet stopped
    let mut last_attempt = 0;
    let mut last_restart: Option<u32> = None;
    let mut stopped: BTreeSet<u32> = BTreeSet::new();
    let mut finishes = 0;
    let mut bad: BTreeMap<String, ()> = BTreeMap::new();
    for (i, a) in actions.iter().enumerate() {
        if finishes > 0 {
            return Err(format!("action {i} after Finish: {a:?}"));
        }
        match a {
            Action::StartAttempt {
                attempt,
                nodes,
                restart_count,
            } => {
                if let Some(o) = open {
                    return Err(format!(
                        "attempt {attempt} started while {o} was not stopped"
                    ));
                }
                if *attempt != last_attempt + 1 {
                    return Err(format!("attempt numbers jump {last_attempt} -> {attempt}"));
                }
                if *restart_count > policy.max_restarts {
                    return Err(format!(
                        "restart_count {restart_count} > {}",
                        policy.max_restarts
                    ));
                }
                if last_restart.is_some_and(|r| *restart_count != r + 1)
                    || (last_restart.is_none() && *restart_count != 0)
                {
                    return Err(format!(
                        "restart_count {restart_count} after {last_restart:?}"
                    ));
                }
                if nodes.len() != policy.nodes as usize {
                    return Err(format!("attempt {attempt} on {} nodes", nodes.len()));
                }
                let distinct: BTreeSet<&String> = nodes.iter().collect();
                if distinct.len() != nodes.len() {
                    return Err(format!("attempt {attempt} uses a node twice: {nodes:?}"));
                }
                if let Some(n) = nodes.iter().find(|n| bad.contains_key(*n)) {
                    return Err(format!("attempt {attempt} uses bad node {n}"));
                }
                last_attempt = *attempt;
                last_restart = Some(*restart_count);
                open = Some(*attempt);
            }
            Action::StopAttempt { attempt, grace, .. } => {
                if open != Some(*attempt) {
                    return Err(format!("stop of attempt {attempt}, open is {open:?}"));
                }
                if !stopped.insert(*attempt) {
                    return Err(format!("attempt {attempt} stopped twice"));
                }
                if *grace != policy.stop_grace {
                    return Err(format!("grace {grace:?}"));
                }
                open = None;
            }
            Action::MarkNodeBad { node, .. } => {
                if bad.insert(node.clone(), ()).is_some() {
                    return Err(format!("{node} marked bad twice"));
                }
            }
            Action::Record(e) => {
                if e.kind == JobEventKind::NodeVerdict {
                    // A healthy verdict makes a bad node usable again.
                    if let Some(n) = &e.node {
                        bad.remove(n);
                    }
                }
            }
            Action::Finish { state, .. } => {
                finishes += 1;
                // Only a success may close an attempt without a stop.
                if let Some(o) = open {
                    if *state != FinalState::Succeeded {
                        return Err(format!("finish {state} with attempt {o} never stopped"));
                    }
                }
            }
        }
    }
    if finished_expected && finishes != 1 {
        return Err(format!("{finishes} Finish actions"));
    }
    Ok(())
}
