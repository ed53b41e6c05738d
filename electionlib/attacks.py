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
  Theorem 1. It needs the target, which the adversary channel supplies.

Every attack except ``reverse`` votes on every coordinate (present bits set).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from . import _validate as v
from ._names import GRADIENT_ATTACKS, OMNISCIENT, VOTE_ATTACKS
from .theory import exact_error_fixed
from .votes import _tail_mask, packed_length

__all__ = [
    "GRADIENT_ATTACKS",
    "OMNISCIENT",
    "alie_z",
    "attack_gradient",
    "shift_labels",
    "VOTE_ATTACKS",
    "attack_vote",
    "apply_vote_attack",
    "byzantine_set",
    "worst_byzantine_set",
]



def attack_vote(
    name: str,
    bits: np.ndarray,
    d: int,
    *,
    rng=None,
    direction: np.ndarray | None = None,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """What one Byzantine worker sends instead of its honest packed vote ``bits``.

    Args:
        name: one of :data:`VOTE_ATTACKS`.
        bits: the worker's honest packed vote, uint8 ``(ceil(d/8),)``.
        d: number of coordinates.
        rng: Generator or seed (``random`` only).
        direction: packed direction for ``directional`` (default all +1).
        target: packed target for ``worst`` (required).

    Returns:
        packed uint8 ``(ceil(d/8),)`` with zero padding.

    Example:
        >>> from electionlib.votes import pack, unpack
        >>> unpack(attack_vote("reverse", pack(np.array([1, -1, 1])), 3), 3).tolist()
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
):
    """Apply a vote attack to the Byzantine rows of ``n`` packed votes (sim backend).

    Args:
        name: one of :data:`VOTE_ATTACKS`.
        bits: uint8 ``(n, ceil(d/8))`` honest votes.
        present: ``None``, ``(n,)`` bool or packed ``(n, ceil(d/8))`` (see :mod:`votes`).
        byzantine: indices of the Byzantine workers.
        d: number of coordinates.
        rngs: for ``random``: a Generator, or one Generator per worker.
        direction, target: as in :func:`attack_vote`.

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
        bits[i] = attack_vote(name, bits[i], d, rng=rng, direction=direction, target=target)
        if name not in ("none", "reverse") and present is not None:
            if present.ndim == 1:
                present[i] = True
            else:
                present[i] = 0xFF
                present[i, -1] &= _tail_mask(d)
        elif name == "reverse" and present is not None and present.ndim == 2:
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
    G, b: int, *, S: float = 0.0, tie: str = "coin", method: str = "auto", max_sets: int = 5000
):
    """Omniscient choice of which ``b`` workers to corrupt for a given code ``G``.

    The adversary maximises the exact probability ``P(mu_hat != mu)`` that the
    master's decision differs from the partition majority when the chosen
    workers send ``-mu`` (Theorem 1's worst case), with partition signs
    i.i.d. correct with probability ``Phi(S)`` (``S = 0``: fair coins).

    Methods: ``exhaustive`` (all ``C(n, b)`` sets), ``greedy`` (add the worker
    that raises the error most, then 1-swap local search until no swap
    helps), ``auto`` (exhaustive if ``C(n, b) <= max_sets``, else greedy).
    The greedy search is checked against exhaustive search in the tests.

    Returns:
        ``(byzantine, error)``: sorted index tuple and its exact error probability.

    Example:
        >>> from electionlib import codes
        >>> worst_byzantine_set(codes.uncoded(5), 2)[1] > 0.3
        True

    Reference: Theorem 1 (worst-case attack), Section 5 ("b Byzantine nodes").
    """
    G = v.allocation(G)
    n, k = G.shape
    b = v.integer("b", b, lo=0, hi=n)
    v.choice("method", method, ("auto", "exhaustive", "greedy"))
    if k % 2 == 0:
        raise ValueError(f"G has k={k} partitions; P(mu_hat != mu) needs an odd k")

    def err(byz) -> float:
        return exact_error_fixed(G, list(byz), S, attack="worst", target="mu", tie=tie)

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


_GRAD_DEFAULTS = {
    "reversed_gradient": {"c": 100.0},
    "constant": {"kappa": -100.0},
    "gaussian": {"sigma": 200.0},
    "model_negation": {"scale": 1e10},
    "gradient_scale": {"scale": 1e10},
    "ipm": {"epsilon": 0.1},
}


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
    * ``ipm``: ``-epsilon * mean(honest)`` (Xie et al. 2019, epsilon = 0.1; omniscient).

    The omniscient attacks receive the honest messages through the adversary channel
    (``honest``: ``(h, d)`` array) — the colluding Byzantines see them before sending.

    Args:
        name: one of :data:`GRADIENT_ATTACKS`.
        own: the worker's honest gradient ``(d,)``.
        honest: ``(h, d)`` honest gradients (omniscient attacks only).
        n, f: number of workers and of Byzantines (``alie`` only).
        rng: Generator or seed (``gaussian`` only).
        **params: override the defaults above (c, kappa, sigma, scale, epsilon).

    Returns:
        float array ``(d,)`` of the dtype of ``own``. Complex messages (DRACO's cyclic code)
        get the omniscient attacks' statistics on their real and imaginary parts apart.

    Example:
        >>> attack_gradient("reversed_gradient", np.array([1.0, -2.0])).tolist()
        [-100.0, 200.0]

    Reference: BrSGD (Li et al.) Section 5 attacks; DRACO Section 5 (reversed gradient,
    constant); ALIE (Baruch et al. 2019); IPM (Xie et al. 2019).
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
    if name in OMNISCIENT:
        if honest is None:
            raise ValueError(f"attack {name!r} is omniscient: pass honest=(h, d) gradients")
        honest = np.asarray(honest)
        if np.iscomplexobj(honest) or np.iscomplexobj(own):
            # complex messages (DRACO's cyclic code): the statistics of the real and the
            # imaginary parts, each as for a real gradient
            def part(take):
                return attack_gradient(name, take(own).astype(np.float64),
                                       honest=take(honest), n=n, f=f, rng=rng, **params)
            out = part(np.real) + 1j * part(np.imag)
            return np.asarray(out, dtype=own.dtype if np.iscomplexobj(own) else np.complex128)
        honest = np.asarray(honest, dtype=np.float64)
        if honest.ndim != 2 or honest.shape[1] != own.shape[0] or honest.shape[0] == 0:
            raise ValueError(f"honest must have shape (h >= 1, {own.shape[0]}), got {honest.shape}")
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
