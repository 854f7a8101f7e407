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

/// A rendering that shows everything `--format fields` does and more (identity, driver,
/// capability titles), but not the device's line, as [`parallel::parse_parallel_rendered`]
/// requires.
fn render(dev: &Device, out: &mut Vec<u8>) {
    let mut probe = dev.clone();
    probe.line = None;
    out.extend_from_slice(format!("{probe:?}\n").as_bytes());
}

/// Parses `data` with [`parallel::parse_parallel_rendered`] and checks the output, errors
/// and diagnostics against sequential parsing in the same mode.
fn check_rendered(data: &[u8], threads: usize, piece_bytes: usize, max_piece_bytes: usize) {
    for fields_only in [false, true] {
        let want = if fields_only {
            support::fuzz_harness::parse_fields_only(data)
        } else {
            parse_reader(data)
        };
        let mut want_out = Vec::new();
        for d in &want.devices {
            render(d, &mut want_out);
        }
        let opts = parallel::Options {
            threads,
            piece_bytes,
            max_piece_bytes,
            fields_only,
        };
        let (mut out, mut devices, mut got) = (Vec::new(), 0, ParseOutput::default());
        let result: Result<(), ()> =
            parallel::parse_parallel_rendered(data, opts, Vec::new, render, |piece| {
                out.extend_from_slice(&piece.output);
                devices += piece.devices;
                got.errors.extend(piece.errors);
                got.diagnostics.extend(piece.diagnostics);
                Ok(())
            });
        assert!(result.is_ok());
        assert_eq!(got.errors, want.errors);
        assert_eq!(got.diagnostics, want.diagnostics);
        assert_eq!(devices, want.devices.len());
        assert!(out == want_out, "rendered output differs");
    }
}

/// The corpus repeated, with damaged lines inside device blocks that occur several times
/// (each occurrence must report its own line), a block followed by stray text, a broken
/// hex row, plain `lspci` lines (devices without blank lines between them), and a
/// truncated repeat of a block at the end.
fn repeated_with_damage() -> Vec<u8> {
    let block = b"0000:17:00.0 3D controller: NVIDIA Corporation Device 2330 (rev a1)\n\
                  \tSubsystem: NVIDIA Corporation Device 16c1\n\
                  \tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr+\n\
                  \tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort-\n\
                  \tKernel driver in use: nvidia\n\n";
    let with = |extra: &[u8]| {
        let mut b = block.to_vec();
        let at = b.iter().position(|&c| c == b'\n').map_or(0, |i| i + 1);
        b.splice(at..at, extra.iter().copied());
        b
    };
    let mut long = b"\t".to_vec();
    long.resize(5000, b'y');
    long.push(b'\n');
    let damaged = [
        with(b"\tGarbage \x00 here\n"),
        with(&long),
        with(b"\tBad \xff\xfe\xfd utf\n"),
        with(b"00: 86 80 zz 0d 06 04 10 00 00 00 04 06 10 00 81 00\n"),
        [&block[..], b"stray text after the blank line\n\n"].concat(),
        b"00:00.0 Host bridge: X\n00:01.0 PCI bridge: Y\n00:02.0 VGA: Z\n\n".to_vec(),
    ];
    let corpus = corpus();
    let mut data = b"noise before the first device\n".to_vec();
    for round in 0..3 {
        for (i, f) in corpus.iter().enumerate() {
            data.extend_from_slice(f);
            if !data.ends_with(b"\n") {
                data.push(b'\n');
            }
            if i % 7 == round {
                data.extend_from_slice(&damaged[i % damaged.len()]);
                data.extend_from_slice(block);
            }
        }
        for d in &damaged {
            data.extend_from_slice(d);
        }
    }
    data.extend_from_slice(&block[..block.len() - 2]);
    data
}

#[test]
fn rendered_pieces_agree_with_sequential_parsing() {
    let data = repeated_with_damage();
    for threads in [1, 2] {
        // Many cuts (pieces smaller than a device), a few, and a fall back to one thread
        // part way through.
        check_rendered(&data, threads, 64, 1 << 30);
        check_rendered(&data, threads, 5000, 1 << 30);
        check_rendered(&data, threads, 1 << 20, 1 << 30);
        check_rendered(&data, threads, 64, 3000);
    }
    for f in corpus() {
        check_rendered(&f, 2, 300, 1 << 20);
    }
    for data in [
        &b""[..],
        b"\n\n",
        b"garbage only\n",
        b"node1: 00:00.0 Host bridge: X\nnode1: \tControl: I/O+\n",
        b"00:00.0 Host bridge: X",
        b"00:00.0 Host bridge: X\n\n00:00.0 Host bridge: X\n\n",
    ] {
        check_rendered(data, 2, 1, 2);
        check_rendered(data, 1, 1 << 20, 1 << 21);
    }
}
