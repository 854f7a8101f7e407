//! Where the driver reports what happened: the store (implemented by the CLI on top of
//! `trainyard-store`), a test's recorder, or nothing.
//!
//! The driver never fails a job because its history could not be written: a sink error is
//! logged with `tracing` and the job goes on.

use std::path::Path;

use trainyard_job::{ExitStatus, FinalState, JobEvent, Millis, NodeName};

/// What a sink method may fail with.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// A rank the driver started.
#[derive(Debug, Clone, Copy)]
pub struct RankStart<'a> {
    /// Its attempt.
    pub attempt: u32,
    /// Its global rank.
    pub rank: u32,
    /// Its node (`local-0`).
    pub node: &'a str,
    /// The pid of its process-group leader (the rank guard); also the process group id.
    pub pid: u32,
    /// Its stdout log.
    pub stdout: &'a Path,
    /// Its stderr log.
    pub stderr: &'a Path,
}

/// Receives the job's history as it happens. Every method has a default that does nothing, so
/// a sink implements only what it keeps.
///
/// [`EventSink::record`] receives the supervisor's own history entries (the story `show`
/// tells); the other methods are the driver's structured facts (pids, log paths, exit statuses)
/// for tables such as `attempts` and `ranks`. Calls come from the driver's thread, in order.
pub trait EventSink {
    /// A supervisor history entry ([`trainyard_job::Action::Record`]).
    fn record(&mut self, event: &JobEvent) -> Result<(), SinkError> {
        let _ = event;
        Ok(())
    }

    /// An attempt is being launched on these nodes (in `NODE_RANK` order); its logs go to
    /// `log_dir`.
    fn attempt_started(
        &mut self,
        attempt: u32,
        nodes: &[NodeName],
        restart_count: u32,
        log_dir: &Path,
        at: Millis,
    ) -> Result<(), SinkError> {
        let _ = (attempt, nodes, restart_count, log_dir, at);
        Ok(())
    }

    /// The backend's own id for the attempt (the Slurm job id), once it has one.
    fn backend_job(&mut self, attempt: u32, id: &str, at: Millis) -> Result<(), SinkError> {
        let _ = (attempt, id, at);
        Ok(())
    }

    /// A rank's process is running.
    fn rank_started(&mut self, rank: &RankStart<'_>, at: Millis) -> Result<(), SinkError> {
        let _ = (rank, at);
        Ok(())
    }

    /// A rank's process ended (and its output is fully written to its logs).
    fn rank_exited(
        &mut self,
        attempt: u32,
        rank: u32,
        status: ExitStatus,
        at: Millis,
    ) -> Result<(), SinkError> {
        let _ = (attempt, rank, status, at);
        Ok(())
    }

    /// Every rank of the attempt is gone.
    fn attempt_ended(&mut self, attempt: u32, at: Millis) -> Result<(), SinkError> {
        let _ = (attempt, at);
        Ok(())
    }

    /// The supervisor is alive (about once a second), with its pid, so readers can tell a
    /// running job from a lost one. Returning `Some(reason)` cancels the job: this is how a
    /// cancel requested through the store (`trainyard cancel`) reaches the driver.
    fn heartbeat(&mut self, pid: u32, at: Millis) -> Result<Option<String>, SinkError> {
        let _ = (pid, at);
        Ok(None)
    }

    /// The attempt made progress since the last call (at most about once a second, right
    /// before [`EventSink::heartbeat`]): `step` is the highest step seen in the attempt, if
    /// any progress source carries steps.
    fn progress(&mut self, attempt: u32, step: Option<u64>, at: Millis) -> Result<(), SinkError> {
        let _ = (attempt, step, at);
        Ok(())
    }

    /// The job is over.
    fn finished(&mut self, state: FinalState, reason: &str, at: Millis) -> Result<(), SinkError> {
        let _ = (state, reason, at);
        Ok(())
    }
}

/// A sink that keeps nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl EventSink for NullSink {}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn record(&mut self, event: &JobEvent) -> Result<(), SinkError> {
        (**self).record(event)
    }
    fn attempt_started(
        &mut self,
        attempt: u32,
        nodes: &[NodeName],
        restart_count: u32,
        log_dir: &Path,
        at: Millis,
    ) -> Result<(), SinkError> {
        (**self).attempt_started(attempt, nodes, restart_count, log_dir, at)
    }
    fn backend_job(&mut self, attempt: u32, id: &str, at: Millis) -> Result<(), SinkError> {
        (**self).backend_job(attempt, id, at)
    }
    fn rank_started(&mut self, rank: &RankStart<'_>, at: Millis) -> Result<(), SinkError> {
        (**self).rank_started(rank, at)
    }
    fn rank_exited(
        &mut self,
        attempt: u32,
        rank: u32,
        status: ExitStatus,
        at: Millis,
    ) -> Result<(), SinkError> {
        (**self).rank_exited(attempt, rank, status, at)
    }
    fn attempt_ended(&mut self, attempt: u32, at: Millis) -> Result<(), SinkError> {
        (**self).attempt_ended(attempt, at)
    }
    fn heartbeat(&mut self, pid: u32, at: Millis) -> Result<Option<String>, SinkError> {
        (**self).heartbeat(pid, at)
    }
    fn progress(&mut self, attempt: u32, step: Option<u64>, at: Millis) -> Result<(), SinkError> {
        (**self).progress(attempt, step, at)
    }
    fn finished(&mut self, state: FinalState, reason: &str, at: Millis) -> Result<(), SinkError> {
        (**self).finished(state, reason, at)
    }
}

/// The once-a-second beat both drivers share: each attempt's progress since the last beat,
/// then the heartbeat. Returns the cancel reason when the sink carries one (`trainyard
/// cancel` through the store); sink failures are logged and the job goes on.
pub(crate) fn beat<S: EventSink>(
    sink: &mut S,
    progress: impl IntoIterator<Item = (u32, Option<u64>)>,
    at: Millis,
) -> Option<String> {
    for (attempt, step) in progress {
        log_failure("progress", sink.progress(attempt, step, at));
    }
    match sink.heartbeat(std::process::id(), at) {
        Ok(Some(reason)) => {
            tracing::info!(%reason, "cancel requested through the sink");
            Some(reason)
        }
        Ok(None) => None,
        Err(err) => {
            log_failure("heartbeat", Err(err));
            None
        }
    }
}

/// Logs a sink failure; the job goes on.
pub(crate) fn log_failure(what: &str, result: Result<(), SinkError>) {
    if let Err(err) = result {
        tracing::warn!(what, %err, "recording the job's history failed; the job goes on");
    }
}
