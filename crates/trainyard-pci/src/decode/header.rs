//! Renders the type 0 / type 1 / type 2 header registers the way lspci -vvv does.
//!
//! lspci reading a dump (`-F`) has no sysfs, so BAR sizes are unknown and every address
//! comes straight from the registers; we render exactly that view. Line order follows
//! lspci: subsystem, command, status, latency, interrupt, BIST, then the header type's own
//! registers.

use std::fmt::Write;

use super::cfg::{flag, sign, Cfg};
use super::{line_fmt, DeviceContext};
use crate::device::{BusNumbers, Device, Line};

/// Command register bits, in lspci's `Control:` order.
const COMMAND_FLAGS: &[(&str, u32)] = &[
    ("I/O", 0x1),
    ("Mem", 0x2),
    ("BusMaster", 0x4),
    ("SpecCycle", 0x8),
    ("MemWINV", 0x10),
    ("VGASnoop", 0x20),
    ("ParErr", 0x40),
    ("Stepping", 0x80),
    ("SERR", 0x100),
    ("FastB2B", 0x200),
    ("DisINTx", 0x400),
];

/// Fills `dev.header` (and `dev.bus`, subsystem ids) from the first 64 bytes.
pub(crate) fn render(cfg: &Cfg<'_>, ctx: &DeviceContext, dev: &mut Device) {
    // A bridge renders about 14 header lines: room for them up front instead of regrowth.
    let mut lines = Vec::with_capacity(16);
    let htype = ctx.header_type;

    // Subsystem ids live in the header for types 0 and 2; a bridge carries them in its
    // SSVID capability, which lspci also shows here.
    let subsys = match htype {
        0 => Some((cfg.u16(0x2c).unwrap_or(0), cfg.u16(0x2e).unwrap_or(0))),
        1 => ssvid_capability(cfg).and_then(|off| Some((cfg.u16(off + 4)?, cfg.u16(off + 6)?))),
        2 => Some((cfg.u16(0x40).unwrap_or(0), cfg.u16(0x42).unwrap_or(0))),
        _ => None,
    };
    if let Some((sv, sd)) = subsys {
        if sv != 0 && sv != 0xffff {
            dev.ids.subsystem_vendor = Some(sv);
            dev.ids.subsystem_device = Some(sd);
            let vendor = dev.ids.vendor.unwrap_or(0);
            let device = dev.ids.device.unwrap_or(0);
            let named = crate::ids::subsystem_name(vendor, device, sv, sd);
            let label = subsystem_label_of(vendor, device, sv, sd, &named);
            lines.push(line_fmt::concat(0, &["Subsystem: ", &label]));
            // The same lookup `ids::fill_names` would repeat for the device's names (it
            // leaves a name that is set).
            dev.names.subsystem = Some(named);
        }
    }

    // lspci flags a bridge header on a non-bridge class (and the reverse) before anything else.
    let class = dev.ids.class.unwrap_or(0);
    // (Checked against lspci: a type 0 header may carry any class but PCI-to-PCI bridge,
    // types 1 and 2 any bridge class.)
    let class_ok = match htype {
        0 => class != 0x0604,
        1 | 2 => class >> 8 == 0x06,
        _ => true,
    };
    if !class_ok {
        lines.push(line_fmt::reg(format_args!(
            "!!! Invalid class {class:04x} for header type {htype:02x}"
        )));
    }

    let cmd = u32::from(cfg.u16(0x04).unwrap_or(0));
    let status = u32::from(cfg.u16(0x06).unwrap_or(0));
    let mut control = line_fmt::line_buf();
    control.push_str("Control:");
    for (name, bit) in COMMAND_FLAGS {
        control.push(' ');
        control.push_str(name);
        control.push(flag(cmd, *bit));
    }
    lines.push(Line::reg(control.as_str()));
    lines.push(line_fmt::concat(
        0,
        &[
            "Status: Cap",
            sign(status, 0x10),
            " 66MHz",
            sign(status, 0x20),
            " UDF",
            sign(status, 0x40),
            " FastB2B",
            sign(status, 0x80),
            " ParErr",
            sign(status, 0x100),
            " DEVSEL=",
            devsel(status),
            " >TAbort",
            sign(status, 0x800),
            " <TAbort",
            sign(status, 0x1000),
            " <MAbort",
            sign(status, 0x2000),
            " >SERR",
            sign(status, 0x4000),
            " <PERR",
            sign(status, 0x8000),
            " INTx",
            sign(status, 0x8),
        ],
    ));

    // lspci shows the latency timer only for bus masters: it means nothing otherwise.
    if cmd & 0x4 != 0 {
        let latency = cfg.u8(0x0d).unwrap_or(0);
        let cache_line = cfg.u8(0x0c).unwrap_or(0);
        let mut text = line_fmt::line_buf();
        text.push_str("Latency: ");
        line_fmt::push_dec(&mut text, u64::from(latency));
        if htype == 0 {
            let min_gnt = u32::from(cfg.u8(0x3e).unwrap_or(0));
            let max_lat = u32::from(cfg.u8(0x3f).unwrap_or(0));
            if min_gnt != 0 || max_lat != 0 {
                text.push_str(" (");
                if min_gnt != 0 {
                    let _ = write!(text, "{}ns min", min_gnt * 250);
                }
                if min_gnt != 0 && max_lat != 0 {
                    text.push_str(", ");
                }
                if max_lat != 0 {
                    let _ = write!(text, "{}ns max", max_lat * 250);
                }
                text.push(')');
            }
        }
        if cache_line != 0 {
            let _ = write!(
                text,
                ", Cache Line Size: {} bytes",
                u32::from(cache_line) * 4
            );
        }
        lines.push(Line::reg(text.as_str()));
    }

    let pin = cfg.u8(0x3d).unwrap_or(0);
    let irq = cfg.u8(0x3c).unwrap_or(0);
    if pin != 0 || irq != 0 {
        // lspci prints the byte `'A' + pin - 1` as is; past 0x7f that byte is not UTF-8, and
        // text readers (ours included) see U+FFFD there, so the decoder says the same.
        let pin_char = match pin {
            0 => '?',
            p => {
                let b = b'A'.wrapping_add(p - 1);
                if b.is_ascii() {
                    char::from(b)
                } else {
                    char::REPLACEMENT_CHARACTER
                }
            }
        };
        lines.push(line_fmt::reg(format_args!(
            "Interrupt: pin {pin_char} routed to IRQ {irq}"
        )));
    }

    let bist = cfg.u8(0x0f).unwrap_or(0);
    if bist & 0x80 != 0 {
        if bist & 0x40 != 0 {
            lines.push(Line::reg("BIST is running"));
        } else {
            lines.push(line_fmt::reg(format_args!(
                "BIST result: {:02x}",
                bist & 0x0f
            )));
        }
    }

    match htype {
        0 => {
            bars(cfg, cmd, 6, &mut lines);
            rom(cfg, cmd, 0x30, &mut lines);
        }
        1 => {
            bars(cfg, cmd, 2, &mut lines);
            bridge(cfg, cmd, dev, &mut lines);
        }
        2 => {
            bars(cfg, cmd, 1, &mut lines);
            cardbus(cfg, cmd, dev, &mut lines);
        }
        _ => {}
    }
    dev.header = lines;
}

/// The subsystem as lspci names it: like [`crate::ids::subsystem_name`], except that a
/// subsystem equal to the device itself, absent from the database's subsystem list, takes
/// the device's own name (lspci falls back to it; the database rarely lists such pairs).
pub(crate) fn subsystem_label(vendor: u16, device: u16, sv: u16, sd: u16) -> String {
    let named = crate::ids::subsystem_name(vendor, device, sv, sd);
    subsystem_label_of(vendor, device, sv, sd, &named)
}

/// [`subsystem_label`] given the database name of the subsystem (`named`).
fn subsystem_label_of(vendor: u16, device: u16, sv: u16, sd: u16, named: &str) -> String {
    if crate::ids::vendor_name(sv).is_none() {
        // lspci's fallback for an unknown subsystem vendor is one `vvvv:dddd` pair.
        return format!("Device {sv:04x}:{sd:04x}");
    }
    if sv == vendor && sd == device && named.ends_with(&format!(" Device {sd:04x}")) {
        if let (Some(v), Some(d)) = (
            crate::ids::vendor_name(vendor),
            crate::ids::device_name(vendor, device),
        ) {
            return format!("{v} {d}");
        }
    }
    named.to_string()
}

/// Offset of the bridge subsystem id capability (id 0x0d), if the standard list has one.
fn ssvid_capability(cfg: &Cfg<'_>) -> Option<u16> {
    if cfg.len() < 256 || cfg.u16(0x06).unwrap_or(0) & 0x10 == 0 {
        return None;
    }
    let mut ptr = u16::from(cfg.u8(0x34)? & !3);
    let mut hops = 0;
    while ptr >= 0x40 && hops < 48 {
        let id = cfg.u8(ptr)?;
        if id == 0xff {
            return None;
        }
        if id == 0x0d {
            return Some(ptr);
        }
        ptr = u16::from(cfg.u8(ptr + 1)? & !3);
        hops += 1;
    }
    None
}

fn devsel(status: u32) -> &'static str {
    match (status >> 9) & 3 {
        0 => "fast",
        1 => "medium",
        2 => "slow",
        _ => "??",
    }
}

/// The base address registers, `count` of them from 0x10.
///
/// Mirrors what lspci shows from a dump: a 64-bit BAR's address combines both dwords, and
/// the upper dword is then shown again as a region of its own (address 0, flags from its
/// low bits) whenever it is non-zero, since without sysfs lspci cannot tell it apart.
fn bars(cfg: &Cfg<'_>, cmd: u32, count: u16, lines: &mut Vec<Line>) {
    let regs: Vec<u32> = (0..count)
        .map(|i| cfg.u32(0x10 + 4 * i).unwrap_or(0))
        .collect();
    // Decoded base address of each slot: what a config-only reader knows.
    let mut pos = vec![0u64; regs.len()];
    let mut i = 0;
    while i < regs.len() {
        let x = regs[i];
        if x != 0 && x != 0xffff_ffff {
            if x & 1 != 0 {
                pos[i] = u64::from(x);
            } else if (x >> 1) & 3 == 2 {
                // A 64-bit BAR in the last slot has no upper half: no address is known.
                if i + 1 < regs.len() {
                    pos[i] = u64::from(x) | (u64::from(regs[i + 1]) << 32);
                }
                i += 1;
            } else {
                pos[i] = u64::from(x);
            }
        }
        i += 1;
    }
    for (index, (&raw, &pos)) in regs.iter().zip(&pos).enumerate() {
        let flg = if raw == 0xffff_ffff { 0 } else { raw };
        if pos == 0 && flg == 0 {
            continue;
        }
        let mut text = line_fmt::line_buf();
        text.push_str("Region ");
        line_fmt::push_dec(&mut text, index as u64);
        text.push_str(": ");
        if flg & 1 != 0 {
            let addr = pos & !3;
            text.push_str("I/O ports at ");
            if addr != 0 || cmd & 1 != 0 {
                let _ = write!(text, "{addr:04x}");
            } else {
                text.push_str("<unassigned>");
            }
            if cmd & 1 == 0 {
                text.push_str(" [disabled]");
            }
        } else {
            let kind = (flg >> 1) & 3;
            let addr = pos & !0xf;
            text.push_str("Memory at ");
            if addr != 0 {
                let _ = write!(text, "{addr:08x}");
            } else {
                // Also the upper half of a 64-bit BAR: lspci, knowing no address for that
                // slot, calls it unassigned whatever its bits say.
                text.push_str("<unassigned>");
            }
            let width = match kind {
                0 => "32-bit",
                1 => "low-1M",
                2 => "64-bit",
                _ => "type 3",
            };
            let pre = if flg & 8 != 0 { "" } else { "non-" };
            text.push_str(" (");
            text.push_str(width);
            text.push_str(", ");
            text.push_str(pre);
            text.push_str("prefetchable)");
            if cmd & 2 == 0 {
                text.push_str(" [disabled]");
            }
        }
        lines.push(Line::reg(text.as_str()));
    }
}

/// The expansion ROM base register at `reg`.
fn rom(cfg: &Cfg<'_>, cmd: u32, reg: u16, lines: &mut Vec<Line>) {
    let mut flg = cfg.u32(reg).unwrap_or(0);
    if flg == 0xffff_ffff {
        flg = 0;
    }
    if flg == 0 {
        return;
    }
    let addr = flg & !0x7ff;
    let mut text = String::from("Expansion ROM at ");
    if addr != 0 {
        let _ = write!(text, "{addr:08x}");
    } else {
        text.push_str("<unassigned>");
    }
    if flg & 1 == 0 {
        text.push_str(" [disabled]");
    } else if cmd & 2 == 0 {
        text.push_str(" [disabled by cmd]");
    }
    lines.push(Line::reg(text.as_str()));
}

/// [`push_size_suffix`] into a new `String`, for the tests.
#[cfg(test)]
fn size_suffix(x: u64) -> String {
    let mut out = String::new();
    push_size_suffix(&mut out, x);
    out
}

/// Appends ` [size=..]` with the largest binary suffix that divides the size exactly
/// (nothing for size 0).
fn push_size_suffix(out: &mut String, mut x: u64) {
    const SUFFIX: [&str; 5] = ["", "K", "M", "G", "T"];
    if x == 0 {
        return;
    }
    let mut i = 0;
    while i < SUFFIX.len() - 1 && x % 1024 == 0 {
        x /= 1024;
        i += 1;
    }
    // lspci prints the scaled size as a 32-bit unsigned: huge windows wrap, and we match.
    out.push_str(" [size=");
    line_fmt::push_dec(out, u64::from(x as u32));
    out.push_str(SUFFIX[i]);
    out.push(']');
}

/// `Bus: primary=.., secondary=.., subordinate=.., sec-latency=..` of a bridge.
fn bus_line(primary: u8, secondary: u8, subordinate: u8, latency: u8) -> Line {
    line_fmt::concat(
        0,
        &[
            "Bus: primary=",
            line_fmt::Hex::new(primary.into(), 2).as_str(),
            ", secondary=",
            line_fmt::Hex::new(secondary.into(), 2).as_str(),
            ", subordinate=",
            line_fmt::Hex::new(subordinate.into(), 2).as_str(),
            ", sec-latency=",
            line_fmt::Dec::new(latency.into()).as_str(),
        ],
    )
}

/// One `... behind bridge:` window; `bits` sets the address width printed.
fn range(prefix: &str, base: u64, limit: u64, bits: usize) -> Line {
    let digits = bits / 4;
    let mut text = line_fmt::line_buf();
    text.push_str(prefix);
    text.push_str(": ");
    text.push_str(line_fmt::Hex::new(base, digits).as_str());
    text.push('-');
    text.push_str(line_fmt::Hex::new(limit, digits).as_str());
    if base <= limit {
        // A window covering all 64 bits wraps to size 0, which lspci (and we) leave unsized.
        push_size_suffix(&mut text, limit.wrapping_sub(base).wrapping_add(1));
    } else {
        text.push_str(" [disabled]");
    }
    text.push_str(" [");
    line_fmt::push_dec(&mut text, bits as u64);
    text.push_str("-bit]");
    Line::reg(text.as_str())
}

fn bridge(cfg: &Cfg<'_>, cmd: u32, dev: &mut Device, lines: &mut Vec<Line>) {
    let primary = cfg.u8(0x18).unwrap_or(0);
    let secondary = cfg.u8(0x19).unwrap_or(0);
    let subordinate = cfg.u8(0x1a).unwrap_or(0);
    dev.bus = Some(BusNumbers {
        primary,
        secondary,
        subordinate,
    });
    lines.push(bus_line(
        primary,
        secondary,
        subordinate,
        cfg.u8(0x1b).unwrap_or(0),
    ));

    let io_base = cfg.u8(0x1c).unwrap_or(0);
    let io_limit = cfg.u8(0x1d).unwrap_or(0);
    let io_type = io_base & 0xf;
    if io_type != io_limit & 0xf || (io_type != 0 && io_type != 1) {
        lines.push(line_fmt::reg(format_args!(
            "!!! Unknown I/O range types {io_base:x}/{io_limit:x}"
        )));
    } else {
        let mut base = u64::from(io_base & 0xf0) << 8;
        let mut limit = u64::from(io_limit & 0xf0) << 8;
        if io_type == 1 {
            base |= u64::from(cfg.u16(0x30).unwrap_or(0)) << 16;
            limit |= u64::from(cfg.u16(0x32).unwrap_or(0)) << 16;
        }
        let bits = if io_type == 1 { 32 } else { 16 };
        lines.push(range("I/O behind bridge", base, limit + 0xfff, bits));
    }

    let mem_base = cfg.u16(0x20).unwrap_or(0);
    let mem_limit = cfg.u16(0x22).unwrap_or(0);
    let mem_type = mem_base & 0xf;
    if mem_type != mem_limit & 0xf || mem_type != 0 {
        lines.push(line_fmt::reg(format_args!(
            "!!! Unknown memory range types {mem_base:x}/{mem_limit:x}"
        )));
    } else {
        let base = u64::from(mem_base & !0xf) << 16;
        let limit = u64::from(mem_limit & !0xf) << 16;
        lines.push(range("Memory behind bridge", base, limit + 0xfffff, 32));
    }

    let pref_base = cfg.u16(0x24).unwrap_or(0);
    let pref_limit = cfg.u16(0x26).unwrap_or(0);
    let pref_type = pref_base & 0xf;
    if pref_type != pref_limit & 0xf || (pref_type != 0 && pref_type != 1) {
        lines.push(line_fmt::reg(format_args!(
            "!!! Unknown prefetchable memory range types {pref_base:x}/{pref_limit:x}"
        )));
    } else {
        let mut base = u64::from(pref_base & !0xf) << 16;
        let mut limit = u64::from(pref_limit & !0xf) << 16;
        if pref_type == 1 {
            base |= u64::from(cfg.u32(0x28).unwrap_or(0)) << 32;
            limit |= u64::from(cfg.u32(0x2c).unwrap_or(0)) << 32;
        }
        let bits = if pref_type == 1 { 64 } else { 32 };
        lines.push(range(
            "Prefetchable memory behind bridge",
            base,
            limit + 0xfffff,
            bits,
        ));
    }

    let sec = u32::from(cfg.u16(0x1e).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "Secondary status: 66MHz",
            sign(sec, 0x20),
            " FastB2B",
            sign(sec, 0x80),
            " ParErr",
            sign(sec, 0x100),
            " DEVSEL=",
            devsel(sec),
            " >TAbort",
            sign(sec, 0x800),
            " <TAbort",
            sign(sec, 0x1000),
            " <MAbort",
            sign(sec, 0x2000),
            " <SERR",
            sign(sec, 0x4000),
            " <PERR",
            sign(sec, 0x8000),
        ],
    ));
    rom(cfg, cmd, 0x38, lines);

    let ctl = u32::from(cfg.u16(0x3e).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "BridgeCtl: Parity",
            sign(ctl, 0x1),
            " SERR",
            sign(ctl, 0x2),
            " NoISA",
            sign(ctl, 0x4),
            " VGA",
            sign(ctl, 0x8),
            " VGA16",
            sign(ctl, 0x10),
            " MAbort",
            sign(ctl, 0x20),
            " >Reset",
            sign(ctl, 0x40),
            " FastB2B",
            sign(ctl, 0x80),
        ],
    ));
    lines.push(line_fmt::concat(
        1,
        &[
            "PriDiscTmr",
            sign(ctl, 0x100),
            " SecDiscTmr",
            sign(ctl, 0x200),
            " DiscTmrStat",
            sign(ctl, 0x400),
            " DiscTmrSERREn",
            sign(ctl, 0x800),
        ],
    ));
}

/// Type 2 (CardBus bridge) registers: bus numbers, the two memory and two I/O windows,
/// bridge control and the legacy-mode base. Windows are shown raw, as lspci does.
fn cardbus(cfg: &Cfg<'_>, cmd: u32, dev: &mut Device, lines: &mut Vec<Line>) {
    let primary = cfg.u8(0x18).unwrap_or(0);
    let secondary = cfg.u8(0x19).unwrap_or(0);
    let subordinate = cfg.u8(0x1a).unwrap_or(0);
    dev.bus = Some(BusNumbers {
        primary,
        secondary,
        subordinate,
    });
    lines.push(bus_line(
        primary,
        secondary,
        subordinate,
        cfg.u8(0x1b).unwrap_or(0),
    ));
    let brc = u32::from(cfg.u16(0x3e).unwrap_or(0));
    for i in 0..2u16 {
        let base = cfg.u32(0x1c + 8 * i).unwrap_or(0);
        let limit = cfg.u32(0x20 + 8 * i).unwrap_or(0).wrapping_add(0xfff);
        lines.push(line_fmt::reg(format_args!(
            "Memory window {i}: {base:08x}-{limit:08x}{}{}",
            if cmd & 2 != 0 { "" } else { " [disabled]" },
            if brc & (0x100 << i) != 0 {
                " (prefetchable)"
            } else {
                ""
            }
        )));
    }
    for i in 0..2u16 {
        let mut base = cfg.u32(0x2c + 8 * i).unwrap_or(0);
        let mut limit = cfg.u32(0x30 + 8 * i).unwrap_or(0);
        if base & 1 == 0 {
            base &= 0xffff;
            limit &= 0xffff;
        }
        let base = base & !3;
        let limit = (limit & !3).wrapping_add(3);
        lines.push(line_fmt::reg(format_args!(
            "I/O window {i}: {base:08x}-{limit:08x}{}",
            if cmd & 1 != 0 { "" } else { " [disabled]" }
        )));
    }
    if cfg.u16(0x16).unwrap_or(0) & 0x4000 != 0 {
        lines.push(Line::reg("Secondary status: SERR"));
    }
    lines.push(line_fmt::concat(
        0,
        &[
            "BridgeCtl: Parity",
            sign(brc, 0x1),
            " SERR",
            sign(brc, 0x2),
            " ISA",
            sign(brc, 0x4),
            " VGA",
            sign(brc, 0x8),
            " MAbort",
            sign(brc, 0x20),
            " >Reset",
            sign(brc, 0x40),
            " 16bInt",
            sign(brc, 0x80),
            " PostWrite",
            sign(brc, 0x400),
        ],
    ));
    let exca = cfg.u16(0x44).unwrap_or(0);
    if exca != 0 {
        lines.push(line_fmt::reg(format_args!(
            "16-bit legacy interface ports at {exca:04x}"
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_largest_exact_suffix() {
        assert_eq!(size_suffix(0), "");
        assert_eq!(size_suffix(4096), " [size=4K]");
        assert_eq!(size_suffix(29 << 20), " [size=29M]");
        assert_eq!(size_suffix(1536), " [size=1536]");
    }

    #[test]
    fn full_64_bit_window_does_not_overflow() {
        let line = range("Prefetchable memory behind bridge", 0, u64::MAX, 64);
        assert_eq!(
            line.text,
            "Prefetchable memory behind bridge: 0000000000000000-ffffffffffffffff [64-bit]"
        );
    }
}
