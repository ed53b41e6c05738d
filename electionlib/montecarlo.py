"""Monte-Carlo estimates of the master's estimation error.

Each trial is one gradient coordinate: the ``k`` partition gradients are
``N(g, sigma_bar^2)`` so each partition sign is correct with probability
``Phi(S)`` (``S = |g| / sigma_bar``, Definition 1) — or, for a fixed code,
partition ``j`` with its own probability ``rho_j`` (non-i.i.d. data, Theorem 1's
model with non-identical partitions); workers vote by local
majority (:func:`electionlib.votes.encode`), ``b`` Byzantine workers attack
(:mod:`electionlib.attacks`), the master decides by majority, and the trial
is an error when the decision (0 if tied) differs from the target:

* ``target="sign"`` — ``P(mu_hat != sign(g))`` (Theorem 1);
* ``target="mu"`` — ``P(mu_hat != mu)``, ``mu`` the majority of the ``k``
  partition signs (Section 4; needs odd ``k``).

Two samplers, one model:

* :func:`estimate_fixed` — a fixed code ``G`` and Byzantine set; trials run
  as the coordinates of one packed vote, through the library's own packed
  encoder, attacks and decoder (so this also exercises those kernels);
* :func:`estimate_ensemble` — the Bernoulli ensemble: a fresh
  ``G ~ Bern(p)`` for every trial (vectorised, unpacked).

Randomness: trials come in blocks of ``block`` trials; block ``j`` draws from
``SeedSequence(seed).spawn(...)[j]``, so a result depends only on
``(seed, trials, block)`` and never on global state. The exact values of
:mod:`electionlib.theory` are the reference these estimates are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import _validate as v
from . import attacks as A
from . import theory
from . import votes as V
from ._progress import progress as _bar

__all__ = ["MCResult", "estimate_fixed", "estimate_ensemble", "clopper_pearson"]

TARGETS = ("sign", "mu")


@dataclass(frozen=True)
class MCResult:
    """Errors counted over trials, with a Clopper-Pearson interval at ``level``."""

    errors: int
    trials: int
    level: float

    @property
    def p_hat(self) -> float:
        return self.errors / self.trials

    @property
    def ci(self) -> tuple[float, float]:
        return clopper_pearson(self.errors, self.trials, self.level)

    def pvalue(self, p: float) -> float:
        """Two-sided exact binomial test of ``H0: error probability = p``."""
        if p <= 0.0:
            return 1.0 if self.errors == 0 else 0.0
        if p >= 1.0:
            return 1.0 if self.errors == self.trials else 0.0
        return float(stats.binomtest(self.errors, self.trials, p).pvalue)


def clopper_pearson(errors: int, trials: int, level: float = 0.999) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion.

    Example:
        >>> lo, hi = clopper_pearson(0, 1000)
        >>> lo, round(hi, 4)
        (0.0, 0.0076)
    """
    a = 1.0 - level
    lo = 0.0 if errors == 0 else float(stats.beta.ppf(a / 2, errors, trials - errors + 1))
    hi = 1.0 if errors == trials else float(stats.beta.ppf(1 - a / 2, errors + 1, trials - errors))
    return lo, hi


def _check_common(S, attack, target, tie, trials, block, sign_g):
    S = None if S is None else v.real("S", S, lo=0.0)
    v.choice("attack", attack, A.VOTE_ATTACKS)
    v.choice("target", target, TARGETS)
    v.choice("tie", tie, V.TIE_RULES)
    trials = v.integer("trials", trials, lo=1)
    block = v.integer("block", block, lo=8)
    if sign_g not in (1, -1):
        raise ValueError(f"sign_g={sign_g!r} must be +1 or -1")
    return S, trials, block


def _blocks(seed, trials: int, block: int):
    n_blocks = -(-trials // block)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = root.spawn(n_blocks)
    for j, ss in enumerate(children):
        yield min(block, trials - j * block), ss


def estimate_fixed(
    G,
    byzantine,
    S: float | None = None,
    *,
    attack: str = "worst",
    target: str = "sign",
    tie: str = "coin",
    sign_g: int = 1,
    trials: int = 100_000,
    block: int = 1 << 15,
    seed=0,
    level: float = 0.999,
    progress: bool = False,
    rho=None,
    q: float = 0.75,
) -> MCResult:
    """Estimate the error of a fixed code ``G`` with a fixed Byzantine set.

    Per block, the partition signs are ``gen.random((k, size)) < rho[:, None]`` (``rho_j =
    Phi(S)`` for every j, or the given ``rho``), ``gen`` the block's first stream; the
    workers' coins and the attacks draw from the block's other ``n`` streams, one per worker.
    ``rho = Phi(S) * ones(k)`` gives the same draws, hence the same count, as ``S``.

    Args:
        G: ``(n, k)`` 0/1 allocation matrix.
        byzantine: indices of the Byzantine workers.
        S: signal-to-noise ratio ``|g| / sigma_bar`` (>= 0), i.i.d. partitions.
        attack: one of :data:`electionlib.attacks.VOTE_ATTACKS`.
        target: ``"sign"`` or ``"mu"`` (odd ``k``).
        tie: local tie rule (``plus``, ``coin``, ``abstain``).
        sign_g: sign of the true gradient (+1 or -1).
        trials, block, seed: sample size, block size, seed (see module doc).
        level: confidence level of :attr:`MCResult.ci`.
        progress: show a tqdm bar.
        rho: ``(k,)`` per-partition probabilities in [0, 1] that partition j's sign is
            correct, in place of ``Phi(S)`` (give ``S`` or ``rho``, not both).
        q: ``sign_flip``'s flip probability in [0, 1].

    Returns:
        :class:`MCResult`.

    Example:
        >>> from electionlib import codes
        >>> estimate_fixed(codes.deterministic(7, 2), [0, 6], 0.5, target="mu", trials=2000).errors
        0
        >>> r = estimate_fixed(codes.uncoded(3), [0], rho=[0.9, 0.8, 0.3], trials=4000)
        >>> r.ci[0] < 0.76 < r.ci[1]  # exact: 1 - 0.8 * 0.3
        True

    Reference: Theorem 1; with ``rho``, Theorem 1's model with non-identical partitions.
    """
    G = v.allocation(G)
    n, k = G.shape
    byz = A._indices(byzantine, n)
    S, trials, block = _check_common(S, attack, target, tie, trials, block, sign_g)
    q = v.real("q", q, lo=0.0, hi=1.0)
    if target == "mu" and k % 2 == 0:
        raise ValueError(f"target='mu' needs an odd number of partitions, got k={k}")
    if rho is None:
        if S is None:
            raise ValueError("pass S (i.i.d. partitions, rho = Phi(S)) or rho (per partition)")
        p_correct = np.full((k, 1), float(stats.norm.cdf(S)))
    elif S is not None:
        raise ValueError(f"S={S!r} and rho were both given: rho replaces Phi(S), leave S unset")
    else:
        p_correct = theory.partition_probs(rho, k)[:, None]
    errors = 0
    for size, ss in _bar(_blocks(seed, trials, block), -(-trials // block), "MC", progress):
        streams = ss.spawn(n + 1)
        gen = np.random.default_rng(streams[0])
        worker_rngs = [np.random.default_rng(s) for s in streams[1:]]
        correct = gen.random((k, size)) < p_correct
        positive = correct if sign_g == 1 else ~correct
        pbits = np.packbits(positive, axis=1)
        bits, present = V.encode(pbits, G, size, tie=tie, rng=worker_rngs)
        if target == "mu":
            tgt = V.majority(pbits, size)
        else:
            tgt = np.packbits(np.full(size, sign_g > 0))
        bits, present = A.apply_vote_attack(
            attack, bits, present, byz, size, rngs=worker_rngs, target=tgt, q=q
        )
        decision = V.decide(bits, size, present)
        want = V.unpack(tgt, size)
        errors += int((decision != want).sum())
    return MCResult(errors, trials, level)


def estimate_ensemble(
    n: int,
    k: int,
    p: float,
    b: int,
    S: float,
    *,
    attack: str = "worst",
    target: str = "sign",
    tie: str = "coin",
    sign_g: int = 1,
    trials: int = 100_000,
    block: int = 1 << 13,
    seed=0,
    level: float = 0.999,
    progress: bool = False,
    q: float = 0.75,
) -> MCResult:
    """Estimate the error over the Bernoulli code ensemble (fresh ``G`` per trial).

    Byzantine workers are workers ``0..b-1`` (the ensemble is exchangeable,
    so any fixed set gives the same law). An empty row abstains. ``sign_flip``
    reverses each Byzantine vote where ``gen.random((size, b)) < q`` (q in [0, 1]).

    Example:
        >>> r = estimate_ensemble(9, 9, 2 / 9, 3, 1.0, trials=4000, seed=1)
        >>> 0.0 < r.p_hat < 0.5
        True

    Reference: Section 3 (Bernoulli codes), Theorem 1.
    """
    n = v.integer("n", n, lo=1)
    k = v.integer("k", k, lo=1)
    p = v.real("p", p, lo=0.0, hi=1.0)
    b = v.integer("b", b, lo=0, hi=n)
    S, trials, block = _check_common(S, attack, target, tie, trials, block, sign_g)
    if S is None:
        raise ValueError("S=None: the ensemble needs the SNR S >= 0")
    q = v.real("q", q, lo=0.0, hi=1.0)
    if target == "mu" and k % 2 == 0:
        raise ValueError(f"target='mu' needs an odd number of partitions, got k={k}")
    rho = float(stats.norm.cdf(S))
    errors = 0
    for size, ss in _bar(_blocks(seed, trials, block), -(-trials // block), "MC", progress):
        gen = np.random.default_rng(ss)
        G = gen.random((size, n, k)) < p
        correct = gen.random((size, k)) < rho
        s = np.where(correct, sign_g, -sign_g).astype(np.int8)  # (T, k) partition signs
        plus = np.einsum("tij,tj->ti", G, s > 0, dtype=np.int16)
        load = G.sum(axis=2, dtype=np.int16)
        diff = 2 * plus - load  # (#plus - #minus) per worker
        vote = np.sign(diff).astype(np.int8)
        tied = (diff == 0) & (load > 0)
        if tie == "plus":
            vote[tied] = 1
        elif tie == "coin":
            coins = np.where(gen.random(vote.shape) < 0.5, 1, -1).astype(np.int8)
            vote = np.where(tied, coins, vote)
        mu = np.sign(s.sum(axis=1, dtype=np.int32)).astype(np.int8)
        tgt = mu if target == "mu" else np.full(size, sign_g, dtype=np.int8)
        if b:
            if attack == "reverse":
                vote[:, :b] = -vote[:, :b]
            elif attack == "directional":
                vote[:, :b] = 1
            elif attack == "random":
                vote[:, :b] = np.where(gen.random((size, b)) < 0.5, 1, -1)
            elif attack == "worst":
                vote[:, :b] = -tgt[:, None]
            elif attack == "sign_flip":
                vote[:, :b] = np.where(gen.random((size, b)) < q, -vote[:, :b], vote[:, :b])
        decision = np.sign(vote.sum(axis=1, dtype=np.int32))
        errors += int((decision != tgt).sum())
    return MCResult(errors, trials, level)
