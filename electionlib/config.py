"""A training run's configuration and what follows from it alone: its random streams, its
allocation ``G`` and the rule or code it aggregates with.

Both backends (:mod:`electionlib.train`'s ``sim`` loop and :mod:`electionlib.mpi_backend`)
and :mod:`electionlib.schemes` build a run from these functions, so that each is defined once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from . import _validate as v
from . import aggregators, codes, data, draco, models, optimal, sampling
from . import attacks as A
from . import votes as V

__all__ = ["TrainConfig", "VOTE_CODES", "DRACO_CODES", "MOMENTA", "LATE_FIELDS", "streams",
           "code_stream", "partition_rngs", "allocation", "agg_callable", "draco_code",
           "DEVICES", "BYZ_SELECT", "byzantine_set", "OPTIMAL_CODES"]

VOTE_CODES = ("uncoded", "bernoulli", "deterministic", "optimal", "optimal-load")
#: The stored minimum-redundancy codes (:mod:`electionlib.optimal`): code -> the objective
#: they minimise (the total ones, or the largest row weight then the ones).
OPTIMAL_CODES = {"optimal": "ones", "optimal-load": "max_load"}
DRACO_CODES = ("draco-repetition", "draco-cyclic")
MOMENTA = ("server", "worker", "none")
DEVICES = ("cpu", "cuda")
BYZ_SELECT = ("random", "worst", "first", "omniscient")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (its hash names the result folder).

    Attributes (defaults in brackets):
        dataset ["digits"], model [None: the dataset's default], subsample [None]: training
            examples kept, test_subsample [None]: test examples used for evaluation.
        n [9] workers, b [0] Byzantine workers, k [None: n] data partitions.
        code ["uncoded"]: ``uncoded``, ``bernoulli`` (with ``r`` = E[r] or ``p``),
            ``deterministic`` (Algorithm 1 designed for ``design_b``, default ``b``),
            ``optimal`` / ``optimal-load`` (the stored code with the fewest ones, or the
            smallest maximum load, that is perfectly ``design_b``-tolerant with odd rows:
            :func:`electionlib.optimal.stored_code`),
            ``draco-repetition``, ``draco-cyclic`` (designed for ``design_b``, default b).
        aggregator [None]: a full-precision rule of :mod:`electionlib.aggregators`
            (uncoded allocation); ``agg_params``: its parameters as ``((name, value), ...)``.
        attack ["none"]: a vote attack (vote schemes) or a gradient attack (others).
        byz_select ["random"|"worst"|"first"|"omniscient"], byz_redraw [False]: new set every
            step (``random`` only). ``omniscient``: the allocation-aware adversary's set, the
            ``b`` workers whose worst-case votes maximise the master's exact error for the
            run's ``G`` (:func:`byzantine_set`), fixed for the run.
        momentum ["server"], eta [0.9], weight_decay [0].
        tie ["coin"]: sign(0) and local-tie rule (``plus``, ``coin``, ``abstain``).
        rho [1.0]: batch reduction (supplement A.4), noise_var [0] (A.5), quant_bits [1].
        lr [1e-3], lr_decay_epochs [()], lr_decay [0.1]; batch [16] per partition;
        epochs [1.0]; eval_every [0.25] epochs; seed [0]; bandwidth [1e9] bit/s (model).
        device ["cpu"]: where the model's gradients and evaluation run (``"cuda"`` for
        paper-scale runs on a GPU: CIFAR-10 and ResNet-18). Votes, attacks and decoding
        run on the CPU (numpy) whatever the device; so does the sparse logistic regression.
        partition ["iid"]: how the training examples are split into the ``k`` partitions
        (:func:`electionlib.sampling.partition`): ``iid`` (the paper's), ``dirichlet`` (with
        ``alpha``: per-class proportions from Dir(alpha)) or ``shards`` (with
        ``labels_per_partition``); both backends split the same way.
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
    device: str = "cpu"
    partition: str = "iid"
    alpha: float | None = None
    labels_per_partition: int | None = None

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
            v.choice("aggregator", self.aggregator, aggregators.NAMES)
        _check_pairs("agg_params", self.agg_params)
        if self.aggregator is not None:
            aggregators.get(self.aggregator, **dict(self.agg_params))  # names and ranges
        elif self.agg_params:
            raise ValueError(f"agg_params={self.agg_params!r} needs an aggregator")
        v.choice("momentum", self.momentum, MOMENTA)
        v.choice("tie", self.tie, V.TIE_RULES)
        v.choice("byz_select", self.byz_select, BYZ_SELECT)
        if self.byz_select == "omniscient":
            kk = self.k if self.k is not None else self.n
            if not (self.aggregator is None and self.code in VOTE_CODES) or kk % 2 == 0 \
                    or kk > 22 or self.byz_redraw:
                raise ValueError(f"byz_select='omniscient' (the allocation-aware set, chosen "
                                 f"once by exact enumeration) needs a vote scheme with an odd "
                                 f"number of partitions k <= 22 and no byz_redraw; got "
                                 f"code={self.code!r}, aggregator={self.aggregator!r}, k={kk}, "
                                 f"byz_redraw={self.byz_redraw}")
        v.boolean("byz_redraw", self.byz_redraw)
        v.choice("empty_rows", self.empty_rows, codes.EMPTY_ROW_RULES)
        if self.code_seed is not None:
            v.integer("code_seed", self.code_seed, lo=0)
        if self.amazon_rows is not None:
            if self.dataset != "amazon":
                raise ValueError(f"amazon_rows={self.amazon_rows} applies to dataset='amazon' "
                                 f"only, got dataset={self.dataset!r}")
            v.integer("amazon_rows", self.amazon_rows, lo=1, hi=32768)
        # whether this machine has the device is checked where a run starts
        # (electionlib.gradients.check_device): a config of a GPU run is still data here
        v.choice("device", self.device, DEVICES)
        v.choice("partition", self.partition, sampling.PARTITION_SCHEMES)
        if (self.partition == "dirichlet") != (self.alpha is not None):
            raise ValueError(f"alpha={self.alpha!r} goes with partition='dirichlet' (and is "
                             f"required there), got partition={self.partition!r}")
        if self.alpha is not None:
            # one float for one split: alpha=1 and alpha=1.0 name the same stored run
            a = math.inf if sampling._is_inf(self.alpha) else v.real(
                "alpha", self.alpha, lo=0.0, lo_open=True)
            object.__setattr__(self, "alpha", a)
        if (self.partition == "shards") != (self.labels_per_partition is not None):
            raise ValueError(f"labels_per_partition={self.labels_per_partition!r} goes with "
                             f"partition='shards' (and is required there), got "
                             f"partition={self.partition!r}")
        if self.labels_per_partition is not None:
            v.integer("labels_per_partition", self.labels_per_partition, lo=1)
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
LATE_FIELDS = {"empty_rows": "keep", "code_seed": None, "amazon_rows": None, "device": "cpu",
               "partition": "iid", "alpha": None, "labels_per_partition": None}


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



def streams(seed: int) -> dict:
    """The run's named random streams (``SeedSequence`` children of ``seed``)."""
    ss = np.random.SeedSequence(seed)
    # appended names keep the earlier streams unchanged (SeedSequence children are by index)
    names = ["data", "sampler", "model", "code", "byz", "noise", "workers", "eval", "partitions"]
    return dict(zip(names, ss.spawn(len(names)), strict=True))


def partition_rngs(streams: dict, k: int) -> list[np.random.Generator]:
    """One Generator per data partition (its coin flips for ``sign(0)`` under ``tie='coin'``).

    Every worker that holds partition ``j`` draws the same coins from its own copy of
    stream ``j``, so the sim and mpi backends agree bit for bit.
    """
    return [np.random.default_rng(s) for s in streams["partitions"].spawn(k)]


def allocation(cfg: TrainConfig, k: int, rng) -> np.ndarray:
    """The run's allocation ``G`` ``(n, k)`` for a vote scheme (``rng``: its code stream)."""
    if cfg.code == "uncoded":
        if k != cfg.n:
            raise ValueError(f"code='uncoded' needs k = n, got k={k}, n={cfg.n}")
        return codes.uncoded(cfg.n)
    if cfg.code == "bernoulli":
        if cfg.p is None and cfg.r is None:
            raise ValueError("code='bernoulli' needs r (expected load) or p")
        p = cfg.p if cfg.p is not None else float(cfg.r or 0.0) / cfg.n
        v.real("p (= r/n)", p, lo=0.0, hi=1.0)
        return codes.bernoulli(cfg.n, p, k=k, rng=rng, empty_rows=cfg.empty_rows)
    if cfg.code == "deterministic":
        if k != cfg.n:
            raise ValueError(f"code='deterministic' needs k = n, got k={k}, n={cfg.n}")
        return codes.deterministic(cfg.n, cfg.design_b if cfg.design_b is not None else cfg.b)
    if cfg.code in OPTIMAL_CODES:
        return optimal.stored_code(cfg.n, cfg.design_b if cfg.design_b is not None else cfg.b,
                                   k, objective=OPTIMAL_CODES[cfg.code])
    raise AssertionError(cfg.code)


def agg_callable(cfg: TrainConfig):
    """The run's robust aggregation rule (an instance: a stateful rule keeps its state)."""
    if cfg.aggregator is None:
        raise ValueError("agg_callable needs cfg.aggregator (a rule of "
                         "electionlib.aggregators), got None")
    return aggregators.get(cfg.aggregator, **dict(cfg.agg_params))


def draco_code(cfg: TrainConfig):
    """The run's DRACO code (``design_b`` adversaries if set, else ``b``)."""
    s = cfg.design_b if cfg.design_b is not None else cfg.b
    if cfg.code == "draco-repetition":
        return draco.repetition(cfg.n, s)
    return draco.cyclic(cfg.n, s)


#: Byzantine sets of size at most this many candidates are chosen by exhaustive search under
#: ``byz_select="omniscient"``; above it, by the greedy search with 1-swaps.
OMNISCIENT_MAX_SETS = 500


def byzantine_set(cfg: TrainConfig, G: np.ndarray, rng) -> np.ndarray:
    """The run's Byzantine workers for allocation ``G`` (``rng``: the run's ``byz`` stream).

    ``random``, ``worst`` (most loaded) and ``first`` are
    :func:`electionlib.attacks.byzantine_set`. ``omniscient`` is the allocation-aware
    adversary: knowing ``G``, it corrupts the ``b`` workers that maximise the exact
    probability that the master's decision differs from the partition majority when they
    send the reverse of it, with fair-coin partition signs (``S = 0``: it knows the code, not
    the data) -- :func:`electionlib.attacks.worst_byzantine_set`, exhaustive up to
    :data:`OMNISCIENT_MAX_SETS` candidate sets, greedy above. It draws nothing from ``rng``.
    With ``attack="worst"`` it then sends, per step and coordinate, the reverse of the true
    majority, which maximises the error for its set (the master's count is monotone in every
    vote). It applies to vote schemes only (checked by :class:`TrainConfig`).
    """
    if cfg.byz_select != "omniscient":
        return A.byzantine_set(G, cfg.b, select=cfg.byz_select, rng=rng)
    G = np.asarray(G, np.uint8)
    if cfg.b == 0:
        return np.zeros(0, np.int64)
    if G.shape[1] % 2 == 0:
        raise ValueError(f"byz_select='omniscient' needs an odd number of partitions, got "
                         f"k={G.shape[1]}")
    return np.asarray(_omniscient(G.tobytes(), G.shape, cfg.b, cfg.tie), np.int64)


@functools.lru_cache(maxsize=64)
def _omniscient(raw: bytes, shape: tuple, b: int, tie: str) -> tuple:
    G = np.frombuffer(raw, np.uint8).reshape(shape)
    return A.worst_byzantine_set(G, b, S=0.0, tie=tie, max_sets=OMNISCIENT_MAX_SETS)[0]
