//! Virtual Channel (extended ids 0x02 and 0x09; lspci titles both the same).

use super::{dw, readable, w};
use crate::decode::cfg::{flag, sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// `Name+ Name-` for the named low bits, then `??N+` only for set bits beyond the names.
fn arb_flags(value: u32, names: &[&str]) -> String {
    // Put together piece by piece: a `String` per flag joined at the end cost ten
    // allocations a line.
    let mut out = String::with_capacity(names.iter().map(|n| n.len() + 2).sum::<usize>() + 8);
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(n);
        out.push(flag(value, 1 << i));
    }
    for bit in names.len()..8 {
        if value & (1 << bit) != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("??");
            line_fmt::push_dec(&mut out, bit as u64);
            out.push('+');
        }
    }
    out
}

/// Name of an arbitration select value, `??N` past the known ones.
fn arb_select(v: u32, names: &[&str]) -> String {
    names
        .get(v as usize)
        .map(|s| (*s).to_string())
        .unwrap_or_else(|| format!("??{v}"))
}

const VC_ARB: &[&str] = &["Fixed", "WRR32", "WRR64", "WRR128"];
const PORT_ARB: &[&str] = &["Fixed", "WRR32", "WRR64", "WRR128", "TWRR128", "WRR256"];

/// Port VC registers, then one `VCn` block per VC resource.
pub(crate) fn lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    let mut out = Vec::new();
    // lspci fetches the port registers together with VC0's resource registers.
    if !readable(cfg, off + 4, 0x18) {
        return out;
    }
    let cap1 = dw(cfg, off + 4);
    let cap2 = dw(cfg, off + 8);
    let ctl = u32::from(w(cfg, off + 0x0c));
    let sta = u32::from(w(cfg, off + 0x0e));
    let refclk = match (cap1 >> 8) & 3 {
        0 => "100ns".to_string(),
        r => format!("??{r}"),
    };
    out.push(line_fmt::reg(format_args!(
        "Caps:\tLPEVC={} RefClk={refclk} PATEntryBits={}",
        (cap1 >> 4) & 7,
        1 << ((cap1 >> 10) & 3)
    )));
    out.push(line_fmt::reg(format_args!(
        "Arb:\t{}",
        arb_flags(cap2 & 0xff, VC_ARB)
    )));
    out.push(line_fmt::reg(format_args!(
        "Ctrl:\tArbSelect={}",
        arb_select((ctl >> 1) & 7, VC_ARB)
    )));
    out.push(line_fmt::concat(0, &["Status:\tInProgress", sign(sta, 1)]));
    let table = cap2 >> 24;
    if table != 0 {
        // lspci calls the VC arbitration table a port arbitration table here.
        out.push(line_fmt::reg(format_args!(
            "Port Arbitration Table [{:x}] <?>",
            u32::from(off) + 0x10 * table
        )));
    }
    for i in 0..=(cap1 & 7) {
        let pos = u32::from(off) + 0x10 + 0x0c * i;
        let Some(pos) = u16::try_from(pos).ok().filter(|&p| readable(cfg, p, 0x0c)) else {
            out.push(line_fmt::reg(format_args!("VC{i}:\t<unreadable>")));
            continue;
        };
        let rcap = dw(cfg, pos);
        let rctl = dw(cfg, pos + 4);
        let rsta = u32::from(w(cfg, pos + 0x0a));
        let pat = rcap >> 24;
        out.push(line_fmt::reg(format_args!(
            "VC{i}:\tCaps:\tPATOffset={pat:02x} MaxTimeSlots={} RejSnoopTrans{}",
            ((rcap >> 16) & 0x7f) + 1,
            flag(rcap, 1 << 15)
        )));
        out.push(line_fmt::cont(format_args!(
            "Arb:\t{}",
            arb_flags(rcap & 0xff, PORT_ARB)
        )));
        out.push(line_fmt::cont(format_args!(
            "Ctrl:\tEnable{} ID={} ArbSelect={} TC/VC={:02x}",
            flag(rctl, 1 << 31),
            (rctl >> 24) & 7,
            arb_select((rctl >> 17) & 7, PORT_ARB),
            rctl & 0xff
        )));
        out.push(line_fmt::concat(
            1,
            &[
                "Status:\tNegoPending",
                sign(rsta, 2),
                " InProgress",
                sign(rsta, 1),
            ],
        ));
        if pat != 0 {
            out.push(Line::cont("Port Arbitration Table <?>"));
        }
    }
    out
}
