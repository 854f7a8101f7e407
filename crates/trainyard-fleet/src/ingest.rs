//! Reading nodes from any input trainyard accepts, recognised by content: a snapshot (JSON),
//! `lspci` text (any verbosity, with or without hex rows, pdsh prefixes), an `lspci -x` hex
//! dump, or a raw config-space file.
//!
//! Problems are collected beside the nodes, each with the line it was found on, so one bad
//! device or line never hides the rest of the input.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use trainyard_pci::text::{DiagnosticKind, LspciReader};
use trainyard_pci::{decode_config, Device, PciAddress};
use trainyard_snapshot::Snapshot;

use crate::node::{InputKind, Node};

/// Largest snapshot accepted: a 4096-byte config space per function, base64, for a few
/// thousand functions stays far below this.
const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// A problem in one part of an input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based line, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// True when data was lost (a device or line skipped); false for notes such as a
    /// `sudo` prompt in a pasted capture.
    pub lost_data: bool,
}

/// Everything read from one input.
#[derive(Debug, Default)]
pub struct Ingested {
    /// What the input was recognised as.
    pub kind: Option<InputKind>,
    /// Nodes, one per host (several for `pdsh` output).
    pub nodes: Vec<Node>,
    /// Problems, in input order.
    pub problems: Vec<Problem>,
    /// The input ends in the middle of a line: it was cut, and its nodes lack whatever came
    /// after the cut.
    pub truncated: bool,
}

impl Ingested {
    /// True when some of the input could not be used.
    pub fn lost_data(&self) -> bool {
        self.problems.iter().any(|p| p.lost_data)
    }
}

/// Why an input could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// A snapshot that does not parse or is too new.
    #[error(transparent)]
    Snapshot(#[from] trainyard_snapshot::SnapshotError),
    /// Binary data that is not a config space.
    #[error(
        "binary input of {0} bytes is neither a config space (64, 256 or 4096 bytes) nor text"
    )]
    NotConfigSpace(usize),
    /// A snapshot larger than any real one.
    #[error("input over {} MiB does not look like a snapshot", MAX_SNAPSHOT_BYTES >> 20)]
    TooLarge,
}

/// Reads one input. `default_name` names the node when the input does not (a file stem).
pub fn read_input<R: BufRead>(default_name: &str, mut input: R) -> Result<Ingested, IngestError> {
    let head = input.fill_buf()?;
    let peek = &head[..head.len().min(4096)];
    let text_head = String::from_utf8_lossy(peek);
    if Snapshot::sniff(&text_head) {
        let mut text = String::new();
        let n = input
            .take(MAX_SNAPSHOT_BYTES + 1)
            .read_to_string(&mut text)?;
        if n as u64 > MAX_SNAPSHOT_BYTES {
            return Err(IngestError::TooLarge);
        }
        let snapshot = Snapshot::from_json(&text)?;
        let (node, skipped) = Node::from_snapshot(snapshot, InputKind::Snapshot);
        let problems = skipped
            .into_iter()
            .map(|s| Problem {
                line: None,
                message: format!("PCI function {}: {}", s.address, s.reason),
                lost_data: true,
            })
            .collect();
        return Ok(Ingested {
            kind: Some(InputKind::Snapshot),
            nodes: vec![node],
            problems,
            truncated: false,
        });
    }
    let binary = peek.contains(&0)
        || std::str::from_utf8(&peek[..peek.len().min(512)])
            .is_err_and(|e| e.error_len().is_some());
    if binary {
        let mut bytes = Vec::with_capacity(4096);
        input.take(4097).read_to_end(&mut bytes)?;
        if !matches!(bytes.len(), 64 | 256 | 4096) {
            return Err(IngestError::NotConfigSpace(bytes.len()));
        }
        let mut out = Ingested {
            kind: Some(InputKind::RawConfig),
            ..Ingested::default()
        };
        match decode_config(PciAddress::default(), &bytes) {
            Ok(d) => out.nodes.push(Node::from_devices(
                default_name,
                InputKind::RawConfig,
                vec![d],
            )),
            Err(e) => out.problems.push(Problem {
                line: None,
                message: e.to_string(),
                lost_data: true,
            }),
        }
        return Ok(out);
    }
    Ok(read_text(default_name, input))
}

/// lspci text, with or without hex rows: devices that carry config bytes are decoded from
/// them (exact, independent of the lspci version), keeping what only the text has (driver,
/// modules, host).
fn read_text<R: BufRead>(default_name: &str, input: R) -> Ingested {
    let mut reader = LspciReader::new(input);
    let mut by_host: BTreeMap<Option<String>, Vec<Device>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut any_text = false;
    let mut any_hex = false;
    let mut truncated = false;
    for item in reader.by_ref() {
        match item {
            Ok(dev) => {
                let dev = match &dev.config {
                    Some(bytes) => {
                        any_hex = true;
                        match decode_config(dev.address, bytes) {
                            Ok(mut decoded) => {
                                decoded.host = dev.host.clone();
                                decoded.driver = dev.driver.clone();
                                decoded.kernel_modules = dev.kernel_modules.clone();
                                decoded.line = dev.line;
                                decoded
                            }
                            Err(e) => {
                                problems.push(Problem {
                                    line: dev.line,
                                    message: format!("{}: {e}; using its text", dev.address),
                                    lost_data: false,
                                });
                                dev
                            }
                        }
                    }
                    None => {
                        any_text = true;
                        dev
                    }
                };
                by_host.entry(dev.host.clone()).or_default().push(dev);
            }
            Err(e) => {
                truncated |= e.kind == trainyard_pci::text::ParseErrorKind::Truncated;
                problems.push(Problem {
                    line: Some(e.line),
                    message: e.kind.to_string(),
                    lost_data: true,
                });
            }
        }
    }
    for d in reader.take_diagnostics() {
        let (message, lost_data) = match d.kind {
            DiagnosticKind::LspciMessage => (format!("lspci message skipped: {}", d.text), false),
            DiagnosticKind::TerminalNoise => (format!("terminal noise skipped: {}", d.text), false),
            DiagnosticKind::BadHexRow(reason) => {
                (format!("bad hex row ({reason}): {}", d.text), true)
            }
            _ => (format!("not lspci output, skipped: {}", d.text), true),
        };
        problems.push(Problem {
            line: Some(d.line),
            message,
            lost_data,
        });
    }
    problems.sort_by_key(|p| p.line);
    let kind = if any_hex && !any_text {
        InputKind::HexDump
    } else {
        InputKind::LspciText
    };
    let nodes = by_host
        .into_iter()
        .map(|(host, devices)| {
            Node::from_devices(
                host.unwrap_or_else(|| default_name.to_string()),
                kind,
                devices,
            )
        })
        .collect();
    Ingested {
        kind: Some(kind),
        nodes,
        problems,
        truncated,
    }
}

/// The node name a file implies: its name without directory and extension
/// (`/data/node017.lspci.txt` → `node017`).
pub fn name_from_path(path: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "node".to_string());
    match file.split_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_hex_rows_is_decoded_from_the_bytes() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt"
        ))
        .unwrap();
        let out = read_input("x", text.as_bytes()).unwrap();
        assert_eq!(out.kind, Some(InputKind::HexDump));
        assert_eq!(out.nodes.len(), 1);
        // The dump's text is from an old lspci; the bytes give current key names.
        assert_eq!(out.nodes[0].devices[0].field("ACSCtl.ReqRedir"), Some("+"));
        assert!(out.problems.is_empty(), "{:?}", out.problems);
    }

    #[test]
    fn pdsh_gives_one_node_per_host() {
        let text = "n1: 00:01.0 PCI bridge: X\nn2: 00:01.0 PCI bridge: X\nn1: \tControl: I/O+\n";
        let out = read_input("x", text.as_bytes()).unwrap();
        let names: Vec<_> = out.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["n1", "n2"]);
    }

    #[test]
    fn raw_config_of_a_wrong_size_is_an_error() {
        let bytes = [0u8; 100];
        assert!(matches!(
            read_input("x", &bytes[..]),
            Err(IngestError::NotConfigSpace(100))
        ));
    }

    #[test]
    fn names_from_paths() {
        assert_eq!(
            name_from_path(std::path::Path::new("/d/node017.lspci.txt")),
            "node017"
        );
        assert_eq!(name_from_path(std::path::Path::new("gpu-a")), "gpu-a");
    }
}
