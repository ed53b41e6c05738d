"""The claims registry: every rule yields each of its outcomes on synthetic tables, a
verdict covers every declared cell, a "best of" never contains its baseline."""

import math

import pandas as pd
import pytest

from electionlib import claims as C


def gap_table(rule, cells, gap, seeds=(0, 1, 2)):
    rows = []
    for cell in cells:
        for s in seeds:
            base = 0.5 + 0.01 * s
            rows.append(dict(cell=cell, method=rule.baseline, seed=s, value=base))
            for cand in rule.candidates:
                rows.append(dict(cell=cell, method=cand, seed=s, value=base + gap))
    return pd.DataFrame(rows)


def ratio_table(rule, cells, speedup):
    rows = []
    for cell in cells:
        rows.append(dict(cell=cell, method=rule.baseline, value=10.0))
        for cand in rule.candidates:
            rows.append(dict(cell=cell, method=cand,
                             value=math.inf if speedup == 0 else 10.0 / speedup))
    return pd.DataFrame(rows)


def synthetic(rule, cells, outcome):
    """A table on which ``rule`` must give ``outcome``."""
    if isinstance(rule, C.Gap):
        g = {"yes": max(rule.paper_min, 0) + 0.02, "direction only": rule.paper_min / 2,
             "NO": -0.03}[outcome]
        return gap_table(rule, cells, g)
    if isinstance(rule, C.Ratio):
        r = {"yes": max(rule.paper_min, 1) + 0.5, "direction only": (1 + rule.paper_min) / 2,
             "NO": 0.5}[outcome]
        return ratio_table(rule, cells, r)
    if isinstance(rule, C.Threshold):
        t, d = rule.threshold, rule.direction
        up = rule.op in (">=", ">")
        eps = 1e-3 * max(1.0, abs(t))
        if outcome == "yes":
            x = t + eps if up else t - eps
        elif outcome == "direction only":
            x = (t + d) / 2
        else:
            far = d if d is not None else t
            x = far - 10 * eps - 0.1 * abs(far) if up else far + 10 * eps + 0.1 * abs(far)
        return pd.DataFrame(dict(cell=list(cells), value=x))
    if isinstance(rule, C.Holds):
        return pd.DataFrame(dict(cell=list(cells),
                                 holds=[outcome == "yes" or i > 0 for i in range(len(cells))]))
    if isinstance(rule, C.Ordering):
        vals = [0.9]
        for i in range(len(rule.order) - 1):  # "≈" steps equal, "≥" steps 0.1 down
            vals.append(vals[-1] if i in rule.approx else vals[-1] - 0.1)
        if outcome == "NO":
            vals = vals[::-1]
        return pd.DataFrame([dict(cell=c, method=s, seed=0, value=v) for c in cells
                             for s, v in zip(rule.order, vals, strict=True)])
    if isinstance(rule, C.Trend):
        n = len(cells)
        if outcome == "yes":
            vals = [rule.target * 10 ** (n - 1 - i) * 0.5 for i in range(n)]
        elif outcome == "direction only":
            vals = [rule.target * 10 ** (n - i) for i in range(n)]
        else:
            vals = [rule.target * (1 + i) for i in range(n)]
        return pd.DataFrame(dict(cell=list(cells), value=vals))
    if isinstance(rule, C.Minimum):
        ref = 45
        ones, tol, status, bound = {"yes": (45, True, "OPTIMAL", 45),
                                    "open": (45, True, "FEASIBLE", 37),
                                    "NO": (41, True, "FEASIBLE", 37)}[outcome]
        return pd.DataFrame(dict(cell=list(cells), reference=ref, ones=ones, tolerant=tol,
                                 status=status, bound=bound))
    raise AssertionError(type(rule))


@pytest.mark.parametrize("claim_id", sorted(C.REGISTRY))
def test_every_registered_rule_can_give_each_of_its_outcomes(claim_id):
    c = C.get(claim_id)
    for outcome in c.rule.outcomes:
        got, text, per_cell = c.rule.judge(synthetic(c.rule, c.cells, outcome), c.cells)
        assert got == outcome, (claim_id, outcome, text)
        assert set(per_cell.cell.astype(str)) == set(c.cells), (claim_id, per_cell.cell)
    # it can always come out against the artifact
    assert "NO" in c.rule.outcomes


@pytest.mark.parametrize("claim_id", sorted(C.REGISTRY))
def test_a_verdict_needs_every_declared_cell(claim_id):
    c = C.get(claim_id)
    table = synthetic(c.rule, c.cells, "yes")
    partial = table[table.cell != c.cells[-1]]
    with pytest.raises(ValueError, match="declared cell"):
        c.rule.judge(partial, c.cells)


def test_gap_worst_cell_decides_and_seed_range_is_reported():
    rule = C.Gap(baseline="u", candidates=("a", "b"), paper_min=0.1)
    t = pd.concat([gap_table(rule, ["x"], 0.2), gap_table(rule, ["y"], 0.05)])
    out, text, per = rule.judge(t, ["x", "y"])
    assert out == "direction only" and text.startswith("worst y")
    assert list(per.outcome) == ["yes", "direction only"]
    # each: the weaker candidate decides; best: the stronger
    t = gap_table(rule, ["x"], 0.2)
    t.loc[t.method == "b", "value"] -= 0.25
    assert rule.judge(t, ["x"])[0] == "NO"
    best = C.Gap(baseline="u", candidates=("a", "b"), paper_min=0.1, mode="best")
    assert best.judge(t, ["x"])[0] == "yes"
    # seeds are paired; one bad seed shows in the range
    t = gap_table(rule, ["x"], 0.2)
    t.loc[(t.method == "a") & (t.seed == 2), "value"] -= 0.5
    _, text, per = rule.judge(t, ["x"])
    assert per.seed_min.iloc[0] < 0 < per.seed_max.iloc[0] and "seeds" in text


def test_a_best_of_never_contains_its_baseline():
    with pytest.raises(ValueError, match="baseline"):
        C.Gap(baseline="u", candidates=("u", "a"), paper_min=0.1, mode="best")
    with pytest.raises(ValueError, match="baseline"):
        C.Ratio(baseline="u", candidates=("u",))


def test_ratio_handles_targets_never_reached():
    rule = C.Ratio(baseline="u", candidates=("a",), paper_min=2.0)
    t = pd.DataFrame([dict(cell="x", method="u", value=math.inf),
                      dict(cell="x", method="a", value=3.0)])
    assert rule.judge(t, ["x"])[0] == "yes"  # the baseline never got there
    t.loc[1, "value"] = math.inf
    assert rule.judge(t, ["x"])[0] == "NO"  # neither did: no evidence


def test_ratio_at_time_zero_for_both_is_no_speed_up():
    rule = C.Ratio(baseline="u", candidates=("a",))
    t = pd.DataFrame([dict(cell="x", method="u", value=0.0),
                      dict(cell="x", method="a", value=0.0)])
    assert rule.judge(t, ["x"])[0] == "NO"  # both met the target at the start
    t.loc[0, "value"] = 5.0
    assert rule.judge(t, ["x"])[0] == "yes"  # only the candidate did


def test_a_nan_value_never_counts_for_the_claim():
    """A diverged or missing value (NaN) in a declared cell makes that cell NO, in every
    rule, even when the other rows of the cell would pass."""
    gap = C.Gap(baseline="u", candidates=("a",), paper_min=0.1)
    t = gap_table(gap, ["x"], 0.2)
    t.loc[(t.method == "a") & (t.seed == 1), "value"] = math.nan
    assert gap.judge(t, ["x"])[0] == "NO"
    thr = C.Threshold(op=">=", threshold=0.8)
    t = pd.DataFrame(dict(cell=["x", "x"], value=[0.85, math.nan]))
    assert thr.judge(t, ["x"])[0] == "NO"
    hold = C.Holds()
    t = pd.DataFrame(dict(cell=["x", "x"], holds=[True, math.nan]))
    assert hold.judge(t, ["x"])[0] == "NO"
    t = pd.DataFrame(dict(cell=["x", "x"], holds=[True, None]))
    assert hold.judge(t, ["x"])[0] == "NO"
    order = C.Ordering(order=("p", "q"), slack=0.01)
    t = pd.DataFrame(dict(cell="x", method=["p", "p", "q"], seed=[0, 1, 0],
                          value=[0.9, math.nan, 0.5]))
    assert order.judge(t, ["x"])[0] == "NO"
    trend = C.Trend(target=0.1)
    t = pd.DataFrame(dict(cell=["a", "b", "b"], value=[0.5, 0.05, math.nan]))
    assert trend.judge(t, ["a", "b"])[0] == "NO"
    ratio = C.Ratio(baseline="u", candidates=("a",))
    t = pd.DataFrame(dict(cell="x", method=["u", "a", "a"], value=[5.0, 1.0, math.nan]))
    assert ratio.judge(t, ["x"])[0] == "NO"


def test_gap_pairs_need_the_same_seeds():
    gap = C.Gap(baseline="u", candidates=("a",), paper_min=0.1)
    t = gap_table(gap, ["x"], 0.2)
    t = t[~((t.method == "a") & (t.seed == 2))]
    with pytest.raises(ValueError, match="same seeds"):
        gap.judge(t, ["x"])


def test_an_approximate_step_fails_both_ways():
    """"no attack ≈ deterministic": a deterministic code far below (or above) the
    attack-free run breaks the ordering even though every "≥" step holds."""
    rule = C.Ordering(order=("clean", "det", "code"), slack=0.01, approx=(0,))
    ok = pd.DataFrame(dict(cell="x", method=["clean", "det", "code"], seed=0,
                           value=[0.80, 0.795, 0.70]))
    assert rule.judge(ok, ["x"])[0] == "yes"
    low = ok.assign(value=[0.80, 0.50, 0.40])
    assert rule.judge(low, ["x"])[0] == "NO"
    high = ok.assign(value=[0.80, 0.90, 0.70])
    assert rule.judge(high, ["x"])[0] == "NO"
    assert "no attack ≈ Det. code ≥ code" in rule.describe()  # ids shown by their labels
    assert C.get("fig5-order").rule.approx == (0,)


@pytest.mark.parametrize("kind", ["ratio", "threshold", "ordering"])
def test_the_worst_cell_decides_in_every_rule(kind):
    """One failing cell among passing ones decides the verdict."""
    if kind == "ratio":
        rule = C.Ratio(baseline="u", candidates=("a",), paper_min=2.0)
        t = pd.DataFrame(dict(cell=["x", "x", "y", "y"], method=["u", "a", "u", "a"],
                              value=[9.0, 3.0, 9.0, 10.0]))
    elif kind == "threshold":
        rule = C.Threshold(op=">=", threshold=0.8, direction=0.5)
        t = pd.DataFrame(dict(cell=["x", "y"], value=[0.9, 0.3]))
    else:
        rule = C.Ordering(order=("p", "q"), slack=0.0)
        t = pd.DataFrame(dict(cell=["x", "x", "y", "y"], method=["p", "q", "p", "q"],
                              seed=0, value=[0.9, 0.5, 0.4, 0.5]))
    out, _, per = rule.judge(t, ["x", "y"])
    assert out == "NO" and list(per.outcome) == ["yes", "NO"]


def test_among_equal_outcomes_the_smallest_effect_is_reported_as_worst():
    rule = C.Gap(baseline="u", candidates=("a",), paper_min=0.15)
    t = pd.concat([gap_table(rule, ["x"], 0.10), gap_table(rule, ["y"], 0.004)])
    out, text, _ = rule.judge(t, ["x", "y"])
    assert out == "direction only" and text.startswith("worst y")
    thr = C.Threshold(op="<", threshold=0.3)
    out, text, _ = thr.judge(pd.DataFrame(dict(cell=["x", "y"], value=[0.2, 0.25])), ["x", "y"])
    assert out == "yes" and text.startswith("worst y")


def test_gap_best_of_gives_direction_only_and_no():
    best = C.Gap(baseline="u", candidates=("a", "b"), paper_min=0.1, mode="best")
    t = gap_table(best, ["x"], 0.05)
    assert best.judge(t, ["x"])[0] == "direction only"
    t = gap_table(best, ["x"], -0.05)
    assert best.judge(t, ["x"])[0] == "NO"


def test_gap_with_zero_threshold_has_no_direction_only():
    rule = C.Gap(baseline="u", candidates=("a",), paper_min=0.0)
    assert rule.outcomes == ("yes", "NO")
    assert rule.judge(gap_table(rule, ["x"], 0.0), ["x"])[0] == "NO"  # a tie does not beat


def test_judge_row_states_rule_cells_budget_and_labels():
    c = C.get("fig5-gap")
    row = C.judge("fig5-gap", synthetic(c.rule, c.cells, "yes"), budget="2 epochs",
                  profile="quick", early=True)
    assert row["outcome"] == "yes" and "15.0 points" in row["rule"]
    assert row["labels"] == "stand-in, early training" and row["budget"] == "2 epochs"
    row = C.judge("fig5-gap", synthetic(c.rule, ("n=9,b=3",), "NO"), budget="b",
                  profile="full", early=False, cells=("n=9,b=3",))
    assert row["outcome"] == "NO" and "(of 3 declared)" in row["cells"]
    assert row["labels"] == "stand-in"
    with pytest.raises(ValueError, match="not declared"):
        C.judge("fig5-gap", pd.DataFrame(), budget="b", profile="full", cells=("n=7,b=1",))
    row = C.judge("majority-linear", pd.DataFrame(), budget="b", profile="ci")
    assert row["outcome"] == "n/a"


def test_claims_about_the_paper_name_their_location_and_project_rows_are_labelled():
    for c in C.REGISTRY.values():
        assert c.cells and c.metric and c.statement
        if c.paper not in ("ours", "project target"):
            assert c.location not in ("", "—"), c.id
    row = C.judge("lemma2-speed", pd.DataFrame(dict(cell=["n=21"], value=[0.02])),
                  budget="-", profile="quick")
    assert row["labels"] == "project target" and row["outcome"] == "yes"


def test_write_summary_prints_rule_beside_verdict(tmp_path):
    c = C.get("fig4-gap")
    rows = [C.judge("fig4-gap", synthetic(c.rule, c.cells, "direction only"),
                    budget="2 epochs", profile="quick", early=True)]
    C.rows_table(rows).to_csv(tmp_path / "04_claims.csv", index=False)
    C.write_summary(tmp_path, "quick")
    text = (tmp_path / "SUMMARY.md").read_text()
    assert "**direction only**" in text and "5.0 points" in text and "commit" in text


def test_every_method_a_rule_names_is_a_method_id():
    from electionlib import methods as M

    named = set()
    for claim in C.REGISTRY.values():
        r = claim.rule
        named |= {getattr(r, "baseline", None), *getattr(r, "candidates", ()),
                  *getattr(r, "order", ())}
    named.discard(None)
    named.discard("")
    assert named and named <= set(M.METHODS), sorted(named - set(M.METHODS))


def test_judging_no_cell_at_all_is_an_error():
    claim = sorted(C.REGISTRY)[0]
    with pytest.raises(ValueError, match="nothing to judge"):
        C.judge(claim, pd.DataFrame(), budget="x", profile="quick", cells=[])


def test_minimum_needs_the_proof_for_yes_and_a_certificate_for_no():
    rule = C.Minimum()
    assert rule.outcomes == ("yes", "open", "NO")

    def one(**kw):
        row = dict(cell="c", reference=61, ones=61, tolerant=True, status="OPTIMAL",
                   bound=61)
        row.update(kw)
        return rule.judge(pd.DataFrame([row]), ["c"])[0]

    assert one() == "yes"
    assert one(status="FEASIBLE", bound=60) == "open"  # the time limit: no proof
    assert one(status="FEASIBLE", bound=61) == "yes"  # a bound at the reference is a proof
    assert one(ones=59, status="OPTIMAL", bound=59) == "NO"
    assert one(ones=59, status="FEASIBLE", bound=50) == "NO"  # a smaller certified code
    # a smaller code without its certificate is no evidence: open, never NO
    assert one(ones=59, tolerant=False, status="FEASIBLE", bound=50) == "open"
    assert one(ones=59, tolerant="yes", status="FEASIBLE", bound=50) == "open"
    assert one(ones=59, tolerant=None, status="FEASIBLE", bound=50) == "open"
    assert one(tolerant=False, status="OPTIMAL", bound=50) == "open"
    with pytest.raises(ValueError, match="search is wrong"):
        one(ones=63, status="OPTIMAL", bound=63)
    with pytest.raises(ValueError, match="search is wrong"):
        one(ones=63, tolerant=False, status="OPTIMAL", bound=63)
    with pytest.raises(ValueError, match="infeasible"):
        one(ones=None, tolerant=None, status="INFEASIBLE", bound=math.inf)
    # no code and no bound: open, never an error or a yes
    assert one(ones=None, tolerant=None, status="UNKNOWN", bound=None) == "open"
    assert one(ones=pd.NA, tolerant=False, status="UNKNOWN", bound=30) == "open"
    assert one(ones=None, tolerant=None, status="UNKNOWN", bound=61) == "open"
    with pytest.raises(ValueError, match="one result per cell"):
        rule.judge(pd.DataFrame([dict(cell="c", reference=61, ones=61, tolerant=True,
                                      status="OPTIMAL", bound=61)] * 2), ["c"])
    # the worst cell decides: NO over open over yes
    t = pd.DataFrame([dict(cell=c, reference=61, ones=o, tolerant=True, status=s, bound=bd)
                      for c, o, s, bd in (("a", 61, "OPTIMAL", 61), ("b", 61, "FEASIBLE", 50),
                                          ("c", 59, "FEASIBLE", 50))])
    assert rule.judge(t, ["a", "b"])[0] == "open"
    assert rule.judge(t, ["a", "b", "c"])[0] == "NO"
    assert rule.judge(t, ["a"])[0] == "yes"


def test_the_minimum_claims_cover_every_cell_of_algorithm_1():
    ids = {c.id for c in C.REGISTRY.values() if isinstance(c.rule, C.Minimum)}
    want = {f"alg1-minimum-n{n}-b{b}" for n in (5, 7, 9, 11) for b in range(1, n // 2)}
    assert ids == want
    assert C.ALG1_ONES[(5, 1)] == 19 and C.ALG1_ONES[(9, 2)] == 61
