"""The minimum-redundancy codes put to use: the search's cuts for any k, its starting codes,
the paper-proof column bound, the cache and the package's store, ``--code optimal`` in
training, and the tables of notebook 08."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from electionlib import claims, codes, config, methods, optimal, plots, redundancy, tolerance
from electionlib.train import TrainConfig, run


def random_odd_rows(rng, n, k):
    G = np.zeros((n, k), np.uint8)
    for i in range(n):
        w = 2 * rng.integers(0, (k + 1) // 2) + 1
        G[i, rng.choice(k, w, replace=False)] = 1
    return G


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_the_least_margin_messages_decide_tolerance_for_odd_and_even_k(k):
    """_violated (messages of the least margin only) finds a fooling message exactly when the
    checker (every message for even k) refutes the code."""
    rng = np.random.default_rng(k)
    seen = set()
    for _ in range(150):
        n = int(rng.integers(3, 8))
        b = int(rng.integers(1, (n - 1) // 2 + 1))
        G = random_odd_rows(rng, n, k)
        cuts = optimal._violated(G, b, optimal.agreement_threshold(n, b))
        ok = tolerance.verify(G, b).tolerant
        assert ok == (not cuts), (G, b)
        seen.add(ok)
    assert seen == {True, False}  # both outcomes were exercised


@pytest.mark.parametrize("n,b,k", [(5, 1, 5), (6, 1, 6), (6, 2, 6), (8, 3, 8), (7, 2, 4),
                                   (5, 2, 3), (9, 4, 10)])
def test_the_starting_codes_are_tolerant_with_odd_rows(n, b, k):
    G = optimal._start(n, b, k)
    assert G.shape == (n, k) and (G.sum(axis=1) % 2 == 1).all()
    assert tolerance.verify(G, b).tolerant
    assert optimal._start(4, 2, 4) is None  # 2b >= n: no code at all


def test_the_paper_bounds_hold_and_are_reached_where_they_should():
    """(2b + 1) k ones at least for odd k, (2b + 1) k / 2 for even k, in every cell solved
    (and against plain enumeration for even k, where the column bound of odd k fails: n = 5,
    b = 1, k = 4 needs only 7 ones, not 12); the all-ones code reaches it at b = (n - 1)/2."""
    assert optimal.lower_bound(7, 2) == 35 and optimal.lower_bound(5, 1, k=7) == 21
    assert optimal.lower_bound(5, 1, k=4) == 6
    for n, b in optimal.grid(7):
        res = optimal.minimum_redundancy(n, b, time_limit=30)
        assert res.status == "OPTIMAL"
        if 2 * b + 1 == n:
            assert res.ones == optimal.lower_bound(n, b) == n * n
    for n, b, k, least in ((5, 1, 4, 7), (6, 1, 4, 10), (5, 1, 2, 5)):  # enumerated
        res = optimal.minimum_redundancy(n, b, k=k, time_limit=30)
        assert res.status == "OPTIMAL" and res.ones == least >= optimal.lower_bound(n, b, k)
    with pytest.raises(ValueError, match="b=-1"):
        optimal.lower_bound(5, -1)


def test_grid_lists_every_valid_cell():
    assert optimal.grid(7, even=False) == [(3, 1), (5, 1), (5, 2), (7, 1), (7, 2), (7, 3)]
    assert all(2 * b + 1 <= n and b >= 1 for n, b in optimal.grid(11))
    with pytest.raises(ValueError, match="max_n"):
        optimal.grid(0)


def test_solve_cells_caches_and_reads_back_certified(tmp_path, monkeypatch):
    first = optimal.solve_cells([(5, 1), (4, 1)], time_limit=20, root=tmp_path,
                                show_progress=False)
    assert [r.ones for r in first] == [19, 12]
    assert len(list((tmp_path / "optimal").glob("*.json"))) == 2

    def no_solve(*a, **k):
        raise AssertionError("solved again instead of reading the cache")

    monkeypatch.setattr(optimal, "minimum_redundancy", no_solve)
    again = optimal.solve_cells([(5, 1), (4, 1)], time_limit=20, root=tmp_path,
                                show_progress=False)
    assert [(r.ones, r.status) for r in again] == [(19, "OPTIMAL"), (12, "OPTIMAL")]
    assert all(r.certificate.tolerant for r in again)  # certified again on reading
    assert np.array_equal(again[0].G, first[0].G)


def test_a_stored_code_that_is_not_tolerant_is_refused(tmp_path):
    res = optimal.minimum_redundancy(5, 1, time_limit=20)
    d = res.to_dict()
    d["G"] = np.eye(5, dtype=int).tolist()  # the uncoded code: not 1-tolerant
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"codes": [d]}))
    with pytest.raises(ValueError, match="not b-tolerant"):
        optimal.load_store(path)
    assert optimal.load_store(tmp_path / "missing.json") == []


def test_stored_prefers_a_proof_then_the_fewest_ones(tmp_path):
    good = optimal.minimum_redundancy(5, 1, time_limit=20).to_dict()
    worse = {**good, "status": "FEASIBLE", "G": np.ones((5, 5), int).tolist(), "ones": 25}
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"codes": [worse, good]}))
    got = optimal.stored(5, 1, path=path)
    assert got.status == "OPTIMAL" and got.ones == 19
    assert optimal.stored(7, 1, path=path) is None


def test_the_package_store_holds_certified_codes_for_every_cell():
    """The committed store: every (n, b) up to n = 11 for both objectives, each code
    tolerant (certified on reading), with odd rows, its ones above the column bound and at
    most Algorithm 1's."""
    recs = optimal.load_store()
    have = {(r.n, r.b, r.k, r.objective) for r in recs}
    for n, b in optimal.grid(optimal.STORE_RECIPE["max_n"]):
        for obj in optimal.OBJECTIVES:
            assert (n, b, n, obj) in have, (n, b, obj)
    for r in recs:
        if r.G is None:
            continue
        assert (r.G.sum(axis=1) % 2 == 1).all() and r.G.shape == (r.n, r.k)
        assert tolerance.verify(r.G, r.b, tie="abstain").tolerant  # another tie rule too
        if r.objective == "ones" and (r.n, r.b) in claims.ALG1_ONES and r.k == r.n:
            assert r.ones <= claims.ALG1_ONES[(r.n, r.b)]
    best = optimal.stored(9, 2)
    assert best.status == "OPTIMAL" and best.ones == 59
    # where neither search finished, the code with the fewest ones of either is the one used
    for n, b in ((11, 1), (10, 1)):
        pick = optimal.stored(n, b)
        least = min(r.ones for r in recs if (r.n, r.b, r.k) == (n, b, n) and r.G is not None)
        assert pick.ones == least


def test_stored_code_names_the_command_when_missing():
    with pytest.raises(ValueError, match="python -m electionlib optimal --n 13 --b 1 --save"):
        optimal.stored_code(13, 1)


def test_code_optimal_in_training_takes_the_stored_code(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTIONLIB_RESULTS", str(tmp_path))  # the package's store only
    cfg = TrainConfig(n=9, b=2, code="optimal")
    G = config.allocation(cfg, 9, None)
    assert np.array_equal(G, optimal.stored_code(9, 2)) and G.sum() == 59
    L = config.allocation(TrainConfig(n=9, b=2, code="optimal-load"), 9, None)
    assert np.array_equal(L, optimal.stored_code(9, 2, objective="max_load"))
    # designed for a smaller b than the attack, as Algorithm 1's can be
    G1 = config.allocation(TrainConfig(n=9, b=2, code="optimal", design_b=1), 9, None)
    assert tolerance.verify(G1, 1).tolerant and G1.sum() == optimal.stored(9, 1).ones
    with pytest.raises(ValueError, match="--save"):
        config.allocation(TrainConfig(n=13, b=1, code="optimal"), 13, None)


def test_perfectly_tolerant_codes_train_the_same_trajectory(tmp_path, monkeypatch):
    """Under the reverse attack on the most loaded workers, Algorithm 1's code and the
    fewest-ones code both make the master decide the partition majority at every step: the
    same model, bit for bit (with the coin rule, sign(0) partitions tie the same way for both;
    with ``abstain`` the coordinates whose partition signs are all 0 have no majority to
    keep and may differ); only the cost differs."""
    monkeypatch.setenv("ELECTIONLIB_RESULTS", str(tmp_path))
    base = dict(dataset="digits", n=9, b=2, attack="reverse", byz_select="worst", epochs=0.3,
                eval_every=0.15, seed=3)
    a = run(TrainConfig(code="deterministic", **base), progress=False)
    o = run(TrainConfig(code="optimal", **base), progress=False)
    assert np.array_equal(a.params, o.params)
    assert np.allclose(a.metrics.train_loss, o.metrics.train_loss, equal_nan=True)
    u = run(TrainConfig(code="uncoded", **base), progress=False)
    assert not np.array_equal(a.params, u.params)  # the attack bites uncoded voting


def test_the_notebook_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTIONLIB_RESULTS", str(tmp_path))
    live = optimal.solve_cells(optimal.grid(6), time_limit=20, show_progress=False)
    load = optimal.solve_cells(optimal.grid(6), time_limit=20, objective="max_load",
                               show_progress=False)
    t = redundancy.minimum_table([live + load, []])
    assert list(t.n) == [3, 4, 5, 5, 6, 6] and (t.source == "live").all()
    assert (t.ones >= t.lower_bound).all() and (t.status == "OPTIMAL").all()
    row = t[(t.n == 5) & (t.b == 1)].iloc[0]
    assert row.ones == 19 and row.alg1_ones == 19 and row.gap_to_eq5 == pytest.approx(0)
    assert np.isnan(t[t.n == 4].eq5.iloc[0])  # Algorithm 1 is not defined at even n
    cost = redundancy.cost_table([live + load])
    c = cost[(cost.n == 5) & (cost.b == 1)].iloc[0]
    assert c.min_load <= c.min_ones_max_load and c.alg1_max_load == 5
    vt = redundancy.verdict_table([live])
    assert list(vt.cell) == [f"n={n},b={b}" for n, b in claims.ALG1_CELLS]
    assert (vt[vt.cell != "n=5,b=1"].source == "none").all()  # not covered: no code
    rule = claims.get("alg1-minimum-n5-b1").rule
    assert rule.judge(vt, ["n=5,b=1"])[0] == "yes"
    assert rule.judge(vt, ["n=9,b=2"])[0] == "open"
    loose = redundancy.loose_table([(5, 1)])
    assert loose.tolerant.all() and not loose.one_fewer_tolerant.any()
    assert len(loose) == len(tolerance.TIE_RULES)
    ties = redundancy.tie_table([(3, 1), (4, 1)], time_limit=10, show_progress=False)
    assert ties.same.all() and list(ties[list(tolerance.TIE_RULES)].iloc[1]) == [12, 12, 12]


def test_evidence_combines_the_best_code_and_the_best_bound():
    a = optimal.minimum_redundancy(5, 1, time_limit=20)
    weak = optimal.OptimalCode(**{**a.__dict__, "status": "FEASIBLE", "bound": 15.0})
    ev = redundancy.evidence([weak], [a])
    r, src, bsrc = ev[(5, 1, 5, "ones")]
    assert r.status == "OPTIMAL" and r.bound == 19  # the second source's proof counts
    assert (src, bsrc) == (0, 1)
    alone = redundancy.evidence([weak])[(5, 1, 5, "ones")][0]
    assert alone.status == "FEASIBLE" and alone.bound == 15
    # a code the max-load search found counts for the ones too (and the ones' bound stays)
    load = optimal.OptimalCode(**{**a.__dict__, "objective": "max_load", "status": "FEASIBLE",
                                  "bound": 3.0})
    worse = optimal.OptimalCode(**{**a.__dict__, "G": np.ones((5, 5), np.uint8), "ones": 25,
                                   "status": "FEASIBLE", "bound": 15.0})
    ev = redundancy.evidence([worse, load])
    assert ev[(5, 1, 5, "ones")][0].ones == 19 and ev[(5, 1, 5, "ones")][0].bound == 15
    assert ev[(5, 1, 5, "ones")][0].status == "FEASIBLE"
    assert ev[(5, 1, 5, "max_load")][0].ones == 19  # the same load 5: the fewer ones
    bigger = optimal.OptimalCode(**{**a.__dict__, "G": np.ones((5, 5), np.uint8), "ones": 25,
                                    "status": "OPTIMAL", "bound": 25.0})
    with pytest.raises(ValueError, match="contradict"):
        redundancy.evidence([a], [bigger])  # a proof of 25 against a certified 19


def test_training_table_counts_the_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTIONLIB_RESULTS", str(tmp_path))
    entries = [({"method": m}, TrainConfig(n=9, b=2, code=c, attack="reverse"))
               for m, c in (("det", "deterministic"), ("opt", "optimal"))]
    rows = []
    for m in ("det", "opt"):
        for s in (0, 1):
            for step in (1, 2):
                per = 9 if m == "det" else 7  # the slowest worker's load (synthetic)
                rows.append(dict(method=m, seed=s, step=step, accuracy=0.3 * step,
                                 load_units=per * step, epoch=step / 2))
    t = redundancy.training_table(pd.DataFrame(rows), entries, targets=(0.5,))
    det, opt = t.set_index("method").loc["det"], t.set_index("method").loc["opt"]
    assert det.ones == 61 and opt.ones == 59 and det.max_load == 9
    assert det.partition_gradients == 122 and opt.partition_gradients == 118
    assert det["50%"] == 18 and opt["50%"] == 14


def test_the_plots():
    fig = plots.code_matrices([("a", codes.deterministic(5, 1)), ("b", np.ones((3, 3)))],
                              ncols=3)
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    with pytest.raises(ValueError, match="items"):
        plots.code_matrices([])
    t = pd.DataFrame(dict(n=[5, 7, 7], k=[5, 7, 7], b=[1, 1, 2], redundancy=[3.8, 4.1, 5.9],
                          status=["OPTIMAL", "FEASIBLE", "OPTIMAL"], eq5=[3.8, 4.1, 5.9]))
    ax = plots.redundancy_vs_n(t)
    assert ax.get_xlabel().startswith("n")


def test_cli_save_then_train_finds_it(tmp_path, monkeypatch):
    env = {"ELECTIONLIB_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "electionlib", "optimal", "--n", "6", "--b",
                          "1", "--k", "5", "--save", "--time-limit", "20"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "stored in" in out.stderr
    files = list((tmp_path / "optimal").glob("*.json"))
    assert len(files) == 1
    d = json.loads(files[0].read_text())
    assert (d["n"], d["b"], d["k"]) == (6, 1, 5) and d["status"] == "OPTIMAL"
    assert all(sum(r) % 2 for r in d["G"])
    # training finds it (the package does not store k = 5 at n = 6) ...
    monkeypatch.setenv("ELECTIONLIB_RESULTS", str(tmp_path))
    G = config.allocation(TrainConfig(n=6, b=1, k=5, code="optimal"), 5, None)
    assert G.tolist() == d["G"]
    # ... but a stored cell keeps the package's code whatever the user's cache holds
    fake = {**d, "n": 5, "b": 1, "k": 5, "G": codes.deterministic(5, 1).tolist(), "ones": 19,
            "key": {**d["key"], "n": 5, "k": 5}}
    (tmp_path / "optimal" / "fake.json").write_text(json.dumps(fake))
    assert np.array_equal(optimal.stored_code(5, 1), optimal.stored(5, 1, path=optimal.STORE).G)


def test_optimal_codes_are_vote_codes_with_method_ids():
    assert {"optimal", "optimal-load"} <= set(config.VOTE_CODES)
    assert methods.vote_method("optimal") == "opt"
    assert methods.label("opt-load") == "min-load code"
