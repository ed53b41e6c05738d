"""Tests for electionlib.theory: the paper's bounds against exact Gaussian probabilities."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from electionlib import theory as th

COMBOS = list(itertools.product(th.ATTACKS, th.TARGETS, th.TIES))


def slow_fixed(G, byzantine, S, attack, target, tie, sign_g, *, rho=None, q=0.75):
    """Reference: loop over correctness patterns and every vote's outcomes, in absolute values.

    Each vote is a list of (value, probability) outcomes: a fair coin is [(-1, 1/2), (1, 1/2)],
    a sign_flip Byzantine vote v != 0 is [(v, 1 - q), (-v, q)] (a flipped coin stays a coin).
    """
    G = np.asarray(G)
    n, k = G.shape
    rhos = [stats.norm.cdf(S)] * k if rho is None else list(rho)
    coin = [(-1, 0.5), (1, 0.5)]
    total = 0.0
    for bits in itertools.product((0, 1), repeat=k):
        w = sum(bits)
        prob = math.prod(rhos[j] if bits[j] else 1 - rhos[j] for j in range(k))
        truth = sign_g if target == "sign" or 2 * w > k else -sign_g
        votes = []
        for i in range(n):
            x = sum(bits[j] for j in range(k) if G[i, j])
            y = int(G[i].sum()) - x
            if x != y:
                v = sign_g if x > y else -sign_g
            elif x + y == 0:
                v = 0
            else:
                v = {"plus": 1, "coin": "coin", "abstain": 0}[tie]
            if i in byzantine:
                v = {
                    "none": v,
                    "reverse": v if v == "coin" else -v,
                    "directional": 1,
                    "random": "coin",
                    "worst": -truth,
                    "sign_flip": v if v in ("coin", 0) else ("flip", v),
                }[attack]
            if v == "coin":
                votes.append(coin)
            elif isinstance(v, tuple):
                votes.append([(v[1], 1 - q), (-v[1], q)])
            else:
                votes.append([(v, 1.0)])
        for outcome in itertools.product(*votes):
            if np.sign(sum(val for val, _ in outcome)) != truth:
                total += prob * math.prod(pr for _, pr in outcome)
    return total


def random_G(rng, n, k):
    G = (rng.random((n, k)) < 0.5).astype(np.uint8)
    G[0] = 0  # an empty row
    if n > 1 and k > 1:
        G[1] = 0
        G[1, :2] = 1  # an even row weight, so ties happen
    return G


# ------------------------------------------------------------------------------ doctests
def test_doctests():
    res = doctest.testmod(th)
    assert res.attempted > 10 and res.failed == 0


# ------------------------------------------------------------------------------ eq. (5)
def test_eq5_hand_case():
    assert abs(th.eq5_redundancy(5, 1) - 3.8) < 1e-12


def test_eq5_matches_direct_count():
    for n in range(5, 42, 2):
        for b in range(1, n // 2):
            s = (n - 1) // 2 - b
            L = (n - (2 * b + 1)) // (2 * (b + 1)) + 1
            direct = (s + (2 * b + 1) * L + n * (n - s - L)) / n
            assert abs(th.eq5_redundancy(n, b) - direct) < 1e-12, (n, b)


def test_draco_redundancy():
    assert [th.draco_redundancy(b) for b in range(4)] == [1, 3, 5, 7]


# ------------------------------------------------------------------------------ Lemma C.4, E.1, 1
def test_lemma_c4_holds_for_gaussian():
    S = np.linspace(0.0, 20.0, 4001)
    assert np.all(1.0 - th.sign_correct_prob(S) <= th.sign_error_bound(S) + 1e-15)
    assert np.all(th.sign_error_bound(S) <= 0.5)
    # continuous at the switch point 2/sqrt(3), where both branches equal 1/6
    assert abs(th.sign_error_bound(2 / math.sqrt(3)) - 1 / 6) < 1e-12


@pytest.mark.parametrize("tie,sign_g", [("coin", 1), ("abstain", 1), ("plus", 1), ("plus", -1)])
def test_lemma_e1_holds_for_gaussian(tie, sign_g):
    """Hoeffding with rho = Phi(S) >= 1 - (Lemma C.4 bound) gives E.1 for every n_i, even or odd.

    It is tight only at n_i = 0 (empty worker: error 1 = bound) and at S = 0 (bound 1).
    """
    n_i = np.arange(0, 301)
    for S in np.concatenate([[0.0, 1e-3, 0.01], np.linspace(0.05, 12.0, 120)]):
        exact = th.exact_local_error(n_i, S, tie, sign_g=sign_g)
        bound = th.local_error_bound_given_load(n_i, S)
        assert np.all(exact <= bound * (1 + 1e-12)), S
        assert exact[0] == 1.0 and bound[0] == 1.0
    odd = n_i[1::2]
    assert np.all(th.exact_local_error(odd, 0.5) < th.local_error_bound_given_load(odd, 0.5))


@pytest.mark.parametrize("tie,sign_g", [("coin", 1), ("abstain", 1), ("plus", -1)])
def test_lemma1_q_star_bounds_exact_ensemble_local_error(tie, sign_g):
    checked = 0
    for n in range(2, 121):
        for C in (0.25, 0.5, 1.0, 2.0):
            p = th.lemma1_p_star(n, C)
            if p > 1:
                continue
            for S in (0.0, 0.1, 0.5, 1.0, 2.0, 128**0.5):
                q_exact = th.exact_local_error_ensemble(n, p, S, tie, sign_g=sign_g)
                assert q_exact <= th.lemma1_q_star(n, C, S) * (1 + 1e-9), (n, C, S)
                checked += 1
    assert checked > 2000


def test_lemma1_values():
    assert abs(th.lemma1_p_star(100, 1.0) - 2 * math.sqrt(math.log(100) / 100)) < 1e-15
    q = th.lemma1_q_star(100, 1.0, 2.0)
    assert abs(q - 2 * max(2 / 100**2, math.exp(-math.sqrt(100 * math.log(100)) / 4))) < 1e-15
    assert np.allclose(th.lemma1_p_star(np.array([16, 16]), 1.0, log_base=2), [1.0, 1.0])


# ------------------------------------------------------------------------------ Theorem 1
def test_theorem1_rhs_formula_and_monotone():
    a = math.log(10.0) / 20
    u = 0.9
    want = (math.sqrt(a) + math.sqrt(a + 4 * u)) ** 2 / (8 * u**2)
    assert abs(th.theorem1_rhs(20, 10.0, u) - want) < 1e-15
    rhs = th.theorem1_rhs(20, np.array([3.0, 10.0, 100.0]), u)
    assert np.all(np.diff(rhs) > 0)  # larger Delta needs more honest workers (Sec. 3.1)


def test_theorem1_holds_exactly_on_grid():
    """Where condition (3) holds (u_min from q*, p = p*), the exact ensemble error is < 1/Delta."""
    checked, worst_ratio = 0, 0.0
    for n in (10, 20, 25, 30, 40, 60):
        for C in (0.5, 1.0, 2.0):
            p = th.lemma1_p_star(n, C)
            if p > 1:
                continue
            for S in (0.5, 1.0, 2.0, 128**0.5):
                u = 1 - th.lemma1_q_star(n, C, S)
                for alpha, delta in itertools.product((0.0, 0.2, 0.4), (2.5, 100.0, 1e4)):
                    if u <= 0 or not th.theorem1_condition(n, alpha, delta, u):
                        continue
                    for tie, sign_g in (("coin", 1), ("abstain", 1), ("plus", -1)):
                        err = th.exact_error_ensemble(
                            n, n, p, round(alpha * n), S, tie=tie, sign_g=sign_g
                        )
                        assert err < 1 / delta, (n, C, S, alpha, delta, tie)
                        worst_ratio = max(worst_ratio, err * delta)
                        checked += 1
    assert checked > 100
    assert worst_ratio < 1e-4  # q* is so loose that the guarantee holds with a huge margin


def test_theorem1_proof_step_d1_fails_with_true_local_success():
    """Proof D.1 treats honest votes as independent Bern(u); they are not (shared partitions).

    With the exact u = 1 - q, Hoeffding would give P_global <= exp(-2 eps^2 n (1 - alpha)),
    eps = u - 1/(2(1 - alpha)). Here it is ~1e-17 while the exact error is ~2e-4: the step fails.
    Theorem 1 itself survives only because q* >= q has a lot of slack (test above).
    """
    n, C, S = 81, 1.0, 0.5
    p = th.lemma1_p_star(n, C)
    u = 1 - th.exact_local_error_ensemble(n, p, S, "abstain")
    hoeffding = math.exp(-2 * (u - 0.5) ** 2 * n)
    exact = th.exact_error_ensemble(n, n, p, 0, S, tie="abstain")
    assert hoeffding < 1e-16 and 1e-4 < exact < 1e-3
    # ...whereas treating honest votes as independent Bern(u) is consistent with Hoeffding
    assert stats.binom.cdf(n // 2, n, u) <= hoeffding


def test_remark1_smallest_n():
    r = th.remark1_smallest_n()
    assert r.n is not None and 2 <= r.n <= 40 and r.log == "natural"
    assert abs(r.S - math.sqrt(128)) < 1e-12 and r.p_star <= 1 and "40" in r.note
    delta = 100.0

    def holds(n, base=math.e):
        u = 1 - th.lemma1_q_star(n, 1.0, r.S, log_base=base)
        p_ok = th.lemma1_p_star(n, 1.0, log_base=base) <= 1
        return p_ok and u > 0 and th.theorem1_condition(n, 0.2, delta, u, log_base=base)

    for n, base in ((r.n, math.e), (r.n_log2, 2.0), (r.n_log10, 10.0)):
        assert holds(n, base) and not holds(n - 1, base)
    assert abs(r.u_min - (1 - th.lemma1_q_star(r.n, 1.0, r.S))) < 1e-15
    assert r.rhs < 0.8
    assert len({r.n, r.n_log2, r.n_log10}) == 3  # the base of the logarithm matters
    # and the exact error at that n (p = p*, b = alpha n, worst attack) is far below 0.01
    assert th.exact_error_ensemble(r.n, r.n, r.p_star, round(0.2 * r.n), r.S) < 1e-100


# ------------------------------------------------------------------------------ exact errors
@pytest.mark.parametrize("attack,target,tie", COMBOS)
def test_fixed_matches_slow_reference(attack, target, tie):
    rng = np.random.default_rng(COMBOS.index((attack, target, tie)))
    for trial in range(4):
        n = int(rng.integers(1, 6))
        k = int(rng.choice([1, 3, 5] if target == "mu" else [1, 2, 3, 4, 5]))
        G = random_G(rng, n, k)
        byz = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
        S = float(rng.choice([0.0, 0.3, 1.2]))
        for sign_g in (1, -1):
            fast = th.exact_error_fixed(G, byz, S, attack=attack, target=target, tie=tie,
                                        sign_g=sign_g)  # fmt: skip
            slow = slow_fixed(G, byz, S, attack, target, tie, sign_g)
            assert abs(fast - slow) < 1e-12, (trial, G.tolist(), byz, S, sign_g)


@pytest.mark.parametrize("attack,target,tie", COMBOS)
def test_ensemble_equals_average_of_fixed(attack, target, tie):
    """Exhaustive n = k = 3: sum over all 512 matrices weighted p^|G| (1-p)^(9-|G|)."""
    n, k, p, S = 3, 3, 0.35, 0.4
    mats = np.array(list(itertools.product((0, 1), repeat=n * k)), dtype=np.uint8)
    weights = p ** mats.sum(1) * (1 - p) ** (n * k - mats.sum(1))
    for b, sign_g in ((0, 1), (1, -1), (2, 1), (3, -1)):
        kw = dict(attack=attack, target=target, tie=tie, sign_g=sign_g)
        avg = sum(wt * th.exact_error_fixed(m.reshape(n, k), list(range(b)), S, **kw)
                  for wt, m in zip(weights, mats, strict=True))  # fmt: skip
        assert abs(th.exact_error_ensemble(n, k, p, b, S, **kw) - avg) < 1e-12, b


def test_ensemble_matches_fixed_on_random_draw_average_non_square():
    """n != k: average over all 2^(2*4) matrices with n = 2 workers and k = 4 partitions."""
    n, k, p, S = 2, 4, 0.6, 0.7
    mats = np.array(list(itertools.product((0, 1), repeat=n * k)), dtype=np.uint8)
    weights = p ** mats.sum(1) * (1 - p) ** (n * k - mats.sum(1))
    avg = sum(wt * th.exact_error_fixed(m.reshape(n, k), [1], S, attack="reverse", tie="plus")
              for wt, m in zip(weights, mats, strict=True))  # fmt: skip
    assert abs(th.exact_error_ensemble(n, k, p, 1, S, attack="reverse", tie="plus") - avg) < 1e-12


@pytest.mark.parametrize("tie", th.TIES)
def test_attack_none_equals_no_byzantines(tie):
    for target, k in (("sign", 6), ("mu", 7)):
        a = th.exact_error_ensemble(11, k, 0.3, 4, 0.6, attack="none", target=target, tie=tie)
        b = th.exact_error_ensemble(11, k, 0.3, 0, 0.6, target=target, tie=tie)
        assert abs(a - b) < 1e-14


def test_one_worker_ensemble_is_local_error():
    for tie, sign_g in (("coin", 1), ("abstain", -1), ("plus", -1), ("plus", 1)):
        e = th.exact_error_ensemble(1, 8, 0.4, 0, 0.5, tie=tie, sign_g=sign_g)
        q = th.exact_local_error_ensemble(8, 0.4, 0.5, tie, sign_g=sign_g)
        assert abs(e - q) < 1e-14


def test_uncoded_worst_attack_with_half_byzantine_always_fails():
    for n in range(1, 9):
        G = np.eye(n, dtype=np.uint8)
        for b in range(math.ceil(n / 2), n + 1):
            for tie in th.TIES:
                assert abs(th.exact_error_fixed(G, range(b), 2.0, tie=tie) - 1.0) < 1e-12


def test_uncoded_hand_case():
    rho = stats.norm.cdf(1.0)
    # 3 workers, 1 Byzantine sends the wrong sign: correct only if both honest workers are right
    assert abs(th.exact_error_fixed(np.eye(3), [0], 1.0) - (1 - rho**2)) < 1e-15
    # no Byzantine: majority of 3 independent signs
    want = 1 - rho**3 - 3 * rho**2 * (1 - rho)
    assert abs(th.exact_error_fixed(np.eye(3), [], 1.0, attack="none") - want) < 1e-15


def test_fixed_large_k_runs_and_is_a_probability():
    G = (np.random.default_rng(0).random((7, 15)) < 0.3).astype(np.uint8)
    err = th.exact_error_fixed(G, [0, 1], 0.8, attack="reverse", target="mu")
    assert 0.0 < err < 1.0


def test_local_error_values():
    rho = stats.norm.cdf(0.7)
    assert abs(th.exact_local_error(1, 0.7) - (1 - rho)) < 1e-15
    assert abs(th.exact_local_error(2, 0.7, "coin") - ((1 - rho) ** 2 + rho * (1 - rho))) < 1e-15
    assert abs(th.exact_local_error(2, 0.7, "plus", sign_g=1) - (1 - rho) ** 2) < 1e-15
    assert abs(th.exact_local_error(2, 0.7, "abstain") - (1 - rho**2)) < 1e-15
    assert th.exact_local_error(0, 3.0, "plus") == 1.0


# ------------------------------------------------------------------------------ errors
BAD_CALLS = [
    (lambda: th.sign_error_bound(-0.1), "S"),
    (lambda: th.sign_error_bound(np.array([1.0, -1.0])), "S"),
    (lambda: th.local_error_bound_given_load(-1, 1.0), "n_i"),
    (lambda: th.local_error_bound_given_load(np.array([1.5]), 1.0), "n_i"),
    (lambda: th.local_error_bound_given_load(3, -2.0), "S"),
    (lambda: th.lemma1_p_star(1, 1.0), "n="),
    (lambda: th.lemma1_p_star(10, 0.0), "C="),
    (lambda: th.lemma1_p_star(10, 1.0, log_base=1.0), "log_base"),
    (lambda: th.lemma1_q_star(10, 1.0, -1.0), "S="),
    (lambda: th.lemma1_q_star(2.5, 1.0, 1.0), "n="),
    (lambda: th.theorem1_rhs(10, 2.0, 0.9), "delta"),
    (lambda: th.theorem1_rhs(10, 10.0, 0.0), "u_min"),
    (lambda: th.theorem1_rhs(10, 10.0, 1.5), "u_min"),
    (lambda: th.theorem1_rhs(0, 10.0, 0.9), "n="),
    (lambda: th.theorem1_condition(10, 1.0, 10.0, 0.9), "alpha"),
    (lambda: th.theorem1_condition(10, -0.1, 10.0, 0.9), "alpha"),
    (lambda: th.remark1_smallest_n(alpha=1.2), "alpha"),
    (lambda: th.remark1_smallest_n(B=0), "B="),
    (lambda: th.remark1_smallest_n(p_global=0.5), "p_global"),
    (lambda: th.remark1_smallest_n(snr=0.0), "snr"),
    (lambda: th.remark1_smallest_n(n_max=1), "n_max"),
    (lambda: th.eq5_redundancy(6, 1), "n=6"),
    (lambda: th.eq5_redundancy(5, 2), r"b=2 .*n//2 = 2.*n=5"),
    (lambda: th.eq5_redundancy(7, 0), "b=0"),
    (lambda: th.draco_redundancy(-1), "b="),
    (lambda: th.sign_correct_prob(-1.0), "S"),
    (lambda: th.exact_local_error(-1, 1.0), "n_i"),
    (lambda: th.exact_local_error(3, -1.0), "S"),
    (lambda: th.exact_local_error(3, 1.0, "maybe"), "tie"),
    (lambda: th.exact_local_error(3, 1.0, sign_g=0), "sign_g"),
    (lambda: th.exact_local_error_ensemble(0, 0.5, 1.0), "n="),
    (lambda: th.exact_local_error_ensemble(5, 1.5, 1.0), "p="),
    (lambda: th.exact_error_ensemble(0, 3, 0.5, 0, 1.0), "n="),
    (lambda: th.exact_error_ensemble(3, 0, 0.5, 0, 1.0), "k="),
    (lambda: th.exact_error_ensemble(3, 3, -0.1, 0, 1.0), "p="),
    (lambda: th.exact_error_ensemble(3, 3, 1.1, 0, 1.0), "p="),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 4, 1.0), "b="),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, -1, 1.0), "b="),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, -1.0), "S="),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, 1.0, tie="both"), "tie"),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, 1.0, attack="flip"), "attack"),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, 1.0, target="median"), "target"),
    (lambda: th.exact_error_ensemble(3, 4, 0.5, 1, 1.0, target="mu"), "target"),
    (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, 1.0, sign_g=2), "sign_g"),
    (lambda: th.exact_error_fixed([[0, 2], [1, 0]], [], 1.0), "G"),
    (lambda: th.exact_error_fixed(np.ones((2, 23)), [], 1.0), "G"),
    (lambda: th.exact_error_fixed(np.ones((2, 4)), [], 1.0, target="mu"), "target"),
    (lambda: th.exact_error_fixed(np.eye(3), [3], 1.0), "byzantine"),
    (lambda: th.exact_error_fixed(np.eye(3), [1, 1], 1.0), "byzantine"),
    (lambda: th.exact_error_fixed(np.eye(3), [0.5], 1.0), "byzantine"),
    (lambda: th.exact_error_fixed(np.eye(3), [0], -1.0), "S"),
    (lambda: th.exact_error_fixed(np.eye(3), [0], 1.0, attack="x"), "attack"),
    (lambda: th.exact_error_fixed(np.eye(3), [0], 1.0, tie="x"), "tie"),
]


@pytest.mark.parametrize("call,name", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_value_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_theorem1_best_bound_is_the_boundary_of_condition_3():
    from electionlib import theory as T

    for n, alpha, u in [(40, 0.2, 0.99), (100, 0.1, 0.9), (25, 0.2, 0.974), (500, 0.3, 0.8)]:
        bound = T.theorem1_best_bound(n, alpha, u)
        assert np.isfinite(bound)
        delta = 1.0 / bound
        assert T.theorem1_condition(n, alpha, delta * 0.999, u)
        assert not T.theorem1_condition(n, alpha, delta * 1.001, u)
    # u too small for any Delta > 2: the theorem says nothing
    assert np.isnan(T.theorem1_best_bound(40, 0.2, 0.6))
    with pytest.raises(ValueError, match="alpha"):
        T.theorem1_best_bound(40, 1.0, 0.9)


# ------------------------------------------------------------------------------ heterogeneous rho
def test_rho_equal_to_phi_s_gives_the_iid_result():
    """rho = Phi(S) * ones(k) reproduces the i.i.d. value to 1e-12 over codes, Byzantine sets,
    attacks, ties, targets and signs."""
    rng = np.random.default_rng(11)
    checked = 0
    for trial in range(30):
        n, k = int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7, 9]))
        G = random_G(rng, n, k)
        byz = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
        S = float(rng.choice([0.0, 0.4, 1.5]))
        attack, target, tie = COMBOS[trial % len(COMBOS)]
        sign_g = (1, -1)[trial % 2]
        kw = dict(attack=attack, target=target, tie=tie, sign_g=sign_g)
        iid = th.exact_error_fixed(G, byz, S, **kw)
        het = th.exact_error_fixed(G, byz, rho=th.sign_correct_prob(S) * np.ones(k), **kw)
        assert abs(iid - het) < 1e-12, (trial, G.tolist(), byz, S, kw)
        checked += 1
    # several chunks of the 2^k enumeration (n = 200 workers: 10485 patterns per chunk)
    G = (np.random.default_rng(0).random((200, 15)) < 0.3).astype(np.uint8)
    for attack in ("worst", "sign_flip"):
        iid = th.exact_error_fixed(G, range(40), 0.3, attack=attack, target="mu")
        het = th.exact_error_fixed(G, range(40), rho=np.full(15, th.sign_correct_prob(0.3)),
                                   attack=attack, target="mu")
        assert abs(iid - het) < 1e-12
    assert checked == 30


@pytest.mark.parametrize("attack,target,tie", COMBOS[::2])
def test_rho_matches_slow_reference(attack, target, tie):
    """Non-identical partitions, rho_j < 1/2, 0 and 1 included, against the per-pattern loop."""
    rng = np.random.default_rng(COMBOS.index((attack, target, tie)) + 100)
    for _ in range(3):
        n = int(rng.integers(1, 6))
        k = int(rng.choice([1, 3, 5] if target == "mu" else [1, 2, 3, 4, 5]))
        G = random_G(rng, n, k)
        byz = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
        rho = rng.choice([0.0, 0.1, 0.35, 0.5, 0.8, 1.0], size=k)
        for sign_g in (1, -1):
            kw = dict(attack=attack, target=target, tie=tie, sign_g=sign_g)
            fast = th.exact_error_fixed(G, byz, rho=rho, q=0.6, **kw)
            slow = slow_fixed(G, byz, None, attack, target, tie, sign_g, rho=rho, q=0.6)
            assert np.isfinite(fast) and abs(fast - slow) < 1e-12, (G.tolist(), byz, rho)


def test_rho_hand_cases_and_certain_partitions():
    # uncoded, worker 0 Byzantine: correct iff both honest partitions are correct
    assert abs(th.exact_error_fixed(np.eye(3), [0], rho=[0.9, 0.8, 0.3]) - (1 - 0.8 * 0.3)) < 1e-15
    G = np.eye(5, dtype=np.uint8)  # uncoded
    assert th.exact_error_fixed(G, [], rho=np.ones(5), attack="none") == 0.0
    assert th.exact_error_fixed(G, [], rho=np.zeros(5), attack="none") == 1.0
    # rho_j = 0 is a partition that is always wrong, not a NaN: three certain-wrong of five
    e = th.exact_error_fixed(G, [], rho=[1.0, 1.0, 0.0, 0.0, 0.0], attack="none")
    assert e == 1.0
    # mu is the partition majority: with every partition certain, "mu" error is 0 unattacked
    assert th.exact_error_fixed(G, [], rho=[1.0, 0.0, 1.0, 0.0, 1.0], attack="none",
                                target="mu") == 0.0
    # a partition with rho < 1/2 is a liability: the master's error exceeds its i.i.d. value
    het = th.exact_error_fixed(G, [0], rho=[0.7, 0.7, 0.7, 0.7, 0.3])
    iid = th.exact_error_fixed(G, [0], rho=np.full(5, 0.7))
    assert het > iid


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: th.exact_error_fixed(np.eye(3), [0]), "pass S"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], 1.0, rho=[0.5] * 3), "both given"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], rho=[0.5] * 2), r"shape \(k,\) = \(3,\)"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], rho=[0.5, -0.1, 0.5]),
         r"rho\[1\]=-0.1 must lie in \[0, 1\]"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], rho=[0.5, np.nan, 0.5]), r"rho\[1\]"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], rho=["a", "b", "c"]), "rho must hold"),
        (lambda: th.exact_error_fixed(np.eye(3), [0], 1.0, attack="sign_flip", q=1.2), "q=1.2"),
        (lambda: th.exact_error_ensemble(3, 3, 0.5, 1, 1.0, attack="sign_flip", q=-0.5),
         "q=-0.5"),
    ],
)
def test_rho_and_q_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
