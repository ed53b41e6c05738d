"""Progress bars for long loops: tqdm on stderr, silent when ELECTIONLIB_QUIET is set
(``./run_all.sh`` sets it, so executed notebooks and CI logs carry no bar noise)."""

from __future__ import annotations

import os


def progress(iterable, total=None, desc: str = "", enabled: bool = True):
    """Wrap ``iterable`` in a text tqdm bar unless disabled or ``ELECTIONLIB_QUIET`` is set."""
    if not enabled or os.environ.get("ELECTIONLIB_QUIET"):
        return iterable
    from tqdm.std import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)
