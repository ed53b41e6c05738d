"""Theory of election coding: the paper's bounds, and exact error probabilities beside them.

Part 1 transcribes the bounds (Lemma C.4, Lemma E.1, Lemma 1, Theorem 1, Remark 1, eq. (5)).
Part 2 is exact under Gaussian noise: partition j's gradient is N(g, sigma_bar^2), independently,
so its sign is correct with probability rho = Phi(S), S = |g| / sigma_bar (Definition 1).

Vote model of part 2 (the simulator's rule). An honest worker with X correct and Y wrong partition
signs votes sign(g) if X > Y and -sign(g) if X < Y; a tie on a non-empty row follows ``tie``
("plus": +1 absolute, "coin": fair coin, "abstain": no vote = 0); an empty row always abstains.
Byzantine workers (``attack``): "none" act honestly, "reverse" negate their honest vote (an
abstention stays one, a coin stays a fair coin), "directional" send +1 (absolute), "random" a fair
coin, "worst" send -target, "sign_flip" negate their honest vote with probability ``q``
independently per worker and coordinate (an abstention stays one, a coin stays a fair coin). The
master takes mu_hat = sign(D), D = sum of votes; D = 0 does not move and counts as an error.
``target`` "sign" scores mu_hat against sign(g), "mu" against the majority of the k partition signs
(k odd). Internally votes are relative: vote * sign_g.

Heterogeneous partitions (non-i.i.d. data, e.g. Dirichlet label splits): :func:`exact_error_fixed`
also takes ``rho``, the (k,) probabilities that each partition's sign is correct, independent but
not identical, in place of the one Phi(S) of Definition 1 (Theorem 1's model with non-identical
partitions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import _validate as _v
from ._names import VOTE_ATTACKS
from .codes import eq5_redundancy  # noqa: F401 - Algorithm 1's redundancy, re-exported

TIES = ("plus", "coin", "abstain")
ATTACKS = VOTE_ATTACKS
TARGETS = ("sign", "mu")
MAX_FIXED_K = 22


def _arr(name: str, value, *, lo: float = 0.0, lo_open: bool = False, integer: bool = False):
    """Validate a scalar (returned as int/float) or an array (returned as float array)."""
    if np.ndim(value) == 0:
        if integer:
            return _v.integer(name, value, lo=int(lo))
        return _v.real(name, value, lo=lo, lo_open=lo_open)
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(float)
    bad = ~np.isfinite(arr) | ((arr <= lo) if lo_open else (arr < lo))
    if integer:
        bad |= arr != np.round(arr)
    if bad.any():
        kind, op = "integers" if integer else "reals", ">" if lo_open else ">="
        raise ValueError(f"{name} contains {arr[bad][0]!r}; entries must be {kind} {op} {lo:g}")
    return arr


def _out(x):
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float)


def _log(x, base: float):
    return np.log(x) / math.log(_v.real("log_base", base, lo=1.0, lo_open=True))


# ------------------------------------------------------------------------------ 1. paper bounds
def sign_error_bound(S):
    """Lemma C.4: bound on the sign error of one unimodal symmetric stochastic gradient.

    P[sign(g~) != sign(g)] <= 2 / (9 S^2) if S > 2/sqrt(3), else 1/2 - S / (2 sqrt 3).

    Args: S: SNR |g| / sigma >= 0, scalar or array of any shape.
    Returns: the bound (<= 1/2), shaped like S.

    >>> round(sign_error_bound(2.0), 6), sign_error_bound(0.0)
    (0.055556, 0.5)

    Reference: Lemma C.4 (= Lemma D.1 of Bernstein et al., 2018).
    """
    S = np.asarray(_arr("S", S), dtype=float)
    big = 2.0 / (9.0 * np.maximum(S, 1.0) ** 2)
    return _out(np.where(S > 2.0 / math.sqrt(3.0), big, 0.5 - S / (2.0 * math.sqrt(3.0))))


def local_error_bound_given_load(n_i, S):
    """Lemma E.1: bound on the local error of an honest worker holding n_i partitions.

    q_{k|n_i} <= exp(-n_i S^2 / (2 (S^2 + 4))).

    Args: n_i: integer load(s) >= 0; S: per-partition SNR >= 0 (broadcast together).
    Returns: the bound, broadcast over n_i and S.

    >>> round(local_error_bound_given_load(10, 2.0), 6)
    0.082085

    Reference: Lemma E.1 (proof in E.3: Hoeffding, Lemma C.5, with Lemma C.4).
    """
    n_i, S2 = _arr("n_i", n_i, integer=True), np.asarray(_arr("S", S), dtype=float) ** 2
    return _out(np.exp(-np.asarray(n_i, dtype=float) * S2 / (2.0 * (S2 + 4.0))))


def lemma1_p_star(n, C, *, log_base: float = math.e):
    """Lemma 1: connection probability p* = 2 sqrt(C log(n) / n).

    Args: n: workers (= partitions) >= 2; C: connection factor > 0; log_base: natural by default
        (the Hoeffding steps of the proofs need the natural log).
    Returns: p*, broadcast over n and C (may exceed 1 for small n: Lemma 1 is then void).

    >>> round(lemma1_p_star(40, 1.0), 6)
    0.607361

    Reference: Lemma 1.
    """
    n, C = np.asarray(_arr("n", n, lo=2, integer=True), dtype=float), _arr("C", C, lo_open=True)
    return _out(2.0 * np.sqrt(C * _log(n, log_base) / n))


def lemma1_q_star(n, C, S, *, log_base: float = math.e):
    """Lemma 1, eq. (2): bound q* on the local error under a Bernoulli(p >= p*) code.

    q* = 2 max(2 / n^(2C), exp(-sqrt(C n log n) S^2 / (2 (S^2 + 4)))).

    Args: n: workers >= 2; C: connection factor > 0; S: per-partition SNR >= 0 (broadcast);
        log_base: natural by default.
    Returns: q* (values >= 1/2 make condition (3) unsatisfiable).

    >>> round(lemma1_q_star(40, 1.0, 128 ** 0.5), 6)
    0.005536

    Reference: Lemma 1, eq. (2); proof in E.1.
    """
    n, C = np.asarray(_arr("n", n, lo=2, integer=True), dtype=float), _arr("C", C, lo_open=True)
    S2 = np.asarray(_arr("S", S), dtype=float) ** 2
    local = np.exp(-np.sqrt(C * n * _log(n, log_base)) * S2 / (2.0 * (S2 + 4.0)))
    return _out(2.0 * np.maximum(2.0 / n ** (2.0 * C), local))


def theorem1_rhs(n, delta, u_min, *, log_base: float = math.e):
    """Theorem 1: right-hand side of condition (3).

    rhs = (sqrt(log(Delta)/n) + sqrt(log(Delta)/n + 4 u))^2 / (8 u^2), with u = u*_min.

    Args: n: workers >= 1; delta: Delta > 2; u_min: local success bound in (0, 1] (broadcast);
        log_base: natural by default.
    Returns: the threshold 1 - alpha must exceed (always >= 1 / (2 u)).

    >>> round(theorem1_rhs(40, 100.0, 0.99), 6)
    0.709133

    Reference: Theorem 1, condition (3); proof in D.1.
    """
    n = np.asarray(_arr("n", n, lo=1, integer=True), dtype=float)
    delta, u = _arr("delta", delta, lo=2.0, lo_open=True), _arr("u_min", u_min, lo_open=True)
    if np.any(np.asarray(u) > 1.0):
        raise ValueError(f"u_min={u_min!r} must lie in (0, 1]")
    a, u = _log(np.asarray(delta, dtype=float), log_base) / n, np.asarray(u, dtype=float)
    return _out((np.sqrt(a) + np.sqrt(a + 4.0 * u)) ** 2 / (8.0 * u**2))


def theorem1_condition(n, alpha, delta, u_min, *, log_base: float = math.e):
    """Theorem 1: whether condition (3), 1 - alpha > rhs(n, Delta, u_min), holds.

    Args: n: workers >= 1; alpha: Byzantine fraction in [0, 1); delta: Delta > 2;
        u_min: in (0, 1]; log_base: natural by default.
    Returns: bool (bool array for array arguments); True implies P_global < 1/Delta.

    >>> theorem1_condition(40, 0.2, 100.0, 0.99), theorem1_condition(40, 0.4, 100.0, 0.99)
    (True, False)

    Reference: Theorem 1, condition (3).
    """
    a = np.asarray(_arr("alpha", alpha), dtype=float)
    if np.any(a >= 1.0):
        raise ValueError(f"alpha={alpha!r} must lie in [0, 1)")
    ok = 1.0 - a > theorem1_rhs(n, delta, u_min, log_base=log_base)
    return bool(ok) if np.ndim(ok) == 0 else ok


def theorem1_best_bound(n, alpha, u_min):
    """Theorem 1's tightest bound 1/Delta*: the largest Delta for which condition (3) holds.

    With x = sqrt(log(Delta)/n) and A = sqrt(8 u^2 (1 - alpha)), condition (3) reads
    x + sqrt(x^2 + 4u) < A, i.e. x < x* = (A^2 - 4u) / (2A), so Delta* = exp(n x*^2) and
    P_global < exp(-n x*^2). Theorem 1 needs Delta > 2: where Delta* <= 2 (or x* <= 0) the
    theorem gives nothing and NaN is returned. Natural log.

    Args: n: workers >= 1; alpha: Byzantine fraction in [0, 1); u_min: in (0, 1] (broadcast).
    Returns: 1/Delta* (NaN where undefined).

    >>> round(theorem1_best_bound(40, 0.2, 0.99), 6)
    0.000198

    Reference: Theorem 1, condition (3); proof in D.1.
    """
    n = np.asarray(_arr("n", n, lo=1, integer=True), dtype=float)
    a = np.asarray(_arr("alpha", alpha), dtype=float)
    u = np.asarray(_arr("u_min", u_min, lo_open=True), dtype=float)
    if np.any(a >= 1.0) or np.any(u > 1.0):
        raise ValueError(f"alpha={alpha!r} must lie in [0, 1) and u_min={u_min!r} in (0, 1]")
    A = np.sqrt(8.0 * u**2 * (1.0 - a))
    x = (A**2 - 4.0 * u) / (2.0 * A)
    log_delta = n * np.where(x > 0, x, 0.0) ** 2
    out = np.where((x > 0) & (log_delta > math.log(2.0)), np.exp(-log_delta), np.nan)
    return _out(out)


@dataclass(frozen=True)
class Remark1Result:
    """Smallest n meeting Theorem 1's condition in Remark 1's setting (values at that n)."""

    n: int | None
    S: float
    u_min: float
    rhs: float
    p_star: float
    n_log2: int | None
    n_log10: int | None
    log: str = "natural"
    note: str = ""


def _first_n(alpha, delta, C, S, n_max, base) -> int | None:
    ns = np.arange(2, n_max + 1)
    p = np.asarray(lemma1_p_star(ns, C, log_base=base))
    u = 1.0 - np.asarray(lemma1_q_star(ns, C, S, log_base=base))
    ok = (p <= 1.0) & (u > 0.0)
    ok[ok] = theorem1_condition(ns[ok], alpha, delta, u[ok], log_base=base)
    return int(ns[np.argmax(ok)]) if ok.any() else None


def remark1_smallest_n(
    alpha: float = 0.2, B: int = 128, C: float = 1.0, snr: float = 1.0,
    p_global: float = 0.01, n_max: int = 10_000,
) -> Remark1Result:  # fmt: skip
    """Remark 1: smallest n for which Theorem 1 guarantees P_global < p_global.

    First n in [2, n_max] with p*(n) <= 1 and condition (3) true for Delta = 1 / p_global,
    u_min = 1 - q*(n, C, S), S = sqrt(B) snr (Definition 1: sigma_bar = sigma / sqrt(B)).
    Natural log; the same search with log base 2 and 10 gives ``n_log2`` and ``n_log10``.

    Args: alpha: Byzantine fraction in [0, 1); B: batch per partition >= 1; C > 0;
        snr: |g| / sigma > 0; p_global in (0, 1/2); n_max >= 2.
    Returns: Remark1Result (n = None if no n <= n_max works; other fields at n, or n_max).

    >>> r = remark1_smallest_n()
    >>> r.n, r.n_log2, r.n_log10, r.log
    (25, 31, 23, 'natural')

    Reference: Remark 1 ("P_global < 0.01 given n >= 40"), Theorem 1, Lemma 1, Definition 1.
    """
    alpha = _v.real("alpha", alpha, lo=0.0, hi=1.0, hi_open=True)
    B, n_max = _v.integer("B", B, lo=1), _v.integer("n_max", n_max, lo=2)
    C, snr = _v.real("C", C, lo=0.0, lo_open=True), _v.real("snr", snr, lo=0.0, lo_open=True)
    p_global = _v.real("p_global", p_global, lo=0.0, hi=0.5, lo_open=True, hi_open=True)
    S, delta = math.sqrt(B) * snr, 1.0 / p_global
    n = _first_n(alpha, delta, C, S, n_max, math.e)
    at = n_max if n is None else n
    u = 1.0 - lemma1_q_star(at, C, S)
    note = (
        f"The paper (Remark 1) says n >= 40 is sufficient for P_global < {p_global:g} at "
        f"alpha={alpha:g}, B={B}, C={C:g}, |g|/sigma={snr:g} (not claimed tight); condition (3) "
        f"with u_min = 1 - q*(n) and p*(n) <= 1 first holds at n={n} (natural log)."
    )
    rhs = theorem1_rhs(at, delta, u) if u > 0 else math.inf
    n2, n10 = (_first_n(alpha, delta, C, S, n_max, base) for base in (2.0, 10.0))
    return Remark1Result(n, S, u, rhs, lemma1_p_star(at, C), n2, n10, note=note)


def draco_redundancy(b: int) -> int:
    """DRACO: redundancy r = 2b + 1 (each gradient computed 2b + 1 times).

    Args: b: Byzantine workers tolerated, >= 0.
    Returns: 2b + 1.

    >>> draco_redundancy(3)
    7

    Reference: main paper Sec. 1 (related works); DRACO (Chen et al., 2018), r >= 2s + 1.
    """
    return 2 * _v.integer("b", b, lo=0) + 1


# ------------------------------------------------------------------------------ 2. exact errors
def sign_correct_prob(S):
    """Probability rho = Phi(S) that one Gaussian partition gradient has the correct sign.

    Args: S: per-partition SNR |g| / sigma_bar >= 0, scalar or array.
    Returns: rho in [1/2, 1], shaped like S (1 - rho is computed as norm.sf(S) internally).

    >>> round(sign_correct_prob(1.0), 6)
    0.841345

    Reference: Definition 1, Gaussian case of Proposition 1 (compare Lemma C.4).
    """
    return _out(stats.norm.cdf(_arr("S", S)))


def _wrong_prob(S) -> float:
    return float(stats.norm.sf(_v.real("S", S, lo=0.0)))


def _flip_prob(q) -> float:
    """``sign_flip``'s probability of reversing a vote, checked to lie in [0, 1]."""
    return _v.real("q", q, lo=0.0, hi=1.0)


def partition_probs(rho, k: int) -> np.ndarray:
    """Check per-partition correctness probabilities: ``(k,)`` reals in [0, 1], as float64.

    Args: rho: array-like of length k, rho_j = P(partition j's sign equals sign(g)); k: partitions.
    Returns: float64 ``(k,)`` copy.

    >>> partition_probs([0.9, 0.4, 1.0], 3).tolist()
    [0.9, 0.4, 1.0]

    Reference: Theorem 1's model with non-identical partitions.
    """
    arr = np.asarray(rho)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"rho must hold real probabilities in [0, 1], got dtype {arr.dtype}")
    if arr.shape != (k,):
        raise ValueError(f"rho must have shape (k,) = ({k},), one probability per partition, "
                         f"got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"rho[{j}]={float(arr[j])!r} must lie in [0, 1]")
    return arr


def _s_or_rho(S, rho, k: int):
    """Exactly one of S (i.i.d. Phi(S) partitions) and rho (per-partition probabilities)."""
    if rho is None:
        if S is None:
            raise ValueError("pass S (i.i.d. partitions, rho = Phi(S)) or rho (per partition)")
        return _v.real("S", S, lo=0.0), None
    if S is not None:
        raise ValueError(f"S={S!r} and rho were both given: rho replaces Phi(S), leave S unset")
    return None, partition_probs(rho, k)


def _pattern_prob_table(rho: np.ndarray):
    """A function pattern -> prod_j rho_j^bit_j (1 - rho_j)^(1 - bit_j), from two half tables.

    The low L = ceil(k/2) bits and the high k - L bits each index a table of products
    (built by doubling, no logarithms, so rho_j in {0, 1} is exact); a pattern's probability is
    the product of its two entries.
    """
    k = rho.size
    low = (k + 1) // 2

    def table(r: np.ndarray) -> np.ndarray:
        t = np.ones(1)
        for rj in r:  # bit j of the index is partition j of this half
            t = np.concatenate([t * (1.0 - rj), t * rj])
        return t

    t_lo, t_hi = table(rho[:low]), table(rho[low:])
    mask = np.uint32((1 << low) - 1)

    def prob(pat: np.ndarray) -> np.ndarray:
        return t_lo[pat & mask] * t_hi[pat >> np.uint32(low)]

    return prob


def _tie_weight(tie: str, sign_g: int) -> float:
    """Probability that a tie on a non-empty row becomes a vote for sign(g)."""
    return {"coin": 0.5, "abstain": 0.0, "plus": float(sign_g == 1)}[tie]


def _check_model(attack: str, target: str, tie: str, sign_g, k: int) -> None:
    _v.choice("attack", attack, ATTACKS)
    _v.choice("target", target, TARGETS)
    _v.choice("tie", tie, TIES)
    if isinstance(sign_g, bool) or sign_g not in (1, -1):
        raise ValueError(f"sign_g={sign_g!r} must be +1 or -1")
    if target == "mu" and k % 2 == 0:
        raise ValueError(f"target='mu' needs an odd number of partitions k, got k={k}")


def exact_local_error(n_i, S, tie: str = "coin", *, sign_g: int = 1):
    """Exact probability that an honest worker with n_i partitions does not vote sign(g).

    With W ~ Bin(n_i, 1 - rho) wrong partitions: P(W > n_i/2) + (1 - w_tie) P(W = n_i/2), w_tie =
    1/2 (coin), 0 (abstain), 1 or 0 (plus, sign_g = +1 or -1). Abstaining counts as not correct;
    an empty worker (n_i = 0) always abstains, so its error is 1.

    Args: n_i: integer load(s) >= 0; S: SNR >= 0 (scalar); tie: local tie rule; sign_g: +1 or -1.
    Returns: the error probability, shaped like n_i.

    >>> round(exact_local_error(3, 1.0), 6)
    0.067527

    Reference: exact counterpart of Lemma E.1.
    """
    n_i, q = np.asarray(_arr("n_i", n_i, integer=True), dtype=float), _wrong_prob(S)
    _check_model("none", "sign", tie, sign_g, 1)
    half = n_i / 2.0
    at = np.where(half == np.floor(half), stats.binom.pmf(half, n_i, q), 0.0)
    w = np.where(n_i > 0, _tie_weight(tie, sign_g), 0.0)
    return _out(stats.binom.sf(np.floor(half), n_i, q) + (1.0 - w) * at)


def exact_local_error_ensemble(n: int, p: float, S, tie: str = "coin", *, sign_g: int = 1):
    """Exact local error of an honest worker under a Bernoulli(p) code on n partitions.

    q = sum_m Bin(m; n, p) exact_local_error(m, S, tie): the quantity Lemma 1 bounds by q*.

    Args: n: partitions >= 1; p: connection probability in [0, 1]; S: SNR >= 0 (scalar);
        tie: local tie rule; sign_g: +1 or -1 (matters for "plus" only).
    Returns: the error probability (abstentions count as not correct).

    >>> round(exact_local_error_ensemble(40, 0.6, 1.0), 6)
    9e-05

    Reference: exact counterpart of Lemma 1 (proof in E.1).
    """
    n, p = _v.integer("n", n, lo=1), _v.real("p", p, lo=0.0, hi=1.0)
    m = np.arange(n + 1)
    return float(stats.binom.pmf(m, n, p) @ exact_local_error(m, S, tie, sign_g=sign_g))


def _power3(h: np.ndarray, m: int) -> np.ndarray:
    """pmf of a sum of m iid votes with pmf h on (-1, 0, +1); index d + m, length 2m + 1."""
    out = np.ones(1)
    while m:
        if m & 1:
            out = np.convolve(out, h)
        m >>= 1
        h = np.convolve(h, h) if m else h
    return out


def exact_error_ensemble(
    n: int, k: int, p: float, b: int, S: float, *,
    attack: str = "worst", target: str = "sign", tie: str = "coin", sign_g: int = 1,
    q: float = 0.75,
) -> float:  # fmt: skip
    """Exact master error probability over the Bernoulli(p) code ensemble (G redrawn).

    Workers are correlated through shared partitions, so condition on the number w ~ Bin(k, rho)
    of correct partition signs: then rows are independent and an honest worker sees
    X ~ Bin(w, p) correct and Y ~ Bin(k - w, p) wrong partitions. Its vote pmf on (-1, 0, +1),
    the Byzantine vote pmf, and their convolution powers (n - b and b iid) give D, so
    P_err = sum_w Bin(w; k, rho) P(sign(D) != target | w). Cost O(k n^2).

    Args: n: workers >= 1; k: partitions >= 1 (odd for target "mu"); p: in [0, 1];
        b: Byzantine workers in [0, n] (a fixed set; any set, by exchangeability); S: SNR >= 0;
        attack, target, tie, sign_g: the vote model of the module docstring; q: ``sign_flip``'s
        flip probability in [0, 1] (its Byzantine vote pmf is (1 - q) h + q h reversed).
    Returns: the error probability (mu_hat = 0 counts as an error).

    >>> round(exact_error_ensemble(9, 9, 0.4, 3, 1.0), 6)
    0.118266

    Reference: exact counterpart of Theorem 1 (whose proof, D.1, treats workers as independent).
    """
    n, k = _v.integer("n", n, lo=1), _v.integer("k", k, lo=1)
    p, b = _v.real("p", p, lo=0.0, hi=1.0), _v.integer("b", b, lo=0, hi=n)
    _check_model(attack, target, tie, sign_g, k)
    q_flip = _flip_prob(q)
    q, tw = _wrong_prob(S), _tie_weight(tie, sign_g)
    total = 0.0
    for w, weight in enumerate(stats.binom.pmf(k - np.arange(k + 1), k, q)):
        px = stats.binom.pmf(np.arange(w + 1), w, p)
        py = stats.binom.pmf(np.arange(k - w + 1), k - w, p)
        diff = np.convolve(px, py[::-1])  # pmf of X - Y at index d + (k - w)
        m = min(w, k - w) + 1
        ties = float(px[1:m] @ py[1:m])
        h = np.array([diff[: k - w].sum(), px[0] * py[0], diff[k - w + 1 :].sum()])
        h += np.array([0.0, ties, 0.0]) if tie == "abstain" else np.array([1 - tw, 0, tw]) * ties
        tau = 1 if target == "sign" or 2 * w > k else -1
        z = {"none": h, "reverse": h[::-1], "random": np.array([0.5, 0.0, 0.5]),
             "directional": np.eye(3)[1 + sign_g], "worst": np.eye(3)[1 - tau],
             "sign_flip": (1.0 - q_flip) * h + q_flip * h[::-1]}[attack]  # fmt: skip
        D = np.convolve(_power3(h, n - b), _power3(z, b))
        total += weight * (D[: n + 1].sum() if tau == 1 else D[n:].sum())
    return float(total)


def _byzantine_mask(byzantine, n: int) -> np.ndarray:
    idx = np.asarray(byzantine)
    mask = np.zeros(n, dtype=bool)
    if idx.size == 0:
        return mask
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"byzantine={byzantine!r} must be a sequence of worker indices")
    if idx.min() < 0 or idx.max() >= n or np.unique(idx).size != idx.size:
        raise ValueError(f"byzantine={byzantine!r} must hold distinct indices in [0, {n - 1}]")
    mask[idx] = True
    return mask


def exact_error_fixed(
    G, byzantine: Sequence[int], S: float | None = None, *,
    attack: str = "worst", target: str = "sign", tie: str = "coin", sign_g: int = 1,
    rho=None, q: float = 0.75,
) -> float:  # fmt: skip
    """Exact master error probability for a fixed allocation G, enumerating all 2^k patterns.

    Pattern bit j = 1 iff partition j's sign is correct, with probability
    prod_j rho_j^bit_j (1 - rho_j)^(1 - bit_j): rho_j = Phi(S) for every j (Definition 1, i.i.d.
    partitions; the pattern weight is then rho^w (1 - rho)^(k - w)), or the given ``rho``
    (independent, non-identical partitions). Per pattern the deterministic votes sum to D_det and
    t votes are fair coins, so D = D_det + 2 Bin(t, 1/2) - t and
    P(sign(D) != tau) = P(Bin(t, 1/2) <= (t - tau D_det) // 2). Under ``sign_flip`` the a
    Byzantine votes equal to tau and the c equal to -tau are reversed with probability q each, so
    tau D = tau D_rest + 2 Y - (a + c + t) with Y = Bin(a, 1 - q) + Bin(c, q) + Bin(t, 1/2).

    Args: G: (n, k) 0/1 allocation, k <= 22 (odd for target "mu"); byzantine: distinct worker
        indices in [0, n); S: SNR >= 0 (i.i.d. partitions); attack, target, tie, sign_g: the
        module's vote model; rho: (k,) per-partition correctness probabilities in [0, 1], in
        place of Phi(S) (give S or rho, not both); q: ``sign_flip``'s flip probability in [0, 1].
    Returns: the error probability (mu_hat = 0 counts as an error).

    >>> round(exact_error_fixed(np.eye(3), [0], 1.0), 6)  # uncoded: error iff an honest is wrong
    0.292139
    >>> round(exact_error_fixed(np.eye(3), [0], rho=[0.9, 0.8, 0.3]), 6)  # 1 - 0.8 * 0.3
    0.76

    Reference: exact counterpart of Theorem 1 for one code; G = I is SignSGD-MV. With ``rho``:
    Theorem 1's model with non-identical partitions.
    """
    G = _v.allocation(G)
    n, k = G.shape
    if k > MAX_FIXED_K:
        raise ValueError(f"G has k={k} partitions; 2^k enumeration needs k <= {MAX_FIXED_K}")
    byz = _byzantine_mask(byzantine, n)
    _check_model(attack, target, tie, sign_g, k)
    S, rho = _s_or_rho(S, rho, k)
    q_flip = _flip_prob(q)
    masks = (G.astype(np.uint32) << np.arange(k, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
    loads = G.sum(axis=1).astype(np.int32)
    if rho is None:
        wrong = _wrong_prob(S)
        w_prob = (1.0 - wrong) ** np.arange(k + 1) * wrong ** (k - np.arange(k + 1))
    else:
        pattern_prob = _pattern_prob_table(rho)
    cdf = stats.binom.cdf(np.arange(-1, n + 1)[None, :], np.arange(n + 1)[:, None], 0.5)
    flip_cdfs: dict[tuple[int, int, int], np.ndarray] = {}
    chunk, total = max(1, min(2**k, 2**21 // n)), 0.0
    for start in range(0, 2**k, chunk):
        pat = np.arange(start, min(start + chunk, 2**k), dtype=np.uint32)
        diff = 2 * np.bitwise_count(pat[:, None] & masks).astype(np.int32) - loads
        w = np.bitwise_count(pat).astype(np.int64)
        tau = np.ones_like(w) if target == "sign" else np.where(2 * w > k, 1, -1)
        tied = (diff == 0) & (loads > 0)
        vote = np.sign(diff) + (sign_g * tied if tie == "plus" else 0)
        coin = tied & (tie == "coin")
        weight = w_prob[w] if rho is None else pattern_prob(pat)
        if attack == "sign_flip":
            total += float(weight @ _sign_flip_error(vote, coin, byz, tau, q_flip, n, flip_cdfs))
            continue
        if attack == "reverse":
            vote[:, byz] *= -1
        elif attack != "none":
            coin[:, byz] = attack == "random"
            vote[:, byz] = -tau[:, None] if attack == "worst" else sign_g * (attack != "random")
        t = coin.sum(axis=1)
        j = np.clip((t - tau * vote.sum(axis=1)) // 2, -1, n)
        total += float(weight @ cdf[t, j + 1])
    return total


def _binom_pmf(m: int, p: float) -> np.ndarray:
    """Bin(m, p) pmf on 0..m (exact powers; p = 0 or 1 give a point mass)."""
    if m > 500:
        return stats.binom.pmf(np.arange(m + 1), m, p)
    ks = np.arange(m + 1)
    comb = np.array([math.comb(m, i) for i in range(m + 1)], dtype=float)
    return comb * p**ks * (1.0 - p) ** (m - ks)


def _sign_flip_error(vote, coin, byz, tau, q: float, n: int, cache) -> np.ndarray:
    """Per pattern, P(tau D <= 0) when the Byzantine votes are reversed with probability q.

    ``vote``: (P, n) relative deterministic votes (0 for coins and abstentions), ``coin``: (P, n)
    fair-coin mask, ``byz``: (n,) mask, ``tau``: (P,) targets. A Byzantine vote equal to tau
    contributes 2 Bern(1 - q) - 1 to tau D, one equal to -tau 2 Bern(q) - 1, a coin (honest or
    Byzantine: a reversed fair coin is a fair coin) 2 Bern(1/2) - 1; the cdf of their sum Y is
    computed once per distinct (a, c, t) and kept in ``cache``.
    """
    tv = vote * tau[:, None]
    bz = tv[:, byz]
    a, c = (bz > 0).sum(axis=1), (bz < 0).sum(axis=1)
    rest = tv.sum(axis=1) - bz.sum(axis=1)
    t = coin.sum(axis=1)
    j = np.clip((a + c + t - rest) // 2, -1, n)
    uniq, inv = np.unique((a * (n + 1) + c) * (n + 1) + t, return_inverse=True)
    table = np.empty((len(uniq), n + 2))
    for r, u in enumerate(uniq.tolist()):
        key = (ua, uc, ut) = (u // (n + 1) ** 2, u // (n + 1) % (n + 1), u % (n + 1))
        if key not in cache:
            pmf = np.convolve(np.convolve(_binom_pmf(ua, 1.0 - q), _binom_pmf(uc, q)),
                              _binom_pmf(ut, 0.5))
            full = np.ones(n + 2)
            full[0] = 0.0
            full[1:pmf.size + 1] = np.minimum(np.cumsum(pmf), 1.0)
            cache[key] = full
        table[r] = cache[key]
    return table[inv.ravel(), j + 1]
