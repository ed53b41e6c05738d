"""Performance measurements: cost vs n, d and b, side by side, as tidy tables.

Every function here *measures* and returns a ``pandas.DataFrame``; nothing asserts an
absolute time. Ratios (the project's performance targets) are only ever taken between rows
measured in the same table, i.e. in the same run on the same machine, on the same inputs.

* :func:`median_time` -- warm-up calls (dropped), then the median of timed repeats;
* :func:`aggregation_table` -- master-side cost of n messages of dimension d: the packed
  majority vote beside the float32 rules of :mod:`electionlib.aggregators`, the DRACO
  decoders, and two memory-bandwidth anchors (copying the packed votes / the floats);
* :func:`fit_loglog`, :func:`fit_power`, :func:`power_table` -- cost curves fitted on the
  cases that ran (slopes of log time vs log n or log d; ``c * n**a * d**b``);
* :func:`encode_table` -- worker-side cost: local majority over r partitions + packing vs
  the per-partition gradient it follows (LeNet-5 on Fashion-MNIST, logistic regression on
  Amazon);
* :func:`verify_table`, :func:`montecarlo_table` -- exhaustive Lemma 2 verification time vs
  n, Monte-Carlo throughput;
* :func:`targets` -- one row per target of the issue, met or not;
* :func:`run_benchmarks` -- all of the above at a profile's sizes (:data:`SIZES`), cached as
  CSV under ``results/bench/<profile>/`` with a ``machine.json``.

The benchmark scripts under ``benchmarks/`` and notebook 06 are thin wrappers around these.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import _validate as v
from . import aggregators, codes, draco, montecarlo, tolerance, train
from . import votes as V
from ._progress import progress as _bar
from .experiments import atomic_write_text, results_dir

__all__ = [
    "SIZES",
    "AGG_RULES",
    "AGG_COLUMNS",
    "median_time",
    "aggregation_table",
    "fit_loglog",
    "fit_power",
    "power_table",
    "PowerFit",
    "encode_table",
    "verify_table",
    "montecarlo_table",
    "targets",
    "format_targets",
    "machine_info",
    "run_benchmarks",
]

#: Every rule :func:`aggregation_table` knows, in the order it runs them.
AGG_RULES: tuple[str, ...] = (
    "majority",
    "copy_packed",
    "copy_float32",
    "mean",
    "median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "bulyan",
    "geometric_median",
    "centered_clipping",
    "brsgd",
    "draco_repetition",
    "draco_cyclic",
)
#: Rules whose input is the packed 1-bit votes (``n * ceil(d/8)`` bytes).
_PACKED_RULES = ("majority", "copy_packed")
#: Rules that work column by column, so that ``d`` may be processed in chunks.
_SEPARABLE = ("majority", "copy_packed", "copy_float32", "mean", "median", "trimmed_mean")
_DRACO = {"draco_repetition": "repetition", "draco_cyclic": "cyclic"}

#: Columns of :func:`aggregation_table`.
AGG_COLUMNS = [
    "rule", "n", "d", "f", "params", "seconds", "min_seconds", "repeats", "status", "reason",
    "input_bytes",
]

_ISSUE_N, _ISSUE_D = 15, 11_000_000  # where the issue states the majority targets

#: Sizes of each profile. ``ci``: tiny, seconds, no Fashion-MNIST (the test suite and
#: notebook 06 in a fresh clone); ``quick``: the issue's n and d with a 15 s limit per case
#: and few repeats (a few minutes on a 2-core machine); ``full``: everything the issue asks
#: (1-minute limit, 5 repeats, d processed in chunks of 10^6 columns where n*d is too big).
SIZES: dict[str, dict[str, dict]] = {
    "ci": {
        "aggregation": {"ns": (5, 9), "ds": (1_000, 10_000), "repeats": 3, "time_limit": 5.0,
                        "budget": 1.0, "max_floats": 2e8, "chunk": None},
        "encode": {"models": ("mlp", "logreg"), "rs": (1, 2, 3), "repeats": 5, "budget": 1.0},
        "verify": {"ns": (5, 7, 9, 11), "repeats": 1},
        "montecarlo": {"ns": (9,), "trials": 8_192, "repeats": 1},
    },
    "quick": {
        "aggregation": {"ns": (5, 9, 15, 49, 101), "ds": (263_500, 1_000_000, 11_000_000),
                        "repeats": 3, "time_limit": 15.0, "budget": 2.0, "max_floats": 2e8,
                        "chunk": None},
        "encode": {"models": ("lenet5", "logreg"), "rs": (1, 2, 3, 5), "repeats": 30,
                   "budget": 5.0},
        "verify": {"ns": tuple(range(5, 26, 2)), "repeats": 3},
        "montecarlo": {"ns": (9, 15), "trials": 100_000, "repeats": 1},
    },
    "full": {
        "aggregation": {"ns": (5, 9, 15, 49, 101), "ds": (263_500, 1_000_000, 11_000_000),
                        "repeats": 5, "time_limit": 60.0, "budget": 60.0, "max_floats": 2e8,
                        "chunk": 1_000_000},
        "encode": {"models": ("lenet5", "logreg"), "rs": (1, 2, 3, 5), "repeats": 100,
                   "budget": 20.0},
        "verify": {"ns": tuple(range(5, 26, 2)), "repeats": 5},
        "montecarlo": {"ns": (9, 15, 21), "trials": 1_000_000, "repeats": 1},
    },
}


# --------------------------------------------------------------------------- timing


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                budget: float | None = None) -> dict:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` dropped calls.

    Args:
        fn: zero-argument callable.
        repeats: timed calls wanted, >= 1.
        warmup: untimed calls first (caches, lazy initialisation), >= 0.
        budget: seconds; if given, stop repeating once this much time has been spent
            (warm-up included). At least one timed call is always made.

    Returns:
        ``dict(seconds=median, min=fastest, repeats=timed calls actually made)``.

    Example:
        >>> r = median_time(lambda: sum(range(1000)), repeats=3)
        >>> r["repeats"], r["min"] <= r["seconds"]
        (3, True)
        >>> median_time(lambda: time.sleep(0.02), repeats=50, warmup=0, budget=0.05)["repeats"] < 50
        True
    """
    repeats = v.integer("repeats", repeats, lo=1)
    warmup = v.integer("warmup", warmup, lo=0)
    if budget is not None:
        budget = v.real("budget", budget, lo=0.0)
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if budget is not None and t1 - start >= budget:
            break
    return {"seconds": statistics.median(times), "min": min(times), "repeats": len(times)}


def _grad_encode_times(grad: Callable, encoders: Sequence[Callable], repeats: int,
                       warmup: int, budget: float | None) -> tuple[dict, list[dict]]:
    """Time ``grad(); enc()`` for each ``enc`` of ``encoders`` in turn, round after round
    (g, e1, g, e2, g, e1, ...): medians measured side by side, so that a change of load on a
    shared machine affects all alike, and every encode reads the gradient computed just
    before it. Returns the gradient's summary and one summary per encoder."""
    start = time.perf_counter()
    for _ in range(warmup):
        for enc in encoders:
            grad()
            enc()
    tg: list[float] = []
    te: list[list[float]] = [[] for _ in encoders]
    while len(te[0]) < repeats:
        for enc, times in zip(encoders, te, strict=True):
            t0 = time.perf_counter()
            grad()
            t1 = time.perf_counter()
            enc()
            t2 = time.perf_counter()
            tg.append(t1 - t0)
            times.append(t2 - t1)
        if budget is not None and t2 - start >= budget:
            break

    def summary(ts):
        return {"seconds": statistics.median(ts), "min": min(ts), "repeats": len(ts)}

    return summary(tg), [summary(t) for t in te]


# --------------------------------------------------------------------------- aggregation


def _max_f(rule: str, n: int) -> int | None:
    """Largest f <= (n-1)//2 the aggregator ``rule`` accepts with n rows (None if none)."""
    for f in range((n - 1) // 2, -1, -1):
        try:
            if aggregators.requires(rule, f) <= n:
                return f
        except ValueError:  # mean with f >= 1
            continue
    return None


def _draco_s(kind: str, n: int) -> int | None:
    """Largest s >= 1, s <= (n-1)//2, for which the DRACO code exists with P = n workers.

    Repetition needs groups of r = 2s + 1 workers dividing n; cyclic needs n >= 2s + 1.
    """
    for s in range((n - 1) // 2, 0, -1):
        if kind == "cyclic" or n % (2 * s + 1) == 0:
            return s
    return None


def _cap_units(rule: str, n: int, d: int) -> float:
    """What the memory cap ``max_floats`` is compared with for one case.

    Float rules: ``n * d`` float32 values. Packed votes: ``n * ceil(d/8)`` bytes (bits / 8).
    DRACO cyclic: its complex128 messages count as 4 float32 values each (bytes / 4).
    """
    if rule in _PACKED_RULES:
        return float(n * ((d + 7) // 8))
    if rule == "draco_cyclic":
        return 4.0 * n * d
    return float(n * d)


def _input_bytes(rule: str, n: int, d: int) -> int:
    if rule in _PACKED_RULES:
        return n * ((d + 7) // 8)
    if rule == "draco_cyclic":
        return 16 * n * d
    return 4 * n * d


class _Inputs:
    """The inputs of one (n, width) case, drawn lazily once and shared by all rules.

    ``packed``: uniformly random bits, i.e. the packed votes of random +-1 signs
    (padding bits zero); ``floats``: standard Gaussian float32 ``(n, width)``.
    """

    def __init__(self, n: int, width: int, seed: int):
        self.n, self.width, self.seed = n, width, seed
        self._packed: np.ndarray | None = None
        self._floats: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._packed, self._floats) if a is not None)

    @property
    def packed(self) -> np.ndarray:
        if self._packed is None:
            rng = np.random.default_rng([self.seed, self.n, self.width, 0])
            p = rng.integers(0, 256, size=(self.n, (self.width + 7) // 8), dtype=np.uint8)
            p[:, -1] &= V._tail_mask(self.width)
            self._packed = p
        return self._packed

    @property
    def floats(self) -> np.ndarray:
        if self._floats is None:
            rng = np.random.default_rng([self.seed, self.n, self.width, 1])
            self._floats = rng.standard_normal((self.n, self.width), dtype=np.float32)
        return self._floats


def _kernel(rule: str, n: int, f: int, inp: _Inputs) -> tuple[Callable[[int], object], str]:
    """``(call(width), params)``: one aggregation of the first ``width`` columns of ``inp``."""
    W = inp.width

    def cols(a: np.ndarray, w: int, packed: bool = False) -> np.ndarray:
        end = (w + 7) // 8 if packed else w
        return a if end == a.shape[1] else a[:, :end]

    if rule == "majority":
        P = inp.packed
        return (lambda w: V.majority(cols(P, w, True), w)), "packed 1-bit votes"
    if rule == "copy_packed":
        P = inp.packed
        dst = np.empty_like(P)
        return (lambda w: np.copyto(cols(dst, w, True), cols(P, w, True))), "np.copyto"
    if rule == "copy_float32":
        X = inp.floats
        dst = np.empty_like(X)
        return (lambda w: np.copyto(cols(dst, w), cols(X, w))), "np.copyto"
    if rule in _DRACO:
        kind = _DRACO[rule]
        X = inp.floats
        if kind == "repetition":
            code = draco.repetition(n, f)
            msgs = code.encode(X)  # float32 group sums: identical within each group
        else:
            code = draco.cyclic(n, f)
            # A valid codeword without the O(r n d) encoding: encode a block of columns and
            # tile it along d (columns are independent; the decoder's work does not depend
            # on the values, only on their shape and on the absence of adversaries).
            c = min(W, 8192)
            small = code.encode(X[:, :c])
            msgs = np.empty((n, W), dtype=np.complex128)
            for c0 in range(0, W, c):
                w = min(c, W - c0)
                msgs[:, c0 : c0 + w] = small[:, :w]
        return (lambda w: code.decode(msgs)), f"s={f}, r={2 * f + 1}, honest messages"

    cls = aggregators.REGISTRY[rule]
    params = {"f": f} if "f" in cls.PARAMS else {}
    agg = aggregators.get(rule, **params)
    X = inp.floats
    desc = ", ".join(f"{k}={val}" for k, val in agg._params().items()) or "-"
    if rule == "centered_clipping":
        desc += " (stateful: timed calls start from the previous output)"
    return (lambda w: agg(cols(X, w))), desc


def _timeout_blocker(timeouts: dict, rule: str, n: int, d: int) -> str | None:
    for n2, d2, t in timeouts.get(rule, ()):
        if n2 <= n and d2 <= d:
            return f"a smaller case (n={n2}, d={d2:,}) took {t:.3g} s"
    return None


def _predicted(done: dict, rule: str, n: int, d: int) -> tuple[float, int, int, float] | None:
    """Linear-in-(n d) extrapolation from the largest smaller case of the same rule that ran.

    Every rule reads all ``n d`` input values, so this is a lower bound on the cost of the
    larger case, except when the smaller case is dominated by fixed overheads: only cases
    that took at least 10 ms are used. ``done`` holds ``(n, d, seconds)`` per rule: the
    fastest timed call of each case that ran (the first call of one that timed out).
    """
    best = None
    for n2, d2, t in done.get(rule, ()):
        if n2 <= n and d2 <= d and t >= 0.01 and (best is None or n2 * d2 > best[1] * best[2]):
            best = (t * (n * d) / (n2 * d2), n2, d2, t)
    return best


def aggregation_table(
    ns: Sequence[int] = (5, 9, 15, 49, 101),
    ds: Sequence[int] = (263_500, 1_000_000, 11_000_000),
    rules: Sequence[str] | None = None,
    repeats: int = 5,
    max_floats: float = 2e8,
    time_limit: float = 60.0,
    chunk: int | None = None,
    seed: int = 0,
    progress: bool = True,
    budget: float | None = None,
) -> pd.DataFrame:
    """Master-side cost of aggregating n messages of dimension d, every rule on the same inputs.

    Rules (:data:`AGG_RULES`): ``majority`` (:func:`electionlib.votes.majority` on packed
    1-bit votes), ``copy_packed`` and ``copy_float32`` (``np.copyto`` of the packed votes /
    of the float32 ``(n, d)`` array into a preallocated array: the memory-bandwidth
    anchors), the aggregators of :mod:`electionlib.aggregators` on the float32 array, and
    the DRACO decoders (``draco_repetition``, ``draco_cyclic``; decoding only, on honest
    messages encoded from the same float32 array).

    Parameters of the rules, chosen per n and recorded in ``f`` and ``params``:

    * ``f`` given to a rule is the largest value it accepts with n rows, capped at
      ``(n-1)//2`` (:func:`electionlib.aggregators.requires`): ``(n-1)//2`` for median,
      trimmed mean, geometric median, centered clipping and BrSGD, ``(n-3)//2`` for
      (Multi-)Krum, ``(n-3)//4`` for Bulyan, 0 for the mean. Only rules configured by f
      receive it; for the others it is the number of Byzantine rows they tolerate.
      ``majority`` records ``(n-1)//2`` (an honest majority), the copies 0;
    * DRACO: ``s = f`` is the largest ``s >= 1`` the code supports with ``P = n``: repetition
      needs groups of ``2s+1`` dividing n, cyclic needs ``n >= 2s+1``. For odd n both give
      ``s = (n-1)//2`` (one group of n for repetition). Where no ``s >= 1`` exists the
      case is skipped with that reason;
    * other parameters are the defaults of :func:`electionlib.aggregators.get`.
      ``centered_clipping`` is stateful: the warm-up call starts from the median, the timed
      calls from the previous output, which is its per-step cost in training.

    Inputs: random +-1 signs (packed) and standard Gaussian float32 values, drawn once per
    ``(n, d)`` from ``seed`` and shared by all rules; freed before the next ``(n, d)``.

    Memory cap: a case whose size exceeds ``max_floats`` is skipped (status ``skipped``,
    reason printed and recorded). The size is ``n*d`` float32 values for float rules,
    ``n*ceil(d/8)`` bytes for the packed rules (so ``majority`` and ``copy_packed`` still run
    at n = 101, d = 1.1e7), and ``4*n*d`` for ``draco_cyclic`` (complex128 messages). With
    ``chunk`` set, the column-wise rules (majority, copies, mean, median, trimmed mean)
    process such a case as ``ceil(d/chunk)`` blocks of ``chunk`` columns (one block of
    inputs reused; the time is that of the whole loop; ``reason`` says so).

    Time limit: the first call of a case is its warm-up and its estimate. If it takes more
    than ``time_limit`` seconds the case is recorded with that time and status
    ``timeout`` and not repeated; every larger case of the same rule (n and d both at
    least as large) is then skipped ("a smaller case took X s"), as is any case whose
    time, extrapolated linearly in ``n*d`` from the fastest call of a smaller case of the
    same rule that took at least 10 ms, exceeds ``time_limit`` ("predicted ..."; every rule
    here is at least linear in ``n*d``, so this is a lower bound up to timing noise).
    Otherwise the case is timed
    ``repeats`` times, or until ``budget`` seconds (default ``time_limit``) are spent.

    Args:
        ns, ds: numbers of messages and dimensions.
        rules: subset of :data:`AGG_RULES` (default all).
        repeats: timed repeats per case (after the warm-up), >= 1.
        max_floats: memory cap of one case (see above).
        time_limit: seconds (see above), >= 0.
        chunk: columns per block for oversized column-wise cases, or None (skip them).
        seed: seed of the inputs.
        progress: show a progress bar.
        budget: seconds of timed repeats per case (default ``time_limit``).

    Returns:
        One row per (rule, n, d) with the columns :data:`AGG_COLUMNS`: ``seconds`` (median),
        ``min_seconds``, ``repeats`` (timed calls), ``status`` (``ok``, ``timeout``,
        ``skipped``), ``reason`` (why skipped/timed out, or how it was chunked),
        ``input_bytes`` (bytes of the rule's input message array for the full d).

    Example:
        >>> t = aggregation_table(ns=(5,), ds=(64,), rules=("majority", "median"),
        ...                       repeats=1, progress=False)
        >>> t[["rule", "n", "d", "f", "status"]].values.tolist()
        [['majority', 5, 64, 2, 'ok'], ['median', 5, 64, 2, 'ok']]
    """
    rules = tuple(AGG_RULES if rules is None else rules)
    for r in rules:
        v.choice("rule", r, AGG_RULES)
    ns = [v.integer("n", n, lo=1) for n in ns]
    ds = [v.integer("d", d, lo=1) for d in ds]
    repeats = v.integer("repeats", repeats, lo=1)
    max_floats = v.real("max_floats", max_floats, lo=0.0)
    time_limit = v.real("time_limit", time_limit, lo=0.0)
    budget = time_limit if budget is None else v.real("budget", budget, lo=0.0)
    if chunk is not None:
        chunk = -(-v.integer("chunk", chunk, lo=1) // 8) * 8  # whole bytes of packed votes
    cases = [(d, n, rule) for d in sorted(set(ds)) for n in sorted(set(ns)) for rule in rules]
    rows: list[dict] = []
    timeouts: dict[str, list] = {}
    done: dict[str, list] = {}
    inputs: dict[tuple[int, int], _Inputs] = {}
    current = None
    for d, n, rule in _bar(cases, len(cases), "aggregation", progress):
        if (n, d) != current:  # free the previous (n, d)'s arrays before drawing new ones
            current = (n, d)
            _free(inputs)
        row = _agg_case(rule, n, d, repeats, max_floats, time_limit, budget, chunk, seed,
                        timeouts, done, inputs)
        if row["status"] == "skipped":
            print(f"skip {rule} n={n} d={d:,}: {row['reason']}", flush=True)
        elif row["status"] == "timeout":
            print(f"timeout {rule} n={n} d={d:,}: {row['reason']}", flush=True)
        rows.append(row)
    _free(inputs)
    return pd.DataFrame(rows, columns=AGG_COLUMNS)


def _free(inputs: dict) -> None:
    """Drop the inputs; collect garbage only after big arrays (a collection costs ~0.1 s)."""
    big = sum(inp.nbytes for inp in inputs.values()) >= 1 << 28
    inputs.clear()
    if big:
        gc.collect()


def _agg_case(rule, n, d, repeats, max_floats, time_limit, budget, chunk, seed, timeouts,
              done, inputs) -> dict:
    """Measure one (rule, n, d) case; see :func:`aggregation_table`."""
    row = {"rule": rule, "n": n, "d": d, "f": 0, "params": "", "seconds": np.nan,
           "min_seconds": np.nan, "repeats": 0, "status": "skipped", "reason": "",
           "input_bytes": _input_bytes(rule, n, d)}
    if rule in _DRACO:
        f = _draco_s(_DRACO[rule], n)
        if f is None:
            need = "2s+1 dividing n" if rule == "draco_repetition" else "n >= 2s+1"
            row["reason"] = f"no s >= 1 for which the DRACO {_DRACO[rule]} code exists ({need})"
            return row
    elif rule == "majority":
        f = (n - 1) // 2
    elif rule.startswith("copy_"):
        f = 0
    else:
        f = _max_f(rule, n)
        if f is None:
            row["reason"] = f"{rule} cannot run with n={n} rows"
            return row
    row["f"] = f
    units = _cap_units(rule, n, d)
    width = d
    if units > max_floats:
        what = "bytes of packed votes" if rule in _PACKED_RULES else "float32 values"
        over = f"{units:.3g} {what} > max_floats={max_floats:.3g}"
        if chunk is None or rule not in _SEPARABLE or chunk >= d:
            row["reason"] = over
            return row
        width = chunk
        if _cap_units(rule, n, width) > max_floats:
            row["reason"] = f"{over}, and even one chunk of {chunk:,} columns is too big"
            return row
    blocker = _timeout_blocker(timeouts, rule, n, d)
    if blocker:
        row["reason"] = blocker
        return row
    pred = _predicted(done, rule, n, d)
    if pred is not None and pred[0] > time_limit:
        t_pred, n2, d2, t2 = pred
        row["reason"] = (f"predicted >= {t_pred:.3g} s > time_limit={time_limit:g} s (scaled "
                         f"linearly in n*d from n={n2}, d={d2:,}, which took {t2:.3g} s)")
        return row
    key = (n, width) if width == d else (n, width, "chunk")
    if key not in inputs:
        _free(inputs)
        inputs[key] = _Inputs(n, width, seed)
    try:
        call, params = _kernel(rule, n, f, inputs[key])
    except MemoryError:
        row["reason"] = "out of memory while preparing the inputs"
        return row
    row["params"] = params
    if width == d:
        def fn():
            return call(d)
    else:
        widths = [width] * (d // width) + ([d % width] if d % width else [])
        row["reason"] = f"chunked: {len(widths)} blocks of {width:,} columns ({over})"

        def fn():
            for w in widths:
                call(w)
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter() - t0
    if t1 > time_limit:
        timeouts.setdefault(rule, []).append((n, d, t1))
        done.setdefault(rule, []).append((n, d, t1))
        row.update(seconds=t1, min_seconds=t1, repeats=1, status="timeout",
                   reason=f"first call took {t1:.3g} s > time_limit={time_limit:g} s")
        return row
    r = median_time(fn, repeats=repeats, warmup=0, budget=budget)
    done.setdefault(rule, []).append((n, d, r["min"]))  # the least noisy estimate
    row.update(seconds=r["seconds"], min_seconds=r["min"], repeats=r["repeats"], status="ok")
    return row


# --------------------------------------------------------------------------- fits


def _ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table.columns else table


def _linfit(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``ly = slope * lx + intercept`` and its R^2."""
    A = np.column_stack([lx, np.ones_like(lx)])
    (slope, intercept), *_ = np.linalg.lstsq(A, ly, rcond=None)
    return float(slope), float(intercept), _r2(ly, A @ np.array([slope, intercept]))


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res <= 1e-24 else float("nan")
    return 1.0 - ss_res / ss_tot


def fit_loglog(table: pd.DataFrame, x: str = "n", y: str = "seconds",
               by: str | Sequence[str] = ("rule", "d")) -> pd.DataFrame:
    """Slope, intercept and R^2 of ``log y`` against ``log x`` (natural logs), per group.

    Only rows with status ``ok`` (when the table has a ``status`` column) and positive,
    finite x and y are fitted; every group of the table gets a row, with NaN where it has
    fewer than 2 distinct x values. ``y ~ exp(intercept) * x**slope``.

    Args:
        table: e.g. :func:`aggregation_table`.
        x, y: column names.
        by: grouping column(s).

    Returns:
        Columns ``*by, slope, intercept, r2, points``.

    Example:
        >>> t = pd.DataFrame({"rule": "r", "d": 1, "n": [1, 2, 4, 8]})
        >>> t["seconds"] = 3.0 * t.n ** 2
        >>> fit = fit_loglog(t).iloc[0]
        >>> [round(float(x), 9) for x in (fit.slope, np.exp(fit.intercept), fit.r2, fit.points)]
        [2.0, 3.0, 1.0, 4.0]
    """
    by = [by] if isinstance(by, str) else list(by)
    ok = _ok_rows(table)
    rows = []
    for key, _ in table.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        sel = ok
        for col, val in zip(by, key, strict=True):
            sel = sel[sel[col] == val]
        xs = sel[x].to_numpy(dtype=float)
        ys = sel[y].to_numpy(dtype=float)
        good = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
        xs, ys = xs[good], ys[good]
        slope = intercept = r2 = float("nan")
        if np.unique(xs).size >= 2:
            slope, intercept, r2 = _linfit(np.log(xs), np.log(ys))
        rows.append({**dict(zip(by, key, strict=True)), "slope": slope, "intercept": intercept,
                     "r2": r2, "points": int(xs.size)})
    return pd.DataFrame(rows, columns=[*by, "slope", "intercept", "r2", "points"])


class PowerFit(NamedTuple):
    """``seconds ~ c * n**a * d**b`` (least squares in log space) and its R^2 there."""

    c: float
    a: float
    b: float
    r2: float


def fit_power(table: pd.DataFrame, rule: str) -> PowerFit:
    """Fit ``seconds = c * n**a * d**b`` on the ``ok`` rows of ``rule``, in log space.

    An exponent is NaN when its variable takes a single value among those rows (it is then
    absorbed into ``c``); everything is NaN with fewer rows than free parameters.

    Returns:
        :class:`PowerFit` ``(c, a, b, r2)``.

    Example:
        >>> t = pd.DataFrame([(n, d) for n in (3, 5, 9) for d in (10, 100)], columns=["n", "d"])
        >>> t["rule"], t["seconds"] = "x", 2e-3 * t.n ** 1.5 * t.d ** 0.5
        >>> [round(val, 9) for val in fit_power(t, "x")]
        [0.002, 1.5, 0.5, 1.0]
    """
    sel = _ok_rows(table)
    sel = sel[sel["rule"] == rule]
    n = sel["n"].to_numpy(dtype=float)
    d = sel["d"].to_numpy(dtype=float)
    s = sel["seconds"].to_numpy(dtype=float)
    good = np.isfinite(s) & (s > 0) & (n > 0) & (d > 0)
    n, d, s = n[good], d[good], s[good]
    nan = float("nan")
    cols = [np.ones_like(s)]
    use_n, use_d = np.unique(n).size >= 2, np.unique(d).size >= 2
    if use_n:
        cols.append(np.log(n))
    if use_d:
        cols.append(np.log(d))
    if s.size < len(cols) or s.size == 0:
        return PowerFit(nan, nan, nan, nan)
    A = np.column_stack(cols)
    beta, *_ = np.linalg.lstsq(A, np.log(s), rcond=None)
    coef = iter(beta[1:])
    a = float(next(coef)) if use_n else nan
    b = float(next(coef)) if use_d else nan
    return PowerFit(float(np.exp(beta[0])), a, b, _r2(np.log(s), A @ beta))


def power_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`fit_power` for every rule of ``table``: columns ``rule, c, a, b, r2, points``."""
    rows = []
    for rule in dict.fromkeys(table["rule"]):
        fit = fit_power(table, rule)
        pts = int((_ok_rows(table)["rule"] == rule).sum())
        rows.append({"rule": rule, **fit._asdict(), "points": pts})
    return pd.DataFrame(rows, columns=["rule", "c", "a", "b", "r2", "points"])


# --------------------------------------------------------------------------- worker side

#: model key -> (dataset, model name) for :func:`encode_table`.
_ENCODE_MODELS = {"lenet5": ("fmnist", "lenet"), "logreg": ("amazon", "logreg"),
                  "mlp": ("digits", "mlp")}
_ENCODE_FALLBACK = {"lenet5": "mlp"}


def encode_table(
    models: Sequence[str] = ("lenet5", "logreg"),
    rs: Sequence[int] = (1, 2, 3, 5),
    repeats: int = 30,
    warmup: int = 3,
    budget: float | None = 10.0,
    tie: str | None = None,
    threads: int = 1,
    seed: int = 0,
    progress: bool = True,
    compare_numpy: bool = True,
) -> pd.DataFrame:
    """Worker-side cost: local majority over r partitions + packing vs one partition's gradient.

    For each model, one step of the trainer's data pipeline (:class:`TrainConfig` defaults:
    batch 16 per partition, initial weights, seed ``seed``) gives ``max(rs)`` partition
    gradients. For each r, two functions are timed alternately (side by side):

    * the gradients of the worker's r partitions, one call of the trainer's gradient function
      each (as an MPI rank in parity mode), timed together and divided by r: the
      per-partition gradient time;
    * what a worker holding r partitions does before sending: :func:`votes.worker_vote` of
      its r gradients (signs with ``sign(0)`` by the tie rule, local majority, packed; the
      same bits as ``sign_bits`` + ``encode``), with the trainer's tie rule (default
      ``coin``) -- as the MPI worker does -- plus the concatenation of the presence mask
      under ``abstain``. It reads the gradients just computed (timed right after them), as a
      worker does; an encode of a stale array that the gradient evicted from the caches
      measured about twice as long.

    ``ratio = encode_seconds / grad_seconds_per_partition`` (the project's target: <= 0.05 for
    LeNet-5 and r <= 3). ``encoder`` says which encoder ran: ``numba`` (the compiled kernels
    of :mod:`electionlib._kernels`, used under ``coin`` when numba is available) or
    ``numpy``. With ``compare_numpy`` (default) and the compiled encoder in use, the numpy
    encoder is timed too, interleaved in the same loop, each after a fresh gradient:
    ``encode_seconds_numpy`` and ``ratio_numpy`` (NaN otherwise). Torch runs with
    ``threads`` threads (default 1, as an MPI rank), restored afterwards.

    Models: ``lenet5`` (LeNet-5 on Fashion-MNIST; if the dataset is not installed, MLP on
    the bundled ``digits`` instead, said in ``dataset`` and ``note``), ``logreg`` (logistic
    regression on the bundled Amazon data, d = 263,500), ``mlp`` (MLP on digits).

    Returns:
        Columns ``requested, model, dataset, d, r, batch, tie, encoder,
        grad_seconds_per_partition, encode_seconds, ratio, encode_seconds_numpy, ratio_numpy,
        repeats, note``.
    """
    import torch


    rs = [v.integer("r", r, lo=1) for r in rs]
    if not rs:
        raise ValueError("rs must hold at least one r")
    for m in models:
        v.choice("model", m, tuple(_ENCODE_MODELS))
    tie = train.TrainConfig().tie if tie is None else v.choice("tie", tie, V.TIE_RULES)
    threads = v.integer("threads", threads, lo=1)
    kernels_on = V.USE_KERNELS
    compiled = tie == "coin" and V._use_kernels()
    encoder = "numba" if compiled else "numpy"
    compare = bool(compare_numpy) and compiled
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for key in _bar(models, len(models), "encode", progress):
            ds_name, model = _ENCODE_MODELS[key]
            note = ""
            cfg = train.TrainConfig(dataset=ds_name, model=model, n=max(rs), tie=tie, seed=seed)
            try:
                fn, sampler, _, w, _ = train._gradient_setup(cfg)
            except FileNotFoundError as exc:
                if key not in _ENCODE_FALLBACK:
                    raise
                ds_name, model = _ENCODE_MODELS[_ENCODE_FALLBACK[key]]
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                note = (f"{cfg.dataset} not available ({first}); measured {model} on "
                        f"{ds_name} instead")
                print(f"encode_table: {note}", flush=True)
                cfg = dataclasses.replace(cfg, dataset=ds_name, model=model)
                fn, sampler, _, w, _ = train._gradient_setup(cfg)
            idx = sampler.next()
            d = fn.d
            for r in rs:
                gen = np.random.default_rng(seed)
                prngs = [np.random.default_rng([seed, j]) for j in range(r)]
                fresh: list = [None]

                def grad(fn=fn, w=w, idx=idx, r=r, fresh=fresh):
                    # the worker's r partition gradients, one call each (as an MPI rank in
                    # parity mode); the encode below reads them fresh, as a worker does
                    parts = [fn(w, idx[j : j + 1])[0] for j in range(r)]
                    fresh[0] = torch.cat(parts).numpy()

                def encode(gen=gen, prngs=prngs, fresh=fresh):
                    bits, pres = V.worker_vote(fresh[0], tie, partition_rngs=prngs, rng=gen)
                    return bits if pres is None else np.concatenate([bits, pres])

                def encode_numpy(gen=gen, prngs=prngs, fresh=fresh):
                    V.USE_KERNELS = False
                    try:
                        return encode(gen, prngs, fresh)
                    finally:
                        V.USE_KERNELS = kernels_on

                tg, (te, *tn) = _grad_encode_times(
                    grad, [encode, encode_numpy] if compare else [encode], repeats, warmup,
                    budget)
                tn = tn[0] if tn else None
                rows.append({
                    "requested": key, "model": "lenet5" if model == "lenet" else model,
                    "dataset": ds_name, "d": d, "r": r, "batch": idx.shape[1], "tie": tie,
                    "encoder": encoder,
                    "grad_seconds_per_partition": tg["seconds"] / r,
                    "encode_seconds": te["seconds"], "ratio": te["seconds"] * r / tg["seconds"],
                    "encode_seconds_numpy": tn["seconds"] if tn else np.nan,
                    "ratio_numpy": tn["seconds"] * r / tg["seconds"] if tn else np.nan,
                    "repeats": tg["repeats"], "note": note,
                })
    finally:
        torch.set_num_threads(old_threads)
    return pd.DataFrame(rows, columns=[
        "requested", "model", "dataset", "d", "r", "batch", "tie", "encoder",
        "grad_seconds_per_partition", "encode_seconds", "ratio", "encode_seconds_numpy",
        "ratio_numpy", "repeats", "note"])


# --------------------------------------------------------------------------- verification, MC


def verify_table(ns: Iterable[int] = tuple(range(5, 26, 2)), repeats: int = 3,
                 tie: str = "coin", progress: bool = True) -> pd.DataFrame:
    """Time of the exhaustive Lemma 2 check of Algorithm 1 at its largest b, vs n.

    For each odd n, ``b`` is the largest b Algorithm 1 supports (``0 < b < n//2``, i.e.
    ``b = n//2 - 1``; n without such b is left out) and the timed call is
    ``tolerance.verify(codes.deterministic(n, b), b, tie=tie)`` (the code is built once,
    outside the timing). Targets of the issue: n = 21 under 10 s, n = 25 under 2 minutes.

    Returns:
        Columns ``n, b, k, messages, method, seconds, min_seconds, repeats, certified``.

    Example:
        >>> verify_table(ns=(5, 7), repeats=1, progress=False)[["n", "b", "k", "certified"]]
           n  b  k  certified
        0  5  1  5       True
        1  7  2  7       True
    """
    repeats = v.integer("repeats", repeats, lo=1)
    ns = [v.integer("n", n, lo=1) for n in ns]
    rows = []
    for n in _bar(ns, len(ns), "verify", progress):
        if n % 2 == 0 or n // 2 - 1 < 1:
            print(f"verify_table: n={n} skipped (Algorithm 1 needs odd n >= 5)", flush=True)
            continue
        b = n // 2 - 1
        G = codes.deterministic(n, b)
        res: list = []
        t = median_time(lambda G=G, b=b, res=res: res.append(tolerance.verify(G, b, tie=tie)),
                        repeats=repeats, warmup=0)
        out = res[-1]
        rows.append({"n": n, "b": b, "k": G.shape[1], "messages": out.messages_checked,
                     "method": out.method, "seconds": t["seconds"], "min_seconds": t["min"],
                     "repeats": t["repeats"], "certified": bool(out.tolerant)})
    return pd.DataFrame(rows, columns=["n", "b", "k", "messages", "method", "seconds",
                                       "min_seconds", "repeats", "certified"])


def montecarlo_table(ns: Iterable[int] = (9, 15), trials: int = 100_000, S: float = 0.5,
                     repeats: int = 1, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Monte-Carlo throughput: coordinate-trials per second of both estimators.

    * ``fixed``: :func:`electionlib.montecarlo.estimate_fixed` on Algorithm 1's code for
      odd n and ``b = n//2 - 1``, workers ``0..b-1`` Byzantine (worst-case attack; the
      library's packed encoder, attack and decoder kernels);
    * ``ensemble``: :func:`electionlib.montecarlo.estimate_ensemble`, Bernoulli codes of
      expected redundancy 3 (``p = min(1, 3/n)``), the same b.

    Each trial is one gradient coordinate. One small warm-up run precedes the timed runs.

    Returns:
        Columns ``kind, n, b, trials, seconds, coord_trials_per_second``.

    Example:
        >>> t = montecarlo_table(ns=(5,), trials=1000, progress=False)
        >>> t[["kind", "n", "b", "trials"]].values.tolist()
        [['fixed', 5, 1, 1000], ['ensemble', 5, 1, 1000]]
    """
    trials = v.integer("trials", trials, lo=1)
    repeats = v.integer("repeats", repeats, lo=1)
    ns = [v.integer("n", n, lo=5) for n in ns]
    for n in ns:
        if n % 2 == 0:
            raise ValueError(f"n={n} must be odd (Algorithm 1's code is the fixed code)")
    rows = []
    for n in _bar(ns, len(ns), "montecarlo", progress):
        b = n // 2 - 1
        G = codes.deterministic(n, b)
        byz = list(range(b))
        p = min(1.0, 3.0 / n)
        kinds = {
            "fixed": lambda t, G=G, byz=byz: montecarlo.estimate_fixed(
                G, byz, S, trials=t, seed=seed),
            "ensemble": lambda t, n=n, b=b, p=p: montecarlo.estimate_ensemble(
                n, n, p, b, S, trials=t, seed=seed),
        }
        for kind, run in kinds.items():
            run(min(trials, 2048))  # warm-up
            t = median_time(lambda run=run: run(trials), repeats=repeats, warmup=0)
            rows.append({"kind": kind, "n": n, "b": b, "trials": trials,
                         "seconds": t["seconds"],
                         "coord_trials_per_second": trials / t["seconds"]})
    return pd.DataFrame(rows, columns=["kind", "n", "b", "trials", "seconds",
                                       "coord_trials_per_second"])


# --------------------------------------------------------------------------- targets


_TARGET_COLUMNS = ["target", "measured", "op", "threshold", "met", "note"]


def _pair(agg: pd.DataFrame, num: str, den: str) -> tuple[float, str]:
    """``seconds(num) / seconds(den)`` at the (n, d) nearest the issue's (15, 1.1e7)."""
    ok = _ok_rows(agg)
    a = ok[ok["rule"] == num].set_index(["n", "d"])["seconds"]
    b = ok[ok["rule"] == den].set_index(["n", "d"])["seconds"]
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return float("nan"), f"not measured: no (n, d) where both {num} and {den} ran"
    n = min({nn for nn, _ in common}, key=lambda nn: (abs(nn - _ISSUE_N), -nn))
    dd = [d for nn, d in common if nn == n]
    d = _ISSUE_D if _ISSUE_D in dd else max(dd)
    where = f"n={n}, d={d:,}"
    if (n, d) != (_ISSUE_N, _ISSUE_D):
        where += (f" (the issue asks n={_ISSUE_N}, d={_ISSUE_D:,}; nearest n and largest d "
                  f"that ran)")
    ta, tb = float(a[(n, d)]), float(b[(n, d)])
    return ta / tb, f"{where}: {num} {ta:.4g} s, {den} {tb:.4g} s"


def _met(measured: float, op: str, threshold: float) -> bool:
    if not np.isfinite(measured):
        return False
    return {"<=": measured <= threshold, ">=": measured >= threshold,
            "<": measured < threshold}[op]


def targets(agg: pd.DataFrame | None = None, enc: pd.DataFrame | None = None,
            ver: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target of the issue that the given tables measure, met or not.

    * from ``agg`` (:func:`aggregation_table`), at n = 15, d = 1.1e7 or the nearest n and
      largest d where both rules ran (the note says which): majority / mean <= 0.25,
      median / majority >= 100, majority / copy_packed <= 4;
    * from ``enc`` (:func:`encode_table`): the worst encode / gradient ratio over r <= 3
      for LeNet-5, <= 0.05 (a stand-in model if LeNet-5 was not measured: said in the note);
    * from ``ver`` (:func:`verify_table`): verification time at n = 21 < 10 s, n = 25 < 120 s.

    A table passed as ``None`` contributes no rows; a target its table cannot measure gets
    ``measured`` NaN, ``met`` False and a note saying why. Ratios use rows of one table only,
    i.e. measured in the same run.

    Returns:
        Columns ``target, measured, op, threshold, met, note``.

    Example:
        >>> agg = pd.DataFrame({"rule": ["majority", "mean"], "n": 15, "d": 11_000_000,
        ...                     "seconds": [0.01, 0.1], "status": "ok"})
        >>> row = targets(agg).iloc[0]
        >>> row.target, round(float(row.measured), 6), bool(row.met)
        ('majority / mean', 0.1, True)
    """
    rows = []

    def add(target, measured, op, threshold, note):
        rows.append({"target": target, "measured": measured, "op": op,
                     "threshold": threshold, "met": _met(measured, op, threshold),
                     "note": note})

    if agg is not None:
        for num, den, op, thr in (("majority", "mean", "<=", 0.25),
                                  ("median", "majority", ">=", 100.0),
                                  ("majority", "copy_packed", "<=", 4.0)):
            ratio, note = _pair(agg, num, den) if len(agg) else (float("nan"), "not measured")
            add(f"{num} / {den}", ratio, op, thr, note)
    if enc is not None:
        e = enc[enc["r"] <= 3] if len(enc) else enc
        lenet = e[e["model"] == "lenet5"] if len(e) else e
        proxy = ""
        if len(e) and not len(lenet):
            lenet = e[e["model"] != "logreg"]
            if len(lenet):
                proxy = (f"LeNet-5 not measured: stand-in {lenet['model'].iloc[0]} on "
                         f"{lenet['dataset'].iloc[0]}; ")
        if len(lenet):
            worst = lenet.loc[lenet["ratio"].idxmax()]
            note = (f"{proxy}worst r={int(worst['r'])} of r<=3 ({worst['model']} on "
                    f"{worst['dataset']}, d={int(worst['d']):,}): encode "
                    f"{worst['encode_seconds']:.3g} s, gradient "
                    f"{worst['grad_seconds_per_partition']:.3g} s per partition")
            add("encode+pack / per-partition LeNet gradient (r <= 3)", float(worst["ratio"]),
                "<=", 0.05, note)
        else:
            add("encode+pack / per-partition LeNet gradient (r <= 3)", float("nan"), "<=",
                0.05, "not measured: no LeNet (or stand-in) rows with r <= 3")
    if ver is not None:
        for n, thr in ((21, 10.0), (25, 120.0)):
            sel = ver[ver["n"] == n] if len(ver) else ver
            if len(sel):
                row = sel.iloc[0]
                note = (f"b={int(row['b'])}, {int(row['messages']):,} messages, certified="
                        f"{bool(row['certified'])}")
                add(f"verify Algorithm 1, n={n} (seconds)", float(row["seconds"]), "<", thr,
                    note)
            else:
                add(f"verify Algorithm 1, n={n} (seconds)", float("nan"), "<", thr,
                    f"not measured: n={n} not in this run")
    return pd.DataFrame(rows, columns=_TARGET_COLUMNS)


def format_targets(table: pd.DataFrame) -> list[str]:
    """Printable lines ``target ...: measured ... (op threshold) MET / NOT MET / NOT MEASURED``.

    Example:
        >>> t = targets(ver=pd.DataFrame({"n": [21], "b": [9], "messages": [1],
        ...                               "certified": [True], "seconds": [0.02]}))
        >>> format_targets(t)[0].split(" -- ")[0]
        'target verify Algorithm 1, n=21 (seconds): measured 0.02 (< 10) MET'
    """
    lines = []
    for row in table.itertuples(index=False):
        note = row.note
        if not np.isfinite(row.measured):
            verdict, measured = "NOT MEASURED", "-"
            note = note.removeprefix("not measured: ")
        else:
            verdict, measured = ("MET" if row.met else "NOT MET"), f"{row.measured:.4g}"
        lines.append(f"target {row.target}: measured {measured} ({row.op} {row.threshold:g}) "
                     f"{verdict} -- {note}")
    return lines


# --------------------------------------------------------------------------- run all


def machine_info() -> dict:
    """CPU count, versions and platform of this machine (saved as ``machine.json``)."""
    info = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a requirement
        info["torch"] = None
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover - optional at run time
        info["numba"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu_model"] = names[0] if names else None
    except OSError:
        info["cpu_model"] = None
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gb"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gb"] = None
    return info


_TEXT_COLUMNS = ("reason", "note", "params", "dataset", "model", "requested", "method")


def _read(path) -> pd.DataFrame:
    df = pd.read_csv(path)
    for col in _TEXT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    return df


def run_benchmarks(profile: str, root=None, force: bool = False,
                   progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run every benchmark at the sizes of ``profile`` (:data:`SIZES`), cached as CSV.

    Tables, each in ``results/bench/<profile>/<name>.csv`` (written atomically, reused
    unless ``force``): ``aggregation``, ``encode``, ``verify``, ``montecarlo`` (measured),
    and, derived from them on every call, ``slopes_n`` (log-log slope vs n per rule and
    d), ``slopes_d`` (vs d per rule and n), ``power`` (:func:`power_table`) and ``targets``.
    ``machine.json`` describes the machine of the measured tables.

    Args:
        profile: ``ci``, ``quick`` or ``full``.
        root: results folder (default :func:`electionlib.experiments.results_dir`).
        force: re-measure even if the CSVs exist.
        progress: progress bars.

    Returns:
        ``{name: DataFrame}`` for the tables above (as read back from the CSVs).
    """
    v.choice("profile", profile, tuple(SIZES))
    sizes = SIZES[profile]
    folder = results_dir(root) / "bench" / profile
    folder.mkdir(parents=True, exist_ok=True)
    measured_any = False

    def cached(name: str, compute: Callable[[], pd.DataFrame],
               columns: Sequence[str] = ()) -> pd.DataFrame:
        nonlocal measured_any
        path = folder / f"{name}.csv"
        if path.is_file() and not force:
            df = _read(path)
            missing = [c for c in columns if c not in df.columns]
            if not missing:
                return df
            print(f"run_benchmarks: {path} predates column(s) {missing} (an older version "
                  "of the benchmark); measuring again", flush=True)
        df = compute()
        measured_any = True
        atomic_write_text(path, df.to_csv(index=False))
        return _read(path)

    a = sizes["aggregation"]
    out = {
        "aggregation": cached("aggregation", lambda: aggregation_table(
            ns=a["ns"], ds=a["ds"], repeats=a["repeats"], max_floats=a["max_floats"],
            time_limit=a["time_limit"], budget=a["budget"], chunk=a["chunk"],
            progress=progress)),
        "encode": cached("encode", lambda: encode_table(progress=progress, **sizes["encode"]),
                         columns=("encoder", "ratio_numpy")),
        "verify": cached("verify", lambda: verify_table(progress=progress, **sizes["verify"])),
        "montecarlo": cached("montecarlo", lambda: montecarlo_table(
            progress=progress, **sizes["montecarlo"])),
    }
    machine = folder / "machine.json"
    if measured_any or not machine.is_file():
        info = dict(machine_info(), profile=profile)
        atomic_write_text(machine, json.dumps(info, indent=2, sort_keys=True) + "\n")
    agg = out["aggregation"]
    derived = {
        "slopes_n": fit_loglog(agg, x="n", by=("rule", "d")),
        "slopes_d": fit_loglog(agg, x="d", by=("rule", "n")),
        "power": power_table(agg),
        "targets": targets(agg, out["encode"], out["verify"]),
    }
    for name, df in derived.items():
        path = folder / f"{name}.csv"
        text = df.to_csv(index=False)
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
        out[name] = _read(path)
    return out
