//! Slurm's view of an attempt: `squeue` polling, pending reasons that can never change, and
//! naming the end Slurm chose (time limit, node failure, outside cancel) from its own state.

use std::time::Duration;

use tokio::time::Instant;
use trainyard_job::Event;
use trainyard_slurm::squeue::{reason_is_permanent, QueuedJob};
use trainyard_slurm::{EndCause, JobState as SlurmState, SlurmCmd, SlurmError};

use super::run::{Internal, Run};
use super::WHY_WAIT;

/// How many times Slurm is asked which node failed (500 ms apart).
const FAILED_NODE_ASKS: u32 = 4;
use crate::sink::EventSink;

/// The attempt's nodes that failed while it ran, with Slurm's word for it: those `sinfo`
/// lists as unusable now, and those accounting recorded going down or failing since the
/// attempt was submitted (`since`): a node may return to service within a second of its
/// failure (`ReturnToService=2`), and must still not host the next attempt. Accounting
/// records the event a moment after the job ends, so it is asked a few times. When Slurm
/// names none, none are (the attempt is still lost; nobody is blamed).
async fn failed_nodes(
    cmd: &SlurmCmd,
    partition: Option<&str>,
    nodes: &[String],
    since: Instant,
) -> Vec<(String, String)> {
    let mut failed: Vec<(String, String)> = Vec::new();
    for round in 0..FAILED_NODE_ASKS {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match cmd.sinfo_nodes(partition).await {
            Ok(listed) => {
                for n in listed {
                    if n.unusable
                        && nodes.contains(&n.name)
                        && !failed.iter().any(|(f, _)| *f == n.name)
                    {
                        let why = match n.reason {
                            Some(r) => format!("{}: {r}", n.state),
                            None => n.state,
                        };
                        failed.push((n.name, why));
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "sinfo failed: cannot tell which node failed"),
        }
        let since_secs = since.elapsed().as_secs().saturating_add(2);
        match cmd.node_failures(nodes, since_secs).await {
            Ok(events) => {
                for e in events {
                    if nodes.contains(&e.node) && !failed.iter().any(|(f, _)| *f == e.node) {
                        let why = match e.reason {
                            Some(r) => format!("{}: {r}", e.state.to_lowercase()),
                            None => e.state.to_lowercase(),
                        };
                        failed.push((e.node, why));
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "sacctmgr failed: cannot tell which node failed"),
        }
        if !failed.is_empty() {
            break;
        }
    }
    failed
}

/// "Slurm node failure on n2 (down: reason) (...)": the failed nodes named in the reason.
fn with_failed_nodes(why: &str, failed: &[(String, String)]) -> String {
    if failed.is_empty() {
        return why.to_string();
    }
    let list: Vec<String> = failed.iter().map(|(n, s)| format!("{n} ({s})")).collect();
    let cause = EndCause::NodeFailure.describe();
    match why.strip_prefix(cause) {
        Some(rest) => format!("{cause} on {}{rest}", list.join(", ")),
        None => format!("{why}; failed: {}", list.join(", ")),
    }
}

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
                if j.state == SlurmState::Running {
                    self.report_running(attempt);
                }
            }
            other => {
                let state = other.as_ref().map(|j| j.state.clone());
                a.slurm_done = true;
                a.slurm_state = state.as_ref().map(state_word);
                if !a.stopping && !a.lost_reported && a.why_until.is_none() {
                    let all_exited = a.exited.len() >= usize::try_from(a.world).unwrap_or(0);
                    if !all_exited {
                        let cause = state.as_ref().and_then(SlurmState::end_cause);
                        if cause == Some(EndCause::NodeFailure) {
                            // Which node failed decides where the next attempt may run: ask
                            // Slurm before the machine hears of it (exits held meanwhile).
                            let why = format!(
                                "{} (Slurm job {id} {})",
                                EndCause::NodeFailure.describe(),
                                a.slurm_state.as_deref().unwrap_or("NODE_FAIL")
                            );
                            self.ask_which_nodes_failed(attempt, why);
                            return;
                        }
                        a.lost_reported = true;
                        let why = match cause {
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
        let nodes = a.nodes.clone();
        let since = a.submitted_at;
        let partition = self.spec.slurm.partition.clone();
        let node = node.to_string();
        let signal = signal.to_string();
        tokio::spawn(async move {
            // The controller says COMPLETING until the job's processes are gone (the agents'
            // teardown, up to the grace); accounting has the final state at once. Ask both
            // until one names why, within the wait.
            let mut answer = None;
            let mut node_failure = false;
            let give_up = Instant::now() + wait;
            while answer.is_none() && Instant::now() < give_up {
                let acct = cmd.sacct_job(id).await.ok().flatten().map(|j| j.state);
                let ctl = cmd.job_state(id).await.ok().flatten().map(|(s, _)| s);
                answer = [acct, ctl].into_iter().flatten().find_map(|state| {
                    let cause = state.end_cause()?;
                    node_failure = cause == EndCause::NodeFailure;
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
            let mut failed = Vec::new();
            if node_failure {
                failed = failed_nodes(&cmd, partition.as_deref(), &nodes, since).await;
                answer = answer.map(|why| with_failed_nodes(&why, &failed));
            }
            let answer = answer.or_else(|| {
                Some(format!(
                    "Slurm sent {signal} to the agent on {node} (Slurm job {id})"
                ))
            });
            let _ = tx.send(Internal::Why {
                attempt,
                answer,
                failed,
            });
        });
    }

    /// Slurm ended the attempt with a node failure it saw in `squeue`: ask `sinfo` which of
    /// its nodes failed, holding its exits meanwhile; [`Self::on_why`] reports the loss.
    fn ask_which_nodes_failed(&mut self, attempt: u32, why: String) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.why_until = Some(Instant::now() + WHY_WAIT + Duration::from_secs(3));
        let cmd = self.cmd.clone();
        let tx = self.tx.clone();
        let nodes = a.nodes.clone();
        let since = a.submitted_at;
        let partition = self.spec.slurm.partition.clone();
        tokio::spawn(async move {
            let failed = failed_nodes(&cmd, partition.as_deref(), &nodes, since).await;
            let answer = Some(with_failed_nodes(&why, &failed));
            let _ = tx.send(Internal::Why {
                attempt,
                answer,
                failed,
            });
        });
    }

    /// Slurm said why it ended the attempt (or the wait is over: `answer` and `failed` empty).
    /// Nodes Slurm lists as failed are marked bad first, so the next attempt avoids them.
    pub(super) fn on_why(
        &mut self,
        attempt: u32,
        answer: Option<String>,
        failed: Vec<(String, String)>,
    ) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.why_until.take().is_none() {
            return;
        }
        if !a.stopping && !a.lost_reported {
            a.lost_reported = true;
            for (node, state) in failed {
                self.queue.push_back(Event::NodeVerdict {
                    node,
                    healthy: false,
                    reason: format!("Slurm node failure ({state})"),
                });
            }
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
        // The job may have left the queue already (the squeue path): nothing else would
        // confirm the attempt gone.
        self.check_gone(attempt);
    }
}
