//! # trainyard-job
//!
//! The job spec (`job.toml` → [`JobSpec`]) and the supervisor: a pure state machine that owns
//! every decision about a training job (start, fail fast, blame, hang, restart with backoff,
//! exclude bad nodes, finish) and does no IO at all. Drivers (`trainyard-exec` for real
//! processes, `trainyard-sim` for a virtual cluster) turn what they observe into [`Event`]s,
//! hand them to [`Supervisor::handle`] with the current time, and carry out the [`Action`]s
//! that come back. The contract between the crates is `docs/supervisor.md`.
//!
//! ```
//! use trainyard_job::{Action, Event, ExitStatus, Millis, Policy, Supervisor};
//!
//! let policy = Policy { nodes: 1, procs_per_node: 2, ..Policy::default() };
//! let mut sup = Supervisor::new(policy, vec!["local-0".into()], Millis(0));
//! let actions = sup.handle(Event::Start, Millis(0));
//! assert!(actions.iter().any(|a| matches!(a, Action::StartAttempt { attempt: 1, .. })));
//! for rank in 0..2 {
//!     let exit = Event::RankExited {
//!         attempt: 1, rank, status: ExitStatus::Code(0), stderr_tail: vec![],
//!     };
//!     let actions = sup.handle(exit, Millis(1_000));
//!     if rank == 1 {
//!         assert!(actions.iter().any(|a| matches!(a, Action::Finish { .. })));
//!     }
//! }
//! ```
#![deny(missing_docs)]

mod attempt;
mod backoff;
mod blame;
mod duration;
mod event;
mod hang;
mod policy;
mod spec;
mod state;
mod summary;
mod supervisor;
mod time;

pub use backoff::Backoff;
pub use duration::{format_duration, parse_duration, DurationError, DURATION_HINT};
pub use event::{Action, AttemptNumber, Event, ExitStatus, JobEvent, JobEventKind, NodeName, Rank};
pub use policy::{local_nodes, Policy};
pub use spec::{defaults, Backend, JobSpec, ProgressRegex, SlurmSpec, SpecError, SpecErrorKind};
pub use state::{AttemptState, FinalState, JobState};
pub use summary::{AttemptSummary, Summary};
pub use supervisor::Supervisor;
pub use time::Millis;
