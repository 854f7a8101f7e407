//! Capability ids, the short tags that prefix their keys, and how lspci titles them.
//!
//! The tag is the stable part of a capability's identity in trainyard output: keys of
//! registers whose names are generic (`Status`, `Flags`, `Address`) are prefixed with it
//! (`PM.Status.D0`... see `docs/fields.md`), and capabilities that can occur several times in
//! one device (vendor-specific ones) get their offset as well (`VSEC[100].ID`).

/// Tag and lspci title prefix of each standard capability id.
const STANDARD: &[(u8, &str, &str)] = &[
    (0x01, "PM", "Power Management"),
    (0x02, "AGP", "AGP"),
    (0x03, "VPD", "Vital Product Data"),
    (0x04, "SlotID", "Slot ID"),
    (0x05, "MSI", "MSI"),
    (0x06, "HotSwap", "CompactPCI hot-swap"),
    (0x07, "PCI-X", "PCI-X"),
    (0x08, "HyperTransport", "HyperTransport"),
    (0x09, "VendorSpecific", "Vendor Specific Information"),
    (0x0a, "DebugPort", "Debug port"),
    (0x0b, "CPCI", "CompactPCI central resource control"),
    (0x0c, "HotPlug", "Hot-plug capable"),
    (0x0d, "SSVID", "Subsystem"),
    (0x0e, "AGP3", "AGP3"),
    (0x0f, "Secure", "Secure device"),
    (0x10, "Express", "Express"),
    (0x11, "MSI-X", "MSI-X"),
    (0x12, "SATA", "SATA HBA"),
    (0x13, "AF", "PCI Advanced Features"),
    (0x14, "EA", "Enhanced Allocation"),
    (0x15, "FPB", "Flattening Portal Bridge"),
];

/// Tag and lspci title prefix of each extended capability id.
const EXTENDED: &[(u16, &str, &str)] = &[
    (0x01, "AER", "Advanced Error Reporting"),
    (0x02, "VC", "Virtual Channel"),
    (0x03, "DSN", "Device Serial Number"),
    (0x04, "PowerBudget", "Power Budgeting"),
    (0x05, "RCLink", "Root Complex Link"),
    (0x06, "RCILink", "Root Complex Internal Link"),
    (0x07, "RCEC", "Root Complex Event Collector"),
    (0x08, "MFVC", "Multi-Function Virtual Channel"),
    (0x09, "VC", "Virtual Channel"),
    (0x0a, "RCRB", "Root Complex Register Block"),
    (0x0b, "VSEC", "Vendor Specific Information"),
    (0x0c, "CAC", "Configuration Access Correlation"),
    (0x0d, "ACS", "Access Control Services"),
    (0x0e, "ARI", "Alternative Routing-ID Interpretation"),
    (0x0f, "ATS", "Address Translation Service"),
    (0x10, "SR-IOV", "Single Root I/O Virtualization"),
    (0x11, "MR-IOV", "Multi-Root I/O Virtualization"),
    (0x12, "Multicast", "Multicast"),
    (0x13, "PRI", "Page Request Interface"),
    (0x15, "ResizableBAR", "Physical Resizable BAR"),
    (0x16, "DPA", "Dynamic Power Allocation"),
    (0x17, "TPH", "Transaction Processing Hints"),
    (0x18, "LTR", "Latency Tolerance Reporting"),
    (0x19, "SecPCIe", "Secondary PCI Express"),
    (0x1a, "PMUX", "Protocol Multiplexing"),
    (0x1b, "PASID", "Process Address Space ID"),
    (0x1c, "LNR", "LN Requester"),
    (0x1d, "DPC", "Downstream Port Containment"),
    (0x1e, "L1SS", "L1 PM Substates"),
    (0x1f, "PTM", "Precision Time Measurement"),
    (0x20, "M-PCIe", "PCI Express over M_PHY"),
    (0x21, "FRS", "FRS Queueing"),
    (0x22, "RTR", "Readiness Time Reporting"),
    (0x23, "DVSEC", "Designated Vendor-Specific"),
    (0x24, "VFResizableBAR", "Virtual Resizable BAR"),
    (0x25, "DLF", "Data Link Feature"),
    (0x26, "Phy16", "Physical Layer 16.0 GT/s"),
    (0x27, "LaneMargining", "Lane Margining at the Receiver"),
    (0x28, "HierarchyID", "Hierarchy ID"),
    (0x29, "NPEM", "Native PCIe Enclosure Management"),
    (0x2a, "Phy32", "Physical Layer 32.0 GT/s"),
    (0x2b, "AltProtocol", "Alternate Protocol"),
    (0x2c, "SFI", "System Firmware Intermediary"),
    (0x2e, "DOE", "Data Object Exchange"),
    (0x30, "IDE", "Integrity & Data Encryption"),
];

/// Tag of a standard capability id (`0x10` → `Express`); unknown ids get `Cap{id:02x}`.
pub fn standard_tag(id: u8) -> String {
    STANDARD
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, t, _)| (*t).to_string())
        .unwrap_or_else(|| format!("Cap{id:02x}"))
}

/// Tag of an extended capability id (`0x0d` → `ACS`); unknown ids get `ExtCap{id:02x}`.
pub fn extended_tag(id: u16) -> String {
    EXTENDED
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, t, _)| (*t).to_string())
        .unwrap_or_else(|| format!("ExtCap{id:02x}"))
}

/// Recognises a standard capability from the title lspci prints after `Capabilities: [off]`.
pub fn standard_from_title(title: &str) -> Option<(u8, &'static str)> {
    // The longest matching prefix wins ("MSI-X" over "MSI", "AGP3" never printed as such).
    STANDARD
        .iter()
        .filter(|(_, _, name)| title_starts_with(title, name))
        .max_by_key(|(_, _, name)| name.len())
        .map(|(id, tag, _)| (*id, *tag))
}

/// Recognises an extended capability from its lspci title.
pub fn extended_from_title(title: &str) -> Option<(u16, &'static str)> {
    if let Some(rest) = title.strip_prefix("Extended Capability ID 0x") {
        let id = u16::from_str_radix(rest.trim(), 16).ok()?;
        return EXTENDED
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(i, t, _)| (*i, *t));
    }
    EXTENDED
        .iter()
        .filter(|(_, _, name)| title_starts_with(title, name))
        .max_by_key(|(_, _, name)| name.len())
        .map(|(id, tag, _)| (*id, *tag))
}

fn title_starts_with(title: &str, name: &str) -> bool {
    // The first bytes first: a parser meets a title per capability (a fleet, tens of
    // thousands), and most of the table's names fail there, without a string compare.
    title.as_bytes().first() == name.as_bytes().first()
        && title.starts_with(name)
        && title[name.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-')
}

/// Capabilities that may appear more than once in one device: their keys carry the offset.
pub fn is_multi_instance(tag: &str) -> bool {
    matches!(tag, "VendorSpecific" | "VSEC" | "DVSEC" | "DOE")
        || tag.starts_with("Cap")
        || tag.starts_with("ExtCap")
}

/// Capabilities whose register names are unique across the device (`DevCtl`, `UESta`,
/// `ACSCtl`, `LnkCtl3`...): their keys are not prefixed with the tag, so the common keys stay
/// short and match DESIGN.md (`LnkSta.Speed`, `ACSCtl.SrcValid`, `CESta.BadTLP`).
pub fn registers_unprefixed(tag: &str) -> bool {
    matches!(
        tag,
        "Express"
            | "AER"
            | "ACS"
            | "ARI"
            | "ATS"
            | "SecPCIe"
            | "PASID"
            | "L1SS"
            | "PTM"
            | "DLF"
            | "Phy16"
            | "Phy32"
            | "LaneMargining"
    )
}

/// Registers of otherwise unprefixed capabilities that collide with another capability's
/// (`RootSta` is both a PCI Express and an AER register): these keep the tag.
pub fn register_collides(tag: &str, register: &str) -> bool {
    tag == "AER" && matches!(register, "RootCmd" | "RootSta" | "ErrorSrc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(
            standard_from_title("MSI-X: Enable+ Count=256 Masked-"),
            Some((0x11, "MSI-X"))
        );
        assert_eq!(
            standard_from_title("MSI: Enable- Count=1/2"),
            Some((0x05, "MSI"))
        );
        assert_eq!(
            standard_from_title("Express (v2) Root Port (Slot-), MSI 00"),
            Some((0x10, "Express"))
        );
        assert_eq!(
            extended_from_title("Device Serial Number 00-1a"),
            Some((0x03, "DSN"))
        );
        assert_eq!(
            extended_from_title("Extended Capability ID 0x2a"),
            Some((0x2a, "Phy32"))
        );
        assert_eq!(extended_from_title("#19"), None);
    }
}
