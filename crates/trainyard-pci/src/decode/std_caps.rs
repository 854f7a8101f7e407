//! Renders the standard capability list (ids < 0x100) the way lspci -vvv does.
//!
//! One module per family: [`express`] for PCI Express (the big one), [`basic`] for the
//! small fixed-layout capabilities, [`ea`] for Enhanced Allocation. Titles and lines are
//! what `lspci -F DUMP -vvv` prints from the same bytes; `tests/decode_std.rs` holds us to it.

mod basic;
mod ea;
mod express;

use super::cfg::Cfg;
use super::DeviceContext;
use crate::device::{Capability, CapabilitySpace};

/// Renders the capability with `id` at `offset`.
pub(crate) fn render(cfg: &Cfg<'_>, ctx: &DeviceContext, offset: u16, id: u8) -> Capability {
    let (title, version, lines) = match id {
        0x01 => basic::power_management(cfg, offset),
        0x02 => basic::agp(cfg, offset),
        0x03 => basic::vpd(),
        0x04 => basic::slot_id(cfg, offset),
        0x05 => basic::msi(cfg, offset),
        0x06 => title_only("CompactPCI hot-swap <?>"),
        0x07 => basic::pcix(cfg, offset, ctx.header_type),
        0x09 => basic::vendor_specific(cfg, offset),
        0x0a => basic::debug_port(cfg, offset),
        0x0b => title_only("CompactPCI central resource control <?>"),
        0x0c => title_only("Hot-plug capable"),
        0x0d => basic::ssvid(cfg, offset),
        0x0e => title_only("AGP3 <?>"),
        0x0f => title_only("Secure device <?>"),
        0x10 => express::render(cfg, offset, ctx.address.function, has_memory_bar(cfg, ctx)),
        0x11 => basic::msix(cfg, offset),
        0x12 => basic::sata(cfg, offset),
        0x13 => basic::advanced_features(cfg, offset),
        0x14 => ea::render(cfg, offset, ctx.header_type),
        // lspci prints the id with C's `%#02x`, which drops the `0x` for zero.
        0 => title_only(&format!(
            "Capability ID 0 [{:04x}]",
            cfg.u16(offset + 2).unwrap_or(0)
        )),
        _ => title_only(&format!(
            "Capability ID {id:#04x} [{:04x}]",
            cfg.u16(offset + 2).unwrap_or(0)
        )),
    };
    super::capability(
        CapabilitySpace::Standard,
        offset,
        u16::from(id),
        version,
        crate::caps::standard_tag(id),
        title,
        lines,
    )
}

fn title_only(title: &str) -> basic::Rendered {
    (title.to_string(), None, Vec::new())
}

/// Whether any BAR of the header decodes memory space. lspci shows the AtomicOp completer
/// capabilities only for functions that have memory to complete atomics on.
fn has_memory_bar(cfg: &Cfg<'_>, ctx: &DeviceContext) -> bool {
    let count = match ctx.header_type {
        0 => 6,
        1 => 2,
        _ => 0,
    };
    (0..count).any(|i| {
        let v = cfg.u32(0x10 + 4 * i).unwrap_or(0);
        v != 0 && v != 0xffff_ffff && v & 1 == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id, at every offset, in buffers of every interesting length: reads past the
    /// end must render defaults, never panic.
    #[test]
    fn no_panic_on_short_or_odd_buffers() {
        for len in [0usize, 64, 0x41, 0x80, 0xff, 256] {
            for fill in [0x00u8, 0xff, 0x5a] {
                let bytes = vec![fill; len];
                let cfg = Cfg::new(&bytes);
                for header_type in 0..3 {
                    let ctx = DeviceContext {
                        header_type,
                        ..DeviceContext::default()
                    };
                    for id in 0..=0xffu8 {
                        for off in [0x40u16, 0xf0, 0xfc, 0xff] {
                            let cap = render(&cfg, &ctx, off, id);
                            assert_eq!(cap.id, Some(u16::from(id)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn power_limits_print_like_printf_g() {
        assert_eq!(express::power_limit(25, 0), "25W");
        assert_eq!(express::power_limit(179, 2), "1.79W");
        assert_eq!(express::power_limit(0xf1, 0), "275W");
        assert_eq!(express::power_limit(0xff, 0), ">600W");
        assert_eq!(express::power_limit(0, 3), "0W");
    }
}
