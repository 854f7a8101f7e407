#!/usr/bin/env python3
"""A real data-parallel SGD training job, Python 3 standard library only.

Every rank holds a shard of a small synthetic linear-regression dataset (fixed
seed). Each step every rank computes the mean-squared-error gradient on its
mini-batch, the gradients are all-reduced over TCP through rank 0 (summed in rank
order, so the arithmetic is bit-for-bit deterministic), and every rank applies the
same update to identical weights.

Rendezvous is torchrun's: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (LOCAL_RANK and
the rest are read only for the log). Rank 0 listens on MASTER_ADDR:MASTER_PORT, the
others connect. Rank 0 loads the newest checkpoint and sends the starting step and
weights to every rank, so all ranks resume from the same state.

Rank 0 writes a checkpoint (JSON, weights as exact float.hex strings, written to a
temporary file and renamed into place) every --checkpoint-every steps and at the
end. The last line is `final step S sha256 H weights [...]`: an interrupted and
resumed run prints the same line as an uninterrupted one.

Fault injection for demonstrations and tests: --fail-at-step N makes rank
--fail-rank exit 1 before step N, --hang-at-step N makes it stop making progress
(sleep forever) before step N. Each happens once: a marker file in the checkpoint
directory records that it already happened, so the restarted attempt passes.
"""

import argparse
import hashlib
import json
import os
import random
import socket
import struct
import sys
import time

CONNECT_TIMEOUT_S = 60.0
PEER_LOSS_DELAY_S = 1.0


def log(msg):
    print(msg, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument(
        "--checkpoint-dir",
        default=os.environ.get("TRAINYARD_CHECKPOINT_DIR", "checkpoints"),
    )
    p.add_argument("--fail-at-step", type=int, default=None)
    p.add_argument("--hang-at-step", type=int, default=None)
    p.add_argument("--fail-rank", type=int, default=None, help="default: the last rank")
    p.add_argument("--sleep-per-step", type=float, default=0.0, help="seconds")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--batch", type=int, default=16, help="samples per rank per step")
    p.add_argument("--seed", type=int, default=1234)
    return p.parse_args()


# ---------------------------------------------------------------- data and model


def make_dataset(samples, dim, seed):
    """y = x . w_true + noise, identical on every rank (same seed)."""
    rng = random.Random(seed)
    w_true = [rng.uniform(-2.0, 2.0) for _ in range(dim)]
    data = []
    for _ in range(samples):
        x = [rng.gauss(0.0, 1.0) for _ in range(dim)]
        y = sum(a * b for a, b in zip(x, w_true)) + rng.gauss(0.0, 0.1)
        data.append((x, y))
    return data


def batch_for(shard, step, batch):
    """The mini-batch of `step` depends only on the step: a resumed run sees the same data."""
    n = len(shard)
    start = ((step - 1) * batch) % n
    return [shard[(start + j) % n] for j in range(batch)]


def local_gradient(w, batch):
    """Sum over the batch of d/dw (x.w - y)^2, the summed squared error, and the count."""
    grad = [0.0] * len(w)
    loss = 0.0
    for x, y in batch:
        err = sum(a * b for a, b in zip(x, w)) - y
        loss += err * err
        for i, a in enumerate(x):
            grad[i] += 2.0 * err * a
    return grad, loss, float(len(batch))


def weights_digest(w):
    return hashlib.sha256(",".join(v.hex() for v in w).encode()).hexdigest()


# ---------------------------------------------------------------- wire


def send_msg(sock, payload):
    sock.sendall(struct.pack("!I", len(payload)) + payload)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf.extend(chunk)
    return bytes(buf)


def recv_msg(sock):
    (n,) = struct.unpack("!I", recv_exact(sock, 4))
    return recv_exact(sock, n)


def pack_floats(values):
    return struct.pack("!%dd" % len(values), *values)


def unpack_floats(payload):
    return list(struct.unpack("!%dd" % (len(payload) // 8), payload))


class Group:
    """A star all-reduce through rank 0: rank 0 sums in rank order and broadcasts."""

    def __init__(self, rank, world, addr, port):
        self.rank = rank
        self.world = world
        self.peers = {}  # rank 0 only: rank -> socket
        self.sock = None  # other ranks: socket to rank 0
        if world == 1:
            return
        if rank == 0:
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((addr, port))
            srv.listen(world)
            srv.settimeout(CONNECT_TIMEOUT_S)
            while len(self.peers) < world - 1:
                conn, _ = srv.accept()
                conn.settimeout(None)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                (peer,) = struct.unpack("!I", recv_exact(conn, 4))
                self.peers[peer] = conn
            srv.close()
        else:
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            while True:
                try:
                    self.sock = socket.create_connection((addr, port), timeout=5.0)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.sock.settimeout(None)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.sendall(struct.pack("!I", rank))

    def broadcast(self, payload):
        """Rank 0's payload to everyone."""
        if self.world == 1:
            return payload
        if self.rank == 0:
            for r in range(1, self.world):
                send_msg(self.peers[r], payload)
            return payload
        return recv_msg(self.sock)

    def allreduce_sum(self, values):
        """Elementwise sum over ranks, added in rank order 0, 1, 2, ... on rank 0."""
        if self.world == 1:
            return list(values)
        if self.rank == 0:
            total = list(values)
            for r in range(1, self.world):
                other = unpack_floats(recv_msg(self.peers[r]))
                total = [a + b for a, b in zip(total, other)]
            return unpack_floats(self.broadcast(pack_floats(total)))
        send_msg(self.sock, pack_floats(values))
        return unpack_floats(recv_msg(self.sock))


# ---------------------------------------------------------------- checkpoints


def newest_checkpoint(ckpt_dir):
    best = None
    try:
        names = os.listdir(ckpt_dir)
    except FileNotFoundError:
        return None
    for name in names:
        if name.startswith("ckpt-") and name.endswith(".json"):
            try:
                step = int(name[len("ckpt-") : -len(".json")])
            except ValueError:
                continue
            if best is None or step > best[0]:
                best = (step, os.path.join(ckpt_dir, name))
    if best is None:
        return None
    with open(best[1]) as f:
        doc = json.load(f)
    return doc["step"], [float.fromhex(v) for v in doc["weights"]]


def write_checkpoint(ckpt_dir, step, w):
    os.makedirs(ckpt_dir, exist_ok=True)
    final = os.path.join(ckpt_dir, "ckpt-%08d.json" % step)
    tmp = final + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump({"step": step, "weights": [v.hex() for v in w]}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)


def write_progress(step):
    path = os.environ.get("TRAINYARD_PROGRESS_FILE")
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % step)
    os.replace(tmp, path)


def once(ckpt_dir, kind, step, rank):
    """True the first time this fault is asked for; leaves a marker so a restart passes."""
    os.makedirs(ckpt_dir, exist_ok=True)
    marker = os.path.join(ckpt_dir, ".%s-at-step-%d-rank-%d" % (kind, step, rank))
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


# ---------------------------------------------------------------- main


def main():
    args = parse_args()
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    addr = os.environ.get("MASTER_ADDR", "127.0.0.1")
    port = int(os.environ.get("MASTER_PORT", "29500"))
    fail_rank = args.fail_rank if args.fail_rank is not None else world - 1
    log(
        "rank %d/%d local_rank %s node_rank %s restart %s master %s:%d"
        % (
            rank,
            world,
            os.environ.get("LOCAL_RANK", "0"),
            os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0")),
            os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"),
            addr,
            port,
        )
    )

    group = Group(rank, world, addr, port)

    # Rank 0 decides where training starts and sends it to everyone.
    if rank == 0:
        ckpt = newest_checkpoint(args.checkpoint_dir)
        if ckpt is None:
            start, w = 0, [0.0] * args.dim
        else:
            start, w = ckpt
        state = json.dumps({"step": start, "weights": [v.hex() for v in w]}).encode()
    else:
        state = b""
    doc = json.loads(group.broadcast(state).decode())
    start = doc["step"]
    w = [float.fromhex(v) for v in doc["weights"]]
    if start > 0:
        log("resumed from checkpoint at step %d" % start)

    data = make_dataset(args.samples, args.dim, args.seed)
    shard = data[rank::world]

    for step in range(start + 1, args.steps + 1):
        if rank == fail_rank and args.fail_at_step == step:
            if once(args.checkpoint_dir, "fail", step, rank):
                print("rank %d: injected failure at step %d" % (rank, step), file=sys.stderr, flush=True)
                sys.exit(1)
        if rank == fail_rank and args.hang_at_step == step:
            if once(args.checkpoint_dir, "hang", step, rank):
                print("rank %d: injected hang at step %d" % (rank, step), file=sys.stderr, flush=True)
                while True:
                    time.sleep(3600)

        grad, loss, count = local_gradient(w, batch_for(shard, step, args.batch))
        try:
            total = group.allreduce_sum(grad + [loss, count])
        except (ConnectionError, OSError):
            # A peer is gone. Like a collective library's watchdog, wait a moment before
            # failing, so the supervisor sees the rank that failed first and stops us
            # instead of blaming us for its failure.
            time.sleep(PEER_LOSS_DELAY_S)
            raise
        n = total[-1]
        w = [wi - args.lr * gi / n for wi, gi in zip(w, total[:-2])]
        log("step %d loss %.6f" % (step, total[-2] / n))
        write_progress(step)

        if rank == 0 and (step % args.checkpoint_every == 0 or step == args.steps):
            write_checkpoint(args.checkpoint_dir, step, w)
        if args.sleep_per_step > 0:
            time.sleep(args.sleep_per_step)

    log("final step %d sha256 %s weights %s" % (args.steps, weights_digest(w), json.dumps(w)))


if __name__ == "__main__":
    main()
