//! One module per extended-capability family, plus the helpers they share.

pub(super) mod acs;
pub(super) mod aer;
pub(super) mod cxl;
pub(super) mod dpc;
pub(super) mod link;
pub(super) mod misc;
pub(super) mod rc;
pub(super) mod sriov;
pub(super) mod vc;
pub(super) mod vendor;
pub(super) mod virt;

use super::super::cfg::{flag, Cfg};
use crate::device::Line;

/// `Name+ Name- ...`: lspci's rendering of a row of one-bit fields, `(name, mask)` each.
pub(super) fn flags(value: u32, names: &[(&str, u32)]) -> String {
    // Sized once: grown name by name, a row of a dozen flags reallocated four times.
    let len: usize = names.iter().map(|(name, _)| name.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (name, mask)) in names.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(name);
        out.push(flag(value, *mask));
    }
    out
}

/// `head` followed by [`flags`], as one register line of exactly its size (AER prints
/// five such lines of a dozen flags for every port).
pub(super) fn flags_line(head: &str, value: u32, names: &[(&str, u32)]) -> Line {
    let len = head.len() + names.iter().map(|(name, _)| name.len() + 2).sum::<usize>();
    let mut text = String::with_capacity(len);
    text.push_str(head);
    for (i, (name, mask)) in names.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(name);
        text.push(flag(value, *mask));
    }
    Line { depth: 0, text }
}

/// The dword at `off`, or 0 when it is not readable. Only used after the renderer checked
/// (with [`readable`]) that the whole register block is present, as lspci does.
pub(super) fn dw(cfg: &Cfg<'_>, off: u16) -> u32 {
    cfg.u32(off).unwrap_or(0)
}

/// The word at `off`, or 0 (see [`dw`]).
pub(super) fn w(cfg: &Cfg<'_>, off: u16) -> u16 {
    cfg.u16(off).unwrap_or(0)
}

/// True when all `len` bytes from `off` are in the buffer. lspci fetches each capability's
/// register block as a whole and renders nothing of it when the fetch fails; offsets are
/// computed in `u32` so a capability at the very end cannot wrap around.
pub(super) fn readable(cfg: &Cfg<'_>, off: u16, len: u32) -> bool {
    u32::from(off) + len <= cfg.len() as u32
}

/// Title of an id lspci 3.9 names but does not decode (`<?>`), or its fallback for ids it
/// does not know at all.
pub(super) fn undecoded_title(id: u16) -> String {
    let name = match id {
        0x04 => "Power Budgeting",
        0x06 => "Root Complex Internal Link",
        0x08 => "Multi-Function Virtual Channel",
        0x0a => "Root Complex Register Block",
        0x11 => "Multi-Root I/O Virtualization",
        0x16 => "Dynamic Power Allocation",
        0x1a => "Protocol Multiplexing",
        0x1c => "LN Requester",
        0x20 => "PCI Express over M_PHY",
        0x21 => "FRS Queueing",
        0x22 => "Readiness Time Reporting",
        0x25 => "Data Link Feature",
        0x26 => "Physical Layer 16.0 GT/s",
        0x27 => "Lane Margining at the Receiver",
        0x28 => "Hierarchy ID",
        0x29 => "Native PCIe Enclosure Management",
        // Not even named by lspci 3.9 (0x0c CAC, 0x14, 0x2a Physical Layer 32.0 GT/s and
        // everything newer): lowercase hex without padding.
        _ => return format!("Extended Capability ID {id:#x}"),
    };
    format!("{name} <?>")
}
