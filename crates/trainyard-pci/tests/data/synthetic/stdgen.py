#!/usr/bin/env python3
"""Generates the synthetic `std-*.txt` dumps: random but well-formed config spaces that
exercise every PCIe port type and the small standard capabilities. Seeded, so the files
are reproducible; `lspci -F FILE -vvv` is the oracle the decode_std test compares against."""
import random, sys

def dump(addr, cfg, name):
    out = [f"{addr} {name}"]
    for i in range(0, len(cfg), 16):
        out.append(f"{i:02x}: " + " ".join(f"{b:02x}" for b in cfg[i:i+16]))
    return "\n".join(out) + "\n\n"

def base(rng, htype, vendor=0x8086, device=0x1234):
    cfg = bytearray(rng.randbytes(256))
    cfg[0:2] = vendor.to_bytes(2, "little"); cfg[2:4] = device.to_bytes(2, "little")
    cfg[0x06] |= 0x10
    cfg[0x0e] = htype
    cfg[0x3d] = rng.randrange(0, 0x20)  # keep the pin letter ASCII
    cfg[0x40:] = bytes(192)
    return cfg

def chain(cfg, caps, htype):
    """caps: list of (id, body bytes); laid out from 0x40, 0x40-aligned slots of 0x30."""
    ptr = 0x40
    cfg[0x34 if htype != 2 else 0x14] = ptr
    for i, (cid, body) in enumerate(caps):
        nxt = ptr + 0x30 if i + 1 < len(caps) else 0
        cfg[ptr] = cid; cfg[ptr+1] = nxt
        cfg[ptr+2:ptr+2+len(body)] = body
        ptr = nxt

def express(rng, ty, version=2, slot=None):
    body = bytearray(rng.randbytes(0x3a))
    slot = rng.random() < 0.5 if slot is None else slot
    cap = version | (ty << 4) | (0x100 if slot else 0) | (rng.randrange(32) << 9)
    body[0:2] = cap.to_bytes(2, "little")
    return body

def main():
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    which = sys.argv[1]
    out = ""
    n = 0
    if which == "express":
        for ty in [0, 1, 4, 5, 6, 7, 8, 9, 10, 3]:
            for rep in range(4):
                htype = 1 if ty in (4, 5, 6, 7, 8) else 0
                cfg = base(rng, htype)
                chain(cfg, [(0x10, express(rng, ty, version=1 if rep == 3 else 2))], htype)
                out += dump(f"00:{n // 8:02x}.{n % 8}", cfg, "Class 0604: x")
                n += 1
    elif which == "caps":
        ids = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
               0x0e, 0x0f, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x20, 0x30]
        for cid in ids:
            for rep in range(4):
                htype = rep % 2
                cfg = base(rng, htype)
                body = bytearray(rng.randbytes(0x2e))
                if cid == 0x14:
                    body[0] = rng.randrange(1, 3)
                    body[2:] = bytes(len(body) - 2)
                    pos = 6 if htype == 1 else 2
                    if htype == 1:
                        body[2:6] = rng.randbytes(4)
                    for _ in range(body[0]):
                        size = rng.choice([2, 3, 4])
                        hdr = size | (rng.randrange(16) << 4) | (rng.choice([0,1,2,3,4,5,6,7,0xfd,0xfe,0xff,0x42]) << 8) | (rng.choice([0,1,4,0xff,0x33]) << 16) | (rng.randrange(4) << 30)
                        ent = bytearray(4 + 4 * size)
                        ent[0:4] = hdr.to_bytes(4, "little")
                        ent[4:] = rng.randbytes(4 * size)
                        if size < 4:
                            ent[8] &= ~2 & 0xff
                        if size < 3:
                            ent[4] &= ~2 & 0xff
                        body[pos:pos+len(ent)] = ent
                        pos += len(ent)
                chain(cfg, [(cid, body)], htype)
                out += dump(f"00:{n // 8:02x}.{n % 8}", cfg, "Class 0604: x")
                n += 1
    elif which == "header":
        for rep in range(40):
            htype = [0, 1, 2][rep % 3]
            cfg = bytearray(rng.randbytes(256))
            cfg[0:4] = bytes([0x86, 0x80, 0x34, 0x12])
            cfg[0x0e] = htype | rng.choice([0, 0x80])
            cfg[0x06] &= ~0x10 & 0xff
            cfg[0x3d] = rng.randrange(0, 0x20)  # keep the pin letter ASCII
            if rep % 4 == 0:
                cfg[0x10:0x28] = bytes(24)
            if rep % 5 == 1:
                cfg[0x1c] &= 0xf1; cfg[0x1d] &= 0xf1
            if rep % 5 == 2:
                cfg[0x20] &= 0xf0; cfg[0x22] &= 0xf0; cfg[0x24] &= 0xf1; cfg[0x26] = cfg[0x26] & 0xf0 | cfg[0x24] & 1
            out += dump(f"00:{n // 8:02x}.{n % 8}", cfg, "Class 0604: x")
            n += 1
    sys.stdout.write(out)

main()
