//! Failure attribution: who is blamed for an attempt's end, and the sentence that says so.

use std::time::Duration;

use crate::duration::format_duration;
use crate::event::{ExitStatus, NodeName, Rank};

/// Why an attempt is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// The first rank to fail on its own (ranks we killed are never blamed).
    RankFailed(Blame),
    /// A rank made no progress for the hang timeout.
    Hang(Blame),
    /// The driver could not launch the attempt.
    LaunchFailed(String),
    /// The backend ended the attempt ([`crate::Event::AttemptLost`]); nobody is blamed.
    Lost(String),
    /// The driver reported the attempt gone while we thought it healthy, without a failure.
    VanishedRanks {
        /// Ranks that exited 0.
        succeeded: u32,
        /// Ranks in the world.
        world: u32,
    },
    /// The job was cancelled.
    Cancelled(String),
}

/// The rank held responsible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blame {
    pub rank: Rank,
    pub node: NodeName,
    /// How it exited (failures) or `None` (hangs, where it is still running).
    pub exit: Option<ExitStatus>,
    /// The last step it (or the attempt) reported.
    pub step: Option<u64>,
    /// For hangs: how long it had been silent.
    pub silent_for: Option<Duration>,
    pub stderr_tail: Vec<String>,
}

impl Blame {
    /// "rank 3 on local-1 exited with code 1 at step 57".
    pub(crate) fn describe(&self) -> String {
        let what = match (self.exit, self.silent_for) {
            (Some(exit), _) => exit.to_string(),
            (None, Some(d)) => format!("made no progress for {}", format_duration(d)),
            (None, None) => "stopped making progress".to_owned(),
        };
        let mut s = format!("rank {} on {} {what}", self.rank, self.node);
        if let Some(step) = self.step {
            let word = if self.exit.is_some() { "at" } else { "after" };
            s.push_str(&format!(" {word} step {step}"));
        }
        s
    }
}

impl StopCause {
    /// The blamed rank, if the cause has one.
    pub(crate) fn blame(&self) -> Option<&Blame> {
        match self {
            StopCause::RankFailed(b) | StopCause::Hang(b) => Some(b),
            _ => None,
        }
    }

    /// One phrase: "rank 3 on local-1 exited with code 1 at step 57", "launch failed: ...".
    pub(crate) fn describe(&self) -> String {
        match self {
            StopCause::RankFailed(b) => b.describe(),
            StopCause::Hang(b) => format!("hang: {}", b.describe()),
            StopCause::LaunchFailed(e) => format!("launch failed: {e}"),
            StopCause::Lost(r) => r.clone(),
            StopCause::VanishedRanks { succeeded, world } => format!(
                "the driver reported every rank gone but only {succeeded} of {world} exited 0"
            ),
            StopCause::Cancelled(r) => format!("cancelled: {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blame(exit: Option<ExitStatus>, step: Option<u64>, silent: Option<u64>) -> Blame {
        Blame {
            rank: 3,
            node: "local-1".into(),
            exit,
            step,
            silent_for: silent.map(Duration::from_secs),
            stderr_tail: vec![],
        }
    }

    #[test]
    fn sentences() {
        let cases = [
            (
                blame(Some(ExitStatus::Code(1)), Some(57), None),
                "rank 3 on local-1 exited with code 1 at step 57",
            ),
            (
                blame(Some(ExitStatus::Signal(9)), None, None),
                "rank 3 on local-1 was killed by signal 9 (SIGKILL)",
            ),
            (
                blame(Some(ExitStatus::Signal(64)), None, None),
                "rank 3 on local-1 was killed by signal 64",
            ),
            (
                blame(None, Some(10), Some(300)),
                "rank 3 on local-1 made no progress for 5m after step 10",
            ),
            (
                blame(None, None, None),
                "rank 3 on local-1 stopped making progress",
            ),
        ];
        for (b, want) in cases {
            assert_eq!(b.describe(), want);
        }
        assert_eq!(
            StopCause::VanishedRanks {
                succeeded: 1,
                world: 4
            }
            .describe(),
            "the driver reported every rank gone but only 1 of 4 exited 0"
        );
        assert_eq!(
            StopCause::Hang(blame(None, None, Some(60))).describe(),
            "hang: rank 3 on local-1 made no progress for 1m"
        );
    }
}
