//! Every rank floods stdout and stderr at 10,000 lines per second: nothing is lost, nothing
//! deadlocks. In its own test binary so the flood's CPU use does not starve the timing-sensitive
//! tests (hang detection) that `cargo test` runs in parallel within a binary.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Instant;

use common::*;
use trainyard_job::FinalState;

#[test]
fn ten_thousand_lines_per_second_per_rank_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_rank();
    let (rate, secs, ranks) = (10_000u64, 2u64, 4u32);
    let spec = spec(&["python3", &fake, "--flood", "10000", "2"], 2, 2);
    let rec = Recorder::default();
    let lines = Lines::default();
    let started = Instant::now();
    let outcome = driver(spec, dir.path(), rec, Some(&lines)).run().unwrap();
    println!("flood run took {:?}", started.elapsed());
    assert_eq!(outcome.state, FinalState::Succeeded, "{outcome:?}");
    let per_stream = rate * secs;
    for rank in 0..ranks {
        for ext in ["out", "err"] {
            let text = std::fs::read_to_string(rank_log(dir.path(), 1, rank, ext)).unwrap();
            let count = text.lines().count() as u64;
            assert_eq!(count, per_stream, "rank {rank} .{ext}");
            let last = format!("rank {rank} {ext} line {} of {per_stream}", per_stream - 1);
            assert_eq!(text.lines().last(), Some(last.as_str()));
        }
    }
    assert_eq!(lines.all().len() as u64, per_stream * 2 * u64::from(ranks));
}
