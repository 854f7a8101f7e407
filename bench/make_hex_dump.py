#!/usr/bin/env python3
"""Builds a large `lspci -x`-style hex dump for bench/pci.sh.

Reads every device's config bytes from the corpus hex dumps given as arguments and writes
them `--copies` times, each device at its own address (domain/bus/device/function counted
up), so lspci -F sees one big machine and process start-up does not dominate the timing.
Prints the number of devices written on stderr.
"""
import argparse
import re
import sys

HEADER = re.compile(r"^(?:[0-9a-f]{4,8}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ")
ROW = re.compile(r"^([0-9a-f]{2,3}): ((?:[0-9a-f]{2} ?){16})\s*$")


def devices(path):
    """Yields the bytes of each complete device (64, 256 or 4096 bytes) in one dump."""
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = ROW.match(line)
            if m and cur is not None:
                if int(m.group(1), 16) == len(cur):
                    cur.extend(bytes.fromhex(m.group(2)))
                continue
            if HEADER.match(line):
                if cur is not None and len(cur) in (64, 256, 4096):
                    yield bytes(cur)
                cur = bytearray()
    if cur is not None and len(cur) in (64, 256, 4096):
        yield bytes(cur)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("dumps", nargs="+")
    args = ap.parse_args()
    devs = [d for p in args.dumps for d in devices(p)]
    out = sys.stdout
    n = 0
    for _ in range(args.copies):
        for d in devs:
            # 8 functions x 32 devices x 256 buses per domain.
            fn, dev, bus, dom = n & 7, (n >> 3) & 31, (n >> 8) & 255, n >> 16
            # lspci -F wants text after the address; the title itself is ignored.
            out.write(f"{dom:04x}:{bus:02x}:{dev:02x}.{fn} Device\n")
            for off in range(0, len(d), 16):
                row = " ".join(f"{b:02x}" for b in d[off : off + 16])
                out.write(f"{off:02x}: {row}\n")
            out.write("\n")
            n += 1
    print(n, file=sys.stderr)


if __name__ == "__main__":
    main()
