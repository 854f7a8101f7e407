//! Short human labels for devices: `GPU 2 (H100 SXM5 80GB) behind PEX890xx port 01.0`.

use trainyard_pci::{Device, PortType, Role};

use crate::node::Node;

/// The part of a device name a person recognises: the bracketed marketing name when there
/// is one (`GH100 [H100 SXM5 80GB]` → `H100 SXM5 80GB`), else the name without its vendor.
pub fn short_name(dev: &Device) -> String {
    let full = dev.names.device.as_deref().unwrap_or("device");
    if let (Some(open), true) = (full.rfind('['), full.ends_with(']')) {
        let inner = &full[open + 1..full.len() - 1];
        if !inner.is_empty() && !inner.contains(':') {
            return inner.to_string();
        }
    }
    let without_vendor = dev
        .names
        .vendor
        .as_deref()
        .and_then(|v| full.strip_prefix(v))
        .unwrap_or(full)
        .trim();
    // Drop a leading vendor name lspci glued on (`Broadcom / LSI PEX890xx ...`).
    for vendor in [
        "NVIDIA Corporation",
        "Mellanox Technologies",
        "Intel Corporation",
        "Broadcom / LSI",
        "Broadcom Inc. and subsidiaries",
        "PLX Technology, Inc.",
        "Advanced Micro Devices, Inc. [AMD]",
        "Advanced Micro Devices, Inc. [AMD/ATI]",
    ] {
        if let Some(rest) = without_vendor.strip_prefix(vendor) {
            return rest.trim().to_string();
        }
    }
    without_vendor.to_string()
}

fn role_word(dev: &Device) -> &'static str {
    match (dev.role(), dev.port_type()) {
        (Role::Gpu, _) => "GPU",
        (Role::RdmaNic, _) => "RDMA NIC",
        (Role::Nic, _) => "NIC",
        (Role::Storage, _) => "storage",
        (Role::RootPort, _) => "root port",
        (_, Some(PortType::UpstreamPort)) => "switch upstream port",
        (_, Some(PortType::DownstreamPort)) => "switch port",
        (Role::Bridge, _) => "bridge",
        _ => "device",
    }
}

/// A label per device of `node`, numbering GPUs and NICs in address order.
pub fn device_labels(node: &Node) -> Vec<String> {
    let mut counters: std::collections::HashMap<&'static str, usize> = Default::default();
    node.devices
        .iter()
        .enumerate()
        .map(|(i, dev)| {
            let word = role_word(dev);
            let numbered = matches!(word, "GPU" | "RDMA NIC" | "NIC" | "storage");
            let mut label = if numbered {
                let n = counters.entry(word).or_insert(0);
                let s = format!("{word} {n} ({})", short_name(dev));
                *n += 1;
                s
            } else {
                format!("{word} {} ({})", dev.address, short_name(dev))
            };
            if numbered {
                label.push_str(&format!(" at {}", dev.address));
            }
            if let Some(p) = node.topology.parent(i).and_then(|p| node.devices.get(p)) {
                let port = format!("{:02x}.{:x}", p.address.device, p.address.function);
                label.push_str(&format!(" behind {} port {port}", short_name(p)));
            }
            label
        })
        .collect()
}
