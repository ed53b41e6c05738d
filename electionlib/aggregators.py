"""Robust aggregation rules: ``(n, d)`` real gradients -> ``(d,)`` aggregate.

Every rule is a small class; :func:`get` builds one from its registered name::

    agg = get("krum", f=2)
    g = agg(grads)            # grads (n, d) float -> g (d,) float

| name                | parameters (defaults)        | min n for f Byzantine rows |
|---------------------|------------------------------|----------------------------|
| mean                | --                           | 1, and only f = 0          |
| median              | --                           | 2f + 1                     |
| trimmed_mean        | f=1                          | 2f + 1                     |
| krum                | f=1                          | 2f + 3                     |
| multi_krum          | f=1, m=None (means n - f)    | max(2f + 3, m + f)         |
| bulyan              | f=1                          | 4f + 3                     |
| geometric_median    | eps=1e-6, max_iter=100       | 2f + 1                     |
| centered_clipping   | tau=10.0, iterations=1       | 2f + 1                     |
| brsgd               | beta=0.5, threshold=None     | floor(f / beta) + 1        |

``f`` is the number of Byzantine rows a rule is configured to tolerate. The
last column is :func:`requires`; rules that take ``f`` check it when called and
raise ``ValueError`` naming ``f`` and ``n`` if there are too few rows.

Conventions shared by all rules:

* **dtype** -- float32 in, float32 out; float64 in, float64 out; integer input
  is treated as float64. Intermediate sums, distances and medians are
  computed in float64, one block of columns at a time, so a float32
  ``(50, 10**7)`` input never gets a float64 copy of its own size. Order
  statistics are selected in the input's dtype (exact: the conversion to
  float64 is monotone) and only the selected values are converted.
* **Compiled passes** -- when numba is available (:data:`USE_KERNELS`, and
  ``ELECTIONLIB_NUMBA=0`` switches it off), the median, trimmed mean, distances
  and weighted sums run the fused passes of :mod:`electionlib._agg_kernels`.
  The median and trimmed mean equal the numpy path's outputs (``==``: where a
  column holds both -0.0 and +0.0 the sign of a zero output may differ); the
  geometric median and centered clipping agree with it to float64 rounding, and
  so do BrSGD's l1 distances (its C1 test could flip only for a distance within
  rounding of the threshold).
* **Non-finite rows** -- a row with any NaN or +-inf entry is a malformed
  (Byzantine) message. ``mean`` propagates it (its output becomes
  non-finite: that is how the mean fails). Every other rule treats the row as
  *infinitely far from everything*: Krum, Multi-Krum and Bulyan give it
  distance +inf to every row (so it is never selected while the honest rows
  are within the rule's bound); the geometric median and centered clipping
  give it zero weight; BrSGD drops it before running Algorithm 2 (its l1
  distance to the median is +inf, so it could never be in C1); the
  coordinate-wise median and trimmed mean order NaN as +inf (the
  ``numpy.sort`` convention), so a non-finite entry is an extreme value that
  the rule trims away.
* **Ties** -- Krum, Multi-Krum and Bulyan break exact Krum-score ties by
  the next-nearest neighbours, then by the lower row index; BrSGD breaks
  ties in its (integer) scores by the lower row index, as its C2 asks.
  Every rule is invariant to permuting the rows of inputs without exact
  ties; BrSGD's integer scores do tie often, and then its output depends
  on the row order.
* **Errors** -- invalid parameters raise ``ValueError`` at construction;
  wrong input shapes or too few rows raise ``ValueError`` at call time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from . import _validate as v

__all__ = [
    "Aggregator",
    "Mean",
    "Median",
    "TrimmedMean",
    "Krum",
    "MultiKrum",
    "Bulyan",
    "GeometricMedian",
    "CenteredClipping",
    "BrSGD",
    "BrSGDTrace",
    "REGISTRY",
    "NAMES",
    "get",
    "requires",
    "for_rows",
]

# Number of (row, column) entries handled at once by the block loops below:
# 2**21 float64 values = 16 MiB per temporary.
_CHUNK = 1 << 21
# Entries per block of the numpy path's column sorts: 2**14 values = 64 KiB of float32 (128 KiB
# of float64), which stays in the core's L2 (a sort along the rows touches every value of the
# block per column).
_SORT_CHUNK = 1 << 14

#: Run the compiled passes of :mod:`electionlib._agg_kernels` when numba is available.
#: Tests switch it off to compare both paths; ``ELECTIONLIB_NUMBA=0`` switches numba off.
USE_KERNELS = True


def _kernels(rows: int = 0):
    """The compiled passes, or None (numba absent or switched off; or, for the order
    statistics, ``rows`` above the sorting network's :data:`_agg_kernels.MAX_NETWORK_ROWS`)."""
    if not USE_KERNELS:
        return None
    from . import _agg_kernels as K

    return K if K.available() and rows <= K.MAX_NETWORK_ROWS else None


# --------------------------------------------------------------------------- helpers


def _as_matrix(x) -> np.ndarray:
    """Check the input: a 2-D ``(n, d)`` real array with n, d >= 1 (float32 or float64)."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"x must be a 2-D (n, d) array with n >= 1 rows and d >= 1 columns, "
            f"got shape {arr.shape}"
        )
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    raise ValueError(f"x must hold real numbers (float or integer), got dtype {arr.dtype}")


def _blocks(n: int, d: int, chunk: int = _CHUNK):
    """Column slices such that an ``(n, width)`` block holds about ``chunk`` entries."""
    width = max(1, chunk // max(n, 1))
    for start in range(0, d, width):
        yield slice(start, min(start + width, d))


def _take(x: np.ndarray, rows: np.ndarray | None, sl: slice) -> np.ndarray:
    """Block ``x[rows, sl]`` (all rows when ``rows`` is None: a view, no copy)."""
    return x[:, sl] if rows is None else x[rows, sl]


def _n_rows(x: np.ndarray, rows: np.ndarray | None) -> int:
    return x.shape[0] if rows is None else rows.size


def _finite_rows(x: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: True where the row has no NaN or inf entry."""
    K = _kernels()
    if K is not None:
        return K.finite_rows(x)
    ok = np.ones(x.shape[0], dtype=bool)
    for sl in _blocks(*x.shape):
        ok &= np.isfinite(x[:, sl]).all(axis=1)
    return ok


def _mean_rows(x: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """Column means of ``x[rows]`` in float64, ``(d,)``."""
    out = np.empty(x.shape[1])
    for sl in _blocks(_n_rows(x, rows), x.shape[1]):
        out[sl] = _take(x, rows, sl).mean(axis=0, dtype=np.float64)
    return out


def _sorted_block(x: np.ndarray, rows: np.ndarray | None, sl: slice, nan_as_inf: bool):
    """Copy of ``x[rows, sl]`` in x's dtype, sorted along the rows (NaN as +inf if asked)."""
    block = np.array(_take(x, rows, sl))
    if nan_as_inf:
        block[np.isnan(block)] = np.inf
    block.sort(axis=0)  # SIMD sort: faster than a partition along axis 0
    return block


def _exact(beta: float) -> Fraction:
    """The fraction a user means by the float ``beta``: 0.1 is 1/10, not the binary double
    0.1000000000000000055... (whose ``ceil(beta * 10)`` would be 2). Denominators up to
    10**6 cover every decimal or simple fraction a rule's parameter is written as.

    Example:
        >>> _exact(0.1), _exact(0.4), _exact(1 / 3), _exact(0.5)
        (Fraction(1, 10), Fraction(2, 5), Fraction(1, 3), Fraction(1, 2))
    """
    return Fraction(beta).limit_denominator(10**6)


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a + b) / 2`` without overflow: bit-identical to it wherever ``a + b`` is finite,
    ``a / 2 + b / 2`` where the sum of two finite values overflows (e.g. two float64
    values near ``1.7e308``).

    Example:
        >>> big = np.array([1.5e308])
        >>> bool(_midpoint(big, big)[0] == big[0])
        True
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = (a + b) / 2
        bad = ~np.isfinite(out) & np.isfinite(a) & np.isfinite(b)
        if bad.any():
            out[bad] = a[bad] / 2 + b[bad] / 2
    return out


def _median_rows(x: np.ndarray, rows: np.ndarray | None, nan_as_inf: bool = False) -> np.ndarray:
    """Coordinate-wise median of ``x[rows]`` in float64, ``(d,)``; NaN may be ordered as +inf.

    Callers pass ``nan_as_inf=False`` only for finite rows (the compiled pass always orders
    NaN as +inf)."""
    n = _n_rows(x, rows)
    K = _kernels(n)
    if K is not None:
        return K.order_stats(x, rows, median=True)
    out = np.empty(x.shape[1])
    for sl in _blocks(n, x.shape[1], _SORT_CHUNK):
        block = _sorted_block(x, rows, sl, nan_as_inf)
        out[sl] = _midpoint(block[(n - 1) // 2].astype(np.float64),
                            block[n // 2].astype(np.float64))
    return out


def _distances(x: np.ndarray, rows: np.ndarray | None, z: np.ndarray, p: int) -> np.ndarray:
    """``||x_i - z||_p`` for p in {1, 2}, for each row i of ``x[rows]``."""
    K = _kernels()
    if K is not None:
        return K.row_distances(x, rows, z, p)
    acc = np.zeros(_n_rows(x, rows))
    for sl in _blocks(acc.size, x.shape[1]):
        diff = _take(x, rows, sl).astype(np.float64)
        diff -= z[sl]
        if p == 1:
            acc += np.abs(diff).sum(axis=1)
        else:
            acc += np.einsum("ij,ij->i", diff, diff)
    return acc if p == 1 else np.sqrt(acc)


def _weighted_sum(
    x: np.ndarray, rows: np.ndarray | None, w: np.ndarray, center: np.ndarray | None = None
) -> np.ndarray:
    """``sum_i w_i (x_i - center)`` over the rows of ``x[rows]``, in float64, ``(d,)``."""
    K = _kernels()
    if K is not None:
        return K.weighted_sum(x, rows, w, center)
    out = np.empty(x.shape[1])
    for sl in _blocks(w.size, x.shape[1]):
        block = _take(x, rows, sl).astype(np.float64)
        if center is not None:
            block -= center[sl]
        out[sl] = w @ block
    return out


def _pairwise_sq(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``(n, n)`` squared Euclidean distances; +inf to, from and on the diagonal of non-finite rows.

    Computed as ``|a|^2 + |b|^2 - 2 a.b`` from the Gram matrix, accumulated
    block by block in float64. Each entry involves only its two rows, so huge
    Byzantine rows cannot spoil the distances between honest rows; the
    rounding error is about 1e-16 |a|^2, negligible unless the rows share an
    offset ~1e6 times larger than their spread.
    """
    n, d = x.shape
    full = np.full((n, n), np.inf)
    good = np.flatnonzero(ok)
    if good.size == 0:
        return full
    rows = None if good.size == n else good
    gram = np.zeros((good.size, good.size))
    for sl in _blocks(good.size, d):
        block = _take(x, rows, sl).astype(np.float64)
        gram += block @ block.T
    gram = (gram + gram.T) / 2
    sq = np.diag(gram)
    dist = sq[:, None] + sq[None, :] - 2.0 * gram
    dist[np.isnan(dist)] = np.inf  # inf - inf between rows whose squares overflow
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    full[np.ix_(good, good)] = dist
    return full


def _krum_order(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Krum scores and the rows ranked by them.

    The score of row i is the sum of its ``k`` smallest squared distances to
    the other rows (``k`` clamped to ``[1, n - 1]``; 0 for a single row).
    Non-finite rows (marked by a +inf diagonal, see :func:`_pairwise_sq`)
    rank last; the others are ranked by score, exact ties going to the row
    whose next-nearest neighbours are closer (sums over k + 1, k + 2, ...
    neighbours), then to the lower index.

    Returns:
        ``(scores, order)``, both ``(n,)``.
    """
    n = dist.shape[0]
    if n == 1:
        return np.zeros(1), np.zeros(1, dtype=np.intp)
    others = dist.copy()
    np.fill_diagonal(others, np.inf)
    cum = np.cumsum(np.sort(others, axis=1)[:, : n - 1], axis=1)
    k = min(max(k, 1), n - 1)
    bad = ~np.isfinite(np.diagonal(dist))
    keys = (np.arange(n),) + tuple(cum[:, j] for j in range(n - 2, k - 2, -1)) + (bad,)
    return np.where(bad, np.inf, cum[:, k - 1]), np.lexsort(keys)


# --------------------------------------------------------------------------- base classes


class Aggregator:
    """Base class: ``agg(x)`` maps an ``(n, d)`` real array to a ``(d,)`` aggregate.

    Subclasses set ``name`` and ``PARAMS`` and implement ``_aggregate(x, ok)``
    (``x`` checked, ``ok`` the ``(n,)`` finite-row mask) and ``min_n(f)``.
    """

    name: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[str, ...]] = ()

    def __call__(self, x) -> np.ndarray:
        """Aggregate the rows of ``x`` (``(n, d)``) into a ``(d,)`` array of x's float dtype."""
        x = _as_matrix(x)
        self._check(x.shape)
        # Byzantine rows may legitimately overflow (1e10 ** 2 in float32) or hold
        # inf - inf; the rules handle that by the documented non-finite rule.
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._aggregate(x, _finite_rows(x))
            return np.array(out, dtype=x.dtype)

    def min_n(self, f: int) -> int:
        """Smallest number of rows for which this rule tolerates ``f`` Byzantine rows."""
        f = v.integer("f", f, lo=0)
        return 2 * f + 1

    def _check(self, shape: tuple[int, int]) -> None:
        """Raise ``ValueError`` if the rule cannot run on an input of this shape."""

    def _aggregate(self, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self._params().items())
        return f"{type(self).__name__}({args})"


class _WithF(Aggregator):
    """A rule configured with the number ``f`` of Byzantine rows it tolerates."""

    PARAMS: ClassVar[tuple[str, ...]] = ("f",)
    _bound: ClassVar[str] = ""  # the condition on n, for error messages

    def __init__(self, *, f: int = 1):
        self.f = v.integer("f", f, lo=0)

    def _check(self, shape: tuple[int, int]) -> None:
        n = shape[0]
        need = self.min_n(self.f)
        if n < need:
            raise ValueError(f"{self!r} needs n >= {need} input rows ({self._bound}), got n={n}")

    def _params(self) -> dict:
        return {"f": self.f}


# --------------------------------------------------------------------------- rules


class Mean(Aggregator):
    """Plain average: ``g = (1/n) sum_i x_i``.

    Not robust: a single Byzantine row moves it arbitrarily far, and a
    non-finite row makes the output non-finite (it is propagated, not hidden).
    ``min_n(f)`` is 1 for ``f = 0`` and raises ``ValueError`` for ``f >= 1``.

    Example:
        >>> get("mean")(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]))
        array([3., 5.])

    Reference: the baseline of every robust-aggregation paper (e.g. Blanchard
    et al. 2017, Lemma 1: no linear rule tolerates one Byzantine worker).
    """

    name = "mean"

    def min_n(self, f: int) -> int:
        f = v.integer("f", f, lo=0)
        if f > 0:
            raise ValueError(f"f={f}: the mean tolerates no Byzantine input (f must be 0)")
        return 1

    def _aggregate(self, x, ok):
        return _mean_rows(x, None)


class Median(Aggregator):
    """Coordinate-wise median: ``g_j = median_i x_ij`` (mean of the two middle values if n is even).

    Tolerates ``f < n/2`` Byzantine rows: each coordinate of the output lies
    within the honest rows' range. NaN entries are ordered as +inf.

    Example:
        >>> get("median")(np.array([[1.0, 5.0], [2.0, 0.0], [9.0, 1.0]]))
        array([2., 1.])

    Reference: Yin, Chen, Ramchandran, Bartlett, *Byzantine-robust distributed
    learning: towards optimal statistical rates*, ICML 2018 (coordinate-wise median).
    """

    name = "median"

    def _aggregate(self, x, ok):
        return _median_rows(x, None, nan_as_inf=not ok.all())


class TrimmedMean(_WithF):
    """Coordinate-wise trimmed mean: per coordinate, drop the f largest and f smallest values.

    ``g_j = (1 / (n - 2f)) sum_{k=f+1}^{n-f} x_(k)j`` where ``x_(1)j <= ... <= x_(n)j``
    are the sorted values of coordinate j. Needs ``n > 2f``. NaN entries are
    ordered as +inf, so up to f non-finite entries per side are trimmed away.

    Args:
        f: number of values trimmed at each end (Byzantine rows tolerated), f >= 0.

    Example:
        >>> get("trimmed_mean", f=1)(np.array([[1.0], [2.0], [3.0], [4.0], [100.0]]))
        array([3.])

    Reference: Yin, Chen, Ramchandran, Bartlett, ICML 2018 (coordinate-wise
    trimmed mean).
    """

    name = "trimmed_mean"
    _bound = "n > 2f"

    def _aggregate(self, x, ok):
        n, d = x.shape
        f = self.f
        K = _kernels(n)
        if K is not None:
            return K.order_stats(x, None, median=False, lo=f, hi=n - f)
        out = np.empty(d)
        for sl in _blocks(n, d, _SORT_CHUNK):
            block = _sorted_block(x, None, sl, not ok.all())
            # the float64 sum in ascending order (cumsum adds sequentially even when the block
            # is one column wide, where numpy's mean would switch to pairwise summation)
            out[sl] = np.cumsum(block[f : n - f], axis=0, dtype=np.float64)[-1] / (n - 2 * f)
        return out


class Krum(_WithF):
    """Krum: the row with the smallest sum of squared distances to its n - f - 2 nearest rows.

    ``score(i) = sum_{j in N_i} ||x_i - x_j||^2`` where ``N_i`` holds the
    ``n - f - 2`` rows closest to ``x_i`` (``i`` excluded); the output is
    ``x_{i*}``, ``i* = argmin_i score(i)``. Exact ties (e.g. the two rows of
    the closest pair when ``n - f - 2 = 1``) go to the row whose next-nearest
    neighbours are closer, then to the lower index. Needs
    ``n > 2f + 2``. Non-finite rows are at distance +inf from every row, so
    their score is +inf. Distances come from the Gram matrix (no ``(n, n, d)``
    tensor).

    Args:
        f: number of Byzantine rows tolerated, f >= 0.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.5], [3.0], [10.0]])
        >>> agg = get("krum", f=1)
        >>> agg.scores(x)
        array([  7.25,   3.25,   2.5 ,   4.25, 105.25])
        >>> agg(x)
        array([2.5])

    Reference: Blanchard, El Mhamdi, Guerraoui, Stainer, *Machine learning with
    adversaries: Byzantine tolerant gradient descent*, NeurIPS 2017 (Krum,
    Proposition 1: n > 2f + 2).
    """

    name = "krum"
    _bound = "n > 2f + 2"

    def min_n(self, f: int) -> int:
        return 2 * v.integer("f", f, lo=0) + 3

    def scores(self, x) -> np.ndarray:
        """``(n,)`` float64 Krum scores of the rows of ``x`` (+inf for non-finite rows)."""
        x = _as_matrix(x)
        self._check(x.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            dist = _pairwise_sq(x, _finite_rows(x))
            return _krum_order(dist, x.shape[0] - self.f - 2)[0]

    def _aggregate(self, x, ok):
        _, order = _krum_order(_pairwise_sq(x, ok), x.shape[0] - self.f - 2)
        return x[order[0]]


class MultiKrum(_WithF):
    """Multi-Krum: the average of the m rows with the lowest Krum scores.

    ``g = (1/m) sum_{i in S} x_i`` where ``S`` holds the m rows of smallest
    Krum score (see :class:`Krum`, ties included). ``m = None``
    means ``m = n - f``. Needs ``n > 2f + 2`` and ``m <= n - f``. ``m = 1``
    is Krum.

    Args:
        f: number of Byzantine rows tolerated, f >= 0.
        m: number of rows averaged, m >= 1, or None for n - f.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.5], [3.0], [10.0]])
        >>> get("multi_krum", f=1, m=3)(x)   # scores 7.25 3.25 2.5 4.25 105.25
        array([2.16666667])

    Reference: Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017 (Multi-Krum).
    """

    name = "multi_krum"
    PARAMS = ("f", "m")
    _bound = "n > 2f + 2 and m <= n - f"

    def __init__(self, *, f: int = 1, m: int | None = None):
        super().__init__(f=f)
        self.m = None if m is None else v.integer("m", m, lo=1)

    def min_n(self, f: int) -> int:
        f = v.integer("f", f, lo=0)
        return max(2 * f + 3, (self.m or 0) + f)

    def _params(self) -> dict:
        return {"f": self.f, "m": self.m}

    def _aggregate(self, x, ok):
        n = x.shape[0]
        m = n - self.f if self.m is None else self.m
        _, order = _krum_order(_pairwise_sq(x, ok), n - self.f - 2)
        return _mean_rows(x, np.sort(order[:m]))


class Bulyan(_WithF):
    """Bulyan: iterated Krum selects theta = n - 2f rows, then a coordinate-wise trimmed average.

    1. Selection: theta times, run Krum on the set R of rows not yet selected
       -- score = sum of squared distances to the ``k = |R| - f - 2`` nearest
       rows of R -- and move the winner from R to S. In the last 2f rounds R
       is smaller than Krum's minimum 2f + 3; there k keeps its value at that
       minimum, ``f + 1`` (at most ``|R| - 1``), so a group of f identical
       Byzantine rows still needs honest neighbours to score well. Exact
       score ties go as in :class:`Krum`.
    2. Aggregation: for each coordinate j, average the ``theta - 2f`` values
       of ``{x_ij : i in S}`` closest to their median (if two sets are
       equally close, the one with the lower values).

    Needs ``n >= 4f + 3`` (so that at least 3 values are averaged per
    coordinate). With f = 0 it is the mean.

    Args:
        f: number of Byzantine rows tolerated, f >= 0.

    Example:
        >>> x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0], [15.0], [60.0]])
        >>> agg = get("bulyan", f=1)
        >>> agg.selection(x)        # rows 3, 6, 1, 10, 15, in the order chosen
        array([2, 3, 1, 4, 5])
        >>> agg(x)                  # median 6; the 3 values closest: 6, 3, 10
        array([6.33333333])

    Reference: El Mhamdi, Guerraoui, Rouault, *The hidden vulnerability of
    distributed learning in Byzantium*, ICML 2018 (Bulyan, n >= 4f + 3).
    """

    name = "bulyan"
    _bound = "n >= 4f + 3"

    def min_n(self, f: int) -> int:
        return 4 * v.integer("f", f, lo=0) + 3

    def selection(self, x) -> np.ndarray:
        """Indices, in selection order, of the theta = n - 2f rows chosen by iterated Krum."""
        x = _as_matrix(x)
        self._check(x.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._select(_pairwise_sq(x, _finite_rows(x)))

    def _select(self, dist: np.ndarray) -> np.ndarray:
        n = dist.shape[0]
        remaining = np.arange(n)
        chosen = []
        for _ in range(n - 2 * self.f):
            sub = dist[np.ix_(remaining, remaining)]
            k = max(remaining.size - self.f - 2, self.f + 1)
            winner = int(_krum_order(sub, k)[1][0])
            chosen.append(int(remaining[winner]))
            remaining = np.delete(remaining, winner)
        return np.array(chosen)

    def _aggregate(self, x, ok):
        selected = np.sort(self._select(_pairwise_sq(x, ok)))
        theta = selected.size
        keep = theta - 2 * self.f
        out = np.empty(x.shape[1])
        for sl in _blocks(theta, x.shape[1]):  # large blocks: a Python loop runs per block
            s = _sorted_block(x, selected, sl, False).astype(np.float64)
            med = _midpoint(s[(theta - 1) // 2], s[theta // 2])
            # The `keep` values closest to the median are a window s[lo : lo + keep]
            # of the sorted column: the window whose farther end is nearest to the
            # median (the lowest such window if two tie).
            best = np.full(s.shape[1], np.inf)
            for lo in range(theta - keep + 1):
                reach = np.maximum(med - s[lo], s[lo + keep - 1] - med)
                better = reach < best
                best[better] = reach[better]
                out[sl][better] = s[lo : lo + keep, better].mean(axis=0)
        return out


class GeometricMedian(Aggregator):
    """Geometric median ``argmin_z sum_i ||x_i - z||_2`` by Weiszfeld iterations.

    Start at the coordinate-wise median ``z_0``. Let ``r_t`` be the median over
    rows of ``||x_i - z_t||`` (the spread). Rows within ``eps r_t`` of ``z_t``
    count as coinciding with it; with ``w_i = 1 / ||x_i - z_t||`` over the
    other rows, Weiszfeld's map is ``T(z_t) = sum_i w_i x_i / sum_i w_i`` and
    the Vardi-Zhang step ``z_{t+1} = (1 - g) T(z_t) + g z_t``,
    ``g = min(1, k / ||sum_i w_i (x_i - z_t)||)`` (k coinciding rows) avoids
    dividing by a zero distance and leaves a data point that is not the
    minimiser instead of sticking to it. Stop when
    ``||z_{t+1} - z_t|| <= eps r_t`` or after ``max_iter`` iterations; both
    tests are relative, so the rule is translation- and scale-equivariant.
    Tolerates ``f < n/2`` Byzantine rows:
    ``||z - mean_honest|| <= 2 (n - f) / (n - 2f) * max_honest ||x_h - mean_honest||``.
    Non-finite rows get weight 0; if every row is non-finite the output is
    their (non-finite) mean.

    Args:
        eps: relative tolerance (a fraction of the spread r_t) of the
            coincidence and stopping tests, eps > 0.
        max_iter: maximum number of Weiszfeld iterations, >= 1.

    Example:
        >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [100.0, 100.0]])
        >>> np.round(get("geometric_median")(x), 5)   # exact: 1 + 1/sqrt(3) = 1.57735
        array([1.57735, 1.57735])

    Reference: Weiszfeld, *Sur le point pour lequel la somme des distances de n
    points donnés est minimum*, Tohoku Math. J. 1937; Vardi and Zhang, *The
    multivariate L1-median and associated data depth*, PNAS 2000 (the step at
    data points).
    """

    name = "geometric_median"
    PARAMS = ("eps", "max_iter")

    def __init__(self, *, eps: float = 1e-6, max_iter: int = 100):
        self.eps = v.real("eps", eps, lo=0.0, lo_open=True)
        self.max_iter = v.integer("max_iter", max_iter, lo=1)

    def _params(self) -> dict:
        return {"eps": self.eps, "max_iter": self.max_iter}

    def _aggregate(self, x, ok):
        if not ok.any():
            return _mean_rows(x, None)
        rows = None if ok.all() else np.flatnonzero(ok)
        z = _median_rows(x, rows)
        for _ in range(self.max_iter):
            dist = _distances(x, rows, z, 2)
            tol = self.eps * np.median(dist)
            far = dist > tol
            if not far.any():  # every row coincides with z
                break
            w = np.where(far, 1.0 / np.where(far, dist, 1.0), 0.0)
            pull = _weighted_sum(x, rows, w, center=z)  # sum_i w_i (x_i - z)
            coincide = np.count_nonzero(~far)
            r = np.linalg.norm(pull)
            if coincide and r <= coincide:  # z is a data point satisfying the optimality test
                break
            gamma = coincide / r if coincide else 0.0
            step = (1.0 - gamma) * pull / w.sum()  # (1 - g) (T(z) - z)
            z = z + step
            if np.linalg.norm(step) <= tol:
                break
        return z


class CenteredClipping(Aggregator):
    """Centered clipping (stateful): repeat ``v <- v + (1/n) sum_i clip(x_i - v, tau)``.

    ``clip(z, tau) = z * min(1, tau / ||z||_2)``; ``iterations`` rounds per
    call. The centre ``v`` is kept between calls: each call starts from the
    previous call's output (the "history" of Karimireddy et al.). The first
    call, and the first after :meth:`reset`, starts from the coordinate-wise
    median of its finite rows (the paper starts from the previous momentum,
    0 at step 0; the median makes the first step robust and scale-free). A
    non-finite row contributes a zero step (it is replaced by ``v``); the
    average still divides by n. Per round, the f Byzantine rows together
    move ``v`` by at most ``f tau / n``.

    Args:
        tau: clipping radius (input units), tau > 0.
        iterations: clipping iterations per call, >= 1.

    Example:
        >>> agg = get("centered_clipping", tau=2.0)
        >>> x = np.array([[0.0], [1.0], [10.0]])
        >>> agg(x)      # v = 1; steps -1, 0, clip(9) = 2 -> v = 1 + 1/3
        array([1.33333333])
        >>> agg(x)      # from v = 4/3: steps -4/3, -1/3, 2 -> v = 4/3 + 1/9
        array([1.44444444])
        >>> agg.reset()
        >>> agg(x)
        array([1.33333333])

    Reference: Karimireddy, He, Jaggi, *Learning from history for Byzantine
    robust optimization*, ICML 2021 (centered clipping).
    """

    name = "centered_clipping"
    PARAMS = ("tau", "iterations")

    def __init__(self, *, tau: float = 10.0, iterations: int = 1):
        self.tau = v.real("tau", tau, lo=0.0, lo_open=True)
        self.iterations = v.integer("iterations", iterations, lo=1)
        self._v: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous aggregate: the next call starts from its own median."""
        self._v = None

    def _params(self) -> dict:
        return {"tau": self.tau, "iterations": self.iterations}

    def _check(self, shape: tuple[int, int]) -> None:
        if self._v is not None and self._v.shape[0] != shape[1]:
            raise ValueError(
                f"x has d={shape[1]} columns but the centered_clipping state (previous "
                f"aggregate) has d={self._v.shape[0]}; call reset() before changing d"
            )

    def _aggregate(self, x, ok):
        n, d = x.shape
        rows = None if ok.all() else np.flatnonzero(ok)
        if self._v is not None:
            center = self._v.copy()
        elif ok.any():
            center = _median_rows(x, rows)
        else:
            center = np.zeros(d)
        if ok.any():
            for _ in range(self.iterations):
                norms = _distances(x, rows, center, 2)
                scale = np.ones_like(norms)
                far = norms > self.tau
                scale[far] = self.tau / norms[far]
                center = center + _weighted_sum(x, rows, scale / n, center=center)
        self._v = center
        return center.copy()


@dataclass(frozen=True)
class BrSGDTrace:
    """Every intermediate of one BrSGD aggregation (arrays over all n input rows).

    Attributes:
        finite: ``(n,)`` bool, rows that took part (non-finite rows are dropped).
        scores: ``(n,)`` float64 scores ``s_i`` (-inf for dropped rows).
        median: ``(d,)`` float64 coordinate-wise median ``g_med`` of the finite rows.
        l1: ``(n,)`` float64 ``||g_i - g_med||_1`` (+inf for dropped rows).
        threshold: the 𝔗 used (given, or the default rule).
        c1, c2, selected: ``(n,)`` bool masks of C1, C2 and C1 ∩ C2.
        fallback: True when C1 ∩ C2 was empty and the output is ``g_med``.
        output: ``(d,)`` float64 aggregate.
    """

    finite: np.ndarray
    scores: np.ndarray
    median: np.ndarray
    l1: np.ndarray
    threshold: float
    c1: np.ndarray
    c2: np.ndarray
    selected: np.ndarray
    fallback: bool
    output: np.ndarray


class BrSGD(Aggregator):
    """BrSGD aggregator A_{beta,𝔗}: mean of the rows in C1 ∩ C2 (Algorithm 2 of Li et al.).

    With m rows ``g^1..g^m`` (Algorithm 2, its loop bounds and the typos
    ``a_c += a_r`` / ``M_{.,d}`` read as ``a_c += g^r_c`` / column c):

    1. column means ``a_c = (1/m) sum_r g^r_c``;
    2. score matrix ``M_{r,c} = 1`` if ``g^r_c >= a_c`` else 0; if the column's
       counter ``sum_r M_{r,c} < m/2`` the column is negated; ``s = sum_c M_{.,c}``.
       (Entries are in {-1, 0, 1}; the text's "majority side gets 1, minority 0"
       differs from this by a constant per column, so the ranking is the same.
       When exactly m/2 rows are >= the mean, that side counts as the majority.)
    3. ``g_med`` = coordinate-wise median; ``C1 = {i : ||g^i - g_med||_1 <= 2𝔗}``;
    4. ``C2`` = the ``ceil(beta m)`` rows of highest score, ties to the lower index;
    5. output ``mean{g^i : i in C1 ∩ C2}``.

    Choices the paper leaves open:

    * ``threshold=None`` (default): ``𝔗 = median_i ||g^i - g_med||_1``, so C1
      keeps every row within twice the typical l1 distance to the median
      (at least half of the rows, and every honest row whose distance is at
      most twice the median one). The rule is scale-equivariant.
    * empty ``C1 ∩ C2``: the output is ``g_med`` (``trace(...).fallback`` is True).
    * non-finite rows are dropped first and Algorithm 2 runs on the m finite
      rows; if no row is finite the output is the (non-finite) mean.

    Tolerates ``f < beta m`` Byzantine rows (the paper's ``alpha < beta``);
    ``beta = 1/2`` is the paper's experimental setting. O(m d) time.

    Args:
        beta: fraction of rows kept by the score (Constraint 2), 0 < beta <= 1/2.
        threshold: 𝔗 > 0 of Constraint 1, or None for the median rule above.

    Example:
        >>> g = np.array([[1.0, 2, 0], [2, 1, 0], [3, 3, 2], [10, -6, 2]])
        >>> t = get("brsgd").trace(g)
        >>> t.scores, t.median, t.l1, t.threshold
        (array([1., 1., 2., 0.]), array([2.5, 1.5, 1. ]), array([ 3.,  2.,  3., 16.]), 3.0)
        >>> t.c1, t.c2, t.fallback
        (array([ True,  True,  True, False]), array([ True, False,  True, False]), False)
        >>> get("brsgd")(g)
        array([2. , 2.5, 1. ])
        >>> get("brsgd", threshold=1.0)(g)   # C1 = {1}, C2 = {0, 2}: empty -> g_med
        array([2.5, 1.5, 1. ])

    Reference: Li, Chen, Dong, Zhang, Wang, Zeng, *Efficient Byzantine-resilient
    stochastic gradient descent* (BrSGD), Algorithm 2.
    """

    name = "brsgd"
    PARAMS = ("beta", "threshold")

    def __init__(self, *, beta: float = 0.5, threshold: float | None = None):
        self.beta = v.real("beta", beta, lo=0.0, hi=0.5, lo_open=True)
        self.threshold = (
            None if threshold is None else v.real("threshold", threshold, lo=0.0, lo_open=True)
        )

    def _params(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold}

    def min_n(self, f: int) -> int:
        f = v.integer("f", f, lo=0)
        return math.floor(f / _exact(self.beta)) + 1

    def trace(self, x) -> BrSGDTrace:
        """Run the rule on ``x`` (``(n, d)``) and return every intermediate."""
        x = _as_matrix(x)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._trace(x, _finite_rows(x))

    def _aggregate(self, x, ok):
        return self._trace(x, ok).output

    def _trace(self, x: np.ndarray, ok: np.ndarray) -> BrSGDTrace:
        n, d = x.shape
        good = np.flatnonzero(ok)
        m = good.size
        scores = np.full(n, -np.inf)
        l1 = np.full(n, np.inf)
        c1, c2 = np.zeros(n, bool), np.zeros(n, bool)
        if m == 0:
            nan, out = np.full(d, np.nan), _mean_rows(x, None)
            return BrSGDTrace(ok, scores, nan, l1, np.nan, c1, c2, c1.copy(), True, out)
        rows = None if m == n else good
        # Steps 1-2: column means, score matrix with the counter < m/2 flip, scores.
        s = np.zeros(m)
        for sl in _blocks(m, d):
            block = _take(x, rows, sl)
            above = block >= block.mean(axis=0, dtype=np.float64)
            sign = np.where(2 * np.count_nonzero(above, axis=0) < m, -1.0, 1.0)
            s += above.astype(np.float64) @ sign
        # Step 3: Constraint 1.
        med = _median_rows(x, rows)
        dist = _distances(x, rows, med, 1)
        thr = float(np.median(dist)) if self.threshold is None else self.threshold
        in_c1 = dist <= 2.0 * thr
        # Step 4: Constraint 2, ceil(beta m) highest scores, lower index first among ties.
        k = math.ceil(_exact(self.beta) * m)
        in_c2 = np.zeros(m, bool)
        in_c2[np.argsort(-s, kind="stable")[:k]] = True
        # Step 5: mean over C1 ∩ C2 (g_med if empty).
        chosen = in_c1 & in_c2
        fallback = not chosen.any()
        out = med.copy() if fallback else _mean_rows(x, good[chosen])
        scores[good], l1[good], c1[good], c2[good] = s, dist, in_c1, in_c2
        selected = np.zeros(n, bool)
        selected[good] = chosen
        return BrSGDTrace(ok, scores, med, l1, thr, c1, c2, selected, fallback, out)


# --------------------------------------------------------------------------- registry


REGISTRY: MappingProxyType[str, type[Aggregator]] = MappingProxyType(
    {
        "mean": Mean,
        "median": Median,
        "trimmed_mean": TrimmedMean,
        "krum": Krum,
        "multi_krum": MultiKrum,
        "bulyan": Bulyan,
        "geometric_median": GeometricMedian,
        "centered_clipping": CenteredClipping,
        "brsgd": BrSGD,
    }
)
NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str, **params) -> Aggregator:
    """Build the aggregator registered as ``name`` with keyword ``params``.

    Args:
        name: one of :data:`NAMES`.
        **params: the rule's parameters (see the module table); unknown ones
            raise ``ValueError``.

    Returns:
        A callable ``(n, d) float array -> (d,) float array``.

    Example:
        >>> agg = get("trimmed_mean", f=1)
        >>> agg
        TrimmedMean(f=1)
        >>> agg(np.array([[0.0, 1.0], [1.0, 1.0], [1e10, -1e10]]))
        array([1., 1.])
    """
    cls = REGISTRY[v.choice("name", name, NAMES)]
    unknown = sorted(set(params) - set(cls.PARAMS))
    if unknown:
        raise ValueError(
            f"{unknown[0]}={params[unknown[0]]!r} is not a parameter of {name!r}; "
            f"it takes {list(cls.PARAMS)}"
        )
    return cls(**params)


def requires(name: str, f: int, **params) -> int:
    """Smallest number of input rows n for which rule ``name`` tolerates f Byzantine rows.

    For rules configured by ``f`` (trimmed_mean, krum, multi_krum, bulyan)
    this is the n they check at call time; for the others it is the bound
    under which their robustness guarantee holds (honest majority, or
    ``f < beta n`` for BrSGD). Raises ``ValueError`` for ``mean`` with f >= 1.

    Example:
        >>> [requires(name, 1) for name in ("median", "krum", "bulyan", "brsgd")]
        [3, 5, 7, 3]
        >>> requires("multi_krum", 2, m=6), requires("brsgd", 1, beta=0.25)
        (8, 5)
    """
    f = v.integer("f", f, lo=0)
    cls = REGISTRY[v.choice("name", name, NAMES)]
    if "f" in cls.PARAMS:
        params = {**params, "f": f}
    return get(name, **params).min_n(f)


def for_rows(agg: Aggregator, m: int) -> tuple[Aggregator, str | None]:
    """The rule to apply when only ``m`` of the expected rows arrived (absent messages).

    A rule configured for ``f`` Byzantine rows that cannot take ``m`` rows (Krum needs
    ``m >= 2f + 3``, Bulyan ``m >= 4f + 3``, trimmed mean ``m >= 2f + 1``, Multi-Krum also
    ``m >= m_avg + f``) is re-derived for the rows present: the same rule with the largest
    ``f' < f`` it accepts at ``m`` (Multi-Krum's ``m_avg`` capped at ``m - f'``), and, if
    not even ``f' = 0`` fits (Krum or Bulyan with ``m < 3``), the coordinate-wise median.
    Rules that take any number of rows are returned unchanged. The guarantee is then the
    re-derived rule's: ``f'`` Byzantine rows among those present. Used by the MPI server,
    so that one missing or malformed message never stops a step, and a Byzantine that
    withholds every message cannot stall training.

    Args:
        agg: the configured rule.
        m: rows that arrived, ``m >= 1``.

    Returns:
        ``(rule, note)``: ``note`` is None when ``agg`` itself takes ``m`` rows, else a
        sentence naming the substitute.

    Example:
        >>> for_rows(get("krum", f=1), 4)
        (Krum(f=0), 'Krum(f=1) cannot take 4 rows; used Krum(f=0)')
        >>> for_rows(get("krum", f=1), 2)[0], for_rows(get("median"), 2)
        (Median(), (Median(), None))
    """
    m = v.integer("m", m, lo=1)
    if not isinstance(agg, _WithF) or m >= agg.min_n(agg.f):
        return agg, None
    for f2 in range(agg.f - 1, -1, -1):
        params = {**agg._params(), "f": f2}
        if isinstance(agg, MultiKrum) and agg.m is not None:
            if m - f2 < 1:
                continue
            params["m"] = min(agg.m, m - f2)
        cand = type(agg)(**params)
        if m >= cand.min_n(f2):
            return cand, f"{agg!r} cannot take {m} rows; used {cand!r}"
    return Median(), f"{agg!r} cannot take {m} rows; used the coordinate-wise median"
