"""Exact checks of perfect b-Byzantine tolerance (Lemma 2, Propositions 3–5).

A code ``G`` is *perfectly b-Byzantine tolerant* if, for every message
vector ``m`` of partition signs (with a defined majority ``mu``), every set of
``b`` Byzantine workers and every message they send, the master's majority
equals ``mu`` (Section 4). :func:`verify` decides this exactly by enumeration
and returns either a certificate or a concrete counterexample.

Adversary model (the strongest one): the Byzantine workers see ``m`` and
choose which ``b`` workers to corrupt; each corrupted worker sends ``-mu``
(sending nothing, or ``+mu``, never helps the adversary more). Local ties
(even row weights) follow the run's tie rule: ``plus`` sends +1, ``abstain``
sends nothing, ``coin`` is treated in the worst case (the coin lands on
``-mu``), since perfect tolerance must hold for every coin outcome. Empty rows
never vote. A tie at the master (the coordinate does not move) counts as a
failure.

With every row weight odd and ``k`` odd, the complement symmetry of
Proposition 4 and the monotonicity argument of Proposition 5 reduce the check
to the ``C(k, floor(k/2))`` messages of weight ``floor(k/2)`` (Lemma 2).
Otherwise all ``2^k`` messages are enumerated (Proposition 3: both M+ and M-).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import _validate as v
from .votes import TIE_RULES

__all__ = ["Counterexample", "ToleranceResult", "verify", "max_tolerable_b", "MAX_PARTITIONS"]

MAX_PARTITIONS = 30
_CHUNK = 1 << 21


class Counterexample(NamedTuple):
    """A message, a Byzantine set and what the Byzantines send, which fool the master.

    ``m``: int8 ``(k,)`` partition signs (±1); ``byzantine``: tuple of worker
    indices; ``sent``: int8 ``(len(byzantine),)`` values the Byzantines send
    (±1; they all send ``-mu``).
    """

    m: np.ndarray
    byzantine: tuple[int, ...]
    sent: np.ndarray


@dataclass(frozen=True)
class ToleranceResult:
    """Outcome of :func:`verify`.

    ``tolerant`` is the verdict; ``counterexample`` is ``None`` or a
    :class:`Counterexample`; ``received`` is the ±1/0 vector the master gets in
    that counterexample (coin ties resolved against ``mu``); ``method`` is
    ``"lemma2"`` (weight-floor(k/2) messages) or ``"prop3"`` (all messages).
    """

    tolerant: bool
    counterexample: Counterexample | None
    n: int
    k: int
    b: int
    tie: str
    method: str
    messages_checked: int
    seconds: float
    received: np.ndarray | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.tolerant

    def summary(self) -> str:
        """A human-readable certificate or counterexample."""
        head = (
            f"G ({self.n} workers x {self.k} partitions), b={self.b}, tie={self.tie}: "
            f"checked {self.messages_checked:,} message vectors by {self.method} "
            f"in {self.seconds:.3f} s"
        )
        if self.tolerant:
            what = (
                "every message of weight floor(k/2) satisfies Lemma 2, so by Propositions 4-5"
                if self.method == "lemma2"
                else "every message in M+ and M- satisfies Proposition 3, so"
            )
            return f"{head}\nCERTIFIED: {what} G is perfectly {self.b}-Byzantine tolerant."
        cx, got = self.counterexample, self.received
        assert cx is not None and got is not None  # a result that is not tolerant has both
        return (
            f"{head}\nNOT TOLERANT: partition signs m={cx.m.tolist()} (majority "
            f"{int(np.sign(cx.m.sum()))}), Byzantine workers {list(cx.byzantine)} send "
            f"{cx.sent.tolist()}, the master receives {got.tolist()} and decides "
            f"{int(np.sign(got.sum()))}."
        )


def _messages(k: int, weight: int | None):
    """Yield chunks of message integers (bit j = partition j's sign is +1)."""
    total = 1 << k
    for lo in range(0, total, _CHUNK):
        m = np.arange(lo, min(total, lo + _CHUNK), dtype=np.uint32)
        if weight is not None:
            m = m[np.bitwise_count(m) == weight]
        if m.size:
            yield m


def _contributions(G: np.ndarray, m: np.ndarray, tie: str):
    """Per message: counts of workers voting with mu (+1), abstaining (0), against (-1).

    Returns ``(mu_plus, n_with, n_abstain, n_against, valid)`` arrays over the messages.
    """
    n, k = G.shape
    weights = G.sum(axis=1)
    masks = (G.astype(np.uint64) << np.arange(k, dtype=np.uint64)).sum(axis=1)
    ones = np.bitwise_count(m).astype(np.int16)
    valid = 2 * ones != k
    mu_plus = 2 * ones > k
    n_with = np.zeros(m.shape, np.int16)
    n_against = np.zeros(m.shape, np.int16)
    for i in range(n):
        w = int(weights[i])
        if w == 0:
            continue
        c = np.bitwise_count(m & np.uint32(masks[i])).astype(np.int16)
        plus = 2 * c > w
        minus = 2 * c < w
        if w % 2 == 0:
            tied = ~(plus | minus)
            if tie == "plus":
                plus = plus | tied
            elif tie == "coin":  # worst case: the coin lands against mu
                plus = plus | (tied & ~mu_plus)
                minus = minus | (tied & mu_plus)
        with_mu = np.where(mu_plus, plus, minus)
        against = np.where(mu_plus, minus, plus)
        n_with += with_mu
        n_against += against
    n_abstain = n - n_with - n_against
    return mu_plus, n_with, n_abstain, n_against, valid


def _final_margin(n_with, n_abstain, n_against, b: int):
    """Margin for mu after the adversary corrupts the b most useful workers to send -mu."""
    t1 = np.minimum(b, n_with)
    t0 = np.minimum(b - t1, n_abstain)
    t_minus = b - t1 - t0
    return (n_with - n_against) - (t1 - t_minus) - b


def _prepare(G, b, tie):
    G = v.allocation(G)
    n, k = G.shape
    if k > MAX_PARTITIONS:
        raise ValueError(
            f"G has k={k} partitions; exhaustive verification enumerates 2^k messages and "
            f"supports k <= {MAX_PARTITIONS}"
        )
    b = v.integer("b", b, lo=0, hi=n)
    v.choice("tie", tie, TIE_RULES)
    weights = G.sum(axis=1)
    lemma2 = bool((weights % 2 == 1).all() and k % 2 == 1)
    return G, n, k, b, lemma2


def verify(G, b: int, *, tie: str = "coin") -> ToleranceResult:
    """Decide exactly whether ``G`` is perfectly ``b``-Byzantine tolerant.

    Args:
        G: ``(n, k)`` 0/1 allocation matrix, ``k <= 30``.
        b: number of Byzantine workers, ``0 <= b <= n``.
        tie: local tie rule for even row weights (``plus``, ``coin``, ``abstain``).

    Returns:
        :class:`ToleranceResult`; ``res.tolerant`` and ``res.counterexample``
        (``None`` or ``(m, byzantine, sent)``).

    Example:
        >>> from electionlib import codes
        >>> verify(codes.deterministic(7, 2), 2).tolerant
        True
        >>> res = verify(codes.deterministic(7, 2), 3)
        >>> res.tolerant, len(res.counterexample.byzantine)
        (False, 3)

    Reference: Lemma 2; Propositions 3, 4, 5 (supplement E.2); Theorem 3.
    """
    G, n, k, b, lemma2 = _prepare(G, b, tie)
    t0 = time.perf_counter()
    checked = 0
    weight = (k - 1) // 2 if lemma2 else None
    for m in _messages(k, weight):
        mu_plus, nw, na, nm, valid = _contributions(G, m, tie)
        margin = _final_margin(nw, na, nm, b)
        bad = np.flatnonzero(valid & (margin <= 0))
        checked += int(valid.sum())
        if bad.size:
            j = int(bad[0])
            cx, received = _counterexample(G, int(m[j]), b, tie)
            return ToleranceResult(
                False, cx, n, k, b, tie, "lemma2" if lemma2 else "prop3", checked,
                time.perf_counter() - t0, received,
            )
    return ToleranceResult(
        True, None, n, k, b, tie, "lemma2" if lemma2 else "prop3", checked,
        time.perf_counter() - t0,
    )


def max_tolerable_b(G, *, tie: str = "coin") -> int:
    """The largest ``b`` for which ``G`` is perfectly b-Byzantine tolerant.

    Returns -1 when even the attack-free decision can differ from the
    majority (typical of random Bernoulli codes, whose guarantees are
    probabilistic).

    Example:
        >>> from electionlib import codes
        >>> max_tolerable_b(codes.deterministic(9, 2)), max_tolerable_b(codes.uncoded(9))
        (2, 0)

    Reference: Lemma 2, Theorem 3.
    """
    G, n, k, _, lemma2 = _prepare(G, 0, tie)
    best = n
    weight = (k - 1) // 2 if lemma2 else None
    for m in _messages(k, weight):
        _, nw, na, nm, valid = _contributions(G, m, tie)
        for b in range(0, best + 1):
            if (_final_margin(nw, na, nm, b)[valid] <= 0).any():
                best = b - 1
                break
        if best < 0:
            return -1
    return best


def _counterexample(G: np.ndarray, m_int: int, b: int, tie: str):
    n, k = G.shape
    m01 = (m_int >> np.arange(k)) & 1
    m = np.where(m01 == 1, 1, -1).astype(np.int8)
    mu = 1 if m01.sum() * 2 > k else -1
    received = np.zeros(n, dtype=np.int8)
    for i in range(n):
        cols = np.flatnonzero(G[i])
        if cols.size == 0:
            continue
        s = int(m[cols].sum())
        if s != 0:
            received[i] = 1 if s > 0 else -1
        elif tie == "plus":
            received[i] = 1
        elif tie == "coin":
            received[i] = -mu
    # corrupt the workers most useful to mu first: with mu, then abstaining, then against.
    order = sorted(range(n), key=lambda i: (-(received[i] * mu), i))
    byz = tuple(sorted(order[:b]))
    received[list(byz)] = -mu
    sent = np.full(len(byz), -mu, dtype=np.int8)
    return Counterexample(m, byz, sent), received


def n_messages(k: int, lemma2: bool) -> int:
    """Number of message vectors :func:`verify` enumerates for ``k`` partitions."""
    return math.comb(k, (k - 1) // 2) if lemma2 else 2**k
