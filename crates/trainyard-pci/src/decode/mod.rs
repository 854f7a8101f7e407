//! Binary decoder: raw config space (64, 256 or 4096 bytes) → [`Device`].
//!
//! The decoder renders each register the way `lspci -vvv` does, into [`Line`]s, and derives
//! the flat settings from those lines with the same tokenizer the text parser uses. That is
//! what makes `trainyard pci decode` and `trainyard pci parse` agree key for key; the
//! conformance test in `tests/conformance.rs` holds both to pciutils' own rendering.
//!
//! Layout: [`cfg`] reads bytes, `header` renders the type 0/1 header, `std_caps` the standard
//! capability list (PM, MSI, MSI-X, PCI Express, ...), `ext_caps` the extended list (AER, ACS,
//! ...). Each capability renderer takes the bytes and an offset and never panics: reads past
//! the end of the available bytes yield `None` and the renderer says so in its lines.

pub mod cfg;
mod ext_caps;
mod header;
mod line_fmt;
mod std_caps;

use std::sync::Arc;

use crate::address::PciAddress;
use crate::device::{Capability, CapabilitySpace, Device, DeviceIds, Line};
use cfg::Cfg;

/// Why a config-space buffer cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than the 64 bytes of the common header.
    #[error("config space is {0} bytes; at least the 64-byte header is needed")]
    TooShort(usize),
    /// Vendor id 0xffff: the read came from an absent device.
    #[error("vendor id is ffff: no device responded at this address")]
    NoDevice,
}

/// What capability renderers need to know about the device as a whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceContext {
    /// Header type with the multi-function bit cleared.
    pub header_type: u8,
    /// PCI Express device/port type from the Express capability (bits 7:4 of its
    /// capabilities register), when the device has one.
    pub pcie_type: Option<u8>,
    /// Offset of the PCI Express capability.
    pub pcie_offset: Option<u16>,
    /// Where the function sits: lspci hides registers that the specification reserves for
    /// functions other than 0 (an endpoint's `LnkCtl2`).
    pub address: PciAddress,
}

/// Decodes one function's config space.
///
/// `bytes` may be 64 bytes (what unprivileged `lspci -x` and sysfs reads show), 256, or 4096.
pub fn decode_config(address: PciAddress, bytes: &[u8]) -> Result<Device, DecodeError> {
    if bytes.len() < 64 {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    let cfg = Cfg::new(bytes);
    let vendor = cfg.u16(0x00).unwrap_or(0xffff);
    if vendor == 0xffff {
        return Err(DecodeError::NoDevice);
    }
    let header_type = cfg.u8(0x0e).unwrap_or(0) & 0x7f;
    let mut dev = Device {
        address,
        ids: DeviceIds {
            vendor: Some(vendor),
            device: cfg.u16(0x02),
            class: cfg.u16(0x0a),
            prog_if: cfg.u8(0x09),
            revision: cfg.u8(0x08),
            ..DeviceIds::default()
        },
        header_type: Some(header_type),
        config: Some(bytes.to_vec()),
        ..Device::default()
    };

    let std_list = standard_capabilities(&cfg);
    let mut ctx = DeviceContext {
        header_type,
        address,
        ..DeviceContext::default()
    };
    if let Some(&(off, _)) = std_list.iter().find(|(_, id)| *id == 0x10) {
        ctx.pcie_offset = Some(off);
        ctx.pcie_type = cfg.u16(off + 2).map(|v| ((v >> 4) & 0xf) as u8);
    }

    header::render(&cfg, &ctx, &mut dev);
    crate::ids::fill_names(&mut dev);

    if cfg.u16(0x06).unwrap_or(0) & 0x10 != 0 {
        if bytes.len() < 256 {
            // lspci shows this when only the unprivileged 64 bytes were readable.
            dev.capabilities.push(Arc::new(Capability {
                space: CapabilitySpace::Standard,
                offset: 0,
                id: None,
                version: None,
                tag: "Capabilities".into(),
                title: "<access denied>".into(),
                lines: Vec::new(),
            }));
        } else {
            let ext_list = if bytes.len() >= 4096 && ctx.pcie_offset.is_some() {
                extended_capabilities(&cfg)
            } else {
                Vec::new()
            };
            // Sized once: a GPU has a dozen capabilities, grown one by one in four steps.
            dev.capabilities = Vec::with_capacity(std_list.len() + ext_list.len());
            for &(off, id) in &std_list {
                dev.capabilities
                    .push(Arc::new(std_caps::render(&cfg, &ctx, off, id)));
            }
            for (off, id, version) in ext_list {
                dev.capabilities
                    .push(Arc::new(ext_caps::render(&cfg, &ctx, off, id, version)));
            }
        }
    }
    dev.derive_fields();
    Ok(dev)
}

/// Walks the standard capability list: `(offset, id)` in list order.
///
/// Stops at a null pointer, a pointer into the header, a pointer past the buffer, or a
/// pointer already visited (some broken devices loop).
fn standard_capabilities(cfg: &Cfg<'_>) -> Vec<(u16, u8)> {
    let mut out = Vec::new();
    if cfg.len() < 256 {
        return out;
    }
    let ptr_reg = match cfg.u8(0x0e).unwrap_or(0) & 0x7f {
        2 => 0x14,
        _ => 0x34,
    };
    let mut ptr = u16::from(cfg.u8(ptr_reg).unwrap_or(0) & !3);
    let mut seen = [false; 256];
    while ptr >= 0x40 && (ptr as usize) < 256 && !seen[ptr as usize] {
        seen[ptr as usize] = true;
        let (Some(id), Some(next)) = (cfg.u8(ptr), cfg.u8(ptr + 1)) else {
            break;
        };
        if id == 0xff {
            break;
        }
        out.push((ptr, id));
        ptr = u16::from(next & !3);
    }
    out
}

/// Walks the extended capability list from 0x100: `(offset, id, version)`.
fn extended_capabilities(cfg: &Cfg<'_>) -> Vec<(u16, u16, u8)> {
    let mut out = Vec::new();
    let mut ptr: u16 = 0x100;
    let mut seen = vec![false; 4096 / 4];
    while ptr >= 0x100 && (ptr as usize) + 4 <= cfg.len() && !seen[ptr as usize / 4] {
        seen[ptr as usize / 4] = true;
        let Some(header) = cfg.u32(ptr) else { break };
        if header == 0 || header == 0xffff_ffff {
            break;
        }
        let id = (header & 0xffff) as u16;
        let version = ((header >> 16) & 0xf) as u8;
        out.push((ptr, id, version));
        ptr = ((header >> 20) & 0xffc) as u16;
    }
    out
}

/// Convenience for renderers: a capability block with the given fields.
pub(crate) fn capability(
    space: CapabilitySpace,
    offset: u16,
    id: u16,
    version: Option<u8>,
    tag: String,
    title: String,
    lines: Vec<Line>,
) -> Capability {
    Capability {
        space,
        offset,
        id: Some(id),
        version,
        tag,
        title,
        lines,
    }
}
