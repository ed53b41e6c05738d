"""A run's gradients and evaluation, shared by both backends: the model, data, partitions
and sampler a configuration sets up (:func:`setup`), the ``k`` partitions' mini-batch
gradients at the same parameters (:class:`PartitionGradients`), and the test metric
(:func:`evaluate`)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from . import data, models, sampling
from .config import TrainConfig
from .config import streams as _streams

__all__ = ["PartitionGradients", "evaluate", "setup", "partition_gradients", "EVAL_BATCH"]

#: Test images per forward pass in :func:`evaluate`.
EVAL_BATCH = 512


class PartitionGradients:
    """Mini-batch gradients of ``k`` partitions at the same parameters: ``(k, d)``.

    Paths: sparse logistic regression (closed form, one sparse product), ``torch.func``
    ``vmap(grad)`` for models without batch norm, and a loop otherwise. All return the
    mean-loss gradient of each partition's batch.

    ``device`` is where the model and the batches live while the gradients are computed
    (the model is moved there); parameters come in and gradients go out on the CPU, where
    the votes and the aggregators work.
    """

    def __init__(self, model: torch.nn.Module, ds: data.Dataset, device: str = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device)
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
        models.set_flat_params(self.model, w)
        X, Y = self._batch(idx, y)
        with torch.no_grad():  # in train mode: batch norm's buffers move as in __call__
            per = [F.cross_entropy(self.model(X[j]), Y[j]) for j in range(k)]
        if self.path == "loop":  # __call__'s own sum, in its order
            return sum(float(x) for x in per) / k
        return float(torch.stack(per).mean())

    def _batch(self, idx: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        X = torch.from_numpy(np.ascontiguousarray(self.ds.x_train[idx])).to(self.device)
        return X, torch.from_numpy(np.ascontiguousarray(y)).to(self.device)

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
        X, Y = self._batch(idx, y)
        if self.path == "vmap":
            grads, losses = self._vg(self.params_dict(w.to(self.device)), X, Y)
            G = torch.cat([grads[nm].reshape(k, -1) for nm in self.names], dim=1)
            return G.detach().cpu(), float(losses.mean())
        models.set_flat_params(self.model, w)
        rows, total = [], 0.0
        for j in range(k):
            self.model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(X[j]), Y[j])
            loss.backward()
            rows.append(models.flat_grad(self.model))
            total += float(loss.detach())
        return torch.stack(rows).cpu(), total / k


def evaluate(model: torch.nn.Module, w: torch.Tensor, ds: data.Dataset, test_idx) -> dict:
    """Test metric (accuracy, or AUC for binary logistic regression) and test loss."""
    models.set_flat_params(model, w)
    model.eval()
    x = ds.x_test if test_idx is None else ds.x_test[test_idx]
    y = ds.y_test if test_idx is None else ds.y_test[test_idx]
    with torch.no_grad():
        if ds.metric == "auc":
            from sklearn.metrics import roc_auc_score  # scikit-learn's import is slow: on use

            has_bias = getattr(model, "bias", None) is not None
            z = x @ (w[:-1] if has_bias else w).numpy() + (float(w[-1]) if has_bias else 0.0)
            with np.errstate(invalid="ignore"):  # NaN scores (a diverged run): NaN loss
                loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
            # a diverged run's scores are not finite: its AUC is undefined (NaN), not an error
            auc = float(roc_auc_score(y, z)) if np.isfinite(z).all() else float("nan")
            out = {"auc": auc, "test_loss": loss}
        else:
            # batches of 512 stay in the cache (2,048 took 1.4-1.8x the time, same logits)
            dev = next(model.parameters()).device
            logits = torch.cat([model(torch.from_numpy(x[i : i + EVAL_BATCH]).to(dev))
                                for i in range(0, len(y), EVAL_BATCH)])
            yt = torch.from_numpy(y).to(dev)
            out = {"accuracy": float((logits.argmax(1) == yt).float().mean()),
                   "test_loss": float(F.cross_entropy(logits, yt))}
    model.train()
    return out


def check_device(device: str) -> None:
    """``ValueError`` unless this machine can run on ``device`` (one of ``config.DEVICES``)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' needs a GPU and a CUDA build of torch; "
                         "torch.cuda.is_available() is False here (use device='cpu')")


def setup(cfg: TrainConfig, params=None, dataset: data.Dataset | None = None):
    """The run's data, partitions, sampler, model and gradient function, without training.

    Returns ``(gradients, sampler, dataset, initial flat parameters, streams)``. Shared by
    both backends, :func:`electionlib.analysis.sign_agreement` and :func:`partition_gradients`,
    so all see the same partitions, batches and initial model for a given ``cfg``.
    """
    check_device(cfg.device)
    st = _streams(cfg.seed)
    extra_load = {} if cfg.amazon_rows is None else {"q": cfg.amazon_rows}
    ds = dataset or data.load(cfg.dataset, subsample=cfg.subsample,
                              rng=np.random.default_rng(st["data"]) if cfg.subsample else None,
                              **extra_load)
    k = cfg.k if cfg.k is not None else cfg.n
    parts = sampling.partition(ds.y_train, k, np.random.default_rng(st["data"].spawn(1)[0]),
                               scheme=cfg.partition, alpha=cfg.alpha,
                               labels_per_partition=cfg.labels_per_partition)
    B = max(1, int(round(cfg.rho * cfg.batch)))
    sampler = sampling.PartitionSampler(parts, B, np.random.default_rng(st["sampler"]))
    extra = {"bias": False} if ds.name == "amazon" else {}  # the paper's d = 263,500
    model = models.get(cfg.model, ds, seed=int(st["model"].generate_state(1)[0]), **extra)
    w = models.flat_params(model) if params is None else torch.from_numpy(
        np.asarray(params, dtype=np.float32))
    fn = PartitionGradients(model, ds, device=cfg.device)
    return fn, sampler, ds, w, st


def partition_gradients(cfg: TrainConfig, params: np.ndarray | None = None) -> np.ndarray:
    """One step's ``(k, d)`` partition gradients of ``cfg`` at ``params`` (default: initial).

    Example:
        >>> g = partition_gradients(TrainConfig(dataset="digits", n=4))
        >>> g.shape[0], g.dtype
        (4, dtype('float32'))
    """
    fn, sampler, _, w, _ = setup(cfg, params)
    G, _ = fn(w, sampler.next())
    return G.numpy()
