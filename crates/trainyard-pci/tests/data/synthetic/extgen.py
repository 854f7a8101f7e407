#!/usr/bin/env python3
"""Builds synthetic 4096-byte config-space dumps (lspci -xxxx format) exercising extended
capabilities, for use with `lspci -F FILE -vvv` as the oracle.

Usage: python3 extgen.py            # (re)writes ext-*.txt beside this script
       python3 extgen.py --probe    # prints lspci's rendering of every generated file
"""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def le16(v):
    return list(struct.pack("<H", v & 0xFFFF))


def le32(v):
    return list(struct.pack("<I", v & 0xFFFFFFFF))


def le64(v):
    return list(struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF))


def dwords(*vals):
    out = []
    for v in vals:
        out += le32(v)
    return out


def device(pcie_type, caps, header_type=None):
    """caps: list of (id, version, body bytes after the 4-byte header[, offset])."""
    cfg = [0] * 4096
    if header_type is None:
        header_type = 1 if pcie_type in (4, 5, 6, 8) else 0
    cfg[0:4] = le16(0x8086) + le16(0x1234)
    cfg[6:8] = le16(0x0010)
    cls = 0x060400 if header_type == 1 else 0x020000
    cfg[9:12] = [cls & 0xFF, (cls >> 8) & 0xFF, cls >> 16]
    cfg[0x0E] = header_type
    cfg[0x34] = 0x40
    cfg[0x40] = 0x10
    cfg[0x42:0x44] = le16(0x0002 | (pcie_type << 4))
    off = 0x100
    placed = []
    for c in caps:
        cid, ver, body = c[0], c[1], c[2]
        if len(c) > 3:
            off = c[3]
        placed.append((off, cid, ver, body))
        off = (off + 4 + len(body) + 15) & ~15
    for i, (off, cid, ver, body) in enumerate(placed):
        nxt = placed[i + 1][0] if i + 1 < len(placed) else 0
        hdr = cid | (ver << 16) | (nxt << 20)
        data = le32(hdr) + list(body)
        end = min(4096, off + len(data))
        cfg[off:end] = data[: end - off]
    return cfg


def write(name, devs):
    """devs: list of (bdf, cfg)."""
    path = os.path.join(HERE, f"ext-{name}.txt")
    with open(path, "w") as f:
        for bdf, cfg in devs:
            f.write(f"{bdf} Ethernet controller: synthetic\n")
            for row in range(0, 4096, 16):
                f.write(f"{row:03x}: " + " ".join(f"{b:02x}" for b in cfg[row : row + 16]) + "\n")
            f.write("\n")
    return path


FILES = {}


def gen(name):
    def deco(fn):
        FILES[name] = fn
        return fn

    return deco


# ---- cases -------------------------------------------------------------------------------

# PCIe port types (Express capability bits 7:4).
EP, LEG, RCIEP, RCEC, ROOT, UP, DOWN = 0, 1, 9, 10, 4, 5, 6


def aer(uesta, uemsk, uesvrt, cesta, cemsk, ctl, hdr=(0, 0, 0, 0), rootcmd=0, rootsta=0, src=0, pfx=(0, 0, 0, 0)):
    return dwords(uesta, uemsk, uesvrt, cesta, cemsk, ctl, *hdr, rootcmd, rootsta, src, *pfx)


@gen("aer")
def _aer():
    devs = []
    for ptype in (EP, ROOT, RCEC, DOWN, UP, RCIEP, LEG):
        for ver in (1, 2, 3):
            devs.append(device(ptype, [(0x01, ver, aer(0xFFFFFFFF, 0x00155555, 0xAAAAAAAA, 0xFFFFFFFF, 0x5555, 0xFFFFFFFF,
                                                     (0x12345678, 0x9ABCDEF0, 1, 2), 0xFFFFFFFF, 0xF800007F, 0xABCD1234, (5, 6, 7, 8)))]))
    devs.append(device(ROOT, [(0x01, 2, aer(0, 0, 0, 0, 0, 0x1F5, rootsta=0x08000055, src=0x00010002))]))
    devs.append(device(EP, [(0x01, 2, aer(0x00100010, 0, 0, 0x41, 0, 0x0AA))]))
    return devs


@gen("acs")
def _acs():
    devs = []
    for ptype in (DOWN, ROOT, EP, UP):
        for cap, ctl in ((0xFFFF, 0xFFFF), (0x207F, 0x0055), (0x0020, 0x002A), (0x0A5F, 0x0000), (0x0060, 0x7F)):
            body = le16(cap) + le16(ctl) + dwords(0x12345678, 0xDEADBEEF, 0x55, 0xAA)
            devs.append(device(ptype, [(0x0D, 1, body)]))
    return devs

@gen("edge")
def _edge():
    """Capabilities whose registers run past the end of the 4096 bytes."""
    devs = []
    for cid in (0x01, 0x0D, 0x03, 0x0B, 0x10, 0x02, 0x19, 0x23, 0x15, 0x1E, 0x12, 0x05, 0x2E, 0x1D, 0x18, 0x0E, 0x0F, 0x13, 0x1B, 0x1F, 0x17, 0x07):
        for off in (0xFF0, 0xFFC):
            devs.append(device(ROOT, [(0x0B, 1, dwords(0x00C00002, 0, 0)), (cid, 1, [0xFF] * 12, off)]))
    return devs


@gen("small")
def _small():
    """The short fixed-layout capabilities, with varied field values."""
    devs = []
    for a, b, c, d in ((0, 0, 0, 0), (0x12345678, 0x9ABCDEF0, 0x0F0F0F0F, 0xF0F0F0F0),
                       (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0x00030001, 0x80010002, 0x5A5A0003, 0x00000004)):
        devs.append(device(ROOT, [
            (0x19, 1, dwords(a, b, c, d)),  # Secondary PCI Express
            (0x0E, 1, dwords(a, b)),  # ARI
            (0x0F, 1, dwords(a, b)),  # ATS
            (0x13, 1, dwords(a, b, c, d)),  # PRI
            (0x1B, 1, dwords(a, b)),  # PASID
            (0x18, 1, dwords(a, b)),  # LTR
            (0x1D, 1, dwords(a, b, c, d, a, b, c, d, a, b, c, d, a, b, c, d)),  # DPC
            (0x1E, 1, dwords(a, b, c, d)),  # L1 PM Substates
            (0x1F, 1, dwords(a, b, c)),  # PTM
            (0x17, 1, dwords(a, b, c, d)),  # TPH
            (0x03, 1, dwords(a, b)),  # DSN
            (0x07, 1, dwords(a, b)),  # RCEC v1
            (0x07, 2, dwords(a, b)),  # RCEC v2
            (0x2E, 1, dwords(a, b, c, d, a)),  # DOE
        ]))
    return devs


@gen("details")
def _details():
    """Corner cases of the small capabilities: range lists, conditional continuations."""
    devs = []
    rows = [
        (0x80000000, 0x0000FF00, 0x00000004, 0x1800, 0x00010000, 0x00000005, 0, 0x00000004),
        (0xC0000001, 0x00FF0100, 0x00000002, 0x1BFF, 0x00008000, 0x20A00005, 0x0000F0, 0x80000000),
        (0x7FFFFFFE, 0x00030500, 0x00000200, 0x0401, 0x00000004, 0x40A00004, 0x00FFF9, 0x00000002),
        (0x00000001, 0x00050300, 0x00070400, 0x0801, 0x00000001, 0xA0A0FF0F, 0x00F0FA, 0x00000001),
        (0x80000001, 0x00FFFF00, 0x00070600, 0x0C01, 0x00000005, 0x000000FF, 0x0000FB, 0x00000006),
    ]
    for bitmap, buses, tph, ltr, lane, l1ctl1, l1ctl2, doesta in rows:
        for l1cap in (0x00000001, 0x00000004, 0x0000000A, 0x0000FF1F):
            devs.append(device(ROOT, [
                (0x07, 2, dwords(bitmap, buses)),
                (0x17, 1, dwords(tph, 0)),
                (0x18, 1, dwords(ltr | (ltr << 16))),
                (0x19, 1, dwords(0, lane, 0)),
                (0x1E, 1, dwords(l1cap | 0x00F30000, l1ctl1, l1ctl2)),
                (0x2E, 1, dwords(0, 0, doesta, 0, 0)),
            ]))
    return devs


@gen("vc")
def _vc():
    """Virtual Channel with extended VCs, arbitration tables and odd reference clocks."""
    devs = []
    for cap1, cap2, ctl, res in (
        (0x00000000, 0x00000000, 0x00000000, [(0x00000000, 0x800000FF, 0x0000)]),
        (0x00000F71, 0x030000FF, 0x000F0006, [(0x037F80FF, 0x810E00FF, 0x00030000), (0x0500A001, 0x01020080, 0x0002)]),
        (0x00000A22, 0x000000AA, 0x00010004, [(0x00010010, 0x81080001, 0x0001), (0x00000020, 0x010A0002, 0), (0x04008040, 0x820C0004, 0x0003)]),
        (0x00000D13, 0x00000055, 0x00000002, [(0x00000002, 0x80040001, 0), (0x00000004, 0x80060001, 0)]),
    ):
        body = dwords(cap1, cap2, ctl)
        for rc, rctl, rsta in res:
            body += dwords(rc, rctl, rsta << 16)
        devs.append(device(ROOT, [(0x02, 1, body)]))
        devs.append(device(EP, [(0x09, 1, body)]))
    return devs


@gen("rclink")
def _rclink():
    devs = []
    for desc, links in (
        (0x0F000100, [(0x00000003, 0xFED1C000, 0x00000000)]),
        (0x12340302, [(0x00AB0001, 0x00000000, 0x00000000), (0x56780006, 0x00123000, 0x00000001), (0x9ABC0007, 0xFFFFFFFF, 0xFFFFFFFF)]),
        (0xFFFFFFFF, [(0xFFFFFFFF, 0x00405000, 0x00000002)]),
    ):
        body = dwords(desc, 0)
        for d, lo, hi in links:
            body += dwords(d, 0, lo, hi)
        devs.append(device(ROOT, [(0x05, 1, body)]))
    return devs


def sriov(cap, ctl, sta, initial, total, num, dep, off, stride, did, page, syspage, bars, mig):
    return (dwords(cap) + le16(ctl) + le16(sta) + le16(initial) + le16(total) + le16(num) + [dep, 0]
            + le16(off) + le16(stride) + le16(0) + le16(did) + dwords(page, syspage, *bars, mig))


@gen("sriov")
def _sriov():
    devs = []
    devs.append(device(EP, [(0x10, 1, sriov(0, 0, 0, 8, 8, 0, 0, 1, 1, 0x10ed, 0x553, 1, [0] * 6, 0))]))
    devs.append(device(EP, [(0x10, 1, sriov(0xFFE00007, 0x001F, 1, 64, 128, 32, 3, 0x80, 2, 0xabcd, 0x553, 0x100,
                                            [0xF0000000, 0, 0xE000000C, 0x00000001, 0x00001001, 0xFFFFFFF8], 0x12345673))]))
    devs.append(device(EP, [(0x10, 1, sriov(0x00000002, 0x0008, 0, 1, 1, 1, 0, 1, 1, 0x1, 0, 0,
                                            [0x0000000C, 0x00000010, 0x00000004, 0xFFFFFFFF, 0x80000008, 0], 0))]))
    devs.append(device(EP, [(0x10, 1, sriov(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [0x4, 0, 0x4, 0, 0x4, 0], 0))]))
    return devs


@gen("mcast")
def _mcast():
    devs = []
    for ptype in (EP, ROOT, UP, DOWN, RCIEP):
        for cap, ctl, bar, rx, blk, unt, ovl in (
            (0x0000003F, 0x0000, 0, 0, 0, 0, 0),
            (0x8000A53F, 0x803F, 0x123456789ABCDE05, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF, 0x8000000000000001, 0xFEDCBA9876543021),
            (0x00001F00, 0x8000, 0xFFFFFFFFFFFFFFFF, 0, 0, 0, 0x3F),
        ):
            body = le16(cap) + le16(ctl) + le64(bar) + le64(rx) + le64(blk) + le64(unt) + le64(ovl)
            devs.append(device(ptype, [(0x12, 1, body)]))
    return devs


@gen("rebar")
def _rebar():
    devs = []
    devs.append(device(EP, [(0x15, 1, dwords(0x000000F0, 0x00000024, 0xFFFFFFF0, 0x00000842, 0x00100000, 0x1FE00000)),
                            (0x24, 1, dwords(0x00000010, 0x00000020))]))
    devs.append(device(EP, [(0x15, 1, dwords(0x00000010, 0x00000000))]))
    devs.append(device(EP, [(0x15, 1, dwords(0x00000010, 0x000000E0))]))
    devs.append(device(EP, [(0x15, 1, dwords(0xFFFFFFF0, 0x00001FC5))]))
    return devs


@gen("vendor")
def _vendor():
    devs = []
    devs.append(device(EP, [
        (0x0B, 1, dwords(0x01812345, 0x11111111)),
        (0x0B, 2, dwords(0xFFFFFFFF)),
        (0x0B, 1, dwords(0x00000000)),
        (0x23, 1, dwords(0x02C11AF4, 0x00000ABC, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
        (0x23, 1, dwords(0x0000_1234, 0x00000000)),
    ]))
    return devs


if __name__ == "__main__":
    paths = []
    for name, fn in FILES.items():
        devs = fn()
        paths.append(write(name, [(f"{i // 32:02x}:{i % 32:02x}.0", d) for i, d in enumerate(devs)]))
    if "--probe" in sys.argv:
        for p in paths:
            if len(sys.argv) > 2 and not any(a in p for a in sys.argv[2:]):
                continue
            out = subprocess.run(["lspci", "-F", p, "-vvv"], capture_output=True, text=True).stdout
            keep = False
            for line in out.splitlines():
                if line and not line.startswith("\t"):
                    print(line)
                    keep = False
                elif line.startswith("\tCapabilities: [") and " v" in line.split("]")[0]:
                    keep = True
                    print(line)
                elif line.startswith("\t\t") and keep:
                    print(line)
                else:
                    keep = False
