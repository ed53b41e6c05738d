"""The experiment store: config -> canonical JSON -> short hash -> a results folder.

``results/<experiment>/<hash>/`` holds ``config.json`` and the result table
(``table.csv``, with its row count and sha256 in ``table.json``). A result that exists
and matches its checksum is reused (otherwise it is recomputed, and the user is told
why); ``force=True`` recomputes. Every write is atomic (temporary file in the same folder,
then rename, with the usual file mode), so an interrupted run never leaves a half-written
result that a later run would trust. Training runs (:func:`save_run`) keep
``summary.json``, written last, with the checksums of their other files.

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
    "atomic_write_bytes",
    "cached_table",
    "save_figure",
    "figures_dir",
    "save_table",
    "load_table",
    "save_run",
    "load_run",
    "load_params",
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


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file (``mkstemp``
    alone would leave 0600, unlike every other file the project writes)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder (unique
    name, so concurrent writers never share one), fsync, then rename; the usual file mode.

    Raises ``OSError`` (e.g. a full disk) with ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode())


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
    table, check = folder / "table.csv", folder / "table.json"
    if table.is_file() and not force:
        raw = table.read_bytes()
        try:
            ok = json.loads(check.read_text())["sha256"] == hashlib.sha256(raw).hexdigest()
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if ok:
            return pd.read_csv(io_text(raw))
        import sys

        print(f"note: {table} is incomplete or unchecked (no matching {check.name}); "
              f"recomputing", file=sys.stderr)
    df = compute()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"compute() must return a pandas.DataFrame, got {type(df).__name__}")
    text = df.to_csv(index=False)
    atomic_write_text(folder / "config.json", json.dumps(json.loads(canonical_json(config)),
                                                          indent=2, sort_keys=True))
    atomic_write_text(table, text)
    atomic_write_text(check, json.dumps({"rows": int(len(df)),
                                         "sha256": hashlib.sha256(text.encode()).hexdigest()}))
    return pd.read_csv(io_text(text.encode()))


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


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def save_figure(fig, name: str, root: str | os.PathLike | None = None,
                show: bool | None = None) -> list[Path]:
    """Save ``fig`` as ``results/figures/<name>.png`` and ``.pdf`` (atomically).

    In a notebook (``show=None``) the saved PNG is also displayed inline, whatever the
    matplotlib backend, and the figure is closed: every figure a notebook saves is shown
    exactly once in the executed copy, with a line ``figure saved: NAME``.
    """
    out = []
    for ext in ("png", "pdf"):
        path = figures_dir(root) / f"{name}.{ext}"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{ext}")
        os.close(fd)
        try:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
            os.chmod(tmp, _file_mode())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        out.append(path)
    if _in_notebook() if show is None else show:
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        display(Image(filename=str(out[0])))
        print(f"figure saved: {name} (results/figures/{name}.png, .pdf)")
        plt.close(fig)
    return out


# --------------------------------------------------------------------------- run folders

#: Files of a stored training run; ``summary.json`` is written last and carries the row
#: count and sha256 of the others, so a run folder is trusted only if it is complete.
#: ``config.json`` is the configuration alone (``TrainConfig.from_dict`` reads it);
#: ``key.json`` is what the folder's hash was computed from (the configuration plus the
#: trainer version and, for the ``mpi`` backend, its transport settings): for the reader, who
#: can check that the folder's name is its :func:`config_hash`; loading does not need it.
RUN_FILES = ("config.json", "key.json", "metrics.csv", "params.npy", "summary.json")


def save_run(folder: str | os.PathLike, config: Mapping, metrics, summary: dict,
             params: np.ndarray | None = None, key: Mapping | None = None) -> Path:
    """Store one training run in ``folder`` (every file atomic; ``summary.json`` last):
    ``config`` in ``config.json``, and ``key`` (what the folder is named by the hash of)
    in ``key.json`` when given.

    ``summary["store"]`` records the number of metrics rows and the sha256 of
    ``metrics.csv`` (and of ``params.npy`` when given), which :func:`load_run` checks.
    An ``OSError`` (a full disk) propagates with the path in its message.
    """
    import io

    folder = Path(folder)
    text = metrics.to_csv(index=False)
    store = {"metrics_rows": int(len(metrics)),
             "metrics_sha256": hashlib.sha256(text.encode()).hexdigest()}
    try:
        atomic_write_text(folder / "config.json", json.dumps(json.loads(canonical_json(config)),
                                                             indent=2, sort_keys=True))
        if key is not None:
            atomic_write_text(folder / "key.json", json.dumps(json.loads(canonical_json(key)),
                                                              indent=2, sort_keys=True))
        atomic_write_text(folder / "metrics.csv", text)
        if params is not None:
            buf = io.BytesIO()
            np.save(buf, np.asarray(params))
            raw = buf.getvalue()
            atomic_write_bytes(folder / "params.npy", raw)
            store["params_sha256"] = hashlib.sha256(raw).hexdigest()
        atomic_write_text(folder / "summary.json",
                          json.dumps({**summary, "store": store}, indent=2, sort_keys=True,
                                     default=_default))
    except OSError as exc:
        raise OSError(exc.errno, f"could not write the results to {folder}: "
                                 f"{exc.strerror or exc}") from exc
    return folder


def load_run(folder: str | os.PathLike, *, need_params: bool = False):
    """``(metrics, summary, None)`` for a complete stored run, else ``(None, None, why)``.

    Complete means: ``summary.json`` parses and records the checksums that
    ``metrics.csv`` (and ``params.npy``, if ``need_params``) match. A missing folder gives
    ``why = None`` too (nothing to say: it was never computed).
    """
    import pandas as pd

    folder = Path(folder)
    spath, mpath = folder / "summary.json", folder / "metrics.csv"
    if not spath.exists() and not mpath.exists():
        return None, None, None
    try:
        summary = json.loads(spath.read_text())
        store = summary["store"]
        raw = mpath.read_bytes()
    except FileNotFoundError as exc:
        return None, None, f"{exc.filename} is missing"
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return None, None, f"{spath} is unreadable or has no checksums ({type(exc).__name__})"
    if hashlib.sha256(raw).hexdigest() != store.get("metrics_sha256"):
        return None, None, f"{mpath} does not match the checksum in {spath.name} (truncated?)"
    if need_params:
        ppath = folder / "params.npy"
        if not ppath.is_file() or hashlib.sha256(ppath.read_bytes()).hexdigest() != \
                store.get("params_sha256"):
            return None, None, f"{ppath} is missing or does not match its checksum"
    metrics = pd.read_csv(io_text(raw))
    if len(metrics) != store.get("metrics_rows"):
        return None, None, f"{mpath} has {len(metrics)} rows, {store.get('metrics_rows')} expected"
    return metrics, summary, None


def load_params(folder: str | os.PathLike) -> np.ndarray | None:
    """The final parameters of a stored run (``params.npy``), or None when the folder has none
    or they do not match the checksum its ``summary.json`` records. Never unpickles."""
    folder = Path(folder)
    ppath = folder / "params.npy"
    try:
        raw = ppath.read_bytes()
        want = json.loads((folder / "summary.json").read_text())["store"].get("params_sha256")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if want is None or hashlib.sha256(raw).hexdigest() != want:
        return None
    import io

    return np.load(io.BytesIO(raw), allow_pickle=False)


def io_text(raw: bytes):
    """A text stream over ``raw`` (for ``pandas.read_csv``)."""
    import io

    return io.StringIO(raw.decode())
