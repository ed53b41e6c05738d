"""The ``mpi`` backend of :mod:`electionlib.train`: a parameter server over MPI.

``mpiexec -n N+1 python -m electionlib train --backend mpi ...``: rank 0 is the parameter
server, ranks ``1..N`` are the workers. Rank 0 decides the configuration and the allocation
matrix ``G`` and sends both to every worker point-to-point (raw bytes: JSON text and a
uint8 matrix). Per step:

* worker ``i`` computes the gradients of **its own** partitions only (redundancy costs real
  compute) and encodes them with the run's scheme (:mod:`electionlib.schemes`, the same
  objects and calls as the sim trainer's step): its local majority (1 bit per coordinate, 2
  with the ``abstain`` rule), its multi-bit level, its float32 gradient or its DRACO node
  message; a Byzantine worker applies its attack where the message originates
  (:meth:`~electionlib.schemes.ElectionVote.attack_message`); the message goes to the
  server as one frame (16-byte header: magic, step, payload length) by ``Isend``;
* the server reads frames as bytes (:mod:`electionlib.mpi_transport`): it never unpickles
  them, never buffers more than a frame's size, and treats anything else -- wrong size,
  truncated, garbage, oversized, a message from the future, an empty message from a worker
  with partitions -- as that worker's vote being **absent** (an abstention), logged at once;
  late messages of earlier steps are recognised by their header and discarded;
* the server waits by polling, up to the step's deadline (``deadline``; the first step of a
  run or of a resumed run has its own ``first_deadline``; with no deadline, at most
  ``stall_timeout``). A worker that misses ``drop_after`` steps in a row is no longer
  waited for -- its messages are still read -- and is waited for again as soon as one of
  its messages arrives in time;
* the server decodes with the run's scheme (:mod:`electionlib.schemes`: majority, the
  robust rule, DRACO's decoder, each with its rule for rows that did not arrive) and sends
  the update to **each worker itself** (``Isend``: no worker relays it); every rank
  applies it (:func:`electionlib.step.apply_update`, the sim's rule). The server also
  computes the step's mean mini-batch loss (a forward pass while the workers compute the
  next step), and writes the metrics and summary of :mod:`electionlib.step`, the schema the
  sim backend writes. The update's header carries the step, a *last step* flag (the server ends
  the run, on schedule or on divergence) and the newest committed checkpoint.

A worker that fell behind (its update for a step is already waiting when it is about to
compute that step) **rejoins** by applying the updates it missed without computing their
gradients (its sampler and noise streams still advance step by step) and votes again from
the current step; its coin streams and worker-side momentum then lag those of the other
holders of its partitions (parity no longer applies to such a run).

At the end every worker sends its timings as a typed float64 frame (no ``gather``). Rank 0
waits at most ``stall_timeout`` for them, reading and discarding everything else. If some
worker never finishes, rank 0 still returns complete results (``summary["status"] ==
"complete, workers killed"``) and the command line then ends the job with ``MPI_Abort``,
exit status :data:`~electionlib.mpi_transport.EXIT_WORKERS_KILLED`.

Parity mode (``parity=True``: every partition's gradient computed on its own, the same
function on both backends, nobody late) gives bit-identical parameters to
``train.run(cfg, parity=True)`` for every vote scheme and tie rule (coin flips for
``sign(0)`` come from per-partition streams, so every holder of a partition draws the same
coins), the multi-bit extension, the full-precision aggregators and DRACO.

Omniscient gradient attacks (model negation, ALIE, IPM) use the **adversary channel**: the
server first collects the honest messages, sends them (raw bytes, ``Isend``) to every
Byzantine worker, and then collects the Byzantine messages -- the papers' strongest
adversary, as in the sim backend. The vote-level ``worst`` attack reverses the true majority
of all partition signs: a Byzantine rank is omniscient about the data and computes every
partition's gradient itself (with worker-side momentum it would also need every partition's
momentum, so that combination is refused). The extra compute falls on the Byzantine ranks,
except under coin ties with a Byzantine set redrawn every step: then every rank computes every
partition and draws the adversary's coins each step (a rank may attack later and must hold
the streams as the sim's one adversary holds them), so the measured worker compute of such a
run is that of k partitions, not of the rank's own.
``label_shift`` Byzantines compute their gradients on shifted labels. DRACO codes send
float64 (repetition) or complex128 (cyclic) messages through the same path. Multi-bit
messages (``quant_bits = q > 1``) carry ``q`` bit-planes of the level index and a zero plane
both ways.

Checkpoints (``checkpoint_every``): after such a step every rank writes its piece (workers
in ``checkpoint_dir``, rank 0 in ``checkpoint_dir/server``; arrays in ``.npz``, the rest in
JSON, no pickle, every file atomic) and each worker tells rank 0 with an acknowledgement
frame; rank 0 commits the checkpoint (``meta.json``, with the sha256 of its own piece) once
every worker has acknowledged it, without waiting for that. ``resume``: every rank reads
and checks its piece, reports to rank 0 point-to-point, and rank 0 decides for all: any bad
or missing piece ends every rank with one message naming the file(s), before anyone loads.

Timings: ``server_decode`` and ``server_broadcast`` are the server's own wall time from the
arrival of the last message (decode; posting the ``n`` update sends); the CPU seconds
(``thread_time``) of the server's decode + sends and of a worker's gradient computation are
reported beside them, since wall time on an oversubscribed machine measures scheduling.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import _validate as v
from . import attacks as A
from . import codes, optimal, schemes
from . import config as C
from . import models as M
from . import mpi_transport as X
from . import step as STEP
from ._progress import progress as _bar
from .config import OPTIMAL_CODES, TrainConfig
from .config import allocation as _allocation
from .experiments import atomic_write_bytes, atomic_write_text
from .gradients import check_device, evaluate
from .gradients import setup as _gradient_setup
from .mpi_transport import HEADER_BYTES, MAGIC, pack_message, parse_message
from .sampling import _jsonable
from .train import RunResult

__all__ = ["run_mpi", "launch", "step_breakdown", "HEADER_BYTES", "MAGIC", "pack_message",
           "parse_message", "FAULTS", "STALL_TIMEOUT"]

#: Default bound (seconds) on any single wait of rank 0 when no deadline says otherwise:
#: a step with no ``deadline``, the first step, the end-of-run drain, the resume agreement.
STALL_TIMEOUT = 300.0
#: Version of the checkpoint layout (2: the model's buffers and the server's running sums).
CHECKPOINT_FORMAT = 2
#: The server's running sums of seconds and load units, kept in every checkpoint.
CUM_KEYS = ("load", "comm", "decode", "bcast", "update")

#: Worker-side fault injection for tests and demonstrations (``--misbehave``), by kind.
FAULTS = {
    "short": "send the first half of the vote frame",
    "garbage": "send random bytes of the frame's size",
    "wrong_step": "send the frame with step + 1000 in its header",
    "long": "send the frame with 64 extra bytes",
    "empty": "send a header-only (zero-length) frame",
    "sleep": "sleep `seconds` (default 1) before sending",
    "stuck": "sleep `seconds` (default 1e6: for good) before sending",
    "withhold": "send nothing",
    "flood": "send `copies` (default 3000) copies of the valid frame",
    "future_flood": "send `copies` (default 100) valid frames for the next steps",
    "wrong_tag": "also send `copies` (default 100) frames on tags the server does not read",
    "huge": "send a vote frame of `bytes` bytes (default 2**31 + 2**20)",
    "pickle": "send a malicious pickle (lowercase send) on every channel before the frame, "
              "and before the final timings and the resume status",
    "skip_view": "a Byzantine never asks for (nor receives) the adversary channel's view",
    "ask_no_read": "a Byzantine asks for the adversary channel's view and never receives it",
    "early_done": "also send a well-formed final report (DONE frame) at these steps",
    "ack_flood": "also send `copies` (default 1000) checkpoint acknowledgements for random "
                 "steps",
    "stuck_resume": "on --resume, hang before reporting the checkpoint check",
}


def _fail(comm, message: str):
    """Fail fast on every rank with one clear message (no collective, so no hang)."""
    if comm.Get_rank() == 0:
        print(f"error: {message}", flush=True)
    raise SystemExit(2)


def _check_supported(cfg: TrainConfig):
    if cfg.attack == "worst" and cfg.momentum == "worker":
        raise ValueError("attack='worst' with momentum='worker' is not supported by the mpi "
                         "backend: the worst-case target needs every partition's momentum, "
                         "which only the partition's own workers hold (use momentum='server')")


def check_transport(*, deadline=None, first_deadline=None, stall_timeout=STALL_TIMEOUT,
                    drop_after=3, checkpoint_every=None) -> None:
    """``ValueError`` naming the setting unless every transport setting is in range."""
    for name, val in (("deadline", deadline), ("first_deadline", first_deadline)):
        if val is not None:
            v.real(name, val, lo=0.0, lo_open=True)
    v.real("stall_timeout", stall_timeout, lo=0.0, lo_open=True)
    v.integer("drop_after", drop_after, lo=1)
    if checkpoint_every is not None:
        v.integer("checkpoint_every", checkpoint_every, lo=1)


def run_mpi(cfg: TrainConfig, *, parity: bool = False, deadline: float | None = None,
            first_deadline: float | None = None, stall_timeout: float = STALL_TIMEOUT,
            drop_after: int = 3, misbehave: dict | None = None, comm=None, log=None,
            checkpoint_dir=None, checkpoint_every: int | None = None, resume: bool = False):
    """Train with the MPI backend; returns a :class:`electionlib.train.RunResult` on rank 0
    and None on the workers.

    Args:
        cfg: the configuration (rank 0's copy is sent to every worker).
        parity: compute each partition's gradient on its own (bit-identical to the sim
            backend's ``parity=True`` when nobody is late).
        deadline: seconds the server waits for the votes of a step (None: for every worker,
            at most ``stall_timeout``). Votes that miss it are absent.
        first_deadline: the same for the first step of a run or of a resumed run, which
            carries one-time warm-up costs (default ``stall_timeout``).
        stall_timeout: bound on every other wait of rank 0 (end of run, resume agreement).
        drop_after: a worker absent ``drop_after`` steps in a row is no longer waited for
            until one of its messages arrives in time again.
        misbehave: testing aid, ``{worker_index: spec or [spec, ...]}`` with ``spec =
            {"kind": ..., "steps": [...], ...}`` and ``kind`` one of :data:`FAULTS`;
            applied on the worker side.
        comm: an MPI communicator (default ``COMM_WORLD``).
        log: callable for server log lines (default: print to stderr).
        checkpoint_dir, checkpoint_every: see the module docstring.
        resume: continue from the checkpoint in ``checkpoint_dir``: the deterministic
            columns (accuracy, loss, parameters) equal those of an uninterrupted run.
    """
    from mpi4py import MPI

    comm = comm or MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    try:
        check_transport(deadline=deadline, first_deadline=first_deadline,
                        stall_timeout=stall_timeout, drop_after=drop_after,
                        checkpoint_every=checkpoint_every)
        faults = _Faults(misbehave, cfg.n)
    except ValueError as exc:
        _fail(comm, str(exc))
    if size != cfg.n + 1:
        _fail(comm, f"the mpi backend needs n+1 = {cfg.n + 1} ranks (1 server + {cfg.n} "
                    f"workers), got {size}: run mpiexec -n {cfg.n + 1} ...")
    if resume and checkpoint_dir is None:
        _fail(comm, "resume needs a checkpoint_dir")
    try:
        _check_supported(cfg)
        check_device(cfg.device)
        if cfg.aggregator is None and cfg.code == "deterministic":
            codes.deterministic_params(cfg.n, cfg.design_b if cfg.design_b is not None
                                       else cfg.b)
        if cfg.aggregator is None and cfg.code in OPTIMAL_CODES:  # stored, or a clear error
            optimal.stored_code(cfg.n, cfg.design_b if cfg.design_b is not None else cfg.b,
                                cfg.k, objective=OPTIMAL_CODES[cfg.code])
    except ValueError as exc:
        _fail(comm, str(exc))
    cfg = _share_config(comm, MPI, cfg, stall_timeout)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    try:
        run = _Run(cfg, comm, MPI, parity=parity, faults=faults, timeout=stall_timeout)
    except (FileNotFoundError, ValueError) as exc:
        _fail(comm, str(exc))
    run.deadline, run.stall_timeout, run.drop_after = deadline, stall_timeout, drop_after
    run.first_deadline = first_deadline if first_deadline is not None else stall_timeout
    run.log = log
    run.ck = None if checkpoint_dir is None else Path(checkpoint_dir)
    run.checkpoint_every = checkpoint_every
    if rank == 0:
        # set-up is over: from here on no worker byte can become an object on this rank
        X.forbid_unpickle(MPI)
    try:
        if resume:
            run.resume()
        if rank == 0:
            return run.serve()
        run.work()
        return None
    except SystemExit:
        raise
    except Exception:  # a failure of this rank's own code: say so, end every rank
        import traceback

        traceback.print_exc()
        who = "the parameter server" if rank == 0 else f"worker {rank - 1}"
        print(f"error: {who} failed at step {run.step}; aborting all ranks", file=sys.stderr,
              flush=True)
        comm.Abort(2)


def _send_all(comm, MPI, buf: np.ndarray, tag: int, timeout: float) -> None:
    """Rank 0: ``buf`` to every worker (point-to-point), each send bounded by ``timeout``;
    a worker that never takes set-up data ends the job (``MPI_Abort``, exit 2)."""
    reqs = [comm.Isend([buf, MPI.BYTE], dest=w, tag=tag) for w in range(1, comm.Get_size())]
    for w, r in enumerate(reqs):
        if not X.wait(r, timeout):
            print(f"error: worker {w} did not receive the set-up data within {timeout:g} s",
                  flush=True)
            comm.Abort(2)


def _share_config(comm, MPI, cfg: TrainConfig, timeout: float) -> TrainConfig:
    """Rank 0's configuration, sent to every worker as JSON bytes (point-to-point)."""
    if comm.Get_rank() == 0:
        raw = np.frombuffer(json.dumps(cfg.to_dict()).encode(), np.uint8)
        _send_all(comm, MPI, raw, X.TAG_SETUP, timeout)
        return cfg
    raw = X.recv_from_server(comm, MPI, X.TAG_SETUP)
    return TrainConfig.from_dict(json.loads(raw.tobytes().decode()))


class _Run:
    """State shared by the server and worker loops of one MPI run (every rank builds the
    same from the same configuration; rank 0's ``G`` is sent to the workers)."""

    def __init__(self, cfg: TrainConfig, comm, MPI, *, parity: bool, faults, timeout: float):
        self.cfg, self.comm, self.MPI, self.parity, self.faults = cfg, comm, MPI, parity, faults
        self.rank = comm.Get_rank()
        self.me = self.rank - 1
        self.step = 0
        fn, sampler, ds, w, st = _gradient_setup(cfg)
        self.fn, self.sampler, self.ds, self.st = fn, sampler, ds, st
        self.model = fn.model
        self.w = w.to(torch.float32).clone()
        n, k, d = cfg.n, sampler.k, fn.d
        self.n, self.k, self.d = n, k, d
        self.sched = STEP.Schedule.of(cfg, examples=sum(sampler.sizes), batch=sampler.batch,
                                      k=k)
        self.steps_per_epoch = self.sched.steps_per_epoch
        self.total_steps, self.eval_steps = self.sched.total_steps, self.sched.eval_steps
        code_rng = C.code_stream(cfg, st)
        self.byz_rng = np.random.default_rng(st["byz"])
        self.noise_gen = torch.Generator().manual_seed(int(st["noise"].generate_state(1)[0]))
        self.vote = cfg.vote_scheme
        self.draco_code = C.draco_code(cfg) if cfg.code in C.DRACO_CODES else None
        G = np.zeros((n, k), dtype=np.uint8)
        if self.rank == 0:
            G[:] = (_allocation(cfg, k, code_rng) if self.vote else
                    np.asarray(self.draco_code.A, np.uint8) if self.draco_code is not None
                    else codes.uncoded(n))
            _send_all(comm, MPI, G, X.TAG_SETUP, timeout)
        else:
            raw = X.recv_from_server(comm, MPI, X.TAG_SETUP)
            G[:] = raw.reshape(n, k)
        self.G = G
        self.byz = C.byzantine_set(cfg, G, self.byz_rng)
        self.agg = None
        if not self.vote and self.draco_code is None:
            self.agg = C.agg_callable(cfg)
            self.agg(np.zeros((n, 2), np.float32))  # the rule takes n rows (fails fast)
            if hasattr(self.agg, "reset"):
                self.agg.reset()
        # the step's encode, attack and decode, and the wire sizes: the scheme's, exactly as
        # the sim trainer calls them (electionlib.schemes); this module is the transport
        self.scheme = schemes.from_config(cfg, d, G=G, rule=self.agg, code=self.draco_code)
        self.msg_dtype = getattr(self.scheme, "dtype", np.dtype(np.float32))
        self.up_len, self.down_len = self.scheme.message_bytes, self.scheme.update_bytes
        self.rngs = self.scheme.generators(self.me if self.rank > 0 else None)
        self.test_idx = STEP.test_indices(cfg, ds.n_test, st["eval"])
        self.mom = torch.zeros(d) if cfg.momentum == "server" else None
        cols = self.scheme.partitions(self.me) if self.rank > 0 else np.arange(k)
        self.cols = cols
        # per-partition momentum lives on the workers only
        self.vel = (torch.zeros(len(cols), d) if cfg.momentum == "worker" and self.rank > 0
                    else None)
        self.rows: list[dict] = []
        self.losses: list[float] = []  # the server's mini-batch losses since the last row
        self.cum = dict.fromkeys(CUM_KEYS, 0.0)
        self.eval_seconds = 0.0
        self.wall_before = 0.0  # wall seconds of the run before a resume
        self._t_start: float | None = None
        self.first = 1
        self.omniscient = cfg.attack in A.OMNISCIENT

    # ------------------------------------------------------------------ shared per step

    def lr_at(self, step: int) -> float:
        return self.sched.lr_at(step)

    def apply(self, upd_buf: np.ndarray, step: int) -> None:
        """The update of :func:`electionlib.step.apply_update` (both backends')."""
        upd = torch.from_numpy(self.scheme.unpack_update(upd_buf))
        self.w = STEP.apply_update(self.w, upd, self.cfg, self.mom, self.lr_at(step))

    def redraw_byzantine(self) -> None:
        cfg = self.cfg
        if cfg.byz_redraw and cfg.b and cfg.byz_select == "random":
            self.byz = A.byzantine_set(self.G, cfg.b, select="random", rng=self.byz_rng)

    # ------------------------------------------------------------------ the server

    def serve(self):
        """Rank 0's loop; returns the :class:`~electionlib.train.RunResult`."""
        cfg, comm, MPI, n, log = self.cfg, self.comm, self.MPI, self.n, self.log
        inbox = X.Inbox(comm, MPI, n, self.up_len, self.G.sum(axis=1) == 0, log)
        out = X.Outbox(comm, MPI, n, log)
        self.inbox, self.outbox = inbox, out
        self.views = X.Outbox(comm, MPI, n, log, what="adversary views")
        timing = dict.fromkeys(("comm", "decode", "bcast", "update", "server_cpu"), 0.0)
        t_start = time.perf_counter() - self.wall_before
        self._t_start = t_start
        if not self.rows:
            self.rows.append(STEP.metrics_row(
                step=0, epoch=0.0, lr=self.lr_at(0), wall_seconds=0.0, load_units=0.0,
                server_wait_seconds=0.0, decode_seconds=0.0, broadcast_seconds=0.0,
                update_seconds=0.0, bytes_per_worker_per_step=HEADER_BYTES + self.up_len,
                absent_messages=0, train_loss=float("nan"), **self._evaluate()))
        max_load = int(self.G.sum(axis=1).max())
        misses = np.zeros(n, np.int64)
        dropped: set[int] = set()
        pending_ck: dict[int, list] = {}
        committed = self._committed
        degraded = {"steps": 0, "last": None}
        diverged = False
        step = self.first - 1
        for step in range(self.first, self.total_steps + 1):
            self.step = step
            self.redraw_byzantine()
            byz = set(int(i) for i in self.byz)
            idx = self.sampler.next()  # the step's batches, for the training loss
            w_step = self.w
            inbox.begin(step)
            inbox.ack_window = (committed, step)
            wanted = set(range(n)) - out.detached
            if wanted and wanted <= dropped:  # dropping is for single workers, not all
                log(f"step {step}: every worker was absent {self.drop_after} steps in a row; "
                    f"all are waited for again")
                dropped.clear()
            expect = wanted - dropped
            dl = self.first_deadline if step == self.first else (
                self.deadline if self.deadline is not None else self.stall_timeout)
            t0 = time.perf_counter()
            if self.omniscient and byz:
                honest = sorted(set(range(n)) - byz)
                for wkr in inbox.collect(expect & set(honest), time.perf_counter() + dl):
                    inbox.absent(wkr, "missed the deadline")
                answer = self._view_server(honest, byz, step)
                for wkr in inbox.collect(expect & byz, time.perf_counter() + dl,
                                         on_round=answer):
                    inbox.absent(wkr, "missed the deadline")
            else:
                for wkr in inbox.collect(expect, time.perf_counter() + dl):
                    inbox.absent(wkr, "missed the deadline")
            arrived = {wkr for wkr in inbox.votes if (step, wkr) not in inbox.absences
                       or inbox.absences[(step, wkr)] != "missed the deadline"}
            for wkr in range(n):
                if wkr in out.detached:
                    inbox.absent(wkr, "detached")
                elif wkr not in inbox.votes:
                    inbox.absent(wkr, f"not waited for after {misses[wkr]} absent steps")
            for wkr in wanted:
                if wkr in arrived:
                    misses[wkr] = 0
                    if wkr in dropped:
                        dropped.discard(wkr)
                        log(f"step {step}: worker {wkr} is back; waited for again")
                else:
                    misses[wkr] += 1
                    if misses[wkr] >= self.drop_after and wkr not in dropped:
                        dropped.add(wkr)
                        log(f"step {step}: worker {wkr} absent {misses[wkr]} steps in a row; "
                            f"no longer waited for (its messages are still read)")
            t1, c1 = time.perf_counter(), time.thread_time()
            got = {wkr: inbox.votes.get(wkr) for wkr in range(n)}
            upd_buf, note = self.scheme.decode_wire([got.get(i) for i in range(n)])
            if note is not None:
                degraded["steps"] += 1
                if note != degraded["last"]:
                    log(f"step {step}: {note}")
                degraded["last"] = note
            assert upd_buf.size == self.down_len
            t2, c2 = time.perf_counter(), time.thread_time()
            self.apply(upd_buf, step)
            diverged = not bool(torch.isfinite(self.w).all())
            last = diverged or step == self.total_steps
            flags = (X.LAST if last else 0) | (X.DIVERGED if diverged else 0)
            t3, c3 = time.perf_counter(), time.thread_time()
            frame = X.pack_down(X.MAGIC_UPDATE, step, upd_buf, flags, committed)
            for wkr in range(n):
                out.send(wkr, frame, X.TAG_UPDATE)
            t4 = time.perf_counter()
            timing["comm"] += t1 - t0
            timing["bcast"] += t4 - t3
            timing["update"] += t3 - t2
            timing["decode"] += t2 - t1
            # CPU seconds of decoding and posting the sends (not of applying the update)
            timing["server_cpu"] += (c2 - c1) + (time.thread_time() - c3)
            for key, dt in (("comm", t1 - t0), ("bcast", t4 - t3), ("update", t3 - t2),
                            ("decode", t2 - t1)):
                self.cum[key] += dt
            self.cum["load"] += max_load
            # the mean mini-batch loss at the step's parameters (the sim's train_loss),
            # computed while the workers compute the next step, outside the timings
            self.losses.append(self.fn.loss(w_step, idx))
            if step % self.eval_steps == 0 or last:
                self.rows.append(STEP.metrics_row(
                    step=step, epoch=step / self.steps_per_epoch, lr=self.lr_at(step),
                    wall_seconds=time.perf_counter() - t_start, load_units=self.cum["load"],
                    server_wait_seconds=self.cum["comm"],
                    decode_seconds=self.cum["decode"], broadcast_seconds=self.cum["bcast"],
                    update_seconds=self.cum["update"],
                    bytes_per_worker_per_step=HEADER_BYTES + self.up_len,
                    absent_messages=len(inbox.absences),
                    train_loss=float(np.mean(self.losses)), **self._evaluate()))
                self.losses.clear()
            if self.ck is not None and self.checkpoint_every and \
                    step % self.checkpoint_every == 0 and not last:
                pending_ck[step] = self._save_server_piece(step)
                for old in sorted(pending_ck)[:-2]:  # a stuck worker never acknowledges:
                    del pending_ck[old]              # keep the newest two candidates only
                    for f in (self.ck / "server").glob(f"step{old}.*"):
                        f.unlink(missing_ok=True)
            committed = self._commit(pending_ck, committed)
            inbox.forget_acks(committed)
            if last:
                break
        if diverged:
            log(f"step {step}: the parameters are no longer finite; the run stops (diverged)")
        # ---------------------------------------------------------------- clean ending
        inbox.begin(step + 1)  # every vote from now on is late
        inbox.draining = True
        want_done = set(range(n)) - out.detached
        inbox.drain(lambda: want_done <= inbox.finished(step),
                    time.perf_counter() + self.stall_timeout)
        finished = inbox.finished(step)  # a report for another step is not the final one
        unfinished = sorted(set(range(n)) - finished)
        left = out.complete(sorted(finished), time.perf_counter() + self.stall_timeout)
        unfinished = sorted(set(unfinished) | left)
        if unfinished:
            log(f"workers {unfinished} did not finish within {self.stall_timeout:g} s: the "
                f"results are complete; the job will be ended (exit "
                f"{X.EXIT_WORKERS_KILLED})")
        metrics = pd.DataFrame(self.rows)
        done = [v for w, (s, v) in inbox.done.items() if w in finished
                and np.isfinite(v).all() and (v >= 0).all()]
        steps_done = max(1, step - self.first + 1)

        def per_step(field: str, cpu: bool = False) -> float:
            j = X.DONE_FIELDS.index(field)
            vals = [v[j] / max(1.0, v[X.DONE_FIELDS.index("steps_computed")]) for v in done]
            return float(np.mean(vals)) if vals else float("nan")

        jb, js = X.DONE_FIELDS.index("vote_bytes_sent"), X.DONE_FIELDS.index("steps_computed")
        sent = {int(w): float(v[jb] / max(1.0, v[js])) for w, (_, v) in sorted(inbox.done.items())
                if w in finished and np.isfinite(v).all() and (v >= 0).all()}
        metric = "auc" if self.ds.metric == "auc" else "accuracy"
        status = "diverged" if diverged else "complete"
        summary = STEP.summary(
            {f"final_{metric}": float(metrics[metric].iloc[-1])},
            backend="mpi", model_dimension=self.d, steps=int(step), diverged=diverged,
            status=status + (", workers killed" if unfinished else ""),
            bytes_per_worker_per_step=int(HEADER_BYTES + self.up_len),
            payload_bytes_per_worker_per_step=int(self.up_len),
            update_bytes_per_step=int(schemes.wire_update_bytes(self.scheme)),
            # reported by each worker: vote-tag bytes it handed to MPI, per step it computed
            sent_bytes_per_step={str(w): b for w, b in sent.items()},
            wall_seconds=float(time.perf_counter() - t_start),
            evaluation_seconds=float(self.eval_seconds),
            timing_per_step={
                "worker_compute": per_step("compute"),
                "worker_encode": per_step("encode"),
                "server_wait": timing["comm"] / steps_done,
                "server_decode": timing["decode"] / steps_done,
                "server_broadcast": timing["bcast"] / steps_done,
                "worker_compute_cpu": per_step("compute_cpu"),
                "server_decode_broadcast_cpu": timing["server_cpu"] / steps_done,
                "update": timing["update"] / steps_done,
            },
            redundancy=float(self.G.sum() / self.G.shape[1]),
            empty_workers=int(codes.empty_rows(self.G).sum()),
            empty_partitions=int(codes.empty_columns(self.G).sum()),
            byzantine=[int(i) for i in self.byz],
            absent_messages=len(inbox.absences),
            absences=[[s, w] for s, w in sorted(inbox.absences)],
            late_messages_discarded=inbox.counters.late,
            discarded=inbox.counters.as_dict(),
            degraded_steps=degraded["steps"],
            dropped_workers=sorted(dropped),
            detached_workers=sorted(out.detached),
            unfinished_workers=unfinished,
            # parity with the sim backend holds only if every vote of every step arrived
            parity=bool(self.parity and not inbox.absences and not inbox.counters.late),
            server_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return RunResult(cfg, metrics, summary, self.w.numpy().copy())

    def _evaluate(self) -> dict:
        t0 = time.perf_counter()
        out = evaluate(self.model, self.w, self.ds, self.test_idx)
        self.eval_seconds += time.perf_counter() - t0
        return out

    def _view_server(self, honest, byz, step: int):
        """The adversary channel: the honest messages as the server received them, shown to
        each Byzantine worker that asks for them this step, before it sends (raw bytes,
        ``Isend``, never waited on). Sent only on request, so no send is ever left for a
        worker that does not receive it. Returns the callback that answers requests."""
        votes = self.inbox.votes
        rows = [votes[i] if votes.get(i) is not None else np.full(self.up_len, 0xFF, np.uint8)
                for i in honest]
        view = np.concatenate(rows) if rows else np.zeros(0, np.uint8)  # b = n: nobody honest
        frame = X.pack_down(X.MAGIC_VIEW, step, view)
        answered: set[int] = set()

        def answer() -> None:
            for w, s in list(self.inbox.asks):
                if s == step and w in byz and w not in answered:
                    answered.add(w)
                    self.views.send(w, frame, X.TAG_VIEW)

        answer()
        return answer

    # ------------------------------------------------------------------ the workers

    def work(self) -> None:
        """A worker's loop: compute, send, apply the server's update, until it says last."""
        cfg, comm, MPI, me = self.cfg, self.comm, self.MPI, self.me
        t = dict.fromkeys(X.DONE_FIELDS, 0.0)
        pending: list = []  # (request, buffer): a buffer lives until its send completes
        step = self.first
        while True:
            self.step = step
            self.redraw_byzantine()
            byz = self.byz
            idx = self.sampler.next()
            noise = (np.sqrt(cfg.noise_var) * torch.randn((self.k, self.d),
                                                          generator=self.noise_gen)
                     if cfg.noise_var > 0 else None)
            behind = comm.Iprobe(source=0, tag=X.TAG_UPDATE)
            if behind:  # the server has moved past this step: apply its update, no vote
                t["steps_skipped"] += 1
            else:
                t0, c0 = time.perf_counter(), time.thread_time()
                channel = None
                if self.omniscient and me in byz and not self.faults.skip_view(me, step):
                    channel = self._view_channel(step)
                payload = _worker_message(self, idx, noise, byz, channel)
                t1, c1 = time.perf_counter(), time.thread_time()
                t["compute_cpu"] += c1 - c0
                t["compute"] += t1 - t0
                frames = self.faults.frames(me, step, pack_message(step, payload))
                for tag, buf in frames:
                    if tag is None:  # a lowercase (pickling) send: the "pickle" fault
                        self.faults.send_object(comm, buf, X.TAG_VOTE)
                    else:
                        pending.append((comm.Isend([buf, MPI.BYTE], dest=0, tag=tag), buf))
                        if tag == X.TAG_VOTE:  # the bytes really handed to MPI
                            t["vote_bytes_sent"] += buf.nbytes
                pending = [(r, b) for r, b in pending if not r.Test()]
                t["encode"] += time.perf_counter() - t1
                t["steps_computed"] += 1
            t2 = time.perf_counter()
            head, body = X.parse_down(X.recv_from_server(comm, MPI, X.TAG_UPDATE),
                                      X.MAGIC_UPDATE)
            t["comm"] += time.perf_counter() - t2
            if head["step"] != step:
                raise RuntimeError(f"update for step {head['step']} while at step {step}")
            self.apply(body, step)
            last = bool(head["flags"] & X.LAST)
            if self.ck is not None and self.checkpoint_every and \
                    step % self.checkpoint_every == 0 and not last:
                self._save_worker_piece(step)
                ack = pack_message(step, np.zeros(0, np.uint8), X.MAGIC_ACK)
                pending.append((comm.Isend([ack, MPI.BYTE], dest=0, tag=X.TAG_ACK), ack))
            if self.ck is not None and (head["committed"] >= 0 or self.checkpoint_every):
                _prune(self.ck, f"rank{self.rank}.step", head["committed"], newest=3)
            if last:
                break
            step += 1
        self.faults.before_done(comm, me)
        done = X.pack_message(step, np.array([t[f] for f in X.DONE_FIELDS], "<f8"),
                              X.MAGIC_DONE)
        pending.append((comm.Isend([done, MPI.BYTE], dest=0, tag=X.TAG_DONE), done))
        for r, _ in pending:
            X.wait(r)

    def _view_channel(self, step: int):
        """A Byzantine worker's view of this step's honest messages (None if the server has
        moved on without it: its attack then uses its own message)."""
        comm, MPI = self.comm, self.MPI
        h = self.n - len(self.byz)

        def receive():
            ask = pack_message(step, np.zeros(0, np.uint8), X.MAGIC_ASK)
            X.wait(comm.Isend([ask, MPI.BYTE], dest=0, tag=X.TAG_ASK))
            if self.faults.ask_no_read(self.me, step):
                return None  # the fault: asked, never reads what the server sends
            status = MPI.Status()
            nap = 5e-5
            while True:
                msg = comm.improbe(source=0, tag=X.TAG_VIEW, status=status)
                if msg is not None:
                    buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
                    msg.Recv([buf, MPI.BYTE])
                    head, body = X.parse_down(buf, X.MAGIC_VIEW)
                    if head["step"] == step:
                        return np.frombuffer(body.tobytes(), self.msg_dtype).reshape(h, self.d)
                    continue  # an older step's view (this worker was behind): discard
                if comm.Iprobe(source=0, tag=X.TAG_UPDATE):
                    return None
                time.sleep(nap)
                nap = min(2 * nap, 1e-3)
        return receive

    # ------------------------------------------------------------------ checkpoints

    @property
    def _committed(self) -> int:
        return getattr(self, "_resumed_from", -1)

    def _save_worker_piece(self, step: int) -> None:
        _save_piece(self.ck, f"rank{self.rank}.step{step}", self._arrays(), self._state())

    def _arrays(self) -> dict:
        return {"w": self.w.numpy(), "noise": self.noise_gen.get_state().numpy(),
                "mom": self.mom.numpy() if self.mom is not None else np.zeros(0, np.float32),
                "vel": self.vel.numpy() if self.vel is not None else np.zeros(0, np.float32),
                "buffers": M.flat_buffers(self.model)}

    def _state(self) -> dict:
        return {"sampler": self.sampler.get_state(),
                "rngs": [_jsonable(g.bit_generator.state) for g in self.rngs],
                "byz_rng": _jsonable(self.byz_rng.bit_generator.state),
                "byzantine": [int(i) for i in self.byz],
                "losses": [float(x) for x in self.losses],
                # the server's running sums (zeros on a worker): a resumed run reports the
                # same cumulative columns as one that never stopped
                "cum": {key: float(self.cum[key]) for key in CUM_KEYS},
                "eval_seconds": float(self.eval_seconds),
                "wall_seconds": (0.0 if self._t_start is None
                                 else time.perf_counter() - self._t_start)}

    def _save_server_piece(self, step: int) -> list:
        """Rank 0's piece, apart from the workers' (``checkpoint_dir/server``); returns the
        metrics rows so far (committed with ``meta.json`` once every worker has its piece)."""
        digest = _save_piece(self.ck / "server", f"step{step}", self._arrays(), self._state())
        return [list(self.rows), digest]

    def _commit(self, pending: dict, committed: int) -> int:
        """Commit the newest checkpoint every worker has acknowledged (no waiting)."""
        ready = [s for s in pending
                 if all((w, s) in self.inbox.acks for w in range(self.n))]
        if not ready:
            return committed
        s = max(ready)
        rows, digest = pending[s]
        atomic_write_text(self.ck / "meta.json", json.dumps(
            {"format": CHECKPOINT_FORMAT, "step": s, "rows": rows, "G": self.G.tolist(),
             "server_sha256": digest, "config": self.cfg.to_dict()}))
        for old in [x for x in pending if x <= s]:
            del pending[old]
        _prune(self.ck / "server", "step", s)
        return s

    def resume(self) -> None:
        """Every rank checks its piece; rank 0 decides for all before anyone loads."""
        comm, MPI, n = self.comm, self.MPI, self.n
        if self.rank == 0:
            t_end = time.perf_counter() + self.stall_timeout  # one bound for the agreement

            def tell(step_: int, flags: int) -> bool:
                """Send every worker (step, flags); True if all took it in time."""
                frame = X.pack_down(X.MAGIC_SETUP, max(step_, 0), np.zeros(0, np.uint8),
                                    flags=flags)
                reqs = [comm.Isend([frame, MPI.BYTE], dest=w + 1, tag=X.TAG_RESUME)
                        for w in range(n)]
                return all([X.wait(r, max(0.0, t_end - time.perf_counter())) for r in reqs])

            meta, why = _read_meta(self.ck, self.cfg)
            step = -1 if meta is None else int(meta["step"])
            delivered = tell(step, int(step < 0))
            if meta is None:
                print(f"error: --resume: {why}", flush=True)
                if not delivered:  # a worker that never takes the decision would hang us
                    comm.Abort(2)
                raise SystemExit(2)
            piece, code = _read_piece(self.ck / "server", f"step{step}", self,
                                      meta.get("server_sha256"))
            inbox = X.Inbox(comm, MPI, n, self.up_len, self.G.sum(axis=1) == 0, self.log)
            inbox.drain(lambda: len(inbox.statuses) == n, t_end)
            bad = []
            if code:
                bad.append(_piece_problem(self.ck / "server", f"step{step}", code))
            silent = [w for w in range(n) if w not in inbox.statuses]
            for w in range(n):
                if w in inbox.statuses:
                    s_step, s_code = inbox.statuses[w]
                    if s_code or s_step != step:
                        bad.append(_piece_problem(self.ck, f"rank{w + 1}.step{step}",
                                                  s_code or 4))
            if silent:
                bad.append(f"workers {silent} did not report within {self.stall_timeout:g} s")
            delivered = tell(step, int(bool(bad))) and delivered
            if bad:
                print(f"error: --resume from step {step} of {self.ck}: " + "; ".join(bad),
                      flush=True)
                if silent or not delivered:
                    sys.stdout.flush()
                    comm.Abort(2)
                raise SystemExit(2)
            self.rows = meta["rows"]
            self._resumed_from = step
        else:
            head, _ = X.parse_down(X.recv_from_server(comm, MPI, X.TAG_RESUME), X.MAGIC_SETUP)
            if head["flags"]:
                raise SystemExit(2)
            step = head["step"]
            piece, code = _read_piece(self.ck, f"rank{self.rank}.step{step}", self)
            self.faults.before_status(comm, self.me)
            msg = pack_message(step, np.array([code], "<i8"), X.MAGIC_STATUS)
            X.wait(comm.Isend([msg, MPI.BYTE], dest=0, tag=X.TAG_STATUS))
            head, _ = X.parse_down(X.recv_from_server(comm, MPI, X.TAG_RESUME), X.MAGIC_SETUP)
            if head["flags"]:
                raise SystemExit(2)
        self._load(piece)
        self.first = step + 1

    def _load(self, piece: dict) -> None:
        arrays, state = piece["arrays"], piece["json"]
        self.w = torch.from_numpy(arrays["w"])
        if self.mom is not None:
            self.mom = torch.from_numpy(arrays["mom"])
        if self.vel is not None:
            self.vel = torch.from_numpy(arrays["vel"])
        self.noise_gen.set_state(torch.from_numpy(arrays["noise"]))
        self.sampler.set_state(state["sampler"])
        for g, s in zip(self.rngs, state["rngs"], strict=True):
            g.bit_generator.state = s
        self.byz_rng.bit_generator.state = state["byz_rng"]
        self.byz = np.asarray(state["byzantine"], dtype=np.int64)
        self.losses = [float(x) for x in state["losses"]]
        M.set_flat_buffers(self.model, arrays["buffers"])
        self.cum = {key: float(state["cum"][key]) for key in CUM_KEYS}
        self.eval_seconds = float(state["eval_seconds"])
        self.wall_before = float(state["wall_seconds"])


# ---------------------------------------------------------------------------- pieces

_PROBLEMS = {1: "is missing", 2: "is not a readable .npz", 3: "is not readable JSON",
             4: "does not match this run (keys, shapes or states)",
             5: "does not match the checksum in meta.json"}


def _piece_problem(folder: Path, stem: str, code: int) -> str:
    which = ".json" if code == 3 else ".npz"
    if code >= 10:
        which, code = (".json" if code // 10 == 2 else ".npz"), code % 10
    return f"{folder / (stem + which)} {_PROBLEMS.get(code, 'is bad')}"


def _save_piece(folder: Path, stem: str, arrays: dict, state: dict) -> str:
    """Write ``stem.npz`` (arrays) and ``stem.json`` atomically; returns the npz's sha256."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    raw = buf.getvalue()
    atomic_write_bytes(folder / f"{stem}.npz", raw)
    atomic_write_text(folder / f"{stem}.json", json.dumps(state))
    return hashlib.sha256(raw).hexdigest()


def _prune(folder: Path, prefix: str, keep_from: int, newest: int | None = None) -> None:
    """Delete this rank's pieces older than the committed checkpoint ``keep_from``; with
    ``newest``, also those newer than it beyond the ``newest`` most recent (a checkpoint a
    stuck worker never acknowledges is never committed: its candidates must not pile up).
    The committed piece itself is always kept."""
    pieces: dict[int, list] = {}
    for f in folder.glob(f"{prefix}*"):
        try:
            pieces.setdefault(int(f.name[len(prefix):].split(".")[0]), []).append(f)
        except ValueError:
            continue
    steps = sorted(pieces)
    keep = {s for s in steps if s >= keep_from}
    if newest is not None:
        keep = {s for s in steps[-newest:] if s >= keep_from} | (
            {keep_from} if keep_from in pieces else set())
    for s in steps:
        if s not in keep:
            for f in pieces[s]:
                f.unlink(missing_ok=True)


def _read_meta(ck: Path, cfg: TrainConfig):
    """``(meta, None)`` or ``(None, why)``: the commit marker of the newest checkpoint."""
    path = ck / "meta.json"
    if not path.is_file():
        return None, f"no checkpoint in {ck} ({path.name} missing)"
    try:
        meta = json.loads(path.read_text())
        step = meta["step"]
        if not isinstance(step, int) or step < 1 or not isinstance(meta["rows"], list):
            raise ValueError("bad step or rows")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{path} is not a valid checkpoint marker ({exc})"
    if meta.get("format") != CHECKPOINT_FORMAT:
        return None, (f"{path} was written in checkpoint format {meta.get('format', 1)}, this "
                      f"version reads format {CHECKPOINT_FORMAT} (it keeps the model's buffers "
                      f"and the server's running sums): run again without --resume")
    if meta.get("config") != json.loads(json.dumps(cfg.to_dict())):
        return None, f"{path} belongs to another configuration"
    return meta, None


def _read_piece(folder: Path, stem: str, run: _Run, sha256: str | None = None):
    """Read and check one rank's piece without touching the run: ``(piece, 0)`` or
    ``(None, code)`` (codes in :data:`_PROBLEMS`; 10 + c for the .npz, 20 + c for the JSON)."""
    import copy

    npz, js = folder / f"{stem}.npz", folder / f"{stem}.json"
    if not npz.is_file():
        return None, 11
    if not js.is_file():
        return None, 21
    try:
        raw = npz.read_bytes()
        import io

        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {key: z[key].copy() for key in z.files}
    except Exception:  # noqa: BLE001 - any unreadable file is a bad piece, never a crash
        return None, 12
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        return None, 15
    try:
        state = json.loads(js.read_text())
    except (OSError, ValueError):
        return None, 23
    want = {"w": (run.d,), "mom": (run.d,) if run.mom is not None else (0,),
            "vel": (len(run.cols), run.d) if run.vel is not None else (0,)}
    try:
        if set(arrays) != {"w", "mom", "vel", "noise", "buffers"}:
            raise ValueError("keys")
        nbuf = sum(b.numel() for b in run.model.buffers())
        if arrays["buffers"].shape != (nbuf,) or arrays["buffers"].dtype != np.float64:
            raise ValueError("buffers")
        for key, shape in want.items():
            if arrays[key].shape != shape or arrays[key].dtype != np.float32:
                raise ValueError(key)
        torch.Generator().set_state(torch.from_numpy(arrays["noise"]))
        copy.deepcopy(run.sampler).set_state(state["sampler"])
        rngs = state["rngs"]
        if not isinstance(rngs, list) or len(rngs) != len(run.rngs):
            raise ValueError("rng count")
        for s in rngs + [state["byz_rng"]]:
            np.random.default_rng(0).bit_generator.state = s
        losses = state["losses"]
        if not isinstance(losses, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in losses):
            raise ValueError("losses")
        sums = [state["cum"][key] for key in CUM_KEYS] + [state["eval_seconds"],
                                                           state["wall_seconds"]]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                   and math.isfinite(x) and x >= 0 for x in sums):
            raise ValueError("running sums")
        byz = np.asarray(state["byzantine"], dtype=np.int64)
        if byz.ndim != 1 or (byz.size and (byz.min() < 0 or byz.max() >= run.n)):
            raise ValueError("byzantine")
    except Exception:  # noqa: BLE001
        return None, 14
    return {"arrays": arrays, "json": state}, 0


# ---------------------------------------------------------------------------- faults


class _Faults:
    """Worker-side fault injection (``--misbehave``): what worker ``i`` sends at a step."""

    def __init__(self, spec: dict | None, n: int):
        self.by_worker: dict[int, list[dict]] = {}
        for key, val in (spec or {}).items():
            try:
                w = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"misbehave: worker {key!r} must be an integer") from None
            if not 0 <= w < n:
                raise ValueError(f"misbehave: worker {w} must be in [0, {n - 1}]")
            items = val if isinstance(val, list) else [val]
            for item in items:
                if not isinstance(item, dict) or item.get("kind") not in FAULTS:
                    raise ValueError(f"misbehave: {item!r} must be a dict with kind one of "
                                     f"{sorted(FAULTS)}")
                st = item.get("steps", [])
                if st != "all" and not (isinstance(st, list)
                                        and all(isinstance(x, int) for x in st)):
                    raise ValueError(f"misbehave: steps={st!r} must be a list of step "
                                     f"numbers or 'all'")
            self.by_worker[w] = items

    def _at(self, w: int, step: int):
        return [f for f in self.by_worker.get(w, [])
                if f.get("steps") == "all" or step in f.get("steps", [])]

    def skip_view(self, w: int, step: int) -> bool:
        return any(f["kind"] == "skip_view" for f in self._at(w, step))

    def ask_no_read(self, w: int, step: int) -> bool:
        return any(f["kind"] == "ask_no_read" for f in self._at(w, step))

    def frames(self, w: int, step: int, msg: np.ndarray) -> list:
        """``[(tag, buffer)]`` to send instead of the valid frame ``msg`` (tag None: an
        object sent with the pickling ``send``)."""
        out = [(X.TAG_VOTE, msg)]
        for f in self._at(w, step):
            kind = f["kind"]
            payload = msg[HEADER_BYTES:]
            if kind == "short":
                out = [(X.TAG_VOTE, msg[: max(1, msg.size // 2)].copy())]
            elif kind == "garbage":
                out = [(X.TAG_VOTE, np.random.default_rng(step).integers(0, 256, msg.size,
                                                                         dtype=np.uint8))]
            elif kind == "wrong_step":
                out = [(X.TAG_VOTE, pack_message(step + 1000, payload))]
            elif kind == "long":
                out = [(X.TAG_VOTE, np.concatenate([msg, np.zeros(64, np.uint8)]))]
            elif kind == "empty":
                out = [(X.TAG_VOTE, pack_message(step, np.zeros(0, np.uint8)))]
            elif kind in ("sleep", "stuck"):
                time.sleep(float(f.get("seconds", 1.0 if kind == "sleep" else 1e6)))
            elif kind == "withhold":
                out = []
            elif kind == "flood":
                out = [(X.TAG_VOTE, msg)] * int(f.get("copies", 3000))
            elif kind == "future_flood":
                out += [(X.TAG_VOTE, pack_message(step + j, payload))
                        for j in range(1, int(f.get("copies", 100)) + 1)]
            elif kind == "wrong_tag":
                junk = np.random.default_rng(step).integers(0, 256, 64, dtype=np.uint8)
                tags = (99, X.TAG_UPDATE, X.TAG_VIEW, X.TAG_SETUP, X.TAG_RESUME)
                out += [(tags[j % len(tags)], junk) for j in range(int(f.get("copies", 100)))]
            elif kind == "huge":
                big = np.zeros(int(f.get("bytes", 2**31 + 2**20)), np.uint8)
                big[:HEADER_BYTES] = pack_message(step, np.zeros(0, np.uint8))
                out = [(X.TAG_VOTE, big)]
            elif kind == "pickle":
                out = [(None, _evil(f))] + [(t, _evil_bytes(f)) for t in _WORKER_TAGS] + out
            elif kind == "early_done":
                out += [(X.TAG_DONE, pack_message(step, np.zeros(len(X.DONE_FIELDS), "<f8"),
                                                  X.MAGIC_DONE))]
            elif kind == "ack_flood":
                rng = np.random.default_rng(step)
                out += [(X.TAG_ACK, pack_message(int(s_), np.zeros(0, np.uint8), X.MAGIC_ACK))
                        for s_ in rng.integers(0, 2**40, int(f.get("copies", 1000)))]
        return out

    @staticmethod
    def send_object(comm, obj, tag: int) -> None:
        """The pickling ``send`` of an object to rank 0 (what a hostile worker may try)."""
        comm.send(obj, dest=0, tag=tag)

    def _evil_everywhere(self, comm, w: int, tags) -> None:
        for f in self.by_worker.get(w, []):
            if f["kind"] == "pickle":
                for t in tags:
                    self.send_object(comm, _evil(f), t)

    def before_done(self, comm, w: int) -> None:
        self._evil_everywhere(comm, w, (X.TAG_DONE, X.TAG_ACK, 99))

    def before_status(self, comm, w: int) -> None:
        self._evil_everywhere(comm, w, (X.TAG_STATUS,))
        if any(f["kind"] == "stuck_resume" for f in self.by_worker.get(w, [])):
            time.sleep(1e6)


_WORKER_TAGS = (X.TAG_VOTE, X.TAG_DONE, X.TAG_ACK, X.TAG_STATUS)


class _Evil:
    """Unpickling this runs code: it writes ``marker`` (the hostile-worker tests look for it)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write(str(__import__('os').getpid()))",))


def _evil(f: dict):
    return _Evil(str(f.get("marker", "electionlib-pwned")))


def _evil_bytes(f: dict) -> np.ndarray:
    import pickle

    return np.frombuffer(pickle.dumps(_evil(f)), np.uint8).copy()


def _gradients(fn, w, idx, rows, parity, losses, d, y=None):
    """Gradients of the partitions ``rows`` (one call each in parity mode)."""
    if len(rows) == 0:
        return torch.zeros(0, d)
    if parity:
        parts = [fn(w, idx[j : j + 1], None if y is None else y[j : j + 1]) for j in rows]
        losses.extend(x for _, x in parts)
        return torch.cat([g for g, _ in parts])
    g, loss = fn(w, idx[rows], None if y is None else y[rows])
    losses.append(loss)
    return g


def _worker_message(run: _Run, idx, noise, byz, channel=None) -> np.ndarray:
    """Worker ``run.me``: the gradients of its own partitions -> its (attacked) payload
    bytes, encoded and attacked by the run's scheme (:meth:`electionlib.schemes.ElectionVote.
    encode`, :meth:`~electionlib.schemes.ElectionVote.attack_message`), as the sim trainer's
    :meth:`~electionlib.schemes.ElectionVote.exchange` does for every worker.

    A Byzantine worker under the vote-level ``worst`` attack is omniscient: it computes every
    partition's gradient itself (it has the data) to find the true majority it reverses;
    under coin ties with a redrawn Byzantine set an honest worker does so too, to draw the
    adversary's coins in step (the module's docstring says why).
    Under ``label_shift`` a Byzantine worker encodes its partitions' gradients on the shifted
    labels. Omniscient gradient attacks see the honest messages through the adversary
    channel (``channel``; without a view, the worker's own message).
    """
    cfg, me, sch, cols, d = run.cfg, run.me, run.scheme, run.cols, run.d
    attacking = me in byz and cfg.attack != "none"
    # under a redrawn Byzantine set with coin ties, every worker draws the adversary's coins
    # in every step (ElectionVote.worst_target), so that a worker that attacks later holds
    # the streams in the state the sim's single adversary holds them. A worker that falls
    # behind skips a step's message and its draws with it: its later worst-case votes then
    # differ from the sim's, as its absence already does (parity is claimed without late
    # workers only).
    keep_in_step = (cfg.attack == "worst" and sch.family == "vote" and cfg.tie == "coin"
                    and bool(cfg.byz_redraw)
                    and cfg.b > 0 and cfg.byz_select == "random")
    every = cfg.attack == "worst" and (attacking or keep_in_step)
    k = idx.shape[0]
    rows = np.arange(k) if every else cols
    grads = _gradients(run.fn, run.w, idx, rows, run.parity, [], d)
    if noise is not None and len(rows):
        grads = grads + noise[rows]
    if run.vel is not None and len(rows):
        run.vel.mul_(cfg.eta).add_(grads, alpha=1 - cfg.eta)
        grads = run.vel.clone()
    g_all = grads.numpy()
    g = g_all[cols] if every else g_all
    msg = sch.encode(me, g) if len(cols) else None
    if not attacking:
        if every:
            sch.worst_target(g_all)
        return np.zeros(0, np.uint8) if msg is None else msg
    if cfg.attack == "label_shift" and len(cols):
        ys = A.shift_labels(run.ds.y_train[idx], run.ds.n_classes)
        msg = sch.encode(me, _gradients(run.fn, run.w, idx, cols, run.parity, [], d,
                                        y=ys).numpy())
    honest = ()
    if channel is not None:
        view = channel()
        if view is not None:
            honest = [np.ascontiguousarray(r).view(np.uint8) for r in view]
    out = sch.attack_message(cfg.attack, msg, honest=honest, rng=sch.worker_rngs[me],
                             partition_grads=g_all if every else None, f=cfg.b)
    return np.zeros(0, np.uint8) if out is None else out


def payload_bytes(cfg: TrainConfig, d: int) -> int:
    """Payload bytes of one worker's frame on this backend (:mod:`electionlib.schemes`)."""
    return schemes.sized(cfg, d).message_bytes


def launch(cfg: TrainConfig, *, results=None, parity: bool = False, deadline=None,
           timeout: float | None = 3600, extra_args=()) -> dict:
    """Run ``cfg`` under ``mpiexec -n n+1`` from Python (a notebook, a test) and return the
    JSON summary, with ``metrics`` (a DataFrame) added.

    Uses ``sys.prefix/bin/mpiexec`` and ``sys.executable``: a notebook kernel's PATH may lack
    the virtual environment's ``bin``. One thread per rank (``OMP_NUM_THREADS=1``).

    ``summary["status"]`` is ``"complete"`` or ``"diverged"``, followed by
    ``", workers killed"`` when the job ended with exit status
    :data:`~electionlib.mpi_transport.EXIT_WORKERS_KILLED` (results written, some worker
    stuck and ended by ``MPI_Abort``). Any other failure raises
    ``RuntimeError`` with the end of the job's output.
    """
    import subprocess
    import tempfile

    mpiexec = Path(sys.prefix) / "bin" / "mpiexec"
    if not mpiexec.exists():
        raise FileNotFoundError(f"{mpiexec} not found: pip install mpich mpi4py")
    with tempfile.TemporaryDirectory(prefix="electionlib-launch-") as tmp:
        cfg_path, json_out = Path(tmp) / "config.json", Path(tmp) / "summary.json"
        cfg_path.write_text(json.dumps(cfg.to_dict()))
        cmd = [str(mpiexec), "-n", str(cfg.n + 1), sys.executable, "-m", "electionlib",
               "train", "--backend", "mpi", "--config", str(cfg_path), "--json",
               "--json-out", str(json_out), *extra_args]
        if results is not None:
            cmd += ["--results", str(results)]
        if parity:
            cmd += ["--parity"]
        if deadline is not None:
            cmd += ["--deadline", str(deadline)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "ELECTIONLIB_QUIET": "1"}
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        res = None
        if out.returncode in (0, X.EXIT_WORKERS_KILLED):
            # the file, not stdout: an MPI_Abort may end the job before rank 0's last output
            # has been forwarded by mpiexec
            if json_out.exists():
                res = json.loads(json_out.read_text())
            else:
                for line in reversed(out.stdout.strip().splitlines()):
                    if line.startswith("{"):
                        res = json.loads(line)
                        break
    if res is None:
        raise RuntimeError(f"mpiexec failed ({out.returncode}):\n{out.stdout[-2000:]}\n"
                           f"{out.stderr[-2000:]}")
    if out.returncode == X.EXIT_WORKERS_KILLED and "workers killed" not in res["status"]:
        res["status"] += ", workers killed"  # keeps "diverged" where the run diverged
    res["metrics"] = pd.read_csv(Path(res["results_dir"]) / "metrics.csv")
    return res


def step_breakdown(ns=(3, 5, 9), *, dataset: str = "fmnist", subsample: int | None = 18000,
                   epochs: float = 0.3, schemes=("votes", "float32"), seed: int = 0,
                   results=None, progress: bool = True) -> pd.DataFrame:
    """Per-step cost of the MPI parameter server vs ``n`` on this machine (LeNet-5 on
    Fashion-MNIST by default): one short uncoded run per (scheme, n) through ``mpiexec``.

    ``votes`` is SignSGD with majority vote (1 bit per coordinate, ``tie='plus'``);
    ``float32`` sends gradients and takes the mean. Columns: scheme, n, d, steps,
    bytes_per_worker_per_step, worker_compute, worker_compute_cpu, worker_encode,
    server_wait, server_decode, server_broadcast, server_decode_broadcast_cpu, update (seconds
    per step) and the ratios ``server_over_compute`` (decode + broadcast wall / worker
    gradient wall) and ``server_over_compute_cpu`` (the same in CPU seconds).
    """
    rows = []
    cases = [(s, n) for s in schemes for n in ns]
    for scheme, n in _bar(cases, len(cases), "mpi step breakdown", progress):
        base = dict(dataset=dataset, n=n, subsample=subsample, test_subsample=500,
                    epochs=epochs, eval_every=epochs, tie="plus", seed=seed)
        cfg = (TrainConfig(**base) if scheme == "votes" else
               TrainConfig(**base, aggregator="mean", lr=0.01))
        r = launch(cfg, results=results)
        t = r["timing_per_step"]
        rows.append(dict(scheme=scheme, n=n, d=r["model_dimension"], steps=r["steps"],
                         bytes_per_worker_per_step=r["bytes_per_worker_per_step"], **t,
                         server_over_compute=(t["server_decode"] + t["server_broadcast"])
                         / t["worker_compute"],
                         server_over_compute_cpu=t["server_decode_broadcast_cpu"]
                         / t["worker_compute_cpu"]))
    return pd.DataFrame(rows)
