"""The training data's partitions ``D_1, ..., D_k`` and reproducible mini-batches from each
(Section 2 of the election-coding paper; Remark 2 for ``k != n``), apart from the datasets
themselves (:mod:`electionlib.data`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import _validate as v

__all__ = ["partition", "PARTITION_SCHEMES", "label_mix", "PartitionSampler"]


PARTITION_SCHEMES = ("iid", "dirichlet", "shards")


def partition(labels, k: int, rng, *, scheme: str = "iid", alpha: float | None = None,
              labels_per_partition: int | None = None) -> list[np.ndarray]:
    """Split the training examples into ``k`` disjoint partitions ``D_1, ..., D_k``.

    ``labels`` are the training labels, one per example (their count is the number of
    examples). Every scheme draws from ``rng`` only and returns ``k`` non-empty sorted int64
    index arrays that together cover every example exactly once.

    * ``"iid"`` (the paper's experiments): a seeded permutation of all examples cut into
      ``k`` contiguous pieces whose sizes differ by at most one (the first
      ``n_examples % k`` pieces get the extra example). The labels are not read.
    * ``"dirichlet"`` (the per-class split of ByzFL and Flower Datasets): for each class
      ``c`` in increasing order, proportions ``q_c ~ Dir(alpha 1_k)`` are drawn, the class's
      examples are shuffled and cut at ``floor(cumsum(q_c) n_c)``. ``alpha -> 0`` sends each
      class whole to one partition; ``alpha -> inf`` gives every partition the global label
      mix (``alpha = inf`` is allowed: proportions exactly ``1/k``, a stratified split).
    * ``"shards"`` (McMahan et al. 2017): the examples sorted by label (ties in a random
      order) are cut into ``k * labels_per_partition`` contiguous shards of near-equal size
      and each partition receives ``labels_per_partition`` shards at random: it then holds
      at most ``labels_per_partition`` labels, plus one for each of its shards that
      straddles a class boundary.

    No partition is left empty: while one is, it receives one example, drawn at random, from
    the largest partition (a Dirichlet draw with small ``alpha`` and ``k`` above the number
    of classes leaves some empty; the move is drawn from ``rng`` after the split).

    Args:
        labels: 1-D integer array ``(n_examples,)``, n_examples >= k.
        k: number of partitions, 1 <= k <= n_examples.
        rng: ``numpy.random.Generator`` or seed.
        scheme: one of :data:`PARTITION_SCHEMES`.
        alpha: Dirichlet concentration, > 0 (``"dirichlet"`` only, required there).
        labels_per_partition: shards per partition, >= 1 with
            ``k * labels_per_partition <= n_examples`` (``"shards"`` only, required there).

    Returns:
        List of ``k`` int64 index arrays covering ``range(n_examples)`` exactly once.

    Example:
        >>> [p.tolist() for p in partition(np.zeros(7, int), 3, rng=0)]
        [[2, 3, 4], [5, 6], [0, 1]]
        >>> y = np.repeat([0, 1, 2], 4)
        >>> [sorted(set(y[p].tolist())) for p in partition(y, 3, rng=0, scheme="shards",
        ...                                                   labels_per_partition=1)]
        [[2], [1], [0]]

    Reference: Section 2 (data partitions ``D_1, ..., D_k``; Remark 2 for k != n); the
    Dirichlet split of Hsu et al. 2019 as ByzFL and Flower Datasets implement it per class;
    the shards of McMahan et al. 2017.
    """
    scheme = v.choice("scheme", scheme, PARTITION_SCHEMES)
    y = _labels(labels)
    n = len(y)
    k = v.integer("k", k, lo=1, hi=n)
    if scheme != "dirichlet" and alpha is not None:
        raise ValueError(f"alpha={alpha!r} applies to scheme='dirichlet' only, got "
                         f"scheme={scheme!r}")
    if scheme != "shards" and labels_per_partition is not None:
        raise ValueError(f"labels_per_partition={labels_per_partition!r} applies to "
                         f"scheme='shards' only, got scheme={scheme!r}")
    gen = v.rng(rng)
    if scheme == "iid":  # draw for draw the split every stored i.i.d. run was trained on
        perm = gen.permutation(n).astype(np.int64)
        return [np.sort(p) for p in np.array_split(perm, k)]
    if scheme == "dirichlet":
        if alpha is None:
            raise ValueError("scheme='dirichlet' needs alpha, the concentration (> 0)")
        a = math.inf if _is_inf(alpha) else v.real("alpha", alpha, lo=0.0, lo_open=True)
        owner = np.empty(n, np.int64)
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            idx = idx[gen.permutation(len(idx))]
            q = np.full(k, 1.0 / k) if math.isinf(a) else gen.dirichlet(np.full(k, a))
            cuts = np.floor(np.cumsum(q)[:-1] * len(idx)).astype(np.int64)
            for j, piece in enumerate(np.split(idx, np.clip(cuts, 0, len(idx)))):
                owner[piece] = j
    else:
        if labels_per_partition is None:
            raise ValueError("scheme='shards' needs labels_per_partition, the shards (labels) "
                             "per partition (>= 1)")
        c = v.integer("labels_per_partition", labels_per_partition, lo=1, hi=n // k)
        perm = gen.permutation(n)
        order = perm[np.argsort(y[perm], kind="stable")]  # by label, ties at random
        shards = np.array_split(order, k * c)
        owner = np.empty(n, np.int64)
        for s, piece in enumerate(gen.permutation(k * c)):
            owner[shards[piece]] = s // c
    sizes = np.bincount(owner, minlength=k)
    while (sizes == 0).any():  # fill an empty partition from the largest one
        empty, big = int(np.flatnonzero(sizes == 0)[0]), int(np.argmax(sizes))
        members = np.flatnonzero(owner == big)
        owner[members[gen.integers(len(members))]] = empty
        sizes[empty], sizes[big] = 1, sizes[big] - 1
    order = np.argsort(owner, kind="stable")
    return [p.astype(np.int64) for p in np.split(order, np.cumsum(sizes)[:-1])]


def _is_inf(x) -> bool:
    """``x`` is a real +inf (Python's or numpy's)."""
    try:
        return not isinstance(x, bool) and float(x) == math.inf
    except (TypeError, ValueError):
        return False


def _labels(labels) -> np.ndarray:
    """The training labels as a 1-D integer array (``ValueError`` otherwise)."""
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        raise ValueError(f"labels={labels!r} must be the array of training labels, one per "
                         f"example (for an i.i.d. split of n examples pass np.zeros(n, int))")
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not (np.issubdtype(y.dtype, np.integer)
                                          or np.issubdtype(y.dtype, np.bool_)):
        raise ValueError(f"labels must be a non-empty 1-D integer array, got shape {y.shape} "
                         f"dtype {y.dtype}")
    return y.astype(np.int64)


def label_mix(labels, parts, n_classes: int | None = None) -> np.ndarray:
    """Per partition, the share of each label: ``(k, n_classes)`` float64, rows sum to 1.

    Example:
        >>> label_mix(np.array([0, 0, 1, 1]), [np.array([0, 1, 2]), np.array([3])]).tolist()
        [[0.6666666666666666, 0.3333333333333333], [0.0, 1.0]]
    """
    y = _labels(labels)
    if y.min() < 0:
        raise ValueError(f"labels must be >= 0, got a label {int(y.min())}")
    top = int(y.max()) + 1
    c = top if n_classes is None else v.integer("n_classes", n_classes, lo=top)
    rows = []
    for j, p in enumerate(parts):
        idx = np.asarray(p)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) \
                or idx.min() < 0 or idx.max() >= len(y):
            raise ValueError(f"parts[{j}] must be a non-empty 1-D array of indices in "
                             f"[0, {len(y) - 1}]")
        rows.append(np.bincount(y[idx], minlength=c))
    counts = np.stack(rows)
    return counts / counts.sum(axis=1, keepdims=True)


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
        >>> s = PartitionSampler(partition(np.zeros(10, int), 2, rng=0), batch=2, rng=1)
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
