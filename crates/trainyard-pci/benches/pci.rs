//! Criterion benchmarks for the two front ends on the real corpus in `tests/data`:
//!
//! * `text/parse`: `lspci -vvv` text → devices (fields included), bytes per second over
//!   the whole text corpus concatenated; `text/fields` re-derives the flat fields alone
//!   (`fields::derive`, the storage `Device::fields` uses).
//! * `decode/config`: `decode_config` over every hex-dumped device, reported per device;
//!   `decode/hex_read` is the hex dump reader in front of it.
//!
//! Run with `cargo bench -p trainyard-pci --bench pci`; the whole-binary comparison with
//! `wc -l` and `lspci -F` is `bench/pci.sh` (see docs/BENCHMARKS.md).

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trainyard_pci::text::parse_str;
use trainyard_pci::{decode_config, read_hex_dumps, HexDump};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Sorted `.txt` files of `sub` whose name satisfies `keep`.
fn files(sub: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data_dir().join(sub))
        .expect("corpus directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".txt") && keep(n))
        })
        .collect();
    out.sort();
    out
}

fn read(p: &Path) -> String {
    // The corpus holds a few stray non-UTF-8 bytes (pasted captures); they don't matter here.
    String::from_utf8_lossy(&std::fs::read(p).expect("corpus file")).into_owned()
}

/// The real lspci text corpus concatenated: the same files `bench/pci.sh` repeats.
fn text_corpus() -> String {
    let mut text = String::new();
    for sub in ["gpu-servers", "vvv", "faulty"] {
        for p in files(sub, |_| true) {
            text.push_str(&read(&p));
        }
    }
    for p in files("hex", |n| n.ends_with(".pciutils-vvv.txt")) {
        text.push_str(&read(&p));
    }
    text
}

/// Every device of the hex dump corpus.
fn hex_corpus() -> Vec<HexDump> {
    let mut dumps = Vec::new();
    for p in files("hex", |n| !n.ends_with(".pciutils-vvv.txt")) {
        dumps.extend(read_hex_dumps(&read(&p)).0);
    }
    dumps
}

fn text(c: &mut Criterion) {
    let text = text_corpus();
    let devices = parse_str(&text).devices;
    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| b.iter(|| parse_str(black_box(&text))));
    g.throughput(Throughput::Elements(devices.len() as u64));
    g.bench_function("fields", |b| {
        b.iter(|| {
            for d in &devices {
                black_box(trainyard_pci::fields::derive(black_box(d)));
            }
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let hex_text: String = files("hex", |n| !n.ends_with(".pciutils-vvv.txt"))
        .iter()
        .map(|p| read(p))
        .collect();
    let dumps = hex_corpus();
    assert!(dumps.len() > 100, "hex corpus: {} devices", dumps.len());
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(dumps.len() as u64));
    g.bench_function("config", |b| {
        b.iter(|| {
            for d in &dumps {
                let _ = black_box(decode_config(d.address, black_box(&d.bytes)));
            }
        })
    });
    g.throughput(Throughput::Bytes(hex_text.len() as u64));
    g.bench_function("hex_read", |b| {
        b.iter(|| read_hex_dumps(black_box(&hex_text)))
    });
    g.finish();
}

criterion_group!(benches, text, decode);
criterion_main!(benches);
