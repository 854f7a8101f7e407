//! The real `lspci` text corpus: every file parses with zero unexplained lines, and the
//! device count equals the number of device header lines.

use std::path::{Path, PathBuf};

use trainyard_pci::text::{parse_str, DiagnosticKind};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Every lspci text file in the corpus (hex dumps included: they carry -vvv text too).
fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["vvv", "gpu-servers", "faulty", "hex"] {
        let Ok(rd) = std::fs::read_dir(data_dir().join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 30, "corpus missing: {} files", files.len());
    files
}

/// Lines that start a device, counted independently of the parser: column 0 (after an
/// optional host prefix), `[[DOMAIN:]BUS:]DEV.FN` or a `-PP` path, then a space.
fn count_header_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let token = l.split(' ').next().unwrap_or("");
            let last = token.rsplit('/').next().unwrap_or("");
            let parts: Vec<&str> = last.split([':', '.']).collect();
            let hex = |s: &str, n: usize| {
                !s.is_empty() && s.len() <= n && s.bytes().all(|b| b.is_ascii_hexdigit())
            };
            let ok = match parts.as_slice() {
                [b, d, f] => hex(b, 2) && hex(d, 2) && hex(f, 1),
                [dom, b, d, f] => hex(dom, 8) && hex(b, 2) && hex(d, 2) && hex(f, 1),
                _ => false,
            };
            ok && l.len() > token.len()
        })
        .count()
}

#[test]
fn every_corpus_file_parses_with_no_unexplained_lines() {
    let mut report = String::new();
    for path in corpus_files() {
        let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
        let out = parse_str(&text);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let unexplained: Vec<_> = out
            .diagnostics
            .iter()
            .filter(|d| {
                !matches!(
                    d.kind,
                    DiagnosticKind::LspciMessage | DiagnosticKind::TerminalNoise
                )
            })
            .collect();
        let expected = count_header_lines(&text);
        // Hex rows in the text are kept as each device's config bytes.
        if !name.contains("pciutils-vvv") {
            let (dumps, _) = trainyard_pci::read_hex_dumps(&text);
            let with_config = out.devices.iter().filter(|d| d.config.is_some()).count();
            if with_config != dumps.len() {
                report.push_str(&format!(
                    "{name}: {with_config} devices kept config bytes, hex reader found {}\n",
                    dumps.len()
                ));
            }
        }
        if !unexplained.is_empty() || !out.errors.is_empty() || out.devices.len() != expected {
            report.push_str(&format!(
                "{name}: {} devices (header lines: {expected}), errors {:?}, unexplained {:?}\n",
                out.devices.len(),
                out.errors,
                unexplained.iter().take(5).collect::<Vec<_>>()
            ));
        }
    }
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn hpe_cray_xd665_shows_acs_redirect_on_switch_ports() {
    let text =
        std::fs::read_to_string(data_dir().join("gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"))
            .expect("corpus file");
    let out = parse_str(&text);
    assert_eq!(out.devices.len(), 172);
    let redirected = out
        .devices
        .iter()
        .filter(|d| d.field("ACSCtl.ReqRedir") == Some("+"))
        .count();
    assert_eq!(redirected, 28);
    // -nn gives numeric ids.
    let h100 = out
        .devices
        .iter()
        .filter(|d| {
            d.ids.vendor == Some(0x10de) && d.names.class.as_deref() == Some("3D controller")
        })
        .count();
    assert_eq!(h100, 4);
}

#[test]
fn idle_gpu_downgrade_is_a_note_not_part_of_the_speed() {
    let text = std::fs::read_to_string(
        data_dir().join("vvv/asus-esc8000a-e12-genoa-rtx6000ada-cx-vvv-selected.txt"),
    )
    .expect("corpus file");
    let out = parse_str(&text);
    let gpu = &out.devices[0];
    assert_eq!(gpu.field("LnkSta.Speed"), Some("2.5GT/s"));
    assert_eq!(gpu.field("LnkSta.Speed.Note"), Some("downgraded"));
    assert_eq!(gpu.field("LnkCap.Speed"), Some("16GT/s"));
}
