//! `trainyard doctor`: lint one node with the RDMA rulebook.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use owo_colors::OwoColorize;
use serde::Serialize;
use trainyard_fleet::ingest::{self, Problem};
use trainyard_fleet::rules::{self, Finding, NodeReport, Severity};
use trainyard_fleet::{InputKind, Node};

use crate::args::DoctorArgs;
use crate::exit::Exit;
use crate::input;

/// Runs the command.
pub fn run(args: &DoctorArgs) -> anyhow::Result<Exit> {
    if args.list_rules {
        return list_rules();
    }
    let (source, nodes, problems) = load(args)?;
    let reports: Vec<NodeReport> = nodes.iter().map(rules::check_node).collect();

    let mut out = anstream::AutoStream::auto(std::io::stdout().lock());
    if args.json {
        let docs: Vec<JsonReport<'_>> = reports
            .iter()
            .zip(&nodes)
            .map(|(r, n)| JsonReport {
                report: r,
                input: &source,
                kind: n.kind,
                devices: n.devices.len(),
                problems: &problems,
            })
            .collect();
        // One node (the usual case) is one object; `pdsh` input with several hosts is an array.
        if docs.len() == 1 {
            serde_json::to_writer_pretty(&mut out, &docs[0])?;
        } else {
            serde_json::to_writer_pretty(&mut out, &docs)?;
        }
        writeln!(out)?;
    } else {
        for (report, node) in reports.iter().zip(&nodes) {
            print_report(&mut out, &source, node, report)?;
        }
        print_problems(&source, &problems);
    }
    out.flush()?;

    if problems.iter().any(|p| p.lost_data) {
        return Ok(Exit::BadInput);
    }
    Ok(crate::exit::for_findings(
        args.fail_on,
        reports
            .iter()
            .flat_map(|r| r.findings.iter().map(|f| f.severity)),
    ))
}

/// The JSON document: the rulebook's report plus where it came from.
#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a NodeReport,
    input: &'a str,
    kind: InputKind,
    devices: usize,
    problems: &'a [Problem],
}

/// Reads the nodes to check: collected live, or from INPUT.
fn load(args: &DoctorArgs) -> anyhow::Result<(String, Vec<Node>, Vec<Problem>)> {
    let Some(path) = args.input.as_deref() else {
        let options = match &args.root {
            Some(root) => {
                trainyard_collect::check_root(root)?;
                trainyard_collect::CollectOptions::fake_root(root.clone())
            }
            None => trainyard_collect::CollectOptions::default(),
        };
        let snapshot = trainyard_collect::collect(&options);
        let (node, skipped) = Node::from_snapshot(snapshot, InputKind::Live);
        let problems = skipped
            .into_iter()
            .map(|s| Problem {
                line: None,
                message: format!("PCI function {}: {}", s.address, s.reason),
                lost_data: false,
            })
            .collect();
        let source = if let Some(root) = &args.root {
            format!("tree under {}", root.display())
        } else {
            "this machine".to_string()
        };
        return Ok((source, vec![node], problems));
    };
    let opened = input::open(Some(path))?;
    let default_name = match &opened.path {
        Some(p) => ingest::name_from_path(p),
        None => "stdin".to_string(),
    };
    let ingested = ingest::read_input(&default_name, opened.reader)
        .with_context(|| format!("cannot read {}", opened.name))?;
    if ingested.nodes.is_empty() {
        print_problems(&opened.name, &ingested.problems);
        anyhow::bail!("{}: no PCI devices found", opened.name);
    }
    Ok((opened.name, ingested.nodes, ingested.problems))
}

fn list_rules() -> anyhow::Result<Exit> {
    let mut out = anstream::AutoStream::auto(std::io::stdout().lock());
    for r in rules::rules() {
        writeln!(
            out,
            "{:<24} {:<8} {}",
            r.id,
            r.severity.to_string(),
            r.title
        )?;
    }
    Ok(Exit::Clean)
}

fn severity_label(s: Severity) -> String {
    match s {
        Severity::Error => "ERROR".red().bold().to_string(),
        Severity::Warning => "WARNING".yellow().bold().to_string(),
        Severity::Info => "INFO".cyan().to_string(),
    }
}

fn kind_label(k: InputKind) -> &'static str {
    match k {
        InputKind::Live => "collected live",
        InputKind::Snapshot => "snapshot",
        InputKind::LspciText => "lspci text",
        InputKind::HexDump => "lspci hex dump",
        InputKind::RawConfig => "raw config space",
    }
}

/// Human report: findings grouped by severity, then by rule (why and fix once per rule,
/// one line per device), then what could not be checked, then a one-line summary.
fn print_report(
    out: &mut impl Write,
    source: &str,
    node: &Node,
    report: &NodeReport,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{} {} ({}, {}, {} PCI functions)",
        "node".bold(),
        report.node.bold(),
        source,
        kind_label(node.kind),
        node.devices.len()
    )?;
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in report.findings.iter().filter(|f| f.severity == severity) {
            by_rule.entry(f.rule).or_default().push(f);
        }
        for (rule, findings) in by_rule {
            writeln!(out)?;
            let count = if findings.len() > 1 {
                format!(" ({} devices)", findings.len())
            } else {
                String::new()
            };
            writeln!(out, "{} {}{}", severity_label(severity), rule.bold(), count)?;
            for f in &findings {
                let device = f.device.as_deref().unwrap_or("node");
                writeln!(out, "  {device}  {}", f.summary)?;
                if !f.keys.is_empty() {
                    // A few keys tell the story; the JSON report carries them all.
                    let mut evidence: Vec<String> = f
                        .keys
                        .iter()
                        .take(8)
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    if f.keys.len() > 8 {
                        evidence.push(format!("... {} more", f.keys.len() - 8));
                    }
                    writeln!(
                        out,
                        "  {:width$}  {}",
                        "",
                        evidence.join(" ").dimmed(),
                        width = device.len()
                    )?;
                }
            }
            if let Some(first) = findings.first() {
                writeln!(out, "  {} {}", "why:".bold(), first.why)?;
                writeln!(out, "  {} {}", "fix:".bold(), first.fix)?;
            }
        }
    }
    if !report.unchecked.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "Not checked".bold())?;
        for u in &report.unchecked {
            writeln!(out, "  {:<22} {}: {}", u.rule, u.what, u.why)?;
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    writeln!(out)?;
    writeln!(
        out,
        "{}, {}, {}; {} not run",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Info), "note"),
        plural(report.unchecked.len(), "check")
    )?;
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn print_problems(source: &str, problems: &[Problem]) {
    let mut err = anstream::stderr();
    for p in problems {
        let label = if p.lost_data {
            "error".red().bold().to_string()
        } else {
            "note".cyan().to_string()
        };
        let _ = match p.line {
            Some(l) => writeln!(err, "{label}: {source}:{l}: {}", p.message),
            None => writeln!(err, "{label}: {source}: {}", p.message),
        };
    }
}
