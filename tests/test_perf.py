"""electionlib.perf and the benchmark scripts: structure and correctness, never speed.

Every measurement here runs at tiny sizes; no test compares a time with a constant.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from electionlib import perf

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- timing


def test_median_time_counts_warmup_and_repeats():
    calls = []
    r = perf.median_time(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and r["repeats"] == 4
    assert 0 <= r["min"] <= r["seconds"]


def test_median_time_budget_stops_early_but_times_once():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.01)

    r = perf.median_time(slow, repeats=1000, warmup=1, budget=0.0)
    assert r["repeats"] == 1 and len(calls) == 2
    r = perf.median_time(slow, repeats=1000, warmup=0, budget=0.05)
    assert 1 <= r["repeats"] < 1000


# --------------------------------------------------------------------------- aggregation


def test_aggregation_table_every_rule_tiny():
    t = perf.aggregation_table(ns=(5, 9), ds=(100,), repeats=2, progress=False)
    assert list(t.columns) == perf.AGG_COLUMNS
    assert len(t) == 2 * len(perf.AGG_RULES)
    assert set(t["rule"]) == set(perf.AGG_RULES)
    assert (t["status"] == "ok").all(), t[t["status"] != "ok"]
    assert (t["seconds"] > 0).all() and (t["repeats"] >= 1).all()
    f = t[t.n == 5].set_index("rule")["f"]
    # largest f each rule accepts with 5 rows, capped at (n-1)//2
    assert f["median"] == 2 and f["trimmed_mean"] == 2 and f["brsgd"] == 2
    assert f["krum"] == 1 and f["multi_krum"] == 1 and f["bulyan"] == 0 and f["mean"] == 0
    assert f["draco_repetition"] == 2 and f["draco_cyclic"] == 2
    b = t[t.n == 9].set_index("rule")["input_bytes"]
    assert b["majority"] == 9 * 13 and b["copy_float32"] == 9 * 100 * 4
    assert b["draco_cyclic"] == 9 * 100 * 16


def test_aggregation_memory_cap_skips_float_rules_not_packed():
    # n=5, d=64: packed votes 40 bytes, floats 320 values: a cap of 100 keeps only packed rules
    out = perf.aggregation_table(ns=(5,), ds=(64,), max_floats=100, repeats=1, progress=False)
    t = out.set_index("rule")
    assert t.loc["majority", "status"] == "ok" and t.loc["copy_packed", "status"] == "ok"
    floats = t.drop(index=["majority", "copy_packed"])
    assert (floats["status"] == "skipped").all()
    assert floats["reason"].str.contains("max_floats").all()
    assert floats["seconds"].isna().all()


def test_aggregation_chunks_columnwise_rules_over_the_cap():
    out = perf.aggregation_table(ns=(5,), ds=(64,), max_floats=100, chunk=16, repeats=1,
                                 progress=False).set_index("rule")
    for rule in ("copy_float32", "mean", "median", "trimmed_mean"):
        assert out.loc[rule, "status"] == "ok"
        assert out.loc[rule, "reason"].startswith("chunked: 4 blocks of 16 columns")
    for rule in ("krum", "bulyan", "geometric_median", "draco_cyclic"):
        assert out.loc[rule, "status"] == "skipped"


def test_aggregation_time_limit_zero_times_out_then_skips_larger_cases(capsys):
    t = perf.aggregation_table(ns=(5, 9), ds=(64, 128), rules=("majority", "median"),
                               time_limit=0.0, repeats=3, progress=False)
    first = t[(t.n == 5) & (t.d == 64)]
    assert (first["status"] == "timeout").all()
    assert (first["repeats"] == 1).all() and (first["seconds"] > 0).all()
    assert first["reason"].str.contains("time_limit").all()
    rest = t.drop(index=first.index)
    assert len(rest) == 6 and (rest["status"] == "skipped").all()
    assert rest["reason"].str.startswith("a smaller case (n=5, d=64) took").all()
    printed = capsys.readouterr().out
    assert "timeout majority n=5 d=64" in printed and "skip median n=9 d=128" in printed


def test_aggregation_draco_without_a_code_is_skipped_with_reason():
    t = perf.aggregation_table(ns=(4,), ds=(32,), rules=("draco_repetition", "draco_cyclic"),
                               repeats=1, progress=False).set_index("rule")
    assert t.loc["draco_repetition", "status"] == "skipped"
    assert "no s >= 1" in t.loc["draco_repetition", "reason"]
    assert t.loc["draco_cyclic", "status"] == "ok" and t.loc["draco_cyclic", "f"] == 1


def test_prediction_extrapolates_linearly_in_nd():
    done = {"median": [(5, 100, 0.5), (5, 1000, 2.0), (9, 100, 0.001)]}
    t, n2, d2, t2 = perf._predicted(done, "median", 10, 10_000)
    assert (n2, d2, t2) == (5, 1000, 2.0) and t == pytest.approx(2.0 * 2 * 10)
    assert perf._predicted(done, "median", 4, 10_000) is None  # nothing smaller in n
    assert perf._predicted({"x": [(5, 10, 0.001)]}, "x", 50, 10**6) is None  # overhead only


def test_aggregation_rejects_unknown_rule():
    with pytest.raises(ValueError, match="rule"):
        perf.aggregation_table(ns=(5,), ds=(8,), rules=("nope",), progress=False)


# --------------------------------------------------------------------------- fits


def test_fit_loglog_recovers_known_slope():
    t = pd.DataFrame([(r, d, n) for r in ("a", "b") for d in (10, 20) for n in (3, 5, 9, 15)],
                     columns=["rule", "d", "n"])
    t["seconds"] = np.where(t.rule == "a", 3.0 * t.n**2.0, 0.5 * t.n * t.d)
    t["status"] = "ok"
    t.loc[(t.rule == "b") & (t.d == 20) & (t.n > 3), "status"] = "skipped"
    fit = perf.fit_loglog(t).set_index(["rule", "d"])
    assert fit.loc[("a", 10), "slope"] == pytest.approx(2.0, abs=1e-12)
    assert np.exp(fit.loc[("a", 10), "intercept"]) == pytest.approx(3.0, rel=1e-12)
    assert fit.loc[("a", 10), "r2"] == pytest.approx(1.0)
    assert fit.loc[("b", 10), "slope"] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(fit.loc[("b", 20), "slope"]) and fit.loc[("b", 20), "points"] == 1
    by_d = perf.fit_loglog(t[t.rule == "b"], x="d", by="n").set_index("n")
    assert by_d.loc[3, "slope"] == pytest.approx(1.0, abs=1e-12)


def test_fit_power_recovers_exponents():
    t = pd.DataFrame([(n, d) for n in (5, 9, 15, 49) for d in (1e3, 1e4, 1e5)],
                     columns=["n", "d"])
    t["rule"], t["status"] = "r", "ok"
    t["seconds"] = 4e-9 * t.n**1.3 * t.d**0.9
    fit = perf.fit_power(t, "r")
    assert fit.c == pytest.approx(4e-9, rel=1e-9)
    assert fit.a == pytest.approx(1.3, abs=1e-9) and fit.b == pytest.approx(0.9, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    one_d = perf.fit_power(t[t.d == 1e3], "r")
    assert one_d.a == pytest.approx(1.3, abs=1e-9) and np.isnan(one_d.b)
    assert all(np.isnan(perf.fit_power(t, "absent")))
    p = perf.power_table(t)
    assert p.loc[0, "points"] == 12 and p.loc[0, "a"] == pytest.approx(1.3, abs=1e-9)


# --------------------------------------------------------------------------- targets


def _agg(**seconds):
    rows = [{"rule": r, "n": 15, "d": 11_000_000, "seconds": s, "status": "ok"}
            for r, s in seconds.items()]
    # smaller cases that must not be used while the (n, d) is present
    rows += [{"rule": r, "n": 9, "d": 1_000, "seconds": 1.0, "status": "ok"} for r in seconds]
    return pd.DataFrame(rows)


def test_targets_met_and_not_met():
    agg = _agg(majority=0.01, mean=0.1, median=2.0, copy_packed=0.001)
    enc = pd.DataFrame({"model": "lenet5", "dataset": "fmnist", "d": 61706, "r": [1, 2, 3, 5],
                        "ratio": [0.01, 0.03, 0.06, 0.5], "encode_seconds": 1.0,
                        "grad_seconds_per_partition": 1.0})
    ver = pd.DataFrame({"n": [19, 21, 25], "b": [8, 9, 11], "messages": 1,
                        "certified": True, "seconds": [1.0, 5.0, 200.0]})
    t = perf.targets(agg, enc, ver).set_index("target")
    assert list(t.columns) == ["measured", "op", "threshold", "met", "note"]
    assert t.loc["majority / mean", "measured"] == pytest.approx(0.1)
    assert t.loc["majority / mean", "met"]
    assert t.loc["median / majority", "measured"] == pytest.approx(200)
    assert t.loc["median / majority", "met"]
    assert t.loc["majority / copy_packed", "measured"] == pytest.approx(10)
    assert not t.loc["majority / copy_packed", "met"]
    assert "n=15, d=11,000,000" in t.loc["majority / mean", "note"]
    enc_row = t.loc["encode+pack / per-partition LeNet gradient (r <= 3)"]
    assert enc_row["measured"] == pytest.approx(0.06) and not enc_row["met"]  # r=5 ignored
    assert "worst r=3" in enc_row["note"]
    assert t.loc["verify Algorithm 1, n=21 (seconds)", "met"]
    assert not t.loc["verify Algorithm 1, n=25 (seconds)", "met"]
    lines = perf.format_targets(t.reset_index())
    assert len(lines) == 6 and all(line.startswith("target ") for line in lines)
    assert sum(" NOT MET " in line for line in lines) == 3


def test_targets_fall_back_to_largest_d_and_report_unmeasured():
    agg = pd.DataFrame({"rule": ["majority", "mean", "majority", "mean", "median"],
                        "n": [9, 9, 9, 9, 9], "d": [100, 100, 1000, 1000, 1000],
                        "seconds": [1.0, 10.0, 1.0, 2.0, 5.0],
                        "status": ["ok", "ok", "ok", "ok", "timeout"]})
    t = perf.targets(agg, ver=pd.DataFrame(columns=["n", "b", "messages", "certified",
                                                    "seconds"])).set_index("target")
    assert t.loc["majority / mean", "measured"] == pytest.approx(0.5)
    assert "n=9, d=1,000" in t.loc["majority / mean", "note"]
    assert not t.loc["majority / mean", "met"]
    assert np.isnan(t.loc["median / majority", "measured"])  # median timed out
    assert not t.loc["median / majority", "met"]
    assert t.loc["verify Algorithm 1, n=21 (seconds)", "measured"] != 0  # NaN row present
    assert len(perf.targets()) == 0


# --------------------------------------------------------------------------- other tables


def test_encode_table_falls_back_without_fashion_mnist(monkeypatch):
    import torch

    from electionlib import data

    real_load = data.load

    def no_fmnist(name, **kw):
        if name == "fmnist":
            raise FileNotFoundError("Fashion-MNIST not found (test)")
        return real_load(name, **kw)

    monkeypatch.setattr(data, "load", no_fmnist)
    before = torch.get_num_threads()
    t = perf.encode_table(models=("lenet5",), rs=(1, 3), repeats=2, warmup=1,
                          progress=False)
    assert torch.get_num_threads() == before
    assert list(t["r"]) == [1, 3] and (t["model"] == "mlp").all()
    assert (t["dataset"] == "digits").all() and (t["requested"] == "lenet5").all()
    assert t["note"].str.contains("Fashion-MNIST not found").all()
    np.testing.assert_allclose(t["ratio"], t["encode_seconds"] / t["grad_seconds_per_partition"])
    assert (t["d"] == 4810).all() and (t["batch"] == 16).all()
    # coin (the trainer's default) runs the compiled encoder, with numpy's timed beside it
    assert (t["tie"] == "coin").all() and (t["encoder"] == "numba").all()
    np.testing.assert_allclose(
        t["ratio_numpy"], t["encode_seconds_numpy"] / t["grad_seconds_per_partition"])
    row = perf.targets(enc=t).iloc[0]
    assert "stand-in mlp" in row["note"]
    plus = perf.encode_table(models=("mlp",), rs=(2,), repeats=2, warmup=1, tie="plus",
                             progress=False)
    assert plus["encoder"].tolist() == ["numpy"] and plus["ratio_numpy"].isna().all()


def test_verify_table_structure():
    t = perf.verify_table(ns=(5, 6, 9), repeats=1, progress=False)
    assert list(t["n"]) == [5, 9] and list(t["b"]) == [1, 3]
    assert t["certified"].all() and (t["seconds"] > 0).all()
    assert list(t["messages"]) == [10, 126]  # C(k, (k-1)/2) by Lemma 2


def test_montecarlo_table_structure():
    t = perf.montecarlo_table(ns=(5,), trials=500, progress=False)
    assert list(t["kind"]) == ["fixed", "ensemble"] and (t["trials"] == 500).all()
    np.testing.assert_allclose(t["coord_trials_per_second"], 500 / t["seconds"])


# --------------------------------------------------------------------------- run_benchmarks


def test_run_benchmarks_ci_writes_and_reuses(tmp_path, monkeypatch):
    out = perf.run_benchmarks("ci", root=tmp_path, progress=False)
    folder = tmp_path / "bench" / "ci"
    names = ("aggregation", "encode", "verify", "montecarlo", "slopes_n", "slopes_d", "power",
             "targets")
    for name in names:
        assert (folder / f"{name}.csv").is_file()
        assert name in out
    machine = json.loads((folder / "machine.json").read_text())
    assert machine["cpu_count"] >= 1 and machine["numpy"] == np.__version__
    agg = out["aggregation"]
    assert set(agg["rule"]) == set(perf.AGG_RULES) and (agg["status"] == "ok").all()
    assert (agg["reason"] == "").all()  # read back as text, not NaN
    assert set(out["encode"]["model"]) == {"mlp", "logreg"}
    assert len(out["targets"]) == 6
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def boom(*a, **k):
        raise AssertionError("cached tables must be reused")

    for fn in ("aggregation_table", "encode_table", "verify_table", "montecarlo_table"):
        monkeypatch.setattr(perf, fn, boom)
    again = perf.run_benchmarks("ci", root=tmp_path, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    pd.testing.assert_frame_equal(again["aggregation"], agg)
    # a cached table from an older benchmark (columns missing) is measured again
    enc = pd.read_csv(folder / "encode.csv").drop(columns=["encoder", "ratio_numpy"])
    enc.to_csv(folder / "encode.csv", index=False)
    with pytest.raises(AssertionError, match="must be reused"):
        perf.run_benchmarks("ci", root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="profile"):
        perf.run_benchmarks("huge", root=tmp_path)


def test_sizes_profiles():
    assert set(perf.SIZES) == {"ci", "quick", "full"}
    assert "lenet5" not in perf.SIZES["ci"]["encode"]["models"]  # ci needs no Fashion-MNIST
    q = perf.SIZES["quick"]["aggregation"]
    assert q["ns"] == (5, 9, 15, 49, 101) and q["ds"] == (263_500, 1_000_000, 11_000_000)


# --------------------------------------------------------------------------- scripts


@pytest.mark.slow
def test_benchmark_scripts_quick_smoke():
    # started together (they mostly wait on imports); one BLAS/OpenMP thread each so that
    # the smoke runs do not oversubscribe a shared machine
    env = dict(os.environ, ELECTIONLIB_QUIET="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    scripts = ("bench_aggregation.py", "bench_encode.py", "bench_verify.py", "bench_majority.py")
    procs = {s: subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / s), "--quick"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env, cwd=ROOT)
             for s in scripts}
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{script}:\n{out}\n{err}"
        lines = [ln for ln in out.splitlines() if ln.startswith("target ") or " target " in ln]
        assert lines, f"{script} printed no target line:\n{out}"
        assert all(("MET" in ln) or ("NOT MEASURED" in ln) for ln in lines)


@pytest.mark.slow
def test_bench_train_quick_smoke():
    """The gradient-share benchmark runs and prints its ratios (the share and the two-process
    throughput ratio); its target is judged on the declared Fashion-MNIST run, not here."""
    env = dict(os.environ, ELECTIONLIB_QUIET="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"),
                          "--quick"], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    shares = re.findall(r"gradient share (\d+)%", out.stdout)
    assert len(shares) == 4 and all(0 < int(x) <= 100 for x in shares), out.stdout
    assert re.search(r"target: gradient share >= 70% .*: \d+% \((MET|NOT MET)\)", out.stdout)
    assert re.search(r"two single-thread processes [\d.]+ s .*ratio [\d.]+", out.stdout)


def test_startup_ratios_are_medians_over_import_numpy_and_the_rule_can_fail():
    from electionlib import perf

    calls = []

    def stub(args):  # numpy 0.2 s; --help 0.3 s; verify alternates 0.3 / 0.9 s
        calls.append(args[-1])
        if args[-1] == "import numpy":
            return 0.2
        if args[-1] == "--help":
            return 0.3
        return 0.9 if calls.count(args[-1]) % 2 else 0.3

    t = perf.startup_table(4, runner=stub).set_index("command")
    # one warm-up round, then four interleaved rounds of every command
    assert len(calls) == 5 * 3
    assert t.loc["--help", "ratio"] == pytest.approx(1.5)
    assert t.loc["verify --n 15 --b 3", "median_s"] == pytest.approx(0.6)
    rows = perf.startup_targets(t.reset_index()).set_index("target")
    assert bool(rows.loc["--help / import numpy", "met"])  # 1.5 <= 2
    assert not bool(rows.loc["verify --n 15 --b 3 / import numpy", "met"])  # 3.0 > 2
    assert "spread 0.300-0.900" in rows.loc["verify --n 15 --b 3 / import numpy", "note"]
    with pytest.raises(ValueError, match="numpy"):
        perf.startup_table(1, runner=stub, commands={"x": ["-c", "pass"]})


def test_the_command_line_starts_without_scipy_stats_pandas_or_torch():
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['electionlib', 'verify', '--n', '7', '--b', '1'];"
            "import electionlib.cli as c; c.main(sys.argv[1:]);"
            "print(sorted(m for m in ('scipy.stats', 'pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- peer comparison

from electionlib.perf import peers as P  # noqa: E402

TINY = ((15, 3_000), (49, 700), (20, 3_000))


def test_peer_harness_runs_against_the_stub_and_outputs_agree_where_definitions_match():
    t = P.peer_table(P.StubPeer(), TINY, repeats=2)
    assert len(t) == len(TINY) * len(P.PEER_RULES)
    assert set(t["rule"]) == {r.rule for r in P.PEER_RULES}
    assert (t["ratio"] > 0).all() and (t["ratio_lo"] <= t["ratio"]).all()
    assert (t["ratio"] <= t["ratio_hi"]).all()
    same = t[t["max_rel_diff"].notna()]
    # the stub follows ByzFL's definitions; like-with-like (Krum at f + 1, Multi-Krum with
    # m = n - f - 1, a shared centre for clipping) makes the outputs agree to float32 rounding
    assert set(same["rule"]) == {"median", "trimmed_mean", "krum", "multi_krum",
                                 "centered_clipping"}
    assert (same["max_rel_diff"] <= 1e-5).all(), same[["rule", "n", "max_rel_diff"]]
    gm = t[t["rule"].str.startswith("geometric_median")]
    assert gm["max_rel_diff"].isna().all()
    assert (gm["ours_gap"] >= -1e-9).all() and (gm["peer_gap"] >= -1e-9).all()
    # electionlib at its defaults converges further than 3 Weiszfeld steps from 0
    dflt = gm[gm["rule"] == "geometric_median"]
    assert (dflt["ours_gap"] < dflt["peer_gap"]).all()


def test_krum_like_with_like_fails_without_the_neighbour_shift():
    # Guard of the comparison's definition: a Krum that scores n - f - 1 neighbours (ByzFL's)
    # picks electionlib's row on every input when run at f + 1, and not when run at f.
    from electionlib import aggregators as A

    def byzfl_krum(x, f):  # n - f - 1 neighbours, as ByzFL's Krum
        d2 = ((x[:, None, :].astype(np.float64) - x[None]) ** 2).sum(-1)
        return x[np.argmin(np.sort(d2, axis=1)[:, 1 : x.shape[0] - f].sum(1))]

    differ = 0
    for seed in range(60):
        x = np.random.default_rng(seed).standard_normal((9, 3)) ** 3
        ours = A.get("krum", f=2)(x)
        assert np.array_equal(ours, byzfl_krum(x, 3)), seed
        differ += not np.array_equal(ours, byzfl_krum(x, 2))
    assert differ >= 5


def test_peer_ratio_pairs_each_repeat_and_uses_the_given_clock():
    now = [0.0]

    class SlowStub(P.StubPeer):
        name = "slow stub"

        def median(self, x, f, centre):
            now[0] += 2.0  # the peer takes 2 s of the fake clock, electionlib none
            return super().median(x, f, centre)

    t = P.peer_table(SlowStub(), ((15, 100),), repeats=5, rules=["median"],
                     clock=lambda: now[0])
    r = t.iloc[0]
    assert (r.peer_s, r.ours_s, r.ratio, r.repeats) == (2.0, 0.0, 0.0, 5)


def test_peer_targets_say_met_and_not_met_and_judge_agreement():
    def row(ratio, diff):
        return dict(rule="median", label="median", n=15, d=10, ratio=ratio, ratio_lo=ratio / 2,
                    ratio_hi=ratio * 2, repeats=7, max_rel_diff=diff, peer="p")

    t = P.peer_targets(pd.DataFrame([row(0.5, 0.0), row(1.0, np.nan), row(1.01, 1e-3)]))
    assert t["met"].tolist() == [True, True, True, False, False]
    assert t["target"].str.contains("outputs agree").tolist() == [False, True, False, False, True]
    assert "spread 0.51-2.02" in t["note"].iloc[3]


def test_load_byzfl_skips_the_package_init(tmp_path, monkeypatch):
    # A wheel-shaped folder whose package __init__ files fail like ByzFL's (torchvision).
    pkg = tmp_path / "byzfl"
    (pkg / "aggregators").mkdir(parents=True)
    (pkg / "utils").mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('torchvision')\n")
    (pkg / "aggregators" / "__init__.py").write_text("raise ImportError('torchvision')\n")
    (pkg / "utils" / "__init__.py").write_text("")
    (pkg / "utils" / "misc.py").write_text("SCALE = 2\n")
    (pkg / "aggregators" / "aggregators.py").write_text(
        "import numpy as np\nfrom byzfl.utils.misc import SCALE\n"
        "class Median:\n    def __call__(self, v):\n        return SCALE * np.median(v, 0)\n")
    for name in [m for m in sys.modules if m == "byzfl" or m.startswith("byzfl.")]:
        monkeypatch.delitem(sys.modules, name)
    mod = P.load_byzfl(tmp_path)
    assert mod.Median()(np.array([[1.0], [3.0], [4.0]])).tolist() == [6.0]
    assert P.fetch_byzfl(tmp_path, download=False) == tmp_path
    assert P.fetch_byzfl(tmp_path / "absent", download=False) is None
    for name in [m for m in sys.modules if m == "byzfl" or m.startswith("byzfl.")]:
        del sys.modules[name]  # not monkeypatch: its undo would bring the fake modules back


@pytest.mark.skipif(P.fetch_byzfl(download=False) is None,
                    reason="ByzFL's wheel is not in the cache (python benchmarks/bench_peers.py "
                           "fetches it); it is not a dependency of the project")
def test_byzfl_smoke_outputs_agree_where_definitions_match():
    peer = P.ByzFLPeer(P.load_byzfl(P.fetch_byzfl(download=False)))
    t = P.peer_table(peer, ((15, 2_000),), repeats=1)
    same = t[t["max_rel_diff"].notna()]
    assert len(same) == 5 and (same["max_rel_diff"] <= 1e-5).all(), same


@pytest.mark.slow
def test_bench_peers_quick_smoke_against_the_stub():
    """The peer benchmark runs end to end against the stub peer (no ByzFL needed) and prints
    one time target per (rule, shape) and an agreement target where the definitions match."""
    env = dict(os.environ, ELECTIONLIB_QUIET="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_peers.py"), "--quick",
                          "--stub"], capture_output=True, text=True, timeout=300, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("target ")]
    assert len([ln for ln in lines if "time / stub" in ln]) == 3 * len(P.PEER_RULES)
    assert len([ln for ln in lines if "outputs agree" in ln]) == 3 * 5
    assert all(re.search(r"\(<= [0-9.e-]+\) (NOT )?MET -- ", ln) for ln in lines), lines
    assert not [ln for ln in lines if "outputs agree" in ln and "NOT MET" in ln]


def test_majority_floor_table_and_targets():
    t = perf.majority_floor_table((3, 16), 20_000, repeats=2)
    assert t["n"].tolist() == [3, 16] and (t["majority_s"] > 0).all()
    assert np.allclose(t["ratio"], t["majority_s"] / t["copyto_s"])
    assert t["compiled"].all() and (t["floor_ratio"] > 0).all()

    def row(ratio, floor):
        return dict(n=49, d=10, majority_s=ratio, copyto_s=1.0, xor_floor_s=floor, ratio=ratio,
                    floor_ratio=floor, compiled=True, repeats=7)

    out = perf.majority_floor_targets(pd.DataFrame([row(0.7, 0.6), row(1.2, 1.1)]))
    assert out["met"].tolist() == [True, False]
    assert "longer than the copy" in out["note"].iloc[1]
    assert "longer than the copy" not in out["note"].iloc[0]


def test_byzfl_adapter_calls_each_rule_as_the_comparison_defines_it():
    # A fake ByzFL module that records how the adapter builds each rule: Krum and Multi-Krum
    # at f + 1, one clipping round with tau = 10 from the shared centre, the defaults elsewhere.
    calls = []

    def rule(name):
        class Rule:
            def __init__(self, **kw):
                calls.append((name, kw))
                self.m = None

            def __call__(self, x):
                calls.append((name, "m", None if self.m is None else float(self.m[0])))
                return x[0]
        return Rule

    fake = type(sys)("fake_byzfl")
    for name in ("Median", "TrMean", "Krum", "MultiKrum", "GeometricMedian", "CenteredClipping"):
        setattr(fake, name, rule(name))
    peer = P.ByzFLPeer(fake)
    x, centre = np.ones((7, 3), dtype=np.float32), np.full(3, 0.5)
    for method in ("median", "trimmed_mean", "krum", "multi_krum", "geometric_median",
                   "centered_clipping"):
        getattr(peer, method)(x, 2, centre)
    built = dict(c for c in calls if c[1] != "m")
    assert built == {"Median": {}, "TrMean": {"f": 2}, "Krum": {"f": 3}, "MultiKrum": {"f": 3},
                     "GeometricMedian": {}, "CenteredClipping": {"L": 1, "tau": 10.0}}
    assert ("CenteredClipping", "m", 0.5) in calls
