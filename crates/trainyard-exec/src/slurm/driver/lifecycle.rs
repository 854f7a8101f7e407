//! An attempt's life in Slurm: `sbatch`, stop (`Stop` to the agents, then `scancel`), and
//! the confirmation that it is gone.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use trainyard_job::{Event, NodeName};
use trainyard_slurm::protocol::{encode, Launch, SupervisorMsg};
use trainyard_slurm::submit::AttemptRequest;
use trainyard_slurm::SlurmError;

use super::run::{Attempt, Internal, Run};
use super::{now, SCANCEL_AFTER_GRACE};
use crate::env::free_port;
use crate::sink::{log_failure, EventSink};

impl<S: EventSink> Run<'_, S> {
    pub(super) fn start_attempt(&mut self, attempt: u32, nodes: &[NodeName], restart_count: u32) {
        self.launched += 1;
        let dir = self.log_dir.join(format!("attempt-{attempt}"));
        if let Err(err) = std::fs::create_dir_all(&dir) {
            let error = format!("cannot create the log directory {}: {err}", dir.display());
            self.queue.push_back(Event::LaunchFailed { attempt, error });
            return;
        }
        let master_port = match free_port() {
            Ok(port) => port,
            Err(err) => {
                let error = format!("no free port for the rendezvous: {err}");
                self.queue.push_back(Event::LaunchFailed { attempt, error });
                return;
            }
        };
        log_failure(
            "attempt_started",
            self.sink
                .attempt_started(attempt, nodes, restart_count, &dir, now()),
        );
        let pinned = nodes.iter().all(|n| self.known.contains(n));
        let ppn = self.spec.procs_per_node;
        let request = AttemptRequest {
            job_id: self.job_id.to_string(),
            attempt,
            nodes: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
            nodelist: if pinned { nodes.to_vec() } else { Vec::new() },
            exclude: self
                .bad
                .iter()
                .filter(|n| self.known.contains(*n))
                .cloned()
                .collect(),
            partition: self.spec.slurm.partition.clone(),
            time_limit: self.spec.slurm.time_limit.clone(),
            extra_args: self.spec.slurm.extra_args.clone(),
            output: dir.join("slurm-%j.out").display().to_string(),
            agent: self
                .agent
                .iter()
                .cloned()
                .chain([
                    "--connect".to_string(),
                    self.connect.clone(),
                    "--job-id".to_string(),
                    self.job_id.to_string(),
                    "--attempt".to_string(),
                    attempt.to_string(),
                ])
                .collect(),
        };
        let launch = Launch {
            command: self.spec.command.clone(),
            env: self.spec.env.clone(),
            workdir: self.spec.workdir.as_ref().map(|w| w.display().to_string()),
            procs_per_node: ppn,
            master_port,
            restart_count,
            max_restarts: self.spec.max_restarts,
            log_dir: dir.display().to_string(),
            progress_regex: self
                .spec
                .progress_regex
                .as_ref()
                .map(|r| r.as_str().to_string()),
            stop_grace_ms: u64::try_from(self.spec.stop_grace.as_millis()).unwrap_or(u64::MAX),
        };
        self.attempts.insert(
            attempt,
            Attempt {
                dir,
                nodes: nodes.to_vec(),
                submitted_at: Instant::now(),
                world: u32::try_from(nodes.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(ppn),
                ppn,
                launch,
                slurm_id: None,
                submitting: true,
                agents: BTreeSet::new(),
                exited: BTreeSet::new(),
                stopping: false,
                scancel_at: None,
                scancelled: false,
                slurm_done: false,
                slurm_state: None,
                confirmed: false,
                why_until: None,
                lost_reported: false,
                poll_in_flight: false,
                progress: None,
                step: None,
                pending_reason: None,
                rendezvous_known: false,
                awaiting_launch: Vec::new(),
                running_reported: false,
            },
        );
        let plan = request.plan();
        let cmd = self.cmd.clone();
        let tx = self.tx.clone();
        tracing::info!(attempt, args = ?plan.args, "sbatch");
        tokio::spawn(async move {
            let args: Vec<&str> = plan.args.iter().map(String::as_str).collect();
            let result = cmd.sbatch(&args, &plan.script).await;
            let _ = tx.send(Internal::Submitted { attempt, result });
        });
    }

    pub(super) fn stop_attempt(&mut self, attempt: u32, reason: &str, grace: Duration) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            self.queue.push_back(Event::AttemptStopped { attempt });
            return;
        };
        if a.stopping {
            return;
        }
        a.stopping = true;
        tracing::info!(attempt, reason, ?grace, slurm_job = ?a.slurm_id, "stopping attempt");
        let stop = encode(&SupervisorMsg::Stop {
            reason: reason.to_string(),
        });
        for conn in &a.agents {
            if let Some(c) = self.conns.get(conn) {
                let _ = c.out.send(stop.clone());
            }
        }
        // No agent to tell (still pending, or they never came): scancel now.
        let after = if a.agents.is_empty() {
            Duration::ZERO
        } else {
            grace + SCANCEL_AFTER_GRACE
        };
        a.scancel_at = Some(Instant::now() + after);
        self.check_gone(attempt);
    }

    pub(super) fn scancel(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        let Some(id) = a.slurm_id else { return };
        if a.scancelled || a.slurm_done {
            return;
        }
        a.scancelled = true;
        let cmd = self.cmd.clone();
        tokio::spawn(async move {
            if let Err(err) = cmd.scancel(id).await {
                tracing::warn!(slurm_job = id, %err, "scancel failed");
            }
        });
    }

    pub(super) fn scancel_all(&mut self) {
        let ids: Vec<u32> = self.attempts.keys().copied().collect();
        for attempt in ids {
            self.scancel(attempt);
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.attempts
            .values()
            .flat_map(|a| {
                [
                    a.scancel_at
                        .filter(|_| !a.scancelled && a.slurm_id.is_some()),
                    a.why_until,
                ]
            })
            .flatten()
            .min()
    }

    pub(super) fn deadlines(&mut self, instant: Instant) {
        let due: Vec<u32> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.scancel_at.is_some_and(|t| t <= instant))
            .map(|(n, _)| *n)
            .collect();
        for attempt in due {
            self.scancel(attempt);
        }
        let why: Vec<u32> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.why_until.is_some_and(|t| t <= instant))
            .map(|(n, _)| *n)
            .collect();
        for attempt in why {
            self.on_why(attempt, None, Vec::new());
        }
    }

    pub(super) fn on_submitted(&mut self, attempt: u32, result: Result<u64, SlurmError>) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.submitting = false;
        match result {
            Ok(id) => {
                tracing::info!(attempt, slurm_job = id, "submitted");
                a.slurm_id = Some(id);
                log_failure(
                    "backend_job",
                    self.sink.backend_job(attempt, &id.to_string(), now()),
                );
                if a.stopping {
                    a.scancel_at = Some(Instant::now());
                }
            }
            Err(err) => {
                a.slurm_done = true;
                let error = format!("sbatch: {err}");
                // Slurm refused the request itself (bad partition, a node list it cannot
                // satisfy): the same request will be refused again. A controller that does
                // not answer may answer later: an ordinary failed launch.
                let permanent = matches!(err, SlurmError::Failed { .. });
                if permanent {
                    self.queue.push_back(Event::AttemptLost {
                        attempt,
                        reason: format!("Slurm refused the job: {err}"),
                        retry: false,
                    });
                } else {
                    self.queue.push_back(Event::LaunchFailed { attempt, error });
                }
                self.check_gone(attempt);
            }
        }
    }

    /// Tells the machine an attempt is gone once every rank's exit reached it (or its agents
    /// are gone and Slurm says the job has left), and Slurm's job has left the queue.
    pub(super) fn check_gone(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.confirmed || a.submitting || !a.slurm_done || !a.agents.is_empty() {
            return;
        }
        let pending_exits = self.held.iter().any(|h| h.attempt == attempt);
        if pending_exits || a.why_until.is_some() {
            return;
        }
        a.confirmed = true;
        log_failure("attempt_ended", self.sink.attempt_ended(attempt, now()));
        self.queue.push_back(Event::AttemptStopped { attempt });
    }

    /// Tells the machine, once, that the attempt's allocation runs (squeue says RUNNING, or
    /// an agent said Hello), which starts its hang clock: time in Slurm's queue is no hang.
    pub(super) fn report_running(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.running_reported || a.stopping {
            return;
        }
        a.running_reported = true;
        tracing::info!(attempt, slurm_job = ?a.slurm_id, "the Slurm job runs: hang clock starts");
        self.queue.push_back(Event::AttemptRunning { attempt });
    }
}
