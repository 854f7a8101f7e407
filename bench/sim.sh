#!/usr/bin/env bash
# Simulator benchmark: one seed of 54 days at 1k, 10k and 100k GPUs on one thread; wall time,
# events (clock events + Supervisor::handle calls) and events per second.
# Usage: bench/sim.sh [REPEATS]   (best of REPEATS runs, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p trainyard-cli
bin=target/release/trainyard
repeats=${1:-5}
printf '%-8s %-8s %-6s %10s %12s %14s %9s\n' gpus nodes units best_s events events_per_s goodput
for gpus in 1000 10000 100000; do
  best=
  for _ in $(seq "$repeats"); do
    t0=$(date +%s.%N)
    json=$("$bin" sim --gpus "$gpus" --days 54 --seeds 1 --threads 1 --json)
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  python3 - "$gpus" "$best" <<PY
import json, sys
r = json.loads('''$json''')
gpus, t = sys.argv[1], float(sys.argv[2])
print(f"{gpus:<8} {r['nodes']:<8} {r['units']:<6} {t:10.3f} {r['events']:12.0f} {r['events']/t:14.0f} {r['goodput']['mean']:9.4f}")
PY
done
