//! A deterministic virtual cluster: ranks that train in lock step, fail, hang or fail to
//! launch as a plan says, against the real [`Supervisor`], on a virtual clock.
//!
//! [`Cluster::step`] jumps time to the earliest of the next scheduled rank event and the
//! supervisor's `poll_timeout()`, delivers it, and carries out the actions, like
//! quinn-proto's `Pair::step`. Training is gang-synchronous, as with all-reduce: when a rank
//! fails or hangs at step `d`, the others print step `d` and then block, so only the
//! supervisor can end the attempt.

use std::collections::{BTreeMap, BTreeSet};

use trainyard_job::{Action, Event, ExitStatus, FinalState, Millis, NodeName, Policy, Supervisor};

/// What one rank does in one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Train to the end and exit 0.
    Finish,
    /// Exit with this status instead of completing step `at`.
    Fail { at: u64, status: ExitStatus },
    /// Go silent instead of completing step `at` (until stopped).
    Hang { at: u64 },
}

type PlanFn = Box<dyn Fn(u32, u32, &str) -> Plan>;

/// The cluster and its supervisor.
pub struct Cluster {
    pub sup: Supervisor,
    pub policy: Policy,
    pub now: Millis,
    /// Every action, with when it was emitted.
    pub log: Vec<(Millis, Action)>,
    /// Every event delivered, with when.
    pub delivered: Vec<(Millis, Event)>,
    /// Total training steps.
    pub steps: u64,
    pub step_ms: u64,
    pub startup_ms: u64,
    pub stop_ms: u64,
    pub checkpoint_every: u64,
    /// Newest checkpointed step; an attempt resumes after it.
    pub checkpoint: u64,
    /// Send `Cancel` at this time.
    pub cancel_at: Option<Millis>,
    /// Attempts whose launch fails.
    pub launch_fails: BTreeSet<u32>,
    pub finished: Option<(FinalState, String)>,
    plan: PlanFn,
    queue: BTreeMap<(Millis, u64), Event>,
    seq: u64,
    live: Option<Live>,
}

struct Live {
    attempt: u32,
    running: BTreeSet<u32>,
    /// Last step each rank printed.
    done: BTreeMap<u32, u64>,
}

fn attempt_of(e: &Event) -> Option<u32> {
    match e {
        Event::RankStarted { attempt, .. }
        | Event::LaunchFailed { attempt, .. }
        | Event::Progress { attempt, .. }
        | Event::RankExited { attempt, .. }
        | Event::AttemptStopped { attempt } => Some(*attempt),
        _ => None,
    }
}

impl Cluster {
    /// A cluster of `pool`, where every rank follows `plan(attempt, rank, node)`.
    pub fn new(
        policy: Policy,
        pool: Vec<NodeName>,
        plan: impl Fn(u32, u32, &str) -> Plan + 'static,
    ) -> Cluster {
        let now = Millis(1_000_000);
        Cluster {
            sup: Supervisor::new(policy.clone(), pool, now),
            policy,
            now,
            log: Vec::new(),
            delivered: Vec::new(),
            steps: 100,
            step_ms: 1_000,
            startup_ms: 2_000,
            stop_ms: 500,
            checkpoint_every: 10,
            checkpoint: 0,
            cancel_at: None,
            launch_fails: BTreeSet::new(),
            finished: None,
            plan: Box::new(plan),
            queue: BTreeMap::new(),
            seq: 0,
            live: None,
        }
    }

    fn schedule(&mut self, at: Millis, e: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), e);
    }

    /// Delivers `e` now and carries out the actions.
    pub fn deliver(&mut self, e: Event) {
        match &e {
            Event::RankExited { attempt, rank, .. } => {
                if let Some(l) = self.live.as_mut().filter(|l| l.attempt == *attempt) {
                    l.running.remove(rank);
                }
            }
            Event::Progress {
                attempt,
                rank,
                step: Some(s),
            } => {
                if let Some(l) = self.live.as_mut().filter(|l| l.attempt == *attempt) {
                    l.done.insert(*rank, *s);
                }
            }
            _ => {}
        }
        self.delivered.push((self.now, e.clone()));
        let actions = self.sup.handle(e, self.now);
        for a in actions {
            self.log.push((self.now, a.clone()));
            self.carry_out(a);
        }
    }

    fn carry_out(&mut self, a: Action) {
        match a {
            Action::StartAttempt { attempt, nodes, .. } => self.launch(attempt, &nodes),
            Action::StopAttempt { attempt, .. } => self.stop(attempt),
            Action::Finish { state, reason } => self.finished = Some((state, reason)),
            Action::MarkNodeBad { .. } | Action::Record(_) => {}
        }
    }

    fn launch(&mut self, attempt: u32, nodes: &[NodeName]) {
        let ppn = self.policy.procs_per_node;
        let world = u32::try_from(nodes.len()).unwrap() * ppn;
        self.live = Some(Live {
            attempt,
            running: (0..world).collect(),
            done: BTreeMap::new(),
        });
        let t0 = self.now;
        if self.launch_fails.contains(&attempt) {
            self.schedule(
                t0 + ms(10),
                Event::LaunchFailed {
                    attempt,
                    error: "exec failed".into(),
                },
            );
            return;
        }
        let resume = self.checkpoint;
        let plans: Vec<Plan> = (0..world)
            .map(|r| (self.plan)(attempt, r, &nodes[(r / ppn) as usize]))
            .collect();
        // The first step at which some rank fails or hangs (a fault planned for a step
        // already behind the checkpoint happens on the first step).
        let disrupt = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Fail { at, .. } | Plan::Hang { at } => Some((*at).max(resume + 1)),
                Plan::Finish => None,
            })
            .min();
        for r in 0..world {
            let node = nodes[(r / ppn) as usize].clone();
            let base = t0 + ms(self.startup_ms);
            self.schedule(
                t0 + ms(100 + u64::from(r)),
                Event::RankStarted {
                    attempt,
                    rank: r,
                    node,
                    pid: Some(r),
                },
            );
            let last = disrupt.unwrap_or(self.steps);
            for s in resume + 1..=last {
                let at = base + ms((s - resume) * self.step_ms + u64::from(r));
                let p = plans[r as usize];
                let faulty_here = Some(s) == disrupt
                    && matches!(p, Plan::Fail { at, .. } | Plan::Hang { at } if at.max(resume + 1) == s);
                if faulty_here {
                    if let Plan::Fail { status, .. } = p {
                        self.schedule(
                            at,
                            Event::RankExited {
                                attempt,
                                rank: r,
                                status,
                                stderr_tail: vec![format!("rank {r} failed")],
                            },
                        );
                    }
                    break;
                }
                self.schedule(
                    at,
                    Event::Progress {
                        attempt,
                        rank: r,
                        step: Some(s),
                    },
                );
            }
            if disrupt.is_none() {
                let end = base + ms((self.steps - resume) * self.step_ms + 50 + u64::from(r));
                self.schedule(
                    end,
                    Event::RankExited {
                        attempt,
                        rank: r,
                        status: ExitStatus::Code(0),
                        stderr_tail: vec![],
                    },
                );
            }
        }
    }

    fn stop(&mut self, attempt: u32) {
        // Ranks of the attempt do nothing more on their own.
        self.queue.retain(|_, e| attempt_of(e) != Some(attempt));
        let Some(live) = self.live.take().filter(|l| l.attempt == attempt) else {
            return;
        };
        let completed = live.done.values().copied().min().unwrap_or(0);
        if live.done.len() as u32 == self.policy.nodes * self.policy.procs_per_node {
            self.checkpoint = self
                .checkpoint
                .max(completed / self.checkpoint_every * self.checkpoint_every);
        }
        let t = self.now + ms(self.stop_ms);
        for r in live.running {
            self.schedule(
                t,
                Event::RankExited {
                    attempt,
                    rank: r,
                    status: ExitStatus::Signal(15),
                    stderr_tail: vec![],
                },
            );
        }
        self.schedule(t + ms(1), Event::AttemptStopped { attempt });
    }

    /// One step of virtual time. `false` when the job finished or nothing can happen.
    pub fn step(&mut self) -> bool {
        if self.finished.is_some() {
            return false;
        }
        let next_event = self.queue.keys().next().map(|k| k.0);
        let timeout = self.sup.poll_timeout();
        let cancel = self.cancel_at;
        let Some(t) = [next_event, timeout, cancel].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(t);
        if cancel == Some(t) {
            self.cancel_at = None;
            self.deliver(Event::Cancel {
                reason: "cancelled by test".into(),
            });
        } else if next_event == Some(t) {
            let key = *self.queue.keys().next().unwrap();
            let e = self.queue.remove(&key).unwrap();
            self.deliver(e);
        } else {
            self.deliver(Event::Tick);
        }
        true
    }

    /// Starts the job and runs it to the end; `Err` if it gets stuck or runs past a day.
    pub fn run(&mut self) -> Result<FinalState, String> {
        self.deliver(Event::Start);
        let limit = self.now + std::time::Duration::from_secs(86_400);
        let mut n = 0u64;
        while self.step() {
            n += 1;
            if self.now > limit || n > 10_000_000 {
                return Err(format!("still running at {} after {n} steps", self.now));
            }
        }
        match &self.finished {
            Some((s, _)) => Ok(*s),
            None => Err(format!(
                "stuck in {:?} at {}: nothing scheduled and no timeout",
                self.sup.state(),
                self.now
            )),
        }
    }

    /// The actions alone.
    pub fn actions(&self) -> Vec<Action> {
        self.log.iter().map(|(_, a)| a.clone()).collect()
    }
}

fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}
