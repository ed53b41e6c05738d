"""The MPI transport of the parameter server: framing, bounded waits, point-to-point updates.

Everything a worker sends to rank 0 is a *frame*: a 16-byte header (magic, step, payload
length; little-endian ``u4, u8, u4``) and a payload of raw bytes. The server

* never unpickles anything a worker sends: it probes each message, reads its size from the
  envelope, and receives it into a numpy buffer (``Message.Recv``, a buffer method). No
  lowercase (pickling) receive is used on rank 0 after set-up, and :func:`forbid_unpickle`
  makes any such call raise there;
* never allocates what a worker announces: a message larger than the largest frame its tag
  can carry is received *truncated* into a 1-byte scratch buffer (MPI discards the rest)
  and counted as malformed; messages with an unknown tag are discarded the same way;
* reads each worker in turn (one probe per worker per round, at most :data:`BURST`
  messages per worker per round), so a flooding worker cannot starve the others; beyond
  :data:`QUOTA` messages per worker and step (every tag), only a message's 16-byte header
  is read, and the rest is discarded and counted;
* bounds every wait: every receive is non-blocking and bounded, a step's collection ends at
  its deadline, the end-of-run drain at ``stall_timeout``; absences are logged as they
  happen, once per worker and step;
* sends the update to every worker itself (``Isend``, one per worker): no collective whose
  tree runs through worker ranks carries data in the training loop, so a slow or Byzantine
  worker can delay or alter nothing but its own vote.

Server-to-worker frames carry a 24-byte header (magic, flags, step, committed checkpoint).
Workers trust rank 0 (the parameter server is the trusted party of the papers' model).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HEADER_BYTES", "DOWN_HEADER_BYTES", "MAGIC", "pack_message", "parse_message",
           "pack_down", "parse_down", "Inbox", "Outbox", "wait", "forbid_unpickle",
           "TAG_VOTE", "TAG_VIEW", "TAG_UPDATE", "TAG_DONE", "TAG_ACK", "TAG_STATUS",
           "TAG_SETUP", "TAG_RESUME", "TAG_ASK", "EXIT_WORKERS_KILLED", "DONE_FIELDS",
           "LAST", "DIVERGED"]

# ---------------------------------------------------------------------------- frames

MAGIC = 0x454C5631  # "ELV1": a vote / gradient message (worker -> server)
MAGIC_DONE = 0x454C4431  # "ELD1": final timings (worker -> server)
MAGIC_ACK = 0x454C4131  # "ELA1": checkpoint piece written (worker -> server)
MAGIC_STATUS = 0x454C5331  # "ELS1": resume check result (worker -> server)
MAGIC_UPDATE = 0x454C5531  # "ELU1": the update of a step (server -> worker)
MAGIC_VIEW = 0x454C5731  # "ELW1": the adversary channel's view (server -> Byzantine worker)
MAGIC_SETUP = 0x454C4331  # "ELC1": configuration, allocation, resume decisions (server ->)
MAGIC_ASK = 0x454C5131  # "ELQ1": a Byzantine worker asks for this step's view (worker ->)

TAG_VOTE, TAG_VIEW, TAG_UPDATE, TAG_DONE, TAG_ACK, TAG_STATUS, TAG_SETUP, TAG_RESUME = (
    11, 12, 13, 14, 15, 16, 17, 18)
TAG_ASK = 19

HEADER_BYTES = 16
DOWN_HEADER_BYTES = 24
_HEADER = np.dtype([("magic", "<u4"), ("step", "<u8"), ("length", "<u4")])
_DOWN = np.dtype([("magic", "<u4"), ("flags", "<u4"), ("step", "<u8"), ("committed", "<i8")])
LAST, DIVERGED = 1, 2  # update flags: the run ends after this step; it ended by divergence

#: The worker's final timings (float64 each, seconds or counts), sent in its DONE frame.
DONE_FIELDS = ("compute", "encode", "comm", "compute_cpu", "steps_computed", "steps_skipped",
               "vote_bytes_sent")

#: Messages read per worker per polling round, and messages read in full per worker and step
#: before only headers are read (a flood costs rank 0 one probe and one truncated receive per
#: message, and never a buffer of its size).
BURST, QUOTA = 32, 8

#: Seconds a started receive may take before it is left in flight (on MPICH's shared-memory
#: transport a matched receive completes at once, even from a sender that stopped making MPI
#: calls: 8 MB in 4 ms measured here).
RECV_BOUND = 0.05

#: Exit status of a run whose results are complete but whose job had to be ended with
#: ``MPI_Abort`` because some worker never finished (stuck or detached): ``launch()``
#: reports it as "complete, workers killed".
EXIT_WORKERS_KILLED = 3

#: A worker with more than this many undelivered updates (or bytes) is detached: the server
#: stops sending to it and no longer waits for it (its results are still complete).
MAX_PENDING_SENDS, MAX_PENDING_BYTES = 1024, 256 << 20


def pack_message(step: int, payload: np.ndarray, magic: int = MAGIC) -> np.ndarray:
    """Header (magic, step, payload length) + payload bytes, as one uint8 buffer.

    Example:
        >>> msg = pack_message(7, np.arange(3, dtype=np.uint8))
        >>> len(msg), parse_message(msg, 7, 3).tolist()
        (19, [0, 1, 2])
    """
    payload = np.ascontiguousarray(payload).view(np.uint8).ravel()
    head = np.zeros(1, dtype=_HEADER)
    head["magic"], head["step"], head["length"] = magic, step, payload.size
    return np.concatenate([head.view(np.uint8), payload])


def parse_message(buf: np.ndarray, step: int, length: int, magic: int = MAGIC
                  ) -> np.ndarray | None:
    """The payload if ``buf`` is a well-formed frame for ``step`` of ``length`` bytes, else
    None (a wrong-size, truncated, garbage or late message is an abstention, never an error).

    Example:
        >>> parse_message(np.zeros(5, np.uint8), 0, 3) is None
        True
    """
    head = _head(buf, magic)
    if head is None or buf.size != HEADER_BYTES + length:
        return None
    if head[0] != step or head[1] != length:
        return None
    return buf[HEADER_BYTES:]


def _head(buf: np.ndarray, magic: int) -> tuple[int, int] | None:
    """``(step, length)`` of a frame with this magic, else None."""
    if buf.size < HEADER_BYTES:
        return None
    head = buf[:HEADER_BYTES].view(_HEADER)[0]
    if int(head["magic"]) != magic:
        return None
    return int(head["step"]), int(head["length"])


def pack_down(magic: int, step: int, payload: np.ndarray, flags: int = 0,
              committed: int = -1) -> np.ndarray:
    """A server-to-worker frame: 24-byte header (magic, flags, step, committed) + payload.

    Example:
        >>> buf = pack_down(MAGIC_UPDATE, 3, np.arange(2, dtype=np.uint8), flags=LAST)
        >>> head, body = parse_down(buf, MAGIC_UPDATE)
        >>> head["step"], head["flags"], body.tolist()
        (3, 1, [0, 1])
    """
    payload = np.ascontiguousarray(payload).view(np.uint8).ravel()
    head = np.zeros(1, dtype=_DOWN)
    head["magic"], head["flags"], head["step"], head["committed"] = magic, flags, step, committed
    return np.concatenate([head.view(np.uint8), payload])


def parse_down(buf: np.ndarray, magic: int):
    """``(header dict, payload)`` of a server frame; ``ValueError`` if it is not one (rank 0
    is trusted: a bad frame from it is a bug, not an attack)."""
    if buf.size < DOWN_HEADER_BYTES or int(buf[:4].view("<u4")[0]) != magic:
        raise ValueError(f"malformed frame from the server ({buf.size} bytes)")
    h = buf[:DOWN_HEADER_BYTES].view(_DOWN)[0]
    return ({"flags": int(h["flags"]), "step": int(h["step"]),
             "committed": int(h["committed"])}, buf[DOWN_HEADER_BYTES:])


# ---------------------------------------------------------------------------- waiting


def wait(req, timeout: float | None = None, first: float = 5e-5, longest: float = 1e-3
         ) -> bool:
    """Complete ``req`` by polling with short sleeps; False if ``timeout`` passed first.

    ``n + 1`` ranks may share a few cores: a rank spinning in a blocking call steals the CPU
    the others need.
    """
    nap = first
    t_end = None if timeout is None else time.perf_counter() + timeout
    while not req.Test():
        if t_end is not None and time.perf_counter() > t_end:
            return False
        time.sleep(nap)
        nap = min(2 * nap, longest)
    return True


def recv_from_server(comm, MPI, tag: int) -> np.ndarray:
    """Worker side: the next message from rank 0 with ``tag``, whatever its size (rank 0 is
    trusted), by polling."""
    status = MPI.Status()
    nap = 5e-5
    while True:
        msg = comm.improbe(source=0, tag=tag, status=status)
        if msg is not None:
            buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
            msg.Recv([buf, MPI.BYTE])
            return buf
        time.sleep(nap)
        nap = min(2 * nap, 1e-3)


def forbid_unpickle(MPI, on_call=None) -> None:
    """Make every pickling receive of mpi4py on this rank raise (``MPI.pickle`` hook).

    Rank 0 calls it once set-up is over: from then on ``recv``, ``irecv``, ``gather``,
    ``allgather``, ``reduce``, ``allreduce``, ``sendrecv``, ``bcast`` (as a receiver) and
    ``Message.recv`` cannot turn a worker's bytes into objects. ``on_call`` (tests) is
    called before raising.
    """
    def loads(*args, **kwargs):
        if on_call is not None:
            on_call()
        raise RuntimeError("the parameter server refuses to unpickle worker data")

    MPI.pickle.__init__(pickle.dumps, loads)


# ---------------------------------------------------------------------------- server inbox


@dataclass
class Counters:
    """What the server discarded, over the whole run."""

    late: int = 0  # votes of an earlier step (a straggler catching up)
    duplicates: int = 0  # more valid votes of the same step from one worker
    flood: int = 0  # messages past the per-step quota, discarded unread
    wrong_tag: int = 0  # messages on a tag the server does not read
    oversized: int = 0  # larger than any frame of their tag: never buffered
    malformed: int = 0  # wrong size, magic, length or step (absences)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Inbox:
    """Rank 0's view of everything the workers send (see the module docstring).

    Args:
        comm, MPI: the communicator and the ``mpi4py.MPI`` module.
        n: workers (ranks ``1..n``).
        up_len: payload bytes of one vote/gradient message.
        empty_rows: ``(n,)`` bool, workers whose row of G is empty (a zero-length message
            is their declared abstention).
        log: callable for log lines (absences are logged as they happen).

    Every receive is non-blocking and bounded (:data:`RECV_BOUND` seconds): a message whose
    bytes do not arrive in time (a sender that stalls in the middle of a large message, on a
    transport that needs the sender's progress) stays *in flight*, one per worker, and that
    worker is not read again until it has arrived; the others are not held up.
    """

    comm: object
    MPI: object
    n: int
    up_len: int
    empty_rows: np.ndarray
    log: object
    step: int = 0
    votes: dict = field(default_factory=dict)
    absences: dict = field(default_factory=dict)
    done: dict = field(default_factory=dict)
    acks: set = field(default_factory=set)
    statuses: dict = field(default_factory=dict)
    asks: set = field(default_factory=set)
    counters: Counters = field(default_factory=Counters)
    #: acknowledgements are kept only for checkpoint steps in (lo, hi] (set by the server)
    ack_window: tuple = (0, 0)
    #: after the last step: no absence is logged any more (every vote is late)
    draining: bool = False

    def __post_init__(self):
        self._status = self.MPI.Status()
        self._scratch = np.zeros(1, np.uint8)
        self._read = np.zeros(self.n, np.int64)  # messages read this step, per worker
        self._inflight: dict[int, tuple] = {}
        self._max = {TAG_VOTE: HEADER_BYTES + self.up_len,
                     TAG_DONE: HEADER_BYTES + 8 * len(DONE_FIELDS),
                     TAG_ACK: HEADER_BYTES, TAG_STATUS: HEADER_BYTES + 8,
                     TAG_ASK: HEADER_BYTES}

    # -- per step ----------------------------------------------------------------------

    def begin(self, step: int) -> None:
        """Start collecting ``step``: earlier votes are late from now on."""
        self.step = step
        self.votes = {}
        self._read[:] = 0
        self.asks = {(w, s) for w, s in self.asks if s >= step}

    def forget_acks(self, upto: int) -> None:
        """Drop the acknowledgements of checkpoints at or before ``upto`` (committed)."""
        self.acks = {(w, s) for w, s in self.acks if s > upto}

    def finished(self, final_step: int) -> set:
        """Workers whose final report (DONE frame) is for ``final_step``."""
        return {w for w, (s, _) in self.done.items() if s == final_step}

    def absent(self, worker: int, why: str) -> None:
        """Record (once per worker and step) and log that ``worker``'s vote is absent."""
        if self.draining:
            return
        key = (self.step, worker)
        if key not in self.absences:
            self.absences[key] = why
            self.log(f"step {self.step}: worker {worker}'s message treated as absent ({why})")
        self.votes.setdefault(worker, None)

    def collect(self, expect, t_end: float | None, on_round=None) -> set:
        """Poll until every worker in ``expect`` has an outcome for this step (a payload or
        None) or ``t_end`` (``perf_counter`` time) passes. Returns the workers of ``expect``
        still missing (not yet marked absent: the caller decides why). ``on_round`` is
        called after every polling round (the adversary channel answers requests there)."""
        expect = set(expect)
        nap = 1e-4
        while True:
            got = self.poll()
            if on_round is not None:
                on_round()
            missing = expect - set(self.votes)
            if not missing:
                return set()
            if t_end is not None and time.perf_counter() > t_end:
                return missing
            if got:
                nap = 1e-4
            else:
                time.sleep(nap)
                nap = min(nap * 2, 2e-3)

    def poll(self) -> int:
        """One round over the workers: read what has arrived. Returns messages handled."""
        handled = 0
        for w in range(self.n):
            if w in self._inflight:  # its previous message first (per-worker order)
                if not self._complete(w, *self._inflight[w], bound=0.0):
                    continue
                del self._inflight[w]
                handled += 1
            for _ in range(BURST):
                msg = self.comm.improbe(source=w + 1, tag=self.MPI.ANY_TAG,
                                        status=self._status)
                if msg is None:
                    break
                handled += 1
                if not self._handle(msg, w):
                    break  # in flight: read this worker again next round
        return handled

    def drain(self, until, t_end: float) -> bool:
        """Read (and discard what is not wanted) until ``until()`` holds or ``t_end``."""
        nap = 1e-4
        while not until():
            if time.perf_counter() > t_end:
                return False
            if self.poll():
                nap = 1e-4
            else:
                time.sleep(nap)
                nap = min(nap * 2, 2e-3)
        return True

    # -- one message -------------------------------------------------------------------

    def _handle(self, msg, w: int) -> bool:
        """Start receiving one probed message; True unless it is left in flight."""
        tag = self._status.Get_tag()
        size = self._status.Get_count(self.MPI.BYTE)
        limit = self._max.get(tag)
        if limit is None:
            self.counters.wrong_tag += 1
            mode, buf = "drop", self._scratch
        elif size == self.MPI.UNDEFINED or size > limit or size < HEADER_BYTES:
            if size != self.MPI.UNDEFINED and size > limit:
                self.counters.oversized += 1
                why = f"oversized message of {size} bytes, not buffered"
            else:
                why = f"malformed message of {size} bytes"
            self._malformed(w, tag, why)
            mode, buf = "drop", self._scratch
        else:
            self._read[w] += 1
            if self._read[w] > QUOTA:
                # past the quota only the header is read (a truncated receive): nothing of
                # a flood is buffered, and what the header says is still acted on
                self.counters.flood += 1
                mode, buf = "header", np.zeros(HEADER_BYTES, np.uint8)
            else:
                mode, buf = "full", np.empty(size, np.uint8)
        req = msg.Irecv([buf, self.MPI.BYTE])
        if self._complete(w, req, buf, tag, mode):
            return True
        self._inflight[w] = (req, buf, tag, mode)
        return False

    def _complete(self, w: int, req, buf, tag: int, mode: str,
                  bound: float = RECV_BOUND) -> bool:
        """Finish a receive within ``bound`` seconds and act on it; False if still going."""
        try:
            done = bool(req.Test()) if bound <= 0 else wait(req, bound)
        except self.MPI.Exception as exc:  # MPI_ERR_TRUNCATE: the rest is dropped
            if exc.Get_error_class() != self.MPI.ERR_TRUNCATE:
                raise
            done = True
        if not done:
            return False
        if mode == "full":
            self._act(w, tag, buf, full=True)
        elif mode == "header":
            self._act(w, tag, buf, full=False)
        return True

    def _act(self, w: int, tag: int, buf: np.ndarray, full: bool) -> None:
        if tag == TAG_VOTE:
            return self._vote(w, buf) if full else self._vote_header(w, buf)
        magic = {TAG_DONE: MAGIC_DONE, TAG_ACK: MAGIC_ACK, TAG_STATUS: MAGIC_STATUS,
                 TAG_ASK: MAGIC_ASK}[tag]
        head = _head(buf, magic)
        want = {TAG_DONE: 8 * len(DONE_FIELDS), TAG_ACK: 0, TAG_STATUS: 8, TAG_ASK: 0}[tag]
        if head is None or head[1] != want or (full and buf.size != HEADER_BYTES + want):
            self.counters.malformed += 1
            return None
        step = head[0]
        if tag == TAG_DONE:
            vals = (np.frombuffer(buf[HEADER_BYTES:].tobytes(), "<f8") if full else
                    np.full(len(DONE_FIELDS), np.nan))
            self.done[w] = (step, vals)  # the newest report wins; its step is checked later
        elif tag == TAG_ACK:
            lo, hi = self.ack_window
            if lo < step <= hi:
                self.acks.add((w, step))
            else:
                self.counters.malformed += 1
        elif tag == TAG_STATUS:
            code = int(buf[HEADER_BYTES:].view("<i8")[0]) if full else 4
            self.statuses.setdefault(w, (step, code))
        elif step == self.step:  # TAG_ASK
            self.asks.add((w, step))
        return None

    def _malformed(self, w: int, tag: int, why: str) -> None:
        self.counters.malformed += 1
        if tag == TAG_VOTE and w not in self.votes:
            self.absent(w, why)

    def _vote_header(self, w: int, head_buf: np.ndarray) -> None:
        """A vote read past the quota: a worker that buried this step's vote under its own
        flood loses it at once, and nobody waits for it until the deadline."""
        parsed = _head(head_buf, MAGIC)
        if parsed is not None and parsed[0] == self.step and w not in self.votes:
            self.absent(w, "its vote came past the flood quota, discarded unread")

    def _vote(self, w: int, buf: np.ndarray) -> None:
        head = _head(buf, MAGIC)
        if head is None:
            return self._malformed(w, TAG_VOTE, f"malformed message of {buf.size} bytes")
        step, length = head
        if step < self.step or self.draining:
            self.counters.late += 1
            return None
        if w in self.votes:
            self.counters.duplicates += 1
            return None
        if step > self.step:
            return self._malformed(w, TAG_VOTE, f"message for future step {step}")
        if length == 0 and buf.size == HEADER_BYTES:
            if self.empty_rows[w]:
                self.votes[w] = None  # the declared abstention of a worker with no partition
                return None
            return self._malformed(w, TAG_VOTE, "empty message from a worker with partitions")
        if length != self.up_len or buf.size != HEADER_BYTES + self.up_len:
            return self._malformed(w, TAG_VOTE, f"malformed message of {buf.size} bytes")
        self.votes[w] = buf[HEADER_BYTES:]
        return None


# ---------------------------------------------------------------------------- server outbox


@dataclass
class Outbox:
    """Rank 0's point-to-point sends, tracked per worker so that nothing is waited on
    forever and nothing a stuck worker never receives piles up without bound."""

    comm: object
    MPI: object
    n: int
    log: object
    what: str = "updates"
    detached: set = field(default_factory=set)

    def __post_init__(self):
        self._pending: list[list] = [[] for _ in range(self.n)]

    def send(self, w: int, buf: np.ndarray, tag: int) -> bool:
        """Post ``buf`` to worker ``w``; False (nothing sent) if ``w`` is detached."""
        if w in self.detached:
            return False
        pend = self._pending[w]
        pend[:] = [(r, b) for r, b in pend if not r.Test()]
        if (len(pend) >= MAX_PENDING_SENDS
                or sum(b.nbytes for _, b in pend) + buf.nbytes > MAX_PENDING_BYTES):
            self.detached.add(w)
            self.log(f"worker {w} detached from the {self.what}: {len(pend)} messages from the "
                     f"server undelivered; no more {self.what} are sent to it")
            return False
        pend.append((self.comm.Isend([buf, self.MPI.BYTE], dest=w + 1, tag=tag), buf))
        return True

    def pending(self, w: int) -> int:
        pend = self._pending[w]
        pend[:] = [(r, b) for r, b in pend if not r.Test()]
        return len(pend)

    def complete(self, workers, t_end: float) -> set:
        """Wait (bounded) for the sends to ``workers``; returns those still pending."""
        left = set()
        for w in workers:
            for r, _ in self._pending[w]:
                if not wait(r, max(0.0, t_end - time.perf_counter())):
                    left.add(w)
                    break
        return left
