"""DRACO codes: Theorem 3.1 (r >= 2s+1), the repetition code (Theorem 3.2) and the
cyclic code (Lemmas 3.3-3.4, Algorithm 1, Theorem 3.5) recover the exact gradient
sum for ANY <= s adversarial workers, and a constructed attack breaks each at s+1."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from electionlib import draco

SIZES = (3, 5, 9, 15, 21)
REP_CONFIGS = [(P, s) for P in SIZES for s in (1, 2, 3) if P % (2 * s + 1) == 0]
CYC_CONFIGS = [(P, s) for P in SIZES for s in (1, 2, 3) if P >= 2 * s + 1]
ALL = [("repetition", P, s) for P, s in REP_CONFIGS] + [("cyclic", P, s) for P, s in CYC_CONFIGS]
FACTORY = {"repetition": draco.repetition, "cyclic": draco.cyclic}
RTOL = 1e-6


def make(name, P, s):
    return FACTORY[name](P, s)


def assert_sum(u, grads, rtol=RTOL):
    """``u`` equals ``grads.sum(0)`` to ``rtol`` relative to the gradients' norm."""
    truth = grads.sum(axis=0)
    assert u.shape == truth.shape
    err = np.linalg.norm(u - truth)
    assert err <= rtol * max(np.linalg.norm(grads), 1e-300), err


def rand_grads(rng, P, d):
    return rng.standard_normal((P, d)) * 10.0 ** rng.uniform(-4, 4)


def attack(rng, code, grads, msgs, nodes):
    """Overwrite ``msgs[nodes]`` with a random mix of adversarial behaviours."""
    P, d = grads.shape
    scale = np.abs(msgs).max() + 1.0
    other = code.encode(rand_grads(rng, P, d))
    cplx = np.iscomplexobj(msgs)
    for j in nodes:
        kind = rng.integers(9)
        if kind == 0:  # huge random values
            msgs[j] = rng.standard_normal(d) * scale * 10.0 ** rng.uniform(3, 15)
        elif kind == 1:  # small relative perturbation
            msgs[j] = msgs[j] + 1e-3 * scale * rng.standard_normal(d)
        elif kind == 2:  # NaN / inf somewhere
            msgs[j, rng.integers(d)] = rng.choice([np.nan, np.inf, -np.inf])
        elif kind == 3:  # silence
            msgs[j] = 0.0
        elif kind == 4:  # reversed message
            msgs[j] = -msgs[j] if np.any(msgs[j]) else 1.0
        elif kind == 5:  # honest-looking message of another worker
            msgs[j] = msgs[(j + 1 + rng.integers(P - 1)) % P] + (0 if cplx else scale)
        elif kind == 6:  # honest-looking message for a different gradient set
            msgs[j] = other[j]
        elif kind == 7:  # all NaN
            msgs[j] = np.nan
        else:  # arbitrary values of the message dtype
            noise = rng.standard_normal(d) + (1j * rng.standard_normal(d) if cplx else 0)
            msgs[j] = noise * scale
    return msgs


# --------------------------------------------------------------------------- theorem 3.1


def test_min_redundancy_is_2s_plus_1():
    assert [draco.min_redundancy(s) for s in range(6)] == [1, 3, 5, 7, 9, 11]
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="s="):
            draco.min_redundancy(bad)


@pytest.mark.parametrize("name,P,s", ALL)
def test_allocation_meets_the_bound(name, P, s):
    code = make(name, P, s)
    A = code.A
    assert A.shape == (P, P) and A.dtype == np.uint8
    assert set(np.unique(A)) <= {0, 1}
    assert code.r == draco.min_redundancy(s) == 2 * s + 1
    assert code.P == P and code.s == s
    assert code.loads.tolist() == [code.r] * P  # every node computes r gradients
    assert A.sum(axis=0).tolist() == [code.r] * P  # every gradient is computed r times
    assert A.sum() / P == code.r  # Definition 3.1: ||A||_0 / P
    for i in range(P):
        assert set(code.partitions(i)) == set(np.flatnonzero(A[i]).tolist())


@pytest.mark.parametrize("P,s", REP_CONFIGS)
def test_repetition_allocation_is_block_diagonal(P, s):
    code = draco.repetition(P, s)
    r = 2 * s + 1
    expected = np.kron(np.eye(P // r), np.ones((r, r)))
    np.testing.assert_array_equal(code.A, expected)
    for i in range(P):
        start = (i // r) * r
        assert code.partitions(i) == tuple(range(start, start + r))


@pytest.mark.parametrize("P,s", CYC_CONFIGS)
def test_cyclic_allocation_is_cyclic(P, s):
    code = draco.cyclic(P, s)
    for i in range(P):
        assert code.partitions(i) == tuple((i + a) % P for a in range(2 * s + 1))


# --------------------------------------------------------------------------- W of the cyclic code


def _paper_W(P, s):
    """W = [Q 1] C_L written out as polynomials: row k is prod_{a in alpha_k}(w^j - w^a)/sqrt(P)."""
    w = np.exp(2j * np.pi * np.arange(P) / P)
    W = np.zeros((P, P), dtype=complex)
    for k in range(P):
        alpha = [(k + 1 + a) % P for a in range(P - 2 * s - 1)]  # workers without g_k
        W[k] = np.prod(w[:, None] - w[alpha][None, :], axis=1) / np.sqrt(P)
    return W


@pytest.mark.parametrize("P,s", CYC_CONFIGS + [(7, 0), (30, 3)])
def test_cyclic_W_support_and_construction(P, s):
    code = draco.cyclic(P, s)
    W = code.W
    # W[k, j] != 0 exactly when worker j holds g_k (Lemma 3.3, first part)
    np.testing.assert_array_equal(W != 0, code.A.T.astype(bool))
    assert np.abs(W[code.A.T == 1]).min() > 1e-6 * np.abs(W).max()
    # the paper's linear solve for q_k agrees with the closed form
    np.testing.assert_allclose(W, _paper_W(P, s), rtol=0, atol=1e-9 * np.abs(W).max())
    # rows of W lie in the span of C_L: the last 2s DFT frequencies of any codeword vanish
    C = np.exp(2j * np.pi * np.outer(np.arange(P), np.arange(P)) / P) / np.sqrt(P)
    CR = C[P - 2 * s :]
    assert np.abs(W @ CR.conj().T).max(initial=0.0) <= 1e-12 * np.abs(W).max()
    assert np.linalg.matrix_rank(W) == P - 2 * s


@pytest.mark.parametrize("P,s", CYC_CONFIGS)
def test_honest_messages_span_the_sum(P, s):
    """Lemma 3.3: for every U with |U| >= P - 2s, 1_P is in the column span of W[:, U]."""
    W = draco.cyclic(P, s).W
    rng = np.random.default_rng(P * 10 + s)
    subsets = list(itertools.combinations(range(P), P - 2 * s))
    if len(subsets) > 200:
        subsets = [tuple(sorted(rng.choice(P, P - 2 * s, replace=False))) for _ in range(200)]
    for U in subsets:
        b = np.linalg.lstsq(W[:, list(U)], np.ones(P), rcond=None)[0]
        assert np.abs(W[:, list(U)] @ b - 1).max() < 1e-8


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("name,P,s", ALL)
def test_encode_node_matches_encode_bit_for_bit(name, P, s):
    code = make(name, P, s)
    grads = np.random.default_rng(1).standard_normal((P, 9))
    msgs = code.encode(grads)
    for i in range(P):
        local = grads[list(code.partitions(i))]
        np.testing.assert_array_equal(code.encode_node(i, local), msgs[i])


def test_shapes_and_dtypes():
    rng = np.random.default_rng(2)
    g64 = rng.standard_normal((9, 5))
    rep, cyc = draco.repetition(9, 1), draco.cyclic(9, 1)
    assert rep.encode(g64).dtype == np.float64 and rep.encode(g64).shape == (9, 5)
    assert rep.encode(g64.astype(np.float32)).dtype == np.float32
    assert rep.decode(rep.encode(g64.astype(np.float32))).dtype == np.float32
    assert rep.encode(np.ones((9, 2), dtype=int)).dtype == np.float64
    msgs = cyc.encode(g64)
    assert msgs.dtype == np.complex128 and msgs.shape == (9, 5)
    assert cyc.encode(g64.astype(np.float32)).dtype == np.complex128
    u = cyc.decode(msgs)
    assert u.dtype == np.float64 and u.shape == (5,)
    assert rep.decode(rep.encode(g64)).shape == (5,)
    # repetition messages are the group sums, equal within a group
    np.testing.assert_array_equal(rep.encode(g64)[:3], np.tile(g64[:3].sum(0), (3, 1)))


@pytest.mark.parametrize("name", ["repetition", "cyclic"])
def test_inputs_are_not_modified(name):
    code = make(name, 9, 1)
    grads = np.random.default_rng(3).standard_normal((9, 4))
    msgs = code.encode(grads)
    msgs[0] = np.nan
    before = msgs.copy()
    code.decode(msgs)
    np.testing.assert_array_equal(msgs, before)


# --------------------------------------------------------------------------- exact recovery


@pytest.mark.parametrize("name,P,s", ALL)
@pytest.mark.parametrize("d", [1, 7, 100])
def test_recovers_sum_without_adversaries(name, P, s, d):
    code = make(name, P, s)
    grads = rand_grads(np.random.default_rng(d), P, d)
    rep = code.decode_report(code.encode(grads))
    assert rep.ok and rep.rejected == ()
    assert_sum(rep.u, grads)


@pytest.mark.parametrize("name,P,s", ALL)
@pytest.mark.parametrize("d", [1, 7, 100])
def test_recovers_sum_with_any_s_random_adversaries(name, P, s, d):
    code = make(name, P, s)
    rng = np.random.default_rng([P, s, d, len(name)])
    for _ in range(12):
        grads = rand_grads(rng, P, d)
        msgs = code.encode(grads)
        honest = msgs.copy()
        nodes = rng.choice(P, rng.integers(0, s + 1), replace=False)
        msgs = attack(rng, code, grads, msgs, nodes)
        changed = {j for j in range(P) if msgs[j].tobytes() != honest[j].tobytes()}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # never a RuntimeWarning, never a crash
            rep = code.decode_report(msgs)
        assert rep.ok
        assert_sum(rep.u, grads)
        if name == "repetition":
            assert set(rep.rejected) == changed
        else:
            assert set(rep.rejected) <= changed


@pytest.mark.parametrize("name,P,s", [("repetition", 15, 2), ("cyclic", 15, 2)])
@pytest.mark.parametrize("exponent", [-12, -6, 0, 6, 12])
def test_recovery_is_scale_free(name, P, s, exponent):
    code = make(name, P, s)
    rng = np.random.default_rng(exponent + 20)
    grads = rng.standard_normal((P, 6)) * 10.0**exponent
    msgs = code.encode(grads)
    msgs[[3, 11]] = msgs[[4, 12]] * 3
    assert_sum(code.decode(msgs), grads)


def test_nonfinite_and_overflowing_messages_are_adversarial():
    rng = np.random.default_rng(4)
    for code in (draco.repetition(15, 2), draco.cyclic(15, 2)):
        grads = rng.standard_normal((15, 8))
        for bad in (np.nan, np.inf, -np.inf, 1e300, -1.7e308):
            msgs = code.encode(grads)
            msgs[[0, 7]] = bad
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                rep = code.decode_report(msgs)
            assert rep.ok and rep.rejected == (0, 7)
            assert_sum(rep.u, grads)


# ---------------------------------------------------------------- constructed adversaries


@pytest.mark.parametrize("P,s", REP_CONFIGS)
def test_repetition_s_colluders_in_one_group_are_outvoted(P, s):
    code = draco.repetition(P, s)
    rng = np.random.default_rng(P + s)
    grads = rng.standard_normal((P, 5))
    msgs = code.encode(grads)
    r = code.r
    g = code.n_groups - 1
    colluders = list(range(g * r, g * r + s))
    other = rng.standard_normal((P, 5))  # the same plausible but wrong group sum
    msgs[colluders] = code.encode(other)[g * r]
    rep = code.decode_report(msgs)
    assert rep.ok and rep.rejected == tuple(colluders)
    assert_sum(rep.u, grads)


@pytest.mark.parametrize("P,s", REP_CONFIGS)
def test_repetition_breaks_at_s_plus_1_colluders(P, s):
    code = draco.repetition(P, s)
    rng = np.random.default_rng(P * s)
    grads = rng.standard_normal((P, 5))
    msgs = code.encode(grads)
    r = code.r
    wrong = rng.standard_normal(5) * 100
    msgs[: s + 1] = wrong  # s+1 colluders in group 0 agree on one wrong sum
    rep = code.decode_report(msgs)
    assert rep.ok  # undetectable: a strict majority agrees
    assert rep.rejected == tuple(range(s + 1, r))  # the honest minority is overruled
    np.testing.assert_allclose(rep.u, grads.sum(0) - grads[:r].sum(0) + wrong, rtol=1e-12)
    assert not np.allclose(rep.u, grads.sum(0))


@pytest.mark.parametrize("P,s", REP_CONFIGS)
def test_repetition_without_majority_falls_back_to_median(P, s):
    code = draco.repetition(P, s)
    rng = np.random.default_rng(7)
    grads = rng.standard_normal((P, 4))
    msgs = code.encode(grads)
    msgs[: s + 1] = rng.standard_normal((s + 1, 4)) * 1e6  # s+1 distinct wrong values
    msgs[s + 1] = np.nan  # and one more that is not even finite
    rep = code.decode_report(msgs)
    assert not rep.ok
    assert (s + 1) in rep.rejected
    r = code.r
    finite = [i for i in range(r) if i != s + 1]
    expected = np.median(msgs[finite], axis=0) + grads[r:].sum(0)
    np.testing.assert_allclose(rep.u, expected, rtol=1e-9)
    # a whole group of non-finite messages: zeros for that group, no crash
    msgs[:r] = np.nan
    rep = code.decode_report(msgs)
    assert not rep.ok and np.all(np.isfinite(rep.u))


def _fake_gradient_attack(code, msgs, k, x, n_liars):
    """``n_liars`` holders of g_k send what they would send if g_k were g_k + x."""
    P, s = code.P, code.s
    holders = [(k - a) % P for a in range(2 * s + 1)]
    liars = holders[:n_liars]
    for j in liars:
        msgs[j] = msgs[j] + code.W[k, j] * x
    return liars, holders[n_liars:]


@pytest.mark.parametrize("P,s", CYC_CONFIGS)
def test_cyclic_s_colluders_faking_a_gradient_are_caught(P, s):
    code = draco.cyclic(P, s)
    rng = np.random.default_rng(P + 100 * s)
    for k in range(P):
        grads = rng.standard_normal((P, 6))
        msgs = code.encode(grads)
        liars, _ = _fake_gradient_attack(code, msgs, k, rng.standard_normal(6) * 10, s)
        rep = code.decode_report(msgs)
        assert rep.ok and set(rep.rejected) == set(liars)
        assert_sum(rep.u, grads)


@pytest.mark.parametrize("P,s", CYC_CONFIGS)
def test_cyclic_breaks_at_s_plus_1_colluders(P, s):
    """s+1 holders of g_k agree on g_k + x: indistinguishable from s honest 'errors'."""
    code = draco.cyclic(P, s)
    rng = np.random.default_rng(P + 1000 * s)
    grads = rng.standard_normal((P, 6))
    msgs = code.encode(grads)
    x = rng.standard_normal(6) * 10
    _, honest_holders = _fake_gradient_attack(code, msgs, 2 % P, x, s + 1)
    rep = code.decode_report(msgs)
    assert rep.ok  # undetectable at s+1 (Theorem 3.1)
    assert set(rep.rejected) == set(honest_holders)
    np.testing.assert_allclose(rep.u, grads.sum(0) + x, rtol=1e-6, atol=1e-6)
    assert not np.allclose(rep.u, grads.sum(0))


@pytest.mark.parametrize("P,s", [(5, 1), (9, 2), (15, 2), (21, 3)])
def test_cyclic_random_excess_adversaries_are_detected(P, s):
    code = draco.cyclic(P, s)
    rng = np.random.default_rng(P * s + 5)
    for extra in (1, 2):
        for _ in range(10):
            grads = rng.standard_normal((P, 5))
            msgs = code.encode(grads)
            nodes = rng.choice(P, s + extra, replace=False)
            msgs[nodes] += 10 * rng.standard_normal((s + extra, 5))
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                rep = code.decode_report(msgs)
            assert not rep.ok  # flagged: the fallback value carries no guarantee
            assert rep.u.shape == (5,)


@pytest.mark.parametrize("P,s", [(9, 3), (15, 2), (21, 3)])
def test_cyclic_colluders_and_mixed_scales(P, s):
    code = draco.cyclic(P, s)
    rng = np.random.default_rng(P + s + 9)
    for trial in range(10):
        grads = rng.standard_normal((P, 7))
        msgs = code.encode(grads)
        scale = np.abs(msgs).max()
        j0 = rng.integers(P)
        nodes = [(j0 + a) % P for a in range(s)]  # adjacent adversaries
        if trial % 2:
            msgs[nodes] = rng.standard_normal(7) * 1e3  # all send the same vector
        else:
            msgs[nodes[0]] += 1e12 * rng.standard_normal(7)  # a huge one hides small ones
            msgs[nodes[1:]] += 1e-4 * scale * rng.standard_normal((s - 1, 7))
        rep = code.decode_report(msgs)
        assert rep.ok
        assert_sum(rep.u, grads)


def test_cyclic_honest_looking_messages_for_other_gradients():
    code = draco.cyclic(21, 3)
    rng = np.random.default_rng(11)
    grads = rng.standard_normal((21, 10))
    msgs = code.encode(grads)
    shifted = code.encode(np.roll(grads, 1, axis=0))
    msgs[[0, 5, 6]] = shifted[[0, 5, 6]]  # right coefficients, wrong gradients
    msgs[10] = msgs[11]  # another worker's genuine message
    rep = code.decode_report(msgs)
    assert not rep.ok or not np.allclose(rep.u, grads.sum(0))  # 4 > s liars
    msgs = code.encode(grads)
    msgs[[0, 5, 10]] = shifted[[0, 5, 10]]
    rep = code.decode_report(msgs)
    assert rep.ok and rep.rejected == (0, 5, 10)
    assert_sum(rep.u, grads)


# --------------------------------------------------------------------------- arbitrary values


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_values_from_s_adversaries_hypothesis(data):
    name, P, s = data.draw(st.sampled_from(ALL))
    d = data.draw(st.integers(1, 4))
    code = make(name, P, s)
    seed = data.draw(st.integers(0, 2**32 - 1))
    grads = np.random.default_rng(seed).standard_normal((P, d))
    msgs = code.encode(grads)
    nodes = data.draw(st.lists(st.integers(0, P - 1), max_size=s, unique=True))
    for j in nodes:
        values = data.draw(st.lists(finite_or_not, min_size=d, max_size=d))
        msgs[j] = values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = code.decode_report(msgs)
    assert rep.ok
    assert_sum(rep.u, grads)


# --------------------------------------------------------------------------- the decoder itself


def test_cyclic_decode_is_independent_of_the_projections():
    rng = np.random.default_rng(12)
    grads = rng.standard_normal((15, 30))
    msgs = draco.cyclic(15, 2).encode(grads)
    msgs[[2, 9]] = rng.standard_normal((2, 30))
    u0 = draco.cyclic(15, 2, rng=0).decode(msgs)
    u1 = draco.cyclic(15, 2, rng=np.random.default_rng(99)).decode(msgs)
    np.testing.assert_array_equal(u0, u1)  # same honest set -> same arithmetic
    code = draco.cyclic(15, 2, rng=5)
    np.testing.assert_array_equal(code.decode(msgs), code.decode(msgs))


def test_large_d_is_vectorised():
    rng = np.random.default_rng(13)
    P, s, d = 21, 3, 200_000
    grads = rng.standard_normal((P, d))
    for code in (draco.repetition(P, s), draco.cyclic(P, s)):
        msgs = code.encode(grads)
        msgs[[1, 8, 15]] = rng.standard_normal((3, d))
        assert_sum(code.decode(msgs), grads)


def test_s_zero_codes_are_plain_sums():
    grads = np.random.default_rng(14).standard_normal((4, 3))
    for code in (draco.repetition(4, 0), draco.cyclic(4, 0)):
        assert code.r == 1
        np.testing.assert_array_equal(code.A, np.eye(4))
        assert_sum(code.decode(code.encode(grads)), grads, rtol=1e-12)


# --------------------------------------------------------------------------- invalid arguments


@pytest.mark.parametrize("P", [0, -3, 2.0, "9", None, True])
@pytest.mark.parametrize("factory", [draco.repetition, draco.cyclic])
def test_invalid_P(factory, P):
    with pytest.raises(ValueError, match="P="):
        factory(P, 1)


@pytest.mark.parametrize("s", [-1, 1.5, "1", None, True])
@pytest.mark.parametrize("factory", [draco.repetition, draco.cyclic])
def test_invalid_s(factory, s):
    with pytest.raises(ValueError, match="s="):
        factory(9, s)


def test_repetition_needs_multiple_of_r_and_suggests_one():
    with pytest.raises(ValueError, match=r"P=10 .*r=2s\+1=3.*nearest valid P: 9 or 12"):
        draco.repetition(10, 1)
    with pytest.raises(ValueError, match=r"P=3 .*r=2s\+1=5.*nearest valid P: 5"):
        draco.repetition(3, 2)


def test_cyclic_needs_P_at_least_2s_plus_1():
    with pytest.raises(ValueError, match=r"P=4 must be >= 2s\+1 = 5"):
        draco.cyclic(4, 2)
    draco.cyclic(5, 2)


@pytest.mark.parametrize("tol", [0, 1, -1e-9, float("nan"), "1e-9"])
def test_invalid_tol(tol):
    with pytest.raises(ValueError, match="tol="):
        draco.cyclic(9, 1, tol=tol)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"projections": 0}, "projections="),
        ({"projections": 65}, "projections="),
        ({"rng": -1}, "rng="),
        ({"rng": None}, "rng="),
    ],
)
def test_invalid_cyclic_options(kw, match):
    with pytest.raises(ValueError, match=match):
        draco.cyclic(9, 1, **kw)


BAD_SHAPES = [(8, 3), (10, 3), (9,), (9, 0), (9, 3, 1), ()]


@pytest.mark.parametrize("name", ["repetition", "cyclic"])
@pytest.mark.parametrize("shape", BAD_SHAPES)
def test_wrong_shapes(name, shape):
    code = make(name, 9, 1)
    with pytest.raises(ValueError, match="grads"):
        code.encode(np.zeros(shape))
    with pytest.raises(ValueError, match="received"):
        code.decode(np.zeros(shape))


@pytest.mark.parametrize("name", ["repetition", "cyclic"])
def test_wrong_dtypes(name):
    code = make(name, 9, 1)
    with pytest.raises(ValueError, match="grads"):
        code.encode(np.zeros((9, 2), dtype=complex))
    with pytest.raises(ValueError, match="grads"):
        code.encode(np.full((9, 2), "x"))
    with pytest.raises(ValueError, match="received"):
        code.decode(np.full((9, 2), "x"))
    if name == "repetition":
        with pytest.raises(ValueError, match="received"):
            code.decode(np.zeros((9, 2), dtype=complex))


@pytest.mark.parametrize("name", ["repetition", "cyclic"])
def test_invalid_node_arguments(name):
    code = make(name, 9, 1)
    for i in (-1, 9, 1.0):
        with pytest.raises(ValueError, match="i="):
            code.partitions(i)
        with pytest.raises(ValueError, match="i="):
            code.encode_node(i, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="local"):
        code.encode_node(0, np.zeros((2, 2)))
