//! The PCI Express capability (id 0x10), rendered register by register as lspci 3.9 does.
//!
//! Which fields appear depends on the device/port type: lspci only shows a field where the
//! specification defines it for that type (slot power limit for upstream-facing functions,
//! `ARIFwd` for downstream-facing ports, ...). The type conditions below are what the
//! oracle (`lspci -F`) shows for each type, including the synthetic dumps in `tests/data`.

use std::fmt::Write as _;

use super::super::cfg::{flag, sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// Device/port types (PCIe capabilities register bits 7:4).
const ENDPOINT: u8 = 0x0;
const LEGACY_ENDPOINT: u8 = 0x1;
const ROOT_PORT: u8 = 0x4;
const UPSTREAM: u8 = 0x5;
const DOWNSTREAM: u8 = 0x6;
const PCIE_TO_PCI: u8 = 0x7;
const PCI_TO_PCIE: u8 = 0x8;
const ROOT_INT_EP: u8 = 0x9;
const ROOT_EC: u8 = 0xa;

/// Title and lines of the Express capability at `off`.
///
/// `has_mem_bar` says whether the function decodes memory (a memory BAR is set): lspci
/// shows the AtomicOp completer bits only then, or for root ports.
pub(super) fn render(
    cfg: &Cfg<'_>,
    off: u16,
    function: u8,
    has_mem_bar: bool,
) -> (String, Option<u8>, Vec<Line>) {
    let cap = cfg.u16(off + 2).unwrap_or(0);
    let version = (cap & 0xf) as u8;
    let ty = ((cap >> 4) & 0xf) as u8;
    let slot = cap & 0x100 != 0;
    let slot_flag = if slot { "+" } else { "-" };
    let ty_dec = line_fmt::Dec::new(ty.into());
    // The kind, then for ports with a slot `(Slot+)` or `(Slot-)`.
    let (kind, slotted) = match ty {
        ENDPOINT => ("Endpoint", false),
        LEGACY_ENDPOINT => ("Legacy Endpoint", false),
        ROOT_PORT => ("Root Port", true),
        UPSTREAM => ("Upstream Port", false),
        DOWNSTREAM => ("Downstream Port", true),
        PCIE_TO_PCI => ("PCI-Express to PCI/PCI-X Bridge", false),
        PCI_TO_PCIE => ("PCI/PCI-X to PCI-Express Bridge", true),
        ROOT_INT_EP => ("Root Complex Integrated Endpoint", false),
        ROOT_EC => ("Root Complex Event Collector", false),
        _ => ("Unknown type ", false),
    };
    let unknown = !matches!(
        ty,
        ENDPOINT
            | LEGACY_ENDPOINT
            | ROOT_PORT
            | UPSTREAM
            | DOWNSTREAM
            | PCIE_TO_PCI
            | PCI_TO_PCIE
            | ROOT_INT_EP
            | ROOT_EC
    );
    let title = line_fmt::concat(
        0,
        &[
            "Express (v",
            line_fmt::Dec::new(version.into()).as_str(),
            ") ",
            kind,
            if unknown { ty_dec.as_str() } else { "" },
            if slotted { " (Slot" } else { "" },
            if slotted { slot_flag } else { "" },
            if slotted { ")" } else { "" },
            ", MSI ",
            line_fmt::Hex::new(((cap >> 9) & 0x1f).into(), 2).as_str(),
        ],
    )
    .text;

    // Up to 21 lines (a root port with a slot): room for them up front instead of regrowth.
    let mut lines = Vec::with_capacity(24);
    device(cfg, off, ty, &mut lines);
    let has_link = !matches!(ty, ROOT_INT_EP | ROOT_EC);
    if has_link {
        link(cfg, off, ty, &mut lines);
    }
    if slot && matches!(ty, ROOT_PORT | DOWNSTREAM | PCI_TO_PCIE) {
        slot_regs(cfg, off, &mut lines);
    }
    if matches!(ty, ROOT_PORT | ROOT_EC) {
        root(cfg, off, &mut lines);
    }
    if version >= 2 {
        device2(cfg, off, ty, has_mem_bar, &mut lines);
        if has_link {
            link2(cfg, off, ty, function, &mut lines);
        }
    }
    (title, Some(version), lines)
}

fn latency_l0s(n: u32) -> &'static str {
    [
        "<64ns",
        "<128ns",
        "<256ns",
        "<512ns",
        "<1us",
        "<2us",
        "<4us",
        "unlimited",
    ][(n & 7) as usize]
}

fn latency_l1(n: u32) -> &'static str {
    [
        "<1us",
        "<2us",
        "<4us",
        "<8us",
        "<16us",
        "<32us",
        "<64us",
        "unlimited",
    ][(n & 7) as usize]
}

/// A slot power limit: value times a power-of-ten scale, with the reserved large values
/// (0xf0..) of scale 0 meaning 250 W and up.
pub(super) fn power_limit(value: u32, scale: u32) -> String {
    if scale == 0 && value == 0xff {
        return ">600W".to_string();
    }
    let value = if scale == 0 && (0xf0..=0xfe).contains(&value) {
        250 + 25 * (value - 0xf0)
    } else {
        value
    };
    let scaled = f64::from(value) / [1.0, 10.0, 100.0, 1000.0][(scale & 3) as usize];
    // `%g`: at most six significant digits, trailing zeros dropped.
    let mut text = line_fmt::line_buf();
    let _ = write!(text, "{scaled:.3}");
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    format!("{text}W")
}

fn device(cfg: &Cfg<'_>, off: u16, ty: u8, lines: &mut Vec<Line>) {
    let t = cfg.u32(off + 4).unwrap_or(0);
    let mut devcap = line_fmt::line_buf();
    devcap.push_str("DevCap:\tMaxPayload ");
    line_fmt::push_dec(&mut devcap, 128u64 << (t & 7));
    devcap.push_str(" bytes, PhantFunc ");
    line_fmt::push_dec(&mut devcap, (1u64 << ((t >> 3) & 3)) - 1);
    if matches!(ty, ENDPOINT | LEGACY_ENDPOINT) {
        devcap.push_str(", Latency L0s ");
        devcap.push_str(latency_l0s(t >> 6));
        devcap.push_str(", L1 ");
        devcap.push_str(latency_l1(t >> 9));
    }
    lines.push(Line::reg(devcap.as_str()));
    let mut cont = line_fmt::line_buf();
    cont.push_str("ExtTag");
    cont.push(flag(t, 0x20));
    if matches!(ty, ENDPOINT | LEGACY_ENDPOINT | UPSTREAM | PCIE_TO_PCI) {
        line_fmt::push_flags(
            &mut cont,
            t,
            &[
                (" AttnBtn", 0x1000),
                (" AttnInd", 0x2000),
                (" PwrInd", 0x4000),
            ],
        );
    }
    cont.push_str(" RBE");
    cont.push(flag(t, 0x8000));
    if matches!(ty, ENDPOINT | LEGACY_ENDPOINT | ROOT_INT_EP) {
        cont.push_str(" FLReset");
        cont.push(flag(t, 0x1000_0000));
    }
    if matches!(ty, ENDPOINT | UPSTREAM | PCIE_TO_PCI) {
        let _ = write!(
            cont,
            " SlotPowerLimit {}",
            power_limit((t >> 18) & 0xff, (t >> 26) & 3)
        );
    }
    lines.push(Line::cont(cont.as_str()));

    let w = u32::from(cfg.u16(off + 8).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "DevCtl:\tCorrErr",
            sign(w, 1),
            " NonFatalErr",
            sign(w, 2),
            " FatalErr",
            sign(w, 4),
            " UnsupReq",
            sign(w, 8),
        ],
    ));
    let mut cont = line_fmt::line_buf();
    line_fmt::push_flags(
        &mut cont,
        w,
        &[
            ("RlxdOrd", 0x10),
            (" ExtTag", 0x100),
            (" PhantFunc", 0x200),
            (" AuxPwr", 0x400),
            (" NoSnoop", 0x800),
        ],
    );
    if ty == PCIE_TO_PCI {
        cont.push_str(" BrConfRtry");
        cont.push(flag(w, 0x8000));
    }
    if matches!(ty, ENDPOINT | LEGACY_ENDPOINT | ROOT_INT_EP) && t & 0x1000_0000 != 0 {
        cont.push_str(" FLReset");
        cont.push(flag(w, 0x8000));
    }
    lines.push(Line::cont(cont.as_str()));
    lines.push(line_fmt::concat(
        1,
        &[
            "MaxPayload ",
            line_fmt::Dec::new(128u64 << ((w >> 5) & 7)).as_str(),
            " bytes, MaxReadReq ",
            line_fmt::Dec::new(128u64 << ((w >> 12) & 7)).as_str(),
            " bytes",
        ],
    ));

    let s = u32::from(cfg.u16(off + 0xa).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "DevSta:\tCorrErr",
            sign(s, 1),
            " NonFatalErr",
            sign(s, 2),
            " FatalErr",
            sign(s, 4),
            " UnsupReq",
            sign(s, 8),
            " AuxPwr",
            sign(s, 0x10),
            " TransPend",
            sign(s, 0x20),
        ],
    ));
}

fn link_speed(n: u32) -> &'static str {
    match n {
        1 => "2.5GT/s",
        2 => "5GT/s",
        3 => "8GT/s",
        4 => "16GT/s",
        5 => "32GT/s",
        6 => "64GT/s",
        _ => "unknown",
    }
}

/// lspci's annotation of a negotiated value against the capability: only a mismatch is
/// marked. A value above the capability is always `(overdriven)`; one below is
/// `(downgraded)` only on upstream-facing ends, since a downstream port's link may
/// legitimately be down or narrower than its capability (an empty slot).
fn link_compare(ty: u8, sta: u32, cap: u32) -> &'static str {
    match sta.cmp(&cap) {
        std::cmp::Ordering::Greater => " (overdriven)",
        std::cmp::Ordering::Less if !matches!(ty, ROOT_PORT | DOWNSTREAM | PCI_TO_PCIE) => {
            " (downgraded)"
        }
        _ => "",
    }
}

fn link(cfg: &Cfg<'_>, off: u16, ty: u8, lines: &mut Vec<Line>) {
    let t = cfg.u32(off + 0xc).unwrap_or(0);
    let aspm = match (t >> 10) & 3 {
        0 => "not supported",
        1 => "L0s",
        2 => "L1",
        _ => "L0s L1",
    };
    let mut cap = line_fmt::line_buf();
    cap.push_str("LnkCap:\tPort #");
    line_fmt::push_dec(&mut cap, (t >> 24).into());
    cap.push_str(", Speed ");
    cap.push_str(link_speed(t & 0xf));
    cap.push_str(", Width x");
    line_fmt::push_dec(&mut cap, ((t >> 4) & 0x3f).into());
    cap.push_str(", ASPM ");
    cap.push_str(aspm);
    if t & 0xc00 != 0 {
        cap.push_str(", Exit Latency ");
        if t & 0x400 != 0 {
            cap.push_str("L0s ");
            cap.push_str(latency_l0s(t >> 12));
        }
        if t & 0x800 != 0 {
            if t & 0x400 != 0 {
                cap.push_str(", ");
            }
            cap.push_str("L1 ");
            cap.push_str(latency_l1(t >> 15));
        }
    }
    lines.push(Line::reg(cap.as_str()));
    lines.push(line_fmt::concat(
        1,
        &[
            "ClockPM",
            sign(t, 0x40000),
            " Surprise",
            sign(t, 0x80000),
            " LLActRep",
            sign(t, 0x100000),
            " BwNot",
            sign(t, 0x200000),
            " ASPMOptComp",
            sign(t, 0x400000),
        ],
    ));

    let w = u32::from(cfg.u16(off + 0x10).unwrap_or(0));
    let aspm_ctl = match w & 3 {
        0 => "Disabled",
        1 => "L0s Enabled",
        2 => "L1 Enabled",
        _ => "L0s L1 Enabled",
    };
    let mut ctl = line_fmt::line_buf();
    ctl.push_str("LnkCtl:\tASPM ");
    ctl.push_str(aspm_ctl);
    ctl.push(';');
    if matches!(ty, ROOT_PORT | ENDPOINT | LEGACY_ENDPOINT | PCIE_TO_PCI) {
        let _ = write!(ctl, " RCB {} bytes,", if w & 8 != 0 { 128 } else { 64 });
    }
    line_fmt::push_flags(&mut ctl, w, &[(" Disabled", 0x10), (" CommClk", 0x40)]);
    lines.push(Line::reg(ctl.as_str()));
    lines.push(line_fmt::concat(
        1,
        &[
            "ExtSynch",
            sign(w, 0x80),
            " ClockPM",
            sign(w, 0x100),
            " AutWidDis",
            sign(w, 0x200),
            " BWInt",
            sign(w, 0x400),
            " AutBWInt",
            sign(w, 0x800),
        ],
    ));

    let s = u32::from(cfg.u16(off + 0x12).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "LnkSta:\tSpeed ",
            link_speed(s & 0xf),
            link_compare(ty, s & 0xf, t & 0xf),
            ", Width x",
            line_fmt::Dec::new(((s >> 4) & 0x3f).into()).as_str(),
            link_compare(ty, (s >> 4) & 0x3f, (t >> 4) & 0x3f),
        ],
    ));
    lines.push(line_fmt::concat(
        1,
        &[
            "TrErr",
            sign(s, 0x400),
            " Train",
            sign(s, 0x800),
            " SlotClk",
            sign(s, 0x1000),
            " DLActive",
            sign(s, 0x2000),
            " BWMgmt",
            sign(s, 0x4000),
            " ABWMgmt",
            sign(s, 0x8000),
        ],
    ));
}

fn indicator(n: u32) -> &'static str {
    ["Unknown", "On", "Blink", "Off"][(n & 3) as usize]
}

fn slot_regs(cfg: &Cfg<'_>, off: u16, lines: &mut Vec<Line>) {
    let t = cfg.u32(off + 0x14).unwrap_or(0);
    lines.push(line_fmt::concat(
        0,
        &[
            "SltCap:\tAttnBtn",
            sign(t, 1),
            " PwrCtrl",
            sign(t, 2),
            " MRL",
            sign(t, 4),
            " AttnInd",
            sign(t, 8),
            " PwrInd",
            sign(t, 0x10),
            " HotPlug",
            sign(t, 0x40),
            " Surprise",
            sign(t, 0x20),
        ],
    ));
    lines.push(line_fmt::cont(format_args!(
        "Slot #{}, PowerLimit {}; Interlock{} NoCompl{}",
        t >> 19,
        power_limit((t >> 7) & 0xff, (t >> 15) & 3),
        flag(t, 0x20000),
        flag(t, 0x40000)
    )));
    let w = u32::from(cfg.u16(off + 0x18).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "SltCtl:\tEnable: AttnBtn",
            sign(w, 1),
            " PwrFlt",
            sign(w, 2),
            " MRL",
            sign(w, 4),
            " PresDet",
            sign(w, 8),
            " CmdCplt",
            sign(w, 0x10),
            " HPIrq",
            sign(w, 0x20),
            " LinkChg",
            sign(w, 0x1000),
        ],
    ));
    lines.push(line_fmt::concat(
        1,
        &[
            "Control: AttnInd ",
            indicator(w >> 6),
            ", PwrInd ",
            indicator(w >> 8),
            ", Power",
            sign(w, 0x400),
            " Interlock",
            sign(w, 0x800),
        ],
    ));
    let s = u32::from(cfg.u16(off + 0x1a).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "SltSta:\tStatus: AttnBtn",
            sign(s, 1),
            " PowerFlt",
            sign(s, 2),
            " MRL",
            sign(s, 0x20),
            " CmdCplt",
            sign(s, 0x10),
            " PresDet",
            sign(s, 0x40),
            " Interlock",
            sign(s, 0x80),
        ],
    ));
    lines.push(line_fmt::concat(
        1,
        &[
            "Changed: MRL",
            sign(s, 4),
            " PresDet",
            sign(s, 8),
            " LinkState",
            sign(s, 0x100),
        ],
    ));
}

fn root(cfg: &Cfg<'_>, off: u16, lines: &mut Vec<Line>) {
    let cap = u32::from(cfg.u16(off + 0x1e).unwrap_or(0));
    lines.push(line_fmt::concat(0, &["RootCap: CRSVisible", sign(cap, 1)]));
    let ctl = u32::from(cfg.u16(off + 0x1c).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "RootCtl: ErrCorrectable",
            sign(ctl, 1),
            " ErrNon-Fatal",
            sign(ctl, 2),
            " ErrFatal",
            sign(ctl, 4),
            " PMEIntEna",
            sign(ctl, 8),
            " CRSVisible",
            sign(ctl, 0x10),
        ],
    ));
    let sta = cfg.u32(off + 0x20).unwrap_or(0);
    lines.push(line_fmt::reg(format_args!(
        "RootSta: PME ReqID {:04x}, PMEStatus{} PMEPending{}",
        sta & 0xffff,
        flag(sta, 0x10000),
        flag(sta, 0x20000)
    )));
}

fn timeout_range(n: u32) -> &'static str {
    match n {
        0 => "Not Supported",
        1 => "Range A",
        2 => "Range B",
        3 => "Range AB",
        6 => "Range BC",
        7 => "Range ABC",
        0xe => "Range BCD",
        0xf => "Range ABCD",
        _ => "Unknown",
    }
}

fn timeout_value(n: u32) -> &'static str {
    match n {
        0 => "50us to 50ms",
        1 => "50us to 100us",
        2 => "1ms to 10ms",
        5 => "16ms to 55ms",
        6 => "65ms to 210ms",
        9 => "260ms to 900ms",
        0xa => "1s to 3.5s",
        0xd => "4s to 13s",
        0xe => "17s to 64s",
        _ => "Unknown",
    }
}

fn device2(cfg: &Cfg<'_>, off: u16, ty: u8, has_mem_bar: bool, lines: &mut Vec<Line>) {
    let l = cfg.u32(off + 0x24).unwrap_or(0);
    lines.push(line_fmt::concat(
        0,
        &[
            "DevCap2: Completion Timeout: ",
            timeout_range(l & 0xf),
            ", TimeoutDis",
            sign(l, 0x10),
            " NROPrPrP",
            sign(l, 0x400),
            " LTR",
            sign(l, 0x800),
        ],
    ));
    let obff = [
        "Not Supported",
        "Via message",
        "Via WAKE#",
        "Via message/WAKE#",
    ][((l >> 18) & 3) as usize];
    let mut c = line_fmt::line_buf();
    line_fmt::push_flags(
        &mut c,
        l,
        &[("10BitTagComp", 0x10000), (" 10BitTagReq", 0x20000)],
    );
    c.push_str(" OBFF ");
    c.push_str(obff);
    line_fmt::push_flags(
        &mut c,
        l,
        &[(", ExtFmt", 0x100000), (" EETLPPrefix", 0x200000)],
    );
    if l & 0x200000 != 0 {
        let n = (l >> 22) & 3;
        let _ = write!(c, ", MaxEETLPPrefixes {}", if n == 0 { 4 } else { n });
    }
    lines.push(Line::cont(c.as_str()));
    let epr = [
        "Not Supported",
        "Dev Specific",
        "Form Factor Dev Specific",
        "Reserved",
    ][((l >> 24) & 3) as usize];
    lines.push(line_fmt::cont(format_args!(
        "EmergencyPowerReduction {epr}, EmergencyPowerReductionInit{}",
        flag(l, 0x4000000)
    )));
    let mut c = line_fmt::line_buf();
    c.push_str("FRS");
    c.push(flag(l, 0x8000_0000));
    if ty == ROOT_PORT {
        let cls = [
            "Not Supported",
            "64byte cachelines",
            "128byte cachelines",
            "Reserved",
        ][((l >> 14) & 3) as usize];
        c.push_str(" LN System CLS ");
        c.push_str(cls);
        c.push(',');
    }
    if matches!(ty, ROOT_PORT | ENDPOINT) {
        // The two TPH bits read as one field: extended TPH without TPH is not a valid
        // combination and lspci prints nothing for it (leaving a double space).
        c.push(' ');
        c.push_str(match (l >> 12) & 3 {
            0 => "TPHComp- ExtTPHComp-",
            1 => "TPHComp+ ExtTPHComp-",
            3 => "TPHComp+ ExtTPHComp+",
            _ => "",
        });
    }
    if matches!(ty, ROOT_PORT | DOWNSTREAM) {
        c.push_str(" ARIFwd");
        c.push(flag(l, 0x20));
    }
    lines.push(Line::cont(c.as_str()));
    let routing = matches!(ty, ROOT_PORT | UPSTREAM | DOWNSTREAM);
    let completer = ty == ROOT_PORT || has_mem_bar;
    if routing || completer {
        let mut c = String::from("AtomicOpsCap:");
        if routing {
            c.push_str(" Routing");
            c.push(flag(l, 0x40));
        }
        if completer {
            line_fmt::push_flags(
                &mut c,
                l,
                &[(" 32bit", 0x80), (" 64bit", 0x100), (" 128bitCAS", 0x200)],
            );
        }
        lines.push(Line::cont(c.as_str()));
    }

    let w = u32::from(cfg.u16(off + 0x28).unwrap_or(0));
    let obff_en =
        ["Disabled", "Via message A", "Via message B", "Via WAKE#"][((w >> 13) & 3) as usize];
    let mut c = line_fmt::line_buf();
    c.push_str("DevCtl2: Completion Timeout: ");
    c.push_str(timeout_value(w & 0xf));
    line_fmt::push_flags(
        &mut c,
        w,
        &[
            (", TimeoutDis", 0x10),
            (" LTR", 0x400),
            (" 10BitTagReq", 0x1000),
        ],
    );
    c.push_str(" OBFF ");
    c.push_str(obff_en);
    c.push(',');
    if matches!(ty, ROOT_PORT | DOWNSTREAM) {
        c.push_str(" ARIFwd");
        c.push(flag(w, 0x20));
    }
    lines.push(Line::reg(c.as_str()));
    let mut c = String::from("AtomicOpsCtl:");
    if matches!(ty, ROOT_PORT | ENDPOINT | ROOT_INT_EP | LEGACY_ENDPOINT) {
        c.push_str(" ReqEn");
        c.push(flag(w, 0x40));
    }
    if matches!(ty, ROOT_PORT | UPSTREAM | DOWNSTREAM) {
        c.push_str(" EgressBlck");
        c.push(flag(w, 0x80));
    }
    // Types with neither control (bridges, event collectors) get no line at all.
    if c.len() > "AtomicOpsCtl:".len() {
        lines.push(Line::cont(c.as_str()));
    }
}

fn link2_speed_cap(vector: u32) -> &'static str {
    // The highest supported speed names the range; lspci assumes the lower ones.
    match vector & 0x7f {
        // lspci 3.9 knows speeds up to 32GT/s; anything above is reserved to it.
        v if v & 0x60 != 0 => "RsvdP",
        v if v & 0x10 != 0 => "2.5-32GT/s",
        v if v & 0x08 != 0 => "2.5-16GT/s",
        v if v & 0x04 != 0 => "2.5-8GT/s",
        v if v & 0x02 != 0 => "2.5-5GT/s",
        v if v & 0x01 != 0 => "2.5GT/s",
        _ => "Unknown",
    }
}

fn link2_target(n: u32) -> &'static str {
    match n {
        // 0 is not a defined encoding, but lspci reads it as the base rate.
        0 | 1 => "2.5GT/s",
        2 => "5GT/s",
        3 => "8GT/s",
        4 => "16GT/s",
        5 => "32GT/s",
        6 => "64GT/s",
        _ => "Unknown",
    }
}

fn deemphasis(n: u32) -> &'static str {
    match n {
        0 => "-6dB de-emphasis, 0dB preshoot",
        1 => "-3.5dB de-emphasis, 0dB preshoot",
        2 => "-4.4dB de-emphasis, 0dB preshoot",
        3 => "-2.5dB de-emphasis, 0dB preshoot",
        4 => "0dB de-emphasis, 0dB preshoot",
        5 => "0dB de-emphasis, 1.9dB preshoot",
        6 => "0dB de-emphasis, 2.5dB preshoot",
        7 => "-6.0dB de-emphasis, 3.5dB preshoot",
        8 => "-3.5dB de-emphasis, 3.5dB preshoot",
        9 => "0dB de-emphasis, 3.5dB preshoot",
        _ => "Unknown",
    }
}

fn link2(cfg: &Cfg<'_>, off: u16, ty: u8, function: u8, lines: &mut Vec<Line>) {
    // An endpoint's link capabilities 2 and control 2 are reserved except in function 0
    // (the link is shared), and lspci skips them.
    let link_owner = !(matches!(ty, ENDPOINT | LEGACY_ENDPOINT) && function != 0);
    let l = cfg.u32(off + 0x2c).unwrap_or(0);
    if l != 0 && link_owner {
        lines.push(line_fmt::concat(
            0,
            &[
                "LnkCap2: Supported Link Speeds: ",
                link2_speed_cap(l >> 1),
                ", Crosslink",
                sign(l, 0x100),
                " Retimer",
                sign(l, 0x80_0000),
                " 2Retimers",
                sign(l, 0x100_0000),
                " DRS",
                sign(l, 0x8000_0000),
            ],
        ));
    }
    if link_owner {
        link_control2(cfg, off, ty, lines);
    }
    let drs = l & 0x8000_0000 != 0 && matches!(ty, ROOT_PORT | DOWNSTREAM | PCI_TO_PCIE);
    link_status2(cfg, off, drs, lines);
}

fn link_control2(cfg: &Cfg<'_>, off: u16, ty: u8, lines: &mut Vec<Line>) {
    let w = u32::from(cfg.u16(off + 0x30).unwrap_or(0));
    let mut c = line_fmt::line_buf();
    c.push_str("LnkCtl2: Target Link Speed: ");
    c.push_str(link2_target(w & 0xf));
    line_fmt::push_flags(
        &mut c,
        w,
        &[(", EnterCompliance", 0x10), (" SpeedDis", 0x20)],
    );
    if matches!(ty, DOWNSTREAM) {
        let _ = write!(
            c,
            ", Selectable De-emphasis: {}",
            if w & 0x40 != 0 { "-3.5dB" } else { "-6dB" }
        );
    }
    lines.push(Line::reg(c.as_str()));
    let margin = match (w >> 7) & 7 {
        0 => "Normal Operating Range",
        1 => "800-1200mV(full-swing)/400-700mV(half-swing)",
        2..=5 => "200-400mV(full-swing)/100-200mV(half-swing)",
        _ => "Unknown",
    };
    lines.push(line_fmt::cont(format_args!(
        "Transmit Margin: {margin}, EnterModifiedCompliance{} ComplianceSOS{}",
        flag(w, 0x400),
        flag(w, 0x800)
    )));
    lines.push(line_fmt::concat(
        1,
        &[
            "Compliance Preset/De-emphasis: ",
            deemphasis((w >> 12) & 0xf),
        ],
    ));
}

/// Link status 2; `drs` adds the Device Readiness Status fields, which lspci shows for
/// downstream-facing ports that support DRS.
fn link_status2(cfg: &Cfg<'_>, off: u16, drs: bool, lines: &mut Vec<Line>) {
    let s = u32::from(cfg.u16(off + 0x32).unwrap_or(0));
    lines.push(line_fmt::reg(format_args!(
        "LnkSta2: Current De-emphasis Level: {}, EqualizationComplete{} EqualizationPhase1{}",
        if s & 1 != 0 { "-3.5dB" } else { "-6dB" },
        flag(s, 2),
        flag(s, 4)
    )));
    lines.push(line_fmt::concat(
        1,
        &[
            "EqualizationPhase2",
            sign(s, 8),
            " EqualizationPhase3",
            sign(s, 0x10),
            " LinkEqualizationRequest",
            sign(s, 0x20),
        ],
    ));
    let crosslink = [
        "unsupported",
        "Upstream Port",
        "Downstream Port",
        "incomplete",
    ][((s >> 8) & 3) as usize];
    let mut c = line_fmt::line_buf();
    line_fmt::push_flags(&mut c, s, &[("Retimer", 0x40), (" 2Retimers", 0x80)]);
    c.push_str(" CrosslinkRes: ");
    c.push_str(crosslink);
    if drs {
        c.push_str(", DRS");
        c.push(flag(s, 0x8000));
    }
    lines.push(Line::cont(c.as_str()));
    if drs {
        let comp = match (s >> 12) & 7 {
            0 => "Link Down - Not Determined",
            1 => "Link Down - Not Present",
            2 => "Link Down - Present",
            4 => "Link Up - Present",
            5 => "Link Up - Present and DRS Received",
            _ => "Reserved",
        };
        lines.push(line_fmt::cont(format_args!("DownstreamComp: {comp}")));
    }
}
