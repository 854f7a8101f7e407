#!/usr/bin/env bash
# `trainyard doctor` on one node: lspci text of a 172-device GPU server, a snapshot of the
# 8-GPU/8-NIC fixture server, a live collection on this machine and on the fixture tree.
# Usage: bench/doctor.sh   (needs hyperfine: apt-get install -y hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p trainyard-cli
cargo build -q --release -p trainyard-collect --features fixture --example fake_tree
T=$PWD/target/release/trainyard
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
./target/release/examples/fake_tree "$D/root" >/dev/null
"$T" snapshot --root "$D/root" -o "$D/node.json"
hyperfine -N --warmup 3 --runs "${RUNS:-20}" \
  "$T doctor --fail-on never tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt" \
  "$T doctor --fail-on never $D/node.json" \
  "$T doctor --fail-on never --root $D/root" \
  "$T doctor --fail-on never"
