//! The code each fuzz target runs, shared by `fuzz/fuzz_targets/*.rs` (through `#[path]`)
//! and by `tests/fuzz_regressions.rs`, so a saved crash input is replayed through exactly
//! what found it. Every function must return normally for any input: a panic is the bug.
//!
//! Besides "no panic", the functions check cheap invariants whose failure would mean a
//! wrong answer rather than a crash (error lines inside the input, fields derivable twice
//! to the same result).

// Each includer uses a subset of these functions.
#![allow(dead_code)]

use trainyard_pci::text::{parse_reader, LspciReader, ParseOutput, TextParser};
use trainyard_pci::{decode_config, read_hex_dumps, Device, PciAddress};

/// Lengths of config space lspci and sysfs produce; the fuzzer also tries the input's own.
pub const CONFIG_LENGTHS: [usize; 3] = [64, 256, 4096];

/// Exercises what every front end hands on: flat fields (recomputed, so the tokenizer runs
/// on this device's lines even when the front end cached them) and the human rendering.
fn exercise_device(dev: &Device) {
    let fields = trainyard_pci::fields::device_fields(dev);
    // Deriving is a pure function of the lines: twice must give the same answer.
    assert_eq!(fields, trainyard_pci::fields::device_fields(dev));
    let mut text = String::new();
    trainyard_pci::render::render_device(dev, &mut text);
    for cap in &dev.capabilities {
        let _ = trainyard_pci::fields::capability_prefix(cap);
    }
}

/// `lspci_text` target: arbitrary bytes through the streaming text parser.
pub fn lspci_text(data: &[u8]) {
    let out = parse_reader(data);
    // Line numbers in errors and diagnostics point into the input (+1 for an error at EOF).
    let lines = data.split(|&b| b == b'\n').count();
    for e in &out.errors {
        assert!(e.line <= lines + 1, "error line {} of {lines}", e.line);
    }
    for d in &out.diagnostics {
        assert!(
            d.line >= 1 && d.line <= lines,
            "diagnostic line {} of {lines}",
            d.line
        );
    }
    for dev in &out.devices {
        exercise_device(dev);
    }
    assert_fields_only_agrees(data, &out);
    exercise_groups(data);
}

/// Every run of up to four of the input's first 256 lines read as a group
/// ([`TextParser::read_group`], which the fleet uses to derive a device from another): no
/// panic, and the same answer when read again (the second time through the line memo).
fn exercise_groups(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').take(256).collect();
    let mut parser = TextParser::fields_only();
    for i in 0..lines.len() {
        for k in 1..=4.min(lines.len() - i) {
            let group = &lines[i..i + k];
            let first = parser.read_group(group).map(|g| (g.fields, g.capability));
            let again = parser.read_group(group).map(|g| (g.fields, g.capability));
            assert_eq!(first, again, "group {group:?}");
        }
    }
}

/// Parses `data` in fields-only mode (settings derived line by line, no lines kept).
pub fn parse_fields_only(data: &[u8]) -> ParseOutput {
    let mut reader = LspciReader::fields_only(data);
    let mut out = ParseOutput::default();
    for item in reader.by_ref() {
        match item {
            Ok(d) => out.devices.push(d),
            Err(e) => out.errors.push(e),
        }
    }
    out.diagnostics = reader.take_diagnostics();
    out
}

/// Fields-only mode must give every device the same settings and identity as full mode,
/// and the same errors and diagnostics: `--format fields` relies on it.
pub fn assert_fields_only_agrees(data: &[u8], full: &ParseOutput) {
    let lean = parse_fields_only(data);
    assert_eq!(lean.errors, full.errors);
    assert_eq!(lean.diagnostics, full.diagnostics);
    assert_eq!(lean.devices.len(), full.devices.len());
    for (l, f) in lean.devices.iter().zip(&full.devices) {
        assert_eq!(l.fields, f.fields, "settings of {}", f.address);
        assert_eq!(
            (&l.host, l.address, l.ids, &l.names, l.header_type, l.bus),
            (&f.host, f.address, f.ids, &f.names, f.header_type, f.bus)
        );
        assert_eq!(
            (&l.driver, &l.kernel_modules, &l.config, l.line),
            (&f.driver, &f.kernel_modules, &f.config, f.line)
        );
        let titles = |d: &Device| -> Vec<(String, String, u16)> {
            d.capabilities
                .iter()
                .map(|c| (c.tag.clone(), c.title.clone(), c.offset))
                .collect()
        };
        assert_eq!(titles(l), titles(f));
        assert!(l.header.is_empty() && l.capabilities.iter().all(|c| c.lines.is_empty()));
    }
}

/// `hex_dump` target: arbitrary bytes (lossily made text) through the hex dump reader, then
/// every dump it accepts through the binary decoder.
pub fn hex_dump(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (dumps, _errors) = read_hex_dumps(&text);
    for dump in dumps {
        assert!(
            CONFIG_LENGTHS.contains(&dump.bytes.len()),
            "reader accepted {} bytes",
            dump.bytes.len()
        );
        if let Ok(dev) = decode_config(dump.address, &dump.bytes) {
            exercise_device(&dev);
        }
    }
}

/// `config_space` target: arbitrary bytes as config space, cut or zero-padded to each
/// length lspci writes, and as they are; at function 0 and at a non-zero function (the
/// decoder hides some registers on functions other than 0).
pub fn config_space(data: &[u8]) {
    let addresses = [
        PciAddress::new(0, 0, 0, 0),
        PciAddress::new(0x1_0000, 0x17, 0x1f, 7),
    ];
    let mut buf = Vec::with_capacity(4096);
    for len in CONFIG_LENGTHS.iter().copied().map(Some).chain([None]) {
        buf.clear();
        match len {
            Some(n) => {
                buf.extend_from_slice(&data[..data.len().min(n)]);
                buf.resize(n, 0);
            }
            None => buf.extend_from_slice(data),
        }
        for &address in &addresses {
            if let Ok(dev) = decode_config(address, &buf) {
                exercise_device(&dev);
            }
        }
    }
}
