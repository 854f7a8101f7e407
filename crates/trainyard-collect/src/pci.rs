//! PCI functions from `/sys/bus/pci/devices`: raw config space and sysfs attributes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trainyard_pci::PciAddress;
use trainyard_snapshot::{Missing, PciFunction, PciSysfs};

use crate::fsutil::{is_root, Fs, ReadError};
use crate::record::Recorder;

/// Full PCIe extended config space; sysfs never serves more.
const CONFIG_MAX: u64 = 4096;
/// What the kernel serves to a process without CAP_SYS_ADMIN: the standard header only.
const CONFIG_UNPRIVILEGED: usize = 64;

/// AER counter files: per-device breakdowns (one `NAME COUNT` line per error kind) and the
/// root port's totals (one number each).
const AER_FILES: [&str; 6] = [
    "aer_dev_correctable",
    "aer_dev_fatal",
    "aer_dev_nonfatal",
    "aer_rootport_total_err_cor",
    "aer_rootport_total_err_fatal",
    "aer_rootport_total_err_nonfatal",
];

/// Key under which a single-number AER file (`aer_rootport_total_*`) stores its count.
pub(crate) const AER_TOTAL_KEY: &str = "TOTAL";

/// Devices per worker thread. Reading one function's 4 KiB costs 0.1 ms (bare-metal ECAM)
/// to 3 ms (a VM trapping every dword), against ~20 µs to start a thread, so two devices
/// already pay for one.
const DEVICES_PER_WORKER: usize = 2;
/// At most this many workers: config reads trap into the hypervisor or hit ECAM, and more
/// threads than this stop helping.
const MAX_WORKERS: usize = 8;

/// Every function under `ROOT/sys/bus/pci/devices`, in address order.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Vec<PciFunction> {
    let dir = fs.path("/sys/bus/pci/devices");
    let entries = match fs.list_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            rec.miss("pci", format_args!("{}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut devices: Vec<(PciAddress, PathBuf)> = Vec::with_capacity(entries.len());
    for (name, path) in entries {
        match name.parse::<PciAddress>() {
            Ok(addr) => devices.push((addr, path)),
            Err(_) => rec.miss(format!("pci {name}"), "not a PCI address; entry ignored"),
        }
    }
    devices.sort_by_key(|(a, _)| *a);

    let root = is_root();
    let workers = (devices.len() / DEVICES_PER_WORKER)
        .clamp(1, MAX_WORKERS)
        .min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let results: Vec<(PciFunction, Vec<Missing>)> = if workers <= 1 {
        devices
            .iter()
            .map(|(a, p)| collect_one(fs, *a, p, root))
            .collect()
    } else {
        // Reading 4 KiB of config space is ~1000 dword config reads in the kernel, each an
        // ECAM access (or a VM exit): on a 400-function server the reads dominate. The kernel
        // serialises the accesses themselves (pci_lock), but the syscalls, the attribute
        // files and the exits' overhead overlap: 25 -> 20 ms on a 2-CPU VM with 6 functions.
        let chunk = devices.len().div_ceil(workers);
        std::thread::scope(|s| {
            let handles: Vec<_> = devices
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(a, p)| collect_one(fs, *a, p, root))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut out = Vec::with_capacity(results.len());
    for (function, missing) in results {
        rec.extend(missing);
        out.push(function);
    }
    out
}

/// One function: its config bytes and attributes, and what could not be read.
fn collect_one(
    fs: &Fs,
    addr: PciAddress,
    dir: &Path,
    root: Option<bool>,
) -> (PciFunction, Vec<Missing>) {
    let address = addr.to_string();
    let mut missing = Vec::new();
    let mut miss = |what: String, reason: String| missing.push(Missing { what, reason });

    let config_path = dir.join("config");
    let config = match fs.read_bytes(&config_path, CONFIG_MAX) {
        Ok(bytes) => {
            if let Some(reason) = short_config_reason(&config_path, bytes.len(), root) {
                miss(
                    format!("pci {address} config beyond {} bytes", bytes.len()),
                    reason,
                );
            }
            bytes
        }
        Err(e) => {
            miss(format!("pci {address} config"), e.to_string());
            Vec::new()
        }
    };

    let mut sysfs = PciSysfs::default();
    let mut text = |name: &str| -> Option<String> {
        match fs.read_opt(&dir.join(name)) {
            Ok(v) => v,
            Err(e) => {
                miss(format!("pci {address} {name}"), e.to_string());
                None
            }
        }
    };
    sysfs.current_link_speed = text("current_link_speed");
    sysfs.current_link_width = text("current_link_width");
    sysfs.max_link_speed = text("max_link_speed");
    sysfs.max_link_width = text("max_link_width");
    sysfs.local_cpulist = text("local_cpulist");
    let numa = text("numa_node");
    let mut aer_texts = Vec::new();
    for name in AER_FILES {
        if let Some(t) = text(name) {
            aer_texts.push((name, t));
        }
    }
    if let Some(t) = numa {
        match t.trim().parse::<i32>() {
            Ok(n) => sysfs.numa_node = Some(n),
            Err(_) => miss(
                format!("pci {address} numa_node"),
                ReadError::unparsable(&t).to_string(),
            ),
        }
    }
    for (name, t) in aer_texts {
        match parse_aer(&t) {
            Some(counts) => {
                sysfs.aer.insert(name.to_string(), counts);
            }
            None => miss(
                format!("pci {address} {name}"),
                ReadError::unparsable(&t).to_string(),
            ),
        }
    }
    match fs.link_name(&dir.join("driver")) {
        Ok(d) => sysfs.driver = d,
        Err(e) => miss(format!("pci {address} driver"), e.to_string()),
    }
    match fs.link_name(&dir.join("iommu_group")) {
        Ok(None) => {}
        Ok(Some(g)) => match g.parse::<u32>() {
            Ok(n) => sysfs.iommu_group = Some(n),
            Err(_) => miss(
                format!("pci {address} iommu_group"),
                ReadError::unparsable(&g).to_string(),
            ),
        },
        Err(e) => miss(format!("pci {address} iommu_group"), e.to_string()),
    }
    (
        PciFunction {
            address,
            config,
            sysfs,
        },
        missing,
    )
}

/// Why a config read returned fewer bytes than a full header, or than the file offers;
/// `None` when the read is complete.
fn short_config_reason(path: &Path, got: usize, root: Option<bool>) -> Option<String> {
    // sysfs reports the device's config size (256 or 4096) as the file size, and serves only
    // the first 64 bytes to processes without CAP_SYS_ADMIN.
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let want = size.min(CONFIG_MAX) as usize;
    if got >= want && got >= 256 {
        return None;
    }
    if got == CONFIG_UNPRIVILEGED && root == Some(false) {
        return Some(format!(
            "permission denied (not root): only {got} bytes of config space"
        ));
    }
    if got < want {
        Some(format!(
            "only {got} of {want} bytes of config space readable"
        ))
    } else {
        Some(format!(
            "only {got} bytes of config space present (capabilities need 256)"
        ))
    }
}

/// Parses an AER counter file: `NAME COUNT` lines (`aer_dev_*`) or one bare number
/// (`aer_rootport_total_*`, stored under [`AER_TOTAL_KEY`]). `None` when neither shape.
pub(crate) fn parse_aer(text: &str) -> Option<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<u64>() {
        out.insert(AER_TOTAL_KEY.to_string(), n);
        return Some(out);
    }
    for line in trimmed.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let name = parts.next()?;
        let count = parts.next()?.parse::<u64>().ok()?;
        if parts.next().is_some() {
            return None;
        }
        out.insert(name.to_string(), count);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aer_breakdown_and_totals() {
        let m = parse_aer("RxErr 3\nBadTLP 0\nTOTAL_ERR_COR 3\n").unwrap();
        assert_eq!(m["RxErr"], 3);
        assert_eq!(m["TOTAL_ERR_COR"], 3);
        assert_eq!(parse_aer("7\n").unwrap()[AER_TOTAL_KEY], 7);
        assert!(parse_aer("RxErr lots").is_none());
        assert!(parse_aer("").is_none());
        assert!(parse_aer("a 1 2").is_none());
    }
}
