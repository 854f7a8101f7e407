//! `trainyard snapshot` end to end through the real binary, on the 8-GPU/8-NIC fixture tree
//! and on this machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use trainyard_collect::fixture::gpu_server;
use trainyard_snapshot::Snapshot;

fn trainyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn fixture_tree_to_a_host_named_file() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let layout = gpu_server(&tree).unwrap();
    let pattern = tmp.path().join("%h.json");
    let out = trainyard(&[
        "snapshot",
        "--root",
        tree.to_str().unwrap(),
        "--host",
        "node017",
        "-o",
        pattern.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(tmp.path().join("node017.json")).unwrap();
    let snap = Snapshot::from_json(&text).unwrap();
    assert_eq!(snap.host, "node017");
    assert_eq!(snap.pci.len(), layout.functions.len());
    assert_eq!(snap.gpus.len(), 8);
    assert_eq!(snap.infiniband.len(), 8);
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn fixture_tree_to_stdout_uses_the_tree_host_name() {
    let tmp = tempfile::tempdir().unwrap();
    gpu_server(tmp.path()).unwrap();
    let out = trainyard(&["snapshot", "--root", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let snap = Snapshot::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(snap.host, "gpu-node-001");
}

#[test]
fn this_machine() {
    if !std::path::Path::new("/sys/bus/pci/devices").is_dir() {
        return;
    }
    let out = trainyard(&["snapshot"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let snap = Snapshot::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert!(!snap.pci.is_empty());
}

#[test]
fn bad_root_and_unwritable_output_exit_2_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let out = trainyard(&["snapshot", "--root", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope") && err.contains("not a directory"),
        "{err}"
    );

    let out = trainyard(&["snapshot", "--root", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither sys/ nor proc/"));

    gpu_server(tmp.path()).unwrap();
    let target = tmp.path().join("no/such/dir/x.json");
    let out = trainyard(&[
        "snapshot",
        "--root",
        tmp.path().to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/dir/x.json"), "{err}");
}
