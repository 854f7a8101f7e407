//! The `ranks` table: one row per process of an attempt.

use std::path::{Path, PathBuf};

use rusqlite::{params, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{exit_columns, exit_from_columns, from_ms, ms, ExitStatus, JobId, Millis};
use crate::{Reader, Writer};

/// A rank as the driver started it.
#[derive(Debug, Clone)]
pub struct RankStart<'a> {
    /// Its attempt.
    pub attempt: u32,
    /// Its global rank (`RANK`).
    pub rank: u32,
    /// Its node.
    pub node: &'a str,
    /// Its rank on the node (`LOCAL_RANK`).
    pub local_rank: u32,
    /// Its process id (on the node), when the backend knows it.
    pub pid: Option<u32>,
    /// When it started.
    pub started_at: Millis,
    /// Where its stdout goes.
    pub stdout_path: Option<&'a Path>,
    /// Where its stderr goes.
    pub stderr_path: Option<&'a Path>,
}

/// A rank as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rank {
    /// The job.
    pub job_id: JobId,
    /// Its attempt.
    pub attempt: u32,
    /// Its global rank.
    pub rank: u32,
    /// Its node.
    pub node: String,
    /// Its rank on the node.
    pub local_rank: u32,
    /// Its process id.
    pub pid: Option<u32>,
    /// When it started.
    pub started_at: Millis,
    /// When it exited; `None` while running (or if its supervisor was lost).
    pub ended_at: Option<Millis>,
    /// How it exited.
    pub exit: Option<ExitStatus>,
    /// Its stdout file.
    pub stdout_path: Option<PathBuf>,
    /// Its stderr file.
    pub stderr_path: Option<PathBuf>,
}

const RANK_COLUMNS: &str = "job_id, attempt, rank, node, local_rank, pid, started_at, ended_at, \
     exit_code, signal, stdout_path, stderr_path";

fn rank_from_row(row: &Row<'_>) -> rusqlite::Result<Rank> {
    Ok(Rank {
        job_id: JobId(row.get(0)?),
        attempt: row.get(1)?,
        rank: row.get(2)?,
        node: row.get(3)?,
        local_rank: row.get(4)?,
        pid: row.get(5)?,
        started_at: from_ms(row.get(6)?),
        ended_at: row.get::<_, Option<i64>>(7)?.map(from_ms),
        exit: exit_from_columns(row.get(8)?, row.get(9)?),
        stdout_path: row.get::<_, Option<String>>(10)?.map(PathBuf::from),
        stderr_path: row.get::<_, Option<String>>(11)?.map(PathBuf::from),
    })
}

impl Writer<'_> {
    /// Records a started rank. Its attempt must have been started.
    pub fn rank_started(&self, job: &JobId, start: &RankStart<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO ranks (job_id, attempt, rank, node, local_rank, pid, started_at, \
                 stdout_path, stderr_path) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                job.as_str(),
                start.attempt,
                start.rank,
                start.node,
                start.local_rank,
                start.pid,
                ms(start.started_at),
                start.stdout_path.map(|p| p.to_string_lossy()),
                start.stderr_path.map(|p| p.to_string_lossy()),
            ],
        )?;
        Ok(())
    }

    /// Records how a rank exited.
    pub fn rank_exited(
        &self,
        job: &JobId,
        attempt: u32,
        rank: u32,
        exit: ExitStatus,
        at: Millis,
    ) -> Result<()> {
        let (code, signal) = exit_columns(Some(exit));
        let n = self.conn.execute(
            "UPDATE ranks SET exit_code = ?4, signal = ?5, ended_at = ?6 \
             WHERE job_id = ?1 AND attempt = ?2 AND rank = ?3",
            params![job.as_str(), attempt, rank, code, signal, ms(at)],
        )?;
        if n == 0 {
            return Err(Error::NotFound {
                what: format!("rank {rank} of attempt {attempt} of job {job}"),
            });
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// The job's ranks, by attempt then rank; only those of `attempt` when given.
    pub fn ranks(&self, job: &JobId, attempt: Option<u32>) -> Result<Vec<Rank>> {
        let sql = format!(
            "SELECT {RANK_COLUMNS} FROM ranks WHERE job_id = ?1 AND (?2 IS NULL OR attempt = ?2) \
             ORDER BY attempt, rank"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![job.as_str(), attempt], rank_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
