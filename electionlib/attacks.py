"""Byzantine attacks on one-bit votes, and the choice of which workers to corrupt.

A vote-level attack replaces what a Byzantine worker sends; it runs where
the message originates (on the worker), after the worker has computed its
honest vote ``c_i``. Per eq. (1) a Byzantine worker may send anything; the
attacks of the paper and of Theorem 1 are:

* ``reverse`` — send ``-c_i`` (the paper's experiments, Section 5). An
  abstention stays an abstention (there is no sign to reverse);
* ``directional`` — send a fixed direction, all ones by default (Section 5);
* ``random`` — send fair coin flips from the worker's own stream;
* ``worst`` — omniscient: send ``-target`` where ``target`` is the majority of
  the partition signs ``mu`` (when measuring ``P(mu_hat != mu)``) or the true
  gradient sign (when measuring ``P(mu_hat != sign(g))``): the worst case of
  Theorem 1. It needs the target, which the adversary channel supplies;
* ``sign_flip`` — a stochastic sign flip: each coordinate of ``c_i`` is reversed
  independently with probability ``q`` (0.75 by default; ``q = 1`` is ``reverse``,
  ``q = 0`` is ``none``). Like ``reverse``, an abstention stays an abstention.

Every attack except ``none``, ``reverse`` and ``sign_flip`` votes on every coordinate
(present bits set).

The allocation-aware adversary, the strongest of the paper's model, knows ``G`` and the
law of the partition signs: it chooses its set once for the run
(:func:`worst_byzantine_set`, also with per-partition probabilities ``rho``) and then
sends ``worst`` each step, which is optimal bit by bit for that set (proof in
:func:`worst_byzantine_set`).

Gradient-level attacks (:func:`attack_gradient`) replace a real-valued message: the
BrSGD and DRACO attacks, ALIE, IPM, and the stronger adversaries ``mimic``
(Karimireddy et al. 2022), ``minmax`` / ``minsum`` (Shejwalkar & Houmansadr 2021),
``fang`` (Fang et al. 2020), and the non-finite messages ``inf`` and ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from . import _validate as v
from ._names import GRADIENT_ATTACKS, OMNISCIENT, VOTE_ATTACKS
from .theory import exact_error_fixed
from .votes import _tail_mask, packed_length

__all__ = [
    "SIGN_FLIP_Q",
    "GRADIENT_ATTACKS",
    "OMNISCIENT",
    "PERTURBATIONS",
    "agr_gamma",
    "agr_perturbation",
    "alie_z",
    "attack_gradient",
    "mimic_index",
    "shift_labels",
    "VOTE_ATTACKS",
    "attack_vote",
    "apply_vote_attack",
    "byzantine_set",
    "worst_byzantine_set",
]



#: ``sign_flip``'s default probability of reversing each coordinate of a vote.
SIGN_FLIP_Q = 0.75


def attack_vote(
    name: str,
    bits: np.ndarray,
    d: int,
    *,
    rng=None,
    direction: np.ndarray | None = None,
    target: np.ndarray | None = None,
    q: float = SIGN_FLIP_Q,
) -> np.ndarray:
    """What one Byzantine worker sends instead of its honest packed vote ``bits``.

    ``sign_flip`` draws its flips as ``np.packbits(rng.random(d) < q)`` (one uniform double per
    coordinate, in coordinate order, from the worker's stream, also when ``q`` is 0 or 1) and
    sends ``bits ^ flips``: coordinate c is reversed iff ``u_c < q``. Another backend reproduces
    it bit for bit with the same Generator.

    Args:
        name: one of :data:`VOTE_ATTACKS`.
        bits: the worker's honest packed vote, uint8 ``(ceil(d/8),)``.
        d: number of coordinates.
        rng: Generator or seed (``random`` and ``sign_flip``).
        direction: packed direction for ``directional`` (default all +1).
        target: packed target for ``worst`` (required).
        q: ``sign_flip``'s probability of reversing each coordinate, in [0, 1].

    Returns:
        packed uint8 ``(ceil(d/8),)`` with zero padding.

    Example:
        >>> from electionlib.votes import pack, unpack
        >>> unpack(attack_vote("reverse", pack(np.array([1, -1, 1])), 3), 3).tolist()
        [-1, 1, -1]
        >>> flipped = attack_vote("sign_flip", pack(np.array([1, -1, 1])), 3, rng=0, q=1.0)
        >>> unpack(flipped, 3).tolist()
        [-1, 1, -1]
    """
    v.choice("name", name, VOTE_ATTACKS)
    d = v.integer("d", d, lo=1)
    nb = packed_length(d)
    bits = np.asarray(bits)
    if bits.shape != (nb,) or bits.dtype != np.uint8:
        raise ValueError(
            f"bits must be packed uint8 of shape ({nb},), got {bits.shape} {bits.dtype}"
        )
    mask = _tail_mask(d)
    q = v.real("q", q, lo=0.0, hi=1.0)
    if name == "none":
        return bits.copy()
    if name == "reverse":
        out = ~bits
    elif name == "directional":
        if direction is None:
            out = np.full(nb, 0xFF, dtype=np.uint8)
        else:
            out = np.asarray(direction, dtype=np.uint8).copy()
            if out.shape != (nb,):
                raise ValueError(f"direction must be packed of shape ({nb},), got {out.shape}")
    elif name == "random":
        out = np.packbits(v.rng(rng).random(d) < 0.5)
    elif name == "sign_flip":
        out = bits ^ np.packbits(v.rng(rng).random(d) < q)
    else:
        if target is None:
            raise ValueError("target is required for the 'worst' attack (packed mu or sign(g))")
        target = np.asarray(target, dtype=np.uint8)
        if target.shape != (nb,):
            raise ValueError(f"target must be packed of shape ({nb},), got {target.shape}")
        out = ~target
    out = out.copy()
    out[-1] &= mask
    return out


def apply_vote_attack(
    name: str,
    bits: np.ndarray,
    present,
    byzantine: Sequence[int],
    d: int,
    *,
    rngs=None,
    direction=None,
    target=None,
    q: float = SIGN_FLIP_Q,
):
    """Apply a vote attack to the Byzantine rows of ``n`` packed votes (sim backend).

    ``reverse`` and ``sign_flip`` keep the presence of the honest vote (an abstention, per
    worker or per coordinate, stays one); the other attacks vote on every coordinate.

    Args:
        name: one of :data:`VOTE_ATTACKS`.
        bits: uint8 ``(n, ceil(d/8))`` honest votes.
        present: ``None``, ``(n,)`` bool or packed ``(n, ceil(d/8))`` (see :mod:`votes`).
        byzantine: indices of the Byzantine workers.
        d: number of coordinates.
        rngs: for ``random`` and ``sign_flip``: a Generator, or one Generator per worker.
        direction, target, q: as in :func:`attack_vote`.

    Returns:
        ``(bits, present)`` — new arrays; the honest rows are unchanged.

    Example:
        >>> from electionlib.votes import pack, unpack
        >>> honest = pack(np.array([[-1, -1], [-1, 1]]))
        >>> b, _ = apply_vote_attack("directional", honest, None, [0], 2)
        >>> unpack(b, 2).tolist()
        [[1, 1], [-1, 1]]
    """
    bits = np.array(bits, dtype=np.uint8, copy=True)
    n = bits.shape[0]
    byz = _indices(byzantine, n)
    if present is not None:
        present = np.array(present, copy=True)
    per_worker = isinstance(rngs, Sequence) and not isinstance(rngs, str)
    for i in byz:
        rng = rngs[i] if per_worker else rngs
        bits[i] = attack_vote(name, bits[i], d, rng=rng, direction=direction, target=target,
                              q=q)
        if name not in ("none", "reverse", "sign_flip") and present is not None:
            if present.ndim == 1:
                present[i] = True
            else:
                present[i] = 0xFF
                present[i, -1] &= _tail_mask(d)
        elif name in ("reverse", "sign_flip") and present is not None and present.ndim == 2:
            bits[i] &= present[i]
    return bits, present


def byzantine_set(G, b: int, *, select: str = "random", rng=None) -> np.ndarray:
    """Choose ``b`` Byzantine workers.

    ``select="random"``: uniformly at random (the paper: "selected
    arbitrarily"); ``"worst"``: the ``b`` workers with the most partitions
    (ties broken by index), the training-time worst-case rule;
    ``"first"``: workers ``0..b-1``.

    Returns:
        sorted int64 array of ``b`` distinct worker indices.

    Example:
        >>> from electionlib import codes
        >>> byzantine_set(codes.deterministic(5, 1), 2, select="worst").tolist()
        [2, 3]
    """
    G = v.allocation(G)
    n = G.shape[0]
    b = v.integer("b", b, lo=0, hi=n)
    v.choice("select", select, ("random", "worst", "first"))
    if select == "first":
        return np.arange(b)
    if select == "worst":
        order = np.lexsort((np.arange(n), -G.sum(axis=1)))
        return np.sort(order[:b])
    return np.sort(v.rng(rng).choice(n, size=b, replace=False))


def worst_byzantine_set(
    G, b: int, *, S: float | None = None, tie: str = "coin", method: str = "auto",
    max_sets: int = 5000, rho=None, target: str = "mu",
):  # fmt: skip
    """Omniscient choice of which ``b`` workers to corrupt for a given code ``G``.

    The allocation-aware adversary knows ``G`` and the law of the partition signs; it chooses
    its set once for the run, maximising the exact probability ``P(mu_hat != target)`` when the
    chosen workers send ``-target`` each step (Theorem 1's worst case, the ``worst`` vote
    attack), with partition signs independent and correct with probability ``Phi(S)`` each
    (``S = 0``, fair coins, when neither ``S`` nor ``rho`` is given) or ``rho_j`` for partition j.

    Why ``-target`` from every Byzantine is the best strategy for a fixed set, even against an
    adversary that sees the partition signs and the honest votes (coins included) before it
    sends: given the pattern and the honest votes, D = H + sum_{i in B} z_i with z_i in
    {-1, 0, +1} (0: abstain), and the master errs iff tau D <= 0. tau D is nondecreasing in each
    tau z_i, so z_i = -tau minimises it for every realisation: the event {tau D <= 0} under any
    other choice is contained in the event under -tau. A randomised strategy is a mixture of
    deterministic ones, so it cannot do better either; summing over the patterns, the maximum
    over sets and bit strategies equals the maximum over sets of
    ``exact_error_fixed(..., attack="worst")`` (checked by brute force in the tests).

    Methods: ``exhaustive`` (all ``C(n, b)`` sets), ``greedy`` (add the worker
    that raises the error most, then 1-swap local search until no swap
    helps), ``auto`` (exhaustive if ``C(n, b) <= max_sets``, else greedy).
    The greedy search is checked against exhaustive search in the tests.

    Args:
        G: ``(n, k)`` 0/1 allocation (``k`` odd for ``target="mu"``, ``k <= 22``).
        b: number of Byzantine workers, in [0, n].
        S: per-partition SNR >= 0 (i.i.d. partitions, ``rho_j = Phi(S)``).
        tie: honest workers' tie rule (``plus``, ``coin``, ``abstain``).
        method: ``auto``, ``exhaustive`` or ``greedy``.
        max_sets: largest ``C(n, b)`` that ``auto`` searches exhaustively.
        rho: ``(k,)`` per-partition correctness probabilities in [0, 1] (non-i.i.d. data), in
            place of ``Phi(S)``; give ``S`` or ``rho``, not both.
        target: ``"mu"`` (the partition majority, the default) or ``"sign"`` (sign(g)).

    Returns:
        ``(byzantine, error)``: sorted index tuple and its exact error probability.

    Example:
        >>> from electionlib import codes
        >>> worst_byzantine_set(codes.uncoded(5), 2)[1] > 0.3
        True
        >>> worst_byzantine_set(codes.uncoded(3), 1, rho=[0.99, 0.5, 0.5], target="sign")[0]
        (0,)

    Reference: Theorem 1 (worst-case attack), Section 5 ("b Byzantine nodes"); with ``rho``,
    Theorem 1's model with non-identical partitions.
    """
    G = v.allocation(G)
    n, k = G.shape
    b = v.integer("b", b, lo=0, hi=n)
    v.choice("method", method, ("auto", "exhaustive", "greedy"))
    v.choice("target", target, ("mu", "sign"))
    if target == "mu" and k % 2 == 0:
        raise ValueError(f"G has k={k} partitions; P(mu_hat != mu) needs an odd k")
    max_sets = v.integer("max_sets", max_sets, lo=1)
    if rho is None and S is None:
        S = 0.0

    def err(byz) -> float:
        return exact_error_fixed(G, list(byz), S, attack="worst", target=target, tie=tie,
                                 rho=rho)

    if method == "auto":
        method = "exhaustive" if math.comb(n, b) <= max_sets else "greedy"
    if method == "exhaustive":
        best = max(combinations(range(n), b), key=lambda s: (err(s), [-i for i in s]))
        return tuple(best), err(best)
    chosen: list[int] = []
    for _ in range(b):
        cand = [i for i in range(n) if i not in chosen]
        chosen.append(max(cand, key=lambda i: (err(chosen + [i]), -i)))
    current = err(chosen)
    improved = True
    while improved:
        improved = False
        for a_pos in range(len(chosen)):
            for j in range(n):
                if j in chosen:
                    continue
                trial = chosen.copy()
                trial[a_pos] = j
                e = err(trial)
                if e > current + 1e-12:
                    chosen, current, improved = trial, e, True
    return tuple(sorted(chosen)), current


def _indices(byzantine, n: int) -> list[int]:
    idx = [int(i) for i in np.asarray(byzantine, dtype=np.int64).ravel()]
    if any(i < 0 or i >= n for i in idx) or len(set(idx)) != len(idx):
        raise ValueError(f"byzantine={idx} must be distinct worker indices in [0, {n - 1}]")
    return idx


# --------------------------------------------------------------------------- gradient level


_GRAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "reversed_gradient": {"c": 100.0},
    "constant": {"kappa": -100.0},
    "gaussian": {"sigma": 200.0},
    "model_negation": {"scale": 1e10},
    "gradient_scale": {"scale": 1e10},
    "ipm": {"epsilon": 0.1},
    "mimic": {"index": None},
    "minmax": {"perturbation": "std", "gamma_init": 10.0, "tol": 1e-5, "max_iter": 200},
    "minsum": {"perturbation": "std", "gamma_init": 10.0, "tol": 1e-5, "max_iter": 200},
    "fang": {"c": 2.0},
}

#: The perturbation directions of ``minmax`` / ``minsum`` (Shejwalkar & Houmansadr 2021).
PERTURBATIONS = ("std", "unit", "sign")


def alie_z(n: int, f: int) -> float:
    """ALIE's z_max (Baruch et al. 2019): ``s = floor(n/2 + 1) - f``, ``z = Phi^-1((n - s)/n)``.

    Example:
        >>> round(alie_z(20, 5), 4)  # s = 6, Phi^-1(14/20)
        0.5244
    """
    from scipy import stats

    n = v.integer("n", n, lo=2)
    f = v.integer("f", f, lo=0, hi=n)
    s = n // 2 + 1 - f
    q = min(max((n - s) / n, 1e-12), 1 - 1e-12)
    return float(stats.norm.ppf(q))


def _honest_rows(honest, d: int | None = None) -> np.ndarray:
    h = np.asarray(honest)
    if h.ndim != 2 or h.shape[0] == 0 or (d is not None and h.shape[1] != d):
        want = "d" if d is None else str(d)
        raise ValueError(f"honest must have shape (h >= 1, {want}), got {h.shape}")
    return h


def mimic_index(honest, index: int | None = None) -> int:
    """The honest row that ``mimic`` copies: ``index``, or the row farthest from the honest mean.

    i* = argmax_i ||g_i - mean_j g_j||_2 (the lowest such i on ties; complex rows by their
    modulus). Karimireddy et al. pick i* online, from the top principal direction of the honest
    gradients over the first steps; this one-step rule is its deterministic stand-in: under
    heterogeneous data the outlier is the worker whose data the copies over-represent.

    Args:
        honest: ``(h, d)`` honest messages.
        index: a fixed honest row in ``[0, h - 1]``, or None.

    Returns:
        the row index.

    Example:
        >>> mimic_index(np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]))
        2

    Reference: Karimireddy, He & Jaggi, ICLR 2022 (mimic attack).
    """
    h = _honest_rows(honest)
    if index is not None:
        return v.integer("index", index, lo=0, hi=h.shape[0] - 1)
    finite = np.isfinite(h).all(axis=1)
    if not finite.any():
        return 0
    with np.errstate(all="ignore"):  # the mean of the finite rows; a non-finite row is the
        dev = np.abs(h - h[finite].mean(axis=0)) ** 2  # farthest (the lowest such index)
        score = np.where(finite, dev.sum(axis=1), np.inf)
    return int(np.argmax(score))


def agr_perturbation(honest, kind: str = "std") -> np.ndarray:
    """The perturbation p of ``minmax`` / ``minsum``: -std, -mean/||mean|| or -sign(mean).

    Coordinate-wise over the honest rows (population std, as ALIE); a zero mean gives p = 0.

    Args:
        honest: ``(h, d)`` real honest messages.
        kind: ``"std"``, ``"unit"`` or ``"sign"``.

    Returns:
        float64 ``(d,)``.

    Example:
        >>> agr_perturbation(np.array([[1.0, -2.0], [3.0, -2.0]]), "sign").tolist()
        [-1.0, 1.0]

    Reference: Shejwalkar & Houmansadr, NDSS 2021, Section IV (perturbation vectors).
    """
    v.choice("perturbation", kind, PERTURBATIONS)
    h = np.asarray(_honest_rows(honest), dtype=np.float64)
    mu = h.mean(axis=0)
    if kind == "std":
        return -h.std(axis=0)
    if kind == "sign":
        return -np.sign(mu)
    norm = float(np.linalg.norm(mu))
    return -mu / norm if norm > 0 and np.isfinite(norm) else np.zeros_like(mu)


def agr_gamma(honest, rule: str = "minmax", *, perturbation: str = "std",
              gamma_init: float = 10.0, tol: float = 1e-5, max_iter: int = 200) -> float:
    """The largest gamma >= 0 that keeps mean(honest) + gamma p within the honest spread.

    With c_i = mean - g_i and mal = mean + gamma p (i, j over the honest rows):

    * MinMax: max_i ||mal - g_i|| <= max_{i,j} ||g_i - g_j||;
    * MinSum: sum_i ||mal - g_i||^2 <= max_i sum_j ||g_i - g_j||^2.

    Both sides hold at gamma = 0 (||c_i|| <= mean_j ||g_j - g_i|| <= max_j ||g_j - g_i||, and
    sum_i ||c_i||^2 = (1/2h) sum_{i,j} ||g_i - g_j||^2 <= max_i sum_j ||g_i - g_j||^2) and each
    left side is convex in gamma, so the feasible gammas form an interval [0, gamma*]. Search:
    start at ``gamma_init`` (the paper's 10) and double while feasible (the paper's halving
    steps alone never pass 2 gamma_init), then bisect the bracket until it is narrower than
    ``tol``, within ``max_iter`` evaluations in all; the feasible end is returned, so
    gamma* - tol <= gamma <= gamma* (up to rounding). Each evaluation uses
    ||mal - g_i||^2 = ||c_i||^2 + 2 gamma <c_i, p> + gamma^2 ||p||^2. With one honest row the
    bound is 0, so gamma = 0 (the mean is sent); p = 0 (e.g. identical rows) also gives 0.

    Args:
        honest: ``(h, d)`` real honest messages.
        rule: ``"minmax"`` or ``"minsum"``.
        perturbation: see :func:`agr_perturbation`.
        gamma_init: first trial, > 0; tol: bracket width, > 0; max_iter: evaluations, >= 1.

    Returns:
        gamma (float).

    Example:
        >>> # mean 1, p = -1: max(|1 - gamma - 0|, |1 - gamma - 2|) <= |0 - 2| up to gamma = 1
        >>> round(agr_gamma(np.array([[0.0], [2.0]]), perturbation="unit"), 4)
        1.0

    Reference: Shejwalkar & Houmansadr, NDSS 2021, "Manipulating the Byzantine", Algorithm 1
    (AGR-agnostic Min-Max and Min-Sum).
    """
    v.choice("rule", rule, ("minmax", "minsum"))
    gamma_init = v.real("gamma_init", gamma_init, lo=0.0, lo_open=True)
    tol = v.real("tol", tol, lo=0.0, lo_open=True)
    max_iter = v.integer("max_iter", max_iter, lo=1)
    h = np.asarray(_honest_rows(honest), dtype=np.float64)
    p = agr_perturbation(h, perturbation)
    with np.errstate(all="ignore"):
        c = h.mean(axis=0) - h
        cc = np.einsum("ij,ij->i", c, c)
        cp = c @ p
        pp = float(p @ p)
        gram = c @ c.T
        pair = np.maximum(cc[:, None] + cc[None, :] - 2.0 * gram, 0.0)  # ||g_i - g_j||^2
        np.fill_diagonal(pair, 0.0)
        bound = float(pair.max()) if rule == "minmax" else float(pair.sum(axis=1).max())
    if not (pp > 0 and np.isfinite(pp)) or h.shape[0] == 1:
        return 0.0

    def feasible(g: float) -> bool:
        with np.errstate(all="ignore"):
            d2 = cc + 2.0 * g * cp + g * g * pp
            left = float(d2.max()) if rule == "minmax" else float(d2.sum())
        return bool(left <= bound)

    lo, hi, it = 0.0, gamma_init, 0
    while it < max_iter and feasible(hi):
        lo, hi, it = hi, 2.0 * hi, it + 1
        if not np.isfinite(hi):
            return lo
    while it < max_iter and hi - lo >= tol:
        mid = 0.5 * (lo + hi)
        if feasible(mid):
            lo = mid
        else:
            hi = mid
        it += 1
    return lo


def _fang(honest: np.ndarray, c: float, rng) -> np.ndarray:
    s = np.sign(honest.mean(axis=0))
    mn, mx = honest.min(axis=0), honest.max(axis=0)
    with np.errstate(all="ignore"):
        lo = np.where(s > 0, np.where(mn > 0, mn / c, c * mn), mx)
        hi = np.where(s > 0, mn, np.where(mx > 0, c * mx, mx / c))
        u = v.rng(rng).random(honest.shape[1])
        return lo + u * (hi - lo)


def _check_grad_params(name: str, p: dict) -> None:
    if name in ("minmax", "minsum"):
        v.choice("perturbation", p["perturbation"], PERTURBATIONS)
        v.real("gamma_init", p["gamma_init"], lo=0.0, lo_open=True)
        v.real("tol", p["tol"], lo=0.0, lo_open=True)
        v.integer("max_iter", p["max_iter"], lo=1)
    elif name == "fang":
        v.real("c", p["c"], lo=1.0)
    elif name == "mimic" and p["index"] is not None:
        v.integer("index", p["index"], lo=0)


def attack_gradient(name: str, own, *, honest=None, n: int | None = None, f: int | None = None,
                    rng=None, **params) -> np.ndarray:
    """What a Byzantine worker sends instead of its real-valued gradient ``own``.

    * ``reversed_gradient``: ``-c * own`` (c = 100);
    * ``constant``: ``kappa * 1`` (kappa = -100);
    * ``gaussian``: ``N(0, sigma^2)`` per coordinate (sigma = 200), from the worker's ``rng``;
    * ``model_negation``: ``-scale * sum(honest)`` (scale = 1e10; omniscient);
    * ``gradient_scale``: ``scale * own`` (scale = 1e10);
    * ``label_shift``: ``own`` unchanged — the worker computed it on labels ``y -> 9 - y``
      (the trainer does that; see :func:`shift_labels`);
    * ``alie``: ``mean(honest) - z * std(honest)`` per coordinate, z from :func:`alie_z`
      (Baruch et al. 2019; omniscient, needs ``n`` and ``f``);
    * ``ipm``: ``-epsilon * mean(honest)`` (Xie et al. 2019, epsilon = 0.1; omniscient);
    * ``mimic``: a copy of one honest message, row :func:`mimic_index` (``index`` = None: the
      row farthest from the honest mean; an int: that honest row) — every Byzantine sends the
      same one (Karimireddy, He & Jaggi 2022; omniscient);
    * ``inf`` / ``nan``: +inf / NaN in every coordinate (both parts of a complex message);
    * ``minmax`` / ``minsum``: ``mean(honest) + gamma * p``, p from :func:`agr_perturbation`
      (``perturbation`` = "std": -std, "unit": -mean/||mean||, "sign": -sign(mean)), gamma the
      largest that keeps the message within the honest spread (:func:`agr_gamma`; gamma_init =
      10, tol = 1e-5, max_iter = 200; one honest row: gamma = 0, the mean) (Shejwalkar &
      Houmansadr 2021; omniscient);
    * ``fang``: the full-knowledge attack on trimmed mean and median (Fang et al. 2020; c = 2;
      omniscient): with s = sign(mean(honest)) and min_j, max_j over the honest rows, coordinate
      j is drawn uniformly from [min_j / c, min_j] (min_j > 0) or [c min_j, min_j] where s_j > 0,
      and from [max_j, c max_j] (max_j > 0) or [max_j, max_j / c] where s_j <= 0, as
      ``lo + u (hi - lo)``, ``u = rng.random(d)`` from the worker's stream. The paper writes it
      on model parameters, against the direction the global model would move; on gradients the
      push is against the honest direction: below every honest value where the honest mean is
      positive, above every one elsewhere.

    The omniscient attacks receive the honest messages through the adversary channel
    (``honest``: ``(h, d)`` array) — the colluding Byzantines see them before sending.

    Args:
        name: one of :data:`GRADIENT_ATTACKS`.
        own: the worker's honest gradient ``(d,)``.
        honest: ``(h, d)`` honest gradients (omniscient attacks only).
        n, f: number of workers and of Byzantines (``alie`` only).
        rng: Generator or seed (``gaussian`` and ``fang``).
        **params: override the defaults above (c, kappa, sigma, scale, epsilon, index,
            perturbation, gamma_init, tol, max_iter).

    Returns:
        float array ``(d,)`` of the dtype of ``own`` (``inf`` / ``nan``: float64 for an integer
        ``own``). Complex messages (DRACO's cyclic code) get the omniscient attacks' statistics
        on their real and imaginary parts apart; ``mimic`` copies a whole complex honest row
        (farthest by modulus), real and imaginary parts together.

    Example:
        >>> attack_gradient("reversed_gradient", np.array([1.0, -2.0])).tolist()
        [-100.0, 200.0]
        >>> honest = np.array([[0.0, 1.0], [1.0, 0.0], [4.0, 4.0]])
        >>> attack_gradient("mimic", np.zeros(2), honest=honest).tolist()  # farthest from mean
        [4.0, 4.0]

    Reference: BrSGD (Li et al.) Section 5 attacks; DRACO Section 5 (reversed gradient,
    constant); ALIE (Baruch et al. 2019); IPM (Xie et al. 2019); mimic (Karimireddy et al.,
    ICLR 2022); Min-Max / Min-Sum (Shejwalkar & Houmansadr, NDSS 2021); Fang et al. (USENIX
    Security 2020), full-knowledge trimmed-mean / median attack.
    """
    v.choice("name", name, GRADIENT_ATTACKS)
    own = np.asarray(own)
    if own.ndim != 1:
        raise ValueError(f"own must be a 1-D gradient, got shape {own.shape}")
    allowed = set(_GRAD_DEFAULTS.get(name, {}))
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for attack {name!r}; "
                         f"allowed: {sorted(allowed)}")
    p = {**_GRAD_DEFAULTS.get(name, {}), **params}
    _check_grad_params(name, p)
    if name in OMNISCIENT:
        if honest is None:
            raise ValueError(f"attack {name!r} is omniscient: pass honest=(h, d) gradients")
        honest = _honest_rows(honest, own.shape[0])
        if name == "mimic":  # a whole honest row, complex or real
            out = honest[mimic_index(honest, p["index"])].copy()
            dtype = own.dtype if np.iscomplexobj(own) or not np.iscomplexobj(out) else np.complex128
            return np.asarray(out, dtype=dtype)
        if np.iscomplexobj(honest) or np.iscomplexobj(own):
            # complex messages (DRACO's cyclic code): the statistics of the real and the
            # imaginary parts, each as for a real gradient
            def part(take):
                return attack_gradient(name, take(own).astype(np.float64),
                                       honest=take(honest), n=n, f=f, rng=rng, **params)
            out = part(np.real) + 1j * part(np.imag)
            return np.asarray(out, dtype=own.dtype if np.iscomplexobj(own) else np.complex128)
        honest = np.asarray(honest, dtype=np.float64)
    if name in ("inf", "nan"):
        value = np.inf if name == "inf" else np.nan
        if np.iscomplexobj(own):
            return np.full(own.shape, complex(value, value), dtype=own.dtype)
        dtype = own.dtype if np.issubdtype(own.dtype, np.inexact) else np.dtype(np.float64)
        return np.full(own.shape, value, dtype=dtype)
    if name in ("none", "label_shift"):
        out = own.copy()
    elif name == "reversed_gradient":
        out = -p["c"] * own
    elif name == "constant":
        out = np.full_like(own, p["kappa"])
    elif name == "gaussian":
        out = v.rng(rng).normal(0.0, p["sigma"], size=own.shape)
    elif name == "model_negation":
        out = -p["scale"] * honest.sum(axis=0)
    elif name == "gradient_scale":
        out = p["scale"] * own
    elif name == "alie":
        if n is None or f is None:
            raise ValueError("attack 'alie' needs n (workers) and f (Byzantines)")
        out = honest.mean(axis=0) - alie_z(n, f) * honest.std(axis=0)
    elif name in ("minmax", "minsum"):
        gamma = agr_gamma(honest, name, perturbation=p["perturbation"],
                          gamma_init=p["gamma_init"], tol=p["tol"], max_iter=p["max_iter"])
        with np.errstate(all="ignore"):
            out = honest.mean(axis=0) + gamma * agr_perturbation(honest, p["perturbation"])
    elif name == "fang":
        out = _fang(honest, float(p["c"]), rng)
    else:  # ipm
        out = -p["epsilon"] * honest.mean(axis=0)
    with np.errstate(over="ignore"):  # x 1e10 may overflow float32 to inf: that is the attack
        return np.asarray(out, dtype=own.dtype)


def shift_labels(y, n_classes: int = 10):
    """Label-shift attack on the data: ``y -> (n_classes - 1) - y`` (BrSGD's ``9 - y``).

    Example:
        >>> shift_labels(np.array([0, 3, 9])).tolist()
        [9, 6, 0]
    """
    n_classes = v.integer("n_classes", n_classes, lo=2)
    return (n_classes - 1) - y
