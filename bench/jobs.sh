#!/usr/bin/env bash
# Job supervisor benchmark: trainyard vs torchrun on examples/train.py (docs/BENCHMARKS.md).
#
#   bench/jobs.sh            # RUNS=3 PRINT_SECONDS=10 by default
#
# Builds the release binary, installs torch from PyPI into bench/out/torch-venv (CPU wheels;
# never in CI), and runs bench/jobs.py. Without network access torch cannot be installed:
# the script says so and compares trainyard against a bare shell loop only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
PRINT_SECONDS="${PRINT_SECONDS:-10}"
mkdir -p bench/out

cargo build --release -p trainyard-cli

VENV=bench/out/torch-venv
TORCHRUN=""
if [ ! -x "$VENV/bin/torchrun" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch --index-url https://download.pytorch.org/whl/cpu \
        || "$VENV/bin/pip" install --quiet torch \
        || echo "bench/jobs.sh: cannot install torch from PyPI (no network?); comparing without torchrun" >&2
fi
if [ -x "$VENV/bin/torchrun" ]; then
    TORCHRUN="$VENV/bin/torchrun"
    "$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'
fi

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(python3 --version)"
# The ranks run with the venv's interpreter when it has torch (torchrun uses its own), else
# the system python3: both launchers run the same interpreter either way.
PY=python3
[ -n "$TORCHRUN" ] && PY="$VENV/bin/python"
exec "$PY" bench/jobs.py ${TORCHRUN:+--torchrun "$TORCHRUN"} --runs "$RUNS" --print-seconds "$PRINT_SECONDS"
