//! Link-level power and timing capabilities: Secondary PCI Express (0x19), Latency Tolerance
//! Reporting (0x18), L1 PM Substates (0x1e) and Precision Time Measurement (0x1f).

use std::fmt::Write as _;

use super::{dw, flags, readable, w};
use crate::decode::cfg::{sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// `LnkCtl3` and the lane error status. lspci 3.9 shows the lane equalization control
/// registers of neither width.
pub(crate) fn secpcie_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 0x0c) {
        return Vec::new();
    }
    let ctl3 = dw(cfg, off + 4);
    // Only the low 16 lanes are looked at; errors on lanes 16-31 alone read as `0`.
    let lanes = dw(cfg, off + 8) & 0xffff;
    let errs = if lanes == 0 {
        "0".to_string()
    } else {
        let list: Vec<String> = (0..16)
            .filter(|b| lanes & (1 << b) != 0)
            .map(|b| b.to_string())
            .collect();
        format!("LaneErr at lane: {}", list.join(" "))
    };
    vec![
        line_fmt::concat(
            0,
            &[
                "LnkCtl3: LnkEquIntrruptEn",
                sign(ctl3, 2),
                " PerformEqu",
                sign(ctl3, 1),
            ],
        ),
        line_fmt::reg(format_args!("LaneErrStat: {errs}")),
    ]
}

/// One LTR latency: 10-bit value times 32^scale ns. lspci computes the multiplier as a
/// 32-bit `1 << (5 * scale)`, so the reserved scale 7 wraps to a shift of 3 (x8); wrapping_shl
/// reproduces that.
fn ltr_ns(raw: u16) -> u64 {
    let scale = u32::from((raw >> 10) & 7);
    u64::from(raw & 0x3ff) * u64::from(1u32.wrapping_shl(5 * scale))
}

/// Max snoop / no-snoop latency.
pub(crate) fn ltr_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 4) {
        return Vec::new();
    }
    vec![
        line_fmt::reg(format_args!(
            "Max snoop latency: {}ns",
            ltr_ns(w(cfg, off + 4))
        )),
        line_fmt::reg(format_args!(
            "Max no snoop latency: {}ns",
            ltr_ns(w(cfg, off + 6))
        )),
    ]
}

/// The four substate bits shared by `L1SubCap` and `L1SubCtl1`.
const SUBSTATES: &[(&str, u32)] = &[
    ("PCI-PM_L1.2", 1),
    ("PCI-PM_L1.1", 2),
    ("ASPM_L1.2", 4),
    ("ASPM_L1.1", 8),
];

/// T_PowerOn / PortTPowerOnTime: value times 2, 10 or 100 us; scale 3 is reserved.
fn power_on(scale: u32, value: u32) -> String {
    match scale {
        0 => format!("{}us", value * 2),
        1 => format!("{}us", value * 10),
        2 => format!("{}us", value * 100),
        _ => "<error>".to_string(),
    }
}

/// `L1SubCap`, `L1SubCtl1`, `L1SubCtl2`. The timing parameters only appear when the port
/// supports an L1.2 substate (PCI-PM or ASPM); the LTR threshold only with ASPM L1.2.
pub(crate) fn l1ss_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 0x0c) {
        return vec![Line::reg("<unreadable>")];
    }
    let cap = dw(cfg, off + 4);
    let ctl1 = dw(cfg, off + 8);
    let ctl2 = dw(cfg, off + 0x0c);
    let l12 = cap & 0b101 != 0;
    let mut out = vec![line_fmt::reg(format_args!(
        "L1SubCap: {} {}",
        flags(cap, SUBSTATES),
        flags(cap, &[("L1_PM_Substates", 0x10)])
    ))];
    if l12 {
        out.push(line_fmt::cont(format_args!(
            "PortCommonModeRestoreTime={}us PortTPowerOnTime={}",
            (cap >> 8) & 0xff,
            power_on((cap >> 16) & 3, (cap >> 19) & 0x1f)
        )));
    }
    out.push(line_fmt::reg(format_args!(
        "L1SubCtl1: {}",
        flags(ctl1, SUBSTATES)
    )));
    if l12 {
        let mut text = line_fmt::line_buf();
        let _ = write!(text, "T_CommonMode={}us", (ctl1 >> 8) & 0xff);
        if cap & 4 != 0 {
            let scale = ctl1 >> 29;
            let value = u64::from((ctl1 >> 16) & 0x3ff);
            let threshold = if scale > 5 {
                "<error>".to_string()
            } else {
                format!("{}ns", value << (5 * scale))
            };
            text.push_str(" LTR1.2_Threshold=");
            text.push_str(&threshold);
        }
        out.push(Line::cont(text.as_str()));
        out.push(line_fmt::reg(format_args!(
            "L1SubCtl2: T_PwrOn={}",
            power_on(ctl2 & 3, (ctl2 >> 3) & 0x1f)
        )));
    } else {
        out.push(Line::reg("L1SubCtl2:"));
    }
    out
}

/// A PTM granularity: 0 is "unimplemented" for the capability and "unknown" for the
/// effective value, 255 means "more than 254 ns".
fn granularity(g: u32, zero: &str) -> String {
    match g {
        0 => zero.to_string(),
        255 => "Greater than 254ns".to_string(),
        _ => format!("{g}ns"),
    }
}

/// `PTMCap`, `PTMControl` and both granularities.
pub(crate) fn ptm_lines(cfg: &Cfg<'_>, off: u16) -> Vec<Line> {
    if !readable(cfg, off + 4, 8) {
        return vec![Line::reg("<unreadable>")];
    }
    let cap = dw(cfg, off + 4);
    let ctl = dw(cfg, off + 8);
    vec![
        line_fmt::concat(
            0,
            &[
                "PTMCap: Requester:",
                sign(cap, 1),
                " Responder:",
                sign(cap, 2),
                " Root:",
                sign(cap, 4),
            ],
        ),
        line_fmt::reg(format_args!(
            "PTMClockGranularity: {}",
            granularity((cap >> 8) & 0xff, "Unimplemented")
        )),
        line_fmt::concat(
            0,
            &[
                "PTMControl: Enabled:",
                sign(ctl, 1),
                " RootSelected:",
                sign(ctl, 2),
            ],
        ),
        line_fmt::reg(format_args!(
            "PTMEffectiveGranularity: {}",
            granularity((ctl >> 8) & 0xff, "Unknown")
        )),
    ]
}
