//! Replays every saved fuzz input (crashes the fuzzers found, and hand-made nasty inputs)
//! through the same code the fuzz targets run. The property is only "returns normally":
//! a panic in the parser or decoder fails the test.
//!
//! Inputs live in `tests/data/fuzz-regressions/<target>/`, one file each; add a file there
//! whenever `cargo fuzz` finds a crash (see `docs/fuzzing.md`).

mod support;

use std::path::{Path, PathBuf};

use support::fuzz_harness;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    // Guards against the folder being emptied or moved: the seeds are part of the test.
    assert!(
        files.len() >= 5,
        "{}: only {} inputs",
        dir.display(),
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Runs `run` on every input of `target`, naming the input that panicked.
fn replay(target: &str, run: fn(&[u8])) {
    let mut failed = Vec::new();
    for (path, bytes) in inputs(target) {
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} panicked on: {failed:#?}");
}

#[test]
fn lspci_text_inputs_do_not_panic() {
    replay("lspci_text", fuzz_harness::lspci_text);
}

#[test]
fn hex_dump_inputs_do_not_panic() {
    replay("hex_dump", fuzz_harness::hex_dump);
}

#[test]
fn config_space_inputs_do_not_panic() {
    replay("config_space", fuzz_harness::config_space);
}

/// Every text-ish input is also worth throwing at the other text front end: the fuzzers
/// keep separate corpora, but a file that hurts one reader is a good test for the other.
#[test]
fn text_inputs_cross_over() {
    for target in ["lspci_text", "hex_dump"] {
        for (_, bytes) in inputs(target) {
            fuzz_harness::lspci_text(&bytes);
            fuzz_harness::hex_dump(&bytes);
            fuzz_harness::config_space(&bytes);
        }
    }
}
