"""The training step's bookkeeping, defined once for both backends: the schedule (steps,
evaluations, learning rate), the update rule (weight decay, server momentum), the test
subsample, and the schema of what a run records (``metrics.csv`` columns and summary keys).

The ``sim`` loop (:mod:`electionlib.train`) and the ``mpi`` server
(:mod:`electionlib.mpi_backend`) both build their rows and summaries through
:func:`metrics_row` and :func:`summary`, which refuse a key outside the schema and fill the
keys a backend does not measure (NaN in the metrics, None in the summary), so that the two
backends write the same columns and keys (``tests/test_step.py``).

What each backend measures:

========================== ===================================== ===========================
key                        ``sim``                               ``mpi``
========================== ===================================== ===========================
``modelled_seconds``       the cost model                         None (it measures time)
``server_wait_seconds``    NaN (no transport)                     measured on the server
``train_loss``             mean mini-batch loss since the last evaluation (both)
``sent_bytes_per_step``    None (no transport)                    reported by each worker
========================== ===================================== ===========================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Schedule", "apply_update", "test_indices", "METRIC_COLUMNS", "SUMMARY_KEYS",
           "TIMING_KEYS", "metrics_row", "summary", "complete_summary"]


@dataclass(frozen=True)
class Schedule:
    """Steps, evaluation points and the learning rate of a run.

    ``steps_per_epoch`` is the number of training examples over the examples one step reads
    (``k`` partitions of ``batch`` each); the run takes ``ceil(epochs * steps_per_epoch)``
    steps and evaluates every ``round(eval_every * steps_per_epoch)`` steps and at the end.
    The learning rate is ``lr * lr_decay ** (number of lr_decay_epochs passed)``.

    Example:
        >>> from electionlib.config import TrainConfig
        >>> s = Schedule.of(TrainConfig(epochs=2, lr=0.1, lr_decay=0.5, lr_decay_epochs=(1,)),
        ...                 examples=1000, batch=10, k=10)
        >>> s.total_steps, s.eval_steps, s.lr_at(9), s.lr_at(10)
        (20, 2, 0.1, 0.05)
    """

    steps_per_epoch: float
    total_steps: int
    eval_steps: int
    lr: float
    lr_decay: float
    lr_decay_epochs: tuple

    @classmethod
    def of(cls, cfg, *, examples: int, batch: int, k: int) -> Schedule:
        spe = examples / (batch * k)
        return cls(spe, max(1, int(math.ceil(cfg.epochs * spe))),
                   max(1, int(round(cfg.eval_every * spe))), cfg.lr, cfg.lr_decay,
                   tuple(cfg.lr_decay_epochs))

    def lr_at(self, step: int) -> float:
        ep = step / self.steps_per_epoch
        return self.lr * self.lr_decay ** sum(ep >= e for e in self.lr_decay_epochs)

    def evaluates(self, step: int) -> bool:
        """Whether the run evaluates after ``step``."""
        return step % self.eval_steps == 0 or step == self.total_steps


def apply_update(w: torch.Tensor, u: torch.Tensor, cfg, mom: torch.Tensor | None,
                 lr: float) -> torch.Tensor:
    """The parameters after one update ``u``: ``w - lr (u + wd w)``, or with server momentum
    ``m <- eta m + u + wd w``, ``w - lr m`` (``mom`` is updated in place)."""
    if cfg.weight_decay:
        u = u + cfg.weight_decay * w
    if mom is not None:
        mom.mul_(cfg.eta).add_(u)
        u = mom
    return w - lr * u


def test_indices(cfg, n_test: int, stream) -> np.ndarray | None:
    """The sorted test subsample of ``cfg.test_subsample`` images, drawn from the run's
    ``eval`` stream (None: the whole test set)."""
    if cfg.test_subsample is None or cfg.test_subsample >= n_test:
        return None
    return np.sort(np.random.default_rng(stream).choice(n_test, cfg.test_subsample,
                                                        replace=False))


setattr(test_indices, "__test__", False)  # noqa: B010 - not a pytest test despite its name

#: Columns of ``metrics.csv`` besides the evaluation's own (``accuracy`` or ``auc``, and
#: ``test_loss``), one row per evaluation. Seconds and load units are cumulative.
METRIC_COLUMNS = (
    "step", "epoch", "lr", "wall_seconds", "train_loss",
    "load_units",            # sum over steps of the most loaded worker's partitions
    "other_seconds",         # sim: modelled encode + decode + communication seconds
    "modelled_seconds",      # sim: load_units x median partition time + other_seconds
    "server_wait_seconds",   # mpi: the server waiting for messages
    "decode_seconds",        # the server's decoding
    "broadcast_seconds",     # mpi: posting the update to every worker
    "update_seconds",        # applying the update
    "bytes_per_worker_per_step",
    "absent_messages",       # cumulative messages that did not arrive (or arrived malformed)
)

#: Keys of every run's summary besides ``final_accuracy`` / ``final_auc``.
SUMMARY_KEYS = (
    "backend", "model_dimension", "steps", "diverged", "status",
    "bytes_per_worker_per_step",          # header + payload of one worker's message
    "payload_bytes_per_worker_per_step",  # the scheme's message alone
    "update_bytes_per_step",              # header + payload of the update sent back
    "sent_bytes_per_step",                # mpi: per worker, bytes it handed to MPI
    "wall_seconds", "modelled_seconds", "t_partition_median",
    "gradient_seconds", "evaluation_seconds", "timing_per_step",
    "redundancy", "empty_workers", "empty_partitions", "byzantine",
    "absent_messages", "absences", "late_messages_discarded", "discarded", "degraded_steps",
    "dropped_workers", "detached_workers", "unfinished_workers", "parity",
    "server_peak_rss_mb",
)

#: Entries of ``summary["timing_per_step"]``: seconds per step (None where a backend does not
#: measure one: the sim has no wait or broadcast, and no per-thread CPU time).
TIMING_KEYS = (
    "worker_compute", "worker_encode",                     # a worker's gradients, its encoding
    "server_wait", "server_decode", "server_broadcast",    # mpi: waiting for the messages, ...
    "worker_compute_cpu", "server_decode_broadcast_cpu",   # mpi: CPU seconds of the same
    "update",                                              # applying the update
)


def _eval_keys(row: dict) -> set:
    return {k for k in row if k in ("accuracy", "auc", "test_loss")}


def metrics_row(**values) -> dict:
    """One ``metrics.csv`` row in schema order: every :data:`METRIC_COLUMNS` entry (NaN where
    not given) and the evaluation's columns. ``ValueError`` for a column outside the schema.
    """
    unknown = set(values) - set(METRIC_COLUMNS) - _eval_keys(values)
    if unknown:
        raise ValueError(f"metrics columns {sorted(unknown)} are not in the schema "
                         f"(electionlib.step.METRIC_COLUMNS)")
    row = {c: values.get(c, math.nan) for c in METRIC_COLUMNS}
    row.update({k: values[k] for k in sorted(_eval_keys(values))})
    return row


def summary(final: dict, **values) -> dict:
    """A run's summary: ``final`` (``{"final_accuracy": x}`` or ``{"final_auc": x}``) and every
    :data:`SUMMARY_KEYS` entry, None where not given (JSON ``null``); ``timing_per_step``
    holds every :data:`TIMING_KEYS` entry the same way. ``ValueError`` for a key outside the
    schema."""
    unknown = set(values) - set(SUMMARY_KEYS)
    if unknown:
        raise ValueError(f"summary keys {sorted(unknown)} are not in the schema "
                         f"(electionlib.step.SUMMARY_KEYS)")
    if len(final) != 1 or next(iter(final)) not in ("final_accuracy", "final_auc"):
        raise ValueError(f"final must be {{'final_accuracy' or 'final_auc': value}}, got "
                         f"{sorted(final)}")
    timing = values.get("timing_per_step") or {}
    if set(timing) - set(TIMING_KEYS):
        raise ValueError(f"timing_per_step keys {sorted(set(timing) - set(TIMING_KEYS))} are "
                         f"not in the schema (electionlib.step.TIMING_KEYS)")
    out = dict(final)
    for key in SUMMARY_KEYS:
        out[key] = values.get(key)
    out["timing_per_step"] = {key: timing.get(key) for key in TIMING_KEYS}
    return out


def complete_summary(stored: dict) -> dict:
    """A stored summary in today's schema: every :data:`SUMMARY_KEYS` and
    :data:`TIMING_KEYS` entry present (None where the stored run did not record it), the
    stored values and any extra keys (``store``) unchanged.

    Example:
        >>> out = complete_summary({"final_accuracy": 0.5, "timing_per_step": {"update": 1.0}})
        >>> out["parity"] is None, out["timing_per_step"]["server_wait"], len(out) > 20
        (True, None, True)
    """
    out = {**dict.fromkeys(SUMMARY_KEYS), **stored}
    timing = stored.get("timing_per_step") or {}
    out["timing_per_step"] = {**dict.fromkeys(TIMING_KEYS), **timing}
    return out
