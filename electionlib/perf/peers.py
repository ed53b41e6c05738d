"""electionlib's robust aggregators side by side with a peer library's, on identical inputs.

The peer is ByzFL 0.0.11 (LPD-EPFL, ``pip install byzfl``), the most complete Byzantine-robust
aggregation library on PyPI. Its package ``__init__`` imports its federated framework, which
imports torchvision, and torchvision does not load beside the torch this project pins. So the
comparison does **not** install it: :func:`fetch_byzfl` downloads the wheel once with
``pip download byzfl==0.0.11 --no-deps`` (a zip of pure-Python files), unpacks it into a cache
folder, and :func:`load_byzfl` imports ``byzfl.aggregators.aggregators`` (and the
``byzfl.utils`` it needs) by path under a bare ``byzfl`` package, without running the package
``__init__``. Nothing else of ByzFL runs. ByzFL is never a dependency of the project: the test
suite runs this harness against :class:`StubPeer` and smoke-runs it on ByzFL only when the
wheel is already in the cache.

Like with like, where the two libraries define a rule differently:

* **Krum / Multi-Krum.** ByzFL scores each row by its ``n - f - 1`` nearest neighbours;
  Blanchard et al. (and electionlib) use ``n - f - 2``. ByzFL at ``f + 1`` therefore scores
  exactly like electionlib at ``f``, and that is what is timed and compared. Multi-Krum then
  averages ByzFL's ``n - (f + 1)`` best rows, so electionlib runs with ``m = n - f - 1``.
* **Geometric median.** ByzFL runs ``T = 3`` smoothed Weiszfeld steps from 0 (``nu = 0.1``);
  electionlib starts from the coordinate median and iterates to a relative tolerance
  (``eps = 1e-6``, 6-7 steps on these inputs). Both are timed at their defaults and at
  matched iterations (electionlib with ``max_iter = 3``). Their outputs are different points
  by definition and are not compared.
* **Centered clipping.** Both start from the same centre (the coordinate median) and run
  one clipping round with the same radius.
* **Outputs.** ByzFL sums in float32 where electionlib sums in float64 and rounds once, so
  outputs agree to float32 rounding (relative 1e-5), not bit for bit.

ByzFL's aggregators run on numpy arrays or torch tensors; they are given the same float32
numpy arrays as electionlib, so what is timed is ByzFL's numpy path.

Timing: every repeat runs each library once on the same array, in an order that alternates
between repeats; the ratio of a repeat is electionlib's time over the peer's. A target (ratio
``<= 1``: at or ahead of the peer) counts as met only if the median of the repeats' ratios
meets it; the spread printed beside it is the lowest and highest ratio.
"""

from __future__ import annotations

import hashlib
import importlib
import statistics
import subprocess
import sys
import time
import types
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _validate as v
from .. import aggregators

__all__ = [
    "BYZFL_VERSION",
    "PEER_SHAPES",
    "PEER_TARGET",
    "PEER_RULES",
    "byzfl_cache",
    "fetch_byzfl",
    "load_byzfl",
    "ByzFLPeer",
    "StubPeer",
    "peer_inputs",
    "peer_table",
    "peer_targets",
]

BYZFL_VERSION = "0.0.11"
#: sha256 of ``byzfl-0.0.11-py3-none-any.whl`` as PyPI served it on 2026-12-02; a wheel with
#: another digest is refused (its code would run in this process).
BYZFL_SHA256 = "09b3cda93c78d0984637428097983b037cb6a674b448db3a4c716e2c68df7dc3"
#: Seconds the wheel's download may take.
FETCH_TIMEOUT_S = 120
#: (n, d) of the comparison.
PEER_SHAPES = ((15, 1_000_000), (49, 263_500), (20, 1_000_000))
#: electionlib's time over the peer's: at or ahead of it.
PEER_TARGET = 1.0


def byzfl_cache() -> Path:
    """Where the unpacked wheel lives: ``$ELECTIONLIB_PEERS`` or ``~/.cache/electionlib/peers``."""
    import os

    root = os.environ.get("ELECTIONLIB_PEERS") or Path.home() / ".cache" / "electionlib" / "peers"
    return Path(root) / f"byzfl-{BYZFL_VERSION}"


def fetch_byzfl(dest: Path | None = None, *, download: bool = True) -> Path | None:
    """The folder holding ByzFL's unpacked ``byzfl/`` package, downloading it if asked.

    Returns None (never raises) when the wheel is absent and ``download`` is False, or the
    download fails (no package index reachable).
    """
    dest = Path(dest) if dest is not None else byzfl_cache()
    if (dest / "byzfl" / "aggregators" / "aggregators.py").is_file():
        return dest
    if not download:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"byzfl=={BYZFL_VERSION}", "--no-deps",
             "--only-binary", ":all:", "-d", str(dest), "-q"],
            capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    wheels = sorted(dest.glob(f"byzfl-{BYZFL_VERSION}-*.whl"))
    if done.returncode != 0 or not wheels:
        return None
    if hashlib.sha256(wheels[0].read_bytes()).hexdigest() != BYZFL_SHA256:
        wheels[0].unlink()
        return None
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(dest)
    return dest if (dest / "byzfl" / "aggregators" / "aggregators.py").is_file() else None


def load_byzfl(root: Path) -> types.ModuleType:
    """ByzFL's ``byzfl.aggregators.aggregators`` imported from ``root`` without running the
    ``byzfl`` or ``byzfl.aggregators`` package ``__init__`` (which import torchvision)."""
    root = Path(root)
    for name in [m for m in sys.modules if m == "byzfl" or m.startswith("byzfl.")]:
        where = getattr(sys.modules[name], "__file__", None) or str(
            (getattr(sys.modules[name], "__path__", None) or [""])[0])
        if not where.startswith(str(root)):  # loaded from elsewhere: load ours afresh
            del sys.modules[name]
    for name, sub in (("byzfl", "byzfl"), ("byzfl.aggregators", "byzfl/aggregators")):
        mod = sys.modules.get(name)
        if mod is None or getattr(mod, "__path__", None) != [str(root / sub)]:
            mod = types.ModuleType(name)
            mod.__path__ = [str(root / sub)]
            sys.modules[name] = mod
    return importlib.import_module("byzfl.aggregators.aggregators")


@dataclass(frozen=True)
class PeerRule:
    """One compared rule: electionlib's aggregator and the peer's, built for ``(n, f)``."""

    rule: str
    label: str
    ours: Callable[[int, int], Callable]  # (n, f) -> callable(x)
    theirs: str  # the peer adapter's method name
    compare: bool  # outputs agree by definition
    note: str


def _ours(name: str, **fixed) -> Callable[[int, int], Callable]:
    """Builder of electionlib's rule ``name`` for ``(n, f)``; ``fixed`` values may be
    functions of ``(n, f)``; rules that take ``f`` get it."""

    def build(n: int, f: int):
        params = {k: (val(n, f) if callable(val) else val) for k, val in fixed.items()}
        if "f" in aggregators.REGISTRY[name].PARAMS:
            params["f"] = f
        return aggregators.get(name, **params)

    return build


#: The compared rules, in print order.
PEER_RULES = (
    PeerRule("median", "median", _ours("median"), "median", True, "coordinate-wise median"),
    PeerRule("trimmed_mean", "trimmed mean", _ours("trimmed_mean"), "trimmed_mean", True,
             "f trimmed at each end"),
    PeerRule("krum", "Krum", _ours("krum"), "krum", True,
             "ByzFL at f + 1: both score n - f - 2 neighbours"),
    PeerRule("multi_krum", "Multi-Krum", _ours("multi_krum", m=lambda n, f: n - f - 1),
             "multi_krum", True, "ByzFL at f + 1: n - f - 2 neighbours, n - f - 1 rows"),
    PeerRule("geometric_median", "geometric median (defaults)", _ours("geometric_median"),
             "geometric_median", False, "electionlib eps = 1e-6 vs ByzFL T = 3"),
    PeerRule("geometric_median_3", "geometric median (3 iterations each)",
             _ours("geometric_median", max_iter=3), "geometric_median", False,
             "electionlib max_iter = 3 vs ByzFL T = 3"),
    PeerRule("centered_clipping", "centered clipping (same centre)",
             _ours("centered_clipping", tau=10.0), "centered_clipping", True,
             "one round, tau = 10, from the coordinate median"),
)


class ByzFLPeer:
    """Adapter: ByzFL's aggregators called as the comparison defines them (see the module)."""

    name = f"ByzFL {BYZFL_VERSION}"

    def __init__(self, module: types.ModuleType):
        self.m = module

    def median(self, x, f, centre):
        return self.m.Median()(x)

    def trimmed_mean(self, x, f, centre):
        return self.m.TrMean(f=f)(x)

    def krum(self, x, f, centre):
        return self.m.Krum(f=f + 1)(x)

    def multi_krum(self, x, f, centre):
        return self.m.MultiKrum(f=f + 1)(x)

    def geometric_median(self, x, f, centre):
        return self.m.GeometricMedian()(x)

    def centered_clipping(self, x, f, centre):
        agg = self.m.CenteredClipping(L=1, tau=10.0)
        agg.m = centre.copy()  # its constructor rejects any array for ``m`` (a type-check slip)
        return agg(x)


class StubPeer:
    """A stand-in peer in plain numpy with ByzFL's definitions: the harness's tests run
    against it, so the comparison runs in CI where ByzFL is absent."""

    name = "stub (numpy)"

    def median(self, x, f, centre):
        return np.median(x, axis=0)

    def trimmed_mean(self, x, f, centre):
        n = x.shape[0]
        return np.sort(x, axis=0)[f : n - f].mean(axis=0)

    def _scores(self, x, f):
        n = x.shape[0]
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x.astype(np.float64) @ x.T.astype(np.float64))
        return np.sort(d2, axis=1)[:, 1 : n - f - 1].sum(axis=1)

    def krum(self, x, f, centre):
        return x[int(np.argmin(self._scores(x, f)))]

    def multi_krum(self, x, f, centre):
        n = x.shape[0]
        return x[np.argsort(self._scores(x, f), kind="stable")[: n - f - 1]].mean(axis=0)

    def geometric_median(self, x, f, centre):
        # three Weiszfeld steps from the origin, distances floored at 0.1 (ByzFL's defaults)
        z = np.zeros(x.shape[1])
        for _ in range(3):
            w = 1.0 / np.maximum(np.sqrt(((x - z) ** 2).sum(axis=1)), 0.1)
            z = w @ x / w.sum()
        return z

    def centered_clipping(self, x, f, centre):
        diff = x - centre
        c = np.minimum(1.0, 10.0 / np.linalg.norm(diff, axis=1))
        return centre + (diff * c[:, None]).mean(axis=0)


def peer_inputs(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Identical float32 inputs for both libraries: ``n - f`` honest rows N(1, 1) and ``f``
    Byzantine rows N(-5, 3), ``f = n // 5``; returns ``(x, f)``."""
    n = v.integer("n", n, lo=5)
    d = v.integer("d", d, lo=1)
    f = n // 5
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x[: n - f] += 1.0
    x[n - f :] = x[n - f :] * 3.0 - 5.0
    return x, f


def _objective(x: np.ndarray, z) -> float:
    """The geometric median's objective ``sum_i ||x_i - z||``, in float64."""
    z = np.asarray(z, dtype=np.float64)
    return float(sum(np.linalg.norm(row.astype(np.float64) - z) for row in x))


def _agree(a, b) -> float:
    """Largest difference relative to the largest magnitude of ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def peer_table(peer, shapes=PEER_SHAPES, repeats: int = 7, rules=None, *,
               clock: Callable[[], float] = time.perf_counter,
               progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Time every rule of :data:`PEER_RULES` (or ``rules``, by name) on both libraries.

    Args:
        peer: an adapter (:class:`ByzFLPeer`, :class:`StubPeer` or one with the same methods).
        shapes: ``(n, d)`` pairs.
        repeats: interleaved repeats per (rule, shape) after one warm-up call each, >= 1.
        clock: the timer (tests pass a fake one).

    Returns:
        One row per (rule, n, d): ``rule, label, n, d, f, ours_s, peer_s`` (medians),
        ``ratio`` (median of the repeats' ratios), ``ratio_lo, ratio_hi``, ``repeats``,
        ``max_rel_diff`` (NaN where the definitions differ), ``ours_gap, peer_gap`` (the
        geometric median's objective ``sum_i ||x_i - z||`` over its minimum, minus 1; NaN
        for the other rules), ``note``, ``peer``.
    """
    repeats = v.integer("repeats", repeats, lo=1)
    chosen = [r for r in PEER_RULES if rules is None or r.rule in rules]
    rows = []
    for n, d in shapes:
        x, f = peer_inputs(n, d)
        centre = aggregators.get("median")(x)
        best = None  # the geometric median to 1e-12, for the objective gaps
        for r in chosen:
            if progress is not None:
                progress(f"{r.rule} n={n} d={d}")
            agg = r.ours(n, f)
            theirs = getattr(peer, r.theirs)

            def run_ours(agg=agg, x=x, centre=centre):
                if hasattr(agg, "reset"):
                    agg._v = centre.astype(np.float64)
                return agg(x)

            def run_theirs(theirs=theirs, x=x, f=f, centre=centre):
                return theirs(x, f, centre)

            out_ours, out_theirs = run_ours(), run_theirs()  # warm-up (and outputs)
            t_ours, t_theirs, ratios = [], [], []
            for k in range(repeats):
                pair = {}
                for who in (("ours", "theirs") if k % 2 == 0 else ("theirs", "ours")):
                    fn = run_ours if who == "ours" else run_theirs
                    t0 = clock()
                    fn()
                    pair[who] = clock() - t0
                t_ours.append(pair["ours"])
                t_theirs.append(pair["theirs"])
                ratios.append(pair["ours"] / pair["theirs"] if pair["theirs"] > 0 else np.inf)
            rows.append({
                "rule": r.rule, "label": r.label, "n": n, "d": d, "f": f,
                "ours_s": statistics.median(t_ours), "peer_s": statistics.median(t_theirs),
                "ratio": statistics.median(ratios), "ratio_lo": min(ratios),
                "ratio_hi": max(ratios), "repeats": repeats,
                "max_rel_diff": _agree(out_ours, out_theirs) if r.compare else np.nan,
                "ours_gap": np.nan, "peer_gap": np.nan,
                "note": r.note, "peer": peer.name,
            })
            if r.rule.startswith("geometric_median"):
                if best is None:
                    best = _objective(x, aggregators.get("geometric_median", eps=1e-12,
                                                         max_iter=1000)(x))
                rows[-1]["ours_gap"] = _objective(x, out_ours) / best - 1.0
                rows[-1]["peer_gap"] = _objective(x, out_theirs) / best - 1.0
    return pd.DataFrame(rows)


def peer_targets(table: pd.DataFrame, tolerance: float = 1e-5) -> pd.DataFrame:
    """The peer targets in the form of :func:`electionlib.perf.targets`: per (rule, n, d),
    electionlib's time over the peer's ``<=`` :data:`PEER_TARGET`, and where the definitions
    match, outputs within ``tolerance`` (relative) of the peer's.

    Example:
        >>> t = pd.DataFrame([dict(rule="median", label="median", n=15, d=10, ratio=0.4,
        ...     ratio_lo=0.3, ratio_hi=0.5, repeats=7, max_rel_diff=0.0, peer="stub")])
        >>> peer_targets(t)[["target", "met"]].values.tolist()
        [['median n=15 d=10: time / stub', True], ['median n=15 d=10: outputs agree', True]]
    """
    rows = []
    for r in table.itertuples(index=False):
        name = f"{r.label} n={r.n} d={r.d}"
        rows.append({
            "target": f"{name}: time / {r.peer}", "measured": float(r.ratio), "op": "<=",
            "threshold": PEER_TARGET, "met": bool(r.ratio <= PEER_TARGET),
            "note": f"median of {r.repeats} interleaved repeats, spread "
                    f"{r.ratio_lo:.2f}-{r.ratio_hi:.2f}"})
        if not np.isnan(r.max_rel_diff):
            rows.append({
                "target": f"{name}: outputs agree", "measured": float(r.max_rel_diff),
                "op": "<=", "threshold": tolerance, "met": bool(r.max_rel_diff <= tolerance),
                "note": "largest difference relative to the peer's largest entry"})
    return pd.DataFrame(rows, columns=["target", "measured", "op", "threshold", "met", "note"])
