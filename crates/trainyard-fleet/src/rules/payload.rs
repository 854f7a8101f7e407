//! MaxPayload mismatched along the path from a GPU or RDMA NIC up to its root port.
//!
//! Every hop must agree: a device sending TLPs larger than a port's MaxPayload produces
//! Malformed TLPs (fatal AER errors); a device set smaller than its path wastes bandwidth on
//! headers. The healthy state is the same MaxPayload on every hop at the highest value all of
//! them support (Linux's default policy configures exactly that at boot;
//! `pci=pcie_bus_peer2peer` forces 128 bytes everywhere, which is consistent too).

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "max-payload-mismatch",
    severity: Severity::Warning,
    title: "MaxPayload differs between a GPU/RDMA NIC and the ports above it",
    source: "NVIDIA/Mellanox, \"Understanding PCIe Configuration for Maximum Performance\"; Linux Documentation/admin-guide/kernel-parameters.txt (pcie_bus_*)",
};

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    for i in 0..ctx.devices().len() {
        if !ctx.is_p2p_endpoint(i) {
            continue;
        }
        let Some(own) = ctx.facts[i].max_payload else {
            continue;
        };
        let path: Vec<(usize, u32)> = ctx
            .node
            .topology
            .ancestors(i)
            .into_iter()
            .filter_map(|a| ctx.facts[a].max_payload.map(|m| (a, m)))
            .collect();
        let differing: Vec<(usize, u32)> =
            path.iter().copied().filter(|&(_, m)| m != own).collect();
        if differing.is_empty() {
            continue;
        }
        let larger_than_path = differing.iter().any(|&(_, m)| own > m);
        // The highest value every hop supports is what all of them should use.
        let common = std::iter::once(i)
            .chain(path.iter().map(|&(a, _)| a))
            .filter_map(|j| ctx.facts[j].max_payload_cap)
            .min();
        let severity = if larger_than_path {
            Severity::Error
        } else {
            Severity::Warning
        };
        if !ctx.quotes(&INFO, severity, Some(i)) {
            out.findings.push(ctx.counted(&INFO, severity, Some(i)));
            continue;
        }
        let mut f = ctx.finding(
            &INFO,
            severity,
            i,
            &["DevCap.MaxPayload", "DevCtl.MaxPayload"],
        );
        for &(a, m) in &differing {
            f.keys.insert(
                format!("{} DevCtl.MaxPayload", ctx.dev(a).address),
                format!("{m} bytes"),
            );
        }
        let hops = differing
            .iter()
            .map(|&(a, m)| format!("{m} on {} {}", ctx.role_word(a), ctx.dev(a).address))
            .collect::<Vec<_>>()
            .join(", ");
        f.summary = format!("{} MaxPayload {own} bytes but {hops}", ctx.describe(i));
        f.why = if larger_than_path {
            "The device may send TLPs larger than a port above it accepts: the port drops them \
             as Malformed TLPs (a fatal AER error), which hangs or kills DMA."
                .into()
        } else {
            "Hops on one path disagree on MaxPayload; transfers are cut to the smallest \
             payload, spending more of the link on TLP headers, and a firmware or hotplug path \
             configured the devices inconsistently."
                .into()
        };
        f.fix = format!(
            "Let the kernel configure the path (default, or `pci=pcie_bus_perf` / \
             `pci=pcie_bus_safe`), or set the same MaxPayload in the BIOS; the highest value \
             every hop supports here is {}.",
            common.map_or_else(|| "unknown".to_string(), |c| format!("{c} bytes"))
        );
        f.related = differing
            .iter()
            .map(|&(a, _)| ctx.dev(a).address.to_string())
            .collect();
        out.findings.push(f);
    }
}
