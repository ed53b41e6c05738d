"""Models of the experiments, in plain torch (CPU), and flat parameter/gradient views.

============ ============================================ =====================
name         model                                        parameters
============ ============================================ =====================
``logreg``   logistic regression, sparse or dense input   d + 1 (263,501 Amazon)
``mlp``      fully connected, ReLU                        depends on sizes
``lenet``    LeNet-5 (LeCun et al. 1998), ReLU, max-pool  61,706 (28x28, 10 cls)
``resnet18`` ResNet-18, CIFAR variant (He et al. 2016)    11,173,962 (10 cls)
============ ============================================ =====================

Seeding: every constructor takes ``seed`` (an int or a ``torch.Generator``). The
modules are first created on torch's ``meta`` device (no memory, no random
numbers drawn), then materialised on the CPU and initialised by this module
with ``torch.nn.init`` functions that are passed an explicit
``torch.Generator``. The global torch random state is neither seeded nor
consumed, so building a model never perturbs other code and the same seed gives
the same weights in any process. The initialisation follows torch's defaults:
Linear/Conv weights ``kaiming_uniform_(a=sqrt(5))`` and biases
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; BatchNorm weight 1, bias 0; the logistic
regression starts at zero.

Reference: Section 5 (ResNet-18 with d = 11,173,962 on CIFAR-10; logistic
regression with d = 263,500 on Amazon); BrSGD paper Section 5 (LeNet on
Fashion-MNIST).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from . import _validate as v

__all__ = [
    "MODELS",
    "DEFAULT_MODEL",
    "LogReg",
    "logreg",
    "mlp",
    "lenet5",
    "resnet18",
    "build",
    "get",
    "n_params",
    "flat_params",
    "set_flat_params",
    "flat_grad",
    "flat_buffers",
    "set_flat_buffers",
    "to_torch_sparse",
]

MODELS = ("logreg", "mlp", "lenet", "resnet18")
_ALIASES = {"lenet5": "lenet", "logistic": "logreg", "resnet": "resnet18"}
#: Model used for each dataset when none is named (the paper's / BrSGD's choices).
DEFAULT_MODEL = {"fmnist": "lenet", "amazon": "logreg", "digits": "mlp", "cifar10": "resnet18"}
#: Input layout of each dataset: (channels, height, width), or (d,) for Amazon.
_DATASET_INPUT = {
    "fmnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
    "amazon": (263500,),
}
_N_CLASSES = {"fmnist": 10, "cifar10": 10, "digits": 10, "amazon": 2}


# =========================================================================== seeding


def _generator(seed) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0 or a torch.Generator")
    return torch.Generator().manual_seed(int(seed))


def _init(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Materialise a meta-device model on the CPU and initialise it from ``gen``.

    Modules are visited in registration order, so the draw order is fixed.
    """
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, LogReg):
                nn.init.zeros_(mod.weight)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.Linear | nn.Conv2d):
                nn.init.kaiming_uniform_(mod.weight, a=math.sqrt(5), generator=gen)
                if mod.bias is not None:
                    fan_in = mod.weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in)
                    nn.init.uniform_(mod.bias, -bound, bound, generator=gen)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
                mod.reset_running_stats()
    return model


def _make(factory, seed) -> nn.Module:
    gen = _generator(seed)
    with torch.device("meta"):
        model = factory()
    return _init(model, gen)


# =========================================================================== models


class LogReg(nn.Module):
    """Logistic regression ``p(y=1 | x) = sigmoid(w . x + b)``, one logit per row.

    ``forward(x)`` takes a dense ``(N, d)`` tensor or a torch sparse (COO or CSR)
    ``(N, d)`` tensor (see :func:`to_torch_sparse`; a scipy sparse matrix or a
    numpy array is converted) and returns ``(N,)`` logits; train with
    ``BCEWithLogitsLoss`` on labels in {0, 1}. The gradient with respect to
    ``weight`` is dense (most of its entries are exactly 0 for a sparse batch).

    Attributes:
        weight: ``(d,)``; bias: ``()`` or None.
    """

    def __init__(self, d: int, bias: bool = True):
        super().__init__()
        self.d = d
        self.weight = nn.Parameter(torch.empty(d))
        self.bias = nn.Parameter(torch.empty(())) if bias else None

    def forward(self, x) -> torch.Tensor:
        if sp.issparse(x) or isinstance(x, np.ndarray):
            x = to_torch_sparse(x) if sp.issparse(x) else torch.as_tensor(x)
        if x.dim() != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (N, {self.d}), got {tuple(x.shape)}")
        w = self.weight.unsqueeze(1)
        out = (torch.sparse.mm(x, w) if x.layout != torch.strided else x @ w).squeeze(1)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"d={self.d}, bias={self.bias is not None}"


def to_torch_sparse(x) -> torch.Tensor:
    """A scipy sparse ``(N, d)`` matrix as a coalesced float32 torch sparse COO tensor.

    COO rather than CSR because torch's CSR layout is still flagged "beta" and
    warns; :class:`LogReg` accepts both.

    Example:
        >>> t = to_torch_sparse(sp.csr_matrix(np.eye(2, 3)))
        >>> t.layout, tuple(t.shape), t.is_coalesced()
        (torch.sparse_coo, (2, 3), True)
    """
    if not sp.issparse(x):
        raise ValueError(f"x must be a scipy.sparse matrix, got {type(x).__name__}")
    x = sp.csr_matrix(x)
    x.sum_duplicates()  # also sorts the column indices: row-major order = coalesced
    rows = np.repeat(np.arange(x.shape[0], dtype=np.int64), np.diff(x.indptr))
    idx = np.stack([rows, x.indices.astype(np.int64)])
    return torch.sparse_coo_tensor(
        torch.from_numpy(idx),
        torch.from_numpy(x.data.astype(np.float32)),
        size=x.shape,
        is_coalesced=True,
        check_invariants=True,
    )


def logreg(d: int, *, bias: bool = True, seed=0) -> LogReg:
    """Logistic regression on ``d`` features, weights and bias initialised to 0.

    Args:
        d: number of features (263,500 for Amazon; the paper's model dimension),
            d >= 1. With ``bias=True`` the model has ``d + 1`` parameters.
        bias: include the intercept.
        seed: unused by the zero initialisation; accepted for a uniform signature.

    Returns:
        A :class:`LogReg`; ``model(x)`` gives ``(N,)`` logits.

    Example:
        >>> m = logreg(5)
        >>> n_params(m), tuple(m(torch.ones(3, 5)).shape)
        (6, (3,))

    Reference: Section 5.2 (logistic regression, Amazon Employee Access).
    """
    d = v.integer("d", d, lo=1)
    if not isinstance(bias, bool):
        raise ValueError(f"bias={bias!r} must be True or False")
    _generator(seed)
    return _make(lambda: LogReg(d, bias), seed)


def mlp(d_in: int, n_classes: int, hidden=(64,), *, seed=0) -> nn.Sequential:
    """Fully connected network ``d_in -> hidden... -> n_classes`` with ReLU.

    The input is flattened first, so image batches ``(N, C, H, W)`` work with
    ``d_in = C * H * W``.

    Args:
        d_in: input features, >= 1 (64 for 8x8 digits).
        n_classes: output logits, >= 2.
        hidden: widths of the hidden layers (each >= 1; may be empty).
        seed: int or ``torch.Generator`` for the initialisation.

    Returns:
        ``nn.Sequential`` mapping ``(N, ...)`` to ``(N, n_classes)`` logits.

    Example:
        >>> m = mlp(64, 10)
        >>> n_params(m), tuple(m(torch.zeros(2, 1, 8, 8)).shape)
        (4810, (2, 10))
    """
    d_in = v.integer("d_in", d_in, lo=1)
    n_classes = v.integer("n_classes", n_classes, lo=2)
    try:
        widths = [v.integer(f"hidden[{i}]", h, lo=1) for i, h in enumerate(hidden)]
    except TypeError:
        raise ValueError(f"hidden={hidden!r} must be a sequence of positive integers") from None

    def factory():
        layers, prev = [nn.Flatten()], d_in
        for h in widths:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, n_classes))
        return nn.Sequential(*layers)

    return _make(factory, seed)


class LeNet5(nn.Module):
    """LeNet-5: conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> fc 120 -> fc 84 -> fc n_classes."""

    def __init__(self, in_channels: int, n_classes: int, input_size: int):
        super().__init__()
        pad = (32 - input_size) // 2  # 2 for 28x28 (Fashion-MNIST), 0 for 32x32
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.classifier(self.features(x))
        # Inference (evaluation under no_grad): the same layers, with each 2x2 max-pool as the
        # elementwise maximum of its four strided views. The values are identical (a maximum
        # is exact, NaN propagates in both), and on one CPU thread it takes about a fifth of
        # max_pool2d's time; training keeps max_pool2d and its backward (the gradient goes
        # to one index of a tied window, where maximum's backward would split it). Forward-mode
        # AD under no_grad (torch.func.jvp) would see maximum's tie rule: this project uses
        # none; call self.classifier(self.features(x)) for exact max_pool2d tangents.
        for layer in self.features:
            x = _max_pool_2x2(x) if isinstance(layer, nn.MaxPool2d) else layer(x)
        return self.classifier(x)


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` for even spatial sizes, by four strided views (forward only)."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        return nn.functional.max_pool2d(x, 2)
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


def lenet5(in_channels: int = 1, n_classes: int = 10, *, input_size: int = 28, seed=0) -> LeNet5:
    """LeNet-5 (LeCun et al. 1998), with ReLU and max-pooling.

    ``conv 6@5x5 (pad 2 for 28x28) -> maxpool 2 -> conv 16@5x5 -> maxpool 2 ->
    fc 120 -> fc 84 -> fc n_classes``. With one input channel and 10 classes it
    has 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 parameters.

    Args:
        in_channels: 1 (Fashion-MNIST) or 3 (CIFAR-10), >= 1.
        n_classes: output logits, >= 2.
        input_size: 28 (padding 2) or 32 (no padding); both reach 5x5 maps.
        seed: int or ``torch.Generator`` for the initialisation.

    Returns:
        Module mapping ``(N, in_channels, input_size, input_size)`` to ``(N, n_classes)``.

    Example:
        >>> m = lenet5()
        >>> n_params(m), tuple(m(torch.zeros(2, 1, 28, 28)).shape)
        (61706, (2, 10))

    Reference: BrSGD Section 5 (LeNet on Fashion-MNIST).
    """
    in_channels = v.integer("in_channels", in_channels, lo=1)
    n_classes = v.integer("n_classes", n_classes, lo=2)
    v.choice("input_size", input_size, (28, 32))
    return _make(lambda: LeNet5(in_channels, n_classes, input_size), seed)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool, stages [2, 2, 2, 2] of 64..512."""

    def __init__(self, n_classes: int, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        stages, c_in = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, width, stride),
                                        BasicBlock(width, width, 1)))
            c_in = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(torch.flatten(self.pool(out), 1))


def resnet18(n_classes: int = 10, *, in_channels: int = 3, seed=0) -> ResNet18:
    """ResNet-18, CIFAR variant (He et al. 2016): 3x3 stem conv, no max-pool.

    BasicBlocks [2, 2, 2, 2] of widths 64, 128, 256, 512 with BatchNorm, 1x1
    conv shortcuts where the shape changes, global average pooling and a linear
    classifier: 11,173,962 parameters for 10 classes (the paper's d).

    Note: BatchNorm keeps running statistics (buffers, not parameters); call
    ``model.train()``/``model.eval()`` as usual.

    Args:
        n_classes: output logits, >= 2.
        in_channels: input channels, >= 1.
        seed: int or ``torch.Generator`` for the initialisation.

    Returns:
        Module mapping ``(N, 3, 32, 32)`` to ``(N, n_classes)``.

    Example:
        >>> n_params(resnet18())
        11173962

    Reference: Section 5.1 (ResNet-18 on CIFAR-10, d = 11,173,962).
    """
    n_classes = v.integer("n_classes", n_classes, lo=2)
    in_channels = v.integer("in_channels", in_channels, lo=1)
    return _make(lambda: ResNet18(n_classes, in_channels), seed)


# =========================================================================== registry


def build(name: str, *, seed=0, **kwargs) -> nn.Module:
    """Construct a model by name with explicit arguments.

    Args:
        name: one of :data:`MODELS` (aliases: ``lenet5``, ``logistic``, ``resnet``).
        seed: int or ``torch.Generator`` for the initialisation.
        **kwargs: the constructor's arguments (:func:`logreg`, :func:`mlp`,
            :func:`lenet5`, :func:`resnet18`).

    Example:
        >>> n_params(build("mlp", d_in=4, n_classes=3, hidden=()))
        15
    """
    name = _ALIASES.get(name, name)
    v.choice("name", name, MODELS)
    ctor = {"logreg": logreg, "mlp": mlp, "lenet": lenet5, "resnet18": resnet18}[name]
    try:
        return ctor(seed=seed, **kwargs)
    except TypeError as exc:  # missing or unknown keyword arguments
        raise ValueError(f"bad arguments for model {name!r}: {exc}") from None


def get(name: str | None, dataset, *, seed=0, **kwargs) -> nn.Module:
    """The model ``name`` sized for ``dataset`` (None: the dataset's default model).

    Defaults (:data:`DEFAULT_MODEL`): fmnist -> lenet, amazon -> logreg,
    digits -> mlp (hidden (64,)), cifar10 -> resnet18. Input sizes come from
    the dataset (a :class:`electionlib.data.Dataset` or its name; for Amazon a
    ``Dataset`` gives its actual ``d``, the name gives 263,500).

    Args:
        name: model name or None.
        dataset: dataset name or ``Dataset``.
        seed: int or ``torch.Generator`` for the initialisation.
        **kwargs: overrides passed to the constructor (e.g. ``hidden=(128,)``).

    Returns:
        An initialised ``nn.Module``.

    Raises:
        ValueError: unknown names, or a model that does not fit the dataset
            (e.g. lenet on 8x8 digits, logreg on a 10-class dataset).

    Example:
        >>> n_params(get(None, "fmnist"))
        61706
    """
    ds_name = dataset if isinstance(dataset, str) else getattr(dataset, "name", None)
    v.choice("dataset", ds_name, tuple(DEFAULT_MODEL))
    if name is None:
        name = DEFAULT_MODEL[ds_name]
    name = _ALIASES.get(name, name)
    v.choice("name", name, MODELS)
    shape = _DATASET_INPUT[ds_name]
    n_classes = _N_CLASSES[ds_name]
    if not isinstance(dataset, str):
        shape = tuple(dataset.input_shape)
        n_classes = int(dataset.n_classes)
    if ds_name == "amazon" and name != "logreg":
        raise ValueError(f"name={name!r} does not fit dataset 'amazon' (sparse one-hot "
                         f"features): use 'logreg'")
    if name == "logreg":
        if n_classes != 2:
            raise ValueError(f"name='logreg' is binary; dataset {ds_name!r} has "
                             f"{n_classes} classes (use 'mlp' or another model)")
        args = {"d": int(np.prod(shape))}
    elif name == "mlp":
        args = {"d_in": int(np.prod(shape)), "n_classes": n_classes}
    elif name == "lenet":
        if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in (28, 32):
            raise ValueError(f"name='lenet' needs 28x28 or 32x32 images; dataset "
                             f"{ds_name!r} has inputs {shape}")
        args = {"in_channels": shape[0], "n_classes": n_classes, "input_size": shape[1]}
    else:
        if len(shape) != 3 or shape[1] < 8 or shape[2] < 8:
            raise ValueError(f"name='resnet18' needs images of at least 8x8; dataset "
                             f"{ds_name!r} has inputs {shape}")
        args = {"n_classes": n_classes, "in_channels": shape[0]}
    args.update(kwargs)
    return build(name, seed=seed, **args)


# =========================================================================== flat views


def n_params(model: nn.Module) -> int:
    """Number of scalar parameters (the model dimension d; buffers are not counted)."""
    return sum(p.numel() for p in model.parameters())


def flat_params(model: nn.Module) -> torch.Tensor:
    """All parameters concatenated in ``model.parameters()`` order: a ``(d,)`` copy.

    Example:
        >>> m = build("mlp", d_in=2, n_classes=2, hidden=())
        >>> set_flat_params(m, torch.arange(6.0)); flat_params(m).tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_flat_params(model: nn.Module, vec) -> None:
    """Copy a ``(d,)`` vector (tensor or array) into the parameters, in ``parameters()`` order."""
    vec = torch.as_tensor(vec)
    d = n_params(model)
    if vec.dim() != 1 or vec.numel() != d:
        raise ValueError(f"vec must be a 1-D vector of length d={d}, got shape {tuple(vec.shape)}")
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(vec[offset : offset + n].view_as(p))
            offset += n


def flat_buffers(model: nn.Module) -> np.ndarray:
    """Every buffer (BatchNorm's running statistics and batch counters) concatenated in
    ``model.buffers()`` order as float64, ``(0,)`` for a model without buffers: the state a
    checkpoint keeps beside the parameters (float64 holds the int64 counters exactly below
    2**53).

    Example:
        >>> m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        >>> flat_buffers(m).tolist()  # running mean, running var, batches tracked
        [0.0, 0.0, 1.0, 1.0, 0.0]
    """
    parts = [b.detach().cpu().reshape(-1).to(torch.float64) for b in model.buffers()]
    return torch.cat(parts).numpy() if parts else np.zeros(0, np.float64)


def set_flat_buffers(model: nn.Module, vec) -> None:
    """Copy a :func:`flat_buffers` vector back into the buffers, each in its own dtype."""
    vec = np.asarray(vec, dtype=np.float64)
    want = sum(b.numel() for b in model.buffers())
    if vec.ndim != 1 or vec.size != want:
        raise ValueError(f"vec must be a 1-D vector of the model's {want} buffer entries, got "
                         f"shape {vec.shape}")
    offset = 0
    with torch.no_grad():
        for b in model.buffers():
            n = b.numel()
            b.copy_(torch.from_numpy(vec[offset : offset + n].copy()).view_as(b).to(b.dtype))
            offset += n


def flat_grad(model: nn.Module) -> torch.Tensor:
    """All ``.grad`` concatenated in ``parameters()`` order: a ``(d,)`` copy.

    A parameter whose ``.grad`` is None (not reached by the backward pass)
    contributes zeros.
    """
    parts = []
    for p in model.parameters():
        g = p.grad
        if g is None:
            parts.append(torch.zeros(p.numel(), dtype=p.dtype, device=p.device))
        else:
            parts.append((g.to_dense() if g.layout != torch.strided else g).reshape(-1))
    return torch.cat(parts).detach().clone()
