import math
from pathlib import Path

import numpy as np
import pytest

from electionlib import schemes as S
from electionlib import train as T

BASE = dict(dataset="digits", n=9, epochs=1.0, lr=2e-3, batch=8, eval_every=0.5, seed=3)


def run(**kw):
    return T.run(T.TrainConfig(**{**BASE, **kw}), progress=False)


@pytest.mark.parametrize("attack", ["reverse", "directional", "random", "worst"])
@pytest.mark.parametrize("b", [1, 3])
def test_deterministic_code_is_bit_identical_to_attack_free(attack, b):
    """Theorem 3 / Remark 5: with Algorithm 1 designed for b=3 and any attack by b <= 3
    Byzantines, every voted sign equals the attack-free one, so the parameters are identical."""
    clean = run(code="deterministic", design_b=3, b=0)
    attacked = run(code="deterministic", design_b=3, b=b, attack=attack, byz_select="worst")
    np.testing.assert_array_equal(attacked.params, clean.params)
    assert attacked.metrics.accuracy.tolist() == clean.metrics.accuracy.tolist()


def test_deterministic_code_past_its_bound_is_not_identical():
    clean = run(code="deterministic", design_b=1, b=0)
    attacked = run(code="deterministic", design_b=1, b=3, attack="worst", byz_select="worst")
    assert not np.array_equal(attacked.params, clean.params)


def test_uncoded_is_moved_by_the_attack_and_runs_are_reproducible():
    a = run(b=3, attack="reverse")
    b = run(b=3, attack="reverse")
    np.testing.assert_array_equal(a.params, b.params)
    clean = run()
    assert not np.array_equal(a.params, clean.params)
    # the frame header and the packed signs: what the mpi backend hands to MPI
    assert a.summary["bytes_per_worker_per_step"] == 16 + -(-a.summary["model_dimension"] // 8)


def test_bernoulli_abstain_and_multibit_and_options_run():
    r = run(code="bernoulli", r=2, b=2, attack="reverse", tie="abstain", momentum="worker")
    assert r.summary["bytes_per_worker_per_step"] == 16 + 2 * -(-r.summary["model_dimension"] // 8)
    q = run(quant_bits=2, b=2, attack="reverse", code="bernoulli", r=3)
    assert np.isfinite(q.params).all()
    z = run(noise_var=1e-4, rho=0.5, byz_redraw=True, b=2, attack="random")
    assert z.metrics.accuracy.iloc[-1] > 0.3


def test_quantize_levels_and_one_bit_is_majority():
    x = np.array([-0.9, -0.2, 0.0, 0.2, 0.9])
    assert S.quantize(x, 1).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    assert np.allclose(S.quantize(x, 2), [-1, -1 / 3, 0, 1 / 3, 1])


def test_training_learns_something():
    r = run(epochs=3.0)
    assert r.metrics.accuracy.iloc[-1] > r.metrics.accuracy.iloc[0] + 0.3


def test_modelled_time_formula():
    t = T.modelled_step_seconds(3, 0.01, 0.001, 0.002, 9, 1e4, 1e4, 1e9)
    assert t == pytest.approx(3 * 0.01 + 0.003 + (9e4 + 1e4) * 8 / 1e9)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(dataset="mnist"), "dataset='mnist'"),
        (dict(n=0), "n=0"),
        (dict(b=10), "b=10"),
        (dict(code="magic"), "code='magic'"),
        (dict(code="bernoulli"), "exactly one of r"),
        (dict(attack="gaussian"), "vote attack"),
        (dict(aggregator="median", attack="reverse"), "gradient attack"),
        (dict(aggregator="median", code="bernoulli", r=2), "uncoded"),
        (dict(tie="zero"), "tie='zero'"),
        (dict(momentum="nesterov"), "momentum='nesterov'"),
        (dict(rho=0.0), "rho=0.0"),
        (dict(lr=-1.0), "lr=-1.0"),
        (dict(quant_bits=0), "quant_bits=0"),
        (dict(eta=1.0), "eta=1.0"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        T.TrainConfig(**{**BASE, **kw})


def test_deterministic_design_b_out_of_range_is_clear():
    with pytest.raises(ValueError, match="b=4 must satisfy"):
        run(code="deterministic", b=4)


@pytest.mark.slow
def test_paper_scale_resnet18_cifar10_smoke(tmp_path, monkeypatch):
    """The paper-scale configuration (Table B.2) runs end to end on tiny CIFAR-10-format files."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_data import write_tiny_cifar

    from electionlib import suites as S

    write_tiny_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(0), n=6, n_test=4)
    monkeypatch.setenv("ELECTIONLIB_DATA", str(tmp_path))
    grid = S.figure_grid([(5, 1)], "ci", seeds=(0,), scale="paper")
    assert {c.dataset for _, c in grid} == {"cifar10"} and grid[0][1].batch == 24
    assert grid[0][1].lr_decay_epochs == (40.0, 80.0)  # Table B.2
    cfg = T.TrainConfig(**{**grid[1][1].to_dict(), "batch": 2, "epochs": 0.4, "eval_every": 0.2,
                           "lr_decay_epochs": (0.2,)})
    res = T.run(cfg, progress=False)
    assert res.summary["model_dimension"] == 11_173_962
    assert np.isfinite(res.params).all() and res.summary["steps"] >= 1
    with pytest.raises(ValueError, match=r"\(n, b\)=\(7, 1\)"):
        S.paper_base(7, 1)


def test_the_store_keeps_the_final_parameters(tmp_path):
    cfg = T.TrainConfig(dataset="digits", n=3, epochs=0.2, eval_every=0.1, seed=2)
    first = T.run_cached(cfg, root=tmp_path, progress=False)
    folder = Path(first.summary["results_dir"])
    assert (folder / "params.npy").is_file()
    import json

    from electionlib import experiments as E

    # config.json is the configuration alone; key.json is what names the folder
    assert T.TrainConfig.from_dict(json.loads((folder / "config.json").read_text())) == cfg
    key = json.loads((folder / "key.json").read_text())
    assert key["trainer_version"] == T.TRAINER_VERSION and folder.name == E.config_hash(key)
    again = T.run_cached(cfg, root=tmp_path, progress=False, only_cached=True)  # no training
    np.testing.assert_array_equal(again.params, first.params)
    # parameters that do not match their checksum are not trusted: need_params retrains
    np.save(folder / "params.npy", np.zeros_like(first.params))
    assert T.run_cached(cfg, root=tmp_path, progress=False, only_cached=True).params is None
    with pytest.raises(FileNotFoundError):
        T.run_cached(cfg, root=tmp_path, progress=False, only_cached=True, need_params=True)
    redone = T.run_cached(cfg, root=tmp_path, progress=False, need_params=True)
    np.testing.assert_array_equal(redone.params, first.params)


def test_device_option_cpu_is_the_default_and_cuda_is_refused_without_a_gpu():
    import torch

    cfg = T.TrainConfig(dataset="digits", n=3, epochs=0.1, eval_every=0.1, seed=4)
    explicit = T.TrainConfig(dataset="digits", n=3, epochs=0.1, eval_every=0.1, seed=4,
                             device="cpu")
    assert explicit.to_dict() == cfg.to_dict()  # the default keeps every stored hash
    np.testing.assert_array_equal(T.run(explicit, progress=False).params,
                                  T.run(cfg, progress=False).params)
    with pytest.raises(ValueError, match="device"):
        T.TrainConfig(device="tpu")
    gpu = T.TrainConfig(dataset="digits", n=3, epochs=0.1, device="cuda")  # data anywhere
    assert gpu.to_dict()["device"] == "cuda" and gpu.to_dict() != cfg.to_dict()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda.is_available"):
            T.run(gpu, progress=False)


def test_auc_of_a_diverged_model_is_nan_not_an_error():
    import torch

    from electionlib import data, gradients, models

    ds = data.load("amazon", q=64)
    model = models.get(None, ds, bias=False)
    w = torch.full((models.n_params(model),), float("nan"))
    out = gradients.evaluate(model, w, ds, np.arange(50))
    assert math.isnan(out["auc"]) and math.isnan(out["test_loss"])
    ok = gradients.evaluate(model, torch.zeros_like(w), ds, np.arange(50))
    assert ok["auc"] == 0.5  # all scores tied


def test_the_run_splits_its_data_as_configured():
    """``partition`` reaches the run's partitions (gradients.setup, shared by both backends):
    a Dirichlet split with small alpha gives skewed label mixes, the i.i.d. split does not,
    and the trained models differ."""
    from electionlib import data, gradients

    mixes = {}
    for part, kw in (("iid", {}), ("dirichlet", {"alpha": 0.05})):
        cfg = T.TrainConfig(dataset="digits", n=5, epochs=0.1, partition=part, **kw)
        _, sampler, ds, _, _ = gradients.setup(cfg)
        parts = sampler._parts
        assert sorted(np.concatenate(parts).tolist()) == list(range(ds.n_train))
        mixes[part] = data.label_mix(ds.y_train, parts, n_classes=10).max(axis=1).mean()
    assert mixes["iid"] < 0.2  # 10 classes over 5 partitions: about 0.1 each
    assert mixes["dirichlet"] > 0.4
    a = T.run(T.TrainConfig(dataset="digits", n=5, epochs=0.1), progress=False).params
    b = T.run(T.TrainConfig(dataset="digits", n=5, epochs=0.1, partition="dirichlet",
                            alpha=0.05), progress=False).params
    assert not np.array_equal(a, b)


def test_omniscient_byzantine_set_is_the_exhaustive_worst_set():
    """byz_select='omniscient': the b workers that maximise the master's exact error for the
    run's G (fair-coin partitions), fixed for the run; at least as harmful as every other set
    in that model, and chosen without drawing from the run's byz stream."""
    from itertools import combinations

    from electionlib import attacks as A
    from electionlib import codes, config, theory

    cfg = T.TrainConfig(n=7, b=2, code="bernoulli", r=3.0, attack="worst",
                        byz_select="omniscient")
    G = codes.bernoulli(7, 3 / 7, rng=np.random.default_rng(4))
    rng = np.random.default_rng(0)
    byz = config.byzantine_set(cfg, G, rng)
    err = theory.exact_error_fixed(G, byz, 0.0, attack="worst", target="mu", tie="coin")
    for other in combinations(range(7), 2):
        assert err >= theory.exact_error_fixed(G, other, 0.0, attack="worst", target="mu",
                                               tie="coin") - 1e-12
    assert rng.bit_generator.state == np.random.default_rng(0).bit_generator.state
    assert tuple(byz) == A.worst_byzantine_set(G, 2, method="exhaustive")[0]
    for kw in (dict(n=4), dict(n=5, k=4, code="bernoulli", r=2.0), dict(n=25),
               dict(n=5, byz_redraw=True), dict(n=5, aggregator="median", attack="alie"),
               dict(n=5, code="draco-cyclic", attack="constant")):
        with pytest.raises(ValueError, match="byz_select='omniscient'"):
            T.TrainConfig(b=1, byz_select="omniscient", **kw)
