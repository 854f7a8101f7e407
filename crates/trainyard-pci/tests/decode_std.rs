//! Conformance of the header and standard-capability renderers with pciutils.
//!
//! For every hex dump in the workspace corpus (`tests/data/hex`) and the synthetic dumps in
//! `tests/data/synthetic/std-*.txt` (written by `stdgen.py` beside them: random but
//! well-formed config spaces covering every PCIe port type and the small capabilities),
//! runs `lspci -D -F FILE -vvv` and compares, per device, the header lines and every
//! standard `Capabilities: [off]` block (title and lines, whitespace-normalized, with
//! their depth) with the decoder's rendering of the same bytes. Extended capabilities are
//! checked by `decode_ext.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::{hex_inputs, lspci_vvv, normalize};

use trainyard_pci::{decode_config, read_hex_dumps, CapabilitySpace, Device};

/// A device's header lines and standard capability blocks as `(depth, text)` lines, the
/// block title lines at depth 0 and their register lines one deeper.
type Lines = Vec<(usize, String)>;

/// True for a `Capabilities:` line of the extended list (`[100 v1]`).
fn is_extended(line: &str) -> bool {
    line.strip_prefix("Capabilities: [")
        .and_then(|rest| rest.split(']').next())
        .is_some_and(|inside| inside.contains(' '))
}

/// lspci's header and standard-capability lines, per device address.
fn lspci_lines(path: &Path) -> BTreeMap<String, Lines> {
    let text = lspci_vvv(path);
    let mut devices: BTreeMap<String, Lines> = BTreeMap::new();
    let mut current = String::new();
    let mut keep = true;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let tabs = line.len() - line.trim_start_matches('\t').len();
        if tabs == 0 {
            current = line.split_whitespace().next().unwrap_or("").to_string();
            devices.entry(current.clone()).or_default();
            keep = true;
            continue;
        }
        let body = line.trim();
        if tabs == 1 {
            keep = !(is_extended(body) || body.starts_with("Kernel "));
        }
        if keep {
            devices
                .get_mut(&current)
                .unwrap()
                .push((tabs - 1, normalize(body)));
        }
    }
    devices
}

/// Our rendering of the same lines.
fn our_lines(dev: &Device) -> Lines {
    let mut out: Lines = dev
        .header
        .iter()
        .map(|l| (usize::from(l.depth), normalize(&l.text)))
        .collect();
    for cap in &dev.capabilities {
        if cap.space != CapabilitySpace::Standard {
            continue;
        }
        let head = if cap.id.is_none() && cap.offset == 0 {
            format!("Capabilities: {}", cap.title)
        } else {
            format!("Capabilities: [{:02x}] {}", cap.offset, cap.title)
        };
        out.push((0, normalize(&head)));
        out.extend(
            cap.lines
                .iter()
                .map(|l| (1 + usize::from(l.depth), normalize(&l.text))),
        );
    }
    out
}

#[test]
fn header_and_standard_capabilities_match_lspci() {
    let mut failures = Vec::new();
    let mut devices = 0;
    for path in hex_inputs("std-") {
        let theirs = lspci_lines(&path);
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        let (dumps, _) = read_hex_dumps(&text);
        for dump in dumps {
            let key = dump.address.to_string();
            let Some(expected) = theirs.get(&key) else {
                continue;
            };
            let dev = match decode_config(dump.address, &dump.bytes) {
                Ok(dev) => dev,
                Err(e) => {
                    failures.push(format!("{} {key}: decode error {e}", path.display()));
                    continue;
                }
            };
            devices += 1;
            let ours = our_lines(&dev);
            if &ours != expected {
                let mut msg = format!("{} {key}:\n", path.display());
                let n = ours.len().max(expected.len());
                for i in 0..n {
                    let (a, b) = (expected.get(i), ours.get(i));
                    if a != b {
                        msg.push_str(&format!("  lspci: {a:?}\n  ours:  {b:?}\n"));
                    }
                }
                failures.push(msg);
            }
        }
    }
    assert!(devices > 250, "only {devices} devices compared");
    assert!(
        failures.is_empty(),
        "{} devices differ from lspci:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
