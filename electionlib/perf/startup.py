"""Start-up time of the command line against ``python -c "import numpy"``, measured side by side.

Every command is a fresh interpreter (``subprocess``), the commands are interleaved round by
round so that a slow moment of a shared machine falls on all of them, and each ratio is the
median of the command over the median of ``import numpy`` in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import pandas as pd

from .. import _validate as v

__all__ = ["STARTUP_COMMANDS", "STARTUP_TARGET", "startup_table", "startup_targets"]

#: The commands timed, by name; ``numpy`` is the reference.
STARTUP_COMMANDS = {
    "numpy": ["-c", "import numpy"],
    "--help": ["-m", "electionlib", "--help"],
    "verify --n 15 --b 3": ["-m", "electionlib", "verify", "--n", "15", "--b", "3"],
}
#: A command may take at most this many times ``import numpy``.
STARTUP_TARGET = 2.0


def _run(args: Sequence[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def startup_table(repeats: int = 9, *, runner: Callable[[Sequence[str]], float] | None = None,
                  commands: dict | None = None) -> pd.DataFrame:
    """Seconds of each command over ``repeats`` interleaved rounds (after one warm-up round).

    Args:
        repeats: rounds, >= 1.
        runner: ``runner(args) -> seconds`` (default: a fresh ``sys.executable`` with
            ``args``); tests pass a stub.
        commands: name -> interpreter arguments (default :data:`STARTUP_COMMANDS`; must
            contain ``numpy``).

    Returns:
        One row per command: ``command, median_s, min_s, max_s, ratio`` (median over the
        median of ``numpy``), ``repeats``.

    Example:
        >>> t = startup_table(3, runner=lambda a: 0.3 if a[-1] == "import numpy" else 0.45)
        >>> float(t.set_index("command").loc["--help", "ratio"])
        1.5
    """
    repeats = v.integer("repeats", repeats, lo=1)
    commands = dict(STARTUP_COMMANDS if commands is None else commands)
    if "numpy" not in commands:
        raise ValueError(f"commands must contain the reference 'numpy', got {sorted(commands)}")
    run = runner or _run
    for args in commands.values():  # warm-up: file caches, byte-compiled modules
        run(args)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, args in commands.items():
            times[name].append(float(run(args)))
    ref = statistics.median(times["numpy"])
    rows = [{"command": name, "median_s": statistics.median(ts), "min_s": min(ts),
             "max_s": max(ts), "ratio": statistics.median(ts) / ref, "repeats": repeats}
            for name, ts in times.items()]
    return pd.DataFrame(rows)


def startup_targets(table: pd.DataFrame) -> pd.DataFrame:
    """The start-up targets in the form of :func:`electionlib.perf.targets`: each command's
    median over ``import numpy``'s, ``<=`` :data:`STARTUP_TARGET`, with the spread in the note.

    Example:
        >>> t = startup_table(1, runner=lambda a: 0.2 if a[-1] == "import numpy" else 0.5)
        >>> startup_targets(t)[["target", "met"]].values.tolist()[0]
        ['--help / import numpy', False]
    """
    rows = []
    ref = table.set_index("command").loc["numpy"]
    for r in table[table["command"] != "numpy"].itertuples(index=False):
        rows.append({
            "target": f"{r.command} / import numpy", "measured": float(r.ratio), "op": "<=",
            "threshold": STARTUP_TARGET, "met": bool(r.ratio <= STARTUP_TARGET),
            "note": (f"median of {r.repeats} interleaved runs: {r.median_s:.3f} s "
                     f"(spread {r.min_s:.3f}-{r.max_s:.3f}) vs import numpy "
                     f"{ref.median_s:.3f} s ({ref.min_s:.3f}-{ref.max_s:.3f})")})
    return pd.DataFrame(rows, columns=["target", "measured", "op", "threshold", "met", "note"])
