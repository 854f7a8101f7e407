//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use trainyard_store::{Job, Millis, NewAttempt, NewJob, Store};

/// 2026-11-28T15:30:12Z, a fixed "now" for tests that do not need the real clock.
pub const T0: Millis = Millis(1_795_879_812_000);

/// `t` plus `ms` milliseconds.
pub fn at(t: Millis, ms: u64) -> Millis {
    Millis(t.0 + ms)
}

/// A job named `name`, created at `created_at`, supervised by this test process.
pub fn job(store: &mut Store, name: &str, created_at: Millis) -> Job {
    store
        .create_job(&NewJob {
            name,
            spec_toml: &format!("name = \"{name}\"\ncommand = [\"true\"]\n"),
            created_at,
            supervisor_pid: Some(std::process::id()),
        })
        .unwrap()
}

/// Starts attempt `number` on two local nodes at `started_at`.
pub fn attempt(store: &mut Store, job: &Job, number: u32, started_at: Millis) {
    let nodes = ["local-0".to_owned(), "local-1".to_owned()];
    store
        .start_attempt(
            &job.id,
            &NewAttempt {
                number,
                nodes: &nodes,
                restart_count: number - 1,
                started_at,
            },
        )
        .unwrap();
}
