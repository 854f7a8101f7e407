//! Value types shared by the store's tables: times, ids and the persisted states.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

pub use trainyard_job::{ExitStatus, Millis};

/// The wall clock now, as a [`Millis`]. Only drivers and the CLI call this; the store takes
/// `now` from its callers so tests and the simulator control time.
pub fn now() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds from `earlier` to `later`, 0 if `earlier` is later (clocks step backwards).
pub(crate) fn ms_between(later: Millis, earlier: Millis) -> u64 {
    later.0.saturating_sub(earlier.0)
}

/// Splits an exit status into the `(exit_code, signal)` column pair.
pub(crate) fn exit_columns(status: Option<ExitStatus>) -> (Option<i32>, Option<i32>) {
    match status {
        Some(ExitStatus::Code(c)) => (Some(c), None),
        Some(ExitStatus::Signal(s)) => (None, Some(s)),
        None => (None, None),
    }
}

/// Joins the `(exit_code, signal)` column pair; a signal wins if both are somehow set.
pub(crate) fn exit_from_columns(code: Option<i32>, signal: Option<i32>) -> Option<ExitStatus> {
    match (code, signal) {
        (_, Some(s)) => Some(ExitStatus::Signal(s)),
        (Some(c), None) => Some(ExitStatus::Code(c)),
        (None, None) => None,
    }
}

/// A job's id, e.g. `j-20261128-153012-ab12`: creation time (UTC) then 4 random hex digits.
///
/// Ids sort by creation time as plain strings and are short enough to type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(s.to_owned())
    }
}

/// Defines a persisted state enum stored as lowercase text, with `as_str`, `Display`,
/// `FromStr` and SQL conversions, so the text in the database is written in one place.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text stored in the database and printed by the CLI.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{}`", stringify!($name), other)),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                text.parse().map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

text_enum! {
    /// A job's state as stored: trainyard-job's `JobState` names plus `lost`. The first four
    /// are *active*: a supervisor should be alive.
    JobState {
        /// Created; the supervisor has not started the first attempt yet.
        Pending => "pending",
        /// An attempt is running.
        Running => "running",
        /// An attempt is being stopped (after a failure, a hang or a cancel).
        Stopping => "stopping",
        /// Waiting out the restart backoff before the next attempt.
        Backoff => "backoff",
        /// An attempt finished with every rank exiting 0.
        Succeeded => "succeeded",
        /// The supervisor gave up (restart budget spent, too few healthy nodes, bad launch).
        Failed => "failed",
        /// Cancelled by the user.
        Cancelled => "cancelled",
        /// The supervisor died without finishing the job (see [`crate::Liveness`]).
        Lost => "lost",
    }
}

impl JobState {
    /// Whether a live supervisor should be driving a job in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobState::Pending | JobState::Running | JobState::Stopping | JobState::Backoff
        )
    }

    /// Whether the job is over (the opposite of [`JobState::is_active`]).
    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }
}

text_enum! {
    /// An attempt's state as stored: trainyard-job's `AttemptState` names plus `lost`.
    AttemptState {
        /// Launched; ranks running (or starting).
        Running => "running",
        /// Being stopped; the final state is decided when the driver confirms.
        Stopping => "stopping",
        /// Every rank exited 0.
        Succeeded => "succeeded",
        /// A rank failed, hung, or the launch failed.
        Failed => "failed",
        /// Stopped because the job was cancelled.
        Cancelled => "cancelled",
        /// Its supervisor died while it ran.
        Lost => "lost",
    }
}

impl From<trainyard_job::JobState> for JobState {
    fn from(s: trainyard_job::JobState) -> JobState {
        use trainyard_job::JobState as J;
        match s {
            J::Pending => JobState::Pending,
            J::Running => JobState::Running,
            J::Stopping => JobState::Stopping,
            J::Backoff => JobState::Backoff,
            J::Succeeded => JobState::Succeeded,
            J::Failed => JobState::Failed,
            J::Cancelled => JobState::Cancelled,
        }
    }
}

impl From<trainyard_job::FinalState> for JobState {
    fn from(s: trainyard_job::FinalState) -> JobState {
        trainyard_job::JobState::from(s).into()
    }
}

impl From<trainyard_job::AttemptState> for AttemptState {
    fn from(s: trainyard_job::AttemptState) -> AttemptState {
        use trainyard_job::AttemptState as A;
        match s {
            A::Running => AttemptState::Running,
            A::Stopping => AttemptState::Stopping,
            A::Succeeded => AttemptState::Succeeded,
            A::Failed => AttemptState::Failed,
            A::Cancelled => AttemptState::Cancelled,
        }
    }
}

text_enum! {
    /// A verdict about a node's health.
    Verdict {
        /// The node must not be used (repeated failures, a doctor finding, an operator).
        Bad => "bad",
        /// The node is fit again.
        Healthy => "healthy",
    }
}

/// [`Millis`] to an SQLite integer; times past year 292 million saturate.
pub(crate) fn ms(m: Millis) -> i64 {
    i64::try_from(m.0).unwrap_or(i64::MAX)
}

/// An SQLite integer to [`Millis`]; negative values (never written by us) read as 0.
pub(crate) fn from_ms(i: i64) -> Millis {
    Millis(u64::try_from(i).unwrap_or(0))
}
