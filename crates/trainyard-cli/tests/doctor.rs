//! `trainyard doctor` end to end: real dumps, a fake 8-GPU/8-NIC server tree, this machine,
//! and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{lossy, trainyard};

fn data(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn hpe_cray_acs_redirect_is_an_error_with_exit_1() {
    let out = trainyard(&[
        "doctor",
        &data("gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"),
    ]);
    let stdout = lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        lossy(&out.stderr)
    );
    assert!(stdout.contains("ERROR acs-redirect"), "{stdout}");
    assert!(stdout.contains("0000:02:01.0"), "{stdout}");
    assert!(stdout.contains("Not checked"), "{stdout}");
    assert!(!lossy(&out.stderr).contains("panicked"));

    let never = trainyard(&[
        "doctor",
        "--fail-on",
        "never",
        &data("gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"),
    ]);
    assert_eq!(never.status.code(), Some(0));
}

#[test]
fn json_report_has_the_documented_keys() {
    let out = trainyard(&[
        "doctor",
        "--json",
        &data("gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["node"], "gigabyte-g242-z11-DEF4067C8E-vvnn");
    assert_eq!(v["kind"], "lspci_text");
    let findings = v["findings"].as_array().expect("findings");
    let width = findings
        .iter()
        .find(|f| f["rule"] == "link-width-downtrained")
        .expect("the A100 at x8 is found");
    for key in [
        "rule", "severity", "device", "keys", "summary", "why", "fix",
    ] {
        assert!(width.get(key).is_some(), "missing {key}: {width}");
    }
    assert_eq!(width["severity"], "error");
    assert_eq!(width["device"], "0000:42:00.0");
    assert_eq!(width["keys"]["LnkSta.Width"], "x8");
    assert!(v["unchecked"].as_array().is_some_and(|u| !u.is_empty()));
}

#[test]
fn fake_gpu_server_tree_via_root_and_via_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let layout = trainyard_collect::fixture::gpu_server(&root).expect("fixture");
    let out = trainyard(&["doctor", "--json", "--root", &root.display().to_string()]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        lossy(&out.stderr)
    );
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(live["kind"], "live");
    assert_eq!(live["devices"], layout.functions.len());
    assert_eq!(layout.gpus.len(), 8);
    // Clean platform facts: iommu=pt, peermem loaded, IB ports active.
    let rules: Vec<&str> = live["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    for clean in ["iommu-translating", "peermem-missing", "ib-port-down"] {
        assert!(
            !rules.contains(&clean),
            "{clean} fired on the clean fixture: {rules:?}"
        );
    }

    // The same tree through a snapshot file gives the same findings.
    let snap: PathBuf = dir.path().join("node.json");
    let s = trainyard(&[
        "snapshot",
        "--root",
        &root.display().to_string(),
        "-o",
        &snap.display().to_string(),
    ]);
    assert_eq!(s.status.code(), Some(0), "{}", lossy(&s.stderr));
    let from_file = trainyard(&["doctor", "--json", &snap.display().to_string()]);
    let file: serde_json::Value = serde_json::from_slice(&from_file.stdout).expect("JSON");
    assert_eq!(file["kind"], "snapshot");
    assert_eq!(live["findings"], file["findings"]);
}

#[test]
fn this_machine_gives_a_report_that_says_what_it_could_not_check() {
    let out = trainyard(&["doctor"]);
    let stdout = lossy(&out.stdout);
    // A CI VM has no GPU and exits 0; a GPU host may have findings (1). Never 2, never a panic.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{stdout}\n{}",
        lossy(&out.stderr)
    );
    assert!(stdout.starts_with("node "), "{stdout}");
    assert!(stdout.contains("not run"), "{stdout}");
}

#[test]
fn bad_input_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node9.txt");
    let good = std::fs::read_to_string(data(
        "vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt",
    ))
    .expect("corpus");
    let bad = format!("{}\n{good}", "x".repeat(10_000));
    std::fs::write(&path, bad).expect("write");
    let out = trainyard(&["doctor", &path.display().to_string()]);
    let stderr = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:1:", path.display())),
        "{stderr}"
    );
    // The rest of the input was still analyzed.
    assert!(
        lossy(&out.stdout).contains("node node9"),
        "{}",
        lossy(&out.stdout)
    );

    let missing = trainyard(&["doctor", "/nonexistent/node.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(lossy(&missing.stderr).contains("/nonexistent/node.json"));

    let snap = dir.path().join("future.json");
    std::fs::write(&snap, r#"{"format_version": 99, "host": "x"}"#).expect("write");
    let future = trainyard(&["doctor", &snap.display().to_string()]);
    assert_eq!(future.status.code(), Some(2));
    assert!(
        lossy(&future.stderr).contains("upgrade trainyard"),
        "{}",
        lossy(&future.stderr)
    );
}

#[test]
fn rules_are_listed() {
    let out = trainyard(&["doctor", "--list-rules"]);
    let stdout = lossy(&out.stdout);
    for id in [
        "acs-redirect",
        "link-width-downtrained",
        "iommu-translating",
        "ib-port-down",
    ] {
        assert!(stdout.contains(id), "{stdout}");
    }
}
