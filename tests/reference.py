"""Plain, unpacked reference implementations used to check the packed kernels.

Deliberately naive: loops and integer counts, no bit tricks.
"""

from __future__ import annotations

import numpy as np


def local_majority(signs, G, tie="plus", coins=None, partition_present=None):
    """signs (k, d) in {-1,+1}; returns votes (n, d) in {-1, 0, +1} (0 = abstain)."""
    k, d = signs.shape
    G = np.asarray(G)
    n = G.shape[0]
    present = np.ones((k, d), bool) if partition_present is None else partition_present
    out = np.zeros((n, d), dtype=np.int8)
    for i in range(n):
        cols = [j for j in range(k) if G[i, j]]
        if not cols:
            continue
        for c in range(d):
            plus = sum(1 for j in cols if present[j, c] and signs[j, c] > 0)
            minus = sum(1 for j in cols if present[j, c] and signs[j, c] < 0)
            if plus > minus:
                out[i, c] = 1
            elif minus > plus:
                out[i, c] = -1
            elif tie == "plus":
                out[i, c] = 1
            elif tie == "coin":
                out[i, c] = coins[i, c]
            else:
                out[i, c] = 0
    return out


def master(votes):
    """votes (n, d) in {-1, 0, +1} -> decision (d,) in {-1, 0, +1}."""
    return np.sign(votes.astype(np.int64).sum(axis=0)).astype(np.int8)
