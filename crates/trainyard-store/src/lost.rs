//! Detecting jobs whose supervisor died: the `lost` state.
//!
//! A supervisor killed with SIGKILL cannot write its own epitaph, so readers (`ps`, `show`)
//! judge: a job in an active state is lost when its supervisor's pid is gone (checked only on
//! the supervisor's own host) or its heartbeat is older than [`Liveness::stale_after`]. The
//! first reader to notice writes the verdict down, so the job stops reading as running for
//! everyone, and closes its open attempts.

use std::time::Duration;

use rusqlite::params;

use crate::error::Result;
use crate::jobs::Job;
use crate::types::{ms, ms_between, AttemptState, JobState, Millis};
use crate::Writer;

/// The heartbeat age after which an active job is lost, unless told otherwise.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(10);

/// When a reader considers a job's supervisor dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// A heartbeat older than this means the supervisor is gone (or stuck, which is as bad).
    /// A job that never sent one is measured from its creation.
    pub stale_after: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

/// Why `job` is lost at `now`, or `None` if it is not (or is not active at all).
///
/// `this_host` is the reader's host name: the pid is only checked on the supervisor's host,
/// elsewhere the heartbeat alone decides.
pub fn lost_reason(job: &Job, now: Millis, liveness: &Liveness, this_host: &str) -> Option<String> {
    if !job.state.is_active() {
        return None;
    }
    let same_host = job
        .supervisor_host
        .as_deref()
        .is_none_or(|h| h == this_host);
    if let (Some(pid), true) = (job.supervisor_pid, same_host) {
        if pid_alive(pid) == Some(false) {
            return Some(format!("supervisor (pid {pid}) is gone"));
        }
    }
    let last = job.heartbeat_at.unwrap_or(job.created_at);
    let age = ms_between(now, last);
    let stale = u64::try_from(liveness.stale_after.as_millis()).unwrap_or(u64::MAX);
    (age > stale).then(|| {
        format!(
            "no supervisor heartbeat for {:.1} s (limit {:.1} s)",
            age as f64 / 1000.0,
            stale as f64 / 1000.0
        )
    })
}

/// Whether process `pid` is alive on this machine: `Some(false)` if it does not exist or is a
/// zombie (killed but not yet reaped, which is how a SIGKILLed child of a test looks),
/// `None` where `/proc` cannot tell (not Linux, or no permission).
///
/// Reading `/proc` rather than calling `kill(pid, 0)` keeps this crate free of `unsafe`, and
/// `kill` would call a zombie alive.
pub fn pid_alive(pid: u32) -> Option<bool> {
    if pid == 0 || !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the command name, which is in parentheses and may
            // itself contain spaces and parentheses; so look after the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            Some(!matches!(state, Some("Z") | Some("X") | Some("x")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// This machine's host name, as supervisors record it.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Writer<'_> {
    /// Marks `seen` lost, unless the job changed since it was read (a supervisor that just
    /// sent a heartbeat or moved on wins the race). Open attempts end as `lost` at the last
    /// sign of life, and a `job_lost` event is appended. Returns whether the job was marked.
    pub fn mark_lost(&self, seen: &Job, reason: &str, now: Millis) -> Result<bool> {
        // The last sign of life, not `now`, ends the job: goodput should not count the time
        // nobody looked.
        let last_alive = seen
            .heartbeat_at
            .unwrap_or(seen.created_at)
            .max(seen.updated_at);
        let n = self.conn.execute(
            "UPDATE jobs SET state = ?1, reason = ?2, finished_at = ?3, updated_at = ?4 \
             WHERE id = ?5 AND state = ?6 AND heartbeat_at IS ?7 AND supervisor_pid IS ?8",
            params![
                JobState::Lost,
                reason,
                ms(last_alive),
                ms(now.max(last_alive)),
                seen.id.as_str(),
                seen.state,
                seen.heartbeat_at.map(ms),
                seen.supervisor_pid,
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE attempts SET state = ?1, reason = ?2, ended_at = MAX(started_at, ?3) \
             WHERE job_id = ?4 AND ended_at IS NULL",
            params![AttemptState::Lost, reason, ms(last_alive), seen.id.as_str()],
        )?;
        self.append_event(
            &seen.id,
            &crate::NewEvent {
                at: now,
                kind: "job_lost",
                attempt: None,
                rank: None,
                node: None,
                message: reason,
                data: None,
            },
        )?;
        tracing::warn!(job = %seen.id, reason, "job lost");
        Ok(true)
    }
}
