//! Links trained below what both ends support, and link speeds capped by configuration.
//!
//! A link runs at most at the lower of its two ends' capabilities, so a Gen4 GPU behind a Gen5
//! port at 16GT/s is healthy. Each link is judged once, from its upstream-side component (the
//! endpoint or switch upstream port), against its own `LnkCap` and its parent port's.
//!
//! Width and speed are ranked differently: idle GPUs drop their link *speed* to save power
//! (lspci shows `Speed 2.5GT/s (downgraded)`; hwloc#653) and return to full speed under load,
//! but the *width* does not drop at idle, so a narrow link is a real fault (bad riser,
//! bifurcation setting, dirty or damaged slot).

use std::collections::HashMap;

use super::context::Context;
use super::values::generation;
use super::{Finding, Output, RuleInfo, Severity};
use crate::fxhash::FxBuild;

/// Width below capability.
pub(crate) const WIDTH: RuleInfo = RuleInfo {
    id: "link-width-downtrained",
    severity: Severity::Error,
    title: "PCIe link narrower than both ends support",
    source:
        "pciutils (LnkCap/LnkSta); scitix/sichek#122 (check the whole path); Imbue cluster-health",
};

/// Speed below capability.
pub(crate) const SPEED: RuleInfo = RuleInfo {
    id: "link-speed-downtrained",
    severity: Severity::Warning,
    title: "PCIe link slower than both ends support",
    source: "pciutils (LnkCap/LnkSta); open-mpi/hwloc#653 (idle GPUs lower link speed)",
};

/// Target link speed capped below capability.
pub(crate) const TARGET_SPEED: RuleInfo = RuleInfo {
    id: "link-speed-capped",
    severity: Severity::Warning,
    title: "Port's target link speed (LnkCtl2) capped below what both ends support",
    source: "pciutils (LnkCtl2 Target Link Speed); PCIe Base Spec, Link Control 2 register",
};

/// One link: the upstream-side device and its parent port, with what both support.
struct Link {
    dev: usize,
    port: Option<usize>,
    cap_speed: Option<f64>,
    cap_width: Option<u32>,
}

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    // Functions of one device share its link, judged once, on the lowest function showing a
    // width: the lowest such function per device, found in one pass (looking through every
    // device for each function cost a pass per function, 0.06 M instructions per node on
    // an EPYC server's 172 functions).
    let mut lowest: HashMap<(u32, u8, u8), u8, FxBuild> = HashMap::default();
    for (o, of) in ctx.devices().iter().zip(&ctx.facts) {
        if of.link.has_sta_width {
            let a = o.address;
            lowest
                .entry((a.domain, a.bus, a.device))
                .and_modify(|f| *f = (*f).min(a.function))
                .or_insert(a.function);
        }
    }
    for i in 0..ctx.devices().len() {
        let Some(link) = link_of(ctx, i, &lowest) else {
            continue;
        };
        width_rule(ctx, &link, out);
        let capped = target_rule(ctx, &link, out);
        if !capped {
            speed_rule(ctx, &link, out);
        }
    }
}

/// The link above device `i`, when `i` is the upstream-side end of one that is up
/// (`lowest`: per device, the lowest function that shows a link width).
fn link_of(ctx: &Context, i: usize, lowest: &HashMap<(u32, u8, u8), u8, FxBuild>) -> Option<Link> {
    let d = ctx.dev(i);
    if ctx.is_downstream_port(i) {
        return None;
    }
    let own = &ctx.facts[i].link;
    // Functions of one device share its link; judge it once, on the lowest function.
    let a = d.address;
    if a.function != 0
        && lowest
            .get(&(a.domain, a.bus, a.device))
            .is_some_and(|&f| f < a.function)
    {
        return None;
    }
    let sta_width = own.sta_width?;
    if sta_width == 0 {
        return None; // link down: another rule's business (device missing), not downtraining
    }
    let port = ctx
        .node
        .topology
        .parent(i)
        .filter(|&p| ctx.is_downstream_port(p) && ctx.facts[p].link.has_cap_speed);
    let port_link = port.map(|p| &ctx.facts[p].link);
    let min_opt = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let cap_speed = min_opt(own.cap_speed, port_link.and_then(|l| l.cap_speed));
    let cap_width = match (own.cap_width, port_link.and_then(|l| l.cap_width)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(Link {
        dev: i,
        port,
        cap_speed,
        cap_width,
    })
}

/// Evidence: the device's link registers, and its port's under `port ` keys.
fn evidence(ctx: &Context, link: &Link, rule: &RuleInfo, severity: Severity) -> Finding {
    let mut f = ctx.finding(
        rule,
        severity,
        link.dev,
        &[
            "LnkCap.Speed",
            "LnkCap.Width",
            "LnkSta.Speed",
            "LnkSta.Speed.Note",
            "LnkSta.Width",
            "LnkSta.Width.Note",
        ],
    );
    if let Some(p) = link.port {
        let pd = ctx.dev(p);
        for k in [
            "LnkCap.Speed",
            "LnkCap.Width",
            "LnkCtl2.Target Link Speed",
            "LnkSta.BWMgmt",
            "LnkSta.ABWMgmt",
        ] {
            if let Some(v) = pd.field(k) {
                f.keys.insert(format!("port {k}"), v.to_string());
            }
        }
        f.related.push(pd.address.to_string());
    }
    f
}

fn port_words(ctx: &Context, link: &Link) -> String {
    match link.port {
        Some(p) => format!(" behind {} {}", ctx.role_word(p), ctx.dev(p).address),
        None => String::new(),
    }
}

fn width_rule(ctx: &Context, link: &Link, out: &mut Output) {
    let (Some(sta), Some(cap)) = (ctx.facts[link.dev].link.sta_width, link.cap_width) else {
        return;
    };
    if sta >= cap {
        return;
    }
    // Lanes lost on a GPU/NIC path are what this rulebook is about; a narrow link elsewhere
    // (a RAID card, a BMC bridge) is still a fault, but not one that stalls NCCL.
    let on_path = ctx.is_p2p_endpoint(link.dev)
        || ctx
            .subtree(link.dev)
            .iter()
            .any(|&j| ctx.is_p2p_endpoint(j));
    let severity = if on_path {
        Severity::Error
    } else {
        Severity::Warning
    };
    if !ctx.quotes(&WIDTH, severity, Some(link.dev)) {
        out.findings
            .push(ctx.counted(&WIDTH, severity, Some(link.dev)));
        return;
    }
    let mut f = evidence(ctx, link, &WIDTH, severity);
    f.summary = format!(
        "{} link at x{sta} of x{cap}{}",
        ctx.describe(link.dev),
        port_words(ctx, link)
    );
    f.why = format!(
        "The link trained to {sta} of the {cap} lanes both ends support: {:.0}% of the \
         bandwidth. Unlike speed, width does not drop to save power at idle, so lanes failed \
         to train: a badly seated card or riser, a damaged slot or cable, or a bifurcation \
         setting that splits the slot.",
        f64::from(sta) * 100.0 / f64::from(cap)
    );
    if !on_path {
        f.why
            .push_str(" No GPU or RDMA NIC is behind this link, so NCCL is not affected.");
    }
    f.fix = "Check the slot's bifurcation setting in the BIOS (x16, not x8x8); reseat the card \
             and riser or retimer cable; if it persists, move the card to another slot to tell \
             card from slot. dmesg shows \"limited by ... x8 link\" at boot."
        .into();
    out.findings.push(f);
}

fn speed_rule(ctx: &Context, link: &Link, out: &mut Output) {
    let (Some(sta), Some(cap)) = (ctx.facts[link.dev].link.sta_speed, link.cap_speed) else {
        return;
    };
    if sta >= cap {
        return;
    }
    let gpu = ctx.roles.get(link.dev) == Some(&trainyard_pci::Role::Gpu);
    let severity = if gpu {
        Severity::Info
    } else {
        Severity::Warning
    };
    if !ctx.quotes(&SPEED, severity, Some(link.dev)) {
        out.findings
            .push(ctx.counted(&SPEED, severity, Some(link.dev)));
        return;
    }
    let mut f = evidence(ctx, link, &SPEED, severity);
    f.summary = format!(
        "{} link at {sta}GT/s ({}) of {cap}GT/s ({}){}",
        ctx.describe(link.dev),
        generation(sta),
        generation(cap),
        port_words(ctx, link)
    );
    f.why = if gpu {
        "GPUs lower their link speed when idle to save power and raise it under load (lspci \
         marks it `(downgraded)`; hwloc#653), so this is expected on an idle GPU. It is a \
         fault only if the speed stays low while the GPU is busy."
            .into()
    } else {
        "The link trained below the speed both ends support, cutting bandwidth in proportion; \
         NICs and switches do not lower speed at idle the way GPUs do. Causes: signal \
         integrity (riser, retimer, cable), a BIOS speed setting, or a link that retrained \
         after errors."
            .into()
    };
    f.fix = if gpu {
        "Recheck under load (`nvidia-smi -q -d PCIE` or lspci while a job runs); if still slow, \
         check the slot's speed setting in the BIOS and reseat the card."
            .into()
    } else {
        format!(
            "Check the slot's PCIe speed setting in the BIOS (Auto/Gen{}), reseat the card or \
             cable, and look for AER errors on this link; retrain once with `setpci -s {} \
             CAP_EXP+0x10.w=0020:0020` on the port to test.",
            generation(cap).trim_start_matches("Gen"),
            link.port
                .map(|p| ctx.dev(p).address.to_string())
                .unwrap_or_else(|| "PORT".into())
        )
    };
    out.findings.push(f);
}

/// `LnkCtl2.Target Link Speed` on the parent port below what both ends support. Only ports
/// are read: on endpoints the field sets the compliance-test speed and may be hardwired (an
/// Intel X550 runs 8GT/s with target 2.5GT/s). Returns whether a cap was found, which then
/// explains any speed drop.
fn target_rule(ctx: &Context, link: &Link, out: &mut Output) -> bool {
    let Some(p) = link.port else {
        return false;
    };
    let (Some(target), Some(cap)) = (ctx.facts[p].link.target_speed, link.cap_speed) else {
        return false;
    };
    if target >= cap {
        return false;
    }
    if !ctx.quotes(&TARGET_SPEED, Severity::Warning, Some(link.dev)) {
        out.findings
            .push(ctx.counted(&TARGET_SPEED, Severity::Warning, Some(link.dev)));
        return true;
    }
    let pd = ctx.dev(p);
    let mut f = evidence(ctx, link, &TARGET_SPEED, Severity::Warning);
    f.summary = format!(
        "{} {} limits the link to {} to {target}GT/s ({}) of {cap}GT/s",
        ctx.role_word(p),
        pd.address,
        ctx.describe(link.dev),
        generation(target)
    );
    f.why = "The port's Target Link Speed is set below what both ends support, so the link can \
             never train faster: usually a BIOS per-slot speed setting left at a lower \
             generation, sometimes a kernel or driver that capped it."
        .into();
    f.fix = format!(
        "Set the slot's PCIe link speed to Auto or Gen{} in the BIOS.",
        generation(cap).trim_start_matches("Gen")
    );
    out.findings.push(f);
    true
}
