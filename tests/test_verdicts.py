"""The verdict builders of notebook 04 on synthetic run tables shaped like run_grid's."""

import numpy as np
import pandas as pd
import pytest

from electionlib import claims as C
from electionlib import suites as S
from electionlib import verdicts as V

PAIRS4, PAIRS5 = [(5, 1), (9, 2), (15, 3)], [(5, 2), (9, 3), (15, 6)]


def runs(labels_list, final, steps=5, metric="accuracy"):
    """Metrics of runs whose curves rise linearly to ``final(labels)``."""
    frames = []
    for labels in labels_list:
        f = final(labels)
        frames.append(pd.DataFrame({
            "step": np.arange(steps), "epoch": np.arange(steps) / 2,
            metric: np.linspace(0.1, f, steps),
            "modelled_seconds": np.arange(steps, dtype=float), **labels}))
    return pd.concat(frames, ignore_index=True)


def fig(pairs, gap, seeds=(0, 1, 2)):
    # the rules select by method id: the labels are scrambled to show they are not read
    labels = [dict(n=n, b=b, method=m, scheme=f"label {i}", seed=seed)
              for n, b in pairs for seed in seeds
              for i, m in enumerate(("clean", "uncoded", "bern-r2", "bern-r3", "det"))]

    def final(lab):
        if lab["method"] in ("clean", "det"):
            return 0.85
        return 0.6 if lab["method"] == "uncoded" else 0.6 + gap
    return runs(labels, final)


@pytest.mark.parametrize("gap,outcome", [(0.2, "yes"), (0.1, "direction only"), (-0.05, "NO")])
def test_figure_rows_judge_every_claim_of_the_two_figures(gap, outcome):
    rows = V.figure_rows(fig(PAIRS4, gap), fig(PAIRS5, gap), profile="quick", budget4="a",
                         budget5="b")
    by = {}
    for r in rows:
        by.setdefault(r["id"], []).append(r)
    assert set(by) == {"fig4-det-clean", "fig4-gap", "fig4-time", "fig5-gap", "fig5-order",
                       "tableA1"}
    assert by["fig4-det-clean"][0]["outcome"] == "yes"  # identical synthetic curves
    assert by["fig5-gap"][0]["outcome"] == outcome
    # the (9, 3) plateau cell has a row of its own at quick
    assert [r["cells"] for r in by["fig5-gap"]] == [", ".join(C.FIG5), "n=9,b=3 (of 3 declared)"]
    assert all("early training" in r["labels"] for r in by["fig4-gap"])
    assert "targets" in by["tableA1"][0]["budget"]


def test_the_deterministic_code_must_be_present_and_identical():
    """fig4-det-clean: a cell whose deterministic-code curve differs from the attack-free
    run's by 1e-6 at one evaluation is NO; a cell without it cannot be judged at all."""
    f4 = fig(PAIRS4, 0.2)
    missing = f4[~((f4.n == 9) & (f4.method == "det"))]
    with pytest.raises(ValueError, match="no candidate 'det'"):
        V.figure_rows(missing, fig(PAIRS5, 0.2), profile="quick", budget4="a", budget5="b")
    off = f4.copy()
    i = off.index[(off.n == 5) & (off.method == "det")][-1]
    off.loc[i, "accuracy"] -= 1e-6
    rows = V.figure_rows(off, fig(PAIRS5, 0.2), profile="quick", budget4="a", budget5="b")
    assert [r for r in rows if r["id"] == "fig4-det-clean"][0]["outcome"] == "NO"


def test_figure_rows_on_the_full_profile_subset():
    rows = V.figure_rows(fig([(9, 2)], 0.2), fig([(9, 3)], 0.2), profile="full",
                         budget4="a", budget5="b", subset=True)
    gap5 = [r for r in rows if r["id"] == "fig5-gap"][0]
    assert gap5["cells"] == "n=9,b=3 (of 3 declared)" and gap5["outcome"] == "yes"
    a1 = [r for r in rows if r["id"] == "tableA1"][0]
    assert a1["cells"] == "n=9,b=2, n=9,b=3 (of 4 declared)"


def test_the_other_builders_run_on_grid_shaped_tables():
    app = runs([lab for lab, _ in S.appendix_grid("ci")], lambda lab: 0.5)
    assert {r["id"] for r in V.appendix_rows(app, profile="quick", budget="b")} == {
        "A2-mismatch", "A3-max-b", "A4-reduced", "A6-fgm"}
    a6a = runs([lab for lab, _ in S.amazon_grid("ci")], lambda lab: 0.8, metric="auc")
    a6b = runs([lab for lab, _ in S.amazon_grid("ci", figure="fig6b")],
               lambda lab: 0.8 if lab["method"].startswith("bern") else 0.6, metric="auc")
    rows = V.amazon_rows(a6a, a6b, profile="quick", budget_a="a", budget_b="b")
    assert [r["id"] for r in rows] == ["fig6a-gap", "fig6a-time", "fig6b-gap"]
    assert rows[2]["outcome"] == "yes"
    dr = runs([lab for lab, _ in S.draco_grid("ci")],
              lambda lab: 0.1 if lab["method"] == "mean" else 0.8)
    rows = V.draco_rows(dr, profile="quick", budget="b")
    assert [r["id"] for r in rows] == ["draco-exact", "draco-speedup", "draco-speedup-cyclic",
                                       "draco-mean"]
    assert rows[0]["outcome"] == "yes" and rows[3]["outcome"] == "yes"
    assert rows[1]["outcome"] == "NO"  # same curves: no speed-up
    br = runs([lab for lab, _ in S.brsgd_grid("ci")], lambda lab: 0.83)
    ids = [r["id"] for r in V.brsgd_rows(br, profile="quick", budget="b")]
    assert "brsgd-50" in ids and "krum-50" in ids
    mb = runs([lab for lab, _ in S.multibit_grid("ci")],
              lambda lab: 0.7 if lab["method"].startswith("bern") else 0.5)
    assert V.multibit_rows(mb, profile="quick", budget="b")[0]["outcome"] == "yes"
