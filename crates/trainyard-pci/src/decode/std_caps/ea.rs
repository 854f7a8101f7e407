//! Enhanced Allocation (id 0x14): fixed resources described by entries instead of BARs.

use std::fmt::Write as _;

use super::super::cfg::{flag, Cfg};
use super::basic::Rendered;
use crate::decode::line_fmt;

fn bei(n: u32) -> String {
    match n {
        0..=5 => format!("BAR {n}"),
        6 => "resource behind function".to_string(),
        7 => "not indicated".to_string(),
        8 => "Expansion ROM".to_string(),
        9..=14 => format!("VF-BAR {}", n - 9),
        _ => "reserved".to_string(),
    }
}

fn properties(p: u32) -> String {
    match p {
        0x00 => "memory space, non-prefetchable",
        0x01 => "memory space, prefetchable",
        0x02 => "I/O space",
        0x03 => "VF memory space, prefetchable",
        0x04 => "VF memory space, non-prefetchable",
        0x05 => "allocation behind bridge, non-prefetchable memory",
        0x06 => "allocation behind bridge, prefetchable memory",
        0x07 => "allocation behind bridge, I/O space",
        0xfd => "memory space resource unavailable for use",
        0xfe => "I/O space resource unavailable for use",
        0xff => "entry unavailable for use",
        _ => return format!("[{p:02x}]"),
    }
    .to_string()
}

/// Title and entries of the capability at `off`.
pub(super) fn render(cfg: &Cfg<'_>, off: u16, header_type: u8) -> Rendered {
    let count = u32::from(cfg.u8(off + 2).unwrap_or(0) & 0x3f);
    let mut lines = Vec::new();
    let mut pos = off + 4;
    let mut title = format!("Enhanced Allocation (EA): NumEntries={count}");
    if header_type == 1 {
        // A bridge's fixed bus numbers come first, and lspci puts them in the title.
        let buses = cfg.u32(pos).unwrap_or(0);
        let _ = write!(
            title,
            ", secondary={}, subordinate={}",
            buses & 0xff,
            (buses >> 8) & 0xff
        );
        pos += 4;
    }
    for i in 0..count {
        let Some(h) = cfg.u32(pos) else { break };
        let size = h & 7;
        lines.push(line_fmt::reg(format_args!(
            "Entry {i}: Enable{} Writable{} EntrySize={size}",
            flag(h, 0x8000_0000),
            flag(h, 0x4000_0000)
        )));
        lines.push(line_fmt::cont(format_args!(
            "BAR Equivalent Indicator: {}",
            bei((h >> 4) & 0xf)
        )));
        lines.push(line_fmt::cont(format_args!(
            "PrimaryProperties: {}",
            properties((h >> 8) & 0xff)
        )));
        let secondary = (h >> 16) & 0xff;
        let sec_text = if secondary == 0xff {
            "entry unavailable for use, PrimaryProperties should be used".to_string()
        } else {
            properties(secondary)
        };
        lines.push(line_fmt::cont(format_args!(
            "SecondaryProperties: {sec_text}"
        )));
        let base = cfg.u32(pos + 4).unwrap_or(0);
        let max = cfg.u32(pos + 8).unwrap_or(0);
        let mut next = pos + 12;
        let base_text = if base & 2 != 0 {
            let hi = cfg.u32(next).unwrap_or(0);
            next += 4;
            format!("{hi:x}{:08x}", base & !3)
        } else {
            format!("{:08x}", base & !3)
        };
        let max_text = if max & 2 != 0 {
            let hi = cfg.u32(next).unwrap_or(0);
            format!("{hi:x}{:08x}", max | 3)
        } else {
            format!("{:08x}", max | 3)
        };
        lines.push(line_fmt::cont(format_args!("Base: {base_text}")));
        lines.push(line_fmt::cont(format_args!("MaxOffset: {max_text}")));
        pos = pos.saturating_add(4 + 4 * size as u16);
    }
    (title, None, lines)
}
