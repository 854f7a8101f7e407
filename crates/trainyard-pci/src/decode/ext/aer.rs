//! Advanced Error Reporting (extended id 0x01).

use super::{dw, flags, flags_line, readable};
use crate::decode::cfg::{flag, Cfg};
use crate::decode::line_fmt;
use crate::decode::DeviceContext;
use crate::device::Line;

/// Bits of the uncorrectable error status, mask and severity registers.
const UNCORRECTABLE: &[(&str, u32)] = &[
    ("DLP", 1 << 4),
    ("SDES", 1 << 5),
    ("TLP", 1 << 12),
    ("FCP", 1 << 13),
    ("CmpltTO", 1 << 14),
    ("CmpltAbrt", 1 << 15),
    ("UnxCmplt", 1 << 16),
    ("RxOF", 1 << 17),
    ("MalfTLP", 1 << 18),
    ("ECRC", 1 << 19),
    ("UnsupReq", 1 << 20),
    ("ACSViol", 1 << 21),
];

/// Bits of the correctable error status and mask registers.
const CORRECTABLE: &[(&str, u32)] = &[
    ("RxErr", 1),
    ("BadTLP", 1 << 6),
    ("BadDLLP", 1 << 7),
    ("Rollover", 1 << 8),
    ("Timeout", 1 << 12),
    ("AdvNonFatalErr", 1 << 13),
];

/// Port types that carry the root error registers: root ports and root complex event
/// collectors. lspci 3.9 decides by port type only (not header type), and renders v1, v2
/// and v3 identically (no TLP prefix log).
fn has_root_registers(ctx: &DeviceContext) -> bool {
    matches!(ctx.pcie_type, Some(0x4) | Some(0xa))
}

/// Register lines of the AER capability at `off`.
pub(crate) fn lines(cfg: &Cfg<'_>, ctx: &DeviceContext, off: u16) -> Vec<Line> {
    let mut out = Vec::with_capacity(12);
    // lspci fetches status through header log in one go (0x28 bytes after the header).
    if !readable(cfg, off + 4, 0x28) {
        return out;
    }
    for (head, reg) in [("UESta:\t", 0x04), ("UEMsk:\t", 0x08), ("UESvrt:\t", 0x0c)] {
        out.push(flags_line(head, dw(cfg, off + reg), UNCORRECTABLE));
    }
    for (head, reg) in [("CESta:\t", 0x10), ("CEMsk:\t", 0x14)] {
        out.push(flags_line(head, dw(cfg, off + reg), CORRECTABLE));
    }
    let ctl = dw(cfg, off + 0x18);
    out.push(line_fmt::reg(format_args!(
        "AERCap:\tFirst Error Pointer: {:02x}, {}",
        ctl & 0x1f,
        flags(
            ctl,
            &[
                ("ECRCGenCap", 1 << 5),
                ("ECRCGenEn", 1 << 6),
                ("ECRCChkCap", 1 << 7),
                ("ECRCChkEn", 1 << 8)
            ]
        )
    )));
    out.push(Line::cont(flags(
        ctl,
        &[
            ("MultHdrRecCap", 1 << 9),
            ("MultHdrRecEn", 1 << 10),
            ("TLPPfxPres", 1 << 11),
            ("HdrLogCap", 1 << 12),
        ],
    )));
    let log = |reg: u16| line_fmt::Hex::new(dw(cfg, off + reg).into(), 8);
    out.push(line_fmt::concat(
        0,
        &[
            "HeaderLog: ",
            log(0x1c).as_str(),
            " ",
            log(0x20).as_str(),
            " ",
            log(0x24).as_str(),
            " ",
            log(0x28).as_str(),
        ],
    ));
    if !has_root_registers(ctx) || !readable(cfg, off + 0x2c, 0x0c) {
        return out;
    }
    let cmd = dw(cfg, off + 0x2c);
    out.push(line_fmt::reg(format_args!(
        "RootCmd: {}",
        flags(
            cmd,
            &[("CERptEn", 1), ("NFERptEn", 1 << 1), ("FERptEn", 1 << 2)]
        )
    )));
    let sta = dw(cfg, off + 0x30);
    out.push(line_fmt::reg(format_args!(
        "RootSta: {}",
        flags(
            sta,
            &[
                ("CERcvd", 1),
                ("MultCERcvd", 1 << 1),
                ("UERcvd", 1 << 2),
                ("MultUERcvd", 1 << 3)
            ]
        )
    )));
    out.push(line_fmt::cont(format_args!(
        "FirstFatal{} NonFatalMsg{} FatalMsg{} IntMsg {}",
        flag(sta, 1 << 4),
        flag(sta, 1 << 5),
        flag(sta, 1 << 6),
        sta >> 27
    )));
    let src = dw(cfg, off + 0x34);
    out.push(line_fmt::reg(format_args!(
        "ErrorSrc: ERR_COR: {:04x} ERR_FATAL/NONFATAL: {:04x}",
        src & 0xffff,
        src >> 16
    )));
    out
}
