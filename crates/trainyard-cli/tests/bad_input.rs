//! Bad input through the real binary: truncated dumps, random bytes, a hex dump with a
//! missing row, an overlong line, an empty file, a missing file, a directory.
//!
//! The contract (DESIGN.md, "Bad input"): exit code 2, a message on stderr naming the file
//! and, where there is one, the line; never a panic; and every good device in the same input
//! still printed on stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two real devices (a root port and its neighbour) from the corpus, text and hex rows.
const HEX_CORPUS: &str = "linuxpci-2019-12-arm-n1sdp-plx-pex8749-vvv-xxx.txt";

fn corpus(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first `n` devices of an lspci dump (each starts at a column-0 address line).
fn first_devices(text: &str, n: usize) -> String {
    let mut out = String::new();
    let mut seen = 0;
    for line in text.lines() {
        let header = !line.starts_with(char::is_whitespace)
            && line.contains(' ')
            && line.split(' ').next().is_some_and(|t| t.contains('.'));
        if header {
            seen += 1;
            if seen > n {
                break;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Two good devices with hex rows: `0000:00:00.0` and `0000:01:00.0`.
fn two_hex_devices() -> String {
    let text = first_devices(&corpus(&format!("hex/{HEX_CORPUS}")), 2);
    assert!(text.contains("0000:00:00.0") && text.contains("0000:01:00.0"));
    text
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn trainyard(args: &[&str], file: &Path) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(args)
        .arg(file)
        .env("NO_COLOR", "1")
        .output()
        .expect("run trainyard");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Checks the common contract and returns the run for further checks.
fn bad(cmd: &str, file: &Path, line: Option<usize>) -> Run {
    let r = trainyard(&["pci", cmd, "--format", "fields"], file);
    let what = format!("trainyard pci {cmd} {}", file.display());
    assert!(
        !r.stderr.contains("panicked"),
        "{what} panicked:\n{}",
        r.stderr
    );
    assert_eq!(r.code, Some(2), "{what}: exit code; stderr:\n{}", r.stderr);
    let name = file.display().to_string();
    assert!(
        r.stderr.contains(&name),
        "{what}: stderr does not name the file:\n{}",
        r.stderr
    );
    if let Some(l) = line {
        assert!(
            r.stderr.contains(&format!("{name}:{l}:")),
            "{what}: stderr does not name line {l}:\n{}",
            r.stderr
        );
    }
    r
}

/// Asserts that fields of `addresses` appear on stdout.
fn has_devices(r: &Run, addresses: &[&str]) {
    for a in addresses {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(&format!("{a}\t"))),
            "device {a} missing from stdout:\n{}",
            r.stdout
        );
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

/// Deterministic noise (xorshift), so a failure reproduces.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn truncated_text_dump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = two_hex_devices();
    // Cut in the middle of the last line: everything before is intact.
    let cut = &good[..good.len() - 10];
    let lines = cut.lines().count();
    let file = write(&dir, "cut.txt", cut);
    let r = bad("parse", &file, Some(lines));
    has_devices(&r, &["0000:00:00.0"]);
    // The same cut, decoded: the second device's last hex row is incomplete.
    let r = bad("decode", &file, Some(lines));
    has_devices(&r, &["0000:00:00.0"]);
}

#[test]
fn truncated_vvv_text_mid_capability() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = corpus("gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt");
    let cut = &text[..text.len() / 2];
    let cut = &cut[..cut.rfind('\n').expect("newline") + 8];
    let file = write(&dir, "half.txt", cut);
    let r = bad("parse", &file, Some(cut.lines().count()));
    assert!(r.stdout.lines().count() > 100, "{}", r.stdout);
}

#[test]
fn random_bytes_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(&dir, "noise.bin", random_bytes(5000));
    let r = bad("parse", &file, None);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    bad("decode", &file, None);
}

#[test]
fn random_bytes_between_good_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = two_hex_devices();
    let first_len = first_devices(&good, 1).len();
    let mut bytes = good.as_bytes()[..first_len].to_vec();
    let noise_line = good[..first_len].lines().count() + 1;
    let mut noise = random_bytes(300);
    noise.retain(|&b| b != b'\n');
    noise.push(b'\n');
    bytes.extend_from_slice(&noise);
    bytes.extend_from_slice(&good.as_bytes()[first_len..]);
    let file = write(&dir, "noisy.txt", &bytes);
    let r = bad("parse", &file, Some(noise_line));
    has_devices(&r, &["0000:00:00.0", "0000:01:00.0"]);
    let r = bad("decode", &file, Some(noise_line));
    has_devices(&r, &["0000:00:00.0", "0000:01:00.0"]);
}

#[test]
fn hex_dump_with_a_missing_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = two_hex_devices();
    // Drop the first device's `20:` row.
    let lines: Vec<&str> = good.lines().collect();
    let gone = lines
        .iter()
        .position(|l| l.starts_with("20: "))
        .expect("a 20: row");
    let text: String = lines
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != gone)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let file = write(&dir, "missing-row.txt", text);
    // The `30:` row now sits on the removed row's line number.
    let r = bad("decode", &file, Some(gone + 1));
    has_devices(&r, &["0000:01:00.0"]);
    assert!(
        !r.stdout.contains("0000:00:00.0\t"),
        "a device with a hole in its config space must not be decoded"
    );
    // The text parser still has the -vvv lines of both devices, and flags the hex rows.
    let r = bad("parse", &file, Some(gone + 1));
    has_devices(&r, &["0000:00:00.0", "0000:01:00.0"]);
}

#[test]
fn ten_thousand_character_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = two_hex_devices();
    let first_len = first_devices(&good, 1).len();
    let long_line_no = good[..first_len].lines().count() + 1;
    let text = format!(
        "{}{}\n{}",
        &good[..first_len],
        "x".repeat(10_000),
        &good[first_len..]
    );
    let file = write(&dir, "long-line.txt", text);
    for cmd in ["parse", "decode"] {
        let r = bad(cmd, &file, Some(long_line_no));
        has_devices(&r, &["0000:00:00.0", "0000:01:00.0"]);
    }
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(&dir, "empty.txt", "");
    for cmd in ["parse", "decode"] {
        let r = bad(cmd, &file, None);
        assert!(r.stdout.is_empty(), "{cmd}: {}", r.stdout);
    }
}

#[test]
fn nonexistent_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("no-such-file.txt");
    for cmd in ["parse", "decode"] {
        bad(cmd, &file, None);
    }
}

#[test]
fn directory_instead_of_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in ["parse", "decode"] {
        bad(cmd, dir.path(), None);
    }
}

/// The JSON output stays one well-formed document when the input is bad, with the errors
/// inside it, so a script can read what was salvaged.
#[test]
fn json_output_stays_valid_on_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = two_hex_devices();
    let cut = &good[..good.len() - 10];
    let file = write(&dir, "cut.txt", cut);
    for cmd in ["parse", "decode"] {
        let r = trainyard(&["pci", cmd, "--json"], &file);
        assert_eq!(r.code, Some(2), "{cmd}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{cmd}: stdout is not JSON ({e}):\n{}", r.stdout));
        assert!(!v["devices"].as_array().expect("devices").is_empty());
        assert!(!v["errors"].as_array().expect("errors").is_empty());
    }
}
