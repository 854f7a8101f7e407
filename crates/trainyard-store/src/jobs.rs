//! The `jobs` table: one row per `trainyard launch`.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{from_ms, ms, JobId, JobState, Millis};
use crate::{id, Reader, Writer};

/// What the launcher knows when it creates a job.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// The spec's `name`.
    pub name: &'a str,
    /// The spec file's text, kept verbatim so `show` can tell what was run.
    pub spec_toml: &'a str,
    /// Creation time; also the start of the job's wall time.
    pub created_at: Millis,
    /// The supervising process, when it is the creator (foreground launch).
    pub supervisor_pid: Option<u32>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The spec's `name`; not unique (the latest of a name wins lookups).
    pub name: String,
    /// The spec's text.
    pub spec_toml: String,
    /// Its state; see [`crate::Store::list_jobs`] for how `lost` is detected.
    pub state: JobState,
    /// When it was created.
    pub created_at: Millis,
    /// When a row of it was last changed (not counting heartbeats).
    pub updated_at: Millis,
    /// When it reached a terminal state.
    pub finished_at: Option<Millis>,
    /// The supervisor's pid, on [`Job::supervisor_host`].
    pub supervisor_pid: Option<u32>,
    /// The host the supervisor runs on (its `/proc/sys/kernel/hostname`).
    pub supervisor_host: Option<String>,
    /// The supervisor's last heartbeat.
    pub heartbeat_at: Option<Millis>,
    /// `$TRAINYARD_HOME/jobs/<id>`: where the driver keeps the ranks' logs.
    pub job_dir: PathBuf,
    /// Why it ended (or why it is in its state), in words.
    pub reason: Option<String>,
    /// When `trainyard cancel` asked the supervisor to stop it.
    pub cancel_requested_at: Option<Millis>,
}

/// What a heartbeat tells the supervisor back, so one write per second also carries the
/// CLI's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobControl {
    /// The job's stored state. `Lost` means a reader gave up on this supervisor (it stalled
    /// past the heartbeat threshold); the supervisor should re-assert its state with
    /// [`Writer::update_job_state`] if it carries on.
    pub state: JobState,
    /// Set once `trainyard cancel` asked for the job to stop.
    pub cancel_requested_at: Option<Millis>,
}

pub(crate) const JOB_COLUMNS: &str = "id, name, spec_toml, state, created_at, updated_at, \
     finished_at, supervisor_pid, supervisor_host, heartbeat_at, job_dir, reason, \
     cancel_requested_at";

pub(crate) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: JobId(row.get(0)?),
        name: row.get(1)?,
        spec_toml: row.get(2)?,
        state: row.get(3)?,
        created_at: from_ms(row.get(4)?),
        updated_at: from_ms(row.get(5)?),
        finished_at: row.get::<_, Option<i64>>(6)?.map(from_ms),
        supervisor_pid: row.get(7)?,
        supervisor_host: row.get(8)?,
        heartbeat_at: row.get::<_, Option<i64>>(9)?.map(from_ms),
        job_dir: PathBuf::from(row.get::<_, String>(10)?),
        reason: row.get(11)?,
        cancel_requested_at: row.get::<_, Option<i64>>(12)?.map(from_ms),
    })
}

fn not_found(id: &JobId) -> Error {
    Error::NotFound {
        what: format!("job {id}"),
    }
}

impl Writer<'_> {
    /// Creates a job in state `pending` with a fresh id and its directory under the home
    /// (the directory itself is the driver's to create).
    pub fn create_job(&self, new: &NewJob<'_>) -> Result<Job> {
        // Ids carry 16 random bits; two jobs in one second collide with odds 1 in 65,536, so a
        // few retries make a failure practically impossible.
        for _ in 0..16 {
            let id = id::new_job_id(new.created_at);
            let job_dir = self.home.join("jobs").join(id.as_str());
            let inserted = self.conn.execute(
                "INSERT INTO jobs (id, name, spec_toml, state, created_at, updated_at, \
                     supervisor_pid, supervisor_host, heartbeat_at, job_dir) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
                params![
                    id.as_str(),
                    new.name,
                    new.spec_toml,
                    JobState::Pending,
                    ms(new.created_at),
                    new.supervisor_pid,
                    new.supervisor_pid.map(|_| self.host),
                    new.supervisor_pid.map(|_| ms(new.created_at)),
                    job_dir.to_string_lossy(),
                ],
            )?;
            if inserted == 1 {
                tracing::debug!(job = %id, name = new.name, "created job");
                return Reader { conn: self.conn }
                    .job(&id)?
                    .ok_or_else(|| not_found(&id));
            }
        }
        Err(Error::Corrupt {
            what: "could not find a free job id after 16 tries".to_owned(),
        })
    }

    /// Sets the job's state and, when given, its reason. A terminal state also sets
    /// `finished_at`; an active one clears it (a supervisor that outlived a `lost` verdict).
    pub fn update_job_state(
        &self,
        id: &JobId,
        state: JobState,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        let finished = state.is_terminal().then_some(ms(now));
        let n = self.conn.execute(
            "UPDATE jobs SET state = ?2, reason = COALESCE(?3, reason), updated_at = ?4, \
                 finished_at = ?5 WHERE id = ?1",
            params![id.as_str(), state, reason, ms(now), finished],
        )?;
        if n == 0 {
            return Err(not_found(id));
        }
        tracing::debug!(job = %id, %state, "job state");
        Ok(())
    }

    /// Records that supervisor `pid` on this host is alive and driving the job at `now`.
    ///
    /// Call it about every second; readers call a job `lost` when heartbeats stop (see
    /// [`crate::Liveness`]).
    pub fn heartbeat(&self, id: &JobId, pid: u32, now: Millis) -> Result<JobControl> {
        self.conn
            .query_row(
                "UPDATE jobs SET supervisor_pid = ?2, supervisor_host = ?3, heartbeat_at = ?4 \
                 WHERE id = ?1 RETURNING state, cancel_requested_at",
                params![id.as_str(), pid, self.host, ms(now)],
                |row| {
                    Ok(JobControl {
                        state: row.get(0)?,
                        cancel_requested_at: row.get::<_, Option<i64>>(1)?.map(from_ms),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| not_found(id))
    }

    /// Asks the job's supervisor to cancel it; the supervisor sees it in its next
    /// [`JobControl`]. Asking twice keeps the first time.
    pub fn request_cancel(&self, id: &JobId, now: Millis) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, ?2) \
             WHERE id = ?1",
            params![id.as_str(), ms(now)],
        )?;
        if n == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// The job with this exact id.
    pub fn job(&self, id: &JobId) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        Ok(self
            .conn
            .query_row(&sql, [id.as_str()], job_from_row)
            .optional()?)
    }

    /// The job a user named: the job with this id, else the latest job with this name.
    pub fn find_job(&self, id_or_name: &str) -> Result<Option<Job>> {
        if let Some(job) = self.job(&JobId::from(id_or_name))? {
            return Ok(Some(job));
        }
        // rowid breaks ties between jobs of one name created in the same millisecond.
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE name = ?1 \
             ORDER BY created_at DESC, rowid DESC LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(&sql, [id_or_name], job_from_row)
            .optional()?)
    }

    /// Jobs as stored, newest first: all of them, or only active and lost ones. No liveness
    /// check; [`crate::Store::list_jobs`] adds it.
    pub fn jobs(&self, all: bool) -> Result<Vec<Job>> {
        let filter = if all {
            String::new()
        } else {
            let active: Vec<String> = JobState::ALL
                .iter()
                .filter(|s| s.is_active() || **s == JobState::Lost)
                .map(|s| format!("'{s}'"))
                .collect();
            format!("WHERE state IN ({})", active.join(", "))
        };
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs {filter} ORDER BY created_at DESC, rowid DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
