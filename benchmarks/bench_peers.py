"""Benchmark: electionlib's robust aggregators side by side with ByzFL's, on identical inputs.

ByzFL 0.0.11 is not installed: its wheel is downloaded once (``pip download --no-deps``, into
``~/.cache/electionlib/peers`` or ``$ELECTIONLIB_PEERS``) and its aggregator module is loaded
by path without the package ``__init__`` (which imports torchvision). See
``electionlib.perf.peers`` for what is compared with what (Krum's neighbour counts, the
geometric median's defaults and matched iterations, the shared centre of centered clipping).

Every ratio is electionlib's time over ByzFL's, the median of interleaved repeats, printed
with its spread and the target ``<= 1`` (at or ahead of ByzFL), MET / NOT MET; where the
definitions match, the outputs must agree to float32 rounding.

  python benchmarks/bench_peers.py [--repeats 7] [--rules median krum ...] [--quick]
                                   [--stub] [--no-download]
"""

from __future__ import annotations

import argparse

import pandas as pd

from electionlib import perf
from electionlib.perf import peers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rules", nargs="+", default=None,
                    choices=[r.rule for r in peers.PEER_RULES])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 3 repeats (smoke run)")
    ap.add_argument("--stub", action="store_true",
                    help="compare against the numpy stub peer (tests the harness, not ByzFL)")
    ap.add_argument("--no-download", action="store_true",
                    help="use ByzFL only if its wheel is already in the cache")
    a = ap.parse_args()
    shapes = peers.PEER_SHAPES
    judged = True
    if a.quick:
        shapes, a.repeats = ((15, 20_000), (49, 5_000), (20, 20_000)), 3
    if a.stub:
        peer = peers.StubPeer()
    else:
        root = peers.fetch_byzfl(download=not a.no_download)
        if root is None:
            print(f"ByzFL {peers.BYZFL_VERSION} is not available (no cached wheel and "
                  f"{'no download asked' if a.no_download else 'the download failed'}); "
                  "comparing against the numpy stub peer instead: these ratios do not "
                  "measure ByzFL, and no target is judged")
            peer, judged = peers.StubPeer(), False
        else:
            print(f"ByzFL {peers.BYZFL_VERSION} loaded by path from {root}")
            peer = peers.ByzFLPeer(peers.load_byzfl(root))
    table = peers.peer_table(peer, shapes, a.repeats, a.rules,
                             progress=lambda s: print(f"  timing {s}", flush=True))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        cols = ["label", "n", "d", "f", "ours_s", "peer_s", "ratio", "ratio_lo", "ratio_hi",
                "max_rel_diff", "ours_gap", "peer_gap"]
        print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print()
    for line in perf.format_targets(peers.peer_targets(table)):
        print(line if judged else "not judged (stub peer): " + line.split(" -- ")[0])
    gm = table[table["rule"].str.startswith("geometric_median")]
    if len(gm):
        print("\ngeometric median: objective sum_i ||x_i - z|| over its minimum, minus 1 "
              "(ours_gap / peer_gap above) -- the defaults differ in how far they converge")


if __name__ == "__main__":
    main()
