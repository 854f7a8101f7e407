//! `trainyard fleet analyze`: the odd node and the wrong setting among thousands.

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use anyhow::Context;
use owo_colors::OwoColorize;
use trainyard_fleet::analysis::{
    build_report_keeping, Accumulator, FindingKind, FleetFinding, FleetReport, SkippedInput,
};
use trainyard_fleet::rules::Severity;
use trainyard_fleet::sources::{read_fleet, FleetInput, FleetItem, Progress, ReadOptions};

use crate::args::AnalyzeArgs;
use crate::exit::Exit;

/// Per worker: the analysis accumulator and the inputs it had to skip.
struct Worker {
    acc: Accumulator,
    skipped: Vec<SkippedInput>,
}

/// Runs the command.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<Exit> {
    let inputs: Vec<FleetInput> = args
        .inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                FleetInput::Stdin
            } else {
                FleetInput::Path(p.clone())
            }
        })
        .collect();
    for input in &inputs {
        if let FleetInput::Path(p) = input {
            if !p.exists() {
                anyhow::bail!("{}: no such file or directory", p.display());
            }
        }
    }
    let bar = progress_bar();
    let mut opts = ReadOptions {
        threads: args.threads,
        pdsh_window: args.pdsh_window,
        ..ReadOptions::default()
    };
    if let Some(bar) = &bar {
        let bar = bar.clone();
        opts.progress = Some(Arc::new(move |p: Progress| {
            if let Some(total) = p.bytes_total {
                bar.set_length(total);
            }
            bar.set_position(p.bytes_read);
            bar.set_message(format!("{} nodes, {} skipped", p.nodes, p.skipped));
        }));
    }
    let counter = Arc::new(AtomicU32::new(0));
    // Phase timings for `-v`: where a long run spends its time (reading and folding on
    // every worker, then merging and ranking on one thread).
    let started = std::time::Instant::now();
    let workers = read_fleet(
        &inputs,
        &opts,
        || Worker {
            acc: Accumulator::new(counter.clone()),
            skipped: Vec::new(),
        },
        |w, item| match item {
            FleetItem::Node(node) => w.acc.add_node(&node),
            FleetItem::Skipped(s) => w.skipped.push(SkippedInput {
                input: s.input,
                line: s.line,
                error: s.error,
            }),
        },
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut accs = Vec::with_capacity(workers.len());
    let mut skipped = Vec::new();
    for w in workers {
        accs.push(w.acc);
        skipped.extend(w.skipped);
    }
    skipped.sort_by(|a, b| a.input.cmp(&b.input).then(a.line.cmp(&b.line)));
    let folded = started.elapsed();
    let (report, merged) = build_report_keeping(accs, skipped);
    // The merged accumulator (a node set per distinct slot, setting and value) is freed with
    // the process, which ends after printing: freeing it piece by piece cost 0.15 M
    // instructions per node at 200 nodes (a fixed 30 M or so whatever the fleet's size,
    // since it holds distinct values, not nodes). Nothing in it owns an outside resource.
    std::mem::forget(merged);
    tracing::info!(
        nodes = report.nodes,
        read_and_fold_s = folded.as_secs_f64(),
        merge_and_report_s = (started.elapsed() - folded).as_secs_f64(),
        "fleet analyzed"
    );

    if let Some(path) = &args.html {
        let title = format!("trainyard fleet report: {} nodes", report.nodes);
        let page = trainyard_fleet::analysis::render_html(&report, &title);
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    if args.json {
        let mut out = std::io::BufWriter::new(stdout.lock());
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
        out.flush()?;
    } else {
        let mut out = std::io::BufWriter::new(anstream::AutoStream::auto(stdout.lock()));
        print_report(&mut out, &report, args)?;
        out.flush()?;
    }

    if report.nodes == 0 {
        anyhow::bail!("no node could be read from the input");
    }
    if !report.skipped.is_empty() {
        return Ok(Exit::BadInput);
    }
    Ok(crate::exit::for_findings(
        args.fail_on,
        report.findings.iter().map(|f| f.severity),
    ))
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn severity_cell(s: Severity) -> String {
    match s {
        Severity::Error => format!("{:<7}", "error").red().bold().to_string(),
        Severity::Warning => format!("{:<7}", "warning").yellow().bold().to_string(),
        Severity::Info => format!("{:<7}", "info").cyan().to_string(),
    }
}

fn kind_word(k: FindingKind) -> &'static str {
    match k {
        FindingKind::Missing => "missing",
        FindingKind::Deviation => "deviation",
        FindingKind::Rule => "rule",
        FindingKind::Extra => "extra",
        FindingKind::Variation => "variation",
    }
}

fn node_list(nodes: &[String], n: usize) -> String {
    if nodes.len() <= 8 {
        return nodes.join(", ");
    }
    if nodes.len() == n {
        return format!("all {n}");
    }
    format!(
        "{}, ... and {} more",
        nodes[..6].join(", "),
        nodes.len() - 6
    )
}

/// What a person needs first on one screen: counts, the top findings with node counts, the
/// cohorts and their hints; then the details.
fn print_report(out: &mut impl Write, r: &FleetReport, args: &AnalyzeArgs) -> anyhow::Result<()> {
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{} {} nodes, {} device slots: {} errors, {} warnings, {} notes{}",
        "fleet".bold(),
        r.nodes,
        r.slots,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        if r.skipped.is_empty() {
            String::new()
        } else {
            format!("; {} inputs skipped", r.skipped.len())
        }
    )?;
    if r.findings.is_empty() {
        writeln!(
            out,
            "No differences between nodes and no rulebook findings."
        )?;
    } else {
        writeln!(out)?;
        writeln!(out, "   #  SEV       NODES  FINDING")?;
        let shown: Vec<&FleetFinding> = r.findings.iter().take(args.top).collect();
        for (i, f) in shown.iter().enumerate() {
            writeln!(
                out,
                " {:>3}  {}  {:>6}  {}",
                i + 1,
                severity_cell(f.severity),
                f.count,
                f.summary
            )?;
        }
        if r.findings.len() > shown.len() {
            writeln!(
                out,
                "      ... {} more findings below (--top N shows more)",
                r.findings.len() - shown.len()
            )?;
        }
    }
    if !r.cohorts.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            "Cohorts (nodes that share their differences)".bold()
        )?;
        for c in &r.cohorts {
            writeln!(out, "  [{}] {}", c.id, c.summary)?;
            writeln!(out, "      nodes: {}", node_list(&c.nodes, r.nodes))?;
        }
    }
    let detailed: Vec<(usize, &FleetFinding)> = r
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| args.all || f.severity > Severity::Info)
        .collect();
    if !detailed.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "Details".bold())?;
        for (i, f) in detailed {
            writeln!(out)?;
            writeln!(
                out,
                " {:>3}  {} {} {}",
                i + 1,
                severity_cell(f.severity),
                kind_word(f.kind),
                f.key.bold()
            )?;
            writeln!(out, "      {}", f.summary)?;
            if !f.fleet_value.is_empty() {
                writeln!(out, "      value: {}   fleet: {}", f.value, f.fleet_value)?;
            } else if !f.value.is_empty() {
                writeln!(out, "      evidence: {}", f.value)?;
            }
            writeln!(out, "      nodes: {}", node_list(&f.nodes, r.nodes))?;
            for s in f.slots.iter().take(4) {
                writeln!(out, "      slot: {s}")?;
            }
            if f.slots.len() > 4 {
                writeln!(out, "      ... and {} more slots", f.slots.len() - 4)?;
            }
            if let Some(why) = &f.why {
                writeln!(out, "      {} {why}", "why:".bold())?;
            }
            if let Some(fix) = &f.fix {
                writeln!(out, "      {} {fix}", "fix:".bold())?;
            }
        }
    }
    let hidden = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .count();
    if hidden > 0 && !args.all {
        writeln!(out)?;
        writeln!(out, "{hidden} low-ranked findings (natural variation, probe noise) not detailed; --all shows them")?;
    }
    if r.identifier_keys > 0 {
        writeln!(
            out,
            "{} settings hold a different value on nearly every node (serial numbers, addresses, IRQs) and were left out",
            r.identifier_keys
        )?;
    }
    if !r.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "Skipped inputs".bold())?;
        for s in &r.skipped {
            match s.line {
                Some(l) => writeln!(out, "  {}:{l}: {}", s.input, s.error)?,
                None => writeln!(out, "  {}: {}", s.input, s.error)?,
            }
        }
    }
    Ok(())
}
