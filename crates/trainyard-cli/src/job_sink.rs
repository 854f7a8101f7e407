//! The supervisor's history into the store: an [`EventSink`] over [`trainyard_store::Store`].
//!
//! The driver reports two kinds of facts. Its own (attempt launched, rank started with its pid
//! and log paths, rank exited, progress, heartbeat) map one to one onto store calls. The
//! supervisor's decisions arrive as [`JobEvent`]s: every one is appended to the event log, and
//! the few that settle an attempt (failed, hung, succeeded, stopped, cancelled) also fill in
//! the attempt's row: its end state, reason, blamed node and rank and exit status.
//!
//! Ordering matters and is the driver's (docs/supervisor.md): an attempt's end is known from
//! the supervisor's records (`attempt_failed`/`hang_detected` say why, `attempt_stopped` or
//! `attempt_succeeded` say it is over), while [`EventSink::attempt_ended`] gives the moment
//! its last rank was gone; the row is written when the attempt is over, with that moment.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use trainyard_exec::{EventSink, RankStart, SinkError};
use trainyard_job::{ExitStatus, FinalState, JobEvent, JobEventKind, Millis, NodeName};
use trainyard_store::{
    AttemptEnd, AttemptState, JobId, JobState, NewAttempt, NodeVerdict, Store, Verdict,
};

use crate::live::{Console, ProgressMarks};

/// Writes a job's history to the store, and (in the foreground) tells the console.
pub struct StoreSink {
    store: Store,
    job: JobId,
    procs_per_node: u32,
    console: Option<Arc<Console>>,
    /// Attempts with a row in the store that is not ended yet.
    open: BTreeMap<u32, OpenAttempt>,
    /// The job's state as this supervisor knows it (re-asserted if a reader judged it lost).
    state: JobState,
    /// A cancel requested through the store was handed to the driver.
    cancel_sent: bool,
    /// Exact progress times seen by the live view, if it keeps them.
    marks: Option<Arc<ProgressMarks>>,
}

/// What is known about an attempt that has not ended in the store yet.
#[derive(Debug, Default)]
struct OpenAttempt {
    /// When its last rank was gone (the driver's report).
    gone_at: Option<Millis>,
    /// How it ends, once the supervisor said so.
    end: Option<PendingEnd>,
}

#[derive(Debug, Clone)]
struct PendingEnd {
    state: AttemptState,
    reason: String,
    blamed_node: Option<NodeName>,
    blamed_rank: Option<u32>,
    exit: Option<ExitStatus>,
}

impl StoreSink {
    /// A sink for `job`, whose ranks are `procs_per_node` to a node.
    pub fn new(
        store: Store,
        job: JobId,
        procs_per_node: u32,
        console: Option<Arc<Console>>,
    ) -> Self {
        Self {
            store,
            job,
            procs_per_node: procs_per_node.max(1),
            console,
            open: BTreeMap::new(),
            state: JobState::Pending,
            cancel_sent: false,
            marks: None,
        }
    }

    /// Corrects the store's progress times with the live view's exact ones.
    #[must_use]
    pub fn with_marks(mut self, marks: Arc<ProgressMarks>) -> Self {
        self.marks = Some(marks);
        self
    }

    /// Writes the live view's exact first and last progress of attempt `n` (the driver's
    /// once-a-second reports carry the heartbeat's time instead).
    fn exact_progress(&mut self, n: u32) -> Result<(), SinkError> {
        let Some(m) = self.marks.as_ref().and_then(|marks| marks.get(n)) else {
            return Ok(());
        };
        self.store.record_progress(&self.job, n, None, m.first)?;
        self.store.record_progress(&self.job, n, m.step, m.last)?;
        Ok(())
    }

    fn freeze(&self, n: u32) {
        if let Some(marks) = &self.marks {
            marks.freeze(n);
        }
    }

    fn set_state(&mut self, state: JobState, at: Millis) -> Result<(), SinkError> {
        self.state = state;
        if let Some(console) = &self.console {
            console.update(|s| s.state = state.as_str().to_string());
        }
        self.store.update_job_state(&self.job, state, None, at)?;
        Ok(())
    }

    /// Makes sure attempt `n` has a row (a launch that failed before any rank started has
    /// none yet: the driver reports `attempt_started` only once it can launch).
    fn ensure_attempt(&mut self, n: u32, at: Millis) -> Result<(), SinkError> {
        if self.open.contains_key(&n) {
            return Ok(());
        }
        let exists = self
            .store
            .attempts(&self.job)?
            .iter()
            .any(|a| a.number == n);
        if !exists {
            self.store.start_attempt(
                &self.job,
                &NewAttempt {
                    number: n,
                    nodes: &[],
                    restart_count: n.saturating_sub(1),
                    started_at: at,
                },
            )?;
            self.open.insert(n, OpenAttempt::default());
        }
        Ok(())
    }

    /// Notes how attempt `n` ends (the first cause wins: a cancel during a failure's
    /// teardown does not turn the failure into a cancellation).
    fn set_end(&mut self, n: u32, end: PendingEnd, overwrite: bool) {
        let open = self.open.entry(n).or_default();
        if overwrite || open.end.is_none() {
            open.end = Some(end);
        }
    }

    /// Writes attempt `n`'s end, if it is open.
    fn close(&mut self, n: u32, fallback: AttemptState, at: Millis) -> Result<(), SinkError> {
        let Some(open) = self.open.remove(&n) else {
            return Ok(());
        };
        self.freeze(n);
        self.exact_progress(n)?;
        let end = open.end.unwrap_or(PendingEnd {
            state: fallback,
            reason: fallback.as_str().to_string(),
            blamed_node: None,
            blamed_rank: None,
            exit: None,
        });
        self.store.end_attempt(
            &self.job,
            n,
            &AttemptEnd {
                state: end.state,
                reason: &end.reason,
                blamed_node: end.blamed_node.as_deref(),
                blamed_rank: end.blamed_rank,
                exit: end.exit,
                ended_at: open.gone_at.unwrap_or(at),
            },
        )?;
        Ok(())
    }
}

/// The attempt's reason from a supervisor message: "attempt 2 failed: rank 3 on local-1
/// exited with code 1 at step 57; stopping the other ranks" → "rank 3 on local-1 exited with
/// code 1 at step 57"; a hang's "attempt 2 hung: X; stopping all ranks" → "hang: X".
fn reason_of(kind: JobEventKind, message: &str) -> String {
    let body = message
        .split_once(": ")
        .map_or(message, |(_, rest)| rest)
        .split("; stopping")
        .next()
        .unwrap_or(message);
    match kind {
        JobEventKind::HangDetected => format!("hang: {body}"),
        _ => body.to_string(),
    }
}

impl EventSink for StoreSink {
    fn record(&mut self, event: &JobEvent) -> Result<(), SinkError> {
        self.store.record_job_event(&self.job, event)?;
        if let Some(console) = &self.console {
            let quiet = match event.kind {
                JobEventKind::RankStarted => true,
                JobEventKind::RankExited => event.exit.is_some_and(ExitStatus::success),
                _ => false,
            };
            if !quiet {
                console.event(&event.message);
            }
        }
        let at = event.at;
        match (event.kind, event.attempt) {
            (JobEventKind::AttemptFailed | JobEventKind::HangDetected, Some(n)) => {
                self.ensure_attempt(n, at)?;
                let end = PendingEnd {
                    state: AttemptState::Failed,
                    reason: reason_of(event.kind, &event.message),
                    blamed_node: event.node.clone(),
                    blamed_rank: event.rank,
                    exit: event.exit,
                };
                self.set_end(n, end, true);
                self.freeze(n);
                self.set_state(JobState::Stopping, at)?;
            }
            (JobEventKind::LaunchFailed, Some(n)) => {
                self.ensure_attempt(n, at)?;
                let end = PendingEnd {
                    state: AttemptState::Failed,
                    reason: reason_of(event.kind, &event.message),
                    blamed_node: None,
                    blamed_rank: None,
                    exit: None,
                };
                self.set_end(n, end, false);
            }
            (JobEventKind::CancelRequested, _) => {
                let reason = event
                    .message
                    .strip_prefix("cancel requested: ")
                    .unwrap_or(&event.message);
                let open: Vec<u32> = self.open.keys().copied().collect();
                for n in &open {
                    self.freeze(*n);
                    let end = PendingEnd {
                        state: AttemptState::Cancelled,
                        reason: format!("cancelled: {reason}"),
                        blamed_node: None,
                        blamed_rank: None,
                        exit: None,
                    };
                    self.set_end(*n, end, false);
                }
                if !open.is_empty() {
                    self.set_state(JobState::Stopping, at)?;
                }
            }
            (JobEventKind::AttemptSucceeded, Some(n)) => {
                let end = PendingEnd {
                    state: AttemptState::Succeeded,
                    reason: event
                        .message
                        .split_once(": ")
                        .map_or(event.message.clone(), |(_, r)| r.to_string()),
                    blamed_node: None,
                    blamed_rank: None,
                    exit: Some(ExitStatus::Code(0)),
                };
                self.set_end(n, end, true);
                self.close(n, AttemptState::Succeeded, at)?;
            }
            (JobEventKind::AttemptStopped, Some(n)) => {
                self.close(n, AttemptState::Failed, at)?;
            }
            (JobEventKind::RestartScheduled, _) => self.set_state(JobState::Backoff, at)?,
            (JobEventKind::NodeMarkedBad, _) => {
                if let Some(node) = &event.node {
                    self.store.record_node_verdict(&NodeVerdict {
                        node: node.clone(),
                        job_id: Some(self.job.clone()),
                        verdict: Verdict::Bad,
                        reason: event.message.clone(),
                        at,
                    })?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn attempt_started(
        &mut self,
        attempt: u32,
        nodes: &[NodeName],
        restart_count: u32,
        _log_dir: &Path,
        at: Millis,
    ) -> Result<(), SinkError> {
        self.store.start_attempt(
            &self.job,
            &NewAttempt {
                number: attempt,
                nodes,
                restart_count,
                started_at: at,
            },
        )?;
        self.open.insert(attempt, OpenAttempt::default());
        if let Some(console) = &self.console {
            let world = u32::try_from(nodes.len())
                .unwrap_or(u32::MAX)
                .saturating_mul(self.procs_per_node);
            console.update(|s| s.begin_attempt(attempt, world));
        }
        self.set_state(JobState::Running, at)
    }

    fn backend_job(&mut self, attempt: u32, id: &str, _at: Millis) -> Result<(), SinkError> {
        Ok(self.store.set_backend_job(&self.job, attempt, id)?)
    }

    fn rank_started(&mut self, rank: &RankStart<'_>, at: Millis) -> Result<(), SinkError> {
        self.store.rank_started(
            &self.job,
            &trainyard_store::RankStart {
                attempt: rank.attempt,
                rank: rank.rank,
                node: rank.node,
                local_rank: rank.rank % self.procs_per_node,
                pid: Some(rank.pid),
                started_at: at,
                stdout_path: Some(rank.stdout),
                stderr_path: Some(rank.stderr),
            },
        )?;
        if let Some(console) = &self.console {
            console.update(|s| s.alive += 1);
        }
        Ok(())
    }

    fn rank_exited(
        &mut self,
        attempt: u32,
        rank: u32,
        status: ExitStatus,
        at: Millis,
    ) -> Result<(), SinkError> {
        if let Some(console) = &self.console {
            console.update(|s| s.alive = s.alive.saturating_sub(1));
        }
        self.store
            .rank_exited(&self.job, attempt, rank, status, at)?;
        Ok(())
    }

    fn attempt_ended(&mut self, attempt: u32, at: Millis) -> Result<(), SinkError> {
        if let Some(open) = self.open.get_mut(&attempt) {
            open.gone_at = Some(at);
        }
        Ok(())
    }

    fn heartbeat(&mut self, pid: u32, at: Millis) -> Result<Option<String>, SinkError> {
        let control = self.store.heartbeat(&self.job, pid, at)?;
        if control.state == JobState::Lost && self.state.is_active() {
            // A reader took a slow heartbeat for a dead supervisor; we are alive.
            tracing::warn!(job = %self.job, "job was judged lost while running; restoring");
            self.store
                .update_job_state(&self.job, self.state, None, at)?;
        }
        if let Some(console) = &self.console {
            console.redraw();
        }
        if control.cancel_requested_at.is_some() && !self.cancel_sent {
            self.cancel_sent = true;
            return Ok(Some("requested by `trainyard cancel`".to_string()));
        }
        Ok(None)
    }

    fn progress(&mut self, attempt: u32, step: Option<u64>, at: Millis) -> Result<(), SinkError> {
        let exact = self.marks.as_ref().and_then(|marks| marks.get(attempt));
        match exact {
            // The line-based progress is known to the millisecond.
            Some(m) if !m.frozen => {
                self.store
                    .record_progress(&self.job, attempt, None, m.first)?;
                self.store
                    .record_progress(&self.job, attempt, step.max(m.step), m.last)?;
            }
            // Stopping: what still arrives is the tail of a dying attempt, not training.
            Some(_) => {}
            None => self.store.record_progress(&self.job, attempt, step, at)?,
        }
        if let Some(console) = &self.console {
            console.update(|s| s.step = s.step.max(step));
        }
        Ok(())
    }

    fn finished(&mut self, state: FinalState, reason: &str, at: Millis) -> Result<(), SinkError> {
        let fallback = match state {
            FinalState::Succeeded => AttemptState::Succeeded,
            FinalState::Failed => AttemptState::Failed,
            FinalState::Cancelled => AttemptState::Cancelled,
        };
        let open: Vec<u32> = self.open.keys().copied().collect();
        for n in open {
            self.close(n, fallback, at)?;
        }
        let final_state = JobState::from(state);
        self.state = final_state;
        self.store
            .update_job_state(&self.job, final_state, Some(reason), at)?;
        if let Some(console) = &self.console {
            console.update(|s| s.state = final_state.as_str().to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_messages() {
        assert_eq!(
            reason_of(
                JobEventKind::AttemptFailed,
                "attempt 2 failed: rank 3 on local-1 exited with code 1 at step 57; stopping the other ranks"
            ),
            "rank 3 on local-1 exited with code 1 at step 57"
        );
        assert_eq!(
            reason_of(
                JobEventKind::HangDetected,
                "attempt 1 hung: rank 1 on local-0 made no progress for 3s after step 9; stopping all ranks"
            ),
            "hang: rank 1 on local-0 made no progress for 3s after step 9"
        );
    }
}
