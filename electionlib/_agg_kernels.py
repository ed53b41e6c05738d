"""Compiled (numba) passes for the robust aggregators of :mod:`electionlib.aggregators`.

Why: the numpy path of the coordinate-wise rules converts each block of columns to float64,
then sorts it along the rows (a strided sort of n values per column); the geometric median
and centered clipping make three to four passes over float64 copies of the input per
iteration. These kernels read the input once per pass, in its own dtype, in blocks of
columns small enough to stay in the core's L1/L2 cache:

* :func:`order_stats` -- the coordinate-wise median (the overflow-safe midpoint of the two
  middle values) or trimmed mean (the float64 sum of the sorted values ``lo..hi-1`` in
  ascending order, over ``hi - lo``), sorting each column with a Batcher odd-even merge
  network applied to a block of columns at once (branch-free min/max, vectorised across the
  columns). NaN is ordered as +inf, as in the numpy path.
* :func:`row_distances` -- ``||x_i - z||_2`` or ``||x_i - z||_1`` per row, accumulated in
  float64.
* :func:`weighted_sum` -- ``sum_i w_i (x_i - c)`` in float64.
* :func:`finite_rows` -- which rows hold no NaN or infinite entry (one read of the input).

What they guarantee: the median and trimmed mean select the same order statistics as a sort
and add them in the same order, in float64, as the numpy path, so their outputs are equal to
it (``==``; where a column holds both -0.0 and +0.0, the sign of a zero output may differ).
The distances and weighted sums add the same terms in a different order (blocked, with
reassociation allowed), so they agree with the numpy path to float64 rounding (relative
~1e-15); over the geometric median's iterations that stays below 1e-9 relative in float64,
and float32 outputs differ by at most a unit or two in the last place (both tested). numba is
optional: when it cannot be imported, or ``ELECTIONLIB_NUMBA=0`` is set, :func:`available` is
False and the aggregators run their numpy path. The kernels compile on first use and are
cached beside this file.
"""

from __future__ import annotations

import functools
import os

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests
    if os.environ.get("ELECTIONLIB_NUMBA", "1") == "0":
        raise ImportError("disabled by ELECTIONLIB_NUMBA=0")
    from numba import njit

    _NUMBA = True
except ImportError:  # pragma: no cover
    _NUMBA = False

__all__ = ["available", "finite_rows", "network", "order_stats", "row_distances", "weighted_sum"]

#: Columns per block of the sorting network (a block of m rows stays in L1 for m <= ~100).
_SORT_COLS = 128
#: Columns per block of the distance / weighted-sum passes (the centre's block stays in L1).
_PASS_COLS = 2048
#: Rows up to which the sorting network is used (it has O(m log^2 m) comparators; above this
#: the aggregators sort with numpy, whose outputs are equal).
MAX_NETWORK_ROWS = 256


def available() -> bool:
    """True when the compiled kernels can be used (numba importable, not disabled)."""
    return _NUMBA


@functools.lru_cache(maxsize=512)
def network(m: int) -> np.ndarray:
    """Batcher's odd-even merge sorting network for ``m`` inputs, ``(p, 2)`` int64 pairs
    ``(i, j)``, ``i < j``: applying ``(min, max)`` to every pair in order sorts any column.

    Built for the next power of two and pruned to the pairs within ``m`` (the missing inputs
    act as +inf, which no comparator moves).

    Example:
        >>> network(3).tolist()
        [[0, 1], [0, 2], [1, 2]]
    """
    size = 1
    while size < m:
        size *= 2
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < m:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    out.flags.writeable = False  # shared by every caller through the cache
    return out


if _NUMBA:

    @njit(cache=True, nogil=True)
    def _order_stats(x, rows, pairs, lo, hi, median, out):  # pragma: no cover - compiled
        m = rows.size
        d = x.shape[1]
        W = _SORT_COLS
        buf = np.empty((m, W), dtype=x.dtype)
        acc = np.empty(W, dtype=np.float64)
        inf = x.dtype.type(np.inf)
        for c0 in range(0, d, W):
            w = min(W, d - c0)
            for i in range(m):
                r = rows[i]
                for j in range(w):
                    val = x[r, c0 + j]
                    buf[i, j] = inf if val != val else val
            for p in range(pairs.shape[0]):
                a = pairs[p, 0]
                b = pairs[p, 1]
                for j in range(w):
                    u = buf[a, j]
                    t = buf[b, j]
                    buf[a, j] = t if t < u else u
                    buf[b, j] = u if t < u else t
            if median:
                for j in range(w):
                    a64 = np.float64(buf[(m - 1) // 2, j])
                    b64 = np.float64(buf[m // 2, j])
                    s = (a64 + b64) / 2
                    if not np.isfinite(s) and np.isfinite(a64) and np.isfinite(b64):
                        s = a64 / 2 + b64 / 2
                    out[c0 + j] = s
            else:
                for j in range(w):
                    acc[j] = np.float64(buf[lo, j])
                for k in range(lo + 1, hi):
                    for j in range(w):
                        acc[j] += np.float64(buf[k, j])
                cnt = np.float64(hi - lo)
                for j in range(w):
                    out[c0 + j] = acc[j] / cnt

    @njit(cache=True, nogil=True, fastmath={"reassoc"})
    def _row_distances(x, rows, z, p, out):  # pragma: no cover - compiled
        m = rows.size
        d = x.shape[1]
        W = _PASS_COLS
        for i in range(m):
            out[i] = 0.0
        for c0 in range(0, d, W):
            c1 = min(c0 + W, d)
            zb = z[c0:c1]
            for i in range(m):
                xr = x[rows[i], c0:c1]
                s = 0.0
                if p == 2:
                    for j in range(c1 - c0):
                        t = np.float64(xr[j]) - zb[j]
                        s += t * t
                else:
                    for j in range(c1 - c0):
                        s += abs(np.float64(xr[j]) - zb[j])
                out[i] += s
        if p == 2:
            for i in range(m):
                out[i] = np.sqrt(out[i])

    @njit(cache=True, nogil=True)
    def _weighted_sum(x, rows, w, c, has_c, out):  # pragma: no cover - compiled
        m = rows.size
        d = x.shape[1]
        W = _PASS_COLS
        acc = np.empty(W, dtype=np.float64)
        cb = np.zeros(W, dtype=np.float64)
        for c0 in range(0, d, W):
            c1 = min(c0 + W, d)
            w_ = c1 - c0
            acc[:] = 0.0
            if has_c:
                cb[:w_] = c[c0:c1]
            for i in range(m):
                wi = w[i]
                if wi == 0.0:
                    continue
                xr = x[rows[i], c0:c1]
                for j in range(w_):
                    acc[j] += wi * (np.float64(xr[j]) - cb[j])
            out[c0:c1] = acc[:w_]


    @njit(cache=True, nogil=True, fastmath={"reassoc"})
    def _finite_rows(x, out):  # pragma: no cover - compiled
        n, d = x.shape
        for i in range(n):
            s = x.dtype.type(0.0)
            for j in range(d):
                s += x[i, j] * 0  # NaN iff an entry is NaN or infinite
            out[i] = s == 0


def finite_rows(x: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: True where the row of ``x`` has no NaN or infinite entry."""
    out = np.empty(x.shape[0], dtype=np.bool_)
    _finite_rows(x, out)
    return out


def _rows(x: np.ndarray, rows) -> np.ndarray:
    return np.arange(x.shape[0], dtype=np.int64) if rows is None else rows.astype(np.int64)


def order_stats(x: np.ndarray, rows, *, median: bool, lo: int = 0, hi: int = 0) -> np.ndarray:
    """Per column of ``x[rows]`` (NaN as +inf): the median (``median=True``), or the mean of
    the sorted values ``lo..hi-1``; float64 ``(d,)``. Needs ``1 <= len(rows) <=``
    :data:`MAX_NETWORK_ROWS` and ``0 <= lo < hi <= len(rows)``."""
    r = _rows(x, rows)
    if not 1 <= r.size <= MAX_NETWORK_ROWS or (not median and not 0 <= lo < hi <= r.size):
        raise ValueError(f"order_stats needs 1 <= rows <= {MAX_NETWORK_ROWS} and "
                         f"0 <= lo < hi <= rows, got rows={r.size}, lo={lo}, hi={hi}")
    out = np.empty(x.shape[1])
    _order_stats(x, r, network(r.size), lo, hi, median, out)
    return out


def row_distances(x: np.ndarray, rows, z: np.ndarray, p: int) -> np.ndarray:
    """``||x_i - z||_p`` (p in {1, 2}) for each row i of ``x[rows]``, float64."""
    r = _rows(x, rows)
    out = np.empty(r.size)
    _row_distances(x, r, np.ascontiguousarray(z, dtype=np.float64), p, out)
    return out


def weighted_sum(x: np.ndarray, rows, w: np.ndarray, center) -> np.ndarray:
    """``sum_i w_i (x_i - center)`` over the rows of ``x[rows]`` (no centre: ``sum_i w_i x_i``)."""
    r = _rows(x, rows)
    out = np.empty(x.shape[1])
    c = np.zeros(1) if center is None else np.ascontiguousarray(center, dtype=np.float64)
    _weighted_sum(x, r, np.ascontiguousarray(w, dtype=np.float64), c, center is not None, out)
    return out
