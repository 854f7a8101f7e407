#!/usr/bin/env bash
# Whole-binary benchmark of `trainyard snapshot`: collection time and JSON size on this
# machine (as root and, when possible, as an unprivileged user) and on the 8-GPU/8-NIC
# fixture tree (crates/trainyard-collect/src/fixture.rs, built from real corpus dumps).
#
#   bench/snapshot.sh          # build release, make the tree, measure, print a summary
#   RUNS=50 bench/snapshot.sh  # more runs per measurement (default 20)
#
# Writes to bench/out/ (gitignored). Uses hyperfine when installed, else a shell loop.
# The collector's own cost without process start-up is `cargo bench -p trainyard-collect`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
runs=${RUNS:-20}
mkdir -p "$out"
cd "$root"

cargo build --release -q -p trainyard-cli
cargo build --release -q -p trainyard-collect --example fake_tree
bin="$root/target/release/trainyard"
tree="$out/gpu-server-tree"
rm -rf "$tree"
"$root/target/release/examples/fake_tree" "$tree" > /dev/null

# time_cmd NAME CMD: mean wall milliseconds of CMD into $out/NAME.ms.
time_cmd() {
    local name=$1 cmd=$2
    if command -v hyperfine > /dev/null; then
        hyperfine -N --warmup 2 --runs "$runs" --export-json "$out/$name.json" \
            --output=null "$cmd" > "$out/$name.log" 2>&1 || { cat "$out/$name.log"; return 1; }
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.1f" % (r["mean"]*1e3))' \
            "$out/$name.json" > "$out/$name.ms"
    else
        local start end
        start=$(date +%s%N)
        for ((i = 0; i < runs; i++)); do $cmd > /dev/null; done
        end=$(date +%s%N)
        echo "scale=1; ($end - $start) / $runs / 1000000" | bc > "$out/$name.ms"
    fi
}

time_cmd live "$bin snapshot"
"$bin" snapshot > "$out/live.json"
time_cmd tree "$bin snapshot --root $tree"
"$bin" snapshot --root "$tree" > "$out/tree.json"

unpriv=""
if [[ $(id -u) == 0 ]] && command -v setpriv > /dev/null; then
    # The unprivileged path: 64 bytes of config space per function, reasons in `missing`.
    cp "$bin" "$out/trainyard-unpriv" && chmod 755 "$out/trainyard-unpriv"
    as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups $out/trainyard-unpriv snapshot"
    time_cmd unpriv "$as_nobody"
    $as_nobody > "$out/unpriv.json"
    unpriv=1
fi

count() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["pci"]), len(s["missing"]))' "$1"; }
printf '%-34s %10s %10s %8s %8s\n' input "mean ms" "JSON B" "PCI fns" missing
for name in live tree ${unpriv:+unpriv}; do
    read -r fns miss < <(count "$out/$name.json")
    label=$name
    case $name in
        live) label="this machine (root: $([[ $(id -u) == 0 ]] && echo yes || echo no))" ;;
        tree) label="8-GPU/8-NIC fixture tree" ;;
        unpriv) label="this machine, unprivileged" ;;
    esac
    printf '%-34s %10s %10s %8s %8s\n' "$label" "$(cat "$out/$name.ms")" \
        "$(stat -c %s "$out/$name.json")" "$fns" "$miss"
done
