//! Single Root I/O Virtualization (extended id 0x10), including the VF BARs.

use super::{dw, flags, readable, w};
use crate::decode::cfg::{flag, sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// All SR-IOV registers through the VF migration state offset.
pub(crate) fn lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    let mut out = Vec::new();
    if !readable(cfg, off + 4, 0x3c) {
        return out;
    }
    let cap = dw(cfg, off + 4);
    let ctl = u32::from(w(cfg, off + 8));
    let sta = u32::from(w(cfg, off + 0x0a));
    out.push(line_fmt::reg(format_args!(
        "IOVCap:\tMigration{} 10BitTagReq{} Interrupt Message Number: {:03x}",
        flag(cap, 1),
        flag(cap, 4),
        cap >> 21
    )));
    out.push(line_fmt::reg(format_args!(
        "IOVCtl:\t{}",
        flags(
            ctl,
            &[
                ("Enable", 1),
                ("Migration", 2),
                ("Interrupt", 4),
                ("MSE", 8),
                ("ARIHierarchy", 0x10),
                ("10BitTagReq", 0x20),
            ]
        )
    )));
    out.push(line_fmt::concat(0, &["IOVSta:\tMigration", sign(sta, 1)]));
    out.push(line_fmt::reg(format_args!(
        "Initial VFs: {}, Total VFs: {}, Number of VFs: {}, Function Dependency Link: {:02x}",
        w(cfg, off + 0x0c),
        w(cfg, off + 0x0e),
        w(cfg, off + 0x10),
        cfg.u8(off + 0x12).unwrap_or(0)
    )));
    out.push(line_fmt::reg(format_args!(
        "VF offset: {}, stride: {}, Device ID: {:04x}",
        w(cfg, off + 0x14),
        w(cfg, off + 0x16),
        w(cfg, off + 0x1a)
    )));
    out.push(line_fmt::reg(format_args!(
        "Supported Page Size: {:08x}, System Page Size: {:08x}",
        dw(cfg, off + 0x1c),
        dw(cfg, off + 0x20)
    )));
    let mut i = 0u16;
    while i < 6 {
        let bar = dw(cfg, off + 0x24 + 4 * i);
        let region = i;
        i += 1;
        // lspci ignores the I/O bit here: every VF BAR is a memory BAR.
        let prefetch = if bar & 8 != 0 {
            "prefetchable"
        } else {
            "non-prefetchable"
        };
        if bar & 6 == 4 {
            // The upper half of a 64-bit BAR is the next register, even past BAR 5 (where
            // lspci reads the migration state offset).
            let hi = dw(cfg, off + 0x24 + 4 * i);
            i += 1;
            let addr = (u64::from(hi) << 32) | u64::from(bar & !0xf);
            out.push(line_fmt::reg(format_args!(
                "Region {region}: Memory at {addr:016x} (64-bit, {prefetch})"
            )));
        } else if bar != 0 {
            out.push(line_fmt::reg(format_args!(
                "Region {region}: Memory at {:08x} (32-bit, {prefetch})",
                bar & !0xf
            )));
        }
    }
    let mig = dw(cfg, off + 0x3c);
    out.push(line_fmt::reg(format_args!(
        "VF Migration: offset: {:08x}, BIR: {}",
        mig & !7,
        mig & 7
    )));
    out
}
