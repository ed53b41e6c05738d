"""Benchmark: what the point-to-point update costs against a broadcast, side by side.

The parameter server sends each step's update to every worker itself (``Isend`` from rank 0
to each of the n workers), so that no worker relays it (a collective's tree would route it
through worker ranks: a slow or Byzantine relay could delay or alter its subtree's update).
This measures, in one run and interleaved round by round, the time from rank 0 posting the
update to every worker holding it (each worker answers with a 1-byte acknowledgement), for

  * ``p2p``: n ``Isend`` from rank 0 (what the server does);
  * ``ibcast``: one ``Ibcast`` from rank 0 (what it did before, a tree through workers);

at the sizes of a LeNet-5 step (d = 61,706): the 1-bit vote update (value + nonzero bits,
2 * ceil(d/8) = 15,428 bytes + the 24-byte header) and the float32 update (246,824 + 24
bytes). Prints medians (and the 10-90% spread) in microseconds per round, the ratio
p2p / ibcast, and rank 0's CPU time per round for posting the sends.

  python benchmarks/bench_update.py [--n 9] [--rounds 400] [--quick]

(it starts ``mpiexec -n n+1`` itself; ``--quick`` is a smoke run at n = 3, 40 rounds)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"votes (LeNet-5)": 2 * 7714 + 24, "float32 (LeNet-5)": 4 * 61706 + 24}


def _ranks(rounds: int) -> None:
    from mpi4py import MPI

    from electionlib.mpi_transport import wait

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n = size - 1
    rows = []
    for label, nbytes in SIZES.items():
        buf = np.zeros(nbytes, np.uint8)
        ack = np.zeros(1, np.uint8)
        for r in range(rounds):
            for mode in (("p2p", "ibcast") if r % 2 == 0 else ("ibcast", "p2p")):
                comm.Barrier()  # the benchmark only: every round starts together
                if rank == 0:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    if mode == "p2p":
                        reqs = [comm.Isend([buf, MPI.BYTE], dest=w, tag=5)
                                for w in range(1, n + 1)]
                    else:
                        reqs = [comm.Ibcast([buf, MPI.BYTE], root=0)]
                    post = time.thread_time() - c0
                    acks = [comm.Irecv([np.zeros(1, np.uint8), MPI.BYTE], source=w, tag=6)
                            for w in range(1, n + 1)]
                    for q in reqs + acks:
                        wait(q)
                    rows.append((label, mode, time.perf_counter() - t0, post))
                else:
                    if mode == "p2p":
                        req = comm.Irecv([buf, MPI.BYTE], source=0, tag=5)
                    else:
                        req = comm.Ibcast([buf, MPI.BYTE], root=0)
                    wait(req)
                    wait(comm.Isend([ack, MPI.BYTE], dest=0, tag=6))
    if rank == 0:
        import pandas as pd

        df = pd.DataFrame(rows, columns=["update", "mode", "seconds", "post_cpu"])
        warm = df.groupby(["update", "mode"]).cumcount() >= 5  # drop warm-up rounds
        df = df[warm]
        print(f"n = {n} workers, {rounds} interleaved rounds per mode and size "
              f"(first 5 dropped); microseconds per round:")
        for label in SIZES:
            med = {}
            for mode in ("p2p", "ibcast"):
                s = df[(df["update"] == label) & (df["mode"] == mode)]
                med[mode] = float(s.seconds.median())
                lo, hi = np.percentile(s.seconds, [10, 90])
                print(f"  {label:18s} {mode:7s} median {1e6 * med[mode]:8.1f}  "
                      f"(10-90%: {1e6 * lo:.1f}-{1e6 * hi:.1f}); rank 0 CPU posting "
                      f"{1e6 * s.post_cpu.median():.1f}")
            print(f"  {label:18s} p2p / ibcast = {med['p2p'] / med['ibcast']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=400)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ranks", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ranks:
        return _ranks(a.rounds)
    if a.quick:
        a.n, a.rounds = 3, 40
    mpiexec = Path(sys.prefix) / "bin" / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(mpiexec), "-n", str(a.n + 1), sys.executable, __file__, "--ranks",
           "--rounds", str(a.rounds)]
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()
