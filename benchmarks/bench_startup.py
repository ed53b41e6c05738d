"""Benchmark: start-up time of the command line against ``python -c "import numpy"``.

Fresh interpreters, interleaved round by round; every ratio is a median over the median of
``import numpy`` measured in the same run. Target: ``--help`` and ``verify --n 15 --b 3``
each at most 2x ``import numpy``.

  python benchmarks/bench_startup.py [--repeats 9]
"""

from __future__ import annotations

import argparse

from electionlib import perf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    table = perf.startup_table(a.repeats)
    print(table.round(3).to_string(index=False))
    for line in perf.format_targets(perf.startup_targets(table)):
        print(line)


if __name__ == "__main__":
    main()
