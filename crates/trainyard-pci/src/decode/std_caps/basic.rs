//! The small standard capabilities: power management, MSI, MSI-X, subsystem ids, VPD,
//! vendor-specific, PCI-X, advanced features, debug port, SATA, AGP, slot id and the
//! title-only ones. Each returns `(title, version, lines)`.

use std::fmt::Write as _;

use super::super::cfg::{flag, sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// What a renderer returns: the title after `Capabilities: [off] `, a version, the lines.
pub(super) type Rendered = (String, Option<u8>, Vec<Line>);

/// Power Management (id 0x01).
pub(super) fn power_management(cfg: &Cfg<'_>, off: u16) -> Rendered {
    const AUX_MA: [u32; 8] = [0, 55, 100, 160, 220, 270, 320, 375];
    let t = u32::from(cfg.u16(off + 2).unwrap_or(0));
    let version = (t & 7) as u8;
    let mut lines = Vec::with_capacity(3);
    lines.push(line_fmt::concat(
        0,
        &[
            "Flags: PMEClk",
            sign(t, 0x8),
            " DSI",
            sign(t, 0x20),
            " D1",
            sign(t, 0x200),
            " D2",
            sign(t, 0x400),
            " AuxCurrent=",
            line_fmt::Dec::new(AUX_MA[((t >> 6) & 7) as usize].into()).as_str(),
            "mA PME(D0",
            sign(t, 0x800),
            ",D1",
            sign(t, 0x1000),
            ",D2",
            sign(t, 0x2000),
            ",D3hot",
            sign(t, 0x4000),
            ",D3cold",
            sign(t, 0x8000),
            ")",
        ],
    ));
    let c = u32::from(cfg.u16(off + 4).unwrap_or(0));
    lines.push(line_fmt::concat(
        0,
        &[
            "Status: D",
            line_fmt::Dec::new((c & 3).into()).as_str(),
            " NoSoftRst",
            sign(c, 0x8),
            " PME-Enable",
            sign(c, 0x100),
            " DSel=",
            line_fmt::Dec::new(((c >> 9) & 0xf).into()).as_str(),
            " DScale=",
            line_fmt::Dec::new(((c >> 13) & 3).into()).as_str(),
            " PME",
            sign(c, 0x8000),
        ],
    ));
    let b = u32::from(cfg.u8(off + 6).unwrap_or(0));
    if b != 0 {
        // B2/B3 is stated inverted: the bit set means B2, so `B3+` is the bit clear.
        lines.push(line_fmt::concat(
            0,
            &["Bridge: PM", sign(b, 0x80), " B3", sign(!b, 0x40)],
        ));
    }
    (
        format!("Power Management version {version}"),
        Some(version),
        lines,
    )
}

/// MSI (id 0x05).
pub(super) fn msi(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let t = u32::from(cfg.u16(off + 2).unwrap_or(0));
    let is64 = t & 0x80 != 0;
    let title = line_fmt::concat(
        0,
        &[
            "MSI: Enable",
            sign(t, 1),
            " Count=",
            line_fmt::Dec::new(1u64 << ((t >> 4) & 7)).as_str(),
            "/",
            line_fmt::Dec::new(1u64 << ((t >> 1) & 7)).as_str(),
            " Maskable",
            sign(t, 0x100),
            " 64bit",
            sign(t, 0x80),
        ],
    )
    .text;
    let lo = u64::from(cfg.u32(off + 4).unwrap_or(0));
    // A 64-bit address prints as 16 digits (both dwords), a 32-bit one as 8.
    let (addr, data_off) = if is64 {
        let hi = u64::from(cfg.u32(off + 8).unwrap_or(0));
        (line_fmt::Hex::new(hi << 32 | lo, 16), off + 0xc)
    } else {
        (line_fmt::Hex::new(lo, 8), off + 8)
    };
    let data = cfg.u16(data_off).unwrap_or(0);
    let mut lines = Vec::with_capacity(2);
    lines.push(line_fmt::concat(
        0,
        &[
            "Address: ",
            addr.as_str(),
            "  Data: ",
            line_fmt::Hex::new(data.into(), 4).as_str(),
        ],
    ));
    if t & 0x100 != 0 {
        let mask = cfg.u32(data_off + 4).unwrap_or(0);
        let pending = cfg.u32(data_off + 8).unwrap_or(0);
        lines.push(line_fmt::concat(
            0,
            &[
                "Masking: ",
                line_fmt::Hex::new(mask.into(), 8).as_str(),
                "  Pending: ",
                line_fmt::Hex::new(pending.into(), 8).as_str(),
            ],
        ));
    }
    (title, None, lines)
}

/// MSI-X (id 0x11).
pub(super) fn msix(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let ctrl = u32::from(cfg.u16(off + 2).unwrap_or(0));
    let table = cfg.u32(off + 4).unwrap_or(0);
    let pba = cfg.u32(off + 8).unwrap_or(0);
    let title = format!(
        "MSI-X: Enable{} Count={} Masked{}",
        flag(ctrl, 0x8000),
        (ctrl & 0x7ff) + 1,
        flag(ctrl, 0x4000)
    );
    let lines = vec![
        line_fmt::reg(format_args!(
            "Vector table: BAR={} offset={:08x}",
            table & 7,
            table & !7
        )),
        line_fmt::reg(format_args!("PBA: BAR={} offset={:08x}", pba & 7, pba & !7)),
    ];
    (title, None, lines)
}

/// Bridge subsystem ids (id 0x0d), named like the header's `Subsystem:`.
pub(super) fn ssvid(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let vendor = cfg.u16(0).unwrap_or(0);
    let device = cfg.u16(2).unwrap_or(0);
    let sv = cfg.u16(off + 4).unwrap_or(0);
    let sd = cfg.u16(off + 6).unwrap_or(0);
    (
        format!(
            "Subsystem: {}",
            super::super::header::subsystem_label(vendor, device, sv, sd)
        ),
        None,
        Vec::new(),
    )
}

/// Vital Product Data (id 0x03). The data sits behind an address/data register pair that
/// a dump cannot follow, so lspci -F (and we) only say so.
pub(super) fn vpd() -> Rendered {
    (
        "Vital Product Data".to_string(),
        None,
        vec![Line::reg("Not readable")],
    )
}

/// Vendor Specific (id 0x09): only the length is architected.
pub(super) fn vendor_specific(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let len = cfg.u8(off + 2).unwrap_or(0);
    (
        format!("Vendor Specific Information: Len={len:02x} <?>"),
        None,
        Vec::new(),
    )
}

/// Outstanding split transactions, PCI-X encoding.
const PCIX_OST: [u32; 8] = [1, 2, 3, 4, 8, 12, 16, 32];

fn pcix_dev(status: u32) -> String {
    format!(
        "Dev={:02x}:{:02x}.{}",
        (status >> 8) & 0xff,
        (status >> 3) & 0x1f,
        status & 7
    )
}

/// PCI-X (id 0x07): the bridge form for type 1 headers, the device form otherwise.
pub(super) fn pcix(cfg: &Cfg<'_>, off: u16, header_type: u8) -> Rendered {
    if header_type == 1 {
        let sec = u32::from(cfg.u16(off + 2).unwrap_or(0));
        let status = cfg.u32(off + 4).unwrap_or(0);
        let up = cfg.u32(off + 8).unwrap_or(0);
        let down = cfg.u32(off + 0xc).unwrap_or(0);
        let freq = ["conv", "66MHz", "100MHz", "133MHz", "?4", "?5", "?6", "?7"]
            [((sec >> 6) & 7) as usize];
        let lines = vec![
            line_fmt::reg(format_args!(
                "Secondary Status: 64bit{} 133MHz{} SCD{} USC{} SCO{} SRD{} Freq={freq}",
                flag(sec, 1),
                flag(sec, 2),
                flag(sec, 4),
                flag(sec, 8),
                flag(sec, 0x10),
                flag(sec, 0x20)
            )),
            line_fmt::reg(format_args!(
                "Status: {} 64bit{} 133MHz{} SCD{} USC{} SCO{} SRD{}",
                pcix_dev(status),
                flag(status, 0x10000),
                flag(status, 0x20000),
                flag(status, 0x40000),
                flag(status, 0x80000),
                flag(status, 0x100000),
                flag(status, 0x200000)
            )),
            line_fmt::reg(format_args!(
                "Upstream: Capacity={} CommitmentLimit={}",
                up & 0xffff,
                up >> 16
            )),
            line_fmt::reg(format_args!(
                "Downstream: Capacity={} CommitmentLimit={}",
                down & 0xffff,
                down >> 16
            )),
        ];
        return ("PCI-X bridge device".to_string(), None, lines);
    }
    let cmd = u32::from(cfg.u16(off + 2).unwrap_or(0));
    let status = cfg.u32(off + 4).unwrap_or(0);
    let lines = vec![
        line_fmt::reg(format_args!(
            "Command: DPERE{} ERO{} RBC={} OST={}",
            flag(cmd, 1),
            flag(cmd, 2),
            512u32 << ((cmd >> 2) & 3),
            PCIX_OST[((cmd >> 4) & 7) as usize]
        )),
        line_fmt::reg(format_args!(
            "Status: {} 64bit{} 133MHz{} SCD{} USC{} DC={} DMMRBC={} DMOST={} DMCRS={} RSCEM{} 266MHz{} 533MHz{}",
            pcix_dev(status),
            flag(status, 0x10000),
            flag(status, 0x20000),
            flag(status, 0x40000),
            flag(status, 0x80000),
            if status & 0x100000 != 0 { "bridge" } else { "simple" },
            512u32 << ((status >> 21) & 3),
            PCIX_OST[((status >> 23) & 7) as usize],
            8u32 << ((status >> 26) & 7),
            flag(status, 0x2000_0000),
            flag(status, 0x4000_0000),
            flag(status, 0x8000_0000)
        )),
    ];
    ("PCI-X non-bridge device".to_string(), None, lines)
}

/// PCI Advanced Features (id 0x13).
pub(super) fn advanced_features(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let cap = u32::from(cfg.u8(off + 3).unwrap_or(0));
    let ctrl = u32::from(cfg.u8(off + 4).unwrap_or(0));
    let status = u32::from(cfg.u8(off + 5).unwrap_or(0));
    let lines = vec![
        line_fmt::concat(0, &["AFCap: TP", sign(cap, 1), " FLR", sign(cap, 2)]),
        line_fmt::concat(0, &["AFCtrl: FLR", sign(ctrl, 1)]),
        line_fmt::concat(0, &["AFStatus: TP", sign(status, 1)]),
    ];
    ("PCI Advanced Features".to_string(), None, lines)
}

/// Debug port (id 0x0a): which BAR holds the EHCI debug port, and where.
pub(super) fn debug_port(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let w = cfg.u16(off + 2).unwrap_or(0);
    (
        format!("Debug port: BAR={} offset={:04x}", w >> 13, w & 0x1fff),
        None,
        Vec::new(),
    )
}

/// SATA HBA (id 0x12).
pub(super) fn sata(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let rev = cfg.u8(off + 2).unwrap_or(0);
    let bars = cfg.u32(off + 4).unwrap_or(0);
    let bar = bars & 0xf;
    let mut title = format!("SATA HBA v{}.{}", rev >> 4, rev & 0xf);
    match bar {
        0xf => title.push_str(" InCfgSpace"),
        4..=9 => {
            let _ = write!(
                title,
                " BAR{} Offset={:08x}",
                bar - 4,
                (bars >> 4) & 0xf_ffff
            );
        }
        _ => {
            title.push_str(" BAR??");
            line_fmt::push_dec(&mut title, u64::from(bar));
        }
    }
    (title, None, Vec::new())
}

/// AGP (id 0x02).
pub(super) fn agp(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let ver = cfg.u8(off + 2).unwrap_or(0);
    let t = cfg.u32(off + 4).unwrap_or(0);
    let c = cfg.u32(off + 8).unwrap_or(0);
    // The AGP 3.0 rate encoding applies only when a 3.x capability says it runs in AGP3 mode.
    let agp3 = ver >> 4 >= 3 && t & 0x8 != 0;
    let rate = |r: u32| -> String {
        let names: [&str; 3] = if agp3 {
            ["x4", "x8", "x16"]
        } else {
            ["x1", "x2", "x4"]
        };
        let picked: Vec<&str> = (0..3)
            .filter(|i| r & (1 << i) != 0)
            .map(|i| names[i])
            .collect();
        if picked.is_empty() {
            "<none>".to_string()
        } else {
            picked.join(",")
        }
    };
    let lines = vec![
        line_fmt::reg(format_args!(
            "Status: RQ={} Iso{} ArqSz={} Cal={} SBA{} ITACoh{} GART64{} HTrans{} 64bit{} FW{} AGP3{} Rate={}",
            (t >> 24) + 1,
            flag(t, 0x10000),
            (t >> 13) & 7,
            (t >> 10) & 7,
            flag(t, 0x200),
            flag(t, 0x100),
            flag(t, 0x80),
            flag(t, 0x40),
            flag(t, 0x20),
            flag(t, 0x10),
            flag(t, 0x8),
            rate(t & 7)
        )),
        line_fmt::reg(format_args!(
            "Command: RQ={} ArqSz={} Cal={} SBA{} AGP{} GART64{} 64bit{} FW{} Rate={}",
            (c >> 24) + 1,
            (c >> 13) & 7,
            (c >> 10) & 7,
            flag(c, 0x200),
            flag(c, 0x100),
            flag(c, 0x80),
            flag(c, 0x20),
            flag(c, 0x10),
            rate(c & 7)
        )),
    ];
    (
        format!("AGP version {:x}.{:x}", ver >> 4, ver & 0xf),
        None,
        lines,
    )
}

/// Slot Identification (id 0x04).
pub(super) fn slot_id(cfg: &Cfg<'_>, off: u16) -> Rendered {
    let esr = u32::from(cfg.u8(off + 2).unwrap_or(0));
    let chassis = cfg.u8(off + 3).unwrap_or(0);
    (
        format!(
            "Slot ID: {} slots, First{}, chassis {chassis:02x}",
            esr & 0x1f,
            flag(esr, 0x20)
        ),
        None,
        Vec::new(),
    )
}
