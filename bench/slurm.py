#!/usr/bin/env python3
"""Slurm backend benchmark (docs/BENCHMARKS.md): trainyard on the local Slurm vs the local
backend, in the same run, on examples/train.py with 2 nodes x 2 ranks.

Measures, per backend (median of --runs):
  launch   `trainyard launch` started -> every rank's interpreter running (bench/stamp.py `up`)
  restart  a rank's injected failure (stamp.py `fail`) -> every rank of the next attempt up

and, for Slurm, where the time goes, from timestamps taken by wrappers around the real
`sbatch` and `srun` (first on PATH; the batch script's `srun` resolves to the wrapper because
sbatch exports the submitter's environment) and around the agent (the srun wrapper inserts a
stamping exec in front of `trainyard agent`):
  trainyard before sbatch   launch (or failure) -> sbatch invoked (preflight, store, stop,
                            wait for the old Slurm job to leave, backoff)
  sbatch                    the sbatch call itself (Slurm)
  queue + job start         sbatch returned -> batch script running (Slurm: scheduling,
                            allocation, prolog)
  srun step start           batch script's srun invoked -> agent process running (Slurm)
  agent -> ranks up         agent running -> every rank's interpreter running (trainyard:
                            connect, Hello/Launch, spawn through the guard, python start)

Usage: bench/slurm.sh (builds the release binary, needs scripts/slurm-dev.sh start).
"""

import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "slurm")
TRAINYARD = os.path.join(ROOT, "target", "release", "trainyard")
TRAIN = os.path.join(ROOT, "examples", "train.py")
STAMP = os.path.join(ROOT, "bench", "stamp.py")
WRAP = os.path.join(OUT, "wrap")
EVENTS = os.path.join(OUT, "slurm-events.log")
RUN = [0]

SBATCH_WRAPPER = r"""#!/bin/sh
echo "sbatch-start $(date +%s.%N)" >> {events}
out=$(/usr/bin/sbatch "$@"); rc=$?
echo "sbatch-end $(date +%s.%N)" >> {events}
echo "$out"; exit $rc
"""
SRUN_WRAPPER = r"""#!/bin/sh
echo "batch-start $(date +%s.%N)" >> {events}
# Put a stamping exec in front of the agent: its first argument is the program.
opts=""
while [ $# -gt 0 ]; do case "$1" in -*) opts="$opts $1"; shift;; *) break;; esac; done
exec /usr/bin/srun $opts {wrap}/agent-stamp "$@"
"""
AGENT_STAMP = r"""#!/bin/sh
echo "agent-start $(date +%s.%N)" >> {events}
exec "$@"
"""


def fresh(name):
    RUN[0] += 1
    path = os.path.join(OUT, "%s-%d" % (name, RUN[0]))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def stamps(d, kind, attempt):
    out = {}
    for p in glob.glob(os.path.join(d, "%s-%d-*" % (kind, attempt))):
        with open(p) as f:
            try:
                out[int(p.rsplit("-", 1)[1])] = float(f.read())
            except ValueError:
                pass
    return out


def events():
    out = []
    if os.path.exists(EVENTS):
        with open(EVENTS) as f:
            for line in f:
                kind, _, t = line.strip().partition(" ")
                try:
                    out.append((float(t), kind))
                except ValueError:
                    pass
    return sorted(out)


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    raise RuntimeError("timed out waiting for " + what)


def launch(backend, args, stamp_dir, name):
    home = os.path.join(OUT, "home")
    spec = os.path.join(OUT, name + ".toml")
    with open(spec, "w") as f:
        f.write('name = "%s"\ncommand = %s\nnodes = 2\nprocs_per_node = 2\n' % (name, json.dumps(["python3", STAMP] + args)))
        f.write('progress_regex = \'^step (\\d+) \'\nstop_grace = "5s"\nhang_timeout = "off"\n')
        f.write('restart_backoff = { initial = "1ms", max = "1ms", factor = 1 }\nmax_restarts = 3\n')
        f.write('node_failure_limit = 10\n[env]\nSTAMP_DIR = "%s"\nPYTHONUNBUFFERED = "1"\n' % stamp_dir)
    env = dict(os.environ, TRAINYARD_HOME=home, PATH=WRAP + ":" + os.environ["PATH"])
    return subprocess.Popen([TRAINYARD, "launch", spec, "-q", "--backend", backend], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def split(t_from, t_up, evs):
    """The Slurm-side breakdown of t_from -> t_up from the wrappers' events in between."""
    ev = [(t, k) for t, k in evs if t_from <= t <= t_up]
    first = lambda kind: next((t for t, k in ev if k == kind), None)
    last = lambda kind: max((t for t, k in ev if k == kind), default=None)
    s0, s1, b, a = first("sbatch-start"), first("sbatch-end"), first("batch-start"), last("agent-start")
    if None in (s0, s1, b, a):
        return None
    return {
        "trainyard before sbatch": s0 - t_from,
        "sbatch": s1 - s0,
        "queue + job start": b - s1,
        "srun step start": a - b,
        "agent -> ranks up": t_up - a,
    }


def launch_run(backend):
    d = fresh("stamps")
    ckpt = fresh("ckpt")
    args = [TRAIN, "--steps", "100000", "--sleep-per-step", "0.2", "--checkpoint-dir", ckpt]
    t0 = time.time()
    proc = launch(backend, args, d, "launch-" + backend)
    up = wait_for(lambda: (lambda s: s if len(s) == 4 else None)(stamps(d, "up", 0)), 120, "ranks up")
    t_up = max(up.values())
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    return t_up - t0, split(t0, t_up, events())


def restart_run(backend):
    d = fresh("stamps")
    ckpt = fresh("ckpt")
    args = [TRAIN, "--steps", "60", "--sleep-per-step", "0.05", "--checkpoint-every", "10",
            "--checkpoint-dir", ckpt, "--fail-at-step", "30"]
    proc = launch(backend, args, d, "restart-" + backend)
    rc = proc.wait(180)
    fail, up1 = stamps(d, "fail", 0), stamps(d, "up", 1)
    if rc != 0 or not fail or len(up1) != 4:
        raise RuntimeError("restart run failed: rc=%s fail=%s up1=%d" % (rc, fail, len(up1)))
    t_fail, t_up = min(fail.values()), max(up1.values())
    down = stamps(d, "down", 0)
    return t_up - t_fail, max(down.values()) - t_fail, split(t_fail, t_up, events())


def median_parts(parts):
    parts = [p for p in parts if p]
    if not parts:
        return {}
    return {k: statistics.median(p[k] for p in parts) for k in parts[0]}


def report(title, total, parts):
    print("  %-26s %7.3f s" % (title, total))
    slurm = sum(v for k, v in parts.items() if k in ("sbatch", "queue + job start", "srun step start"))
    for k, v in parts.items():
        print("    %-24s %7.3f s  (%3.0f%%)" % (k, v, 100 * v / total if total else 0))
    if parts:
        print("    %-24s %7.3f s  (%3.0f%%)  trainyard: %.3f s (%.0f%%)"
              % ("in Slurm", slurm, 100 * slurm / total, total - slurm, 100 * (total - slurm) / total))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(WRAP)
    for name, text in (("sbatch", SBATCH_WRAPPER), ("srun", SRUN_WRAPPER), ("agent-stamp", AGENT_STAMP)):
        path = os.path.join(WRAP, name)
        with open(path, "w") as f:
            f.write(text.format(events=EVENTS, wrap=WRAP))
        os.chmod(path, 0o755)
    print("runs: %d (median); 2 nodes x 2 ranks; restart_backoff 1ms; stop_grace 5s" % a.runs)
    for backend in ("local", "slurm"):
        runs = [launch_run(backend) for _ in range(a.runs)]
        total = statistics.median(r[0] for r in runs)
        print("%s: submit -> all 4 ranks running" % backend)
        report("total", total, median_parts([r[1] for r in runs]) if backend == "slurm" else {})
        runs = [restart_run(backend) for _ in range(a.runs)]
        total = statistics.median(r[0] for r in runs)
        stopped = statistics.median(r[1] for r in runs)
        print("%s: failure -> all 4 ranks of the next attempt running (old ranks all down after %.3f s)" % (backend, stopped))
        report("total", total, median_parts([r[2] for r in runs]) if backend == "slurm" else {})
        sys.stdout.flush()


if __name__ == "__main__":
    main()
