//! The `node_verdicts` table: the history of what trainyard decided about each node.

use rusqlite::{params, Row};
use serde::Serialize;

use crate::error::Result;
use crate::types::{from_ms, ms, JobId, Millis, Verdict};
use crate::{Reader, Writer};

/// A verdict about a node, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeVerdict {
    /// The node.
    pub node: String,
    /// The job whose supervisor reached it, if any (an operator's verdict has none).
    pub job_id: Option<JobId>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// When.
    pub at: Millis,
}

fn verdict_from_row(row: &Row<'_>) -> rusqlite::Result<NodeVerdict> {
    Ok(NodeVerdict {
        node: row.get(0)?,
        job_id: row.get::<_, Option<String>>(1)?.map(JobId),
        verdict: row.get(2)?,
        reason: row.get(3)?,
        at: from_ms(row.get(4)?),
    })
}

impl Writer<'_> {
    /// Appends a verdict; the node's newest verdict is the one in force.
    pub fn record_node_verdict(&self, verdict: &NodeVerdict) -> Result<()> {
        self.conn.execute(
            "INSERT INTO node_verdicts (node, job_id, verdict, reason, at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                verdict.node,
                verdict.job_id.as_ref().map(JobId::as_str),
                verdict.verdict,
                verdict.reason,
                ms(verdict.at),
            ],
        )?;
        tracing::info!(node = %verdict.node, verdict = %verdict.verdict, reason = %verdict.reason, "node verdict");
        Ok(())
    }
}

impl Reader<'_> {
    /// Every verdict, oldest first; only `node`'s when given.
    pub fn node_verdicts(&self, node: Option<&str>) -> Result<Vec<NodeVerdict>> {
        let mut stmt = self.conn.prepare(
            "SELECT node, job_id, verdict, reason, at FROM node_verdicts \
             WHERE ?1 IS NULL OR node = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([node], verdict_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Nodes whose newest verdict is [`Verdict::Bad`], sorted by name.
    pub fn bad_nodes(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT node FROM node_verdicts AS v \
             WHERE id = (SELECT MAX(id) FROM node_verdicts WHERE node = v.node) AND verdict = ?1 \
             ORDER BY node",
        )?;
        let rows = stmt.query_map([Verdict::Bad], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
