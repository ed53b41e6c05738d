"""Argument checks shared by the library: every public function fails with a
``ValueError`` that names the argument, the value it got and the valid range."""

from __future__ import annotations

import numbers

import numpy as np


def integer(name: str, value, *, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` if it is not an integer in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} must be an integer" + _range(lo, hi))
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name}={value} must be an integer" + _range(lo, hi))
    return value


def real(
    name: str,
    value,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite real in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} must be a real number")
    value = float(value)
    bad = not np.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name}={value!r} must lie in {left}{lo_s}, {hi_s}{right}")
    return value


def boolean(name: str, value) -> bool:
    """Return ``value`` if it is a bool; ``ValueError`` otherwise (``"false"`` is not one)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be True or False")
    return bool(value)


def choice(name: str, value, options) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``options`` (and of their type)."""
    if not isinstance(value, (str, int, float, type(None))) or value not in options:
        raise ValueError(f"{name}={value!r} must be one of {sorted(options)}")
    return value


def allocation(G, name: str = "G") -> np.ndarray:
    """Check an allocation matrix: 2-D, entries 0/1, at least one row and column.

    Returns it as a C-contiguous uint8 array.
    """
    arr = np.asarray(G)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must be a 2-D (n_workers, n_partitions) 0/1 matrix, got shape {arr.shape}"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold 0/1 numbers, got dtype {arr.dtype}")
    ok = (arr == 0) | (arr == 1)  # (np.isin costs ~60 us even on a 1x3 matrix)
    if not ok.all():
        bad = arr[~ok].ravel()[0]
        raise ValueError(f"{name} entries must be 0 or 1, found {bad!r}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def rng(value) -> np.random.Generator:
    """Accept a ``numpy.random.Generator``, a ``SeedSequence`` or an int seed."""
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, np.random.SeedSequence):
        return np.random.default_rng(value)
    if value is None:
        raise ValueError(
            "rng=None: pass a numpy.random.Generator or an integer seed "
            "(electionlib never draws from global random state)"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"rng={value!r} must be a numpy.random.Generator or a seed >= 0")
    return np.random.default_rng(int(value))


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""
