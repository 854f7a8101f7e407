//! The supervisor: a deterministic state machine from [`Event`]s to [`Action`]s.
//!
//! It never reads a clock, sleeps, spawns or writes: the driver tells it what happened and
//! when, and carries out what it answers. That is what lets the same policy run against real
//! processes (`trainyard-exec`) and a simulated 100,000-GPU cluster (`trainyard-sim`), and what
//! lets every decision be unit-tested without a process in sight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::attempt::{LiveAttempt, Phase};
use crate::blame::{Blame, StopCause};
use crate::duration::format_duration;
use crate::event::{Action, Event, ExitStatus, JobEvent, JobEventKind, NodeName, Rank};
use crate::hang;
use crate::policy::Policy;
use crate::state::{AttemptState, FinalState, JobState};
use crate::summary::{AttemptSummary, Summary};
use crate::time::Millis;

/// The job supervisor. One per job.
///
/// Methods come in three families:
/// * **input:** [`Supervisor::handle`] with every event the driver observes, in the order it
///   observed them, each with the time it observed it;
/// * **timers:** [`Supervisor::poll_timeout`] says when the driver must next call
///   `handle(Event::Tick, now)` if nothing else happens (restart backoff, hang deadline);
/// * **inspection:** [`Supervisor::state`], [`Supervisor::attempts`], [`Supervisor::summary`].
///
/// A driver's loop: `handle(Event::Start, now)`, carry out the actions, then wait for the
/// next observation or `poll_timeout()`, whichever is first, and repeat until an
/// [`Action::Finish`] comes back. After it, `handle` returns nothing.
#[derive(Debug, Clone)]
pub struct Supervisor {
    policy: Policy,
    /// Every node the job may use, primaries first, then spares.
    pool: Vec<NodeName>,
    state: JobState,
    created_at: Millis,
    started_at: Option<Millis>,
    ended_at: Option<Millis>,
    finish_reason: Option<String>,
    live: Option<LiveAttempt>,
    /// When the next attempt starts, while in [`JobState::Backoff`].
    backoff_until: Option<Millis>,
    restart_count: u32,
    /// Restarts since the job last ran healthily for longer than the backoff cap: the
    /// exponent of the backoff. A long-running job that fails once a day should not wait the
    /// cap before every restart because it crashed a few times in its first week.
    backoff_streak: u32,
    /// Set by [`Event::Cancel`]; the job finishes `Cancelled` as soon as nothing runs.
    cancel: Option<String>,
    /// Set by an [`Event::AttemptLost`] that may not be retried: the job fails when the
    /// attempt is stopped.
    give_up: Option<String>,
    /// Blamed failures per node.
    node_failures: BTreeMap<NodeName, u32>,
    /// Nodes not to use again, with why.
    bad_nodes: BTreeMap<NodeName, String>,
    attempts: Vec<AttemptSummary>,
    /// Attempts start queued: the hang clock waits for [`Event::AttemptRunning`] (or a rank's
    /// first report). See [`Supervisor::hang_clock_from_running`].
    hang_clock_from_running: bool,
}

impl Supervisor {
    /// A supervisor for a job with `policy`, allowed to use the nodes of `pool` (primaries
    /// first, then spares), created at `now`. Nothing happens until [`Event::Start`].
    #[must_use]
    pub fn new(policy: Policy, pool: Vec<NodeName>, now: Millis) -> Supervisor {
        Supervisor {
            policy,
            pool,
            state: JobState::Pending,
            created_at: now,
            started_at: None,
            ended_at: None,
            finish_reason: None,
            live: None,
            backoff_until: None,
            backoff_streak: 0,
            restart_count: 0,
            cancel: None,
            give_up: None,
            node_failures: BTreeMap::new(),
            bad_nodes: BTreeMap::new(),
            attempts: Vec::new(),
            hang_clock_from_running: false,
        }
    }

    /// For backends whose attempts may wait in a scheduler's queue (Slurm): an attempt's hang
    /// clock for ranks not heard from starts when the driver says its resources run
    /// ([`Event::AttemptRunning`]) or a rank first reports, not at [`Action::StartAttempt`],
    /// so a long queue wait is not mistaken for a hang. Without it (the local backend, the
    /// simulator), the clock starts with the attempt, as before.
    #[must_use]
    pub fn hang_clock_from_running(mut self) -> Supervisor {
        self.hang_clock_from_running = true;
        self
    }

    /// Feeds one observation, made at `now`; returns what the driver must do, in order.
    ///
    /// Events that make no sense (unknown attempt or rank, duplicates, anything after the
    /// job finished) are ignored. Due timers are handled on every call, so a driver that is
    /// late with its [`Event::Tick`] loses nothing.
    #[must_use]
    pub fn handle(&mut self, event: Event, now: Millis) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state.is_finished() {
            return out;
        }
        match event {
            Event::Start => self.on_start(now, &mut out),
            Event::RankStarted {
                attempt,
                rank,
                node,
                pid,
            } => {
                self.on_rank_started(attempt, rank, node, pid, now, &mut out);
            }
            Event::LaunchFailed { attempt, error } => {
                self.on_launch_failed(attempt, error, now, &mut out)
            }
            Event::AttemptLost {
                attempt,
                reason,
                retry,
            } => self.on_attempt_lost(attempt, reason, retry, now, &mut out),
            Event::AttemptRunning { attempt } => self.mark_running(attempt, now, &mut out),
            Event::Progress {
                attempt,
                rank,
                step,
            } => self.on_progress(attempt, rank, step, now, &mut out),
            Event::RankExited {
                attempt,
                rank,
                status,
                stderr_tail,
            } => {
                self.on_rank_exited(attempt, rank, status, stderr_tail, now, &mut out);
            }
            Event::AttemptStopped { attempt } => self.on_attempt_stopped(attempt, now, &mut out),
            Event::Tick => {}
            Event::NodeVerdict {
                node,
                healthy,
                reason,
            } => self.on_node_verdict(node, healthy, reason, now, &mut out),
            Event::Cancel { reason } => self.on_cancel(reason, now, &mut out),
        }
        if !self.state.is_finished() {
            self.run_timers(now, &mut out);
        }
        out
    }

    /// When the driver must call `handle(Event::Tick, now)` at the latest, if no other event
    /// comes first; `None` when only outside events can move the job on.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        match self.state {
            JobState::Backoff => self.backoff_until,
            JobState::Running => self
                .live
                .as_ref()
                .and_then(|l| hang::deadline(l, self.policy.hang_timeout)),
            _ => None,
        }
    }

    /// Where the job is.
    #[must_use]
    pub fn state(&self) -> JobState {
        self.state
    }

    /// Every attempt so far, oldest first.
    #[must_use]
    pub fn attempts(&self) -> &[AttemptSummary] {
        &self.attempts
    }

    /// The rules in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Restarts so far (never more than `max_restarts`).
    #[must_use]
    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// Nodes marked bad, with the reason.
    #[must_use]
    pub fn bad_nodes(&self) -> &BTreeMap<NodeName, String> {
        &self.bad_nodes
    }

    /// When the supervisor was created.
    #[must_use]
    pub fn created_at(&self) -> Millis {
        self.created_at
    }

    /// The job's story so far, for `trainyard show` and goodput.
    #[must_use]
    pub fn summary(&self) -> Summary {
        Summary {
            state: self.state,
            reason: self.finish_reason.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            restart_count: self.restart_count,
            attempts: self.attempts.clone(),
            bad_nodes: self
                .bad_nodes
                .iter()
                .map(|(n, r)| (n.clone(), r.clone()))
                .collect(),
        }
    }

    // ---- events ----

    fn on_start(&mut self, now: Millis, out: &mut Vec<Action>) {
        if self.state != JobState::Pending {
            return;
        }
        self.started_at = Some(now);
        let p = &self.policy;
        let hang = p
            .hang_timeout
            .map_or_else(|| "off".to_owned(), format_duration);
        let msg = format!(
            "job started: {} node(s) × {} rank(s), up to {} restart(s), hang timeout {hang}",
            p.nodes, p.procs_per_node, p.max_restarts
        );
        record(out, JobEvent::new(now, JobEventKind::JobStarted, msg));
        if p.nodes == 0 || p.procs_per_node == 0 {
            self.finish(
                FinalState::Failed,
                "the policy asks for no ranks (nodes or procs_per_node is 0)".to_owned(),
                now,
                out,
            );
            return;
        }
        self.start_attempt(now, out);
    }

    fn on_rank_started(
        &mut self,
        attempt: u32,
        rank: Rank,
        node: NodeName,
        pid: Option<u32>,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        if rank < live.world {
            // A rank that runs proves the attempt's resources do.
            self.mark_running(attempt, now, out);
        }
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        let Some(info) = live.rank_mut(rank) else {
            return;
        };
        if info.started || info.exit.is_some() {
            return;
        }
        info.started = true;
        info.pid = pid;
        info.node = Some(node.clone());
        // Starting counts as activity: the hang clock of a rank runs from its start.
        info.last_activity = Some(info.last_activity.map_or(now, |a| a.max(now)));
        let msg = match pid {
            Some(pid) => format!("rank {rank} started on {node} (pid {pid})"),
            None => format!("rank {rank} started on {node}"),
        };
        record(
            out,
            JobEvent {
                attempt: Some(attempt),
                rank: Some(rank),
                node: Some(node),
                pid,
                ..JobEvent::new(now, JobEventKind::RankStarted, msg)
            },
        );
    }

    fn on_launch_failed(
        &mut self,
        attempt: u32,
        error: String,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        if !live.is_running() {
            return;
        }
        let msg = format!("attempt {attempt} could not be launched: {error}");
        record(
            out,
            JobEvent {
                attempt: Some(attempt),
                ..JobEvent::new(now, JobEventKind::LaunchFailed, msg)
            },
        );
        self.begin_stop(StopCause::LaunchFailed(error), now, out);
    }

    fn on_attempt_lost(
        &mut self,
        attempt: u32,
        reason: String,
        retry: bool,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        if !live.is_running() {
            return;
        }
        if !retry {
            self.give_up = Some(reason.clone());
        }
        self.begin_stop(StopCause::Lost(reason), now, out);
    }

    fn on_progress(
        &mut self,
        attempt: u32,
        rank: Rank,
        step: Option<u64>,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        // Progress while stopping is the tail of a dying attempt, not training.
        if !live.is_running() {
            return;
        }
        if rank < live.world {
            self.mark_running(attempt, now, out);
        }
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        let Some(info) = live.rank_mut(rank) else {
            return;
        };
        if info.exit.is_some() {
            return;
        }
        info.last_activity = Some(info.last_activity.map_or(now, |a| a.max(now)));
        if step.is_some() {
            info.last_step = step;
        }
        let Some(summary) = self.attempts.last_mut() else {
            return;
        };
        summary.first_progress_at.get_or_insert(now);
        summary.last_progress_at = Some(summary.last_progress_at.map_or(now, |a| a.max(now)));
        if let Some(step) = step {
            summary.last_step = Some(summary.last_step.map_or(step, |s| s.max(step)));
        }
    }

    fn on_rank_exited(
        &mut self,
        attempt: u32,
        rank: Rank,
        status: ExitStatus,
        stderr_tail: Vec<String>,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        let attempt_step = self.attempts.last().and_then(|a| a.last_step);
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        let node = live.node_of(rank);
        let running = live.is_running();
        if rank < live.world {
            self.mark_running(attempt, now, out);
        }
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        let Some(info) = live.rank_mut(rank) else {
            return;
        };
        if info.exit.is_some() {
            return;
        }
        info.exit = Some(status);
        let step = info.last_step.or(attempt_step);
        if status.success() {
            live.succeeded = live.succeeded.saturating_add(1);
        }
        let all_succeeded = live.all_succeeded();
        let note = if running { "" } else { " (while stopping)" };
        record(
            out,
            JobEvent {
                attempt: Some(attempt),
                rank: Some(rank),
                node: Some(node.clone()),
                exit: Some(status),
                step,
                ..JobEvent::new(
                    now,
                    JobEventKind::RankExited,
                    format!("rank {rank} on {node} {status}{note}"),
                )
            },
        );
        if !running {
            // Killed by our own stop, or racing it: never blamed.
            return;
        }
        if status.success() {
            if all_succeeded {
                self.succeed(now, out);
            }
            return;
        }
        let blame = Blame {
            rank,
            node,
            exit: Some(status),
            step,
            silent_for: None,
            stderr_tail,
        };
        self.begin_stop(StopCause::RankFailed(blame), now, out);
    }

    fn on_attempt_stopped(&mut self, attempt: u32, now: Millis, out: &mut Vec<Action>) {
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        match live.phase {
            Phase::Stopping(_) => self.end_attempt(now, out),
            Phase::Running if live.all_succeeded() => self.succeed(now, out),
            Phase::Running => {
                // The driver says everything is gone though no rank failed (lost exit
                // reports, ranks killed behind our back). Treat it as a failure; the stop
                // asked for here is a no-op for the driver but keeps "every attempt is
                // stopped or succeeds" true for every consumer of the action stream.
                let cause = StopCause::VanishedRanks {
                    succeeded: live.succeeded,
                    world: live.world,
                };
                self.begin_stop(cause, now, out);
                self.end_attempt(now, out);
            }
        }
    }

    fn on_node_verdict(
        &mut self,
        node: NodeName,
        healthy: bool,
        reason: String,
        now: Millis,
        out: &mut Vec<Action>,
    ) {
        if !self.pool.contains(&node) {
            return;
        }
        if healthy {
            self.node_failures.remove(&node);
            let was_bad = self.bad_nodes.remove(&node).is_some();
            let msg = if was_bad {
                format!(
                    "node {node} is healthy again ({reason}); it may be used by the next attempt"
                )
            } else {
                format!("node {node} reported healthy ({reason})")
            };
            record(
                out,
                JobEvent {
                    node: Some(node),
                    ..JobEvent::new(now, JobEventKind::NodeVerdict, msg)
                },
            );
        } else {
            // A running attempt on the node is left alone: if the node is really broken its
            // ranks will fail or hang soon, and the verdict already keeps it out of the next
            // attempt.
            self.mark_bad(node, format!("outside verdict: {reason}"), now, out);
        }
    }

    fn on_cancel(&mut self, reason: String, now: Millis, out: &mut Vec<Action>) {
        if self.cancel.is_some() {
            return;
        }
        self.cancel = Some(reason.clone());
        record(
            out,
            JobEvent::new(
                now,
                JobEventKind::CancelRequested,
                format!("cancel requested: {reason}"),
            ),
        );
        match self.state {
            JobState::Pending | JobState::Backoff => {
                self.finish(
                    FinalState::Cancelled,
                    format!("cancelled: {reason}"),
                    now,
                    out,
                );
            }
            JobState::Running => self.begin_stop(StopCause::Cancelled(reason), now, out),
            // Already stopping: the cancel takes effect when the driver confirms.
            _ => {}
        }
    }

    // ---- timers ----

    fn run_timers(&mut self, now: Millis, out: &mut Vec<Action>) {
        match self.state {
            JobState::Backoff if self.backoff_until.is_some_and(|t| now >= t) => {
                self.backoff_until = None;
                self.start_attempt(now, out);
            }
            JobState::Running => {
                let Some(live) = self.live.as_ref() else {
                    return;
                };
                let Some((rank, silent)) = hang::detect(live, self.policy.hang_timeout, now) else {
                    return;
                };
                // Only the rank's own step: "rank 1 made no progress after step 4" must not
                // borrow step 4 from another rank.
                let step = live.ranks.get(&rank).and_then(|i| i.last_step);
                let blame = Blame {
                    rank,
                    node: live.node_of(rank),
                    exit: None,
                    step,
                    silent_for: Some(silent),
                    stderr_tail: Vec::new(),
                };
                self.begin_stop(StopCause::Hang(blame), now, out);
            }
            _ => {}
        }
    }

    // ---- transitions ----

    /// The current attempt, if `attempt` names it.
    fn live_mut(&mut self, attempt: u32) -> Option<&mut LiveAttempt> {
        self.live.as_mut().filter(|l| l.number == attempt)
    }

    /// Notes that `attempt`'s resources run from `now` on (the hang clock's origin). The
    /// first word of it, for an attempt that started in a scheduler's queue
    /// ([`Supervisor::hang_clock_from_running`]), is recorded with how long it waited there:
    /// `trainyard show` reports the queue wait from it.
    fn mark_running(&mut self, attempt: u32, now: Millis, out: &mut Vec<Action>) {
        let queued = self.hang_clock_from_running;
        let Some(live) = self.live_mut(attempt) else {
            return;
        };
        if !live.mark_running(now) || !queued {
            return;
        }
        let waited = self
            .attempts
            .iter()
            .rev()
            .find(|a| a.number == attempt)
            .map_or(Duration::ZERO, |a| now.saturating_since(a.started_at));
        record(
            out,
            JobEvent {
                attempt: Some(attempt),
                ..JobEvent::new(
                    now,
                    JobEventKind::AttemptRunning,
                    format!(
                        "attempt {attempt} running after {} in the queue",
                        // Whole seconds: "4s", not "4523ms".
                        format_duration(if waited >= Duration::from_secs(1) {
                            Duration::from_secs(waited.as_secs())
                        } else {
                            waited
                        })
                    ),
                )
            },
        );
    }

    /// Nodes for the next attempt: the previous attempt's healthy nodes keep their place (and
    /// their NODE_RANK), bad ones are replaced from the unused healthy nodes of the pool
    /// (spares, since the primaries come first).
    fn choose_nodes(&self) -> Result<Vec<NodeName>, String> {
        let want = usize::try_from(self.policy.nodes).unwrap_or(usize::MAX);
        let base: Vec<&NodeName> = match self.attempts.last() {
            Some(a) => a.nodes.iter().collect(),
            None => self.pool.iter().take(want).collect(),
        };
        let mut used: BTreeSet<&NodeName> = BTreeSet::new();
        let mut slots: Vec<Option<&NodeName>> = Vec::with_capacity(want.min(self.pool.len()));
        for n in base.into_iter().take(want) {
            let keep = !self.bad_nodes.contains_key(n) && used.insert(n);
            slots.push(keep.then_some(n));
        }
        let mut fresh = self
            .pool
            .iter()
            .filter(|n| !self.bad_nodes.contains_key(*n));
        let mut chosen = Vec::with_capacity(slots.len());
        for slot in slots.into_iter().chain(std::iter::repeat(None)).take(want) {
            let node = match slot {
                Some(n) => Some(n),
                None => fresh.by_ref().find(|n| used.insert(n)),
            };
            match node {
                Some(n) => chosen.push(n.clone()),
                None => return Err(self.too_few_nodes_reason()),
            }
        }
        Ok(chosen)
    }

    fn too_few_nodes_reason(&self) -> String {
        let distinct: BTreeSet<&NodeName> = self.pool.iter().collect();
        let healthy = distinct
            .iter()
            .filter(|n| !self.bad_nodes.contains_key(**n))
            .count();
        let mut s = format!(
            "too few healthy nodes: the job needs {}, {healthy} of {} are healthy",
            self.policy.nodes,
            distinct.len()
        );
        if !self.bad_nodes.is_empty() {
            let bad: Vec<String> = self
                .bad_nodes
                .iter()
                .map(|(n, r)| format!("{n}: {r}"))
                .collect();
            s.push_str(&format!(" (bad: {})", bad.join("; ")));
        }
        s
    }

    fn start_attempt(&mut self, now: Millis, out: &mut Vec<Action>) {
        let nodes = match self.choose_nodes() {
            Ok(n) => n,
            Err(reason) => return self.finish(FinalState::Failed, reason, now, out),
        };
        if !self.attempts.is_empty() {
            self.restart_count = self.restart_count.saturating_add(1);
        }
        let number = u32::try_from(self.attempts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.attempts.push(AttemptSummary {
            number,
            state: AttemptState::Running,
            reason: None,
            nodes: nodes.clone(),
            restart_count: self.restart_count,
            blamed_node: None,
            blamed_rank: None,
            exit_code: None,
            signal: None,
            started_at: now,
            ended_at: None,
            first_progress_at: None,
            last_progress_at: None,
            last_step: None,
        });
        let mut live = LiveAttempt::new(number, nodes.clone(), self.policy.procs_per_node, now);
        if self.hang_clock_from_running {
            live.running_since = None;
        }
        self.live = Some(live);
        self.state = JobState::Running;
        let msg = format!(
            "attempt {number} started on {} (restart {} of {})",
            nodes.join(", "),
            self.restart_count,
            self.policy.max_restarts
        );
        record(
            out,
            JobEvent {
                attempt: Some(number),
                ..JobEvent::new(now, JobEventKind::AttemptStarted, msg)
            },
        );
        out.push(Action::StartAttempt {
            attempt: number,
            nodes,
            restart_count: self.restart_count,
        });
    }

    /// Every rank of the running attempt exited 0.
    fn succeed(&mut self, now: Millis, out: &mut Vec<Action>) {
        let Some(live) = self.live.take() else { return };
        if let Some(a) = self.attempts.last_mut() {
            a.state = AttemptState::Succeeded;
            a.ended_at = Some(now);
        }
        let msg = format!(
            "attempt {}: all {} rank(s) exited 0",
            live.number, live.world
        );
        record(
            out,
            JobEvent {
                attempt: Some(live.number),
                ..JobEvent::new(now, JobEventKind::AttemptSucceeded, msg.clone())
            },
        );
        self.finish(FinalState::Succeeded, msg, now, out);
    }

    /// Fail fast: stop every rank of the running attempt, blaming whoever `cause` names.
    fn begin_stop(&mut self, cause: StopCause, now: Millis, out: &mut Vec<Action>) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        if !live.is_running() {
            return;
        }
        let number = live.number;
        live.phase = Phase::Stopping(cause.clone());
        self.state = JobState::Stopping;
        let described = cause.describe();
        if let Some(a) = self.attempts.last_mut() {
            a.state = AttemptState::Stopping;
            a.reason = Some(described.clone());
            if let Some(b) = cause.blame() {
                a.blamed_rank = Some(b.rank);
                a.blamed_node = Some(b.node.clone());
                a.exit_code = b.exit.and_then(ExitStatus::code);
                a.signal = b.exit.and_then(ExitStatus::signal);
            }
        }
        let (kind, msg) = match &cause {
            StopCause::Hang(_) => (
                JobEventKind::HangDetected,
                format!(
                    "attempt {number} hung: {}; stopping all ranks",
                    cause.blame().map_or_else(String::new, Blame::describe)
                ),
            ),
            StopCause::Cancelled(r) => (
                JobEventKind::AttemptStopped,
                format!("stopping attempt {number}: cancelled ({r})"),
            ),
            _ => (
                JobEventKind::AttemptFailed,
                format!("attempt {number} failed: {described}; stopping the other ranks"),
            ),
        };
        // The cancel case already has its CancelRequested record; the stop itself is logged
        // when the driver confirms it.
        if !matches!(cause, StopCause::Cancelled(_)) {
            let blame = cause.blame();
            record(
                out,
                JobEvent {
                    attempt: Some(number),
                    rank: blame.map(|b| b.rank),
                    node: blame.map(|b| b.node.clone()),
                    exit: blame.and_then(|b| b.exit),
                    step: blame.and_then(|b| b.step),
                    stderr_tail: blame.map(|b| b.stderr_tail.clone()).unwrap_or_default(),
                    ..JobEvent::new(now, kind, msg)
                },
            );
        }
        out.push(Action::StopAttempt {
            attempt: number,
            reason: described,
            grace: self.policy.stop_grace,
        });
        if let Some(b) = cause.blame() {
            let node = b.node.clone();
            let count = self.node_failures.entry(node.clone()).or_insert(0);
            *count = count.saturating_add(1);
            let count = *count;
            if count >= self.policy.node_failure_limit.max(1) && self.pool.contains(&node) {
                self.mark_bad(
                    node,
                    format!(
                        "{count} failure(s) blamed on it (limit {})",
                        self.policy.node_failure_limit.max(1)
                    ),
                    now,
                    out,
                );
            }
        }
    }

    fn mark_bad(&mut self, node: NodeName, reason: String, now: Millis, out: &mut Vec<Action>) {
        if self.bad_nodes.contains_key(&node) {
            return;
        }
        self.bad_nodes.insert(node.clone(), reason.clone());
        let msg = format!("node {node} marked bad: {reason}; later attempts will not use it");
        record(
            out,
            JobEvent {
                node: Some(node.clone()),
                ..JobEvent::new(now, JobEventKind::NodeMarkedBad, msg)
            },
        );
        out.push(Action::MarkNodeBad { node, reason });
    }

    /// The driver confirmed the stopping attempt is gone: restart, or finish.
    fn end_attempt(&mut self, now: Millis, out: &mut Vec<Action>) {
        let Some(live) = self.live.take() else { return };
        let Phase::Stopping(cause) = live.phase else {
            return;
        };
        let number = live.number;
        let cancelled = matches!(cause, StopCause::Cancelled(_));
        if let Some(a) = self.attempts.last_mut() {
            a.state = if cancelled {
                AttemptState::Cancelled
            } else {
                AttemptState::Failed
            };
            a.ended_at = Some(now);
        }
        let described = cause.describe();
        record(
            out,
            JobEvent {
                attempt: Some(number),
                ..JobEvent::new(
                    now,
                    JobEventKind::AttemptStopped,
                    format!("attempt {number}: all ranks stopped"),
                )
            },
        );
        if let Some(reason) = self.cancel.clone() {
            return self.finish(
                FinalState::Cancelled,
                format!("cancelled: {reason}"),
                now,
                out,
            );
        }
        let headline = format!("attempt {number} failed: {described}");
        if self.give_up.is_some() {
            let reason = format!("{headline}; not restarting: no attempt can run as asked");
            return self.finish(FinalState::Failed, reason, now, out);
        }
        if self.restart_count >= self.policy.max_restarts {
            let reason = format!(
                "{headline}; no restarts left ({} of {} used)",
                self.restart_count, self.policy.max_restarts
            );
            return self.finish(FinalState::Failed, reason, now, out);
        }
        // Check the nodes now rather than after the backoff: waiting out a delay only to
        // discover there is nowhere to run would waste the user's time.
        if let Err(why) = self.choose_nodes() {
            return self.finish(
                FinalState::Failed,
                format!("{headline}; cannot restart: {why}"),
                now,
                out,
            );
        }
        // The count goes up when the restart happens (start_attempt), so a job cancelled
        // during the backoff does not report a restart it never made.
        let next = self.restart_count.saturating_add(1);
        let healthy_for = self
            .attempts
            .last()
            .and_then(|a| Some(a.last_progress_at?.saturating_since(a.first_progress_at?)))
            .unwrap_or_default();
        if healthy_for >= self.policy.backoff.max {
            self.backoff_streak = 0;
        }
        self.backoff_streak = self.backoff_streak.saturating_add(1);
        let delay = self.policy.backoff.delay(self.backoff_streak);
        self.backoff_until = Some(now.saturating_add(delay));
        self.state = JobState::Backoff;
        let msg = format!(
            "{headline}; restarting in {} (restart {} of {})",
            format_duration(delay),
            next,
            self.policy.max_restarts
        );
        let blame = cause.blame();
        record(
            out,
            JobEvent {
                attempt: Some(number),
                rank: blame.map(|b| b.rank),
                node: blame.map(|b| b.node.clone()),
                ..JobEvent::new(now, JobEventKind::RestartScheduled, msg)
            },
        );
    }

    fn finish(&mut self, state: FinalState, reason: String, now: Millis, out: &mut Vec<Action>) {
        self.state = state.into();
        self.ended_at = Some(now);
        self.finish_reason = Some(reason.clone());
        self.live = None;
        self.backoff_until = None;
        record(
            out,
            JobEvent::new(
                now,
                JobEventKind::JobFinished,
                format!("job {state}: {reason}"),
            ),
        );
        out.push(Action::Finish { state, reason });
    }
}

fn record(out: &mut Vec<Action>, e: JobEvent) {
    out.push(Action::Record(e));
}
