import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from electionlib import cli, experiments


def test_verify_prints_certificate(capsys):
    assert cli.main(["verify", "--n", "15", "--b", "3"]) == 0
    out = capsys.readouterr().out
    assert "CERTIFIED" in out and "perfectly 3-Byzantine tolerant" in out
    assert "eq. (5) gives 10.2" in out


def test_verify_mismatch_and_json(capsys):
    assert cli.main(["verify", "--n", "5", "--b", "2", "--design-b", "1", "--json"]) == 1
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["tolerant"] is False and len(res["counterexample"]["byzantine"]) == 2
    assert res["redundancy"] == pytest.approx(3.8)


def test_verify_bad_input_is_a_clear_error(capsys):
    assert cli.main(["verify", "--n", "8", "--b", "2"]) == 2
    assert "n=8 must be odd" in capsys.readouterr().err


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "electionlib", "verify", "--n", "9", "--b", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "CERTIFIED" in out.stdout


def test_cached_table_reuses_and_forces(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1, 2], "y": [0.5, np.float32(0.25)]})

    cfg = {"n": np.int64(9), "b": 2, "grid": [0.1, 0.2]}
    a = experiments.cached_table("exp", cfg, compute, root=tmp_path)
    b = experiments.cached_table("exp", dict(reversed(list(cfg.items()))), compute, root=tmp_path)
    assert len(calls) == 1  # same config (key order irrelevant) -> reused
    pd.testing.assert_frame_equal(a, b)
    folder = tmp_path / "exp" / experiments.config_hash(cfg)
    assert json.loads((folder / "config.json").read_text())["n"] == 9
    experiments.cached_table("exp", cfg, compute, root=tmp_path, force=True)
    assert len(calls) == 2
    experiments.cached_table("exp", {**cfg, "b": 3}, compute, root=tmp_path)
    assert len(calls) == 3
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    experiments.atomic_write_text(path, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        experiments.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_cached_table_rejects_bad_names(tmp_path):
    with pytest.raises(ValueError, match="experiment"):
        experiments.cached_table("../x", {}, pd.DataFrame, root=tmp_path)
    with pytest.raises(TypeError, match="DataFrame"):
        experiments.cached_table("x", {}, lambda: [1], root=tmp_path)


def test_train_command_json(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "electionlib", "train", "--dataset", "digits", "--n", "5",
         "--b", "1", "--code", "bernoulli", "--r", "2", "--attack", "reverse", "--epochs",
         "0.5", "--results", str(tmp_path), "--json"],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("final_accuracy", "model_dimension", "results_dir", "bytes_per_worker_per_step",
                "wall_seconds"):
        assert key in res
    assert res["bytes_per_worker_per_step"] == 16 + -(-res["model_dimension"] // 8)
    assert (tmp_path / "train").is_dir() and res["results_dir"].startswith(str(tmp_path))


def test_train_command_bad_config_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--code", "bernoulli", "--results", str(tmp_path)]) == 2
    assert "exactly one of r" in capsys.readouterr().err


def test_save_and_load_table(tmp_path):
    df = pd.DataFrame({"a": [1, 2]})
    experiments.save_table(df, "01_x", root=tmp_path)
    pd.testing.assert_frame_equal(experiments.load_table("01_x", root=tmp_path), df)
    with pytest.raises(FileNotFoundError, match="run notebook 02"):
        experiments.load_table("02_missing", root=tmp_path)
    with pytest.raises(ValueError, match="name"):
        experiments.save_table(df, "../x", root=tmp_path)
