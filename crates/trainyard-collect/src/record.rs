//! The list of things that could not be collected.

use std::fmt::Display;

use trainyard_snapshot::Missing;

/// Accumulates `missing` entries while collectors run.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    missing: Vec<Missing>,
}

impl Recorder {
    /// Records that `what` could not be read because of `reason`.
    pub(crate) fn miss(&mut self, what: impl Into<String>, reason: impl Display) {
        let what = what.into();
        let reason = reason.to_string();
        tracing::debug!(%what, %reason, "not collected");
        self.missing.push(Missing { what, reason });
    }

    /// Adds entries gathered elsewhere (per-device workers).
    pub(crate) fn extend(&mut self, missing: Vec<Missing>) {
        self.missing.extend(missing);
    }

    /// The entries, in the order recorded.
    pub(crate) fn into_missing(self) -> Vec<Missing> {
        self.missing
    }
}
