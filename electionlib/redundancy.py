"""Tables behind notebook 08: the minimum redundancy of a perfectly b-tolerant code in the
paper's model (every row of odd weight), solved exactly (:mod:`electionlib.optimal`).

Each function returns a tidy ``pandas.DataFrame``; the notebook only shows and plots them.

* :func:`minimum_table`: per ``(n, b)``, the best certified code, its status (``OPTIMAL``:
  the solver proved that none has fewer ones; ``FEASIBLE``: the time limit was hit, with the
  proven bound), eq. (5) for Algorithm 1, DRACO's ``2b + 1`` and the paper-proof bound
  (:func:`electionlib.optimal.lower_bound`);
* :func:`cost_table`: total ones and the largest row weight of Algorithm 1's code, of the
  fewest-ones code and of the smallest-load code;
* :func:`loose_table`: the looser model (empty rows allowed), where for odd ``k`` the
  ``2b + 1`` full rows are optimal under every tie rule, with the checker's certificate, and
  one 1 fewer in a column fails;
* :func:`tie_table`: the search under each tie rule;
* :func:`verdict_table`: the table the claims ``alg1-minimum-n*-b*`` are judged on;
* :func:`training_table`: the Fig. 4 analog with the optimal codes: final accuracy, total
  computation and the time to accuracy in the slowest worker's partition gradients.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from . import claims, codes, optimal, suites, tolerance
from .config import allocation, code_stream, streams

__all__ = ["PROFILE", "cells", "evidence", "minimum_table", "cost_table", "loose_table",
           "tie_table", "verdict_table", "verdict_rows", "training_table", "TTA_TARGETS"]

#: What each profile solves live: every ``(n, b)`` of :func:`electionlib.optimal.grid` up to
#: ``max_n`` at ``time_limit`` seconds per cell and objective; the tie rules at
#: ``tie_cells``; ``k != n`` at ``k_cells``; the Fig. 4 analog at ``train`` = (n, b) (its
#: budget is :func:`electionlib.suites.figure_grid`'s). The cells beyond ``max_n`` are read
#: from the package's store (:data:`electionlib.optimal.STORE`, certified again on reading).
PROFILE = {
    "ci": dict(max_n=7, time_limit=10.0, tie_cells=((3, 1), (4, 1), (5, 1)),
               k_cells=((5, 1, 3), (5, 1, 7)), train=(9, 2)),
    "quick": dict(max_n=9, time_limit=20.0,
                  tie_cells=((3, 1), (4, 1), (5, 1), (5, 2), (6, 1), (7, 1), (7, 2)),
                  k_cells=((5, 1, 3), (5, 1, 7), (7, 1, 5), (7, 2, 9)), train=(9, 2)),
    "full": dict(max_n=optimal.STORE_RECIPE["max_n"],
                 time_limit=optimal.STORE_RECIPE["time_limit"],
                 tie_cells=tuple(c for c in optimal.grid(7)),
                 k_cells=optimal.STORE_RECIPE["extra"], train=(9, 2)),
}

#: Accuracy targets of the Fig. 4 analog's time to accuracy.
TTA_TARGETS = (0.6, 0.7, 0.75)


def cells(profile: str) -> list[tuple[int, int]]:
    """The ``(n, b)`` cells solved live at ``profile``."""
    return optimal.grid(PROFILE[profile]["max_n"])


def evidence(*sources) -> dict:
    """The combined result per ``(n, b, k, objective)`` over lists of
    :class:`~electionlib.optimal.OptimalCode` (e.g. the live search, then the store): the best
    certified code of any source and of either objective (a code found for the smallest load
    may have fewer ones than the best one found for the ones, when both hit the time limit)
    and the highest proven bound of any source for the objective itself; its status is
    ``OPTIMAL`` when that bound reaches the code's value (for ``max_load``: the load, not the
    ones of the tie-break), else ``FEASIBLE``. A bound above a certified code's value is a
    contradiction between sources, and raises.
    Returns ``{(n, b, k, objective): (result, source index of its code, source index of its
    bound)}``."""
    codes_: dict = {}
    bounds: dict = {}
    for i, src in enumerate(sources):
        for r in src:
            key = (r.n, r.b, r.k, r.objective)
            if key not in bounds or r.bound > bounds[key][0]:
                bounds[key] = (r.bound, i)
            if r.G is None or r.certificate is None or not r.certificate.tolerant:
                continue
            # a certified code counts for both questions, whichever objective found it
            for obj, val in (("ones", r.ones), ("max_load", r.max_load)):
                kk = (r.n, r.b, r.k, obj)
                if kk not in codes_ or (val, r.ones) < codes_[kk][0]:  # then fewer ones
                    codes_[kk] = ((val, r.ones), dataclasses.replace(r, objective=obj), i)
    out = {}
    for key, ((val, _), r, i) in codes_.items():
        bound, j = bounds.get(key, (-math.inf, i))
        if bound > val:
            raise ValueError(f"{key}: a proven bound of {bound:g} above a certified code of "
                             f"{val:g}: the sources contradict each other")
        out[key] = (dataclasses.replace(r, bound=float(bound),
                                        status="OPTIMAL" if bound >= val else "FEASIBLE"), i, j)
    return out


def _alg1(n: int, b: int, k: int):
    if k != n or n % 2 == 0 or not 0 < b < n // 2:
        return None
    return codes.deterministic(n, b)


def minimum_table(results, *, source_names=("live", "store")) -> pd.DataFrame:
    """One row per ``(n, b, k)`` for the objective ``ones``.

    Args:
        results: lists of :class:`~electionlib.optimal.OptimalCode` (:func:`evidence`).
        source_names: a name for each list, in the ``source`` column.

    Columns: n, b, k, status, ones, redundancy, bound (proven lower bound on the ones), gap
    (ones - bound), alg1_ones, eq5 (Algorithm 1's redundancy, eq. (5)), gap_to_eq5,
    draco (2b + 1), lower_bound (:func:`electionlib.optimal.lower_bound`), cuts, rounds,
    seconds, tolerant, source (of the code), bound_source (of the bound).
    """
    ev = evidence(*results)
    rows = []
    for (n, b, k, obj), (r, i, j) in sorted(ev.items()):
        if obj != "ones":
            continue
        a1 = _alg1(n, b, k)
        rows.append(dict(
            n=n, b=b, k=k, status=r.status, ones=r.ones, redundancy=r.redundancy,
            bound=r.bound, gap=r.ones - r.bound, alg1_ones=None if a1 is None else int(a1.sum()),
            eq5=r.eq5, gap_to_eq5=r.gap_to_eq5, draco=2 * b + 1,
            lower_bound=optimal.lower_bound(n, b, k), cuts=r.cuts, rounds=r.rounds,
            seconds=r.seconds, tolerant=bool(r.certificate.tolerant), source=source_names[i],
            bound_source=source_names[j]))
    return pd.DataFrame(rows)


def cost_table(results) -> pd.DataFrame:
    """Total computation (ones) and the most loaded worker (largest row weight) of
    Algorithm 1's code, of the fewest-ones code and of the smallest-load code, per ``(n, b)``
    with ``k = n`` (Algorithm 1's columns are empty where it is not defined).
    ``min_load_bound`` is the proven lower bound on the largest row weight: where it equals
    ``min_load`` the load is optimal even if the status (which also covers the ones, the
    tie-break) is ``FEASIBLE``."""
    ev = evidence(*results)
    rows = []
    for n, b in sorted({(n, b) for (n, b, k, _) in ev if k == n}):
        ones = ev.get((n, b, n, "ones"), (None,))[0]
        load = ev.get((n, b, n, "max_load"), (None,))[0]
        a1 = _alg1(n, b, n)
        rows.append(dict(
            n=n, b=b,
            alg1_ones=None if a1 is None else int(a1.sum()),
            alg1_max_load=None if a1 is None else int(a1.sum(axis=1).max()),
            min_ones=None if ones is None else ones.ones,
            min_ones_max_load=None if ones is None else ones.max_load,
            min_ones_status=None if ones is None else ones.status,
            min_load=None if load is None else load.max_load,
            min_load_bound=None if load is None else load.bound,
            min_load_ones=None if load is None else load.ones,
            min_load_status=None if load is None else load.status))
    return pd.DataFrame(rows)


def loose_table(cells_, *, ties=tolerance.TIE_RULES) -> pd.DataFrame:
    """The looser model (empty rows allowed), ``k = n`` odd: ``2b + 1`` all-ones rows and
    empty rows (:func:`~electionlib.optimal.loose_optimum`), certified under each tie rule,
    reach the column bound ``(2b + 1) k``; the same code with one 1 removed from a column
    (that column then has ``2b`` ones) is refuted by the checker under each tie rule."""
    rows = []
    for n, b in cells_:
        if n % 2 == 0:
            raise ValueError(f"cells_ holds n={n}: the looser model's theorem is for odd k = n")
        G = optimal.loose_optimum(n, b)
        fewer = G.copy()
        fewer[0, 0] = 0
        for tie in ties:
            ok = tolerance.verify(G, b, tie=tie)
            bad = tolerance.verify(fewer, b, tie=tie)
            rows.append(dict(n=n, b=b, tie=tie, ones=int(G.sum()),
                             lower_bound=optimal.lower_bound(n, b), tolerant=bool(ok.tolerant),
                             one_fewer_tolerant=bool(bad.tolerant),
                             certificate=ok.method, messages=int(ok.messages_checked)))
    return pd.DataFrame(rows)


def tie_table(cells_, *, time_limit: float, ties=tolerance.TIE_RULES, root=None,
              show_progress: bool = True) -> pd.DataFrame:
    """The minimum number of ones solved under each tie rule, per cell (``same``: one answer
    under every rule). In the model every row has odd weight, so no worker's local majority
    ties; a tie at the master is a failure under every rule of the checker."""
    rows = []
    for tie in ties:
        for r in optimal.solve_cells(cells_, time_limit=time_limit, tie=tie, root=root,
                                     show_progress=show_progress):
            rows.append(dict(n=r.n, b=r.b, k=r.k, tie=r.tie, status=r.status, ones=r.ones,
                             bound=r.bound))
    t = pd.DataFrame(rows)
    wide = t.pivot_table(index=["n", "b", "k"], columns="tie", values="ones",
                         aggfunc="first").reset_index()
    status = t.groupby(["n", "b", "k"])["status"].agg(lambda s: "/".join(sorted(set(s))))
    wide = wide.merge(status.rename("status").reset_index(), on=["n", "b", "k"])
    wide["same"] = wide[list(ties)].nunique(axis=1) == 1
    wide.columns.name = None
    return wide


def verdict_table(results, *, source_names=("live", "store")) -> pd.DataFrame:
    """The table of :class:`electionlib.claims.Minimum` for every cell of Algorithm 1
    (:data:`electionlib.claims.ALG1_CELLS`): reference = Algorithm 1's ones, the best code's
    ones, its certificate, the status and the proven bound (:func:`evidence`); a cell that
    ``results`` does not cover has no code (``source`` ``none``: judged open)."""
    ev = evidence(*results)
    rows = []
    for n, b in claims.ALG1_CELLS:
        hit = ev.get((n, b, n, "ones"))
        if hit is None:  # no certified code: the rule says open (a bound alone never decides)
            rows.append(dict(cell=f"n={n},b={b}", n=n, b=b,
                             reference=claims.ALG1_ONES[(n, b)], ones=math.nan, tolerant=False,
                             status="UNKNOWN", bound=math.nan, source="none",
                             bound_source="none"))
            continue
        r, i, j = hit
        rows.append(dict(cell=f"n={n},b={b}", n=n, b=b, reference=claims.ALG1_ONES[(n, b)],
                         ones=r.ones, tolerant=bool(r.certificate.tolerant), status=r.status,
                         bound=r.bound, source=source_names[i],
                         bound_source=source_names[j]))
    return pd.DataFrame(rows)


def verdict_rows(vt: pd.DataFrame, profile: str) -> list[dict]:
    """Judge every claim ``alg1-minimum-n*-b*`` on its row of :func:`verdict_table`; the
    budget names the evidence's source and its time limit per cell."""
    limit = {"live": f"this run ({PROFILE[profile]['time_limit']:g} s per cell)",
             "store": f"the package's store ({optimal.STORE_RECIPE['time_limit']:g} s per cell)"}

    def budget(r) -> str:
        if r.source == "none":
            return "no result"
        if r.source == r.bound_source:
            return f"code and bound: {limit[r.source]}"
        return f"code: {limit[r.source]}; bound: {limit[r.bound_source]}"

    return [claims.judge(f"alg1-minimum-n{r.n}-b{r.b}", vt[vt.cell == r.cell],
                         budget=budget(r), profile=profile) for r in vt.itertuples()]


def training_table(df: pd.DataFrame, configs, *, targets=TTA_TARGETS) -> pd.DataFrame:
    """The Fig. 4 analog with the optimal codes, per method: final accuracy (mean over
    seeds), the code's ones and largest row weight, the total computation (partition
    gradients over the run: ones times steps) and the time to each accuracy target in units
    of one partition gradient of the most loaded worker (the metrics' ``load_units``: the
    slowest worker sets the pace, and every vote code sends the same bits, so this is the
    modelled time without the noise of a measured per-gradient time).

    Args:
        df: the runs' metrics with ``method``, ``seed``, ``step`` and ``load_units`` columns
            (:func:`electionlib.suites.run_grid`).
        configs: the grid's ``(labels, TrainConfig)`` entries
            (:func:`electionlib.suites.optimal_grid`).
    """
    codes_ = {}
    for lab, cfg in configs:
        if lab["method"] == "clean" or lab["method"] in codes_:
            continue
        k = cfg.k or cfg.n
        codes_[lab["method"]] = allocation(cfg, k, code_stream(cfg, streams(cfg.seed)))
    final = suites.final_table(df, ["method"])
    tta = suites.time_to_accuracy(df, ["method"], targets, time_col="load_units")
    steps = df.groupby(["method", "seed"])["step"].max().groupby("method").mean()
    out = final.merge(tta, on="method")
    out["ones"] = [int(codes_[m].sum()) if m in codes_ else None for m in out.method]
    out["max_load"] = [int(codes_[m].sum(axis=1).max()) if m in codes_ else None
                       for m in out.method]
    out["steps"] = [float(steps[m]) for m in out.method]
    out["partition_gradients"] = [None if o is None or math.isnan(o) else o * s
                                  for o, s in zip(out["ones"], out["steps"], strict=True)]
    return out
