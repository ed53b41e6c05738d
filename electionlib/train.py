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
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from . import attacks as A
from . import codes, data, experiments, models, schemes
from . import step as S
from ._progress import progress as _bar
from .config import (
    DRACO_CODES,
    VOTE_CODES,
    TrainConfig,
    code_stream,
)
from .config import allocation as _allocation
from .config import streams as _streams

__all__ = ["TrainConfig", "RunResult", "run", "run_cached", "modelled_step_seconds",
           "VOTE_CODES", "DRACO_CODES"]

#: Part of every stored result's key: bump when a change alters what a run records.
TRAINER_VERSION = 5  # 5: header-inclusive wire bytes of the schemes (DRACO float64 /
# complex128), one summary and metrics schema for both backends; 4: coin ties from
# per-partition streams, coins as raw generator words

#: Test images per forward pass in :func:`evaluate`.
EVAL_BATCH = 512



@dataclass
class RunResult:
    """Metrics of a run (one row per evaluation) and its summary."""

    config: TrainConfig
    metrics: pd.DataFrame
    summary: dict = field(default_factory=dict)
    params: np.ndarray | None = None  # final flat parameters (not stored by run_cached)


# --------------------------------------------------------------------------- gradients


class PartitionGradients:
    """Mini-batch gradients of ``k`` partitions at the same parameters: ``(k, d)``.

    Paths: sparse logistic regression (closed form, one sparse product), ``torch.func``
    ``vmap(grad)`` for models without batch norm, and a loop otherwise. All return the
    mean-loss gradient of each partition's batch.
    """

    def __init__(self, model: torch.nn.Module, ds: data.Dataset):
        self.model = model
        self.ds = ds
        self.names = [nm for nm, _ in model.named_parameters()]
        self.shapes = [p.shape for _, p in model.named_parameters()]
        self.sizes = [p.numel() for _, p in model.named_parameters()]
        self.d = sum(self.sizes)
        self.binary = ds.n_classes == 2 and isinstance(model, models.LogReg)
        self.has_bias = self.binary and model.bias is not None
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        self.path = "logreg" if self.binary else ("loop" if has_bn else "vmap")
        if self.path == "vmap":
            from torch.func import functional_call, grad_and_value, vmap

            def one(params, x, y):
                out = functional_call(self.model, params, (x,))
                return F.cross_entropy(out, y)

            self._vg = vmap(grad_and_value(one), in_dims=(None, 0, 0))

    def loss(self, w: torch.Tensor, idx: np.ndarray) -> float:
        """The mean mini-batch loss of the ``(k, B)`` batches ``idx`` at flat parameters
        ``w``, as :meth:`__call__` reports it, without the gradients (a forward pass)."""
        k, B = idx.shape
        y = self.ds.y_train[idx]
        if self.path == "logreg":
            X = self.ds.x_train[idx.ravel()]
            dw = self.d - 1 if self.has_bias else self.d
            z = X @ w[:dw].numpy() + (float(w[dw]) if self.has_bias else 0.0)
            yy = y.ravel().astype(np.float64)
            return float(np.mean(np.logaddexp(0.0, z) - yy * z))
        if self.path == "loop":  # batch norm: a forward pass in train mode moves its buffers
            return self(w, idx)[1]
        models.set_flat_params(self.model, w)
        X = torch.from_numpy(np.ascontiguousarray(self.ds.x_train[idx]))
        Y = torch.from_numpy(np.ascontiguousarray(y))
        with torch.no_grad():
            per = [F.cross_entropy(self.model(X[j]), Y[j]) for j in range(k)]
        return float(torch.stack(per).mean())

    def params_dict(self, w: torch.Tensor) -> dict:
        out, o = {}, 0
        for nm, shp, sz in zip(self.names, self.shapes, self.sizes, strict=True):
            out[nm] = w[o : o + sz].view(shp)
            o += sz
        return out

    def __call__(self, w: torch.Tensor, idx: np.ndarray, y_override=None):
        """Gradients ``(k, d)`` float32 and mean loss, at flat parameters ``w``."""
        k, B = idx.shape
        y = self.ds.y_train[idx] if y_override is None else y_override
        if self.path == "logreg":
            X = self.ds.x_train[idx.ravel()]
            dw = self.d - 1 if self.has_bias else self.d
            wd = w[:dw].numpy()
            bias = float(w[dw]) if self.has_bias else 0.0
            z = X @ wd + bias
            yy = y.ravel().astype(np.float64)
            prob = 1.0 / (1.0 + np.exp(-z))
            r = (prob - yy) / B
            R = sp.csr_matrix((r, (np.repeat(np.arange(k), B), np.arange(k * B))),
                              shape=(k, k * B))
            gw = np.asarray((R @ X).todense(), dtype=np.float32)
            gb = r.reshape(k, B).sum(axis=1, dtype=np.float64).astype(np.float32)
            loss = float(np.mean(np.logaddexp(0.0, z) - yy * z))
            if self.has_bias:
                gw = np.concatenate([gw, gb[:, None]], axis=1)
            return torch.from_numpy(gw), loss
        X = torch.from_numpy(np.ascontiguousarray(self.ds.x_train[idx]))
        Y = torch.from_numpy(np.ascontiguousarray(y))
        if self.path == "vmap":
            grads, losses = self._vg(self.params_dict(w), X, Y)
            G = torch.cat([grads[nm].reshape(k, -1) for nm in self.names], dim=1)
            return G.detach(), float(losses.mean())
        models.set_flat_params(self.model, w)
        rows, total = [], 0.0
        for j in range(k):
            self.model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(X[j]), Y[j])
            loss.backward()
            rows.append(models.flat_grad(self.model))
            total += float(loss.detach())
        return torch.stack(rows), total / k


def evaluate(model: torch.nn.Module, w: torch.Tensor, ds: data.Dataset, test_idx) -> dict:
    """Test metric (accuracy, or AUC for binary logistic regression) and test loss."""
    models.set_flat_params(model, w)
    model.eval()
    x = ds.x_test if test_idx is None else ds.x_test[test_idx]
    y = ds.y_test if test_idx is None else ds.y_test[test_idx]
    with torch.no_grad():
        if ds.metric == "auc":
            from sklearn.metrics import roc_auc_score

            has_bias = getattr(model, "bias", None) is not None
            z = x @ (w[:-1] if has_bias else w).numpy() + (float(w[-1]) if has_bias else 0.0)
            loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
            out = {"auc": float(roc_auc_score(y, z)), "test_loss": loss}
        else:
            # batches of 512 stay in the cache (2,048 took 1.4-1.8x the time, same logits)
            logits = torch.cat([model(torch.from_numpy(x[i : i + EVAL_BATCH]))
                                for i in range(0, len(y), EVAL_BATCH)])
            yt = torch.from_numpy(y)
            out = {"accuracy": float((logits.argmax(1) == yt).float().mean()),
                   "test_loss": float(F.cross_entropy(logits, yt))}
    model.train()
    return out


# --------------------------------------------------------------------------- schemes



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
    grads_fn, sampler, ds, w, st = _gradient_setup(cfg, None, dataset)
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
    byz = A.byzantine_set(G, cfg.b, select=cfg.byz_select, rng=byz_rng)

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
        ev = evaluate(model, w, ds, test_idx)
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
            Gs = (torch.cat([grads_fn(w, idx[j : j + 1], y_override=ys[j : j + 1])[0]
                             for j in range(k)]) if parity else
                  grads_fn(w, idx, y_override=ys)[0])
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
        redundancy=float(G.sum() / G.shape[1]), empty_workers=int(codes.empty_rows(G).sum()),
        empty_partitions=int(codes.empty_columns(G).sum()), byzantine=[int(i) for i in byz],
        absent_messages=0, absences=[], late_messages_discarded=0, degraded_steps=0,
        dropped_workers=[], detached_workers=[], unfinished_workers=[],
        server_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return RunResult(cfg, metrics, summary, w.numpy().copy())


# --------------------------------------------------------------------------- store


def run_cached(cfg: TrainConfig, *, force: bool = False, root=None, progress: bool = True,
               dataset: data.Dataset | None = None, only_cached: bool = False) -> RunResult:
    """:func:`run`, reusing ``results/train/<hash>/`` when it exists (``force`` recomputes).

    The folder holds ``config.json``, ``metrics.csv`` and ``summary.json`` (atomic writes).
    With ``only_cached=True`` a missing result raises ``FileNotFoundError`` instead of
    training (notebook 05 regenerates figures from results only).
    """
    key = {**cfg.to_dict(), "trainer_version": TRAINER_VERSION}
    folder = experiments.results_dir(root) / "train" / experiments.config_hash(key)
    if not force:
        metrics, summary, why = experiments.load_run(folder)
        if metrics is not None:
            summary["results_dir"] = str(folder)
            return RunResult(cfg, metrics, summary)
        if why is not None:
            print(f"note: the stored result in {folder} is not complete ({why}); "
                  f"{'it is missing' if only_cached else 'recomputing'}", file=sys.stderr)
    if only_cached:
        raise FileNotFoundError(f"no stored result for this configuration in {folder}: run "
                                f"notebook 04 (or ./run_all.sh) first")
    res = run(cfg, progress=progress, dataset=dataset)
    experiments.save_run(folder, cfg.to_dict(), res.metrics, res.summary)
    res.summary["results_dir"] = str(folder)
    return res


def sign_agreement(cfg: TrainConfig, params: np.ndarray | None = None, *, steps: int = 20,
                   reference: int = 4096) -> pd.DataFrame:
    """How often a partition's mini-batch gradient sign agrees with the full gradient's.

    At parameters ``params`` (default: the initial model), draws ``steps`` rounds of the
    ``k`` partition mini-batches of ``cfg`` (batch ``rho * B``) and compares each partition
    gradient's sign with that of a large-batch reference gradient (``reference`` examples),
    per coordinate. The agreement rate ``a`` of a coordinate implies an SNR
    ``S = Phi^-1(a)`` under the Gaussian model of notebooks 01 and 03, which sets how much
    a few reversed votes can do.

    Returns:
        DataFrame with one row per coordinate: ``agreement`` and ``S`` (clipped to [0, 5]),
        plus ``abs_grad`` (magnitude of the reference gradient).
    """
    from scipy import stats

    fn, sampler, ds, w, st = _gradient_setup(cfg, params)
    rng = np.random.default_rng(st["eval"])
    ref_idx = rng.choice(ds.n_train, size=(1, min(reference, ds.n_train)), replace=False)
    ref, _ = fn(w, ref_idx)
    ref_sign = torch.sign(ref[0])
    agree = torch.zeros(fn.d)
    for _ in range(steps):
        Gp, _ = fn(w, sampler.next())
        agree += (torch.sign(Gp) == ref_sign).float().mean(0)
    a = (agree / steps).numpy()
    S = np.clip(stats.norm.ppf(np.clip(a, 1e-6, 1 - 1e-6)), 0.0, 5.0)
    return pd.DataFrame({"agreement": a, "S": S, "abs_grad": ref[0].abs().numpy()})


def _gradient_setup(cfg: TrainConfig, params=None, dataset: data.Dataset | None = None):
    """The run's data, partitions, sampler, model and gradient function, without training.

    Shared by :func:`run`, :func:`sign_agreement` and :func:`partition_gradients`, so all
    three see the same partitions, batches and initial model for a given ``cfg``.
    """
    st = _streams(cfg.seed)
    extra_load = {} if cfg.amazon_rows is None else {"q": cfg.amazon_rows}
    ds = dataset or data.load(cfg.dataset, subsample=cfg.subsample,
                              rng=np.random.default_rng(st["data"]) if cfg.subsample else None,
                              **extra_load)
    k = cfg.k if cfg.k is not None else cfg.n
    parts = data.partition(ds.n_train, k, np.random.default_rng(st["data"].spawn(1)[0]))
    B = max(1, int(round(cfg.rho * cfg.batch)))
    sampler = data.PartitionSampler(parts, B, np.random.default_rng(st["sampler"]))
    extra = {"bias": False} if ds.name == "amazon" else {}  # the paper's d = 263,500
    model = models.get(cfg.model, ds, seed=int(st["model"].generate_state(1)[0]), **extra)
    fn = PartitionGradients(model, ds)
    w = models.flat_params(model) if params is None else torch.from_numpy(
        np.asarray(params, dtype=np.float32))
    return fn, sampler, ds, w, st


def partition_gradients(cfg: TrainConfig, params: np.ndarray | None = None) -> np.ndarray:
    """One step's ``(k, d)`` partition gradients of ``cfg`` at ``params`` (default: initial).

    Example:
        >>> g = partition_gradients(TrainConfig(dataset="digits", n=4))
        >>> g.shape[0], g.dtype
        (4, dtype('float32'))
    """
    fn, sampler, _, w, _ = _gradient_setup(cfg, params)
    G, _ = fn(w, sampler.next())
    return G.numpy()
