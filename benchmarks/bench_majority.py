"""Benchmark: the packed majority vote against numpy's float32 mean and a copy (targets).

Measured side by side in one run and printed as ratios. The fast cases (majority, mean,
copies, floors) are timed round-robin -- each repeat runs every case once, in turn, after a
warm-up -- so that a busy machine slows them alike; each time is the median over the repeats, of
the wall clock and of the calling thread's CPU time (the CPU ratio is the steadier one on a
shared machine; for the two-thread count printed for information it leaves out the helper
thread's CPU).

  * el.votes.majority on n packed votes of d coordinates vs numpy.mean(axis=0) over the same
    votes as a float32 (n, d) array -- target: <= 0.25 (n=15, d=1.1e7);
  * vs np.median(axis=0) on that float32 array (the coordinate median) -- target: the
    majority >= 100x faster (timed with fewer repeats: it takes seconds; on by default for
    n = 15 only, --median / --no-median to choose);
  * vs copying the packed input bytes, the memory-bandwidth anchor -- target: majority within
    4x, and the compiled count (electionlib._vote_kernels, the default when numba is
    available) at most 1x. The anchor is ``np.copyto(dst, packed)`` into a preallocated array:
    ``packed.copy()`` also pays for allocating (and, for large inputs, page-faulting) the
    destination on every call, so it is printed beside it for reference only;
  * the numpy path of the same count (``votes.USE_VOTE_KERNEL = False``: the program run ufunc
    call by ufunc call), beside the compiled one;
  * read floors, the least work of reading the n rows and writing one: the XOR of the rows run
    by the same compiled executor on one thread (same blocks and prefetch), and
    ``np.bitwise_xor.reduce(packed, axis=0)``. Where one thread's floor is above the copy, the
    target <= 1 cannot be met on one thread, and the floor is the measured reason;
  * for information, the count and the XOR shared by two threads (``_vote_kernels.THREADS =
    None``) on inputs of 32 MiB or more: not judged, as the copy is one thread.

  python benchmarks/bench_majority.py [--n 15 49 101] [--d 11000000] [--repeats 11]
                                      [--median | --no-median] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from electionlib import votes


def round_robin(cases: dict, repeats: int) -> dict:
    """Median ``(wall, cpu)`` seconds per case; every repeat runs each case once, in turn."""
    for fn in cases.values():
        fn()  # warm-up
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.thread_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in cases}


def votes_and_floats(n: int, d: int, max_floats: float):
    """Random packed votes (n, ceil(d/8)), the same votes as float32 +-1 (or None if n*d is
    over ``max_floats``), and the expected majority bits."""
    rng = np.random.default_rng(0)
    packed = np.packbits(rng.random((n, d), dtype=np.float32) < 0.5, axis=1)
    counts = np.zeros(d, dtype=np.int32)
    as_float = np.empty((n, d), dtype=np.float32) if n * d <= max_floats else None
    for i in range(n):  # row by row: never a float64 (n, d) temporary
        bits = np.unpackbits(packed[i], count=d)
        counts += bits
        if as_float is not None:
            np.subtract(np.multiply(bits, 2, dtype=np.float32), 1, out=as_float[i])
    want = np.packbits(2 * counts > n)
    return packed, as_float, want


def numpy_path(fn):
    """``fn`` with the count interpreted by numpy (the compiled executor switched off)."""
    def call():
        old = votes.USE_VOTE_KERNEL
        votes.USE_VOTE_KERNEL = False
        try:
            return fn()
        finally:
            votes.USE_VOTE_KERNEL = old
    return call


def with_threads(fn, threads: int | None):
    """``fn`` with the compiled count's :data:`THREADS` set to ``threads``."""
    K = votes._vote_kernels()

    def call():
        old = K.THREADS
        K.THREADS = threads
        try:
            return fn()
        finally:
            K.THREADS = old
    return call


def xor_floor(packed: np.ndarray, threads: int | None = 1):
    """The XOR of the rows by the compiled executor (None without numba): the same column
    blocks and prefetch as the count, the least work of reading n rows and writing one."""
    K = votes._vote_kernels()
    if not K.available():
        return None
    n, nb = packed.shape
    if n == 1:
        src = [(K.SRC_AND, 2, 2, 0)]
    else:
        src = [(K.SRC_XOR, 2, 3, 0)] + [(K.SRC_XOR, 0, 2 + i, 0) for i in range(2, n)]
    prog = K.program(src, n, False, 0)
    out = np.empty(nb, dtype=np.uint8)

    def call():
        old = K.THREADS
        K.THREADS = threads
        try:
            K.run(prog, packed, None, None, out, None)
        finally:
            K.THREADS = old
    call()
    assert np.array_equal(out, np.bitwise_xor.reduce(packed, axis=0))
    return call


def run(n: int, d: int, repeats: int, median: bool, max_floats: float = 1.2e9) -> dict:
    packed, as_float, want = votes_and_floats(n, d, max_floats)
    compiled = votes._use_vote_kernel()
    slow = numpy_path(lambda: votes.majority(packed, d))
    assert np.array_equal(votes.majority(packed, d), want)  # correctness of what is timed
    assert np.array_equal(slow(), want)
    dst = np.empty_like(packed)
    cases = {
        "majority": lambda: votes.majority(packed, d),
        "numpy_path": slow,
        "copyto": lambda: np.copyto(dst, packed),
        "copy": packed.copy,
        "xor_numpy": lambda: np.bitwise_xor.reduce(packed, axis=0),
    }
    threads = 1
    if compiled:
        K = votes._vote_kernels()
        old, K.THREADS = K.THREADS, None
        try:
            threads = K._threads(packed.nbytes, packed.shape[1])
        finally:
            K.THREADS = old
        if threads > 1:  # for information: the same count shared by two threads
            cases["two_threads"] = with_threads(lambda: votes.majority(packed, d), None)
            cases["xor_threads"] = xor_floor(packed, None)
        cases["xor_compiled"] = xor_floor(packed, 1)
    if as_float is not None:
        cases["mean"] = lambda: np.mean(as_float, axis=0)
    t = round_robin(cases, repeats)
    if median and as_float is not None:
        t.update(round_robin({"median": lambda: np.median(as_float, axis=0)}, max(1, repeats // 4)))
    return dict(n=n, d=d, t=t, packed_MB=packed.nbytes / 1e6, float_MB=4 * n * d / 1e6,
                floats=as_float is not None, compiled=compiled,
                threads=threads if compiled else 1)


def report(r: dict) -> None:
    t = r["t"]
    print(f"n={r['n']} d={r['d']:,}: packed votes {r['packed_MB']:.1f} MB, "
          f"float32 {r['float_MB']:.0f} MB" + ("" if r["floats"] else " (too big: not built)"))
    names = {
        "majority": "majority (packed, bit-sliced)" + (
            " [compiled, 1 thr]" if r["compiled"] else " [numpy]"),
        "two_threads": f"majority, compiled, {r['threads']} thr",
        "numpy_path": "majority, numpy path",
        "copyto": "np.copyto(dst, packed) [anchor]",
        "copy": "packed.copy() (allocates)",
        "xor_threads": f"xor of the rows, {r['threads']} thr [floor]",
        "xor_compiled": "xor of the rows, 1 thr [floor]",
        "xor_numpy": "np.bitwise_xor.reduce(axis=0)",
        "mean": "numpy.mean(axis=0), float32",
        "median": "numpy.median(axis=0), float32",
    }
    for k, name in names.items():
        if k in t:
            print(f"  {name:34s} {t[k][0] * 1e3:10.3f} ms wall {t[k][1] * 1e3:10.3f} ms cpu")

    def ratio(a, b):
        return t[a][0] / t[b][0], t[a][1] / t[b][1]

    def line(label, a, b, target=None, ok=None):
        w, c = ratio(a, b)
        verdict = "" if target is None else (
            f"   target {target}: {'MET' if ok(w) else 'NOT MET'} (wall)")
        print(f"  {label:40s} {w:8.3f} wall {c:8.3f} cpu{verdict}")

    if "mean" in t:
        line("majority / float32 mean", "majority", "mean", "<= 0.25", lambda x: x <= 0.25)
    if "median" in t:
        line("median / majority", "median", "majority", ">= 100", lambda x: x >= 100)
    line("majority / copyto of packed bytes", "majority", "copyto", "<= 4", lambda x: x <= 4)
    if r["compiled"]:
        line("majority (compiled, 1 thread) / copyto", "majority", "copyto", "<= 1",
             lambda x: x <= 1)
    else:
        print("  (numba unavailable: the compiled count's target <= 1 is not measured)")
    line("majority, numpy path / copyto", "numpy_path", "copyto")
    if "xor_compiled" in t:
        line("xor floor (1 thread) / copyto [floor]", "xor_compiled", "copyto")
        line("majority (1 thread) / its xor floor", "majority", "xor_compiled")
    if "xor_threads" in t:  # information only: the copy it is compared with is one thread
        line(f"majority, {r['threads']} threads / copyto (1 thread)", "two_threads", "copyto")
        line(f"xor floor ({r['threads']} threads) / copyto", "xor_threads", "copyto")
    line("np.bitwise_xor.reduce / copyto", "xor_numpy", "copyto")
    w, c = ratio("majority", "copy")
    print(f"  {'majority / packed.copy() (allocating)':40s} {w:8.3f} wall {c:8.3f} cpu   "
          f"(fraction of copyto bandwidth: {t['copyto'][0] / t['majority'][0]:.0%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[15, 49, 101])
    ap.add_argument("--d", type=int, default=11_000_000)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--median", action=argparse.BooleanOptionalAction, default=None,
                    help="also time np.median(axis=0) (default: only for n = 15)")
    ap.add_argument("--max-floats", type=float, default=1.2e9,
                    help="skip the float32 cases above this many floats (memory)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    a = ap.parse_args()
    if a.quick:
        a.d, a.repeats = 100_000, 3
    for n in a.n:
        median = (n == 15) if a.median is None else a.median
        report(run(n, a.d, a.repeats, median, a.max_floats))


if __name__ == "__main__":
    main()
