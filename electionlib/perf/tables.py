"""The measured tables: the server's aggregation cost beside the memory-bandwidth anchors,
the worker's encode cost beside its gradient, exhaustive verification and Monte-Carlo
throughput. Each returns a tidy ``pandas.DataFrame``; nothing asserts an absolute time."""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .. import _validate as v
from .. import aggregators, codes, draco, gradients, montecarlo, tolerance
from .. import votes as V
from .._progress import progress as _bar
from ..config import TrainConfig
from .timing import _grad_encode_times, median_time

#: Every rule :func:`aggregation_table` knows, in the order it runs them.
AGG_RULES: tuple[str, ...] = (
    "majority", "copy_packed", "copy_float32",   # the vote and the memory-copy anchors
    *aggregators.NAMES,                           # every robust rule, in the registry's order
    "draco_repetition", "draco_cyclic",
)
#: Rules whose input is the packed 1-bit votes (``n * ceil(d/8)`` bytes).
_PACKED_RULES = ("majority", "copy_packed")
#: Rules that work column by column, so that ``d`` may be processed in chunks.
_SEPARABLE = ("majority", "copy_packed", "copy_float32", "mean", "median", "trimmed_mean")
_DRACO = {"draco_repetition": "repetition", "draco_cyclic": "cyclic"}

#: Columns of :func:`aggregation_table`.
AGG_COLUMNS = [
    "rule", "n", "d", "f", "params", "seconds", "min_seconds", "repeats", "status", "reason",
    "input_bytes",
]

_TARGET_N, _TARGET_D = 15, 11_000_000  # where the project states its majority targets

# --------------------------------------------------------------------------- aggregation


def _max_f(rule: str, n: int) -> int | None:
    """Largest f <= (n-1)//2 the aggregator ``rule`` accepts with n rows (None if none)."""
    for f in range((n - 1) // 2, -1, -1):
        try:
            if aggregators.requires(rule, f) <= n:
                return f
        except ValueError:  # mean with f >= 1
            continue
    return None


def _draco_s(kind: str, n: int) -> int | None:
    """Largest s >= 1, s <= (n-1)//2, for which the DRACO code exists with P = n workers.

    Repetition needs groups of r = 2s + 1 workers dividing n; cyclic needs n >= 2s + 1.
    """
    for s in range((n - 1) // 2, 0, -1):
        if kind == "cyclic" or n % (2 * s + 1) == 0:
            return s
    return None


def _cap_units(rule: str, n: int, d: int) -> float:
    """What the memory cap ``max_floats`` is compared with for one case.

    Float rules: ``n * d`` float32 values. Packed votes: ``n * ceil(d/8)`` bytes (bits / 8).
    DRACO cyclic: its complex128 messages count as 4 float32 values each (bytes / 4).
    """
    if rule in _PACKED_RULES:
        return float(n * ((d + 7) // 8))
    if rule == "draco_cyclic":
        return 4.0 * n * d
    return float(n * d)


def _input_bytes(rule: str, n: int, d: int) -> int:
    if rule in _PACKED_RULES:
        return n * ((d + 7) // 8)
    if rule == "draco_cyclic":
        return 16 * n * d
    return 4 * n * d


class _Inputs:
    """The inputs of one (n, width) case, drawn lazily once and shared by all rules.

    ``packed``: uniformly random bits, i.e. the packed votes of random +-1 signs
    (padding bits zero); ``floats``: standard Gaussian float32 ``(n, width)``.
    """

    def __init__(self, n: int, width: int, seed: int):
        self.n, self.width, self.seed = n, width, seed
        self._packed: np.ndarray | None = None
        self._floats: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._packed, self._floats) if a is not None)

    @property
    def packed(self) -> np.ndarray:
        if self._packed is None:
            rng = np.random.default_rng([self.seed, self.n, self.width, 0])
            p = rng.integers(0, 256, size=(self.n, (self.width + 7) // 8), dtype=np.uint8)
            p[:, -1] &= V._tail_mask(self.width)
            self._packed = p
        return self._packed

    @property
    def floats(self) -> np.ndarray:
        if self._floats is None:
            rng = np.random.default_rng([self.seed, self.n, self.width, 1])
            self._floats = rng.standard_normal((self.n, self.width), dtype=np.float32)
        return self._floats


def _kernel(rule: str, n: int, f: int, inp: _Inputs) -> tuple[Callable[[int], object], str]:
    """``(call(width), params)``: one aggregation of the first ``width`` columns of ``inp``."""
    W = inp.width

    def cols(a: np.ndarray, w: int, packed: bool = False) -> np.ndarray:
        end = (w + 7) // 8 if packed else w
        return a if end == a.shape[1] else a[:, :end]

    if rule == "majority":
        P = inp.packed
        return (lambda w: V.majority(cols(P, w, True), w)), "packed 1-bit votes"
    if rule == "copy_packed":
        P = inp.packed
        dst = np.empty_like(P)
        return (lambda w: np.copyto(cols(dst, w, True), cols(P, w, True))), "np.copyto"
    if rule == "copy_float32":
        X = inp.floats
        dst = np.empty_like(X)
        return (lambda w: np.copyto(cols(dst, w), cols(X, w))), "np.copyto"
    if rule in _DRACO:
        kind = _DRACO[rule]
        X = inp.floats
        if kind == "repetition":
            code = draco.repetition(n, f)
            msgs = code.encode(X)  # float32 group sums: identical within each group
        else:
            code = draco.cyclic(n, f)
            # A valid codeword without the O(r n d) encoding: encode a block of columns and
            # tile it along d (columns are independent; the decoder's work does not depend
            # on the values, only on their shape and on the absence of adversaries).
            c = min(W, 8192)
            small = code.encode(X[:, :c])
            msgs = np.empty((n, W), dtype=np.complex128)
            for c0 in range(0, W, c):
                w = min(c, W - c0)
                msgs[:, c0 : c0 + w] = small[:, :w]
        return (lambda w: code.decode(msgs)), f"s={f}, r={2 * f + 1}, honest messages"

    cls = aggregators.REGISTRY[rule]
    params = {"f": f} if "f" in cls.PARAMS else {}
    agg = aggregators.get(rule, **params)
    X = inp.floats
    desc = ", ".join(f"{k}={val}" for k, val in agg._params().items()) or "-"
    if rule == "centered_clipping":
        desc += " (stateful: timed calls start from the previous output)"
    return (lambda w: agg(cols(X, w))), desc


def _timeout_blocker(timeouts: dict, rule: str, n: int, d: int) -> str | None:
    for n2, d2, t in timeouts.get(rule, ()):
        if n2 <= n and d2 <= d:
            return f"a smaller case (n={n2}, d={d2:,}) took {t:.3g} s"
    return None


def _predicted(done: dict, rule: str, n: int, d: int) -> tuple[float, int, int, float] | None:
    """Linear-in-(n d) extrapolation from the largest smaller case of the same rule that ran.

    Every rule reads all ``n d`` input values, so this is a lower bound on the cost of the
    larger case, except when the smaller case is dominated by fixed overheads: only cases
    that took at least 10 ms are used. ``done`` holds ``(n, d, seconds)`` per rule: the
    fastest timed call of each case that ran (the first call of one that timed out).
    """
    best = None
    for n2, d2, t in done.get(rule, ()):
        if n2 <= n and d2 <= d and t >= 0.01 and (best is None or n2 * d2 > best[1] * best[2]):
            best = (t * (n * d) / (n2 * d2), n2, d2, t)
    return best


def aggregation_table(
    ns: Sequence[int] = (5, 9, 15, 49, 101),
    ds: Sequence[int] = (263_500, 1_000_000, 11_000_000),
    rules: Sequence[str] | None = None,
    repeats: int = 5,
    max_floats: float = 2e8,
    time_limit: float = 60.0,
    chunk: int | None = None,
    seed: int = 0,
    progress: bool = True,
    budget: float | None = None,
) -> pd.DataFrame:
    """Master-side cost of aggregating n messages of dimension d, every rule on the same inputs.

    Rules (:data:`AGG_RULES`): ``majority`` (:func:`electionlib.votes.majority` on packed
    1-bit votes), ``copy_packed`` and ``copy_float32`` (``np.copyto`` of the packed votes /
    of the float32 ``(n, d)`` array into a preallocated array: the memory-bandwidth
    anchors), the aggregators of :mod:`electionlib.aggregators` on the float32 array, and
    the DRACO decoders (``draco_repetition``, ``draco_cyclic``; decoding only, on honest
    messages encoded from the same float32 array).

    Parameters of the rules, chosen per n and recorded in ``f`` and ``params``:

    * ``f`` given to a rule is the largest value it accepts with n rows, capped at
      ``(n-1)//2`` (:func:`electionlib.aggregators.requires`): ``(n-1)//2`` for median,
      trimmed mean, geometric median, centered clipping and BrSGD, ``(n-3)//2`` for
      (Multi-)Krum, ``(n-3)//4`` for Bulyan, 0 for the mean. Only rules configured by f
      receive it; for the others it is the number of Byzantine rows they tolerate.
      ``majority`` records ``(n-1)//2`` (an honest majority), the copies 0;
    * DRACO: ``s = f`` is the largest ``s >= 1`` the code supports with ``P = n``: repetition
      needs groups of ``2s+1`` dividing n, cyclic needs ``n >= 2s+1``. For odd n both give
      ``s = (n-1)//2`` (one group of n for repetition). Where no ``s >= 1`` exists the
      case is skipped with that reason;
    * other parameters are the defaults of :func:`electionlib.aggregators.get`.
      ``centered_clipping`` is stateful: the warm-up call starts from the median, the timed
      calls from the previous output, which is its per-step cost in training.

    Inputs: random +-1 signs (packed) and standard Gaussian float32 values, drawn once per
    ``(n, d)`` from ``seed`` and shared by all rules; freed before the next ``(n, d)``.

    Memory cap: a case whose size exceeds ``max_floats`` is skipped (status ``skipped``,
    reason printed and recorded). The size is ``n*d`` float32 values for float rules,
    ``n*ceil(d/8)`` bytes for the packed rules (so ``majority`` and ``copy_packed`` still run
    at n = 101, d = 1.1e7), and ``4*n*d`` for ``draco_cyclic`` (complex128 messages). With
    ``chunk`` set, the column-wise rules (majority, copies, mean, median, trimmed mean)
    process such a case as ``ceil(d/chunk)`` blocks of ``chunk`` columns (one block of
    inputs reused; the time is that of the whole loop; ``reason`` says so).

    Time limit: the first call of a case is its warm-up and its estimate. If it takes more
    than ``time_limit`` seconds the case is recorded with that time and status
    ``timeout`` and not repeated; every larger case of the same rule (n and d both at
    least as large) is then skipped ("a smaller case took X s"), as is any case whose
    time, extrapolated linearly in ``n*d`` from the fastest call of a smaller case of the
    same rule that took at least 10 ms, exceeds ``time_limit`` ("predicted ..."; every rule
    here is at least linear in ``n*d``, so this is a lower bound up to timing noise).
    Otherwise the case is timed
    ``repeats`` times, or until ``budget`` seconds (default ``time_limit``) are spent.

    Args:
        ns, ds: numbers of messages and dimensions.
        rules: subset of :data:`AGG_RULES` (default all).
        repeats: timed repeats per case (after the warm-up), >= 1.
        max_floats: memory cap of one case (see above).
        time_limit: seconds (see above), >= 0.
        chunk: columns per block for oversized column-wise cases, or None (skip them).
        seed: seed of the inputs.
        progress: show a progress bar.
        budget: seconds of timed repeats per case (default ``time_limit``).

    Returns:
        One row per (rule, n, d) with the columns :data:`AGG_COLUMNS`: ``seconds`` (median),
        ``min_seconds``, ``repeats`` (timed calls), ``status`` (``ok``, ``timeout``,
        ``skipped``), ``reason`` (why skipped/timed out, or how it was chunked),
        ``input_bytes`` (bytes of the rule's input message array for the full d).

    Example:
        >>> t = aggregation_table(ns=(5,), ds=(64,), rules=("majority", "median"),
        ...                       repeats=1, progress=False)
        >>> t[["rule", "n", "d", "f", "status"]].values.tolist()
        [['majority', 5, 64, 2, 'ok'], ['median', 5, 64, 2, 'ok']]
    """
    rules = tuple(AGG_RULES if rules is None else rules)
    for r in rules:
        v.choice("rule", r, AGG_RULES)
    ns = [v.integer("n", n, lo=1) for n in ns]
    ds = [v.integer("d", d, lo=1) for d in ds]
    repeats = v.integer("repeats", repeats, lo=1)
    max_floats = v.real("max_floats", max_floats, lo=0.0)
    time_limit = v.real("time_limit", time_limit, lo=0.0)
    budget = time_limit if budget is None else v.real("budget", budget, lo=0.0)
    if chunk is not None:
        chunk = -(-v.integer("chunk", chunk, lo=1) // 8) * 8  # whole bytes of packed votes
    cases = [(d, n, rule) for d in sorted(set(ds)) for n in sorted(set(ns)) for rule in rules]
    rows: list[dict] = []
    timeouts: dict[str, list] = {}
    done: dict[str, list] = {}
    inputs: dict[tuple[int, int], _Inputs] = {}
    current = None
    for d, n, rule in _bar(cases, len(cases), "aggregation", progress):
        if (n, d) != current:  # free the previous (n, d)'s arrays before drawing new ones
            current = (n, d)
            _free(inputs)
        row = _agg_case(rule, n, d, repeats, max_floats, time_limit, budget, chunk, seed,
                        timeouts, done, inputs)
        if row["status"] == "skipped":
            print(f"skip {rule} n={n} d={d:,}: {row['reason']}", flush=True)
        elif row["status"] == "timeout":
            print(f"timeout {rule} n={n} d={d:,}: {row['reason']}", flush=True)
        rows.append(row)
    _free(inputs)
    return pd.DataFrame(rows, columns=AGG_COLUMNS)


def _free(inputs: dict) -> None:
    """Drop the inputs; collect garbage only after big arrays (a collection costs ~0.1 s)."""
    big = sum(inp.nbytes for inp in inputs.values()) >= 1 << 28
    inputs.clear()
    if big:
        gc.collect()


def _agg_case(rule, n, d, repeats, max_floats, time_limit, budget, chunk, seed, timeouts,
              done, inputs) -> dict:
    """Measure one (rule, n, d) case; see :func:`aggregation_table`."""
    row = {"rule": rule, "n": n, "d": d, "f": 0, "params": "", "seconds": np.nan,
           "min_seconds": np.nan, "repeats": 0, "status": "skipped", "reason": "",
           "input_bytes": _input_bytes(rule, n, d)}
    if rule in _DRACO:
        f = _draco_s(_DRACO[rule], n)
        if f is None:
            need = "2s+1 dividing n" if rule == "draco_repetition" else "n >= 2s+1"
            row["reason"] = f"no s >= 1 for which the DRACO {_DRACO[rule]} code exists ({need})"
            return row
    elif rule == "majority":
        f = (n - 1) // 2
    elif rule.startswith("copy_"):
        f = 0
    else:
        f = _max_f(rule, n)
        if f is None:
            row["reason"] = f"{rule} cannot run with n={n} rows"
            return row
    row["f"] = f
    units = _cap_units(rule, n, d)
    width = d
    if units > max_floats:
        what = "bytes of packed votes" if rule in _PACKED_RULES else "float32 values"
        over = f"{units:.3g} {what} > max_floats={max_floats:.3g}"
        if chunk is None or rule not in _SEPARABLE or chunk >= d:
            row["reason"] = over
            return row
        width = chunk
        if _cap_units(rule, n, width) > max_floats:
            row["reason"] = f"{over}, and even one chunk of {chunk:,} columns is too big"
            return row
    blocker = _timeout_blocker(timeouts, rule, n, d)
    if blocker:
        row["reason"] = blocker
        return row
    pred = _predicted(done, rule, n, d)
    if pred is not None and pred[0] > time_limit:
        t_pred, n2, d2, t2 = pred
        row["reason"] = (f"predicted >= {t_pred:.3g} s > time_limit={time_limit:g} s (scaled "
                         f"linearly in n*d from n={n2}, d={d2:,}, which took {t2:.3g} s)")
        return row
    key = (n, width) if width == d else (n, width, "chunk")
    if key not in inputs:
        _free(inputs)
        inputs[key] = _Inputs(n, width, seed)
    try:
        call, params = _kernel(rule, n, f, inputs[key])
    except MemoryError:
        row["reason"] = "out of memory while preparing the inputs"
        return row
    row["params"] = params
    if width == d:
        def fn():
            return call(d)
    else:
        widths = [width] * (d // width) + ([d % width] if d % width else [])
        row["reason"] = f"chunked: {len(widths)} blocks of {width:,} columns ({over})"

        def fn():
            for w in widths:
                call(w)
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter() - t0
    if t1 > time_limit:
        timeouts.setdefault(rule, []).append((n, d, t1))
        done.setdefault(rule, []).append((n, d, t1))
        row.update(seconds=t1, min_seconds=t1, repeats=1, status="timeout",
                   reason=f"first call took {t1:.3g} s > time_limit={time_limit:g} s")
        return row
    r = median_time(fn, repeats=repeats, warmup=0, budget=budget)
    done.setdefault(rule, []).append((n, d, r["min"]))  # the least noisy estimate
    row.update(seconds=r["seconds"], min_seconds=r["min"], repeats=r["repeats"], status="ok")
    return row



# --------------------------------------------------------------------------- worker side

#: model key -> (dataset, model name) for :func:`encode_table`.
_ENCODE_MODELS = {"lenet5": ("fmnist", "lenet"), "logreg": ("amazon", "logreg"),
                  "mlp": ("digits", "mlp")}
_ENCODE_FALLBACK = {"lenet5": "mlp"}


def encode_table(
    models: Sequence[str] = ("lenet5", "logreg"),
    rs: Sequence[int] = (1, 2, 3, 5),
    repeats: int = 30,
    warmup: int = 3,
    budget: float | None = 10.0,
    tie: str | None = None,
    threads: int = 1,
    seed: int = 0,
    progress: bool = True,
    compare_numpy: bool = True,
) -> pd.DataFrame:
    """Worker-side cost: local majority over r partitions + packing vs one partition's gradient.

    For each model, one step of the trainer's data pipeline (:class:`TrainConfig` defaults:
    batch 16 per partition, initial weights, seed ``seed``) gives ``max(rs)`` partition
    gradients. For each r, two functions are timed alternately (side by side):

    * the gradients of the worker's r partitions, one call of the trainer's gradient function
      each (as an MPI rank in parity mode), timed together and divided by r: the
      per-partition gradient time;
    * what a worker holding r partitions does before sending: :func:`votes.worker_vote` of
      its r gradients (signs with ``sign(0)`` by the tie rule, local majority, packed; the
      same bits as ``sign_bits`` + ``encode``), with the trainer's tie rule (default
      ``coin``) -- as the MPI worker does -- plus the concatenation of the presence mask
      under ``abstain``. It reads the gradients just computed (timed right after them), as a
      worker does; an encode of a stale array that the gradient evicted from the caches
      measured about twice as long.

    ``ratio = encode_seconds / grad_seconds_per_partition`` (the project's target: <= 0.05 for
    LeNet-5 and r <= 3). ``encoder`` says which encoder ran: ``numba`` (the compiled kernels
    of :mod:`electionlib._kernels`, used under ``coin`` when numba is available) or
    ``numpy``. With ``compare_numpy`` (default) and the compiled encoder in use, the numpy
    encoder is timed too, interleaved in the same loop, each after a fresh gradient:
    ``encode_seconds_numpy`` and ``ratio_numpy`` (NaN otherwise). Torch runs with
    ``threads`` threads (default 1, as an MPI rank), restored afterwards.

    Models: ``lenet5`` (LeNet-5 on Fashion-MNIST; if the dataset is not installed, MLP on
    the bundled ``digits`` instead, said in ``dataset`` and ``note``), ``logreg`` (logistic
    regression on the bundled Amazon data, d = 263,500), ``mlp`` (MLP on digits).

    Returns:
        Columns ``requested, model, dataset, d, r, batch, tie, encoder,
        grad_seconds_per_partition, encode_seconds, ratio, encode_seconds_numpy, ratio_numpy,
        repeats, note``.
    """
    import torch


    rs = [v.integer("r", r, lo=1) for r in rs]
    if not rs:
        raise ValueError("rs must hold at least one r")
    for m in models:
        v.choice("model", m, tuple(_ENCODE_MODELS))
    tie = TrainConfig().tie if tie is None else v.choice("tie", tie, V.TIE_RULES)
    threads = v.integer("threads", threads, lo=1)
    kernels_on = V.USE_KERNELS
    compiled = tie == "coin" and V._use_kernels()
    encoder = "numba" if compiled else "numpy"
    compare = bool(compare_numpy) and compiled
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for key in _bar(models, len(models), "encode", progress):
            ds_name, model = _ENCODE_MODELS[key]
            note = ""
            cfg = TrainConfig(dataset=ds_name, model=model, n=max(rs), tie=tie, seed=seed)
            try:
                fn, sampler, _, w, _ = gradients.setup(cfg)
            except FileNotFoundError as exc:
                if key not in _ENCODE_FALLBACK:
                    raise
                ds_name, model = _ENCODE_MODELS[_ENCODE_FALLBACK[key]]
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                note = (f"{cfg.dataset} not available ({first}); measured {model} on "
                        f"{ds_name} instead")
                print(f"encode_table: {note}", flush=True)
                cfg = dataclasses.replace(cfg, dataset=ds_name, model=model)
                fn, sampler, _, w, _ = gradients.setup(cfg)
            idx = sampler.next()
            d = fn.d
            for r in rs:
                gen = np.random.default_rng(seed)
                prngs = [np.random.default_rng([seed, j]) for j in range(r)]
                fresh: list = [None]

                def grad(fn=fn, w=w, idx=idx, r=r, fresh=fresh):
                    # the worker's r partition gradients, one call each (as an MPI rank in
                    # parity mode); the encode below reads them fresh, as a worker does
                    parts = [fn(w, idx[j : j + 1])[0] for j in range(r)]
                    fresh[0] = torch.cat(parts).numpy()

                def encode(gen=gen, prngs=prngs, fresh=fresh):
                    bits, pres = V.worker_vote(fresh[0], tie, partition_rngs=prngs, rng=gen)
                    return bits if pres is None else np.concatenate([bits, pres])

                def encode_numpy(gen=gen, prngs=prngs, fresh=fresh):
                    V.USE_KERNELS = False
                    try:
                        return encode(gen, prngs, fresh)
                    finally:
                        V.USE_KERNELS = kernels_on

                tg, (te, *tn) = _grad_encode_times(
                    grad, [encode, encode_numpy] if compare else [encode], repeats, warmup,
                    budget)
                tn = tn[0] if tn else None
                rows.append({
                    "requested": key, "model": "lenet5" if model == "lenet" else model,
                    "dataset": ds_name, "d": d, "r": r, "batch": idx.shape[1], "tie": tie,
                    "encoder": encoder,
                    "grad_seconds_per_partition": tg["seconds"] / r,
                    "encode_seconds": te["seconds"], "ratio": te["seconds"] * r / tg["seconds"],
                    "encode_seconds_numpy": tn["seconds"] if tn else np.nan,
                    "ratio_numpy": tn["seconds"] * r / tg["seconds"] if tn else np.nan,
                    "repeats": tg["repeats"], "note": note,
                })
    finally:
        torch.set_num_threads(old_threads)
    return pd.DataFrame(rows, columns=[
        "requested", "model", "dataset", "d", "r", "batch", "tie", "encoder",
        "grad_seconds_per_partition", "encode_seconds", "ratio", "encode_seconds_numpy",
        "ratio_numpy", "repeats", "note"])


# --------------------------------------------------------------------------- verification, MC


def verify_table(ns: Iterable[int] = tuple(range(5, 26, 2)), repeats: int = 3,
                 tie: str = "coin", progress: bool = True) -> pd.DataFrame:
    """Time of the exhaustive Lemma 2 check of Algorithm 1 at its largest b, vs n.

    For each odd n, ``b`` is the largest b Algorithm 1 supports (``0 < b < n//2``, i.e.
    ``b = n//2 - 1``; n without such b is left out) and the timed call is
    ``tolerance.verify(codes.deterministic(n, b), b, tie=tie)`` (the code is built once,
    outside the timing). The project's targets: n = 21 under 10 s, n = 25 under 2 minutes.

    Returns:
        Columns ``n, b, k, messages, method, seconds, min_seconds, repeats, certified``.

    Example:
        >>> verify_table(ns=(5, 7), repeats=1, progress=False)[["n", "b", "k", "certified"]]
           n  b  k  certified
        0  5  1  5       True
        1  7  2  7       True
    """
    repeats = v.integer("repeats", repeats, lo=1)
    ns = [v.integer("n", n, lo=1) for n in ns]
    rows = []
    for n in _bar(ns, len(ns), "verify", progress):
        if n % 2 == 0 or n // 2 - 1 < 1:
            print(f"verify_table: n={n} skipped (Algorithm 1 needs odd n >= 5)", flush=True)
            continue
        b = n // 2 - 1
        G = codes.deterministic(n, b)
        res: list = []
        t = median_time(lambda G=G, b=b, res=res: res.append(tolerance.verify(G, b, tie=tie)),
                        repeats=repeats, warmup=0)
        out = res[-1]
        rows.append({"n": n, "b": b, "k": G.shape[1], "messages": out.messages_checked,
                     "method": out.method, "seconds": t["seconds"], "min_seconds": t["min"],
                     "repeats": t["repeats"], "certified": bool(out.tolerant)})
    return pd.DataFrame(rows, columns=["n", "b", "k", "messages", "method", "seconds",
                                       "min_seconds", "repeats", "certified"])


def montecarlo_table(ns: Iterable[int] = (9, 15), trials: int = 100_000, S: float = 0.5,
                     repeats: int = 1, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Monte-Carlo throughput: coordinate-trials per second of both estimators.

    * ``fixed``: :func:`electionlib.montecarlo.estimate_fixed` on Algorithm 1's code for
      odd n and ``b = n//2 - 1``, workers ``0..b-1`` Byzantine (worst-case attack; the
      library's packed encoder, attack and decoder kernels);
    * ``ensemble``: :func:`electionlib.montecarlo.estimate_ensemble`, Bernoulli codes of
      expected redundancy 3 (``p = min(1, 3/n)``), the same b.

    Each trial is one gradient coordinate. One small warm-up run precedes the timed runs.

    Returns:
        Columns ``kind, n, b, trials, seconds, coord_trials_per_second``.

    Example:
        >>> t = montecarlo_table(ns=(5,), trials=1000, progress=False)
        >>> t[["kind", "n", "b", "trials"]].values.tolist()
        [['fixed', 5, 1, 1000], ['ensemble', 5, 1, 1000]]
    """
    trials = v.integer("trials", trials, lo=1)
    repeats = v.integer("repeats", repeats, lo=1)
    ns = [v.integer("n", n, lo=5) for n in ns]
    for n in ns:
        if n % 2 == 0:
            raise ValueError(f"n={n} must be odd (Algorithm 1's code is the fixed code)")
    rows = []
    for n in _bar(ns, len(ns), "montecarlo", progress):
        b = n // 2 - 1
        G = codes.deterministic(n, b)
        byz = list(range(b))
        p = min(1.0, 3.0 / n)
        kinds = {
            "fixed": lambda t, G=G, byz=byz: montecarlo.estimate_fixed(
                G, byz, S, trials=t, seed=seed),
            "ensemble": lambda t, n=n, b=b, p=p: montecarlo.estimate_ensemble(
                n, n, p, b, S, trials=t, seed=seed),
        }
        for kind, run in kinds.items():
            run(min(trials, 2048))  # warm-up
            t = median_time(lambda run=run: run(trials), repeats=repeats, warmup=0)
            rows.append({"kind": kind, "n": n, "b": b, "trials": trials,
                         "seconds": t["seconds"],
                         "coord_trials_per_second": trials / t["seconds"]})
    return pd.DataFrame(rows, columns=["kind", "n", "b", "trials", "seconds",
                                       "coord_trials_per_second"])


