"""Benchmark: the packed majority vote against numpy's float32 mean (issue targets).

Measured side by side in one run (medians of repeats after a warm-up), printed as ratios:
  * el.votes.majority on n packed votes of d coordinates vs numpy.mean(axis=0) over the same
    votes as a float32 (n, d) array — target: <= 0.25 (n=15, d=1e7);
  * vs copying the packed input bytes (the memory-bandwidth anchor) — fraction of bandwidth
    reached = copy time / majority time.

  python benchmarks/bench_majority.py [--n 15] [--d 10000000] [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from electionlib import votes


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(n: int, d: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    signs = rng.random((n, d)) < 0.5
    packed = np.packbits(signs, axis=1)
    as_float = np.where(signs, 1.0, -1.0).astype(np.float32)
    del signs
    t_vote = median_time(lambda: votes.majority(packed, d), repeats)
    t_mean = median_time(lambda: np.mean(as_float, axis=0), repeats)
    t_copy = median_time(lambda: packed.copy(), repeats)
    # correctness of what was timed
    want = np.packbits(as_float.sum(axis=0) > 0)
    assert np.array_equal(votes.majority(packed, d), want)
    return dict(n=n, d=d, vote_s=t_vote, mean_s=t_mean, copy_s=t_copy,
                ratio_vote_mean=t_vote / t_mean, ratio_vote_copy=t_vote / t_copy,
                packed_MB=packed.nbytes / 1e6, float_MB=as_float.nbytes / 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=15)
    ap.add_argument("--d", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    a = ap.parse_args()
    if a.quick:
        a.d, a.repeats = 100_000, 3
    r = run(a.n, a.d, a.repeats)
    print(f"n={r['n']} d={r['d']:,}: packed votes {r['packed_MB']:.1f} MB, "
          f"float32 {r['float_MB']:.0f} MB")
    print(f"  majority (packed, bit-sliced) {r['vote_s'] * 1e3:8.2f} ms")
    print(f"  numpy.mean(axis=0), float32   {r['mean_s'] * 1e3:8.2f} ms")
    print(f"  copy of the packed bytes      {r['copy_s'] * 1e3:8.2f} ms")
    ok = r["ratio_vote_mean"] <= 0.25
    print(f"  ratio majority / float32 mean = {r['ratio_vote_mean']:.3f}  (target <= 0.25: "
          f"{'MET' if ok else 'NOT MET'})")
    print(f"  ratio majority / packed copy  = {r['ratio_vote_copy']:.2f}  "
          f"(fraction of copy bandwidth reached: {1 / r['ratio_vote_copy']:.0%})")


if __name__ == "__main__":
    main()
