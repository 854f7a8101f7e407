//! Fields-only parsing (what `trainyard pci parse --format fields` uses) against full
//! parsing: the same settings, identity, errors and diagnostics on every text file of the
//! corpus, on a `pdsh` stream with interleaved hosts, and on wrapped and out-of-order lines.
//! And parallel parsing in pieces against sequential parsing, in both modes.

mod support;

use std::path::Path;

use support::fuzz_harness::assert_fields_only_agrees;
use trainyard_pci::text::{parallel, parse_reader, ParseOutput};
use trainyard_pci::Device;

fn check(data: &[u8]) {
    let full = parse_reader(data);
    assert_fields_only_agrees(data, &full);
}

#[test]
fn corpus_files_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let mut n = 0;
    for sub in ["vvv", "gpu-servers", "faulty", "hex", "tree"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() {
                let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                check(&data);
                n += 1;
            }
        }
    }
    assert!(n >= 30, "corpus missing: {n} files");
}

#[test]
fn interleaved_pdsh_hosts_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/gpu-servers");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("gpu-servers corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .take(2)
        .map(|p| std::fs::read_to_string(p).expect("corpus file"))
        .collect();
    let (a, b): (Vec<&str>, Vec<&str>) = (texts[0].lines().collect(), texts[1].lines().collect());
    let mut stream = String::new();
    for i in 0..a.len().max(b.len()) {
        if let Some(l) = a.get(i) {
            stream.push_str(&format!("node1: {l}\n"));
        }
        if let Some(l) = b.get(i) {
            stream.push_str(&format!("node2: {l}\n"));
        }
    }
    check(stream.as_bytes());
}

#[test]
fn wrapped_and_out_of_order_lines_agree() {
    let text = "00:02.0 PCI bridge [0604]: Intel Corporation Device [8086:2f04] (rev 02)\n\
                \tControl: I/O- Mem+ BusMaster+\n\
                SERR+ FastB2B- DisINTx+\n\
                \tBus: primary=00, secondary=03, subordinate=05, sec-latency=0\n\
                \tCapabilities: [40] Express (v2) Root Port (Slot+),\n\
                MSI 00\n\
                \t\tDevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-\n\
                \t\t\tRlxdOrd+ ExtTag-\n\
                PhantFunc- AuxPwr-\n\
                00 01 02 03\n\
                \tKernel driver in use: pcieport\n\
                \t\tDevCtl: X+\n\
                \tCapabilities: [100 v1] Vendor Specific Information: ID=0001 Rev=1 Len=010\n\
                \t\tDevCtl:\tReport errors: Correctable+\n\
                \t\t\t, more\n\
                \tDevCtl: X-\n\
                \n\
                00:03.0 Host bridge: X\n\
                \tControl: I/O+\n";
    check(text.as_bytes());
}

/// Parses `data` with [`parallel::parse_parallel`] in small pieces and checks the result
/// against the sequential reader in the same mode.
fn check_parallel(data: &[u8], piece_bytes: usize, max_piece_bytes: usize) {
    for fields_only in [false, true] {
        let want = if fields_only {
            support::fuzz_harness::parse_fields_only(data)
        } else {
            parse_reader(data)
        };
        let opts = parallel::Options {
            threads: 2,
            piece_bytes,
            max_piece_bytes,
            fields_only,
        };
        let mut got = ParseOutput::default();
        let result: Result<(), ()> = parallel::parse_parallel(
            data,
            opts,
            Vec::new,
            |v: &mut Vec<Device>, d| v.push(d),
            |piece| {
                assert_eq!(piece.devices, piece.output.len());
                got.devices.extend(piece.output);
                got.errors.extend(piece.errors);
                got.diagnostics.extend(piece.diagnostics);
                Ok(())
            },
        );
        assert!(result.is_ok());
        assert_eq!(got.errors, want.errors);
        assert_eq!(got.diagnostics, want.diagnostics);
        assert_eq!(got.devices, want.devices);
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let mut files = Vec::new();
    for sub in ["vvv", "gpu-servers", "faulty", "hex"] {
        for e in std::fs::read_dir(root.join(sub)).expect("corpus").flatten() {
            files.push(e.path());
        }
    }
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

#[test]
fn parallel_pieces_agree_with_sequential_parsing() {
    let files = corpus();
    let mut all = Vec::new();
    for f in &files {
        // Small pieces (many cuts), and a piece cap small enough to fall back to one
        // thread part way through.
        check_parallel(f, 200, 1 << 20);
        check_parallel(f, 64, 3000);
        all.extend_from_slice(f);
        if !all.ends_with(b"\n") {
            all.push(b'\n');
        }
    }
    // Damaged lines between devices: a long line, binary data, a truncated end.
    all.extend_from_slice(b"00:1f.0 ISA bridge: X\n\tControl: I/O+\n");
    all.extend_from_slice(&[b'x'; 5000]);
    all.extend_from_slice(b"\n\x00\xff\n00:1f.1 SMBus: Y\n\tControl: I/O-");
    check_parallel(&all, 4096, 1 << 20);
    check_parallel(&all, 100_000, 1 << 20);
}

#[test]
fn parallel_edge_inputs_agree() {
    for data in [
        &b""[..],
        b"\n\n",
        b"garbage only\n",
        b"node1: 00:00.0 Host bridge: X\nnode1: \tControl: I/O+\n",
        b"00:00.0 Host bridge: X",
    ] {
        check_parallel(data, 1, 2);
        check_parallel(data, 1 << 20, 1 << 21);
    }
}

/// A panic on a worker (a bug) must come out of `parse_parallel` as a panic, not leave the
/// reading thread waiting for a piece that never comes.
#[test]
fn a_worker_panic_is_raised_not_waited_for() {
    let mut data = Vec::new();
    for f in corpus().iter().take(12) {
        data.extend_from_slice(f);
        if !data.ends_with(b"\n") {
            data.push(b'\n');
        }
    }
    let opts = parallel::Options {
        threads: 2,
        piece_bytes: 2000,
        max_piece_bytes: 1 << 20,
        fields_only: true,
    };
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), ()> = parallel::parse_parallel(
            &data[..],
            opts,
            || (),
            |_, _| {
                if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 20 {
                    panic!("injected");
                }
            },
            |_| Ok(()),
        );
    }));
    assert!(result.is_err());
}
