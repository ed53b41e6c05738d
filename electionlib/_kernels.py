"""Compiled (numba) kernels for the worker's encoder under the ``coin`` tie rule.

Why a compiled dependency: right after a gradient computation, a worker's caches
and branch predictors are cold, and every small numpy call costs ~10-15 µs instead of
~3 µs. The numpy encoder of :func:`electionlib.votes.worker_vote` under ``coin`` makes about
4 r + 8 such calls (two comparisons and two ``packbits`` over the r gradients, then per
partition a zero check, a coin draw and two in-place bitwise ops, then the local majority),
which put it at 4.6-5.4% of one LeNet-5 partition gradient for r = 3 -- at the edge of the
project's 5% target. These kernels fuse the compare + pack + zero scan of all r rows into one
call and the coin merge + local majority (r <= 3) into another, so the encoder makes r + 3
calls whatever r is. ``benchmarks/bench_encode.py`` prints both paths side by side.

The kernels compute exactly what the numpy path computes (``numpy.packbits`` bit order:
big-endian within a byte, zero padding), and the caller draws exactly the same coins from
the same streams, so the two paths agree bit for bit and draw for draw (a property test
checks it). numba is optional at run time: if it cannot be imported, or if the environment
variable ``ELECTIONLIB_NUMBA=0`` is set, :func:`available` is False and the numpy path
runs. The kernels are compiled on first use and cached next to this file
(``cache=True``); the first call in a fresh checkout takes about a second.
"""

from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests
    if os.environ.get("ELECTIONLIB_NUMBA", "1") == "0":
        raise ImportError("disabled by ELECTIONLIB_NUMBA=0")
    from numba import njit

    _NUMBA = True
except ImportError:  # pragma: no cover
    _NUMBA = False


def available() -> bool:
    """True when the compiled kernels can be used (numba importable, not disabled)."""
    return _NUMBA


if _NUMBA:

    @njit(cache=True, nogil=True, inline="always")
    def _pos(x):  # pragma: no cover - compiled
        return (x > 0) & (x < np.inf)

    @njit(cache=True, nogil=True, inline="always")
    def _zer(x):  # pragma: no cover - compiled
        return not ((x != 0) & (abs(x) < np.inf))

    @njit(cache=True, nogil=True)
    def _pack_signs_zeros(g, P, Z, has):  # pragma: no cover - compiled
        """P[j] = packbits(g[j] > 0), Z[j] = packbits(g[j] == 0), has[j] = any zero in row j;
        a NaN or infinite entry counts as a zero (as in :func:`electionlib.votes.sign_bits`)."""
        r, d = g.shape
        nfull = d // 8
        for j in range(r):
            zacc = 0
            for b in range(nfull):  # unrolled: no dependency chain within a byte
                i = b * 8
                x0 = g[j, i]
                x1 = g[j, i + 1]
                x2 = g[j, i + 2]
                x3 = g[j, i + 3]
                x4 = g[j, i + 4]
                x5 = g[j, i + 5]
                x6 = g[j, i + 6]
                x7 = g[j, i + 7]
                p = ((_pos(x0) << 7) | (_pos(x1) << 6) | (_pos(x2) << 5) | (_pos(x3) << 4)
                     | (_pos(x4) << 3) | (_pos(x5) << 2) | (_pos(x6) << 1) | _pos(x7))
                z = ((_zer(x0) << 7) | (_zer(x1) << 6) | (_zer(x2) << 5) | (_zer(x3) << 4)
                     | (_zer(x4) << 3) | (_zer(x5) << 2) | (_zer(x6) << 1) | _zer(x7))
                P[j, b] = p
                Z[j, b] = z
                zacc |= z
            if nfull * 8 < d:
                p = 0
                z = 0
                for k in range(8):
                    i = nfull * 8 + k
                    p <<= 1
                    z <<= 1
                    if i < d:
                        x = g[j, i]
                        p |= _pos(x)
                        z |= _zer(x)
                P[j, nfull] = p
                Z[j, nfull] = z
                zacc |= z
            has[j] = zacc != 0

    @njit(cache=True, nogil=True)
    def _merge_majority(P, Z, C, has, gt, eq):  # pragma: no cover - compiled
        """Rows ``P[j] |= Z[j] & C[j]`` where ``has[j]``; then, for r <= 3, the local majority
        into ``gt`` (and, for r = 2, the tied bytes into ``eq``). Returns whether any
        coordinate is tied (r = 2 only)."""
        r, nb = P.shape
        for j in range(r):
            if has[j]:
                for b in range(nb):
                    P[j, b] |= Z[j, b] & C[j, b]
        anyeq = 0
        if r == 1:
            for b in range(nb):
                gt[b] = P[0, b]
        elif r == 2:
            for b in range(nb):
                a = P[0, b]
                c = P[1, b]
                gt[b] = a & c
                e = a ^ c
                eq[b] = e
                anyeq |= e
        elif r == 3:
            for b in range(nb):
                a = P[0, b]
                c = P[1, b]
                e = P[2, b]
                gt[b] = (a & c) | (e & (a | c))
        return anyeq != 0


    @njit(cache=True, nogil=True)
    def _break_ties(gt, eq, coins):  # pragma: no cover - compiled
        """``gt |= eq & coins`` in one pass."""
        for b in range(gt.shape[0]):
            gt[b] |= eq[b] & coins[b]


def break_ties(gt: np.ndarray, eq: np.ndarray, coins: np.ndarray) -> None:
    """In place: ``gt |= eq & coins`` (the tied coordinates take the coin)."""
    _break_ties(gt, eq, coins)


def coin_signs(g: np.ndarray, partition_rngs, coin_bytes):
    """Packed signs of the ``r`` rows of ``g`` with ``sign(0)`` a fair coin from each row's stream.

    Row ``j`` draws ``coin_bytes(partition_rngs[j], ceil(d/8))`` only if it has a zero, as
    :func:`electionlib.votes.sign_bits` does. Returns ``(P, gt, eq, any_tied)``: ``P`` the
    packed ``(r, ceil(d/8))`` signs; for r <= 3 ``gt`` is the local majority (ties not yet
    broken) and, for r = 2, ``eq`` marks tied coordinates and ``any_tied`` says if there is
    one; for r > 3 ``gt`` is None (the caller counts ``P``).
    """
    g = np.ascontiguousarray(g)
    r, d = g.shape
    nb = (d + 7) // 8
    P = np.empty((r, nb), np.uint8)
    Z = np.empty((r, nb), np.uint8)
    has = np.empty(r, np.bool_)
    _pack_signs_zeros(g, P, Z, has)
    C = np.empty((r, nb), np.uint8)
    for j in range(r):
        if has[j]:
            C[j] = coin_bytes(partition_rngs[j], nb)
    gt = np.empty(nb, np.uint8)
    eq = np.empty(nb if r == 2 else 0, np.uint8)
    any_tied = _merge_majority(P, Z, C, has, gt, eq)
    return P, (gt if r <= 3 else None), eq, bool(any_tied)
