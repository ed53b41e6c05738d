"""The MPI backend, launched through mpiexec from pytest (sys.prefix/bin/mpiexec)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from electionlib import train as T

MPIEXEC = Path(sys.prefix) / "bin" / "mpiexec"
pytestmark = [pytest.mark.skipif(not MPIEXEC.exists(),
                                 reason=f"{MPIEXEC} missing: pip install mpich mpi4py"),
              pytest.mark.mpi]


#: Keys of a stored mpi run's key.json beyond the TrainConfig's fields.
MPI_KEYS = ("backend", "parity", "deadline", "trainer_version")


def launch(tmp_path, n, *args, ranks=None, timeout=300):
    cmd = [str(MPIEXEC), "-n", str(ranks or n + 1), sys.executable, "-m", "electionlib",
           "train", "--backend", "mpi", "--dataset", "digits", "--n", str(n),
           "--results", str(tmp_path), "--json", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ELECTIONLIB_QUIET": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def result(out):
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def sim_params(res):
    folder = Path(res["results_dir"])
    cfg = json.loads((folder / "config.json").read_text())  # the configuration alone
    key = json.loads((folder / "key.json").read_text())
    assert {k: v for k, v in key.items() if k not in MPI_KEYS} == cfg
    return T.run(T.TrainConfig.from_dict(cfg), progress=False, parity=True).params


@pytest.mark.parametrize("n,args", [
    (4, ["--b", "1", "--code", "bernoulli", "--r", "2", "--attack", "reverse", "--tie", "plus"]),
    (8, ["--b", "3", "--code", "bernoulli", "--r", "3", "--attack", "random", "--tie",
         "abstain", "--momentum", "worker"]),
    (4, ["--b", "1", "--aggregator", "median", "--attack", "gaussian", "--lr", "0.01"]),
    (8, ["--b", "2", "--aggregator", "trimmed_mean", "--agg-param", "f=2", "--attack",
         "constant", "--lr", "0.01"]),
    # omniscient attacks through the adversary channel (honest messages shown to Byzantines)
    (5, ["--b", "2", "--aggregator", "median", "--attack", "alie", "--lr", "0.01"]),
    (5, ["--b", "1", "--aggregator", "krum", "--agg-param", "f=1", "--attack", "ipm", "--lr",
         "0.01"]),
    # DRACO: float64 (repetition) and complex128 (cyclic) messages through the same path
    (3, ["--b", "1", "--code", "draco-repetition", "--attack", "reversed_gradient", "--lr",
         "0.01"]),
    (5, ["--b", "1", "--code", "draco-cyclic", "--attack", "constant", "--lr", "0.01"]),
    # coin ties for sign(0) (digits has exact-zero pixels): per-partition coin streams
    (4, ["--b", "1", "--code", "bernoulli", "--r", "2", "--attack", "reverse", "--tie", "coin"]),
    # the vote-level worst case: Byzantine ranks compute every partition (an empty Byzantine
    # row still attacks)
    (5, ["--b", "2", "--code", "bernoulli", "--r", "2", "--attack", "worst", "--tie", "coin",
         "--seed", "3"]),
    # the worst case with a new Byzantine set every step: every rank draws the adversary's
    # coins every step, so a rank that turns Byzantine holds the sim adversary's streams
    (5, ["--b", "2", "--code", "bernoulli", "--r", "2", "--attack", "worst", "--tie", "coin",
         "--byz-redraw", "--seed", "4"]),
    # every worker Byzantine under an omniscient attack: the adversary channel shows nobody
    (3, ["--b", "3", "--aggregator", "median", "--attack", "alie", "--lr", "0.01"]),
    # multi-bit extension (q bit-planes + zero plane both ways)
    (4, ["--b", "1", "--code", "bernoulli", "--r", "2", "--quant-bits", "2", "--attack",
         "random"]),
    (5, ["--b", "1", "--quant-bits", "3", "--attack", "worst", "--tie", "plus"]),
    # label shift: Byzantines compute gradients on shifted labels
    (4, ["--b", "1", "--aggregator", "median", "--attack", "label_shift", "--lr", "0.01"]),
    (3, ["--b", "1", "--code", "draco-repetition", "--attack", "label_shift", "--lr", "0.01"]),
    # heterogeneous data: a Dirichlet split (both backends split in gradients.setup) and shards
    (5, ["--b", "1", "--code", "bernoulli", "--r", "2", "--attack", "reverse", "--partition",
         "dirichlet", "--alpha", "0.1"]),
    (4, ["--b", "1", "--aggregator", "median", "--attack", "gaussian", "--lr", "0.01",
         "--partition", "shards", "--labels-per-partition", "2"]),
    # the allocation-aware adversary: its set chosen from G on every rank alike
    (5, ["--b", "2", "--code", "bernoulli", "--r", "2", "--attack", "worst", "--byz-select",
         "omniscient", "--partition", "dirichlet", "--alpha", "0.5"]),
    # the stronger attacks: stochastic sign flips from the worker's stream, Fang's draws,
    # MinMax through the adversary channel, and a bucketed rule (its stream on the server)
    (5, ["--b", "2", "--code", "bernoulli", "--r", "2", "--attack", "sign_flip", "--tie",
         "abstain"]),
    (5, ["--b", "2", "--aggregator", "trimmed_mean", "--agg-param", "f=2", "--attack", "fang",
         "--lr", "0.01"]),
    (5, ["--b", "1", "--aggregator", "centered_clipping", "--agg-param", "pre=bucketing",
         "--attack", "minmax", "--lr", "0.01"]),
    # the stored minimum-redundancy code (read from the package on every rank)
    (5, ["--b", "1", "--code", "optimal", "--attack", "reverse", "--byz-select", "worst"]),
])
def test_parity_with_sim_bit_identical(tmp_path, n, args):
    res = result(launch(tmp_path, n, "--epochs", "0.4", "--parity", *args))
    mpi = np.load(Path(res["results_dir"]) / "params.npy")
    np.testing.assert_array_equal(mpi, sim_params(res))
    assert res["absent_messages"] == 0


def test_vote_message_is_one_bit_per_coordinate(tmp_path):
    res = result(launch(tmp_path, 4, "--epochs", "0.1", "--tie", "plus"))
    d = res["model_dimension"]
    assert res["payload_bytes_per_worker_per_step"] == math.ceil(d / 8)
    assert res["bytes_per_worker_per_step"] == math.ceil(d / 8) + 16  # fixed header


def test_malformed_messages_are_abstentions_not_crashes(tmp_path):
    bad = {"0": {"kind": "short", "steps": [2, 3]}, "1": {"kind": "garbage", "steps": [4]},
           "2": {"kind": "wrong_step", "steps": [5]}, "3": {"kind": "long", "steps": [6]}}
    out = launch(tmp_path, 4, "--epochs", "0.5", "--tie", "plus", "--misbehave", json.dumps(bad))
    res = result(out)
    assert res["absent_messages"] == 5
    assert "step 2: worker 0's message treated as absent (malformed" in out.stderr
    assert "step 6: worker 3's message treated as absent" in out.stderr
    assert np.isfinite(np.load(Path(res["results_dir"]) / "params.npy")).all()


def test_straggler_past_deadline_is_an_erasure_and_late_message_discarded(tmp_path):
    bad = {"1": {"kind": "sleep", "seconds": 3.0, "steps": [3]}}
    out = launch(tmp_path, 3, "--epochs", "0.5", "--tie", "plus", "--deadline", "1.0",
                 "--misbehave", json.dumps(bad))
    res = result(out)
    assert "step 3: worker 1's message treated as absent (missed the deadline)" in out.stderr
    # the straggler catches up within a few steps; its late messages are recognised by their
    # header (step number) and discarded, never counted in a later step
    # (how many steps it takes to catch up depends on the machine's timing: not asserted)
    assert 1 <= res["absent_messages"] < res["steps"] - 2
    assert res["late_messages_discarded"] >= 1


def test_wrong_number_of_ranks_fails_fast(tmp_path):
    out = launch(tmp_path, 4, "--epochs", "0.1", ranks=3, timeout=120)
    assert out.returncode != 0
    assert "needs n+1 = 5 ranks" in out.stdout + out.stderr


def test_rule_that_cannot_take_n_inputs_fails_fast(tmp_path):
    out = launch(tmp_path, 4, "--epochs", "0.1", "--b", "1", "--aggregator", "krum",
                 "--agg-param", "f=1", "--attack", "ipm", timeout=120)
    assert out.returncode != 0
    assert "needs n >= 5" in out.stdout + out.stderr


def test_bad_config_fails_fast_on_every_rank(tmp_path):
    out = launch(tmp_path, 4, "--epochs", "0.1", "--b", "1", "--code", "bernoulli", "--r", "2",
                 "--attack", "worst", "--momentum", "worker", timeout=120)
    assert out.returncode != 0
    assert "not supported by the mpi backend" in out.stdout + out.stderr


def test_a_code_that_is_not_stored_fails_fast(tmp_path):
    out = launch(tmp_path, 5, "--epochs", "0.1", "--b", "1", "--k", "6", "--code", "optimal",
                 timeout=120)
    assert out.returncode != 0
    assert "no stored minimum-redundancy code" in out.stdout + out.stderr


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    import signal
    import time

    common = ["--epochs", "1.5", "--tie", "coin", "--b", "1", "--code", "bernoulli", "--r", "2",
              "--attack", "reverse", "--momentum", "worker", "--noise-var", "1e-6",
              "--checkpoint-every", "3"]
    full = result(launch(tmp_path / "full", 3, *common))
    # the same run, killed (SIGKILL to the whole mpiexec process group) after a checkpoint
    killed = tmp_path / "killed"
    cmd = [str(MPIEXEC), "-n", "4", sys.executable, "-m", "electionlib", "train", "--backend",
           "mpi", "--dataset", "digits", "--n", "3", "--results", str(killed), "--json",
           *common, "--misbehave", json.dumps({"0": {"kind": "sleep", "seconds": 0.05,
                                                      "steps": list(range(1, 200))}})]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ELECTIONLIB_QUIET": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 120:
        metas = list(killed.glob("train/*/checkpoint/meta.json"))
        if metas and json.loads(metas[0].read_text())["step"] >= 6:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert metas, "no checkpoint was written before the kill"
    assert proc.returncode != 0
    resumed = result(launch(killed, 3, *common, "--misbehave", json.dumps(
        {"0": {"kind": "sleep", "seconds": 0.05, "steps": list(range(1, 200))}}), "--resume"))
    a = np.load(Path(full["results_dir"]) / "params.npy")
    b = np.load(Path(resumed["results_dir"]) / "params.npy")
    np.testing.assert_array_equal(a, b)
    ma = pd.read_csv(Path(full["results_dir"]) / "metrics.csv")
    mb = pd.read_csv(Path(resumed["results_dir"]) / "metrics.csv")
    same = ["step", "accuracy", "test_loss", "train_loss", "load_units", "lr"]
    np.testing.assert_array_equal(ma[same].to_numpy(), mb[same].to_numpy())
    # the running sums go on from the checkpoint: seconds never fall back at the resume
    for col in ("wall_seconds", "server_wait_seconds", "decode_seconds", "update_seconds"):
        assert mb[col].is_monotonic_increasing, col


def test_launch_helper_from_python(tmp_path):
    from electionlib.mpi_backend import launch

    cfg = T.TrainConfig(dataset="digits", n=3, b=1, attack="reverse", tie="plus", epochs=0.2,
                        eval_every=0.1)
    res = launch(cfg, results=tmp_path, parity=True)
    assert res["backend"] == "mpi" and len(res["metrics"]) >= 2
    assert {"accuracy", "server_wait_seconds", "decode_seconds"} <= set(res["metrics"].columns)
    np.testing.assert_array_equal(np.load(Path(res["results_dir"]) / "params.npy"),
                                  T.run(cfg, progress=False, parity=True).params)


@pytest.mark.parametrize("n,args,item", [
    (5, ["--code", "bernoulli", "--r", "2", "--tie", "abstain", "--empty-rows", "redraw"], None),
    (5, ["--code", "deterministic", "--b", "1", "--quant-bits", "2"], None),
    (5, ["--b", "1", "--code", "draco-cyclic", "--lr", "0.01"], 16),
    (3, ["--b", "1", "--code", "draco-repetition", "--lr", "0.01"], 8),
    (4, ["--aggregator", "median", "--lr", "0.01"], 4),
])
def test_bytes_handed_to_mpi_are_the_schemes_declared_size(tmp_path, n, args, item):
    # measured on the workers (every vote frame they Isend), against the scheme's own size
    from electionlib import schemes

    res = result(launch(tmp_path, n, "--epochs", "0.05", *args))
    cfg = T.TrainConfig.from_dict(json.loads(
        (Path(res["results_dir"]) / "config.json").read_text()))
    d = res["model_dimension"]
    scheme = schemes.sized(cfg, d)
    assert res["bytes_per_worker_per_step"] == schemes.wire_bytes(scheme)
    assert res["payload_bytes_per_worker_per_step"] == scheme.message_bytes
    if item is not None:  # full precision: float32 gradients, float64 / complex128 DRACO
        assert scheme.message_bytes == item * d
    sent = {int(w): b for w, b in res["sent_bytes_per_step"].items()}
    assert len(sent) == n
    assert all(b == schemes.HEADER_BYTES + scheme.message_bytes for b in sent.values()), sent
    # the sim backend reports the same bytes, summary keys and metrics columns
    from electionlib import step as S

    sim = T.run(cfg, progress=False)
    for key in ("bytes_per_worker_per_step", "payload_bytes_per_worker_per_step",
                "update_bytes_per_step", "model_dimension", "steps"):
        assert sim.summary[key] == res[key], key
    assert set(res) - {"results_dir"} == set(sim.summary) == {"final_accuracy",
                                                              *S.SUMMARY_KEYS}
    assert tuple(res["timing_per_step"]) == tuple(sim.summary["timing_per_step"]) == \
        S.TIMING_KEYS
    mpi_metrics = pd.read_csv(Path(res["results_dir"]) / "metrics.csv")
    assert list(mpi_metrics.columns) == list(sim.metrics.columns)
    np.testing.assert_allclose(mpi_metrics.train_loss.iloc[1:], sim.metrics.train_loss.iloc[1:],
                               rtol=1e-5)  # the server's forward pass, the sim's gradients'
    assert (res["backend"], sim.summary["backend"]) == ("mpi", "sim")
