//! The event loop's state: attempts, agent connections, held exits, and the dispatch of
//! IO news to handlers and of the machine's actions to the driver.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use trainyard_job::{Action, Event, ExitStatus, FinalState, JobSpec, Supervisor};
use trainyard_slurm::protocol::{AgentMsg, Launch};
use trainyard_slurm::squeue::QueuedJob;
use trainyard_slurm::{SlurmCmd, SlurmError};

use super::{now, LEAVE_WAIT};
use crate::interrupts::Interruptible;
use crate::output::LiveView;
use crate::sink::{beat, log_failure, EventSink};

/// What the IO tasks tell the loop.
pub(super) enum Internal {
    Connected {
        conn: u64,
        out: mpsc::UnboundedSender<String>,
    },
    Agent {
        conn: u64,
        msg: AgentMsg,
    },
    Disconnected {
        conn: u64,
    },
    Submitted {
        attempt: u32,
        result: Result<u64, SlurmError>,
    },
    Polled {
        attempt: u32,
        result: Result<Option<QueuedJob>, SlurmError>,
    },
    /// The answer to "why did Slurm signal the agents?".
    Why {
        attempt: u32,
        answer: Option<String>,
        /// After a node failure: the attempt's nodes Slurm lists as unusable, with why.
        failed: Vec<(String, String)>,
    },
}

/// One agent connection.
pub(super) struct Conn {
    pub(super) out: mpsc::UnboundedSender<String>,
    /// Set by its `Hello`.
    pub(super) attempt: Option<u32>,
    pub(super) node: String,
    pub(super) node_rank: u32,
}

/// A failed exit waiting for [`EXIT_SETTLE`].
pub(super) struct Held {
    pub(super) attempt: u32,
    pub(super) rank: u32,
    pub(super) status: ExitStatus,
    pub(super) stderr_tail: Vec<String>,
    pub(super) failed_at_ms: u64,
}

/// One attempt's Slurm job and agents.
pub(super) struct Attempt {
    pub(super) dir: PathBuf,
    /// The nodes the machine chose, in `NODE_RANK` order.
    pub(super) nodes: Vec<String>,
    /// When its sbatch was sent (accounting's node events since then concern it).
    pub(super) submitted_at: Instant,
    pub(super) world: u32,
    pub(super) ppn: u32,
    pub(super) launch: Launch,
    /// `Some` once sbatch answered.
    pub(super) slurm_id: Option<u64>,
    /// sbatch is running.
    pub(super) submitting: bool,
    /// Agents that said Hello and have not disconnected.
    pub(super) agents: BTreeSet<u64>,
    /// Ranks whose exit reached the machine (or will: held).
    pub(super) exited: BTreeSet<u32>,
    /// We asked it to stop (the machine's StopAttempt).
    pub(super) stopping: bool,
    /// When to `scancel` if it is still there.
    pub(super) scancel_at: Option<Instant>,
    pub(super) scancelled: bool,
    /// The Slurm job left the running states (or never existed).
    pub(super) slurm_done: bool,
    /// Slurm's last known state, for messages.
    pub(super) slurm_state: Option<String>,
    /// The machine heard `AttemptStopped`.
    pub(super) confirmed: bool,
    /// Exits held while Slurm is asked why it signalled the agents.
    pub(super) why_until: Option<Instant>,
    pub(super) lost_reported: bool,
    pub(super) poll_in_flight: bool,
    /// Progress since the last heartbeat, and the highest step.
    pub(super) progress: Option<Option<u64>>,
    pub(super) step: Option<u64>,
    pub(super) pending_reason: Option<String>,
    /// Node 0's agent said Hello: `launch.master_port` is the rendezvous it chose.
    pub(super) rendezvous_known: bool,
    /// Agents that said Hello before node 0's, waiting for their `Launch`.
    pub(super) awaiting_launch: Vec<u64>,
    /// The machine heard `AttemptRunning` (the job left Slurm's queue).
    pub(super) running_reported: bool,
}

pub(super) struct Run<'a, S> {
    pub(super) spec: &'a JobSpec,
    pub(super) job_id: &'a str,
    pub(super) log_dir: &'a Path,
    pub(super) sink: S,
    pub(super) live: Option<Arc<dyn LiveView>>,
    pub(super) cmd: SlurmCmd,
    pub(super) agent: Vec<String>,
    pub(super) connect: String,
    /// Real node names of the pool (not the `slurm-any-` stand-ins).
    pub(super) known: BTreeSet<String>,
    pub(super) supervisor: Supervisor,
    pub(super) tx: mpsc::UnboundedSender<Internal>,
    pub(super) attempts: BTreeMap<u32, Attempt>,
    pub(super) conns: BTreeMap<u64, Conn>,
    pub(super) bad: BTreeSet<String>,
    pub(super) queue: VecDeque<Event>,
    pub(super) outcome: Option<(FinalState, String)>,
    pub(super) finished_at: Option<Instant>,
    pub(super) launched: u32,
    pub(super) held: Vec<Held>,
    pub(super) settle_at: Option<Instant>,
}

impl<S: EventSink> Interruptible for Run<'_, S> {
    fn heartbeat(&mut self) -> bool {
        Run::heartbeat(self)
    }

    fn stop_now(&mut self, signal: &str) {
        tracing::warn!(signal, "second signal: scancel of every attempt now");
        self.scancel_all();
    }

    fn cancel(&mut self, reason: String) {
        self.queue.push_back(Event::Cancel { reason });
    }
}

impl<S: EventSink> Run<'_, S> {
    pub(super) fn drain_queue(&mut self) {
        while let Some(event) = self.queue.pop_front() {
            tracing::trace!(?event, "event");
            let actions = self.supervisor.handle(event, now());
            for action in actions {
                self.apply(action);
            }
        }
    }

    /// Every attempt's Slurm job has left and its agents are gone (or we gave up waiting).
    pub(super) fn all_gone(&self) -> bool {
        let waited = self
            .finished_at
            .is_some_and(|at| at.elapsed() > LEAVE_WAIT + self.spec.stop_grace);
        waited
            || self
                .attempts
                .values()
                .all(|a| !a.submitting && a.slurm_done && a.agents.is_empty())
    }

    pub(super) fn apply(&mut self, action: Action) {
        tracing::debug!(?action, "action");
        match action {
            Action::StartAttempt {
                attempt,
                nodes,
                restart_count,
            } => self.start_attempt(attempt, &nodes, restart_count),
            Action::StopAttempt {
                attempt,
                reason,
                grace,
            } => self.stop_attempt(attempt, &reason, grace),
            Action::MarkNodeBad { node, reason } => {
                // The machine's own record says so; this is for the log only.
                tracing::info!(%node, %reason, "node marked bad");
                self.bad.insert(node.clone());
                if self.spec.slurm.drain_bad_nodes && self.known.contains(&node) {
                    let cmd = self.cmd.clone();
                    let why = format!("trainyard: job {}: {reason}", self.job_id);
                    tokio::spawn(async move {
                        match cmd.drain(&[node.as_str()], &why).await {
                            Ok(()) => tracing::info!(%node, "drained in Slurm"),
                            Err(err) => tracing::warn!(%node, %err, "cannot drain the node"),
                        }
                    });
                }
            }
            Action::Record(event) => {
                tracing::info!(kind = %event.kind, "{}", event.message);
                log_failure("record", self.sink.record(&event));
            }
            Action::Finish { state, reason } => {
                tracing::info!(%state, %reason, "job finished");
                log_failure("finished", self.sink.finished(state, &reason, now()));
                let grace = self.spec.stop_grace;
                let open: Vec<u32> = self
                    .attempts
                    .iter()
                    .filter(|(_, a)| !(a.stopping || a.slurm_done && a.agents.is_empty()))
                    .map(|(n, _)| *n)
                    .collect();
                for attempt in open {
                    // After a success the agents are leaving on their own; anything else
                    // gets the normal stop.
                    self.stop_attempt(attempt, "the job finished", grace);
                }
                self.outcome = Some((state, reason));
                self.finished_at = Some(Instant::now());
            }
        }
    }

    pub(super) fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Connected { conn, out } => {
                self.conns.insert(
                    conn,
                    Conn {
                        out,
                        attempt: None,
                        node: String::new(),
                        node_rank: 0,
                    },
                );
            }
            Internal::Agent { conn, msg } => self.on_agent(conn, msg),
            Internal::Disconnected { conn } => self.on_disconnect(conn),
            Internal::Submitted { attempt, result } => self.on_submitted(attempt, result),
            Internal::Polled { attempt, result } => self.on_polled(attempt, result),
            Internal::Why {
                attempt,
                answer,
                failed,
            } => self.on_why(attempt, answer, failed),
        }
    }

    /// Once a second (and on the first SIGINT/SIGTERM): the attempts' progress, then the
    /// heartbeat, which may carry a cancel; true when it did and the cancel is queued.
    pub(super) fn heartbeat(&mut self) -> bool {
        let progress = self
            .attempts
            .iter_mut()
            .filter_map(|(attempt, a)| a.progress.take().map(|step| (*attempt, step)));
        match beat(&mut self.sink, progress, now()) {
            Some(reason) => {
                self.queue.push_back(Event::Cancel { reason });
                true
            }
            None => false,
        }
    }
}
