//! The collector on fake `/sys` + `/proc` trees built from the real config-space dumps of
//! the corpus (`tests/data/hex`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use trainyard_collect::fixture::{express_link_attrs, gpu_server, FakePci, FakeTree};
use trainyard_collect::{collect, CollectOptions};
use trainyard_pci::{decode_config, PciAddress, Role, Topology};
use trainyard_snapshot::Snapshot;

fn corpus_hex_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/hex");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".txt") && !name.ends_with(".pciutils-vvv.txt")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus not found in {}", dir.display());
    files
}

fn snap_of(root: &Path) -> Snapshot {
    collect(&CollectOptions::fake_root(root))
}

fn missing_for<'a>(snap: &'a Snapshot, what: &str) -> Option<&'a str> {
    snap.missing
        .iter()
        .find(|m| m.what == what)
        .map(|m| m.reason.as_str())
}

#[test]
fn every_corpus_dump_comes_back_byte_for_byte_with_its_link_attributes() {
    let mut total = 0;
    for file in corpus_hex_files() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = FakeTree::new(tmp.path()).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let written = tree.pci_from_hex_dump(&text).unwrap();
        let snap = snap_of(tmp.path());
        let name = file.display();
        assert_eq!(snap.pci.len(), written.len(), "{name}");
        for (got, want) in snap.pci.iter().zip(&written) {
            assert_eq!(got.address, want.address.to_string(), "{name}");
            assert_eq!(got.config, want.config, "{name} {}", got.address);
            let link = express_link_attrs(&want.config);
            assert_eq!(
                got.sysfs.current_link_speed,
                link.as_ref().map(|l| l.0.clone()),
                "{name} {}",
                got.address
            );
            assert_eq!(
                got.sysfs.max_link_width,
                link.as_ref().map(|l| l.3.clone()),
                "{name} {}",
                got.address
            );
            assert_eq!(got.sysfs.numa_node, Some(-1));
            // Every collected function decodes again: the bytes are the device.
            let addr: PciAddress = got.address.parse().unwrap();
            decode_config(addr, &got.config).unwrap();
        }
        total += written.len();
    }
    assert!(total > 100, "{total} functions");
}

#[test]
fn gpu_server_fixture_is_one_consistent_pcie_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = gpu_server(tmp.path()).unwrap();
    let snap = snap_of(tmp.path());
    assert!(snap.missing.is_empty(), "{:#?}", snap.missing);
    assert_eq!(snap.host, "gpu-node-001");
    assert_eq!(snap.pci.len(), layout.functions.len());
    assert_eq!(snap.pci.len(), 40);

    let devices: Vec<_> = snap
        .pci
        .iter()
        .map(|f| decode_config(f.address.parse().unwrap(), &f.config).unwrap())
        .collect();
    let topo = Topology::build(&devices);
    let index = |a: &PciAddress| devices.iter().position(|d| d.address == *a).unwrap();
    for (endpoints, role) in [(&layout.gpus, Role::Gpu), (&layout.nics, Role::RdmaNic)] {
        assert_eq!(endpoints.len(), 8);
        for ep in endpoints {
            let i = index(ep);
            assert_eq!(devices[i].role(), role, "{ep}");
            // GPU/NIC ← downstream port ← upstream port ← root port.
            let up: Vec<PciAddress> = topo
                .ancestors(i)
                .iter()
                .map(|&j| devices[j].address)
                .collect();
            assert_eq!(up.len(), 3, "{ep}: {up:?}");
            assert!(layout.switch_downstream.contains(&up[0]), "{ep}: {up:?}");
            assert!(layout.switch_upstream.contains(&up[1]), "{ep}: {up:?}");
            assert!(layout.root_ports.contains(&up[2]), "{ep}: {up:?}");
        }
    }
    // Each switch holds two GPUs and two NICs.
    for us in &layout.switch_upstream {
        let below = topo.descendants(index(us));
        let gpus = below
            .iter()
            .filter(|&&j| devices[j].role() == Role::Gpu)
            .count();
        let nics = below
            .iter()
            .filter(|&&j| devices[j].role() == Role::RdmaNic)
            .count();
        assert_eq!((gpus, nics), (2, 2), "{us}");
    }

    assert_eq!(snap.gpus.len(), 8);
    assert!(snap.gpus.iter().all(|g| g.source == "pci"));
    assert_eq!(snap.gpus[0].name.as_deref(), Some("GP108M [GeForce MX150]"));
    assert_eq!(snap.infiniband.len(), 8);
    for (ib, nic) in snap.infiniband.iter().zip(&layout.nics) {
        assert_eq!(ib.pci_address.as_deref(), Some(nic.to_string().as_str()));
        assert_eq!(ib.ports.len(), 1);
        assert_eq!(ib.ports[0].state.as_deref(), Some("4: ACTIVE"));
    }
    let ib0 = snap.net.iter().find(|n| n.name == "ib0").unwrap();
    assert_eq!(ib0.pci_address, Some(layout.nics[0].to_string()));
    assert_eq!(ib0.mtu, Some(4092));
    assert_eq!(snap.modules.get("nvidia_peermem"), Some(&true));
    assert_eq!(snap.modules.get("mlx5_core"), Some(&false));
    assert_eq!(snap.dmi.bios_version.as_deref(), Some("1.3.0"));
    assert!(snap.kernel.cmdline.as_deref().unwrap().contains("iommu=pt"));
    assert_eq!(snap.iommu.units, ["dmar0", "dmar1"]);
    assert_eq!(snap.iommu.group_types.len(), 40);
    assert_eq!(snap.cpu.logical_cpus, Some(224));
    assert_eq!(snap.cpu.numa_nodes.len(), 2);
    let gpu = snap
        .pci
        .iter()
        .find(|f| f.address == layout.gpus[0].to_string())
        .unwrap();
    assert_eq!(gpu.sysfs.driver.as_deref(), Some("nvidia"));
    assert_eq!(gpu.sysfs.numa_node, Some(0));
    assert_eq!(gpu.sysfs.aer["aer_dev_correctable"]["TOTAL_ERR_COR"], 0);
    let rp = &snap.pci[0];
    assert_eq!(rp.sysfs.aer["aer_rootport_total_err_cor"]["TOTAL"], 0);
}

#[test]
fn snapshot_round_trips_through_json() {
    let tmp = tempfile::tempdir().unwrap();
    gpu_server(tmp.path()).unwrap();
    let snap = snap_of(tmp.path());
    let back = Snapshot::from_json(&snap.to_json()).unwrap();
    assert_eq!(back, snap);
}

#[test]
fn unreadable_and_odd_files_are_recorded_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = FakeTree::new(tmp.path()).unwrap();
    let mx150 = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../tests/data/hex/pciutils-cap-exp-lnkcap2--laptop-nvidia-mx150-thunderbolt3.txt",
    ))
    .unwrap();
    let devs = tree.pci_from_hex_dump(&mx150).unwrap();
    let root = tmp.path();
    let dir = |a: &PciAddress| root.join(format!("sys/devices/pci0000:00/{a}"));

    // Config space that cannot be read (a directory where the file should be: tests may run
    // as root, which permissions would not stop).
    let gone = devs[0].address;
    std::fs::remove_file(dir(&gone).join("config")).unwrap();
    std::fs::create_dir(dir(&gone).join("config")).unwrap();
    // Only the 64-byte header, as an unprivileged read of sysfs returns.
    let short = devs[1].address;
    std::fs::write(dir(&short).join("config"), &devs[1].config[..64]).unwrap();
    // Odd attribute contents.
    std::fs::write(dir(&short).join("numa_node"), "banana\n").unwrap();
    std::fs::write(dir(&short).join("aer_dev_fatal"), "DLP lots\n").unwrap();
    std::fs::write(
        dir(&devs[2].address).join("local_cpulist"),
        [0xff, 0xfe, 0x00],
    )
    .unwrap();
    // A function that is not an address.
    std::fs::create_dir_all(root.join("sys/bus/pci/devices/garbage")).unwrap();
    // DMI present but one file unreadable.
    tree.dmi(&[("bios_vendor", "Dell Inc."), ("bios_version", "2.19.1")])
        .unwrap();
    std::fs::create_dir(root.join("sys/class/dmi/id/board_name")).unwrap();
    // A network interface with a bad MTU and a dangling device link.
    tree.net("eth9", 1500, "up", None, None).unwrap();
    std::fs::write(root.join("sys/class/net/eth9/mtu"), "huge\n").unwrap();
    tree.symlink("sys/class/net/eth9/device", "../../../devices/nowhere")
        .unwrap();
    // An IB device without ports.
    tree.file("sys/class/infiniband/mlx5_9/fw_ver", "28.39.1002\n")
        .unwrap();
    // No hostname, no cmdline, no cpuinfo: proc is nearly empty.

    let snap = snap_of(root);
    assert_eq!(snap.pci.len(), devs.len());
    let by = |a: &PciAddress| {
        snap.pci
            .iter()
            .find(|f| f.address == a.to_string())
            .unwrap()
    };
    assert!(by(&gone).config.is_empty());
    assert!(missing_for(&snap, &format!("pci {gone} config"))
        .unwrap()
        .starts_with("read error"));
    assert_eq!(by(&short).config.len(), 64);
    assert!(
        missing_for(&snap, &format!("pci {short} config beyond 64 bytes")).is_some(),
        "{:#?}",
        snap.missing
    );
    assert_eq!(by(&short).sysfs.numa_node, None);
    assert!(missing_for(&snap, &format!("pci {short} numa_node"))
        .unwrap()
        .contains("banana"));
    assert!(missing_for(&snap, &format!("pci {short} aer_dev_fatal")).is_some());
    assert_eq!(
        missing_for(&snap, &format!("pci {} local_cpulist", devs[2].address)),
        Some("not UTF-8 text")
    );
    assert!(missing_for(&snap, "pci garbage").is_some());
    assert_eq!(snap.dmi.bios_version.as_deref(), Some("2.19.1"));
    assert_eq!(snap.dmi.board_name, None);
    assert!(missing_for(&snap, "dmi.board_name").is_some());
    assert_eq!(missing_for(&snap, "dmi.sys_vendor"), Some("not present"));
    let eth9 = snap.net.iter().find(|n| n.name == "eth9").unwrap();
    assert_eq!((eth9.mtu, eth9.pci_address.as_deref()), (None, None));
    assert!(missing_for(&snap, "net eth9 mtu").unwrap().contains("huge"));
    assert_eq!(snap.infiniband[0].fw_ver.as_deref(), Some("28.39.1002"));
    assert!(missing_for(&snap, "infiniband mlx5_9 ports").is_some());
    assert_eq!(snap.host, "unknown");
    assert!(missing_for(&snap, "host").is_some());
    assert!(missing_for(&snap, "kernel.cmdline").is_some());
    assert!(missing_for(&snap, "cpu").is_some());
    assert!(missing_for(&snap, "modules /proc/modules").is_some());
    // The snapshot still serialises and reads back.
    assert_eq!(Snapshot::from_json(&snap.to_json()).unwrap(), snap);
}

#[test]
fn absent_sections_say_so_once() {
    let tmp = tempfile::tempdir().unwrap();
    FakeTree::new(tmp.path()).unwrap();
    let snap = snap_of(tmp.path());
    assert!(snap.pci.is_empty());
    assert!(missing_for(&snap, "dmi")
        .unwrap()
        .starts_with("not present"));
    // No IB class directory is a fact (no RDMA stack), not a gap.
    assert!(!snap
        .missing
        .iter()
        .any(|m| m.what.starts_with("infiniband")));
}

#[test]
fn net_device_link_through_a_bus_directory_finds_the_pci_function() {
    // virtio-net: /sys/class/net/eth0/device -> .../0000:00:03.0/virtio2
    let tmp = tempfile::tempdir().unwrap();
    let tree = FakeTree::new(tmp.path()).unwrap();
    let addr = PciAddress::new(0, 0, 3, 0);
    let mut config = vec![0u8; 256];
    config[..4].copy_from_slice(&[0xf4, 0x1a, 0x41, 0x10]);
    config[0x0b] = 0x02;
    tree.pci(&FakePci::new(addr, config)).unwrap();
    tree.net("eth0", 1400, "up", Some(&addr), Some("virtio2"))
        .unwrap();
    let snap = snap_of(tmp.path());
    assert_eq!(snap.net[0].pci_address.as_deref(), Some("0000:00:03.0"));
}

#[test]
fn host_override_and_timestamp_shape() {
    let tmp = tempfile::tempdir().unwrap();
    gpu_server(tmp.path()).unwrap();
    let snap = collect(&CollectOptions::fake_root(tmp.path()).with_host(Some("override".into())));
    assert_eq!(snap.host, "override");
    let t = snap.taken_at.as_bytes();
    assert_eq!(t.len(), 20, "{}", snap.taken_at);
    assert_eq!((t[4], t[10], t[19]), (b'-', b'T', b'Z'));
    assert!(snap.collector.starts_with("trainyard "));
}
