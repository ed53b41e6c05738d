"""Benchmark: master-side aggregation of n messages of dimension d.

The packed majority vote beside the float32 robust aggregators, the DRACO decoders and the
memory-bandwidth anchors (copying the packed votes / the float32 array), all on the same
inputs, measured side by side in one run (median of repeats after a dropped warm-up).
Cases over the memory cap or the time limit are skipped with a printed reason; log-log
slopes vs n and d and a fit seconds = c n^a d^b are made on the cases that ran. Then the
the project's targets (n = 15, d = 1.1e7, or the largest d that ran):

  majority / float32 mean <= 0.25;  median / majority >= 100;  majority / copy_packed <= 4

  python benchmarks/bench_aggregation.py [--ns 5 9 15 49 101] [--ds 263500 1000000 11000000]
      [--rules majority mean ...] [--repeats 5] [--time-limit 60] [--max-floats 2e8]
      [--chunk 1000000] [--csv out.csv] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from electionlib import perf


def seconds_pivot(table: pd.DataFrame, d: int) -> pd.DataFrame:
    """rule x n: milliseconds, or 'skip' / '>limit' (timeouts show their first-call time)."""
    sub = table[table["d"] == d]

    def cell(row) -> str:
        if row.status == "ok":
            return f"{row.seconds * 1e3:.3g}" + ("*" if str(row.reason).startswith("chunked")
                                                  else "")
        if row.status == "timeout":
            return f">{row.seconds:.0f}s"
        return "skip"

    cells = sub.assign(cell=[cell(r) for r in sub.itertuples(index=False)])
    out = cells.pivot(index="rule", columns="n", values="cell")
    return out.reindex([r for r in perf.AGG_RULES if r in out.index])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ns", type=int, nargs="+", default=[5, 9, 15, 49, 101])
    ap.add_argument("--ds", type=int, nargs="+", default=[263_500, 1_000_000, 11_000_000])
    ap.add_argument("--rules", nargs="+", default=None, choices=perf.AGG_RULES)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed repeats per case (default: the time limit)")
    ap.add_argument("--max-floats", type=float, default=2e8)
    ap.add_argument("--chunk", type=int, default=None,
                    help="process oversized column-wise cases in blocks of this many columns")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", default=None, help="also write the table to this CSV file")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    a = ap.parse_args()
    if a.quick:
        ci = perf.SIZES["ci"]["aggregation"]
        a.ns, a.ds, a.repeats = list(ci["ns"]), list(ci["ds"]), ci["repeats"]
        a.time_limit, a.budget = ci["time_limit"], ci["budget"]
    t0 = time.perf_counter()
    table = perf.aggregation_table(ns=a.ns, ds=a.ds, rules=a.rules, repeats=a.repeats,
                                   max_floats=a.max_floats, time_limit=a.time_limit,
                                   chunk=a.chunk, seed=a.seed, budget=a.budget)
    wall = time.perf_counter() - t0
    if a.csv:
        table.to_csv(a.csv, index=False)
    pd.set_option("display.width", 200)
    print(f"\nmaster-side aggregation, milliseconds (median of up to {a.repeats} repeats; "
          f"'skip' = over the memory cap or the time limit, '*' = processed in chunks)")
    for d in sorted(table["d"].unique()):
        print(f"\nd = {d:,}")
        print(seconds_pivot(table, d).to_string())
    slopes = perf.fit_loglog(table, x="n", by=("rule", "d"))
    print("\nlog-log slope of time vs n, per d (NaN: fewer than 2 cases ran)")
    print(slopes.pivot(index="rule", columns="d", values="slope")
          .reindex([r for r in perf.AGG_RULES if r in set(slopes["rule"])]).round(2).to_string())
    power = perf.power_table(table)
    print("\nfit seconds = c * n^a * d^b on the cases that ran")
    print(power.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    bad = table[table["status"] != "ok"]
    if len(bad):
        print(f"\n{len(bad)} case(s) not timed; reasons:")
        for row in bad.drop_duplicates(["rule", "status"]).itertuples(index=False):
            print(f"  {row.rule} n={row.n} d={row.d:,}: {row.status}: {row.reason}")
    t = perf.targets(agg=table)
    print("\ntargets (ratios from this run)")
    for line in perf.format_targets(t):
        print(line)
    met = int(t["met"].sum())
    print(f"\n{met}/{len(t)} targets met; {np.sum(table['status'] == 'ok')} cases timed "
          f"in {wall:.1f} s")


if __name__ == "__main__":
    main()
