"""The timing harness: warm-up calls (dropped), then the median of timed repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from .. import _validate as v

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


