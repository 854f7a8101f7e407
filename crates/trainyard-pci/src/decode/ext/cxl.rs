//! CXL DVSECs (vendor 0x1e98), as far as lspci 3.9 decodes them.
//!
//! Offsets below are relative to the start of the extended capability (the DVSEC body
//! starts at +0x0a). What lspci shows, and when, was established against `lspci -F` on
//! synthetic dumps (`tests/data/synthetic/cxlgen.py`), not from the CXL specification alone:
//! lspci prints fewer fields than the specification defines and has a few quirks, noted
//! where they are reproduced.

use super::{dw, flags, readable, w};
use crate::decode::cfg::{flag, sign, Cfg};
use crate::decode::line_fmt;
use crate::device::Line;

/// Shortest DVSEC length for which lspci names the DVSEC "CXL" and decodes its body; shorter
/// ones get a `<?>` title like a foreign DVSEC.
pub(crate) const MIN_LEN: u32 = 16;

/// Lines of the CXL DVSEC `id` (revision `rev`, length `len` from the DVSEC header) at `off`.
pub(crate) fn lines(cfg: &Cfg<'_>, off: u16, id: u32, rev: u32, len: u32) -> Vec<Line> {
    // lspci fetches the whole DVSEC first and shows no body at all, not even "Unknown ID",
    // when the stated length runs past the readable config space.
    if len < MIN_LEN || !readable(cfg, off, len) {
        return Vec::new();
    }
    let r = Regs { cfg, off, len };
    match id {
        0 => device(&r, rev),
        2 => function_map(&r),
        3 => port_extensions(&r),
        4 => gpf_port(&r),
        5 => gpf_device(&r),
        7 => flex_bus(&r, rev),
        8 => register_locator(&r),
        9 => mld(&r),
        _ => vec![line_fmt::reg(format_args!("Unknown ID {id:04x}"))],
    }
}

/// Register reads relative to the DVSEC, bounded by its stated length.
struct Regs<'c, 'a> {
    cfg: &'c Cfg<'a>,
    off: u16,
    len: u32,
}

impl Regs<'_, '_> {
    /// True when `size` bytes at `rel` lie inside the DVSEC's stated length; lspci checks
    /// this per register for the variable-length DVSECs.
    fn has(&self, rel: u32, size: u32) -> bool {
        rel + size <= self.len
    }

    fn w(&self, rel: u16) -> u16 {
        self.off.checked_add(rel).map_or(0, |o| w(self.cfg, o))
    }

    fn dw(&self, rel: u16) -> u32 {
        self.off.checked_add(rel).map_or(0, |o| dw(self.cfg, o))
    }
}

/// PCIe DVSEC for CXL Devices (id 0). lspci decodes revision 1 and later alike (nothing of
/// the CXL 3.0 additions) and only when the DVSEC reaches the end of Range 2 (0x38).
fn device(r: &Regs<'_, '_>, rev: u32) -> Vec<Line> {
    if rev < 1 || !r.has(0x38, 0) {
        return Vec::new();
    }
    let cap = u32::from(r.w(0x0a));
    let ctl = u32::from(r.w(0x0c));
    let sta = u32::from(r.w(0x0e));
    let sta2 = u32::from(r.w(0x12));
    let cap2 = r.w(0x16);
    let mut out = vec![
        line_fmt::reg(format_args!(
            "CXLCap:\tCache{} IO{} Mem{} Mem HW Init{} HDMCount {} Viral{}",
            flag(cap, 1),
            flag(cap, 1 << 1),
            flag(cap, 1 << 2),
            flag(cap, 1 << 3),
            (cap >> 4) & 3,
            flag(cap, 1 << 14)
        )),
        line_fmt::reg(format_args!(
            "CXLCtl:\tCache{} IO{} Mem{} Cache SF Cov {} Cache SF Gran {} Cache Clean{} Viral{}",
            flag(ctl, 1),
            flag(ctl, 1 << 1),
            flag(ctl, 1 << 2),
            (ctl >> 3) & 0x1f,
            (ctl >> 8) & 7,
            flag(ctl, 1 << 11),
            flag(ctl, 1 << 14)
        )),
        line_fmt::concat(0, &["CXLSta:\tViral", sign(sta, 1 << 14)]),
        line_fmt::concat(
            0,
            &[
                "CXLSta2:\tResetComplete",
                sign(sta2, 1 << 1),
                " ResetError",
                sign(sta2, 1 << 2),
                " PMComplete",
                sign(sta2, 1 << 15),
            ],
        ),
        Line::reg(cache_size(cap2)),
    ];
    for (n, rel) in [(1, 0x18), (2, 0x28)] {
        out.extend(range(r, n, rel));
    }
    out
}

/// The Capability2 register's cache size: a count of 64 KiB or 1 MiB units, in hex bytes.
fn cache_size(cap2: u16) -> String {
    let unit = cap2 & 0xf;
    let size = u32::from(cap2 >> 8);
    match unit {
        0 => "Cache Size Not Reported".to_string(),
        1 => format!("Cache Size: {:08x}", size << 16),
        2 => format!("Cache Size: {:08x}", size << 20),
        _ => format!("Cache Size: {size} of unknown unit size ({unit})"),
    }
}

/// One HDM range: size high/low, base high/low at `rel`.
///
/// lspci masks the size low dword to its address bits (31:28) but prints the base low
/// dword whole, and prints `base + size - 1` with 64-bit wraparound, so an empty range ends
/// at `ffffffffffffffff`.
fn range(r: &Regs<'_, '_>, n: u32, rel: u16) -> [Line; 2] {
    let size_lo = r.dw(rel + 4);
    let size = (u64::from(r.dw(rel)) << 32) | u64::from(size_lo & 0xf000_0000);
    let base = (u64::from(r.dw(rel + 8)) << 32) | u64::from(r.dw(rel + 12));
    let end = base.wrapping_add(size).wrapping_sub(1);
    // Reserved encodings make lspci 3.9 index past its name tables (garbage or a crash);
    // they are shown as `<?>` here.
    let media = match (size_lo >> 2) & 7 {
        0 => "Volatile",
        1 => "Non-volatile",
        2 => "CDAT",
        _ => "<?>",
    };
    let class = match (size_lo >> 5) & 7 {
        0 => "DRAM",
        1 => "Storage",
        2 => "CDAT",
        _ => "<?>",
    };
    let interleave = match (size_lo >> 8) & 0x1f {
        0 => "0",
        1 => "256",
        2 => "4096",
        3 => "512",
        4 => "1024",
        5 => "2048",
        6 => "8192",
        7 => "16384",
        _ => "<?>",
    };
    // Memory_Active_Timeout: 4^n seconds; lspci computes every encoding, reserved ones too.
    let timeout = 1u32 << (2 * ((size_lo >> 13) & 7));
    [
        line_fmt::reg(format_args!("Range{n}: {base:016x}-{end:016x}")),
        line_fmt::cont(format_args!(
            "Valid{} Active{} Type={media} Class={class} interleave={interleave} timeout={timeout}s",
            flag(size_lo, 1),
            flag(size_lo, 1 << 1)
        )),
    ]
}

/// Non-CXL Function Map DVSEC (id 2). lspci reads each map register as a 16-bit word (only
/// the low half of the 32-bit register) and shows it when that word fits the length.
fn function_map(r: &Regs<'_, '_>) -> Vec<Line> {
    (0..8u16)
        .filter(|i| r.has(0x0c + 4 * u32::from(*i), 2))
        .map(|i| line_fmt::reg(format_args!("FuncMap {i}: {:08x}", r.w(0x0c + 4 * i))))
        .collect()
}

/// CXL Extensions DVSEC for Ports (id 3), shown only when it is at least 0x28 long.
fn port_extensions(r: &Regs<'_, '_>) -> Vec<Line> {
    if !r.has(0x28, 0) {
        return Vec::new();
    }
    let sta = u32::from(r.w(0x0a));
    let ctl = u32::from(r.w(0x0c));
    vec![
        // lspci 3.9 reports PMComplete+ for status bit 1 or bit 3, not for bit 0 where the
        // specification puts Port Power Management Initialization Complete.
        line_fmt::concat(0, &["CXLPortSta:\tPMComplete", sign(sta, 0x000a)]),
        line_fmt::reg(format_args!(
            "CXLPortCtl:\t{}",
            flags(
                ctl,
                &[
                    ("UnmaskSBR", 1),
                    ("UnmaskLinkDisable", 1 << 1),
                    ("AltMem", 1 << 2),
                    ("AltBME", 1 << 3),
                    ("ViralEnable", 1 << 14),
                ]
            )
        )),
        // Bus base/limit bytes, then the alternate memory base/limit words, which lspci
        // labels "AlternateBus" too.
        line_fmt::reg(format_args!(
            "AlternateBus:\t{:02x}-{:02x}",
            r.w(0x0e) & 0xff,
            r.w(0x0e) >> 8
        )),
        line_fmt::reg(format_args!(
            "AlternateBus:\t{:04x}-{:04x}",
            r.w(0x10),
            r.w(0x12)
        )),
    ]
}

/// GPF DVSEC for CXL Ports (id 4): the phase 1 and phase 2 timeouts.
fn gpf_port(r: &Regs<'_, '_>) -> Vec<Line> {
    let mut out = Vec::new();
    for (phase, rel) in [(1, 0x0c), (2, 0x0e)] {
        let (reserved, time) = gpf_time(r.w(rel));
        out.extend(reserved);
        out.push(line_fmt::reg(format_args!(
            "GPF Phase {phase} Timeout: {time}"
        )));
    }
    out
}

/// GPF DVSEC for CXL Devices (id 5): phase 2 duration and power.
fn gpf_device(r: &Regs<'_, '_>) -> Vec<Line> {
    let (reserved, time) = gpf_time(r.w(0x0a));
    let mut out: Vec<Line> = reserved.into_iter().collect();
    out.push(line_fmt::reg(format_args!("GPF Phase 2 Duration: {time}")));
    out.push(line_fmt::reg(format_args!(
        "GPF Phase 2 Power: {}mW",
        r.dw(0x0c)
    )));
    out
}

/// A GPF time register (base in bits 3:0, scale in bits 11:8) as lspci prints it, plus the
/// extra line lspci puts before it for a reserved scale (8 and up).
///
/// lspci's scale table has no unit for encoding 7 (10 s in the specification): it prints
/// the base times ten followed by `<?>`; reserved scales print the bare base and `<?>`.
fn gpf_time(v: u16) -> (Option<Line>, String) {
    let base = u32::from(v & 0xf);
    let scale = (v >> 8) & 0xf;
    let (mult, unit) = match scale {
        0 => (1, "us"),
        1 => (10, "us"),
        2 => (100, "us"),
        3 => (1, "ms"),
        4 => (10, "ms"),
        5 => (100, "ms"),
        6 => (1, "s"),
        7 => (10, "<?>"),
        _ => (1, "<?>"),
    };
    let reserved =
        (scale > 7).then(|| line_fmt::reg(format_args!("Reserved time scale encoding {scale:x}")));
    (reserved, format!("{}{unit}", base * mult))
}

/// Flex Bus Port DVSEC (id 7). Revision 2 and later add the 256B/PBR flit bits and the
/// second set of registers; each register is shown when it fits the length.
fn flex_bus(r: &Regs<'_, '_>, rev: u32) -> Vec<Line> {
    if rev == 0 {
        return vec![Line::reg("Revision 0 not supported")];
    }
    let v2 = rev >= 2;
    let flit: &[(&str, u32)] = if v2 {
        &[("256BFlit", 1 << 13), ("PBRFlit", 1 << 14)]
    } else {
        &[]
    };
    let common: [(&str, u32); 3] = [("Cache", 1), ("IO", 1 << 1), ("Mem", 1 << 2)];
    let cap_names: Vec<(&str, u32)> = common
        .iter()
        .copied()
        .chain([("68BFlit", 1 << 5), ("MltLogDev", 1 << 6)])
        .chain(flit.iter().copied())
        .collect();
    let sta_names: Vec<(&str, u32)> = common
        .iter()
        .copied()
        .chain([
            ("SynHdrByp", 1 << 3),
            ("DrftBuf", 1 << 4),
            ("68BFlit", 1 << 5),
            ("MltLogDev", 1 << 6),
        ])
        .chain(flit.iter().copied())
        .collect();
    // Control has the status bits plus the RCD and retimer bits before the flit ones.
    let ctl_names: Vec<(&str, u32)> = sta_names[..7]
        .iter()
        .copied()
        .chain([("RCD", 1 << 7), ("Retimer1", 1 << 8), ("Retimer2", 1 << 9)])
        .chain(flit.iter().copied())
        .collect();

    let mut out = Vec::new();
    for (name, rel, names) in [
        ("FBCap", 0x0a, &cap_names),
        ("FBCtl", 0x0c, &ctl_names),
        ("FBSta", 0x0e, &sta_names),
    ] {
        if r.has(u32::from(rel), 2) {
            let v = u32::from(r.w(rel));
            out.push(line_fmt::reg(format_args!("{name}:\t{}", flags(v, names))));
        }
    }
    if r.has(0x10, 4) {
        out.push(line_fmt::reg(format_args!(
            "FBModTS:\tReceived FB Data: {:06x}",
            r.dw(0x10) & 0x00ff_ffff
        )));
    }
    if v2 {
        if r.has(0x14, 4) {
            out.push(line_fmt::concat(
                0,
                &["FBCap2:\tNOPHint", sign(r.dw(0x14), 1)],
            ));
        }
        if r.has(0x18, 4) {
            out.push(line_fmt::concat(
                0,
                &["FBCtl2:\tNOPHint", sign(r.dw(0x18), 1)],
            ));
        }
        if r.has(0x1c, 4) {
            out.push(line_fmt::reg(format_args!(
                "FBSta2:\tNOPHintInfo: {}",
                r.dw(0x1c) & 3
            )));
        }
    }
    out
}

/// MLD DVSEC (id 9): the number of logical devices, which lspci shows only when it is a
/// valid count (1 to 16); the LD-ID hot reset vector is never shown.
fn mld(r: &Regs<'_, '_>) -> Vec<Line> {
    let n = r.w(0x0a);
    if (1..=16).contains(&n) {
        vec![line_fmt::reg(format_args!("NumLogDevs: {n}"))]
    } else {
        Vec::new()
    }
}

/// Register Locator DVSEC (id 8): one line per 8-byte register block entry that fits the
/// length, numbered from 1; entries with block id 0 (empty) are skipped but keep their number.
fn register_locator(r: &Regs<'_, '_>) -> Vec<Line> {
    let mut out = Vec::new();
    let mut n: u16 = 0;
    while r.has(0x0c + 8 * u32::from(n), 8) {
        let rel = 0x0c + 8 * n;
        n += 1;
        let lo = r.dw(rel);
        let hi = r.dw(rel + 4);
        let name = match (lo >> 8) & 0xff {
            0 => continue,
            1 => "component registers",
            2 => "BAR virtualization",
            3 => "CXL device registers",
            4 => "CPMU registers",
            0xff => "vendor-specific",
            _ => "<?>",
        };
        let offset = (u64::from(hi) << 32) | u64::from(lo & 0xffff_0000);
        out.push(line_fmt::reg(format_args!(
            "Block{n}: BIR: bar{}, ID: {name}, offset: {offset:016x}",
            lo & 7
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::lines;
    use crate::decode::cfg::Cfg;

    /// A 4096-byte space with one DVSEC body at 0x100 (`body` starts at offset 0x0a).
    fn space(id: u16, rev: u32, len: u32, body: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[0x100..0x104].copy_from_slice(&0x0001_0023u32.to_le_bytes());
        b[0x104..0x108].copy_from_slice(&(0x1e98 | rev << 16 | len << 20).to_le_bytes());
        b[0x108..0x10a].copy_from_slice(&id.to_le_bytes());
        b[0x10a..0x10a + body.len()].copy_from_slice(body);
        b
    }

    fn texts(id: u16, rev: u32, len: u32, body: &[u8]) -> Vec<String> {
        let b = space(id, rev, len, body);
        lines(&Cfg::new(&b), 0x100, u32::from(id), rev, len)
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    // lspci 3.9 aborts its whole listing ("Internal bug: Accessing non-read configuration
    // byte") on a Function Map or Flex Bus DVSEC shorter than the registers it reads, after
    // printing the lines before the first missing register: that prefix is what is rendered.
    #[test]
    fn short_function_map_stops_at_the_length() {
        assert_eq!(
            texts(2, 0, 0x1a, &[0xff; 0x22]),
            [
                "FuncMap 0: 0000ffff",
                "FuncMap 1: 0000ffff",
                "FuncMap 2: 0000ffff",
                "FuncMap 3: 0000ffff"
            ]
        );
        assert_eq!(texts(2, 0, 0x10, &[0xff; 0x22]).len(), 1);
    }

    #[test]
    fn short_flex_bus_stops_at_the_length() {
        assert_eq!(texts(7, 1, 0x13, &[0xff; 0x16]).len(), 3);
        let v2 = texts(7, 2, 0x1c, &[0xff; 0x16]);
        assert_eq!(v2.len(), 6);
        assert_eq!(v2[5], "FBCtl2:\tNOPHint+");
    }

    // Where lspci indexes past its own tables (garbage or a segfault), `<?>` is shown.
    #[test]
    fn reserved_range_encodings_are_unknown() {
        let mut body = [0u8; 0x2e];
        // Range 1 size low: media 7, class 7, interleave 31.
        body[0x12..0x16].copy_from_slice(&0x1ffcu32.to_le_bytes());
        let t = texts(0, 1, 0x38, &body);
        assert_eq!(
            t[6],
            "Valid- Active- Type=<?> Class=<?> interleave=<?> timeout=1s"
        );
    }

    #[test]
    fn never_panics_near_the_end() {
        for id in 0..12u16 {
            for off in [0xfc0u16, 0xff0, 0xffc, 0xfff] {
                let b = vec![0xffu8; 4096];
                for len in [0, 16, 0x38, 0xfff] {
                    let _ = lines(&Cfg::new(&b), off, u32::from(id), 2, len);
                    let _ = lines(&Cfg::new(&b[..0x100]), off, u32::from(id), 2, len);
                }
            }
        }
    }
}
