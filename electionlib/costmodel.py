"""A cost model of one training step at cluster scale, fitted on this machine's benchmarks.

One step of a parameter-server round (Section 2 of the election-coding paper; DRACO and the
robust aggregators on the same harness) costs

``T = compute + encode + upload + aggregate + broadcast``, with

* ``compute = load * t_partition``: a worker computes ``load`` partition gradients (1 for the
  uncoded schemes and the float aggregators, ``r`` for an election code with redundancy
  ``r``, ``2s + 1`` for DRACO's repetition code and ``s + 1`` for its cyclic code); the
  slowest worker sets the pace;
* ``encode = e * load * d``: local majority + packing, linear in the partition signs it
  reads (``e`` seconds per coordinate-partition, measured by :func:`perf.encode_table`);
  full-precision rules have no encode step;
* ``upload = n * up_bits * d / bandwidth``: the ``n`` messages cross the server's link one
  after another (one NIC at the server);
* ``aggregate = c * n**a * d**b``: the server's rule, fitted on the measured
  ``perf.aggregation_table`` (:func:`electionlib.perf.fit_power`);
* ``broadcast = ceil(log2(n + 1)) * down_bits * d / bandwidth``: a binomial-tree broadcast
  (what MPI's ``Bcast`` does for large messages is at least this good).

Wire formats are the schemes' (:func:`wire_bits`; the frame headers are left out): votes 1
bit up (2 with the ``abstain`` rule) and 2 bits down (value + "moves" mask: tied coordinates
do not move); float32 rules 32 bits both ways; DRACO repetition 64 bits up (float64, so that
its decoder is exact) and cyclic 128 (complex128).
Memory at the server: the rules that need all ``n`` messages at once (median, Krum, ...)
hold ``n * d`` values; the mean and the majority can accumulate as the messages arrive
(``d`` counters of ``ceil(log2(n + 1))`` bits for the majority), which is what the
``server_memory_bytes`` column reports.

Every number here is an extrapolation from a fit: :func:`holdout` checks the fits against
measured points left out of them before they are trusted at 1,000 workers and ``d = 10^9``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import _validate as v
from . import perf, schemes

__all__ = ["WIRE_BITS", "wire_bits", "STREAMING", "CostModel", "holdout", "scale_table",
           "crossover"]

_RULES = ("majority", "mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan",
          "geometric_median", "centered_clipping", "brsgd", "draco_repetition", "draco_cyclic")


def wire_bits(rule: str, tie: str = "plus") -> tuple[float, float]:
    """Bits per coordinate of one worker's message and of the update sent back, read off the
    rule's scheme (:mod:`electionlib.schemes`, the one definition of the wire formats) at a
    dimension where the packing's padding vanishes.

    Example:
        >>> wire_bits("majority"), wire_bits("majority", "abstain"), wire_bits("draco_cyclic")
        ((1.0, 2.0), (2.0, 2.0), (128.0, 32.0))
    """
    d = 8 * 1024
    if rule == "majority":
        sch = schemes.ElectionVote(np.ones((1, 1), np.uint8), d, tie=tie)
    elif rule in ("draco_repetition", "draco_cyclic"):
        sch = schemes.Draco(rule.split("_")[1], d, n=3, s=1)
    else:
        sch = schemes.RobustAggregate(1, d, "mean")
    return 8 * sch.message_bytes / d, 8 * sch.update_bytes / d


#: (bits per coordinate up, bits per coordinate down) of each rule's messages, as sent here
#: (:func:`wire_bits`). The model leaves out each frame's fixed header
#: (:data:`electionlib.schemes.HEADER_BYTES` up, ``DOWN_HEADER_BYTES`` down): 16 and 24 bytes
#: a message, 0.21% of a vote at the paper's smallest model (LeNet-5, d = 61,706: 7,714 bytes).
WIRE_BITS = {r: wire_bits(r) for r in _RULES}

#: Rules whose server can fold messages in as they arrive (O(d) memory, not O(n d)).
STREAMING = frozenset({"majority", "mean"})


def _load(rule: str, n: int, r: float, s: int | None) -> float:
    """Partitions per worker: election codes ``r``, DRACO ``2s+1`` / ``s+1``, else 1."""
    if rule == "majority":
        return float(r)
    if rule in ("draco_repetition", "draco_cyclic"):
        s = max(1, (n - 1) // 2 if s is None else s)
        return float(2 * s + 1 if rule == "draco_repetition" else s + 1)
    return 1.0


class CostModel:
    """Per-step cost terms for a rule at ``(n, d)`` over a link of ``bandwidth`` bit/s.

    Args:
        fits: ``{rule: perf.PowerFit}`` (e.g. from :meth:`from_table`); an exponent that is
            NaN (its variable was not varied in the fit) makes extrapolation in it NaN.
        encode_per_coordinate: seconds per coordinate and partition of the worker's encode.
        t_partition: seconds of one partition's gradient (the compute term's unit).

    Example:
        >>> m = CostModel({"mean": perf.PowerFit(1e-9, 1.0, 1.0, 1.0)})
        >>> t = m.step("mean", n=10, d=1000, bandwidth=1e9)
        >>> round(t["aggregate"], 12), t["upload"] == 10 * 32 * 1000 / 1e9
        (1e-05, True)
    """

    def __init__(self, fits: dict, encode_per_coordinate: float = 0.0,
                 t_partition: float = 0.0):
        self.fits = dict(fits)
        self.e = v.real("encode_per_coordinate", encode_per_coordinate, lo=0.0)
        self.t_partition = v.real("t_partition", t_partition, lo=0.0)

    @classmethod
    def from_table(cls, agg: pd.DataFrame, **kw) -> CostModel:
        """Fit every rule of a :func:`perf.aggregation_table` (rows with status ``ok``)."""
        rules = [r for r in dict.fromkeys(agg["rule"]) if r in WIRE_BITS]
        return cls({r: perf.fit_power(agg, r) for r in rules}, **kw)

    def aggregate(self, rule: str, n: float, d: float) -> float:
        """Fitted server time of ``rule`` on ``n`` messages of ``d`` coordinates."""
        if rule not in self.fits:
            raise ValueError(f"rule={rule!r} has no fit; fitted rules: {sorted(self.fits)}")
        c, a, b, _ = self.fits[rule]
        return float(c * n**a * d**b)

    def step(self, rule: str, *, n: int, d: float, bandwidth: float, r: float = 1.0,
             s: int | None = None, tie: str = "plus") -> dict:
        """The cost terms of one step (seconds), their total, the dominant term and the
        server's memory for the messages (bytes)."""
        v.integer("n", n, lo=1)
        v.real("d", d, lo=1.0)
        v.real("bandwidth", bandwidth, lo=0.0, lo_open=True)
        up, down = wire_bits(rule, tie) if rule in WIRE_BITS else (32.0, 32.0)
        load = _load(rule, n, r, s)
        terms = {
            "compute": load * self.t_partition,
            "encode": self.e * load * d if rule == "majority" else 0.0,
            "upload": n * up * d / bandwidth,
            "aggregate": self.aggregate(rule, n, d),
            "broadcast": math.ceil(math.log2(n + 1)) * down * d / bandwidth,
        }
        finite = {k: x for k, x in terms.items() if np.isfinite(x)}
        total = sum(terms.values())
        mem_bits = (math.ceil(math.log2(n + 1)) if rule == "majority" else 32) * d \
            if rule in STREAMING else n * up * d
        return {**terms, "total": total,
                "dominant": max(finite, key=finite.get) if finite else "n/a",
                "server_memory_bytes": mem_bits / 8}


def holdout(agg: pd.DataFrame, *, hold: str = "d") -> pd.DataFrame:
    """Fit each rule without its largest ``hold`` value (``"d"`` or ``"n"``), predict the
    held-out measured points, and report ``predicted / measured``.

    Returns:
        DataFrame ``rule, n, d, measured, predicted, ratio`` (one row per held-out point
        that ran; rules with too few remaining points are left out).

    Example:
        >>> t = pd.DataFrame([(n, d) for n in (3, 5, 9) for d in (10, 100, 1000)],
        ...                  columns=["n", "d"])
        >>> t["rule"], t["status"] = "x", "ok"
        >>> t["seconds"] = 1e-6 * t.n * t.d
        >>> holdout(t).ratio.round(6).tolist()
        [1.0, 1.0, 1.0]
    """
    v.choice("hold", hold, ("d", "n"))
    ok = agg[agg["status"] == "ok"]
    rows = []
    for rule in dict.fromkeys(ok["rule"]):
        sel = ok[ok["rule"] == rule]
        top = sel[hold].max()
        train, test = sel[sel[hold] < top], sel[sel[hold] == top]
        if train[hold].nunique() < 2 or test.empty:
            continue
        c, a, b, _ = perf.fit_power(train, rule)
        if not (np.isfinite(c) and np.isfinite(a if hold == "n" else b)):
            continue
        a = 0.0 if not np.isfinite(a) else a
        b = 0.0 if not np.isfinite(b) else b
        for _, row in test.iterrows():
            pred = c * row["n"] ** a * row["d"] ** b
            rows.append({"rule": rule, "n": int(row["n"]), "d": int(row["d"]),
                         "measured": float(row["seconds"]), "predicted": float(pred),
                         "ratio": float(pred / row["seconds"])})
    return pd.DataFrame(rows, columns=["rule", "n", "d", "measured", "predicted", "ratio"])


def scale_table(model: CostModel, rules: Iterable[str] | None = None, *,
                ns: Iterable[int] = (10, 100, 1000), ds: Iterable[float] = (1e6, 1e7, 1e8, 1e9),
                bandwidths: Iterable[float] = (10e9, 100e9), r: float = 2.0) -> pd.DataFrame:
    """:meth:`CostModel.step` over a grid of cluster sizes: one row per (rule, n, d, link)."""
    rules = list(model.fits) if rules is None else list(rules)
    rows = []
    for rule in rules:
        for n in ns:
            for d in ds:
                for bw in bandwidths:
                    t = model.step(rule, n=int(n), d=float(d), bandwidth=float(bw), r=r)
                    rows.append({"rule": rule, "n": int(n), "d": float(d),
                                 "gbit_per_s": bw / 1e9, **t})
    return pd.DataFrame(rows)


def crossover(model: CostModel, rule: str, *, d: float, bandwidth: float,
              n_max: int = 100_000) -> int | None:
    """Smallest ``n`` at which ``rule``'s aggregation overtakes its upload time (the server
    becomes compute-bound rather than link-bound), or None up to ``n_max``.

    Example:
        >>> m = CostModel({"krum": perf.PowerFit(1e-9, 2.0, 1.0, 1.0)})
        >>> crossover(m, "krum", d=1e6, bandwidth=1e10)
        4
    """
    n = 1
    while n <= n_max:
        t = model.step(rule, n=n, d=d, bandwidth=bandwidth)
        if t["aggregate"] > t["upload"]:
            return n
        n = n + 1 if n < 16 else int(n * 1.25)
    return None
