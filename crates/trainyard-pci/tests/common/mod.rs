//! Shared support for the tests that hold the decoder to pciutils: the inputs and the oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Hex dumps to check: every real dump in the workspace corpus (`tests/data/hex`, not the
/// `.pciutils-vvv` renderings beside them) and the synthetic dumps of this crate whose names
/// start with `synthetic_prefix` (`""` for all of them).
pub fn hex_inputs(synthetic_prefix: &str) -> Vec<PathBuf> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = crate_dir.join("../../tests/data/hex");
    let synthetic = crate_dir.join("tests/data/synthetic");
    let mut files = Vec::new();
    for (dir, is_synthetic) in [(corpus, false), (synthetic, true)] {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let keep = if is_synthetic {
                name.starts_with(synthetic_prefix)
            } else {
                !name.contains(".pciutils-vvv")
            };
            if name.ends_with(".txt") && keep {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What the installed pciutils prints for `lspci -D -F FILE -vvv` (read as text; lspci can
/// print a stray non-UTF-8 byte, which becomes U+FFFD as in our own reader).
pub fn lspci_vvv(path: &Path) -> String {
    let out = Command::new("lspci")
        // Names come from pci.ids only: with udev installed, lspci would otherwise take some
        // names from udev's hwdb, which the decoder (and a machine without udev) does not have.
        .args(["-O", "hwdb.disable=1", "-D", "-F"])
        .arg(path)
        .arg("-vvv")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `lspci` ({e}): pciutils is the oracle of this test; install it (apt-get install -y pciutils), as .ci/run does")
        });
    assert!(
        out.status.success(),
        "lspci -F {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Collapses runs of whitespace, so that tabs and double spaces compare equal.
pub fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
