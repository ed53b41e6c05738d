"""The step's bookkeeping is defined once: the schema both backends write, the schedule and the
update rule (the mpi half of the schema check is in ``test_mpi.py``)."""

import math

import numpy as np
import pytest
import torch

from electionlib import step as S
from electionlib import train as T


def test_rows_and_summaries_refuse_keys_outside_the_schema_and_fill_the_rest():
    row = S.metrics_row(step=3, accuracy=0.5, test_loss=1.0)
    assert list(row)[: len(S.METRIC_COLUMNS)] == list(S.METRIC_COLUMNS)
    assert row["step"] == 3 and math.isnan(row["server_wait_seconds"])
    assert row["accuracy"] == 0.5
    with pytest.raises(ValueError, match="not in the schema"):
        S.metrics_row(step=1, speed=2.0)
    out = S.summary({"final_auc": 0.7}, backend="sim")
    assert set(out) == {"final_auc", *S.SUMMARY_KEYS}
    assert out["backend"] == "sim" and out["parity"] is None
    with pytest.raises(ValueError, match="not in the schema"):
        S.summary({"final_accuracy": 0.1}, made_up=1)
    with pytest.raises(ValueError, match="final"):
        S.summary({"accuracy": 0.1})
    t = S.summary({"final_auc": 0.7}, timing_per_step={"update": 0.5})["timing_per_step"]
    assert tuple(t) == S.TIMING_KEYS and t["update"] == 0.5 and t["server_wait"] is None
    with pytest.raises(ValueError, match="TIMING_KEYS"):
        S.summary({"final_auc": 0.7}, timing_per_step={"speed": 1.0})


@pytest.mark.parametrize("kw", [
    dict(code="bernoulli", r=2.0, b=1, attack="reverse"),
    dict(code="uncoded", quant_bits=2, b=1, attack="random"),
    dict(aggregator="median", b=1, attack="alie"),
    dict(code="draco-cyclic", b=1, attack="constant"),
])
def test_sim_runs_write_exactly_the_schema(kw):
    cfg = T.TrainConfig(dataset="digits", n=5, epochs=0.3, eval_every=0.1, seed=1,
                        **{"r": None, **kw} if "r" not in kw else kw)
    res = T.run(cfg, progress=False)
    assert set(res.summary) == {"final_accuracy", *S.SUMMARY_KEYS}
    assert tuple(res.summary["timing_per_step"]) == S.TIMING_KEYS
    assert res.summary["parity"] is False
    assert list(res.metrics.columns) == [*S.METRIC_COLUMNS, "accuracy", "test_loss"]
    assert res.summary["backend"] == "sim" and res.summary["status"] == "complete"
    assert res.metrics.train_loss.iloc[1:].notna().all()
    assert (res.metrics.bytes_per_worker_per_step == res.summary["bytes_per_worker_per_step"]
            ).all()


def test_schedule_counts_steps_and_decays_the_rate():
    cfg = T.TrainConfig(dataset="digits", epochs=1.5, eval_every=0.5, lr=0.2, lr_decay=0.1,
                        lr_decay_epochs=(0.5, 1.0))
    s = S.Schedule.of(cfg, examples=600, batch=10, k=6)  # 10 steps per epoch
    assert (s.total_steps, s.eval_steps) == (15, 5)
    assert [s.lr_at(t) for t in (0, 4, 5, 9, 10, 15)] == pytest.approx(
        [0.2, 0.2, 0.02, 0.02, 0.002, 0.002])
    assert [t for t in range(1, 16) if s.evaluates(t)] == [5, 10, 15]
    # a run shorter than one evaluation interval still evaluates at its end
    short = S.Schedule.of(T.TrainConfig(epochs=0.05), examples=600, batch=10, k=6)
    assert short.total_steps == 1 and short.evaluates(1)


def test_update_rule_plain_and_with_server_momentum():
    w, u = torch.tensor([1.0, -2.0]), torch.tensor([1.0, 1.0])
    plain = T.TrainConfig(dataset="digits", momentum="none", weight_decay=0.5)
    np.testing.assert_allclose(S.apply_update(w, u, plain, None, 0.1), [0.85, -2.0])
    mom_cfg = T.TrainConfig(dataset="digits", momentum="server", eta=0.9, weight_decay=0.0)
    m = torch.zeros(2)
    w1 = S.apply_update(w, u, mom_cfg, m, 0.1)  # m = u
    w2 = S.apply_update(w1, u, mom_cfg, m, 0.1)  # m = 0.9 u + u
    np.testing.assert_allclose(m, [1.9, 1.9])
    np.testing.assert_allclose(w2, w - 0.1 * u - 0.19 * u)


def test_test_subsample_is_sorted_and_seeded():
    cfg = T.TrainConfig(dataset="digits", test_subsample=7)
    ss = np.random.SeedSequence(3)
    a, b = S.test_indices(cfg, 50, ss), S.test_indices(cfg, 50, ss)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 7 and (np.diff(a) > 0).all() and a.max() < 50
    assert S.test_indices(cfg, 5, ss) is None  # fewer test images than asked: all of them
