//! GPU without an RDMA NIC nearby.
//!
//! GPUDirect RDMA performs best when the NIC and the GPU share a PCIe switch (nvidia-smi
//! `PIX`/`PXB`); when their only common point is the CPU's root complex (`PHB`) or another
//! socket (`NODE`/`SYS`), every transfer crosses the host bridge or the inter-socket link and
//! NCCL may refuse GPUDirect altogether (`NCCL_NET_GDR_LEVEL`). A GPU and a NIC share a switch
//! or root port when they have a common ancestor bridge in the PCIe tree.

use trainyard_pci::Role;

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "gpu-nic-affinity",
    severity: Severity::Warning,
    title: "GPU shares no PCIe switch or root port with any RDMA NIC",
    source: "NVIDIA GPUDirect RDMA documentation, \"System Requirements\"; NCCL environment variables (NCCL_NET_GDR_LEVEL)",
};

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    let of = |role: Role| -> Vec<usize> {
        (0..ctx.devices().len())
            .filter(|&i| ctx.roles.get(i) == Some(&role))
            .collect()
    };
    let gpus = of(Role::Gpu);
    let nics = of(Role::RdmaNic);
    if gpus.is_empty() || nics.is_empty() {
        return;
    }
    let nic_ancestors: Vec<Vec<usize>> = nics
        .iter()
        .map(|&n| ctx.node.topology.ancestors(n))
        .collect();
    for &g in &gpus {
        // Functions of one GPU share its position; judge function 0 only.
        if ctx.dev(g).address.function != 0 {
            continue;
        }
        let ga = ctx.node.topology.ancestors(g);
        if ga.is_empty() {
            // No bridge above the GPU in the input (a VM, or a dump without bridges): the
            // tree cannot tell affinity.
            continue;
        }
        let shared = nic_ancestors
            .iter()
            .any(|na| na.iter().any(|a| ga.contains(a)));
        if shared {
            continue;
        }
        if !ctx.quotes(&INFO, Severity::Warning, Some(g)) {
            out.findings
                .push(ctx.counted(&INFO, Severity::Warning, Some(g)));
            continue;
        }
        let mut f = ctx.finding(&INFO, Severity::Warning, g, &[]);
        if let Some(&top) = ga.last() {
            f.keys
                .insert("root port".into(), ctx.dev(top).address.to_string());
        }
        f.summary = format!(
            "{} shares no PCIe switch or root port with any of the {} RDMA NIC functions",
            ctx.describe(g),
            nics.len()
        );
        f.why = "Traffic between this GPU and every RDMA NIC crosses the root complex (or the \
                 inter-socket link): GPUDirect RDMA loses bandwidth, and NCCL may not use it \
                 at all at its default NCCL_NET_GDR_LEVEL. Rails are usually built as one NIC \
                 per GPU under a common switch."
            .into();
        f.fix = "Move the NIC or GPU so each GPU has a NIC under the same switch (see the \
                 server's GPU/NIC slot map), or accept it for GPUs that do not do inter-node \
                 traffic; `nvidia-smi topo -m` shows the pairing (PIX/PXB good, PHB/NODE/SYS \
                 poor)."
            .into();
        f.related = ctx.addresses(&nics);
        out.findings.push(f);
    }
}
