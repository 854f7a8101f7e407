//! Renders the type 0 / type 1 header registers the way lspci -vvv does.

use super::cfg::Cfg;
use super::DeviceContext;
use crate::device::Device;

/// Fills `dev.header` (and `dev.bus`, subsystem ids) from the first 64 bytes.
pub(crate) fn render(_cfg: &Cfg<'_>, _ctx: &DeviceContext, _dev: &mut Device) {}
