#!/usr/bin/env bash
# Slurm backend benchmark: submit -> ranks running and failure -> new attempt running, on the
# local Slurm, with the share spent in Slurm itself; the local backend in the same run
# (docs/BENCHMARKS.md). Needs the dev cluster: scripts/slurm-dev.sh start.
#
#   bench/slurm.sh            # RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
cargo build --release -p trainyard-cli
scontrol ping | grep -q "is UP" || { echo "bench/slurm.sh: the local Slurm is not running (scripts/slurm-dev.sh start)" >&2; exit 2; }
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(sinfo -V), $(python3 --version)"
exec python3 bench/slurm.py --runs "$RUNS"
