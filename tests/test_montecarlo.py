import itertools

import numpy as np
import pytest
from scipy import stats

from electionlib import codes, theory
from electionlib import montecarlo as MC

FAMILY = 0.001  # family-wise error rate of the whole grid (99.9%)


def grid():
    cells = []
    G_bern = codes.bernoulli(9, 2 / 9, rng=2024)
    fixed = {
        "uncoded": codes.uncoded(9),
        "deterministic": codes.deterministic(9, 2),
        "bernoulli-fixed": G_bern,
    }
    for (name, G), attack, target, S, b in itertools.product(
        fixed.items(), ["reverse", "directional", "random", "worst"], ["sign", "mu"],
        [0.3, 1.0], [2, 3],
    ):
        cells.append(("fixed", name, G, attack, target, S, b))
    for p, attack, target, S, b in itertools.product(
        [2 / 9, 3 / 9], ["reverse", "directional", "random", "worst"], ["sign", "mu"],
        [0.3, 1.0], [2, 3],
    ):
        cells.append(("ensemble", f"bernoulli p={p:.3f}", p, attack, target, S, b))
    return cells


def test_monte_carlo_agrees_with_exact_over_grid_bonferroni():
    cells = grid()
    level = 1 - FAMILY / len(cells)  # Bonferroni
    outside = []
    for j, (kind, name, obj, attack, target, S, b) in enumerate(cells):
        kw = dict(attack=attack, target=target, tie="coin", S=S)
        if kind == "fixed":
            byz = list(range(9 - b, 9))  # last workers: the all-ones rows of Algorithm 1
            exact = theory.exact_error_fixed(obj, byz, **kw)
            est = MC.estimate_fixed(obj, byz, trials=6000, seed=j, level=level, **kw)
        else:
            exact = theory.exact_error_ensemble(9, 9, obj, b, **kw)
            est = MC.estimate_ensemble(9, 9, obj, b, trials=6000, seed=j, level=level, **kw)
        lo, hi = est.ci
        if not lo - 1e-12 <= exact <= hi + 1e-12:
            outside.append((name, attack, target, S, b, exact, est.p_hat, (lo, hi)))
    assert not outside, outside


def test_deterministic_code_has_zero_mu_error_up_to_design_b():
    G = codes.deterministic(11, 3)
    for b, attack in itertools.product([1, 2, 3], ["worst", "reverse", "random"]):
        est = MC.estimate_fixed(G, list(range(b)), 0.2, attack=attack, target="mu", trials=3000)
        assert est.errors == 0
        assert theory.exact_error_fixed(G, list(range(b)), 0.2, attack=attack, target="mu") == 0


def test_the_check_has_power_it_rejects_a_wrong_reference():
    # the same comparison flags a value that is off: exact for b=2 vs simulation at b=3
    G = codes.uncoded(9)
    est = MC.estimate_fixed(G, [6, 7, 8], 0.5, trials=6000, seed=1)
    wrong = theory.exact_error_fixed(G, [7, 8], 0.5)
    lo, hi = est.ci
    assert not lo <= wrong <= hi


def test_reproducible_and_block_seeded():
    a = MC.estimate_ensemble(9, 9, 0.3, 2, 0.5, trials=5000, seed=3)
    b = MC.estimate_ensemble(9, 9, 0.3, 2, 0.5, trials=5000, seed=3)
    c = MC.estimate_ensemble(9, 9, 0.3, 2, 0.5, trials=5000, seed=4)
    assert a == b and a != c
    ss = np.random.SeedSequence(3)
    d = MC.estimate_fixed(codes.uncoded(5), [0], 0.5, trials=500, seed=ss)
    e = MC.estimate_fixed(codes.uncoded(5), [0], 0.5, trials=500, seed=np.random.SeedSequence(3))
    assert d == e


def test_clopper_pearson_and_pvalue():
    lo, hi = MC.clopper_pearson(50, 100, 0.95)
    assert lo < 0.5 < hi
    r = MC.MCResult(0, 1000, 0.999)
    assert r.pvalue(0.0) == 1.0 and r.pvalue(0.1) < 1e-10


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: MC.estimate_fixed(np.eye(3), [0], -1.0), "S=-1"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], 1.0, attack="x"), "attack='x'"),
        (lambda: MC.estimate_fixed(np.eye(4), [0], 1.0, target="mu"), "k=4"),
        (lambda: MC.estimate_fixed(np.eye(3), [5], 1.0), "byzantine"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], 1.0, trials=0), "trials=0"),
        (lambda: MC.estimate_ensemble(9, 9, 1.2, 1, 1.0), "p=1.2"),
        (lambda: MC.estimate_ensemble(9, 9, 0.2, 10, 1.0), "b=10"),
        (lambda: MC.estimate_ensemble(9, 9, 0.2, 1, 1.0, sign_g=0), "sign_g=0"),
        (lambda: MC.estimate_ensemble(9, 9, 0.2, 1, 1.0, tie="t"), "tie='t'"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------ heterogeneous rho
def test_rho_equal_to_phi_s_draws_the_same_trials():
    G = codes.bernoulli(7, 2 / 7, rng=5)
    rho = np.full(7, stats.norm.cdf(0.6))
    for attack in ("worst", "sign_flip", "random"):
        a = MC.estimate_fixed(G, [0, 3], 0.6, attack=attack, trials=3000, seed=2)
        b = MC.estimate_fixed(G, [0, 3], rho=rho, attack=attack, trials=3000, seed=2)
        assert a == b


def test_monte_carlo_agrees_with_exact_heterogeneous_rho_bonferroni():
    """Partition j correct with its own rho_j (some < 1/2, one certain): the exact value lies in
    the Clopper-Pearson interval of the packed simulator (family-wise level 99.9%)."""
    G_bern = codes.bernoulli(9, 2 / 9, rng=2024)
    det = codes.deterministic(9, 2)
    rhos = [np.linspace(0.3, 0.95, 9), np.array([0.9] * 6 + [0.2] * 3),
            np.array([1.0, 0.4, 0.45, 0.8, 0.6, 0.55, 0.7, 0.35, 0.9])]
    cells = list(itertools.product([("bern", G_bern), ("det", det)], range(len(rhos)),
                                   [("worst", "mu"), ("reverse", "sign"), ("sign_flip", "sign"),
                                    ("sign_flip", "mu")]))
    level = 1 - FAMILY / len(cells)
    outside = []
    for j, ((name, G), r, (attack, target)) in enumerate(cells):
        kw = dict(attack=attack, target=target, tie="coin", rho=rhos[r])
        exact = theory.exact_error_fixed(G, [6, 7, 8], **kw)
        est = MC.estimate_fixed(G, [6, 7, 8], trials=4000, seed=j, level=level, **kw)
        lo, hi = est.ci
        if not lo - 1e-12 <= exact <= hi + 1e-12:
            outside.append((name, r, attack, target, exact, est.p_hat))
    assert not outside, outside
    # and the check has power: the i.i.d. value at the mean rho is rejected for the skewed rho
    rho = rhos[1]
    est = MC.estimate_fixed(G_bern, [6, 7, 8], rho=rho, attack="worst", target="sign",
                            trials=6000, seed=99)
    wrong = theory.exact_error_fixed(G_bern, [6, 7, 8], rho=np.full(9, rho.mean()),
                                     attack="worst", target="sign")
    lo, hi = est.ci
    assert not lo <= wrong <= hi


def test_sign_flip_ensemble_agrees_with_exact():
    for j, (q, target) in enumerate([(0.75, "sign"), (0.4, "mu")]):
        exact = theory.exact_error_ensemble(9, 9, 0.3, 3, 0.5, attack="sign_flip", q=q,
                                            target=target)
        est = MC.estimate_ensemble(9, 9, 0.3, 3, 0.5, attack="sign_flip", q=q, target=target,
                                   trials=6000, seed=j)
        lo, hi = est.ci
        assert lo <= exact <= hi


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: MC.estimate_fixed(np.eye(3), [0]), "pass S"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], 1.0, rho=[0.5] * 3), "both given"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], rho=[0.5] * 4), r"shape \(k,\) = \(3,\)"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], rho=[0.5, 1.2, 0.5]), r"rho\[1\]=1.2"),
        (lambda: MC.estimate_fixed(np.eye(3), [0], 1.0, attack="sign_flip", q=2.0), "q=2.0"),
        (lambda: MC.estimate_ensemble(9, 9, 0.2, 1, 1.0, q=-1.0), "q=-1.0"),
    ],
)
def test_rho_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
