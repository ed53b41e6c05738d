"""The cluster cost model: exact terms on hand cases, hold-out checks that can fail."""

import math

import numpy as np
import pandas as pd
import pytest

from electionlib import costmodel as CM
from electionlib.perf import PowerFit


def table(fn, ns=(3, 5, 9, 15), ds=(100, 1000, 10_000), rule="x"):
    t = pd.DataFrame([(n, d) for n in ns for d in ds], columns=["n", "d"])
    t["rule"], t["status"] = rule, "ok"
    t["seconds"] = fn(t.n.to_numpy(float), t.d.to_numpy(float))
    return t


def test_step_terms_by_hand():
    m = CM.CostModel({"majority": PowerFit(2e-10, 1.0, 1.0, 1.0)}, encode_per_coordinate=1e-9,
                     t_partition=0.01)
    t = m.step("majority", n=15, d=1e6, bandwidth=1e10, r=3)
    assert t["compute"] == pytest.approx(0.03)
    assert t["encode"] == pytest.approx(1e-9 * 3 * 1e6)
    assert t["upload"] == pytest.approx(15 * 1 * 1e6 / 1e10)
    assert t["broadcast"] == pytest.approx(4 * 2 * 1e6 / 1e10)  # ceil(log2 16) = 4 hops
    assert t["aggregate"] == pytest.approx(2e-10 * 15 * 1e6)
    assert t["total"] == pytest.approx(sum(t[k] for k in
                                           ("compute", "encode", "upload", "aggregate",
                                            "broadcast")))
    assert t["dominant"] == "compute"
    # streaming majority: d counters of ceil(log2(n+1)) bits, not n*d bits
    assert t["server_memory_bytes"] == 4 * 1e6 / 8


def test_abstain_doubles_the_vote_upload_and_float_rules_hold_everything():
    m = CM.CostModel({"majority": PowerFit(1e-10, 1, 1, 1), "median": PowerFit(1e-9, 1, 1, 1)})
    plus = m.step("majority", n=9, d=1e6, bandwidth=1e9)
    abst = m.step("majority", n=9, d=1e6, bandwidth=1e9, tie="abstain")
    assert abst["upload"] == 2 * plus["upload"]
    med = m.step("median", n=9, d=1e6, bandwidth=1e9)
    assert med["upload"] == 32 * plus["upload"]
    assert med["server_memory_bytes"] == 9 * 32 * 1e6 / 8


def test_draco_load_is_its_redundancy():
    m = CM.CostModel({"draco_repetition": PowerFit(1e-9, 1, 1, 1),
                      "draco_cyclic": PowerFit(1e-9, 1, 1, 1)}, t_partition=1.0)
    assert m.step("draco_repetition", n=9, d=10, bandwidth=1e9, s=2)["compute"] == 5
    assert m.step("draco_cyclic", n=9, d=10, bandwidth=1e9, s=2)["compute"] == 3


def test_bad_input_is_a_clear_error():
    m = CM.CostModel({"mean": PowerFit(1e-9, 1, 1, 1)})
    with pytest.raises(ValueError, match="rule='krum' has no fit"):
        m.step("krum", n=5, d=10, bandwidth=1e9)
    with pytest.raises(ValueError, match="bandwidth"):
        m.step("mean", n=5, d=10, bandwidth=0)
    with pytest.raises(ValueError, match="hold"):
        CM.holdout(table(lambda n, d: n * d), hold="z")


def test_from_table_recovers_the_exponents():
    t = table(lambda n, d: 3e-9 * n**2 * d, rule="krum")
    m = CM.CostModel.from_table(t)
    c, a, b, r2 = m.fits["krum"]
    assert (a, b) == pytest.approx((2.0, 1.0))
    assert m.aggregate("krum", 1000, 1e9) == pytest.approx(3e-9 * 1e6 * 1e9)


def test_holdout_passes_a_true_power_law_and_flags_a_kink():
    good = CM.holdout(table(lambda n, d: 1e-9 * n**1.3 * d), hold="d")
    assert np.allclose(good.ratio, 1.0)
    # n log n is not a power law, but over n in 3..15 one is within 5% of it
    nlogn = CM.holdout(table(lambda n, d: 1e-9 * n * d * np.log2(n)), hold="d")
    assert np.all(np.abs(nlogn.ratio - 1) < 0.05) and not np.allclose(nlogn.ratio, 1.0)
    # a cache cliff: the largest d is 10x slower than the trend -> the prediction is 10x low
    bad = CM.holdout(table(lambda n, d: 1e-9 * n * d * np.where(d > 5000, 10.0, 1.0)))
    assert np.allclose(bad.ratio, 0.1)
    by_n = CM.holdout(table(lambda n, d: 1e-9 * n**2 * d), hold="n")
    assert set(by_n.n) == {15} and np.allclose(by_n.ratio, 1.0)


def test_holdout_skips_rules_with_too_few_points():
    t = table(lambda n, d: n * d, ds=(100, 1000))  # one d left after holding out: no slope
    assert CM.holdout(t).empty


def test_crossover_quadratic_rule_becomes_server_bound_linear_does_not():
    m = CM.CostModel({"krum": PowerFit(1e-9, 2.0, 1.0, 1.0),
                      "majority": PowerFit(1e-11, 1.0, 1.0, 1.0)})
    n = CM.crossover(m, "krum", d=1e7, bandwidth=1e10)
    # aggregate 1e-9 n^2 d > upload 32 n d / 1e10  <=>  n > 3.2
    assert n == 4
    # the majority's aggregate / upload ratio does not grow with n: it never crosses here
    assert CM.crossover(m, "majority", d=1e7, bandwidth=1e10, n_max=10_000) is None


def test_scale_table_grid_and_dominant_terms():
    m = CM.CostModel({"majority": PowerFit(1e-10, 1, 1, 1), "mean": PowerFit(5e-10, 1, 1, 1)})
    s = CM.scale_table(m, ns=(10, 1000), ds=(1e6, 1e9), bandwidths=(1e10,))
    assert len(s) == 2 * 2 * 2
    big = s[(s.n == 1000) & (s.d == 1e9)].set_index("rule")
    # float32 upload of 1000 workers x 1e9 coordinates over 10 Gb/s: 3,200 s
    assert big.loc["mean", "upload"] == pytest.approx(1000 * 32 * 1e9 / 1e10)
    assert big.loc["mean", "dominant"] == "upload"
    assert big.loc["majority", "total"] < big.loc["mean", "total"]
    assert math.isclose(big.loc["mean", "upload"] / big.loc["majority", "upload"], 32)
