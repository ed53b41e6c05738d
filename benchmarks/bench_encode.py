"""Benchmark: worker-side encoding vs the gradient it follows.

A worker holding r partitions computes r mini-batch gradients, then sends the packed
majority of their signs (votes.worker_vote = votes.sign_bits + votes.encode). Timed
alternately, side by side, with torch on one thread (as an MPI rank): the gradient of ONE
partition and the encode + pack of r partitions. Under the `coin` tie rule the compiled
(numba) encoder runs and the numpy one is timed beside it in the same loop. Target:
encode + pack <= 5% of the per-partition LeNet-5 gradient time for r <= 3 (LeNet-5 on
Fashion-MNIST; MLP on digits if it is missing).

  python benchmarks/bench_encode.py [--models lenet5 logreg] [--rs 1 2 3 5] [--repeats 50]
      [--threads 1] [--csv out.csv] [--quick]
"""

from __future__ import annotations

import argparse

import pandas as pd

from electionlib import perf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["lenet5", "logreg"],
                    choices=["lenet5", "logreg", "mlp"])
    ap.add_argument("--rs", type=int, nargs="+", default=[1, 2, 3, 5])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per (model, r)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tie", default=None, help="tie rule (default: the trainer's)")
    ap.add_argument("--csv", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    a = ap.parse_args()
    if a.quick:
        ci = perf.SIZES["ci"]["encode"]
        a.models, a.rs, a.repeats, a.budget = ["mlp"], list(ci["rs"]), 3, 1.0
    table = perf.encode_table(models=a.models, rs=a.rs, repeats=a.repeats, budget=a.budget,
                              tie=a.tie, threads=a.threads)
    if a.csv:
        table.to_csv(a.csv, index=False)
    pd.set_option("display.width", 200)
    show = table.assign(grad_ms=table.grad_seconds_per_partition * 1e3,
                        encode_ms=table.encode_seconds * 1e3)
    print("\nworker side: per-partition gradient vs local majority + packing of r partitions")
    if table["ratio_numpy"].notna().any():  # compiled encoder in use: the numpy one beside it
        show = show.assign(numpy_ms=table.encode_seconds_numpy * 1e3)
    cols = ["model", "dataset", "d", "r", "tie", "encoder", "grad_ms", "encode_ms", "ratio"]
    cols += ["numpy_ms", "ratio_numpy"] if "numpy_ms" in show else []
    print(show[cols]
          .to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for note in sorted(set(table["note"]) - {""}):
        print(f"note: {note}")
    print("\ntargets (ratios from this run)")
    for line in perf.format_targets(perf.targets(enc=table)):
        print(line)


if __name__ == "__main__":
    main()
