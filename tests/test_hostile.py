"""Hostile and faulty workers against the MPI parameter server, end to end through mpiexec.

Each test injects a behaviour from the worker side (``--misbehave``, see
``electionlib.mpi_backend.FAULTS``) and asserts what the server does: the exit status,
the absences it counted, complete results, and no hang (every launch has a timeout, and
every test a pytest timeout). The in-process counterparts, on a fake communicator, are in
tests/test_transport.py.
"""

import json
import math
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from electionlib import experiments

MPIEXEC = Path(sys.prefix) / "bin" / "mpiexec"
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.skipif(not MPIEXEC.exists(),
                                 reason=f"{MPIEXEC} missing: pip install mpich mpi4py"),
              pytest.mark.mpi]

DIGITS_TRAIN = 1438  # training examples of scikit-learn's digits (the offline dataset)


def steps(n, epochs, batch=16):
    return math.ceil(epochs * DIGITS_TRAIN / (batch * n))


def mpirun(tmp_path, n, *args, misbehave=None, timeout=150, wrapper=False, env=None):
    entry = [str(HERE / "forbid_unpickle.py")] if wrapper else ["-m", "electionlib"]
    cmd = [str(MPIEXEC), "-n", str(n + 1), sys.executable, *entry, "train", "--backend",
           "mpi", "--dataset", "digits", "--n", str(n), "--results", str(tmp_path), "--json",
           *args]
    if misbehave is not None:
        cmd += ["--misbehave", json.dumps(misbehave)]
    json_out = tmp_path / f"summary-{uuid.uuid4().hex}.json"
    cmd += ["--json-out", str(json_out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ELECTIONLIB_QUIET": "1", **(env or {})}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    out.json_out = json_out
    return out


def summary(out, status=0):
    """The run's JSON summary: from ``--json-out`` (an ``MPI_Abort`` after the results may
    end the job before mpiexec forwards rank 0's last line), else from stdout."""
    assert out.returncode == status, out.stdout[-3000:] + out.stderr[-3000:]
    if out.json_out.exists():
        res = json.loads(out.json_out.read_text())
    else:
        res = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    # the stored run is complete: summary, metrics and parameters match their checksums
    metrics, stored, why = experiments.load_run(res["results_dir"], need_params=True)
    assert why is None and metrics is not None
    return res


def absences(stderr):
    """``[(step, worker, why)]`` of every absence line the server logged."""
    return [(int(s), int(w), why) for s, w, why in re.findall(
        r"step (\d+): worker (\d+)'s message treated as absent \((.*)\)", stderr)]


@pytest.mark.timeout(400)
def test_no_worker_data_is_ever_unpickled_on_rank_0(tmp_path):
    """A worker sends a code-executing pickle on every channel it has (votes, checkpoint
    acknowledgements, final timings, resume status, unknown tags), by pickling ``send`` and
    as raw bytes. Rank 0 runs with mpi4py's pickle hook forbidding every unpickle from its
    first instruction; the run completes, and nothing ran on rank 0."""
    marker, pwned = tmp_path / "unpickled", tmp_path / "pwned"
    env = {"ELECTIONLIB_UNPICKLE_MARKER": str(marker)}
    bad = {"1": {"kind": "pickle", "steps": "all", "marker": str(pwned)}}
    args = ["--epochs", "0.3", "--b", "1", "--attack", "reverse", "--checkpoint-every", "2"]
    res = summary(mpirun(tmp_path, 3, *args, misbehave=bad, wrapper=True, env=env))
    assert not marker.exists() and not pwned.exists()
    assert res["status"] == "complete"
    assert res["discarded"]["malformed"] >= steps(3, 0.3)  # the pickles on the vote channel
    # resume reads every rank's checkpoint status through the same channel
    res2 = summary(mpirun(tmp_path, 3, *args, "--resume", misbehave=bad, wrapper=True,
                          env=env))
    assert not marker.exists() and not pwned.exists()
    assert res2["status"] == "complete"


@pytest.mark.timeout(200)
def test_the_forbidding_hook_catches_a_pickling_receive(tmp_path):
    """The check above can fail: the same hook on a script that does one ``recv`` on rank 0
    writes the marker and fails the run."""
    marker = tmp_path / "unpickled"
    script = tmp_path / "bad_server.py"
    script.write_text(
        "import os, pickle, sys\n"
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "if c.Get_rank() == 0:\n"
        "    def loads(*a, **k):\n"
        "        open(os.environ['ELECTIONLIB_UNPICKLE_MARKER'], 'w').write('x')\n"
        "        raise RuntimeError('unpickle')\n"
        "    MPI.pickle.__init__(pickle.dumps, loads)\n"
        "    print(c.gather(None, root=0))\n"
        "else:\n"
        "    c.gather({'compute': 1.0}, root=0)\n")
    out = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(script)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ELECTIONLIB_UNPICKLE_MARKER": str(marker)})
    assert out.returncode != 0 and marker.exists()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n,rule", [
    (5, ["--aggregator", "krum", "--agg-param", "f=1"]),  # needs n >= 2f + 3 = 5
    (3, ["--aggregator", "trimmed_mean", "--agg-param", "f=1"]),  # needs n >= 2f + 1 = 3
    (3, ["--aggregator", "bulyan", "--agg-param", "f=0"]),  # needs n >= 4f + 3 = 3
])
def test_one_short_message_never_aborts_a_rule_that_needs_every_row(tmp_path, n, rule):
    bad = {"0": {"kind": "short", "steps": [2]}}
    out = mpirun(tmp_path, n, "--epochs", "0.2", "--lr", "0.01", *rule, misbehave=bad)
    res = summary(out)
    assert [a[:2] for a in absences(out.stderr)] == [(2, 0)]
    assert res["degraded_steps"] == 1 and "cannot take" in out.stderr
    assert np.isfinite(np.load(Path(res["results_dir"]) / "params.npy")).all()


@pytest.mark.timeout(300)
def test_a_byzantine_that_withholds_every_message_cannot_stall_krum(tmp_path):
    bad = {"4": {"kind": "withhold", "steps": "all"}}
    # the first step carries warm-up (six ranks on two cores): a generous first deadline
    out = mpirun(tmp_path, 5, "--epochs", "1.5", "--lr", "0.03", "--aggregator", "krum",
                 "--agg-param", "f=1", "--deadline", "0.5", "--first-deadline", "15",
                 "--drop-after", "2", misbehave=bad)
    res = summary(out)
    total = steps(5, 1.5)
    assert res["steps"] == total and res["degraded_steps"] == total
    assert res["dropped_workers"] == [4]
    assert [a[:2] for a in absences(out.stderr)] == [(s, 4) for s in range(1, total + 1)]
    acc = res["final_accuracy"]
    start = pd.read_csv(Path(res["results_dir"]) / "metrics.csv")["accuracy"].iloc[0]
    assert acc > 0.5 and acc > start + 0.3, f"no progress under withholding: {start} -> {acc}"


@pytest.mark.timeout(400)
@pytest.mark.parametrize("scheme", [["--tie", "plus"],  # 1-bit votes
                                    ["--aggregator", "median", "--lr", "0.01"]])  # float32
def test_stragglers_at_the_last_step_end_cleanly(tmp_path, scheme):
    """Two workers late at the last step (and one of them one step earlier too): their late
    messages are drained, the job exits 0 with complete results, and launch() agrees."""
    from electionlib.mpi_backend import launch
    from electionlib.train import TrainConfig

    last = steps(3, 0.3)
    bad = {"1": {"kind": "sleep", "seconds": 2.5, "steps": [last - 1, last]},
           "2": {"kind": "sleep", "seconds": 2.0, "steps": [last]}}
    kw = dict(tie="plus") if "--tie" in scheme else dict(aggregator="median", lr=0.01)
    cfg = TrainConfig(dataset="digits", n=3, epochs=0.3, **kw)
    res = launch(cfg, results=tmp_path, deadline=1.0, timeout=300,
                 extra_args=["--misbehave", json.dumps(bad)])
    assert res["status"] == "complete" and res["steps"] == last
    assert {(last, 1), (last, 2)} <= {(s, w) for s, w in res["absences"]}
    metrics, _, why = experiments.load_run(res["results_dir"], need_params=True)
    assert why is None and len(metrics) == len(res["metrics"])


@pytest.mark.timeout(300)
def test_floods_wrong_tags_and_future_steps(tmp_path):
    bad = {"0": {"kind": "flood", "copies": 3000, "steps": [2, 3]},
           "1": {"kind": "wrong_tag", "copies": 200, "steps": [2, 3, 4]},
           "2": {"kind": "future_flood", "copies": 40, "steps": [3, 4, 5]}}
    out = mpirun(tmp_path, 4, "--epochs", "0.3", "--tie", "plus", "--deadline", "5",
                 misbehave=bad)
    res = summary(out)
    d = res["discarded"]
    assert d["wrong_tag"] == 600 and d["flood"] > 0
    assert d["flood"] + d["duplicates"] + d["late"] >= 2 * 2999  # every copy read or dropped
    # one absence per worker and step, whatever the number of messages
    logged = [a[:2] for a in absences(out.stderr)]
    assert len(logged) == len(set(logged)) == res["absent_messages"]
    # the flood erased nobody else: only the flooder (busy sending) and the future-step
    # sender are ever absent; worker 3 is honest, worker 1's votes are valid
    assert {w for _, w in logged} <= {0, 2}


@pytest.mark.timeout(300)
def test_an_oversized_message_is_never_buffered(tmp_path):
    bad = {"0": {"kind": "huge", "bytes": 1 << 30, "steps": [2]}}
    out = mpirun(tmp_path, 3, "--epochs", "0.2", "--tie", "plus", misbehave=bad)
    res = summary(out)
    assert res["discarded"]["oversized"] == 1
    assert [a[:2] for a in absences(out.stderr)] == [(2, 0)]
    # rank 0 never allocated the 1 GiB it was announced (its whole peak is below that)
    assert res["server_peak_rss_mb"] < 1024


@pytest.mark.timeout(300)
def test_a_late_worker_erases_only_its_own_vote(tmp_path):
    """The update goes from rank 0 to each worker itself. With a broadcast relayed through
    worker ranks (MPICH's binomial tree: rank 4 relays to rank 5), a late worker 3 made the
    honest worker 4 miss the next deadline too."""
    bad = {"3": {"kind": "sleep", "seconds": 2.5, "steps": [3]}}
    out = mpirun(tmp_path, 5, "--epochs", "0.4", "--tie", "plus", "--deadline", "1.0",
                 misbehave=bad)
    summary(out)
    logged = absences(out.stderr)
    assert (3, 3) in [a[:2] for a in logged]
    assert {w for _, w, _ in logged} == {3}, logged


@pytest.mark.timeout(300)
def test_the_first_step_has_its_own_deadline_and_a_late_worker_rejoins(tmp_path):
    """Worker 0 takes 4 s at step 1 and at step 3: within the first step's deadline (8 s),
    past the others' (1 s); it rejoins after step 3 by applying the updates it missed.

    ``--drop-after`` is set past the run's length so that every step waits its deadline for
    worker 0 whatever the machine's load: its absences are then one block of steps from
    step 3, and it votes again in the steps after it."""
    bad = {"0": {"kind": "sleep", "seconds": 4.0, "steps": [1, 3]}}
    out = mpirun(tmp_path, 3, "--epochs", "1.0", "--tie", "plus", "--first-deadline", "8",
                 "--deadline", "1", "--drop-after", "1000", misbehave=bad)
    res = summary(out)
    mine = sorted(s for s, w, why in absences(out.stderr) if w == 0)
    whys = {why for s, w, why in absences(out.stderr) if w == 0}
    assert mine and mine[0] == 3 and 1 not in mine  # the first step waited for it
    assert whys == {"missed the deadline"}, whys
    assert mine == list(range(3, mine[-1] + 1)), mine  # one block, from step 3
    assert res["status"] == "complete" and res["dropped_workers"] == []
    # it applied the updates it missed and voted again: absent a few steps, not for good
    assert mine[-1] < res["steps"] - 5, (mine, res["steps"])


@pytest.mark.timeout(300)
def test_a_stuck_worker_is_an_erasure_every_step_and_the_results_are_complete(tmp_path):
    from electionlib.mpi_backend import launch
    from electionlib.train import TrainConfig

    bad = {"1": {"kind": "stuck", "steps": [3]}}
    cfg = TrainConfig(dataset="digits", n=3, epochs=0.5, tie="plus")
    res = launch(cfg, results=tmp_path, deadline=0.5, timeout=250,
                 extra_args=["--misbehave", json.dumps(bad), "--stall-timeout", "3"])
    assert res["status"] == "complete, workers killed"
    assert res["unfinished_workers"] == [1] and res["steps"] == steps(3, 0.5)
    # absent at every step from the one it got stuck at (before it, only a loaded machine
    # can make it miss the 0.5 s deadline, so those steps are not asserted)
    mine = {s for s, w in res["absences"] if w == 1}
    assert set(range(3, res["steps"] + 1)) <= mine, sorted(mine)
    metrics, _, why = experiments.load_run(res["results_dir"], need_params=True)
    assert why is None and metrics["step"].iloc[-1] == res["steps"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", ["skip_view", "ask_no_read"])
def test_the_adversary_channel_never_waits_for_a_byzantine(tmp_path, fault):
    """An omniscient Byzantine (ALIE) that never asks for the honest view, or asks and never
    reads it: the server's view sends are non-blocking and never waited on, so the run ends
    with complete results. (A worker that leaves messages it asked for unreceived can make
    its own MPI_Finalize fail: that ends the job after the results are written, so the exit
    status is not asserted for ``ask_no_read``.)"""
    bad = {"0": {"kind": fault, "steps": "all"}}
    out = mpirun(tmp_path, 5, "--epochs", "0.3", "--b", "1", "--byz-select", "first",
                 "--aggregator", "median", "--attack", "alie", "--lr", "0.01", "--deadline",
                 "2", misbehave=bad)
    res = summary(out, status=0 if fault == "skip_view" else out.returncode)
    assert res["status"] == "complete" and res["byzantine"] == [0]
    assert absences(out.stderr) == []


@pytest.mark.timeout(300)
def test_a_forged_early_final_report_does_not_end_the_wait(tmp_path):
    """Worker 1 sends a well-formed final report at step 2 and then hangs at the last step:
    only a report for the final step counts, so the server ends the job with status 3."""
    from electionlib.mpi_backend import launch
    from electionlib.train import TrainConfig

    last = steps(3, 0.3)
    bad = {"1": [{"kind": "early_done", "steps": [2]}, {"kind": "stuck", "steps": [last]}]}
    cfg = TrainConfig(dataset="digits", n=3, epochs=0.3, tie="plus")
    res = launch(cfg, results=tmp_path, deadline=1.0, timeout=250,
                 extra_args=["--misbehave", json.dumps(bad), "--stall-timeout", "3"])
    assert res["status"] == "complete, workers killed" and res["unfinished_workers"] == [1]


@pytest.mark.timeout(300)
def test_an_acknowledgement_flood_neither_grows_nor_stops_the_checkpoints(tmp_path):
    bad = {"0": {"kind": "ack_flood", "copies": 2000, "steps": [2, 3]}}
    out = mpirun(tmp_path, 3, "--epochs", "0.4", "--tie", "plus", "--checkpoint-every", "2",
                 misbehave=bad)
    res = summary(out)
    assert res["discarded"]["flood"] >= 2 * 2000 - 2 * 8 - 10
    meta = json.loads((Path(res["results_dir"]) / "checkpoint" / "meta.json").read_text())
    assert meta["step"] >= 2  # real acknowledgements still commit checkpoints


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """One complete run with checkpoints every 2 steps (the newest one committed)."""
    root = tmp_path_factory.mktemp("ck")
    args = ["--epochs", "0.4", "--tie", "coin", "--checkpoint-every", "2", "--momentum",
            "worker"]
    res = summary(mpirun(root, 3, *args))
    ck = Path(res["results_dir"]) / "checkpoint"
    return root, args, ck, json.loads((ck / "meta.json").read_text())["step"]


def _corrupt_copy(checkpointed, tmp_path, how):
    import shutil

    root, args, ck, step = checkpointed
    dst = tmp_path / "r"
    shutil.copytree(root, dst)
    ck2 = dst / ck.relative_to(root)
    target = how(ck2, step)
    return dst, args, target


@pytest.mark.timeout(200)
@pytest.mark.parametrize("case", ["truncated_npz", "garbage_npz", "truncated_json",
                                  "missing_rank0_piece"])
def test_a_corrupt_checkpoint_piece_ends_resume_on_every_rank(checkpointed, tmp_path, case):
    def how(ck, s):
        if case == "truncated_npz":
            p = ck / f"rank2.step{s}.npz"
            p.write_bytes(p.read_bytes()[:100])
        elif case == "garbage_npz":
            p = ck / f"rank1.step{s}.npz"
            p.write_bytes(os.urandom(p.stat().st_size))
        elif case == "truncated_json":
            p = ck / f"rank3.step{s}.json"
            p.write_text(p.read_text()[:40])
        else:
            p = ck / "server" / f"step{s}.npz"
            p.unlink()
        return p

    root, args, target = _corrupt_copy(checkpointed, tmp_path, how)
    out = mpirun(root, 3, *args, "--resume", timeout=150)
    assert out.returncode == 2, out.stdout + out.stderr
    errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(target) in errors[0], errors
    assert "Traceback" not in out.stderr


@pytest.mark.timeout(200)
def test_resume_from_a_good_checkpoint_finishes_the_run(checkpointed, tmp_path):
    """Resumed from its last committed checkpoint, the run ends exactly as it did."""
    root0, args, ck, _ = checkpointed
    before = Path(ck).parent
    want_params = np.load(before / "params.npy")
    want = pd.read_csv(before / "metrics.csv")
    root, args, _ = _corrupt_copy(checkpointed, tmp_path, lambda ck, s: None)
    res = summary(mpirun(root, 3, *args, "--resume"))
    assert res["status"] == "complete" and res["steps"] == steps(3, 0.4)
    np.testing.assert_array_equal(np.load(Path(res["results_dir"]) / "params.npy"),
                                  want_params)
    got = pd.read_csv(Path(res["results_dir"]) / "metrics.csv")
    np.testing.assert_array_equal(got[["step", "accuracy", "test_loss"]].to_numpy(),
                                  want[["step", "accuracy", "test_loss"]].to_numpy())


@pytest.mark.timeout(200)
def test_a_worker_silent_during_resume_ends_every_rank(tmp_path):
    """A worker that never reports its checkpoint check: after --stall-timeout rank 0 names
    it in one error line and ends the job (exit 2) instead of waiting."""
    bad = {"1": {"kind": "stuck_resume"}}
    args = ["--epochs", "0.3", "--tie", "plus", "--checkpoint-every", "2", "--stall-timeout",
            "3"]
    summary(mpirun(tmp_path, 3, *args, misbehave=bad))
    out = mpirun(tmp_path, 3, *args, "--resume", misbehave=bad, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    errors = [ln for ln in out.stdout.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "workers [1] did not report" in errors[0]


@pytest.mark.timeout(200)
def test_divergence_stops_the_mpi_run_like_the_sim(tmp_path):
    from electionlib import train as T

    args = ["--epochs", "0.5", "--lr", "1e38", "--momentum", "none", "--tie", "plus"]
    res = summary(mpirun(tmp_path, 3, *args, "--parity"))
    assert res["diverged"] and res["steps"] < steps(3, 0.5)
    sim = T.run(T.TrainConfig(dataset="digits", n=3, epochs=0.5, lr=1e38, momentum="none",
                              tie="plus"), progress=False, parity=True)
    assert sim.summary["diverged"] and sim.summary["steps"] == res["steps"]


@pytest.mark.timeout(200)
def test_zero_length_message_from_a_worker_with_partitions_is_logged(tmp_path):
    bad = {"2": {"kind": "empty", "steps": [2]}}
    out = mpirun(tmp_path, 3, "--epochs", "0.2", "--tie", "plus", misbehave=bad)
    summary(out)
    assert absences(out.stderr) == [(2, 2, "empty message from a worker with partitions")]


@pytest.mark.timeout(200)
def test_update_benchmark_smoke():
    out = subprocess.run([sys.executable, str(HERE.parent / "benchmarks" / "bench_update.py"),
                          "--quick"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("p2p / ibcast = ") == 2
