//! Criterion benchmarks of snapshot collection:
//!
//! * `collect/this_machine`: `collect` on the real `/` (tools off, so the number is the
//!   collector's own cost, not nvidia-smi's);
//! * `collect/gpu_server_fixture`: on the 8-GPU/8-NIC fixture tree (40 functions of 4 KiB
//!   or 256 B config space, 8 IB devices, 224 CPUs);
//! * `json/gpu_server_fixture`: serialising that snapshot.
//!
//! Run with `cargo bench -p trainyard-collect --bench collect`; the whole-binary numbers
//! and JSON sizes come from `bench/snapshot.sh` (see docs/BENCHMARKS.md).

// `criterion_group!` defines an undocumented public function; the sizes go to stderr.
#![allow(missing_docs, clippy::print_stderr, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use trainyard_collect::fixture::gpu_server;
use trainyard_collect::{collect, CollectOptions};

fn bench(c: &mut Criterion) {
    let mut live = CollectOptions::default();
    live.run_tools = false;
    let snap = collect(&live);
    eprintln!(
        "this machine: {} PCI functions, {} bytes of JSON",
        snap.pci.len(),
        snap.to_json().len()
    );
    c.bench_function("collect/this_machine", |b| {
        b.iter(|| black_box(collect(&live)))
    });

    let tmp = tempfile::tempdir().unwrap();
    gpu_server(tmp.path()).unwrap();
    let fake = CollectOptions::fake_root(tmp.path());
    let snap = collect(&fake);
    eprintln!(
        "gpu server fixture: {} PCI functions, {} bytes of JSON",
        snap.pci.len(),
        snap.to_json().len()
    );
    c.bench_function("collect/gpu_server_fixture", |b| {
        b.iter(|| black_box(collect(&fake)))
    });
    c.bench_function("json/gpu_server_fixture", |b| {
        b.iter(|| black_box(snap.to_json()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
