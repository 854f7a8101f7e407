//! ACS redirect on a port above a GPU or RDMA NIC.
//!
//! With ACS P2P Request/Completion Redirect (or Egress Control) set on a switch downstream
//! port or root port, peer-to-peer TLPs that would turn around inside the switch are sent up
//! to the root complex instead: GPU↔NIC and GPU↔GPU traffic crosses the CPU's IOMMU, which is
//! slow at best and, where the root complex does not forward peer traffic, hangs NCCL.
//! `SrcValid` and `UpstreamFwd` alone do not redirect anything (source validation checks
//! requester ids; upstream forwarding only governs traffic already sent up), so they are
//! reported as evidence, not as the trigger. Gigabyte's BIOS leaves `SrcValid+` with every
//! redirect bit off, which is healthy.

use trainyard_pci::PortType;

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "acs-redirect",
    severity: Severity::Error,
    title: "ACS redirect enabled on a port above a GPU or RDMA NIC",
    source: "NCCL Troubleshooting, \"PCI Access Control Services (ACS)\"; NVIDIA/nccl#304",
};

/// Bits that send peer-to-peer traffic to the root complex.
pub(crate) const REDIRECT: &[&str] = &["ACSCtl.ReqRedir", "ACSCtl.CmpltRedir", "ACSCtl.EgressCtrl"];
/// All ACS control bits shown as evidence.
const EVIDENCE: &[&str] = &[
    "ACSCtl.SrcValid",
    "ACSCtl.TransBlk",
    "ACSCtl.ReqRedir",
    "ACSCtl.CmpltRedir",
    "ACSCtl.UpstreamFwd",
    "ACSCtl.EgressCtrl",
    "ACSCtl.DirectTrans",
];

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    for i in 0..ctx.devices().len() {
        if !ctx.is_downstream_port(i) {
            continue;
        }
        let mask = ctx.facts[i].acs_redirect;
        if mask == 0 {
            continue;
        }
        let below: Vec<usize> = ctx
            .subtree(i)
            .into_iter()
            .filter(|&j| ctx.is_p2p_endpoint(j))
            .collect();
        if below.is_empty() {
            continue;
        }
        let root_port = ctx.facts[i].port_type == Some(PortType::RootPort);
        // Redirect hurts where P2P would otherwise turn around in the switch: between a
        // device below this port and a GPU/NIC below a sibling port of the same switch.
        let peers = switch_peers(ctx, i, &below);
        let severity = if ctx.platform.virtual_machine {
            Severity::Info
        } else if root_port || peers.is_empty() {
            Severity::Warning
        } else {
            Severity::Error
        };
        if !ctx.quotes(&INFO, severity, Some(i)) {
            out.findings.push(ctx.counted(&INFO, severity, Some(i)));
            continue;
        }
        let d = ctx.dev(i);
        let set: Vec<&str> = REDIRECT
            .iter()
            .enumerate()
            .filter(|(b, _)| mask & 1 << b != 0)
            .map(|(_, k)| *k)
            .collect();
        let mut f = ctx.finding(&INFO, severity, i, EVIDENCE);
        let bits = set
            .iter()
            .map(|k| k.trim_start_matches("ACSCtl."))
            .collect::<Vec<_>>()
            .join(" ");
        let names = below
            .iter()
            .take(3)
            .map(|&j| ctx.describe(j))
            .collect::<Vec<_>>()
            .join(", ");
        let more = below.len().saturating_sub(3);
        f.summary = format!(
            "ACS {bits} enabled on {} {} above {names}{}",
            ctx.role_word(i),
            d.address,
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        f.why = if ctx.platform.virtual_machine {
            format!(
                "This node looks like a virtual machine ({}). Hypervisors set ACS along \
                 GPU/NIC paths on purpose so passthrough devices stay isolated (NVIDIA's \
                 virtualized setups pair it with ATS); expected here, listed for the record.",
                ctx.platform.evidence
            )
        } else if !root_port && peers.is_empty() {
            "ACS redirect on this switch port sends peer-to-peer requests from the GPU/NIC \
             below it to the root complex. No other GPU or RDMA NIC sits under the same switch \
             today, so its P2P crosses the root complex anyway; it becomes a slowdown or hang \
             as soon as a peer is added, and fleets should be uniform."
                .into()
        } else if root_port {
            "ACS redirect on a root port sends peer-to-peer traffic between devices below it \
             through the root complex and its IOMMU instead of letting it turn around below \
             the port; GPUDirect RDMA and NCCL P2P slow down or hang."
                .into()
        } else {
            "ACS redirect on a switch downstream port sends every peer-to-peer request from the \
             GPU/NIC below it up to the root complex instead of across the switch: GPUDirect \
             RDMA and NCCL P2P lose most of their bandwidth or hang. NCCL's troubleshooting \
             guide says to disable ACS on bare metal."
                .into()
        };
        f.fix = format!(
            "Disable ACS in the BIOS (often under PCIe/IIO settings, or by disabling VT-d/IOMMU \
             if not needed); now, not persistent: `setpci -s {} ECAP_ACS+0x6.w=0000`; at boot: \
             kernel parameter `pci=disable_acs_redir={}` (or `pci=config_acs=...` on kernels that have it).",
            d.address, d.address
        );
        let mut related = below.clone();
        related.extend(peers.iter().copied());
        f.related = ctx.addresses(&related);
        out.findings.push(f);
    }
}

/// GPUs and RDMA NICs under the same switch as downstream port `port`, but not below it.
fn switch_peers(ctx: &Context, port: usize, below: &[usize]) -> Vec<usize> {
    let Some(upstream) = ctx.node.topology.parent(port) else {
        return Vec::new();
    };
    if ctx.facts.get(upstream).and_then(|f| f.port_type) != Some(PortType::UpstreamPort) {
        return Vec::new();
    }
    ctx.subtree(upstream)
        .into_iter()
        .filter(|&j| ctx.is_p2p_endpoint(j) && !below.contains(&j))
        .collect()
}
