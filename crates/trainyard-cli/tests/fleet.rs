//! `trainyard fleet synth` and `trainyard fleet analyze` end to end.

mod common;

use std::path::Path;

use common::{lossy, trainyard};

/// The faults of the first fleet, written once: as a folder and as a pdsh stream it must be the
/// same fleet.
const RO_FAULTS: &str = "relaxed_ordering=3,downtrain=1,acs=0,mrrs=0,missing=0,aer=0";

/// `trainyard fleet synth --from FROM --nodes N ARGS`, which must exit 0.
fn synth(from: &str, nodes: &str, args: &[&str]) {
    let mut all = vec!["fleet", "synth", "--from", from, "--nodes", nodes];
    all.extend_from_slice(args);
    let out = trainyard(&all);
    assert_eq!(out.status.code(), Some(0), "{}", lossy(&out.stderr));
}

fn hpe() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt")
        .display()
        .to_string()
}

#[test]
fn folder_with_corrupt_files_is_analyzed_and_the_corrupt_files_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet");
    let truth = dir.path().join("truth.json");
    synth(
        &hpe(),
        "30",
        &[
            "--out",
            &fleet.display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--faults",
            RO_FAULTS,
        ],
    );
    std::fs::write(fleet.join("garbage.txt"), [0u8, 159, 146, 150, 7, 0, 1]).expect("write");
    std::fs::write(
        fleet.join("cut.txt"),
        "0000:00:01.0 PCI bridge: X\n\tControl: I/O+ Mem",
    )
    .expect("write");

    let html = dir.path().join("report.html");
    let out = trainyard(&[
        "fleet",
        "analyze",
        &fleet.display().to_string(),
        "--json",
        "--html",
        &html.display().to_string(),
    ]);
    // Skipped inputs make the exit status 2; the report is still complete.
    assert_eq!(out.status.code(), Some(2), "{}", lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["nodes"], 30);
    let skipped: Vec<String> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| s["input"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        skipped.iter().any(|s| s.ends_with("garbage.txt")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s.ends_with("cut.txt")),
        "{skipped:?}"
    );

    let findings = report["findings"].as_array().expect("findings");
    let ro = findings
        .iter()
        .find(|f| f["key"] == "DevCtl.RlxdOrd" && f["kind"] == "deviation")
        .expect("relaxed ordering found");
    for key in [
        "kind",
        "severity",
        "slot",
        "key",
        "value",
        "fleet_value",
        "nodes",
        "count",
        "summary",
    ] {
        assert!(ro.get(key).is_some(), "missing {key}");
    }
    assert_eq!(ro["count"], 3);
    assert_eq!(ro["severity"], "error");
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.contains("DevCtl.RlxdOrd"));

    // The same fleet as one interleaved pdsh stream gives the same deviations.
    let stream = dir.path().join("fleet.pdsh");
    synth(
        &hpe(),
        "30",
        &[
            "--pdsh",
            &stream.display().to_string(),
            "--interleave",
            "--faults",
            RO_FAULTS,
        ],
    );
    let out = trainyard(&["fleet", "analyze", &stream.display().to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", lossy(&out.stderr));
    let from_stream: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let keys = |v: &serde_json::Value| -> Vec<(String, String, u64)> {
        let mut k: Vec<_> = v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["kind"] == "deviation")
            .map(|f| {
                (
                    f["key"].as_str().unwrap_or("").to_string(),
                    f["value"].as_str().unwrap_or("").to_string(),
                    f["count"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&report), keys(&from_stream));
}

#[test]
fn human_report_puts_the_top_findings_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("f");
    synth(&hpe(), "20", &["--out", &fleet.display().to_string()]);
    let out = trainyard(&["fleet", "analyze", &fleet.display().to_string()]);
    let stdout = lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let first: Vec<&str> = stdout.lines().take(6).collect();
    assert!(first[0].starts_with("fleet 20 nodes"), "{stdout}");
    assert!(
        first[2].contains("SEV") && first[2].contains("NODES"),
        "{stdout}"
    );
    assert!(first[3].contains("error"), "{stdout}");
    assert!(stdout.contains("Cohorts"));
}

#[test]
fn nonexistent_input_is_bad_usage() {
    let out = trainyard(&["fleet", "analyze", "/nonexistent/fleet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(lossy(&out.stderr).contains("/nonexistent/fleet"));
}

#[test]
fn reports_are_byte_identical_whatever_the_threads_and_input_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet");
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt");
    synth(
        &template.display().to_string(),
        "14",
        &[
            "--out",
            &fleet.display().to_string(),
            "--faults",
            "acs=2,downtrain=1,mrrs=1,relaxed_ordering=2,missing=2,aer=1",
        ],
    );
    std::fs::write(fleet.join("garbage.txt"), [0u8, 159, 146, 150, 7, 0, 1]).expect("write");
    // The folder, and its files named one by one in reverse order.
    let mut files: Vec<String> = std::fs::read_dir(&fleet)
        .expect("list")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    files.sort();
    files.reverse();
    let folder = vec![fleet.display().to_string()];

    let run = |inputs: &[String], threads: &str, i: usize| {
        let html = dir.path().join(format!("report{i}.html"));
        let mut args: Vec<&str> = vec!["fleet", "analyze", "--threads", threads];
        args.extend(inputs.iter().map(String::as_str));
        let json = trainyard(&[args.as_slice(), &["--json"]].concat());
        let human = trainyard(&[args.as_slice(), &["--all"]].concat());
        let html_out = trainyard(
            &[
                args.as_slice(),
                &["--json", "--html", &html.display().to_string()],
            ]
            .concat(),
        );
        assert_eq!(json.status.code(), Some(2), "{}", lossy(&json.stderr));
        assert_eq!(
            html_out.status.code(),
            Some(2),
            "{}",
            lossy(&html_out.stderr)
        );
        (
            lossy(&json.stdout),
            lossy(&human.stdout),
            std::fs::read_to_string(&html).expect("html"),
        )
    };
    let (json, human, html) = run(&folder, "1", 0);
    assert!(
        human.contains("Cohorts") && human.contains("garbage.txt"),
        "{human}"
    );
    for (i, (inputs, threads)) in [(&folder, "2"), (&files, "4"), (&folder, "4"), (&files, "1")]
        .into_iter()
        .enumerate()
    {
        let (j, h, p) = run(inputs, threads, i + 1);
        assert!(j == json, "--threads {threads}: JSON differs");
        assert!(
            h == human,
            "--threads {threads}: text differs:\n{h}\n---\n{human}"
        );
        assert!(p == html, "--threads {threads}: HTML differs");
    }
}
