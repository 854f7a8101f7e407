//! The `attempts` table: one row per launch of a job's ranks.

use rusqlite::{params, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{
    exit_columns, exit_from_columns, from_ms, ms, AttemptState, ExitStatus, JobId, Millis,
};
use crate::{Reader, Writer};

/// An attempt as the supervisor starts it.
#[derive(Debug, Clone)]
pub struct NewAttempt<'a> {
    /// 1 for the first attempt, then 2, 3, ...
    pub number: u32,
    /// The nodes it runs on, in node-rank order.
    pub nodes: &'a [String],
    /// Restarts before this attempt (0 for the first one).
    pub restart_count: u32,
    /// When it was started.
    pub started_at: Millis,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptEnd<'a> {
    /// Its final state (not `running`).
    pub state: AttemptState,
    /// Why, in words ("rank 3 on local-1 exited with code 1").
    pub reason: &'a str,
    /// The node blamed for the end, if any.
    pub blamed_node: Option<&'a str>,
    /// The rank blamed for the end, if any.
    pub blamed_rank: Option<u32>,
    /// How the blamed rank ended.
    pub exit: Option<ExitStatus>,
    /// When every rank was gone.
    pub ended_at: Millis,
}

/// An attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The job.
    pub job_id: JobId,
    /// 1, 2, 3, ...
    pub number: u32,
    /// Its state.
    pub state: AttemptState,
    /// Why it ended.
    pub reason: Option<String>,
    /// The node blamed for the end.
    pub blamed_node: Option<String>,
    /// The rank blamed for the end.
    pub blamed_rank: Option<u32>,
    /// How the blamed rank ended.
    pub exit: Option<ExitStatus>,
    /// When it started.
    pub started_at: Millis,
    /// When it ended; `None` while running.
    pub ended_at: Option<Millis>,
    /// Its nodes, in node-rank order.
    pub nodes: Vec<String>,
    /// Restarts before it.
    pub restart_count: u32,
    /// The highest training step any rank reported.
    pub last_step: Option<u64>,
    /// First progress from any rank (the end of launch, rendezvous and checkpoint load).
    pub first_progress_at: Option<Millis>,
    /// Latest progress from any rank.
    pub last_progress_at: Option<Millis>,
    /// The newest checkpoint's step seen during this attempt (informative).
    pub checkpoint_step: Option<u64>,
    /// When that checkpoint was seen.
    pub checkpoint_at: Option<Millis>,
    /// The backend's own id of the attempt: the Slurm job id; `None` for local attempts.
    pub backend_job: Option<String>,
}

pub(crate) const ATTEMPT_COLUMNS: &str = "job_id, number, state, reason, blamed_node, \
     blamed_rank, exit_code, signal, started_at, ended_at, nodes, restart_count, last_step, \
     first_progress_at, last_progress_at, checkpoint_step, checkpoint_at, backend_job";

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<Attempt> {
    let nodes_json: String = row.get(10)?;
    let nodes = serde_json::from_str(&nodes_json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Attempt {
        job_id: JobId(row.get(0)?),
        number: row.get(1)?,
        state: row.get(2)?,
        reason: row.get(3)?,
        blamed_node: row.get(4)?,
        blamed_rank: row.get(5)?,
        exit: exit_from_columns(row.get(6)?, row.get(7)?),
        started_at: from_ms(row.get(8)?),
        ended_at: row.get::<_, Option<i64>>(9)?.map(from_ms),
        nodes,
        restart_count: row.get(11)?,
        last_step: row.get::<_, Option<i64>>(12)?.map(step_from_sql),
        first_progress_at: row.get::<_, Option<i64>>(13)?.map(from_ms),
        last_progress_at: row.get::<_, Option<i64>>(14)?.map(from_ms),
        checkpoint_step: row.get::<_, Option<i64>>(15)?.map(step_from_sql),
        checkpoint_at: row.get::<_, Option<i64>>(16)?.map(from_ms),
        backend_job: row.get(17)?,
    })
}

/// Steps are u64 in the API and i64 in SQLite; no real job reaches 2^63 steps.
fn step_to_sql(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn step_from_sql(step: i64) -> u64 {
    u64::try_from(step).unwrap_or(0)
}

fn attempt_not_found(job: &JobId, number: u32) -> Error {
    Error::NotFound {
        what: format!("attempt {number} of job {job}"),
    }
}

impl Writer<'_> {
    /// Records a new attempt in state `running`.
    pub fn start_attempt(&self, job: &JobId, new: &NewAttempt<'_>) -> Result<()> {
        let nodes = serde_json::to_string(new.nodes).map_err(|e| Error::Corrupt {
            what: format!("attempt nodes not encodable: {e}"),
        })?;
        self.conn.execute(
            "INSERT INTO attempts (job_id, number, state, started_at, nodes, restart_count) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                job.as_str(),
                new.number,
                AttemptState::Running,
                ms(new.started_at),
                nodes,
                new.restart_count,
            ],
        )?;
        self.touch(job, new.started_at)?;
        tracing::debug!(job = %job, attempt = new.number, "attempt started");
        Ok(())
    }

    /// Records the backend's own id of the attempt (the Slurm job id).
    pub fn set_backend_job(&self, job: &JobId, number: u32, id: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE attempts SET backend_job = ?3 WHERE job_id = ?1 AND number = ?2",
            params![job.as_str(), number, id],
        )?;
        if n == 0 {
            return Err(attempt_not_found(job, number));
        }
        Ok(())
    }

    /// Records the attempt's end.
    pub fn end_attempt(&self, job: &JobId, number: u32, end: &AttemptEnd<'_>) -> Result<()> {
        let (code, signal) = exit_columns(end.exit);
        let n = self.conn.execute(
            "UPDATE attempts SET state = ?3, reason = ?4, blamed_node = ?5, blamed_rank = ?6, \
                 exit_code = ?7, signal = ?8, ended_at = ?9 \
             WHERE job_id = ?1 AND number = ?2",
            params![
                job.as_str(),
                number,
                end.state,
                end.reason,
                end.blamed_node,
                end.blamed_rank,
                code,
                signal,
                ms(end.ended_at),
            ],
        )?;
        if n == 0 {
            return Err(attempt_not_found(job, number));
        }
        self.touch(job, end.ended_at)?;
        tracing::debug!(job = %job, attempt = number, state = %end.state, "attempt ended");
        Ok(())
    }

    /// Records progress of the attempt at `at`: sets the first progress time once, moves the
    /// last one forward, and keeps the highest `step` (a lagging rank's lower step is ignored,
    /// so callers need not keep the maximum).
    ///
    /// Progress can come with every output line; the driver should coalesce it (say, one
    /// write per attempt per second) rather than write each one.
    pub fn record_progress(
        &self,
        job: &JobId,
        attempt: u32,
        step: Option<u64>,
        at: Millis,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE attempts SET \
                 first_progress_at = COALESCE(first_progress_at, ?4), \
                 last_progress_at = MAX(COALESCE(last_progress_at, ?4), ?4), \
                 last_step = CASE WHEN ?3 IS NULL THEN last_step \
                                  ELSE MAX(COALESCE(last_step, ?3), ?3) END \
             WHERE job_id = ?1 AND number = ?2",
            params![job.as_str(), attempt, step.map(step_to_sql), ms(at)],
        )?;
        if n == 0 {
            return Err(attempt_not_found(job, attempt));
        }
        Ok(())
    }

    /// Records that a checkpoint of `step` was seen during the attempt (shown by
    /// `trainyard show`; goodput does not use it).
    pub fn record_checkpoint(
        &self,
        job: &JobId,
        attempt: u32,
        step: u64,
        at: Millis,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE attempts SET checkpoint_step = ?3, checkpoint_at = ?4 \
             WHERE job_id = ?1 AND number = ?2",
            params![job.as_str(), attempt, step_to_sql(step), ms(at)],
        )?;
        if n == 0 {
            return Err(attempt_not_found(job, attempt));
        }
        Ok(())
    }

    /// Bumps the job's `updated_at`, so `ps` can sort and show recent activity.
    pub(crate) fn touch(&self, job: &JobId, now: Millis) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET updated_at = MAX(updated_at, ?2) WHERE id = ?1",
            params![job.as_str(), ms(now)],
        )?;
        Ok(())
    }
}

impl Reader<'_> {
    /// The job's attempts, first to last.
    pub fn attempts(&self, job: &JobId) -> Result<Vec<Attempt>> {
        let sql =
            format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_id = ?1 ORDER BY number");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([job.as_str()], attempt_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
