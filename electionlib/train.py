"""The trainer: coded SignSGD/Signum with majority vote, and full-precision baselines.

One configuration (:class:`TrainConfig`), one loop, backend ``sim`` (all workers in one
process; the ``mpi`` backend runs the same step on real ranks). Per step:

1. every data partition's mini-batch gradient is computed once (``B`` examples per
   partition, ``rho * B`` for the reduced-redundancy scenario of supplement A.4), with
   optional Gaussian noise of variance ``noise_var`` (A.5) and optional per-partition
   momentum at the workers (``momentum="worker"``: ``v <- eta v + (1 - eta) g``, the
   Amazon runs);
2. **vote schemes** (``code`` in uncoded / bernoulli / deterministic): worker ``i`` sends
   the majority of the signs of its partitions (``G``), Byzantine workers apply a vote
   attack, the master takes the majority; tied coordinates do not move. With
   ``quant_bits > 1`` the §2.2 multi-bit extension is used instead: workers average their
   partitions' signs and round to the nearest of ``2**quant_bits`` levels evenly spaced in
   [-1, 1]; the master averages and rounds again (``quant_bits = 1`` is the majority);
3. **full-precision schemes**: ``aggregator=NAME`` (uncoded, one partition per worker;
   Byzantine workers send an attacked gradient; the robust rule aggregates), or
   ``code="draco-repetition" | "draco-cyclic"`` (DRACO encodes, Byzantine nodes replace
   their messages, the decoder returns the sum, scaled by ``1/P``);
4. the update ``u`` (voted sign or aggregate) is applied with momentum at the master
   (``momentum="server"``: ``m <- eta m + u + wd w``, ``w <- w - lr m``; the CIFAR-10 runs
   of Table B.2) or plainly (``w <- w - lr (u + wd w)``).

Steps 2-3 are the scheme's :meth:`~electionlib.schemes.ElectionVote.exchange`
(:mod:`electionlib.schemes`), the same encode, attack and decode the ``mpi`` workers and
server call; both backends write the columns of :data:`electionlib.step.METRIC_COLUMNS` and
the keys of :data:`electionlib.step.SUMMARY_KEYS`.

Time: wall-clock, and a *modelled distributed time* per step (documented in
:func:`modelled_step_seconds`) so that time-to-accuracy is meaningful from one process.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import attacks as A
from . import codes, data, experiments, gradients, models, schemes
from . import step as S
from ._progress import progress as _bar
from .config import (
    DRACO_CODES,
    VOTE_CODES,
    TrainConfig,
    byzantine_set,
    code_stream,
)
from .config import allocation as _allocation

__all__ = ["TrainConfig", "RunResult", "run", "run_cached", "modelled_step_seconds",
           "VOTE_CODES", "DRACO_CODES"]

#: Part of every stored result's key: bump when a change alters what a run records.
TRAINER_VERSION = 5  # 5: header-inclusive wire bytes of the schemes (DRACO float64 /
# complex128), one summary and metrics schema for both backends; 4: coin ties from
# per-partition streams, coins as raw generator words



@dataclass
class RunResult:
    """Metrics of a run (one row per evaluation) and its summary."""

    config: TrainConfig
    metrics: pd.DataFrame
    summary: dict = field(default_factory=dict)
    params: np.ndarray | None = None  # final flat parameters (stored as params.npy)



def modelled_step_seconds(max_load: int, t_partition: float, t_encode: float,
                          t_decode: float, n: int, up_bytes: float, down_bytes: float,
                          bandwidth: float) -> float:
    """Modelled wall time of one distributed step.

    ``T = max_i load_i * t_partition + t_encode + t_decode + (n * up + down) * 8 / bandwidth``:
    workers compute in parallel (the slowest, most loaded worker sets the pace), the
    server's link carries the ``n`` uploads and one broadcast of the update (``bandwidth``
    in bit/s, default 1 Gbit/s), encode is one worker's share, decode is the server's.

    Example:
        >>> round(modelled_step_seconds(3, 0.01, 0.001, 0.002, 9, 1e4, 1e4, 1e9), 6)
        0.0338
    """
    comm = (n * up_bytes + down_bytes) * 8.0 / bandwidth
    return max_load * t_partition + t_encode + t_decode + comm



# --------------------------------------------------------------------------- the loop



def run(cfg: TrainConfig, *, progress: bool = True, dataset: data.Dataset | None = None,
        parity: bool = False) -> RunResult:
    """Train with the ``sim`` backend and return the metrics.

    Args:
        cfg: the run's configuration.
        progress: show a progress bar (silenced by ``ELECTIONLIB_QUIET``).
        dataset: an already loaded dataset (must match ``cfg.dataset``/``subsample``).
        parity: compute each partition's gradient on its own (as an MPI worker does), so
            that the ``mpi`` backend reproduces this run bit for bit.

    Parity mode also runs torch on one thread (as each MPI rank does): reductions split
    over threads round differently in the last bit.

    Returns:
        :class:`RunResult`; ``metrics`` columns: step, epoch, lr, wall_seconds,
        modelled_seconds (slowest load x median per-partition gradient time + encode +
        decode + communication, cumulative), load_units, other_seconds, train_loss,
        test_loss and ``accuracy`` or ``auc``.
    """
    if parity:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _run(cfg, progress=progress, dataset=dataset, parity=True)
        finally:
            torch.set_num_threads(threads)
    return _run(cfg, progress=progress, dataset=dataset, parity=False)


def _run(cfg: TrainConfig, *, progress: bool, dataset, parity: bool) -> RunResult:
    """The loop of :func:`run`."""
    grads_fn, sampler, ds, w, st = gradients.setup(cfg, None, dataset)
    model = grads_fn.model
    k = sampler.k
    n = cfg.n
    d = grads_fn.d
    w = w.to(torch.float32).clone()
    test_idx = S.test_indices(cfg, ds.n_test, st["eval"])
    sched = S.Schedule.of(cfg, examples=sum(sampler.sizes), batch=sampler.batch, k=k)

    code_rng = code_stream(cfg, st)
    byz_rng = np.random.default_rng(st["byz"])
    noise_gen = torch.Generator().manual_seed(int(st["noise"].generate_state(1)[0]))

    # the step's encode, attack and decode: the scheme's (the mpi backend calls the same)
    if cfg.vote_scheme:
        scheme = schemes.from_config(cfg, d, G=_allocation(cfg, k, code_rng))
    else:
        scheme = schemes.from_config(cfg, d)
    G = scheme.G
    loads = G.sum(axis=1)
    up_bytes, down_bytes = schemes.wire_bytes(scheme), schemes.wire_update_bytes(scheme)
    byz = byzantine_set(cfg, G, byz_rng)

    total_steps = sched.total_steps
    mom = torch.zeros(d) if cfg.momentum == "server" else None
    vel = torch.zeros(k, d) if cfg.momentum == "worker" else None
    rows = []
    t_start = time.perf_counter()
    t_parts: list[float] = []  # measured per-partition gradient time, one per step
    cum = dict.fromkeys(("load", "other", "decode", "update", "encode"), 0.0)
    losses: list[float] = []
    metric_name = "auc" if ds.metric == "auc" else "accuracy"

    spent = {"gradient": 0.0, "evaluation": 0.0}

    def record(step):
        t_ev = time.perf_counter()
        ev = gradients.evaluate(model, w, ds, test_idx)
        spent["evaluation"] += time.perf_counter() - t_ev
        rows.append(S.metrics_row(
            step=step, epoch=step / sched.steps_per_epoch, lr=sched.lr_at(step),
            wall_seconds=time.perf_counter() - t_start, load_units=cum["load"],
            other_seconds=cum["other"], decode_seconds=cum["decode"],
            update_seconds=cum["update"], bytes_per_worker_per_step=up_bytes,
            absent_messages=0,
            train_loss=float(np.mean(losses)) if losses else float("nan"), **ev))
        losses.clear()

    record(0)
    steps_done = 0
    for step in _bar(range(1, total_steps + 1), total_steps, f"train {cfg.code}", progress):
        if cfg.byz_redraw and cfg.b and cfg.byz_select == "random":
            byz = A.byzantine_set(G, cfg.b, select="random", rng=byz_rng)
        idx = sampler.next()
        t0 = time.perf_counter()
        if parity:
            per = [grads_fn(w, idx[j : j + 1]) for j in range(k)]
            Gp, loss = torch.cat([g for g, _ in per]), float(np.mean([x for _, x in per]))
        else:
            Gp, loss = grads_fn(w, idx)
        if cfg.attack == "label_shift" and len(byz):
            ys = A.shift_labels(ds.y_train[idx], ds.n_classes)
            # the Byzantines' own passes do not move the shared model's batch-norm statistics
            # (on MPI they run on the workers' models, never on the server's)
            bufs = models.flat_buffers(model)
            Gs = (torch.cat([grads_fn(w, idx[j : j + 1], y_override=ys[j : j + 1])[0]
                             for j in range(k)]) if parity else
                  grads_fn(w, idx, y_override=ys)[0])
            if len(bufs):
                models.set_flat_buffers(model, bufs)
        else:
            Gs = None
        t_grad = time.perf_counter() - t0
        spent["gradient"] += t_grad
        losses.append(loss)
        if cfg.noise_var > 0:
            Gp = Gp + math.sqrt(cfg.noise_var) * torch.randn(Gp.shape, generator=noise_gen)
        if vel is not None:
            vel.mul_(cfg.eta).add_(Gp, alpha=1 - cfg.eta)
            Gp = vel.clone()
        u, t_enc, t_dec = scheme.exchange(
            Gp.numpy(), byzantine=byz if cfg.attack != "none" else (), attack=cfg.attack,
            shifted=None if Gs is None else Gs.numpy(), f=cfg.b)
        t_up = time.perf_counter()
        w = S.apply_update(w, torch.from_numpy(u), cfg, mom, sched.lr_at(step))
        cum["update"] += time.perf_counter() - t_up
        t_parts.append(t_grad / k)
        cum["load"] += int(loads.max())
        cum["decode"] += t_dec
        cum["encode"] += t_enc
        cum["other"] += modelled_step_seconds(0, 0.0, t_enc, t_dec, n, up_bytes, down_bytes,
                                              cfg.bandwidth)
        steps_done = step
        if sched.evaluates(step):
            record(step)
        if not torch.isfinite(w).all():
            if not sched.evaluates(step):
                record(step)
            break
    metrics = pd.DataFrame(rows)
    # Modelled time uses the run's MEDIAN per-partition gradient time, so that a transient
    # slowdown of this shared machine does not distort the time axis.
    t_part = float(np.median(t_parts)) if t_parts else 0.0
    metrics["modelled_seconds"] = metrics.load_units * t_part + metrics.other_seconds
    per = max(1, steps_done)
    diverged = bool(not torch.isfinite(w).all())
    summary = S.summary(
        {f"final_{metric_name}": float(metrics[metric_name].iloc[-1])},
        backend="sim", model_dimension=d, steps=int(metrics.step.iloc[-1]), diverged=diverged,
        status="diverged" if diverged else "complete",
        bytes_per_worker_per_step=int(up_bytes),
        payload_bytes_per_worker_per_step=int(scheme.message_bytes),
        update_bytes_per_step=int(down_bytes),
        wall_seconds=float(time.perf_counter() - t_start),
        modelled_seconds=float(metrics.modelled_seconds.iloc[-1]), t_partition_median=t_part,
        gradient_seconds=spent["gradient"], evaluation_seconds=spent["evaluation"],
        timing_per_step={"worker_compute": float(int(loads.max()) * t_part),
                         "worker_encode": cum["encode"] / per,
                         "server_decode": cum["decode"] / per, "update": cum["update"] / per},
        parity=bool(parity),
        redundancy=float(G.sum() / G.shape[1]), empty_workers=int(codes.empty_rows(G).sum()),
        empty_partitions=int(codes.empty_columns(G).sum()), byzantine=[int(i) for i in byz],
        absent_messages=0, absences=[], late_messages_discarded=0, degraded_steps=0,
        dropped_workers=[], detached_workers=[], unfinished_workers=[],
        server_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return RunResult(cfg, metrics, summary, w.numpy().copy())


# --------------------------------------------------------------------------- store


def run_cached(cfg: TrainConfig, *, force: bool = False, root=None, progress: bool = True,
               dataset: data.Dataset | None = None, only_cached: bool = False,
               need_params: bool = False) -> RunResult:
    """:func:`run`, reusing ``results/train/<hash>/`` when it exists (``force`` recomputes).

    The folder holds ``config.json``, ``key.json`` (the hashed key: the configuration and
    :data:`TRAINER_VERSION`), ``metrics.csv``, the final parameters ``params.npy`` and
    ``summary.json`` (atomic writes, checksums in the summary), the layout the ``mpi``
    backend stores too (:func:`electionlib.experiments.save_run`). A stored run returns its
    parameters when its folder has them; ``need_params=True`` retrains a run stored without
    them. With ``only_cached=True`` a missing result raises ``FileNotFoundError`` instead of
    training (notebook 05 regenerates figures from results only).
    """
    key = {**cfg.to_dict(), "trainer_version": TRAINER_VERSION}
    folder = experiments.results_dir(root) / "train" / experiments.config_hash(key)
    if not force:
        metrics, summary, why = experiments.load_run(folder, need_params=need_params)
        if metrics is not None:
            summary["results_dir"] = str(folder)
            return RunResult(cfg, metrics, S.complete_summary(summary),
                             experiments.load_params(folder))
        if why is not None:
            print(f"note: the stored result in {folder} is not complete ({why}); "
                  f"{'it is missing' if only_cached else 'recomputing'}", file=sys.stderr)
    if only_cached:
        raise FileNotFoundError(f"no stored result for this configuration in {folder}: run "
                                f"notebook 04 (or ./run_all.sh) first")
    res = run(cfg, progress=progress, dataset=dataset)
    experiments.save_run(folder, cfg.to_dict(), res.metrics, res.summary, res.params, key=key)
    res.summary["results_dir"] = str(folder)
    return res
