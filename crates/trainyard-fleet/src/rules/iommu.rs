//! IOMMU translating DMA for GPUs and RDMA NICs on bare metal.
//!
//! With the IOMMU in translating mode (group type `DMA` or `DMA-FQ`), peer-to-peer DMA between
//! a NIC and a GPU must be translated and is, per NVIDIA's GPUDirect RDMA documentation, not
//! supported on bare metal: RDMA into GPU memory fails or crawls. Passthrough (`iommu=pt`, group
//! type `identity`) or an IOMMU that is off is what GPUDirect needs. Inside a VM the hypervisor
//! owns the IOMMU, so the rule only runs on bare metal.

use trainyard_pci::Role;

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "iommu-translating",
    severity: Severity::Error,
    title: "IOMMU translates DMA for GPUs/RDMA NICs on a bare-metal host (no iommu=pt)",
    source: "NVIDIA GPUDirect RDMA documentation (IOMMU-enabled P2P not supported on bare metal); NCCL Troubleshooting (IOMMU)",
};

/// Group types in which the IOMMU translates DMA.
const TRANSLATING: &[&str] = &["DMA", "DMA-FQ"];

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    let gpus: Vec<usize> = (0..ctx.devices().len())
        .filter(|&i| ctx.roles.get(i) == Some(&Role::Gpu))
        .collect();
    if gpus.is_empty() || ctx.platform.virtual_machine {
        return;
    }
    let Some(snap) = &ctx.node.snapshot else {
        out.unchecked(
            &INFO,
            "IOMMU mode (kernel command line, iommu group types)",
            format!(
                "{} carries neither /proc/cmdline nor /sys/kernel/iommu_groups; use a \
                 trainyard snapshot",
                ctx.input_name()
            ),
        );
        return;
    };
    let cmdline = snap.kernel.cmdline.as_deref();
    if snap.iommu.group_types.is_empty() {
        if !snap.iommu.units.is_empty() {
            out.unchecked(
                &INFO,
                "IOMMU group types",
                "the snapshot lists IOMMU units but no /sys/kernel/iommu_groups/*/type",
            );
        }
        // No groups at all: the IOMMU is off, which GPUDirect is fine with.
        return;
    }
    let passthrough = cmdline.is_some_and(|c| c.split_whitespace().any(|w| w == "iommu=pt"));
    let mut translated = Vec::new();
    let mut keys = std::collections::BTreeMap::new();
    for i in 0..ctx.devices().len() {
        if !ctx.is_p2p_endpoint(i) {
            continue;
        }
        let Some(group) = ctx.node.sysfs(ctx.dev(i)).and_then(|s| s.iommu_group) else {
            continue;
        };
        if let Some(t) = snap.iommu.group_types.get(&group) {
            if TRANSLATING.contains(&t.as_str()) {
                translated.push(i);
                keys.insert(
                    format!("{} iommu_group {group} type", ctx.dev(i).address),
                    t.clone(),
                );
            }
        }
    }
    if translated.is_empty() {
        return;
    }
    keys.insert(
        "cmdline".to_string(),
        cmdline.unwrap_or("(not collected)").to_string(),
    );
    let mut f = ctx.platform_finding(&INFO, Severity::Error);
    f.keys = keys;
    f.summary = format!(
        "IOMMU translates DMA for {} GPU/RDMA NIC functions on bare metal{}",
        translated.len(),
        if passthrough {
            " despite iommu=pt"
        } else {
            " (no iommu=pt on the kernel command line)"
        }
    );
    f.why = "GPUDirect RDMA moves data between NIC and GPU by peer-to-peer DMA; NVIDIA does \
             not support it with a translating IOMMU on bare metal: transfers fail or are \
             bounced through host memory, and NCCL falls back to slower paths or hangs."
        .into();
    f.fix = "Boot with `iommu=pt` (with `intel_iommu=on` / `amd_iommu=on` if the IOMMU is \
             needed for VFIO), or disable the IOMMU (VT-d / AMD-Vi) in the BIOS if nothing \
             needs it; check /sys/kernel/iommu_groups/*/type reads `identity` afterwards."
        .into();
    f.related = ctx.addresses(&translated);
    out.findings.push(f);
}
