//! `trainyard sim` end to end: the JSON contract of docs/sim.md, the charts, bad input.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .arg("sim")
        .args(args)
        .output()
        .expect("run trainyard")
}

#[test]
fn json_contract() {
    let out = sim(&[
        "--gpus",
        "512",
        "--days",
        "7",
        "--seeds",
        "3",
        "--threads",
        "1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in [
        "checkpoint_interval_s",
        "young_interval_s",
        "daly_interval_s",
        "job_mtbf_s",
        "interruptions",
    ] {
        assert!(!v[key].is_null(), "missing {key}: {v}");
    }
    let g = v["goodput"]["mean"].as_f64().expect("goodput.mean");
    assert!(g > 0.5 && g < 1.0, "{g}");
    assert!(v["goodput"]["ci95"].as_f64().is_some());
    assert_eq!(v["checkpoint_interval_s"], 1800.0);
    for part in [
        "lost_work",
        "detection",
        "restart",
        "checkpoint",
        "waiting_for_spares",
    ] {
        assert!(v["lost_s"][part].as_f64().is_some(), "lost_s.{part}: {v}");
    }
}

#[test]
fn auto_with_svg_and_text_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("g.svg");
    let out = sim(&[
        "--mtbf",
        "6h",
        "--gpus",
        "8",
        "--days",
        "60",
        "--seeds",
        "2",
        "--checkpoint-write",
        "5m",
        "--checkpoint-interval",
        "auto",
        "--svg",
        svg.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("goodput"), "{text}");
    assert!(text.contains("best found"), "{text}");
    assert!(text.contains("Daly"), "{text}");
    let chart = std::fs::read_to_string(&svg).expect("svg written");
    assert!(
        chart.starts_with("<svg") && chart.contains("polyline"),
        "{chart}"
    );
}

#[test]
fn bad_input_is_exit_2_with_the_flag_named() {
    for args in [
        &["--checkpoint-interval", "soon"][..],
        &["--weibull-shape", "-1"],
        &["--gpus", "0"],
        &["--seeds", "0"],
    ] {
        let out = sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
