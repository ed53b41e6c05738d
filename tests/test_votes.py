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
