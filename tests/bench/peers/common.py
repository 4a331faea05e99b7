"""Shared helpers of the peer-benchmark wrappers (tests/bench/bench_peers.sh).

The calibration blocks come from `awqkit tokenize --calib ... --save FILE`:
one block of token ids per line. Every tool is fed exactly these blocks, so
all three see the same n_blocks x seqlen token ids.
"""
import os
import sys
import time


def set_threads(n):
    # Before torch is imported: OpenMP/MKL pools size themselves at load.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


def torch_threads(n):
    import torch

    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


def read_blocks(path, seqlen):
    blocks = []
    with open(path, "r", encoding="ascii") as f:
        for lineno, line in enumerate(f, 1):
            ids = [int(t) for t in line.split()]
            if not ids:
                continue
            if len(ids) != seqlen:
                sys.exit(f"{path}:{lineno}: block of {len(ids)} ids, expected --seqlen {seqlen}")
            blocks.append(ids)
    if not blocks:
        sys.exit(f"{path}: no calibration blocks")
    return blocks


class Phases:
    """Wall-clock phase split printed on stderr (load / quantize / save)."""

    def __init__(self, tool):
        self.tool = tool
        self.t = time.monotonic()
        self.rows = []

    def mark(self, name):
        now = time.monotonic()
        self.rows.append((name, now - self.t))
        self.t = now

    def report(self):
        parts = " ".join(f"{n}={s:.1f}s" for n, s in self.rows)
        print(f"[{self.tool}] phases: {parts}", file=sys.stderr)
