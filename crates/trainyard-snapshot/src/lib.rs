//! # trainyard-snapshot
//!
//! The node snapshot: everything about one node that decides whether GPUDirect RDMA and NCCL
//! will work (PCI config space and sysfs attributes, DMI, kernel, IOMMU, InfiniBand/RoCE,
//! network interfaces, modules, GPUs, CPU and NUMA), as versioned JSON. Small and stable:
//! other tools read these files, so fields are only added, never renamed.
//!
//! Anything the collector could not read is recorded with the reason ([`Missing`]), never
//! silently left out. No IO here: [`Snapshot::from_json`] and [`Snapshot::to_json`] work on
//! strings and writers.
#![deny(missing_docs)]

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Version of the format this crate writes. Readers accept this version and older ones.
pub const FORMAT_VERSION: u32 = 1;

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Written by a newer trainyard.
    #[error("snapshot format version {found} is newer than this trainyard understands ({supported}); upgrade trainyard")]
    TooNew {
        /// Version in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// Not JSON, or JSON of another shape.
    #[error("line {line}, column {column}: not a trainyard snapshot: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde said.
        message: String,
    },
}

/// One node's hardware and software configuration at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// Host name.
    pub host: String,
    /// When the snapshot was taken, RFC 3339 UTC (`2026-11-28T15:04:05Z`).
    pub taken_at: String,
    /// `trainyard <version>` of the collector.
    pub collector: String,
    /// Every PCI function under `/sys/bus/pci/devices`.
    #[serde(default)]
    pub pci: Vec<PciFunction>,
    /// DMI (SMBIOS) identity: BIOS, board, system.
    #[serde(default)]
    pub dmi: Dmi,
    /// Kernel release and command line.
    #[serde(default)]
    pub kernel: Kernel,
    /// IOMMU state.
    #[serde(default)]
    pub iommu: Iommu,
    /// InfiniBand / RoCE devices from `/sys/class/infiniband`.
    #[serde(default)]
    pub infiniband: Vec<IbDevice>,
    /// Network interfaces from `/sys/class/net`.
    #[serde(default)]
    pub net: Vec<NetInterface>,
    /// Loaded kernel modules of interest (`nvidia`, `nvidia_peermem`, `mlx5_core`, ...) from
    /// `/proc/modules`, with `loaded` false for those looked for and absent.
    #[serde(default)]
    pub modules: BTreeMap<String, bool>,
    /// GPUs.
    #[serde(default)]
    pub gpus: Vec<Gpu>,
    /// CPU model and NUMA layout.
    #[serde(default)]
    pub cpu: Cpu,
    /// What could not be collected, and why.
    #[serde(default)]
    pub missing: Vec<Missing>,
}

/// Something the collector could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// What (`dmi.bios_version`, `pci 0000:17:00.0 config beyond 64 bytes`, `nvidia-smi`).
    pub what: String,
    /// Why (`permission denied: not root`, `not present`, `nvidia-smi not installed`).
    pub reason: String,
}

/// One PCI function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciFunction {
    /// `0000:17:00.0`.
    pub address: String,
    /// Config space bytes as read (64 without root, 256 or 4096 with), base64.
    #[serde(with = "base64_bytes")]
    pub config: Vec<u8>,
    /// Sysfs attributes of the device directory.
    #[serde(default)]
    pub sysfs: PciSysfs,
}

/// Sysfs attributes of a PCI function. `None` where the file is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciSysfs {
    /// `current_link_speed` (`16.0 GT/s PCIe`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current_link_speed: Option<String>,
    /// `current_link_width` (`16`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current_link_width: Option<String>,
    /// `max_link_speed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_link_speed: Option<String>,
    /// `max_link_width`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_link_width: Option<String>,
    /// `numa_node` (-1 when the platform does not say).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub numa_node: Option<i32>,
    /// Bound driver (the `driver` link's target name).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub driver: Option<String>,
    /// IOMMU group number (the `iommu_group` link's target name).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iommu_group: Option<u32>,
    /// `local_cpulist`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_cpulist: Option<String>,
    /// AER counters: `aer_dev_correctable`, `aer_dev_fatal`, `aer_dev_nonfatal` (and the root
    /// port's `aer_rootport_total_*`), each as name → count (`RxErr` → 3, `TOTAL_ERR_COR` → 3).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub aer: BTreeMap<String, BTreeMap<String, u64>>,
}

/// DMI identity from `/sys/class/dmi/id`. `None` where unreadable (see `missing`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dmi {
    /// `bios_vendor`.
    pub bios_vendor: Option<String>,
    /// `bios_version`.
    pub bios_version: Option<String>,
    /// `bios_date`.
    pub bios_date: Option<String>,
    /// `board_vendor`.
    pub board_vendor: Option<String>,
    /// `board_name`.
    pub board_name: Option<String>,
    /// `sys_vendor`.
    pub sys_vendor: Option<String>,
    /// `product_name`.
    pub product_name: Option<String>,
}

/// Kernel facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kernel {
    /// `/proc/sys/kernel/osrelease`.
    pub release: Option<String>,
    /// `/proc/cmdline`.
    pub cmdline: Option<String>,
}

/// IOMMU state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iommu {
    /// Entries of `/sys/class/iommu` (`dmar0`, `ivhd0`); empty when no IOMMU is enabled.
    pub units: Vec<String>,
    /// `/sys/kernel/iommu_groups/N/type` per group: `identity` (passthrough), `DMA`,
    /// `DMA-FQ` (translating), `blocked`, `unmanaged`.
    pub group_types: BTreeMap<u32, String>,
}

/// An InfiniBand or RoCE device (`/sys/class/infiniband/mlx5_0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IbDevice {
    /// `mlx5_0`.
    pub name: String,
    /// PCI function behind it (`0000:17:00.0`), from the `device` link.
    pub pci_address: Option<String>,
    /// `fw_ver`.
    pub fw_ver: Option<String>,
    /// `node_guid`.
    pub node_guid: Option<String>,
    /// Ports.
    pub ports: Vec<IbPort>,
}

/// One port of an IB/RoCE device (`ports/1/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IbPort {
    /// Port number.
    pub port: u32,
    /// `state` (`4: ACTIVE`).
    pub state: Option<String>,
    /// `phys_state` (`5: LinkUp`).
    pub phys_state: Option<String>,
    /// `rate` (`400 Gb/sec (4X NDR)`).
    pub rate: Option<String>,
    /// `link_layer` (`InfiniBand`, `Ethernet`).
    pub link_layer: Option<String>,
}

/// A network interface (`/sys/class/net/eth0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInterface {
    /// `eth0`.
    pub name: String,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// `operstate`.
    pub operstate: Option<String>,
    /// PCI function behind it, from the `device` link (virtual interfaces have none).
    pub pci_address: Option<String>,
}

/// A GPU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    /// PCI address (`0000:17:00.0`).
    pub pci_address: String,
    /// Product name (`NVIDIA H100 80GB HBM3`), from nvidia-smi or pci.ids.
    pub name: Option<String>,
    /// Serial number, from nvidia-smi.
    pub serial: Option<String>,
    /// VBIOS version, from nvidia-smi.
    pub vbios: Option<String>,
    /// Driver version, from nvidia-smi.
    pub driver_version: Option<String>,
    /// Where this entry came from: `nvidia-smi` or `pci`.
    pub source: String,
}

/// CPU and NUMA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// `model name` from `/proc/cpuinfo`.
    pub model: Option<String>,
    /// Logical CPUs.
    pub logical_cpus: Option<u32>,
    /// NUMA node → cpulist (`/sys/devices/system/node/nodeN/cpulist`).
    pub numa_nodes: BTreeMap<u32, String>,
}

impl Snapshot {
    /// A snapshot of `host` taken at `taken_at` by this build's format.
    pub fn new(
        host: impl Into<String>,
        taken_at: impl Into<String>,
        collector: impl Into<String>,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            host: host.into(),
            taken_at: taken_at.into(),
            collector: collector.into(),
            ..Self::default()
        }
    }

    /// Reads a snapshot, checking the format version first so that a newer file gets a clear
    /// "upgrade" error rather than a confusing field error.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let malformed = |e: serde_json::Error| SnapshotError::Malformed {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let v: VersionOnly = serde_json::from_str(text).map_err(malformed)?;
        if v.format_version > FORMAT_VERSION {
            return Err(SnapshotError::TooNew {
                found: v.format_version,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_str(text).map_err(malformed)
    }

    /// Writes the snapshot as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Whether `text` looks like a snapshot (a JSON object with `format_version`), for
    /// callers that recognise inputs by content.
    pub fn sniff(text: &str) -> bool {
        let t = text.trim_start();
        t.starts_with('{') && t[..t.len().min(4096)].contains("\"format_version\"")
    }
}

/// Serde adapter: bytes as standard base64.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Encodes bytes as the snapshot does (for tools that build snapshots by hand).
pub fn encode_config(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = Snapshot::new("node7", "2026-11-28T15:00:00Z", "trainyard 0.1.0");
        s.pci.push(PciFunction {
            address: "0000:17:00.0".into(),
            config: vec![0x86, 0x80, 0x00, 0x01],
            sysfs: PciSysfs::default(),
        });
        s.missing.push(Missing {
            what: "dmi.bios_version".into(),
            reason: "permission denied".into(),
        });
        let back = Snapshot::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert!(Snapshot::sniff(&s.to_json()));
    }

    #[test]
    fn newer_version_is_refused_clearly() {
        let err = Snapshot::from_json(r#"{"format_version": 99, "host": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("upgrade trainyard"), "{err}");
    }

    #[test]
    fn garbage_names_line_and_column() {
        let err = Snapshot::from_json("{\n  \"format_version\": 1,\n  \"host\": 5\n}").unwrap_err();
        assert!(
            matches!(err, SnapshotError::Malformed { line: 3, .. }),
            "{err}"
        );
    }
}
