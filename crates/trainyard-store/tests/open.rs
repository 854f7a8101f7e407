//! Opening the database: location, pragmas, migrations, version checks.
#![allow(clippy::unwrap_used)] // A test that cannot read its own data should fail loudly.

mod common;

use std::ffi::OsString;
use std::path::PathBuf;

use common::T0;
use trainyard_store::{
    db_path, home_from, AttemptState, Error, JobId, JobState, Liveness, Store, SCHEMA_VERSION,
};

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |key| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| OsString::from(v))
    }
}

#[test]
fn home_prefers_trainyard_home_then_xdg_then_home() {
    let all = [
        ("TRAINYARD_HOME", "/ty"),
        ("XDG_DATA_HOME", "/xdg"),
        ("HOME", "/home/u"),
    ];
    assert_eq!(home_from(env(&all)).unwrap(), PathBuf::from("/ty"));
    assert_eq!(
        home_from(env(&all[1..])).unwrap(),
        PathBuf::from("/xdg/trainyard")
    );
    assert_eq!(
        home_from(env(&all[2..])).unwrap(),
        PathBuf::from("/home/u/.local/share/trainyard")
    );
    // Empty means unset (XDG spec).
    assert_eq!(
        home_from(env(&[("TRAINYARD_HOME", ""), ("HOME", "/h")])).unwrap(),
        PathBuf::from("/h/.local/share/trainyard")
    );
    assert!(matches!(home_from(env(&[])), Err(Error::NoHome)));
}

#[test]
fn open_creates_home_and_sets_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("nested").join("home");
    let store = Store::open(&home).unwrap();
    assert_eq!(store.path(), db_path(&home));
    assert!(home.join("trainyard.db").is_file());

    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn foreign_keys_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let nodes = ["n".to_owned()];
    let err = store
        .start_attempt(
            &JobId::from("j-no-such-job"),
            &trainyard_store::NewAttempt {
                number: 1,
                nodes: &nodes,
                restart_count: 0,
                started_at: T0,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[test]
fn reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let job = common::job(&mut store, "a", T0);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.job(&job.id).unwrap().unwrap().name, "a");
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);

    let err = Store::open(dir.path()).err().unwrap();
    assert!(
        matches!(err, Error::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("newer than this trainyard supports"), "{msg}");
    assert!(msg.contains("trainyard.db"), "{msg}");
}

#[test]
fn version_1_database_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    conn.execute_batch(include_str!("fixtures/schema-v1.sql"))
        .unwrap();
    drop(conn);

    let mut store = Store::open(dir.path()).unwrap();
    let id = JobId::from("j-20261101-080000-beef");
    let attempts = store.attempts(&id).unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].state, AttemptState::Failed);
    assert_eq!(attempts[0].last_step, Some(40));
    assert_eq!(attempts[0].first_progress_at, None);
    assert_eq!(attempts[1].nodes, ["local-0", "local-1"]);
    assert_eq!(store.events(&id, None).unwrap().len(), 2);
    assert_eq!(store.bad_nodes().unwrap(), ["local-0"]);

    // Version-2 features work on the migrated data: cancel requests, progress times, lost.
    store.request_cancel(&id, T0).unwrap();
    store
        .record_progress(&id, 2, Some(13), common::at(T0, 1))
        .unwrap();
    let job = store
        .find_job("old-job", T0, &Liveness::default())
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Lost);
    assert_eq!(job.cancel_requested_at, Some(T0));
    let version: u32 = rusqlite::Connection::open(db_path(dir.path()))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn failed_migration_leaves_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    conn.execute_batch(include_str!("fixtures/schema-v1.sql"))
        .unwrap();
    // A column migration 2 adds already exists: migration 2 must fail as a whole.
    conn.execute_batch("ALTER TABLE jobs ADD COLUMN cancel_requested_at INTEGER;")
        .unwrap();
    drop(conn);

    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, Error::Migrate { version: 2, .. }), "{err:?}");
    let conn = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    // Nothing of migration 2 was kept.
    let has_host: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('jobs') WHERE name = 'supervisor_host')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!has_host);
}

#[test]
fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let home = home.clone();
            std::thread::spawn(move || Store::open(&home).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
}
