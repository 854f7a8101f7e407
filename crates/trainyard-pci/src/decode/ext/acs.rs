//! Access Control Services (extended id 0x0d).

use super::{flags, readable, w};
use crate::decode::cfg::Cfg;
use crate::decode::line_fmt;
use crate::device::Line;

/// The seven ACS features, in capability and control register bit order.
const FEATURES: &[(&str, u32)] = &[
    ("SrcValid", 1),
    ("TransBlk", 1 << 1),
    ("ReqRedir", 1 << 2),
    ("CmpltRedir", 1 << 3),
    ("UpstreamFwd", 1 << 4),
    ("EgressCtrl", 1 << 5),
    ("DirectTrans", 1 << 6),
];

/// `ACSCap` and `ACSCtl`. lspci 3.9 shows neither the egress control vector size nor the
/// vector itself, whatever the port type.
pub(crate) fn lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 4) {
        return Vec::new();
    }
    vec![
        line_fmt::reg(format_args!(
            "ACSCap:\t{}",
            flags(u32::from(w(cfg, off + 4)), FEATURES)
        )),
        line_fmt::reg(format_args!(
            "ACSCtl:\t{}",
            flags(u32::from(w(cfg, off + 6)), FEATURES)
        )),
    ]
}
