"""Benchmark: the MPI parameter server on this machine (LeNet-5, Fashion-MNIST, n = 9).

Runs the same short training twice through mpiexec (1 server + 9 workers, one thread each):
1-bit votes (uncoded SignSGD-MV) and float32 gradients (mean), and prints, from the runs'
own timing breakdowns, measured side by side:
  * the server's decode + broadcast time per step / a worker's gradient time per step
    (target: <= 5%);
  * float32 message bytes / vote message bytes (target: >= 30x).

  python benchmarks/bench_mpi.py [--epochs 0.3] [--subsample 18000]
"""

from __future__ import annotations

import argparse

from electionlib.mpi_backend import launch
from electionlib.train import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=float, default=0.3)
    ap.add_argument("--subsample", type=int, default=18000)
    ap.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    a = ap.parse_args()
    if a.quick:
        a.epochs, a.subsample = 0.05, 2000
    base = dict(dataset="fmnist", n=9, subsample=a.subsample, test_subsample=500,
                epochs=a.epochs, eval_every=a.epochs, tie="plus", seed=0)
    runs = {"votes": TrainConfig(**base),
            "float32": TrainConfig(**base, aggregator="mean", lr=0.01)}
    out = {name: launch(cfg) for name, cfg in runs.items()}
    for name, r in out.items():
        t = r["timing_per_step"]
        print(f"{name:8s} d={r['model_dimension']:,}: message {r['bytes_per_worker_per_step']:,} "
              f"bytes; per step: worker compute {t['worker_compute'] * 1e3:.2f} ms, encode "
              f"{t['worker_encode'] * 1e3:.3f} ms; server wait {t['server_wait'] * 1e3:.2f} ms, "
              f"decode {t['server_decode'] * 1e3:.3f} ms, broadcast "
              f"{t['server_broadcast'] * 1e3:.3f} ms ({r['steps']} steps)")
    t = out["votes"]["timing_per_step"]
    ratio = (t["server_decode"] + t["server_broadcast"]) / t["worker_compute"]
    print(f"votes: server decode + broadcast / worker gradient time = {ratio:.2%} "
          f"(target <= 5%: {'MET' if ratio <= 0.05 else 'NOT MET'})")
    size = out["float32"]["bytes_per_worker_per_step"] / out["votes"]["bytes_per_worker_per_step"]
    print(f"float32 message / vote message = {size:.1f}x (target >= 30x: "
          f"{'MET' if size >= 30 else 'NOT MET'})")


if __name__ == "__main__":
    main()
