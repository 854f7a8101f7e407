//! Conformance of the extended-capability renderers with pciutils.
//!
//! For every hex dump in the workspace corpus (`tests/data/hex`) and the synthetic dumps in
//! `tests/data/synthetic/ext-*.txt` (written by `extgen.py` beside them), runs
//! `lspci -D -F FILE -vvv` and compares each `Capabilities: [off vN]` block, title and lines,
//! whitespace-normalized, with the decoder's rendering of the same bytes. Standard
//! capabilities and header lines are checked elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::{hex_inputs, lspci_vvv, normalize};

use trainyard_pci::{decode_config, read_hex_dumps, CapabilitySpace};

/// One extended capability block: header text and `(depth, text)` lines, normalized.
type Block = (String, Vec<(usize, String)>);

/// lspci's extended capability blocks, per device address.
fn lspci_blocks(path: &Path) -> BTreeMap<String, Vec<Block>> {
    let text = lspci_vvv(path);
    let mut devices: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    let mut current = String::new();
    let mut in_ext = false;
    for line in text.lines() {
        if !line.starts_with('\t') && !line.is_empty() {
            current = line.split_whitespace().next().unwrap_or("").to_string();
            devices.entry(current.clone()).or_default();
            in_ext = false;
            continue;
        }
        let tabs = line.len() - line.trim_start_matches('\t').len();
        if tabs == 1 {
            in_ext = false;
            let rest = &line[1..];
            if let Some(head) = rest.strip_prefix("Capabilities: [") {
                if head.split(']').next().is_some_and(|h| h.contains(" v")) {
                    in_ext = true;
                    devices
                        .entry(current.clone())
                        .or_default()
                        .push((normalize(rest), Vec::new()));
                }
            }
        } else if tabs >= 2 && in_ext {
            if let Some(block) = devices.get_mut(&current).and_then(|b| b.last_mut()) {
                block.1.push((tabs - 2, normalize(line)));
            }
        }
    }
    devices
}

/// Our extended capability blocks, per device address.
fn our_blocks(path: &Path) -> BTreeMap<String, Vec<Block>> {
    let text = std::fs::read_to_string(path).unwrap();
    let (dumps, _errors) = read_hex_dumps(&text);
    let mut devices = BTreeMap::new();
    for d in dumps {
        let Ok(dev) = decode_config(d.address, &d.bytes) else {
            continue;
        };
        let blocks = dev
            .capabilities
            .iter()
            .filter(|c| c.space == CapabilitySpace::Extended)
            .map(|c| {
                let head = normalize(&format!(
                    "Capabilities: [{:03x} v{}] {}",
                    c.offset,
                    c.version.unwrap_or(0),
                    c.title
                ));
                let lines = c
                    .lines
                    .iter()
                    .map(|l| (l.depth as usize, normalize(&l.text)))
                    .collect();
                (head, lines)
            })
            .collect();
        devices.insert(dev.address.to_string(), blocks);
    }
    devices
}

fn show(block: &Block) -> String {
    let mut s = block.0.clone();
    for (depth, text) in &block.1 {
        s.push_str(&format!("\n  {}{text}", "  ".repeat(*depth)));
    }
    s
}

#[test]
fn extended_capabilities_match_lspci() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for path in hex_inputs("ext-") {
        let theirs = lspci_blocks(&path);
        let ours = our_blocks(&path);
        for (addr, their_blocks) in &theirs {
            let empty = Vec::new();
            let our_blocks = ours.get(addr).unwrap_or(&empty);
            let n = their_blocks.len().max(our_blocks.len());
            for i in 0..n {
                compared += 1;
                match (their_blocks.get(i), our_blocks.get(i)) {
                    (Some(t), Some(o)) if t == o => {}
                    (t, o) => failures.push(format!(
                        "{} {addr}\n--- lspci:\n{}\n+++ ours:\n{}",
                        path.file_name().unwrap().to_string_lossy(),
                        t.map(show).unwrap_or_else(|| "(none)".into()),
                        o.map(show).unwrap_or_else(|| "(none)".into())
                    )),
                }
            }
        }
    }
    assert!(compared > 0, "no extended capabilities compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} extended capability blocks differ from lspci:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
