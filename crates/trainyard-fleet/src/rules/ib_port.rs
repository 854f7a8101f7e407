//! InfiniBand / RoCE ports that are not up, or up below their siblings' rate.
//!
//! A port that is not `ACTIVE` carries no traffic: NCCL either drops the rail or fails to
//! connect. A port up at a lower rate than the other ports of the same adapter model (a cable
//! or transceiver that negotiated 4X HDR instead of NDR, or fewer lanes) slows every collective
//! that uses it, since a ring runs at its slowest link.

use std::collections::BTreeMap;

use trainyard_pci::Role;
use trainyard_snapshot::{IbDevice, IbPort};

use super::context::Context;
use super::{Finding, Output, RuleInfo, Severity};

/// Port not active.
pub(crate) const DOWN: RuleInfo = RuleInfo {
    id: "ib-port-down",
    severity: Severity::Error,
    title: "InfiniBand/RoCE port not ACTIVE or not LinkUp",
    source: "Linux Documentation/ABI/stable/sysfs-class-infiniband (state, phys_state, rate); facebookresearch/gcm#103, #119 (IB checks)",
};

/// Port slower than its siblings.
pub(crate) const RATE: RuleInfo = RuleInfo {
    id: "ib-port-rate",
    severity: Severity::Warning,
    title: "InfiniBand/RoCE port up below the rate of the node's other ports of the same kind",
    source: "Linux Documentation/ABI/stable/sysfs-class-infiniband (rate); facebookresearch/gcm#103, #119",
};

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    let has_nic = ctx.roles.contains(&Role::RdmaNic);
    let Some(snap) = &ctx.node.snapshot else {
        if has_nic {
            out.unchecked(
                &DOWN,
                "InfiniBand/RoCE port state and rate",
                format!(
                    "{} carries no /sys/class/infiniband; use a trainyard snapshot",
                    ctx.input_name()
                ),
            );
        }
        return;
    };
    if snap.infiniband.is_empty() {
        if has_nic {
            out.unchecked(
                &DOWN,
                "InfiniBand/RoCE port state and rate",
                "the node has RDMA NICs but the snapshot lists no /sys/class/infiniband \
                 devices: the RDMA driver (mlx5_ib, bnxt_re, irdma) is not loaded or the \
                 collector could not read them",
            );
        }
        return;
    }
    // The best rate per (adapter model, link layer): ports of one model on one fabric should
    // all reach it.
    let mut best: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (dev, port) in ports(&snap.infiniband) {
        if !active(port) {
            continue;
        }
        if let Some(r) = port.rate.as_deref().and_then(gbps) {
            let e = best.entry(group(ctx, dev, port)).or_insert(r);
            *e = e.max(r);
        }
    }
    for (dev, port) in ports(&snap.infiniband) {
        if !active(port) || !phys_up(port) {
            let mut f = base(ctx, dev, port, &DOWN, Severity::Error);
            f.summary = format!(
                "{} port {} is {} ({})",
                dev.name,
                port.port,
                port.state.as_deref().unwrap_or("in an unknown state"),
                port.phys_state
                    .as_deref()
                    .unwrap_or("physical state unknown")
            );
            f.why = "A port that is not ACTIVE/LinkUp carries no traffic: NCCL loses this rail \
                     or fails to connect, and the job either slows down or cannot start."
                .into();
            f.fix = format!(
                "Check the cable and the switch port (`ibstat {}`, `mlxlink -d {}`); \
                 `Polling` means no link partner, `INIT`/`ARMED` means the subnet manager has \
                 not activated the port (is opensm/UFM running?).",
                dev.name, dev.name
            );
            out.findings.push(f);
            continue;
        }
        let (Some(rate), Some(&max)) = (
            port.rate.as_deref().and_then(gbps),
            best.get(&group(ctx, dev, port)),
        ) else {
            continue;
        };
        if rate < max {
            let mut f = base(ctx, dev, port, &RATE, Severity::Warning);
            f.keys
                .insert("best rate of the same kind".into(), format!("{max} Gb/sec"));
            f.summary = format!(
                "{} port {} is up at {rate} Gb/sec, below the {max} Gb/sec of the node's other \
                 ports of this adapter",
                dev.name, port.port
            );
            f.why = "Collectives run at the speed of their slowest link: one slow rail holds \
                     back every ring and tree that crosses it."
                .into();
            f.fix = format!(
                "Check the cable/transceiver and the switch port's speed (`mlxlink -d {}`), \
                 and replace the cable if it negotiated fewer lanes or a lower generation.",
                dev.name
            );
            out.findings.push(f);
        }
    }
}

fn ports(devs: &[IbDevice]) -> impl Iterator<Item = (&IbDevice, &IbPort)> {
    devs.iter()
        .flat_map(|d| d.ports.iter().map(move |p| (d, p)))
}

fn active(p: &IbPort) -> bool {
    p.state.as_deref().is_some_and(|s| s.contains("ACTIVE"))
}

fn phys_up(p: &IbPort) -> bool {
    // An absent phys_state is not evidence of a problem.
    p.phys_state.as_deref().is_none_or(|s| s.contains("LinkUp"))
}

/// `400 Gb/sec (4X NDR)` → 400.
fn gbps(rate: &str) -> Option<f64> {
    rate.split_whitespace().next()?.parse().ok()
}

/// The adapter model (PCI vendor:device, or the IB device name's driver prefix) and link
/// layer of a port.
fn group(ctx: &Context, dev: &IbDevice, port: &IbPort) -> (String, String) {
    let model = ctx
        .index_of_str(dev.pci_address.as_deref())
        .map(|i| {
            let ids = ctx.dev(i).ids;
            match (ids.vendor, ids.device) {
                (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
                _ => ctx.dev(i).names.device.clone().unwrap_or_default(),
            }
        })
        .unwrap_or_else(|| {
            dev.name
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string()
        });
    (model, port.link_layer.clone().unwrap_or_default())
}

fn base(ctx: &Context, dev: &IbDevice, port: &IbPort, rule: &RuleInfo, sev: Severity) -> Finding {
    let mut f = match ctx.index_of_str(dev.pci_address.as_deref()) {
        Some(i) => ctx.finding(rule, sev, i, &[]),
        None => {
            let mut f = ctx.platform_finding(rule, sev);
            f.device = dev.pci_address.clone();
            f
        }
    };
    let p = port.port;
    for (name, value) in [
        ("state", &port.state),
        ("phys_state", &port.phys_state),
        ("rate", &port.rate),
        ("link_layer", &port.link_layer),
    ] {
        if let Some(v) = value {
            f.keys
                .insert(format!("{}/ports/{p}/{name}", dev.name), v.clone());
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_states() {
        assert_eq!(gbps("400 Gb/sec (4X NDR)"), Some(400.0));
        assert_eq!(gbps("2.5 Gb/sec (1X SDR)"), Some(2.5));
        assert_eq!(gbps("garbage"), None);
        let port = IbPort {
            state: Some("4: ACTIVE".into()),
            ..IbPort::default()
        };
        assert!(active(&port) && phys_up(&port));
    }
}
