"""Benchmark: where the sim trainer spends its time, and what two processes buy.

Declared run: the first quarter of the Fig. 5 analog's plateau cell at the quick profile
(Fashion-MNIST, 18,000 training examples, LeNet-5, n = 9, b = 3, Bernoulli E[r] = 2, reverse
attack, B = 16): 2.5 epochs (313 steps), one torch thread, evaluated as that cell is, every
1.25 epochs (``eval_every`` = 1.25, plus the evaluation at step 0: 3 evaluations here, 9 in
the cell's 1,250 steps), on the full 10,000-image test set and, beside it, on the other quick
cells' 2,000-image subsample.
Printed, measured side by side in one run:

  * the gradient share: time in the partition gradients / wall time of the run, with the
    evaluation batch of 512 (``gradients.EVAL_BATCH``) and with the earlier 2,048 (target: >= 70%
    on the declared run with the full test set);
  * training throughput of two configurations in two single-thread processes against the
    same two run one after the other in one two-thread process (examples per second).

  python benchmarks/bench_train.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import time

import torch

from electionlib import gradients
from electionlib import train as T


def _cfg(epochs, test_subsample, seed=0, subsample=18000, dataset="fmnist"):
    return T.TrainConfig(dataset=dataset, subsample=subsample, test_subsample=test_subsample,
                         n=9, b=3, code="bernoulli", r=2.0, attack="reverse", lr=1e-4,
                         epochs=epochs, eval_every=epochs / 2, seed=seed)


def _one(cfg):
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    res = T.run(cfg, progress=False)
    return time.perf_counter() - t0, res.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny run on digits (smoke test)")
    a = ap.parse_args()
    kw = dict(subsample=None, dataset="digits") if a.quick else {}
    epochs = 0.3 if a.quick else 2.5
    torch.set_num_threads(1)
    print("gradient share of the wall time (one torch thread):")
    shares = {}
    for batch in (512, 2048):
        gradients.EVAL_BATCH = batch
        for test in (None, 2000):
            wall, s = _one(_cfg(epochs, test, **kw))
            share = s["gradient_seconds"] / wall
            shares[(batch, test)] = share
            print(f"  eval batch {batch:5d}, test set {test or 'full':>5}: gradient "
                  f"{s['gradient_seconds']:.1f} s, evaluation {s['evaluation_seconds']:.1f} s,"
                  f" wall {wall:.1f} s: gradient share {share:.0%}")
    gradients.EVAL_BATCH = 512
    met = shares[(512, None)] >= 0.70
    print(f"target: gradient share >= 70% (declared run, full test set, batch 512): "
          f"{shares[(512, None)]:.0%} ({'MET' if met else 'NOT MET'})")
    cfgs = [_cfg(epochs, 2000, seed=s, **kw) for s in (1, 2)]
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    for c in cfgs:
        T.run(c, progress=False)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(_one, cfgs))
    parallel = time.perf_counter() - t0
    print(f"two configurations: one process with two threads {serial:.1f} s, two single-thread "
          f"processes {parallel:.1f} s (with their start-up): ratio {parallel / serial:.2f}")


if __name__ == "__main__":
    main()
