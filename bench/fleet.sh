#!/usr/bin/env bash
# Whole-binary benchmark for `trainyard fleet analyze` (issue 4's Benchmark bullet).
#
#   bench/fleet.sh                  # 1,000, 3,000 and 10,000 nodes, pdsh stream and folder
#   NODES="1000 3000" bench/fleet.sh
#   KEEP=1 bench/fleet.sh           # keep the generated fleets (about 370 KB per node each)
#
# For each size N: `trainyard fleet synth` makes N nodes from the HPE Cray XD665 dump
# (172 PCI functions per node) as (a) one interleaved pdsh stream (hosts in small random
# batches, as pdsh fanout writes them) and (b) a folder of one file per node, one form at a
# time under bench/out/fleet/ (gitignored), deleted after measuring unless KEEP=1 (10,000
# nodes are 3.7 GB per form). On the same bytes, in the same run: `wc -l` (given the
# folder's files, for the folder) and `trainyard fleet analyze INPUT --json`, wall time and peak
# RSS from /usr/bin/time -v (apt-get install -y time). Prints a markdown table, with the CPU
# seconds (user+sys), the cores they amount to over the wall time (2.0 = both cores busy the
# whole run) and the load average before each run (other work on the machine slows both
# sides of a ratio).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out/fleet"
template="$root/tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"
sizes=${NODES:-1000 3000 10000}
mkdir -p "$out"
cd "$root"

cargo build --release -q -p trainyard-cli
bin="$root/target/release/trainyard"
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time: apt-get install -y time" >&2; exit 1; }

echo "machine: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "commit: $(git -C "$root" rev-parse --short HEAD)"
echo
echo "| nodes | input | bytes | wc -l s | analyze s | MB/s | peak RSS MiB | x wc -l | user+sys s | cores used | load before |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"

# measure N FORM INPUT BYTES: one table row.
measure() {
    local n=$1 form=$2 input=$3 bytes=$4 load wc_s log="$out/time-$1-$2.txt"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    if [[ $form == folder ]]; then
        # wc -l over the same bytes: every file of the folder, read by wc itself (through a
        # `cat |` pipe it took 6 s instead of 1.4 s: the pipe, not the counting).
        wc_s=$( { /usr/bin/time -f %e bash -c "find '$input' -type f -print0 | xargs -0 wc -l > /dev/null"; } 2>&1 | tail -n1)
    else
        wc_s=$( { /usr/bin/time -f %e wc -l "$input" > /dev/null; } 2>&1 | tail -n1)
    fi
    # Exit status 1 means "findings at or above --fail-on": expected on a synthetic fleet.
    /usr/bin/time -v "$bin" fleet analyze "$input" --json > "$out/report-$n-$form.json" 2> "$log" || true
    local wall rss user sys
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    user=$(awk -F': ' '/User time/ {print $2}' "$log")
    sys=$(awk -F': ' '/System time/ {print $2}' "$log")
    python3 - "$n" "$form" "$bytes" "$wc_s" "$wall" "$rss" "$user" "$sys" "$load" <<'EOF'
import sys
n, form, b, wc, wall, rss, user, sys_, load = sys.argv[1:]
b, wc, wall, rss = int(b), float(wc), float(wall), int(rss)
ratio = wall / wc if wc > 0 else float("inf")
cpu = float(user) + float(sys_)
print(f"| {int(n):,} | {form} | {b / 1e9:.2f} GB | {wc:.2f} | {wall:.1f} | {b / 1e6 / wall:.0f} | "
      f"{rss / 1024:.0f} | {ratio:.0f}x | {cpu:.1f} | {cpu / wall:.2f} | {load} |")
EOF
    grep -q '"nodes":'"$n"',' "$out/report-$n-$form.json" ||
        echo "warning: the $form report does not count $n nodes" >&2
}

for n in $sizes; do
    stream="$out/pdsh-$n.txt"
    [[ -s $stream ]] || "$bin" fleet synth --from "$template" --nodes "$n" --pdsh "$stream" --interleave
    measure "$n" pdsh "$stream" "$(stat -c %s "$stream")"
    [[ -n ${KEEP:-} ]] || rm -f "$stream"

    folder="$out/folder-$n"
    [[ -d $folder ]] || "$bin" fleet synth --from "$template" --nodes "$n" --out "$folder"
    measure "$n" folder "$folder" "$(find "$folder" -type f -printf "%s\n" | awk "{s += \$1} END {print s}")"
    [[ -n ${KEEP:-} ]] || rm -rf "$folder"
done
