//! Renders the standard capability list (ids < 0x100) the way lspci -vvv does.

use super::cfg::Cfg;
use super::DeviceContext;
use crate::device::{Capability, CapabilitySpace};

/// Renders the capability with `id` at `offset`.
pub(crate) fn render(_cfg: &Cfg<'_>, _ctx: &DeviceContext, offset: u16, id: u8) -> Capability {
    super::capability(
        CapabilitySpace::Standard,
        offset,
        u16::from(id),
        None,
        "Unknown",
        format!("#{id:02x} [0000]"),
        Vec::new(),
    )
}
