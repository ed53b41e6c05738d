"""One-bit votes: packing, the workers' local majority and the master's majority.

Signs travel as 1 bit per coordinate (``numpy.packbits`` order: big-endian
within a byte, zero padding at the end). Bit 1 means ``+1``, bit 0 means
``-1``. A vote may also be *absent* (an abstention): an empty worker, a
straggler, a malformed message, or, with the ``abstain`` tie rule, a
coordinate whose local count is tied. Absence is described by ``present``:

* ``None`` — every vote is present;
* ``(n,) bool`` — whole messages missing (1 bit per coordinate on the wire);
* ``(n, ceil(d/8)) uint8`` — a packed per-coordinate presence mask (the
  ternary messages of the ``abstain`` rule: 2 bits per coordinate).

Tie rules (chosen per run, one rule everywhere):

* ``plus``: ``sign(0) = +1`` and a tied local vote is ``+1`` (simple, biased);
* ``coin``: a fair coin from the worker's own seeded stream (unbiased);
* ``abstain``: the worker does not vote on that coordinate (what the
  reference implementation did by sending ``sign(0) = 0``).

Whatever the rule, a coordinate whose count at the *master* is tied does
not move: :func:`decide` returns 0 there, and :func:`majority` (which must
return bits) reports the tie separately when asked.

The counting kernel is bit-sliced: the per-coordinate count of ``n`` votes is
kept as ``ceil(log2(n+1))`` bit-planes of 64-bit words and each vote is
added with a ripple-carry of word-wide AND/XOR, so the master does
``O(n log n)`` word operations per 64 coordinates and never unpacks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v

__all__ = [
    "TIE_RULES",
    "packed_length",
    "pack",
    "unpack",
    "sign_bits",
    "count_compare",
    "majority",
    "decide",
    "encode",
]

TIE_RULES = ("plus", "coin", "abstain")

_CHUNK_BYTES = 1 << 15  # bytes of one row processed at a time (fits in L1/L2 with n rows)


def packed_length(d: int) -> int:
    """Bytes needed for ``d`` one-bit coordinates: ``ceil(d / 8)``.

    Example:
        >>> packed_length(9)
        2
    """
    d = v.integer("d", d, lo=1)
    return (d + 7) // 8


def pack(signs) -> np.ndarray:
    """Pack ±1 signs into bits (1 = +1), along the last axis.

    Args:
        signs: array ``(..., d)`` of -1/+1 (any integer or float dtype).

    Returns:
        uint8 array ``(..., ceil(d/8))``, zero-padded.

    Example:
        >>> pack(np.array([1, -1, 1, 1, -1, -1, -1, -1, 1], dtype=np.int8))
        array([176, 128], dtype=uint8)
    """
    s = np.asarray(signs)
    if s.ndim < 1 or s.shape[-1] < 1:
        raise ValueError(f"signs must have at least one coordinate, got shape {s.shape}")
    if not np.isin(s, (-1, 1)).all():
        raise ValueError("signs must contain only -1 and +1 (use sign_bits for real vectors)")
    return np.packbits(s > 0, axis=-1)


def unpack(packed, d: int) -> np.ndarray:
    """Inverse of :func:`pack`: bits ``(..., ceil(d/8))`` to ±1 int8 ``(..., d)``.

    Example:
        >>> unpack(np.array([176, 128], dtype=np.uint8), 9).tolist()
        [1, -1, 1, 1, -1, -1, -1, -1, 1]
    """
    d = v.integer("d", d, lo=1)
    p = _packed("packed", packed, d)
    bits = np.unpackbits(p, axis=-1, count=d)
    return (bits.astype(np.int8) << 1) - 1


def sign_bits(x, tie: str = "plus", rng=None):
    """Signs of a real vector as packed bits, with ``sign(0)`` set by ``tie``.

    Args:
        x: real array ``(..., d)``.
        tie: ``plus`` (0 -> +1), ``coin`` (0 -> fair coin from ``rng``) or
            ``abstain`` (0 -> absent).
        rng: Generator or seed; needed for ``coin`` only.

    Returns:
        ``(bits, present)``: packed uint8 ``(..., ceil(d/8))``; ``present`` is
        ``None`` except for ``abstain``, where it is the packed mask of nonzero
        coordinates.

    Example:
        >>> bits, present = sign_bits(np.array([0.5, 0.0, -2.0]), tie="abstain")
        >>> unpack(bits, 3).tolist(), np.unpackbits(present, count=3).tolist()
        ([1, -1, -1], [1, 0, 1])
    """
    v.choice("tie", tie, TIE_RULES)
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have at least one coordinate, got shape {x.shape}")
    if tie == "plus":
        return np.packbits(x >= 0, axis=-1), None
    if tie == "abstain":
        return np.packbits(x > 0, axis=-1), np.packbits(x != 0, axis=-1)
    gen = v.rng(rng)
    pos = x > 0
    zero = x == 0
    if zero.any():
        pos = pos | (zero & (gen.random(x.shape) < 0.5))
    return np.packbits(pos, axis=-1), None


# --------------------------------------------------------------------------- kernels


def _add_plane(planes: list[np.ndarray], x: np.ndarray, levels: int, tmp: np.ndarray) -> None:
    """Add the 0/1 word-vector ``x`` into the bit-sliced counter ``planes`` (in place)."""
    carry = x.copy()
    for j in range(levels):
        np.bitwise_and(planes[j], carry, out=tmp)
        np.bitwise_xor(planes[j], carry, out=planes[j])
        carry, tmp = tmp, carry


def _count(rows: Sequence[np.ndarray], n_levels: int, width: int) -> list[np.ndarray]:
    planes = [np.zeros(width, dtype=np.uint64) for _ in range(n_levels)]
    tmp = np.empty(width, dtype=np.uint64)
    for i, x in enumerate(rows):
        _add_plane(planes, x, min(n_levels, (i + 1).bit_length()), tmp)
    return planes


def _compare_const(planes: list[np.ndarray], T: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit-sliced ``(count > T, count == T)`` for a constant ``T >= 0``."""
    width = planes[0].shape[0]
    gt = np.zeros(width, dtype=np.uint64)
    eq = np.full(width, np.uint64(0xFFFFFFFFFFFFFFFF))
    if T >= (1 << len(planes)):
        return gt, np.zeros(width, dtype=np.uint64)
    for j in range(len(planes) - 1, -1, -1):
        if (T >> j) & 1:
            eq &= planes[j]
        else:
            gt |= eq & planes[j]
            eq &= ~planes[j]
    return gt, eq


def _compare(P: list[np.ndarray], M: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bit-sliced ``(P > M, P == M)`` for two counters with the same number of planes."""
    width = P[0].shape[0]
    gt = np.zeros(width, dtype=np.uint64)
    eq = np.full(width, np.uint64(0xFFFFFFFFFFFFFFFF))
    for j in range(len(P) - 1, -1, -1):
        gt |= eq & P[j] & ~M[j]
        eq &= ~(P[j] ^ M[j])
    return gt, eq


def _present_rows(present, n: int, nb: int):
    """Normalise ``present`` to ``(row_mask (n,) bool or None, packed (n, nb) or None)``."""
    if present is None:
        return None, None
    pr = np.asarray(present)
    if pr.dtype == bool and pr.shape == (n,):
        return pr, None
    if pr.shape == (n, nb) and pr.dtype == np.uint8:
        return None, np.ascontiguousarray(pr)
    raise ValueError(
        f"present must be None, a ({n},) bool mask or a ({n}, {nb}) packed uint8 mask, "
        f"got shape {pr.shape} dtype {pr.dtype}"
    )


def count_compare(packed_votes, present=None) -> tuple[np.ndarray, np.ndarray]:
    """Per coordinate, compare the number of +1 votes with the number of -1 votes.

    ``gt[c] = #{+1} > #{-1}`` and ``eq[c] = #{+1} == #{-1}`` over the present
    votes of coordinate ``c`` (``eq`` is set where no vote is present).

    Args:
        packed_votes: uint8 ``(n, nb)``, one packed vote per row.
        present: see the module docstring.

    Returns:
        ``(gt, eq)``: two packed uint8 arrays ``(nb,)``; padding bits are not
        masked (see :func:`majority`).

    Example:
        >>> votes = pack(np.array([[1, 1, -1], [1, -1, -1], [-1, 1, -1]]))
        >>> gt, eq = count_compare(votes)
        >>> np.unpackbits(gt, count=3).tolist()
        [1, 1, 0]
    """
    V = np.asarray(packed_votes)
    if V.ndim != 2 or V.dtype != np.uint8:
        raise ValueError(
            f"packed_votes must be a 2-D uint8 array (n, ceil(d/8)), got shape {V.shape} "
            f"dtype {V.dtype}"
        )
    n, nb = V.shape
    row_mask, pmask = _present_rows(present, n, nb)
    if row_mask is not None:
        V = V[row_mask]
        n = V.shape[0]
    gt_out = np.empty(nb, dtype=np.uint8)
    eq_out = np.empty(nb, dtype=np.uint8)
    if n == 0:
        gt_out[:] = 0
        eq_out[:] = 0xFF
        return gt_out, eq_out
    levels = n.bit_length()
    step = min(_CHUNK_BYTES, nb)
    width8 = (step + 7) // 8 * 8
    buf = np.zeros((n, width8), dtype=np.uint8)
    pbuf = np.zeros((n, width8), dtype=np.uint8) if pmask is not None else None
    for c0 in range(0, nb, step):
        w = min(step, nb - c0)
        buf[:, :w] = V[:, c0 : c0 + w]
        buf[:, w:] = 0
        words = buf.view(np.uint64)
        if pmask is None:
            planes = _count(list(words), levels, words.shape[1])
            # #(+1) > #(-1)  <=>  2P > n  <=>  P > floor(n/2); tie only for even n at n/2.
            gt, _ = _compare_const(planes, n // 2)
            if n % 2 == 0:
                _, eq = _compare_const(planes, n // 2)
            else:
                eq = np.zeros_like(gt)
        else:
            pbuf[:, :w] = pmask[:, c0 : c0 + w]
            pbuf[:, w:] = 0
            pw = pbuf.view(np.uint64)
            plus = _count([x & p for x, p in zip(words, pw, strict=True)], levels, pw.shape[1])
            minus = _count([~x & p for x, p in zip(words, pw, strict=True)], levels, pw.shape[1])
            gt, eq = _compare(plus, minus)
        gt_out[c0 : c0 + w] = gt.view(np.uint8)[:w]
        eq_out[c0 : c0 + w] = eq.view(np.uint8)[:w]
    return gt_out, eq_out


def _tail_mask(d: int) -> np.uint8:
    r = d % 8
    return np.uint8(0xFF if r == 0 else (0xFF << (8 - r)) & 0xFF)


def majority(packed_votes, d: int, present=None, return_ties: bool = False):
    """The master's decoder: majority of ``n`` packed votes, per coordinate.

    ``mu_hat[c] = +1`` iff strictly more present votes say +1 than -1. A tied
    coordinate (including one with no vote at all) is returned as bit 0 and
    flagged in ``ties`` when ``return_ties=True``; the trainer does not move
    tied coordinates (use :func:`decide` to get -1/0/+1 directly).

    Args:
        packed_votes: uint8 ``(n, ceil(d/8))``.
        d: number of coordinates.
        present: ``None``, ``(n,)`` bool, or ``(n, ceil(d/8))`` packed mask.
        return_ties: also return the packed tie mask.

    Returns:
        packed uint8 ``(ceil(d/8),)`` (padding bits zero), or
        ``(bits, ties)`` if ``return_ties``.

    Example:
        >>> votes = pack(np.array([[1, 1, -1], [1, -1, -1], [-1, 1, -1]]))
        >>> unpack(majority(votes, 3), 3).tolist()
        [1, 1, -1]

    Reference: Section 2.2 (decoder D = majority), Fig. 2.
    """
    d = v.integer("d", d, lo=1)
    V = _packed("packed_votes", packed_votes, d, ndim=2)
    gt, eq = count_compare(V, present)
    mask = _tail_mask(d)
    gt[-1] &= mask
    if not return_ties:
        return gt
    eq[-1] &= mask
    return gt, eq


def decide(packed_votes, d: int, present=None) -> np.ndarray:
    """The update direction ``mu_hat`` in {-1, 0, +1}: majority, 0 where tied.

    Example:
        >>> votes = pack(np.array([[1, -1], [-1, -1]]))
        >>> decide(votes, 2).tolist()
        [0, -1]
    """
    bits, ties = majority(packed_votes, d, present, return_ties=True)
    out = unpack(bits, d)
    out[np.unpackbits(ties, count=d).astype(bool)] = 0
    return out


def encode(partition_bits, G, d: int, *, partition_present=None, tie="plus", rng=None):
    """Every worker's local majority over its assigned partitions (the encoder E_i).

    Worker ``i`` counts the +1 and -1 signs of the partitions ``j`` with
    ``G[i, j] = 1`` (absent partition signs, from ``sign(0)`` under the
    ``abstain`` rule, are not counted) and sends +1 or -1 by majority. A tied
    count follows ``tie``: ``plus`` sends +1, ``coin`` draws a fair coin from
    the worker's stream, ``abstain`` sends nothing for that coordinate. A
    worker with no partition sends nothing at all, under every rule.

    Args:
        partition_bits: uint8 ``(k, ceil(d/8))``, packed signs of the k partitions.
        G: ``(n, k)`` 0/1 allocation matrix.
        d: number of coordinates.
        partition_present: ``None`` or packed ``(k, ceil(d/8))`` mask.
        tie: one of :data:`TIE_RULES`.
        rng: for ``coin`` only: one Generator (used worker by worker, in
            order) or a sequence of ``n`` Generators (each worker's own stream).

    Returns:
        ``(bits, present)``: ``bits`` uint8 ``(n, ceil(d/8))``; ``present`` is
        ``None`` when every worker votes everywhere, an ``(n,)`` bool mask when
        only whole workers abstain, or a packed ``(n, ceil(d/8))`` mask under
        ``abstain``. Padding bits are zero.

    Example:
        >>> signs = pack(np.array([[1, -1], [1, -1], [-1, -1]]))
        >>> bits, present = encode(signs, [[1, 1, 1], [0, 0, 1]], 2)
        >>> unpack(bits, 2).tolist(), present
        ([[1, -1], [-1, -1]], None)

    Reference: Section 2.2 (encoder E_i = local majority), eq. (1).
    """
    d = v.integer("d", d, lo=1)
    G = v.allocation(G)
    v.choice("tie", tie, TIE_RULES)
    n, k = G.shape
    S = _packed("partition_bits", partition_bits, d, ndim=2)
    if S.shape[0] != k:
        raise ValueError(f"partition_bits has {S.shape[0]} rows but G has k={k} columns")
    if partition_present is not None:
        partition_present = _packed("partition_present", partition_present, d, ndim=2)
        if partition_present.shape[0] != k:
            raise ValueError(
                f"partition_present has {partition_present.shape[0]} rows, expected k={k}"
            )
    rngs = _worker_rngs(rng, n) if tie == "coin" else None
    nb = S.shape[1]
    mask = _tail_mask(d)
    bits = np.zeros((n, nb), dtype=np.uint8)
    pres = np.zeros((n, nb), dtype=np.uint8) if tie == "abstain" else None
    row_present = np.ones(n, dtype=bool)
    for i in range(n):
        cols = np.flatnonzero(G[i])
        if cols.size == 0:
            row_present[i] = False
            continue
        pp = None if partition_present is None else partition_present[cols]
        gt, eq = count_compare(S[cols], pp)
        if tie == "plus":
            out = gt | eq
        elif tie == "coin":
            coin = np.packbits(rngs[i].random(d) < 0.5)
            out = gt | (eq & coin)
        else:
            out = gt
            pres[i] = ~eq
            pres[i, -1] &= mask
        out[-1] &= mask
        bits[i] = out
    if pres is not None:
        return bits, pres
    return bits, (None if row_present.all() else row_present)


def _worker_rngs(rng, n: int) -> list[np.random.Generator]:
    if isinstance(rng, Sequence) and not isinstance(rng, str):
        if len(rng) != n:
            raise ValueError(f"rng has {len(rng)} generators, expected one per worker (n={n})")
        return [v.rng(r) for r in rng]
    gen = v.rng(rng)
    return [gen] * n


def _packed(name: str, arr, d: int, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(arr)
    nb = (d + 7) // 8
    if a.dtype != np.uint8:
        raise ValueError(f"{name} must be packed uint8 bits, got dtype {a.dtype}")
    if (ndim is not None and a.ndim != ndim) or a.ndim < 1 or a.shape[-1] != nb:
        want = f"{'(n, ' if ndim == 2 else '(..., '}{nb})"
        raise ValueError(f"{name} must have shape {want} for d={d} (ceil(d/8)={nb}), got {a.shape}")
    return a
