#!/usr/bin/env python3
"""Job supervisor benchmark: trainyard against torchrun (and a bare shell) on examples/train.py.

Measures, each launcher on the same example in the same run (see docs/BENCHMARKS.md):
  * launch -> all ranks started, for 1, 8 and 64 ranks (every rank's interpreter running:
    bench/stamp.py records the moment);
  * a rank's death -> all ranks of the attempt stopped, and -> the next attempt's ranks all
    started (examples/train.py --fail-at-step);
  * the supervisor's CPU time and peak RSS while 64 ranks print.
Usage: bench/jobs.py [--torchrun PATH] [--runs N]; prints a Markdown table per measurement
and writes bench/out/jobs/results.json.
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
TRAINYARD = os.environ.get("TRAINYARD_BIN", os.path.join(ROOT, "target", "release", "trainyard"))
TRAIN = os.path.join(ROOT, "examples", "train.py")
STAMP = os.path.join(ROOT, "bench", "stamp.py")
OUT = os.path.join(ROOT, "bench", "out", "jobs")
PY = sys.executable
PRINTER = (
    "import sys, time\n"
    "end = time.time() + float(sys.argv[1]); i = 0\n"
    "while time.time() < end:\n"
    "    for _ in range(50):\n"
    "        i += 1; print('step %d loss 0.%06d padding-to-80-bytes-of-output-per-line-like-a-real-log' % (i, i))\n"
    "    sys.stdout.flush(); time.sleep(0.1)\n"
)


RUN = [0]


def fresh(path):
    """A new empty directory: `path` itself for OUT, else `path-<n>`, never reused (ranks of
    a stopped run may still write their last stamp while the next run starts)."""
    if path != OUT:
        RUN[0] += 1
        path = "%s-%d" % (path, RUN[0])
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


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    raise RuntimeError("timed out waiting for " + what)


def stop(proc, sig=signal.SIGINT, timeout=60):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- launchers


def trainyard(ranks, args, stamp_dir, name, extra=""):
    home = os.path.join(OUT, "home")
    spec = os.path.join(OUT, name + ".toml")
    command = [PY, STAMP] + args
    with open(spec, "w") as f:
        f.write('name = "%s"\ncommand = %s\nnodes = 1\nprocs_per_node = %d\n' % (name, json.dumps(command), ranks))
        f.write('progress_regex = \'^step (\\d+) \'\nstop_grace = "5s"\nhang_timeout = "off"\n')
        f.write('restart_backoff = { initial = "1ms", max = "1ms", factor = 1 }\nmax_restarts = 3\n')
        f.write(extra)
        f.write('[env]\nSTAMP_DIR = "%s"\nPYTHONUNBUFFERED = "1"\n' % stamp_dir)
    env = dict(os.environ, TRAINYARD_HOME=home)
    return subprocess.Popen([TRAINYARD, "launch", spec, "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def torchrun(path, ranks, args, stamp_dir, name, extra=None):
    env = dict(os.environ, STAMP_DIR=stamp_dir, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
               STAMP_PORT_OFFSET="1")
    cmd = [path, "--nnodes", "1", "--nproc-per-node", str(ranks), "--max-restarts", "3",
           "--monitor-interval", "0.1"]
    if extra:
        cmd += extra
    return subprocess.Popen(cmd + [STAMP] + args, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shell(ranks, args, stamp_dir, name, extra=None):
    """The floor: N interpreters started by a shell loop with torchrun's variables."""
    script = (
        'for r in $(seq 0 %d); do RANK=$r WORLD_SIZE=%d MASTER_ADDR=127.0.0.1 MASTER_PORT=%d '
        'STAMP_DIR=%s "%s" "%s" %s & done; wait'
        % (ranks - 1, ranks, 29000 + ranks, stamp_dir, PY, STAMP, " ".join(args))
    )
    return subprocess.Popen(["bash", "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


# ---------------------------------------------------------------- measurements


def launch_time(launcher, ranks, runs):
    times = []
    for i in range(runs):
        d = fresh(os.path.join(OUT, "stamps"))
        ckpt = fresh(os.path.join(OUT, "ckpt"))
        args = [TRAIN, "--steps", "100000", "--sleep-per-step", "0.2", "--checkpoint-dir", ckpt]
        t0 = time.time()
        proc = launcher(ranks, args, d, "launch-%d" % ranks)
        up = wait_for(lambda: (lambda s: s if len(s) == ranks else None)(stamps(d, "up", 0)), 120, "ranks up")
        times.append(max(up.values()) - t0)
        if launcher is shell:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
        else:
            stop(proc)
    return statistics.median(times)


def restart_times(launcher, ranks, runs):
    stopped, restarted = [], []
    for i in range(runs):
        d = fresh(os.path.join(OUT, "stamps"))
        ckpt = fresh(os.path.join(OUT, "ckpt"))
        args = [TRAIN, "--steps", "60", "--sleep-per-step", "0.05", "--checkpoint-every", "10",
                "--checkpoint-dir", ckpt, "--fail-at-step", "30"]
        proc = launcher(ranks, args, d, "restart-%d" % ranks)
        rc = proc.wait(180)
        fail = stamps(d, "fail", 0)
        down = stamps(d, "down", 0)
        up1 = stamps(d, "up", 1)
        if rc != 0 or not fail or len(up1) != ranks:
            raise RuntimeError("restart run failed: rc=%s fail=%s up1=%d" % (rc, fail, len(up1)))
        t_fail = min(fail.values())
        stopped.append(max(down.values()) - t_fail)
        restarted.append(max(up1.values()) - t_fail)
    return statistics.median(stopped), statistics.median(restarted)


def proc_cpu_rss(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


def pss_kib(pid):
    """Proportional set size: shared pages (the binary's text) split among the processes."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def overhead(kind, launch, ranks, seconds):
    d = fresh(os.path.join(OUT, "stamps"))
    args = ["-c", PRINTER, str(seconds)]
    # The printer is not a script file: run it through a tiny file so stamp.py can run it.
    printer = os.path.join(OUT, "printer.py")
    with open(printer, "w") as f:
        f.write(PRINTER.replace("sys.argv[1]", "sys.argv[1]"))
    args = [printer, str(seconds)]
    proc = launch(ranks, args, d, "print-%d" % ranks)
    wait_for(lambda: len(stamps(d, "up", 0)) == ranks, 120, "printers up")
    cpu0, _, _ = proc_cpu_rss(proc.pid)
    t0 = time.time()
    hwm = 0
    helpers_rss = 0
    while proc.poll() is None:
        try:
            cpu, rss, hwm = proc_cpu_rss(proc.pid)
            if kind == "trainyard":
                # The rank guards (one per rank) are trainyard's too.
                helpers_rss = max(helpers_rss, sum(pss_kib(c) for c in children(proc.pid)))
        except (OSError, IndexError):
            break
        time.sleep(0.2)
    elapsed = time.time() - t0
    proc.wait()
    return {"cpu_s": cpu - cpu0, "wall_s": elapsed, "cpu_pct": 100 * (cpu - cpu0) / max(elapsed, 1e-9),
            "peak_rss_mib": hwm / 1024, "guards_rss_mib": helpers_rss / 1024,
            "lines": ranks * seconds * 500}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torchrun", default=shutil.which("torchrun"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--print-seconds", type=int, default=10)
    a = ap.parse_args()
    fresh(OUT)
    launchers = [("trainyard", trainyard)]
    if a.torchrun:
        launchers.append(("torchrun", lambda *x: torchrun(a.torchrun, *x)))
    launchers.append(("shell loop", shell))
    results = {"launch": {}, "restart": {}, "overhead": {}}

    print("## launch -> all ranks started (median of %d, seconds)\n" % a.runs)
    print("| ranks | " + " | ".join(n for n, _ in launchers) + " |")
    print("|---|" + "---|" * len(launchers))
    for ranks in (1, 8, 64):
        row = []
        for name, launcher in launchers:
            t = launch_time(launcher, ranks, a.runs)
            results["launch"].setdefault(name, {})[ranks] = t
            row.append("%.3f" % t)
        print("| %d | %s |" % (ranks, " | ".join(row)), flush=True)

    print("\n## rank death (8 ranks) -> all stopped / -> next attempt's ranks all started (median, s)\n")
    print("| launcher | death -> all stopped | death -> all restarted |")
    print("|---|---|---|")
    for name, launcher in launchers:
        if launcher is shell:
            continue
        s, r = restart_times(launcher, 8, a.runs)
        results["restart"][name] = {"stopped": s, "restarted": r}
        print("| %s | %.3f | %.3f |" % (name, s, r), flush=True)

    print("\n## supervisor with 64 ranks printing 500 lines/s each for %d s\n" % a.print_seconds)
    print("| launcher | CPU (s) | CPU % of one core | peak RSS (MiB) | guards' PSS (MiB, all 64) |")
    print("|---|---|---|---|---|")
    for name, launcher in launchers:
        if launcher is shell:
            continue
        if name == "torchrun":
            tee = lambda r, args, d, n: torchrun(a.torchrun, r, args, d, n,
                                               ["--log-dir", os.path.join(OUT, "tlogs"), "--tee", "3"])
            o = overhead(name, tee, 64, a.print_seconds)
        else:
            o = overhead(name, launcher, 64, a.print_seconds)
        results["overhead"][name] = o
        print("| %s | %.2f | %.1f | %.1f | %s |" % (
            name, o["cpu_s"], o["cpu_pct"], o["peak_rss_mib"],
            "%.1f" % o["guards_rss_mib"] if name == "trainyard" else "-"), flush=True)

    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
