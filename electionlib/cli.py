"""Command line.

  python -m electionlib verify --n 15 --b 3
  python -m electionlib train --dataset fmnist --n 9 --b 3 --code bernoulli --r 2 \\
      --attack reverse --epochs 5 --seed 0 [--backend sim] [--results results/] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import codes, theory, tolerance


def _verify(args) -> int:
    try:
        G = codes.deterministic(args.n, args.design_b if args.design_b is not None else args.b)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res = tolerance.verify(G, args.b, tie=args.tie)
    design_b = args.design_b if args.design_b is not None else args.b
    r = codes.redundancy(G)
    r5 = theory.eq5_redundancy(args.n, design_b)
    if args.json:
        print(json.dumps({
            "n": args.n, "design_b": design_b, "b": args.b, "tolerant": res.tolerant,
            "redundancy": r, "eq5_redundancy": r5, "method": res.method,
            "messages_checked": res.messages_checked, "seconds": res.seconds,
            "counterexample": None if res.counterexample is None else {
                "m": res.counterexample.m.tolist(),
                "byzantine": list(res.counterexample.byzantine),
                "sent": res.counterexample.sent.tolist(),
            },
        }))
    else:
        print(f"Algorithm 1 code for n={args.n}, designed for b={design_b}:")
        with np.printoptions(linewidth=200):
            for row in G:
                print("  " + " ".join("1" if x else "." for x in row))
        print(f"redundancy r = ||G||_0/n = {r:.6g}; eq. (5) gives {r5:.6g}; "
              f"DRACO would need 2b+1 = {2 * design_b + 1}")
        print(res.summary())
    return 0 if res.tolerant else 1


def _train(args) -> int:
    from . import profiles, train

    prof = profiles.get(args.profile)
    cfg_kw = dict(
        dataset=args.dataset, model=args.model, n=args.n, b=args.b, k=args.k, code=args.code,
        r=args.r, p=args.p, design_b=args.design_b, aggregator=args.aggregator,
        attack=args.attack, byz_select=args.byz_select, byz_redraw=args.byz_redraw,
        momentum=args.momentum, tie=args.tie, rho=args.rho, noise_var=args.noise_var,
        quant_bits=args.quant_bits, lr=args.lr, batch=args.batch, epochs=args.epochs,
        seed=args.seed, weight_decay=args.weight_decay,
        lr_decay_epochs=tuple(float(x) for x in args.lr_decay_epochs.split(",") if x.strip()),
        subsample=args.subsample if args.subsample is not None
        else prof["train_subsample"].get(args.dataset),
        test_subsample=prof["train_test_subsample"].get(args.dataset),
    )
    if args.agg_param:
        pairs = []
        for item in args.agg_param:
            key, _, val = item.partition("=")
            try:
                pairs.append((key, json.loads(val)))
            except json.JSONDecodeError:
                pairs.append((key, val))
        cfg_kw["agg_params"] = tuple(pairs)
    try:
        if args.config:
            cfg = train.TrainConfig.from_dict(json.loads(open(args.config).read()))
        else:
            cfg = train.TrainConfig(**cfg_kw)
        if args.backend == "mpi":
            return _train_mpi(cfg, args)
        res = train.run_cached(cfg, force=args.force, root=args.results,
                               progress=not args.json)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = res.summary
    metric = "final_auc" if "final_auc" in s else "final_accuracy"
    if args.json:
        print(json.dumps({**s, "backend": args.backend}))
    else:
        print(f"{cfg.dataset} n={cfg.n} b={cfg.b} code={cfg.code} attack={cfg.attack}: "
              f"{metric} = {s[metric]:.4f} after {s['steps']} steps "
              f"({s['wall_seconds']:.1f} s wall, {s['modelled_seconds']:.1f} s modelled); "
              f"d = {s['model_dimension']:,}, {s['bytes_per_worker_per_step']:,} bytes per "
              f"worker per step; results in {s['results_dir']}")
    return 0


def _train_mpi(cfg, args) -> int:
    """Rank 0 runs the server and prints the result; workers print nothing."""
    import numpy as np

    from . import experiments
    from .mpi_backend import run_mpi

    misbehave = json.loads(args.misbehave) if args.misbehave else None
    key = {**cfg.to_dict(), "backend": "mpi", "parity": args.parity, "deadline": args.deadline}
    folder = experiments.results_dir(args.results) / "train_mpi" / experiments.config_hash(key)
    res = run_mpi(cfg, parity=args.parity, deadline=args.deadline, misbehave=misbehave,
                  checkpoint_dir=folder / "checkpoint", checkpoint_every=args.checkpoint_every,
                  resume=args.resume)
    if res is None:
        return 0
    experiments.atomic_write_text(folder / "config.json", json.dumps(key, indent=2))
    experiments.atomic_write_text(folder / "metrics.csv", res.metrics.to_csv(index=False))
    experiments.atomic_write_text(folder / "summary.json", json.dumps(res.summary, indent=2))
    np.save(folder / "params.npy", res.params)
    s = {**res.summary, "results_dir": str(folder)}
    metric = "final_auc" if "final_auc" in s else "final_accuracy"
    if args.json:
        print(json.dumps(s))
    else:
        print(f"[mpi] {cfg.dataset} n={cfg.n} b={cfg.b} code={cfg.code}: {metric} = "
              f"{s[metric]:.4f}; {s['bytes_per_worker_per_step']:,} bytes per worker per step; "
              f"results in {folder}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m electionlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="build Algorithm 1's code and certify it (Lemma 2)")
    p.add_argument("--n", type=int, required=True, help="number of workers (odd)")
    p.add_argument("--b", type=int, required=True, help="number of Byzantines to check")
    p.add_argument("--design-b", type=int, default=None,
                   help="b the code is designed for (default: --b)")
    p.add_argument("--tie", default="coin", choices=("plus", "coin", "abstain"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    t = sub.add_parser("train", help="train with coded votes or a robust aggregator")
    t.add_argument("--dataset", default="digits",
                   choices=("fmnist", "amazon", "cifar10", "digits"))
    t.add_argument("--model", default=None,
                   help="default per dataset: lenet, logreg, resnet18, mlp")
    t.add_argument("--n", type=int, default=9, help="workers")
    t.add_argument("--b", type=int, default=0, help="Byzantine workers")
    t.add_argument("--k", type=int, default=None, help="data partitions (default n)")
    t.add_argument("--code", default="uncoded", choices=("uncoded", "bernoulli", "deterministic",
                                                         "draco-repetition", "draco-cyclic"))
    t.add_argument("--r", type=float, default=None, help="Bernoulli expected redundancy")
    t.add_argument("--p", type=float, default=None, help="Bernoulli connection probability")
    t.add_argument("--design-b", type=int, default=None, help="b the code is designed for")
    t.add_argument("--aggregator", default=None, help="full-precision rule instead of votes")
    t.add_argument("--agg-param", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--attack", default="none")
    t.add_argument("--byz-select", default="random", choices=("random", "worst", "first"))
    t.add_argument("--byz-redraw", action="store_true")
    t.add_argument("--momentum", default="server", choices=("server", "worker", "none"))
    t.add_argument("--tie", default="coin", choices=("plus", "coin", "abstain"))
    t.add_argument("--rho", type=float, default=1.0)
    t.add_argument("--noise-var", type=float, default=0.0)
    t.add_argument("--quant-bits", type=int, default=1)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--lr-decay-epochs", default="", metavar="E1,E2,...",
                   help="epochs at which the learning rate is multiplied by 0.1 (Table B.2)")
    t.add_argument("--batch", type=int, default=16, help="per data partition")
    t.add_argument("--epochs", type=float, default=1.0)
    t.add_argument("--subsample", type=int, default=None, help="training examples kept")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--profile", default="full", choices=("ci", "quick", "full"),
                   help="data subsampling of the profile (full: all data)")
    t.add_argument("--backend", default="sim", choices=("sim", "mpi"),
                   help="mpi: run under mpiexec -n N+1 (rank 0 = server)")
    t.add_argument("--parity", action="store_true",
                   help="per-partition gradients (mpi results equal sim parity runs bit for bit)")
    t.add_argument("--deadline", type=float, default=None,
                   help="mpi: seconds the server waits for a step's votes (missing = absent)")
    t.add_argument("--misbehave", default=None, help=argparse.SUPPRESS)  # tests: worker faults
    t.add_argument("--config", default=None, metavar="FILE.json",
                   help="a whole TrainConfig as JSON (overrides the other training flags)")
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="K",
                   help="mpi: write a checkpoint every K steps (results/train_mpi/<hash>/)")
    t.add_argument("--resume", action="store_true",
                   help="mpi: continue from the last checkpoint of the same configuration")
    t.add_argument("--results", default=None, help="results folder (default results/)")
    t.add_argument("--force", action="store_true", help="recompute even if cached")
    t.add_argument("--json", action="store_true", help="print one JSON object (last line)")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args)
    if args.command == "train":
        return _train(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
