"""The training data's partitions ``D_1, ..., D_k`` and reproducible mini-batches from each
(Section 2 of the election-coding paper; Remark 2 for ``k != n``), apart from the datasets
themselves (:mod:`electionlib.data`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as v

__all__ = ["partition", "PartitionSampler"]


def partition(n_examples: int, k: int, rng) -> list[np.ndarray]:
    """Split ``range(n_examples)`` into ``k`` disjoint partitions at random.

    A seeded permutation cut into ``k`` contiguous pieces whose sizes differ
    by at most one (the first ``n_examples % k`` pieces get the extra example);
    each piece is returned sorted.

    Args:
        n_examples: number of training examples, >= 1.
        k: number of partitions, 1 <= k <= n_examples.
        rng: ``numpy.random.Generator`` or seed.

    Returns:
        List of ``k`` int64 index arrays covering ``range(n_examples)`` exactly once.

    Example:
        >>> [p.tolist() for p in partition(7, 3, rng=0)]
        [[2, 3, 4], [5, 6], [0, 1]]

    Reference: Section 2 (data partitions ``D_1, ..., D_k``; Remark 2 for k != n).
    """
    n_examples = v.integer("n_examples", n_examples, lo=1)
    k = v.integer("k", k, lo=1, hi=n_examples)
    perm = v.rng(rng).permutation(n_examples).astype(np.int64)
    return [np.sort(p) for p in np.array_split(perm, k)]


class PartitionSampler:
    """Reproducible mini-batches of ``B`` indices from each of ``k`` partitions.

    Each partition has its own generator (spawned from ``rng``) and walks through
    a random permutation of its examples; :meth:`next` takes the next ``B``.

    * ``drop_last=False`` (default): the per-partition stream is a concatenation of
      independent permutations, so every example is used exactly once per pass
      and every batch has exactly ``B`` indices. A batch that crosses the end of a
      pass takes the remaining examples and continues with a fresh permutation
      (so that one batch may repeat an example, never within one pass).
    * ``drop_last=True``: a batch never crosses a pass: when fewer than ``B``
      examples remain, they are skipped this pass and a new permutation starts
      (``B`` must not exceed the smallest partition).

    :attr:`passes` counts passes over the training data (examples drawn / examples
    held), the "epochs" of the paper's plots.

    Args:
        parts: sequence of ``k`` non-empty 1-D integer index arrays (e.g. from
            :func:`partition`).
        batch: ``B`` >= 1, examples per partition per step.
        rng: ``numpy.random.Generator`` or seed.
        drop_last: see above.

    Example:
        >>> s = PartitionSampler(partition(10, 2, rng=0), batch=2, rng=1)
        >>> s.next().shape
        (2, 2)
        >>> state = s.get_state(); a = s.next(); s.set_state(state)
        >>> bool((s.next() == a).all())
        True

    Reference: Section 5 (batch size B per data partition), Table B.2.
    """

    _FORMAT = "electionlib.PartitionSampler/1"

    def __init__(self, parts: Sequence, batch: int, rng, *, drop_last: bool = False):
        if isinstance(parts, np.ndarray) and parts.ndim == 1:
            raise ValueError("parts must be a sequence of index arrays, got one 1-D array")
        self._parts = []
        for j, p in enumerate(parts):
            arr = np.asarray(p)
            if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(
                    f"parts[{j}] must be a non-empty 1-D integer index array, got "
                    f"shape {arr.shape} dtype {arr.dtype}"
                )
            self._parts.append(arr.astype(np.int64))
        if not self._parts:
            raise ValueError("parts must hold at least one partition, got 0")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last={drop_last!r} must be True or False")
        sizes = [len(p) for p in self._parts]
        hi = min(sizes) if drop_last else None
        self.batch = v.integer("batch", batch, lo=1, hi=hi)
        self.drop_last = drop_last
        self._sizes = sizes
        self._rngs = v.rng(rng).spawn(len(sizes))
        self._perms = [g.permutation(m) for g, m in zip(self._rngs, sizes, strict=True)]
        self._pos = [0] * len(sizes)
        self._epochs = [0] * len(sizes)
        self.steps = 0

    @property
    def k(self) -> int:
        """Number of partitions."""
        return len(self._sizes)

    @property
    def sizes(self) -> list[int]:
        return list(self._sizes)

    @property
    def passes(self) -> float:
        """Passes over the training data so far: ``steps * B * k / sum(sizes)``."""
        return self.steps * self.batch * self.k / sum(self._sizes)

    @property
    def epochs_completed(self) -> list[int]:
        """Per partition, the number of permutations finished (reshuffles)."""
        return list(self._epochs)

    def _reshuffle(self, j: int) -> None:
        self._perms[j] = self._rngs[j].permutation(self._sizes[j])
        self._pos[j] = 0
        self._epochs[j] += 1

    def next(self) -> np.ndarray:
        """The next mini-batch: ``(k, B)`` int64, row ``j`` indexes partition ``j``'s examples."""
        out = np.empty((self.k, self.batch), dtype=np.int64)
        for j in range(self.k):
            m = self._sizes[j]
            if self.drop_last:
                if m - self._pos[j] < self.batch:
                    self._reshuffle(j)
                pos = self._pos[j]
                local = self._perms[j][pos : pos + self.batch]
                self._pos[j] += self.batch
            else:
                chunks, need = [], self.batch
                while need:
                    pos = self._pos[j]
                    take = min(m - pos, need)
                    chunks.append(self._perms[j][pos : pos + take])
                    self._pos[j] += take
                    need -= take
                    if self._pos[j] == m:
                        self._reshuffle(j)
                local = np.concatenate(chunks)
            out[j] = self._parts[j][local]
        self.steps += 1
        return out

    __next__ = next

    def __iter__(self):
        return self

    def get_state(self) -> dict:
        """Everything needed to continue identically: plain JSON-serialisable data."""
        return {
            "format": self._FORMAT,
            "sizes": list(self._sizes),
            "batch": self.batch,
            "drop_last": self.drop_last,
            "steps": self.steps,
            "pos": list(self._pos),
            "epochs": list(self._epochs),
            "perms": [p.tolist() for p in self._perms],
            "rngs": [_jsonable(g.bit_generator.state) for g in self._rngs],
        }

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` (of a sampler with the same parts and batch)."""
        if not isinstance(state, dict) or state.get("format") != self._FORMAT:
            raise ValueError(f"state must be a dict from PartitionSampler.get_state() "
                             f"with format {self._FORMAT!r}")
        for key, mine in (("sizes", self._sizes), ("batch", self.batch),
                          ("drop_last", self.drop_last)):
            if state[key] != mine:
                raise ValueError(f"state[{key!r}]={state[key]!r} does not match this "
                                 f"sampler's {key}={mine!r}")
        perms = []
        for j, (p, m) in enumerate(zip(state["perms"], self._sizes, strict=True)):
            p = np.asarray(p, dtype=np.int64)
            if p.shape != (m,) or not np.array_equal(np.sort(p), np.arange(m)):
                raise ValueError(f"state['perms'][{j}] is not a permutation of range({m})")
            perms.append(p)
        for j, (pos, m) in enumerate(zip(state["pos"], self._sizes, strict=True)):
            v.integer(f"state['pos'][{j}]", pos, lo=0, hi=m)
        try:
            for g, s in zip(self._rngs, state["rngs"], strict=True):
                g.bit_generator.state = s
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state['rngs'] does not fit this sampler's generators: {exc}") \
                from exc
        self._perms = perms
        self._pos = [int(x) for x in state["pos"]]
        self._epochs = [int(x) for x in state["epochs"]]
        self.steps = v.integer("state['steps']", state["steps"], lo=0)


def _jsonable(obj):
    """Deep-copy a bit-generator state into plain Python types (numpy arrays -> lists)."""
    if isinstance(obj, dict):
        return {k: _jsonable(x) for k, x in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
