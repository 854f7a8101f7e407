#!/usr/bin/env python3
"""Runs a Python script as a rank, recording when it began and when it ended.

`python3 bench/stamp.py SCRIPT ARGS...` writes `$STAMP_DIR/up-<attempt>-<rank>` (the wall
time the interpreter reached this file) and, on the way out (normal exit, exception or
SIGTERM), `$STAMP_DIR/down-<attempt>-<rank>`; a rank that fails on purpose
(examples/train.py --fail-at-step) records `$STAMP_DIR/fail-<attempt>-<rank>` from its
stderr message. <attempt> is TORCHELASTIC_RESTART_COUNT, which trainyard and torchrun both
set, so the same wrapper times both launchers. Used by bench/jobs.py.
"""

import os
import runpy
import signal
import sys
import time

STAMPS = os.environ["STAMP_DIR"]
RANK = os.environ.get("RANK", "0")
ATTEMPT = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")


def stamp(kind):
    path = os.path.join(STAMPS, "%s-%s-%s" % (kind, ATTEMPT, RANK))
    with open(path, "w") as f:
        f.write("%.6f\n" % time.time())


def on_term(signum, frame):
    raise SystemExit(128 + signum)


class FailWatch:
    """Stamps `fail` when the script announces its injected failure on stderr."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, text):
        if "injected failure" in text:
            stamp("fail")
        return self.inner.write(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


# torchrun's agent keeps its own TCPStore on MASTER_PORT, so a script that rendezvouses by
# binding MASTER_PORT itself (examples/train.py) must use another port under torchrun.
if os.environ.get("STAMP_PORT_OFFSET") and os.environ.get("MASTER_PORT"):
    os.environ["MASTER_PORT"] = str(int(os.environ["MASTER_PORT"]) + int(os.environ["STAMP_PORT_OFFSET"]))

stamp("up")
signal.signal(signal.SIGTERM, on_term)
sys.stderr = FailWatch(sys.stderr)
script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    stamp("down")
