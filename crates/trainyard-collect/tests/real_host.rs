//! The collector on this machine's real `/`. Only invariants: the machine may be a VM
//! without GPUs, DMI or loadable modules, and may or may not run the test as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use trainyard_collect::{collect, CollectOptions};
use trainyard_snapshot::Snapshot;

#[test]
fn collects_this_machine() {
    if !std::path::Path::new("/sys/bus/pci/devices").is_dir() {
        // Not Linux, or a container without sysfs: nothing to check.
        return;
    }
    let snap = collect(&CollectOptions::default());
    assert!(!snap.host.is_empty());
    assert!(!snap.pci.is_empty(), "no PCI function found");
    for f in &snap.pci {
        // Either the bytes are there or `missing` says why not.
        let recorded = snap
            .missing
            .iter()
            .any(|m| m.what.starts_with(&format!("pci {} config", f.address)));
        assert!(
            f.config.len() >= 256 || recorded,
            "{}: {} bytes and nothing in missing",
            f.address,
            f.config.len()
        );
    }
    assert!(
        snap.kernel.release.is_some() || snap.missing.iter().any(|m| m.what == "kernel.release")
    );
    for m in &snap.missing {
        assert!(!m.what.is_empty() && !m.reason.is_empty(), "{m:?}");
    }
    assert_eq!(Snapshot::from_json(&snap.to_json()).unwrap(), snap);
}
