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

A non-finite gradient coordinate (NaN, +inf or -inf: a numerical failure, not a sign)
carries no sign and is treated exactly as an exact zero: absent under ``abstain``, ``+1``
under ``plus``, a fair coin under ``coin``. For finite gradients nothing changes.

Whatever the rule, a coordinate whose count at the *master* is tied does
not move: :func:`decide` returns 0 there, and :func:`majority` (which must
return bits) reports the tie separately when asked.

The counting kernel is bit-sliced: the per-coordinate count of ``n`` votes is
built as ``ceil(log2(n+1))`` bit-planes by a carry-save adder network of
byte-wide AND/OR/XOR (about ``5 n`` operations per 8 coordinates, each over a
whole chunk of bytes), then compared with the threshold plane by plane, so the
master does ``O(n)`` word operations per coordinate block and never unpacks.
The network is compiled once per ``n`` (and kind of ``present``) into a straight-line
program over rows. When numba is available (:data:`USE_VOTE_KERNEL`), the program runs in
compiled code, :mod:`electionlib._vote_kernels`: one call over small column blocks (fused
full adders, scratch rows kept in the core's caches, the input read once), a large input
shared between two threads; otherwise numpy runs it ufunc call by ufunc call. Both run the
same program and give the same bits.
"""

from __future__ import annotations

import functools
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
    "worker_vote",
]

TIE_RULES = ("plus", "coin", "abstain")

# Bytes of every row processed at a time by the master's kernel: at most _CHUNK_BYTES, and
# small enough that the scratch rows fit in about _SCRATCH_BYTES (measured on a 1 MiB-L2 core:
# larger chunks stream the input rows better, smaller ones keep the scratch rows in cache).
_CHUNK_BYTES = 1 << 18
_SCRATCH_BYTES = 2 << 20


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


def _coin_bytes(gen: np.random.Generator, size: int) -> np.ndarray:
    """``size`` bytes of fair coins (8 per byte): the raw 64-bit outputs of ``gen``'s bit
    generator, the cheapest draw (~3x faster than ``Generator.bytes`` right after a gradient
    computation, when every call runs cold). A writable array."""
    return gen.bit_generator.random_raw((size + 7) // 8).view(np.uint8)[:size]


def _all_finite(x: np.ndarray) -> bool:
    """True if every entry of ``x`` is finite (one reduction: a NaN or inf entry makes the
    sum non-finite; a finite overflow only sends the caller to the exact path)."""
    if x.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(x)))


def _positive(x: np.ndarray) -> np.ndarray:
    """``x > 0`` with +inf excluded (non-finite entries carry no sign)."""
    return (x > 0) & (x < np.inf)


def _zero_like(x: np.ndarray) -> np.ndarray:
    """Exact zeros and non-finite entries: the coordinates ``sign(0)``'s rule decides."""
    return ~((x != 0) & np.isfinite(x))


def sign_bits(x, tie: str = "plus", rng=None):
    """Signs of a real vector as packed bits, with ``sign(0)`` set by ``tie``.

    A NaN or infinite entry counts as a zero (see the module docstring).

    Args:
        x: real array ``(..., d)``.
        tie: ``plus`` (0 -> +1), ``coin`` (0 -> fair coin from ``rng``: if ``x`` has a
            zero, one random byte per 8 coordinates of every row is drawn) or
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
    finite = _all_finite(x)
    if tie == "plus":
        return np.packbits(x >= 0 if finite else ~((x < 0) & (x > -np.inf)), axis=-1), None
    if tie == "abstain":
        if finite:
            return np.packbits(x > 0, axis=-1), np.packbits(x != 0, axis=-1)
        return np.packbits(_positive(x), axis=-1), np.packbits(~_zero_like(x), axis=-1)
    gen = v.rng(rng)
    pos = np.packbits(x > 0 if finite else _positive(x), axis=-1)
    zero = np.packbits(x == 0 if finite else _zero_like(x), axis=-1)
    if zero.any():  # fair coins as random bytes, one bit per coordinate, used where x == 0
        pos |= zero & _coin_bytes(gen, pos.size).reshape(pos.shape)
    return pos, None


# --------------------------------------------------------------------------- kernels
#
# The master's count is compiled, once per (n, kind of ``present``), into a straight-line
# program of bitwise ufunc calls over *slots*: the output chunk(s), the input rows (read
# only, never copied) and a few scratch rows. The compiled executor (_vote_kernels) runs it
# when available; else :func:`_run` runs it chunk by chunk (at most ``_CHUNK_BYTES`` of every
# row at a time) so that the scratch rows stay in the core's caches while the input streams
# through once. Every call writes into a preallocated slot (``out=``): no temporaries are
# allocated in the loop.
#
# Counting is a carry-save adder network: full adders (3 bits of one weight -> a sum of that
# weight and a carry of the next, 5 ops) applied as soon as three bits of a weight are
# pending, half adders at the end; counting n votes takes about n - log2(n) full adders and
# keeps at most two pending rows per weight. The result is compared with the threshold from
# the least significant plane up, one op per plane.

_AND, _OR, _XOR, _NOT = np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert
_GT, _EQ = 0, 1  # output slots; input rows follow, then scratch rows


class _Program:
    """Builds the op list ``(ufunc, a, b, out)`` (``b < 0``: unary) over integer slots."""

    def __init__(self, n_inputs: int):
        self.base = 2 + n_inputs  # first scratch slot
        self.ops: list[tuple] = []
        self.free: list[int] = []
        self.n_scratch = 0

    def alloc(self) -> int:
        if self.free:
            return self.free.pop()
        self.n_scratch += 1
        return self.base + self.n_scratch - 1

    def owned(self, s) -> bool:
        return s is not None and s >= self.base

    def release(self, *slots) -> None:
        for s in slots:
            if self.owned(s):
                self.free.append(s)

    def emit(self, f, a: int, b: int, out: int) -> None:
        self.ops.append((f, a, b, out))

    def optimized(self) -> list[tuple]:
        """The op list with dead ops removed (e.g. sums no comparison reads) and a final copy
        into an output slot replaced by computing the value there in the first place."""
        ops = list(self.ops)
        # copy elimination: ``out = s`` (s scratch) -> rename s to out over s's last live range
        for k in range(len(ops) - 1, -1, -1):
            f, a, b, o = ops[k]
            if not (f is _AND and a == b and o in (_GT, _EQ) and a >= self.base):
                continue
            if any(a in op[1:] or o in op[1:] for op in ops[k + 1 :]):
                continue
            first, uses = None, []
            for i in range(k - 1, -1, -1):
                if o in ops[i][1:]:
                    break
                if a in ops[i][1:]:
                    uses.append(i)
                    if ops[i][3] == a and a not in ops[i][1:3]:
                        first = i
                        break
            if first is None:
                continue
            for i in uses:
                g, x, y, z = ops[i]
                ops[i] = (g, o if x == a else x, o if y == a else y, o if z == a else z)
            del ops[k]
        # dead-op elimination, backwards from the outputs
        live, kept = {_GT, _EQ}, []
        for op in reversed(ops):
            f, a, b, o = op
            if o not in live:
                continue
            kept.append(op)
            live.discard(o)
            live.update(x for x in (a, b) if x >= 0)
        kept.reverse()
        # number the scratch rows still used 0, 1, ... (after ``base``)
        used = sorted({x for op in kept for x in op[1:] if x >= self.base})
        new = {x: self.base + i for i, x in enumerate(used)}
        self.n_scratch = len(used)
        return [(f, new.get(a, a), new.get(b, b), new.get(o, o)) for f, a, b, o in kept]

    # ---- carry-save counting
    def full_add(self, a: int, b: int, c: int) -> tuple[int, int]:
        t = self.alloc()
        self.emit(_XOR, a, b, t)  # t = a ^ b
        u = a if self.owned(a) else b if self.owned(b) else self.alloc()
        self.emit(_AND, a, b, u)  # u = a & b (in place over a dead input)
        self.release(*(x for x in (a, b) if x != u))
        s = self.alloc()
        self.emit(_XOR, t, c, s)  # sum = a ^ b ^ c
        self.emit(_AND, t, c, t)
        self.release(c)
        self.emit(_OR, u, t, u)  # carry = (a & b) | ((a ^ b) & c)
        self.release(t)
        return s, u

    def half_add(self, a: int, b: int) -> tuple[int, int]:
        c = self.alloc()
        self.emit(_AND, a, b, c)
        s = a if self.owned(a) else b if self.owned(b) else self.alloc()
        self.emit(_XOR, a, b, s)
        self.release(*(x for x in (a, b) if x != s))
        return s, c

    def push(self, pending: list[list[int]], w: int, x: int) -> None:
        """Add the bit row ``x`` of weight ``2**w`` to a counter (``pending[w]``: <= 2 rows)."""
        while len(pending) <= w:
            pending.append([])
        pending[w].append(x)
        if len(pending[w]) == 3:
            s, c = self.full_add(*pending[w])
            pending[w] = [s]
            self.push(pending, w + 1, c)

    def planes(self, pending: list[list[int]]) -> list[int | None]:
        """Finish a counter: one bit-plane per weight (``None``: identically zero)."""
        w = 0
        while w < len(pending):
            if len(pending[w]) == 2:
                s, c = self.half_add(*pending[w])
                pending[w] = [s]
                self.push(pending, w + 1, c)
            w += 1
        return [p[0] if p else None for p in pending]

    # ---- comparisons, written into an output slot
    def finish(self, g, out: int) -> None:
        """Make slot ``out`` hold ``g`` (a slot, or ``None`` for zero)."""
        if g is None:
            self.emit(_XOR, out, out, out)
        elif g != out:
            self.emit(_AND, g, g, out)

    def greater_const(self, planes: list[int | None], T: int, out: int) -> None:
        """``out = count > T``: from the low plane up, ``g = c_j | g`` if bit j of T is 0,
        else ``c_j & g`` (one op per plane)."""
        g = None
        for j, c in enumerate(planes):
            if (T >> j) & 1:
                if c is None or g is None:
                    g = None
                else:
                    self.emit(_AND, c, g, out)
                    g = out
            elif c is not None:
                if g is None:
                    g = c
                else:
                    self.emit(_OR, c, g, out)
                    g = out
        if T >> len(planes):
            g = None
        self.finish(g, out)

    def equal_const(self, planes: list[int | None], T: int, out: int) -> None:
        """``out = count == T`` = AND of the planes where T has a 1, without any other."""
        if T >> len(planes) or any(c is None for j, c in enumerate(planes) if (T >> j) & 1):
            self.finish(None, out)
            return
        # every plane where T has a 1 exists (checked above)
        ones = [c for j, c in enumerate(planes) if (T >> j) & 1 and c is not None]
        zeros = [c for j, c in enumerate(planes) if not (T >> j) & 1 and c is not None]
        z: int | None = zeros[0] if len(zeros) == 1 else None  # OR of the planes where T has 0
        if len(zeros) > 1:
            zz = self.alloc()
            self.emit(_OR, zeros[0], zeros[1], zz)
            for c in zeros[2:]:
                self.emit(_OR, c, zz, zz)
            z = zz
        if not ones:  # T = 0: out = ~z, every bit set when the count is identically zero
            if z is None:
                self.emit(_XOR, out, out, out)
                self.emit(_NOT, out, -1, out)
            else:
                self.emit(_NOT, z, -1, out)
        else:
            acc = ones[0]
            for c in ones[1:]:
                self.emit(_AND, c, acc, out)
                acc = out
            if z is None:
                self.finish(acc, out)
            else:  # acc & ~z == (acc | z) ^ z
                self.emit(_OR, acc, z, out)
                self.emit(_XOR, out, z, out)
        if len(zeros) > 1:
            self.release(z)

    def greater_twice(self, P: list[int | None], Q: list[int | None], out: int) -> None:
        """``out = 2P > Q``: the borrow out of ``Q - 2P``, ``g = maj(~q_j, a_j, g)`` per plane
        with ``a = 2P`` (planes shifted by one)."""
        A = [None, *P]
        g = None
        t = self.alloc()
        for j in range(max(len(A), len(Q))):
            a = A[j] if j < len(A) else None
            q = Q[j] if j < len(Q) else None
            if q is None:  # maj(1, a, g) = a | g
                if a is None:
                    continue
                if g is None:
                    g = a
                else:
                    self.emit(_OR, a, g, out)
                    g = out
            elif a is None and g is None:
                continue
            elif a is None or g is None:  # ~q & x == (q | x) ^ q
                x = g if g is not None else a
                assert x is not None  # not both None: the branch above
                self.emit(_OR, q, x, out)
                self.emit(_XOR, out, q, out)
                g = out
            else:  # maj(~q, a, g) = (~q & (a ^ g)) ^ (a & g)
                self.emit(_XOR, a, g, t)
                self.emit(_AND, a, g, out)
                self.emit(_OR, q, t, t)
                self.emit(_XOR, t, q, t)
                self.emit(_XOR, t, out, out)
                g = out
        self.release(t)
        self.finish(g, out)

    def equal_twice(self, P: list[int | None], Q: list[int | None], out: int) -> None:
        """``out = 2P == Q`` = NOT of the OR over planes of ``a_j ^ q_j``."""
        A = [None, *P]
        terms: list[tuple[int, int | None]] = []
        for j in range(max(len(A), len(Q))):
            a = A[j] if j < len(A) else None
            q = Q[j] if j < len(Q) else None
            if a is None or q is None:
                one = a if q is None else q
                if one is not None:
                    terms.append((one, None))
            else:
                terms.append((a, q))
        if not terms:  # both counts are zero
            self.emit(_XOR, out, out, out)
            self.emit(_NOT, out, -1, out)
            return
        t = self.alloc()
        for i, (a, q) in enumerate(terms):
            dst = out if i == 0 else t
            if q is None:
                if i == 0:
                    self.emit(_AND, a, a, out)
                else:
                    self.emit(_OR, a, out, out)
                continue
            self.emit(_XOR, a, q, dst)
            if i:
                self.emit(_OR, t, out, out)
        self.emit(_NOT, out, -1, out)
        self.release(t)


@functools.lru_cache(maxsize=256)
def _compile(n: int, packed_present: bool, want_eq: bool) -> tuple[tuple, int]:
    """The straight-line program for ``n >= 1`` votes; returns ``(ops, n_scratch)``.

    Slots: 0 = gt out, 1 = eq out, 2..2+n = vote rows, then (packed ``present``) the n
    presence rows, then scratch rows.
    """
    prog = _Program(n * (2 if packed_present else 1))
    if not packed_present:
        # #(+1) > #(-1)  <=>  2C > n  <=>  C > floor(n/2); a tie (2C == n) needs n even.
        counter: list[list[int]] = []
        for i in range(n):
            prog.push(counter, 0, 2 + i)
        planes = prog.planes(counter)
        prog.greater_const(planes, n // 2, _GT)
        if want_eq:
            if n % 2:
                prog.finish(None, _EQ)
            else:
                prog.equal_const(planes, n // 2, _EQ)
    else:
        # P = #(present & +1), Q = #present; #(+1) - #(-1) = 2P - Q.
        plus: list[list[int]] = []
        pres: list[list[int]] = []
        for i in range(n):
            x = prog.alloc()
            prog.emit(_AND, 2 + i, 2 + n + i, x)
            prog.push(plus, 0, x)
            prog.push(pres, 0, 2 + n + i)
        P = prog.planes(plus)
        Q = prog.planes(pres)
        prog.greater_twice(P, Q, _GT)
        if want_eq:
            prog.equal_twice(P, Q, _EQ)
    return tuple(prog.optimized()), prog.n_scratch


def _run(ops, n_scratch: int, rows: list[np.ndarray], gt: np.ndarray, eq) -> None:
    """Run a compiled program over the byte columns of ``rows`` (1-D uint8 views)."""
    nb = gt.shape[0]
    step = max(1 << 16, _SCRATCH_BYTES // max(n_scratch, 1)) // 4096 * 4096
    step = min(step, _CHUNK_BYTES, nb)
    scratch = list(np.empty((n_scratch, step), dtype=np.uint8))
    for c0 in range(0, nb, step):
        c1 = min(c0 + step, nb)
        if c1 - c0 < step:
            scratch = [s[: c1 - c0] for s in scratch]
        s = [gt[c0:c1], None if eq is None else eq[c0:c1]]
        s += [r[c0:c1] for r in rows]
        s += scratch
        for f, a, b, o in ops:
            if b < 0:
                f(s[a], s[o])
            else:
                f(s[a], s[b], s[o])


#: Run the master's count with the compiled executor of :mod:`electionlib._vote_kernels`
#: (numba) when available; else (or when switched off, as tests do to compare both paths) the
#: program is interpreted by numpy ufunc calls (:func:`_run`). Both give the same bits.
USE_VOTE_KERNEL = True


def _vote_kernels():
    from . import _vote_kernels as K

    return K


def _use_vote_kernel() -> bool:
    return USE_VOTE_KERNEL and _vote_kernels().available()


_SRC_CODES = {_AND: 0, _OR: 1, _XOR: 2, _NOT: 3}  # the executor's SRC_AND ... SRC_NOT


@functools.lru_cache(maxsize=256)
def _kernel_program(n: int, packed_present: bool, want_eq: bool):
    """The program of :func:`_compile`, converted for the compiled executor."""
    ops, n_scratch = _compile(n, packed_present, want_eq)
    src = [(_SRC_CODES[f], a, b, o) for f, a, b, o in ops]
    return _vote_kernels().program(src, n, packed_present, n_scratch)


def _present_rows(present, n: int, nb: int):
    """Normalise ``present`` to ``(row_mask (n,) bool or None, packed (n, nb) or None)``."""
    if present is None:
        return None, None
    pr = np.asarray(present)
    if pr.dtype == bool and pr.shape == (n,):
        return pr, None
    if pr.shape == (n, nb) and pr.dtype == np.uint8:
        return None, pr
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
    return _count_compare(packed_votes, present, want_eq=True)


def _count_compare(packed_votes, present, want_eq: bool):
    V = np.asarray(packed_votes)
    if V.ndim != 2 or V.dtype != np.uint8:
        raise ValueError(
            f"packed_votes must be a 2-D uint8 array (n, ceil(d/8)), got shape {V.shape} "
            f"dtype {V.dtype}"
        )
    n, nb = V.shape
    row_mask, pmask = _present_rows(present, n, nb)
    if V.strides[1] != 1:
        V = np.ascontiguousarray(V)
    if pmask is not None and pmask.strides[1] != 1:
        pmask = np.ascontiguousarray(pmask)
    idx = np.flatnonzero(row_mask) if row_mask is not None and not row_mask.all() else None
    m = n if idx is None else idx.size
    gt_out = np.empty(nb, dtype=np.uint8)
    eq_out = np.empty(nb, dtype=np.uint8) if want_eq else None
    if m == 0 or nb == 0:
        gt_out[:] = 0
        if eq_out is not None:
            eq_out[:] = 0xFF
        return gt_out, eq_out
    if _use_vote_kernel():
        prog = _kernel_program(m, pmask is not None, want_eq)
        _vote_kernels().run(prog, V, idx, pmask, gt_out, eq_out)
        return gt_out, eq_out
    rows = list(V) if idx is None else [V[i] for i in idx]
    if pmask is not None:
        rows += list(pmask)
    ops, n_scratch = _compile(m, pmask is not None, want_eq)
    _run(ops, n_scratch, rows, gt_out, eq_out)
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
    gt, eq = _count_compare(V, present, want_eq=return_ties)
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


#: Use the compiled encoder kernels of :mod:`electionlib._kernels` (numba) when available.
#: Tests switch it off to compare both paths; ``ELECTIONLIB_NUMBA=0`` switches numba off.
USE_KERNELS = True


#: dtypes the compiled encoder is built for (gradients); any other dtype takes the numpy path.
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _kernels():
    from . import _kernels as K

    return K


def _use_kernels() -> bool:
    return USE_KERNELS and _kernels().available()


def worker_vote(grads, tie: str = "plus", *, partition_rngs=None, rng=None):
    """One worker's message straight from the real gradients of its ``r`` partitions.

    The same result, bit for bit and draw for draw, as :func:`sign_bits` of each partition
    (coins for ``sign(0)`` from ``partition_rngs[j]``, only for a row with a zero) followed
    by :func:`encode` with an all-ones ``(1, r)`` allocation (coins for a tied local count
    from ``rng``, only if some coordinate is tied) — in a few whole-array operations on the
    unpacked signs, because right after a gradient computation a worker's caches are cold
    and every small call counts (the project's target: encode + pack within 5% of one partition's
    gradient). Under ``coin`` the signs, zero masks, coin merge and (r <= 3) local majority
    run in two compiled calls when numba is available and ``grads`` is float32 or float64
    (:mod:`electionlib._kernels`; :data:`USE_KERNELS`), with the same result and the same
    draws as the numpy path.

    Args:
        grads: real array ``(r, d)``, ``r >= 1``.
        tie: one of :data:`TIE_RULES`.
        partition_rngs: ``coin`` only: ``r`` Generators, one per partition.
        rng: ``coin`` only: the worker's Generator for tied local counts.

    Returns:
        ``(bits, present)``: packed uint8 ``(ceil(d/8),)``; ``present`` is the packed mask
        of coordinates the worker votes on under ``abstain``, else None.

    Example:
        >>> g = np.array([[1.0, -2.0, 0.0], [3.0, -1.0, -1.0], [-1.0, 0.0, 2.0]])
        >>> bits, present = worker_vote(g, "abstain")
        >>> unpack(bits, 3).tolist(), np.unpackbits(present, count=3).tolist()
        ([1, -1, -1], [1, 1, 0])
    """
    v.choice("tie", tie, TIE_RULES)
    g = np.asarray(grads)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"grads must be a 2-D (r >= 1, d >= 1) array, got shape {g.shape}")
    r, d = g.shape
    finite = _all_finite(g)
    if tie == "abstain":
        if finite:
            P, N = np.packbits(g > 0, axis=-1), np.packbits(g != 0, axis=-1)
        else:
            P, N = np.packbits(_positive(g), axis=-1), np.packbits(~_zero_like(g), axis=-1)
        if r == 1:
            return P[0], N[0]
        gt, eq = _count_compare(P, N, want_eq=True)
        eq = ~eq
        eq[-1] &= _tail_mask(d)
        return gt, eq
    if tie == "plus":
        P = np.packbits(g >= 0 if finite else ~((g < 0) & (g > -np.inf)), axis=-1)
    else:
        if partition_rngs is None or len(partition_rngs) != r or rng is None:
            raise ValueError("tie='coin' needs partition_rngs (one Generator per partition) "
                             "and rng (the worker's Generator)")
        if g.dtype in _KERNEL_DTYPES and _use_kernels():
            P, gt, eq, tied = _kernels().coin_signs(g, partition_rngs, _coin_bytes)
            if gt is not None:  # r <= 3: the local majority is done; only r = 2 can tie
                if tied:
                    _kernels().break_ties(gt, eq, _coin_bytes(rng, P.shape[1]))
                return gt, None
        else:
            P = np.packbits(g > 0 if finite else _positive(g), axis=-1)
            Z = np.packbits(g == 0 if finite else _zero_like(g), axis=-1)
            for j in range(r):
                if Z[j].any():
                    coins = _coin_bytes(partition_rngs[j], P.shape[1])
                    coins &= Z[j]
                    P[j] |= coins
    if r == 1:
        return P[0], None
    if r == 2:
        gt, eq = P[0] & P[1], P[0] ^ P[1]
    elif r == 3:
        gt, eq = (P[0] & P[1]) | (P[2] & (P[0] | P[1])), None
    else:
        gt, eq = _count_compare(P, None, want_eq=r % 2 == 0)
    if eq is None:
        return gt, None
    if tie == "plus":
        return gt | eq, None
    if eq.any():  # padding bits are never tied: every row's padding reads as a -1 vote
        gt |= eq & _coin_bytes(rng, P.shape[1])
    return gt, None


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
            assert rngs is not None and eq is not None  # built for this rule above
            # one random byte per 8 coordinates, drawn only when some coordinate is tied
            eq[-1] &= mask
            out = gt | (eq & _coin_bytes(rngs[i], nb)) if eq.any() else gt
        else:
            assert pres is not None and eq is not None  # built for this rule above
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
