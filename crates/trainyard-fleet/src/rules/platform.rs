//! Bare metal or virtual machine, and what the input cannot tell us.
//!
//! Rules judge ACS and the IOMMU differently inside a VM: NVIDIA's virtualized setups enable
//! ATS and set ACS along GPU/NIC paths on purpose (REFERENCE.md §1, NVIDIA AI Enterprise "ATS
//! and ACS configuration"), so what is an error on bare metal is expected there.

use serde::Serialize;
use trainyard_pci::Device;

use super::context::Context;
use super::Output;
use crate::node::Node;

/// What the rules believe the node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// Whether the node runs under a hypervisor.
    pub virtual_machine: bool,
    /// What showed it (`DMI sys_vendor "QEMU"`, `virtio device 0000:00:03.0`), or why bare
    /// metal was assumed.
    pub evidence: String,
    /// Whether DMI was available to decide (snapshots); otherwise devices alone decided.
    pub from_dmi: bool,
}

/// DMI vendor/product words of hypervisors.
const DMI_HYPERVISORS: &[&str] = &[
    "QEMU",
    "KVM",
    "Microsoft Corporation Virtual Machine",
    "Virtual Machine",
    "VMware",
    "Xen",
    "innotek",
    "VirtualBox",
    "Amazon EC2",
    "Google Compute Engine",
    "OpenStack",
    "Bochs",
    "Parallels",
];

/// Vendor ids of purely virtual PCI devices: virtio (Red Hat/Qumranet), QEMU, VMware,
/// Microsoft Hyper-V, Xen.
const VIRTUAL_VENDORS: &[u16] = &[0x1af4, 0x1b36, 0x15ad, 0x1414, 0x5853];

/// Name words of virtual devices, for text input without `-n`.
const VIRTUAL_NAMES: &[&str] = &["Virtio", "QEMU", "VMware", "Hyper-V", "XenSource"];

impl Platform {
    /// Decides from DMI (when the node has a snapshot) and from virtual devices.
    #[cfg(test)]
    pub(crate) fn detect(node: &Node) -> Self {
        Self::detect_with(node, |i| is_virtual_device(&node.devices[i]))
    }

    /// [`detect`](Self::detect) with whether device `i` is virtual already known (the
    /// rules' per-device facts).
    pub(crate) fn detect_with(node: &Node, is_virtual: impl Fn(usize) -> bool) -> Self {
        if let Some(snap) = &node.snapshot {
            let dmi = &snap.dmi;
            for (name, value) in [
                ("sys_vendor", &dmi.sys_vendor),
                ("product_name", &dmi.product_name),
                ("board_vendor", &dmi.board_vendor),
            ] {
                if let Some(v) = value {
                    // Bare-metal EC2 instances report "Amazon EC2" too, with a `.metal`
                    // product name.
                    let metal = dmi
                        .product_name
                        .as_deref()
                        .is_some_and(|p| p.contains("metal"));
                    if !metal && DMI_HYPERVISORS.iter().any(|h| v.contains(h)) {
                        return Self {
                            virtual_machine: true,
                            evidence: format!("DMI {name} \"{v}\""),
                            from_dmi: true,
                        };
                    }
                }
            }
        }
        if let Some(d) = (0..node.devices.len())
            .find(|&i| is_virtual(i))
            .map(|i| &node.devices[i])
        {
            return Self {
                virtual_machine: true,
                evidence: format!(
                    "virtual device {} ({})",
                    d.address,
                    d.names.device.as_deref().unwrap_or("unknown")
                ),
                from_dmi: false,
            };
        }
        let from_dmi = node
            .snapshot
            .as_ref()
            .is_some_and(|s| s.dmi.sys_vendor.is_some() || s.dmi.product_name.is_some());
        Self {
            virtual_machine: false,
            evidence: if from_dmi {
                "DMI names no hypervisor and no virtual PCI devices are present".into()
            } else {
                "no virtual PCI devices (virtio, QEMU, Hyper-V, VMware, Xen) are present".into()
            },
            from_dmi,
        }
    }
}

/// Whether `d` is a purely virtual device (virtio, QEMU, VMware, Hyper-V, Xen).
pub(crate) fn is_virtual_device(d: &Device) -> bool {
    if d.ids.vendor.is_some_and(|v| VIRTUAL_VENDORS.contains(&v)) {
        return true;
    }
    let name = [&d.names.vendor, &d.names.device];
    name.iter()
        .filter_map(|n| n.as_deref())
        .any(|n| VIRTUAL_NAMES.iter().any(|w| n.contains(w)))
}

/// Unchecked entries that concern every rule: how bare metal was decided, and devices whose
/// extended capabilities lspci could not read.
pub(crate) fn note_unknowns(ctx: &Context, out: &mut Output) {
    if !ctx.platform.from_dmi && !ctx.platform.virtual_machine {
        out.unchecked(
            &super::acs::INFO,
            "whether the node is a virtual machine",
            format!(
                "{} carries no DMI identity; judged bare metal because {}",
                ctx.input_name(),
                ctx.platform.evidence
            ),
        );
    }
    short_config(ctx, out);
    nothing_to_check(ctx, out);
    not_collected(ctx, out);
    let denied: Vec<String> = ctx
        .devices()
        .iter()
        .zip(&ctx.facts)
        .filter(|(_, f)| f.access_denied)
        .map(|(d, _)| d.address.to_string())
        .collect();
    if !denied.is_empty() {
        let refs: Vec<&str> = denied.iter().map(String::as_str).collect();
        let list = brief(&refs);
        for rule in [
            &super::acs::INFO,
            &super::link::WIDTH,
            &super::aer::UNCORRECTABLE,
        ] {
            out.unchecked(
                rule,
                format!("capabilities of {} devices: {list}", denied.len()),
                "lspci printed `Capabilities: <access denied>`: it was not run as root, so \
                 ACS, link and AER registers were not read; rerun `lspci -vvv` as root",
            );
        }
    }
}

/// Snapshot functions whose config space was read short: without root, sysfs `config` gives
/// 64 bytes (no capabilities at all); 256 bytes hold the standard capabilities (link, MaxPayload)
/// but not the extended ones (ACS, AER) that live from offset 0x100.
fn short_config(ctx: &Context, out: &mut Output) {
    let Some(snap) = &ctx.node.snapshot else {
        return;
    };
    let list = |max: usize| -> Vec<&str> {
        snap.pci
            .iter()
            .filter(|f| f.config.len() <= max)
            .map(|f| f.address.as_str())
            .collect()
    };
    let header_only = list(64);
    if !header_only.is_empty() {
        for rule in [
            &super::acs::INFO,
            &super::link::WIDTH,
            &super::aer::UNCORRECTABLE,
        ] {
            out.unchecked(
                rule,
                format!(
                    "capabilities of {} PCI functions: {}",
                    header_only.len(),
                    brief(&header_only)
                ),
                "the collector read only the 64-byte header of their config space (not root): \
                 no link, payload, ACS or AER registers; collect the snapshot as root",
            );
        }
    }
    // Conventional PCI functions (virtio on most VMs, legacy devices) have only 256 bytes of
    // config space: for them 256 is complete. Only PCI Express functions have an extended space.
    let is_pcie = |address: &str| {
        ctx.node
            .devices
            .iter()
            .any(|d| d.address.to_string() == address && d.capability("Express").is_some())
    };
    let no_extended: Vec<&str> = list(256)
        .into_iter()
        .filter(|a| !header_only.contains(a) && is_pcie(a))
        .collect();
    if !no_extended.is_empty() {
        for rule in [&super::acs::INFO, &super::aer::UNCORRECTABLE] {
            out.unchecked(
                rule,
                format!(
                    "extended capabilities of {} PCI functions: {}",
                    no_extended.len(),
                    brief(&no_extended)
                ),
                "only 256 bytes of their config space were read: ACS and AER live in the \
                 extended space from offset 0x100",
            );
        }
    }
}

/// The first few items of a list, then a count.
fn brief(items: &[&str]) -> String {
    let shown = items.iter().take(8).copied().collect::<Vec<_>>().join(", ");
    match items.len().saturating_sub(8) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// A node without GPUs and RDMA NICs (a login node, this CI VM) passes the GPU/RDMA rules
/// vacuously; say so instead of letting a clean report suggest they were checked.
fn nothing_to_check(ctx: &Context, out: &mut Output) {
    use trainyard_pci::Role;
    let has = |r: Role| ctx.roles.contains(&r);
    if has(Role::Gpu) || has(Role::RdmaNic) {
        return;
    }
    let why = format!(
        "no GPU and no RDMA NIC among the {} PCI functions of {}",
        ctx.node.devices.len(),
        ctx.input_name()
    );
    for rule in [
        &super::acs::INFO,
        &super::affinity::INFO,
        &super::peermem::INFO,
        &super::ib_port::DOWN,
    ] {
        out.unchecked(rule, "GPU and RDMA NIC paths", why.clone());
    }
}

/// What the collector recorded as missing (`snapshot.missing`): facts the rules wanted and
/// could not have, listed under the pseudo-rule `collect`.
fn not_collected(ctx: &Context, out: &mut Output) {
    let Some(snapshot) = &ctx.node.snapshot else {
        return;
    };
    for m in &snapshot.missing {
        out.unchecked.push(super::Unchecked {
            rule: "collect",
            what: m.what.clone(),
            why: m.reason.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::InputKind;

    fn node(text: &str) -> Node {
        let devices = trainyard_pci::text::parse_str(text).devices;
        Node::from_devices("n", InputKind::LspciText, devices)
    }

    #[test]
    fn virtio_device_means_vm() {
        let p = Platform::detect(&node(
            "00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio network device [1af4:1000]\n",
        ));
        assert!(p.virtual_machine);
        assert!(p.evidence.contains("00:03.0"), "{}", p.evidence);
        // Without ids, the name decides.
        let p = Platform::detect(&node(
            "00:03.0 Ethernet controller: Red Hat, Inc. Virtio network device\n",
        ));
        assert!(p.virtual_machine);
    }

    #[test]
    fn text_without_root_is_listed_as_unchecked() {
        let n = node(
            "00:01.0 PCI bridge: Intel Corporation Device 1234\n\tCapabilities: <access denied>\n",
        );
        let r = super::super::check_node(&n);
        assert!(
            r.unchecked.iter().any(|u| u.what.contains("00:01.0")),
            "{:?}",
            r.unchecked
        );
    }

    #[test]
    fn dmi_decides_and_metal_ec2_is_bare_metal() {
        let mut n = node("00:00.0 Host bridge [0600]: Intel Corporation Device [8086:1234]\n");
        let mut snap = trainyard_snapshot::Snapshot::new("n", "t", "c");
        snap.dmi.sys_vendor = Some("Amazon EC2".into());
        snap.dmi.product_name = Some("p5.48xlarge".into());
        n.snapshot = Some(snap.clone());
        assert!(Platform::detect(&n).virtual_machine);
        snap.dmi.product_name = Some("c7i.metal-48xl".into());
        n.snapshot = Some(snap);
        let p = Platform::detect(&n);
        assert!(!p.virtual_machine && p.from_dmi, "{p:?}");
    }
}
