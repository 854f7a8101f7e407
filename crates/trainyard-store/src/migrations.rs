//! The schema, as an ordered list of migrations, and the code that applies them.
//!
//! The schema version is SQLite's `PRAGMA user_version`: 0 for a new file, `n` after the first
//! `n` migrations. Migrations are append-only: never edit one that has shipped, add the next.
//! Each runs in its own `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
//! mid-migration leaves the previous version intact, and two processes opening a fresh file at
//! once serialize instead of both creating tables.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Migration `i` (0-based) takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the tables of docs/supervisor.md.
    r#"
    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY NOT NULL,
        name            TEXT NOT NULL,
        spec_toml       TEXT NOT NULL,
        state           TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        finished_at     INTEGER,
        supervisor_pid  INTEGER,
        heartbeat_at    INTEGER,
        job_dir         TEXT NOT NULL,
        reason          TEXT
    ) STRICT;
    CREATE INDEX jobs_by_name ON jobs (name, created_at);
    CREATE INDEX jobs_by_state ON jobs (state);

    CREATE TABLE attempts (
        job_id          TEXT NOT NULL REFERENCES jobs (id),
        number          INTEGER NOT NULL,
        state           TEXT NOT NULL,
        reason          TEXT,
        blamed_node     TEXT,
        blamed_rank     INTEGER,
        exit_code       INTEGER,
        signal          INTEGER,
        started_at      INTEGER NOT NULL,
        ended_at        INTEGER,
        nodes           TEXT NOT NULL,
        restart_count   INTEGER NOT NULL,
        last_step       INTEGER,
        PRIMARY KEY (job_id, number)
    ) STRICT;

    CREATE TABLE ranks (
        job_id          TEXT NOT NULL,
        attempt         INTEGER NOT NULL,
        rank            INTEGER NOT NULL,
        node            TEXT NOT NULL,
        local_rank      INTEGER NOT NULL,
        pid             INTEGER,
        started_at      INTEGER NOT NULL,
        ended_at        INTEGER,
        exit_code       INTEGER,
        signal          INTEGER,
        stdout_path     TEXT,
        stderr_path     TEXT,
        PRIMARY KEY (job_id, attempt, rank),
        FOREIGN KEY (job_id, attempt) REFERENCES attempts (job_id, number)
    ) STRICT;

    CREATE TABLE events (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id          TEXT NOT NULL REFERENCES jobs (id),
        at              INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        attempt         INTEGER,
        rank            INTEGER,
        node            TEXT,
        message         TEXT NOT NULL,
        data            TEXT
    ) STRICT;
    CREATE INDEX events_by_job ON events (job_id, id);

    CREATE TABLE node_verdicts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        node            TEXT NOT NULL,
        job_id          TEXT REFERENCES jobs (id),
        verdict         TEXT NOT NULL,
        reason          TEXT NOT NULL,
        at              INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX node_verdicts_by_node ON node_verdicts (node, id);
    "#,
    // 2: what `trainyard show`, `cancel` and lost detection need beyond version 1: the host of
    // the supervisor (a pid means nothing on another machine), cancel requests from the CLI, the
    // progress times goodput is computed from, the newest checkpoint; and triggers that make the event
    // log and verdict history append-only even for code that bypasses this crate.
    r#"
    ALTER TABLE jobs ADD COLUMN supervisor_host TEXT;
    ALTER TABLE jobs ADD COLUMN cancel_requested_at INTEGER;
    ALTER TABLE attempts ADD COLUMN first_progress_at INTEGER;
    ALTER TABLE attempts ADD COLUMN last_progress_at INTEGER;
    ALTER TABLE attempts ADD COLUMN checkpoint_step INTEGER;
    ALTER TABLE attempts ADD COLUMN checkpoint_at INTEGER;
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER node_verdicts_append_only_update BEFORE UPDATE ON node_verdicts
        BEGIN SELECT RAISE(ABORT, 'node verdicts are append-only'); END;
    "#,
    // 3: the backend's own id of an attempt (the Slurm job id), for `show` and `cancel`.
    r#"
    ALTER TABLE attempts ADD COLUMN backend_job TEXT;
    "#,
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads `PRAGMA user_version`.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the database up to [`SCHEMA_VERSION`], or refuses a newer one.
///
/// `path` only names the file in errors.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let migrate_err = |version: u32| {
        move |source: rusqlite::Error| Error::Migrate {
            path: path.to_owned(),
            version,
            source,
        }
    };
    // Cheap check first, so readers of an up-to-date file never take the write lock.
    let found = version(conn).map_err(migrate_err(0))?;
    check_not_newer(found, path)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(migrate_err(target))?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = version(&tx).map_err(migrate_err(target))?;
        check_not_newer(current, path)?;
        if current >= target {
            continue;
        }
        tx.execute_batch(sql).map_err(migrate_err(target))?;
        // user_version lives in the file header, which is part of the transaction.
        tx.pragma_update(None, "user_version", target)
            .map_err(migrate_err(target))?;
        tx.commit().map_err(migrate_err(target))?;
        tracing::info!(db = %path.display(), version = target, "migrated job database");
    }
    Ok(())
}

fn check_not_newer(found: u32, path: &Path) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
