import itertools
import time

import numpy as np
import pytest
from reference import local_majority

from electionlib import attacks, codes, tolerance, votes


def brute_force_tolerant(G, b, tie):
    """Definition of Section 4, checked literally: every m with a defined majority, every
    Byzantine set of size b, every message in {-1, 0, +1}^b they may send, every coin outcome."""
    n, k = G.shape
    for bits in itertools.product([-1, 1], repeat=k):
        m = np.array(bits)
        if m.sum() == 0:
            continue
        mu = int(np.sign(m.sum()))
        # honest votes, with coin ties enumerated over both outcomes
        base = local_majority(m[:, None], G, "abstain" if tie == "coin" else tie)[:, 0]
        tied = [i for i in range(n) if G[i].sum() > 0 and base[i] == 0] if tie == "coin" else []
        for coin in itertools.product([-1, 1], repeat=len(tied)):
            c = base.copy()
            c[tied] = coin
            for byz in itertools.combinations(range(n), b):
                for sent in itertools.product([-1, 0, 1], repeat=b):
                    y = c.copy()
                    y[list(byz)] = sent
                    if np.sign(y.sum()) != mu:
                        return False
    return True


def replay(G, cx, tie):
    """Encode the counterexample's message, let the Byzantines send their bits, decode."""
    n, k = G.shape
    m = cx.m
    rule = "abstain" if tie == "coin" else tie
    bits, present = votes.encode(votes.pack(m[:, None]), G, 1, tie=rule)
    mu = int(np.sign(m.sum()))
    if tie == "coin":  # worst-case coins: tied honest workers land against mu
        tied = np.flatnonzero((np.unpackbits(present, axis=1, count=1)[:, 0] == 0) & (G.sum(1) > 0))
        bits[tied] = votes.pack(np.array([[-mu]]))
        present[tied] = 0x80
    target = votes.pack(np.array([mu]))
    bits, present = attacks.apply_vote_attack("worst", bits, present, list(cx.byzantine), 1,
                                              target=target)
    for i, s in zip(cx.byzantine, cx.sent, strict=True):
        assert votes.unpack(bits[i], 1)[0] == s
    return int(votes.decide(bits, 1, present)[0]), mu


@pytest.mark.parametrize("n", range(5, 22, 2))
def test_algorithm1_certified_and_broken_at_b_plus_1(n):
    for b in range(1, n // 2):
        G = codes.deterministic(n, b)
        res = tolerance.verify(G, b)
        assert res.tolerant and res.counterexample is None and res.method == "lemma2"
        # it also tolerates any smaller number of Byzantines (Remark 5)
        assert tolerance.verify(G, b - 1).tolerant
        bad = tolerance.verify(G, b + 1)
        assert not bad.tolerant
        decided, mu = replay(G, bad.counterexample, "coin")
        assert decided != mu
        assert tolerance.max_tolerable_b(G) == b


def test_worst_time_n21_and_n25_reported():
    t0 = time.perf_counter()
    for b in range(1, 10):
        assert tolerance.verify(codes.deterministic(21, b), b).tolerant
    print(f"n=21, all b: {time.perf_counter() - t0:.2f} s")  # timing is a benchmark, not asserted


@pytest.mark.parametrize("tie", ["plus", "coin", "abstain"])
def test_matches_literal_definition_on_small_random_codes(tie):
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        n = int(rng.integers(2, 6))
        k = int(rng.integers(1, 6))
        G = (rng.random((n, k)) < rng.uniform(0.2, 0.9)).astype(np.uint8)
        for b in range(0, min(n, 2) + 1):
            res = tolerance.verify(G, b, tie=tie)
            assert res.tolerant == brute_force_tolerant(G, b, tie), (G.tolist(), b, tie)
            if not res.tolerant:
                decided, mu = replay(G, res.counterexample, tie)
                assert decided != mu
            checked += 1
    assert checked > 100


def test_lemma2_path_agrees_with_full_enumeration():
    # odd row weights, odd k: the Lemma-2 shortcut and Proposition 3 over all 2^k messages agree
    rng = np.random.default_rng(11)
    for _ in range(60):
        n, k = 7, 7
        G = np.zeros((n, k), np.uint8)
        for i in range(n):
            w = int(rng.choice([1, 3, 5, 7]))
            G[i, rng.choice(k, w, replace=False)] = 1
        for b in range(0, 4):
            fast = tolerance.verify(G, b)
            assert fast.method == "lemma2"
            slow = tolerance._contributions(G, np.arange(2**k, dtype=np.uint32), "coin")
            mu, nw, na, nm, valid = slow
            want = bool((tolerance._final_margin(nw, na, nm, b)[valid] > 0).all())
            assert fast.tolerant == want


def test_general_path_with_even_rows_and_empty_rows():
    G = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1],
                  [1, 1, 1, 1, 1]], np.uint8)
    res = tolerance.verify(G, 1, tie="abstain")
    assert res.method == "prop3"
    assert res.tolerant == brute_force_tolerant(G, 1, "abstain")
    assert res.messages_checked == 2**5


def test_uncoded_tolerates_nothing():
    for n in (3, 5, 9):
        assert tolerance.max_tolerable_b(codes.uncoded(n)) == 0
        res = tolerance.verify(codes.uncoded(n), 1)
        assert not res.tolerant


def test_mismatch_design_bhat_1_attacked_by_2_n5():
    # supplement A.2: the n=5 code designed for b_hat=1 is not *perfectly* 2-tolerant
    res = tolerance.verify(codes.deterministic(5, 1), 2)
    assert not res.tolerant
    assert "NOT TOLERANT" in res.summary()


def test_summary_certificate_text():
    res = tolerance.verify(codes.deterministic(15, 3), 3)
    assert "CERTIFIED" in res.summary() and "6,435" in res.summary()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: tolerance.verify(np.eye(3), -1), "b=-1"),
        (lambda: tolerance.verify(np.eye(3), 4), "b=4"),
        (lambda: tolerance.verify(np.eye(3), 1, tie="x"), "tie='x'"),
        (lambda: tolerance.verify(np.full((2, 2), 3), 1), "0 or 1"),
        (lambda: tolerance.verify(np.ones((2, 31)), 1), "k=31"),
        (lambda: tolerance.max_tolerable_b(np.ones(3)), "2-D"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
