//! Slurm's view of an attempt: `squeue` polling, pending reasons that can never change, and
//! naming the end Slurm chose (time limit, node failure, outside cancel) from its own state.

use std::time::Duration;

use tokio::time::Instant;
use trainyard_job::Event;
use trainyard_slurm::squeue::{reason_is_permanent, QueuedJob};
use trainyard_slurm::{JobState as SlurmState, SlurmError};

use super::run::{Internal, Run};
use super::WHY_WAIT;
use crate::sink::EventSink;

/// Slurm's own word for a state (`TIMEOUT`, `NODE_FAIL`).
pub(super) fn state_word(state: &SlurmState) -> String {
    match state {
        SlurmState::Pending => "PENDING".into(),
        SlurmState::Running => "RUNNING".into(),
        SlurmState::Completed => "COMPLETED".into(),
        SlurmState::Failed => "FAILED".into(),
        SlurmState::Cancelled => "CANCELLED".into(),
        SlurmState::Timeout => "TIMEOUT".into(),
        SlurmState::NodeFail => "NODE_FAIL".into(),
        SlurmState::Preempted => "PREEMPTED".into(),
        SlurmState::OutOfMemory => "OUT_OF_MEMORY".into(),
        SlurmState::Other(word) => word.clone(),
        _ => format!("{state:?}").to_uppercase(),
    }
}

impl<S: EventSink> Run<'_, S> {
    pub(super) fn poll(&mut self) {
        for (attempt, a) in &mut self.attempts {
            let Some(id) = a.slurm_id else { continue };
            if a.slurm_done || a.poll_in_flight {
                continue;
            }
            a.poll_in_flight = true;
            let cmd = self.cmd.clone();
            let tx = self.tx.clone();
            let attempt = *attempt;
            tokio::spawn(async move {
                let result = cmd.squeue_job(id).await;
                let _ = tx.send(Internal::Polled { attempt, result });
            });
        }
    }

    pub(super) fn on_polled(
        &mut self,
        attempt: u32,
        result: Result<Option<QueuedJob>, SlurmError>,
    ) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.poll_in_flight = false;
        let job = match result {
            Ok(job) => job,
            Err(err) => {
                tracing::warn!(attempt, %err, "squeue failed; asking again");
                return;
            }
        };
        let id = a.slurm_id.unwrap_or_default();
        match job {
            Some(j) if j.state == SlurmState::Pending => {
                let reason = j.reason.unwrap_or_default();
                if a.pending_reason.as_deref() != Some(reason.as_str()) {
                    tracing::info!(attempt, slurm_job = id, %reason, "pending");
                    a.pending_reason = Some(reason.clone());
                }
                if reason_is_permanent(&reason) && !a.stopping && !a.lost_reported {
                    a.lost_reported = true;
                    self.queue.push_back(Event::AttemptLost {
                        attempt,
                        reason: format!(
                            "Slurm cannot run the job as asked: it pends with reason {reason} (Slurm job {id}, {} node(s))",
                            a.world / a.ppn.max(1)
                        ),
                        retry: false,
                    });
                }
            }
            Some(j) if !j.state.is_finished() => {
                a.slurm_state = Some(state_word(&j.state));
            }
            other => {
                let state = other.as_ref().map(|j| j.state.clone());
                a.slurm_done = true;
                a.slurm_state = state.as_ref().map(state_word);
                if !a.stopping && !a.lost_reported && a.why_until.is_none() {
                    let all_exited = a.exited.len() >= usize::try_from(a.world).unwrap_or(0);
                    if !all_exited {
                        a.lost_reported = true;
                        let why = match state.as_ref().and_then(SlurmState::end_cause) {
                            Some(cause) => format!(
                                "{} ({})",
                                cause.describe(),
                                a.slurm_state.as_deref().unwrap_or("")
                            ),
                            None => format!(
                                "the Slurm job ended ({}) before every rank reported",
                                a.slurm_state.as_deref().unwrap_or("gone from the queue")
                            ),
                        };
                        self.queue.push_back(Event::AttemptLost {
                            attempt,
                            reason: format!(
                                "{why} (Slurm job {id}; its output: {})",
                                a.dir.join(format!("slurm-{id}.out")).display()
                            ),
                            retry: true,
                        });
                    }
                }
                self.check_gone(attempt);
            }
        }
    }

    pub(super) fn on_signalled(&mut self, attempt: u32, node: &str, signal: &str) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.stopping || a.lost_reported || a.why_until.is_some() {
            return;
        }
        tracing::warn!(
            attempt,
            node,
            signal,
            "Slurm signalled an agent; asking Slurm why"
        );
        let wait = self.spec.stop_grace + WHY_WAIT;
        a.why_until = Some(Instant::now() + wait + Duration::from_secs(1));
        let Some(id) = a.slurm_id else { return };
        let cmd = self.cmd.clone();
        let tx = self.tx.clone();
        let node = node.to_string();
        let signal = signal.to_string();
        tokio::spawn(async move {
            // The controller says COMPLETING until the job's processes are gone (the agents'
            // teardown, up to the grace); accounting has the final state at once. Ask both
            // until one names why, within the wait.
            let mut answer = None;
            let give_up = Instant::now() + wait;
            while answer.is_none() && Instant::now() < give_up {
                let acct = cmd.sacct_job(id).await.ok().flatten().map(|j| j.state);
                let ctl = cmd.job_state(id).await.ok().flatten().map(|(s, _)| s);
                answer = [acct, ctl].into_iter().flatten().find_map(|state| {
                    let cause = state.end_cause()?;
                    Some(format!(
                        "{} (Slurm job {id} {})",
                        cause.describe(),
                        state_word(&state)
                    ))
                });
                if answer.is_none() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            let answer = answer.or_else(|| {
                Some(format!(
                    "Slurm sent {signal} to the agent on {node} (Slurm job {id})"
                ))
            });
            let _ = tx.send(Internal::Why { attempt, answer });
        });
    }

    pub(super) fn on_why(&mut self, attempt: u32, answer: Option<String>) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.why_until.take().is_none() {
            return;
        }
        if !a.stopping && !a.lost_reported {
            a.lost_reported = true;
            let reason = answer.unwrap_or_else(|| {
                format!(
                    "Slurm signalled the agents (Slurm job {})",
                    a.slurm_id.unwrap_or_default()
                )
            });
            self.queue.push_back(Event::AttemptLost {
                attempt,
                reason,
                retry: true,
            });
        }
        self.release_exits(true);
    }
}
