"""Paper presets and per-dataset defaults on the command line."""

import json
import os
import subprocess
import sys

import pytest

from electionlib import cli
from electionlib import presets as P


def train_json(tmp_path, *args, timeout=600):
    out = subprocess.run([sys.executable, "-m", "electionlib", "train", *args, "--results",
                          str(tmp_path), "--json"], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ,
                                               "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_amazon_with_only_the_figure_flags_moves_off_chance(tmp_path):
    """The command a new user types for Fig. 6a (no tuning flag) used to give AUC 0.43."""
    res = train_json(tmp_path, "--dataset", "amazon", "--n", "15", "--b", "5", "--code",
                     "bernoulli", "--r", "2", "--attack", "directional", "--epochs", "2")
    assert res["final_auc"] >= 0.6


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fmnist_with_no_tuning_flag_moves_off_chance(tmp_path):
    """``--dataset fmnist --attack none --epochs 1`` used to give 0.48."""
    res = train_json(tmp_path, "--dataset", "fmnist", "--attack", "none", "--epochs", "1")
    assert res["final_accuracy"] >= 0.6


def _cfg(argv):
    """The TrainConfig the command line builds for ``argv`` (nothing is trained)."""
    parser = cli._build_parser()
    args = parser.parse_args(["train", *argv])
    args.dataset_given = args.dataset
    seen = {}

    def fake_run_cached(cfg, **kw):
        seen["cfg"] = cfg
        raise SystemExit(0)

    import electionlib.train as T

    real = T.run_cached
    T.run_cached = fake_run_cached
    try:
        with pytest.raises(SystemExit):
            cli._train(args)
    finally:
        T.run_cached = real
    return seen["cfg"]


def test_preset_sets_every_hyperparameter_as_the_notebook():
    from electionlib import suites as S

    nb = {(lab["method"]): c for lab, c in S.figure_grid([(9, 3)], "full", seeds=(0,))}
    cfg = _cfg(["--preset", "fig5", "--n", "9", "--b", "3", "--code", "bernoulli", "--r", "2",
                "--attack", "reverse", "--epochs", f"{S.PLATEAU_EPOCHS['full']:g}"])
    want = nb["bern-r2"]
    assert cfg.to_dict() == {**want.to_dict(), "eval_every": cfg.eval_every}
    cfg = _cfg(["--preset", "brsgd-table1", "--n", "20", "--b", "5", "--aggregator", "brsgd",
                "--agg-param", "beta=0.5", "--attack", "gaussian"])
    assert (cfg.dataset, cfg.lr, cfg.momentum) == ("fmnist", 0.03, "none")
    cfg = _cfg(["--preset", "fig6b", "--n", "49", "--b", "5", "--attack", "directional"])
    assert (cfg.batch, cfg.amazon_rows, cfg.tie, cfg.momentum) == (5, 28665, "abstain",
                                                                   "worker")


def test_dataset_defaults_apply_per_scheme_family_and_a_flag_wins():
    cfg = _cfg(["--dataset", "amazon", "--n", "15"])
    assert (cfg.batch, cfg.momentum, cfg.tie, cfg.lr, cfg.lr_decay_epochs) == (
        15, "worker", "abstain", 1e-3, (1.0,))
    cfg = _cfg(["--dataset", "fmnist", "--aggregator", "median"])
    assert (cfg.lr, cfg.momentum) == (0.01, "server")
    cfg = _cfg(["--dataset", "fmnist"])
    assert (cfg.lr, cfg.lr_decay_epochs) == (1e-4, P.standin_decay(None))  # all 60,000
    assert cfg.lr_decay_epochs == (1.2, 2.4)  # after 72,000 and 144,000 examples
    # the same examples-seen schedule on the quick profile's 18,000 examples
    assert _cfg(["--dataset", "fmnist", "--subsample", "18000"]).lr_decay_epochs == (4.0, 8.0)
    assert _cfg(["--dataset", "fmnist", "--lr", "0.5", "--tie", "plus"]).lr == 0.5
    cfg = _cfg(["--dataset", "cifar10", "--n", "9", "--b", "3"])
    assert (cfg.batch, cfg.lr_decay_epochs) == (14, (20.0, 40.0, 80.0))  # Table B.2


def test_every_notebook_experiment_has_a_preset():
    for name in ("fig4", "fig5", "fig6a", "fig6b", "draco-table2", "brsgd-table1",
                 "appendix", "paper-fig4", "paper-fig5"):
        assert name in P.PRESETS and P.PRESETS[name].description
    with pytest.raises(ValueError, match="preset='nope'"):
        P.build("nope", {})
