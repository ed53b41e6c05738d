"""Schemes: one object per family, the step's encode and decode with their wire format.

A scheme answers four questions, for both backends and for a user's own PyTorch loop: the
``sim`` trainer runs every step through :meth:`~ElectionVote.exchange`, the ``mpi`` workers
encode and attack through :meth:`~ElectionVote.encode` and
:meth:`~ElectionVote.attack_message`, and the ``mpi`` server decodes and sizes its frames
through :meth:`~ElectionVote.decode_wire` (``tests/test_schemes.py`` also checks every family
against an independent vectorised step, bit for bit, under every attack):

* :meth:`~ElectionVote.partitions` ``(i)``: the data partitions worker ``i`` computes;
* :attr:`~ElectionVote.message_bytes`: the exact payload size of one worker's message, as
  the ``mpi`` backend sends it (:data:`HEADER_BYTES` more travel as its frame header,
  :func:`wire_bytes`);
* :meth:`~ElectionVote.encode` ``(i, grads)``: worker ``i``'s message, as the bytes it sends
  (``uint8``), from the gradients of its partitions;
* :meth:`~ElectionVote.decode` ``(messages)``: the server's update ``(d,)`` float32 from the
  list of received messages, one per worker, ``None`` for an absent one. A message of the
  wrong size or dtype is Byzantine data and counts as absent, never as an error.

=================== ============================================ ==========================
family              message                                       decoder
=================== ============================================ ==========================
:class:`ElectionVote` majority of the signs of its partitions,  majority of the votes
                    1 bit a coordinate (2 under ``abstain``)     (Section 2.2, eq. 1)
:class:`MultiBitVote` mean partition sign rounded to ``2**q``    mean of the levels, rounded
                    levels, ``q + 1`` bit-planes                  again (Section 2.2)
:class:`RobustAggregate` the float32 gradient                    a rule of
                                                                  :mod:`electionlib.aggregators`
:class:`Draco`      the DRACO node message, float64 (repetition) the code's decoder, / P
                    or complex128 (cyclic)                        (DRACO Section 3)
=================== ============================================ ==========================

DRACO's wire format is float64 / complex128, what its encoder and decoder compute in and
what the ``mpi`` backend sends; DRACO's own paper counts float32 / complex64, half of it.
Both backends report these sizes with the frame header (``bytes_per_worker_per_step`` =
:func:`wire_bytes`), and the ``sim`` trainer's modelled communication time uses them.

:meth:`ElectionVote.step` and :func:`step_optimizer` serve a user's own training loop: hand
them the ``k`` partition gradients of a step (torch tensors or numpy) and get the decoded
update, or have it written into the parameters' ``.grad`` and a torch optimizer stepped
(``examples/own_training_loop.py``).

Example:
    >>> import numpy as np
    >>> from electionlib import codes
    >>> vote = ElectionVote(codes.uncoded(3), d=4, tie="plus")
    >>> g = np.array([[1., -1, 2, -3], [1, 1, -2, -3], [-1, -1, 2, 3]])
    >>> vote.step(g).tolist()
    [1.0, -1.0, 1.0, -1.0]
    >>> vote.message_bytes, wire_bytes(vote)
    (1, 17)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from . import _validate as v
from . import aggregators, codes, draco
from . import attacks as A
from . import config as C
from . import mpi_transport as X
from . import votes as V

__all__ = [
    "HEADER_BYTES",
    "DOWN_HEADER_BYTES",
    "wire_bytes",
    "wire_update_bytes",
    "partition_signs",
    "ElectionVote",
    "MultiBitVote",
    "RobustAggregate",
    "Draco",
    "from_config",
    "sized",
    "step_optimizer",
]

#: Bytes of the frame header in front of every message on the ``mpi`` backend (magic, step,
#: payload length), as :mod:`electionlib.mpi_transport` defines the frame.
HEADER_BYTES = X.HEADER_BYTES
#: Bytes of the header in front of the update the server sends back (step, flags, commit).
DOWN_HEADER_BYTES = X.DOWN_HEADER_BYTES


# --------------------------------------------------------------------------- multi-bit wire


def multibit_signs(g: np.ndarray, tie: str) -> np.ndarray:
    """Per-coordinate signs for the multi-bit extension: ``sign(g)``, with NaN and inf as 0
    (as in :mod:`electionlib.votes`) and 0 as +1 under ``tie='plus'``."""
    s = np.sign(np.where(np.isfinite(g), g, 0))
    if tie == "plus":
        s[s == 0] = 1
    return s


def _levels(bits: int) -> np.ndarray:
    """``2**bits`` levels evenly spaced in [-1, 1], exactly antisymmetric (``-lv == lv[::-1]``
    in floating point), so a reversed message is again exactly a level."""
    lv = np.linspace(-1.0, 1.0, 2**bits)
    return (lv - lv[::-1]) / 2


def quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Round each value to the nearest of ``2**bits`` levels evenly spaced in [-1, 1].

    For ``bits = 1`` the levels are {-1, +1} and 0 (a tie) is kept as 0 (does not move).

    Example:
        >>> quantize(np.array([-0.9, -0.2, 0.0, 0.5, 0.34]), 2).round(3).tolist()
        [-1.0, -0.333, 0.0, 0.333, 0.333]
    """
    lv = _levels(bits)
    idx = np.abs(x[..., None] - lv).argmin(axis=-1)
    out = lv[idx]
    if bits == 1:
        out = np.where(x == 0, 0.0, out)
    elif (lv == 0).sum() == 0:
        # even number of levels: exact midpoint 0 between -1/3 and 1/3 -> do not move
        out = np.where(x == 0, 0.0, out)
    return out


def multibit_pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack quantized values (each a level of :func:`quantize` or exactly 0) as ``bits``
    bit-planes of the level index plus one plane marking the zeros: ``(bits + 1) *
    ceil(d/8)`` bytes — the wire format of the multi-bit extension on the mpi backend.

    Example:
        >>> x = quantize(np.array([-1.0, 0.3, 0.0, 1.0]), 2)
        >>> buf = multibit_pack(x, 2)
        >>> buf.size, np.array_equal(multibit_unpack(buf, 2, 4), x)
        (3, True)
    """
    lv = _levels(bits)
    x = np.asarray(values, dtype=np.float64)
    idx = np.abs(x[:, None] - lv).argmin(axis=1)
    planes = [np.packbits((idx >> t) & 1) for t in range(bits)]
    return np.concatenate(planes + [np.packbits(x == 0)]).astype(np.uint8)


def multibit_unpack(buf: np.ndarray, bits: int, d: int) -> np.ndarray:
    """Inverse of :func:`multibit_pack`: float64 values ``(d,)``."""
    nb = V.packed_length(d)
    idx = np.zeros(d, dtype=np.int64)
    for t in range(bits):
        idx |= np.unpackbits(buf[t * nb : (t + 1) * nb], count=d).astype(np.int64) << t
    out = _levels(bits)[idx]
    out[np.unpackbits(buf[bits * nb : (bits + 1) * nb], count=d).astype(bool)] = 0.0
    return out


# --------------------------------------------------------------------------- families


def partition_signs(g: np.ndarray, tie: str, rngs) -> tuple[np.ndarray, np.ndarray | None]:
    """Packed signs of ``(k, d)`` partition gradients, ``sign(0)`` set by ``tie``.

    Under ``coin``, the exact zeros of row ``j`` get fair coins drawn from ``rngs[j]``
    (:func:`votes.sign_bits`: one random bit per zero, in coordinate order), so the coins of
    a partition do not depend on which other partitions a worker holds.

    Example:
        >>> g = np.array([[0.5, 0.0, -1.0], [0.0, 0.0, 2.0]], np.float32)
        >>> b, _ = partition_signs(g, "coin", [np.random.default_rng(0)] * 2)
        >>> s = V.unpack(b, 3)  # nonzero entries by their sign, zeros by coin
        >>> s[0, [0, 2]].tolist(), int(s[1, 2])
        ([1, -1], 1)
    """
    if tie != "coin":
        return V.sign_bits(g, tie)
    if V._all_finite(g):
        pos, zero = np.packbits(g > 0, axis=-1), (g == 0).any(axis=1)
    else:  # NaN and inf count as zeros (votes.sign_bits)
        pos, zero = np.packbits(V._positive(g), axis=-1), V._zero_like(g).any(axis=1)
    for j in np.flatnonzero(zero):
        pos[j] = V.sign_bits(g[j], "coin", rng=rngs[j])[0]
    return pos, None


def wire_bytes(scheme) -> int:
    """Bytes one worker hands the transport per step: the header plus the payload."""
    return HEADER_BYTES + int(scheme.message_bytes)


def wire_update_bytes(scheme) -> int:
    """Bytes of the update the server sends each worker per step: its header
    (:data:`DOWN_HEADER_BYTES`) plus the update's payload."""
    return DOWN_HEADER_BYTES + int(scheme.update_bytes)


def _as_numpy(grads, name: str = "grads") -> np.ndarray:
    try:  # torch tensors without importing torch here
        grads = grads.detach().cpu().numpy()
    except AttributeError:
        pass
    g = np.asarray(grads)
    if g.ndim != 2 or g.shape[0] < 1 or not np.issubdtype(g.dtype, np.number):
        raise ValueError(f"{name} must be a real 2-D (rows >= 1, d) array, got shape "
                         f"{g.shape} dtype {g.dtype}")
    return g


def _payload(message, size: int) -> np.ndarray | None:
    """The message as ``uint8`` bytes when it is exactly ``size`` bytes, else None (absent)."""
    if message is None:
        return None
    try:
        m = np.asarray(message)
    except (ValueError, TypeError):  # ragged or otherwise not an array: Byzantine data
        return None
    if m.dtype != np.uint8 or m.ndim != 1 or m.size != size:
        return None
    return np.ascontiguousarray(m)


def _full_mask(d: int) -> np.ndarray:
    """Packed mask with every one of ``d`` coordinates present (zero padding)."""
    m = np.full(V.packed_length(d), 0xFF, np.uint8)
    m[-1] &= V._tail_mask(d)
    return m


def _check_messages(messages, n: int) -> list:
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise ValueError(f"messages must be a sequence of n={n} messages (None for an absent "
                         f"one), got {type(messages).__name__}")
    if len(messages) != n:
        raise ValueError(f"messages has {len(messages)} entries, expected one per worker "
                         f"(n={n})")
    return list(messages)


def _streams(seed, n: int, k: int, worker_rngs=None):
    """Per-worker Generators (``worker_rngs`` when given, ``n`` of them) and the ``k``
    partitions' SeedSequences (every holder of partition j draws the same coins from its own
    copy of stream j)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    workers_ss, parts_ss = ss.spawn(2)
    if worker_rngs is None:
        workers = [np.random.default_rng(s) for s in workers_ss.spawn(n)]
    elif len(worker_rngs) != n:
        raise ValueError(f"worker_rngs has {len(worker_rngs)} generators, expected n={n}")
    else:
        workers = list(worker_rngs)
    return workers, parts_ss.spawn(k)


class _Family:
    """What every scheme shares: sizes, partitions, the user-facing step."""

    n: int
    k: int
    d: int
    G: np.ndarray

    def encode(self, i: int, grads) -> np.ndarray:
        raise NotImplementedError

    def attack_message(self, attack: str, message, *, honest=(), rng=None,
                       partition_grads=None, target=None, f=None) -> np.ndarray | None:
        raise NotImplementedError

    def decode(self, messages) -> np.ndarray:
        raise NotImplementedError

    def _worst_target(self, g: np.ndarray):
        """What an omniscient adversary reverses under ``worst`` (None: the family's own)."""
        return None

    def worst_target(self, partition_grads):
        """The target of the ``worst`` attack for this step's ``(k, d)`` partition gradients:
        the true majority for votes (None for the families that have no such target).

        Under ``coin`` this draws the adversary's coins, so it advances the adversary's copies
        of the partition streams: a process that may attack in a later step (Byzantine sets
        redrawn every step) calls it in every step, as the ``sim`` trainer computes the
        target once in every step, so that the streams stay in step on both backends."""
        return self._worst_target(_as_numpy(partition_grads, "partition_grads"))

    def partitions(self, i: int) -> np.ndarray:
        i = v.integer("i", i, lo=0, hi=self.n - 1)
        return np.flatnonzero(self.G[i])

    def generators(self, i: int | None = None) -> list[np.random.Generator]:
        """The Generators a process playing worker ``i`` advances (every worker's when
        ``i`` is None), in a fixed order: what a checkpoint must hold to resume the streams.
        """
        return list(getattr(self, "worker_rngs", []))

    def _local(self, i: int, grads) -> np.ndarray:
        g = _as_numpy(grads)
        want = (len(self.partitions(i)), self.d)
        if g.shape != want:
            raise ValueError(f"grads of worker {i} must have shape {want} (its partitions, d), "
                             f"got {g.shape}")
        return g

    def exchange(self, partition_grads, *, byzantine=(), attack: str = "none", rng=None,
                 shifted=None, f=None) -> tuple[np.ndarray, float, float]:
        """One step's messages in one process, as the ``sim`` trainer runs it: every worker
        encodes its partitions' gradients, the ``byzantine`` workers replace their messages
        by ``attack`` (:meth:`attack_message`), and the server decodes.

        Args:
            partition_grads: ``(k, d)`` gradients, one row per partition (numpy or torch).
            byzantine: indices of the Byzantine workers.
            attack: an attack of this family (vote attacks for votes, gradient attacks
                otherwise).
            rng: Generator or seed for randomised attacks (default: each Byzantine worker's
                own stream where the scheme has one, as in the trainers).
            shifted: ``(k, d)`` gradients computed on shifted labels: a Byzantine worker
                encodes these instead (the ``label_shift`` attack).
            f: the number of Byzantine workers that omniscient gradient attacks assume
                (default: the workers that are not honest senders).

        Returns:
            ``(update, encode_seconds, decode_seconds)``: the update ``(d,)`` float32, the
            mean seconds one worker spent encoding (and attacking), and the server's
            decoding seconds.
        """
        g = _as_numpy(partition_grads, "partition_grads")
        if g.shape != (self.k, self.d):
            raise ValueError(f"partition_grads must have shape (k, d) = ({self.k}, {self.d}), "
                             f"got {g.shape}")
        byz = sorted({v.integer("byzantine worker", int(b), lo=0, hi=self.n - 1)
                      for b in byzantine})
        t0 = time.perf_counter()
        cols = [self.partitions(i) for i in range(self.n)]
        msgs = [self.encode(i, g[c]) if len(c) else None for i, c in enumerate(cols)]
        if attack != "none" and byz:
            gen = None if rng is None else v.rng(rng)
            bad = set(byz)
            honest = [m for i, m in enumerate(msgs) if i not in bad and m is not None]
            target = self._worst_target(g) if attack == "worst" else None
            own = getattr(self, "worker_rngs", None)
            sh = None if shifted is None else _as_numpy(shifted, "shifted")
            for i in byz:  # without rng, a randomised attack draws from the worker's stream
                mine = msgs[i] if sh is None or not len(cols[i]) else self.encode(i, sh[cols[i]])
                msgs[i] = self.attack_message(attack, mine, honest=honest,
                                              rng=gen if gen is not None or own is None
                                              else own[i], partition_grads=g, target=target,
                                              f=f)
        t1 = time.perf_counter()
        u = self.decode(msgs)
        return u, (t1 - t0) / max(1, self.n), time.perf_counter() - t1

    def step(self, partition_grads, *, byzantine=(), attack: str = "none", rng=None):
        """One whole step in one process: :meth:`exchange` with the same ``partition_grads``,
        ``byzantine``, ``attack`` and ``rng``, returning the update alone.

        Returns:
            the update ``(d,)``: float32 numpy, or a torch tensor when the input is one.
        """
        u = self.exchange(partition_grads, byzantine=byzantine, attack=attack, rng=rng)[0]
        try:
            import torch

            if isinstance(partition_grads, torch.Tensor):
                return torch.from_numpy(u).to(partition_grads.device)
        except ImportError:  # pragma: no cover - torch is a dependency of the trainer only
            pass
        return u


class ElectionVote(_Family):
    """Election-coded SignSGD votes: worker ``i`` sends the majority of the signs of the
    partitions ``G[i]`` assigns it, the server takes the majority of the votes.

    Args:
        G: ``(n, k)`` 0/1 allocation (:mod:`electionlib.codes`).
        d: coordinates.
        tie: ``sign(0)`` and local-tie rule, one of :data:`electionlib.votes.TIE_RULES`.
        seed: int or ``SeedSequence`` for the ``coin`` streams (ignored otherwise); or pass
            ``worker_rngs`` (``n`` Generators) and ``partition_seeds`` (``k`` SeedSequences,
            each worker draws its own copy) to reproduce a trainer's streams.

    Wire format: packed signs, ``ceil(d/8)`` bytes (``numpy.packbits`` order, zero padding);
    under ``abstain`` a presence mask of the same size follows. A worker with no partition
    sends nothing. The decoded update is +1 / -1 by the majority of the present votes, 0
    where the count is tied (that coordinate does not move).

    Reference: Section 2.2 (encoder E_i = local majority, decoder = majority), eq. (1).
    """

    family = "vote"

    def __init__(self, G, d: int, *, tie: str = "coin", seed=0, worker_rngs=None,
                 partition_seeds=None):
        self.G = v.allocation(G)
        self.n, self.k = self.G.shape
        self.d = v.integer("d", d, lo=1)
        self.tie = v.choice("tie", tie, V.TIE_RULES)
        self.nb = V.packed_length(self.d)
        workers, parts = _streams(seed, self.n, self.k, worker_rngs)
        if partition_seeds is not None:
            if len(partition_seeds) != self.k:
                raise ValueError(f"partition_seeds has {len(partition_seeds)} entries, "
                                 f"expected k={self.k}")
            parts = list(partition_seeds)
        self.worker_rngs = workers
        # worker i's own copies of its partitions' streams (the coins every holder shares)
        self._part_rngs = [{int(j): np.random.default_rng(parts[j])
                            for j in np.flatnonzero(self.G[i])} for i in range(self.n)]
        # the omniscient adversary's own copies of every partition's stream (``worst``)
        self._adversary_rngs = [np.random.default_rng(p) for p in parts]

    def generators(self, i: int | None = None) -> list[np.random.Generator]:
        """The workers' streams, worker ``i``'s copies of its partitions' coin streams (every
        worker's when ``i`` is None) and the omniscient adversary's copies, in that order."""
        rows = range(self.n) if i is None else [v.integer("i", i, lo=0, hi=self.n - 1)]
        own = [self._part_rngs[r][j] for r in rows for j in sorted(self._part_rngs[r])]
        return list(self.worker_rngs) + own + list(self._adversary_rngs)

    @property
    def message_bytes(self) -> int:
        """Payload bytes of a worker's vote: ``ceil(d/8)``, twice that under ``abstain``."""
        return self.nb * (2 if self.tie == "abstain" else 1)

    @property
    def update_bytes(self) -> int:
        """Payload bytes of the update sent back: the signs and a nonzero mask."""
        return 2 * self.nb

    def encode(self, i: int, grads) -> np.ndarray:
        """Worker ``i``'s vote, ``uint8 (message_bytes,)``, from the ``(r_i, d)`` gradients of
        :meth:`partitions` ``(i)`` in that order (:func:`electionlib.votes.worker_vote`); a
        worker with no partition sends the empty message."""
        cols = self.partitions(i)
        if len(cols) == 0:
            return np.zeros(0, np.uint8)
        g = self._local(i, grads)
        prngs = [self._part_rngs[i][int(j)] for j in cols] if self.tie == "coin" else None
        bits, pres = V.worker_vote(g, self.tie, partition_rngs=prngs,
                                   rng=self.worker_rngs[i])
        if self.tie == "abstain":
            return np.concatenate([bits, pres])
        return bits

    def _worst_target(self, g: np.ndarray):
        """The true majority of the partitions' signs, ``sign(0)`` resolved as the trainers
        resolve it (under ``coin``: from the adversary's copies of the partition streams)."""
        pbits, ppres = partition_signs(g, self.tie, self._adversary_rngs)
        return V.majority(pbits, self.d, ppres)

    def attack_message(self, attack: str, message, *, honest=(), rng=None,
                       partition_grads=None, target=None, f=None) -> np.ndarray | None:
        """What a Byzantine worker sends instead of ``message``: vote attacks act on bits, as
        the trainers apply them. ``none``, ``reverse`` and ``sign_flip`` leave an absent
        message absent (``None``); the others send a full vote. ``worst`` reverses
        ``target``, the true majority, which :meth:`exchange` computes once a step (or from
        ``partition_grads``)."""
        v.choice("attack", attack, A.VOTE_ATTACKS)
        nb, d = self.nb, self.d
        m = _payload(message, self.message_bytes)
        if attack == "none":
            return None if m is None else m.copy()
        if m is None and attack in ("reverse", "sign_flip"):
            return None
        bits = np.zeros(nb, np.uint8) if m is None else m[:nb].copy()
        pres = _full_mask(d) if m is None or self.tie != "abstain" else m[nb:].copy()
        if attack == "worst" and target is None:
            if partition_grads is None:
                raise ValueError("attack='worst' needs partition_grads (the omniscient "
                                 "adversary's view of every partition) or target")
            target = self._worst_target(_as_numpy(partition_grads))
        out = A.attack_vote(attack, bits, d, rng=rng, target=target)
        if attack in ("reverse", "sign_flip"):
            out &= pres  # a reversed abstention is still an abstention
        else:
            pres = _full_mask(d)
        return np.concatenate([out, pres]) if self.tie == "abstain" else out

    def decode_packed(self, messages) -> np.ndarray:
        """The update in its wire form: packed signs then packed nonzero mask
        ``(2 ceil(d/8),)``; absent or malformed votes abstain."""
        msgs = _check_messages(messages, self.n)
        nb = self.nb
        bits = np.zeros((self.n, nb), np.uint8)
        pres = np.zeros((self.n, nb), np.uint8)
        full = _full_mask(self.d)
        for i, msg in enumerate(msgs):
            m = _payload(msg, self.message_bytes)
            if m is None:
                continue
            bits[i] = m[:nb]
            pres[i] = m[nb:] if self.tie == "abstain" else full
        val, ties = V.majority(bits, self.d, pres, return_ties=True)
        nz = ~ties
        nz[-1] &= V._tail_mask(self.d)
        return np.concatenate([val, nz])

    def decode_wire(self, messages) -> tuple[np.ndarray, None]:
        """The update as the server sends it (:meth:`decode_packed`), and no note."""
        return self.decode_packed(messages), None

    def unpack_update(self, buf) -> np.ndarray:
        """A worker's view of the update bytes: float32 ``(d,)``."""
        return unpack_vote_update(buf, self.d)

    def decode(self, messages) -> np.ndarray:
        """The update ``(d,)`` float32: +1 / -1 by majority, 0 where tied or nobody voted."""
        return self.unpack_update(self.decode_packed(messages))


def unpack_vote_update(buf: np.ndarray, d: int) -> np.ndarray:
    """A vote update's wire form (signs, nonzero mask) as float32 ``(d,)``."""
    nb = V.packed_length(d)
    val = V.unpack(buf[:nb], d).astype(np.float32)
    val[~np.unpackbits(buf[nb:2 * nb], count=d).astype(bool)] = 0.0
    return val


class MultiBitVote(_Family):
    """The multi-bit extension of Section 2.2: worker ``i`` averages the signs of its
    partitions and rounds to the nearest of ``2**bits`` levels evenly spaced in [-1, 1]; the
    server averages the present workers' levels and rounds again (``bits = 1`` would be the
    majority vote).

    Wire format: ``bits`` bit-planes of the level index plus one plane marking exact zeros,
    ``(bits + 1) ceil(d/8)`` bytes, both ways.
    """

    family = "multibit"

    def __init__(self, G, d: int, *, bits: int = 2, tie: str = "coin", seed=0,
                 worker_rngs=None):
        self.G = v.allocation(G)
        self.n, self.k = self.G.shape
        self.d = v.integer("d", d, lo=1)
        self.bits = v.integer("bits", bits, lo=2, hi=8)
        self.tie = v.choice("tie", tie, V.TIE_RULES)
        workers, _ = _streams(seed, self.n, self.k, worker_rngs)
        self.worker_rngs = workers  # the random attack's draws, one stream per worker

    @property
    def message_bytes(self) -> int:
        return (self.bits + 1) * V.packed_length(self.d)

    update_bytes = message_bytes

    def level_of(self, signs: np.ndarray) -> np.ndarray:
        """A worker's level per coordinate: the mean of its ``(r, d)`` partition signs,
        rounded to the nearest of the ``2**bits`` levels."""
        r = signs.shape[0]
        return quantize((np.ones((1, r)) @ signs) / np.array([r])[:, None], self.bits)[0]

    def encode(self, i: int, grads) -> np.ndarray:
        """Worker ``i``'s message: its level per coordinate, packed (:func:`multibit_pack`); a
        worker with no partition sends the empty message."""
        if len(self.partitions(i)) == 0:
            return np.zeros(0, np.uint8)
        g = self._local(i, grads)
        return multibit_pack(self.level_of(multibit_signs(g, self.tie)), self.bits)

    def attack_message(self, attack: str, message, *, honest=(), rng=None,
                       partition_grads=None, target=None, f=None) -> np.ndarray | None:
        """A Byzantine worker's multi-bit message; an absent one stays absent (as on both
        trainers, where a worker with no partition sends nothing whatever its attack)."""
        v.choice("attack", attack, A.VOTE_ATTACKS)
        m = _payload(message, self.message_bytes)
        if m is None:
            return None
        if attack == "none":
            return m.copy()
        msg = multibit_unpack(m, self.bits, self.d)
        if attack == "reverse":
            msg = -msg
        elif attack == "directional":
            msg = np.ones(self.d)
        elif attack == "random":
            msg = v.rng(rng).choice(_levels(self.bits), size=self.d)
        elif attack == "sign_flip":  # each level reversed with probability q, as for 1 bit
            msg = np.where(v.rng(rng).random(self.d) < A.SIGN_FLIP_Q, -msg, msg)
        elif attack == "worst":
            if partition_grads is None:
                raise ValueError("attack='worst' needs partition_grads")
            msg = -np.sign(multibit_signs(_as_numpy(partition_grads), self.tie).sum(axis=0))
        return multibit_pack(msg, self.bits)

    def decode_wire(self, messages) -> tuple[np.ndarray, None]:
        """The mean of the present workers' levels, quantized again, packed for the wire."""
        msgs = _check_messages(messages, self.n)
        rows = [multibit_unpack(m, self.bits, self.d) for m in
                (_payload(x, self.message_bytes) for x in msgs) if m is not None]
        mean = np.stack(rows).mean(axis=0) if rows else np.zeros(self.d)
        return multibit_pack(quantize(mean, self.bits), self.bits), None

    def unpack_update(self, buf) -> np.ndarray:
        return multibit_unpack(buf, self.bits, self.d).astype(np.float32)

    def decode(self, messages) -> np.ndarray:
        """The update ``(d,)`` float32: the quantized mean of the present levels."""
        return self.unpack_update(self.decode_wire(messages)[0])


class RobustAggregate(_Family):
    """Full-precision gradients aggregated by a robust rule: worker ``i`` holds partition
    ``i`` and sends its float32 gradient; the server applies the rule to the rows that
    arrived (re-derived for fewer rows by :func:`electionlib.aggregators.for_rows`).

    Args:
        n: workers (= partitions).
        d: coordinates.
        rule: a name of :mod:`electionlib.aggregators` or a callable ``(m, d) -> (d,)``.
        seed, worker_rngs: the workers' streams, for randomised attacks (``worker_rngs``: the
            ``n`` Generators of a trainer's run).
        **params: the rule's parameters (with a name; not allowed with a callable).
    """

    family = "aggregate"

    def __init__(self, n: int, d: int, rule="mean", *, seed=0, worker_rngs=None, **params):
        self.n = v.integer("n", n, lo=1)
        self.k = self.n
        self.d = v.integer("d", d, lo=1)
        self.G = codes.uncoded(self.n)
        if not isinstance(rule, str) and params:
            raise ValueError(f"rule parameters {sorted(params)} go with a rule's name; a "
                             f"callable rule is used as given")
        self.rule = aggregators.get(rule, **params) if isinstance(rule, str) else rule
        self.worker_rngs = _streams(seed, self.n, self.k, worker_rngs)[0]

    @property
    def message_bytes(self) -> int:
        return 4 * self.d

    update_bytes = message_bytes

    def encode(self, i: int, grads) -> np.ndarray:
        g = self._local(i, grads)
        return np.ascontiguousarray(g[0], dtype=np.float32).view(np.uint8)

    def attack_message(self, attack: str, message, *, honest=(), rng=None,
                       partition_grads=None, target=None, f=None) -> np.ndarray | None:
        v.choice("attack", attack, A.GRADIENT_ATTACKS)
        m = _payload(message, self.message_bytes)
        own = np.zeros(self.d, np.float32) if m is None else m.view(np.float32)
        rows = [h.view(np.float32) for h in honest if _payload(h, self.message_bytes)
                is not None]
        view = np.stack(rows) if rows else own[None, :]
        out = A.attack_gradient(attack, own, honest=view, n=self.n,
                                f=self.n - len(rows) if f is None else f, rng=rng)
        return np.ascontiguousarray(out, dtype=np.float32).view(np.uint8)

    def decode_wire(self, messages) -> tuple[np.ndarray, str | None]:
        """The aggregate as float32 bytes, and a note when the rule was re-derived for the
        rows that arrived (None otherwise); no row at all gives a zero update."""
        msgs = _check_messages(messages, self.n)
        rows = [m.view(np.float32) for m in (_payload(x, self.message_bytes) for x in msgs)
                if m is not None]
        if not rows:
            return np.zeros(self.d, np.float32).view(np.uint8), "no message arrived; no update"
        rule, note = aggregators.for_rows(self.rule, len(rows))
        return np.asarray(rule(np.stack(rows)), dtype=np.float32).view(np.uint8), note

    def unpack_update(self, buf) -> np.ndarray:
        return np.frombuffer(np.asarray(buf).tobytes(), dtype=np.float32).copy()

    def decode(self, messages) -> np.ndarray:
        """The robust aggregate ``(d,)`` float32 of the rows that arrived."""
        return self.unpack_update(self.decode_wire(messages)[0])


class Draco(_Family):
    """DRACO (Chen et al. 2018): worker ``i`` computes the gradients of its code's
    partitions and sends the encoded node message; the decoder recovers the sum of all
    ``P`` gradients with up to ``s`` adversarial messages, and the update is that sum / P.

    Args:
        code: ``electionlib.draco.repetition(P, s)`` or ``cyclic(P, s)``, or the name
            ``"repetition"`` / ``"cyclic"`` with ``n`` and ``s``.
        d: coordinates.
        seed, worker_rngs: the nodes' streams, for randomised attacks (``worker_rngs``: the
            ``P`` Generators of a trainer's run).

    Wire format: float64 (repetition) or complex128 (cyclic) per coordinate, as the
    encoder computes it. An absent or malformed message enters the decoder as an
    adversarial (NaN) row.
    """

    family = "draco"

    def __init__(self, code, d: int, *, n: int | None = None, s: int | None = None, seed=0,
                 worker_rngs=None):
        if isinstance(code, str):
            v.choice("code", code, ("repetition", "cyclic"))
            if n is None or s is None:
                raise ValueError(f"code={code!r} by name needs n (nodes) and s (adversaries)")
            code = (draco.repetition if code == "repetition" else draco.cyclic)(n, s)
        self.code = code
        self.n = self.k = int(code.P)
        self.d = v.integer("d", d, lo=1)
        self.G = np.asarray(code.A, np.uint8)
        self.dtype = np.dtype(np.complex128 if isinstance(code, draco.CyclicCode)
                              else np.float64)
        self.worker_rngs = _streams(seed, self.n, self.k, worker_rngs)[0]

    def partitions(self, i: int) -> np.ndarray:
        i = v.integer("i", i, lo=0, hi=self.n - 1)
        return np.asarray(self.code.partitions(i), dtype=np.int64)

    @property
    def message_bytes(self) -> int:
        return self.dtype.itemsize * self.d

    @property
    def update_bytes(self) -> int:
        return 4 * self.d

    def encode(self, i: int, grads) -> np.ndarray:
        g = self._local(i, grads)
        msg = self.code.encode_node(i, g.astype(np.float64))
        return np.ascontiguousarray(msg, dtype=self.dtype).view(np.uint8)

    def attack_message(self, attack: str, message, *, honest=(), rng=None,
                       partition_grads=None, target=None, f=None) -> np.ndarray | None:
        v.choice("attack", attack, A.GRADIENT_ATTACKS)
        m = _payload(message, self.message_bytes)
        own = np.zeros(self.d, self.dtype) if m is None else m.view(self.dtype)
        rows = [h.view(self.dtype) for h in honest
                if _payload(h, self.message_bytes) is not None]
        view = np.stack(rows) if rows else own[None, :]
        out = A.attack_gradient(attack, own, honest=view, n=self.n,
                                f=self.n - len(rows) if f is None else f, rng=rng)
        return np.ascontiguousarray(out, dtype=self.dtype).view(np.uint8)

    def decode_wire(self, messages) -> tuple[np.ndarray, None]:
        """The decoded sum / P as float32 bytes; an absent message is a NaN row."""
        msgs = _check_messages(messages, self.n)
        rows = np.full((self.n, self.d), np.nan, dtype=self.dtype)
        for i, x in enumerate(msgs):
            m = _payload(x, self.message_bytes)
            if m is not None:
                rows[i] = m.view(self.dtype)
        with np.errstate(all="ignore"):
            total = np.real(self.code.decode(rows))
        return (total / self.n).astype(np.float32).view(np.uint8), None

    def unpack_update(self, buf) -> np.ndarray:
        return np.frombuffer(np.asarray(buf).tobytes(), dtype=np.float32).copy()

    def decode(self, messages) -> np.ndarray:
        """The DRACO update ``(d,)`` float32: the decoded sum of the gradients / P."""
        return self.unpack_update(self.decode_wire(messages)[0])


def from_config(cfg, d: int, G=None, *, rule=None, code=None):
    """The scheme of a :class:`electionlib.train.TrainConfig` with the trainers' streams.

    Args:
        cfg: the configuration.
        d: the model's dimension.
        G: the run's allocation for a vote scheme (drawn from the run's ``code`` stream when
            omitted, as both backends draw it).
        rule, code: an aggregator instance or a DRACO code already built for the run (a
            stateful rule keeps its state in the caller's instance).
    """
    st = C.streams(cfg.seed)
    k = cfg.k if cfg.k is not None else cfg.n
    workers = [np.random.default_rng(s) for s in st["workers"].spawn(cfg.n)]
    if cfg.code in C.DRACO_CODES:
        return Draco(code if code is not None else C.draco_code(cfg), d, worker_rngs=workers)
    if not cfg.vote_scheme:
        return RobustAggregate(cfg.n, d, rule if rule is not None else C.agg_callable(cfg),
                               worker_rngs=workers)
    if G is None:
        G = C.allocation(cfg, k, C.code_stream(cfg, st))
    if cfg.quant_bits > 1:
        return MultiBitVote(G, d, bits=cfg.quant_bits, tie=cfg.tie, worker_rngs=workers)
    return ElectionVote(G, d, tie=cfg.tie, worker_rngs=workers,
                        partition_seeds=st["partitions"].spawn(k))


def sized(cfg, d: int):
    """The scheme of ``cfg`` for its sizes and wire dtypes only: a vote scheme gets an
    all-ones allocation of the run's shape (sizes do not depend on ``G``) and no streams."""

    k = cfg.k if cfg.k is not None else cfg.n
    if cfg.vote_scheme:
        G = np.ones((cfg.n, k), np.uint8)
        if cfg.quant_bits > 1:
            return MultiBitVote(G, d, bits=cfg.quant_bits, tie=cfg.tie)
        return ElectionVote(G, d, tie=cfg.tie)
    return from_config(cfg, d)


def step_optimizer(scheme, optimizer, partition_grads, params=None, **step_kw):
    """Write a scheme's decoded update into the parameters' ``.grad`` and step a torch
    optimizer: the seam for a user's own loop.

    Args:
        scheme: a scheme of this module.
        optimizer: a ``torch.optim.Optimizer`` over ``params``.
        partition_grads: ``(k, d)`` flat per-partition gradients (torch or numpy), ``d`` the
            total size of ``params`` in their order.
        params: the parameters (default: every parameter of ``optimizer``, in group order).
        **step_kw: passed to :meth:`ElectionVote.step` (``byzantine``, ``attack``, ``rng``).

    Returns:
        the update ``(d,)`` as a torch tensor.
    """
    import torch

    ps = list(params) if params is not None else [p for grp in optimizer.param_groups
                                                  for p in grp["params"]]
    total = sum(p.numel() for p in ps)
    if total != scheme.d:
        raise ValueError(f"params hold {total} values but the scheme has d={scheme.d}")
    u = scheme.step(partition_grads, **step_kw)
    u = u if isinstance(u, torch.Tensor) else torch.from_numpy(u)
    o = 0
    for p in ps:
        p.grad = u[o:o + p.numel()].view_as(p).to(device=p.device, dtype=p.dtype).clone()
        o += p.numel()
    optimizer.step()
    return u
