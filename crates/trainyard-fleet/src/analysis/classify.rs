//! How much a difference in one setting matters, and why.
//!
//! A deviation's severity comes from what the setting does for GPUDirect RDMA and NCCL
//! (REFERENCE.md §1): ACS redirect, link width and speed, MaxPayload, MaxReadReq, relaxed
//! ordering and AER error bits are errors; other PCI Express, AER and ACS settings are
//! warnings; status bits that firmware probes latch on healthy machines are notes.

use trainyard_pci::Role;

use crate::rules::Severity;

/// Severity of a deviation in `key`, and the reason when it is ranked low.
pub fn deviation_severity(
    key: &str,
    role: Option<Role>,
    value: &str,
    fleet_value: &str,
) -> (Severity, Option<&'static str>) {
    if ["dmi.", "kernel.", "gpu.", "ib.", "module.", "cpu."]
        .iter()
        .any(|p| key.starts_with(p))
    {
        return if key == "dmi.bios_date" {
            (
                Severity::Info,
                Some("follows the BIOS version, which is reported on its own"),
            )
        } else {
            (Severity::Warning, None)
        };
    }
    if let Some(why) = noise_reason(key) {
        return (Severity::Info, Some(why));
    }
    let critical_prefix = [
        "ACSCtl.",
        "LnkSta.Width",
        "LnkCtl2.Target Link Speed",
        "DevCtl.MaxReadReq",
        "DevCtl.MaxPayload",
        "DevCtl.RlxdOrd",
        "DevCtl.ExtTag",
        "DevCtl2.10BitTagReq",
        "ATSCtl.Enable",
        "DevSta.FatalErr",
        "DevSta.NonFatalErr",
        "UESta.",
    ];
    if key == "LnkSta.Speed" {
        // An idle GPU lowers its link speed to save power and raises it under load
        // (hwloc#653): not a fault unless the width drops too or it persists under load.
        if role == Some(Role::Gpu) && speed_gt(fleet_value) > speed_gt(value) {
            return (Severity::Info, Some(IDLE_GPU));
        }
        return (Severity::Error, None);
    }
    if key == "LnkSta.Speed.Note" && role == Some(Role::Gpu) {
        return (Severity::Info, Some(IDLE_GPU));
    }
    if key.starts_with("CESta.") {
        // A set correctable-error bit is worth a look; a cleared one on a few nodes is not.
        return if value == "+" {
            (Severity::Warning, None)
        } else {
            (
                Severity::Info,
                Some("the fleet has this correctable-error bit set; these nodes do not"),
            )
        };
    }
    if key == "DevSta.CorrErr" {
        // A correctable error latched since the last clear: worth a look, not an outage.
        return (Severity::Warning, None);
    }
    if critical_prefix.iter().any(|p| key.starts_with(p)) {
        return (Severity::Error, None);
    }
    let warning_prefix = [
        "Dev",
        "Lnk",
        "Slt",
        "Root",
        "ACS",
        "AER",
        "UE",
        "CE",
        "ATS",
        "PRI",
        "PASID",
        "L1Sub",
        "Express.",
        "SR-IOV.",
        "MSI",
        "MSI-X.",
        "Capabilities",
    ];
    if warning_prefix.iter().any(|p| key.starts_with(p)) {
        return (Severity::Warning, None);
    }
    (
        Severity::Info,
        Some("a setting that does not affect RDMA or NCCL directly"),
    )
}

/// Why an idle GPU's slower link is ranked low.
pub const IDLE_GPU: &str =
    "GPUs lower their link speed when idle to save power (the width stays) and \
     raise it under load, so a slower GPU link in a snapshot taken at idle is expected; rerun \
     under load (e.g. during nccl-tests) before suspecting the link";

/// Keys whose differences healthy fleets show all the time.
fn noise_reason(key: &str) -> Option<&'static str> {
    const PROBE: &str = "status bits that firmware and the kernel latch while probing absent \
         functions during enumeration; healthy nodes differ in them";
    const TRANSIENT: &str = "a status bit that records a past event (link retraining, bandwidth \
         change) rather than a setting";
    match key {
        "DevSta.UnsupReq"
        | "UESta.UnsupReq"
        | "CESta.AdvNonFatalErr"
        | "Status.<MAbort"
        | "Status.>TAbort"
        | "Status.<TAbort"
        | "Status.>SERR"
        | "Status.<PERR"
        | "Secondary status.<MAbort"
        | "Secondary status.>TAbort"
        | "Secondary status.<TAbort"
        | "Secondary status.<SERR"
        | "Secondary status.<PERR"
        | "DevSta.TransPend" => Some(PROBE),
        "LnkSta.BWMgmt"
        | "LnkSta.ABWMgmt"
        | "LnkSta.Train"
        | "LnkSta2.LinkEqualizationRequest"
        | "SltSta.Changed" => Some(TRANSIENT),
        "Latency"
        | "Interrupt"
        | "Latency.Cache Line Size"
        | "Kernel driver in use"
        | "Kernel modules"
        | "NUMA node"
        | "IOMMU group"
        | "Physical Slot" => {
            Some("a per-node assignment (IRQ, NUMA or IOMMU numbering, driver binding)")
        }
        "Bus.primary" | "Bus.secondary" | "Bus.subordinate" => Some(
            "bus numbers, which firmware assigns at boot: they shift on nodes where a device \
             is missing or a switch enumerated differently (devices are aligned by topology, \
             not by bus number)",
        ),
        _ if key.starts_with("Region ")
            || key.starts_with("Expansion ROM")
            || key.contains("behind bridge") =>
        {
            Some("an address assignment, which firmware may place differently per node")
        }
        _ => None,
    }
}

/// `16GT/s` → 16.0; unknown → 0.
fn speed_gt(v: &str) -> f64 {
    v.trim_end_matches("GT/s").parse().unwrap_or(0.0)
}

/// Severity of a device missing from its slot on some nodes.
pub fn missing_severity(role: Option<Role>) -> Severity {
    match role {
        Some(Role::Gpu | Role::RdmaNic | Role::RootPort | Role::SwitchPort) => Severity::Error,
        _ => Severity::Warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks() {
        assert_eq!(
            deviation_severity("ACSCtl.ReqRedir", None, "+", "-").0,
            Severity::Error
        );
        assert_eq!(
            deviation_severity("LnkSta.Speed", Some(Role::Gpu), "2.5GT/s", "16GT/s").0,
            Severity::Info
        );
        assert_eq!(
            deviation_severity("LnkSta.Speed", Some(Role::RdmaNic), "8GT/s", "16GT/s").0,
            Severity::Error
        );
        assert_eq!(
            deviation_severity("DevSta.UnsupReq", None, "+", "-").0,
            Severity::Info
        );
        assert_eq!(
            deviation_severity("LnkCap.ASPM", None, "L1", "L0s L1").0,
            Severity::Warning
        );
    }
}
