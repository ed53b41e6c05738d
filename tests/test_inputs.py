"""Bad input and damaged results: every TrainConfig field is checked at construction, every
command-line error is one ``error:`` line with exit status 2, the store trusts only complete
results, the median's midpoint cannot overflow, and non-finite gradient coordinates follow
one documented vote rule."""

import errno
import json
import math
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from electionlib import aggregators, cli, experiments
from electionlib import schemes as S
from electionlib import train as T
from electionlib import votes as V

# ---------------------------------------------------------------------------- TrainConfig

BAD_FIELDS = [
    (dict(test_subsample=-5), "test_subsample=-5"),
    (dict(test_subsample=0), "test_subsample=0"),
    (dict(subsample=-1), "subsample=-1"),
    (dict(byz_redraw="false"), "byz_redraw='false' must be True or False"),
    (dict(code="bernoulli", r="2"), "r='2' must be a real number"),
    (dict(code="bernoulli", r=0.0), "r=0.0 must lie in (0, 9]"),
    (dict(code="bernoulli", r=12.0), "r=12.0 must lie in (0, 9]"),
    (dict(code="bernoulli", p=float("nan")), "p=nan must lie in [0, 1]"),
    (dict(design_b=-3), "design_b=-3"),
    (dict(model=3), "model=3 must be one of"),
    (dict(model="vgg"), "model='vgg' must be one of"),
    (dict(aggregator="krum", agg_params=(("f",),)), "agg_params="),
    (dict(aggregator="krum", agg_params=[("f", 1)]), "agg_params="),
    (dict(aggregator="krum", agg_params=(("g", 1),)), "g=1 is not a parameter of 'krum'"),
    (dict(aggregator="krum", agg_params=(("f", -1),)), "f=-1"),
    (dict(agg_params=(("f", 1),)), "needs an aggregator"),
    (dict(aggregator="sum"), "aggregator='sum' must be one of"),
    (dict(lr_decay_epochs=("a",)), "lr_decay_epochs entry='a'"),
    (dict(lr_decay_epochs=[50]), "lr_decay_epochs=[50] must be a tuple"),
    (dict(n="9"), "n='9' must be an integer"),
    (dict(seed=1.5), "seed=1.5 must be an integer"),
    (dict(epochs="1"), "epochs='1' must be a real number"),
    (dict(dataset=["digits"]), "dataset=['digits'] must be one of"),
    (dict(eta=1.0), "eta=1.0 must lie in [0, 1)"),
]


@pytest.mark.parametrize("kw,msg", BAD_FIELDS, ids=[str(k) for k, _ in BAD_FIELDS])
def test_every_field_is_checked_at_construction(kw, msg):
    with pytest.raises(ValueError, match=None) as exc:
        T.TrainConfig(**kw)
    assert msg in str(exc.value)


def test_from_dict_refuses_unknown_keys_and_non_objects():
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['nn'\]"):
        T.TrainConfig.from_dict({"nn": 1})
    with pytest.raises(ValueError, match="must be a JSON object"):
        T.TrainConfig.from_dict([1, 2])
    cfg = T.TrainConfig(aggregator="krum", agg_params=(("f", 1),), lr_decay_epochs=(1.0,))
    assert T.TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_valid_values_still_pass_and_keep_their_hash():
    cfg = T.TrainConfig(code="bernoulli", r=2.0, design_b=2, model="lenet5",
                        test_subsample=10, byz_redraw=True)
    assert cfg.r == 2.0
    # the key of a default configuration is unchanged by the added checks
    assert experiments.config_hash(T.TrainConfig().to_dict()) == "efefc1f58621"
    # ... and by the partition fields at their defaults (an i.i.d. run keeps its key)
    assert "partition" not in T.TrainConfig(partition="iid").to_dict()
    het = T.TrainConfig(partition="dirichlet", alpha=0.1)
    assert het.to_dict()["alpha"] == 0.1 and T.TrainConfig.from_dict(het.to_dict()) == het
    assert T.TrainConfig(partition="dirichlet", alpha=float("inf")).alpha == float("inf")


# ---------------------------------------------------------------------------- CLI


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "electionlib", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,msg", [
    (["train", "--lr-decay-epochs", "a,b"], "--lr-decay-epochs"),
    (["verify", "--n", "15", "--b", "-1", "--design-b", "3"], "b=-1"),
    (["verify", "--n", "63", "--b", "3"], "k <= 30"),
    (["train", "--deadline", "-1", "--backend", "mpi"], "--deadline: -1 must be"),
    (["train", "--deadline", "nan", "--backend", "mpi"], "--deadline: nan must be"),
    (["train", "--checkpoint-every", "0", "--backend", "mpi"], "--checkpoint-every: 0"),
    (["train", "--checkpoint-every", "-1", "--backend", "mpi"], "--checkpoint-every: -1"),
    (["train", "--n", "x"], "--n: invalid int value"),
    (["train", "--attack", "nope"], "--attack: invalid choice"),
    (["train", "--resume"], "--resume apply only to --backend mpi"),
    (["train", "--deadline", "2"], "--deadline apply only to --backend mpi"),
    (["train", "--checkpoint-every", "3"], "--checkpoint-every apply only"),
    (["train", "--agg-param", "f"], "must be KEY=VALUE"),
    (["train", "--partition", "dirichlet"], "alpha=None goes with partition='dirichlet'"),
    (["train", "--alpha", "0.5"], "alpha=0.5 goes with partition='dirichlet'"),
    (["train", "--partition", "dirichlet", "--alpha", "0"], "alpha=0.0 must lie in (0"),
    (["train", "--partition", "shards"], "labels_per_partition=None goes with"),
    (["train", "--partition", "pie"], "--partition: invalid choice"),
])
def test_every_cli_error_is_one_line_and_exit_2(args, msg):
    out = _cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], lines


def test_cli_errors_for_results_and_config_files(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["train", "--results", str(afile)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    for content, msg in (('{"nn": 1}', "unknown TrainConfig field"),
                         ("[1]", "must be a JSON object"), ("{", "is not valid JSON"),
                         ('{"n": [3]}', "n=[3] must be an integer")):
        (tmp_path / "c.json").write_text(content)
        assert cli.main(["train", "--config", str(tmp_path / "c.json")]) == 2
        assert msg in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_a_full_disk_is_one_error_line(tmp_path, monkeypatch, capsys):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(experiments, "atomic_write_bytes", full)
    code = cli.main(["train", "--dataset", "digits", "--n", "3", "--epochs", "0.05",
                     "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1
    assert "could not write the results to" in err and "No space left on device" in err


def test_json_out_writes_the_printed_summary(tmp_path, capsys):
    """``--json-out FILE`` writes the same summary as ``--json`` prints (MPI runs write it
    before a job with stuck workers is aborted, so a launcher need not read stdout)."""
    out = tmp_path / "sub" / "summary.json"
    (tmp_path / "sub").mkdir()
    code = cli.main(["train", "--dataset", "digits", "--n", "3", "--epochs", "0.05",
                     "--results", str(tmp_path), "--json", "--json-out", str(out)])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and json.loads(out.read_text()) == printed
    assert printed["steps"] > 0 and printed["backend"] == "sim"


def test_help_shows_every_default_and_choice():
    out = _cli("train", "--help").stdout
    assert "(default: the preset's, else digits)" in out and "(default: 9)" in out
    assert "fmnist 1e-4" in " ".join(out.split())  # the per-dataset lr, line breaks aside
    for attack in ("reverse", "worst", "alie", "ipm", "label_shift"):
        assert attack in out


# ---------------------------------------------------------------------------- store


def _metrics(rows=4):
    return pd.DataFrame({"step": range(rows), "accuracy": np.linspace(0.1, 0.9, rows)})


def test_save_run_is_complete_and_load_run_checks_it(tmp_path):
    folder = tmp_path / "run"
    experiments.save_run(folder, {"n": 3}, _metrics(), {"x": 1}, np.arange(5.0))
    metrics, summary, why = experiments.load_run(folder, need_params=True)
    assert why is None and summary["x"] == 1 and len(metrics) == 4
    assert experiments.load_run(tmp_path / "never") == (None, None, None)
    # a truncated metrics.csv is never reused
    m = folder / "metrics.csv"
    m.write_bytes(m.read_bytes()[:-5])
    assert "does not match the checksum" in experiments.load_run(folder)[2]
    experiments.save_run(folder, {"n": 3}, _metrics(), {"x": 1}, np.arange(5.0))
    p = folder / "params.npy"
    p.write_bytes(p.read_bytes()[:-8])
    assert "params.npy" in experiments.load_run(folder, need_params=True)[2]
    (folder / "summary.json").write_text('{"x": ')
    assert "summary.json is unreadable" in experiments.load_run(folder)[2]


def test_run_cached_recomputes_a_truncated_result_and_says_why(tmp_path, capsys):
    cfg = T.TrainConfig(dataset="digits", n=3, epochs=0.05)
    first = T.run_cached(cfg, root=tmp_path, progress=False)
    folder = first.summary["results_dir"]
    again = T.run_cached(cfg, root=tmp_path, progress=False)
    assert "note:" not in capsys.readouterr().err  # complete: reused silently
    pd.testing.assert_frame_equal(first.metrics, again.metrics, check_exact=False)
    for damage in ("metrics", "summary"):
        path = os.path.join(folder, f"{damage}.{'csv' if damage == 'metrics' else 'json'}")
        with open(path, "rb+") as fh:
            fh.truncate(os.path.getsize(path) // 2)
        res = T.run_cached(cfg, root=tmp_path, progress=False)
        err = capsys.readouterr().err
        assert "is not complete" in err and "recomputing" in err and folder in err
        cols = ["step", "accuracy", "test_loss", "train_loss"]
        pd.testing.assert_frame_equal(res.metrics[cols], first.metrics[cols])


def test_cached_table_recomputes_a_truncated_table(tmp_path, capsys):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": range(50)})

    experiments.cached_table("t", {"a": 1}, compute, root=tmp_path)
    table = next((tmp_path / "t").glob("*/table.csv"))
    table.write_text(table.read_text()[:20])
    df = experiments.cached_table("t", {"a": 1}, compute, root=tmp_path)
    assert len(calls) == 2 and len(df) == 50 and "recomputing" in capsys.readouterr().err


def test_store_files_have_the_usual_mode(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    experiments.save_run(tmp_path / "r", {"n": 1}, _metrics(), {}, np.zeros(2))
    for f in (tmp_path / "r").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f


def test_concurrent_writers_never_share_a_temporary_file(tmp_path, monkeypatch):
    names = []
    real = experiments.tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        names.append(name)
        return fd, name

    monkeypatch.setattr(experiments.tempfile, "mkstemp", spy)
    experiments.atomic_write_text(tmp_path / "x", "a")
    experiments.atomic_write_text(tmp_path / "x", "b")
    assert len(set(names)) == 2 and (tmp_path / "x").read_text() == "b"


def test_mpi_results_key_includes_fault_injection():
    """A fault-injected MPI run never shares a results folder with the clean run."""
    import inspect

    src = inspect.getsource(cli._train_mpi)
    assert 'key["misbehave"] = misbehave' in src


# ---------------------------------------------------------------------------- maths


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_midpoint_does_not_overflow(dtype):
    big = np.finfo(dtype).max / 1.5
    x = np.array([[big, -1.0], [big, 1.0]], dtype=dtype)
    out = aggregators.get("median")(x)
    assert np.isfinite(out).all() and out[0] == dtype(big) and out[1] == 0
    rng = np.random.default_rng(0)
    y = rng.standard_normal((6, 100))
    ref = np.median(y, axis=0)
    np.testing.assert_array_equal(aggregators.get("median")(y), ref)  # bit-identical
    z = np.array([[np.finfo(np.float64).max] * 3, [np.finfo(np.float64).max] * 3,
                  [1.0] * 3, [2.0] * 3, [3.0] * 3, [np.finfo(np.float64).max] * 3,
                  [np.finfo(np.float64).max] * 3])
    assert np.isfinite(aggregators.get("bulyan", f=1)(z)).all()


def test_for_rows_rederives_the_bound_for_the_rows_present():
    krum = aggregators.get("krum", f=1)
    assert aggregators.for_rows(krum, 5) == (krum, None)  # the rule itself, unchanged
    rule, note = aggregators.for_rows(aggregators.get("krum", f=2), 6)
    assert repr(rule) == "Krum(f=1)" and "cannot take 6 rows" in note
    rule, _ = aggregators.for_rows(aggregators.get("bulyan", f=2), 7)
    assert repr(rule) == "Bulyan(f=1)"
    rule, _ = aggregators.for_rows(aggregators.get("multi_krum", f=2, m=5), 6)
    assert repr(rule) == "MultiKrum(f=1, m=5)"
    rule, _ = aggregators.for_rows(aggregators.get("krum", f=1), 2)
    assert repr(rule) == "Median()"
    for name, f in (("trimmed_mean", 3), ("krum", 3), ("bulyan", 2), ("multi_krum", 3)):
        agg = aggregators.get(name, f=f)
        for m in range(1, agg.min_n(f) + 2):
            rule, _ = aggregators.for_rows(agg, m)
            out = rule(np.random.default_rng(m).standard_normal((m, 4)))  # never raises
            assert out.shape == (4,)
    with pytest.raises(ValueError, match="m=0"):
        aggregators.for_rows(aggregators.get("median"), 0)


NONFINITE = np.array([np.nan, np.inf, -np.inf, 0.0, 2.0, -3.0])


def test_nonfinite_coordinates_vote_like_zeros():
    """NaN and inf carry no sign: absent under abstain, +1 under plus, a coin under coin."""
    bits, pres = V.sign_bits(NONFINITE, "abstain")
    assert V.unpack(bits, 6).tolist() == [-1, -1, -1, -1, 1, -1]
    assert np.unpackbits(pres, count=6).tolist() == [0, 0, 0, 0, 1, 1]
    assert V.unpack(V.sign_bits(NONFINITE, "plus")[0], 6).tolist() == [1, 1, 1, 1, 1, -1]
    zeros = np.zeros(6)
    for seed in range(5):  # the coins drawn for NaN/inf are those drawn for zeros
        a = V.sign_bits(NONFINITE, "coin", rng=seed)[0]
        b = V.sign_bits(np.array([0, 0, 0, 0, 2.0, -3.0]), "coin", rng=seed)[0]
        assert np.array_equal(a, b)
    assert V.sign_bits(zeros, "plus")[0].tolist() == V.sign_bits(
        np.full(6, np.nan), "plus")[0].tolist()


@pytest.mark.parametrize("tie", V.TIE_RULES)
@pytest.mark.parametrize("kernels", [True, False])
def test_worker_vote_treats_nonfinite_as_zero_on_both_paths(tie, kernels, monkeypatch):
    monkeypatch.setattr(V, "USE_KERNELS", kernels)
    rng = np.random.default_rng(1)
    g = rng.standard_normal((3, 29)).astype(np.float32)
    g[0, [1, 4]], g[1, 7], g[2, 9] = np.nan, np.inf, -np.inf
    z = np.where(np.isfinite(g), g, 0).astype(np.float32)

    def kw():
        if tie != "coin":
            return {}
        return dict(partition_rngs=[np.random.default_rng(j) for j in range(3)],
                    rng=np.random.default_rng(7))

    a, b = V.worker_vote(g, tie, **kw()), V.worker_vote(z, tie, **kw())
    assert np.array_equal(a[0], b[0])
    assert (a[1] is None and b[1] is None) or np.array_equal(a[1], b[1])


def test_partition_signs_and_multibit_treat_nonfinite_as_zero():
    g = np.array([[np.nan, 1.0, -1.0], [0.0, np.inf, 2.0]], np.float32)
    z = np.where(np.isfinite(g), g, 0).astype(np.float32)
    rngs = lambda: [np.random.default_rng(j) for j in range(2)]  # noqa: E731
    assert np.array_equal(S.partition_signs(g, "coin", rngs())[0],
                          S.partition_signs(z, "coin", rngs())[0])
    assert S.multibit_signs(g, "abstain").tolist() == [[0, 1, -1], [0, 0, 1]]
    assert S.multibit_signs(g, "plus").tolist() == [[1, 1, -1], [1, 1, 1]]
    assert not math.isnan(S.multibit_signs(g, "coin").sum())
