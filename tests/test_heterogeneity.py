"""The heterogeneity study (notebook 07): its grids, worst cases, vote model and plots."""

import math

import numpy as np
import pandas as pd
import pytest

from electionlib import attacks as A
from electionlib import codes, theory
from electionlib import heterogeneity as H
from electionlib.train import TrainConfig


@pytest.mark.parametrize("profile", ["ci", "quick", "full"])
def test_every_grid_builds_and_faces_its_family_s_attacks(profile):
    entries = H.grid(profile)
    P = H.PROFILE[profile]
    labels = pd.DataFrame([lab for lab, _ in entries])
    assert set(labels.method) == set(P["methods"])
    assert set(labels.alpha) == set(P["alphas"]) and set(labels.b) == set(P["bs"])
    for (method, _alpha, b), g in labels.groupby(["method", "alpha", "b"]):
        want = {"none"} if b == 0 else {lab for lab, _ in H.attacks_for(
            method, P["vote_attacks"] if H.family(method) == "votes" else P["fp_attacks"])}
        assert set(g.attack) == want
    for lab, cfg in entries:
        assert cfg.partition == ("iid" if math.isinf(lab["alpha"]) else "dirichlet")
        assert cfg.vote_scheme == (lab["family"] == "votes")
        assert (cfg.byz_select == "omniscient") == (lab["attack"] == H.ALLOCATION_AWARE)
    assert len({cfg for _, cfg in entries}) == len(entries)  # no run twice


def test_quick_keeps_every_attack_and_full_every_scheme():
    vote = {lab for lab, _ in H.attacks_for("uncoded")}
    real = {lab for lab, _ in H.attacks_for("median")}
    assert vote == (set(A.VOTE_ATTACKS) - {"none"}) | {H.ALLOCATION_AWARE}
    assert real == set(A.GRADIENT_ATTACKS) - {"none"}
    quick = pd.DataFrame([lab for lab, _ in H.grid("quick")])
    assert set(quick[quick.b > 0].attack) == vote | real
    assert set(H.PROFILE["full"]["methods"]) == set(H.VOTE_METHODS + H.FP_METHODS)


def test_scheme_kwargs_build_valid_configs_within_each_scheme_s_bounds():
    for method in H.VOTE_METHODS + H.FP_METHODS:
        for b in (0, 3, 5, 7):
            kw = H.scheme_kwargs(method, 15, b)
            TrainConfig(n=15, b=b, **kw)  # the config's own checks pass
    assert H.scheme_kwargs("det", 15, 9)["design_b"] == 6  # Algorithm 1: b < floor(n/2)
    assert H.scheme_kwargs("krum", 15, 7)["agg_params"] == (("f", 6),)  # n >= 2f + 3
    with pytest.raises(ValueError, match="method='nope'"):
        H.scheme_kwargs("nope", 15, 3)


def _final(rows):
    keys = ["method", "scheme", "family", "alpha", "split", "b", "b_frac", "attack", "seed",
            "accuracy"]
    df = pd.DataFrame(rows, columns=keys)
    return df.assign(bytes_per_worker_per_step=10, diverged=False)


def test_worst_case_is_the_minimum_over_attacks_of_the_seed_mean():
    rows = []
    for seed, accs in ((0, (0.8, 0.5, 0.7)), (1, (0.6, 0.7, 0.7))):
        for attack, acc in zip(("a", "b", "c"), accs, strict=True):
            rows.append(("u", "U", "votes", 0.1, "α=0.1", 3, "3/15", attack, seed, acc))
    w = H.worst_case(_final(rows))
    assert len(w) == 1
    assert w.worst_attack.iloc[0] == "b" and w.worst_accuracy.iloc[0] == pytest.approx(0.6)
    assert w.attacks.iloc[0] == 3 and w.seeds.iloc[0] == 2
    by_seed = H.worst_by_seed(_final(rows))
    assert by_seed.set_index("seed").worst_accuracy.to_dict() == pytest.approx({0: 0.5, 1: 0.6})


def test_best_per_cell_stays_within_a_family_and_the_gain_table_pairs_seeds():
    rows = [("uncoded", "U", "votes", 0.1, "α=0.1", 3, "3/15", "rev", 0, 0.4),
            ("det", "D", "votes", 0.1, "α=0.1", 3, "3/15", "rev", 0, 0.6),
            ("median", "M", "real-valued", 0.1, "α=0.1", 3, "3/15", "alie", 0, 0.9),
            ("uncoded", "U", "votes", 0.1, "α=0.1", 0, "0/15", "none", 0, 0.8)]
    w = H.worst_case(_final(rows))
    best = H.best_per_cell(w)
    votes = best[(best.family == "votes") & (best.b == 3)]
    assert votes.method.tolist() == ["det"]  # the real-valued 0.9 does not compete
    table = H.coding_gain_table(H.worst_by_seed(_final(rows)))
    assert set(table.cell) == {"α=0.1,b=3"}  # b = 0 and real-valued rows left out
    assert dict(zip(table.method, table.value, strict=True)) == pytest.approx(
        {"uncoded": 0.4, "det": 0.6})
    assert "+20.0 points" in H.finding(w)


def test_final_accuracy_counts_a_non_finite_model_as_chance():
    df = pd.DataFrame(dict(method="median", scheme="M", family="real-valued", alpha=0.1,
                           split="α=0.1", b=3, b_frac="3/15", attack="nan", seed=0,
                           step=[0, 5], accuracy=[0.5, np.nan], bytes_per_worker_per_step=10,
                           diverged=True))
    assert H.final_accuracy(df).accuracy.tolist() == [0.1]


def test_vote_errors_match_the_exact_model_and_the_deterministic_code_is_unmoved():
    """With every coordinate at the same per-partition agreements the Monte-Carlo over
    coordinates is exact; Algorithm 1's master equals the partition majority, so its error
    under the allocation-aware adversary is the attack-free uncoded error."""
    k = 7
    rho = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.45, 0.3])
    agreement = np.repeat(rho[:, None], 40, axis=1)
    e = H.vote_errors(agreement, [0, 2], coords=10, rng=0, bernoulli_draws=2).set_index(
        ["method", "b"])
    clean = theory.exact_error_fixed(codes.uncoded(k), [], rho=rho, attack="none",
                                     target="sign")
    assert e.loc[("uncoded", 0), "error"] == pytest.approx(clean, abs=1e-12)
    assert e.loc[("det", 2), "error"] == pytest.approx(clean, abs=1e-12)
    byz = A.worst_byzantine_set(codes.uncoded(k), 2, rho=rho, target="sign")[0]
    worst = theory.exact_error_fixed(codes.uncoded(k), byz, rho=rho, attack="worst",
                                     target="sign")
    assert e.loc[("uncoded", 2), "error"] == pytest.approx(worst, abs=1e-12)
    assert e.loc[("uncoded", 2), "error"] > clean
    assert e.loc[("uncoded", 2), "se"] == pytest.approx(0.0, abs=1e-12)
    iid = theory.exact_error_fixed(codes.uncoded(k), byz, rho=np.full(k, rho.mean()),
                                   attack="worst", target="sign")
    assert e.loc[("uncoded", 2), "iid_model"] == pytest.approx(iid, abs=1e-12)


def test_partition_agreement_is_a_rate_per_partition_and_coordinate():
    cfg = TrainConfig(dataset="digits", n=3, partition="dirichlet", alpha=0.1)
    a = H.partition_agreement(cfg, steps=3)
    assert a.shape[0] == 3 and a.dtype == np.float64
    assert np.all((a >= 0) & (a <= 1)) and np.allclose(a * 3, np.round(a * 3))


def test_the_plots_draw_from_the_tables():
    import matplotlib

    matplotlib.use("Agg")
    from electionlib import plots

    rows = [(m, m, fam, a, "s", b, f"{b}/15", "x", 0, 0.5 + 0.1 * b / 5)
            for m, fam in (("uncoded", "votes"), ("median", "real-valued"))
            for a in (math.inf, 0.1) for b in (0, 5)]
    w = H.worst_case(_final(rows))
    fig, axes = plots.new_axes(3, 1)
    plots.worst_case_heatmap(w, "uncoded", ax=axes[0, 0])
    plots.best_scheme_heatmap(H.best_per_cell(w), "votes", ax=axes[0, 1])
    plots.robustness_vs_bytes(w, ax=axes[0, 2])
    assert len(axes[0, 0].texts) == 4 and len(axes[0, 1].texts) == 4
    plots.label_mix(np.array([[0.5, 0.5], [1.0, 0.0]]), ax=axes[0, 0])
    matplotlib.pyplot.close(fig)
