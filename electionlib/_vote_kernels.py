"""Compiled (numba) executor of the master's bit-sliced count (:func:`electionlib.votes.majority`).

Why a compiled dependency: :mod:`electionlib.votes` compiles the count of ``n`` packed votes into
a straight-line program of byte-wide AND/OR/XOR/NOT over rows (a carry-save adder network of
about ``5 n`` operations, ``votes._compile``). Interpreted by numpy, each operation is one ufunc
call per chunk of columns (thousands of Python-level calls at n = 101, each streaming its rows
through the caches), which put the master at 1.5-2.7x the time of copying its input bytes, the
memory-bandwidth anchor of ``benchmarks/bench_majority.py``, whose target is <= 1. Here the
whole program runs in one compiled call per share of the columns:

* the op list becomes an int table (:func:`program`, once per program): every full adder of the
  network (5 source operations) becomes one fused operation, three rows in and two out;
* every operand (the gt/eq outputs, a vote row -- only the present ones for an ``(n,)`` mask --,
  a packed presence row, a scratch row) is resolved to an address before the loops, so that the
  inner loops are branch-free pointer loops that the compiler vectorises;
* the program runs over column blocks of :data:`BLOCK_BYTES`, so that the scratch rows stay in
  the core's L1/L2 caches while the input rows stream through once; the first read of an input
  row prefetches the same columns of its next block;
* on request (:data:`THREADS`), a large input is shared between two threads (the kernel
  releases the GIL), each taking the next chunk of columns until none is left. The default is
  one thread. Reading n rows in blocks is memory-bound: on the project's 2-core machine one
  thread's read of the input alone (the XOR of the rows, printed by the benchmark as the
  floor) takes 0.9-1.1x the one-thread copy at n = 49 and 101, which leaves one thread no room
  for the counting there.

What it guarantees: the executor runs the very program the numpy path runs (a fused full adder
computes, column by column, exactly the values of its five operations, the other operations are
run one for one, and columns never interact), so the two paths agree bit for bit whatever the
blocks and threads (a property test checks it for every n from 1 to 255 and every kind of
``present``). The inputs are read only, never copied or written. numba is optional at run time:
if it cannot be imported, or if the environment variable ``ELECTIONLIB_NUMBA=0`` is set,
:func:`available` is False and the numpy path runs. The kernel is compiled on first use and
cached next to this file (``cache=True``): the first call in a fresh checkout takes about ten
seconds, later processes load it in about one.
"""

from __future__ import annotations

import os
import threading

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests
    if os.environ.get("ELECTIONLIB_NUMBA", "1") == "0":
        raise ImportError("disabled by ELECTIONLIB_NUMBA=0")
    from llvmlite import ir
    from numba import njit, types, uint8
    from numba.extending import intrinsic

    _NUMBA = True
except ImportError:  # pragma: no cover
    _NUMBA = False


def available() -> bool:
    """True when the compiled executor can be used (numba importable, not disabled)."""
    return _NUMBA


#: Operations of a source program ``(op, a, b, out)`` over slots (``b < 0`` for the unary NOT).
SRC_AND, SRC_OR, SRC_XOR, SRC_NOT = 0, 1, 2, 3

# Opcodes of the executor's table. The "_IN" forms update their output in place (z = z op y),
# reading and writing that row through one pointer, so that the compiler sees the exact alias
# and still vectorises (two pointers to one row would fail its run-time overlap check). FA is a
# fused full adder (sum s = x ^ y ^ c, carry z = maj(x, y, c)) and MAJ one whose sum is never
# read (the carry only); their "_Z" forms have z == x (the carry overwrites an input), their
# "_S" forms s == y.
(AND, OR, XOR, AND_IN, OR_IN, XOR_IN, NOT, NOT_IN, COPY, ZERO,
 FA, FA_S, FA_Z, FA_ZS, MAJ, MAJ_Z) = range(16)

# Operand kinds: the gt and eq outputs, a vote row, a presence row, a scratch row.
K_GT, K_EQ, K_VOTE, K_PRES, K_SCRATCH = range(5)

# Operand columns of the table: x, y, z (the output), c (third input), s (second output).
_X, _Y, _Z, _C, _S = range(5)

#: Bytes of every row per column block: small enough that the scratch rows (and the prefetched
#: next block of every input row) stay in the core's caches, large enough that a program's
#: operations are long loops (measured: 2-4 KiB best, 1 KiB and 8-16 KiB slower).
BLOCK_BYTES = 4096
#: Input rows are prefetched this many blocks ahead (0: no prefetch; 2 was measured slower).
PREFETCH_AHEAD = 1
#: An op that reads an input row for the first time runs in segments of this many bytes, each
#: after prefetching the same columns of that row's next block.
PREFETCH_SEGMENT = 1024
#: Scratch rows lie this many bytes more than a block apart (64-byte aligned): rows a multiple
#: of 4 KiB apart make loads falsely wait for earlier stores to other rows (4K aliasing).
SCRATCH_PAD = 64
#: Threads one count may use, each on its own share of the columns (the kernel releases the
#: GIL): 1 (the default) = the calling thread only, as every other kernel of the project and
#: the one-thread copy it is compared with; None = the CPUs this process may run on, at most 2.
THREADS: int | None = 1
#: Threads are only started for at least this many bytes of input (rows x columns): below it
#: the input is likely to sit in the L3 cache, where a second thread was measured to cost more
#: than it brings...
THREAD_MIN_BYTES = 32 << 20
#: ... and take the columns this many bytes at a time.
THREAD_CHUNK_BYTES = 128 << 10


class Program:
    """A source program converted for the executor: ``code`` int64 ``(n_ops,)`` opcodes and,
    for the operands ``(x, y, z, c, s)`` of every op, ``kind`` and ``row`` int64 ``(n_ops, 5)``
    (an operand an op does not use repeats its output ``z``); ``first`` marks the first read of
    each input row (prefetched a block ahead)."""

    def __init__(self, code, kind, row, n_votes: int, n_scratch: int):
        self.code = code
        self.kind = kind
        self.row = row
        self.n_votes = n_votes
        self.n_scratch = n_scratch
        self.uses_eq = bool((kind == K_EQ).any())
        self.uses_pres = bool((kind == K_PRES).any())
        # the first read of every input row (operands x, y, c, op by op)
        reads = kind[:, [_X, _Y, _C]]
        key = np.where((reads == K_VOTE) | (reads == K_PRES),
                       reads * (row.max(initial=0) + 1) + row[:, [_X, _Y, _C]], -1).ravel()
        _, at = np.unique(key, return_index=True)
        at = at[key[at] >= 0]
        hit = np.zeros(key.size, dtype=np.int64)
        hit[at] = 1
        first = np.zeros(kind.shape, dtype=np.int64)
        first[:, [_X, _Y, _C]] = hit.reshape(-1, 3)
        self.first = first
        for a in (code, kind, row, first):
            a.flags.writeable = False


def _read_later(ops, start: int, slot: int, live_out) -> bool:
    """Whether the value of ``slot`` before ``ops[start]`` is read by ``ops[start:]`` or is an
    output of the program (``live_out``)."""
    for k in range(start, len(ops)):
        _, a, b, o = ops[k]
        if slot in (a, b):
            return True
        if o == slot:
            return False
    return slot in live_out


def _full_adder(ops, i: int, live_out):
    """The full adder of ``votes._Program.full_add`` at ``ops[i]``: ``t = a ^ b; u = a & b;
    s = t ^ c; t &= c; u |= t`` (or, its sum never read, the same without ``s``), provided no op
    overwrites a value that a later op of the five reads and ``t`` is not read afterwards.
    Returns ``(length, a, b, c, s, u)`` (``s`` None for the carry only), else None."""
    if i + 4 > len(ops) or ops[i][0] != SRC_XOR or ops[i + 1][0] != SRC_AND:
        return None
    (f0, a, b, t), (f1, a1, b1, u) = ops[i], ops[i + 1]
    if f0 != SRC_XOR or f1 != SRC_AND or {a1, b1} != {a, b} or a == b or t in (a, b) or u == t:
        return None
    f2, x2, y2, o2 = ops[i + 2]
    if t not in (x2, y2) or x2 == y2:
        return None
    c = y2 if x2 == t else x2
    if c in (a, b, u):
        return None
    if f2 == SRC_XOR:  # s = t ^ c; t = t & c; u = u | t
        if i + 5 > len(ops):
            return None
        s, (f3, x3, y3, o3), (f4, x4, y4, o4) = o2, ops[i + 3], ops[i + 4]
        if (s not in (t, c, u) and f3 == SRC_AND and {x3, y3} == {t, c} and o3 == t
                and f4 == SRC_OR and {x4, y4} == {u, t} and o4 == u
                and not _read_later(ops, i + 5, t, live_out)):
            return 5, a, b, c, s, u
        return None
    f3, x3, y3, o3 = ops[i + 3]  # t = t & c; u = u | t
    if (f2 == SRC_AND and o2 == t and f3 == SRC_OR and {x3, y3} == {u, t} and o3 == u
            and not _read_later(ops, i + 4, t, live_out)):
        return 4, a, b, c, None, u
    return None


def program(ops, n_votes: int, packed_present: bool, n_scratch: int) -> Program:
    """Convert a source program ``(op, a, b, out)`` (``op`` one of ``SRC_*``, ``b < 0`` for NOT)
    over slots: 0 = gt, 1 = eq, then the ``n_votes`` vote rows, then -- packed ``present`` --
    the ``n_votes`` presence rows, then the ``n_scratch`` scratch rows."""
    src = np.asarray(ops, dtype=np.int64).reshape(-1, 4)
    base = 2 + n_votes * (2 if packed_present else 1)
    live_out = (0, 1)
    n_slots = base + n_scratch
    f, a, b, o = src.T
    if (((f < 0) | (f > SRC_NOT)).any() or ((a < 0) | (a >= n_slots)).any()
            or ((o < 0) | (o >= n_slots)).any() or (b >= n_slots).any()
            or ((b < 0) & (f != SRC_NOT)).any()):
        raise ValueError("an op or a slot of the program is out of range")
    ops = src.tolist()
    # every slot's operand kind and row within its kind
    slot_kind = [K_GT, K_EQ] + [K_VOTE] * n_votes + [K_PRES] * (base - 2 - n_votes) + [
        K_SCRATCH] * n_scratch
    slot_row = [0, 0] + list(range(n_votes)) + list(range(base - 2 - n_votes)) + list(
        range(n_scratch))
    codes: list[int] = []
    kinds: list[tuple[int, ...]] = []
    rows: list[tuple[int, ...]] = []

    def add(code: int, x: int, y: int, z: int, c: int | None = None, s: int | None = None):
        c = z if c is None else c
        s = z if s is None else s
        if slot_kind[z] in (K_VOTE, K_PRES) or slot_kind[s] in (K_VOTE, K_PRES):
            raise ValueError("a program may not write its input rows")
        codes.append(code)
        kinds.append((slot_kind[x], slot_kind[y], slot_kind[z], slot_kind[c], slot_kind[s]))
        rows.append((slot_row[x], slot_row[y], slot_row[z], slot_row[c], slot_row[s]))

    i = 0
    while i < len(ops):
        fa = _full_adder(ops, i, live_out)
        if fa is not None:
            length, a, b, c, s, u = fa
            ins = [a, b, c]  # sum and carry are symmetric in the inputs: an overwritten one
            x = u if u in ins else None  # goes first (the carry's), then the sum's
            y = s if s in ins else None
            rest = [v for v in ins if v not in (x, y)]
            x = rest.pop(0) if x is None else x
            y = rest.pop(0) if y is None else y
            if s is None:
                add(MAJ_Z if u == x else MAJ, x, y, u, rest[0])
            else:
                add((FA, FA_S, FA_Z, FA_ZS)[2 * (u == x) + (s == y)], x, y, u, rest[0], s)
            i += length
            continue
        f, a, b, o = ops[i]
        i += 1
        if f == SRC_NOT:
            add(NOT_IN if a == o else NOT, a, a, o)
        elif a == b:  # x & x = x | x = x; x ^ x = 0
            if f == SRC_XOR:
                add(ZERO, o, o, o)
            elif a != o:
                add(COPY, a, a, o)
        elif o in (a, b):  # commutative: z = z op y
            add((AND_IN, OR_IN, XOR_IN)[f], o, b if o == a else a, o)
        else:
            add((AND, OR, XOR)[f], a, b, o)
    return Program(np.array(codes, dtype=np.int64),
                   np.array(kinds, dtype=np.int64).reshape(-1, 5),
                   np.array(rows, dtype=np.int64).reshape(-1, 5), n_votes, n_scratch)


if _NUMBA:

    @intrinsic
    def _bytes_at(typingctx, addr):  # pragma: no cover - compiled
        """The address ``addr`` (an integer) as a ``uint8*``: indexing it has no bounds check,
        no negative-index wrap-around and no reference counting, so that loops over it
        vectorise."""
        if not isinstance(addr, types.Integer):
            return None
        sig = types.CPointer(types.uint8)(addr)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    @intrinsic
    def _prefetch(typingctx, addr):  # pragma: no cover - compiled
        """Ask the core to bring the cache line at ``addr`` into its L2 cache (a hint: it
        never faults, whatever the address)."""
        if not isinstance(addr, types.Integer):
            return None
        sig = types.void(addr)

        def codegen(context, builder, signature, args):
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            name = "llvm.prefetch.p0"
            fn = builder.module.globals.get(name)
            if fn is None:
                fn = ir.Function(builder.module,
                                 ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
            # a read, locality 2 (L2 and outwards), of data
            builder.call(fn, [builder.inttoptr(args[0], i8p), i32(0), i32(2), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    @njit(cache=True, nogil=True, inline="always")
    def _span(op, x, y, z, c, s, i0, i1):  # pragma: no cover - compiled
        """One op over the columns ``i0:i1`` of its rows (``x, y, z, c, s``: uint8 pointers)."""
        if op == FA:  # uint8 casts: numba widens byte arithmetic to int64 otherwise
            for i in range(i0, i1):
                a = x[i]
                b = y[i]
                cc = c[i]
                t = uint8(a ^ b)
                s[i] = uint8(t ^ cc)
                z[i] = uint8(uint8(a & b) | uint8(t & cc))
        elif op == FA_Z:
            for i in range(i0, i1):
                a = z[i]
                b = y[i]
                cc = c[i]
                t = uint8(a ^ b)
                s[i] = uint8(t ^ cc)
                z[i] = uint8(uint8(a & b) | uint8(t & cc))
        elif op == FA_ZS:
            for i in range(i0, i1):
                a = z[i]
                b = s[i]
                cc = c[i]
                t = uint8(a ^ b)
                s[i] = uint8(t ^ cc)
                z[i] = uint8(uint8(a & b) | uint8(t & cc))
        elif op == FA_S:
            for i in range(i0, i1):
                a = x[i]
                b = s[i]
                cc = c[i]
                t = uint8(a ^ b)
                s[i] = uint8(t ^ cc)
                z[i] = uint8(uint8(a & b) | uint8(t & cc))
        elif op == MAJ_Z:
            for i in range(i0, i1):
                a = z[i]
                b = y[i]
                z[i] = uint8(uint8(a & b) | uint8(uint8(a ^ b) & c[i]))
        elif op == MAJ:
            for i in range(i0, i1):
                a = x[i]
                b = y[i]
                z[i] = uint8(uint8(a & b) | uint8(uint8(a ^ b) & c[i]))
        elif op == AND:
            for i in range(i0, i1):
                z[i] = x[i] & y[i]
        elif op == OR:
            for i in range(i0, i1):
                z[i] = x[i] | y[i]
        elif op == XOR:
            for i in range(i0, i1):
                z[i] = x[i] ^ y[i]
        elif op == AND_IN:
            for i in range(i0, i1):
                z[i] = z[i] & y[i]
        elif op == OR_IN:
            for i in range(i0, i1):
                z[i] = z[i] | y[i]
        elif op == XOR_IN:
            for i in range(i0, i1):
                z[i] = z[i] ^ y[i]
        elif op == NOT:
            for i in range(i0, i1):
                z[i] = ~x[i]
        elif op == NOT_IN:
            for i in range(i0, i1):
                z[i] = ~z[i]
        elif op == COPY:
            for i in range(i0, i1):
                z[i] = x[i]
        else:  # ZERO
            for i in range(i0, i1):
                z[i] = 0

    @njit(cache=True, nogil=True)
    def _execute(code, kind, row, first, gt, eq, v_addr, v_stride, p_addr, p_stride, rows,
                 use_rows, n_rows, scratch, n_scratch, block, ahead, seg,
                 pad):  # pragma: no cover - compiled
        """Run the table over column blocks of ``block`` bytes, into ``gt`` and ``eq``. Vote
        slot ``r`` is row ``rows[r]`` (``r`` if not ``use_rows``) of the ``n_rows`` rows at
        ``v_addr`` (``v_stride`` bytes apart), its presence row the same row at ``p_addr``.
        Every operand but a scratch row advances by ``c0``, the block's first column. Returns
        0; or, doing nothing, 1 if a row index is out of range, 2 if ``scratch`` is too small
        for ``n_scratch`` rows."""
        nops = code.shape[0]
        nb = gt.shape[0]
        stride = (block + 63) // 64 * 64 + pad
        if scratch.shape[0] < n_scratch * stride + 64:
            return 2
        s_addr = scratch.ctypes.data
        s_addr += (-s_addr) % 64
        addr = np.empty((nops, 5), dtype=np.int64)
        step = np.empty((nops, 5), dtype=np.int64)
        for k in range(nops):
            for j in range(5):
                kd = kind[k, j]
                r = row[k, j]
                step[k, j] = 1
                if kd == K_VOTE or kd == K_PRES:
                    i = rows[r] if use_rows else r
                    if i < 0 or i >= n_rows:
                        return 1
                    if kd == K_VOTE:
                        addr[k, j] = v_addr + i * v_stride
                    else:
                        addr[k, j] = p_addr + i * p_stride
                elif kd == K_SCRATCH:
                    addr[k, j] = s_addr + r * stride
                    step[k, j] = 0
                elif kd == K_GT:
                    addr[k, j] = gt.ctypes.data
                else:
                    addr[k, j] = eq.ctypes.data
        for c0 in range(0, nb, block):
            L = min(block, nb - c0)
            cn = c0 + ahead * block  # the block to prefetch
            Ln = min(block, nb - cn) if ahead > 0 else 0
            for k in range(nops):
                op = code[k]
                x = _bytes_at(addr[k, 0] + step[k, 0] * c0)
                y = _bytes_at(addr[k, 1] + step[k, 1] * c0)
                z = _bytes_at(addr[k, 2] + step[k, 2] * c0)
                c = _bytes_at(addr[k, 3] + step[k, 3] * c0)
                s = _bytes_at(addr[k, 4] + step[k, 4] * c0)
                if Ln <= 0 or first[k, 0] + first[k, 1] + first[k, 3] == 0:
                    _span(op, x, y, z, c, s, 0, L)
                    continue
                # an op reading an input row for the first time runs in segments, each after
                # prefetching the same columns of the input row's next block
                for s0 in range(0, L, seg):
                    e = min(s0 + seg, L)
                    for j in (0, 1, 3):
                        if first[k, j]:
                            a = addr[k, j] + cn
                            for q in range(s0, min(e, Ln), 64):
                                _prefetch(a + q)
                    _span(op, x, y, z, c, s, s0, e)
        return 0


def _unit_columns(M: np.ndarray, nb: int) -> bool:
    return M.ndim == 2 and M.shape[1] == nb and M.dtype == np.uint8 and (
        nb <= 1 or M.strides[1] == 1)


_NO_EQ = np.zeros(0, dtype=np.uint8)
_NO_ROWS = np.zeros(0, dtype=np.int64)


def run(prog: Program, V: np.ndarray, rows, P, gt: np.ndarray, eq, block: int = 0) -> None:
    """Run ``prog`` over the vote rows ``V[rows]`` (and, if ``P`` is given, the presence rows
    ``P[rows]``), writing ``gt`` (and ``eq``). ``V``, ``P``: ``(n, nb)`` uint8 with unit column
    stride (any row stride), only read; ``gt``, ``eq``: writable contiguous uint8 ``(nb,)``;
    ``rows``: the ``prog.n_votes`` row indices, in the order of the program's vote slots (None:
    every row of ``V``, in order); ``block``: bytes per column block (default
    :data:`BLOCK_BYTES`). A large input is shared between :data:`THREADS` threads, chunk by
    chunk of columns; the call returns when every column is written."""
    nb = gt.shape[0] if gt.ndim == 1 else -1
    if not _unit_columns(V, nb):
        raise ValueError(f"V must be a (n, {nb}) uint8 array with unit column stride")
    if P is not None and not (_unit_columns(P, nb) and P.shape == V.shape):
        raise ValueError(f"P must be a {V.shape} uint8 array with unit column stride")
    for out in (gt, eq):
        if out is not None and (out.shape != (nb,) or out.dtype != np.uint8
                                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError("gt and eq must be writable contiguous uint8 (nb,) arrays")
    if eq is None and prog.uses_eq:
        raise ValueError("the program writes eq: pass an eq array")
    if P is None and prog.uses_pres:
        raise ValueError("the program reads presence rows: pass P")
    if rows is None:
        idx = _NO_ROWS
        if V.shape[0] != prog.n_votes:
            raise ValueError(f"V must have {prog.n_votes} rows (or pass rows)")
    else:
        idx = np.ascontiguousarray(rows, dtype=np.int64)
        if idx.shape != (prog.n_votes,):
            raise ValueError(f"rows must be {prog.n_votes} row indices of V")
    if nb == 0 or prog.code.size == 0:
        return
    block = max(1, min(block or BLOCK_BYTES, nb))
    args = (prog, gt, eq, V.ctypes.data, V.strides[0], 0 if P is None else P.ctypes.data,
            0 if P is None else P.strides[0], idx, rows is not None, V.shape[0], block)
    threads = _threads(prog.n_votes * nb, nb)
    if threads == 1:
        status = [_run_columns(0, nb, *args)]
    else:
        status = _run_threads(args, nb, threads)
    if 1 in status:
        raise ValueError(f"rows must be {prog.n_votes} row indices of V")
    if any(status):
        raise AssertionError("scratch rows too small")  # pragma: no cover - a bug


def _run_threads(args, nb: int, threads: int) -> list[int]:
    """The count over ``threads`` threads (the caller's and ``threads - 1`` more), each taking
    the next :data:`THREAD_CHUNK_BYTES` of columns until none is left: a thread that runs slow
    (a busy core) does less, never holds up the others. Each chunk writes its own columns."""
    chunk = max(64, THREAD_CHUNK_BYTES // 64 * 64)
    lock = threading.Lock()
    cursor = [0]
    status = [0] * threads
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            while not errors:
                with lock:
                    c0 = cursor[0]
                    cursor[0] = c0 + chunk
                if c0 >= nb:
                    return
                status[slot] |= _run_columns(c0, min(c0 + chunk, nb), *args)
        except BaseException as e:  # pragma: no cover - re-raised by the caller below
            errors.append(e)

    helpers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(1, threads)]
    for th in helpers:
        th.start()
    interrupted: BaseException | None = None
    try:
        work(0)
    except BaseException as e:  # pragma: no cover - e.g. KeyboardInterrupt in the caller's share
        interrupted = e
    for th in helpers:  # the helpers read the caller's arrays by address: never leave before them
        while th.is_alive():
            try:
                th.join()
            except BaseException as e:  # pragma: no cover - interrupted while waiting
                interrupted = interrupted or e
                errors.append(e)  # the helpers stop at their next chunk
    if interrupted is not None:  # pragma: no cover
        raise interrupted
    if errors:  # pragma: no cover - a chunk failed: its columns are not written
        raise errors[0]
    return status


def _threads(input_bytes: int, nb: int) -> int:
    """Threads for one count: :data:`THREADS` (None: the CPUs this process may run on, at most
    2); 1 below :data:`THREAD_MIN_BYTES` of input or for fewer than two chunks of columns."""
    want = THREADS
    if want is None:
        try:
            want = min(2, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - no sched_getaffinity (macOS, Windows)
            want = min(2, os.cpu_count() or 1)
    if want <= 1 or input_bytes < THREAD_MIN_BYTES or nb < 2 * THREAD_CHUNK_BYTES:
        return 1
    return int(want)


def _run_columns(c_lo: int, c_hi: int, prog, gt, eq, v_addr, v_stride, p_addr, p_stride, idx,
                 use_rows, n_rows, block) -> int:
    """Run ``prog`` over the columns ``c_lo:c_hi``; returns the kernel's status."""
    b = min(block, c_hi - c_lo)
    # the scratch rows, owned here (alive for the whole call); 64-byte aligned in the kernel
    scratch = np.empty(prog.n_scratch * ((b + 63) // 64 * 64 + SCRATCH_PAD) + 64, np.uint8)
    return _execute(prog.code, prog.kind, prog.row, prog.first, gt[c_lo:c_hi],
                    _NO_EQ if eq is None else eq[c_lo:c_hi], v_addr + c_lo, v_stride,
                    p_addr + c_lo if p_addr else 0, p_stride, idx, use_rows, n_rows, scratch,
                    prog.n_scratch, b, PREFETCH_AHEAD, PREFETCH_SEGMENT, SCRATCH_PAD)
