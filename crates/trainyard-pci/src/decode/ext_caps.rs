//! Renders the extended capability list (offset >= 0x100) the way `lspci -vvv` (pciutils
//! 3.9) does: the title after `Capabilities: [off vN] ` and the register lines under it.
//!
//! This file only dispatches on the capability id; each family lives in a small module under
//! `ext/`. Renderers follow lspci's reading discipline: a register block is only rendered when
//! every byte it needs lies inside the buffer, and lspci prints nothing (or `<unreadable>`,
//! depending on the capability) otherwise. The same rule keeps us panic-free on any input.

#[path = "ext/mod.rs"]
mod ext;

use super::cfg::Cfg;
use super::DeviceContext;
use crate::device::{Capability, CapabilitySpace, Line};

/// Renders the extended capability `id`, version `version`, at `offset`.
pub(crate) fn render(
    cfg: &Cfg<'_>,
    ctx: &DeviceContext,
    offset: u16,
    id: u16,
    version: u8,
) -> Capability {
    let (title, lines) = title_and_lines(cfg, ctx, offset, id, version);
    super::capability(
        CapabilitySpace::Extended,
        offset,
        id,
        Some(version),
        crate::caps::extended_tag(id),
        title,
        lines,
    )
}

/// The title and lines of one extended capability.
fn title_and_lines(
    cfg: &Cfg<'_>,
    ctx: &DeviceContext,
    off: u16,
    id: u16,
    ver: u8,
) -> (String, Vec<Line>) {
    let titled = |t: &str, lines: Vec<Line>| (t.to_string(), lines);
    match id {
        0x01 => titled("Advanced Error Reporting", ext::aer::lines(cfg, ctx, off)),
        0x02 | 0x09 => titled("Virtual Channel", ext::vc::lines(cfg, off)),
        0x03 => (ext::misc::dsn_title(cfg, off), Vec::new()),
        0x05 => titled("Root Complex Link", ext::rc::link_lines(cfg, off)),
        0x07 => titled(
            "Root Complex Event Collector Endpoint Association",
            ext::rc::rcec_lines(cfg, off, ver),
        ),
        0x0b => (ext::vendor::vsec_title(cfg, off), Vec::new()),
        0x0d => titled("Access Control Services", ext::acs::lines(cfg, off)),
        0x0e => titled(
            "Alternative Routing-ID Interpretation (ARI)",
            ext::virt::ari_lines(cfg, off),
        ),
        0x0f => titled(
            "Address Translation Service (ATS)",
            ext::virt::ats_lines(cfg, off),
        ),
        0x10 => titled(
            "Single Root I/O Virtualization (SR-IOV)",
            ext::sriov::lines(cfg, off),
        ),
        0x12 => titled("Multicast", ext::misc::multicast_lines(cfg, ctx, off)),
        0x13 => titled(
            "Page Request Interface (PRI)",
            ext::virt::pri_lines(cfg, off),
        ),
        0x15 => titled("Physical Resizable BAR", ext::misc::rebar_lines(cfg, off)),
        0x24 => titled("Virtual Resizable BAR", ext::misc::rebar_lines(cfg, off)),
        0x17 => titled(
            "Transaction Processing Hints",
            ext::misc::tph_lines(cfg, off),
        ),
        0x18 => titled(
            "Latency Tolerance Reporting",
            ext::link::ltr_lines(cfg, off),
        ),
        0x19 => titled("Secondary PCI Express", ext::link::secpcie_lines(cfg, off)),
        0x1b => titled(
            "Process Address Space ID (PASID)",
            ext::virt::pasid_lines(cfg, off),
        ),
        0x1d => titled("Downstream Port Containment", ext::dpc::lines(cfg, off)),
        0x1e => titled("L1 PM Substates", ext::link::l1ss_lines(cfg, off)),
        0x1f => titled("Precision Time Measurement", ext::link::ptm_lines(cfg, off)),
        0x23 => ext::vendor::dvsec(cfg, off),
        0x2e => titled("Data Object Exchange", ext::misc::doe_lines(cfg, off)),
        _ => (ext::undecoded_title(id), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::decode::cfg::Cfg;
    use crate::decode::DeviceContext;

    /// Every id, at offsets where its registers run past the end of the buffer, on buffers
    /// full of ones (maximal counts and lengths) and of zeros, for every port type: no panic.
    #[test]
    fn never_panics_near_the_end() {
        for fill in [0x00u8, 0xff, 0x5a] {
            for len in [0x104usize, 0x180, 4096] {
                let bytes = vec![fill; len];
                let cfg = Cfg::new(&bytes);
                for pcie_type in [None, Some(0), Some(4), Some(6), Some(10)] {
                    let ctx = DeviceContext {
                        pcie_type,
                        ..DeviceContext::default()
                    };
                    for id in 0..0x40u16 {
                        for off in [0x100u16, len as u16 - 4, len as u16 - 0x10, 0xffc] {
                            let cap = render(&cfg, &ctx, off, id, 2);
                            assert_eq!(cap.offset, off);
                        }
                    }
                }
            }
        }
    }
}
