"""Command line: ``python -m electionlib verify --n 15 --b 3``."""

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
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
