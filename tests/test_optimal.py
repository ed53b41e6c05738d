"""The exact minimum-redundancy search (Remark 3's finite analogue), against plain enumeration
and against a brute force written from the definition of perfect b-tolerance."""

import json
import subprocess
import sys
from itertools import combinations, combinations_with_replacement, product

import numpy as np
import pytest

from electionlib import codes, tolerance
from electionlib import optimal as O


def tolerant_by_definition(G, b):
    """Perfect b-tolerance from the definition (Section 4): for every message with a majority
    mu, every set of b workers and every ±1 value each of them sends, the master's sum has
    the sign of mu (0 fails). Rows are odd, so every honest worker votes ±1."""
    G = np.asarray(G, np.int64)
    n, k = G.shape
    for m in product((-1, 1), repeat=k):
        m = np.array(m)
        if m.sum() == 0:
            continue
        mu = 1 if m.sum() > 0 else -1
        votes = np.sign(G @ m)
        for byz in combinations(range(n), b):
            rest = np.delete(votes, byz).sum()
            for sent in product((-1, 1), repeat=b):
                if np.sign(rest + sum(sent)) != mu:
                    return False
    return True


def _odd_rows(k):
    return [np.array(r) for r in product((0, 1), repeat=k) if sum(r) % 2]


def exhaustive_minimum(n, b, k):
    """The fewest ones over every G with odd rows (rows as a multiset: tolerance does not
    depend on the order of the workers), by counting agreements per message."""
    rows = _odd_rows(k)
    msgs = [np.array(m) for m in product((-1, 1), repeat=k) if sum(m) != 0]
    mus = np.array([1 if m.sum() > 0 else -1 for m in msgs])
    agree = np.array([[np.sign(r @ m) == mu for m, mu in zip(msgs, mus, strict=True)]
                      for r in rows])  # (row types, messages)
    T = O.agreement_threshold(n, b)
    weights = np.array([r.sum() for r in rows])
    best = None
    for combo in combinations_with_replacement(range(len(rows)), n):
        ones = int(weights[list(combo)].sum())
        if best is not None and ones >= best:
            continue
        if (agree[list(combo)].sum(axis=0) >= T).all():
            best = ones
    return best


@pytest.mark.parametrize("n,b,k", [(3, 1, 3), (5, 1, 5), (5, 2, 5), (4, 1, 3), (5, 1, 4),
                                   (3, 1, 2), (4, 1, 4), (6, 1, 4), (5, 2, 4)])
def test_the_solver_s_optimum_equals_plain_enumeration(n, b, k):
    res = O.minimum_redundancy(n, b, k=k, time_limit=60)
    want = exhaustive_minimum(n, b, k)
    if want is None:
        assert res.status == "INFEASIBLE" and res.G is None
        return
    assert res.status == "OPTIMAL" and res.ones == want and res.bound == want
    assert tolerant_by_definition(res.G, b) and res.certificate.tolerant
    assert (res.G.sum(axis=1) % 2 == 1).all()


def test_every_code_with_fewer_ones_fails_at_n5():
    """n = k = 5, b = 1: the solver's 19 ones are the least; every odd-row code with 18 or fewer
    fails, by the definition (checked over every multiset of rows)."""
    res = O.minimum_redundancy(5, 1, time_limit=60)
    assert res.ones == 19
    rows = _odd_rows(5)
    checked = 0
    for combo in combinations_with_replacement(range(len(rows)), 5):
        G = np.stack([rows[i] for i in combo])
        if G.sum() <= 18 and G.sum() >= 15:  # the heaviest codes below the optimum
            checked += 1
            assert not tolerant_by_definition(G, 1)
    assert checked > 100


@pytest.mark.parametrize("n,b", [(5, 1), (7, 1), (7, 2), (9, 3)])
def test_algorithm_1_is_minimum_where_the_solver_proves_it(n, b):
    """At these (n, b) no odd-row code has fewer ones than Algorithm 1's eq. (5)."""
    res = O.minimum_redundancy(n, b, time_limit=120)
    assert res.status == "OPTIMAL"
    assert res.redundancy == pytest.approx(codes.eq5_redundancy(n, b))
    assert res.gap_to_eq5 == pytest.approx(0.0)
    assert tolerant_by_definition(res.G, b)


def test_algorithm_1_is_not_minimum_at_n9_b2():
    """n = 9, b = 2: a certified code with 59 ones, Algorithm 1 needs 61 (eq. (5): 6.78), and
    the solver proves 59 is the least; the code passes both checkers and fails at b = 3."""
    res = O.minimum_redundancy(9, 2, time_limit=240)
    assert res.status == "OPTIMAL" and res.ones == 59
    assert int(round(codes.eq5_redundancy(9, 2) * 9)) == 61
    assert tolerance.verify(res.G, 2).tolerant and not tolerance.verify(res.G, 3).tolerant
    assert tolerant_by_definition(res.G, 2)
    assert (res.G.sum(axis=1) % 2 == 1).all()


def test_the_looser_model_is_trivial():
    """With empty rows allowed, 2b + 1 full rows are tolerant, and every column of a tolerant
    code needs 2b + 1 ones: removing any one of them fails."""
    for n, b in ((5, 1), (7, 2), (9, 3)):
        G = O.loose_optimum(n, b)
        assert G.sum() == (2 * b + 1) * n and tolerance.verify(G, b).tolerant
        H = G.copy()
        H[0, 0] = 0
        assert not tolerance.verify(H, b, tie="abstain").tolerant


def test_double_lex_keeps_the_code_and_orders_it():
    G = codes.deterministic(9, 2)
    D = O.double_lex(G)
    assert D.sum() == G.sum() and tolerance.verify(D, 2).tolerant
    rv = [int("".join(map(str, r[::-1])), 2) for r in D]
    cv = [int("".join(map(str, c[::-1])), 2) for c in D.T]
    assert rv == sorted(rv) and cv == sorted(cv)


def test_max_load_objective_and_a_time_limit():
    res = O.minimum_redundancy(5, 1, objective="max_load", time_limit=60)
    assert res.status == "OPTIMAL" and res.certificate.tolerant
    assert res.max_load == res.bound == 5  # four rows must read every partition here
    quick = O.minimum_redundancy(9, 1, time_limit=0.5)
    assert quick.status in ("FEASIBLE", "UNKNOWN")
    if quick.G is not None:
        assert quick.certificate.tolerant and quick.bound <= quick.ones


def test_bad_arguments():
    for kw, match in ((dict(n=0, b=0), "n=0"), (dict(n=5, b=5), "b=5"),
                      (dict(n=5, b=1, k=0), "k=0"), (dict(n=5, b=1, objective="x"), "objective"),
                      (dict(n=5, b=1, time_limit=0), "time_limit=0"),
                      (dict(n=5, b=1, tie="maybe"), "tie")):
        with pytest.raises(ValueError, match=match):
            O.minimum_redundancy(**kw)


def test_cli_prints_the_code_and_its_certificates():
    run = [sys.executable, "-m", "electionlib", "optimal"]
    out = subprocess.run(run + ["--n", "5", "--b", "1"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "status OPTIMAL" in out.stdout and "CERTIFIED" in out.stdout
    js = subprocess.run(run + ["--n", "7", "--b", "2", "--json"], capture_output=True,
                        text=True, timeout=120)
    d = json.loads(js.stdout.strip().splitlines()[-1])
    assert d["status"] == "OPTIMAL" and d["redundancy"] == pytest.approx(d["eq5"])
    assert np.asarray(d["G"]).shape == (7, 7)
    slow = subprocess.run(run + ["--n", "9", "--b", "1", "--time-limit", "1"],
                          capture_output=True, text=True, timeout=120)
    assert slow.returncode == 3 and "lower bound" in slow.stdout
    bad = subprocess.run(run + ["--n", "4", "--b", "4"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: b=4")
