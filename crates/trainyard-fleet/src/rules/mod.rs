//! The RDMA rulebook: settings that break or slow GPUDirect RDMA and NCCL, judged on one
//! node.
//!
//! Each rule lives in its own module and looks at the whole path GPU ↔ switch ↔ NIC, not only
//! at endpoints. A rule that needs facts the input does not carry (lspci text has no kernel
//! command line, no modules, no sysfs counters) says so with an [`Unchecked`] entry instead of
//! staying silent, so a clean report means "checked and clean", never "could not look".
//!
//! `docs/rules.md` documents every rule (what, why, fix, source); [`rules`] is the same list
//! as data for `--list-rules`.
//!
//! ```
//! use trainyard_fleet::{rules, InputKind, Node};
//! let text = "00:01.0 PCI bridge [0604]: Intel Corporation Device [8086:1234]\n";
//! let devices = trainyard_pci::text::parse_str(text).devices;
//! let report = rules::check_node(&Node::from_devices("n1", InputKind::LspciText, devices));
//! assert!(report.findings.is_empty());
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::node::Node;

mod acs;
mod aer;
mod affinity;
mod context;
mod facts;
mod ib_port;
mod iommu;
mod link;
mod payload;
mod peermem;
mod platform;
mod read_request;
mod relaxed_ordering;
mod values;

pub use platform::Platform;

use context::{Context, Quoted};
pub(crate) use facts::{of_one as device_facts, same_identity, DeviceFacts};

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; usually expected (power saving, noise), nothing to fix by default.
    Info,
    /// Costs performance or hides a fault; fix when convenient.
    Warning,
    /// Breaks or badly slows GPUDirect RDMA / NCCL; fix before running jobs.
    Error,
}

impl Severity {
    /// `info`, `warning`, `error`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem on one device (or on the platform, when `device` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id (`acs-redirect`), as listed by [`rules`].
    pub rule: &'static str,
    /// Severity of this finding (a rule can rank a case below its default, e.g. inside a VM).
    pub severity: Severity,
    /// The device's address (`0000:17:00.0`); `None` for platform findings.
    pub device: Option<String>,
    /// The device's topology slot path (`0000:rb0/01.1[1022:14ab]/00.0[1000:c030]`).
    pub slot: Option<String>,
    /// Evidence: setting key → value as the input shows it (`ACSCtl.ReqRedir` → `+`).
    pub keys: BTreeMap<String, String>,
    /// One line saying what is wrong.
    pub summary: String,
    /// Why it matters.
    pub why: String,
    /// How to fix it: BIOS item, `setpci` command, kernel parameter.
    pub fix: String,
    /// Other devices involved (the GPU below the port, the NIC beside the GPU).
    pub related: Vec<String>,
}

/// Something a rule could not check on this input, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchecked {
    /// Rule id.
    pub rule: &'static str,
    /// What was not checked (`IOMMU mode`, `ACS on 0000:17:00.0`).
    pub what: String,
    /// Why (`lspci text carries no kernel command line; use a snapshot`).
    pub why: String,
}

/// The rulebook's verdict on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    /// Node name.
    pub node: String,
    /// Findings, most severe first, then by device address.
    pub findings: Vec<Finding>,
    /// What could not be checked.
    pub unchecked: Vec<Unchecked>,
}

impl NodeReport {
    /// The most severe finding's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// A rule's identity, for documentation and `--list-rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable id (`acs-redirect`).
    pub id: &'static str,
    /// Default (highest) severity; individual findings may rank lower and say why.
    pub severity: Severity,
    /// One-line title.
    pub title: &'static str,
    /// Where the rule's facts come from (documentation, kernel commit, issue).
    pub source: &'static str,
}

/// Every rule, in the order they run.
pub fn rules() -> &'static [RuleInfo] {
    &RULES
}

static RULES: [RuleInfo; 15] = [
    acs::INFO,
    link::WIDTH,
    link::SPEED,
    link::TARGET_SPEED,
    payload::INFO,
    read_request::INFO,
    relaxed_ordering::INFO,
    aer::UNCORRECTABLE,
    aer::CORRECTABLE,
    aer::UNSUPPORTED_REQUEST,
    iommu::INFO,
    affinity::INFO,
    peermem::INFO,
    ib_port::DOWN,
    ib_port::RATE,
];

/// Where rules put what they find.
#[derive(Debug, Default)]
struct Output {
    findings: Vec<Finding>,
    unchecked: Vec<Unchecked>,
}

impl Output {
    /// Records that `rule` could not check `what`, and why.
    fn unchecked(&mut self, rule: &RuleInfo, what: impl Into<String>, why: impl Into<String>) {
        self.unchecked.push(Unchecked {
            rule: rule.id,
            what: what.into(),
            why: why.into(),
        });
    }
}

/// Runs every rule on `node`.
pub fn check_node(node: &Node) -> NodeReport {
    check(Context::new(node, facts::of(&node.devices), true, None))
}

/// Runs every rule on `node`, whose devices' facts (in order) the caller already has: the
/// fleet's fold derives them from its comparison with each slot's reference device. The
/// findings carry no [`Finding::slot`]: the fold names slots by its own ids. Findings that
/// `quoted` turns down (rule id, severity, device index) name only their rule, severity
/// and device: no summary, evidence, advice or related devices.
pub(crate) fn check_node_with(
    node: &Node,
    facts: Vec<DeviceFacts>,
    quoted: Quoted<'_>,
) -> NodeReport {
    check(Context::new(node, facts, false, Some(quoted)))
}

fn check(ctx: Context) -> NodeReport {
    let node = ctx.node;
    let mut out = Output::default();
    platform::note_unknowns(&ctx, &mut out);
    acs::check(&ctx, &mut out);
    link::check(&ctx, &mut out);
    payload::check(&ctx, &mut out);
    read_request::check(&ctx, &mut out);
    relaxed_ordering::check(&ctx, &mut out);
    aer::check(&ctx, &mut out);
    iommu::check(&ctx, &mut out);
    affinity::check(&ctx, &mut out);
    peermem::check(&ctx, &mut out);
    ib_port::check(&ctx, &mut out);
    let Output {
        mut findings,
        unchecked,
    } = out;
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.device.cmp(&b.device))
            .then_with(|| a.rule.cmp(b.rule))
    });
    NodeReport {
        node: node.name.clone(),
        findings,
        unchecked,
    }
}
