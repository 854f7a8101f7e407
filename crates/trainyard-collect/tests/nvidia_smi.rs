//! GPUs from a stand-in `nvidia-smi` on `PATH`, merged with the GPUs seen on PCI.
//!
//! Its own test binary because one test changes `PATH` for the process (the other only
//! parses a saved output and reads no environment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use trainyard_collect::fixture::gpu_server;
use trainyard_collect::{collect, CollectOptions};

fn fake_tool(dir: &Path, script: &str) {
    let path = dir.join("nvidia-smi");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn nvidia_smi_output_and_failure() {
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let tree = tempfile::tempdir().unwrap();
    let layout = gpu_server(tree.path()).unwrap();
    let bin = tempfile::tempdir().unwrap();
    // The only test in this binary, so nothing else reads PATH concurrently.
    let system_path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{system_path}", bin.path().display()));
    let mut opts = CollectOptions::fake_root(tree.path());
    opts.run_tools = true;

    fake_tool(
        bin.path(),
        r#"cat <<'X'
<?xml version="1.0" ?>
<nvidia_smi_log>
	<driver_version>550.54.15</driver_version>
	<gpu id="00000000:12:00.0">
		<product_name>NVIDIA GeForce MX150</product_name>
		<serial>0321017012345</serial>
		<vbios_version>86.08.0C.00.1A</vbios_version>
	</gpu>
</nvidia_smi_log>
X"#,
    );
    let snap = collect(&opts);
    assert_eq!(snap.gpus.len(), 8, "{:#?}", snap.gpus);
    assert_eq!(snap.gpus[0].pci_address, layout.gpus[0].to_string());
    assert_eq!(snap.gpus[0].source, "nvidia-smi");
    assert_eq!(snap.gpus[0].serial.as_deref(), Some("0321017012345"));
    assert_eq!(snap.gpus[0].driver_version.as_deref(), Some("550.54.15"));
    // The seven it did not list are still there, from PCI.
    assert!(snap.gpus[1..].iter().all(|g| g.source == "pci"));
    assert!(snap.missing.is_empty(), "{:#?}", snap.missing);

    fake_tool(
        bin.path(),
        "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9",
    );
    let snap = collect(&opts);
    assert_eq!(snap.gpus.len(), 8);
    let m = snap
        .missing
        .iter()
        .find(|m| m.what == "nvidia-smi")
        .unwrap();
    assert!(m.reason.contains("couldn't communicate"), "{}", m.reason);

    // Nothing on PATH at all (the system's PATH could hold a real nvidia-smi).
    std::fs::remove_file(bin.path().join("nvidia-smi")).unwrap();
    std::env::set_var("PATH", bin.path());
    let snap = collect(&opts);
    let m = snap
        .missing
        .iter()
        .find(|m| m.what == "nvidia-smi")
        .unwrap();
    assert_eq!(m.reason, "not installed (not on PATH)");
}

#[test]
fn real_h200_output_parses() {
    let xml = include_str!("data/nvidia-smi-h200-q-x.xml");
    let gpus = trainyard_collect::parse_nvidia_smi_xml(xml);
    assert_eq!(gpus.len(), 1);
    let g = &gpus[0];
    assert_eq!(g.pci_address, "0000:00:06.0");
    assert_eq!(g.name.as_deref(), Some("NVIDIA H200"));
    assert_eq!(g.serial.as_deref(), Some("1650000000001"));
    assert_eq!(g.vbios.as_deref(), Some("96.00.A5.00.1A"));
    assert_eq!(g.driver_version.as_deref(), Some("580.159.04"));
    assert_eq!(g.source, "nvidia-smi");
}
