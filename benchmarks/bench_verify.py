"""Benchmark: exhaustive Lemma 2 verification time vs n, and Monte-Carlo throughput
(the project's targets).

verify(codes.deterministic(n, b), b) for every odd n with b the largest b Algorithm 1
supports (b = n//2 - 1). Targets: n = 21 under 10 s, n = 25 under 2 minutes. Then the
Monte-Carlo estimators' throughput in coordinate-trials per second.

  python benchmarks/bench_verify.py [--ns 5 7 ... 25] [--repeats 3] [--mc-ns 9 15]
      [--mc-trials 1000000] [--csv-prefix out] [--quick]
"""

from __future__ import annotations

import argparse

import pandas as pd

from electionlib import perf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ns", type=int, nargs="+", default=list(range(5, 26, 2)))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mc-ns", type=int, nargs="+", default=[9, 15])
    ap.add_argument("--mc-trials", type=int, default=1_000_000)
    ap.add_argument("--csv-prefix", default=None,
                    help="also write <prefix>_verify.csv and <prefix>_montecarlo.csv")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    a = ap.parse_args()
    if a.quick:
        ci = perf.SIZES["ci"]
        a.ns, a.repeats = list(ci["verify"]["ns"]), 1
        a.mc_ns, a.mc_trials = list(ci["montecarlo"]["ns"]), ci["montecarlo"]["trials"]
    ver = perf.verify_table(ns=a.ns, repeats=a.repeats)
    mc = perf.montecarlo_table(ns=a.mc_ns, trials=a.mc_trials)
    if a.csv_prefix:
        ver.to_csv(f"{a.csv_prefix}_verify.csv", index=False)
        mc.to_csv(f"{a.csv_prefix}_montecarlo.csv", index=False)
    pd.set_option("display.width", 200)
    fmt = {"float_format": lambda x: f"{x:.4g}", "index": False}
    print("\nexhaustive verification of Algorithm 1 at its largest b (Lemma 2)")
    print(ver.to_string(**fmt))
    print("\nMonte-Carlo throughput")
    print(mc.to_string(**fmt))
    print("\ntargets (this run)")
    for line in perf.format_targets(perf.targets(ver=ver)):
        print(line)


if __name__ == "__main__":
    main()
