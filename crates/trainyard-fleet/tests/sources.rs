//! Reading whole fleets with `sources::read_fleet`: folders of mixed and broken inputs,
//! the same files in tar archives, interleaved `pdsh` streams built from the corpus, the
//! `pdsh` host window, and the same results on one thread and on four.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use trainyard_fleet::sources::{read_fleet, FleetInput, FleetItem, ReadOptions, Skipped};
use trainyard_fleet::Node;
use trainyard_snapshot::{PciFunction, Snapshot};

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(rel)
}

/// Every corpus text file, in a stable order.
fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    // `tree/` holds `lspci -tv` output, which is not an input.
    for dir in ["vvv", "gpu-servers", "faulty", "hex"] {
        let mut files: Vec<PathBuf> = fs::read_dir(corpus(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// What a node is, for comparing two ways of reading it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NodeSum {
    name: String,
    kind: String,
    devices: Vec<(String, Vec<(String, String)>)>,
}

fn summarize(node: &Node) -> NodeSum {
    NodeSum {
        name: node.name.clone(),
        kind: format!("{:?}", node.kind),
        devices: node
            .devices
            .iter()
            .map(|d| {
                let fields = d
                    .fields_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (d.address.to_string(), fields)
            })
            .collect(),
    }
}

#[derive(Debug, Default, PartialEq)]
struct Fleet {
    nodes: Vec<NodeSum>,
    skipped: Vec<Skipped>,
}

impl Fleet {
    fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    fn skipped_for(&self, input_suffix: &str) -> Vec<&Skipped> {
        self.skipped
            .iter()
            .filter(|s| s.input.ends_with(input_suffix))
            .collect()
    }
}

fn read_with(inputs: &[FleetInput], opts: &ReadOptions) -> Fleet {
    let parts = read_fleet(inputs, opts, Fleet::default, |acc, item| match item {
        FleetItem::Node(n) => acc.nodes.push(summarize(&n)),
        FleetItem::Skipped(s) => acc.skipped.push(s),
    });
    let mut fleet = Fleet::default();
    for p in parts {
        fleet.nodes.extend(p.nodes);
        fleet.skipped.extend(p.skipped);
    }
    fleet.nodes.sort();
    fleet
        .skipped
        .sort_by(|a, b| (&a.input, a.line, &a.error).cmp(&(&b.input, b.line, &b.error)));
    fleet
}

fn read(inputs: &[FleetInput], threads: usize) -> Fleet {
    let opts = ReadOptions {
        threads,
        ..ReadOptions::default()
    };
    read_with(inputs, &opts)
}

fn path(p: &Path) -> FleetInput {
    FleetInput::Path(p.to_path_buf())
}

/// A snapshot built from a real hex dump's config bytes.
fn snapshot_json(host: &str) -> String {
    let text = fs::read_to_string(corpus(
        "hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt",
    ))
    .unwrap();
    let mut snap = Snapshot::new(host, "2026-01-01T00:00:00Z", "trainyard test");
    for d in trainyard_pci::text::parse_str(&text).devices {
        snap.pci.push(PciFunction {
            address: d.address.to_string(),
            config: d.config.expect("hex dump has bytes"),
            ..PciFunction::default()
        });
    }
    snap.to_json()
}

/// A folder of mixed inputs: good ones of every kind and broken ones of every kind.
fn mixed_folder(dir: &Path) {
    let copy = |from: &str, to: &str| {
        let to = dir.join(to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(corpus(from), to).unwrap();
    };
    copy("gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt", "gpu1.txt");
    copy(
        "hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt",
        "hexnode.lspci-x.txt",
    );
    copy(
        "vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt",
        "sub/dir/nested.txt",
    );
    fs::write(dir.join("snap-file.json"), snapshot_json("snaphost")).unwrap();
    // A raw 256-byte config space, as sysfs `config` gives it.
    let text = fs::read_to_string(corpus(
        "hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt",
    ))
    .unwrap();
    let dev = &trainyard_pci::text::parse_str(&text).devices[0];
    fs::write(dir.join("raw.config"), &dev.config.as_ref().unwrap()[..256]).unwrap();

    // Broken: cut mid-line, empty, binary junk, a damaged snapshot, a hidden file that is
    // never read, and more than 64 KiB of text that is not lspci at all.
    let full = fs::read(corpus("gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt")).unwrap();
    fs::write(dir.join("cut.txt"), &full[..full.len() / 2 + 7]).unwrap();
    fs::write(dir.join("empty.txt"), b"").unwrap();
    let junk: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("junk.bin"), junk).unwrap();
    let snap = snapshot_json("broken");
    fs::write(dir.join("broken.json"), &snap[..snap.len() / 2]).unwrap();
    fs::write(dir.join(".hidden.txt"), b"never read").unwrap();
    fs::write(
        dir.join("log.txt"),
        "kernel: something happened\n".repeat(4000),
    )
    .unwrap();
}

fn check_mixed(fleet: &Fleet, prefix: &str) {
    assert_eq!(
        fleet.names(),
        // A cut capture is left out (its devices after the cut would all read as missing).
        ["gpu1", "hexnode", "nested", "raw", "snaphost"],
        "{:#?}",
        fleet.skipped
    );
    let kinds: Vec<&str> = fleet.nodes.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["LspciText", "HexDump", "LspciText", "RawConfig", "Snapshot"]
    );
    // The snapshot and the hex dump are the same machine, read from the same bytes.
    let hex = &fleet.nodes[1];
    let snap = &fleet.nodes[4];
    assert_eq!(hex.devices, snap.devices);
    assert!(fleet.nodes.iter().all(|n| !n.devices.is_empty()));

    for (input, needle) in [
        ("cut.txt", "truncated"),
        ("empty.txt", "no PCI devices"),
        ("junk.bin", "neither a config space"),
        ("broken.json", "not a trainyard snapshot"),
        ("log.txt", "no lspci device line in the first 64 KiB"),
    ] {
        let found = fleet.skipped_for(&format!("{prefix}{input}"));
        assert!(
            found
                .iter()
                .any(|s| s.error.contains(needle) && s.lost_data),
            "{input}: {found:#?}"
        );
    }
    // The cut file names its last line, and says its node was left out.
    let cut = fleet.skipped_for(&format!("{prefix}cut.txt"));
    assert!(cut.iter().any(|s| s.line.is_some()), "{cut:#?}");
    assert!(cut.iter().any(|s| s.error.contains("left out")), "{cut:#?}");
    assert!(fleet.skipped.iter().all(|s| !s.input.contains("hidden")));
    // Nothing else was skipped.
    let good = ["gpu1", "hexnode", "nested", "raw", "snap-file"];
    let unexpected: Vec<_> = fleet
        .skipped
        .iter()
        .filter(|s| good.iter().any(|g| s.input.contains(g)) && s.lost_data)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}

#[test]
fn folder_of_mixed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    mixed_folder(dir.path());
    let fleet = read(&[path(dir.path())], 2);
    let prefix = format!("{}/", dir.path().display());
    check_mixed(&fleet, &prefix);
}

/// Writes `dir` as a tar archive, gzipped or not, with paths relative to `dir`.
fn tar_of(dir: &Path, out: &Path, gzip: bool) {
    let file = fs::File::create(out).unwrap();
    let writer: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    };
    let mut builder = tar::Builder::new(writer);
    builder.append_dir_all("fleet", dir).unwrap();
    builder.into_inner().unwrap().flush().unwrap();
}

#[test]
fn tarballs_read_like_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_folder(&src);
    let from_folder = read(&[path(&src)], 2);
    for (name, gzip) in [
        ("fleet.tar.gz", true),
        ("fleet.tgz", true),
        ("fleet.tar", false),
    ] {
        let archive = dir.path().join(name);
        tar_of(&src, &archive, gzip);
        let fleet = read(&[path(&archive)], 2);
        check_mixed(&fleet, &format!("{name}:fleet/"));
        assert_eq!(fleet.nodes, from_folder.nodes, "{name}");
        // The same problems, named inside the archive.
        let strip = |s: &Skipped, p: &str| {
            (
                s.input.rsplit_once(p).map(|(_, r)| r.to_string()),
                s.line,
                s.error.clone(),
            )
        };
        let a: Vec<_> = fleet.skipped.iter().map(|s| strip(s, "fleet/")).collect();
        let prefix = format!("{}/", src.display());
        let b: Vec<_> = from_folder
            .skipped
            .iter()
            .map(|s| strip(s, &prefix))
            .collect();
        assert_eq!(a, b, "{name}");
    }
}

/// Interleaves the files' lines as `pdsh` does, `host: line`, with at most `fanout` hosts
/// running at once; a host whose output ends is replaced by the next.
fn pdsh_stream(files: &[(String, Vec<u8>)], fanout: usize) -> Vec<u8> {
    let mut queue = files.iter().map(|(host, bytes)| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (host.clone(), lines.into_iter())
    });
    let mut running: Vec<(String, std::vec::IntoIter<String>)> =
        queue.by_ref().take(fanout).collect();
    let mut out = Vec::new();
    while !running.is_empty() {
        let mut i = 0;
        while i < running.len() {
            match running[i].1.next() {
                Some(line) => {
                    writeln!(out, "{}: {line}", running[i].0).unwrap();
                    i += 1;
                }
                None => match queue.next() {
                    Some(next) => running[i] = next,
                    None => {
                        running.remove(i);
                    }
                },
            }
        }
    }
    out
}

fn corpus_hosts() -> Vec<(String, Vec<u8>)> {
    corpus_files()
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("node{i:03}"), fs::read(p).unwrap()))
        .collect()
}

#[test]
fn pdsh_stream_gives_the_same_nodes_as_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = corpus_hosts();
    let folder = dir.path().join("per-node");
    fs::create_dir(&folder).unwrap();
    for (host, bytes) in &hosts {
        fs::write(folder.join(format!("{host}.txt")), bytes).unwrap();
    }
    let from_files = read(&[path(&folder)], 2);
    assert_eq!(
        from_files.nodes.len(),
        hosts.len(),
        "{:#?}",
        from_files
            .skipped
            .iter()
            .filter(|s| s.lost_data)
            .collect::<Vec<_>>()
    );
    assert!(from_files.nodes.iter().any(|n| n.devices.len() > 100));

    for fanout in [1, 8, hosts.len()] {
        let stream = dir.path().join(format!("fleet-{fanout}.txt"));
        fs::write(&stream, pdsh_stream(&hosts, fanout)).unwrap();
        let fleet = read(&[path(&stream)], 2);
        let names: Vec<_> = from_files
            .names()
            .into_iter()
            .filter(|n| !fleet.names().contains(n))
            .collect();
        assert_eq!(
            fleet.nodes.len(),
            from_files.nodes.len(),
            "fanout {fanout} {names:?} {:#?}",
            fleet.skipped
        );
        for (a, b) in fleet.nodes.iter().zip(&from_files.nodes) {
            assert_eq!(a.name, b.name);
            assert_eq!(
                a.devices.len(),
                b.devices.len(),
                "{} fanout {fanout}",
                a.name
            );
            assert_eq!(a, b, "fanout {fanout}");
        }
        let resumed: Vec<_> = fleet
            .skipped
            .iter()
            .filter(|s| s.error.contains("resumed"))
            .collect();
        assert!(resumed.is_empty(), "fanout {fanout}: {resumed:#?}");
    }
}

#[test]
fn pdsh_problems_name_the_stream_line() {
    let text = "a: 00:00.0 Host bridge: Intel Corporation Device 1234\n\
                b: 00:00.0 Host bridge: Intel Corporation Device 1234\n\
                a: \tControl: I/O- Mem+ BusMaster+\n\
                b: \tControl: I/O- Mem+ BusMaster+\n\
                b: \n\
                b: this line is not lspci output\n\
                pdsh@head: c: ssh exited with exit code 255\n";
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("fleet.txt");
    fs::write(&stream, text).unwrap();
    let fleet = read(&[path(&stream)], 1);
    assert_eq!(fleet.names(), ["a", "b"]);
    let b = fleet
        .skipped
        .iter()
        .find(|s| s.error.contains("host b: not lspci output"))
        .unwrap_or_else(|| panic!("{:#?}", fleet.skipped));
    assert_eq!(b.line, Some(6), "{b:?}");
    let pdsh = fleet
        .skipped
        .iter()
        .find(|s| s.error.contains("ssh exited"))
        .expect("pdsh's own message");
    assert_eq!(pdsh.line, Some(7));
}

#[test]
fn pdsh_window_finalizes_the_least_recently_active_host() {
    // Host a prints half its devices, then b and c print everything, then a goes on.
    let full = fs::read_to_string(corpus(
        "vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt",
    ))
    .unwrap();
    let lines: Vec<&str> = full.lines().collect();
    // Split at a blank line (a device boundary) near the middle.
    let cut = (lines.len() / 2..lines.len())
        .find(|&i| lines[i].is_empty())
        .unwrap();
    let other =
        fs::read_to_string(corpus("gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt")).unwrap();
    let mut stream = String::new();
    let mut put = |host: &str, lines: &[&str]| {
        for l in lines {
            stream.push_str(&format!("{host}: {l}\n"));
        }
    };
    put("a", &lines[..cut]);
    put("b", &other.lines().collect::<Vec<_>>());
    put("c", &other.lines().collect::<Vec<_>>());
    put("a", &lines[cut..]);
    let resumed_at = cut + 2 * other.lines().count() + 1;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.txt");
    fs::write(&file, &stream).unwrap();
    let whole = fs::write(dir.path().join("a.txt"), &full)
        .map(|_| read(&[path(&dir.path().join("a.txt"))], 1))
        .unwrap();
    let a_devices = whole.nodes[0].devices.len();

    let window = |w: usize| {
        let opts = ReadOptions {
            threads: 2,
            pdsh_window: w,
            progress: None,
        };
        read_with(&[path(&file)], &opts)
    };
    // Room for all three: a is whole.
    let roomy = window(3);
    assert_eq!(roomy.names(), ["a", "b", "c"]);
    assert_eq!(roomy.nodes[0].devices.len(), a_devices);
    assert!(roomy.skipped.iter().all(|s| !s.error.contains("resumed")));

    // Room for two: c's arrival finalizes a (least recently active); a's later lines are
    // reported, not merged into a node already handed on.
    let tight = window(2);
    assert_eq!(tight.names(), ["a", "b", "c"]);
    assert!(tight.nodes[0].devices.len() < a_devices);
    assert_eq!(tight.nodes[1], roomy.nodes[1]);
    let resumed: Vec<_> = tight
        .skipped
        .iter()
        .filter(|s| s.error.contains("host a resumed after it was finalized"))
        .collect();
    assert_eq!(resumed.len(), 1, "{:#?}", tight.skipped);
    assert!(resumed[0].error.contains("raise --pdsh-window"));
    assert_eq!(resumed[0].line, Some(resumed_at));
    assert!(resumed[0].lost_data);
}

#[test]
fn one_thread_and_four_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed");
    mixed_folder(&mixed);
    let archive = dir.path().join("fleet.tar.gz");
    tar_of(&mixed, &archive, true);
    let stream = dir.path().join("pdsh.txt");
    fs::write(&stream, pdsh_stream(&corpus_hosts(), 16)).unwrap();
    for inputs in [
        vec![path(&mixed)],
        vec![path(&archive)],
        vec![path(&stream)],
    ] {
        let one = read(&inputs, 1);
        let four = read(&inputs, 4);
        assert!(!one.nodes.is_empty());
        assert_eq!(one, four);
    }
}

#[test]
fn duplicate_names_keep_one_node_and_name_both_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let src = corpus("vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt");
    fs::copy(&src, dir.path().join("n1.txt")).unwrap();
    fs::copy(&src, dir.path().join("n1.lspci")).unwrap();
    let fleet = read(&[path(dir.path())], 1);
    assert_eq!(fleet.names(), ["n1"]);
    assert_eq!(fleet.skipped.len(), 1, "{:#?}", fleet.skipped);
    let s = &fleet.skipped[0];
    assert!(
        s.error.starts_with("duplicate node name n1 (also in "),
        "{s:?}"
    );
    assert!(s.input.ends_with("n1.txt") || s.input.ends_with("n1.lspci"));
}

#[test]
fn missing_and_huge_inputs_are_skipped_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        corpus("vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt"),
        dir.path().join("good.txt"),
    )
    .unwrap();
    // 10 GiB of zeros costs nothing on disk (sparse) and must cost nothing to reject.
    let huge = fs::File::create(dir.path().join("huge.img")).unwrap();
    huge.set_len(10 << 30).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("gone.txt"), dir.path().join("dangling.txt"))
        .unwrap();
    let missing = dir.path().join("no-such-folder");
    let fleet = read(&[path(dir.path()), path(&missing)], 2);
    assert_eq!(fleet.names(), ["good"]);
    let errors: Vec<(&str, &str)> = fleet
        .skipped
        .iter()
        .map(|s| (s.input.rsplit('/').next().unwrap(), s.error.as_str()))
        .collect();
    assert!(
        errors
            .iter()
            .any(|(i, e)| *i == "huge.img" && e.contains("neither a config space")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(i, e)| *i == "no-such-folder" && e.contains("cannot read")),
        "{errors:?}"
    );
    #[cfg(unix)]
    assert!(
        errors
            .iter()
            .any(|(i, e)| *i == "dangling.txt" && e.contains("cannot read")),
        "{errors:?}"
    );
}

#[test]
fn progress_reaches_the_total() {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in corpus_files().iter().take(10).enumerate() {
        fs::copy(f, dir.path().join(format!("n{i}.txt"))).unwrap();
    }
    let total: u64 = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let opts = ReadOptions {
        threads: 2,
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..ReadOptions::default()
    };
    let fleet = read_with(&[path(dir.path())], &opts);
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|p| p.bytes_total == Some(total)));
    assert_eq!(seen.iter().map(|p| p.bytes_read).max(), Some(total));
    assert_eq!(
        seen.iter().map(|p| p.nodes).max(),
        Some(fleet.nodes.len() as u64)
    );
}
