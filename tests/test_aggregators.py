"""Tests for electionlib.aggregators.

Layout: registry and API; properties over every registered rule, bare and composed
with each pre-aggregator (shape, dtype, permutation invariance, translation
equivariance, identical rows); robustness at each rule's bound and a known attack
that breaks it just past the bound; hand-computed tiny cases; BrSGD against a
literal transcription of Algorithm 2; parameter and input validation. The
pre-aggregators' own cases are in test_preaggregators.py.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import minimize

from electionlib import aggregators as A

ROBUST = tuple(name for name in A.NAMES if name != "mean")
TAKES_F = tuple(name for name in A.NAMES if "f" in A.REGISTRY[name].PARAMS)


# None: the bare rule; then every pre-aggregator composed with it.
PRE = (None, *A.PRE_AGGREGATORS)
# Rows of the property tests' inputs: bucketing halves them (Bulyan f = 1 needs 7 buckets).
ROWS = {None: 9, "nnm": 9, "bucketing": 15}


def build(name: str, f: int | None = None, pre: str | None = None, **params) -> A.Aggregator:
    """The rule with its defaults, configured for f Byzantine rows when it takes f, composed
    with ``pre`` (NNM gets f, default 1, whether the rule takes f or not)."""
    if pre == "nnm":
        params["f"] = 1 if f is None else f
    elif f is not None and name in TAKES_F:
        params["f"] = f
    return A.get(name, pre=pre, **params)


def honest_box_contains(out, honest, tol=1e-9):
    lo, hi = honest.min(axis=0), honest.max(axis=0)
    span = hi - lo + 1.0
    return bool(np.all(out >= lo - tol * span) and np.all(out <= hi + tol * span))


# ------------------------------------------------------------------ registry and API


def test_registry_names_and_classes():
    assert A.NAMES == (
        "mean",
        "median",
        "trimmed_mean",
        "krum",
        "multi_krum",
        "bulyan",
        "geometric_median",
        "centered_clipping",
        "brsgd",
    )
    assert tuple(A.REGISTRY) == A.NAMES
    for name, cls in A.REGISTRY.items():
        assert cls.name == name
        agg = A.get(name)
        assert isinstance(agg, cls) and callable(agg)
        assert cls.__doc__ and "Example" in cls.__doc__ and ">>>" in cls.__doc__
    with pytest.raises(TypeError):
        A.REGISTRY["new"] = A.Mean  # read-only mapping


def test_defaults_and_repr():
    assert repr(A.get("krum")) == "Krum(f=1)"
    assert repr(A.get("multi_krum", f=2)) == "MultiKrum(f=2, m=None)"
    assert repr(A.get("geometric_median")) == "GeometricMedian(eps=1e-06, max_iter=100)"
    assert repr(A.get("centered_clipping")) == "CenteredClipping(tau=10.0, iterations=1)"
    assert repr(A.get("brsgd")) == "BrSGD(beta=0.5, threshold=None)"
    assert repr(A.get("mean")) == "Mean()"


def test_requires_table():
    assert A.requires("mean", 0) == 1
    assert [A.requires("median", f) for f in range(4)] == [1, 3, 5, 7]
    assert [A.requires("trimmed_mean", f) for f in range(3)] == [1, 3, 5]
    assert [A.requires("krum", f) for f in range(3)] == [3, 5, 7]
    assert A.requires("multi_krum", 1) == 5
    assert A.requires("multi_krum", 1, m=6) == 7
    assert [A.requires("bulyan", f) for f in range(3)] == [3, 7, 11]
    assert A.requires("geometric_median", 2) == 5
    assert A.requires("centered_clipping", 2) == 5
    assert [A.requires("brsgd", f) for f in range(4)] == [1, 3, 5, 7]  # f < m/2
    assert A.requires("brsgd", 1, beta=0.25) == 5  # 1 < m/4
    assert A.requires("brsgd", 3, beta=0.3) == 11  # 3 < 0.3 m  <=>  m > 10
    with pytest.raises(ValueError, match=r"f=1"):
        A.requires("mean", 1)
    with pytest.raises(ValueError, match=r"\bf="):
        A.requires("krum", -1)
    with pytest.raises(ValueError, match=r"\bname="):
        A.requires("krun", 1)


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", TAKES_F)
@pytest.mark.parametrize("f", [0, 1, 2])
def test_call_time_bound_is_requires(name, f, pre, rng):
    agg = build(name, f, pre)
    need = A.requires(name, f, pre=pre)
    assert agg.min_n(f) == need
    agg(rng.standard_normal((need, 3)))  # runs at the bound
    if need > 1:
        with pytest.raises(ValueError, match=rf"f={f}.*n={need - 1}"):
            agg(rng.standard_normal((need - 1, 3)))


# ------------------------------------------------------------------ properties over every rule


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", A.NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_shape_dtype_no_mutation(name, dtype, pre, rng):
    x = (rng.standard_normal((ROWS[pre], 6)) * 10).astype(dtype)
    before = x.copy()
    out = build(name, pre=pre)(x)
    assert out.shape == (6,)
    assert out.dtype == (np.float32 if dtype == np.float32 else np.float64)
    np.testing.assert_array_equal(x, before)
    out[:] = 1e30  # the output never aliases the input (Krum returns a row)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", A.NAMES)
def test_list_input_and_single_column(name, pre):
    x = [[0.0], [1.0], [2.5], [3.0], [10.0], [4.0], [5.5], [6.0], [7.0]]
    x += [[-1.0], [8.0], [0.5], [2.0], [9.0], [11.0]][: ROWS[pre] - len(x)]
    out = build(name, pre=pre)(x)
    assert out.shape == (1,) and np.isfinite(out).all()


def _brsgd_has_boundary_tie(x, agg):
    s = np.sort(agg.trace(x).scores)[::-1]
    k = math.ceil(Fraction(agg.beta) * len(s))
    return k < len(s) and s[k - 1] == s[k]


@pytest.mark.parametrize("pre", [None, "nnm"])  # bucketing permutes on purpose: see below
@pytest.mark.parametrize("name", A.NAMES)
def test_permutation_invariance(name, pre):
    # NNM is permutation-equivariant, so NNM -> rule is invariant when the rule is. NNM at
    # f = 2 on 11 rows (at f = 1 the 8 honest rows would all mix to one point: BrSGD ties).
    n, f = (11, 2) if pre == "nnm" else (9, None)
    mix = A.NNM(f=2) if pre == "nnm" else (lambda x: x)
    for seed in range(100):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 40))
        x[0] += 5.0  # one outlying row, to make the robust rules do something
        if name != "brsgd" or not _brsgd_has_boundary_tie(mix(x), A.get("brsgd")):
            break  # BrSGD breaks score ties by row index: use inputs without them
    else:  # pragma: no cover
        pytest.fail("no tie-free input found")
    perm = np.random.default_rng(1).permutation(n)
    np.testing.assert_allclose(build(name, f, pre)(x[perm]), build(name, f, pre)(x),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", A.NAMES)
def test_bucketing_is_deterministic_per_seed(name, rng):
    # not permutation-invariant by design: the buckets depend on the row order and the seed;
    # two instances with the same parameters agree call for call (the sim and MPI servers)
    xs = [rng.standard_normal((15, 5)) + 3.0 * (np.arange(15) % 3)[:, None] for _ in range(3)]
    a, b = build(name, pre="bucketing", seed=7), build(name, pre="bucketing", seed=7)
    for x in xs:
        np.testing.assert_array_equal(a(x), b(x))
    assert a.pre.last_permutation.tolist() == b.pre.last_permutation.tolist()
    c = build(name, pre="bucketing", seed=8)
    outs = [c(x) for x in xs]
    assert c.pre.last_permutation.tolist() != a.pre.last_permutation.tolist()
    if name != "mean":  # the mean of bucket means of equal size does not see the buckets
        assert any(not np.array_equal(o, build(name, pre="bucketing", seed=7)(x))
                   for o, x in zip(outs, xs, strict=True))


# (fresh instances on both sides: bucketing's two calls see the same permutation)
@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", A.NAMES)
def test_translation_equivariance(name, pre, rng):
    x = rng.standard_normal((ROWS[pre], 5))
    x[2] += 8.0
    t = rng.uniform(-50, 50, size=5)
    np.testing.assert_allclose(build(name, pre=pre)(x + t), build(name, pre=pre)(x) + t,
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", [name for name in A.NAMES if name != "centered_clipping"])
def test_scale_equivariance(name, pre, rng):
    # centered clipping is excluded: its radius tau is in the units of the input
    x = rng.standard_normal((ROWS[pre], 5))
    x[2] += 8.0
    np.testing.assert_allclose(build(name, pre=pre)(x * 1e3), build(name, pre=pre)(x) * 1e3,
                               rtol=1e-9)


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", A.NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_rows_give_that_row(name, dtype, pre, rng):
    row = rng.standard_normal(7).astype(dtype)
    out = build(name, pre=pre)(np.tile(row, (ROWS[pre], 1)))
    np.testing.assert_allclose(out, row, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("pre", PRE)
def test_chunked_computation_matches(monkeypatch, pre, rng):
    x = rng.standard_normal((ROWS[pre], 37))
    x[1] += 3.0
    x[4, 5] = np.nan
    full = {name: build(name, pre=pre)(x) for name in A.NAMES}
    monkeypatch.setattr(A, "_CHUNK", 20)  # column blocks of width 2
    for name in A.NAMES:
        np.testing.assert_allclose(build(name, pre=pre)(x), full[name], rtol=1e-12, atol=1e-12)


def test_gram_distances_exact_next_to_huge_rows(rng):
    x = rng.standard_normal((7, 50)) * 1e-3 + 1.0
    x[0] = 1e10
    brute = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    got = A._pairwise_sq(x, np.ones(7, bool))
    np.testing.assert_allclose(got[1:, 1:], brute[1:, 1:], rtol=1e-6)
    np.testing.assert_allclose(got[0], brute[0], rtol=1e-12)


# ------------------------------------------------------------------ robustness at the bound

ATTACKS = {
    "huge": lambda f, d: np.full((f, d), 1e10),
    "huge_random": lambda f, d: np.random.default_rng(5).choice([-1e10, 1e10], size=(f, d)),
    "nan": lambda f, d: np.full((f, d), np.nan),
    "inf": lambda f, d: np.full((f, d), np.inf),
    "neg_inf_partial": lambda f, d: np.where(np.arange(d) % 2, -np.inf, 3e9) * np.ones((f, 1)),
    "mixed": lambda f, d: np.vstack([np.full((1, d), np.nan), np.full((f - 1, d), -1e10)]),
}


@pytest.mark.parametrize("name", ROBUST)
@pytest.mark.parametrize("f", [1, 2])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("first", [True, False])
def test_robust_at_bound(name, f, attack, first):
    rng = np.random.default_rng(100 * f + len(attack))
    n, d = A.requires(name, f), 6
    honest = rng.standard_normal((n - f, d))
    bad = ATTACKS[attack](f, d)
    x = np.vstack([bad, honest]) if first else np.vstack([honest, bad])
    byz = np.arange(f) if first else np.arange(n - f, n)
    agg = build(name, f)
    out = agg(x)
    assert np.isfinite(out).all()
    hmean = honest.mean(axis=0)
    if name == "geometric_median":
        radius = np.linalg.norm(honest - hmean, axis=1).max()
        bound = 2 * (n - f) / (n - 2 * f) * radius
        assert np.linalg.norm(out - hmean) <= bound * 1.001 + 1e-9
    elif name == "centered_clipping":
        box_diag = np.linalg.norm(honest.max(axis=0) - honest.min(axis=0))
        bound = box_diag + agg.iterations * f * agg.tau / n
        assert np.linalg.norm(out - hmean) <= bound
    else:
        assert honest_box_contains(out, honest)
    # selection rules never pick a Byzantine row
    if name == "krum":
        assert any(np.array_equal(out, h) for h in honest)
    elif name == "multi_krum":  # m = n - f: exactly the honest rows
        np.testing.assert_allclose(out, hmean, rtol=1e-12, atol=1e-12)
    elif name == "bulyan":
        assert not set(agg.selection(x)) & set(byz)
    elif name == "brsgd":
        assert not agg.trace(x).selected[byz].any()


@pytest.mark.parametrize("name", ROBUST)
@pytest.mark.parametrize("f", [1, 2])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("first", [True, False])
def test_nnm_robust_at_bound(name, f, attack, first):
    # The f attackers are far from the honest rows, so each honest row's n - f nearest rows
    # are the honest rows: n - f mixed rows equal the honest mean, and the rule returns it
    # (centered clipping: within the f tau / n its clipped steps can move the centre).
    rng = np.random.default_rng(100 * f + len(attack))
    n, d = A.requires(name, f, pre="nnm"), 6
    assert n == A.requires(name, f)
    honest = rng.standard_normal((n - f, d))
    bad = ATTACKS[attack](f, d)
    x = np.vstack([bad, honest]) if first else np.vstack([honest, bad])
    agg = build(name, f, "nnm")
    mixed = agg.pre(x)
    hmean = honest.mean(axis=0)
    good = slice(f, n) if first else slice(0, n - f)
    np.testing.assert_allclose(mixed[good], np.tile(hmean, (n - f, 1)), rtol=1e-12, atol=1e-12)
    out = agg(x)
    if name == "centered_clipping":
        assert np.linalg.norm(out - hmean) <= agg.rule.iterations * f * agg.rule.tau / n + 1e-12
    else:
        np.testing.assert_allclose(out, hmean, rtol=1e-9, atol=1e-9)


def _buckets(x, perm, s):
    """Bucket means written out: consecutive s entries of the permutation, averaged."""
    return np.array([x[perm[i : i + s]].mean(axis=0) for i in range(0, len(perm), s)])


@pytest.mark.parametrize("name", ROBUST)
@pytest.mark.parametrize("f", [1, 2])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("s", [2, 3])
def test_bucketing_robust_at_bound(name, f, attack, s):
    # At n = s (rule's bound - 1) + 1 rows the rule sees its bound of bucket means, at most
    # f of them holding a Byzantine row: the bare rule's guarantee holds for the honest
    # buckets (those without a Byzantine row).
    rng = np.random.default_rng(100 * f + len(attack) + s)
    n, d = A.requires(name, f, pre="bucketing", s=s), 6
    k = A.requires(name, f)
    assert n == s * (k - 1) + 1 and -(-n // s) == k
    honest = rng.standard_normal((n - f, d))
    x = np.vstack([honest, ATTACKS[attack](f, d)])
    agg = build(name, f, "bucketing", s=s, seed=f + s)
    out = agg(x)
    assert np.isfinite(out).all()
    perm = agg.pre.last_permutation
    buckets = _buckets(x, perm, s)
    np.testing.assert_allclose(build(name, f)(buckets), out, rtol=1e-12, atol=1e-12)
    byz = np.array([np.any(perm[i : i + s] >= n - f) for i in range(0, n, s)])
    assert 1 <= byz.sum() <= f
    hb = buckets[~byz]
    hmean = hb.mean(axis=0)
    if name == "geometric_median":
        radius = np.linalg.norm(hb - hmean, axis=1).max()
        bound = 2 * (k - byz.sum()) / (k - 2 * byz.sum()) * radius
        assert np.linalg.norm(out - hmean) <= bound * 1.001 + 1e-9
    elif name == "centered_clipping":
        box_diag = np.linalg.norm(hb.max(axis=0) - hb.min(axis=0))
        assert np.linalg.norm(out - hmean) <= box_diag + f * agg.rule.tau / k
    else:
        assert honest_box_contains(out, hb)
    if name == "krum":  # one honest bucket mean (summed in another order here)
        assert any(np.allclose(out, h, rtol=1e-12, atol=1e-12) for h in hb)
    elif name == "bulyan":
        assert not set(agg.rule.selection(buckets)) & set(np.flatnonzero(byz))
    elif name == "brsgd":
        assert not agg.rule.trace(buckets).selected[byz].any()


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_mean_is_broken_by_one_row(attack, pre):
    honest = np.random.default_rng(0).standard_normal((6, 6))
    out = build("mean", pre=pre)(np.vstack([honest, ATTACKS[attack](2, 6)]))
    assert not np.isfinite(out).all() or np.abs(out).max() > 1e8


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", ROBUST)
def test_all_rows_non_finite_does_not_crash(name, pre):
    x = np.full((ROWS[pre], 4), np.nan)
    x[::2] = np.inf
    out = build(name, pre=pre)(x)
    assert out.shape == (4,)


# A known attack that must break each rule just past its bound:
# (name, params, n, number of identical rows at 1e10, why).
BREAKS = [
    ("mean", {}, 5, 1, "any f >= 1"),
    ("median", {}, 4, 2, "f = n/2: the middle pair mixes one attacker value"),
    ("median", {}, 5, 3, "f > n/2: the median is an attacker value"),
    ("trimmed_mean", {"f": 1}, 4, 2, "f + 1 attackers: one survives the trimming"),
    ("trimmed_mean", {"f": 2}, 5, 3, "f + 1 attackers at n = 2f + 1"),
    ("krum", {"f": 1}, 5, 3, "f + 2 identical attackers score 0"),
    ("krum", {"f": 2}, 7, 4, "f + 2 identical attackers score 0"),
    ("multi_krum", {"f": 1}, 5, 2, "f + 1 attackers: m = n - f rows include one"),
    ("bulyan", {"f": 1}, 7, 4, "attacker majority wins the Krum selection"),
    ("geometric_median", {}, 4, 2, "f = n/2"),
    ("geometric_median", {}, 5, 3, "f > n/2: the geometric median is the attacker point"),
    ("centered_clipping", {}, 5, 3, "f > n/2: the first centre is the attacker point"),
    ("brsgd", {}, 4, 2, "f = beta m: the >= mean side of every column wins the counter"),
    ("brsgd", {}, 6, 3, "f = beta m"),
]


@pytest.mark.parametrize(("name", "params", "n", "k", "why"), BREAKS)
def test_known_attack_breaks_just_past_bound(name, params, n, k, why):
    rng = np.random.default_rng(n + k)
    x = np.vstack([np.full((k, 4), 1e10), rng.standard_normal((n - k, 4))])
    out = A.get(name, **params)(x)
    assert np.abs(out).min() > 1e9, why


@pytest.mark.parametrize(("name", "params", "n", "k", "why"), BREAKS)
def test_known_attack_breaks_nnm_just_past_bound(name, params, n, k, why):
    # NNM for f = k - 1 (or the rule's own f <= k - 1): with k > f attackers only n - k < n - f
    # rows are honest, so every honest row's n - f neighbours include an attacker and every
    # mixed row is at least 1e10 / (n - f) > 1e9: nothing is left for the rule to recover.
    rng = np.random.default_rng(n + k)
    x = np.vstack([np.full((k, 4), 1e10), rng.standard_normal((n - k, 4))])
    agg = A.get(name, pre="nnm", **{"f": k - 1, **params})
    assert agg.pre.f < k
    assert np.abs(agg.pre(x)).min() > 1e9
    assert np.abs(agg(x)).min() > 1e9, why


@pytest.mark.parametrize(("name", "params", "n", "k", "why"), BREAKS)
@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_known_attack_breaks_bucketing_just_past_bound(name, params, n, k, why, s, seed):
    # s times the rows and the attackers: at least k of the n buckets hold an attacker (a
    # bucket holds s rows), each such mean >= 1e10 / s per coordinate, and the rule, past its
    # bound with k of n, breaks as the bare rule does (measured for these seeds).
    rng = np.random.default_rng(n + k)
    x = np.vstack([np.full((k * s, 4), 1e10), rng.standard_normal(((n - k) * s, 4))])
    agg = A.get(name, pre="bucketing", s=s, seed=seed, **params)
    out = agg(x)
    perm = agg.pre.last_permutation
    assert sum(np.any(perm[i : i + s] < k * s) for i in range(0, n * s, s)) >= k
    assert np.abs(out).min() > 1e9, why


def test_every_rule_has_a_breaking_attack():
    assert {b[0] for b in BREAKS} == set(A.NAMES)


def test_krum_survives_f_plus_one_identical_attackers():
    # pins where Krum breaks: f + 1 identical attackers still include a huge distance
    rng = np.random.default_rng(3)
    x = np.vstack([np.full((2, 4), 1e10), rng.standard_normal((3, 4))])
    assert np.abs(A.get("krum", f=1)(x)).max() < 10


# ------------------------------------------------------------------ hand-computed cases


def test_mean_hand():
    np.testing.assert_array_equal(A.get("mean")([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]), [3, 5])


def test_median_hand():
    agg = A.get("median")
    np.testing.assert_array_equal(agg([[1.0, 5.0], [2.0, 0.0], [9.0, 1.0]]), [2, 1])
    np.testing.assert_array_equal(agg([[1.0], [2.0], [4.0], [10.0]]), [3])  # (2 + 4) / 2
    # NaN is ordered as +inf: median of {1, 2, +inf} is 2; of {-inf, 1, 2} is 1
    np.testing.assert_array_equal(agg([[1.0, -np.inf], [2.0, 1.0], [np.nan, 2.0]]), [2, 1])


def test_trimmed_mean_hand():
    x = np.array([[1.0, 10.0], [2.0, -5.0], [3.0, 0.0], [4.0, 7.0], [100.0, 1.0]])
    # column 0: drop 1 and 100 -> (2 + 3 + 4) / 3 = 3
    # column 1: sorted -5 0 1 7 10, drop -5 and 10 -> (0 + 1 + 7) / 3 = 8/3
    np.testing.assert_allclose(A.get("trimmed_mean", f=1)(x), [3.0, 8.0 / 3.0])
    np.testing.assert_allclose(A.get("trimmed_mean", f=2)(x), [3.0, 1.0])  # the median
    np.testing.assert_allclose(A.get("trimmed_mean", f=0)(x), x.mean(axis=0))


def test_krum_and_multi_krum_hand():
    x = np.array([[0.0], [1.0], [2.5], [3.0], [10.0]])
    # f = 1: each score sums the n - f - 2 = 2 smallest squared distances
    #   0   : 1 (to 1),      6.25 (to 2.5)  -> 7.25
    #   1   : 1 (to 0),      2.25 (to 2.5)  -> 3.25
    #   2.5 : 0.25 (to 3),   2.25 (to 1)    -> 2.5   <- Krum
    #   3   : 0.25 (to 2.5), 4 (to 1)       -> 4.25
    #   10  : 49 (to 3),     56.25 (to 2.5) -> 105.25
    krum = A.get("krum", f=1)
    np.testing.assert_allclose(krum.scores(x), [7.25, 3.25, 2.5, 4.25, 105.25])
    np.testing.assert_array_equal(krum(x), [2.5])
    # Multi-Krum m = 3: rows 2.5, 1, 3 -> 6.5 / 3; default m = n - f = 4 adds 0 -> 6.5 / 4
    np.testing.assert_allclose(A.get("multi_krum", f=1, m=3)(x), [6.5 / 3])
    np.testing.assert_allclose(A.get("multi_krum", f=1)(x), [6.5 / 4])
    np.testing.assert_array_equal(A.get("multi_krum", f=1, m=1)(x), krum(x))


def test_krum_tie_goes_to_closer_next_neighbours():
    # f = 0, n = 3: one neighbour each; 0 and 1 tie at score 1. Next neighbour:
    # 0 -> 5 adds 25, 1 -> 5 adds 16, so 1 wins whatever the row order.
    krum = A.get("krum", f=0)
    for rows in ([0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [5.0, 0.0, 1.0]):
        np.testing.assert_array_equal(krum(np.array(rows)[:, None]), [1.0])
    # exact ties everywhere (symmetric configuration) go to the lower index
    np.testing.assert_array_equal(krum(np.array([[0.0], [2.0], [1.0]])), [1.0])


def test_bulyan_hand():
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0], [15.0], [60.0]])
    # f = 1, n = 7: theta = 5 rows selected, keep = theta - 2f = 3 per coordinate.
    # k = |R| - f - 2 neighbours, but at least f + 1 = 2 (at most |R| - 1).
    # round 1, R = all, k = 4:  0:146  1:111  3:71  6:86  10:171  15:446  60:10690 -> 3
    # round 2, k = 3:           0:137  1:107  6:77  10:122  15:302  60:7441       -> 6
    # round 3, k = 2:           0:101  1:82   10:106  15:221  60:4525             -> 1
    # round 4, k = 2:           0:325  10:125  15:250  60:4525                    -> 10
    # round 5, k = 2:           0:3825  15:2250  60:5625                          -> 15
    # S = {1, 3, 6, 10, 15}, median 6; the 3 closest: 6, 3, 10 -> 19/3
    agg = A.get("bulyan", f=1)
    np.testing.assert_array_equal(agg.selection(x), [2, 3, 1, 4, 5])
    np.testing.assert_allclose(agg(x), [19.0 / 3.0])
    # f = 0: every row is selected and averaged
    y = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(A.get("bulyan", f=0)(y), y.mean(axis=0))


def test_bulyan_coordinate_tie_goes_to_lower_values():
    # f = 1: the outliers -100 and 100 are never selected, S = {1, 3, 4, 7, 9}.
    # Median 4; deviations 3, 1, 0, 3, 5: the 3 closest are 4, 3 and then 1 or 7
    # (both at 3). The documented rule takes the lower window {1, 3, 4} -> 8/3,
    # whatever the row order.
    x = np.array([[1.0], [3.0], [4.0], [7.0], [9.0], [100.0], [-100.0]])
    agg = A.get("bulyan", f=1)
    assert set(agg.selection(x)) == {0, 1, 2, 3, 4}
    rng = np.random.default_rng(0)
    for _ in range(20):
        np.testing.assert_allclose(agg(x[rng.permutation(7)]), [8.0 / 3.0])


def test_geometric_median_hand():
    agg = A.get("geometric_median")
    # square plus one far point: on the diagonal, 3 t^2 - 6 t + 2 = 0 -> t = 1 + 1/sqrt(3)
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [100.0, 100.0]])
    np.testing.assert_allclose(agg(x), [1 + 1 / math.sqrt(3)] * 2, rtol=1e-5)
    # 1-D: the geometric median is the median
    np.testing.assert_allclose(agg([[0.0], [1.0], [10.0]]), [1.0])
    # a square alone: its centre
    np.testing.assert_allclose(agg(x[:4]), [1.0, 1.0])


def test_geometric_median_is_the_minimiser(rng):
    x = rng.standard_normal((7, 3))
    x[:2] += 20.0
    z = A.get("geometric_median", eps=1e-10, max_iter=1000)(x)

    def cost(p):
        return np.linalg.norm(x - p, axis=1).sum()

    unit = (x - z) / np.linalg.norm(x - z, axis=1)[:, None]
    assert np.linalg.norm(unit.sum(axis=0)) < 1e-6  # first-order optimality
    ref = minimize(cost, x.mean(axis=0), method="Nelder-Mead", options={"xatol": 1e-10})
    assert cost(z) <= ref.fun + 1e-9


def test_centered_clipping_hand_and_state():
    agg = A.get("centered_clipping", tau=2.0)
    x = np.array([[0.0], [1.0], [10.0]])
    # call 1: v = median = 1; x - v = -1, 0, 9 -> clipped -1, 0, 2 -> v = 1 + 1/3
    np.testing.assert_allclose(agg(x), [4 / 3])
    # call 2 starts from 4/3: -4/3, -1/3, 26/3 -> clipped -4/3, -1/3, 2 -> + 1/9
    np.testing.assert_allclose(agg(x), [13 / 9])
    agg.reset()
    np.testing.assert_allclose(agg(x), [4 / 3])
    # two iterations in one call: 4/3, then + 1/9
    np.testing.assert_allclose(A.get("centered_clipping", tau=2.0, iterations=2)(x), [13 / 9])
    # a NaN row contributes nothing but still counts in the 1/n
    y = np.array([[0.0], [1.0], [10.0], [np.nan]])
    # median of finite rows = 1; steps -1, 0, 2, 0 -> v = 1 + 1/4
    np.testing.assert_allclose(A.get("centered_clipping", tau=2.0)(y), [1.25])
    with pytest.raises(ValueError, match=r"d=2.*reset"):
        agg(np.zeros((3, 2)))
    agg.reset()
    assert agg(np.zeros((3, 2))).shape == (2,)


# ------------------------------------------------------------------ BrSGD


def test_brsgd_hand_m4_d3():
    g = np.array(
        [
            [1.0, 2.0, 0.0],  # worker 0
            [2.0, 1.0, 0.0],  # worker 1
            [3.0, 3.0, 2.0],  # worker 2
            [10.0, -6.0, 2.0],  # worker 3 (outlier)
        ]
    )
    # Column means: a = (16/4, 0/4, 4/4) = (4, 0, 1).
    # Column 0: g >= 4 -> (0, 0, 0, 1), counter 1 < m/2 = 2 -> negate -> (0, 0, 0, -1)
    # Column 1: g >= 0 -> (1, 1, 1, 0), counter 3         -> keep   -> (1, 1, 1, 0)
    # Column 2: g >= 1 -> (0, 0, 1, 1), counter 2 = m/2   -> keep   -> (0, 0, 1, 1)
    # Scores s = (1, 1, 2, 0).
    # Median: column 0 sorted 1 2 3 10 -> 2.5; column 1 -6 1 2 3 -> 1.5; column 2 0 0 2 2 -> 1.
    # l1 to g_med = (2.5, 1.5, 1): worker 0: 1.5+0.5+1 = 3; worker 1: 0.5+0.5+1 = 2;
    #                              worker 2: 0.5+1.5+1 = 3; worker 3: 7.5+7.5+1 = 16.
    # Default threshold: median(3, 2, 3, 16) = 3 -> C1 = {l1 <= 6} = {0, 1, 2}.
    # C2: ceil(m/2) = 2 highest scores: worker 2 (2), then workers 0 and 1 tie at 1
    #     -> the lower index, worker 0 -> C2 = {0, 2}.
    # C1 ∩ C2 = {0, 2} -> output = ((1, 2, 0) + (3, 3, 2)) / 2 = (2, 2.5, 1).
    agg = A.get("brsgd")
    t = agg.trace(g)
    np.testing.assert_array_equal(t.scores, [1, 1, 2, 0])
    np.testing.assert_array_equal(t.median, [2.5, 1.5, 1.0])
    np.testing.assert_array_equal(t.l1, [3, 2, 3, 16])
    assert t.threshold == 3.0
    np.testing.assert_array_equal(t.c1, [True, True, True, False])
    np.testing.assert_array_equal(t.c2, [True, False, True, False])
    np.testing.assert_array_equal(t.selected, [True, False, True, False])
    assert not t.fallback
    np.testing.assert_array_equal(agg(g), [2.0, 2.5, 1.0])
    # Threshold 1.5: 2T = 3 keeps the same C1.
    np.testing.assert_array_equal(A.get("brsgd", threshold=1.5)(g), [2.0, 2.5, 1.0])
    # Threshold 1: 2T = 2 -> C1 = {1}; C1 ∩ C2 = {} -> fall back to g_med.
    t1 = A.get("brsgd", threshold=1.0).trace(g)
    assert t1.fallback and not t1.selected.any()
    np.testing.assert_array_equal(A.get("brsgd", threshold=1.0)(g), [2.5, 1.5, 1.0])
    # beta = 1/4: ceil(1) = 1 row, worker 2 -> output worker 2.
    np.testing.assert_array_equal(A.get("brsgd", beta=0.25)(g), g[2])


def brsgd_reference(G, beta, threshold=None):
    """Algorithm 2 of the BrSGD paper written out with Python loops (plus the
    library's documented choices: default threshold, tie rule, empty fallback)."""
    m, d = len(G), len(G[0])
    a = [0.0] * d
    for c in range(d):
        for r in range(m):
            a[c] = a[c] + G[r][c]
        a[c] = a[c] / m
    s = [0] * m
    for c in range(d):
        counter = 0
        M = [0] * m
        for r in range(m):
            if G[r][c] >= a[c]:
                M[r] = 1
                counter = counter + 1
            else:
                M[r] = 0
        if counter < m / 2:
            M = [-v for v in M]
        for r in range(m):
            s[r] = s[r] + M[r]
    g_med = [statistics.median(G[r][c] for r in range(m)) for c in range(d)]
    l1 = [sum(abs(G[r][c] - g_med[c]) for c in range(d)) for r in range(m)]
    T = statistics.median(l1) if threshold is None else threshold
    C1 = {r for r in range(m) if l1[r] <= 2 * T}
    # |C2| = ceil(beta m) for the beta as written (0.1 is 1/10, not the binary double)
    written = {0.1: Fraction(1, 10), 0.25: Fraction(1, 4), 1 / 3: Fraction(1, 3),
               0.4: Fraction(2, 5), 0.5: Fraction(1, 2)}
    k = math.ceil(written[beta] * m)
    C2 = set(sorted(range(m), key=lambda r: (-s[r], r))[:k])
    C = sorted(C1 & C2)
    if not C:
        return g_med, s, C1, C2
    return [sum(G[r][c] for r in C) / len(C) for c in range(d)], s, C1, C2


def test_brsgd_matches_literal_transcription():
    rng = np.random.default_rng(2022)
    for case in range(400):
        m, d = int(rng.integers(1, 13)), int(rng.integers(1, 9))
        kind = case % 3
        if kind == 0:  # continuous
            x = rng.standard_normal((m, d))
        elif kind == 1:  # dyadic grid: many ties, exact arithmetic everywhere
            x = rng.integers(-6, 7, size=(m, d)) / 4.0
        else:  # float32 with a few outliers
            x = rng.standard_normal((m, d)).astype(np.float32)
            x[rng.random(m) < 0.2] *= 100
        beta = float(rng.choice([0.1, 0.25, 1 / 3, 0.4, 0.5]))
        threshold = None if rng.random() < 0.6 else float(rng.uniform(0.05, 4.0))
        want, s, C1, C2 = brsgd_reference(x.astype(np.float64).tolist(), beta, threshold)
        agg = A.get("brsgd", beta=beta, threshold=threshold)
        t = agg.trace(x)
        np.testing.assert_array_equal(t.scores, s)
        assert set(np.flatnonzero(t.c1)) == C1 and set(np.flatnonzero(t.c2)) == C2
        rtol = 1e-6 if x.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(agg(x), want, rtol=rtol, atol=rtol)


def test_brsgd_drops_non_finite_rows():
    g = np.array([[1.0, 2, 0], [np.nan, 0, 0], [2, 1, 0], [3, 3, 2], [10, -6, 2], [np.inf] * 3])
    t = A.get("brsgd").trace(g)
    np.testing.assert_array_equal(t.finite, [True, False, True, True, True, False])
    assert np.isneginf(t.scores[[1, 5]]).all() and np.isposinf(t.l1[[1, 5]]).all()
    # the four finite rows are the hand case above
    np.testing.assert_array_equal(t.output, [2.0, 2.5, 1.0])
    np.testing.assert_array_equal(A.get("brsgd")(g), [2.0, 2.5, 1.0])


def test_brsgd_beta_ceil_is_exact():
    # 0.3 * 10 = 3.0000000000000004 in floating point; ceil must still be 3
    g = np.arange(10.0)[:, None] * np.ones((1, 2))
    assert A.get("brsgd", beta=0.3).trace(g).c2.sum() == 3


# ------------------------------------------------------------------ validation

BAD_PARAMS = [
    ("trimmed_mean", {"f": -1}, "f"),
    ("trimmed_mean", {"f": 1.5}, "f"),
    ("trimmed_mean", {"f": True}, "f"),
    ("krum", {"f": -1}, "f"),
    ("krum", {"f": "2"}, "f"),
    ("multi_krum", {"f": -2}, "f"),
    ("multi_krum", {"m": 0}, "m"),
    ("multi_krum", {"m": 2.5}, "m"),
    ("bulyan", {"f": -1}, "f"),
    ("bulyan", {"f": None}, "f"),
    ("geometric_median", {"eps": 0}, "eps"),
    ("geometric_median", {"eps": -1e-3}, "eps"),
    ("geometric_median", {"eps": float("nan")}, "eps"),
    ("geometric_median", {"max_iter": 0}, "max_iter"),
    ("geometric_median", {"max_iter": 2.0}, "max_iter"),
    ("centered_clipping", {"tau": 0}, "tau"),
    ("centered_clipping", {"tau": -1.0}, "tau"),
    ("centered_clipping", {"tau": float("inf")}, "tau"),
    ("centered_clipping", {"iterations": 0}, "iterations"),
    ("brsgd", {"beta": 0}, "beta"),
    ("brsgd", {"beta": 0.75}, "beta"),
    ("brsgd", {"beta": -0.1}, "beta"),
    ("brsgd", {"threshold": 0}, "threshold"),
    ("brsgd", {"threshold": -2.0}, "threshold"),
    ("brsgd", {"threshold": float("nan")}, "threshold"),
    ("mean", {"f": 1}, "f"),
    ("median", {"tau": 1.0}, "tau"),
    ("krum", {"m": 2}, "m"),
]


@pytest.mark.parametrize(("name", "params", "arg"), BAD_PARAMS)
def test_invalid_parameters_raise_at_construction(name, params, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}="):
        A.get(name, **params)


def test_every_parameter_is_validated():
    covered = {(name, arg) for name, _, arg in BAD_PARAMS}
    for name, cls in A.REGISTRY.items():
        for arg in cls.PARAMS:
            assert (name, arg) in covered


def test_unknown_name():
    with pytest.raises(ValueError, match=r"\bname='krun'"):
        A.get("krun")


@pytest.mark.parametrize(
    ("name", "params", "n", "match"),
    [
        ("krum", {"f": 1}, 4, r"f=1.*n >= 5.*n=4"),
        ("krum", {"f": 2}, 6, r"f=2.*n=6"),
        ("multi_krum", {"f": 1, "m": 5}, 5, r"f=1, m=5.*n >= 6.*m <= n - f.*n=5"),
        ("bulyan", {"f": 1}, 6, r"f=1.*n >= 7.*4f \+ 3.*n=6"),
        ("trimmed_mean", {"f": 2}, 4, r"f=2.*n > 2f.*n=4"),
    ],
)
def test_too_few_rows_raise_at_call(name, params, n, match):
    agg = A.get(name, **params)
    with pytest.raises(ValueError, match=match):
        agg(np.zeros((n, 3)))


@pytest.mark.parametrize("pre", PRE)
@pytest.mark.parametrize("name", A.NAMES)
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(5),
        np.zeros((2, 2, 2)),
        np.zeros((0, 3)),
        np.zeros((3, 0)),
        np.zeros((3, 2), dtype=complex),
        np.array([["a", "b"], ["c", "d"]]),
        np.zeros((3, 2), dtype=bool),
    ],
    ids=["1d", "3d", "no-rows", "no-cols", "complex", "str", "bool"],
)
def test_bad_input_raises(name, bad, pre):
    with pytest.raises(ValueError, match=r"\bx must"):
        build(name, pre=pre)(bad)


@pytest.mark.parametrize("m,beta,c2", [(10, 0.1, 1), (10, 0.4, 4), (20, 0.1, 2), (20, 0.25, 5),
                                       (20, 0.5, 10), (3, 1 / 3, 1), (7, 0.3, 3), (9, 0.5, 5),
                                       (100, 0.01, 1), (30, 0.2, 6), (11, 0.1, 2)])
def test_brsgd_c2_has_ceil_beta_m_rows_for_decimal_beta(m, beta, c2):
    """Algorithm 2's |C2| = ceil(beta m) for the beta the user wrote: beta = 0.1, m = 10 is 1
    row (the binary double 0.1 times 10 exceeds 1 and would give 2)."""
    x = np.random.default_rng(m).standard_normal((m, 4))
    assert int(A.get("brsgd", beta=beta).trace(x).c2.sum()) == c2


@pytest.mark.parametrize("f,beta,need", [(1, 0.1, 11), (2, 0.4, 6), (1, 0.25, 5), (3, 0.5, 7),
                                         (1, 0.2, 6), (4, 0.5, 9)])
def test_brsgd_requires_f_below_beta_m(f, beta, need):
    """The smallest m with f < beta m."""
    assert A.requires("brsgd", f, beta=beta) == need
    b = Fraction(beta).limit_denominator(1000)
    assert f < b * need and not f < b * (need - 1)


# --------------------------------------------------------------------------- compiled passes


def _both_paths(monkeypatch, fn):
    """``fn()`` with the compiled passes, then with the numpy path."""
    monkeypatch.setattr(A, "USE_KERNELS", True)
    a = fn()
    monkeypatch.setattr(A, "USE_KERNELS", False)
    b = fn()
    return a, b


def _hostile_inputs(seed: int, trials: int):
    """Random (n, d) inputs of both dtypes with ties, NaN/inf entries and whole bad rows."""
    rng = np.random.default_rng(seed)
    for t in range(trials):
        n = int(rng.integers(1, 70))
        d = int(rng.choice([1, 7, 128, 129, 2047, 2049, 5000]))
        dt = np.float32 if t % 2 else np.float64
        x = (rng.standard_normal((n, d)) * rng.choice([1e-3, 1.0, 1e3])).astype(dt)
        if t % 3 == 0:
            x[:, : d // 2] = np.round(x[:, : d // 2])  # many exact ties (and both signed zeros)
        if t % 5 == 0:
            x[rng.integers(0, n), rng.integers(0, d)] = np.nan
        if t % 7 == 0:
            x[rng.integers(0, n)] = rng.choice([np.inf, -np.inf])
        yield x


def test_compiled_kernels_are_available_in_the_project_environment():
    from electionlib import _agg_kernels as K

    assert K.available(), "numba should import in the project's environment"
    assert A._kernels() is K


@pytest.mark.parametrize("m", range(1, 13))
def test_sorting_network_sorts_every_zero_one_column(m):
    # The 0-1 principle: a comparator network that sorts every 0/1 input sorts every input.
    from itertools import product

    from electionlib import _agg_kernels as K

    pairs = K.network(m)
    assert all(0 <= i < j < m for i, j in pairs)
    for bits in product((0, 1), repeat=m):
        a = list(bits)
        for i, j in pairs:
            if a[j] < a[i]:
                a[i], a[j] = a[j], a[i]
        assert a == sorted(a)


@pytest.mark.parametrize("m", [13, 16, 17, 49, 64, 100, 101, 255, 256])
def test_sorting_network_sorts_random_columns(m):
    from electionlib import _agg_kernels as K

    a = np.random.default_rng(m).standard_normal((m, 200))
    for i, j in K.network(m):
        a[i], a[j] = np.minimum(a[i], a[j]), np.maximum(a[i], a[j])
    assert np.array_equal(a, np.sort(a, axis=0))


@pytest.mark.parametrize("name, params", [("median", {}), ("trimmed_mean", {"f": 0}),
                                          ("trimmed_mean", {"f": 3}), ("bulyan", {"f": 1}),
                                          ("brsgd", {})])
def test_compiled_order_statistics_equal_the_numpy_path(monkeypatch, name, params):
    for x in _hostile_inputs(1, 60):
        n = x.shape[0]
        if n < A.requires(name, params.get("f", 0), **{k: w for k, w in params.items()
                                                          if k != "f"}):
            continue
        agg = A.get(name, **params)
        a, b = _both_paths(monkeypatch, lambda agg=agg, x=x: agg(x))
        assert a.dtype == b.dtype == x.dtype
        assert np.array_equal(a, b, equal_nan=True), (name, x.shape, x.dtype)


def test_compiled_median_orders_nan_as_plus_infinity(monkeypatch):
    x = np.array([[np.nan, 1.0], [0.0, np.nan], [2.0, 3.0]], dtype=np.float32)
    a, b = _both_paths(monkeypatch, lambda: A.get("median")(x))
    assert a.tolist() == b.tolist() == [2.0, 3.0]
    x = np.array([[np.nan], [np.nan], [1.0]])
    a, b = _both_paths(monkeypatch, lambda: A.get("trimmed_mean", f=0)(x))
    assert a.tolist() == b.tolist() == [np.inf]


@pytest.mark.parametrize("name, params", [("geometric_median", {}),
                                          ("centered_clipping", {"tau": 3.0, "iterations": 2})])
def test_compiled_passes_agree_with_the_numpy_path_to_rounding(monkeypatch, name, params):
    for x in _hostile_inputs(2, 40):
        a, b = _both_paths(monkeypatch, lambda x=x: A.get(name, **params)(x))
        fin = np.isfinite(b)
        assert np.array_equal(fin, np.isfinite(a))
        if x.dtype == np.float32:
            np.testing.assert_array_max_ulp(a[fin], b[fin], maxulp=2)
        else:
            scale = max(float(np.max(np.abs(b[fin]), initial=0.0)), 1e-300)
            assert float(np.max(np.abs(a[fin] - b[fin]), initial=0.0)) <= 1e-9 * scale


def test_compiled_finite_rows_and_distances_equal_numpy(monkeypatch):
    for x in _hostile_inputs(3, 30):
        a, b = _both_paths(monkeypatch, lambda x=x: A._finite_rows(x))
        assert a.dtype == bool and a.tolist() == b.tolist()
        good = np.flatnonzero(a)
        if good.size == 0:
            continue
        z = np.random.default_rng(0).standard_normal(x.shape[1])
        for p in (1, 2):
            a, b = _both_paths(monkeypatch,
                               lambda x=x, p=p, good=good, z=z: A._distances(x, good, z, p))
            np.testing.assert_allclose(a, b, rtol=1e-12)
        w = np.random.default_rng(1).random(good.size)
        a, b = _both_paths(monkeypatch, lambda x=x, good=good, w=w, z=z:
                           A._weighted_sum(x, good, w, center=z))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * float(np.abs(b).max()))


def test_numba_switched_off_by_environment_leaves_the_numpy_path():
    import os
    import subprocess
    import sys

    code = ("from electionlib import aggregators as A, _agg_kernels as K; import numpy as np;"
            "print(K.available(), A._kernels(), A.get('median')(np.eye(3)).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ELECTIONLIB_NUMBA": "0"})
    assert out.stdout.strip() == "False None [0.0, 0.0, 0.0]"


def test_many_rows_take_the_numpy_sort_and_order_stats_checks_its_range():
    from electionlib import _agg_kernels as K

    x = np.random.default_rng(0).standard_normal((K.MAX_NETWORK_ROWS + 45, 3))
    assert A._kernels(x.shape[0]) is None and A._kernels(K.MAX_NETWORK_ROWS) is K
    assert np.array_equal(A.get("median")(x), np.median(x, axis=0))
    with pytest.raises(ValueError, match="rows <= 256"):
        K.order_stats(x, None, median=True)
    with pytest.raises(ValueError, match="lo < hi"):
        K.order_stats(x[:5], None, median=False, lo=3, hi=3)
    assert not K.network(9).flags.writeable
