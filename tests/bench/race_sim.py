#!/usr/bin/env python3
"""Replays rules for the scale candidates' race on recorded losses, to choose
the defaults of --screen / --race-z / --finalists (BENCHMARKS.md, "Sixth
round"). Not part of CI.

Record a dump per model and mode where every candidate has its full loss and
the segment sums of all but the last sequence:

    awqkit quantize MODEL -o OUT --force --screen 0.99 --race-z 0 \\
        --finalists 19 --dump-scales DUMP.json [--duo-scaling on|both ...]

then:  tests/bench/race_sim.py [--stages F,F,...] [--z Z,Z,...] DUMP.json ...

(defaults: stages 0.25,0.125,0.0625; z 0,2,3,4; z 0 is the cap alone)

For each stage fraction, drop threshold z and cap, it replays the race
(awq_pick.c: stages of round(f * sequences), a candidate dropped when its
paired t against the leader exceeds z with at least 8 segments, the cap
after the first stage), and prints how many groups were decided early, how
many picks differ from the exhaustive best with the worst loss excess, and
the work per group in candidate forwards over all sequences (the segments
are 64 tokens, 8 per 512-token sequence)."""
import json
import math
import sys

SEG_PER_SEQ = 8
MIN_SEGS = 8


def groups(files):
    for f in files:
        d = json.load(open(f))
        for layer in d["layers"]:
            for g in layer["groups"]:
                if g.get("screen_segments"):
                    yield f, layer["layer"], g


def tstat(a, b):
    n = len(a)
    d = [y - x for x, y in zip(a, b)]
    m = sum(d) / n
    if not m > 0:
        return 0.0
    v = sum((x - m) ** 2 for x in d) / (n - 1)
    return m / math.sqrt(v / n) if v > 0 else math.inf


def replay(files, f, z, cap):
    n = miss = decided = 0
    work = worst = 0.0
    for _, _, g in groups(files):
        S, F, SEG = g["screen_losses"], g["losses"], g["screen_segments"]
        idx = [i for i in range(len(S)) if S[i] is not None and F[i] is not None]
        best = min(idx, key=lambda i: F[i])
        covered = len(SEG[idx[0]]) // SEG_PER_SEQ
        B = covered + 1
        st = max(1, int(math.floor(f * B + 0.5)))
        alive, end, k, w = list(idx), 0, 0, 0.0
        while end < covered and len(alive) > 1:
            e = min(covered, end + st)
            w += len(alive) * (e - end) / B
            end, k = e, k + 1
            u = end * SEG_PER_SEQ
            cum = {i: sum(SEG[i][:u]) for i in alive}
            a = min(alive, key=lambda i: (cum[i], i))
            if z > 0 and u >= MIN_SEGS:
                alive = [i for i in alive if i == a or tstat(SEG[a][:u], SEG[i][:u]) <= z]
            if k == 1 and cap:
                alive = sorted(alive, key=lambda i: (cum[i], i))[:cap]
        if len(alive) > 1:
            w += len(alive) * (B - end) / B
            pick = min(alive, key=lambda i: (F[i], i))
        else:
            pick = alive[0]
            decided += 1
        worst = max(worst, F[pick] / F[best] - 1)
        miss += pick != best
        work += w
        n += 1
    return n, decided, miss, worst, work / max(n, 1)


def floats(arg):
    return [float(v) for v in arg.split(",") if v]


def main():
    args = sys.argv[1:]
    stages, zs = [0.25, 0.125, 0.0625], [0, 2, 3, 4]
    while args and args[0] in ("--stages", "--z"):
        if len(args) < 2:
            print(__doc__)
            sys.exit(2)
        if args[0] == "--stages":
            stages = floats(args[1])
        else:
            zs = floats(args[1])
        args = args[2:]
    files = args
    if not files:
        print(__doc__)
        sys.exit(2)
    print("%-6s %-5s %-4s %6s %8s %6s %10s %12s" % (
        "stage", "z", "cap", "groups", "decided", "misses", "worst", "forwards/gr"))
    for f in stages:
        for cap in (0, 3):
            for z in zs:
                if z == 0 and not cap:
                    continue
                n, d, m, w, c = replay(files, f, z, cap)
                print("%-6g %-5g %-4d %6d %8d %6d %9.3f%% %12.2f" % (f, z, cap, n, d, m, 100 * w, c))


if __name__ == "__main__":
    main()
