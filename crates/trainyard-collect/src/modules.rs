//! Kernel modules that decide whether GPUDirect RDMA can work.

use std::collections::{BTreeMap, BTreeSet};

use crate::fsutil::{Fs, ReadError};
use crate::record::Recorder;

/// Modules looked for; each appears in the snapshot as loaded or not.
pub const MODULES_OF_INTEREST: &[&str] = &[
    // NVIDIA GPU driver and the GPUDirect RDMA / storage bridges.
    "nvidia",
    "nvidia_uvm",
    "nvidia_modeset",
    "nvidia_peermem",
    "nv_peer_mem",
    "nvidia_fs",
    "gdrdrv",
    // AMD GPUs (peer memory is built into amdgpu + ib_core).
    "amdgpu",
    // RDMA core and user-space verbs.
    "ib_core",
    "ib_uverbs",
    "rdma_ucm",
    "rdma_cm",
    // NICs: NVIDIA/Mellanox, Broadcom, Intel, AWS EFA.
    "mlx5_core",
    "mlx5_ib",
    "mlx4_core",
    "mlx4_ib",
    "bnxt_en",
    "bnxt_re",
    "ice",
    "irdma",
    "efa",
    // Device assignment (a GPU bound to vfio-pci is not usable by the host driver).
    "vfio_pci",
];

/// Loaded state of every module of interest.
///
/// A module counts as loaded when `/proc/modules` lists it or `/sys/module/NAME` exists;
/// the second catches drivers built into the kernel, which `/proc/modules` never lists.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> BTreeMap<String, bool> {
    let mut loaded = BTreeSet::new();
    let mut have_source = false;
    match fs.read_text(&fs.path("/proc/modules")) {
        Ok(text) => {
            have_source = true;
            // "mlx5_core 2113536 1 mlx5_ib, Live 0x0000000000000000"
            loaded.extend(
                text.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(str::to_string),
            );
        }
        Err(ReadError::NotFound) => rec.miss(
            "modules /proc/modules",
            "not present (kernel without loadable module support); built-in drivers judged from /sys/module",
        ),
        Err(e) => rec.miss("modules /proc/modules", e),
    }
    let sys_module = fs.path("/sys/module");
    if fs.exists(&sys_module) {
        have_source = true;
    }
    if !have_source {
        rec.miss(
            "modules",
            "neither /proc/modules nor /sys/module is readable",
        );
        return BTreeMap::new();
    }
    MODULES_OF_INTEREST
        .iter()
        .map(|m| {
            let on = loaded.contains(*m) || fs.exists(&sys_module.join(m));
            (m.to_string(), on)
        })
        .collect()
}
