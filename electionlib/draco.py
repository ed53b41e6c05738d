"""DRACO: exact gradient sums in spite of adversarial workers (Chen et al., ICML 2018).

``P`` workers (compute nodes) and ``P`` data partitions with gradients
``g_0, ..., g_{P-1}`` (rows of a ``(P, d)`` array; the paper's columns of ``G``).
At most ``s`` workers are adversarial: each may send *any* ``d``-vector, and
they may collude. A DRACO code (allocation ``A``, encoders ``E_j``, decoder
``D``) returns the exact sum ``sum_k g_k`` (the paper's ``G 1_P``) whatever the
adversaries send (Definition 3.2). Theorem 3.1: this needs redundancy
``r >= 2s + 1`` (:func:`min_redundancy`); both codes here meet it with equality.

* :func:`repetition` -- fractional repetition code (Theorem 3.2): ``P / r``
  groups of ``r`` workers, every worker of a group sends its group's sum, the
  server takes each group's majority message and adds them up.
* :func:`cyclic` -- cyclic code (Section 3, Algorithm 1, Lemmas 3.3-3.4,
  Theorem 3.5): worker ``i`` holds gradients ``i, ..., i + 2s (mod P)`` and sends
  the complex combination ``sum_k W[k, i] g_k``; the server locates the
  adversaries with the syndrome of a DFT (Reed-Solomon-like) code and solves
  ``W[:, U] b = 1`` over the honest workers ``U``.

Decoders return the *sum*; the trainer scales by ``1/P``. Indices are 0-based
(node ``i`` here is node ``i + 1`` of the paper). Every decoder also has a
``decode_report`` returning a :class:`Decoded` with the excluded workers and an
``ok`` flag that is ``False`` when the decoder found that more than ``s``
workers misbehaved and a documented fallback rule produced ``u`` (no guarantee
then). Some attacks by ``s + 1`` colluders are undetectable (Theorem 3.1) and
decode to a wrong sum with ``ok`` still ``True``.

Non-finite messages (NaN or inf anywhere in a row) are always treated as
adversarial: they never count as votes and never enter a sum; the decoder does
not raise or warn because of them. Honest gradients are assumed finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v

__all__ = [
    "min_redundancy",
    "repetition",
    "cyclic",
    "RepetitionCode",
    "CyclicCode",
    "Decoded",
]


def min_redundancy(s: int) -> int:
    """Smallest redundancy that tolerates ``s`` adversarial workers: ``r = 2s + 1``.

    Theorem 3.1 of DRACO: if an allocation/encoding/decoding scheme ``(A, E, D)``
    returns the exact gradient sum for every choice of ``s`` adversarial nodes
    and every message they send, its redundancy ratio ``r = ||A||_0 / P``
    satisfies ``r >= 2s + 1``: each gradient must be computed ``2s + 1`` times
    (information-theoretic: it holds for any encoder and decoder).

    Args:
        s: number of adversarial workers to tolerate, ``s >= 0``.

    Returns:
        ``2 * s + 1``.

    Example:
        >>> min_redundancy(2)
        5

    Reference: DRACO, Theorem 3.1.
    """
    s = v.integer("s", s, lo=0)
    return 2 * s + 1


@dataclass(frozen=True)
class Decoded:
    """Outcome of a DRACO decoder.

    Attributes:
        u: ``(d,)`` decoded gradient sum.
        rejected: sorted indices of the workers whose messages were excluded
            (adversaries identified by the decoder, and non-finite messages).
        ok: ``True`` when the received messages are consistent with at most
            ``s`` adversarial workers; then ``u`` is the true sum (up to float
            rounding). ``False`` means more than ``s`` workers misbehaved
            detectably and ``u`` comes from the documented fallback rule.
    """

    u: np.ndarray
    rejected: tuple[int, ...]
    ok: bool


# --------------------------------------------------------------------------- helpers


def _check_s(s) -> int:
    return v.integer("s", s, lo=0)


def _as_real_matrix(x, name: str, rows: int, label: str = "P") -> np.ndarray:
    """Validate a real ``(rows, d)`` array; integers and bools become float64."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] != rows or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape ({label}, d) = ({rows}, d) with d >= 1, got {arr.shape}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


_BLOCK = 8192  # columns per block in the cyclic encoder (keeps the work in cache)


def _check_node(i, P: int) -> int:
    return v.integer("i", i, lo=0, hi=P - 1)


def _ordered_sum(rows: np.ndarray) -> np.ndarray:
    """``rows[0] + rows[1] + ...`` left to right: the same bits on every worker."""
    acc = np.array(rows[0], copy=True)
    for row in rows[1:]:
        acc += row
    return acc


# --------------------------------------------------------------------------- repetition


class RepetitionCode:
    """DRACO fractional repetition code ``(A^Rep, E^Rep, D^Rep)``.

    Workers ``g r, ..., g r + r - 1`` form group ``g`` (``r = 2s + 1``, ``P / r``
    groups); each of them holds the partitions of its group, so
    ``A = blockdiag(1_{r x r}, ..., 1_{r x r})`` and every worker sends the
    group sum ``z_i = sum_{k in group} g_k``. The decoder takes, in each group,
    the message sent by a strict majority (at least ``s + 1``) of the group's
    ``r`` workers -- found with the Boyer-Moore streaming majority vote, linear
    in ``P`` -- and returns the sum of the ``P / r`` group values. With at most
    ``s`` adversaries in total no group has more than ``s`` of them, so the
    ``s + 1`` honest replicas always win (Theorem 3.2).

    Equality is *exact, bitwise* equality of message rows: honest replicas
    compute the same sum of the same gradients in the same order
    (:meth:`encode_node` adds the rows left to right), hence bit-identical
    messages. Workers that sum in a different order (e.g. different BLAS
    reductions) would break this and must not be mixed. Non-finite rows never
    count as votes. If no message has a strict majority in a group (possible
    only with more than ``s`` adversaries) the group's value falls back to the
    coordinate-wise median of its finite rows (zeros if none is finite) and
    ``ok`` is ``False``.

    Attributes:
        P: number of workers = number of partitions.
        s: number of adversarial workers tolerated.
        r: redundancy ``2s + 1`` = group size.
        A: ``(P, P)`` uint8 allocation, ``A[i, k] = 1`` iff worker ``i`` computes ``g_k``.
        loads: ``(P,)`` int64 partitions per worker (all equal to ``r``).

    Example:
        >>> code = repetition(3, 1)
        >>> grads = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 3.0]])
        >>> msgs = code.encode(grads)
        >>> msgs[2] = [1e9, -7.0]                      # one adversary
        >>> code.decode(msgs)
        array([7., 4.])

    Reference: DRACO, Section 3 ("Fractional Repetition Code"), Theorem 3.2.
    """

    def __init__(self, P: int, s: int):
        s = _check_s(s)
        r = 2 * s + 1
        P = v.integer("P", P, lo=1)
        if P % r:
            lower = (P // r) * r
            near = f"{lower} or {lower + r}" if lower >= r else f"{r}"
            raise ValueError(
                f"P={P} must be a multiple of r=2s+1={r} for the repetition code (s={s}); "
                f"nearest valid P: {near}"
            )
        self.P, self.s, self.r = P, s, r
        A = np.kron(np.eye(P // r, dtype=np.uint8), np.ones((r, r), dtype=np.uint8))
        A.setflags(write=False)
        self.A = A
        loads = A.sum(axis=1, dtype=np.int64)
        loads.setflags(write=False)
        self.loads = loads

    def __repr__(self) -> str:
        return f"RepetitionCode(P={self.P}, s={self.s})"

    @property
    def n_groups(self) -> int:
        """Number of groups ``P / r``."""
        return self.P // self.r

    def partitions(self, i: int) -> tuple[int, ...]:
        """Partitions held by worker ``i`` (those of its group), in summation order."""
        i = _check_node(i, self.P)
        start = (i // self.r) * self.r
        return tuple(range(start, start + self.r))

    def encode_node(self, i: int, local) -> np.ndarray:
        """Message of worker ``i``: ``E_i(Y_i) = Y_i 1`` summed left to right.

        Args:
            i: worker index in ``[0, P)``.
            local: ``(r, d)`` gradients of ``partitions(i)``, in that order.

        Returns:
            ``(d,)`` group sum, bit-identical to ``encode(grads)[i]``.
        """
        _check_node(i, self.P)
        local = _as_real_matrix(local, "local", self.r, "r")
        return _ordered_sum(local)

    def encode(self, grads) -> np.ndarray:
        """All honest messages at once.

        Args:
            grads: ``(P, d)`` real gradients, row ``k`` = partition ``k``.

        Returns:
            ``(P, d)`` messages (dtype of ``grads``; float64 for integers): row
            ``i`` is the sum of the gradients of worker ``i``'s group.
        """
        grads = _as_real_matrix(grads, "grads", self.P)
        out = np.empty_like(grads)
        for g in range(self.n_groups):
            block = slice(g * self.r, (g + 1) * self.r)
            out[block] = _ordered_sum(grads[block])
        return out

    def decode(self, received) -> np.ndarray:
        """Group majority decoder ``D^Rep``: ``u = sum_g Maj(z_{g r}, ..., z_{g r + r - 1})``.

        Args:
            received: ``(P, d)`` real messages, at most ``s`` rows arbitrary.

        Returns:
            ``(d,)`` sum of the gradients (dtype of ``received``).
        """
        return self.decode_report(received).u

    def decode_report(self, received) -> Decoded:
        """:meth:`decode` plus the rejected workers and the ``ok`` flag (see :class:`Decoded`)."""
        R = _as_real_matrix(received, "received", self.P)
        r, need = self.r, self.s + 1
        bits = R.view(np.uint8).reshape(self.P, -1) if R.flags.c_contiguous else None
        finite = np.isfinite(R).all(axis=1)

        def same(a: int, b: int) -> bool:
            if bits is not None:
                return bool(np.array_equal(bits[a], bits[b]))
            return R[a].tobytes() == R[b].tobytes()

        u = None
        rejected: list[int] = []
        ok = True
        for g in range(self.n_groups):
            members = [i for i in range(g * r, (g + 1) * r) if finite[i]]
            # Boyer-Moore majority vote: the only possible strict-majority row.
            cand, count = -1, 0
            for i in members:
                if count == 0:
                    cand, count = i, 1
                elif same(i, cand):
                    count += 1
                else:
                    count -= 1
            agree = [i for i in members if cand >= 0 and same(i, cand)]
            if len(agree) >= need:
                value = R[cand]
                rejected.extend(i for i in range(g * r, (g + 1) * r) if i not in agree)
            else:
                ok = False
                rejected.extend(i for i in range(g * r, (g + 1) * r) if not finite[i])
                if members:
                    value = np.median(R[members], axis=0).astype(R.dtype)
                else:
                    value = np.zeros(R.shape[1], dtype=R.dtype)
            if u is None:
                u = np.array(value, copy=True)
            else:
                u += value
        assert u is not None  # P >= r: at least one group
        return Decoded(u=u, rejected=tuple(sorted(rejected)), ok=ok)


def repetition(P: int, s: int) -> RepetitionCode:
    """DRACO repetition code for ``P`` workers tolerating ``s`` adversaries.

    Args:
        P: workers = partitions; must be a multiple of ``r = 2s + 1``.
        s: adversaries tolerated, ``s >= 0``.

    Returns:
        A :class:`RepetitionCode` with ``encode`` / ``decode``.

    Example:
        >>> code = repetition(6, 1)
        >>> code.r, code.loads.tolist()
        (3, [3, 3, 3, 3, 3, 3])

    Reference: DRACO, Theorem 3.2.
    """
    return RepetitionCode(P, s)


# --------------------------------------------------------------------------- cyclic


class CyclicCode:
    """DRACO cyclic code ``(A^Cyc, E^Cyc, D^Cyc)`` with the DFT-based ``W``.

    **Allocation.** Worker ``i`` holds the ``r = 2s + 1`` cyclically consecutive
    gradients ``i, i+1, ..., i+2s (mod P)``.

    **Encoder.** With the IDFT matrix ``C[j, k] = w^{jk} / sqrt(P)``,
    ``w = exp(2 pi i / P)``, split into its first ``P - 2s`` rows ``C_L`` and last
    ``2s`` rows ``C_R``, the paper builds ``W = [Q 1_P] C_L``: row ``k`` is
    ``[q_k 1] C_L`` with ``q_k`` solving ``[q_k 1] (C_L)[:, alpha_k] = 0`` over the
    ``P - 2s - 1`` workers ``alpha_k`` that do *not* hold ``g_k``. So row ``k`` is
    ``p_k(w^j) / sqrt(P)`` for the monic polynomial ``p_k`` with roots
    ``{w^a : a in alpha_k}``: it vanishes exactly off the ``2s + 1`` holders of
    ``g_k`` (entries there are set to exact zeros). Worker ``j`` sends
    ``z_j = sum_k W[k, j] g_k`` (complex), i.e. ``msgs = W.T @ grads``.

    **Locator** ``phi`` (Lemma 3.4). Every honest message vector is a codeword
    ``C_L^T y``, whose DFT vanishes on the last ``2s`` frequencies, so the
    syndromes ``conj(C_R) @ R`` depend on the adversarial errors only:
    ``S_l = sum_{j in V} X_j^l Y_j`` with ``X_j = w^{-j}``. As in the paper the
    ``(P, d)`` messages are first projected on random Gaussian directions
    (``projections`` of them, fresh for each call, so that no adversary can
    aim at the null space). The locator polynomial ``Lambda`` is the null
    vector (least squares, via an SVD) of the Hankel matrix of the syndromes,
    of the smallest order ``nu`` for which one exists -- this replaces the
    paper's ``s x s`` solve, which is singular when fewer than ``s`` nodes are
    adversarial. Its ``nu`` roots among the ``X_j`` give the candidate
    adversaries; their error values ``t_j`` (the nonzero entries of the
    paper's IDFT ``t`` of the extended syndrome sequence) come from a small
    least-squares fit, and a candidate is adversarial iff ``|t_j| > tol``.

    **Tolerance rule.** Decisions are relative to the *message scale*
    ``sigma = max_j ||(R F)_j||`` (largest projected message among the workers
    not yet excluded), with one relative tolerance ``tol``: the syndromes are
    zero when ``||T|| <= tol * sigma * g``, a Hankel matrix is singular when its
    smallest singular value is ``<= tol * sigma * g`` (``g = sum_a |gamma_a| >= 1``
    is the gain of the erasure filter, 1 without erasures), and ``t_j != 0``
    means ``||t_j|| > tol * sigma``. The default ``tol = max(1e-12, 100 eps
    kappa)`` sits well above the rounding of honest messages, which is about
    ``eps * kappa`` in these units for near-identical gradients (``kappa`` =
    ``max_j sum_k |W[k, j]| / max_j |sum_k W[k, j]|``, how much an honest
    message can shrink by cancellation; about 1e-14 to 3e-12 for ``P <= 21``,
    5e-10 for ``P = 50, s = 3``). The decoder peels: once workers are excluded
    their rows are zeroed and treated as erasures (Forney syndromes), the
    scale is recomputed without them and the search repeats, so a huge
    adversarial message cannot hide a small one. It stops when the remaining
    syndromes are zero (``ok``), or when the messages cannot be explained by
    at most ``s`` adversaries (not ``ok``). An adversarial error below the
    tolerance may pass undetected and shift ``u`` by about that much times
    ``sigma``; as ``W``'s entries (and so ``sigma`` relative to the gradients)
    grow fast with ``P`` -- max ``|W|`` is 2e2 for ``P = 21, s = 3`` and 5e4 for
    ``P = 50, s = 3`` -- such a crafted error can cost about 1e-8 relative
    accuracy at ``P = 21`` and 1e-4 at ``P = 50``: float64 limits how large a
    cyclic code stays exact. Random or large errors are always found.

    **Decoder** (Algorithm 1). With ``U`` the workers kept, solve
    ``W[:, U] b = 1_P`` (least squares; exact when ``|U| >= P - 2s``, Lemma
    3.3) and return ``Re(R[U].T @ b) = G 1_P``.

    **Beyond s adversaries.** If the locator cannot explain the messages with
    at most ``s`` adversaries, ``ok`` is ``False`` and the fallback rule is:
    drop the workers excluded so far and return the least-squares decode of
    the rest (zeros if nobody is left). Some ``s + 1`` patterns are
    undetectable -- e.g. ``s + 1`` of the ``2s + 1`` holders of ``g_k`` acting
    as if ``g_k`` were different -- and then decode to a wrong sum with
    ``ok`` ``True``, as Theorem 3.1 says they must.

    Non-finite messages are erasures from the start. The complex-packing
    trick of Section 3 (two real coordinates per complex number) is not used:
    messages are ``complex128`` with the gradient's ``d`` coordinates.

    Attributes:
        P, s, r: workers, adversaries tolerated, redundancy ``2s + 1``.
        A: ``(P, P)`` uint8 allocation, ``A[i, k] = 1`` iff worker ``i`` holds ``g_k``.
        loads: ``(P,)`` int64, all ``r``.
        W: ``(P, P)`` complex encoding matrix, ``W[k, j]`` = weight of ``g_k`` in ``z_j``;
            ``W[k, j] != 0`` iff ``A[j, k] = 1``.
        tol: relative tolerance of the locator (see above).
        kappa: cancellation factor of the encoding used by the default ``tol``.

    Example:
        >>> code = cyclic(5, 1)
        >>> grads = np.arange(10.0).reshape(5, 2)
        >>> msgs = code.encode(grads)
        >>> msgs[3] = 1e6                              # one adversary
        >>> np.round(code.decode(msgs), 6)
        array([20., 25.])

    Reference: DRACO, Section 3 ("Cyclic Code"), Algorithm 1, Lemmas 3.3-3.4,
    Theorem 3.5.
    """

    def __init__(self, P: int, s: int, *, tol: float | None = None, projections: int = 3, rng=0):
        s = _check_s(s)
        P = v.integer("P", P, lo=1)
        if P < 2 * s + 1:
            raise ValueError(
                f"P={P} must be >= 2s+1 = {2 * s + 1} for the cyclic code with s={s} "
                f"(each worker holds 2s+1 distinct partitions)"
            )
        if tol is not None:
            tol = v.real("tol", tol, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        self.projections = v.integer("projections", projections, lo=1, hi=64)
        self._rng = v.rng(rng)
        self.P, self.s, self.r = P, s, 2 * s + 1
        r, n = self.r, P - 2 * s
        idx = np.arange(P)

        A = np.zeros((P, P), dtype=np.uint8)
        A[idx[:, None], (idx[:, None] + np.arange(r)) % P] = 1
        A.setflags(write=False)
        self.A = A
        loads = A.sum(axis=1, dtype=np.int64)
        loads.setflags(write=False)
        self.loads = loads

        # w^m for m in [0, P): powers are taken modulo P, so no drift.
        self._roots = np.exp(2j * np.pi * idx / P)
        C = self._roots[np.outer(idx, idx) % P] / np.sqrt(P)
        CL, CR = C[:n], C[n:]
        B = np.zeros((P, n), dtype=complex)  # B = [Q 1_P]
        B[:, -1] = 1.0
        for k in range(P):
            alpha = (k + 1 + np.arange(n - 1)) % P  # workers that do not hold g_k
            if n > 1:
                B[k, :-1] = np.linalg.solve(CL[:-1, alpha].T, -CL[-1, alpha])
        W = B @ CL
        W[A.T == 0] = 0.0
        W.setflags(write=False)
        self.W = W
        # coef[j, a] = weight of g_{(j+a) mod P} in z_j
        coef = W[(idx[:, None] + np.arange(r)) % P, idx[:, None]]
        self._coef_re = np.ascontiguousarray(coef.real)
        self._coef_im = np.ascontiguousarray(coef.imag)
        self._syn = CR.conj()  # (2s, P): syndrome map, zero on honest codewords
        # kappa: how much an honest message can shrink by cancellation (identical gradients)
        self.kappa = float(np.abs(W).sum(axis=0).max() / np.abs(W.sum(axis=0)).max())
        if tol is None:
            tol = max(1e-12, 100 * np.finfo(float).eps * self.kappa)
        self.tol = float(tol)

    def __repr__(self) -> str:
        return f"CyclicCode(P={self.P}, s={self.s}, tol={self.tol:g})"

    def partitions(self, i: int) -> tuple[int, ...]:
        """Partitions held by worker ``i``: ``i, i+1, ..., i+2s (mod P)``."""
        i = _check_node(i, self.P)
        return tuple(int(k) for k in (i + np.arange(self.r)) % self.P)

    def encode_node(self, i: int, local) -> np.ndarray:
        """Message of worker ``i``: ``z_i = sum_a W[(i+a) mod P, i] local[a]``.

        Args:
            i: worker index in ``[0, P)``.
            local: ``(r, d)`` real gradients of ``partitions(i)``, in that order.

        Returns:
            ``(d,)`` complex128 message.
        """
        i = _check_node(i, self.P)
        local = _as_real_matrix(local, "local", self.r, "r").astype(np.float64, copy=False)
        re = np.zeros(local.shape[1])
        im = np.zeros(local.shape[1])
        for a in range(self.r):  # same operations, same order as encode()
            re += self._coef_re[i, a] * local[a]
            im += self._coef_im[i, a] * local[a]
        out = np.empty(local.shape[1], dtype=complex)
        out.real, out.imag = re, im
        return out

    def encode(self, grads) -> np.ndarray:
        """All honest messages at once: ``msgs = W.T @ grads``.

        Banded (``O(r P d)``), in column blocks, real and imaginary parts apart;
        row ``i`` equals ``encode_node(i, grads[partitions(i)])`` bit for bit.

        Args:
            grads: ``(P, d)`` real gradients, row ``k`` = partition ``k``.

        Returns:
            ``(P, d)`` complex128 messages.
        """
        grads = _as_real_matrix(grads, "grads", self.P)
        P, d = grads.shape
        out = np.empty((P, d), dtype=complex)
        for c0 in range(0, d, _BLOCK):
            gb = grads[:, c0 : c0 + _BLOCK].astype(np.float64, copy=False)
            re, im, tmp = np.zeros(gb.shape), np.zeros(gb.shape), np.empty(gb.shape)
            for a in range(self.r):
                # node j < P - a uses g_{j+a}; node j >= P - a wraps around to g_{j+a-P}
                for dst, src in ((slice(0, P - a), slice(a, P)), (slice(P - a, P), slice(0, a))):
                    t = tmp[: dst.stop - dst.start]
                    np.multiply(self._coef_re[dst, a, None], gb[src], out=t)
                    re[dst] += t
                    np.multiply(self._coef_im[dst, a, None], gb[src], out=t)
                    im[dst] += t
            out.real[:, c0 : c0 + _BLOCK] = re
            out.imag[:, c0 : c0 + _BLOCK] = im
        return out

    def decode(self, received) -> np.ndarray:
        """Decoder ``D^Cyc`` (Algorithm 1): locate adversaries, solve ``W[:, U] b = 1``.

        Args:
            received: ``(P, d)`` messages (complex, or real), at most ``s`` rows arbitrary.

        Returns:
            ``(d,)`` float64 sum of the gradients (real part of ``R[U].T @ b``).
        """
        return self.decode_report(received).u

    def decode_report(self, received) -> Decoded:
        """:meth:`decode` plus the rejected workers and the ``ok`` flag (see :class:`Decoded`)."""
        R = np.asarray(received)
        if R.ndim != 2 or R.shape[0] != self.P or R.shape[1] < 1:
            raise ValueError(
                f"received must have shape (P, d) = ({self.P}, d) with d >= 1, got {R.shape}"
            )
        if R.dtype == bool or not np.issubdtype(R.dtype, np.number):
            raise ValueError(f"received must hold numbers, got dtype {R.dtype}")
        d = R.shape[1]
        F = self._rng.standard_normal((d, self.projections))
        with np.errstate(all="ignore"):
            bad = ~np.isfinite(R).all(axis=1)
            proj = np.asarray(R @ F, dtype=complex)  # (P, k), O(P d k)
        bad |= ~np.isfinite(proj).all(axis=1)
        proj[bad] = 0.0

        ok = True
        while True:
            if bad.sum() > 2 * self.s:
                ok = False
                break
            found, consistent = self._locate(proj, bad)
            if not consistent:
                ok = False
                break
            if found.size == 0:
                break
            bad[found] = True
            proj[found] = 0.0
        U = np.flatnonzero(~bad)
        return Decoded(
            u=self._combine(R, U), rejected=tuple(int(j) for j in np.flatnonzero(bad)), ok=ok
        )

    # -- internals ----------------------------------------------------------

    def _locate(self, proj: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, bool]:
        """One pass of ``phi``: new adversaries among the workers not in ``bad``.

        ``proj`` is ``(P, k)`` with the rows of ``bad`` zeroed. Returns
        ``(indices, consistent)``; ``consistent`` is ``False`` when no error
        pattern of the allowed size explains the syndromes.
        """
        P, s, tol = self.P, self.s, self.tol
        keep = np.flatnonzero(~bad)
        erased = np.flatnonzero(bad)
        m = 2 * s - erased.size  # usable (Forney) syndromes
        if m <= 0 or keep.size == 0:
            return np.empty(0, dtype=int), True
        peak = float(np.abs(proj[keep]).max())
        if peak == 0.0:
            return np.empty(0, dtype=int), True
        scale = peak * float(np.linalg.norm(proj[keep] / peak, axis=1).max())  # no overflow
        S = self._syn @ (proj / scale)  # (2s, k)
        X = self._roots[(-np.arange(P)) % P]  # X_j = w^{-j}
        # Forney: T_i = sum_a gamma_a S_{i+a}, Gamma(z) = prod_{e in erased} (z - X_e)
        gamma = np.poly(X[erased])[::-1] if erased.size else np.ones(1, dtype=complex)
        T = sum(gamma[a] * S[a : a + m] for a in range(gamma.size))  # (m, k)
        noise = tol * float(np.abs(gamma).sum())
        if np.linalg.norm(T) <= noise:
            return np.empty(0, dtype=int), True
        for nu in range(1, m // 2 + 1):
            rows = m - nu
            H = np.concatenate([T[u : u + rows] for u in range(nu + 1)], axis=1)  # (rows, (nu+1)k)
            H = H.reshape(rows, nu + 1, -1).transpose(2, 0, 1).reshape(-1, nu + 1)
            _, sv, vh = np.linalg.svd(H)
            if sv.size == nu + 1 and sv[-1] > noise:
                continue
            lam = vh[-1].conj()  # Lambda(z) = sum_u lam_u z^u, roots at the X_j of adversaries
            vals = np.abs(np.polyval(lam[::-1], X[keep]))
            cand = keep[np.argsort(vals, kind="stable")[:nu]]
            # error values: T_i = sum_c Y'_c X_c^i, Y'_c = Gamma(X_c) X_c^{P-2s} e_c / sqrt(P)
            powers = self._roots[np.outer(np.arange(m), -cand) % P]  # (m, nu)
            Yp = np.linalg.lstsq(powers, T, rcond=None)[0]  # (nu, k)
            g_at = np.prod(X[cand][:, None] - X[erased][None, :], axis=1)
            t = np.sqrt(P) * np.linalg.norm(Yp, axis=1) / np.abs(g_at)
            found = cand[t > tol]
            if found.size == 0:  # errors at the noise level: nothing left to find
                return found, True
            return np.sort(found), True
        return np.empty(0, dtype=int), False

    def _combine(self, R: np.ndarray, U: np.ndarray) -> np.ndarray:
        """``Re(sum_{j in U} b_j R_j)`` with ``W[:, U] b = 1_P`` (least squares)."""
        d = R.shape[1]
        u = np.zeros(d, dtype=np.float64)
        if U.size == 0:
            return u
        b = np.linalg.lstsq(self.W[:, U], np.ones(self.P, dtype=complex), rcond=None)[0]
        with np.errstate(all="ignore"):
            for bj, j in zip(b, U, strict=True):
                row = R[j]
                u += bj.real * np.real(row)
                if np.iscomplexobj(row):
                    u -= bj.imag * np.imag(row)
        return u


def cyclic(P: int, s: int, *, tol: float | None = None, projections: int = 3, rng=0) -> CyclicCode:
    """DRACO cyclic code for ``P`` workers tolerating ``s`` adversaries.

    Args:
        P: workers = partitions, ``P >= 2s + 1``.
        s: adversaries tolerated, ``s >= 0``.
        tol: locator tolerance in ``(0, 1)``, relative to the message scale;
            ``None`` picks ``max(1e-12, 100 eps kappa)`` (see :class:`CyclicCode`).
        projections: random projections used by the locator, in ``[1, 64]``.
        rng: ``numpy.random.Generator`` or seed for those projections (drawn
            afresh at every decode; the decoded sum does not depend on them).

    Returns:
        A :class:`CyclicCode` with ``encode`` / ``decode``.

    Example:
        >>> code = cyclic(5, 2)
        >>> code.r, code.loads.tolist()
        (5, [5, 5, 5, 5, 5])

    Reference: DRACO, Section 3, Algorithm 1, Theorem 3.5.
    """
    return CyclicCode(P, s, tol=tol, projections=projections, rng=rng)
