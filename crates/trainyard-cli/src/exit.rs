//! Exit codes scripts can rely on (documented in the README).

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything read and reported.
    Clean = 0,
    /// Findings at or above `--fail-on` (analysis commands).
    Findings = 1,
    /// Bad usage or input that could not be read (in full or in part).
    BadInput = 2,
    /// `launch`: the job was cancelled (Ctrl-C, `trainyard cancel`); 128 + SIGINT, as shells
    /// report an interrupted command.
    Cancelled = 130,
}

impl Exit {
    /// `launch`: the job failed (restart budget spent, no healthy nodes) or its supervisor was
    /// lost. Shares the value 1 with [`Exit::Findings`].
    pub const JOB_FAILED: Exit = Exit::Findings;
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The exit status of an analysis: [`Exit::Findings`] when some finding is at least as severe
/// as `--fail-on`, else [`Exit::Clean`].
pub fn for_findings(
    fail_on: crate::args::FailOn,
    severities: impl IntoIterator<Item = trainyard_fleet::rules::Severity>,
) -> Exit {
    use crate::args::FailOn;
    use trainyard_fleet::rules::Severity;
    let threshold = match fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
        FailOn::Never => return Exit::Clean,
    };
    if severities.into_iter().any(|s| s >= threshold) {
        Exit::Findings
    } else {
        Exit::Clean
    }
}
