//! Root complex topology: Root Complex Link Declaration (0x05) and the RCEC endpoint
//! association (0x07).

use super::{dw, readable};
use crate::decode::cfg::{flag, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// `Desc` and one `LinkN` block per declared link entry.
pub(crate) fn link_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    let mut out = Vec::new();
    if !readable(cfg, off + 4, 0x0c) {
        return out;
    }
    let desc = dw(cfg, off + 4);
    // lspci names the whole low byte, not just the 4-bit element type field.
    let elt = match desc & 0xff {
        0 => "Config".to_string(),
        1 => "Egress".to_string(),
        2 => "Internal".to_string(),
        t => format!("??{t}"),
    };
    out.push(line_fmt::reg(format_args!(
        "Desc:\tPortNumber={:02x} ComponentID={:02x} EltType={elt}",
        desc >> 24,
        (desc >> 16) & 0xff
    )));
    let links = (desc >> 8) & 0xff;
    for i in 0..links {
        let pos = u32::from(off) + 0x10 + 0x10 * i;
        // Entries of a large count run off the end; lspci says so once and stops.
        let Ok(pos) = u16::try_from(pos) else {
            out.push(line_fmt::reg(format_args!("Link{i}:\t<unreadable>")));
            break;
        };
        if !readable(cfg, pos, 0x10) {
            out.push(line_fmt::reg(format_args!("Link{i}:\t<unreadable>")));
            break;
        }
        let ld = dw(cfg, pos);
        let config = ld & 4 != 0;
        out.push(line_fmt::reg(format_args!(
            "Link{i}:\tDesc:\tTargetPort={:02x} TargetComponent={:02x} AssocRCRB{} LinkType={} LinkValid{}",
            ld >> 24,
            (ld >> 16) & 0xff,
            flag(ld, 2),
            if config { "Config" } else { "MemMapped" },
            flag(ld, 1)
        )));
        let lo = dw(cfg, pos + 8);
        let hi = dw(cfg, pos + 0x0c);
        if config {
            out.push(line_fmt::cont(format_args!(
                "Addr:\t{:04x}:{:02x}:{:02x}.{}",
                hi,
                (lo >> 20) & 0xff,
                (lo >> 15) & 0x1f,
                (lo >> 12) & 7
            )));
        } else {
            out.push(line_fmt::cont(format_args!("Addr:\t{hi:08x}{lo:08x}")));
        }
    }
    out
}

/// lspci's device-number ranges for the RCiEP bitmap: `3-6, 9-10, 12`. A run that reaches
/// bit 31 is printed as its first device only (`0` for an all-ones bitmap), which is what
/// pciutils 3.9 prints.
fn device_ranges(bitmap: u32) -> String {
    let mut parts = Vec::new();
    let mut start: Option<u32> = None;
    for bit in 0..32 {
        let set = bitmap & (1 << bit) != 0;
        match (set, start) {
            (true, None) => start = Some(bit),
            (false, Some(s)) => {
                let end = bit - 1;
                parts.push(if s == end {
                    s.to_string()
                } else {
                    format!("{s}-{end}")
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        parts.push(s.to_string());
    }
    parts.join(", ")
}

/// `RCiEPBitmap`, and from version 2 the associated bus number range.
pub(crate) fn rcec_lines(cfg: &Cfg<'_>, off: u16, ver: u8) -> Vec<Line> {
    let mut out = Vec::new();
    if !readable(cfg, off + 4, 4) {
        return out;
    }
    let bitmap = dw(cfg, off + 4);
    out.push(Line::reg(if bitmap == 0 {
        "RCiEPBitmap: 00000000 [none]".to_string()
    } else {
        format!("RCiEPBitmap: RCiEP at Device(s): {}", device_ranges(bitmap))
    }));
    if ver >= 2 && readable(cfg, off + 8, 4) {
        let buses = dw(cfg, off + 8);
        let next = (buses >> 8) & 0xff;
        let last = (buses >> 16) & 0xff;
        // Only the reset value (next bus ff, last bus 00) is called empty.
        let none = if next == 0xff && last == 0 {
            " [none]"
        } else {
            ""
        };
        out.push(line_fmt::reg(format_args!(
            "AssociatedBusNumbers: {next:02x}-{last:02x}{none}"
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::device_ranges;

    #[test]
    fn ranges_match_lspci() {
        assert_eq!(
            device_ranges(0x1234_5678),
            "3-6, 9-10, 12, 14, 18, 20-21, 25, 28"
        );
        assert_eq!(device_ranges(0x0003_0001), "0, 16-17");
        assert_eq!(device_ranges(0xffff_ffff), "0");
        assert_eq!(device_ranges(0xc000_0001), "0, 30");
        assert_eq!(device_ranges(0x8000_0000), "31");
    }
}
