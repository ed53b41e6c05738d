"""Cost curves fitted on the cases that ran: slopes of log time against log n or log d,
and ``c * n**a * d**b`` per rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- fits


def _ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table.columns else table


def _linfit(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``ly = slope * lx + intercept`` and its R^2."""
    A = np.column_stack([lx, np.ones_like(lx)])
    (slope, intercept), *_ = np.linalg.lstsq(A, ly, rcond=None)
    return float(slope), float(intercept), _r2(ly, A @ np.array([slope, intercept]))


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res <= 1e-24 else float("nan")
    return 1.0 - ss_res / ss_tot


def fit_loglog(table: pd.DataFrame, x: str = "n", y: str = "seconds",
               by: str | Sequence[str] = ("rule", "d")) -> pd.DataFrame:
    """Slope, intercept and R^2 of ``log y`` against ``log x`` (natural logs), per group.

    Only rows with status ``ok`` (when the table has a ``status`` column) and positive,
    finite x and y are fitted; every group of the table gets a row, with NaN where it has
    fewer than 2 distinct x values. ``y ~ exp(intercept) * x**slope``.

    Args:
        table: e.g. :func:`aggregation_table`.
        x, y: column names.
        by: grouping column(s).

    Returns:
        Columns ``*by, slope, intercept, r2, points``.

    Example:
        >>> t = pd.DataFrame({"rule": "r", "d": 1, "n": [1, 2, 4, 8]})
        >>> t["seconds"] = 3.0 * t.n ** 2
        >>> fit = fit_loglog(t).iloc[0]
        >>> [round(float(x), 9) for x in (fit.slope, np.exp(fit.intercept), fit.r2, fit.points)]
        [2.0, 3.0, 1.0, 4.0]
    """
    by = [by] if isinstance(by, str) else list(by)
    ok = _ok_rows(table)
    rows = []
    for key, _ in table.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        sel = ok
        for col, val in zip(by, key, strict=True):
            sel = sel[sel[col] == val]
        xs = sel[x].to_numpy(dtype=float)
        ys = sel[y].to_numpy(dtype=float)
        good = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
        xs, ys = xs[good], ys[good]
        slope = intercept = r2 = float("nan")
        if np.unique(xs).size >= 2:
            slope, intercept, r2 = _linfit(np.log(xs), np.log(ys))
        rows.append({**dict(zip(by, key, strict=True)), "slope": slope, "intercept": intercept,
                     "r2": r2, "points": int(xs.size)})
    return pd.DataFrame(rows, columns=[*by, "slope", "intercept", "r2", "points"])


class PowerFit(NamedTuple):
    """``seconds ~ c * n**a * d**b`` (least squares in log space) and its R^2 there."""

    c: float
    a: float
    b: float
    r2: float


def fit_power(table: pd.DataFrame, rule: str) -> PowerFit:
    """Fit ``seconds = c * n**a * d**b`` on the ``ok`` rows of ``rule``, in log space.

    An exponent is NaN when its variable takes a single value among those rows (it is then
    absorbed into ``c``); everything is NaN with fewer rows than free parameters.

    Returns:
        :class:`PowerFit` ``(c, a, b, r2)``.

    Example:
        >>> t = pd.DataFrame([(n, d) for n in (3, 5, 9) for d in (10, 100)], columns=["n", "d"])
        >>> t["rule"], t["seconds"] = "x", 2e-3 * t.n ** 1.5 * t.d ** 0.5
        >>> [round(val, 9) for val in fit_power(t, "x")]
        [0.002, 1.5, 0.5, 1.0]
    """
    sel = _ok_rows(table)
    sel = sel[sel["rule"] == rule]
    n = sel["n"].to_numpy(dtype=float)
    d = sel["d"].to_numpy(dtype=float)
    s = sel["seconds"].to_numpy(dtype=float)
    good = np.isfinite(s) & (s > 0) & (n > 0) & (d > 0)
    n, d, s = n[good], d[good], s[good]
    nan = float("nan")
    cols = [np.ones_like(s)]
    use_n, use_d = np.unique(n).size >= 2, np.unique(d).size >= 2
    if use_n:
        cols.append(np.log(n))
    if use_d:
        cols.append(np.log(d))
    if s.size < len(cols) or s.size == 0:
        return PowerFit(nan, nan, nan, nan)
    A = np.column_stack(cols)
    beta, *_ = np.linalg.lstsq(A, np.log(s), rcond=None)
    coef = iter(beta[1:])
    a = float(next(coef)) if use_n else nan
    b = float(next(coef)) if use_d else nan
    return PowerFit(float(np.exp(beta[0])), a, b, _r2(np.log(s), A @ beta))


def power_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`fit_power` for every rule of ``table``: columns ``rule, c, a, b, r2, points``."""
    rows = []
    for rule in dict.fromkeys(table["rule"]):
        fit = fit_power(table, rule)
        pts = int((_ok_rows(table)["rule"] == rule).sum())
        rows.append({"rule": rule, **fit._asdict(), "points": pts})
    return pd.DataFrame(rows, columns=["rule", "c", "a", "b", "r2", "points"])


