"""Performance measurements: cost vs n, d and b, side by side, as tidy tables.

Every function here *measures* and returns a ``pandas.DataFrame``; nothing asserts an
absolute time. Ratios (the project's performance targets) are only ever taken between rows
measured in the same table, i.e. in the same run on the same machine, on the same inputs.

* :func:`median_time` -- warm-up calls (dropped), then the median of timed repeats;
* :func:`aggregation_table` -- master-side cost of n messages of dimension d: the packed
  majority vote beside the float32 rules of :mod:`electionlib.aggregators`, the DRACO
  decoders, and two memory-bandwidth anchors (copying the packed votes / the floats);
* :func:`fit_loglog`, :func:`fit_power`, :func:`power_table` -- cost curves fitted on the
  cases that ran (slopes of log time vs log n or log d; ``c * n**a * d**b``);
* :func:`encode_table` -- worker-side cost: local majority over r partitions + packing vs
  the per-partition gradient it follows (LeNet-5 on Fashion-MNIST, logistic regression on
  Amazon);
* :func:`verify_table`, :func:`montecarlo_table` -- exhaustive Lemma 2 verification time vs
  n, Monte-Carlo throughput;
* :func:`targets` -- one row per performance target of the project, met or not;
* :func:`startup_table`, :func:`startup_targets` -- the command line's start-up time over
  ``import numpy``'s, interleaved fresh interpreters;
* :func:`majority_floor_table`, :func:`majority_floor_targets` -- the packed majority over
  the copy of its input, beside its one-thread XOR read floor, n = 15, 49, 101;
* :func:`peer_table`, :func:`peer_targets` -- the robust aggregators side by side with a
  peer library's (ByzFL, loaded by path from its wheel; :mod:`electionlib.perf.peers`);
* :func:`run_benchmarks` -- all of the above at a profile's sizes (:data:`SIZES`), cached as
  CSV under ``results/bench/<profile>/`` with a ``machine.json``.

The benchmark scripts under ``benchmarks/`` and notebook 06 are thin wrappers around these.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .. import _validate as v
from ..experiments import atomic_write_text, results_dir
from .fits import PowerFit, fit_loglog, fit_power, power_table
from .floor import MAJORITY_COPY_TARGET, majority_floor_table, majority_floor_targets
from .peers import (
    PEER_TARGET,
    ByzFLPeer,
    StubPeer,
    fetch_byzfl,
    load_byzfl,
    peer_table,
    peer_targets,
)
from .startup import STARTUP_TARGET, startup_table, startup_targets
from .tables import (
    AGG_COLUMNS,
    AGG_RULES,
    _predicted,  # noqa: F401 - read by the tests of the time predictor
    aggregation_table,
    encode_table,
    montecarlo_table,
    verify_table,
)
from .targets import format_targets, targets
from .timing import median_time

__all__ = [
    "SIZES",
    "MAJORITY_COPY_TARGET",
    "majority_floor_table",
    "majority_floor_targets",
    "PEER_TARGET",
    "ByzFLPeer",
    "StubPeer",
    "fetch_byzfl",
    "load_byzfl",
    "peer_table",
    "peer_targets",
    "startup_table",
    "startup_targets",
    "STARTUP_TARGET",
    "AGG_RULES",
    "AGG_COLUMNS",
    "median_time",
    "aggregation_table",
    "fit_loglog",
    "fit_power",
    "power_table",
    "PowerFit",
    "encode_table",
    "verify_table",
    "montecarlo_table",
    "targets",
    "format_targets",
    "machine_info",
    "run_benchmarks",
]

#: Sizes of each profile. ``ci``: tiny, seconds, no Fashion-MNIST (the test suite and
#: notebook 06 in a fresh clone); ``quick``: the targets' n and d with a 15 s limit per case
#: and few repeats (a few minutes on a 2-core machine); ``full``: every size the targets name
#: (1-minute limit, 5 repeats, d processed in chunks of 10^6 columns where n*d is too big).
SIZES: dict[str, dict[str, dict]] = {
    "ci": {
        "aggregation": {"ns": (5, 9), "ds": (1_000, 10_000), "repeats": 3, "time_limit": 5.0,
                        "budget": 1.0, "max_floats": 2e8, "chunk": None},
        "encode": {"models": ("mlp", "logreg"), "rs": (1, 2, 3), "repeats": 5, "budget": 1.0},
        "verify": {"ns": (5, 7, 9, 11), "repeats": 1},
        "montecarlo": {"ns": (9,), "trials": 8_192, "repeats": 1},
    },
    "quick": {
        "aggregation": {"ns": (5, 9, 15, 49, 101), "ds": (263_500, 1_000_000, 11_000_000),
                        "repeats": 3, "time_limit": 15.0, "budget": 2.0, "max_floats": 2e8,
                        "chunk": None},
        "encode": {"models": ("lenet5", "logreg"), "rs": (1, 2, 3, 5), "repeats": 30,
                   "budget": 5.0},
        "verify": {"ns": tuple(range(5, 26, 2)), "repeats": 3},
        "montecarlo": {"ns": (9, 15), "trials": 100_000, "repeats": 1},
    },
    "full": {
        "aggregation": {"ns": (5, 9, 15, 49, 101), "ds": (263_500, 1_000_000, 11_000_000),
                        "repeats": 5, "time_limit": 60.0, "budget": 60.0, "max_floats": 2e8,
                        "chunk": 1_000_000},
        "encode": {"models": ("lenet5", "logreg"), "rs": (1, 2, 3, 5), "repeats": 100,
                   "budget": 20.0},
        "verify": {"ns": tuple(range(5, 26, 2)), "repeats": 5},
        "montecarlo": {"ns": (9, 15, 21), "trials": 1_000_000, "repeats": 1},
    },
}



# --------------------------------------------------------------------------- run all


def machine_info() -> dict:
    """CPU count, versions and platform of this machine (saved as ``machine.json``)."""
    info = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a requirement
        info["torch"] = None
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover - optional at run time
        info["numba"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu_model"] = names[0] if names else None
    except OSError:
        info["cpu_model"] = None
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gb"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gb"] = None
    return info


_TEXT_COLUMNS = ("reason", "note", "params", "dataset", "model", "requested", "method")


def _read(path) -> pd.DataFrame:
    df = pd.read_csv(path)
    for col in _TEXT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    return df


def run_benchmarks(profile: str, root=None, force: bool = False,
                   progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run every benchmark at the sizes of ``profile`` (:data:`SIZES`), cached as CSV.

    Tables, each in ``results/bench/<profile>/<name>.csv`` (written atomically, reused
    unless ``force``): ``aggregation``, ``encode``, ``verify``, ``montecarlo`` (measured),
    and, derived from them on every call, ``slopes_n`` (log-log slope vs n per rule and
    d), ``slopes_d`` (vs d per rule and n), ``power`` (:func:`power_table`) and ``targets``.
    ``machine.json`` describes the machine of the measured tables.

    Args:
        profile: ``ci``, ``quick`` or ``full``.
        root: results folder (default :func:`electionlib.experiments.results_dir`).
        force: re-measure even if the CSVs exist.
        progress: progress bars.

    Returns:
        ``{name: DataFrame}`` for the tables above (as read back from the CSVs).
    """
    v.choice("profile", profile, tuple(SIZES))
    sizes = SIZES[profile]
    folder = results_dir(root) / "bench" / profile
    folder.mkdir(parents=True, exist_ok=True)
    measured_any = False

    def cached(name: str, compute: Callable[[], pd.DataFrame],
               columns: Sequence[str] = ()) -> pd.DataFrame:
        nonlocal measured_any
        path = folder / f"{name}.csv"
        if path.is_file() and not force:
            df = _read(path)
            missing = [c for c in columns if c not in df.columns]
            if not missing:
                return df
            print(f"run_benchmarks: {path} predates column(s) {missing} (an older version "
                  "of the benchmark); measuring again", flush=True)
        df = compute()
        measured_any = True
        atomic_write_text(path, df.to_csv(index=False))
        return _read(path)

    a = sizes["aggregation"]
    out = {
        "aggregation": cached("aggregation", lambda: aggregation_table(
            ns=a["ns"], ds=a["ds"], repeats=a["repeats"], max_floats=a["max_floats"],
            time_limit=a["time_limit"], budget=a["budget"], chunk=a["chunk"],
            progress=progress)),
        "encode": cached("encode", lambda: encode_table(progress=progress, **sizes["encode"]),
                         columns=("encoder", "ratio_numpy")),
        "verify": cached("verify", lambda: verify_table(progress=progress, **sizes["verify"])),
        "montecarlo": cached("montecarlo", lambda: montecarlo_table(
            progress=progress, **sizes["montecarlo"])),
    }
    machine = folder / "machine.json"
    if measured_any or not machine.is_file():
        info = dict(machine_info(), profile=profile)
        atomic_write_text(machine, json.dumps(info, indent=2, sort_keys=True) + "\n")
    agg = out["aggregation"]
    derived = {
        "slopes_n": fit_loglog(agg, x="n", by=("rule", "d")),
        "slopes_d": fit_loglog(agg, x="d", by=("rule", "n")),
        "power": power_table(agg),
        "targets": targets(agg, out["encode"], out["verify"]),
    }
    for name, df in derived.items():
        path = folder / f"{name}.csv"
        text = df.to_csv(index=False)
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
        out[name] = _read(path)
    return out

