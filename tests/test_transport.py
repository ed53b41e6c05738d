"""The parameter server's transport (electionlib.mpi_transport), in-process, on a fake
communicator: what rank 0 does with every kind of message a hostile worker can send.

The end-to-end counterparts, through mpiexec, are in tests/test_hostile.py.
"""

import ast
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from electionlib import mpi_transport as X


class FakeMPI:
    ANY_TAG, ANY_SOURCE, BYTE, UNDEFINED, ERR_TRUNCATE = -1, -2, "byte", -32766, 15

    class Exception(Exception):  # noqa: N818 - mpi4py's name
        def __init__(self, cls):
            super().__init__("truncated")
            self.cls = cls

        def Get_error_class(self):
            return self.cls

    class Status:
        def __init__(self):
            self.tag = self.count = None

        def Get_tag(self):
            return self.tag

        def Get_count(self, _):
            return self.count


class FakeMessage:
    """A matched message: Irecv copies into the caller's buffer when the request completes
    (MPI truncation semantics: the rest is dropped and the request reports ERR_TRUNCATE)."""

    def __init__(self, comm, data, arrive_after=0):
        self.comm, self.data, self.arrive_after = comm, data, arrive_after

    def Irecv(self, spec):
        buf = spec[0]
        self.comm.receive_buffers.append(buf.size)
        return RecvRequest(self, buf)


class RecvRequest:
    def __init__(self, msg, buf):
        self.msg, self.buf, self.tests = msg, buf, 0

    def Test(self):
        self.tests += 1
        if self.tests <= self.msg.arrive_after:  # its bytes are not all there yet
            return False
        data = self.msg.data
        if isinstance(data, int):  # a lying envelope: only the size exists
            if data > self.buf.size:
                raise FakeMPI.Exception(FakeMPI.ERR_TRUNCATE)
            return True
        k = min(self.buf.size, len(data))
        self.buf[:k] = np.frombuffer(data[:k], np.uint8)
        if len(data) > self.buf.size:
            raise FakeMPI.Exception(FakeMPI.ERR_TRUNCATE)
        return True


class FakeRequest:
    def __init__(self, done=True):
        self.done = done

    def Test(self):
        return self.done


class FakeComm:
    def __init__(self, n):
        self.queues = {src: deque() for src in range(1, n + 1)}
        self.receive_buffers = []
        self.sent = []
        self.complete_sends = True

    def put(self, worker, tag, data, arrive_after=0):
        self.queues[worker + 1].append((tag, bytes(data), arrive_after))

    def put_lying(self, worker, tag, size):
        self.queues[worker + 1].append((tag, size, 0))

    def improbe(self, source, tag, status):
        q = self.queues[source]
        for i, (t, data, late) in enumerate(q):
            if tag in (FakeMPI.ANY_TAG, t):
                del q[i]
                status.tag = t
                status.count = data if isinstance(data, int) else len(data)
                return FakeMessage(self, data, late)
        return None

    def Isend(self, spec, dest, tag):
        self.sent.append((dest, tag, spec[0].nbytes))
        return FakeRequest(self.complete_sends)


UP = 10  # payload bytes of a vote in these tests


def inbox(n=3, empty=None, up_len=UP):
    comm, lines = FakeComm(n), []
    box = X.Inbox(comm, FakeMPI, n, up_len, np.zeros(n, bool) if empty is None else empty,
                  lines.append)
    return comm, box, lines


def vote(step, fill=1, length=UP):
    return X.pack_message(step, np.full(length, fill, np.uint8))


def test_frames_round_trip_and_reject_every_deviation():
    msg = vote(5)
    assert np.array_equal(X.parse_message(msg, 5, UP), np.full(UP, 1, np.uint8))
    assert X.parse_message(msg, 4, UP) is None  # another step
    assert X.parse_message(msg, 5, UP + 1) is None  # another length
    assert X.parse_message(msg[:-1], 5, UP) is None  # truncated
    assert X.parse_message(X.pack_message(5, np.ones(UP, np.uint8), X.MAGIC_DONE), 5,
                           UP) is None  # another kind of frame
    head, body = X.parse_down(X.pack_down(X.MAGIC_UPDATE, 9, np.arange(4, dtype=np.uint8),
                                          flags=X.LAST, committed=6), X.MAGIC_UPDATE)
    assert head == {"flags": X.LAST, "step": 9, "committed": 6} and body.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="malformed frame from the server"):
        X.parse_down(np.zeros(30, np.uint8), X.MAGIC_UPDATE)


def test_valid_late_duplicate_and_future_votes():
    comm, box, lines = inbox()
    box.begin(3)
    comm.put(0, X.TAG_VOTE, vote(2))  # late: a straggler's previous step
    comm.put(0, X.TAG_VOTE, vote(3, fill=7))
    comm.put(0, X.TAG_VOTE, vote(3, fill=8))  # a second valid copy: the first one counts
    comm.put(1, X.TAG_VOTE, vote(4))  # from the future: only a Byzantine sends that
    box.poll()
    assert box.votes[0].tolist() == [7] * UP
    assert box.votes[1] is None and box.absences == {(3, 1): "message for future step 4"}
    assert box.counters.late == 1 and box.counters.duplicates == 1
    assert lines == ["step 3: worker 1's message treated as absent (message for future step 4)"]


def test_absences_are_logged_once_per_worker_and_step_as_they_happen():
    comm, box, lines = inbox()
    box.begin(1)
    for _ in range(5):
        comm.put(2, X.TAG_VOTE, np.random.default_rng(0).integers(0, 256, UP + 16,
                                                                   dtype=np.uint8))
    box.poll()
    assert lines == ["step 1: worker 2's message treated as absent (malformed message of 26 "
                     "bytes)"]
    box.begin(2)
    comm.put(2, X.TAG_VOTE, vote(2)[:9])
    box.poll()
    assert len(lines) == 2 and set(box.absences) == {(1, 2), (2, 2)}


def test_zero_length_frame_is_an_abstention_only_for_an_empty_row():
    comm, box, lines = inbox(empty=np.array([True, False, False]))
    box.begin(1)
    for w in (0, 1):
        comm.put(w, X.TAG_VOTE, X.pack_message(1, np.zeros(0, np.uint8)))
    box.poll()
    assert box.votes == {0: None, 1: None}
    assert list(box.absences) == [(1, 1)]  # worker 0 declared its abstention: not logged
    assert "empty message from a worker with partitions" in lines[0]


def test_oversized_and_wrong_tag_messages_are_never_buffered():
    comm, box, lines = inbox()
    box.begin(1)
    comm.put_lying(0, X.TAG_VOTE, 2**31 + 2**20)  # announces 2 GiB
    comm.put_lying(1, 99, 2**30)  # a tag the server does not read
    comm.put(1, X.TAG_UPDATE, b"\x00" * 64)  # a server-to-worker tag, from a worker
    box.poll()
    assert max(comm.receive_buffers) == 1  # truncated into the 1-byte scratch buffer
    assert box.counters.oversized == 1 and box.counters.wrong_tag == 2
    assert box.absences == {(1, 0): "oversized message of 2148532224 bytes, not buffered"}


def test_a_flood_is_read_in_turn_and_discarded_past_the_quota():
    comm, box, _ = inbox()
    box.begin(4)
    for _ in range(3000):
        comm.put(0, X.TAG_VOTE, vote(4))
    comm.put(1, X.TAG_VOTE, vote(4, fill=5))
    comm.put(2, X.TAG_VOTE, vote(4, fill=6))
    assert box.collect({0, 1, 2}, time.perf_counter() + 10) == set()
    # one round read every worker (ranks 2 and 3 are workers 1 and 2): the flooder, whose
    # messages came first, could not delay the others; BURST of its messages were read
    assert not comm.queues[2] and not comm.queues[3]
    assert len(comm.queues[1]) == 3000 - X.BURST
    assert box.drain(lambda: not comm.queues[1], time.perf_counter() + 10)
    assert box.counters.duplicates == X.QUOTA - 1
    assert box.counters.flood == 3000 - X.QUOTA
    full = [s for s in comm.receive_buffers if s > X.HEADER_BYTES]
    assert len(full) == X.QUOTA + 2  # the quota, plus workers 1 and 2; the rest truncated
    assert max(comm.receive_buffers) == X.HEADER_BYTES + UP


def test_a_vote_buried_under_its_own_flood_is_absent_at_once():
    """The flood of step 4 is still queued when step 5 starts: the flooder's step-5 vote
    comes past the quota, is read header-only and counts as absent without any wait."""
    comm, box, lines = inbox()
    box.begin(4)
    for _ in range(50):
        comm.put(0, X.TAG_VOTE, vote(4))
    comm.put(1, X.TAG_VOTE, vote(4))
    comm.put(2, X.TAG_VOTE, vote(4))
    box.collect({0, 1, 2}, time.perf_counter() + 10)
    box.begin(5)
    comm.put(0, X.TAG_VOTE, vote(5))
    comm.put(1, X.TAG_VOTE, vote(5))
    comm.put(2, X.TAG_VOTE, vote(5))
    t0 = time.perf_counter()
    assert box.collect({0, 1, 2}, time.perf_counter() + 30) == set()
    assert time.perf_counter() - t0 < 5  # nobody waited for the deadline
    assert box.votes[0] is None and box.votes[1] is not None
    assert "past the flood quota" in lines[-1]


def test_collect_ends_at_its_deadline_and_names_the_missing():
    comm, box, _ = inbox()
    box.begin(1)
    comm.put(0, X.TAG_VOTE, vote(1))
    t0 = time.perf_counter()
    missing = box.collect({0, 1, 2}, time.perf_counter() + 0.2)
    assert missing == {1, 2} and 0.2 <= time.perf_counter() - t0 < 5


def test_done_ack_and_status_frames_and_their_malformed_forms():
    comm, box, _ = inbox()
    done = X.pack_message(7, np.arange(len(X.DONE_FIELDS), dtype="<f8"), X.MAGIC_DONE)
    comm.put(0, X.TAG_DONE, done)
    comm.put(1, X.TAG_DONE, done[:-8])  # short
    comm.put(1, X.TAG_ACK, X.pack_message(6, np.zeros(0, np.uint8), X.MAGIC_ACK))
    comm.put(2, X.TAG_ACK, X.pack_message(6, np.zeros(0, np.uint8), X.MAGIC))  # wrong magic
    comm.put(2, X.TAG_STATUS, X.pack_message(6, np.array([4], "<i8"), X.MAGIC_STATUS))
    box.poll()
    assert list(box.done) == [0] and box.done[0][0] == 7
    assert box.done[0][1].tolist() == list(range(len(X.DONE_FIELDS)))
    assert box.finished(7) == {0} and box.finished(8) == set()  # only the final step counts
    assert box.acks == set()  # the ack window is empty until the server opens it
    assert box.statuses == {2: (6, 4)}
    assert box.counters.malformed == 3 and not box.absences  # not votes: no absence


def test_outbox_detaches_a_worker_that_never_receives():
    comm, lines = FakeComm(2), []
    comm.complete_sends = False
    out = X.Outbox(comm, FakeMPI, 2, lines.append)
    buf = np.zeros(8, np.uint8)
    sent = [out.send(1, buf, X.TAG_UPDATE) for _ in range(X.MAX_PENDING_SENDS + 5)]
    assert sum(sent) == X.MAX_PENDING_SENDS and out.detached == {1}
    assert "worker 1 detached" in lines[0]
    t0 = time.perf_counter()
    assert out.complete([1], time.perf_counter() + 0.1) == {1}  # bounded, never blocks
    assert time.perf_counter() - t0 < 5
    assert out.send(0, buf, X.TAG_UPDATE) and out.pending(0) == 1


def test_wait_is_bounded():
    assert X.wait(FakeRequest(True), 0.0)
    t0 = time.perf_counter()
    assert not X.wait(FakeRequest(False), 0.05)
    assert time.perf_counter() - t0 < 5


def _comm_calls(path: Path):
    """``(enclosing class or None, method)`` of every call ``<expr>.method(...)``."""
    tree = ast.parse(path.read_text())
    owner = {}
    for cls in [c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)]:
        for node in ast.walk(cls):
            owner[id(node)] = cls.name
    return [(owner.get(id(node)), node.func.attr,
             getattr(node.func.value, "id", None))
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]


def test_no_pickling_call_and_no_collective_in_the_mpi_modules():
    """Rank 0 never calls a pickling receive or a collective whose tree runs through worker
    ranks (the forbidden list of the threat model); the one lowercase ``comm.send`` is the
    fault injector's malicious pickle, on the worker side."""
    root = Path(__file__).resolve().parents[1] / "electionlib"
    forbidden = {"gather", "allgather", "recv", "irecv", "allreduce", "reduce", "sendrecv",
                 "bcast", "scatter", "Bcast", "Ibcast", "Gather", "Allgather", "Reduce",
                 "Allreduce", "Iallreduce", "Barrier", "Ibarrier", "Scatter", "alltoall"}
    for name in ("mpi_backend.py", "mpi_transport.py"):
        calls = _comm_calls(root / name)
        bad = [c for c in calls if c[1] in forbidden]
        assert not bad, f"{name}: {bad}"
        sends = [c for c in calls if c[1] == "send" and c[2] == "comm"]
        assert all(owner == "_Faults" for owner, _, _ in sends), sends
        if name == "mpi_backend.py":
            assert len(sends) == 1


def test_acks_only_inside_the_window_and_floods_on_any_tag_are_bounded():
    comm, box, _ = inbox()
    box.begin(10)
    box.ack_window = (4, 10)
    for st in (6, 8, 2, 12, 2**40):  # 2 is committed already, 12 and 2**40 do not exist
        comm.put(0, X.TAG_ACK, X.pack_message(st, np.zeros(0, np.uint8), X.MAGIC_ACK))
    for st in range(1000):  # an ack flood: past the quota only headers are read
        comm.put(1, X.TAG_ACK, X.pack_message(10_000 + st, np.zeros(0, np.uint8),
                                              X.MAGIC_ACK))
    while any(comm.queues.values()):
        box.poll()
    assert box.acks == {(0, 6), (0, 8)}
    assert box.counters.flood == 1000 - X.QUOTA
    box.forget_acks(6)
    assert box.acks == {(0, 8)}


def test_a_final_report_past_the_quota_still_counts():
    """A flooder's final report, buried under its flood, is read header-only: its worker
    is finished (timings unknown), so a flood at the end never turns into exit status 3."""
    comm, box, _ = inbox()
    box.begin(9)
    box.draining = True
    for _ in range(50):
        comm.put(0, X.TAG_VOTE, vote(8))
    comm.put(0, X.TAG_DONE, X.pack_message(8, np.ones(len(X.DONE_FIELDS), "<f8"),
                                           X.MAGIC_DONE))
    assert box.drain(lambda: box.finished(8) == {0}, time.perf_counter() + 10)
    assert np.isnan(box.done[0][1]).all() and not box.absences


def test_a_receive_whose_bytes_do_not_arrive_stays_in_flight_without_blocking():
    """A sender that stalls in the middle of a message delays only itself."""
    comm, box, _ = inbox()
    box.begin(1)
    comm.put(0, X.TAG_VOTE, vote(1), arrive_after=10**9)  # never completes
    comm.put(0, X.TAG_VOTE, vote(1, fill=3))
    comm.put(1, X.TAG_VOTE, vote(1, fill=4))
    comm.put(2, X.TAG_VOTE, vote(1, fill=5))
    t0 = time.perf_counter()
    missing = box.collect({0, 1, 2}, time.perf_counter() + 1.0)
    assert missing == {0} and time.perf_counter() - t0 < 5
    assert box.votes[1].tolist() == [4] * UP and 0 in box._inflight
    assert len(comm.queues[1]) == 1  # worker 0's next message waits behind the first


def _fake_run(model, seed):
    """The state a rank's checkpoint piece holds, on an object shaped like mpi_backend._Run."""
    import types

    import torch

    from electionlib import models, sampling

    rng = np.random.default_rng(seed)
    parts = sampling.partition(np.zeros(60, int), 3, rng)
    d = models.n_params(model)
    return types.SimpleNamespace(
        model=model, d=d, n=3, w=torch.from_numpy(rng.normal(size=d).astype(np.float32)),
        noise_gen=torch.Generator().manual_seed(seed), mom=torch.zeros(d), vel=None, cols=[0],
        sampler=sampling.PartitionSampler(parts, 4, np.random.default_rng(seed)),
        rngs=[np.random.default_rng(seed + 1)], byz_rng=np.random.default_rng(seed + 2),
        byz=np.array([1]), losses=[0.5, 0.25], eval_seconds=1.5, _t_start=None,
        cum={k: float(i + seed) for i, k in enumerate(("load", "comm", "decode", "bcast",
                                                        "update"))}, wall_before=0.0)


def test_a_checkpoint_piece_keeps_batch_norm_buffers_and_the_running_sums(tmp_path):
    import torch

    from electionlib import models
    from electionlib import mpi_backend as B

    def net():
        return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))

    src = _fake_run(net(), 1)
    src.model.train()
    with torch.no_grad():
        src.model(torch.randn(16, 4))  # move the running statistics
    B._save_piece(tmp_path, "rank1.step3", B._Run._arrays(src), B._Run._state(src))
    dst = _fake_run(net(), 7)
    piece, code = B._read_piece(tmp_path, "rank1.step3", dst)
    assert code == 0
    B._Run._load(dst, piece)
    np.testing.assert_array_equal(models.flat_buffers(dst.model), models.flat_buffers(src.model))
    assert dst.cum == src.cum and dst.eval_seconds == 1.5 and dst.losses == [0.5, 0.25]
    np.testing.assert_array_equal(dst.w.numpy(), src.w.numpy())
    # a piece whose buffers do not fit the model is refused, never loaded
    other = _fake_run(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3),
                                          torch.nn.BatchNorm1d(3)), 7)
    other.d = dst.d
    assert B._read_piece(tmp_path, "rank1.step3", other) == (None, 14)
    bad = B._Run._state(src)
    bad["cum"]["comm"] = -1.0
    B._save_piece(tmp_path, "rank1.step4", B._Run._arrays(src), bad)
    assert B._read_piece(tmp_path, "rank1.step4", dst) == (None, 14)


def test_a_checkpoint_of_an_older_format_is_refused_with_the_reason(tmp_path):
    import json

    from electionlib import mpi_backend as B
    from electionlib.config import TrainConfig

    cfg = TrainConfig(dataset="digits", n=3)
    meta = {"step": 4, "rows": [], "config": cfg.to_dict()}
    (tmp_path / "meta.json").write_text(json.dumps(meta))  # written before the format field
    got, why = B._read_meta(tmp_path, cfg)
    assert got is None and "format 1" in why and "without --resume" in why
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format": B.CHECKPOINT_FORMAT}))
    assert B._read_meta(tmp_path, cfg)[0]["step"] == 4
    assert "another configuration" in B._read_meta(tmp_path, TrainConfig(dataset="digits",
                                                                          n=5))[1]
