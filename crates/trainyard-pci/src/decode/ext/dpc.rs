//! Downstream Port Containment (extended id 0x1d).

use super::{flags, readable, w};
use crate::decode::cfg::{flag, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// `DpcCap`, `DpcCtl`, `DpcSta` and the error source id. lspci 3.9 does not render the RP
/// PIO registers.
pub(crate) fn lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 8) {
        return Vec::new();
    }
    let cap = u32::from(w(cfg, off + 4));
    let ctl = u32::from(w(cfg, off + 6));
    let sta = u32::from(w(cfg, off + 8));
    let src = w(cfg, off + 0x0a);
    vec![
        line_fmt::reg(format_args!(
            "DpcCap:\tINT Msg #{}, RPExt{} PoisonedTLP{} SwTrigger{} RP PIO Log {}, DL_ActiveErr{}",
            cap & 0x1f,
            flag(cap, 1 << 5),
            flag(cap, 1 << 6),
            flag(cap, 1 << 7),
            (cap >> 8) & 0xf,
            flag(cap, 1 << 12)
        )),
        line_fmt::reg(format_args!(
            "DpcCtl:\tTrigger:{:x} {}",
            ctl & 3,
            flags(
                ctl,
                &[
                    ("Cmpl", 1 << 2),
                    ("INT", 1 << 3),
                    ("ErrCor", 1 << 4),
                    ("PoisonedTLP", 1 << 5),
                    ("SwTrigger", 1 << 6),
                    ("DL_ActiveErr", 1 << 7),
                ]
            )
        )),
        line_fmt::reg(format_args!(
            "DpcSta:\tTrigger{} Reason:{:02x} INT{} RPBusy{} TriggerExt:{:02x} RP PIO ErrPtr:{:02x}",
            flag(sta, 1),
            (sta >> 1) & 3,
            flag(sta, 1 << 3),
            flag(sta, 1 << 4),
            (sta >> 5) & 3,
            (sta >> 8) & 0x1f
        )),
        line_fmt::reg(format_args!("Source:\t{src:04x}")),
    ]
}
