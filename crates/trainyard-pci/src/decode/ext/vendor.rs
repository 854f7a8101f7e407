//! Vendor-specific extended capabilities: VSEC (0x0b) and DVSEC (0x23).

use super::{dw, readable};
use crate::decode::cfg::Cfg;
use crate::device::Line;

/// `Vendor Specific Information: ID=.. Rev=.. Len=.. <?>` (lspci decodes no VSEC body).
pub(crate) fn vsec_title(cfg: &Cfg<'_>, off: u16) -> String {
    if !readable(cfg, off + 4, 4) {
        return "Vendor Specific Information: <unreadable>".to_string();
    }
    let h = dw(cfg, off + 4);
    format!(
        "Vendor Specific Information: ID={:04x} Rev={} Len={:03x} <?>",
        h & 0xffff,
        (h >> 16) & 0xf,
        h >> 20
    )
}

/// CXL's vendor id in DVSEC headers.
const CXL_VENDOR: u32 = 0x1e98;

/// Title and lines of a DVSEC. Note lspci prints the DVSEC length in decimal, unlike the
/// VSEC length.
pub(crate) fn dvsec(cfg: &Cfg<'_>, off: u16) -> (String, Vec<Line>) {
    if !readable(cfg, off + 4, 8) {
        return (
            "Designated Vendor-Specific: <unreadable>".to_string(),
            Vec::new(),
        );
    }
    let h1 = dw(cfg, off + 4);
    let id = dw(cfg, off + 8) & 0xffff;
    let vendor = h1 & 0xffff;
    let rev = (h1 >> 16) & 0xf;
    let len = h1 >> 20;
    let head =
        format!("Designated Vendor-Specific: Vendor={vendor:04x} ID={id:04x} Rev={rev} Len={len}");
    // lspci treats a CXL DVSEC shorter than 16 bytes like any unknown DVSEC.
    if vendor == CXL_VENDOR && len >= super::cxl::MIN_LEN {
        (
            format!("{head}: CXL"),
            super::cxl::lines(cfg, off, id, rev, len),
        )
    } else {
        (format!("{head} <?>"), Vec::new())
    }
}
