import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import local_majority, master

from electionlib import votes as V

dims = st.integers(1, 200) | st.sampled_from([63, 64, 65, 127, 128, 129, 511, 513])


@settings(max_examples=200, deadline=None)
@given(d=dims, seed=st.integers(0, 2**32 - 1))
def test_pack_roundtrip(d, seed):
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(3, d))
    p = V.pack(s)
    assert p.shape == (3, (d + 7) // 8) and p.dtype == np.uint8
    np.testing.assert_array_equal(V.unpack(p, d), s)
    # padding bits are zero
    if d % 8:
        assert (p[:, -1] & ((1 << (8 - d % 8)) - 1) == 0).all()


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 40),
    d=dims,
    mode=st.sampled_from(["all", "rows", "packed"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_master_majority_matches_reference(n, d, mode, seed):
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, d))
    if mode == "all":
        pres, arg = np.ones((n, d), bool), None
    elif mode == "rows":
        rows = rng.random(n) < 0.7
        pres, arg = np.repeat(rows[:, None], d, axis=1), rows
    else:
        pres = rng.random((n, d)) < rng.uniform(0.2, 1.0)
        arg = np.packbits(pres, axis=1)
    want = master(np.where(pres, s, 0))
    got = V.decide(V.pack(s), d, arg)
    np.testing.assert_array_equal(got, want)
    bits, ties = V.majority(V.pack(s), d, arg, return_ties=True)
    np.testing.assert_array_equal(np.unpackbits(bits, count=d), (want > 0).astype(np.uint8))
    np.testing.assert_array_equal(np.unpackbits(ties, count=d), (want == 0).astype(np.uint8))
    assert np.unpackbits(bits)[d:].sum() == 0 and np.unpackbits(ties)[d:].sum() == 0


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 12),
    k=st.integers(1, 12),
    d=dims,
    tie=st.sampled_from(V.TIE_RULES),
    p=st.floats(0.0, 1.0),
    sparse=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_encode_matches_reference(n, k, d, tie, p, sparse, seed):
    rng = np.random.default_rng(seed)
    G = (rng.random((n, k)) < p).astype(np.uint8)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(k, d))
    ppres = None
    if sparse and tie == "abstain":  # sign(0) abstains only under the abstain rule
        ppres = rng.random((k, d)) < 0.6
    seeds = rng.integers(0, 2**31, size=n)
    # a worker's coins: its stream's first ceil(d/8) random bytes (drawn only if it has a tie)
    coins = np.stack([np.where(np.unpackbits(np.random.default_rng(x).bit_generator.random_raw(
        (d + 63) // 64).view(np.uint8)[: (d + 7) // 8], count=d), 1, -1) for x in seeds])
    want = local_majority(s, G, tie, coins, ppres)
    empty = G.sum(axis=1) == 0
    want[empty] = 0
    bits, present = V.encode(
        V.pack(s), G, d, tie=tie,
        rng=[np.random.default_rng(x) for x in seeds],
        partition_present=None if ppres is None else np.packbits(ppres, axis=1),
    )
    got = V.unpack(bits, d)
    if present is None:
        pres = np.ones((n, d), bool)
    elif present.ndim == 1:
        pres = np.repeat(present[:, None], d, axis=1)
    else:
        pres = np.unpackbits(present, axis=1, count=d).astype(bool)
    np.testing.assert_array_equal(np.where(pres, got, 0), want)
    expect = want != 0 if tie == "abstain" else ~empty[:, None] | (want != 0)
    np.testing.assert_array_equal(pres, expect)
    # the whole pipeline: master's decision equals the reference
    np.testing.assert_array_equal(V.decide(bits, d, present), master(want))


def test_sign_bits_rules():
    x = np.array([1.0, 0.0, -3.0, 0.0])
    b, pres = V.sign_bits(x, "plus")
    assert V.unpack(b, 4).tolist() == [1, 1, -1, 1] and pres is None
    b, pres = V.sign_bits(x, "abstain")
    assert V.unpack(b, 4).tolist() == [1, -1, -1, -1]
    assert np.unpackbits(pres, count=4).tolist() == [1, 0, 1, 0]
    # coin: zeros become fair coins; nonzeros are exact
    draws = np.stack([V.unpack(V.sign_bits(x, "coin", rng=s)[0], 4) for s in range(2000)])
    assert (draws[:, 0] == 1).all() and (draws[:, 2] == -1).all()
    assert abs(draws[:, 1].mean()) < 0.1 and abs(draws[:, 3].mean()) < 0.1


def test_tied_coordinate_does_not_move():
    votes = V.pack(np.array([[1, 1], [-1, 1]]))
    assert V.decide(votes, 2).tolist() == [0, 1]
    # no vote at all on a coordinate is a tie too
    assert V.decide(votes, 2, present=np.array([False, False])).tolist() == [0, 0]


def test_hand_example_paper_fig1():
    # Fig. 1a: five voters, one fraud flips a close election without coding.
    m = np.array([1, 1, 1, -1, -1])
    c = m.copy()
    c[0] = -1  # a Byzantine flips its own vote
    assert V.decide(V.pack(c[:, None]), 1).tolist() == [-1]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: V.pack(np.array([1, 0, -1])), "only -1 and \\+1"),
        (lambda: V.pack(np.array([])), "at least one coordinate"),
        (lambda: V.unpack(np.zeros(2, np.uint8), 17), r"ceil\(d/8\)=3"),
        (lambda: V.unpack(np.zeros(2, np.int16), 9), "uint8"),
        (lambda: V.unpack(np.zeros(2, np.uint8), 0), "d=0"),
        (lambda: V.majority(np.zeros((3, 2), np.uint8), 20), r"shape \(n, 3\)"),
        (lambda: V.majority(np.zeros(2, np.uint8), 9), r"shape \(n, 2\)"),
        (lambda: V.majority(np.zeros((3, 2), np.uint8), 9, present=np.ones(4, bool)), "present"),
        (lambda: V.encode(np.zeros((3, 1), np.uint8), np.eye(2), 8, tie="plus"), "k=2"),
        (lambda: V.encode(np.zeros((2, 1), np.uint8), np.eye(2), 8, tie="maybe"), "tie='maybe'"),
        (lambda: V.encode(np.zeros((2, 1), np.uint8), np.eye(2), 8, tie="coin"), "rng=None"),
        (lambda: V.sign_bits(np.zeros(3), "coin"), "rng=None"),
        (lambda: V.packed_length(0), "d=0"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- packed kernel
# The optimized master kernel (a compiled carry-save adder program run chunk by chunk) against
# a plain numpy reference: unpack the bits, count the +1 and -1 votes, compare.

many_n = st.integers(1, 130) | st.sampled_from([1, 2, 3, 63, 64, 65, 127, 128, 129, 130])
kernel_dims = st.integers(1, 700) | st.sampled_from([7, 8, 9, 63, 64, 65, 511, 513, 1000, 4097])


def reference_count_compare(s, pres):
    """s, pres: bool (n, d) -> (gt, eq) bool (d,): #(+1) > #(-1) and #(+1) == #(-1)."""
    plus = (s & pres).sum(axis=0)
    minus = (~s & pres).sum(axis=0)
    return plus > minus, plus == minus


def random_present(rng, mode, n, d):
    """(bool (n, d) mask, argument for the kernel) for present mode None / rows / packed."""
    if mode == "none":
        return np.ones((n, d), bool), None
    if mode == "rows":
        rows = rng.random(n) < rng.choice([0.0, 0.5, 0.9, 1.0])
        return np.repeat(rows[:, None], d, axis=1), rows
    pres = rng.random((n, d)) < rng.choice([0.0, 0.3, 0.8, 1.0])
    pres[rng.random(n) < 0.1] = True  # some rows fully present, some densities extreme
    return pres, np.packbits(pres, axis=1)


@settings(max_examples=250, deadline=None)
@given(
    n=many_n,
    d=kernel_dims,
    mode=st.sampled_from(["none", "rows", "packed"]),
    chunk=st.sampled_from([1, 3, 8, 40, None]),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_matches_plain_numpy(n, d, mode, chunk, seed):
    rng = np.random.default_rng(seed)
    s = rng.random((n, d)) < rng.choice([0.5, 0.1, 0.9])
    pres, arg = random_present(rng, mode, n, d)
    packed = np.packbits(s, axis=1)
    packed.flags.writeable = False  # the kernel must not write into its input
    nb = packed.shape[1]
    saved = V._CHUNK_BYTES
    if chunk is not None:  # several chunks, of sizes that are not multiples of 8 bytes
        V._CHUNK_BYTES = max(chunk, -(-nb // 16))
    try:
        bits, ties = V.majority(packed, d, arg, return_ties=True)
        only = V.majority(packed, d, arg)
        gt, eq = V.count_compare(packed, arg)
    finally:
        V._CHUNK_BYTES = saved
    want_gt, want_eq = reference_count_compare(s, pres)
    np.testing.assert_array_equal(np.unpackbits(bits, count=d).astype(bool), want_gt)
    np.testing.assert_array_equal(np.unpackbits(ties, count=d).astype(bool), want_eq)
    np.testing.assert_array_equal(only, bits)
    np.testing.assert_array_equal(np.unpackbits(gt, count=d).astype(bool), want_gt)
    np.testing.assert_array_equal(np.unpackbits(eq, count=d).astype(bool), want_eq)
    # padding bits are zero
    assert np.unpackbits(bits)[d:].sum() == 0 and np.unpackbits(ties)[d:].sum() == 0
    np.testing.assert_array_equal(packed, np.packbits(s, axis=1))


@pytest.mark.parametrize(("n", "mode"), [(5, "none"), (4, "none"), (3, "rows"), (2, "packed")])
def test_kernel_default_chunks_large_d(n, mode):
    # d spans several of the kernel's default chunks (and ends mid-word)
    d = 8 * V._CHUNK_BYTES * 2 + 8 * 1000 + 13
    rng = np.random.default_rng(n)
    s = rng.random((n, d)) < 0.5
    pres, arg = random_present(rng, mode, n, d)
    if mode == "rows":
        pres[:], arg = True, np.ones(n, bool)
        pres[1], arg[1] = False, False
    bits, ties = V.majority(np.packbits(s, axis=1), d, arg, return_ties=True)
    want_gt, want_eq = reference_count_compare(s, pres)
    np.testing.assert_array_equal(np.unpackbits(bits, count=d).astype(bool), want_gt)
    np.testing.assert_array_equal(np.unpackbits(ties, count=d).astype(bool), want_eq)


def test_kernel_accepts_strided_views():
    rng = np.random.default_rng(1)
    s = rng.random((7, 2 * 200)) < 0.5
    big = np.packbits(s, axis=1)  # (7, 50)
    view = big[::2, ::2]  # rows 0, 2, 4, 6 and every other byte: not contiguous
    dense = np.ascontiguousarray(view)
    d = 8 * view.shape[1]
    for arg in (None, np.array([True, False, True, True]), np.ascontiguousarray(view[::-1])):
        np.testing.assert_array_equal(V.majority(view, d, arg), V.majority(dense, d, arg))
    np.testing.assert_array_equal(
        V.majority(dense, d, view[::-1], return_ties=True),
        V.majority(dense, d, np.ascontiguousarray(view[::-1]), return_ties=True),
    )


@settings(max_examples=300, deadline=None)
@given(r=st.integers(1, 7), d=st.integers(1, 300), tie=st.sampled_from(V.TIE_RULES),
       zeros=st.floats(0.0, 0.9), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]), special=st.booleans(),
       kernels=st.booleans())
def test_worker_vote_equals_sign_bits_then_encode_draw_for_draw(r, d, tie, zeros, seed, dtype,
                                                                 special, kernels):
    """Both encoders (compiled kernels and numpy) give sign_bits + encode, draw for draw."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((r, d)).astype(dtype)
    g[rng.random((r, d)) < zeros] = 0.0
    if special:  # -0.0 is a zero; NaN is neither > 0 nor == 0 (a -1 sign); inf is > 0
        g.flat[rng.integers(0, g.size, size=3)] = [-0.0, np.nan, np.inf]
    seeds = rng.integers(0, 2**31, size=r + 1)

    def streams():
        return [np.random.default_rng(x) for x in seeds]

    s1 = streams()  # reference: per-partition sign_bits, then encode with a (1, r) allocation
    parts = [V.sign_bits(g[j : j + 1], tie, rng=s1[j]) for j in range(r)]
    pbits = np.concatenate([b for b, _ in parts])
    ppres = None if tie != "abstain" else np.concatenate([p for _, p in parts])
    want_bits, want_pres = V.encode(pbits, np.ones((1, r), np.uint8), d,
                                    partition_present=ppres, tie=tie, rng=[s1[r]])
    s2 = streams()
    old = V.USE_KERNELS
    V.USE_KERNELS = kernels
    try:
        bits, pres = V.worker_vote(g, tie, partition_rngs=s2[:r], rng=s2[r])
    finally:
        V.USE_KERNELS = old
    np.testing.assert_array_equal(bits, want_bits[0])
    if tie == "abstain":
        np.testing.assert_array_equal(pres, want_pres[0])
    else:
        assert pres is None
    # the same number of draws from every stream
    assert [a.integers(0, 2**62) for a in s1] == [b.integers(0, 2**62) for b in s2]


def test_worker_vote_bad_input():
    with pytest.raises(ValueError, match="grads must be a 2-D"):
        V.worker_vote(np.zeros(3))
    with pytest.raises(ValueError, match="partition_rngs"):
        V.worker_vote(np.zeros((2, 3)), "coin")


def test_worker_vote_uses_the_compiled_encoder_under_coin():
    """numba is a pinned requirement: the compiled path is the one that runs (and is timed)."""
    from electionlib import _kernels

    assert _kernels.available(), "numba should import in the project's environment"
    assert V._use_kernels()


def test_compiled_encoder_exact_small_case():
    g = np.array([[1.0, -2.0, 0.0, 0.0, 5.0, -0.0, 3.0, -1.0, 0.5],
                  [-1.0, -2.0, 2.0, 0.0, 5.0, 1.0, -3.0, -1.0, 0.0],
                  [1.0, 2.0, -2.0, 0.0, -5.0, 1.0, 3.0, 1.0, 0.0]], np.float32)
    from electionlib import _kernels

    P, gt, eq, tied = _kernels.coin_signs(g, [None] * 3, lambda gen, nb: np.zeros(nb, np.uint8))
    # all coins 0: sign(0) = -1; majority of three rows, column by column
    want = [1, -1, -1, -1, 1, 1, 1, -1, -1]
    assert V.unpack(gt, 9).tolist() == want
    assert eq.size == 0 and not tied
    P1, gt1, _, _ = _kernels.coin_signs(g, [None] * 3, lambda gen, nb: np.full(nb, 255, np.uint8))
    assert V.unpack(gt1, 9).tolist() == [1, -1, 1, 1, 1, 1, 1, -1, 1]  # coins all +1


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.int32, bool])
@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_worker_vote_other_dtypes_take_the_numpy_path(dtype, r):
    """float16 (which numba cannot compile), integers and bools: same bits either way."""
    g = np.random.default_rng(r).integers(-2, 3, size=(r, 37)).astype(dtype)
    outs = []
    old = V.USE_KERNELS
    try:
        for use in (True, False):
            V.USE_KERNELS = use
            s = [np.random.default_rng(i) for i in range(r + 1)]
            outs.append(V.worker_vote(g, "coin", partition_rngs=s[:r], rng=s[r])[0])
    finally:
        V.USE_KERNELS = old
    np.testing.assert_array_equal(outs[0], outs[1])


def test_worker_vote_non_contiguous_input():
    g = np.random.default_rng(5).standard_normal((3, 80)).astype(np.float32)
    g[:, ::3] = 0.0
    view = g[:, ::2]
    s1 = [np.random.default_rng(i) for i in range(4)]
    s2 = [np.random.default_rng(i) for i in range(4)]
    np.testing.assert_array_equal(
        V.worker_vote(view, "coin", partition_rngs=s1[:3], rng=s1[3])[0],
        V.worker_vote(np.ascontiguousarray(view), "coin", partition_rngs=s2[:3], rng=s2[3])[0])


def test_numba_can_be_switched_off_by_environment():
    import subprocess
    import sys

    code = "from electionlib import _kernels; print(_kernels.available())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ELECTIONLIB_NUMBA": "0"})
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- compiled count
# The master's count run by the compiled executor (electionlib._vote_kernels) against the numpy
# path (the same program, interpreted ufunc by ufunc) and a brute-force count.

from electionlib import _vote_kernels as VK  # noqa: E402


def numpy_path(fn):
    """``fn()`` with the count run by the numpy path (the compiled executor switched off)."""
    old = V.USE_VOTE_KERNEL
    try:
        V.USE_VOTE_KERNEL = False
        return fn()
    finally:
        V.USE_VOTE_KERNEL = old


def present_cases(rng, n, d):
    """(name, argument) for every kind of ``present``: None, (n,) masks (a few rows missing,
    all False, a single True) and a packed (n, nb) mask of random density."""
    rows = np.ones(n, bool)  # (few missing rows: the programs for n - 1, n - 2 are still cached)
    rows[rng.integers(n, size=rng.integers(1, 3))] = False
    one = np.zeros(n, bool)
    one[rng.integers(n)] = True
    dense = rng.random((n, d)) < rng.choice([0.2, 0.6, 0.9, 1.0])
    return [("none", None), ("rows", rows), ("no row", np.zeros(n, bool)), ("one row", one),
            ("packed", np.packbits(dense, axis=1))]


def test_compiled_count_is_the_numpy_count_for_every_n(monkeypatch):
    """Bit-identical gt and eq (count_compare and majority with ties) for n = 1..255, every
    kind of present, d odd, even, not a multiple of 8, and over many column blocks + a tail."""
    assert V._use_vote_kernel()
    monkeypatch.setattr(VK, "BLOCK_BYTES", 24)  # many blocks (and a tail) at a small d
    rng = np.random.default_rng(2024)
    dims = [1, 2, 7, 8, 9, 64, 130, 203, 8 * 24 * 3, 8 * 24 * 5 + 3, 1001]
    for n in range(1, 256):
        d = dims[n % len(dims)]
        votes = np.packbits(rng.random((n, d)) < rng.choice([0.5, 0.1, 0.9]), axis=1)
        votes.flags.writeable = False  # neither path may write into its input
        tail = V._tail_mask(d)
        for name, arg in present_cases(rng, n, d):
            fast = V.count_compare(votes, arg), V.majority(votes, d, arg, return_ties=True)
            gt, eq = numpy_path(lambda arg=arg, votes=votes: V.count_compare(votes, arg))
            gt_bits, eq_bits = gt.copy(), eq.copy()  # majority: the same, padding bits cleared
            gt_bits[-1] &= tail
            eq_bits[-1] &= tail
            for f, s in zip(fast, [(gt, eq), (gt_bits, eq_bits)], strict=True):
                np.testing.assert_array_equal(f[0], s[0], err_msg=f"gt n={n} d={d} {name}")
                np.testing.assert_array_equal(f[1], s[1], err_msg=f"eq n={n} d={d} {name}")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 15, 16, 49, 64, 101, 128, 200, 255])
def test_compiled_count_matches_brute_force(n, monkeypatch):
    """Against unpack-and-sum, including the gt-only program of majority(return_ties=False)
    and input rows given in reverse (a negative row stride, no copy)."""
    monkeypatch.setattr(VK, "BLOCK_BYTES", 40)
    rng = np.random.default_rng(n)
    d = 8 * 40 * 3 + 5
    s = rng.random((n, d)) < 0.5
    votes = np.packbits(s, axis=1)
    for name, arg in present_cases(rng, n, d):
        if arg is None:
            pres = np.ones((n, d), bool)
        elif arg.ndim == 1:
            pres = np.repeat(arg[:, None], d, axis=1)
        else:
            pres = np.unpackbits(arg, axis=1, count=d).astype(bool)
        want_gt, want_eq = reference_count_compare(s, pres)
        bits, ties = V.majority(votes, d, arg, return_ties=True)
        np.testing.assert_array_equal(np.unpackbits(bits, count=d).astype(bool), want_gt, name)
        np.testing.assert_array_equal(np.unpackbits(ties, count=d).astype(bool), want_eq, name)
        np.testing.assert_array_equal(V.majority(votes, d, arg), bits, name)
        rev = None if arg is None else arg[::-1]
        np.testing.assert_array_equal(V.majority(votes[::-1], d, rev, return_ties=True)[1],
                                      ties, name)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 101])
def test_compiled_count_in_threads_is_the_same(n, monkeypatch):
    """Columns shared between threads in chunks (of 64 bytes here, each of blocks of 40 and a
    tail): the same gt and eq as one thread and as the numpy path."""
    monkeypatch.setattr(VK, "BLOCK_BYTES", 40)
    monkeypatch.setattr(VK, "THREAD_MIN_BYTES", 1)
    monkeypatch.setattr(VK, "THREAD_CHUNK_BYTES", 64)
    rng = np.random.default_rng(n)
    d = 8 * 64 * 7 + 3
    votes = np.packbits(rng.random((n, d)) < 0.5, axis=1)
    monkeypatch.setattr(VK, "THREADS", None)  # the CPUs this process may run on, at most 2
    assert VK._threads(votes.nbytes, votes.shape[1]) == min(2, len(os.sched_getaffinity(0)))
    for name, arg in present_cases(rng, n, d):
        got = {}
        for threads in (1, 3):
            monkeypatch.setattr(VK, "THREADS", threads)
            assert VK._threads(votes.nbytes, votes.shape[1]) == threads
            got[threads] = V.count_compare(votes, arg)
        slow = numpy_path(lambda arg=arg: V.count_compare(votes, arg))
        for f in (got[1], got[3]):
            np.testing.assert_array_equal(f[0], slow[0], err_msg=f"gt n={n} {name}")
            np.testing.assert_array_equal(f[1], slow[1], err_msg=f"eq n={n} {name}")


def test_count_takes_the_numpy_path_when_the_kernel_is_off(monkeypatch):
    calls = []
    real_run, real_kernel = V._run, VK.run
    monkeypatch.setattr(V, "_run", lambda *a: calls.append("numpy") or real_run(*a))
    monkeypatch.setattr(VK, "run", lambda *a: calls.append("kernel") or real_kernel(*a))
    votes = V.pack(np.array([[1, 1, -1], [1, -1, -1], [-1, 1, -1]]))
    for use in (True, False):
        monkeypatch.setattr(V, "USE_VOTE_KERNEL", use)
        assert V.unpack(V.majority(votes, 3), 3).tolist() == [1, 1, -1]
    assert calls == ["kernel", "numpy"]


def test_count_without_numba_takes_the_numpy_path():
    import subprocess
    import sys

    code = ("import numpy as np; from electionlib import votes as V; "
            "b = V.pack(np.array([[1, -1, 1], [1, -1, -1], [-1, 1, -1]])); "
            "print(V._use_vote_kernel(), V.unpack(V.majority(b, 3), 3).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ELECTIONLIB_NUMBA": "0"})
    assert out.stdout.strip() == "False [1, -1, -1]"


def test_compiled_count_fuses_the_full_adders():
    """The carry-save network runs as fused full adders (about one op per vote), not 5 ops."""
    prog = V._kernel_program(101, False, False)
    fused = np.isin(prog.code, [VK.FA, VK.FA_S, VK.FA_Z, VK.FA_ZS, VK.MAJ, VK.MAJ_Z]).sum()
    assert fused >= 90 and prog.code.size <= 110
    assert prog.first.sum() == 101  # each vote row read (and prefetched) once


def test_full_adder_is_not_fused_when_its_scratch_row_is_read_later():
    # t = a ^ b; u = a & b; s = t ^ c; t &= c; u |= t -- then gt = t | s reads t: the five
    # ops must run one by one (a fused adder never writes t)
    X, A, O = VK.SRC_XOR, VK.SRC_AND, VK.SRC_OR
    a, b, c, t, s, u = 2, 3, 4, 5, 6, 7
    body = [(X, a, b, t), (A, a, b, u), (X, t, c, s), (A, t, c, t), (O, u, t, u)]
    rng = np.random.default_rng(3)
    votes = rng.integers(0, 256, size=(3, 50), dtype=np.uint8)
    cases = [([(O, t, s, 0), (A, u, u, 1)], False), ([(O, u, s, 0), (A, u, u, 1)], True)]
    for tail, fused in cases:
        prog = VK.program(body + tail, 3, False, 3)
        assert (VK.FA in prog.code) == fused
        gt, eq = np.empty(50, np.uint8), np.empty(50, np.uint8)
        VK.run(prog, votes, np.arange(3), None, gt, eq, block=16)
        ufunc = {X: np.bitwise_xor, A: np.bitwise_and, O: np.bitwise_or}
        want_gt, want_eq = np.empty(50, np.uint8), np.empty(50, np.uint8)
        V._run([(ufunc[f], x, y, o) for f, x, y, o in body + tail], 3, list(votes),
               want_gt, want_eq)
        np.testing.assert_array_equal(gt, want_gt)
        np.testing.assert_array_equal(eq, want_eq)


def test_compiled_executor_refuses_bad_operands():
    prog = V._kernel_program(3, True, True)
    votes = np.zeros((3, 4), np.uint8)
    gt, eq = np.empty(4, np.uint8), np.empty(4, np.uint8)
    with pytest.raises(ValueError, match="presence rows"):
        VK.run(prog, votes, np.arange(3), None, gt, eq)
    with pytest.raises(ValueError, match="writes eq"):
        VK.run(prog, votes, np.arange(3), votes, gt, None)
    with pytest.raises(ValueError, match="row indices"):
        VK.run(prog, votes, np.array([0, 1, 3]), votes, gt, eq)
    with pytest.raises(ValueError, match="unit column stride"):
        VK.run(prog, np.zeros((3, 8), np.uint8)[:, ::2], np.arange(3), votes, gt, eq)
    with pytest.raises(ValueError, match="input rows"):
        VK.program([(VK.SRC_AND, 0, 0, 2)], 3, False, 0)
