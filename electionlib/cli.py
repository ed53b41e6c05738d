"""Command line.

  python -m electionlib verify --n 15 --b 3
  python -m electionlib optimal --n 7 --b 2 [--k K] [--tie RULE] [--time-limit S] [--json]
  python -m electionlib train --dataset fmnist --n 9 --b 3 --code bernoulli --r 2 \\
      --attack reverse --epochs 5 --seed 0 [--backend sim] [--results results/] [--json]
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from . import codes, tolerance
from ._names import GRADIENT_ATTACKS, VOTE_ATTACKS

#: Flags that only the mpi backend reads (the sim backend refuses them).
MPI_ONLY = ("deadline", "first_deadline", "stall_timeout", "drop_after", "checkpoint_every",
            "resume", "misbehave")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ...`` on stderr and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse's hook
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default: argparse's, unless the help text states it already."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text:
            return text
        return super()._get_help_string(action)


def _positive_or_none(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return x


def _at_least_one(text: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if x < 1:
        raise argparse.ArgumentTypeError(f"{text} must be an integer >= 1")
    return x


def _epochs_list(text: str) -> tuple:
    out = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            x = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} must be comma-separated epochs, e.g. 50,75") from None
        if not math.isfinite(x) or x < 0:
            raise argparse.ArgumentTypeError(f"epoch {item} must be a finite number >= 0")
        out.append(x)
    return tuple(out)


def _verify(args) -> int:
    G = codes.deterministic(args.n, args.design_b if args.design_b is not None else args.b)
    res = tolerance.verify(G, args.b, tie=args.tie)
    design_b = args.design_b if args.design_b is not None else args.b
    r = codes.redundancy(G)
    r5 = codes.eq5_redundancy(args.n, design_b)
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


def _optimal(args) -> int:
    from . import optimal

    if args.store:
        res = optimal.build_store(max_n=args.max_n, time_limit=args.time_limit)
        print(f"{len(res)} codes written to {optimal.STORE}: "
              + ", ".join(f"{k}: {c}" for k, c in Counter(r.status for r in res).items()))
        return 0
    if args.n is None or args.b is None:
        raise ValueError("optimal needs --n and --b (or --store)")
    limit = 60.0 if args.time_limit is None else args.time_limit
    res = optimal.minimum_redundancy(args.n, args.b, k=args.k, tie=args.tie,
                                     objective=args.objective, time_limit=limit)
    if args.save and res.G is not None:
        print(f"stored in {optimal.save(res, time_limit=limit)}", file=sys.stderr)
    rc = {"OPTIMAL": 0, "INFEASIBLE": 1}.get(res.status, 3)
    if args.json:
        print(json.dumps(res.to_dict()))
        return rc
    print(f"n={res.n}, b={res.b}, k={res.k}, tie={res.tie}: minimise {res.objective} "
          f"({optimal.SOLVER}, every row of odd weight)")
    if res.G is not None:
        for row in res.G:
            print("  " + " ".join("1" if x else "." for x in row))
        eq5 = "" if res.eq5 is None else (f"; Algorithm 1 (eq. (5)): {res.eq5:.6g}, "
                                          f"{res.gap_to_eq5:+.6g} above it")
        print(f"ones = {res.ones}, redundancy = {res.redundancy:.6g}, max load = "
              f"{res.max_load}{eq5}; DRACO would need 2b+1 = {2 * res.b + 1}")
        print("tolerance certificate: " + res.certificate.summary())
    proof = {"OPTIMAL": "optimal: the solver proved that no code in the model has fewer",
             "FEASIBLE": "time limit: not proven optimal",
             "INFEASIBLE": "infeasible: the solver proved that no code in the model is "
                           "b-tolerant",
             "UNKNOWN": "time limit: no certified code"}[res.status]
    print(f"status {res.status} ({proof}); lower bound {res.bound:g}; {res.cuts} messages "
          f"encoded in {res.rounds} solver rounds; {res.seconds:.2f} s")
    return rc


def _train(args) -> int:
    from . import profiles, train

    if args.backend == "sim":
        used = [f"--{f.replace('_', '-')}" for f in MPI_ONLY
                if getattr(args, f, None) not in (None, False)]
        if used:
            raise ValueError(f"{', '.join(used)} apply only to --backend mpi (the sim "
                             f"backend has no transport to bound, checkpoint or resume)")
    prof = profiles.get(args.profile)
    cfg_kw = dict(
        dataset=args.dataset, model=args.model, n=args.n, b=args.b, k=args.k, code=args.code,
        r=args.r, p=args.p, design_b=args.design_b, aggregator=args.aggregator,
        attack=args.attack, byz_select=args.byz_select, byz_redraw=args.byz_redraw or None,
        momentum=args.momentum, tie=args.tie, rho=args.rho, noise_var=args.noise_var,
        quant_bits=args.quant_bits, lr=args.lr, batch=args.batch, epochs=args.epochs,
        seed=args.seed, weight_decay=args.weight_decay, lr_decay_epochs=args.lr_decay_epochs,
        empty_rows=args.empty_rows, amazon_rows=args.amazon_rows, device=args.device,
        partition=args.partition, alpha=args.alpha,
        labels_per_partition=args.labels_per_partition,
    )
    if args.agg_param:
        pairs = []
        for item in args.agg_param:
            key, sep, val = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--agg-param {item!r} must be KEY=VALUE, e.g. f=2")
            try:
                pairs.append((key, json.loads(val)))
            except json.JSONDecodeError:
                pairs.append((key, val))
        cfg_kw["agg_params"] = tuple(pairs)
    from . import presets

    if args.preset is not None:
        cfg_kw["dataset"] = args.dataset_given  # a preset names its dataset
        if cfg_kw["dataset"] is None:
            cfg_kw.pop("dataset")
    dataset = cfg_kw.get("dataset") or (presets.PRESETS[args.preset].fixed.get("dataset")
                                        if args.preset in presets.PRESETS else "digits")
    cfg_kw["subsample"] = (args.subsample if args.subsample is not None
                           else prof["train_subsample"].get(dataset))
    cfg_kw["test_subsample"] = prof["train_test_subsample"].get(dataset)
    if args.config:
        try:
            with open(args.config) as fh:
                raw = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {args.config} is not valid JSON: {exc}") from None
        cfg = train.TrainConfig.from_dict(raw)
    else:
        cfg = presets.build(args.preset, cfg_kw)
    if args.results is not None and os.path.exists(args.results) and \
            not os.path.isdir(args.results):
        raise ValueError(f"--results {args.results} is a file, not a folder")
    if args.backend == "mpi":
        return _train_mpi(cfg, args)
    res = train.run_cached(cfg, force=args.force, root=args.results, progress=not args.json)
    s = res.summary
    metric = "final_auc" if "final_auc" in s else "final_accuracy"
    if args.json or args.json_out is not None:
        _emit_json(args, {**s, "backend": args.backend})
    if not args.json:
        print(f"{cfg.dataset} n={cfg.n} b={cfg.b} code={cfg.code} attack={cfg.attack}: "
              f"{metric} = {s[metric]:.4f} after {s['steps']} steps "
              f"({s['wall_seconds']:.1f} s wall, {s['modelled_seconds']:.1f} s modelled)"
              f"{'; DIVERGED' if s.get('diverged') else ''}; "
              f"d = {s['model_dimension']:,}, {s['bytes_per_worker_per_step']:,} bytes per "
              f"worker per step; results in {s['results_dir']}")
    return 0


def _emit_json(args, summary: dict) -> None:
    """``--json-out``: write the summary to its file (first, so that it survives an abort
    that follows); ``--json``: print it as the last line."""
    text = json.dumps(summary)
    if args.json_out is not None:
        from . import experiments

        experiments.atomic_write_text(args.json_out, text)
    if args.json:
        print(text)


def _train_mpi(cfg, args) -> int:
    """Rank 0 runs the server, stores and prints the result; workers print nothing.

    A run whose results are complete but whose workers did not all finish ends the job
    with ``MPI_Abort`` and exit status ``EXIT_WORKERS_KILLED`` (3), after the results are
    written and printed.
    """
    from . import experiments
    from .mpi_backend import run_mpi
    from .mpi_transport import EXIT_WORKERS_KILLED

    try:
        misbehave = json.loads(args.misbehave) if args.misbehave else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--misbehave is not valid JSON: {exc}") from None
    from .train import TRAINER_VERSION

    # the sim backend's store, the mpi backend's settings in the key
    key = {**cfg.to_dict(), "backend": "mpi", "parity": args.parity, "deadline": args.deadline,
           "trainer_version": TRAINER_VERSION}
    if misbehave:
        key["misbehave"] = misbehave  # fault injection is part of what the result is
    for name, default in (("first_deadline", None), ("stall_timeout", None),
                          ("drop_after", None)):
        if getattr(args, name) != default:  # transport settings change what a fault does
            key[name] = getattr(args, name)
    folder = experiments.results_dir(args.results) / "train" / experiments.config_hash(key)
    res = run_mpi(cfg, parity=args.parity, deadline=args.deadline,
                  first_deadline=args.first_deadline,
                  stall_timeout=args.stall_timeout if args.stall_timeout is not None else 300.0,
                  drop_after=args.drop_after if args.drop_after is not None else 3,
                  misbehave=misbehave, checkpoint_dir=folder / "checkpoint",
                  checkpoint_every=args.checkpoint_every, resume=args.resume)
    if res is None:
        return 0
    experiments.save_run(folder, cfg.to_dict(), res.metrics, res.summary, res.params, key=key)
    s = {**res.summary, "results_dir": str(folder)}
    metric = "final_auc" if "final_auc" in s else "final_accuracy"
    if args.json or args.json_out is not None:
        _emit_json(args, s)
    if not args.json:
        print(f"[mpi] {cfg.dataset} n={cfg.n} b={cfg.b} code={cfg.code}: {metric} = "
              f"{s[metric]:.4f}; {s['bytes_per_worker_per_step']:,} bytes per worker per step; "
              f"{s['status']}; results in {folder}")
    if s["unfinished_workers"]:  # complete results, but some workers never finished
        from mpi4py import MPI

        sys.stdout.flush()
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(EXIT_WORKERS_KILLED)
    return 0


def main(argv=None) -> int:
    """Run the command line; every error is one ``error:`` line and exit status 2."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        args.dataset_given = args.dataset
        if args.dataset is None and args.preset is None:
            args.dataset = "digits"
    try:
        if args.command == "verify":
            return _verify(args)
        if args.command == "optimal":
            return _optimal(args)
        if args.command == "summary":
            from . import publish

            path = publish.summary(args.profile, root=args.results, publish=args.publish)
            print(f"wrote {path}" + (" and its copy in results/published/" if args.publish
                                     else ""))
            return 0
        if args.command == "full-tables":
            from . import publish

            out = publish.full_tables(workers=args.workers, root=args.results)
            print(f"wrote the full-profile tables in {out}")
            return 0
        return _train(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a full disk: say what could not be written
        what = exc.strerror or str(exc)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        hint = "; free some space or pass --results" if exc.errno == errno.ENOSPC else ""
        print(f"error: {what}{where}{hint}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:

    fmt = _Help
    parser = _Parser(prog="python -m electionlib", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("verify", help="build Algorithm 1's code and certify it (Lemma 2)",
                       formatter_class=fmt)
    p.add_argument("--n", type=int, required=True, help="number of workers (odd)")
    p.add_argument("--b", type=int, required=True, help="number of Byzantines to check")
    p.add_argument("--design-b", type=int, default=None,
                   help="b the code is designed for (default: --b)")
    p.add_argument("--tie", default="coin", choices=("plus", "coin", "abstain"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    o = sub.add_parser("optimal", help="the fewest ones of a perfectly b-tolerant code with "
                       "odd rows, with the solver's proof (exit 0: optimal; 3: time limit, "
                       "best bound printed; 1: no such code)", formatter_class=fmt)
    o.add_argument("--n", type=int, default=None, help="number of workers")
    o.add_argument("--b", type=int, default=None, help="number of Byzantines")
    o.add_argument("--k", type=int, default=None, help="data partitions (default: n)")
    o.add_argument("--tie", default="coin", choices=("plus", "coin", "abstain"))
    o.add_argument("--objective", default="ones", choices=("ones", "max_load"),
                   help="minimise the total ones (default) or the largest row weight")
    o.add_argument("--time-limit", type=float, default=None,
                   help="seconds (default 60; with --store, the recipe's per cell)")
    o.add_argument("--json", action="store_true",
                   help="print one JSON object on the last line")
    o.add_argument("--save", action="store_true",
                   help="store the code in results/optimal/ (where --code optimal finds it)")
    o.add_argument("--store", action="store_true",
                   help="maintainers: solve the package's grid (both objectives, cached and "
                        "resumable) and write electionlib/_data/optimal_codes.json")
    o.add_argument("--max-n", type=int, default=None, help="with --store: the largest n")
    m = sub.add_parser("summary", help="write results/SUMMARY.md from every notebook's "
                       "claims (run after the last notebook)", formatter_class=fmt)
    m.add_argument("--profile", default="quick", choices=("ci", "quick", "full"))
    m.add_argument("--results", default=None, help="results folder (default results/)")
    m.add_argument("--publish", action="store_true",
                   help="also copy it to results/published/SUMMARY.md (committed)")
    f = sub.add_parser("full-tables", help="train the full-profile Fig. 4 (9,2) and Fig. 5 "
                       "(9,3) analogs to the plateau and write results/published/full/ "
                       "(resumable: finished runs are reused)", formatter_class=fmt)
    f.add_argument("--workers", type=_at_least_one, default=None,
                   help="training processes (default: 2, one torch thread each)")
    f.add_argument("--results", default=None, help="results folder (default results/)")
    t = sub.add_parser("train", help="train with coded votes or a robust aggregator",
                       formatter_class=fmt)
    t.add_argument("--preset", default=None, metavar="NAME",
                   help="an experiment of notebook 04 with every hyper-parameter set as there: "
                        "fig4, fig5, appendix, fig6a, fig6b, draco-table2, brsgd-table1, "
                        "paper-fig4, paper-fig5 (electionlib.presets; the other flags pick the "
                        "figure's point)")
    t.add_argument("--dataset", default=None, choices=("fmnist", "amazon", "cifar10", "digits"),
                   help="(default: the preset's, else digits)")
    t.add_argument("--model", default=None,
                   help="(default: per dataset: fmnist lenet, amazon logreg, cifar10 resnet18, "
                        "digits mlp)")
    t.add_argument("--n", type=int, default=9, help="workers")
    t.add_argument("--b", type=int, default=0, help="Byzantine workers")
    t.add_argument("--k", type=int, default=None, help="data partitions (default: n)")
    t.add_argument("--code", default="uncoded", choices=("uncoded", "bernoulli", "deterministic",
                                                         "optimal", "optimal-load",
                                                         "draco-repetition", "draco-cyclic"))
    t.add_argument("--r", type=float, default=None, help="Bernoulli expected redundancy")
    t.add_argument("--p", type=float, default=None, help="Bernoulli connection probability")
    t.add_argument("--design-b", type=int, default=None,
                   help="b the code is designed for (default: b, at most n//2 - 1 under a "
                        "preset)")
    t.add_argument("--aggregator", default=None, help="full-precision rule instead of votes")
    t.add_argument("--agg-param", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--attack", default="none",
                   choices=tuple(dict.fromkeys(VOTE_ATTACKS + GRADIENT_ATTACKS)),
                   help="vote attacks for vote schemes, gradient attacks for --aggregator "
                        f"and DRACO; vote: {', '.join(VOTE_ATTACKS)}; gradient: "
                        f"{', '.join(GRADIENT_ATTACKS)}")
    t.add_argument("--byz-select", default=None,
                   choices=("random", "worst", "first", "omniscient"),
                   help="(default: random; worst for the deterministic code under a preset; "
                        "omniscient: the allocation-aware set that maximises the master's "
                        "exact error for the run's G, fixed for the run)")
    t.add_argument("--byz-redraw", action="store_true")
    per = "(default: per dataset and scheme family, electionlib.presets.DATASET_DEFAULTS: "
    t.add_argument("--momentum", default=None, choices=("server", "worker", "none"),
                   help=per + "worker for amazon, server otherwise, none for DRACO/BrSGD "
                        "presets)")
    t.add_argument("--tie", default=None, choices=("plus", "coin", "abstain"),
                   help=per + "abstain for amazon, coin otherwise)")
    t.add_argument("--empty-rows", default=None, choices=("keep", "redraw"),
                   help="Bernoulli workers with no partition: keep them (the i.i.d. ensemble; "
                        "default) or redraw G until none is empty (fig4/fig5 presets)")
    t.add_argument("--device", default=None, choices=("cpu", "cuda"),
                   help="where gradients and evaluation run (default cpu; cuda for "
                        "paper-scale runs on a GPU); votes and aggregation stay on the CPU")
    t.add_argument("--partition", default=None, choices=("iid", "dirichlet", "shards"),
                   help="how the training examples are split into the k partitions: iid "
                        "(default, the paper's), dirichlet (with --alpha: each class spread "
                        "over the partitions with proportions from Dir(alpha)) or shards (with "
                        "--labels-per-partition)")
    t.add_argument("--alpha", type=float, default=None,
                   help="Dirichlet concentration (> 0; inf: every partition the global mix)")
    t.add_argument("--labels-per-partition", type=int, default=None,
                   help="shards per partition for --partition shards (about that many labels)")
    t.add_argument("--amazon-rows", type=int, default=None,
                   help="amazon: the first q rows are the training set (default 26,325; "
                        "28,665 for fig6b)")
    t.add_argument("--rho", type=float, default=1.0)
    t.add_argument("--noise-var", type=float, default=0.0)
    t.add_argument("--quant-bits", type=int, default=1)
    t.add_argument("--lr", type=float, default=None,
                   help=per + "fmnist 1e-4 votes / 0.01 full precision; amazon 1e-3; cifar10 "
                        "1e-4 / 0.1; digits 1e-3 / 0.01)")
    t.add_argument("--weight-decay", type=float, default=None, help="(default: 0)")
    t.add_argument("--lr-decay-epochs", type=_epochs_list, default=None, metavar="E1,E2,...",
                   help="epochs at which the learning rate is multiplied by 0.1 " + per
                        + "amazon 1; cifar10 Table B.2; none otherwise)")
    t.add_argument("--batch", type=int, default=None,
                   help="per data partition " + per + "amazon 15, cifar10 Table B.2, 16 "
                        "otherwise)")
    t.add_argument("--epochs", type=float, default=1.0)
    t.add_argument("--subsample", type=int, default=None, help="training examples kept")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--profile", default="full", choices=("ci", "quick", "full"),
                   help="data subsampling of the profile (full: all data)")
    t.add_argument("--backend", default="sim", choices=("sim", "mpi"),
                   help="mpi: run under mpiexec -n N+1 (rank 0 = server)")
    t.add_argument("--parity", action="store_true",
                   help="per-partition gradients (mpi results equal sim parity runs bit for bit)")
    t.add_argument("--deadline", type=_positive_or_none, default=None,
                   help="mpi: seconds the server waits for a step's votes (missing = absent; "
                        "default: every worker, at most --stall-timeout)")
    t.add_argument("--first-deadline", type=_positive_or_none, default=None,
                   help="mpi: the same for the first step of a run or resumed run "
                        "(default: --stall-timeout)")
    t.add_argument("--stall-timeout", type=_positive_or_none, default=None,
                   help="mpi: bound on any other wait of the server, e.g. for the workers' "
                        "final report (default 300 s)")
    t.add_argument("--drop-after", type=_at_least_one, default=None,
                   help="mpi: steps absent in a row after which a worker is no longer waited "
                        "for until it is back (default 3)")
    t.add_argument("--misbehave", default=None, help=argparse.SUPPRESS)  # tests: worker faults
    t.add_argument("--config", default=None, metavar="FILE.json",
                   help="a whole TrainConfig as JSON (overrides the other training flags)")
    t.add_argument("--checkpoint-every", type=_at_least_one, default=None, metavar="K",
                   help="mpi: write a checkpoint every K steps (results/train/<hash>/)")
    t.add_argument("--resume", action="store_true",
                   help="mpi: continue from the last checkpoint of the same configuration")
    t.add_argument("--results", default=None, help="results folder (default results/)")
    t.add_argument("--force", action="store_true", help="recompute even if cached")
    t.add_argument("--json", action="store_true", help="print one JSON object (last line)")
    t.add_argument("--json-out", type=Path, default=None, metavar="FILE",
                   help="also write the JSON summary to FILE (written before an MPI job that "
                        "has to end its stuck workers is aborted, so it survives the abort)")
    for sp in (p, t):  # every option's default is shown, with or without a help text
        for action in sp._actions:
            if action.help is None:
                action.help = "(default: %(default)s)"
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
