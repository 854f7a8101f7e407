//! Exit codes scripts can rely on (documented in the README).

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything read and reported.
    Clean = 0,
    /// Findings at or above `--fail-on` (analysis commands).
    #[allow(dead_code)]
    Findings = 1,
    /// Bad usage or input that could not be read (in full or in part).
    BadInput = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}
