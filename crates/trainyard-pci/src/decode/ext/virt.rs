//! Function virtualization and address translation: ARI (0x0e), ATS (0x0f), PRI (0x13) and
//! PASID (0x1b). SR-IOV has its own module.

use super::{dw, flags, readable, w};
use crate::decode::cfg::{flag, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// `ARICap` / `ARICtl`.
pub(crate) fn ari_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 4) {
        return Vec::new();
    }
    let cap = u32::from(w(cfg, off + 4));
    let ctl = u32::from(w(cfg, off + 6));
    vec![
        line_fmt::reg(format_args!(
            "ARICap:\tMFVC{} ACS{}, Next Function: {}",
            flag(cap, 1),
            flag(cap, 2),
            cap >> 8
        )),
        line_fmt::reg(format_args!(
            "ARICtl:\tMFVC{} ACS{}, Function Group: {}",
            flag(ctl, 1),
            flag(ctl, 2),
            (ctl >> 4) & 7
        )),
    ]
}

/// `ATSCap` / `ATSCtl`. lspci 3.9 shows neither page-aligned requests nor global
/// invalidate support.
pub(crate) fn ats_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 4) {
        return Vec::new();
    }
    let cap = u32::from(w(cfg, off + 4));
    let ctl = u32::from(w(cfg, off + 6));
    vec![
        line_fmt::reg(format_args!(
            "ATSCap:\tInvalidate Queue Depth: {:02x}",
            cap & 0x1f
        )),
        line_fmt::reg(format_args!(
            "ATSCtl:\tEnable{}, Smallest Translation Unit: {:02x}",
            flag(ctl, 1 << 15),
            ctl & 0x1f
        )),
    ]
}

/// `PRICtl`, `PRISta` and the request capacity/allocation.
pub(crate) fn pri_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 0x0c) {
        return Vec::new();
    }
    let ctl = u32::from(w(cfg, off + 4));
    let sta = u32::from(w(cfg, off + 6));
    vec![
        line_fmt::reg(format_args!(
            "PRICtl: {}",
            flags(ctl, &[("Enable", 1), ("Reset", 2)])
        )),
        line_fmt::reg(format_args!(
            "PRISta: {}",
            flags(sta, &[("RF", 1), ("UPRGI", 2), ("Stopped", 1 << 8)])
        )),
        line_fmt::reg(format_args!(
            "Page Request Capacity: {:08x}, Page Request Allocation: {:08x}",
            dw(cfg, off + 8),
            dw(cfg, off + 0x0c)
        )),
    ]
}

/// `PASIDCap` / `PASIDCtl`.
pub(crate) fn pasid_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 4) {
        return Vec::new();
    }
    let cap = u32::from(w(cfg, off + 4));
    let ctl = u32::from(w(cfg, off + 6));
    vec![
        line_fmt::reg(format_args!(
            "PASIDCap: {}, Max PASID Width: {:02x}",
            flags(cap, &[("Exec", 2), ("Priv", 4)]),
            (cap >> 8) & 0x1f
        )),
        line_fmt::reg(format_args!(
            "PASIDCtl: {}",
            flags(ctl, &[("Enable", 1), ("Exec", 2), ("Priv", 4)])
        )),
    ]
}
