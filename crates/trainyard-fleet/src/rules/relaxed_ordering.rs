//! Relaxed ordering off on RDMA NICs.
//!
//! With relaxed ordering, a NIC's DMA writes may complete out of order, which lets the root
//! complex and memory controller pipeline them; mlx5's commit enabling it reports 10 → 40 GB/s
//! on some platforms, and NCCL asks for it (`NCCL_IB_PCI_RELAXED_ORDERING`). The kernel clears
//! it under root complexes known to mishandle it (commit a99b646afa8a), so on those platforms
//! off is correct: the finding says so rather than demanding it.

use super::context::Context;
use super::{Output, RuleInfo, Severity};
use trainyard_pci::Role;

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "relaxed-ordering-off",
    severity: Severity::Warning,
    title: "Relaxed ordering disabled on an RDMA NIC",
    source: "Linux commit a99b646afa8a (no RO under flagged root complexes); mlx5 relaxed-ordering commit (10→40 GB/s); NCCL NCCL_IB_PCI_RELAXED_ORDERING",
};

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    for i in 0..ctx.devices().len() {
        if ctx.roles.get(i) != Some(&Role::RdmaNic) {
            continue;
        }
        if !ctx.facts[i].relaxed_ordering_off {
            continue;
        }
        let d = ctx.dev(i);
        // Virtual functions inherit the PF's setting and show none of their own; only
        // functions that print the bit are judged.
        let mut f = ctx.finding(&INFO, Severity::Warning, i, &["DevCtl.RlxdOrd"]);
        f.summary = format!(
            "{} has relaxed ordering off (DevCtl RlxdOrd-)",
            ctx.describe(i)
        );
        f.why = "Without relaxed ordering every DMA write from the NIC is strictly ordered, \
                 which caps RDMA write bandwidth into GPU and host memory on many platforms \
                 (mlx5 reported 10 → 40 GB/s with it). The kernel turns it off on root \
                 complexes with broken relaxed ordering: if this platform is one of them, off \
                 is correct."
            .into();
        f.fix = format!(
            "Enable it in the BIOS or NIC firmware (ConnectX: `mlxconfig -d {} set \
             PCI_WR_ORDERING=1` where supported) and let NCCL use it \
             (`NCCL_IB_PCI_RELAXED_ORDERING=1`); now, not persistent: `setpci -s {} \
             CAP_EXP+0x8.w=0010:0010`.",
            d.address, d.address
        );
        out.findings.push(f);
    }
}
