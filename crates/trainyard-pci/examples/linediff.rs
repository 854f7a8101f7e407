//! Development aid: decode every device of a hex dump and print our rendering beside
//! pciutils' (`lspci -F FILE -vvv`), as a unified diff of whitespace-normalized lines.
//!
//! `cargo run -p trainyard-pci --example linediff -- tests/data/hex/FILE.txt`
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    missing_docs
)]

use std::process::Command;

fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| {
            let depth = l.len() - l.trim_start_matches('\t').len();
            format!(
                "{}{}",
                "  ".repeat(depth),
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: linediff FILE");
    let text = std::fs::read_to_string(&path).unwrap();
    let (dumps, errors) = trainyard_pci::read_hex_dumps(&text);
    for e in errors {
        eprintln!("hexdump error: {e}");
    }
    let mut ours = String::new();
    for d in dumps {
        match trainyard_pci::decode_config(d.address, &d.bytes) {
            Ok(dev) => trainyard_pci::render::render_device(&dev, &mut ours),
            Err(e) => ours.push_str(&format!("{} decode error: {e}\n", d.address)),
        }
        ours.push('\n');
    }
    let theirs = Command::new("lspci")
        .args(["-O", "hwdb.disable=1", "-D", "-F", &path, "-vvv"])
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    let dir = std::env::temp_dir();
    let a = dir.join("linediff-lspci.txt");
    let b = dir.join("linediff-ours.txt");
    std::fs::write(&a, normalize(&theirs) + "\n").unwrap();
    std::fs::write(&b, normalize(&ours) + "\n").unwrap();
    let status = Command::new("diff")
        .args(["-u"])
        .arg(&a)
        .arg(&b)
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(2));
}
