//! MaxReadReq small on GPUs and RDMA NICs.
//!
//! MaxReadReq bounds how much one DMA read request may ask for. RDMA NICs read whole messages
//! from memory; with small read requests they need many more outstanding requests to keep a
//! 100-400 Gb/s link busy. NVIDIA/Mellanox's tuning guide recommends raising it (4096 bytes on
//! ConnectX); below 512 bytes (the usual default) throughput drops measurably.

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "max-read-request-small",
    severity: Severity::Warning,
    title: "MaxReadReq below 512 bytes on a GPU or RDMA NIC",
    source:
        "NVIDIA/Mellanox, \"Understanding PCIe Configuration for Maximum Performance\" (MaxReadReq)",
};

/// Below this many bytes a read request size is called small: the PCIe default and the
/// floor the tuning guide treats as acceptable.
pub(crate) const THRESHOLD: u32 = 512;

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    for i in 0..ctx.devices().len() {
        if !ctx.is_p2p_endpoint(i) {
            continue;
        }
        let Some(mrrs) = ctx.facts[i].max_read_req else {
            continue;
        };
        if mrrs >= THRESHOLD {
            continue;
        }
        let d = ctx.dev(i);
        let mut f = ctx.finding(&INFO, Severity::Warning, i, &["DevCtl.MaxReadReq"]);
        f.summary = format!(
            "{} MaxReadReq {mrrs} bytes (< {THRESHOLD})",
            ctx.describe(i)
        );
        f.why = "Small read requests need many more outstanding requests to fill the link; \
                 RDMA NICs and GPUs reading host or peer memory lose bandwidth."
            .into();
        f.fix = format!(
            "Raise it with the vendor tool (ConnectX: `mlxconfig` / driver default 4096) or \
             now, not persistent: `setpci -s {} CAP_EXP+0x8.w=5000:7000` (4096 bytes); check \
             `pci=pcie_bus_peer2peer` or BIOS settings that lower it.",
            d.address
        );
        out.findings.push(f);
    }
}
