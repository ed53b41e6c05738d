import math

import numpy as np
import pandas as pd
import pytest

from electionlib import analysis
from electionlib import suites as S
from electionlib import train as T


def test_grids_are_well_formed_for_every_profile():
    for prof in ("ci", "quick", "full"):
        g4 = S.figure_grid([(5, 1), (9, 2), (15, 3)], prof)
        g5 = S.figure_grid([(5, 2), (9, 3), (15, 6)], prof)
        assert len(g4) == 15 * len(S.SEEDS[prof]) and len(g5) == len(g4)
        det = [c for lab, c in g5 if lab["method"] == "det"]
        assert all(c.design_b < c.n // 2 for c in det)  # Algorithm 1's range, mismatch at (5,2)
        assert {c.lr for _, c in g4} == {S.VOTE_LR[prof]}
        bern = [c for lab, c in g4 if lab["method"].startswith("bern")]
        assert {c.empty_rows for c in bern} == {"redraw"}  # the reference's rule for Figs. 4-5
        # E[r] = 2 and E[r] = 3 codes of one seed are drawn from different streams
        for seed in S.SEEDS[prof]:
            seeds = {c.code_seed for lab, c in g4 if lab["method"].startswith("bern")
                     and lab["seed"] == seed and lab["n"] == 9}
            assert len(seeds) == 2
        # the plateau cells train longer, on the full test set
        for lab, c in g5:
            plateau = (lab["n"], lab["b"]) in S.PLATEAU_CELLS[prof]
            assert c.epochs == (S.PLATEAU_EPOCHS[prof] if plateau else S.EPOCHS[prof])
            assert (c.test_subsample is None) == (plateau or prof == "full")
        for grid in (S.amazon_grid(prof), S.amazon_grid(prof, figure="fig6b"),
                     S.draco_grid(prof), S.brsgd_grid(prof), S.sensitivity_grid(prof),
                     S.multibit_grid(prof), S.tie_grid(prof), S.empty_rows_grid(prof)):
            cfgs = [c for _, c in grid]
            assert len(set(cfgs)) == len(cfgs)  # no duplicate configurations
        labels = [tuple(lab.values()) for lab, _ in S.appendix_grid(prof)]
        assert len(set(labels)) == len(labels)  # (A.4 and A.6 share one run by design)
    br = S.brsgd_grid("ci")
    assert {lab["alpha"] for lab, _ in br} == {0.0, 0.1, 0.25, 0.5}
    assert {c.b for lab, c in br if lab["alpha"] == 0.5} == {10}


def test_final_table_and_time_to_accuracy():
    df = pd.DataFrame({
        "scheme": ["a"] * 6 + ["b"] * 6,
        "seed": [0, 0, 0, 1, 1, 1] * 2,
        "step": [0, 1, 2] * 4,
        "accuracy": [0.1, 0.5, 0.8, 0.1, 0.7, 0.9, 0.1, 0.2, 0.3, 0.1, 0.2, 0.4],
        "modelled_seconds": [0, 1, 2] * 4,
    })
    ft = S.final_table(df, ["scheme"]).set_index("scheme")
    assert ft.loc["a", "mean"] == pytest.approx(0.85) and ft.loc["a", "seeds"] == 2
    tt = S.time_to_accuracy(df, ["scheme"], [0.6, 0.85]).set_index("scheme")
    assert tt.loc["a", "60%"] == 1.0  # seed-averaged curve: 0.6 at step 1
    assert tt.loc["a", "85%"] == 2.0
    assert math.isinf(tt.loc["b", "60%"])


def test_run_grid_only_cached_never_trains(tmp_path):
    cfg = T.TrainConfig(dataset="digits", n=5, epochs=0.2, seed=1)
    with pytest.raises(FileNotFoundError, match="notebook 04"):
        S.run_grid([({"x": 1}, cfg)], root=tmp_path, only_cached=True, progress=False)
    a = S.run_grid([({"x": 1}, cfg)], root=tmp_path, progress=False)
    b = S.run_grid([({"x": 1}, cfg)], root=tmp_path, only_cached=True, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert (a.x == 1).all()


def test_sign_agreement_is_a_rate():
    cfg = T.TrainConfig(dataset="digits", n=5, batch=8)
    sa = analysis.sign_agreement(cfg, steps=3, reference=500)
    assert len(sa) > 1000
    assert sa.agreement.between(0, 1).all() and sa.S.between(0, 5).all()
    assert np.isfinite(sa.abs_grad).all()


def test_tta_grid_one_harness_and_reuses_draco_runs():
    g = S.tta_grid("ci")
    methods = [lab["method"] for lab, _ in g]
    assert len(set(methods)) == len(methods) == 9
    cfgs = {lab["method"]: c for lab, c in g}
    assert {c.n for c in cfgs.values()} == {15}
    assert {c.b for k, c in cfgs.items() if k != "mean-clean"} == {2}
    assert cfgs["uncoded"].attack == "reverse"
    assert cfgs["median"].attack == "reversed_gradient"
    # the DRACO / geometric median / mean entries are exactly draco_grid's (stored runs reused)
    draco = {c for _, c in S.draco_grid("ci")}
    for k in ("draco-rep", "draco-cyc", "gm", "mean-clean"):
        assert cfgs[k] in draco


def test_grids_use_the_presets_of_the_command_line():
    """The notebook's configurations are what --preset builds for the same point."""
    from electionlib import presets as P

    for lab, cfg in S.figure_grid([(9, 3)], "quick")[:5]:
        kw = {k: getattr(cfg, k) for k in ("n", "b", "code", "r", "attack", "seed", "epochs",
                                            "eval_every", "subsample", "test_subsample")}
        if cfg.code == "deterministic":
            kw["design_b"] = cfg.design_b
        assert P.build("fig5", kw) == cfg, lab
    for _, cfg in S.brsgd_grid("quick")[:3]:
        assert cfg.lr == 0.03 and cfg.momentum == "none"  # BrSGD's own setting
    for _, cfg in S.draco_grid("quick")[:3]:
        assert cfg.lr == 0.01 and cfg.momentum == "none"  # DRACO's own setting
    a6 = S.amazon_grid("quick", figure="fig6b")
    assert {c.n for _, c in a6} == {49} and {c.batch for _, c in a6} == {5}
    assert {c.amazon_rows for _, c in a6} == {28665}


def test_budget_and_plateau_helpers():
    text = S.budget(S.figure_grid([(9, 3)], "quick"))
    assert text.startswith("10 epochs of 18,000 examples (1,250 steps), test set full")
    cfg = S.plateau_config("quick")
    assert cfg.epochs == 3 * S.PLATEAU_EPOCHS["quick"] and cfg.b == 0


def test_every_grid_names_its_runs_by_a_method_id_with_one_label_each():
    from electionlib import methods as M

    grids = [S.figure_grid([(5, 1), (5, 2), (9, 3)], "ci"), S.appendix_grid("ci"),
             S.amazon_grid("ci"), S.draco_grid("ci"), S.sensitivity_grid("ci"),
             S.multibit_grid("ci"), S.tie_grid("ci"), S.empty_rows_grid("ci"), S.tta_grid("ci"),
             S.brsgd_grid("ci")]
    for g in grids:
        for lab, cfg in g:
            assert lab["method"] in M.METHODS, lab
            # the label is the id's, the deterministic code's design b̂ said where it differs
            assert lab["scheme"] == M.label(lab["method"], cfg.design_b, cfg.b), lab
            assert M.method_of(lab["scheme"]) == lab["method"]
    a2 = [lab for lab, _ in S.appendix_grid("ci") if lab["section_id"] == "A2"]
    assert {lab["scheme"] for lab in a2 if lab["method"] == "det"} == {"Det. code (b̂=1)"}
    with pytest.raises(ValueError, match="names no method"):
        M.method_of("Bern. code E[r]=9")
    with pytest.raises(ValueError, match="is not one of"):
        M.label("bernoulli")
