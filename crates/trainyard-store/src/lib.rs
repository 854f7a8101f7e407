//! SQLite persistence for trainyard jobs: jobs, attempts, ranks, the append-only event log and
//! node verdicts, at `$TRAINYARD_HOME/trainyard.db`.
//!
//! One supervisor process writes a job; any number of readers (`trainyard ps`, `show`, `logs`)
//! read at the same time. That works because the database runs in WAL mode (readers see the
//! last committed state and never block the writer), every write is one short
//! `BEGIN IMMEDIATE` transaction (a crash leaves either all of it or none), and connections
//! wait on locks for up to [`BUSY_TIMEOUT`] instead of failing.
//!
//! Times are trainyard-job's [`Millis`], supplied by the caller; the store never reads the
//! clock itself ([`now`] is there for callers that want it). The store makes no policy decisions: it
//! records what the supervisor decided, and judges only whether a supervisor is still alive
//! ([`Liveness`]).
//!
//! ```
//! use trainyard_store::{JobState, Liveness, Millis, NewJob, Store};
//!
//! let home = tempfile::tempdir()?;
//! let mut store = Store::open(home.path())?;
//! let now = Millis(1_795_879_812_000);
//! let job = store.create_job(&NewJob {
//!     name: "demo",
//!     spec_toml: "name = \"demo\"",
//!     created_at: now,
//!     supervisor_pid: Some(std::process::id()),
//! })?;
//! store.update_job_state(&job.id, JobState::Running, None, now)?;
//! let jobs = store.list_jobs(false, now, &Liveness::default())?;
//! assert_eq!(jobs[0].state, JobState::Running);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod attempts;
mod error;
mod events;
mod goodput;
mod home;
mod id;
mod jobs;
mod lost;
mod migrations;
mod ranks;
mod types;
mod verdicts;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;

pub use attempts::{Attempt, AttemptEnd, NewAttempt};
pub use error::{Error, Result};
pub use events::{Event, NewEvent};
pub use goodput::{goodput, AttemptTime, Goodput};
pub use home::{db_path, default_home, home_from, DB_FILE};
pub use jobs::{Job, JobControl, NewJob};
pub use lost::{lost_reason, pid_alive, this_host, Liveness, DEFAULT_STALE_AFTER};
pub use migrations::SCHEMA_VERSION;
pub use ranks::{Rank, RankStart};
pub use types::{now, AttemptState, ExitStatus, JobId, JobState, Millis, Verdict};
pub use verdicts::NodeVerdict;

/// How long a connection waits for another one's lock before giving up with "database is
/// locked". Writes are milliseconds long, so this only runs out if a writer is stuck.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the job database.
///
/// Writes go through [`Store::write`] (or the one-call helpers like [`Store::create_job`],
/// which each run one transaction); reads through [`Store::read`] (or helpers like
/// [`Store::job`]), which see one consistent snapshot. Not thread-safe by design: open one
/// `Store` per thread; SQLite serializes them.
pub struct Store {
    conn: Connection,
    home: PathBuf,
    path: PathBuf,
    host: String,
}

/// The write half of a transaction: every mutating call of the store.
///
/// Obtained inside [`Store::write`]; everything done through one `Writer` commits together or
/// not at all.
pub struct Writer<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) home: &'a Path,
    pub(crate) host: &'a str,
}

/// The read half: every query of the store, on one snapshot. Obtained inside [`Store::read`].
pub struct Reader<'a> {
    pub(crate) conn: &'a Connection,
}

/// Everything `trainyard show` needs about one job, read on one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    /// The job (with `lost` already judged).
    pub job: Job,
    /// Its attempts, first to last.
    pub attempts: Vec<Attempt>,
    /// Its ranks, by attempt then rank.
    pub ranks: Vec<Rank>,
    /// Its events, oldest first.
    pub events: Vec<Event>,
    /// Its goodput at the time of reading.
    pub goodput: Goodput,
}

impl Store {
    /// Opens (creating if needed) the database in `home`, creating `home` too, and migrates it
    /// to [`SCHEMA_VERSION`]. Fails with [`Error::TooNew`] on a database from a newer trainyard.
    pub fn open(home: &Path) -> Result<Store> {
        std::fs::create_dir_all(home).map_err(|source| Error::CreateHome {
            path: home.to_owned(),
            source,
        })?;
        let path = db_path(home);
        let open_err = |source| Error::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        // busy_timeout first: switching to WAL itself needs a lock another process may hold.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Switching a new file to WAL can fail with SQLITE_BUSY at once, without the busy
        // handler, when another process is switching it at the same moment (SQLite refuses to
        // wait where waiting could deadlock): retry for as long as busy_timeout would wait.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.map_err(open_err)?,
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            // Some filesystems (network mounts) refuse WAL; we still work, but readers may
            // then wait for writers.
            tracing::warn!(db = %path.display(), mode, "job database is not in WAL mode");
        }
        // NORMAL is safe in WAL mode: a crashed process loses nothing committed and the file
        // never corrupts; only a power cut may drop the last transactions.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        migrations::migrate(&mut conn, &path)?;
        tracing::debug!(db = %path.display(), "opened job database");
        Ok(Store {
            conn,
            home: home.to_owned(),
            path,
            host: this_host(),
        })
    }

    /// Opens the database in [`default_home`].
    pub fn open_default() -> Result<Store> {
        Store::open(&default_home()?)
    }

    /// The trainyard home this store lives in.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction: committed if `f` returns `Ok`, rolled back if it
    /// returns `Err` or panics.
    pub fn write<T>(&mut self, f: impl FnOnce(&Writer<'_>) -> Result<T>) -> Result<T> {
        // IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
        // writes can fail with SQLITE_BUSY at once, without waiting, if another connection
        // wrote in between; busy_timeout cannot help there.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Writer {
            conn: &tx,
            home: &self.home,
            host: &self.host,
        })?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on one read snapshot: everything it reads is from the same committed state,
    /// however much a supervisor writes meanwhile.
    pub fn read<T>(&self, f: impl FnOnce(&Reader<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.unchecked_transaction()?;
        let out = f(&Reader { conn: &tx })?;
        // Nothing to keep; ending the read transaction releases the snapshot.
        tx.rollback()?;
        Ok(out)
    }

    /// Jobs newest first, with `lost` judged and persisted (see [`Liveness`]): all jobs, or
    /// (`all == false`, plain `trainyard ps`) the active and the lost ones. A lost job stays in
    /// the short list until someone acknowledges it, e.g. `trainyard cancel` setting it
    /// `cancelled`.
    pub fn list_jobs(&mut self, all: bool, now: Millis, liveness: &Liveness) -> Result<Vec<Job>> {
        let jobs = self.read(|r| r.jobs(all))?;
        jobs.into_iter()
            .map(|job| self.judge(job, now, liveness))
            .collect()
    }

    /// The job named by `id_or_name` (its id, else the latest job of that name) with `lost`
    /// judged and persisted.
    pub fn find_job(
        &mut self,
        id_or_name: &str,
        now: Millis,
        liveness: &Liveness,
    ) -> Result<Option<Job>> {
        match self.read(|r| r.find_job(id_or_name))? {
            Some(job) => Ok(Some(self.judge(job, now, liveness)?)),
            None => Ok(None),
        }
    }

    /// Everything `trainyard show` needs about the job named by `id_or_name`.
    pub fn job_detail(
        &mut self,
        id_or_name: &str,
        now: Millis,
        liveness: &Liveness,
    ) -> Result<Option<JobDetail>> {
        let Some(job) = self.find_job(id_or_name, now, liveness)? else {
            return Ok(None);
        };
        // Re-read everything on one snapshot so the attempts match the job row.
        self.read(|r| {
            let job = r.job(&job.id)?.unwrap_or(job);
            let attempts = r.attempts(&job.id)?;
            let ranks = r.ranks(&job.id, None)?;
            let events = r.events(&job.id, None)?;
            let goodput = goodput(&job, &attempts, now);
            Ok(Some(JobDetail {
                job,
                attempts,
                ranks,
                events,
                goodput,
            }))
        })
    }

    /// Returns `job` as readers should see it: if it is lost, marks it so (unless its
    /// supervisor raced us), and reports it lost even if the write fails, because a reader
    /// must not fail or lie just because the database is busy.
    fn judge(&mut self, job: Job, now: Millis, liveness: &Liveness) -> Result<Job> {
        let Some(reason) = lost_reason(&job, now, liveness, &self.host) else {
            return Ok(job);
        };
        match self.write(|w| w.mark_lost(&job, &reason, now)) {
            Ok(true) => {}
            // The supervisor changed the row after we read it: it is alive after all.
            Ok(false) => return Ok(self.job(&job.id)?.unwrap_or(job)),
            Err(e) => tracing::warn!(job = %job.id, error = %e, "could not record lost job"),
        }
        Ok(Job {
            state: JobState::Lost,
            reason: Some(reason),
            ..job
        })
    }
}

/// One-call helpers: each runs one transaction of the [`Writer`] or [`Reader`] method of the
/// same name.
impl Store {
    /// See [`Writer::create_job`].
    pub fn create_job(&mut self, new: &NewJob<'_>) -> Result<Job> {
        self.write(|w| w.create_job(new))
    }

    /// See [`Writer::update_job_state`].
    pub fn update_job_state(
        &mut self,
        id: &JobId,
        state: JobState,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        self.write(|w| w.update_job_state(id, state, reason, now))
    }

    /// See [`Writer::heartbeat`].
    pub fn heartbeat(&mut self, id: &JobId, pid: u32, now: Millis) -> Result<JobControl> {
        self.write(|w| w.heartbeat(id, pid, now))
    }

    /// See [`Writer::request_cancel`].
    pub fn request_cancel(&mut self, id: &JobId, now: Millis) -> Result<()> {
        self.write(|w| w.request_cancel(id, now))
    }

    /// See [`Writer::start_attempt`].
    pub fn start_attempt(&mut self, job: &JobId, new: &NewAttempt<'_>) -> Result<()> {
        self.write(|w| w.start_attempt(job, new))
    }

    /// See [`Writer::set_backend_job`].
    pub fn set_backend_job(&mut self, job: &JobId, number: u32, id: &str) -> Result<()> {
        self.write(|w| w.set_backend_job(job, number, id))
    }

    /// See [`Writer::end_attempt`].
    pub fn end_attempt(&mut self, job: &JobId, number: u32, end: &AttemptEnd<'_>) -> Result<()> {
        self.write(|w| w.end_attempt(job, number, end))
    }

    /// See [`Writer::record_progress`].
    pub fn record_progress(
        &mut self,
        job: &JobId,
        attempt: u32,
        step: Option<u64>,
        at: Millis,
    ) -> Result<()> {
        self.write(|w| w.record_progress(job, attempt, step, at))
    }

    /// See [`Writer::record_checkpoint`].
    pub fn record_checkpoint(
        &mut self,
        job: &JobId,
        attempt: u32,
        step: u64,
        at: Millis,
    ) -> Result<()> {
        self.write(|w| w.record_checkpoint(job, attempt, step, at))
    }

    /// See [`Writer::rank_started`].
    pub fn rank_started(&mut self, job: &JobId, start: &RankStart<'_>) -> Result<()> {
        self.write(|w| w.rank_started(job, start))
    }

    /// See [`Writer::rank_exited`].
    pub fn rank_exited(
        &mut self,
        job: &JobId,
        attempt: u32,
        rank: u32,
        exit: ExitStatus,
        at: Millis,
    ) -> Result<()> {
        self.write(|w| w.rank_exited(job, attempt, rank, exit, at))
    }

    /// See [`Writer::append_event`].
    pub fn append_event(&mut self, job: &JobId, event: &NewEvent<'_>) -> Result<i64> {
        self.write(|w| w.append_event(job, event))
    }

    /// See [`Writer::record_job_event`].
    pub fn record_job_event(
        &mut self,
        job: &JobId,
        event: &trainyard_job::JobEvent,
    ) -> Result<i64> {
        self.write(|w| w.record_job_event(job, event))
    }

    /// See [`Writer::record_node_verdict`].
    pub fn record_node_verdict(&mut self, verdict: &NodeVerdict) -> Result<()> {
        self.write(|w| w.record_node_verdict(verdict))
    }

    /// See [`Reader::job`] (no liveness judgement; [`Store::find_job`] adds it).
    pub fn job(&self, id: &JobId) -> Result<Option<Job>> {
        self.read(|r| r.job(id))
    }

    /// See [`Reader::attempts`].
    pub fn attempts(&self, job: &JobId) -> Result<Vec<Attempt>> {
        self.read(|r| r.attempts(job))
    }

    /// See [`Reader::ranks`].
    pub fn ranks(&self, job: &JobId, attempt: Option<u32>) -> Result<Vec<Rank>> {
        self.read(|r| r.ranks(job, attempt))
    }

    /// See [`Reader::events`].
    pub fn events(&self, job: &JobId, after: Option<i64>) -> Result<Vec<Event>> {
        self.read(|r| r.events(job, after))
    }

    /// See [`Reader::node_verdicts`].
    pub fn node_verdicts(&self, node: Option<&str>) -> Result<Vec<NodeVerdict>> {
        self.read(|r| r.node_verdicts(node))
    }

    /// See [`Reader::bad_nodes`].
    pub fn bad_nodes(&self) -> Result<Vec<String>> {
        self.read(|r| r.bad_nodes())
    }
}
