"""Allocation codes: which worker computes which data partition.

A code is an ``(n_workers, n_partitions)`` 0/1 matrix ``G`` with ``G[i, j] = 1``
iff partition ``j`` is assigned to worker ``i`` (Section 2.2 of the paper).
Worker ``i`` sends the majority of the gradient signs of its partitions
``P_i = {j : G[i, j] = 1}``; the master takes the majority of what it receives.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v

__all__ = [
    "uncoded",
    "bernoulli",
    "deterministic",
    "deterministic_params",
    "redundancy",
    "loads",
    "empty_rows",
    "empty_columns",
    "prob_no_empty_row",
    "EMPTY_ROW_RULES",
    "eq5_redundancy",
]


def uncoded(n: int) -> np.ndarray:
    """The uncoded scheme (SignSGD with majority vote): ``G = I_n``.

    Args:
        n: number of workers (= number of partitions), n >= 1.

    Returns:
        ``(n, n)`` uint8 identity matrix; redundancy 1.

    Example:
        >>> uncoded(3)
        array([[1, 0, 0],
               [0, 1, 0],
               [0, 0, 1]], dtype=uint8)

    Reference: Section 2.1 (SignSGD-MV, the uncoded baseline ``G = I_n``).
    """
    n = v.integer("n", n, lo=1)
    return np.eye(n, dtype=np.uint8)


#: Empty-row rules of :func:`bernoulli`.
EMPTY_ROW_RULES = ("keep", "redraw")
#: ``redraw`` gives up (``ValueError``) when a code without empty rows is this unlikely.
MIN_REDRAW_PROBABILITY = 1e-4
#: and after this many draws (a ~1e-4 event takes ~1e4 draws on average).
MAX_REDRAWS = 100_000


def prob_no_empty_row(n: int, p: float, k: int) -> float:
    """Probability that a Bernoulli(p) code has no empty row: ``(1 - (1 - p)**k)**n``.

    Example:
        >>> round(prob_no_empty_row(15, 2 / 15, 15), 3)
        0.155
    """
    return float((1.0 - (1.0 - p) ** k) ** n)


def bernoulli(n: int, p: float, k: int | None = None, rng=None,
              empty_rows: str = "keep") -> np.ndarray:
    """Random Bernoulli code: ``G[i, j] ~ Bern(p)`` i.i.d.

    The expected redundancy (copies per partition) is ``E[r] = n p``, so
    ``p = r / n`` gives a code of expected redundancy ``r``. A worker whose
    row is empty computes nothing and *abstains*: the master treats its vote
    as missing (see :func:`electionlib.votes.encode`). This happens with
    probability ``(1 - p)**k`` per worker. Two sampling rules:

    * ``empty_rows="keep"`` (default): the code is exactly the paper's i.i.d.
      ensemble (Section 3, the theory of Lemma 1 and Theorem 1, and the reference
      implementation's Amazon script);
    * ``empty_rows="redraw"``: the whole ``G`` is redrawn until every worker has a
      partition -- the rule of the reference implementation's CIFAR-10 scripts behind
      Figs. 4-5. The result is the i.i.d. ensemble *conditioned* on no empty row (its
      realised redundancy is above ``n p``). ``ValueError`` when that event has
      probability below :data:`MIN_REDRAW_PROBABILITY` (e.g. ``p = 0``, or ``n = 49``
      with ``p = 1/49``).

    A partition that no worker holds (an empty *column*) may occur under both rules:
    its gradient enters no vote, so its data is not used for training while ``G`` is
    in force.

    Args:
        n: number of workers, n >= 1.
        p: connection probability in [0, 1].
        k: number of data partitions (default ``n``), k >= 1 (Remark 2).
        rng: ``numpy.random.Generator`` or integer seed (required).
        empty_rows: ``"keep"`` or ``"redraw"`` (see above).

    Returns:
        ``(n, k)`` uint8 matrix.

    Example:
        >>> G = bernoulli(5, 0.4, rng=0)
        >>> G.shape, G.dtype
        ((5, 5), dtype('uint8'))
        >>> bool(bernoulli(15, 2 / 15, rng=2, empty_rows="redraw").sum(axis=1).min() > 0)
        True

    Reference: Section 3 (random Bernoulli codes), Remark 2 (k != n).
    """
    n = v.integer("n", n, lo=1)
    p = v.real("p", p, lo=0.0, hi=1.0)
    k = n if k is None else v.integer("k", k, lo=1)
    rule = v.choice("empty_rows", empty_rows, EMPTY_ROW_RULES)
    gen = v.rng(rng)
    if rule == "keep":
        return (gen.random((n, k)) < p).astype(np.uint8)
    chance = prob_no_empty_row(n, p, k)
    if chance < MIN_REDRAW_PROBABILITY:
        raise ValueError(
            f"empty_rows='redraw' with n={n}, k={k}, p={p:g}: a code without empty rows has "
            f"probability {chance:.2g} < {MIN_REDRAW_PROBABILITY:g} (practically "
            f"unreachable); use empty_rows='keep' or a larger p")
    for _ in range(MAX_REDRAWS):
        G = (gen.random((n, k)) < p).astype(np.uint8)
        if G.any(axis=1).all():
            return G
    raise ValueError(f"empty_rows='redraw': no code without empty rows in {MAX_REDRAWS} "
                     f"draws (n={n}, k={k}, p={p:g}, probability {chance:.2g} per draw)")


def empty_columns(G) -> np.ndarray:
    """Boolean mask ``(k,)`` of partitions no worker holds (their data is never voted on).

    Example:
        >>> empty_columns([[1, 0], [1, 0]]).tolist()
        [False, True]
    """
    return v.allocation(G).sum(axis=0) == 0


def deterministic_params(n: int, b: int) -> tuple[int, int]:
    """The block sizes ``(s, L)`` of Algorithm 1.

    ``s = (n - 1)/2 - b`` identity rows, ``L = floor((n - (2b+1)) / (2(b+1))) + 1``
    rows of weight ``2b + 1``; the remaining ``n - s - L`` rows are all ones.

    Example:
        >>> deterministic_params(15, 3)
        (4, 2)

    Reference: Algorithm 1 (Initialize).
    """
    n, b = _check_deterministic(n, b)
    s = (n - 1) // 2 - b
    L = (n - (2 * b + 1)) // (2 * (b + 1)) + 1
    return s, L


def deterministic(n: int, b: int) -> np.ndarray:
    """Deterministic code of Algorithm 1: perfect b-Byzantine tolerance.

    With ``s`` and ``L`` from :func:`deterministic_params`:
    step 1 puts ``I_s`` in the top-left corner, step 2 makes the bottom
    ``n - s - L`` rows all ones, step 3 fills ``A = G[s:s+L, s:n]`` with
    ``2b + 1`` consecutive ones per row, shifted by ``b + 1`` from row to row.
    Every row has odd weight (1, 2b+1 or n), so no worker ever has a tied
    local vote. Theorem 3: for any ``b' <= b`` Byzantine workers and any
    messages they send, the master's decision equals the majority of the
    ``n`` partition signs.

    Args:
        n: number of workers (= partitions); must be odd.
        b: design number of Byzantines, ``0 < b < floor(n/2)``.

    Returns:
        ``(n, n)`` uint8 matrix with redundancy given by eq. (5).

    Raises:
        ValueError: for even ``n`` (Algorithm 1 and Lemma 2 assume odd ``n``:
            use ``n - 1`` workers for the code and let the extra worker
            idle, or add a worker), and for ``b`` outside ``(0, floor(n/2))``.

    Example:
        >>> deterministic(5, 1)
        array([[1, 0, 0, 0, 0],
               [0, 1, 1, 1, 0],
               [1, 1, 1, 1, 1],
               [1, 1, 1, 1, 1],
               [1, 1, 1, 1, 1]], dtype=uint8)
        >>> float(redundancy(deterministic(5, 1)))
        3.8

    Reference: Algorithm 1, Fig. 3, Theorem 3, eq. (5).
    """
    s, L = deterministic_params(n, b)
    G = np.zeros((n, n), dtype=np.uint8)
    G[:s, :s] = np.eye(s, dtype=np.uint8)  # step 1
    G[s + L :, :] = 1  # step 2
    width = n - s
    for row in range(L):  # step 3 (0-based l = row)
        start = row * (b + 1)
        stop = start + 2 * b + 1
        if stop > width:  # cannot happen for valid (n, b); kept as an internal check
            raise AssertionError(f"Algorithm 1 row {row} overflows A for n={n}, b={b}")
        G[s + row, s + start : s + stop] = 1
    return G


def redundancy(G) -> float:
    """Computational redundancy ``r = ||G||_0 / k``: copies computed per partition.

    Equals the paper's ``||G||_0 / n`` when ``k = n``; for Bernoulli codes
    ``E[r] = n p``.

    Example:
        >>> redundancy(uncoded(4))
        1.0

    Reference: Section 2.2.
    """
    G = v.allocation(G)
    return float(G.sum(dtype=np.int64)) / G.shape[1]


def loads(G) -> np.ndarray:
    """Partitions per worker (row sums of ``G``), shape ``(n,)`` int64.

    Example:
        >>> loads(deterministic(5, 1)).tolist()
        [1, 3, 5, 5, 5]
    """
    G = v.allocation(G)
    return G.sum(axis=1, dtype=np.int64)


def empty_rows(G) -> np.ndarray:
    """Boolean mask ``(n,)`` of workers with no partition (they always abstain).

    Example:
        >>> empty_rows([[1, 0], [0, 0]]).tolist()
        [False, True]
    """
    return loads(G) == 0


def _check_deterministic(n, b) -> tuple[int, int]:
    n = v.integer("n", n, lo=3)
    if n % 2 == 0:
        raise ValueError(
            f"n={n} must be odd for Algorithm 1 (Lemma 2 assumes odd n): build the code for "
            f"n-1={n - 1} workers and leave one worker idle, or use n+1={n + 1} workers"
        )
    b = v.integer("b", b)
    if not 0 < b < n // 2:
        hint = " (b=0 needs no code: use codes.uncoded)" if b == 0 else ""
        raise ValueError(
            f"b={b} must satisfy 0 < b < n//2 = {n // 2} for Algorithm 1 with n={n}{hint}"
        )
    return n, b


def eq5_redundancy(n: int, b: int) -> float:
    """Eq. (5): redundancy of Algorithm 1's deterministic code, in closed form.

    r = (n + 2b + 1)/2 - (L - 1/2)(n - 2b - 1)/n, L = floor((n - (2b+1)) / (2(b+1))) + 1;
    equal to (s + (2b+1) L + n (n - s - L)) / n with s = (n-1)/2 - b.

    Args: n: workers, odd; b: Byzantine workers, 0 < b < floor(n/2).
    Returns: r = ||G||_0 / n.

    >>> eq5_redundancy(5, 1)
    3.8

    Reference: Theorem 3, eq. (5); closed form at the end of supplement D.3.
    """
    n, b = v.integer("n", n, lo=1), v.integer("b", b)
    if n % 2 == 0:
        raise ValueError(f"n={n} must be odd for eq. (5) (it uses s = (n-1)/2 - b)")
    if not 0 < b < n // 2:
        raise ValueError(f"b={b} must satisfy 0 < b < n//2 = {n // 2} for eq. (5) (n={n})")
    L = (n - (2 * b + 1)) // (2 * (b + 1)) + 1
    return (n + 2 * b + 1) / 2 - (L - 0.5) * (n - 2 * b - 1) / n
