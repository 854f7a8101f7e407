//! The fleet report as one self-contained HTML page: counts at the top, a nodes × findings
//! heat map, a drill-down panel per finding (and per node), the cohorts with their hints, the
//! low-ranked differences and the skipped inputs.
//!
//! The page has no external resources (it is opened from a shared file system, often
//! offline). Every string from the data is escaped: node names, values and file names come
//! from input files. Static parts (counts, the ranked list, cohorts, skipped inputs) are
//! HTML, so the page reads without JavaScript; the heat map and the drill-down are drawn by
//! a little JavaScript from compact JSON (node names once, then per-finding lists of node
//! indices), so that a 10,000-node fleet does not become a million empty table cells.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::natural::node_name_cmp;
use super::report::{Cohort, FindingKind, FleetFinding, FleetReport};
use crate::rules::Severity;

/// Heat-map rows drawn at most; the rest are counted in a note and remain in each finding's
/// node list. 2,000 rows of 16 px is already 32,000 px of scrolling.
const MAX_ROWS: usize = 2_000;
/// Heat-map columns drawn at most (one per warning or error).
const MAX_COLS: usize = 300;
/// Node names shown inline in the static lists before "+N more".
const INLINE_NAMES: usize = 8;

/// Renders `report` as a single HTML page titled `title`.
pub fn render_html(report: &FleetReport, title: &str) -> String {
    let model = Model::build(report);
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>{}</title>", esc(title));
    h.push_str("<style>");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n");
    header(&mut h, report, title, &model);
    h.push_str("<main>\n");
    heatmap(&mut h, report, &model);
    findings_list(&mut h, report);
    cohorts(&mut h, report);
    low_ranked(&mut h, report);
    skipped(&mut h, report);
    h.push_str("</main>\n");
    h.push_str(
        "<aside id=\"panel\" class=\"panel\" hidden>\
         <button type=\"button\" class=\"close\" id=\"panel-close\" title=\"Close (Esc)\">&times;</button>\
         <div id=\"panel-body\"></div></aside>\n<div id=\"tip\" class=\"tip\" hidden></div>\n",
    );
    h.push_str("<script type=\"application/json\" id=\"fleet-data\">");
    h.push_str(&model.json(report));
    h.push_str("</script>\n<script>");
    h.push_str(JS);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

/// Escapes text for HTML content and double- or single-quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12,345`: counts of nodes are read at a glance.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn kind_str(k: FindingKind) -> &'static str {
    match k {
        FindingKind::Missing => "missing",
        FindingKind::Deviation => "deviation",
        FindingKind::Rule => "rule",
        FindingKind::Extra => "extra",
        FindingKind::Variation => "variation",
    }
}

/// The device part of a label a person recognises in a narrow header: `GPU 0 (H100 ...) at
/// 0000:04:00.0 behind ...` → `GPU 0`.
fn short_device(label: &str) -> &str {
    let cut = [" (", " at ", " behind "]
        .iter()
        .filter_map(|p| label.find(p))
        .min()
        .unwrap_or(label.len());
    &label[..cut]
}

/// Column header: what differs and where, short enough to read rotated.
fn column_header(f: &FleetFinding) -> String {
    let place = if f.slots.len() > 1 {
        format!("{} devices", f.slots.len())
    } else {
        short_device(&f.label).to_string()
    };
    match f.kind {
        FindingKind::Missing | FindingKind::Extra => format!("{} {place}", f.key),
        _ if place.is_empty() || place == "node-wide" => f.key.clone(),
        _ => format!("{} · {place}", f.key),
    }
}

/// The summary without its leading `3 of 40 nodes: ` (the count is shown beside it).
fn summary_body(f: &FleetFinding, n: usize) -> &str {
    let prefixes = [
        format!("{} of {n} nodes: ", f.count),
        format!("all {n} nodes: "),
    ];
    prefixes
        .iter()
        .find_map(|p| f.summary.strip_prefix(p.as_str()))
        .unwrap_or(&f.summary)
}

/// What a cohort's nodes have in common, without the count and the hints (shown apart).
fn cohort_what(c: &Cohort) -> String {
    let prefix = format!("{} nodes: ", c.count);
    let mut s = c.summary.strip_prefix(&prefix).unwrap_or(&c.summary);
    for h in c.hints.iter().rev() {
        if let Some(rest) = s.strip_suffix(h.summary.as_str()) {
            if let Some(rest) = rest.strip_suffix("; ") {
                s = rest;
            }
        }
    }
    s.to_string()
}

/// The worst severity among a cohort's findings.
fn cohort_severity(report: &FleetReport, c: &Cohort) -> Severity {
    c.findings
        .iter()
        .filter_map(|&i| report.findings.get(i))
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// `a, b, c +5 more`, escaped.
fn inline_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(INLINE_NAMES)
        .map(|n| esc(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > INLINE_NAMES {
        let _ = write!(
            s,
            " <em>+{} more</em>",
            thousands(names.len() - INLINE_NAMES)
        );
    }
    s
}

/// What the page computes once: the node name table, heat-map columns, and rows in order.
struct Model<'a> {
    /// Every node named by a finding, naturally sorted; JSON refers to nodes by index here.
    names: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
    /// Findings drawn as columns (warnings and errors, report order).
    cols: Vec<usize>,
    /// Nodes drawn as rows, in order.
    rows: Vec<u32>,
    /// Nodes that would be rows without the cap.
    rows_total: usize,
    /// `(first row, cohort, rows)` of each run of rows led by the same cohort.
    groups: Vec<(usize, Option<usize>, usize)>,
    /// Per column, how many nodes that stand out for nothing else it concerns.
    others: Vec<usize>,
}

impl<'a> Model<'a> {
    fn build(report: &'a FleetReport) -> Self {
        let mut names: Vec<&str> = report
            .findings
            .iter()
            .flat_map(|f| f.nodes.iter().map(String::as_str))
            .collect();
        names.sort_unstable_by(|a, b| node_name_cmp(a, b));
        names.dedup();
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();

        let cols: Vec<usize> = report
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.severity != Severity::Info && f.count > 0)
            .map(|(i, _)| i)
            .take(MAX_COLS)
            .collect();

        // Each node's columns, those on most nodes left out: a finding on (nearly) every
        // node says nothing about which nodes stand out, and would make every node a row.
        let mut sig: Vec<Vec<u32>> = vec![Vec::new(); names.len()];
        for (c, &fi) in cols.iter().enumerate() {
            let f = &report.findings[fi];
            if is_common(report, f) {
                continue;
            }
            for n in &f.nodes {
                if let Some(&i) = index.get(n.as_str()) {
                    sig[i as usize].push(c as u32);
                }
            }
        }
        // Sorting by the column lists puts the nodes of the most severe, rarest finding
        // first and keeps nodes with the same findings together: blocks, not noise.
        let mut rows: Vec<u32> = (0..names.len() as u32)
            .filter(|&i| !sig[i as usize].is_empty())
            .collect();
        rows.sort_by(|&a, &b| sig[a as usize].cmp(&sig[b as usize]).then(a.cmp(&b)));
        let rows_total = rows.len();
        rows.truncate(MAX_ROWS);

        // A node's group is the cohort of its first column. Nodes of one cohort share all
        // its columns, so each group is one run of rows.
        let mut groups: Vec<(usize, Option<usize>, usize)> = Vec::new();
        for (r, &node) in rows.iter().enumerate() {
            let first = sig[node as usize][0] as usize;
            let cohort = report.findings[cols[first]].cohort;
            match groups.last_mut() {
                Some(g) if g.1 == cohort => g.2 += 1,
                _ => groups.push((r, cohort, 1)),
            }
        }
        // How many of the nodes that are not rows each column concerns, for the last row.
        let others: Vec<usize> = cols
            .iter()
            .map(|&fi| {
                report.findings[fi]
                    .nodes
                    .iter()
                    .filter(|n| {
                        index
                            .get(n.as_str())
                            .is_some_and(|&i| sig[i as usize].is_empty())
                    })
                    .count()
            })
            .collect();
        Self {
            names,
            index,
            cols,
            rows,
            rows_total,
            groups,
            others,
        }
    }

    /// The data the script draws from, safe inside `<script>`: every `<` is written as
    /// `\u003c`, so neither `</script>` nor `<!--` can appear.
    fn json(&self, report: &FleetReport) -> String {
        let findings: Vec<FindingJson> = report
            .findings
            .iter()
            .map(|f| {
                let all = is_fleet_wide(report, f);
                let mut ix: Vec<u32> = if all {
                    Vec::new()
                } else {
                    f.nodes
                        .iter()
                        .filter_map(|n| self.index.get(n.as_str()).copied())
                        .collect()
                };
                ix.sort_unstable();
                ix.dedup();
                FindingJson {
                    k: kind_str(f.kind),
                    s: f.severity.as_str(),
                    sum: &f.summary,
                    body: summary_body(f, report.nodes),
                    key: &f.key,
                    h: column_header(f),
                    slots: &f.slots,
                    label: &f.label,
                    v: &f.value,
                    fv: &f.fleet_value,
                    why: f.why.as_deref(),
                    fix: f.fix.as_deref(),
                    c: f.cohort,
                    cnt: f.count,
                    all,
                    ix,
                }
            })
            .collect();
        let cohorts: Vec<CohortJson> = report
            .cohorts
            .iter()
            .map(|c| CohortJson {
                id: c.id,
                cnt: c.count,
                what: cohort_what(c),
                hints: c.hints.iter().map(|h| h.summary.as_str()).collect(),
                f: &c.findings,
            })
            .collect();
        let data = DataJson {
            n: report.nodes,
            names: &self.names,
            cols: &self.cols,
            rows: &self.rows,
            more: self.rows_total - self.rows.len(),
            others: report.nodes.saturating_sub(self.rows_total),
            oc: &self.others,
            groups: self
                .groups
                .iter()
                .map(|&(r, c, n)| GroupJson { r, c, n })
                .collect(),
            f: findings,
            co: cohorts,
        };
        // Serializing plain strings and numbers cannot fail; an empty object keeps the page
        // usable if it ever did.
        serde_json::to_string(&data)
            .unwrap_or_else(|_| "{}".into())
            .replace('<', "\\u003c")
    }
}

fn is_fleet_wide(report: &FleetReport, f: &FleetFinding) -> bool {
    report.nodes > 0 && f.count >= report.nodes
}

/// On more than half of the nodes: the fleet's problem, not what sets nodes apart.
fn is_common(report: &FleetReport, f: &FleetFinding) -> bool {
    f.count * 2 > report.nodes
}

#[derive(Serialize)]
struct DataJson<'a> {
    n: usize,
    names: &'a [&'a str],
    cols: &'a [usize],
    rows: &'a [u32],
    /// Rows left out by the cap.
    more: usize,
    /// Nodes with no warning or error of their own (only common ones, or none).
    others: usize,
    /// Per column, how many of `others` it concerns.
    oc: &'a [usize],
    groups: Vec<GroupJson>,
    f: Vec<FindingJson<'a>>,
    co: Vec<CohortJson<'a>>,
}

#[derive(Serialize)]
struct GroupJson {
    r: usize,
    c: Option<usize>,
    n: usize,
}

#[derive(Serialize)]
struct FindingJson<'a> {
    k: &'static str,
    s: &'static str,
    sum: &'a str,
    body: &'a str,
    key: &'a str,
    h: String,
    slots: &'a [String],
    label: &'a str,
    v: &'a str,
    fv: &'a str,
    why: Option<&'a str>,
    fix: Option<&'a str>,
    c: Option<usize>,
    cnt: usize,
    /// Every node: the index list is left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ix: Vec<u32>,
}

#[derive(Serialize)]
struct CohortJson<'a> {
    id: usize,
    cnt: usize,
    what: String,
    hints: Vec<&'a str>,
    f: &'a [usize],
}

fn header(h: &mut String, report: &FleetReport, title: &str, model: &Model) {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let _ = write!(
        h,
        "<header class=\"top\">\n<div class=\"brand\"><h1>{}</h1>\
         <p class=\"sub\">trainyard fleet analyze &middot; {} &middot; {} &middot; {} left out</p></div>\n\
         <div class=\"stats\">",
        esc(title),
        plural(report.nodes, "node", "nodes"),
        plural(report.slots, "device slot", "device slots"),
        plural(report.identifier_keys, "identifier setting", "identifier settings"),
    );
    let stat = |h: &mut String, class: &str, n: usize, what: &str, href: &str, tip: &str| {
        let _ = write!(
            h,
            "<a class=\"stat {class}\" href=\"#{href}\" title=\"{tip}\"><b>{}</b><span>{what}</span></a>",
            thousands(n)
        );
    };
    stat(h, "", report.nodes, "nodes", "map", "nodes analyzed");
    stat(
        h,
        if model.rows_total > 0 { "odd" } else { "" },
        model.rows_total,
        "stand out",
        "map",
        "nodes with a warning or error that not every node shares",
    );
    stat(h, "error", errors, "errors", "findings", "error findings");
    stat(
        h,
        "warning",
        warnings,
        "warnings",
        "findings",
        "warning findings",
    );
    stat(
        h,
        "info",
        infos,
        "low-ranked",
        "low",
        "differences healthy fleets show",
    );
    stat(
        h,
        if report.skipped.is_empty() {
            ""
        } else {
            "skipped"
        },
        report.skipped.len(),
        "skipped inputs",
        "skipped",
        "inputs that could not be read",
    );
    h.push_str("</div>\n</header>\n");
}

fn heatmap(h: &mut String, report: &FleetReport, model: &Model) {
    h.push_str("<section id=\"map\">\n<h2>Nodes &times; findings</h2>\n");
    if model.cols.is_empty() {
        h.push_str(
            "<p class=\"good\">No warnings or errors: every node agrees with the fleet and the rulebook.</p>\n</section>\n",
        );
        return;
    }
    let fleet_wide = model
        .cols
        .iter()
        .filter(|&&i| is_fleet_wide(report, &report.findings[i]))
        .count();
    let _ = writeln!(
        h,
        "<p class=\"note\">Rows: the {} that stand out (a warning or error most nodes do not \
         have), grouped by cohort{}. Columns: the {}, most severe and rarest first{}. \
         Click a column, a cell or a node for details.</p>",
        plural(model.rows_total, "node", "nodes"),
        if model.rows_total < report.nodes {
            "; the last row stands for the rest of the fleet"
        } else {
            ""
        },
        plural(model.cols.len(), "warning or error", "warnings and errors"),
        if fleet_wide > 0 {
            "; a finding on every node fills its column"
        } else {
            ""
        },
    );
    let total_cols = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info && f.count > 0)
        .count();
    if model.rows_total > model.rows.len() {
        let _ = writeln!(
            h,
            "<p class=\"cap\">Showing the first {} of {} nodes that stand out; every finding's \
             drill-down lists all its nodes.</p>",
            thousands(model.rows.len()),
            thousands(model.rows_total)
        );
    }
    if total_cols > model.cols.len() {
        let _ = writeln!(
            h,
            "<p class=\"cap\">Showing the first {} of {} warnings and errors; the rest are \
             in the list below.</p>",
            thousands(model.cols.len()),
            thousands(total_cols)
        );
    }
    h.push_str(
        "<div class=\"legend\"><span><i class=\"sw error\"></i>error</span>\
         <span><i class=\"sw warning\"></i>warning</span>\
         <span><i class=\"sw error pale\"></i><i class=\"sw warning pale\"></i>on most nodes</span>\
         <span class=\"muted\">bar above each column: share of the fleet</span></div>\n\
         <div id=\"hm\" class=\"hm\"><canvas id=\"hm-canvas\"></canvas><div id=\"hm-size\" class=\"hm-size\"></div></div>\n\
         <noscript><p class=\"note\">The heat map needs JavaScript; the findings are listed below.</p></noscript>\n\
         </section>\n",
    );
}

fn findings_list(h: &mut String, report: &FleetReport) {
    let ranked: Vec<(usize, &FleetFinding)> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.severity != Severity::Info)
        .collect();
    let _ = writeln!(
        h,
        "<section id=\"findings\">\n<h2>Findings <span class=\"count\">{}</span></h2>",
        ranked.len()
    );
    if ranked.is_empty() {
        h.push_str("<p class=\"good\">None.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table class=\"ft\">\n<thead><tr><th>Severity</th><th>Finding</th><th class=\"num\">Nodes</th></tr></thead>\n<tbody>\n",
    );
    for (i, f) in ranked {
        finding_row(h, report, i, f);
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn finding_row(h: &mut String, report: &FleetReport, i: usize, f: &FleetFinding) {
    let share = if report.nodes == 0 {
        0.0
    } else {
        100.0 * f.count as f64 / report.nodes as f64
    };
    let sev = f.severity.as_str();
    let _ = write!(
        h,
        "<tr class=\"f\" data-f=\"{i}\" tabindex=\"0\"><td class=\"sevcell\"><span class=\"sev {sev}\">{sev}</span>\
         <span class=\"kind\">{}</span></td><td><div class=\"sum\">{}</div>\
         <div class=\"meta\"><code>{}</code>",
        kind_str(f.kind),
        esc(summary_body(f, report.nodes)),
        esc(&f.key),
    );
    if f.kind != FindingKind::Rule && !f.fleet_value.is_empty() {
        let _ = write!(
            h,
            " <span class=\"val bad\">{}</span> <span class=\"vs\">fleet</span> <span class=\"val good\">{}</span>",
            esc(&f.value),
            esc(&f.fleet_value)
        );
    }
    if let Some(c) = f.cohort {
        let _ = write!(h, " <span class=\"cohort-tag\">cohort {c}</span>");
    }
    let _ = writeln!(
        h,
        "</div></td><td class=\"nodes\"><div class=\"bar\"><i class=\"{sev}\" style=\"width:{share:.1}%\"></i></div>\
         <div class=\"n\">{} <span>/ {}</span></div><div class=\"names\">{}</div></td></tr>",
        thousands(f.count),
        thousands(report.nodes),
        if f.count == report.nodes && report.nodes > INLINE_NAMES {
            "every node".to_string()
        } else {
            inline_names(&f.nodes)
        },
    );
}

fn cohorts(h: &mut String, report: &FleetReport) {
    let _ = writeln!(
        h,
        "<section id=\"cohorts\">\n<h2>Cohorts <span class=\"count\">{}</span></h2>",
        report.cohorts.len()
    );
    if report.cohorts.is_empty() {
        h.push_str("<p class=\"note\">No group of nodes shares a difference.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<p class=\"note\">Nodes that share the same findings, and the platform facts (BIOS, \
         kernel, firmware) that set them apart from the rest of the fleet.</p>\n<div class=\"cards\">\n",
    );
    for c in &report.cohorts {
        let sev = cohort_severity(report, c).as_str();
        let _ = write!(
            h,
            "<div class=\"card {sev}\" id=\"cohort-{}\"><div class=\"card-h\"><span class=\"sev {sev}\">{sev}</span>\
             <b>Cohort {}</b><span class=\"muted\">{}</span></div>",
            c.id,
            c.id,
            plural(c.count, "node", "nodes"),
        );
        if !c.hints.is_empty() {
            h.push_str("<ul class=\"hints\">");
            for hint in &c.hints {
                let _ = write!(
                    h,
                    "<li><span class=\"hint-k\">{}</span> <span class=\"val bad\">{}</span> \
                     <span class=\"vs\">fleet</span> <span class=\"val good\">{}</span></li>",
                    esc(&hint.key),
                    esc(&hint.value),
                    esc(&hint.fleet_value)
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("<ul class=\"cf\">");
        for &i in &c.findings {
            if let Some(f) = report.findings.get(i) {
                let s = f.severity.as_str();
                let _ = write!(
                    h,
                    "<li class=\"f\" data-f=\"{i}\" tabindex=\"0\"><i class=\"dot {s}\"></i>{}</li>",
                    esc(summary_body(f, report.nodes))
                );
            }
        }
        let _ = writeln!(
            h,
            "</ul><div class=\"names\">{}</div></div>",
            inline_names(&c.nodes)
        );
    }
    h.push_str("</div>\n</section>\n");
}

fn low_ranked(h: &mut String, report: &FleetReport) {
    let low: Vec<(usize, &FleetFinding)> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.severity == Severity::Info)
        .collect();
    let _ = write!(
        h,
        "<section id=\"low\">\n<details><summary><h2>Low-ranked differences <span class=\"count\">{}</span></h2>\
         <span class=\"muted\">what healthy fleets show too; each says why it was ranked low</span></summary>\n",
        low.len()
    );
    if low.is_empty() {
        h.push_str("<p class=\"note\">None.</p>\n");
    } else {
        h.push_str("<ul class=\"low\">\n");
        for (i, f) in low {
            let _ = write!(
                h,
                "<li class=\"f\" data-f=\"{i}\" tabindex=\"0\"><div class=\"sum\"><span class=\"kind\">{}</span> {}</div>",
                kind_str(f.kind),
                esc(&f.summary)
            );
            if let Some(why) = &f.why {
                let _ = write!(
                    h,
                    "<div class=\"why\">Ranked low because {}</div>",
                    esc(why)
                );
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</details>\n</section>\n");
}

fn skipped(h: &mut String, report: &FleetReport) {
    let _ = writeln!(
        h,
        "<section id=\"skipped\">\n<h2>Skipped inputs <span class=\"count\">{}</span></h2>",
        report.skipped.len()
    );
    if report.skipped.is_empty() {
        h.push_str("<p class=\"note\">Every input was read.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table class=\"sk\">\n<thead><tr><th>Input</th><th class=\"num\">Line</th><th>Why</th></tr></thead>\n<tbody>\n",
    );
    for s in &report.skipped {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&s.input),
            s.line.map(|l| l.to_string()).unwrap_or_default(),
            esc(&s.error)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

const CSS: &str = r#"
:root{--bg:#f4f5f7;--card:#fff;--ink:#1c2230;--muted:#687385;--line:#e3e6eb;--accent:#2f6fde;
--error:#d4343f;--warning:#e9a21a;--info:#98a2b3;--good:#1f8a4c;--hint:#7a4fd6;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
html{scroll-behavior:smooth}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
body.panel-open{margin-right:min(460px,45vw)}
code{font-family:var(--mono);font-size:12.5px}
.top{background:linear-gradient(120deg,#141b2d,#1f2b47);color:#fff;padding:22px 32px 20px;display:flex;flex-wrap:wrap;gap:18px 40px;align-items:flex-end;justify-content:space-between}
.top h1{margin:0;font-size:22px;font-weight:650;letter-spacing:.2px}
.top .sub{margin:4px 0 0;color:#aab4c8;font-size:13px}
.stats{display:flex;flex-wrap:wrap;gap:10px}
.stat{display:flex;flex-direction:column;min-width:92px;padding:8px 14px;border-radius:10px;background:rgba(255,255,255,.07);border:1px solid rgba(255,255,255,.1);color:#fff;text-decoration:none}
.stat:hover{background:rgba(255,255,255,.13)}
.stat b{font-size:24px;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums}
.stat span{font-size:12px;color:#aab4c8}
.stat.error b{color:#ff7b84}.stat.warning b{color:#ffc857}.stat.info b{color:#c3cad6}
.stat.odd b{color:#fff}.stat.odd{border-color:rgba(255,123,132,.45)}
.stat.skipped b{color:#ffc857}
main{max-width:1500px;margin:0 auto;padding:8px 28px 60px}
section{margin-top:26px}
h2{font-size:17px;font-weight:650;margin:0 0 6px;display:inline-flex;align-items:center;gap:8px}
.count{font-size:12px;font-weight:600;background:#e4e8ee;color:#475266;border-radius:10px;padding:1px 8px}
.note{color:var(--muted);margin:2px 0 10px;max-width:900px}
.good{color:var(--good);font-weight:600}
.cap{background:#fff6e0;border:1px solid #f3d58b;border-radius:8px;padding:6px 12px;margin:6px 0;color:#6b4e00;display:inline-block}
.muted{color:var(--muted)}
.legend{display:flex;gap:16px;align-items:center;font-size:12px;color:var(--ink);margin:4px 0 8px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px}
.sw.pale{opacity:.5}
.sw.error,.dot.error,.bar i.error{background:var(--error)}
.sw.warning,.dot.warning,.bar i.warning{background:var(--warning)}
.dot.info,.bar i.info{background:var(--info)}
.hm{position:relative;overflow:auto;max-height:74vh;background:var(--card);border:1px solid var(--line);border-radius:12px;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.hm canvas{position:sticky;top:0;left:0;display:block}
.hm-size{pointer-events:none}
.tip{position:fixed;z-index:30;pointer-events:none;background:#1c2230;color:#fff;font-size:12px;padding:6px 9px;border-radius:6px;max-width:420px;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.tip b{font-weight:600}
.ft,.sk{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden}
.ft th,.sk th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted);font-weight:600;padding:8px 12px;border-bottom:1px solid var(--line);background:#fafbfc}
.ft td,.sk td{padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:top}
.ft tr:last-child td,.sk tr:last-child td{border-bottom:0}
.ft tr.f{cursor:pointer}
.ft tr.f:hover td,.ft tr.f.sel td{background:#f2f6fd}
.num{text-align:right}
.sevcell{width:110px;white-space:nowrap}
.sev{display:inline-block;font-size:11px;font-weight:650;text-transform:uppercase;letter-spacing:.4px;padding:2px 7px;border-radius:5px;color:#fff}
.sev.error{background:var(--error)}.sev.warning{background:var(--warning);color:#3d2a00}.sev.info{background:var(--info)}
.kind{display:block;font-size:11px;color:var(--muted);margin-top:3px}
.low .kind{display:inline;margin-right:4px;text-transform:uppercase;letter-spacing:.4px}
.sum{font-weight:500}
.meta{margin-top:3px;font-size:12px;color:var(--muted);display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.meta code{color:#33405a;background:#eef1f5;padding:1px 5px;border-radius:4px}
.val{font-family:var(--mono);font-size:12px;padding:1px 6px;border-radius:4px}
.val.bad{background:#fde8ea;color:#9f1c26}.val.good{background:#e3f4ea;color:#17683a}
.vs{font-size:11px;color:var(--muted)}
.cohort-tag{font-size:11px;color:var(--hint);border:1px solid #d9cdf5;border-radius:4px;padding:0 5px}
td.nodes{width:230px}
.bar{height:6px;background:#edf0f4;border-radius:3px;overflow:hidden;margin:5px 0 4px}
.bar i{display:block;height:100%;border-radius:3px;min-width:3px}
.n{font-weight:650;font-variant-numeric:tabular-nums}.n span{font-weight:400;color:var(--muted)}
.names{font-size:12px;color:var(--muted);overflow-wrap:anywhere}
.names em{font-style:normal;color:var(--accent)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--info);border-radius:12px;padding:12px 14px}
.card.error{border-left-color:var(--error)}.card.warning{border-left-color:var(--warning)}
.card-h{display:flex;gap:8px;align-items:center;margin-bottom:8px}
.hints{list-style:none;margin:0 0 8px;padding:8px 10px;background:#f4f0fd;border-radius:8px;font-size:12.5px}
.hints li{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.hints li::before{content:"\25B8";color:var(--hint)}
.hint-k{font-family:var(--mono);color:var(--hint);font-weight:600}
.cf{list-style:none;margin:0 0 8px;padding:0}
.cf li{padding:3px 4px;border-radius:5px;cursor:pointer;font-size:13px}
.cf li:hover{background:#f2f6fd}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:7px;vertical-align:1px}
details{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:10px 14px}
details summary{cursor:pointer;display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline}
details summary h2{margin:0}
.low{list-style:none;margin:10px 0 0;padding:0}
.low li{padding:8px 6px;border-top:1px solid var(--line);cursor:pointer}
.low li:hover{background:#f7f9fc}
.why{color:var(--muted);font-size:13px;margin-top:2px}
.panel{position:fixed;top:0;right:0;bottom:0;width:min(460px,45vw);background:var(--card);border-left:1px solid var(--line);box-shadow:-8px 0 24px rgba(16,24,40,.12);overflow:auto;padding:18px 20px 40px;z-index:20}
.panel .close{position:absolute;top:10px;right:12px;border:0;background:none;font-size:24px;line-height:1;color:var(--muted);cursor:pointer}
.panel h3{font-size:15px;font-weight:600;margin:8px 28px 10px 0;line-height:1.4}
.panel h4{font-size:11px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted);margin:16px 0 5px}
.panel p{margin:0}
.panel .pills{display:flex;gap:6px;align-items:center}
.panel .pill{font-size:11px;border:1px solid var(--line);border-radius:5px;padding:1px 7px;color:var(--muted)}
.panel .slots{font-family:var(--mono);font-size:11.5px;color:#33405a;background:#f6f8fa;border-radius:6px;padding:6px 8px;overflow-wrap:anywhere}
.panel .slots div+div{margin-top:3px}
.panel .cmp{display:grid;grid-template-columns:1fr 1fr;gap:8px}
.panel .cmp div{border-radius:8px;padding:8px 10px}
.panel .cmp .bad{background:#fde8ea}.panel .cmp .good{background:#e3f4ea}
.panel .cmp span{display:block;font-size:11px;color:var(--muted)}
.panel .cmp code{font-size:14px;font-weight:600;overflow-wrap:anywhere}
.panel .ev{font-family:var(--mono);font-size:12px;background:#f6f8fa;border-radius:6px;padding:6px 8px;overflow-wrap:anywhere}
.panel .fix{background:#eef5ff;border-left:3px solid var(--accent);padding:7px 10px;border-radius:0 6px 6px 0}
.panel .hint{background:#f4f0fd;color:#4b2f99;padding:6px 10px;border-radius:6px;margin-top:4px;font-weight:500}
.panel .chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.chip{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;border-radius:14px;padding:2px 10px;cursor:pointer;display:inline-flex;align-items:center;gap:6px}
.chip:hover{border-color:var(--accent)}
.chip .dot{margin:0}
.panel .filter{display:flex;gap:6px;margin-bottom:6px}
.panel input{flex:1;font:inherit;padding:5px 9px;border:1px solid #cfd5de;border-radius:7px}
.panel input:focus{outline:2px solid #b9cff7;border-color:var(--accent)}
.panel .nl{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:2px 10px;font-family:var(--mono);font-size:12px;max-height:46vh;overflow:auto;border:1px solid var(--line);border-radius:8px;padding:6px 8px}
.panel .nl a{color:var(--ink);text-decoration:none;cursor:pointer;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.panel .nl a:hover{color:var(--accent);text-decoration:underline}
.panel .nfl{list-style:none;padding:0;margin:0}
.panel .nfl li{padding:6px 4px;border-bottom:1px solid var(--line);cursor:pointer}
.panel .nfl li:hover{background:#f2f6fd}
.sk code{overflow-wrap:anywhere}
:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
"#;

const JS: &str = r#"
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('fleet-data').textContent);
  var C = {error: '#d4343f', warning: '#e9a21a', info: '#98a2b3', ink: '#1c2230', muted: '#687385',
    line: '#e3e6eb', zebra: '#fafbfc', group: '#eef1f6', hover: 'rgba(47,111,222,.08)', sel: '#2f6fde',
    hint: '#7a4fd6', track: '#edf0f4'};
  var panel = document.getElementById('panel');
  var body = document.getElementById('panel-body');
  var tip = document.getElementById('tip');
  var selected = -1;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function fmt(n) { return n.toLocaleString('en-US'); }
  function has(f, node) {
    if (f.all) return true;
    var a = f.ix || [], lo = 0, hi = a.length - 1;
    while (lo <= hi) { var m = (lo + hi) >> 1; if (a[m] === node) return true; if (a[m] < node) lo = m + 1; else hi = m - 1; }
    return false;
  }
  function nodesOf(f) {
    if (!f.all) return f.ix || [];
    var out = new Array(D.names.length);
    for (var i = 0; i < out.length; i++) out[i] = i;
    return out;
  }

  // ---- drill-down panel ----
  function open(build) {
    body.textContent = '';
    build();
    panel.hidden = false;
    document.body.classList.add('panel-open');
    panel.scrollTop = 0;
  }
  function close() {
    panel.hidden = true;
    document.body.classList.remove('panel-open');
    select(-1);
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  }
  document.getElementById('panel-close').addEventListener('click', close);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && !panel.hidden) close(); });

  function select(i) {
    selected = i;
    var rows = document.querySelectorAll('tr.f');
    for (var r = 0; r < rows.length; r++) rows[r].classList.toggle('sel', +rows[r].getAttribute('data-f') === i);
    if (hm) hm.draw();
  }
  function section(title) { body.appendChild(el('h4', null, title)); }
  function chip(i) {
    var f = D.f[i], b = el('button', 'chip');
    b.type = 'button';
    b.appendChild(el('i', 'dot ' + f.s));
    b.appendChild(document.createTextNode(f.h + ' (' + fmt(f.cnt) + ')'));
    b.title = f.sum;
    b.addEventListener('click', function () { showFinding(i); });
    return b;
  }

  function showFinding(i) {
    var f = D.f[i];
    if (!f) return;
    select(i);
    history.replaceState(null, '', '#f' + i);
    open(function () {
      var pills = el('div', 'pills');
      pills.appendChild(el('span', 'sev ' + f.s, f.s));
      pills.appendChild(el('span', 'pill', f.k));
      pills.appendChild(el('span', 'pill', fmt(f.cnt) + ' of ' + fmt(D.n) + ' nodes'));
      body.appendChild(pills);
      body.appendChild(el('h3', null, f.body));

      section('Where');
      body.appendChild(el('p', null, f.label));
      var slots = el('div', 'slots');
      var shown = f.slots.slice(0, 6);
      shown.forEach(function (s) { slots.appendChild(el('div', null, s)); });
      if (f.slots.length > shown.length) slots.appendChild(el('div', 'muted', 'and ' + (f.slots.length - shown.length) + ' more slots'));
      body.appendChild(slots);

      if (f.k === 'rule') {
        section('Rule');
        var p = el('p'); p.appendChild(el('code', null, f.key)); body.appendChild(p);
        if (f.v) { section('Evidence (first node)'); body.appendChild(el('div', 'ev', f.v)); }
      } else {
        section('Setting');
        var p2 = el('p'); p2.appendChild(el('code', null, f.key)); body.appendChild(p2);
        var cmp = el('div', 'cmp');
        var a = el('div', 'bad'); a.appendChild(el('span', null, 'these ' + fmt(f.cnt) + ' nodes')); a.appendChild(el('code', null, f.v));
        var b = el('div', 'good'); b.appendChild(el('span', null, 'the fleet')); b.appendChild(el('code', null, f.fv));
        cmp.appendChild(a); cmp.appendChild(b);
        body.appendChild(cmp);
      }
      if (f.why) { section(f.s === 'info' ? 'Ranked low because' : 'Why it matters'); body.appendChild(el('p', null, f.why)); }
      if (f.fix) { section('Fix'); body.appendChild(el('p', 'fix', f.fix)); }

      if (f.c !== null && f.c !== undefined && D.co[f.c]) {
        var co = D.co[f.c];
        section('Cohort ' + co.id + ' \u00b7 ' + fmt(co.cnt) + ' nodes');
        co.hints.forEach(function (h) { body.appendChild(el('div', 'hint', h)); });
        if (!co.hints.length) body.appendChild(el('p', 'muted', 'No platform fact (BIOS, kernel, firmware) sets these nodes apart.'));
        var others = co.f.filter(function (j) { return j !== i; });
        if (others.length) {
          var chips = el('div', 'chips');
          others.forEach(function (j) { chips.appendChild(chip(j)); });
          body.appendChild(el('p', 'muted', 'The same nodes also have:'));
          body.appendChild(chips);
        }
      }
      nodeList(nodesOf(f));
    });
  }

  function nodeList(ix) {
    section('Nodes (' + fmt(ix.length) + ')');
    var bar = el('div', 'filter');
    var input = el('input'); input.type = 'search'; input.placeholder = 'filter nodes';
    var copy = el('button', 'chip', 'copy'); copy.type = 'button'; copy.title = 'copy the matching names, comma-separated';
    bar.appendChild(input); bar.appendChild(copy);
    body.appendChild(bar);
    var info = el('p', 'muted');
    var list = el('div', 'nl');
    body.appendChild(list); body.appendChild(info);
    var LIMIT = 1000, matches = ix;
    function render() {
      var q = input.value.trim().toLowerCase();
      matches = q ? ix.filter(function (n) { return D.names[n].toLowerCase().indexOf(q) >= 0; }) : ix;
      list.textContent = '';
      var frag = document.createDocumentFragment();
      matches.slice(0, LIMIT).forEach(function (n) {
        var a = el('a', null, D.names[n]);
        a.title = D.names[n];
        a.addEventListener('click', function () { showNode(n); });
        frag.appendChild(a);
      });
      list.appendChild(frag);
      info.textContent = matches.length > LIMIT ? 'Showing ' + fmt(LIMIT) + ' of ' + fmt(matches.length) + '; refine the filter.' :
        (q ? fmt(matches.length) + ' match' + (matches.length === 1 ? '' : 'es') : '');
    }
    input.addEventListener('input', render);
    copy.addEventListener('click', function () {
      var text = matches.map(function (n) { return D.names[n]; }).join(',');
      var done = function () { copy.textContent = 'copied'; setTimeout(function () { copy.textContent = 'copy'; }, 1200); };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () {});
    });
    render();
  }

  function showNode(n) {
    select(-1);
    history.replaceState(null, '', '#n' + n);
    open(function () {
      var pills = el('div', 'pills'); pills.appendChild(el('span', 'pill', 'node')); body.appendChild(pills);
      body.appendChild(el('h3', null, D.names[n]));
      var list = el('ul', 'nfl'), count = 0;
      D.f.forEach(function (f, i) {
        if (!has(f, n)) return;
        count++;
        var li = el('li');
        li.appendChild(el('i', 'dot ' + f.s));
        li.appendChild(document.createTextNode(f.body));
        if (f.all) li.appendChild(el('span', 'muted', ' (every node)'));
        li.addEventListener('click', function () { showFinding(i); });
        list.appendChild(li);
      });
      section(count + ' finding' + (count === 1 ? '' : 's'));
      body.appendChild(list);
    });
  }

  // Static lists: any element with data-f opens that finding.
  document.addEventListener('click', function (e) {
    var t = e.target.closest ? e.target.closest('[data-f]') : null;
    if (t && !panel.contains(t)) showFinding(+t.getAttribute('data-f'));
  });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter') return;
    var t = document.activeElement;
    if (t && t.hasAttribute && t.hasAttribute('data-f')) showFinding(+t.getAttribute('data-f'));
  });

  // ---- heat map ----
  var hm = null;
  var wrap = document.getElementById('hm');
  if (wrap && D.cols.length) hm = heatmap(wrap);

  function heatmap(wrap) {
    var canvas = document.getElementById('hm-canvas'), sizer = document.getElementById('hm-size');
    var ctx = canvas.getContext('2d');
    // Wider cells when there are few columns: a handful of findings should not be a sliver.
    var CW = D.cols.length <= 30 ? 24 : D.cols.length <= 80 ? 20 : 15;
    var RH = 18, GH = 26, BAR = 16, HEAD = 170, FONT = '12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif';
    var cols = D.cols, nc = cols.length, nr = D.rows.length;
    // Cells as one byte each: rows x columns, filled from the per-finding node lists.
    var rowOf = new Int32Array(D.names.length).fill(-1);
    D.rows.forEach(function (n, r) { rowOf[n] = r; });
    var grid = new Uint8Array(Math.max(1, nr * nc));
    cols.forEach(function (fi, c) {
      var f = D.f[fi];
      if (f.all) { for (var r = 0; r < nr; r++) grid[r * nc + c] = 1; return; }
      (f.ix || []).forEach(function (n) { var r = rowOf[n]; if (r >= 0) grid[r * nc + c] = 1; });
    });
    // Display items: group headers, node rows, then the rest of the fleet.
    var items = [], ys = [], y = HEAD, g = 0;
    for (var r = 0; r < nr; r++) {
      if (g < D.groups.length && D.groups[g].r === r) { items.push({g: D.groups[g]}); ys.push(y); y += GH; g++; }
      items.push({r: r}); ys.push(y); y += RH;
    }
    if (D.more > 0) { items.push({more: D.more}); ys.push(y); y += GH; }
    if (D.others > 0) { items.push({others: D.others}); ys.push(y); y += GH; }
    var totalH = y + 8;
    ctx.font = FONT;
    var LABW = 110;
    D.rows.forEach(function (n) { LABW = Math.max(LABW, Math.min(260, ctx.measureText(D.names[n]).width + 30)); });
    var totalW = LABW + nc * CW + HEAD * 0.8 + 16;
    var hover = null, W = 0, H = 0;

    function resize() {
      var dpr = window.devicePixelRatio || 1;
      // The sizer gives the scroll area its full size; the canvas covers only the visible
      // part (sticky, with a negative margin so that it adds no height) and is redrawn on
      // scroll, so 2,000 rows never make a canvas taller than the window.
      sizer.style.width = totalW + 'px';
      sizer.style.height = totalH + 'px';
      W = wrap.clientWidth; H = wrap.clientHeight;
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
      canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
      canvas.style.marginBottom = -H + 'px';
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      draw();
    }
    function firstItem(top) {
      var lo = 0, hi = ys.length - 1;
      while (lo < hi) { var m = (lo + hi + 1) >> 1; if (ys[m] <= top) lo = m; else hi = m - 1; }
      return lo;
    }
    function itemH(it) { return it.r !== undefined ? RH : GH; }
    function fit(s, maxW) {
      if (ctx.measureText(s).width <= maxW) return s;
      var lo = 0, hi = s.length;
      while (lo < hi) { var m = (lo + hi + 1) >> 1; if (ctx.measureText(s.slice(0, m) + '\u2026').width <= maxW) lo = m; else hi = m - 1; }
      return s.slice(0, lo) + '\u2026';
    }
    function text(s, x, y, maxW) { ctx.fillText(fit(s, maxW), x, y); }
    function groupLabel(gr) {
      var co = gr.c !== null && gr.c !== undefined ? D.co[gr.c] : null;
      if (!co) return {head: fmt(gr.n) + ' nodes', what: '', hints: ''};
      return {head: 'Cohort ' + co.id + ' \u00b7 ' + fmt(gr.n) + (gr.n === 1 ? ' node' : ' nodes'), what: co.what, hints: co.hints.join('; ')};
    }

    function draw() {
      var sx = wrap.scrollLeft, sy = wrap.scrollTop;
      ctx.clearRect(0, 0, W, H);
      ctx.font = FONT;
      ctx.textBaseline = 'middle';
      var c0 = Math.max(0, Math.floor((sx) / CW)), c1 = Math.min(nc, Math.ceil((sx + W - LABW) / CW) + 1);
      var i0 = firstItem(sy + HEAD);
      // Body: rows and cells.
      ctx.save();
      ctx.beginPath(); ctx.rect(0, HEAD, W, H - HEAD); ctx.clip();
      for (var i = i0; i < items.length && ys[i] - sy < H; i++) {
        var it = items[i], top = ys[i] - sy, h = itemH(it);
        if (it.g) {
          ctx.fillStyle = C.group; ctx.fillRect(0, top + 4, W, h - 4);
          var gl = groupLabel(it.g), x = 10;
          ctx.font = '600 ' + FONT; ctx.fillStyle = C.ink;
          ctx.fillText(gl.head, x, top + 4 + (h - 4) / 2); x += ctx.measureText(gl.head).width + 12;
          ctx.font = FONT;
          if (gl.hints) {
            ctx.fillStyle = C.hint; var hw = Math.min(ctx.measureText(gl.hints).width, W - x - 10);
            text(gl.hints, x, top + 4 + (h - 4) / 2, hw); x += hw + 12;
          }
          if (gl.what && x < W - 40) { ctx.fillStyle = C.muted; text(gl.what, x, top + 4 + (h - 4) / 2, W - x - 10); }
          continue;
        }
        if (it.more || it.others) {
          ctx.fillStyle = C.zebra; ctx.fillRect(0, top + 4, W, h - 4);
          if (it.others) {
            // The rest of the fleet in one row: each cell filled in proportion to the share
            // of those nodes the finding concerns.
            cols.forEach(function (fi, c) {
              if (c < c0 || c >= c1 || !D.oc[c]) return;
              var share = D.oc[c] / it.others, ch = h - 8;
              ctx.fillStyle = C[D.f[fi].s]; ctx.globalAlpha = 0.5;
              ctx.fillRect(LABW + c * CW - sx + 2, top + 6 + ch * (1 - share), CW - 4, Math.max(2, ch * share));
              ctx.globalAlpha = 1;
            });
          }
          ctx.fillStyle = C.muted; ctx.font = 'italic ' + FONT;
          text(it.more ? '+ ' + fmt(it.more) + ' more nodes not drawn' : fmt(it.others) + ' other nodes', 10, top + 4 + (h - 4) / 2, LABW - 14);
          ctx.font = FONT;
          continue;
        }
        var row = it.r, node = D.rows[row];
        if (row % 2) { ctx.fillStyle = C.zebra; ctx.fillRect(0, top, W, h); }
        if (hover && hover.row === row) { ctx.fillStyle = C.hover; ctx.fillRect(0, top, W, h); }
        for (var c = c0; c < c1; c++) {
          if (!grid[row * nc + c]) continue;
          var f = D.f[cols[c]];
          ctx.fillStyle = C[f.s];
          ctx.globalAlpha = f.cnt * 2 > D.n ? 0.5 : 1;
          ctx.fillRect(LABW + c * CW - sx + 2, top + 2, CW - 4, h - 3);
        }
        ctx.globalAlpha = 1;
        // Labels stay pinned on the left while the cells scroll.
        ctx.fillStyle = row % 2 ? C.zebra : '#fff'; ctx.fillRect(0, top, LABW - 4, h);
        if (hover && hover.row === row) { ctx.fillStyle = C.hover; ctx.fillRect(0, top, LABW - 4, h); }
        ctx.fillStyle = C.ink;
        text(D.names[node], 18, top + h / 2 + 0.5, LABW - 26);
      }
      // Column highlight and selection over the body.
      if (hover && hover.col >= 0) { ctx.fillStyle = C.hover; ctx.fillRect(LABW + hover.col * CW - sx, HEAD, CW, H - HEAD); }
      var selCol = cols.indexOf(selected);
      if (selCol >= 0) { ctx.strokeStyle = C.sel; ctx.lineWidth = 2; ctx.strokeRect(LABW + selCol * CW - sx + 1, HEAD - BAR, CW - 2, Math.min(H, totalH - sy) - HEAD + BAR - 2); }
      ctx.restore();
      // Header: rotated labels and a bar of the share of the fleet, pinned at the top.
      ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, HEAD);
      ctx.strokeStyle = C.line; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(0, HEAD - 0.5); ctx.lineTo(W, HEAD - 0.5); ctx.stroke();
      ctx.save();
      ctx.beginPath(); ctx.rect(LABW, 0, W - LABW, HEAD); ctx.clip();
      for (var c2 = c0; c2 < c1; c2++) {
        var f2 = D.f[cols[c2]], x0 = LABW + c2 * CW - sx;
        var share = D.n ? f2.cnt / D.n : 0;
        ctx.fillStyle = C.track; ctx.fillRect(x0 + 3, HEAD - BAR + 2, CW - 6, BAR - 5);
        ctx.fillStyle = C[f2.s]; var bh = Math.max(2, (BAR - 5) * share);
        ctx.fillRect(x0 + 3, HEAD - 3 - bh, CW - 6, bh);
        ctx.save();
        ctx.translate(x0 + CW / 2 + 3, HEAD - BAR - 4);
        ctx.rotate(-Math.PI / 4);
        ctx.textBaseline = 'middle';
        var isSel = cols[c2] === selected, isHov = hover && hover.col === c2;
        ctx.font = (isSel || isHov ? '600 ' : '') + FONT;
        ctx.fillStyle = isSel ? C.sel : C.ink;
        var cnt = ' ' + fmt(f2.cnt);
        var label = fit(f2.h, (HEAD - BAR - 12) * 1.38 - ctx.measureText(cnt).width);
        ctx.fillText(label, 0, 0);
        var lw = ctx.measureText(label).width;
        ctx.fillStyle = C.muted; ctx.font = FONT;
        ctx.fillText(cnt, lw, 0);
        ctx.restore();
      }
      ctx.restore();
      // Corner.
      ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, LABW - 4, HEAD - 1);
      ctx.fillStyle = C.muted; ctx.font = FONT;
      ctx.fillText('findings \u2192', 12, HEAD - BAR - 24);
      ctx.fillText('nodes \u2193', 12, HEAD - BAR + 2);
    }

    function hit(ev) {
      var rect = canvas.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
      var sx = wrap.scrollLeft, sy = wrap.scrollTop;
      var res = {col: -1, row: -1, item: null};
      if (x >= LABW) {
        // Above the bars, labels lean right by the height above the bar.
        var lean = y < HEAD - BAR ? (HEAD - BAR - y) : 0;
        var c = Math.floor((x - LABW + sx - lean) / CW);
        if (c >= 0 && c < nc) res.col = c;
      }
      if (y >= HEAD) {
        var i = firstItem(y + sy);
        var it = items[i];
        if (it && y + sy < ys[i] + itemH(it)) { res.item = it; if (it.r !== undefined) res.row = it.r; }
      }
      res.head = y < HEAD;
      res.label = x < LABW;
      return res;
    }
    function showTip(ev, lines) {
      tip.textContent = '';
      lines.forEach(function (l, k) { var d = el('div', null, l); if (k === 0) d.style.fontWeight = '600'; tip.appendChild(d); });
      tip.hidden = false;
      var tx = ev.clientX + 14, ty = ev.clientY + 14;
      if (tx + tip.offsetWidth > window.innerWidth - 8) tx = ev.clientX - tip.offsetWidth - 10;
      if (ty + tip.offsetHeight > window.innerHeight - 8) ty = ev.clientY - tip.offsetHeight - 10;
      tip.style.left = tx + 'px'; tip.style.top = ty + 'px';
    }
    canvas.addEventListener('mousemove', function (ev) {
      var h = hit(ev);
      var same = hover && hover.col === h.col && hover.row === h.row;
      hover = h;
      if (!same) draw();
      var f = h.col >= 0 ? D.f[cols[h.col]] : null;
      if (h.head && f) { canvas.style.cursor = 'pointer'; showTip(ev, [f.h, f.sum]); return; }
      if (h.row >= 0 && h.label) { canvas.style.cursor = 'pointer'; showTip(ev, [D.names[D.rows[h.row]], 'click for this node\u2019s findings']); return; }
      if (h.row >= 0 && f) {
        var on = grid[h.row * nc + h.col];
        canvas.style.cursor = 'pointer';
        var line = f.k === 'rule' || !f.fv ? f.body : f.key + ' = ' + f.v + '  (fleet: ' + f.fv + ')';
        showTip(ev, [D.names[D.rows[h.row]], on ? line : 'not concerned by: ' + f.h]);
        return;
      }
      canvas.style.cursor = 'default'; tip.hidden = true;
    });
    canvas.addEventListener('mouseleave', function () { hover = null; tip.hidden = true; draw(); });
    canvas.addEventListener('click', function (ev) {
      var h = hit(ev);
      if (h.row >= 0 && h.label) { showNode(D.rows[h.row]); return; }
      if (h.col >= 0 && (h.head || h.item)) showFinding(cols[h.col]);
    });
    wrap.addEventListener('scroll', function () { tip.hidden = true; draw(); }, {passive: true});
    // Redraw when the map's box changes size (window, panel opening); deferred a frame so
    // that resizing the canvas does not re-enter the observer.
    var pending = false;
    function later() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; if (wrap.clientWidth !== W || wrap.clientHeight !== H) resize(); }); } }
    if (window.ResizeObserver) new ResizeObserver(later).observe(wrap);
    else window.addEventListener('resize', resize);
    resize();
    return {draw: draw, resize: resize};
  }

  // Deep links: #f3 opens finding 3, #n12 node 12.
  var m = /^#([fn])(\d+)$/.exec(location.hash);
  if (m && m[1] === 'f') showFinding(+m[2]);
  if (m && m[1] === 'n' && +m[2] < D.names.length) showNode(+m[2]);
})();
"#;
