//! IOMMU units and group types.

use trainyard_snapshot::Iommu;

use crate::fsutil::{Fs, ReadError};
use crate::record::Recorder;

/// `/sys/class/iommu` entries and `/sys/kernel/iommu_groups/N/type`.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Iommu {
    let mut iommu = Iommu::default();
    let units = fs.path("/sys/class/iommu");
    match fs.list_dir(&units) {
        Ok(entries) => iommu.units = entries.into_iter().map(|(name, _)| name).collect(),
        // The class directory exists on every kernel built with IOMMU support, empty when
        // none is enabled; absent means no IOMMU support at all, which is a fact, not a gap.
        Err(ReadError::NotFound) => {}
        Err(e) => rec.miss("iommu.units", format_args!("/sys/class/iommu: {e}")),
    }
    let groups = fs.path("/sys/kernel/iommu_groups");
    match fs.list_dir(&groups) {
        Ok(entries) => {
            for (name, path) in entries {
                let Ok(n) = name.parse::<u32>() else {
                    continue;
                };
                match fs.read_opt(&path.join("type")) {
                    Ok(Some(t)) => {
                        iommu.group_types.insert(n, t);
                    }
                    // Kernels before 5.11 have no `type` file.
                    Ok(None) => {}
                    Err(e) => rec.miss(format!("iommu group {n} type"), e),
                }
            }
        }
        Err(ReadError::NotFound) => {}
        Err(e) => rec.miss(
            "iommu.group_types",
            format_args!("/sys/kernel/iommu_groups: {e}"),
        ),
    }
    iommu
}
