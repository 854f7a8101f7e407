//! `nvidia_peermem` not loaded where GPUs and RDMA NICs exist.
//!
//! GPUDirect RDMA through the verbs stack needs the `nvidia_peermem` module (`nv_peer_mem`
//! before CUDA 11.4) so the RDMA driver can pin GPU memory; without it NCCL's IB transport
//! silently stages through host memory. Newer stacks can use DMA-BUF instead, so the finding
//! says so.

use trainyard_pci::{Device, Role};

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// The rule.
pub(crate) const INFO: RuleInfo = RuleInfo {
    id: "peermem-missing",
    severity: Severity::Warning,
    title: "nvidia_peermem not loaded on a node with NVIDIA GPUs and RDMA NICs",
    source: "NVIDIA GPUDirect RDMA documentation (nvidia-peermem); NCCL Troubleshooting (GPU Direct RDMA); Imbue cluster-health",
};

/// Module names that provide GPU peer memory to the RDMA stack.
const MODULES: &[&str] = &["nvidia_peermem", "nv_peer_mem"];

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    let nvidia_gpu = |d: &Device| d.vendor_id() == Some(0x10de);
    let gpus: Vec<usize> = (0..ctx.devices().len())
        .filter(|&i| ctx.roles.get(i) == Some(&Role::Gpu) && nvidia_gpu(ctx.dev(i)))
        .collect();
    let has_nic = ctx.roles.contains(&Role::RdmaNic);
    if gpus.is_empty() || !has_nic {
        return;
    }
    let modules = ctx.node.snapshot.as_ref().map(|s| &s.modules);
    let Some(modules) = modules.filter(|m| !m.is_empty()) else {
        out.unchecked(
            &INFO,
            "whether nvidia_peermem is loaded",
            format!(
                "{} carries no module list (/proc/modules); use a trainyard snapshot",
                ctx.input_name()
            ),
        );
        return;
    };
    if MODULES.iter().any(|m| modules.get(*m) == Some(&true)) {
        return;
    }
    let mut f = ctx.platform_finding(&INFO, Severity::Warning);
    for m in MODULES {
        f.keys.insert(
            format!("module {m}"),
            match modules.get(*m) {
                Some(true) => "loaded",
                Some(false) => "not loaded",
                None => "not looked for",
            }
            .into(),
        );
    }
    f.summary = format!(
        "nvidia_peermem is not loaded, yet the node has {} NVIDIA GPUs and RDMA NICs",
        gpus.len()
    );
    f.why = "Without a peer-memory module the RDMA driver cannot register GPU memory, so \
             NCCL's InfiniBand/RoCE transport stages every transfer through host memory \
             (no GPUDirect RDMA), unless the stack uses DMA-BUF (recent drivers, kernels and \
             NCCL)."
        .into();
    f.fix = "`modprobe nvidia_peermem` and load it at boot (`/etc/modules-load.d/`); or confirm \
             NCCL uses DMA-BUF (`NCCL_DMABUF_ENABLE=1`, NCCL_DEBUG=INFO shows `DMABUF`)."
        .into();
    f.related = ctx.addresses(&gpus);
    out.findings.push(f);
}
