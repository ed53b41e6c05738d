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

**Pre-aggregators** (:data:`PRE_AGGREGATORS`) transform the n rows before any rule sees
them; ``get(name, pre=..., **params)`` composes one with the rule (``pre=None``, the
default, is the bare rule)::

    agg = get("centered_clipping", pre="nnm", f=2)   # NNM(f=2) -> CenteredClipping(...)
    agg = get("krum", pre="bucketing", f=1, s=2, seed=0)

| pre       | parameters (defaults)       | rows the rule sees | min n for f Byzantine rows |
|-----------|-----------------------------|--------------------|----------------------------|
| nnm       | f (the rule's f if it has   | n                  | max(rule's min n, f + 1)   |
|           | one; required otherwise)    |                    |                            |
| bucketing | s=2, seed=0                 | ceil(n / s)        | s (rule's min n - 1) + 1   |

* ``nnm`` (:class:`NNM`) -- nearest-neighbour mixing: each row becomes the mean of its
  n - f nearest rows. One ``f`` configures both NNM and a rule that takes ``f``; for a
  rule without ``f`` (mean, median, geometric_median, centered_clipping, brsgd) the ``f``
  passed to :func:`get` is NNM's alone.
* ``bucketing`` (:class:`Bucketing`) -- a random permutation cut into buckets of ``s``
  rows, each averaged. The permutations come from ``numpy.random.default_rng(seed)``,
  owned by the composed instance: call t uses the t-th permutation of that stream, so
  two instances built with the same parameters give the same outputs call for call
  (:meth:`PreAggregated.reset` restarts it). The rule's ``f`` stays ``f``: a Byzantine
  row contaminates at most one bucket, so at most f of the ceil(n/s) bucket means are
  Byzantine; the rule's row bound applies to ceil(n/s).

The composition (:class:`PreAggregated`) is an :class:`Aggregator`: same call shape and
dtype rules, a stateful rule keeps its state, :func:`for_rows` re-derives it for fewer
rows. Every parameter is a scalar (str, int, float or None), so a run's configuration can
store them as ``(("pre", "nnm"), ("f", 2))`` pairs.

Conventions shared by all rules:

* **dtype** -- float32 in, float32 out; float64 in, float64 out; integer input
  is treated as float64. Intermediate sums, distances and medians are
  computed in float64, one block of columns at a time, so a float32
  ``(50, 10**7)`` input never gets a float64 copy of its own size. Order
  statistics are selected in the input's dtype (exact: the conversion to
  float64 is monotone) and only the selected values are converted. A
  pre-aggregator's means are accumulated in float64 and stored in the input's
  dtype, so the rule after it sees rows of that dtype.
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
  the rule trims away. NNM passes a non-finite row through unchanged (it is
  never a neighbour of a finite row) and bucketing makes the bucket holding it
  non-finite; the rule after them then applies its own rule above.
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
    "PreAggregator",
    "NNM",
    "Bucketing",
    "PreAggregated",
    "REGISTRY",
    "NAMES",
    "PRE_AGGREGATORS",
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


# --------------------------------------------------------------------------- pre-aggregators


class PreAggregator:
    """Base class: ``pre(x)`` maps an ``(n, d)`` real array to ``(rows(n), d)`` rows in x's dtype.

    Subclasses set ``name`` and ``PARAMS`` and implement ``rows(n)`` (how many rows the rule
    after them sees), ``min_n(k)`` (the smallest n such that the rule sees at least ``k``
    rows and the pre-aggregator itself can run) and ``_apply(x, ok)`` (``x`` checked, ``ok``
    the ``(n,)`` finite-row mask). Means are accumulated in float64, one block of columns
    at a time, and stored in x's dtype.
    """

    name: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[str, ...]] = ()

    def __call__(self, x) -> np.ndarray:
        """Transform the rows of ``x`` (``(n, d)``) into ``(rows(n), d)`` rows of x's dtype."""
        x = _as_matrix(x)
        need = self.min_n(1)
        if x.shape[0] < need:
            raise ValueError(f"{self!r} needs n >= {need} input rows, got n={x.shape[0]}")
        with np.errstate(over="ignore", invalid="ignore"):
            return self._apply(x, _finite_rows(x))

    def rows(self, n: int) -> int:
        """Number of rows the rule after this pre-aggregator sees for ``n`` input rows."""
        return n

    def min_n(self, k: int) -> int:
        """Smallest number of input rows for which the rule after it sees at least ``k`` rows."""
        return k

    def reset(self) -> None:
        """Return to the state the pre-aggregator was built in (nothing, unless it draws)."""

    def _apply(self, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self._params().items())
        return f"{type(self).__name__}({args})"


class NNM(PreAggregator):
    """Nearest-neighbour mixing: each row becomes the mean of its n - f nearest rows.

    ``y_i = (1 / (n - f)) sum_{j in N_i} x_j``, where ``N_i`` holds row ``i`` itself and
    the ``n - f - 1`` other rows closest to it in l2 (squared distances from the Gram
    matrix, :func:`_pairwise_sq`); ties in distance go to the lower row index, so the
    output is a deterministic function of the input and NNM is permutation-equivariant
    (permuting the input rows permutes the output rows) wherever distances do not tie.
    ``y = W x`` with ``W`` the ``(n, n)`` row-stochastic matrix of :meth:`weights`.

    Non-finite rows (any NaN or inf entry) are at distance +inf from every row, so they
    are never a neighbour of a finite row: a finite row averages its ``min(n - f, m)``
    nearest finite rows (m of them), and a non-finite row is passed through unchanged, for
    the rule after NNM to treat as the malformed message it is (the mean propagates it,
    the robust rules discard it). Allouah et al. show that NNM followed by a robust rule
    configured for the same f attains the optimal error under heterogeneous honest rows,
    for ``n > 2f``.

    Args:
        f: number of Byzantine rows tolerated, 0 <= f < n (the mixing averages n - f rows).

    Example:
        >>> x = np.array([[0.0], [1.0], [3.0], [10.0]])
        >>> NNM(f=1)(x)    # neighbours {0, 1, 3}, {1, 0, 3}, {3, 1, 0}, {10, 3, 1}
        array([[1.33333333],
               [1.33333333],
               [1.33333333],
               [4.66666667]])
        >>> get("median", pre="nnm", f=1)(x)
        array([1.33333333])

    Reference: Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan, *Fixing by mixing:
    a recipe for optimal Byzantine ML under heterogeneity*, AISTATS 2023 (nearest neighbor
    mixing, NNM).
    """

    name = "nnm"
    PARAMS = ("f",)

    def __init__(self, *, f: int):
        self.f = v.integer("f", f, lo=0)

    def _params(self) -> dict:
        return {"f": self.f}

    def min_n(self, k: int) -> int:
        return max(k, self.f + 1)

    def weights(self, x) -> np.ndarray:
        """The ``(n, n)`` float64 mixing matrix ``W`` of ``x`` (``(n, d)``): ``NNM(x) = W x``.

        Row i holds ``1/k`` on the ``k = min(n - f, m)`` nearest finite rows of a finite row
        (m finite rows), and 1 on the diagonal of a non-finite row.
        """
        x = _as_matrix(x)
        if x.shape[0] < self.f + 1:
            raise ValueError(f"{self!r} needs n >= {self.f + 1} input rows, got n={x.shape[0]}")
        with np.errstate(over="ignore", invalid="ignore"):
            ok = _finite_rows(x)
            good, sub = self._mixing(x, ok)
            w = np.diag((~ok).astype(np.float64))
            w[np.ix_(good, good)] = sub
            return w

    def _mixing(self, x: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The finite rows and the mixing matrix among them, ``(m,)`` and ``(m, m)``."""
        good = np.flatnonzero(ok)
        m = good.size
        if m == 0:
            return good, np.zeros((0, 0))
        dist = _pairwise_sq(x, ok)[np.ix_(good, good)]
        np.fill_diagonal(dist, -1.0)  # the row itself comes first, even beside a duplicate
        k = min(x.shape[0] - self.f, m)
        near = np.argsort(dist, axis=1, kind="stable")[:, :k]  # ties: the lower index
        w = np.zeros((m, m))
        w[np.arange(m)[:, None], near] = 1.0 / k
        return good, w

    def _apply(self, x, ok):
        n, d = x.shape
        out = np.array(x)  # non-finite rows pass through unchanged
        good, w = self._mixing(x, ok)
        if good.size == 0:
            return out
        rows = None if good.size == n else good
        for sl in _blocks(n, d):
            mixed = w @ _take(x, rows, sl).astype(np.float64)
            if rows is None:
                out[:, sl] = mixed
            else:
                out[good, sl] = mixed
        return out


class Bucketing(PreAggregator):
    """Bucketing: a random permutation of the rows, cut into buckets of s rows, each averaged.

    With the permutation ``pi`` of call t, bucket ``b = 0 .. ceil(n/s) - 1`` holds rows
    ``pi[b s], ..., pi[min(n, (b + 1) s) - 1]`` and ``y_b`` is their mean (the last bucket
    holds ``n - s (ceil(n/s) - 1)`` rows and is averaged over those). The permutations are
    ``numpy.random.default_rng(seed).permutation(n)``, drawn from one stream owned by the
    instance, one per call in call order (a call that raises draws nothing; :meth:`reset`
    restarts the stream); :attr:`last_permutation` is the latest. A non-finite row makes its
    bucket's mean non-finite: one malformed bucket per malformed row, for the rule to treat
    by its own non-finite rule. ``s = 1`` is a permutation of the rows; ``s >= n`` is the
    mean of all rows.

    A rule configured for f Byzantine rows keeps its f: each Byzantine row contaminates
    at most one bucket, so at most f of the ceil(n/s) bucket means are Byzantine, while
    averaging s randomly chosen honest rows shrinks their spread (heterogeneity).

    Args:
        s: bucket size, s >= 1.
        seed: seed of the permutation stream, an integer >= 0.

    Example:
        >>> pre = Bucketing(s=2, seed=0)
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
        >>> y = pre(x)
        >>> pre.last_permutation.tolist() == np.random.default_rng(0).permutation(5).tolist()
        True
        >>> pre.last_permutation, y.ravel()     # buckets {2, 4}, {3, 0}, {1}
        (array([2, 4, 3, 0, 1]), array([3. , 1.5, 1. ]))
        >>> get("median", pre="bucketing", s=2, seed=0)(x)   # the same first permutation
        array([1.5])

    Reference: Karimireddy, He, Jaggi, *Byzantine-robust learning on heterogeneous
    datasets via bucketing*, ICLR 2022 (the bucketing scheme).
    """

    name = "bucketing"
    PARAMS = ("s", "seed")

    def __init__(self, *, s: int = 2, seed: int = 0):
        self.s = v.integer("s", s, lo=1)
        self.seed = v.integer("seed", seed, lo=0)
        self.last_permutation: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Restart the permutation stream from ``seed`` (the next call draws its first one)."""
        self._rng = np.random.default_rng(self.seed)
        self.last_permutation = None

    def _params(self) -> dict:
        return {"s": self.s, "seed": self.seed}

    def rows(self, n: int) -> int:
        return -(-n // self.s)

    def min_n(self, k: int) -> int:
        return self.s * (k - 1) + 1 if k > 1 else 1

    def _apply(self, x, ok):
        n, d = x.shape
        perm = self._rng.permutation(n)
        self.last_permutation = perm
        s = self.s
        out = np.empty((self.rows(n), d), dtype=x.dtype)
        for b in range(out.shape[0]):
            out[b] = _mean_rows(x, np.sort(perm[b * s : (b + 1) * s]))
        return out


class PreAggregated(Aggregator):
    """A pre-aggregator followed by a rule: ``agg(x) = rule(pre(x))``.

    Built by :func:`get` with ``pre=``; an :class:`Aggregator` like the bare rules
    (``(n, d) -> (d,)``, x's float dtype). ``rule`` is the instance that holds any state
    (centered clipping's previous aggregate); :meth:`reset` resets it and the
    pre-aggregator (bucketing's stream). The bound on n is the rule's, mapped through the
    pre-aggregator: n for NNM (and n > f), ceil(n/s) for bucketing; rules that take ``f``
    check it when called (``min_n``, :func:`requires`).

    Args:
        pre: a :class:`PreAggregator` (:class:`NNM` or :class:`Bucketing`).
        rule: the :class:`Aggregator` applied to its rows. With NNM and a rule that takes
            ``f``, both must have the same ``f``.

    Example:
        >>> agg = get("centered_clipping", pre="nnm", f=1, tau=2.0)
        >>> agg
        NNM(f=1) -> CenteredClipping(tau=2.0, iterations=1)
        >>> x = np.array([[0.0], [1.0], [3.0], [10.0]])
        >>> agg(x)  # mixed rows 4/3, 4/3, 4/3, 14/3: v = 4/3, steps 0, 0, 0, clip(10/3) = 2
        array([1.83333333])
        >>> agg(x)  # from v = 11/6: steps -1/2 (three times), clip(17/6) = 2
        array([1.95833333])

    Reference: Allouah et al., AISTATS 2023 (NNM composed with a robust rule);
    Karimireddy, He, Jaggi, ICLR 2022 (bucketing composed with a robust rule).
    """

    def __init__(self, pre: PreAggregator, rule: Aggregator):
        if not isinstance(pre, PreAggregator):
            raise ValueError(f"pre={pre!r} must be a PreAggregator (NNM or Bucketing)")
        if not isinstance(rule, Aggregator) or isinstance(rule, PreAggregated):
            raise ValueError(f"rule={rule!r} must be one bare Aggregator (a registered rule)")
        if isinstance(pre, NNM) and isinstance(rule, _WithF) and pre.f != rule.f:
            raise ValueError(f"f: {pre!r} and {rule!r} must share one f")
        self.pre = pre
        self.rule = rule

    def reset(self) -> None:
        """Return to the state as built: the rule's state (if any) and the pre-aggregator's."""
        self.pre.reset()
        reset = getattr(self.rule, "reset", None)
        if reset is not None:
            reset()

    def min_n(self, f: int) -> int:
        return self.pre.min_n(self.rule.min_n(f))

    def _need(self) -> tuple[int, str]:
        """Smallest n this composition runs on, and why."""
        if isinstance(self.rule, _WithF):
            k = self.rule.min_n(self.rule.f)
            why = self.rule._bound
        else:
            k, why = 1, ""
        need = self.pre.min_n(k)
        if isinstance(self.pre, Bucketing):
            why = (f"ceil(n/{self.pre.s}) >= {k} bucket means: {self.rule!r} needs {why} "
                   f"of the rows it sees")
        elif isinstance(self.pre, NNM) and need > k:
            why = f"n > f = {self.pre.f}: each row mixes its n - f nearest rows"
        return need, why

    def _check(self, shape: tuple[int, int]) -> None:
        n, d = shape
        need, why = self._need()
        if n < need:
            raise ValueError(f"{self!r} needs n >= {need} input rows ({why}), got n={n}")
        self.rule._check((self.pre.rows(n), d))

    def _aggregate(self, x, ok):
        return self.rule(self.pre._apply(x, ok))

    def _params(self) -> dict:
        """The keyword parameters of :func:`get` that rebuild this composition."""
        return {"pre": self.pre.name, **self.rule._params(), **self.pre._params()}

    def __repr__(self) -> str:
        return f"{self.pre!r} -> {self.rule!r}"


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
_PRE: MappingProxyType[str, type[PreAggregator]] = MappingProxyType(
    {"nnm": NNM, "bucketing": Bucketing}
)
#: The pre-aggregators :func:`get` composes with a rule (``pre=``).
PRE_AGGREGATORS: tuple[str, ...] = tuple(_PRE)


def get(name: str, *, pre: str | None = None, **params) -> Aggregator:
    """Build the aggregator registered as ``name`` with keyword ``params``, optionally composed.

    ``pre=None`` gives the bare rule; ``pre="nnm"`` or ``pre="bucketing"`` gives
    ``rule(pre(x))`` (:class:`PreAggregated`). ``params`` are the rule's and the
    pre-aggregator's: ``f`` for NNM (shared with a rule that takes ``f``; required for
    one that does not), ``s`` (default 2) and ``seed`` (default 0) for bucketing.

    Args:
        name: one of :data:`NAMES`.
        pre: None, or one of :data:`PRE_AGGREGATORS`.
        **params: scalar parameters (see the module tables); unknown ones raise
            ``ValueError``, as do ``s``/``seed`` without ``pre="bucketing"`` and
            ``pre="nnm"`` without an ``f``.

    Returns:
        A callable ``(n, d) float array -> (d,) float array``.

    Example:
        >>> agg = get("trimmed_mean", f=1)
        >>> agg
        TrimmedMean(f=1)
        >>> agg(np.array([[0.0, 1.0], [1.0, 1.0], [1e10, -1e10]]))
        array([1., 1.])
        >>> get("centered_clipping", pre="nnm", f=2)
        NNM(f=2) -> CenteredClipping(tau=10.0, iterations=1)
        >>> get("median", pre="bucketing", s=2, seed=0)
        Bucketing(s=2, seed=0) -> Median()
    """
    cls = REGISTRY[v.choice("name", name, NAMES)]
    pre_cls = None if pre is None else _PRE[v.choice("pre", pre, PRE_AGGREGATORS)]
    pre_keys = () if pre_cls is None else pre_cls.PARAMS
    for key in params:
        if key in cls.PARAMS or key in pre_keys:
            continue
        owner = [p for p, c in _PRE.items() if key in c.PARAMS]
        with_pre = "" if pre is None else f" with pre={pre!r}"
        if key in Bucketing.PARAMS:
            raise ValueError(f"{key}={params[key]!r} is a parameter of pre='bucketing' only, "
                             f"got pre={pre!r}")
        hint = f"; {key} is a parameter of pre={owner[0]!r}" if owner else ""
        raise ValueError(
            f"{key}={params[key]!r} is not a parameter of {name!r}{with_pre}; "
            f"it takes {list(cls.PARAMS)}{hint}"
        )
    rule = cls(**{k: val for k, val in params.items() if k in cls.PARAMS})
    if pre_cls is None:
        return rule
    pre_params = {k: val for k, val in params.items() if k in pre_keys}
    if pre_cls is NNM and "f" not in pre_params:
        if not isinstance(rule, _WithF):
            raise ValueError(
                f"f is missing: pre='nnm' needs f, the number of Byzantine rows (an integer "
                f">= 0), and {name!r} has no f of its own; e.g. get({name!r}, pre='nnm', f=1)"
            )
        pre_params["f"] = rule.f
    return PreAggregated(pre_cls(**pre_params), rule)


def requires(name: str, f: int, **params) -> int:
    """Smallest number of input rows n for which rule ``name`` tolerates f Byzantine rows.

    For rules configured by ``f`` (trimmed_mean, krum, multi_krum, bulyan)
    this is the n they check at call time; for the others it is the bound
    under which their robustness guarantee holds (honest majority, or
    ``f < beta n`` for BrSGD). Raises ``ValueError`` for ``mean`` with f >= 1.

    With ``pre="nnm"`` the bound is the rule's (and n > f); with ``pre="bucketing"`` the
    rule's bound applies to the ceil(n/s) bucket means, so n >= s (rule's bound - 1) + 1.

    Example:
        >>> [requires(name, 1) for name in ("median", "krum", "bulyan", "brsgd")]
        [3, 5, 7, 3]
        >>> requires("multi_krum", 2, m=6), requires("brsgd", 1, beta=0.25)
        (8, 5)
        >>> requires("krum", 1, pre="nnm"), requires("krum", 1, pre="bucketing", s=2)
        (5, 9)
    """
    f = v.integer("f", f, lo=0)
    cls = REGISTRY[v.choice("name", name, NAMES)]
    if "f" in cls.PARAMS or params.get("pre") == "nnm":
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

    A composed rule (:class:`PreAggregated`) keeps its pre-aggregator instance and its
    rule instance wherever they take the m rows (bucketing's stream and a stateful rule's
    state carry on); the rule is re-derived for the rows it sees (``ceil(m/s)`` bucket
    means after bucketing; m after NNM, whose ``f`` follows the re-derived rule's ``f'``,
    or ``min(f, m - 1)`` for a rule without ``f``).

    Example:
        >>> for_rows(get("krum", f=1), 4)
        (Krum(f=0), 'Krum(f=1) cannot take 4 rows; used Krum(f=0)')
        >>> for_rows(get("krum", f=1), 2)[0], for_rows(get("median"), 2)
        (Median(), (Median(), None))
        >>> for_rows(get("krum", pre="nnm", f=2), 6)[0]
        NNM(f=1) -> Krum(f=1)
        >>> for_rows(get("krum", pre="bucketing", f=1), 8)[0]   # 4 bucket means
        Bucketing(s=2, seed=0) -> Krum(f=0)
    """
    m = v.integer("m", m, lo=1)
    if isinstance(agg, PreAggregated):
        return _for_rows_composed(agg, m)
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


def _for_rows_composed(agg: PreAggregated, m: int) -> tuple[Aggregator, str | None]:
    """:func:`for_rows` for a composition: the same pre-aggregator instance (bucketing) or
    NNM with the re-derived ``f``, and the rule re-derived for the rows it sees."""
    pre = agg.pre
    rule, _ = for_rows(agg.rule, pre.rows(m))
    if isinstance(pre, NNM):
        f2 = min(pre.f, m - 1, rule.f if isinstance(rule, _WithF) else pre.f)
        if f2 != pre.f:
            pre = NNM(f=f2)
    if rule is agg.rule and pre is agg.pre:
        return agg, None
    cand = PreAggregated(pre, rule)
    return cand, f"{agg!r} cannot take {m} rows; used {cand!r}"
