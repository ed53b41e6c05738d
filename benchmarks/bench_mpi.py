"""Benchmark: the MPI parameter server on this machine (LeNet-5, Fashion-MNIST).

Short uncoded trainings through mpiexec (1 server + n workers, one thread each), for 1-bit
votes (SignSGD-MV) and float32 gradients (mean), n in --ns (default 3, 5, 9). Printed from
the runs' own timing breakdowns (medians are not needed: each figure is a mean over the
run's steps), measured side by side:
  * per step: worker gradient compute, encode, server wait, decode, broadcast, update;
  * n = 9: the server's decode + broadcast time / a worker's gradient time (target <= 5%),
    in wall seconds and in CPU seconds (n + 1 ranks share this machine's cores, so wall time
    also measures the scheduler);
  * float32 message bytes / vote message bytes (target >= 30x).

  python benchmarks/bench_mpi.py [--ns 3,5,9] [--epochs 0.3] [--subsample 18000] [--quick]
"""

from __future__ import annotations

import argparse

import pandas as pd

from electionlib.mpi_backend import step_breakdown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ns", default="3,5,9")
    ap.add_argument("--epochs", type=float, default=0.3)
    ap.add_argument("--subsample", type=int, default=18000)
    ap.add_argument("--dataset", default="fmnist")
    ap.add_argument("--quick", action="store_true", help="tiny run on digits (smoke test)")
    a = ap.parse_args()
    ns = tuple(int(x) for x in a.ns.split(","))
    if a.quick:
        a.epochs, a.subsample, a.dataset, ns = 0.2, None, "digits", (3,)
    tab = step_breakdown(ns, dataset=a.dataset, subsample=a.subsample, epochs=a.epochs)
    ms = tab.copy()
    cols = ["worker_compute", "worker_encode", "server_wait", "server_decode",
            "server_broadcast", "update"]
    ms[cols] = ms[cols] * 1e3
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print("per-step breakdown (milliseconds):")
        print(ms[["scheme", "n", "d", "steps", "bytes_per_worker_per_step", *cols]]
              .to_string(index=False))
    n_t = max(ns) if 9 not in ns else 9
    v = tab[(tab.scheme == "votes") & (tab.n == n_t)].iloc[0]
    f = tab[(tab.scheme == "float32") & (tab.n == n_t)].iloc[0]
    for label, ratio in (("wall", v.server_over_compute), ("CPU", v.server_over_compute_cpu)):
        print(f"target: votes, n={n_t}: server decode + broadcast / worker gradient time "
              f"({label}) = {ratio:.2%} (<= 5%: {'MET' if ratio <= 0.05 else 'NOT MET'})")
    size = f.bytes_per_worker_per_step / v.bytes_per_worker_per_step
    print(f"target: float32 message / vote message = {size:.1f}x (>= 30x: "
          f"{'MET' if size >= 30 else 'NOT MET'})")


if __name__ == "__main__":
    main()
