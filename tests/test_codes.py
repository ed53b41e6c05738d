import numpy as np
import pytest

from electionlib import codes, theory


def valid_pairs(n_max=41):
    return [(n, b) for n in range(5, n_max + 1, 2) for b in range(1, n // 2)]


@pytest.mark.parametrize("n,b", valid_pairs())
def test_algorithm1_structure(n, b):
    G = codes.deterministic(n, b)
    s, L = codes.deterministic_params(n, b)
    assert G.shape == (n, n) and G.dtype == np.uint8
    assert s == (n - 1) // 2 - b and L == (n - (2 * b + 1)) // (2 * (b + 1)) + 1
    np.testing.assert_array_equal(G[:s, :s], np.eye(s))
    assert G[:s, s:].sum() == 0
    assert (G[s + L :] == 1).all()
    w = codes.loads(G)
    # eq. (D.7): row weights 1, 2b+1, n
    assert (w[:s] == 1).all() and (w[s : s + L] == 2 * b + 1).all() and (w[s + L :] == n).all()
    for row in range(L):  # step 3: 2b+1 consecutive ones, shifted by b+1
        ones = np.flatnonzero(G[s + row, s:])
        assert ones.tolist() == list(range(row * (b + 1), row * (b + 1) + 2 * b + 1))
    assert G[s : s + L, :s].sum() == 0


@pytest.mark.parametrize("n,b", valid_pairs())
def test_redundancy_matches_eq5(n, b):
    assert codes.redundancy(codes.deterministic(n, b)) == pytest.approx(
        theory.eq5_redundancy(n, b), abs=1e-12
    )


def test_n5_b1_redundancy_is_3_8():
    assert codes.redundancy(codes.deterministic(5, 1)) == pytest.approx(3.8)


def test_uncoded_and_loads():
    G = codes.uncoded(7)
    assert codes.redundancy(G) == 1.0
    assert codes.loads(G).tolist() == [1] * 7


def test_bernoulli_mean_redundancy_and_seed():
    G1 = codes.bernoulli(15, 2 / 15, rng=3)
    G2 = codes.bernoulli(15, 2 / 15, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(G1, G2)
    rs = [codes.redundancy(codes.bernoulli(15, 2 / 15, rng=s)) for s in range(400)]
    # E[r] = n p = 2; standard error of the mean ~ sqrt(2/15 * 13/15 * 15 / 15^2... ) small
    assert abs(np.mean(rs) - 2.0) < 0.1


def test_bernoulli_k_partitions_and_empty_rows():
    G = codes.bernoulli(6, 0.1, k=20, rng=0)
    assert G.shape == (6, 20)
    assert codes.redundancy(G) == G.sum() / 20
    G = codes.bernoulli(50, 0.05, k=3, rng=1)
    assert codes.empty_rows(G).any()  # kept, not redrawn: those workers abstain


def test_bernoulli_extremes():
    assert codes.bernoulli(4, 0.0, rng=0).sum() == 0
    assert codes.bernoulli(4, 1.0, rng=0).sum() == 16


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: codes.deterministic(8, 2), "n=8 must be odd"),
        (lambda: codes.deterministic(9, 4), r"b=4 must satisfy 0 < b < n//2 = 4"),
        (lambda: codes.deterministic(9, 0), "uncoded"),
        (lambda: codes.deterministic(9, -1), "b=-1"),
        (lambda: codes.deterministic(9.0, 2), "n=9.0"),
        (lambda: codes.deterministic(1, 1), "n=1"),
        (lambda: codes.uncoded(0), "n=0"),
        (lambda: codes.bernoulli(5, 1.5, rng=0), "p=1.5"),
        (lambda: codes.bernoulli(5, -0.1, rng=0), "p=-0.1"),
        (lambda: codes.bernoulli(5, float("nan"), rng=0), "p=nan"),
        (lambda: codes.bernoulli(5, 0.5, k=0, rng=0), "k=0"),
        (lambda: codes.bernoulli(5, 0.5), "rng=None"),
        (lambda: codes.redundancy([[0, 2]]), "entries must be 0 or 1"),
        (lambda: codes.redundancy([1, 0]), "2-D"),
        (lambda: codes.loads(np.zeros((0, 3))), "2-D"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bernoulli_redraw_never_returns_an_empty_row():
    rng = np.random.default_rng(5)
    for _ in range(200):
        G = codes.bernoulli(15, 2 / 15, rng=rng, empty_rows="redraw")
        assert G.sum(axis=1).min() >= 1
    # keep is the i.i.d. ensemble: the empty-row frequency matches (1 - p)^k per worker
    G = np.stack([codes.bernoulli(15, 2 / 15, rng=rng) for _ in range(2000)])
    rate = (G.sum(axis=2) == 0).mean()
    assert abs(rate - (13 / 15) ** 15) < 0.01
    # and its entries are independent Bernoulli(p): mean p, no row/column structure
    assert abs(G.mean() - 2 / 15) < 0.005
    assert abs(np.corrcoef(G[:, 0, 0], G[:, 0, 1])[0, 1]) < 0.05


def test_bernoulli_keep_is_unchanged_draw_for_draw():
    """The default rule draws exactly what the code always drew (stored results stay valid)."""
    a = codes.bernoulli(9, 0.3, rng=np.random.default_rng(1))
    b = (np.random.default_rng(1).random((9, 9)) < 0.3).astype(np.uint8)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n,p", [(5, 0.0), (49, 1 / 49)])
def test_bernoulli_redraw_refuses_the_practically_unreachable(n, p):
    with pytest.raises(ValueError, match="practically unreachable"):
        codes.bernoulli(n, p, rng=0, empty_rows="redraw")


def test_bernoulli_empty_rows_argument_is_checked_and_empty_columns_reported():
    with pytest.raises(ValueError, match="empty_rows='drop'"):
        codes.bernoulli(5, 0.5, rng=0, empty_rows="drop")
    G = np.array([[1, 0, 0], [1, 0, 1]], np.uint8)
    assert codes.empty_columns(G).tolist() == [False, True, False]
    assert codes.prob_no_empty_row(15, 2 / 15, 15) == pytest.approx(
        (1 - (13 / 15) ** 15) ** 15)
