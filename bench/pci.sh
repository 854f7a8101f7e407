#!/usr/bin/env bash
# Whole-binary benchmarks for `trainyard pci parse` and `trainyard pci decode`.
#
#   bench/pci.sh            # build release, make the inputs, measure, print a summary
#   SIZE_MB=100 bench/pci.sh   # smaller text input (default 512 MB)
#   HEX_COPIES=50 bench/pci.sh # fewer copies of the hex corpus (default 200)
#   FLEET_NODES=100 bench/pci.sh # smaller synthetic fleet (default 200)
#
# Text: the real lspci text corpus (tests/data/{gpu-servers,vvv,faulty} and
# tests/data/hex/*.pciutils-vvv.txt) concatenated and repeated to SIZE_MB, timed against
# `wc -l` on the same bytes (goal: parse within 3x of wc -l).
# Binary: every device of the corpus hex dumps (tests/data/hex/*.txt), repeated HEX_COPIES
# times at distinct addresses (bench/make_hex_dump.py), timed against `lspci -F DUMP -vvv`
# (goal: decode 10x faster per device). Everything is written to bench/out/ (gitignored).
# Input that repeats little, where the parser's line memo helps less: the 1.6 MB corpus
# parsed once, and a fleet from `trainyard fleet synth` (serials, BARs, counters and link
# state vary per node), as node files concatenated and as a pdsh stream.
# Uses hyperfine when installed (apt-get install -y hyperfine), else /usr/bin/time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
size_mb=${SIZE_MB:-512}
hex_copies=${HEX_COPIES:-200}
runs=${RUNS:-5}
mkdir -p "$out"
cd "$root"

cargo build --release -q -p trainyard-cli
bin="$root/target/release/trainyard"

# --- inputs ---------------------------------------------------------------------------
text="$out/corpus-${size_mb}M.txt"
if [[ ! -s $text ]]; then
    once="$out/corpus-once.txt"
    cat tests/data/gpu-servers/*.txt tests/data/vvv/*.txt tests/data/faulty/*.txt \
        tests/data/hex/*.pciutils-vvv.txt > "$once"
    # Some corpus files lack a final newline; make every copy start on a fresh line.
    [[ $(tail -c1 "$once" | od -An -c | tr -d ' ') == '\n' ]] || echo >> "$once"
    tmp="$text.tmp"
    : > "$tmp"
    while (( $(stat -c %s "$tmp") < size_mb * 1024 * 1024 )); do cat "$once" >> "$tmp"; done
    mv "$tmp" "$text"
fi
hex="$out/hex-x${hex_copies}.txt"
if [[ ! -s $hex ]]; then
    dumps=()
    for f in tests/data/hex/*.txt; do [[ $f == *.pciutils-vvv.txt ]] || dumps+=("$f"); done
    python3 bench/make_hex_dump.py --copies "$hex_copies" "${dumps[@]}" > "$hex.tmp" 2> "$out/hex-devices.txt"
    mv "$hex.tmp" "$hex"
fi
devices=$(cat "$out/hex-devices.txt")
fleet_nodes=${FLEET_NODES:-200}
fleet="$out/fleet-${fleet_nodes}.txt"
fleet_pdsh="$out/fleet-${fleet_nodes}.pdsh"
if [[ ! -s $fleet || ! -s $fleet_pdsh ]]; then
    template=tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt
    rm -rf "$out/fleet-nodes"
    "$bin" fleet synth --from "$template" --nodes "$fleet_nodes" --seed 1 \
        --out "$out/fleet-nodes" > /dev/null
    cat "$out"/fleet-nodes/*.txt > "$fleet"
    "$bin" fleet synth --from "$template" --nodes "$fleet_nodes" --seed 1 \
        --pdsh "$fleet_pdsh" > /dev/null
fi
once="$out/corpus-once.txt"
text_bytes=$(stat -L -c %s "$text")
text_lines=$(wc -l < "$text")

# --- measuring ------------------------------------------------------------------------
# time_cmd NAME CMD: mean wall seconds of CMD (stdout to /dev/null) into $out/NAME.secs.
time_cmd() {
    local name=$1 cmd=$2
    if command -v hyperfine > /dev/null; then
        hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/$name.json" \
            --output=null "$cmd" > "$out/$name.log" 2>&1 || { cat "$out/$name.log"; return 1; }
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' \
            "$out/$name.json" > "$out/$name.secs"
    else
        local best=
        for _ in $(seq "$runs"); do
            /usr/bin/time -f %e -o "$out/$name.time" bash -c "$cmd > /dev/null" || true
            local t; t=$(tail -n1 "$out/$name.time")
            best=$(python3 -c "print(min(float('$t'), float('${best:-inf}')))")
        done
        echo "$best" > "$out/$name.secs"
    fi
}

echo "text input: $text ($((text_bytes / 1048576)) MiB, $text_lines lines)"
time_cmd wc "wc -l $text"
# The parser exits 2 on this input only if the corpus has damaged lines; both are timed alike.
time_cmd parse_fields "$bin pci parse $text --format fields"
time_cmd parse_json "$bin pci parse $text --json"

echo "little repetition: $once, $fleet, $fleet_pdsh"
time_cmd wc_once "wc -l $once"
time_cmd parse_once "$bin pci parse $once --format fields"
time_cmd wc_fleet "wc -l $fleet"
time_cmd parse_fleet "$bin pci parse $fleet --format fields"
time_cmd wc_fleet_pdsh "wc -l $fleet_pdsh"
time_cmd parse_fleet_pdsh "$bin pci parse $fleet_pdsh --format fields"

echo "hex input: $hex ($devices devices)"
if command -v lspci > /dev/null; then
    time_cmd lspci "lspci -F $hex -vvv"
fi
time_cmd decode_fields "$bin pci decode $hex --format fields"
time_cmd decode_human "$bin pci decode $hex"

# --- summary --------------------------------------------------------------------------
python3 - "$out" "$text_bytes" "$devices" "$once" "$fleet" "$fleet_pdsh" <<'PY'
import os, sys
out, nbytes, ndev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
once, fleet, fleet_pdsh = sys.argv[4:7]
def t(n):
    p = os.path.join(out, n + ".secs")
    return float(open(p).read()) if os.path.exists(p) else None
wc = t("wc")
print()
print("| command | mean s | MB/s | per device | ratio |")
print("|---|---:|---:|---:|---:|")
for n, label in [("wc", "wc -l"), ("parse_fields", "trainyard pci parse --format fields"),
                 ("parse_json", "trainyard pci parse --json")]:
    s = t(n)
    print(f"| {label} | {s:.3f} | {nbytes / s / 1e6:.0f} | | {s / wc:.2f}x wc -l |")
for wcn, n, path, label in [("wc_once", "parse_once", once, "corpus once (1.6 MB)"),
                            ("wc_fleet", "parse_fleet", fleet, "fleet synth, node files"),
                            ("wc_fleet_pdsh", "parse_fleet_pdsh", fleet_pdsh, "fleet synth, pdsh")]:
    size = os.path.getsize(path)
    w, s = t(wcn), t(n)
    print(f"| wc -l, {label} | {w:.4f} | {size / w / 1e6:.0f} | | 1x |")
    print(f"| parse --format fields, {label} | {s:.4f} | {size / s / 1e6:.0f} | | {s / w:.1f}x wc -l |")
lspci = t("lspci")
for n, label in [("lspci", "lspci -F -vvv"), ("decode_fields", "trainyard pci decode --format fields"),
                 ("decode_human", "trainyard pci decode (human)")]:
    s = t(n)
    if s is None:
        continue
    ratio = f"{lspci / s:.1f}x faster than lspci" if lspci and n != "lspci" else ""
    print(f"| {label} | {s:.3f} | | {s / ndev * 1e6:.1f} us | {ratio} |")
PY
