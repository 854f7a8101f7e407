//! Renders the extended capability list (from offset 0x100) the way lspci -vvv does.

use super::cfg::Cfg;
use super::DeviceContext;
use crate::device::{Capability, CapabilitySpace};

/// Renders the extended capability `id`, version `version`, at `offset`.
pub(crate) fn render(
    _cfg: &Cfg<'_>,
    _ctx: &DeviceContext,
    offset: u16,
    id: u16,
    version: u8,
) -> Capability {
    super::capability(
        CapabilitySpace::Extended,
        offset,
        id,
        Some(version),
        "Unknown",
        format!("#{id:02x}"),
        Vec::new(),
    )
}
