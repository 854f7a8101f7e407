//! The HTML fleet report: well-formed, complete, self-contained, and safe with hostile node
//! names and values (they come from input files).

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use trainyard_fleet::analysis::{
    build_report, render_html, Accumulator, FleetReport, Hint, SkippedInput,
};
use trainyard_fleet::ingest::read_input;
use trainyard_fleet::rules::Severity;

#[path = "support/dump_edit.rs"]
mod dump_edit;
use dump_edit::edit_device;

const HPE: &str =
    include_str!("../../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt");

const EVIL: &str = "evil<script>alert(1)</script>\"'&amp;";

fn analyze(nodes: &[(String, String)], skipped: Vec<SkippedInput>) -> FleetReport {
    let mut acc = Accumulator::new(Arc::new(AtomicU32::new(0)));
    for (name, text) in nodes {
        for node in &read_input(name, text.as_bytes()).expect("reads").nodes {
            acc.add_node(node);
        }
    }
    build_report(vec![acc], skipped)
}

/// Six nodes, one named `EVIL`: relaxed ordering off on two (the evil one included), a
/// downtrained NIC on one, an idle GPU on one; a hostile skipped input and cohort hint.
fn small_report() -> FleetReport {
    let mut nodes: Vec<(String, String)> = (0..5)
        .map(|i| (format!("node{i}"), HPE.to_string()))
        .collect();
    nodes.push((EVIL.to_string(), HPE.to_string()));
    for n in [1, 5] {
        nodes[n].1 = edit_device(&nodes[n].1, "03:00.0", "RlxdOrd+", "RlxdOrd-");
    }
    nodes[2].1 = edit_device(
        &nodes[2].1,
        "03:00.0",
        "LnkSta:\tSpeed 8GT/s, Width x16",
        "LnkSta:\tSpeed 8GT/s, Width x8 (downgraded)",
    );
    nodes[3].1 = edit_device(
        &nodes[3].1,
        "04:00.0",
        "LnkSta:\tSpeed 32GT/s",
        "LnkSta:\tSpeed 2.5GT/s (downgraded)",
    );
    let mut report = analyze(
        &nodes,
        vec![SkippedInput {
            input: "dumps/<img src=x onerror=alert(2)>.txt".into(),
            line: Some(3),
            error: "</table><script>alert(3)</script>".into(),
        }],
    );
    let cohort = report
        .cohorts
        .iter_mut()
        .find(|c| c.count == 2)
        .expect("the relaxed-ordering cohort");
    cohort.hints.push(Hint {
        key: "dmi.bios_version".into(),
        value: "<b>1.2.3</b>".into(),
        fleet_value: "1.3.0".into(),
        summary: "all 2 report dmi.bios_version <b>1.2.3</b>; fleet: 1.3.0".into(),
    });
    report
}

/// Checks that every non-void element is closed in order, skipping `<script>` and `<style>`
/// bodies and comments; returns the element names seen.
fn check_balanced(html: &str) -> Vec<String> {
    const VOID: &[&str] = &["meta", "br", "input", "img", "hr", "link", "col", "wbr"];
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").expect("comment closed");
            rest = &after[end + 3..];
            continue;
        }
        let end = rest.find('>').expect("tag closed");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "<{open}> closed by </{name}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        seen.push(name.clone());
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            let end = rest.find(&close).expect("raw text element closed");
            rest = &rest[end + close.len()..];
            continue;
        }
        if !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    seen
}

/// The JSON the page's script draws from.
fn embedded_data(html: &str) -> serde_json::Value {
    let start_tag = "<script type=\"application/json\" id=\"fleet-data\">";
    let start = html.find(start_tag).expect("data script") + start_tag.len();
    let end = start + html[start..].find("</script>").expect("data script closed");
    serde_json::from_str(&html[start..end]).expect("embedded JSON parses")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn the_page_is_well_formed_and_names_every_finding_and_node() {
    let report = small_report();
    let html = render_html(&report, "Fleet <test>");
    let seen = check_balanced(&html);
    for tag in [
        "html", "head", "body", "main", "header", "section", "table", "details",
    ] {
        assert!(seen.iter().any(|t| t == tag), "no <{tag}>");
    }
    assert!(html.contains("<title>Fleet &lt;test&gt;</title>"));

    let non_info: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    assert!(non_info.len() >= 3, "{non_info:#?}");
    let data = embedded_data(&html);
    let names: Vec<&str> = data["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    for f in &non_info {
        assert!(html.contains(&esc(&f.key)), "key {} missing", f.key);
        for n in &f.nodes {
            assert!(
                names.contains(&n.as_str()),
                "node {n} missing from the data"
            );
            if n != EVIL {
                assert!(html.contains(n.as_str()), "node {n} missing from the page");
            }
        }
    }
    // Every non-info finding is a heat-map column, every node that stands out a row.
    assert_eq!(data["cols"].as_array().expect("cols").len(), non_info.len());
    let rows: Vec<&str> = data["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|i| names[i.as_u64().expect("index") as usize])
        .collect();
    for n in ["node1", "node2", EVIL] {
        assert!(rows.contains(&n), "{n} is not a row: {rows:?}");
    }
    assert!(!rows.contains(&"node0"), "{rows:?}");
    // The idle GPU is low-ranked, with its reason.
    assert!(html.contains("Ranked low because"));
    // The skipped input is listed.
    assert!(html.contains("Skipped inputs <span class=\"count\">1</span>"));
}

#[test]
fn hostile_strings_are_escaped() {
    let html = render_html(&small_report(), "<script>alert(0)</script>");
    check_balanced(&html);
    // Only the page's own two scripts: the data and the code.
    assert_eq!(html.matches("<script").count(), 2, "extra <script>");
    assert_eq!(html.matches("</script").count(), 2, "extra </script>");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>1.2.3"));
    assert!(html.contains("&lt;script&gt;alert(0)&lt;/script&gt;"));
    assert!(html.contains("evil&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;amp;"));
    assert!(html.contains("dumps/&lt;img src=x onerror=alert(2)&gt;.txt"));
    assert!(html.contains("&lt;/table&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;1.2.3&lt;/b&gt;"));
    // Inside the JSON the name survives intact, with no raw `<`.
    let data = embedded_data(&html);
    assert!(data["names"]
        .as_array()
        .expect("names")
        .iter()
        .any(|v| v == EVIL));
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let mut report = small_report();
    // The hostile skipped input names an `<img src=...>` (escaped, but the text is there).
    report.skipped.clear();
    let html = render_html(&report, "fleet");
    for needle in [
        "http:", "https:", "//cdn", "src=", "<link", "@import", "url(", "<iframe",
    ] {
        assert!(
            !html.to_ascii_lowercase().contains(needle),
            "page contains {needle:?}"
        );
    }
}

#[test]
fn a_clean_fleet_says_so() {
    let nodes: Vec<(String, String)> = (0..3).map(|i| (format!("n{i}"), HPE.to_string())).collect();
    let mut report = analyze(&nodes, Vec::new());
    // The real dump breaks fleet-wide rules; keep only what a clean fleet would show.
    report.findings.retain(|f| f.severity == Severity::Info);
    let html = render_html(&report, "clean");
    check_balanced(&html);
    assert!(html.contains("No warnings or errors"));
    assert!(html.contains("Every input was read."));

    let empty = render_html(&analyze(&[], Vec::new()), "empty");
    check_balanced(&empty);
}

#[test]
fn ten_thousand_nodes_stay_small_and_rows_are_capped() {
    // Each of the six nodes becomes 1,700: 10,200 nodes, without analyzing 10,000 dumps.
    let mut report = small_report();
    let scale = 1_700;
    let grow = |names: &mut Vec<String>| {
        *names = names
            .iter()
            .flat_map(|n| (0..scale).map(move |k| format!("{n}-{k:04}")))
            .collect();
    };
    report.nodes *= scale;
    for f in &mut report.findings {
        grow(&mut f.nodes);
        f.count = f.nodes.len();
    }
    for c in &mut report.cohorts {
        grow(&mut c.nodes);
        c.count = c.nodes.len();
    }
    let html = render_html(&report, "big");
    check_balanced(&html);
    assert!(
        html.len() < 2 << 20,
        "{} bytes for 10,200 nodes",
        html.len()
    );
    // node1, node2 and the evil node stand out: 5,100 rows, capped at 2,000.
    assert!(
        html.contains("Showing the first 2,000 of 5,100 nodes"),
        "no cap note"
    );
    let data = embedded_data(&html);
    assert_eq!(data["rows"].as_array().expect("rows").len(), 2_000);
    assert_eq!(data["more"], 3_100);
    assert_eq!(data["others"], 10_200 - 5_100);
}
