//! The `events` table: the job's append-only history, what `trainyard show` tells.
//!
//! Rows are only ever inserted: there is no update or delete API, and triggers (schema
//! version 2) abort any `UPDATE` or `DELETE` on the table.

use rusqlite::{params, Row};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::{from_ms, ms, JobId, Millis};
use crate::{Reader, Writer};

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// When it happened.
    pub at: Millis,
    /// What kind of event, a short snake_case word chosen by the supervisor
    /// (`attempt_started`, `rank_exited`, `hang_detected`, ...).
    pub kind: &'a str,
    /// The attempt it concerns.
    pub attempt: Option<u32>,
    /// The rank it concerns.
    pub rank: Option<u32>,
    /// The node it concerns.
    pub node: Option<&'a str>,
    /// One line for people.
    pub message: &'a str,
    /// Anything structured, stored as JSON text.
    pub data: Option<&'a serde_json::Value>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Its position in the whole log: increasing, never reused.
    pub id: i64,
    /// The job.
    pub job_id: JobId,
    /// When it happened.
    pub at: Millis,
    /// Its kind.
    pub kind: String,
    /// The attempt it concerns.
    pub attempt: Option<u32>,
    /// The rank it concerns.
    pub rank: Option<u32>,
    /// The node it concerns.
    pub node: Option<String>,
    /// One line for people.
    pub message: String,
    /// Structured detail.
    pub data: Option<serde_json::Value>,
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let data = match row.get::<_, Option<String>>(8)? {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?),
    };
    Ok(Event {
        id: row.get(0)?,
        job_id: JobId(row.get(1)?),
        at: from_ms(row.get(2)?),
        kind: row.get(3)?,
        attempt: row.get(4)?,
        rank: row.get(5)?,
        node: row.get(6)?,
        message: row.get(7)?,
        data,
    })
}

impl Writer<'_> {
    /// Appends an event and returns its id.
    pub fn append_event(&self, job: &JobId, event: &NewEvent<'_>) -> Result<i64> {
        let data = event
            .data
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Corrupt {
                what: format!("event data not encodable: {e}"),
            })?;
        self.conn.execute(
            "INSERT INTO events (job_id, at, kind, attempt, rank, node, message, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                job.as_str(),
                ms(event.at),
                event.kind,
                event.attempt,
                event.rank,
                event.node,
                event.message,
                data,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }
}

impl Reader<'_> {
    /// The job's events in order, those with an id above `after` when given (to follow the
    /// log: pass the last id seen).
    pub fn events(&self, job: &JobId, after: Option<i64>) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, job_id, at, kind, attempt, rank, node, message, data FROM events \
             WHERE job_id = ?1 AND id > ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![job.as_str(), after.unwrap_or(0)], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Writer<'_> {
    /// Appends one of the supervisor's history entries ([`trainyard_job::JobEvent`]): its
    /// kind's stable name, attempt, rank, node and message go in their columns, the rest (pid,
    /// exit status, step, stderr tail) in `data`.
    pub fn record_job_event(&self, job: &JobId, event: &trainyard_job::JobEvent) -> Result<i64> {
        let mut data = serde_json::to_value(event).map_err(|e| Error::Corrupt {
            what: format!("job event not encodable: {e}"),
        })?;
        if let Some(fields) = data.as_object_mut() {
            for column in ["at", "kind", "attempt", "rank", "node", "message"] {
                fields.remove(column);
            }
        }
        let data = data
            .as_object()
            .is_some_and(|f| !f.is_empty())
            .then_some(data);
        self.append_event(
            job,
            &NewEvent {
                at: event.at,
                kind: event.kind.as_str(),
                attempt: event.attempt,
                rank: event.rank,
                node: event.node.as_deref(),
                message: &event.message,
                data: data.as_ref(),
            },
        )
    }
}
