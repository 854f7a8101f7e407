//! Signals to rank process groups, and the safety net that kills every group still alive when
//! the driver ends for any reason (a returned error, a panic unwinding through it).
//!
//! The timing of TERM → grace → KILL lives in the driver's loop, next to the other timers.

use std::collections::BTreeSet;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Sends `signal` to the process group `pgid`. A group that is already gone is not an error.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pgid, ?signal, %err, "signalling a rank's process group failed"),
    }
}

/// Whether any process of group `pgid` still exists (zombies included).
pub fn group_exists(pgid: u32) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    // Signal 0: existence and permission check only.
    !matches!(killpg(Pid::from_raw(raw), None), Err(Errno::ESRCH))
}

/// The process groups of ranks that may still be running; SIGKILLs them all when dropped.
#[derive(Debug, Default)]
pub(crate) struct LiveGroups {
    groups: BTreeSet<u32>,
}

impl LiveGroups {
    /// A rank's group was created.
    pub(crate) fn insert(&mut self, pgid: u32) {
        self.groups.insert(pgid);
    }

    /// A rank's guard was reaped: its group is no longer ours to kill.
    pub(crate) fn remove(&mut self, pgid: u32) {
        self.groups.remove(&pgid);
    }

    /// Kills every group still registered.
    pub(crate) fn kill_all(&mut self) {
        for pgid in std::mem::take(&mut self.groups) {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for LiveGroups {
    fn drop(&mut self) {
        if !self.groups.is_empty() {
            tracing::warn!(
                groups = self.groups.len(),
                "driver ending with ranks alive: killing them"
            );
            self.kill_all();
        }
    }
}
