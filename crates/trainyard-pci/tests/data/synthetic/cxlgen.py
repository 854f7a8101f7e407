#!/usr/bin/env python3
"""Builds ext-cxl.txt: synthetic config-space dumps with CXL DVSECs (extended id 0x23,
vendor 0x1e98), for `lspci -F ext-cxl.txt -vvv` as the oracle of the CXL DVSEC renderer.

Reuses extgen.py's dump layout. Everything generated stays inside what lspci 3.9 survives:
- reserved HDM range media type / memory class (3..7) and interleave (8..31) encodings make
  lspci read past its name tables (garbage text or a segfault);
- a Function Map (id 2) shorter than 0x2a or a Flex Bus Port DVSEC (id 7) shorter than its
  revision's registers (0x14, or 0x20 from revision 2) makes lspci read past the bytes it
  fetched and abort the whole listing ("Internal bug: Accessing non-read configuration
  byte"), so those lengths are covered by unit tests instead.

Usage: python3 cxlgen.py            # (re)writes ext-cxl.txt beside this script
       python3 cxlgen.py --probe    # also prints lspci's rendering of it
"""
import subprocess
import sys

from extgen import EP, ROOT, device, dwords, le16, write

CXL = 0x1E98


def dvsec(did, rev, length, body, vendor=CXL):
    """An extended capability tuple for extgen.device: DVSEC headers, then `body` bytes
    from DVSEC offset 0x0a, zero-padded up to `length` (capped to keep dumps small)."""
    hdr1 = vendor | (rev << 16) | (length << 20)
    data = dwords(hdr1) + le16(did) + list(body)
    pad = min(length, 0x80) - 4 - len(data)
    return (0x23, 1, data + [0] * max(pad, 0))


def w16(*vals):
    out = []
    for v in vals:
        out += le16(v)
    return out


def range_regs(size, base, lo_flags):
    """Size high/low and base high/low of one HDM range; lo_flags goes in size low 27:0."""
    return dwords(size >> 32, (size & 0xF0000000) | lo_flags, base >> 32, base & 0xFFFFFFFF)


def size_lo(valid=0, active=0, media=0, cls=0, il=0, timeout=0):
    return valid | active << 1 | media << 2 | cls << 5 | il << 8 | timeout << 13


def dev_dvsec(rev, cap, ctl, sta, ctl2, sta2, lock, cap2, r1, r2, length=0x38, extra=()):
    body = w16(cap, ctl, sta, ctl2, sta2, lock, cap2) + r1 + r2 + list(extra)
    return dvsec(0, rev, length, body)


def devices():
    devs = []
    # PCIe DVSEC for CXL Devices (id 0): revisions, every flag, cache size units, ranges.
    devs.append(device(EP, [
        dev_dvsec(1, 0x401E, 0x0006, 0, 0, 0x8000, 0, 0,
                  range_regs(0x400000000, 0, size_lo(1, 1)), range_regs(0, 0, size_lo(0, 1))),
        dev_dvsec(2, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x2001,
                  range_regs(0xFFFFFFFFF0000000, 0x123456789ABCDEF0, size_lo(1, 0, 1, 1, 2, 7)),
                  range_regs(0x10000000, 0xFFFF, size_lo(0, 1, 2, 2, 7, 3)),
                  length=0x3C, extra=dwords(0xFFFFFFFF)),
        dev_dvsec(0, 0x401E, 0x0006, 0, 0, 0x8000, 0, 1, [0] * 16, [0] * 16),
        dev_dvsec(3, 0x0015, 0x4F5A, 0x4000, 0, 0x0006, 1, 0x1202,
                  range_regs(0x80000000, 0x100000000, size_lo(0, 0, 0, 0, 3, 4)),
                  range_regs(0, 0, size_lo(1, 1, 0, 1, 4, 5))),
    ]))
    devs.append(device(EP, [
        dev_dvsec(1, 0x0029, 0x07F8, 0, 0, 0x0002, 0, 0x8001,
                  range_regs(0x10000000, 0xF0000000, size_lo(0, 0, 1, 2, 5, 6)),
                  range_regs(0x20000000, 0, size_lo(1, 0, 2, 0, 6, 2))),
        dev_dvsec(1, 0, 0, 0, 0, 0, 0, 0xFF05, [0] * 16, [0] * 16),
        dev_dvsec(1, 0, 0, 0, 0, 0, 0, 0x000F, [0] * 16, [0] * 16),
        # One byte short of Range 2's end: lspci shows no body.
        dev_dvsec(1, 0xFFFF, 0, 0, 0, 0, 0, 0, [0] * 16, [0] * 12, length=0x37),
        # Shorter than 16 bytes: not even called CXL.
        dvsec(0, 1, 0x0F, []),
        dvsec(0, 1, 0x00, []),
    ]))
    # Non-CXL Function Map (id 2): only the low word of each map register is shown, so
    # 0x2a (the last word's end) is long enough.
    devs.append(device(EP, [
        dvsec(2, 0, 0x2C, [0, 0] + dwords(*[0xA5A50000 | (0x1111 * i) for i in range(8)])),
        dvsec(2, 1, 0x2A, [0, 0] + dwords(0xFFFFFFFF, 0x12345678, 0x9ABC, 0xDEF0, 1, 2, 3, 4)),
        dvsec(2, 3, 0x40, [0, 0] + dwords(*[0xFFFF0000 | (0x8000 >> i) for i in range(8)])),
    ]))
    # CXL Extensions DVSEC for Ports (id 3): lspci's odd PMComplete bits, control flags,
    # alternate ranges; and one too short to be shown.
    devs.append(device(ROOT, [
        dvsec(3, 0, 0x28, w16(0x0002, 0x400F) + [0x12, 0x34] + w16(0x5678, 0x9ABC) + [0xEE] * 20),
        dvsec(3, 1, 0x28, w16(0x0008, 0x0005) + [0xFF, 0x00] + w16(0xFFFF, 0x0000)),
        dvsec(3, 2, 0x28, w16(0xBFF5, 0xBFF0)),
        dvsec(3, 0, 0x24, w16(0x000A, 0xFFFF) + [1, 2]),
    ]))
    # GPF DVSECs (ids 4 and 5): every time scale, reserved ones included.
    gpf = []
    for scale in range(16):
        gpf.append(dvsec(4, 0, 0x10, w16(0, (scale << 8) | (scale & 0xF), 0xF0F0 | (15 - scale) << 8)))
    devs.append(device(ROOT, gpf[:8]))
    devs.append(device(ROOT, gpf[8:]))
    devs.append(device(EP, [
        dvsec(5, 0, 0x10, w16(0x0203) + dwords(0)),
        dvsec(5, 1, 0x10, w16(0xF60F) + dwords(0xFFFFFFFF)),
        dvsec(5, 0, 0x10, w16(0x0705) + dwords(12345)),
        dvsec(5, 0, 0x14, w16(0x0C01) + dwords(1, 0xFFFFFFFF)),
        dvsec(5, 0, 0x10, w16(0x0409) + dwords(0x80000000)),
    ]))
    # Flex Bus Port DVSEC (id 7): revisions 0..3 at their full lengths (and longer).
    fb = w16(0xFFFF, 0xFFFF, 0xFFFF) + dwords(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    fb2 = w16(0x2026, 0x42A6, 0x6055) + dwords(0xAB123456, 0xFFFFFFFE, 0x1, 0x2)
    devs.append(device(ROOT, [
        dvsec(7, 0, 0x14, fb),
        dvsec(7, 1, 0x14, fb),
        dvsec(7, 1, 0x20, fb2),
        dvsec(7, 2, 0x20, fb),
        dvsec(7, 2, 0x20, fb2),
    ]))
    devs.append(device(ROOT, [
        dvsec(7, 3, 0x24, fb2),
        dvsec(7, 2, 0x40, fb),
        dvsec(7, 0, 0x10, fb),
        dvsec(7, 1, 0x14, w16(0x0026, 0x0026, 0x0006) + dwords(6)),
    ]))
    # Register Locator DVSEC (id 8): every block id class, BIRs 0..7, empty entries that
    # keep their number, a partial trailing entry, and no entry at all.
    blocks = []
    for i, bid in enumerate([1, 0, 2, 3, 4, 5, 0x80, 0xFF]):
        blocks += dwords(0xABCD0000 | (bid << 8) | 0xF8 | i, 0x100 * i)
    devs.append(device(EP, [
        dvsec(8, 0, 0x0C + 8 * 8, [0, 0] + blocks),
        dvsec(8, 0, 0x0C + 8 * 3 + 7, [0, 0] + blocks),
        dvsec(8, 1, 0x10, [0, 0] + blocks),
        dvsec(8, 0, 0x24, [0, 0] + dwords(0x00000100, 0, 0x00010300, 0, 0, 0)),
    ]))
    # MLD (id 9: the LD count is shown only when 1..16), unknown ids, and ids 0/7 whose stated length runs past the
    # end of config space (no body at all).
    devs.append(device(EP, [
        dvsec(9, 0, 0x10, w16(0x0010, 0xFFFF)),
        dvsec(9, 1, 0x80, [0xFF] * 0x20),
        dvsec(9, 2, 0x10, w16(0x0001, 0x0001)),
        dvsec(9, 0, 0x10, w16(0x0011, 0x0000)),
        dvsec(9, 0, 0x10, w16(0x0110, 0x0000)),
        dvsec(1, 0, 0x10, []),
        dvsec(6, 1, 0x20, []),
        dvsec(0x0A, 0, 0x10, []),
        dvsec(0xFFFF, 15, 0x10, []),
        # A foreign vendor's DVSEC with a CXL-like body stays undecoded.
        dvsec(0, 1, 0x38, w16(0xFFFF), vendor=0x1AF4),
    ]))
    devs.append(device(EP, [
        dvsec(2, 0, 0x2C, [0xFF] * 0x22),
        (0x23, 1, dwords(CXL | 1 << 16 | 0xF00 << 20) + le16(0) + [0xFF] * 0x30, 0xF00),
    ]))
    devs.append(device(EP, [
        (0x23, 1, dwords(CXL | 1 << 16 | 0xF00 << 20) + le16(7) + [0xFF] * 0x30, 0x100),
        (0x23, 1, dwords(CXL | 1 << 16 | 0x100 << 20) + le16(4) + [0xFF] * 0x30, 0xF00),
    ]))
    return devs


if __name__ == "__main__":
    devs = devices()
    path = write("cxl", [(f"{i // 32:02x}:{i % 32:02x}.0", d) for i, d in enumerate(devs)])
    if "--probe" in sys.argv:
        print(subprocess.run(["lspci", "-F", path, "-vvv"], capture_output=True, text=True).stdout)
