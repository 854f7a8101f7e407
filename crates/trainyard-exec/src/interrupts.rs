//! What both drivers (local processes and Slurm) share around their event loops: the
//! supervisor's clock, and what SIGINT and SIGTERM do to a running job.
//!
//! The first signal cancels the job gracefully: the supervisor stops every attempt with its
//! grace period and the job ends `cancelled`. `trainyard cancel` records who asked in the
//! store before it signals the driver, so the driver reads the store first and only then
//! cancels on its own account ("interrupted by SIGTERM"). A second signal means the user
//! will not wait: every rank is stopped at once.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;
use trainyard_job::Millis;

use crate::ExecError;

/// Wall-clock milliseconds, the supervisor's time.
pub(crate) fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Millis(ms)
}

/// The monotonic instant at which wall-clock `at` arrives.
pub(crate) fn instant_of(at: Millis) -> Instant {
    Instant::now() + at.saturating_since(now())
}

/// What a driver does when the user interrupts it (see the module docs).
pub(crate) trait Interruptible {
    /// Beats the job's heartbeat in the store, which also reads a cancel request that
    /// `trainyard cancel` recorded there: `true` when there was one (the supervisor then
    /// hears of it with its requester's reason).
    fn heartbeat(&mut self) -> bool;
    /// Stops every rank now, without the grace period (and says so in the log), on the
    /// second signal, `signal`.
    fn stop_now(&mut self, signal: &str);
    /// Queues a cancel for the supervisor.
    fn cancel(&mut self, reason: String);
}

/// SIGINT and SIGTERM, when the driver handles them, and how many have arrived.
pub(crate) struct Interrupts {
    signals: Option<(Signal, Signal)>,
    count: u32,
}

impl Interrupts {
    /// Handles SIGINT and SIGTERM from now on when `handle` is set (a library caller may
    /// keep them for itself); otherwise [`Interrupts::next`] never returns.
    pub(crate) fn new(handle: bool) -> Result<Self, ExecError> {
        let signals = if handle {
            Some((
                signal(SignalKind::interrupt()).map_err(ExecError::Signals)?,
                signal(SignalKind::terminate()).map_err(ExecError::Signals)?,
            ))
        } else {
            None
        };
        Ok(Self { signals, count: 0 })
    }

    /// Waits for SIGINT or SIGTERM and counts it; never returns when signals are not
    /// handled.
    pub(crate) async fn next(&mut self) -> &'static str {
        let name = match &mut self.signals {
            Some((int, term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            None => std::future::pending().await,
        };
        self.count += 1;
        name
    }

    /// Acts on signal `name`, the latest one [`Interrupts::next`] returned.
    pub(crate) fn act(&self, name: &str, run: &mut impl Interruptible) {
        if self.count > 1 {
            run.stop_now(name);
            return;
        }
        tracing::info!(signal = name, "cancelling the job");
        if !run.heartbeat() {
            run.cancel(format!("interrupted by {name}"));
        }
    }
}
