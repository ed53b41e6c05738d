"""The master's packed majority against copying its input and against its read floor.

Three cases per n, timed round-robin on the same packed votes (every repeat runs each once, in
turn, so a busy moment of a shared machine falls on all of them), medians of the repeats:

* ``majority`` -- :func:`electionlib.votes.majority` as the trainer calls it (the compiled
  count of :mod:`electionlib._vote_kernels` on one thread when numba is available);
* ``copyto`` -- ``np.copyto`` of the packed input into a preallocated array (the anchor);
* ``xor_floor`` -- the XOR of the n rows run by the same compiled executor (same blocks and
  prefetch): the least work of reading n rows and writing one. Where it is above the copy, a
  count cannot be at or below the copy on one thread, and the floor is the measured reason.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from .. import _validate as v
from .. import votes

__all__ = ["MAJORITY_COPY_TARGET", "majority_floor_table", "majority_floor_targets"]

#: The packed majority may take at most this many times the copy of its input.
MAJORITY_COPY_TARGET = 1.0


def _xor_floor(packed: np.ndarray):
    K = votes._vote_kernels()
    if not votes._use_vote_kernel():
        return None
    n, nb = packed.shape
    src = ([(K.SRC_AND, 2, 2, 0)] if n == 1 else
           [(K.SRC_XOR, 2, 3, 0)] + [(K.SRC_XOR, 0, 2 + i, 0) for i in range(2, n)])
    prog = K.program(src, n, False, 0)
    out = np.empty(nb, dtype=np.uint8)
    K.run(prog, packed, None, None, out, None)
    if not np.array_equal(out, np.bitwise_xor.reduce(packed, axis=0)):  # pragma: no cover
        raise AssertionError("the compiled XOR floor does not compute the XOR")
    return lambda: K.run(prog, packed, None, None, out, None)


def majority_floor_table(ns=(15, 49, 101), d: int = 11_000_000, repeats: int = 7,
                         seed: int = 0) -> pd.DataFrame:
    """Seconds of the majority, the copy and the XOR floor per n, and their ratios.

    Returns:
        One row per n: ``n, d, majority_s, copyto_s, xor_floor_s`` (NaN without numba),
        ``ratio`` (majority / copyto), ``floor_ratio`` (xor floor / copyto), ``compiled``,
        ``repeats``.
    """
    d = v.integer("d", d, lo=1)
    repeats = v.integer("repeats", repeats, lo=1)
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        n = v.integer("n", n, lo=1)
        packed = rng.integers(0, 256, size=(n, -(-d // 8)), dtype=np.uint8)
        dst = np.empty_like(packed)
        cases = {"majority": lambda p=packed: votes.majority(p, d),
                 "copyto": lambda p=packed, o=dst: np.copyto(o, p)}
        floor = _xor_floor(packed)
        if floor is not None:
            cases["xor_floor"] = floor
        for fn in cases.values():
            fn()  # warm-up (and compile)
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(repeats):
            for k, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(ts) for k, ts in times.items()}
        xf = med.get("xor_floor", float("nan"))
        rows.append({"n": n, "d": d, "majority_s": med["majority"], "copyto_s": med["copyto"],
                     "xor_floor_s": xf, "ratio": med["majority"] / med["copyto"],
                     "floor_ratio": xf / med["copyto"], "compiled": floor is not None,
                     "repeats": repeats})
    return pd.DataFrame(rows)


def majority_floor_targets(table: pd.DataFrame) -> pd.DataFrame:
    """Per n, majority / copy ``<=`` :data:`MAJORITY_COPY_TARGET`, in the form of
    :func:`electionlib.perf.targets`; the note gives the one-thread XOR floor over the copy.

    Example:
        >>> t = pd.DataFrame([dict(n=49, d=8, majority_s=1.1, copyto_s=1.0, xor_floor_s=1.05,
        ...                        ratio=1.1, floor_ratio=1.05, compiled=True, repeats=7)])
        >>> r = majority_floor_targets(t).iloc[0]
        >>> bool(r.met), "floor" in r.note
        (False, True)
    """
    out = []
    for r in table.itertuples(index=False):
        if r.compiled:
            floor = (f"XOR read floor (1 thread) / copy = {r.floor_ratio:.2f}"
                     + (": reading the rows alone takes longer than the copy"
                        if r.floor_ratio > MAJORITY_COPY_TARGET else ""))
        else:
            floor = "numba unavailable: the numpy path runs, no floor measured"
        out.append({"target": f"packed majority / copy of its input, n={r.n}, d={r.d:,}",
                    "measured": float(r.ratio), "op": "<=", "threshold": MAJORITY_COPY_TARGET,
                    "met": bool(r.ratio <= MAJORITY_COPY_TARGET),
                    "note": f"medians of {r.repeats} round-robin repeats: majority "
                            f"{r.majority_s * 1e3:.2f} ms, copy {r.copyto_s * 1e3:.2f} ms; "
                            f"{floor}"})
    return pd.DataFrame(out, columns=["target", "measured", "op", "threshold", "met", "note"])
