//! The engine: a discrete-event loop that drives the real [`Supervisor`] through a simulated
//! job and books every millisecond of wall time to training or to one kind of loss.
//!
//! The supervisor decides everything it decides for a real job (fail fast, blame, hang
//! detection, backoff, marking nodes bad, swapping in spares, giving up); the engine only
//! plays the cluster: it reports rank starts, progress, exits and stops, and carries out the
//! actions, taking simulated time for each.
//!
//! **Progress abstraction.** A real driver sends a `Progress` per rank at most every 100 ms;
//! here that would be billions of calls, and each call costs the supervisor a scan of every
//! rank. Progress only matters to the supervisor through each rank's *latest* activity
//! (hang detection) and the attempt's first and last progress (its goodput summary), so the
//! engine reports progress for every rank only at the moments that can change a decision:
//! when training begins, when a checkpoint write starts and ends, just before the hang
//! deadline would pass (one second before `last progress + hang_timeout`, while the job is
//! healthy), and at a failure (the failing rank's last step, then the healthy ranks one
//! millisecond later, so the hung rank is the quietest, as it is in a real stuck collective).
//! Between those points the supervisor is not asked anything, so it cannot tell the
//! difference: it detects exactly the hangs, at exactly the times, a per-step feed would.

use std::collections::BTreeMap;
use std::time::Duration;

use trainyard_job::{Action, Event, ExitStatus, FinalState, Millis, Supervisor};

use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::failure::{Kind, Stream};
use crate::report::{Lost, RunResult};
use crate::rng::Rng;

/// Name under which restarts that fail on a broken, not-yet-excluded node are counted.
pub const BROKEN_NODE_REUSED: &str = "restart on a broken node";
/// Name under which hangs the supervisor declares without a failure are counted (start-up or
/// a blocking checkpoint write longer than `hang_timeout`).
pub const FALSE_HANG: &str = "no progress for hang_timeout (no failure)";

/// Something scheduled on the virtual clock. Attempt-bound events carry the engine's attempt
/// id and are dropped when that attempt is gone.
#[derive(Debug, Clone, Copy)]
enum Ev {
    Failure(usize),
    StartupDone(u64),
    BrokenInit(u64, u32),
    CheckpointStart(u64),
    CheckpointDone(u64),
    Refresh(u64, u64),
    Timer(u64),
    Stopped(u64),
    Repaired(usize),
    End,
}

/// Where the job is, for booking time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Launched, loading: time to "restart".
    Startup,
    /// Training: time is work, safe once a checkpoint covers it.
    Training,
    /// Blocking checkpoint write.
    Writing,
    /// A failure happened; the supervisor has not stopped the attempt yet.
    Detecting,
    /// Teardown.
    Stopping,
    /// Restart backoff.
    Backoff,
    /// The supervisor gave up (too few healthy nodes, or no restarts left); waiting for
    /// repairs before the job is resubmitted.
    Waiting,
    Over,
}

/// One simulated job.
struct Sim<'a> {
    cfg: &'a Config,
    clock: Clock<Ev>,
    sup: Supervisor,
    cluster: Cluster,
    streams: Vec<Stream>,
    rngs: Vec<Rng>,
    /// The unit in each working slot (supervisor rank) of the latest attempt.
    alloc: Vec<usize>,
    /// The supervisor's number of the current attempt.
    attempt: u32,
    /// The engine's id of the current attempt (unique across resubmissions).
    live: u64,
    phase: Phase,
    since: Millis,
    /// Training time since the last completed checkpoint, in ms.
    uncommitted: u64,
    /// Asynchronous checkpoint in flight: the work it covers and when it began.
    pending: Option<(u64, Millis)>,
    refresh_gen: u64,
    timer_gen: u64,
    timer_at: Option<Millis>,
    acc: Acc,
    interruptions: BTreeMap<&'static str, u32>,
    failures: u32,
    attempts: u32,
    resubmissions: u32,
    marked_bad: u32,
    checkpoints: u32,
    calls: u64,
    events: u64,
}

/// Milliseconds booked to each part of wall time.
#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    productive: u64,
    lost_work: u64,
    detection: u64,
    restart: u64,
    checkpoint: u64,
    waiting: u64,
}

/// Runs one job with `seed` and reports where its time went.
#[must_use]
pub fn simulate(cfg: &Config, seed: u64) -> RunResult {
    let layout = cfg.layout();
    let cluster = Cluster::new(layout);
    let streams = cfg.failures.streams(cfg.gpus.max(1), layout.nodes);
    // One generator per cause: the failure times of a seed are the same whatever the policy
    // or checkpoint interval (common random numbers), so comparisons between settings are
    // not drowned in seed noise.
    let rngs = (0..streams.len() as u64)
        .map(|i| Rng::new(seed, i))
        .collect();
    let sup = Supervisor::new(cfg.supervisor_policy(), cluster.names.clone(), Millis(0));
    let mut sim = Sim {
        cfg,
        clock: Clock::new(),
        sup,
        cluster,
        streams,
        rngs,
        alloc: (0..layout.units as usize).collect(),
        attempt: 0,
        live: 0,
        phase: Phase::Startup,
        since: Millis(0),
        uncommitted: 0,
        pending: None,
        refresh_gen: 0,
        timer_gen: 0,
        timer_at: None,
        acc: Acc::default(),
        interruptions: BTreeMap::new(),
        failures: 0,
        attempts: 0,
        resubmissions: 0,
        marked_bad: 0,
        checkpoints: 0,
        calls: 0,
        events: 0,
    };
    sim.run();
    sim.result()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Sim<'_> {
    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn run(&mut self) {
        let horizon = Millis(ms(self.cfg.horizon));
        self.clock.push(horizon, Ev::End);
        for i in 0..self.streams.len() {
            self.schedule_failure(i);
        }
        self.feed(Event::Start, Millis(0));
        self.arm_timer();
        while let Some(ev) = self.clock.pop() {
            self.events += 1;
            if matches!(ev, Ev::End) {
                self.enter(Phase::Over);
                self.acc.productive += self.uncommitted;
                self.uncommitted = 0;
                break;
            }
            self.step(ev);
            self.arm_timer();
        }
    }

    fn step(&mut self, ev: Ev) {
        let now = self.now();
        match ev {
            Ev::Failure(i) => self.on_failure(i),
            Ev::StartupDone(id) if id == self.live && self.phase == Phase::Startup => {
                self.enter(Phase::Training);
                self.refresh_all();
                let next = now + self.cfg.checkpoint_interval;
                self.clock.push(next, Ev::CheckpointStart(id));
            }
            Ev::BrokenInit(id, slot) if id == self.live && self.phase == Phase::Startup => {
                self.interrupt(BROKEN_NODE_REUSED);
                self.feed_exit(slot);
            }
            Ev::CheckpointStart(id) if id == self.live && self.phase == Phase::Training => {
                self.checkpoint_start(id);
            }
            Ev::CheckpointDone(id) if id == self.live => self.checkpoint_done(id),
            Ev::Refresh(id, gen)
                if id == self.live && gen == self.refresh_gen && self.phase == Phase::Training =>
            {
                self.refresh_all();
            }
            Ev::Timer(gen) if gen == self.timer_gen => {
                self.timer_at = None;
                if self.sup.poll_timeout().is_some_and(|t| t <= now) {
                    self.feed(Event::Tick, now);
                }
            }
            Ev::Stopped(id) if id == self.live => {
                self.enter(Phase::Backoff);
                let attempt = self.attempt;
                self.feed(Event::AttemptStopped { attempt }, now);
            }
            Ev::Repaired(unit) => {
                self.cluster.in_repair[unit] = false;
                self.cluster.broken[unit] = false;
                let node = self.cluster.names[unit].clone();
                let reason = "repaired".to_owned();
                self.feed(
                    Event::NodeVerdict {
                        node,
                        healthy: true,
                        reason,
                    },
                    now,
                );
                if self.phase == Phase::Waiting {
                    self.try_resubmit();
                }
            }
            _ => {} // stale: its attempt is gone or the job moved on
        }
    }

    // ---- supervisor in, actions out ----

    fn feed(&mut self, event: Event, at: Millis) {
        self.calls += 1;
        let actions = self.sup.handle(event, at);
        for a in actions {
            self.act(a);
        }
    }

    fn act(&mut self, action: Action) {
        let now = self.now();
        match action {
            Action::StartAttempt { attempt, nodes, .. } => self.start_attempt(attempt, &nodes),
            Action::StopAttempt { attempt, .. } if attempt == self.attempt => {
                match self.phase {
                    Phase::Startup | Phase::Training | Phase::Writing => {
                        // The supervisor stopped a healthy attempt on its own: a start-up or
                        // a blocking write outlasted the hang timeout.
                        self.interrupt(FALSE_HANG);
                    }
                    _ => {}
                }
                self.enter(Phase::Stopping);
                self.clock
                    .push(now + self.cfg.teardown, Ev::Stopped(self.live));
            }
            Action::MarkNodeBad { node, .. } => {
                if let Some(u) = self.cluster.index(&node) {
                    if !self.cluster.in_repair[u] {
                        self.cluster.in_repair[u] = true;
                        self.marked_bad += 1;
                        self.clock.push(now + self.cfg.repair, Ev::Repaired(u));
                    }
                }
            }
            Action::Finish { state, .. } => {
                debug_assert_ne!(state, FinalState::Succeeded, "simulated jobs never end");
                self.enter(Phase::Waiting);
                self.live += 1;
                self.try_resubmit();
            }
            Action::StopAttempt { .. } | Action::Record(_) => {}
        }
    }

    fn arm_timer(&mut self) {
        let Some(t) = self.sup.poll_timeout() else {
            return;
        };
        if self.timer_at == Some(t) {
            return;
        }
        // A deadline already due was handled by the last call; never re-arm at the same
        // instant, so a confused timer cannot spin.
        let t = t.max(self.now() + Duration::from_millis(1));
        self.timer_gen += 1;
        self.timer_at = Some(t);
        self.clock.push(t, Ev::Timer(self.timer_gen));
    }

    fn start_attempt(&mut self, attempt: u32, nodes: &[String]) {
        let now = self.now();
        self.attempt = attempt;
        self.live += 1;
        self.attempts += 1;
        self.pending = None;
        self.enter(Phase::Startup);
        for (slot, name) in nodes.iter().enumerate() {
            if let (Some(u), Some(a)) = (self.cluster.index(name), self.alloc.get_mut(slot)) {
                *a = u;
            }
        }
        for (rank, node) in (0..).zip(nodes) {
            let ev = Event::RankStarted {
                attempt,
                rank,
                node: node.clone(),
                pid: None,
            };
            self.feed(ev, now);
        }
        // A node with an undetected persistent fault fails the attempt during init.
        let broken = self.alloc.iter().position(|&u| self.cluster.broken[u]);
        match broken.and_then(|s| u32::try_from(s).ok()) {
            Some(slot) => {
                let at = now + self.cfg.restart / 2;
                self.clock.push(at, Ev::BrokenInit(self.live, slot));
            }
            None => {
                self.clock
                    .push(now + self.cfg.restart, Ev::StartupDone(self.live));
            }
        }
    }

    fn try_resubmit(&mut self) {
        let units = self.cluster.layout.units as usize;
        if self.cluster.available() < units {
            return; // a repair will call again
        }
        let now = self.now();
        self.resubmissions += 1;
        self.sup = Supervisor::new(
            self.cfg.supervisor_policy(),
            self.cluster.names.clone(),
            now,
        );
        // The new job starts with what the operator knows: nodes in repair are bad.
        for u in 0..self.cluster.names.len() {
            if self.cluster.in_repair[u] {
                let node = self.cluster.names[u].clone();
                let reason = "in repair".to_owned();
                let ev = Event::NodeVerdict {
                    node,
                    healthy: false,
                    reason,
                };
                self.feed(ev, now);
            }
        }
        self.feed(Event::Start, now);
    }

    // ---- progress ----

    /// Every working rank reports progress now (see the module docs for when this happens).
    fn refresh_all(&mut self) {
        let now = self.now();
        let attempt = self.attempt;
        for rank in 0..self.cluster.layout.units {
            let ev = Event::Progress {
                attempt,
                rank,
                step: None,
            };
            self.feed(ev, now);
        }
        self.refresh_gen += 1;
        if let Some(h) = self.cfg.policy.hang_timeout {
            // Just before the deadline, so the supervisor never sees a healthy rank as silent
            // for a whole hang_timeout.
            let margin = Duration::from_secs(1).min(h / 2);
            let at = now + h.saturating_sub(margin).max(Duration::from_millis(1));
            self.clock
                .push(at, Ev::Refresh(self.live, self.refresh_gen));
        }
    }

    fn checkpoint_start(&mut self, id: u64) {
        let now = self.now();
        let done = now + self.cfg.checkpoint_write;
        if self.cfg.checkpoint_async {
            self.flush();
            self.pending = Some((self.uncommitted, now));
        } else {
            self.refresh_all();
            self.enter(Phase::Writing);
        }
        self.clock.push(done, Ev::CheckpointDone(id));
    }

    fn checkpoint_done(&mut self, id: u64) {
        let now = self.now();
        let next = if self.cfg.checkpoint_async {
            let Some((covered, began)) = self.pending.take() else {
                return;
            };
            if self.phase != Phase::Training {
                return;
            }
            self.flush();
            self.acc.productive += covered;
            self.uncommitted -= covered.min(self.uncommitted);
            (began + self.cfg.checkpoint_interval).max(now)
        } else {
            if self.phase != Phase::Writing {
                return;
            }
            self.enter(Phase::Training);
            self.acc.productive += self.uncommitted;
            self.uncommitted = 0;
            self.refresh_all();
            now + self.cfg.checkpoint_interval
        };
        self.checkpoints += 1;
        self.clock.push(next, Ev::CheckpointStart(id));
    }

    // ---- failures ----

    fn schedule_failure(&mut self, i: usize) {
        let mean = self.streams[i].mean_ms;
        if !mean.is_finite() {
            return;
        }
        let gap = self.cfg.interarrival.sample(mean, &mut self.rngs[i]);
        let at = self.now().0 as f64 + gap.max(1.0);
        if at < ms(self.cfg.horizon) as f64 {
            self.clock.push(Millis(at as u64), Ev::Failure(i));
        }
    }

    fn on_failure(&mut self, i: usize) {
        self.schedule_failure(i);
        self.failures += 1;
        let cause = self.streams[i].cause;
        let node = self.rngs[i].below(self.cluster.layout.nodes);
        let slot = self.cluster.layout.slot_of_node(node);
        let Some(&unit) = self.alloc.get(slot as usize) else {
            return;
        };
        if self.cluster.in_repair[unit] {
            return; // taken out already: it runs nothing
        }
        if cause.persistent {
            self.cluster.broken[unit] = true;
        }
        let was = self.phase;
        if matches!(was, Phase::Startup | Phase::Training | Phase::Writing) {
            self.interrupt(cause.name);
            let now = self.now();
            let attempt = self.attempt;
            if was == Phase::Training {
                // The failing rank's last step.
                self.feed(
                    Event::Progress {
                        attempt,
                        rank: slot,
                        step: None,
                    },
                    now,
                );
            }
            match cause.kind {
                Kind::Crash => self.feed_exit(slot),
                Kind::Hang if was == Phase::Training => {
                    // The others finish their step and block in the next collective.
                    let later = now + Duration::from_millis(1);
                    for rank in (0..self.cluster.layout.units).filter(|&r| r != slot) {
                        let ev = Event::Progress {
                            attempt,
                            rank,
                            step: None,
                        };
                        self.feed(ev, later);
                    }
                }
                Kind::Hang => {}
            }
        }
        if cause.persistent && self.cfg.health_check {
            let node = self.cluster.names[unit].clone();
            let reason = cause.name.to_owned();
            let now = self.now();
            self.feed(
                Event::NodeVerdict {
                    node,
                    healthy: false,
                    reason,
                },
                now,
            );
        }
    }

    /// A healthy attempt is hit: book the failure and roll back unsaved work.
    fn interrupt(&mut self, cause: &'static str) {
        *self.interruptions.entry(cause).or_insert(0) += 1;
        self.enter(Phase::Detecting);
        self.acc.lost_work += self.uncommitted;
        self.uncommitted = 0;
        self.pending = None;
    }

    fn feed_exit(&mut self, slot: u32) {
        let ev = Event::RankExited {
            attempt: self.attempt,
            rank: slot,
            status: ExitStatus::Code(1),
            stderr_tail: Vec::new(),
        };
        let now = self.now();
        self.feed(ev, now);
    }

    // ---- bookkeeping ----

    /// Books the time since the last transition to the phase it was spent in.
    fn enter(&mut self, next: Phase) {
        let now = self.now();
        let dt = now.0.saturating_sub(self.since.0);
        match self.phase {
            Phase::Training => self.uncommitted += dt,
            Phase::Writing => self.acc.checkpoint += dt,
            Phase::Startup | Phase::Stopping | Phase::Backoff => self.acc.restart += dt,
            Phase::Detecting => self.acc.detection += dt,
            Phase::Waiting => self.acc.waiting += dt,
            Phase::Over => {}
        }
        self.phase = next;
        self.since = now;
    }

    fn flush(&mut self) {
        self.enter(self.phase);
    }

    fn result(&self) -> RunResult {
        let s = |x: u64| x as f64 / 1000.0;
        let a = self.acc;
        RunResult {
            wall_s: s(ms(self.cfg.horizon)),
            productive_s: s(a.productive),
            lost: Lost {
                lost_work: s(a.lost_work),
                detection: s(a.detection),
                restart: s(a.restart),
                checkpoint: s(a.checkpoint),
                waiting_for_spares: s(a.waiting),
            },
            interruptions: self
                .interruptions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            failures: self.failures,
            attempts: self.attempts,
            resubmissions: self.resubmissions,
            nodes_marked_bad: self.marked_bad,
            checkpoints: self.checkpoints,
            supervisor_calls: self.calls,
            events: self.events + self.calls,
        }
    }
}
