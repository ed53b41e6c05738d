"""The project's performance targets: one row per target, its measured ratio (two rows of
one table, measured side by side), the threshold, and whether it is met."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fits import _ok_rows
from .tables import _TARGET_D, _TARGET_N

# --------------------------------------------------------------------------- targets


_TARGET_COLUMNS = ["target", "measured", "op", "threshold", "met", "note"]


def _pair(agg: pd.DataFrame, num: str, den: str) -> tuple[float, str]:
    """``seconds(num) / seconds(den)`` at the (n, d) nearest the targets' (15, 1.1e7)."""
    ok = _ok_rows(agg)
    a = ok[ok["rule"] == num].set_index(["n", "d"])["seconds"]
    b = ok[ok["rule"] == den].set_index(["n", "d"])["seconds"]
    common = a.index.intersection(b.index)
    if len(common) == 0:
        return float("nan"), f"not measured: no (n, d) where both {num} and {den} ran"
    n = min({nn for nn, _ in common}, key=lambda nn: (abs(nn - _TARGET_N), -nn))
    dd = [d for nn, d in common if nn == n]
    d = _TARGET_D if _TARGET_D in dd else max(dd)
    where = f"n={n}, d={d:,}"
    if (n, d) != (_TARGET_N, _TARGET_D):
        where += (f" (the target is stated at n={_TARGET_N}, d={_TARGET_D:,}; nearest n and "
                  f"largest d that ran)")
    ta, tb = float(a[(n, d)]), float(b[(n, d)])
    return ta / tb, f"{where}: {num} {ta:.4g} s, {den} {tb:.4g} s"


def _met(measured: float, op: str, threshold: float) -> bool:
    if not np.isfinite(measured):
        return False
    return {"<=": measured <= threshold, ">=": measured >= threshold,
            "<": measured < threshold}[op]


def targets(agg: pd.DataFrame | None = None, enc: pd.DataFrame | None = None,
            ver: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per performance target of the project that the given tables measure, met or not.

    * from ``agg`` (:func:`aggregation_table`), at n = 15, d = 1.1e7 or the nearest n and
      largest d where both rules ran (the note says which): majority / mean <= 0.25,
      median / majority >= 100, majority / copy_packed <= 4;
    * from ``enc`` (:func:`encode_table`): the worst encode / gradient ratio over r <= 3
      for LeNet-5, <= 0.05 (a stand-in model if LeNet-5 was not measured: said in the note);
    * from ``ver`` (:func:`verify_table`): verification time at n = 21 < 10 s, n = 25 < 120 s.

    A table passed as ``None`` contributes no rows; a target its table cannot measure gets
    ``measured`` NaN, ``met`` False and a note saying why. Ratios use rows of one table only,
    i.e. measured in the same run.

    Returns:
        Columns ``target, measured, op, threshold, met, note``.

    Example:
        >>> agg = pd.DataFrame({"rule": ["majority", "mean"], "n": 15, "d": 11_000_000,
        ...                     "seconds": [0.01, 0.1], "status": "ok"})
        >>> row = targets(agg).iloc[0]
        >>> row.target, round(float(row.measured), 6), bool(row.met)
        ('majority / mean', 0.1, True)
    """
    rows = []

    def add(target, measured, op, threshold, note):
        rows.append({"target": target, "measured": measured, "op": op,
                     "threshold": threshold, "met": _met(measured, op, threshold),
                     "note": note})

    if agg is not None:
        for num, den, op, thr in (("majority", "mean", "<=", 0.25),
                                  ("median", "majority", ">=", 100.0),
                                  ("majority", "copy_packed", "<=", 4.0)):
            ratio, note = _pair(agg, num, den) if len(agg) else (float("nan"), "not measured")
            add(f"{num} / {den}", ratio, op, thr, note)
    if enc is not None:
        e = enc[enc["r"] <= 3] if len(enc) else enc
        lenet = e[e["model"] == "lenet5"] if len(e) else e
        proxy = ""
        if len(e) and not len(lenet):
            lenet = e[e["model"] != "logreg"]
            if len(lenet):
                proxy = (f"LeNet-5 not measured: stand-in {lenet['model'].iloc[0]} on "
                         f"{lenet['dataset'].iloc[0]}; ")
        if len(lenet):
            worst = lenet.loc[lenet["ratio"].idxmax()]
            note = (f"{proxy}worst r={int(worst['r'])} of r<=3 ({worst['model']} on "
                    f"{worst['dataset']}, d={int(worst['d']):,}): encode "
                    f"{worst['encode_seconds']:.3g} s, gradient "
                    f"{worst['grad_seconds_per_partition']:.3g} s per partition")
            add("encode+pack / per-partition LeNet gradient (r <= 3)", float(worst["ratio"]),
                "<=", 0.05, note)
        else:
            add("encode+pack / per-partition LeNet gradient (r <= 3)", float("nan"), "<=",
                0.05, "not measured: no LeNet (or stand-in) rows with r <= 3")
    if ver is not None:
        for n, thr in ((21, 10.0), (25, 120.0)):
            sel = ver[ver["n"] == n] if len(ver) else ver
            if len(sel):
                row = sel.iloc[0]
                note = (f"b={int(row['b'])}, {int(row['messages']):,} messages, certified="
                        f"{bool(row['certified'])}")
                add(f"verify Algorithm 1, n={n} (seconds)", float(row["seconds"]), "<", thr,
                    note)
            else:
                add(f"verify Algorithm 1, n={n} (seconds)", float("nan"), "<", thr,
                    f"not measured: n={n} not in this run")
    return pd.DataFrame(rows, columns=_TARGET_COLUMNS)


def format_targets(table: pd.DataFrame) -> list[str]:
    """Printable lines ``target ...: measured ... (op threshold) MET / NOT MET / NOT MEASURED``.

    Example:
        >>> t = targets(ver=pd.DataFrame({"n": [21], "b": [9], "messages": [1],
        ...                               "certified": [True], "seconds": [0.02]}))
        >>> format_targets(t)[0].split(" -- ")[0]
        'target verify Algorithm 1, n=21 (seconds): measured 0.02 (< 10) MET'
    """
    lines = []
    for row in table.itertuples(index=False):
        note = row.note
        if not np.isfinite(row.measured):
            verdict, measured = "NOT MEASURED", "-"
            note = note.removeprefix("not measured: ")
        else:
            verdict, measured = ("MET" if row.met else "NOT MET"), f"{row.measured:.4g}"
        lines.append(f"target {row.target}: measured {measured} ({row.op} {row.threshold:g}) "
                     f"{verdict} -- {note}")
    return lines


