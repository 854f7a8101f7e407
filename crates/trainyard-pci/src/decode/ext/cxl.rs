//! CXL DVSECs (vendor 0x1e98), as far as lspci 3.9 decodes them.

use crate::decode::cfg::Cfg;
use crate::device::Line;

/// Lines of the CXL DVSEC `id`. Not decoded yet: only the title is rendered.
pub(crate) fn lines(_cfg: &Cfg<'_>, _off: u16, _id: u32, _rev: u32, _len: u32) -> Vec<Line> {
    Vec::new()
}
