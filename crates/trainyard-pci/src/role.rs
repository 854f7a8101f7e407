//! What a device is, for rules and reports: GPU, RDMA NIC, switch port, root port.
//!
//! Works from numeric ids when the input had them (`-nn`, binary dumps) and from lspci's
//! names otherwise, so `lspci -vvv` without `-n` still classifies.

use serde::{Deserialize, Serialize};

use crate::device::Device;

/// PCI Express device/port type, from the Express capability's title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PortType {
    /// Endpoint.
    Endpoint,
    /// Legacy endpoint.
    LegacyEndpoint,
    /// Root port of a root complex.
    RootPort,
    /// Upstream port of a switch.
    UpstreamPort,
    /// Downstream port of a switch.
    DownstreamPort,
    /// PCI Express to PCI/PCI-X bridge.
    PcieToPciBridge,
    /// PCI/PCI-X to PCI Express bridge.
    PciToPcieBridge,
    /// Root complex integrated endpoint.
    RootComplexEndpoint,
    /// Root complex event collector.
    RootComplexEventCollector,
}

impl PortType {
    /// From the `Express.Type` setting (`Root Port`, `Downstream Port`, ...).
    pub fn from_express_type(s: &str) -> Option<Self> {
        Some(match s {
            "Endpoint" => Self::Endpoint,
            "Legacy Endpoint" => Self::LegacyEndpoint,
            "Root Port" => Self::RootPort,
            "Upstream Port" => Self::UpstreamPort,
            "Downstream Port" => Self::DownstreamPort,
            "PCI-Express to PCI/PCI-X Bridge" => Self::PcieToPciBridge,
            "PCI/PCI-X to PCI-Express Bridge" => Self::PciToPcieBridge,
            "Root Complex Integrated Endpoint" => Self::RootComplexEndpoint,
            "Root Complex Event Collector" => Self::RootComplexEventCollector,
            _ => return None,
        })
    }

    /// A port that faces downstream: traffic between its children passes through it.
    pub fn is_downstream_facing(self) -> bool {
        matches!(self, Self::RootPort | Self::DownstreamPort)
    }
}

/// Coarse role of a device for rules and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// A GPU or accelerator (display/3D controller or processing accelerator).
    Gpu,
    /// A network controller able to do RDMA (Mellanox/NVIDIA ConnectX, BlueField; Broadcom
    /// NetXtreme-E; Intel E810; InfiniBand controllers).
    RdmaNic,
    /// Any other network controller.
    Nic,
    /// NVMe or other mass storage.
    Storage,
    /// A PCIe root port.
    RootPort,
    /// A switch port (upstream or downstream).
    SwitchPort,
    /// Another bridge.
    Bridge,
    /// Anything else.
    Other,
}

const VENDOR_NVIDIA: u16 = 0x10de;
const VENDOR_AMD_ATI: u16 = 0x1002;
const VENDOR_MELLANOX: u16 = 0x15b3;
const VENDOR_BROADCOM: u16 = 0x14e4;
const VENDOR_INTEL: u16 = 0x8086;

impl Device {
    /// PCI Express port type, if the device has an Express capability.
    pub fn port_type(&self) -> Option<PortType> {
        self.field("Express.Type")
            .and_then(PortType::from_express_type)
    }

    /// Base class and subclass (`0x0302`), from the ids or the class name.
    pub fn class_code(&self) -> Option<u16> {
        self.ids.class.or_else(|| {
            self.names
                .class
                .as_deref()
                .and_then(crate::ids::class_by_name)
        })
    }

    /// Vendor id, from the ids or, failing that, from the vendor name at the start of the
    /// device's name (`Mellanox Technologies MT27800 ...`).
    pub fn vendor_id(&self) -> Option<u16> {
        self.ids.vendor.or_else(|| {
            let name = self
                .names
                .vendor
                .as_deref()
                .or(self.names.device.as_deref())?;
            [
                ("NVIDIA Corporation", VENDOR_NVIDIA),
                ("Mellanox Technologies", VENDOR_MELLANOX),
                ("Advanced Micro Devices, Inc. [AMD/ATI]", VENDOR_AMD_ATI),
                ("Broadcom Inc. and subsidiaries", VENDOR_BROADCOM),
                ("Intel Corporation", VENDOR_INTEL),
            ]
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map(|(_, id)| *id)
        })
    }

    /// The device's role.
    pub fn role(&self) -> Role {
        self.role_with_port_type(self.port_type())
    }

    /// The device's role given its [`port_type`](Self::port_type): for callers that read
    /// `Express.Type` together with other settings in one pass over [`Device::fields`]
    /// (the fleet's rulebook), so the role costs no lookup of its own.
    pub fn role_with_port_type(&self, port_type: Option<PortType>) -> Role {
        match port_type {
            Some(PortType::RootPort) => return Role::RootPort,
            Some(PortType::UpstreamPort | PortType::DownstreamPort) => return Role::SwitchPort,
            _ => {}
        }
        let class = self.class_code();
        let base = class.map(|c| c >> 8);
        let vendor = self.vendor_id();
        let device_name = self.names.device.as_deref().unwrap_or("");
        match (base, class) {
            // 3D controllers and accelerators; VGA only from GPU vendors, because every
            // server's BMC (ASPEED, Matrox) shows up as a VGA controller too.
            (_, Some(0x0302)) | (Some(0x12), _) => Role::Gpu,
            (Some(0x03), _) if matches!(vendor, Some(VENDOR_NVIDIA | VENDOR_AMD_ATI)) => Role::Gpu,
            (_, Some(0x0207)) => Role::RdmaNic,
            (Some(0x02), _) => {
                let rdma = match vendor {
                    Some(VENDOR_MELLANOX) => true,
                    Some(VENDOR_BROADCOM) => {
                        device_name.contains("NetXtreme-E") || device_name.contains("BCM575")
                    }
                    Some(VENDOR_INTEL) => device_name.contains("E810"),
                    _ => false,
                };
                if rdma {
                    Role::RdmaNic
                } else {
                    Role::Nic
                }
            }
            (Some(0x01), _) => Role::Storage,
            (Some(0x06), _) => Role::Bridge,
            _ if self.bus.is_some() => Role::Bridge,
            _ => Role::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_str;

    #[test]
    fn roles_from_names_without_ids() {
        let text =
            "03:00.0 Ethernet controller: Mellanox Technologies MT27800 Family [ConnectX-5]\n\
                    \tCapabilities: [60] Express (v2) Endpoint, MSI 00\n\
                    \n\
                    04:00.0 3D controller: NVIDIA Corporation GH100 [H100 SXM5 80GB] (rev a1)\n\
                    \n\
                    02:00.0 PCI bridge: Broadcom / LSI PEX890xx PCIe Gen 5 Switch (rev b0)\n\
                    \tCapabilities: [68] Express (v2) Downstream Port (Slot+), MSI 00\n";
        let devs = parse_str(text).devices;
        assert_eq!(devs[0].role(), Role::RdmaNic);
        assert_eq!(devs[0].vendor_id(), Some(0x15b3));
        assert_eq!(devs[1].role(), Role::Gpu);
        assert_eq!(devs[2].role(), Role::SwitchPort);
        assert_eq!(devs[2].port_type(), Some(PortType::DownstreamPort));
    }
}
