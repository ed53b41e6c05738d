"""Tests for the pre-aggregators of electionlib.aggregators (NNM and bucketing) and their
composition with every rule through ``get(name, pre=...)``.

Layout: the API (names, reprs, parameters, errors); hand-computed NNM cases; bucketing's
permutation stream and its exact cases (s = 1, s >= n); state, bounds and ``for_rows`` of
compositions; robustness on a heterogeneous example. The registry-wide properties of the
compositions (shape, dtype, invariances, robustness at the bound, attacks past it) run in
test_aggregators.py beside those of the bare rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from electionlib import aggregators as A

TAKES_F = tuple(name for name in A.NAMES if "f" in A.REGISTRY[name].PARAMS)
NO_F = tuple(name for name in A.NAMES if name not in TAKES_F)


def composed(name: str, pre: str, **params) -> A.Aggregator:
    """``name`` composed with ``pre`` at the defaults (NNM at f = 1)."""
    if pre == "nnm":
        params.setdefault("f", 1)
    return A.get(name, pre=pre, **params)


# ------------------------------------------------------------------ API


def test_names_and_exports():
    assert A.PRE_AGGREGATORS == ("nnm", "bucketing")
    for name in ("PRE_AGGREGATORS", "PreAggregator", "NNM", "Bucketing", "PreAggregated"):
        assert name in A.__all__
    for cls in (A.NNM, A.Bucketing, A.PreAggregated):
        assert cls.__doc__ and "Example" in cls.__doc__ and "Reference" in cls.__doc__


def test_reprs():
    assert repr(A.get("centered_clipping", pre="nnm", f=2)) == (
        "NNM(f=2) -> CenteredClipping(tau=10.0, iterations=1)")
    assert repr(A.get("median", pre="bucketing", s=2, seed=0)) == (
        "Bucketing(s=2, seed=0) -> Median()")
    assert repr(A.get("krum", pre="nnm")) == "NNM(f=1) -> Krum(f=1)"  # the rule's own f
    assert repr(A.get("multi_krum", pre="bucketing", f=2, s=3, seed=5)) == (
        "Bucketing(s=3, seed=5) -> MultiKrum(f=2, m=None)")
    assert repr(A.get("bulyan", pre="nnm", f=2)) == "NNM(f=2) -> Bulyan(f=2)"
    assert repr(A.get("median", pre="bucketing")) == "Bucketing(s=2, seed=0) -> Median()"


@pytest.mark.parametrize("name", A.NAMES)
def test_pre_none_is_the_bare_rule(name):
    agg = A.get(name, pre=None)
    assert type(agg) is A.REGISTRY[name] and repr(agg) == repr(A.get(name))


@pytest.mark.parametrize("pre", A.PRE_AGGREGATORS)
@pytest.mark.parametrize("name", A.NAMES)
def test_composition_is_an_aggregator_with_scalar_parameters(name, pre):
    agg = composed(name, pre)
    assert isinstance(agg, A.Aggregator) and isinstance(agg, A.PreAggregated)
    assert isinstance(agg.rule, A.REGISTRY[name])
    params = agg._params()
    assert params["pre"] == pre
    assert all(val is None or isinstance(val, (str, int, float)) for val in params.values())
    # the parameters rebuild it, as a run's config does from its (name, value) pairs
    pairs = tuple(params.items())
    assert repr(A.get(name, **dict(pairs))) == repr(agg)


BAD = [
    ({"name": "median", "pre": "nnm"}, r"pre='nnm' needs f"),
    ({"name": "mean", "pre": "nnm"}, r"pre='nnm' needs f"),
    ({"name": "median", "pre": "nnx"}, r"pre='nnx' must be one of \['bucketing', 'nnm'\]"),
    ({"name": "median", "pre": 1}, r"pre=1 must be one of"),
    ({"name": "median", "pre": "bucketing", "s": 0}, r"\bs=0 must be an integer >= 1"),
    ({"name": "median", "pre": "bucketing", "s": -2}, r"\bs=-2 must be an integer >= 1"),
    ({"name": "median", "pre": "bucketing", "s": 1.5}, r"\bs=1.5 must be an integer"),
    ({"name": "median", "pre": "bucketing", "seed": -1}, r"\bseed=-1 must be an integer >= 0"),
    ({"name": "median", "pre": "bucketing", "seed": "0"}, r"\bseed='0' must be an integer"),
    ({"name": "median", "s": 2}, r"\bs=2 is a parameter of pre='bucketing' only, got pre=None"),
    ({"name": "krum", "seed": 0}, r"\bseed=0 is a parameter of pre='bucketing' only"),
    ({"name": "median", "pre": "nnm", "f": 1, "s": 2}, r"\bs=2 .*got pre='nnm'"),
    ({"name": "median", "pre": "bucketing", "f": 1}, r"\bf=1 is not a parameter of 'median' "
                                                     r"with pre='bucketing'"),
    ({"name": "median", "f": 1}, r"\bf=1 is not a parameter of 'median'.*pre='nnm'"),
    ({"name": "median", "pre": "nnm", "f": -1}, r"\bf=-1 must be an integer >= 0"),
    ({"name": "krum", "pre": "nnm", "f": 1.5}, r"\bf=1.5 must be an integer"),
    ({"name": "krum", "pre": "nnm", "g": 1}, r"\bg=1 is not a parameter of 'krum' with pre='nnm'"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD)
def test_invalid_compositions_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A.get(**kwargs)


def test_composition_needs_one_bare_rule_and_one_f():
    with pytest.raises(ValueError, match=r"\bf: NNM\(f=2\) and Krum\(f=1\) must share one f"):
        A.PreAggregated(A.NNM(f=2), A.get("krum", f=1))
    with pytest.raises(ValueError, match=r"\bpre="):
        A.PreAggregated(A.get("median"), A.get("median"))
    with pytest.raises(ValueError, match=r"\brule="):
        A.PreAggregated(A.NNM(f=1), A.get("median", pre="nnm", f=1))


def test_too_few_rows_raise_naming_f_and_n():
    with pytest.raises(ValueError, match=r"NNM\(f=3\) -> Median\(\) needs n >= 4 .*n > f.*n=3"):
        A.get("median", pre="nnm", f=3)(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"Krum\(f=1\) needs n >= 9 .*ceil\(n/2\) >= 5 bucket "
                                         r"means.*n > 2f \+ 2.*n=8"):
        A.get("krum", pre="bucketing", f=1)(np.zeros((8, 2)))
    with pytest.raises(ValueError, match=r"NNM\(f=2\) needs n >= 3 input rows, got n=2"):
        A.NNM(f=2)(np.zeros((2, 2)))


# ------------------------------------------------------------------ NNM, by hand


def test_nnm_hand_4x1():
    x = np.array([[0.0], [1.0], [3.0], [10.0]])
    # f = 1: n - f = 3 rows each, the row itself first
    #   0  : 0, 1 (d^2 1), 3 (9)          -> 4/3
    #   1  : 1, 0 (1), 3 (4)              -> 4/3
    #   3  : 3, 1 (4), 0 (9)  [10: 49]    -> 4/3
    #   10 : 10, 3 (49), 1 (81)           -> 14/3
    np.testing.assert_allclose(A.NNM(f=1)(x), [[4 / 3], [4 / 3], [4 / 3], [14 / 3]])
    w = A.NNM(f=1).weights(x)
    np.testing.assert_allclose(w * 3, [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 1, 1, 1]])
    # then the rule: median of 4/3, 4/3, 4/3, 14/3
    np.testing.assert_allclose(A.get("median", pre="nnm", f=1)(x), [4 / 3])
    # f = 0: every row mixes all n rows -> the mean, whatever the rule
    np.testing.assert_allclose(A.NNM(f=0)(x), np.full((4, 1), 3.5))
    # f = n - 1: each row is its own only neighbour -> the identity
    np.testing.assert_array_equal(A.NNM(f=3)(x), x)


def test_nnm_hand_ties_go_to_the_lower_index():
    x = np.array([[0.0], [2.0], [4.0], [6.0]])
    # f = 2: the row and its nearest other row; 2 is at d^2 4 from 0 and from 4 -> row 0;
    # 4 is at d^2 4 from 2 and from 6 -> row 1 (the value 2)
    np.testing.assert_array_equal(A.NNM(f=2)(x), [[1.0], [1.0], [3.0], [5.0]])


def test_nnm_hand_5x2():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [6.0, 5.0]])
    # f = 2: 3 rows each.
    #   (0,0): itself, (1,0) 1, (0,1) 1                              -> (1/3, 1/3)
    #   (1,0): itself, (0,0) 1, (0,1) 2                              -> (1/3, 1/3)
    #   (0,1): itself, (0,0) 1, (1,0) 2                              -> (1/3, 1/3)
    #   (5,5): itself, (6,5) 1, then (1,0) and (0,1) tie at 41 -> row 1 -> (4, 10/3)
    #   (6,5): itself, (5,5) 1, then (1,0) 50 [(0,1) 52, (0,0) 61]      -> (4, 10/3)
    want = [[1 / 3, 1 / 3]] * 3 + [[4.0, 10 / 3]] * 2
    np.testing.assert_allclose(A.NNM(f=2)(x), want, rtol=1e-15)
    # the median of the mixed rows: three at 1/3 -> (1/3, 1/3), although the raw
    # coordinate-wise median is (1, 1)
    np.testing.assert_allclose(A.get("median", pre="nnm", f=2)(x), [1 / 3, 1 / 3], rtol=1e-15)
    np.testing.assert_array_equal(A.get("median")(x), [1.0, 1.0])


def test_nnm_includes_the_row_itself_beside_a_duplicate():
    x = np.array([[1.0], [1.0], [5.0]])
    # f = 2: a single neighbour, the row itself (not the lower-index duplicate)
    np.testing.assert_array_equal(A.NNM(f=2).weights(x), np.eye(3))


def test_nnm_non_finite_rows_are_never_neighbours():
    x = np.array([[0.0], [1.0], [np.nan], [10.0]])
    # f = 1: each finite row averages the 3 finite rows; the NaN row passes through
    out = A.NNM(f=1)(x)
    np.testing.assert_allclose(out[[0, 1, 3]], np.full((3, 1), 11 / 3))
    assert np.isnan(out[2, 0])
    # the median orders NaN as +inf: 11/3 (three times) and +inf -> 11/3
    np.testing.assert_allclose(A.get("median", pre="nnm", f=1)(x), [11 / 3])
    # the mean propagates it, as the bare mean does
    assert np.isnan(A.get("mean", pre="nnm", f=1)(x)).all()
    # fewer finite rows than n - f: a finite row averages the finite rows it has
    y = np.array([[0.0, 1.0], [np.inf, 0.0], [np.nan, np.nan], [2.0, 3.0]])
    out = A.NNM(f=1)(y)
    np.testing.assert_array_equal(out[[0, 3]], [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(out[[1, 2]], y[[1, 2]])
    w = A.NNM(f=1).weights(y)
    np.testing.assert_array_equal(w.sum(axis=1), np.ones(4))
    # no finite row at all: everything passes through
    z = np.full((3, 2), np.nan)
    assert np.isnan(A.NNM(f=1)(z)).all()


def test_nnm_huge_finite_rows_are_far_not_broken():
    # float32 rows whose squares overflow float32 (distances are float64) and float64 rows
    # whose squares overflow float64 (distance +inf): both stay out of the honest rows' sets
    honest = np.random.default_rng(0).standard_normal((5, 3))
    for big, dtype in ((1e30, np.float32), (1e200, np.float64)):
        x = np.vstack([honest, np.full((2, 3), big)]).astype(dtype)
        out = A.NNM(f=2)(x)
        assert out.dtype == dtype
        np.testing.assert_allclose(out[:5], np.tile(honest.mean(0), (5, 1)).astype(dtype),
                                   rtol=1e-6)


def test_nnm_is_permutation_equivariant(rng):
    x = rng.standard_normal((11, 6))
    x[:3] += 4.0
    perm = rng.permutation(11)
    for f in range(0, 5):
        np.testing.assert_allclose(A.NNM(f=f)(x[perm]), A.NNM(f=f)(x)[perm], rtol=1e-12)
        w, wp = A.NNM(f=f).weights(x), A.NNM(f=f).weights(x[perm])
        np.testing.assert_array_equal(wp, w[np.ix_(perm, perm)])


def test_nnm_weights_are_row_stochastic_with_n_minus_f_entries(rng):
    x = rng.standard_normal((9, 4))
    for f in range(9):
        w = A.NNM(f=f).weights(x)
        np.testing.assert_allclose(w.sum(axis=1), 1.0)
        assert (np.count_nonzero(w, axis=1) == 9 - f).all()
        assert (np.diagonal(w) > 0).all()  # the row itself is always in its set


# ------------------------------------------------------------------ bucketing


def test_bucketing_permutations_are_the_seeded_stream(rng):
    n, s, seed = 7, 3, 11
    gen = np.random.default_rng(seed)
    pre = A.Bucketing(s=s, seed=seed)
    assert pre.last_permutation is None
    for _ in range(4):  # call t uses the t-th permutation of default_rng(seed)
        x = rng.standard_normal((n, 2))
        y = pre(x)
        perm = gen.permutation(n)
        np.testing.assert_array_equal(pre.last_permutation, perm)
        # buckets {perm[0:3]}, {perm[3:6]}, {perm[6]}: the last one averages its one row
        want = [x[perm[0:3]].mean(0), x[perm[3:6]].mean(0), x[perm[6]]]
        np.testing.assert_allclose(y, want, rtol=1e-15)
    pre.reset()
    pre(x)
    np.testing.assert_array_equal(pre.last_permutation, np.random.default_rng(seed).permutation(n))


def test_bucketing_seeds_give_different_permutations():
    p0 = A.Bucketing(seed=0)
    p0(np.zeros((10, 1)))
    p1 = A.Bucketing(seed=1)
    p1(np.zeros((10, 1)))
    assert p0.last_permutation.tolist() == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    assert p1.last_permutation.tolist() != p0.last_permutation.tolist()


def test_bucketing_rows_and_bounds():
    pre = A.Bucketing(s=3)
    assert [pre.rows(n) for n in (1, 2, 3, 4, 6, 7)] == [1, 1, 1, 2, 2, 3]
    assert [pre.min_n(k) for k in (1, 2, 3, 5)] == [1, 4, 7, 13]  # ceil(n/3) >= k
    for k in range(1, 8):
        assert pre.rows(pre.min_n(k)) == k and pre.rows(pre.min_n(k) - 1) == k - 1


@pytest.mark.parametrize("name", A.NAMES)
def test_bucketing_with_s_one_is_the_rule_on_the_permuted_rows(name, rng):
    x = rng.standard_normal((9, 5))
    x[0] += 6.0
    agg = A.get(name, pre="bucketing", s=1, seed=3)
    out = agg(x)
    perm = np.random.default_rng(3).permutation(9)
    np.testing.assert_array_equal(agg.pre.last_permutation, perm)
    np.testing.assert_array_equal(out, A.get(name)(x[perm]))
    if name != "brsgd":  # BrSGD breaks score ties by row index
        np.testing.assert_allclose(out, A.get(name)(x), rtol=1e-10, atol=1e-12)


# rules that take one row (with f = 0 where they take f): the rule of one row is that row
ONE_ROW = ("mean", "median", "trimmed_mean", "geometric_median", "centered_clipping", "brsgd")


@pytest.mark.parametrize("name", ONE_ROW)
@pytest.mark.parametrize("s", [9, 10, 100])
def test_bucketing_with_s_at_least_n_is_the_mean(name, s, rng):
    x = rng.standard_normal((9, 5)) * 3
    params = {"f": 0} if name in TAKES_F else {}
    agg = A.get(name, pre="bucketing", s=s, **params)
    np.testing.assert_allclose(agg.pre(x), x.mean(axis=0, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(agg(x), x.mean(axis=0), rtol=1e-14)


def test_bucketing_non_finite_row_spoils_only_its_bucket():
    x = np.array([[0.0], [1.0], [2.0], [np.nan], [4.0], [5.0]])
    pre = A.Bucketing(s=2, seed=0)
    y = pre(x)
    holder = int(np.flatnonzero(pre.last_permutation == 3)[0]) // 2
    assert np.isnan(y[holder]).all() and np.isfinite(np.delete(y, holder, axis=0)).all()


def test_bucketing_float32_in_float32_out(rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = A.Bucketing(s=3)(x)
    assert y.dtype == np.float32 and y.shape == (3, 3)
    assert A.get("median", pre="bucketing")(x).dtype == np.float32


# ------------------------------------------------------------------ compositions: state, bounds


def test_centered_clipping_stays_stateful_after_nnm():
    agg = A.get("centered_clipping", pre="nnm", f=1, tau=2.0)
    x = np.array([[0.0], [1.0], [3.0], [10.0]])
    # mixed rows 4/3, 4/3, 4/3, 14/3; call 1: v = median = 4/3, steps 0, 0, 0, clip(10/3) = 2
    np.testing.assert_allclose(agg(x), [4 / 3 + 2 / 4])
    # call 2 from v = 11/6: steps -1/2 (three times), clip(17/6) = 2 -> v + 1/8
    np.testing.assert_allclose(agg(x), [11 / 6 + 1 / 8])
    agg.reset()
    np.testing.assert_allclose(agg(x), [4 / 3 + 2 / 4])
    with pytest.raises(ValueError, match=r"d=2.*reset"):
        agg(np.zeros((4, 2)))


def test_reset_restarts_the_bucketing_stream_and_the_rule_state(rng):
    xs = [rng.standard_normal((10, 3)) for _ in range(3)]
    agg = A.get("centered_clipping", pre="bucketing", tau=0.5)
    first = [agg(x) for x in xs]
    agg.reset()
    np.testing.assert_array_equal([agg(x) for x in xs], first)
    # what the MPI server does: one probe call, reset, then the run -- the same as no probe
    fresh = A.get("centered_clipping", pre="bucketing", tau=0.5)
    fresh(np.zeros((10, 3)))
    fresh.reset()
    np.testing.assert_array_equal([fresh(x) for x in xs], first)


def test_a_call_that_raises_draws_no_permutation(rng):
    agg = A.get("krum", pre="bucketing", f=1)
    with pytest.raises(ValueError, match="n=8"):
        agg(np.zeros((8, 2)))
    agg(rng.standard_normal((9, 2)))
    np.testing.assert_array_equal(agg.pre.last_permutation, np.random.default_rng(0).permutation(9))


def test_requires_and_min_n_of_compositions():
    # NNM: the rule's bound (and n > f)
    for name in A.NAMES[1:]:
        for f in range(3):
            assert A.requires(name, f, pre="nnm") == A.requires(name, f)
    assert A.get("median", pre="nnm", f=3).min_n(0) == 4  # n > f for the mixing
    # bucketing: ceil(n/s) >= the rule's bound
    assert A.requires("krum", 1, pre="bucketing") == 9  # 2 (5 - 1) + 1
    assert A.requires("krum", 1, pre="bucketing", s=3) == 13
    assert A.requires("bulyan", 1, pre="bucketing", s=2) == 13
    assert A.requires("median", 2, pre="bucketing", s=2) == 9
    assert A.requires("brsgd", 1, pre="bucketing", s=2, beta=0.25) == 9
    assert A.requires("median", 0, pre="bucketing", s=5) == 1
    assert A.requires("mean", 0, pre="bucketing") == 1
    with pytest.raises(ValueError, match=r"f=1"):
        A.requires("mean", 1, pre="nnm")


# ------------------------------------------------------------------ for_rows on compositions


def test_for_rows_keeps_a_composition_that_takes_the_rows():
    for agg, m in ((A.get("krum", pre="nnm", f=2), 7), (A.get("krum", pre="bucketing", f=1), 9),
                   (A.get("median", pre="nnm", f=2), 3), (A.get("median", pre="bucketing"), 1)):
        assert A.for_rows(agg, m) == (agg, None)


def test_for_rows_rederives_nnm_and_the_rule():
    rule, note = A.for_rows(A.get("krum", pre="nnm", f=2), 6)
    assert repr(rule) == "NNM(f=1) -> Krum(f=1)"
    assert note == "NNM(f=2) -> Krum(f=2) cannot take 6 rows; used NNM(f=1) -> Krum(f=1)"
    assert repr(A.for_rows(A.get("bulyan", pre="nnm", f=2), 7)[0]) == "NNM(f=1) -> Bulyan(f=1)"
    assert repr(A.for_rows(A.get("multi_krum", pre="nnm", f=2, m=5), 6)[0]) == (
        "NNM(f=1) -> MultiKrum(f=1, m=5)")
    assert repr(A.for_rows(A.get("krum", pre="nnm", f=1), 2)[0]) == "NNM(f=1) -> Median()"
    # a rule without f: NNM keeps f while n > f, then min(f, m - 1)
    assert A.for_rows(A.get("median", pre="nnm", f=2), 3)[1] is None
    assert repr(A.for_rows(A.get("median", pre="nnm", f=2), 2)[0]) == "NNM(f=1) -> Median()"
    assert repr(A.for_rows(A.get("median", pre="nnm", f=2), 1)[0]) == "NNM(f=0) -> Median()"


def test_for_rows_keeps_the_state_of_a_stateful_rule():
    agg = A.get("centered_clipping", pre="nnm", f=2, tau=1.0)
    agg(np.arange(10.0)[:, None])
    sub, note = A.for_rows(agg, 2)
    assert repr(sub) == "NNM(f=1) -> CenteredClipping(tau=1.0, iterations=1)" and note
    assert sub.rule is agg.rule  # the same instance: its previous aggregate carries on


def test_for_rows_keeps_bucketing_stream(rng):
    agg = A.get("krum", pre="bucketing", f=1, seed=4)
    gen = np.random.default_rng(4)
    agg(rng.standard_normal((9, 2)))
    np.testing.assert_array_equal(agg.pre.last_permutation, gen.permutation(9))
    sub, note = A.for_rows(agg, 8)  # 4 bucket means: Krum(f=0)
    assert repr(sub) == "Bucketing(s=2, seed=4) -> Krum(f=0)"
    assert note == ("Bucketing(s=2, seed=4) -> Krum(f=1) cannot take 8 rows; used "
                    "Bucketing(s=2, seed=4) -> Krum(f=0)")
    assert sub.pre is agg.pre
    sub(rng.standard_normal((8, 2)))  # the stream carries on: its second permutation
    np.testing.assert_array_equal(agg.pre.last_permutation, gen.permutation(8))
    assert repr(A.for_rows(agg, 4)[0]) == "Bucketing(s=2, seed=4) -> Median()"  # 2 buckets


@pytest.mark.parametrize("pre", A.PRE_AGGREGATORS)
@pytest.mark.parametrize(("name", "f"), [("trimmed_mean", 3), ("krum", 3), ("bulyan", 2),
                                         ("multi_krum", 3), ("median", 3), ("brsgd", 2)])
def test_for_rows_of_compositions_never_raises(name, f, pre):
    params = {"f": f} if name in TAKES_F or pre == "nnm" else {}
    agg = A.get(name, pre=pre, **params)
    for m in range(1, agg.min_n(f) + 2):
        rule, note = A.for_rows(agg, m)
        out = rule(np.random.default_rng(m).standard_normal((m, 4)))
        assert out.shape == (4,)
        assert (note is None) == (rule is agg)


# ------------------------------------------------------------------ heterogeneous robustness


def _heterogeneous(seed: int, n: int = 15, f: int = 3, d: int = 20):
    """12 honest rows, each from its own mean (spread 3, noise 0.3), and f = 3 Byzantine rows
    sending the honest mean minus 1.5 honest standard deviations per coordinate (ALIE)."""
    rng = np.random.default_rng(seed)
    honest = 3.0 * rng.standard_normal((n - f, d)) + 0.3 * rng.standard_normal((n - f, d))
    hmean, hstd = honest.mean(axis=0), honest.std(axis=0)
    return np.vstack([honest, np.tile(hmean - 1.5 * hstd, (f, 1))]), hmean


@pytest.mark.parametrize("name", ["median", "trimmed_mean", "krum", "multi_krum",
                                  "geometric_median", "centered_clipping", "brsgd"])
def test_nnm_brings_the_rule_closer_to_the_honest_mean_under_heterogeneity(name):
    # Measured on seeds 0-4: NNM + rule / rule error ratios, median 0-0.55, trimmed mean
    # 0.24-0.54, Krum 0-0.29, Multi-Krum 0.20-0.48, geometric median 0-0.80, centered
    # clipping 0.45-0.71, BrSGD 0-0.38 (0: every honest row's 12 nearest rows are the honest
    # rows, and the rule returns their mean exactly).
    f = 3
    for seed in range(5):
        x, hmean = _heterogeneous(seed)
        bare = A.get(name, **({"f": f} if name in TAKES_F else {}))
        err = np.linalg.norm(bare(x) - hmean)
        err_nnm = np.linalg.norm(A.get(name, pre="nnm", f=f)(x) - hmean)
        assert err > 1.0  # the attack moves the bare rule
        assert err_nnm < 0.85 * err, (seed, err, err_nnm)


def test_bucketing_brings_the_geometric_median_closer_under_heterogeneity():
    # Measured on seeds 0-4 (s = 2, seed 0): error ratios 0.81-0.92. Bucketing does not help
    # every rule on every draw here (the median's ratio is 1.06 on seed 1): pinned for the
    # geometric median only.
    for seed in range(5):
        x, hmean = _heterogeneous(seed)
        err = np.linalg.norm(A.get("geometric_median")(x) - hmean)
        err_b = np.linalg.norm(A.get("geometric_median", pre="bucketing", s=2)(x) - hmean)
        assert err_b < 0.95 * err, (seed, err, err_b)
