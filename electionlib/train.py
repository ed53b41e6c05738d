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

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from . import _validate as v
from . import attacks as A
from . import codes, data, models
from . import votes as V
from ._progress import progress as _bar
from .schemes import _levels, multibit_signs, quantize

__all__ = ["TrainConfig", "RunResult", "run", "run_cached", "modelled_step_seconds",
           "VOTE_CODES", "DRACO_CODES"]

#: Part of every stored result's key: bump when a change alters what a run records.
TRAINER_VERSION = 4  # 4: coin ties from per-partition streams, coins as raw generator words

#: Test images per forward pass in :func:`evaluate`.
EVAL_BATCH = 512

VOTE_CODES = ("uncoded", "bernoulli", "deterministic")
DRACO_CODES = ("draco-repetition", "draco-cyclic")
MOMENTA = ("server", "worker", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (its hash names the result folder).

    Attributes (defaults in brackets):
        dataset ["digits"], model [None: the dataset's default], subsample [None]: training
            examples kept, test_subsample [None]: test examples used for evaluation.
        n [9] workers, b [0] Byzantine workers, k [None: n] data partitions.
        code ["uncoded"]: ``uncoded``, ``bernoulli`` (with ``r`` = E[r] or ``p``),
            ``deterministic`` (Algorithm 1 designed for ``design_b``, default ``b``),
            ``draco-repetition``, ``draco-cyclic`` (designed for ``design_b``, default b).
        aggregator [None]: a full-precision rule of :mod:`electionlib.aggregators`
            (uncoded allocation); ``agg_params``: its parameters as ``((name, value), ...)``.
        attack ["none"]: a vote attack (vote schemes) or a gradient attack (others).
        byz_select ["random"|"worst"|"first"], byz_redraw [False]: new set every step.
        momentum ["server"], eta [0.9], weight_decay [0].
        tie ["coin"]: sign(0) and local-tie rule (``plus``, ``coin``, ``abstain``).
        rho [1.0]: batch reduction (supplement A.4), noise_var [0] (A.5), quant_bits [1].
        lr [1e-3], lr_decay_epochs [()], lr_decay [0.1]; batch [16] per partition;
        epochs [1.0]; eval_every [0.25] epochs; seed [0]; bandwidth [1e9] bit/s (model).
    """

    dataset: str = "digits"
    model: str | None = None
    subsample: int | None = None
    test_subsample: int | None = None
    n: int = 9
    b: int = 0
    k: int | None = None
    code: str = "uncoded"
    r: float | None = None
    p: float | None = None
    design_b: int | None = None
    aggregator: str | None = None
    agg_params: tuple = ()
    attack: str = "none"
    byz_select: str = "random"
    byz_redraw: bool = False
    momentum: str = "server"
    eta: float = 0.9
    weight_decay: float = 0.0
    tie: str = "coin"
    rho: float = 1.0
    noise_var: float = 0.0
    quant_bits: int = 1
    lr: float = 1e-3
    lr_decay_epochs: tuple = ()
    lr_decay: float = 0.1
    batch: int = 16
    epochs: float = 1.0
    eval_every: float = 0.25
    seed: int = 0
    bandwidth: float = 1e9
    # fields added later: left out of to_dict() (and so of the result's hash) at their
    # default, so that every configuration stored before they existed keeps its hash
    empty_rows: str = "keep"
    code_seed: int | None = None
    amazon_rows: int | None = None

    def __post_init__(self):
        v.choice("dataset", self.dataset, data.DATASETS)
        if self.model is not None:
            v.choice("model", self.model, models.MODELS + tuple(models._ALIASES))
        for name in ("subsample", "test_subsample"):
            if getattr(self, name) is not None:
                v.integer(name, getattr(self, name), lo=1)
        n = v.integer("n", self.n, lo=1)
        v.integer("b", self.b, lo=0, hi=n)
        if self.k is not None:
            v.integer("k", self.k, lo=1)
        v.choice("code", self.code, VOTE_CODES + DRACO_CODES)
        if self.r is not None:
            v.real("r", self.r, lo=0.0, hi=float(n), lo_open=True)
        if self.p is not None:
            v.real("p", self.p, lo=0.0, hi=1.0)
        if self.design_b is not None:
            v.integer("design_b", self.design_b, lo=0, hi=n)
        if self.aggregator is not None:
            from . import aggregators

            v.choice("aggregator", self.aggregator, aggregators.NAMES)
        _check_pairs("agg_params", self.agg_params)
        if self.aggregator is not None:
            aggregators.get(self.aggregator, **dict(self.agg_params))  # names and ranges
        elif self.agg_params:
            raise ValueError(f"agg_params={self.agg_params!r} needs an aggregator")
        v.choice("momentum", self.momentum, MOMENTA)
        v.choice("tie", self.tie, V.TIE_RULES)
        v.choice("byz_select", self.byz_select, ("random", "worst", "first"))
        v.boolean("byz_redraw", self.byz_redraw)
        v.choice("empty_rows", self.empty_rows, codes.EMPTY_ROW_RULES)
        if self.code_seed is not None:
            v.integer("code_seed", self.code_seed, lo=0)
        if self.amazon_rows is not None:
            if self.dataset != "amazon":
                raise ValueError(f"amazon_rows={self.amazon_rows} applies to dataset='amazon' "
                                 f"only, got dataset={self.dataset!r}")
            v.integer("amazon_rows", self.amazon_rows, lo=1, hi=32768)
        if not isinstance(self.lr_decay_epochs, tuple):
            raise ValueError(f"lr_decay_epochs={self.lr_decay_epochs!r} must be a tuple of "
                             f"epochs >= 0")
        for e in self.lr_decay_epochs:
            v.real("lr_decay_epochs entry", e, lo=0.0)
        v.real("eta", self.eta, lo=0.0, hi=1.0, hi_open=True)
        v.real("weight_decay", self.weight_decay, lo=0.0)
        v.real("rho", self.rho, lo=0.0, hi=1.0, lo_open=True)
        v.real("noise_var", self.noise_var, lo=0.0)
        v.integer("quant_bits", self.quant_bits, lo=1, hi=8)
        v.real("lr", self.lr, lo=0.0, lo_open=True)
        v.real("lr_decay", self.lr_decay, lo=0.0, hi=1.0, lo_open=True)
        v.integer("batch", self.batch, lo=1)
        v.real("epochs", self.epochs, lo=0.0, lo_open=True)
        v.real("eval_every", self.eval_every, lo=0.0, lo_open=True)
        v.integer("seed", self.seed, lo=0)
        v.real("bandwidth", self.bandwidth, lo=0.0, lo_open=True)
        if self.aggregator is not None and self.code != "uncoded":
            raise ValueError(f"aggregator={self.aggregator!r} runs on the uncoded allocation; "
                             f"got code={self.code!r}")
        full_precision = self.aggregator is not None or self.code in DRACO_CODES
        allowed = A.GRADIENT_ATTACKS if full_precision else A.VOTE_ATTACKS
        if self.attack not in allowed:
            kind = "gradient" if full_precision else "vote"
            raise ValueError(f"attack={self.attack!r} must be a {kind} attack, one of "
                             f"{sorted(allowed)}")
        if self.code == "bernoulli" and (self.r is None) == (self.p is None):
            raise ValueError("code='bernoulli' needs exactly one of r (expected redundancy) "
                             "or p (connection probability)")
        if self.quant_bits > 1 and full_precision:
            raise ValueError("quant_bits > 1 applies to vote schemes only")

    @property
    def vote_scheme(self) -> bool:
        return self.aggregator is None and self.code in VOTE_CODES

    def to_dict(self) -> dict:
        """Every field, except those added later that are at their default (see
        :data:`LATE_FIELDS`): the dict whose hash names the stored result."""
        d = dataclasses.asdict(self)
        for name, default in LATE_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The configuration from :meth:`to_dict`'s output (e.g. JSON): ``ValueError`` for a
        non-mapping, an unknown key or a bad value."""
        if not isinstance(d, dict):
            raise ValueError(f"a TrainConfig must be a JSON object of fields, got "
                             f"{type(d).__name__}")
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; the fields are "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        for key in ("agg_params", "lr_decay_epochs"):
            if key in d and isinstance(d[key], list):
                d[key] = tuple(tuple(x) if isinstance(x, list) else x for x in d[key])
        return cls(**d)


#: Fields added after results were first stored, with their defaults: omitted from
#: :meth:`TrainConfig.to_dict` at the default, so older configurations keep their hash.
LATE_FIELDS = {"empty_rows": "keep", "code_seed": None, "amazon_rows": None}


def code_stream(cfg: TrainConfig, streams: dict) -> np.random.Generator:
    """The Generator that draws a run's random allocation ``G``: the run's ``code`` stream,
    or ``code_seed`` when set (so that two codes of one seed can be drawn independently)."""
    return np.random.default_rng(streams["code"] if cfg.code_seed is None else cfg.code_seed)


def _check_pairs(name: str, pairs) -> None:
    """``pairs`` must be a tuple of ``(str, value)`` with JSON-scalar values."""
    ok = isinstance(pairs, tuple) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
        and (p[1] is None or isinstance(p[1], (bool, int, float, str))) for p in pairs)
    if not ok:
        raise ValueError(f"{name}={pairs!r} must be a tuple of (name, value) pairs with "
                         f"number, string or null values")


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


def _allocation(cfg: TrainConfig, k: int, rng) -> np.ndarray:
    if cfg.code == "uncoded":
        if k != cfg.n:
            raise ValueError(f"code='uncoded' needs k = n, got k={k}, n={cfg.n}")
        return codes.uncoded(cfg.n)
    if cfg.code == "bernoulli":
        p = cfg.p if cfg.p is not None else cfg.r / cfg.n
        v.real("p (= r/n)", p, lo=0.0, hi=1.0)
        return codes.bernoulli(cfg.n, p, k=k, rng=rng, empty_rows=cfg.empty_rows)
    if cfg.code == "deterministic":
        if k != cfg.n:
            raise ValueError(f"code='deterministic' needs k = n, got k={k}, n={cfg.n}")
        return codes.deterministic(cfg.n, cfg.design_b if cfg.design_b is not None else cfg.b)
    raise AssertionError(cfg.code)


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


def _agg_callable(cfg: TrainConfig):
    from . import aggregators

    return aggregators.get(cfg.aggregator, **dict(cfg.agg_params))


def _draco_code(cfg: TrainConfig):
    from . import draco

    s = cfg.design_b if cfg.design_b is not None else cfg.b
    if cfg.code == "draco-repetition":
        return draco.repetition(cfg.n, s)
    return draco.cyclic(cfg.n, s)


# --------------------------------------------------------------------------- the loop


def _streams(seed: int):
    ss = np.random.SeedSequence(seed)
    # appended names keep the earlier streams unchanged (SeedSequence children are by index)
    names = ["data", "sampler", "model", "code", "byz", "noise", "workers", "eval", "partitions"]
    return dict(zip(names, ss.spawn(len(names)), strict=True))


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
    B = sampler.batch
    parts_total = sum(sampler.sizes)
    d = grads_fn.d
    w = w.to(torch.float32).clone()
    test_idx = None
    if cfg.test_subsample is not None and cfg.test_subsample < ds.n_test:
        test_idx = np.sort(np.random.default_rng(st["eval"]).choice(
            ds.n_test, cfg.test_subsample, replace=False))

    code_rng = code_stream(cfg, st)
    byz_rng = np.random.default_rng(st["byz"])
    noise_gen = torch.Generator().manual_seed(int(st["noise"].generate_state(1)[0]))
    worker_rngs = [np.random.default_rng(s) for s in st["workers"].spawn(n)]
    part_rngs = partition_rngs(st, k)

    draco_code = agg = None
    if cfg.vote_scheme:
        G = _allocation(cfg, k, code_rng)
        loads = codes.loads(G)
        up_bytes, down_bytes = vote_message_bytes(cfg, d)
    elif cfg.code in DRACO_CODES:
        draco_code = _draco_code(cfg)
        G = np.asarray(draco_code.A, dtype=np.uint8)
        loads = G.sum(axis=1)
        up_bytes = (8 if cfg.code == "draco-cyclic" else 4) * d
        down_bytes = 4 * d
    else:
        G = codes.uncoded(n)
        loads = np.ones(n, dtype=np.int64)
        agg = _agg_callable(cfg)
        up_bytes = down_bytes = 4 * d
    byz = A.byzantine_set(G, cfg.b, select=cfg.byz_select, rng=byz_rng)

    steps_per_epoch = parts_total / (B * k)
    total_steps = max(1, int(math.ceil(cfg.epochs * steps_per_epoch)))
    eval_steps = max(1, int(round(cfg.eval_every * steps_per_epoch)))
    mom = torch.zeros(d) if cfg.momentum == "server" else None
    vel = torch.zeros(k, d) if cfg.momentum == "worker" else None
    rows = []
    t_start = time.perf_counter()
    t_parts: list[float] = []  # measured per-partition gradient time, one per step
    cum_load = 0.0  # sum over steps of the slowest worker's load (partitions)
    cum_other = 0.0  # sum over steps of encode + decode + communication seconds
    losses = []
    metric_name = "auc" if ds.metric == "auc" else "accuracy"

    spent = {"gradient": 0.0, "evaluation": 0.0}

    def record(step):
        t_ev = time.perf_counter()
        ev = evaluate(model, w, ds, test_idx)
        spent["evaluation"] += time.perf_counter() - t_ev
        rows.append(dict(step=step, epoch=step / steps_per_epoch, lr=lr_at(step),
                         wall_seconds=time.perf_counter() - t_start,
                         load_units=cum_load, other_seconds=cum_other,
                         train_loss=float(np.mean(losses)) if losses else float("nan"),
                         **ev))
        losses.clear()

    def lr_at(step):
        ep = step / steps_per_epoch
        return cfg.lr * cfg.lr_decay ** sum(ep >= e for e in cfg.lr_decay_epochs)

    record(0)
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
        if cfg.vote_scheme:
            u, t_enc, t_dec = _vote_step(cfg, Gp, G, byz, d, worker_rngs, part_rngs)
        elif draco_code is not None:
            u, t_enc, t_dec = _draco_step(cfg, Gp, Gs, draco_code, byz, worker_rngs)
        else:
            u, t_enc, t_dec = _agg_step(cfg, Gp, Gs, agg, byz, worker_rngs)
        upd = torch.from_numpy(np.asarray(u, dtype=np.float32))
        if cfg.weight_decay:
            upd = upd + cfg.weight_decay * w
        if mom is not None:
            mom.mul_(cfg.eta).add_(upd)
            upd = mom
        w = w - lr_at(step) * upd
        t_parts.append(t_grad / k)
        cum_load += int(loads.max())
        cum_other += modelled_step_seconds(0, 0.0, t_enc, t_dec, n, up_bytes, down_bytes,
                                           cfg.bandwidth)
        if step % eval_steps == 0 or step == total_steps:
            record(step)
        if not torch.isfinite(w).all():
            record(step)
            break
    metrics = pd.DataFrame(rows)
    # Modelled time uses the run's MEDIAN per-partition gradient time, so that a transient
    # slowdown of this shared machine does not distort the time axis.
    t_part = float(np.median(t_parts)) if t_parts else 0.0
    metrics["modelled_seconds"] = metrics.load_units * t_part + metrics.other_seconds
    modelled = float(metrics.modelled_seconds.iloc[-1])
    summary = {
        f"final_{metric_name}": float(metrics[metric_name].iloc[-1]),
        "model_dimension": d,
        "bytes_per_worker_per_step": int(up_bytes),
        "wall_seconds": float(time.perf_counter() - t_start),
        "modelled_seconds": modelled,
        "t_partition_median": t_part,
        "steps": int(metrics.step.iloc[-1]),
        "redundancy": float(G.sum() / G.shape[1]),
        "empty_workers": int(codes.empty_rows(G).sum()),
        "empty_partitions": int(codes.empty_columns(G).sum()),
        "byzantine": [int(i) for i in byz],
        "diverged": bool(not torch.isfinite(w).all()),
        "gradient_seconds": spent["gradient"],
        "evaluation_seconds": spent["evaluation"],
    }
    return RunResult(cfg, metrics, summary, w.numpy().copy())


def _vote_step(cfg, Gp, G, byz, d, worker_rngs, part_rngs):
    """One coded SignSGD step: returns (update (d,), encode seconds, decode seconds)."""
    t0 = time.perf_counter()
    g = Gp.numpy()
    if cfg.quant_bits > 1:
        return _multibit_step(cfg, g, G, byz, worker_rngs, t0)
    pbits, ppres = partition_signs(g, cfg.tie, part_rngs)
    bits, present = V.encode(pbits, G, d, partition_present=ppres, tie=cfg.tie, rng=worker_rngs)
    if cfg.attack != "none" and len(byz):
        target = V.majority(pbits, d, ppres) if cfg.attack == "worst" else None
        bits, present = A.apply_vote_attack(cfg.attack, bits, present, byz, d,
                                            rngs=worker_rngs, target=target)
    t_enc = (time.perf_counter() - t0) / max(1, G.shape[0])
    t1 = time.perf_counter()
    u = V.decide(bits, d, present).astype(np.float32)
    return u, t_enc, time.perf_counter() - t1


def partition_rngs(streams: dict, k: int) -> list[np.random.Generator]:
    """One Generator per data partition (its coin flips for ``sign(0)`` under ``tie='coin'``).

    Every worker that holds partition ``j`` draws the same coins from its own copy of
    stream ``j``, so the sim and mpi backends agree bit for bit.
    """
    return [np.random.default_rng(s) for s in streams["partitions"].spawn(k)]


def partition_signs(g: np.ndarray, tie: str, rngs) -> tuple[np.ndarray, np.ndarray | None]:
    """Packed signs of ``(k, d)`` partition gradients, ``sign(0)`` set by ``tie``.

    Under ``coin``, the exact zeros of row ``j`` get fair coins drawn from ``rngs[j]``
    (:func:`votes.sign_bits`: one random bit per zero, in coordinate order), so the coins of
    a partition do not depend on which other partitions a worker holds.

    Example:
        >>> g = np.array([[0.5, 0.0, -1.0], [0.0, 0.0, 2.0]], np.float32)
        >>> b, _ = partition_signs(g, "coin", [np.random.default_rng(0)] * 2)
        >>> s = V.unpack(b, 3)  # nonzero entries by their sign, zeros by coin
        >>> s[0, [0, 2]].tolist(), int(s[1, 2])
        ([1, -1], 1)
    """
    if tie != "coin":
        return V.sign_bits(g, tie)
    if V._all_finite(g):
        pos, zero = np.packbits(g > 0, axis=-1), (g == 0).any(axis=1)
    else:  # NaN and inf count as zeros (votes.sign_bits)
        pos, zero = np.packbits(V._positive(g), axis=-1), V._zero_like(g).any(axis=1)
    for j in np.flatnonzero(zero):
        pos[j] = V.sign_bits(g[j], "coin", rng=rngs[j])[0]
    return pos, None


def vote_message_bytes(cfg: TrainConfig, d: int) -> tuple[int, int]:
    """Bytes of one worker's vote message and of the broadcast update (payload only).

    1 bit per coordinate up (2 with ``abstain``: value + presence); the update carries the
    value and a nonzero mask (tied coordinates do not move). With ``quant_bits = q > 1``
    both directions carry ``q`` bit-planes of the level index plus one plane marking exact
    zeros (a tie, or a worker whose signs cancel): ``(q + 1)`` bits per coordinate.

    Example:
        >>> vote_message_bytes(TrainConfig(), 61706)
        (7714, 15428)
    """
    nb = V.packed_length(d)
    if cfg.quant_bits > 1:
        return (cfg.quant_bits + 1) * nb, (cfg.quant_bits + 1) * nb
    return nb * (2 if cfg.tie == "abstain" else 1), 2 * nb


def _multibit_step(cfg, g, G, byz, worker_rngs, t0):
    s = multibit_signs(g, cfg.tie)
    loads = G.sum(axis=1)
    avg = (G @ s) / np.maximum(loads, 1)[:, None]
    msg = quantize(avg, cfg.quant_bits)
    msg[loads == 0] = 0
    for i in byz:
        if cfg.attack == "reverse":
            msg[i] = -msg[i]
        elif cfg.attack == "directional":
            msg[i] = 1.0
        elif cfg.attack == "random":
            msg[i] = worker_rngs[i].choice(_levels(cfg.quant_bits), size=msg.shape[1])
        elif cfg.attack == "worst":
            msg[i] = -np.sign(s.sum(axis=0))
    t_enc = (time.perf_counter() - t0) / max(1, G.shape[0])
    t1 = time.perf_counter()
    present = loads > 0
    u = quantize(msg[present].mean(axis=0), cfg.quant_bits).astype(np.float32)
    return u, t_enc, time.perf_counter() - t1


def _attacked(cfg, messages: np.ndarray, honest_rows, byz, worker_rngs, shifted=None):
    out = messages.copy()
    honest = messages[honest_rows]
    for i in byz:
        own = shifted[i] if shifted is not None else messages[i]
        out[i] = A.attack_gradient(cfg.attack, own, honest=honest if len(honest) else
                                   messages[:1], n=cfg.n, f=cfg.b, rng=worker_rngs[i])
    return out


def _agg_step(cfg, Gp, Gs, agg, byz, worker_rngs):
    t0 = time.perf_counter()
    msgs = Gp.numpy().astype(np.float32)
    honest_rows = np.setdiff1d(np.arange(cfg.n), byz)
    if cfg.attack != "none" and len(byz):
        msgs = _attacked(cfg, msgs, honest_rows, byz, worker_rngs,
                         None if Gs is None else Gs.numpy())
    t_enc = time.perf_counter() - t0
    t1 = time.perf_counter()
    u = np.asarray(agg(msgs), dtype=np.float32)
    return u, t_enc / cfg.n, time.perf_counter() - t1


def _draco_step(cfg, Gp, Gs, code, byz, worker_rngs):
    t0 = time.perf_counter()
    msgs = code.encode(Gp.numpy().astype(np.float64))
    honest_rows = np.setdiff1d(np.arange(cfg.n), byz)
    if cfg.attack != "none" and len(byz):
        shifted = None if Gs is None else code.encode(Gs.numpy().astype(np.float64))
        msgs = _attacked(cfg, msgs, honest_rows, byz, worker_rngs, shifted)
    t_enc = (time.perf_counter() - t0) / cfg.n
    t1 = time.perf_counter()
    total = np.real(code.decode(msgs))
    return (total / cfg.n).astype(np.float32), t_enc, time.perf_counter() - t1


# --------------------------------------------------------------------------- store


def run_cached(cfg: TrainConfig, *, force: bool = False, root=None, progress: bool = True,
               dataset: data.Dataset | None = None, only_cached: bool = False) -> RunResult:
    """:func:`run`, reusing ``results/train/<hash>/`` when it exists (``force`` recomputes).

    The folder holds ``config.json``, ``metrics.csv`` and ``summary.json`` (atomic writes).
    With ``only_cached=True`` a missing result raises ``FileNotFoundError`` instead of
    training (notebook 05 regenerates figures from results only).
    """
    from . import experiments

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
