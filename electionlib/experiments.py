"""The experiment store: config -> canonical JSON -> short hash -> a results folder.

``results/<experiment>/<hash>/`` holds ``config.json`` and the result table
(``table.csv``). A result that exists is reused; ``force=True`` recomputes.
Every write is atomic (temporary file in the same folder, then rename), so an
interrupted run never leaves a half-written result that a later run would
trust.

Where ``results/`` is: ``$ELECTIONLIB_RESULTS`` if set, else the ``results``
folder of the project checkout that contains the current directory (found by
its ``pyproject.toml``), else ``./results``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "results_dir",
    "canonical_json",
    "config_hash",
    "atomic_write_text",
    "cached_table",
    "save_figure",
    "figures_dir",
    "save_table",
    "load_table",
]


def results_dir(root: str | os.PathLike | None = None) -> Path:
    """The results folder (created if missing); see the module docstring."""
    if root is not None:
        path = Path(root)
    elif os.environ.get("ELECTIONLIB_RESULTS"):
        path = Path(os.environ["ELECTIONLIB_RESULTS"])
    else:
        path = Path.cwd() / "results"
        for parent in [Path.cwd(), *Path.cwd().parents]:
            pp = parent / "pyproject.toml"
            if pp.is_file() and 'name = "electionlib"' in pp.read_text(errors="ignore"):
                path = parent / "results"
                break
    path.mkdir(parents=True, exist_ok=True)
    return path


def _default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "__dataclass_fields__"):
        return {f: getattr(o, f) for f in o.__dataclass_fields__}
    raise TypeError(f"cannot put {type(o).__name__} into a config")


def canonical_json(config: Mapping) -> str:
    """Deterministic JSON: sorted keys, no whitespace, numpy scalars as Python numbers.

    Example:
        >>> canonical_json({"b": 1, "a": [1.5, 2]})
        '{"a":[1.5,2],"b":1}'
    """
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_default)


def config_hash(config: Mapping, length: int = 12) -> str:
    """Short sha256 of :func:`canonical_json`.

    Example:
        >>> len(config_hash({"n": 9}))
        12
    """
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:length]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def cached_table(
    experiment: str,
    config: Mapping,
    compute: Callable[[], pd.DataFrame],  # noqa: F821
    *,
    force: bool = False,
    root: str | os.PathLike | None = None,
):
    """Return the table for ``config``, computing and storing it only if needed.

    Args:
        experiment: folder name under ``results/`` (e.g. ``"montecarlo"``).
        config: JSON-serialisable mapping; its hash names the result.
        compute: zero-argument function returning a ``pandas.DataFrame``.
        force: recompute even if the result exists.
        root: results folder (default :func:`results_dir`).

    Returns:
        the ``pandas.DataFrame`` (read back from CSV when cached).
    """
    import pandas as pd

    if not experiment or "/" in experiment or experiment.startswith("."):
        raise ValueError(f"experiment={experiment!r} must be a plain folder name")
    folder = results_dir(root) / experiment / config_hash(config)
    table = folder / "table.csv"
    if table.is_file() and not force:
        return pd.read_csv(table)
    df = compute()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"compute() must return a pandas.DataFrame, got {type(df).__name__}")
    atomic_write_text(folder / "config.json", json.dumps(json.loads(canonical_json(config)),
                                                          indent=2, sort_keys=True))
    atomic_write_text(table, df.to_csv(index=False))
    return pd.read_csv(table)


def save_table(df, name: str, root: str | os.PathLike | None = None) -> Path:
    """Write ``df`` to ``results/tables/<name>.csv`` atomically (read back by notebook 05)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"name={name!r} must be a plain file name")
    return atomic_write_text(results_dir(root) / "tables" / f"{name}.csv", df.to_csv(index=False))


def load_table(name: str, root: str | os.PathLike | None = None):
    """Read ``results/tables/<name>.csv``; ``FileNotFoundError`` names the notebook to run."""
    import pandas as pd

    path = results_dir(root) / "tables" / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebook {name[:2]} first "
                                f"(./run_all.sh runs every notebook in order)")
    return pd.read_csv(path)


def figures_dir(root: str | os.PathLike | None = None) -> Path:
    path = results_dir(root) / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Save ``fig`` as ``results/figures/<name>.png`` and ``.pdf`` (atomically)."""
    out = []
    for ext in ("png", "pdf"):
        path = figures_dir(root) / f"{name}.{ext}"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{ext}")
        os.close(fd)
        fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        os.replace(tmp, path)
        out.append(path)
    return out
