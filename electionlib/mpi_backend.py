"""The ``mpi`` backend of :mod:`electionlib.train`: a parameter server over MPI.

``mpiexec -n N+1 python -m electionlib train --backend mpi ...``: rank 0 is the parameter
server, ranks ``1..N`` are the workers. The configuration is decided on rank 0 and broadcast
once (it is data the server produced); the allocation matrix ``G`` is broadcast once as a
typed buffer. Per step:

* worker ``i`` computes the gradients of **its own** partitions only (redundancy costs real
  compute), takes its local majority (1 bit per coordinate, 2 with the ``abstain`` rule) or,
  for full-precision rules, its float32 gradient; a Byzantine worker applies its attack where
  the message originates; the message goes to the server as one uint8 buffer with a fixed
  16-byte header (magic, step, payload length) by point-to-point ``Isend``;
* the server never unpickles what a worker sends: it probes each message's size, receives the
  bytes, checks magic, step and length, and treats anything else — wrong size, truncated,
  garbage, a late message from an earlier step — as that worker's vote being **absent**
  (an abstention), logged, and training goes on. It waits by polling (``improbe``) with
  short sleeps, up to an optional per-step ``deadline`` (stragglers become abstentions);
* the server decodes (majority or the robust rule) and broadcasts the update (``Bcast``:
  packed value + nonzero bits for votes, float32 for aggregates); every rank applies it.

Parity mode (``parity=True``: every partition's gradient computed on its own, the same
function on both backends, no deadline) gives bit-identical parameters to
``train.run(cfg, parity=True)`` for every vote scheme and tie rule (coin flips for
``sign(0)`` come from per-partition streams, so every holder of a partition draws the same
coins), the multi-bit extension, the full-precision aggregators and DRACO.

Omniscient gradient attacks (model negation, ALIE, IPM) use the **adversary channel**: the
server first collects the honest messages, sends them (raw bytes, no pickle) to every
Byzantine worker, and then collects the Byzantine messages — the papers' strongest adversary,
as in the sim backend. The vote-level ``worst`` attack reverses the true majority of all
partition signs: a Byzantine rank is omniscient about the data and computes every partition's
gradient itself (extra compute on Byzantine ranks only; with worker-side momentum it would
also need every partition's momentum, so that combination is refused). ``label_shift``
Byzantines compute their gradients on shifted labels. DRACO codes send float64 (repetition)
or complex128 (cyclic) messages through the same path. Multi-bit messages (``quant_bits =
q > 1``) carry ``q`` bit-planes of the level index and a zero plane both ways.

The broadcast is an ``Ibcast``: the server posts it and goes on (it completes the previous
step's broadcast before posting the next one), workers complete it by polling with short
sleeps — a blocking ``Bcast`` spins, and ``n`` spinning workers on a few cores starve the
server. Timings: ``server_decode`` and ``server_broadcast`` are the server's own wall time
from the arrival of the last message (decode; posting the broadcast); the CPU seconds
(``thread_time``) of the server's decode + broadcast and of a worker's gradient computation
are reported beside them, since wall time on an oversubscribed machine measures scheduling.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import torch

from . import attacks as A
from . import codes
from . import train as T
from . import votes as V
from .train import TrainConfig, _allocation, _gradient_setup, evaluate

__all__ = ["run_mpi", "launch", "step_breakdown", "HEADER_BYTES", "MAGIC", "pack_message",
           "parse_message"]

MAGIC = 0x454C5631  # "ELV1"
HEADER_BYTES = 16
TAG = 11
_HEADER = np.dtype([("magic", "<u4"), ("step", "<u8"), ("length", "<u4")])


def pack_message(step: int, payload: np.ndarray) -> np.ndarray:
    """Header (magic, step, payload length) + payload bytes, as one uint8 buffer.

    Example:
        >>> msg = pack_message(7, np.arange(3, dtype=np.uint8))
        >>> len(msg), parse_message(msg, 7, 3).tolist()
        (19, [0, 1, 2])
    """
    payload = np.ascontiguousarray(payload).view(np.uint8).ravel()
    head = np.zeros(1, dtype=_HEADER)
    head["magic"], head["step"], head["length"] = MAGIC, step, payload.size
    return np.concatenate([head.view(np.uint8), payload])


def parse_message(buf: np.ndarray, step: int, length: int) -> np.ndarray | None:
    """The payload if ``buf`` is a well-formed message for ``step`` of ``length`` bytes, else
    None (a wrong-size, truncated, garbage or late message is an abstention, never an error).

    Example:
        >>> parse_message(np.zeros(5, np.uint8), 0, 3) is None
        True
    """
    if buf.size != HEADER_BYTES + length:
        return None
    head = buf[:HEADER_BYTES].view(_HEADER)[0]
    if int(head["magic"]) != MAGIC or int(head["step"]) != step or int(head["length"]) != length:
        return None
    return buf[HEADER_BYTES:]


def _fail(comm, message: str):
    """Fail fast on every rank with one clear message (no collective, so no hang)."""
    if comm.Get_rank() == 0:
        print(f"error: {message}", flush=True)
    raise SystemExit(2)


def _check_supported(cfg: TrainConfig, parity: bool):
    if cfg.attack == "worst" and cfg.momentum == "worker":
        raise ValueError("attack='worst' with momentum='worker' is not supported by the mpi "
                         "backend: the worst-case target needs every partition's momentum, "
                         "which only the partition's own workers hold (use momentum='server')")


def run_mpi(cfg: TrainConfig, *, parity: bool = False, deadline: float | None = None,
            misbehave: dict | None = None, comm=None, log=None, checkpoint_dir=None,
            checkpoint_every: int | None = None, resume: bool = False):
    """Train with the MPI backend; returns a :class:`electionlib.train.RunResult` on rank 0
    and None on the workers.

    Args:
        cfg: the configuration (rank 0's copy is broadcast to all ranks).
        parity: compute each partition's gradient on its own (bit-identical to the sim
            backend's ``parity=True``).
        deadline: seconds the server waits for the votes of a step (None: wait for all).
            The first step of a run (or of a resumed run) always waits for every worker:
            it carries one-time warm-up costs (first calls into torch, page faults).
        misbehave: testing aid, ``{worker_index: {"kind": ..., "steps": [...]}}`` with kind
            ``short`` (a truncated message), ``garbage`` (random bytes of the right size),
            ``wrong_step`` or ``sleep`` (``seconds``); applied on the worker side.
        comm: an MPI communicator (default ``COMM_WORLD``).
        log: callable for server log lines (default: print to stderr).
        checkpoint_dir, checkpoint_every: every ``checkpoint_every`` steps each rank writes
            its state (parameters, momentum, velocities, sampler and RNG states, step, G,
            Byzantine set; rank 0 also the metrics so far) to ``checkpoint_dir``: pieces
            first, then rank 0's ``meta.json`` atomically, which names the step — a
            checkpoint exists only once ``meta.json`` points at it. No pickle is used.
        resume: continue from the checkpoint in ``checkpoint_dir``: the deterministic
            columns (accuracy, loss, parameters) equal those of an uninterrupted run.
    """
    from mpi4py import MPI

    from .train import RunResult

    comm = comm or MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if size != cfg.n + 1:
        _fail(comm, f"the mpi backend needs n+1 = {cfg.n + 1} ranks (1 server + {cfg.n} "
                    f"workers), got {size}: run mpiexec -n {cfg.n + 1} ...")
    try:
        _check_supported(cfg, parity)
        if cfg.aggregator is None and cfg.code == "deterministic":
            codes.deterministic_params(cfg.n, cfg.design_b if cfg.design_b is not None
                                       else cfg.b)
    except ValueError as exc:
        _fail(comm, str(exc))
    cfg = TrainConfig.from_dict(json.loads(comm.bcast(json.dumps(cfg.to_dict())
                                                      if rank == 0 else None, root=0)))
    misbehave = {int(k): v for k, v in (misbehave or {}).items()}
    log = log or (lambda s: print(s, file=__import__("sys").stderr, flush=True))

    try:
        fn, sampler, ds, w, st = _gradient_setup(cfg)
    except (FileNotFoundError, ValueError) as exc:
        _fail(comm, str(exc))
    model = fn.model
    w = w.to(torch.float32).clone()
    n, k, d = cfg.n, sampler.k, fn.d
    B = sampler.batch
    steps_per_epoch = sum(sampler.sizes) / (B * k)
    total_steps = max(1, int(np.ceil(cfg.epochs * steps_per_epoch)))
    eval_steps = max(1, int(round(cfg.eval_every * steps_per_epoch)))
    code_rng = np.random.default_rng(st["code"])
    byz_rng = np.random.default_rng(st["byz"])
    noise_gen = torch.Generator().manual_seed(int(st["noise"].generate_state(1)[0]))
    worker_rngs = [np.random.default_rng(s) for s in st["workers"].spawn(n)]
    part_rngs = T.partition_rngs(st, sampler.k)
    vote = cfg.vote_scheme
    draco_code = None
    if cfg.code in ("draco-repetition", "draco-cyclic"):
        from .train import _draco_code

        try:
            draco_code = _draco_code(cfg)
        except ValueError as exc:
            _fail(comm, str(exc))
    msg_dtype = np.dtype(np.float32 if draco_code is None else
                         np.complex128 if cfg.code == "draco-cyclic" else np.float64)
    G = np.zeros((n, k), dtype=np.uint8)
    if rank == 0:
        G[:] = (_allocation(cfg, k, code_rng) if vote else
                 np.asarray(draco_code.A, np.uint8) if draco_code is not None else
                 codes.uncoded(n))
    comm.Bcast([G, MPI.BYTE], root=0)
    byz = A.byzantine_set(G, cfg.b, select=cfg.byz_select, rng=byz_rng)
    nb = V.packed_length(d)
    up_len, down_len = (T.vote_message_bytes(cfg, d) if vote else
                        (msg_dtype.itemsize * d, 4 * d))
    agg = None
    if not vote and draco_code is None:
        from .train import _agg_callable

        try:  # every rank checks the rule accepts n inputs, so a bad setting fails fast
            agg = _agg_callable(cfg)
            agg(np.zeros((n, 2), np.float32))
            if hasattr(agg, "reset"):
                agg.reset()
        except ValueError as exc:
            _fail(comm, str(exc))
    test_idx = None
    if cfg.test_subsample is not None and cfg.test_subsample < ds.n_test:
        test_idx = np.sort(np.random.default_rng(st["eval"]).choice(
            ds.n_test, cfg.test_subsample, replace=False))
    mom = torch.zeros(d) if cfg.momentum == "server" else None
    me = rank - 1
    cols = np.flatnonzero(G[me]) if rank > 0 else np.arange(k)
    if draco_code is not None and rank > 0:
        cols = np.asarray(draco_code.partitions(me), dtype=np.int64)  # the code's order
    vel = torch.zeros(len(cols), d) if cfg.momentum == "worker" else None
    rows, losses = [], []
    timing = {"compute": 0.0, "encode": 0.0, "comm": 0.0, "decode": 0.0, "update": 0.0,
              "bcast": 0.0, "compute_cpu": 0.0, "server_cpu": 0.0}
    bcast_req = None  # the server posts the broadcast and goes on; completed before the next
    absent_log: list[tuple[int, int, str]] = []
    late = [0]  # late messages of earlier steps, recognised by their header and discarded
    t_start = time.perf_counter()
    if rank == 0:
        rows.append(dict(step=0, epoch=0.0, wall_seconds=0.0, **evaluate(model, w, ds, test_idx)))
    pending = []
    first = 1
    omniscient = cfg.attack in A.OMNISCIENT
    ck = None if checkpoint_dir is None else __import__("pathlib").Path(checkpoint_dir)
    if resume:
        if ck is None or not (ck / "meta.json").is_file():
            _fail(comm, f"--resume: no checkpoint in {ck} (meta.json missing)")
        meta = json.loads((ck / "meta.json").read_text())
        state = _load_piece(ck, meta["step"], rank)
        w = torch.from_numpy(state["w"])
        if mom is not None:
            mom = torch.from_numpy(state["mom"])
        if vel is not None:
            vel = torch.from_numpy(state["vel"])
        noise_gen.set_state(torch.from_numpy(state["noise"]))
        sampler.set_state(state["json"]["sampler"])
        for g_, st_ in zip(worker_rngs + part_rngs,
                           state["json"]["worker_rngs"] + state["json"]["partition_rngs"],
                           strict=True):
            g_.bit_generator.state = st_
        byz_rng.bit_generator.state = state["json"]["byz_rng"]
        byz = np.asarray(state["json"]["byzantine"], dtype=np.int64)
        if rank == 0:
            rows = meta["rows"]
        first = int(meta["step"]) + 1
    step = first - 1
    try:
        for step in range(first, total_steps + 1):
            if cfg.byz_redraw and cfg.b and cfg.byz_select == "random":
                byz = A.byzantine_set(G, cfg.b, select="random", rng=byz_rng)
            idx = sampler.next()
            noise = (np.sqrt(cfg.noise_var) * torch.randn((k, d), generator=noise_gen)
                     if cfg.noise_var > 0 else None)
            lr = cfg.lr * cfg.lr_decay ** sum(step / steps_per_epoch >= e
                                              for e in cfg.lr_decay_epochs)
            if rank > 0:
                t0, c0 = time.perf_counter(), time.thread_time()
                channel = None
                if omniscient and me in byz:
                    channel = _adversary_channel(comm, MPI, n - len(byz), up_len, d,
                                                 msg_dtype)
                payload = _worker_message(cfg, fn, w, idx, cols, noise, vel, vote, me, byz, d,
                                          worker_rngs, part_rngs, parity, losses, channel,
                                          draco_code, ds)
                t1, c1 = time.perf_counter(), time.thread_time()
                timing["compute_cpu"] += c1 - c0
                msg = pack_message(step, payload)
                bad = misbehave.get(me)
                if bad and step in bad.get("steps", []):
                    msg = _misbehave(bad, msg, step)
                for req in pending:
                    req.Wait()
                pending = [comm.Isend([msg, MPI.BYTE], dest=0, tag=TAG)]
                timing["compute"] += t1 - t0
                timing["encode"] += time.perf_counter() - t1
                upd_buf = np.empty(down_len, dtype=np.uint8)
                t2 = time.perf_counter()
                _wait(comm.Ibcast([upd_buf, MPI.BYTE], root=0))
                timing["comm"] += time.perf_counter() - t2
            else:
                t0 = time.perf_counter()
                dl = None if step == first else deadline
                if omniscient and len(byz):
                    stash: dict = {}
                    honest = [i for i in range(n) if i not in set(byz.tolist())]
                    got = _collect(comm, MPI, step, n, up_len, dl, absent_log, late,
                                   expect=honest, stash=stash)
                    # the adversary channel: the honest messages, as the server received them,
                    # shown to every Byzantine worker before it sends (raw bytes, no pickle)
                    view = np.concatenate([got[i] if got[i] is not None else
                                           np.full(up_len, 0xFF, np.uint8) for i in honest])
                    for i in byz:
                        comm.Send([view, MPI.BYTE], dest=int(i) + 1, tag=TAG + 1)
                    got.update(_collect(comm, MPI, step, n, up_len, dl, absent_log, late,
                                        expect=[int(i) for i in byz], stash=stash))
                else:
                    got = _collect(comm, MPI, step, n, up_len, dl, absent_log, late)
                t1, c1 = time.perf_counter(), time.thread_time()
                upd_buf = _server_decode(cfg, got, vote, nb, d, agg, draco_code, msg_dtype)
                assert upd_buf.size == down_len
                t2 = time.perf_counter()
                if bcast_req is not None:  # the previous step's broadcast (long since done)
                    _wait(bcast_req)
                bcast_req = comm.Ibcast([upd_buf, MPI.BYTE], root=0)
                t4 = time.perf_counter()
                timing["comm"] += t1 - t0
                timing["bcast"] += t4 - t2
                timing["decode"] += t2 - t1
                timing["server_cpu"] += time.thread_time() - c1
            t3 = time.perf_counter()
            u = _unpack_update(upd_buf, vote, nb, d, cfg.quant_bits)
            upd = torch.from_numpy(u)
            if cfg.weight_decay:
                upd = upd + cfg.weight_decay * w
            if mom is not None:
                mom.mul_(cfg.eta).add_(upd)
                upd = mom
            w = w - lr * upd
            timing["update"] += time.perf_counter() - t3
            if rank == 0 and (step % eval_steps == 0 or step == total_steps):
                rows.append(dict(step=step, epoch=step / steps_per_epoch,
                                 wall_seconds=time.perf_counter() - t_start,
                                 server_wait_seconds=timing["comm"],
                                 decode_seconds=timing["decode"],
                                 broadcast_seconds=timing["bcast"],
                                 update_seconds=timing["update"],
                                 bytes_per_worker_per_step=HEADER_BYTES + up_len,
                                 absent_messages=len(absent_log),
                                 **evaluate(model, w, ds, test_idx)))
            if ck is not None and checkpoint_every and step % checkpoint_every == 0 \
                    and step < total_steps:
                _save_piece(ck, step, rank, w, mom, vel, noise_gen, sampler,
                            worker_rngs + part_rngs, byz_rng, byz, n)
                comm.Barrier()  # every piece is on disk before the commit marker
                if rank == 0:
                    from .experiments import atomic_write_text

                    atomic_write_text(ck / "meta.json", json.dumps(
                        {"step": step, "rows": rows, "G": G.tolist(),
                         "byzantine": [int(i) for i in byz], "config": cfg.to_dict()}))
    except Exception:  # a failure on any rank must not leave the others waiting forever
        import sys
        import traceback

        traceback.print_exc()
        print(f"error: rank {rank} failed at step {step}; aborting all ranks", file=sys.stderr,
              flush=True)
        comm.Abort(2)
    for req in pending:
        req.Wait()
    if bcast_req is not None:
        bcast_req.Wait()
    all_timing = comm.gather(timing, root=0)
    comm.Barrier()
    if rank != 0:
        return None
    for step_, worker, why in absent_log:
        log(f"step {step_}: worker {worker}'s message treated as absent ({why})")
    metrics = pd.DataFrame(rows)
    workers = all_timing[1:]
    summary = {
        ("final_auc" if ds.metric == "auc" else "final_accuracy"):
            float(metrics["auc" if ds.metric == "auc" else "accuracy"].iloc[-1]),
        "model_dimension": d,
        "bytes_per_worker_per_step": int(HEADER_BYTES + up_len),
        "payload_bytes_per_worker_per_step": int(up_len),
        "wall_seconds": float(time.perf_counter() - t_start),
        "steps": total_steps,
        "absent_messages": len(absent_log),
        "late_messages_discarded": late[0],
        "timing_per_step": {
            "worker_compute": float(np.mean([t["compute"] for t in workers]) / total_steps),
            "worker_encode": float(np.mean([t["encode"] for t in workers]) / total_steps),
            "server_wait": timing["comm"] / total_steps,
            "server_decode": timing["decode"] / total_steps,
            "server_broadcast": timing["bcast"] / total_steps,
            "worker_compute_cpu": float(np.mean([t["compute_cpu"] for t in workers])
                                        / total_steps),
            "server_decode_broadcast_cpu": timing["server_cpu"] / total_steps,
            "update": timing["update"] / total_steps,
        },
        "byzantine": [int(i) for i in byz],
        "backend": "mpi",
    }
    return RunResult(cfg, metrics, summary, w.numpy().copy())


def _adversary_channel(comm, MPI, h: int, up_len: int, d: int, dtype=np.float32):
    """A Byzantine worker's view of the ``h`` honest real-valued messages of this step."""
    def receive() -> np.ndarray:
        view = np.empty(h * up_len, dtype=np.uint8)
        comm.Recv([view, MPI.BYTE], source=0, tag=TAG + 1)
        return np.frombuffer(view.tobytes(), dtype=dtype).reshape(h, d)
    return receive


def _save_piece(ck, step, rank, w, mom, vel, noise_gen, sampler, rngs, byz_rng, byz, n):
    """One rank's checkpoint piece: arrays in an .npz, the rest in JSON (no pickle)."""
    import os

    from .data import _jsonable
    from .experiments import atomic_write_text

    ck.mkdir(parents=True, exist_ok=True)
    arrays = {"w": w.numpy(), "noise": noise_gen.get_state().numpy(),
              "mom": (mom.numpy() if mom is not None else np.zeros(0, np.float32)),
              "vel": (vel.numpy() if vel is not None else np.zeros(0, np.float32))}
    tmp = ck / f".rank{rank}.step{step}.npz.tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, ck / f"rank{rank}.step{step}.npz")
    atomic_write_text(ck / f"rank{rank}.step{step}.json", json.dumps({
        "sampler": sampler.get_state(),
        "worker_rngs": [_jsonable(g.bit_generator.state) for g in rngs[:n]],
        "partition_rngs": [_jsonable(g.bit_generator.state) for g in rngs[n:]],
        "byz_rng": _jsonable(byz_rng.bit_generator.state),
        "byzantine": [int(i) for i in byz]}))
    steps = sorted({_piece_step(p) for p in ck.glob(f"rank{rank}.step*")})
    for old in ck.glob(f"rank{rank}.step*"):  # keep this rank's newest two checkpoints
        if len(steps) > 2 and _piece_step(old) < steps[-2]:
            old.unlink(missing_ok=True)


def _piece_step(path) -> int:
    return int(path.name.split(".step")[1].split(".")[0])


def _load_piece(ck, step, rank) -> dict:
    with np.load(ck / f"rank{rank}.step{step}.npz", allow_pickle=False) as z:
        out = {key: z[key].copy() for key in z.files}
    out["json"] = json.loads((ck / f"rank{rank}.step{step}.json").read_text())
    return out


def _wait(req, first: float = 5e-5, longest: float = 1e-3):
    """Wait for a request by polling with short sleeps (``n + 1`` ranks may share few cores:
    a rank that spins in a blocking call steals the CPU the others need)."""
    nap = first
    while not req.Test():
        time.sleep(nap)
        nap = min(2 * nap, longest)


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


def _worker_message(cfg, fn, w, idx, cols, noise, vel, vote, me, byz, d, worker_rngs, part_rngs,
                    parity, losses, channel=None, draco_code=None, ds=None):
    """Worker ``me``: gradients of its own partitions -> its (attacked) payload bytes.

    Mirrors the sim backend step for step (same streams in the same order). A Byzantine
    worker under the vote-level ``worst`` attack is omniscient: it computes every
    partition's gradient itself (it has the data) to find the true majority it reverses.
    Under ``label_shift`` a Byzantine worker also computes its partitions' gradients on the
    shifted labels and sends those.
    """
    attacking = me in byz and cfg.attack != "none"
    every = attacking and cfg.attack == "worst"
    k = idx.shape[0]
    rows = np.arange(k) if every else cols
    grads = _gradients(fn, w, idx, rows, parity, losses, d)
    if noise is not None and len(rows):
        grads = grads + noise[rows]
    if vel is not None and len(rows):
        vel.mul_(cfg.eta).add_(grads, alpha=1 - cfg.eta)
        grads = vel.clone()
    g_all = grads.numpy()
    g = g_all[cols] if every else g_all
    if not vote:
        if attacking and cfg.attack == "label_shift":
            ys = A.shift_labels(ds.y_train[idx], ds.n_classes)
            g = _gradients(fn, w, idx, cols, parity, [], d, y=ys).numpy()
        if draco_code is not None:  # DRACO: the worker's encoded message (Section 3)
            msg = draco_code.encode_node(me, g.astype(np.float64))
        else:
            msg = g[0].astype(np.float32)
        if attacking:
            honest = channel() if channel is not None else None
            msg = A.attack_gradient(cfg.attack, msg, honest=honest, n=cfg.n, f=cfg.b,
                                    rng=worker_rngs[me])
        return msg
    if cfg.quant_bits > 1:
        return _multibit_message(cfg, g_all, cols, every, attacking, worker_rngs[me])
    nb = V.packed_length(d)
    if len(cols) == 0 and not (attacking and cfg.attack in ("directional", "random", "worst")):
        return np.zeros(0, np.uint8)  # an empty worker abstains: an empty payload says so
    target = None
    if every:
        pall, presall = T.partition_signs(g_all, cfg.tie, part_rngs)
        target = V.majority(pall, d, presall)
        pbits, ppres = pall[cols], (None if presall is None else presall[cols])
    if len(cols) and every:
        b_, p_ = V.encode(pbits, np.ones((1, len(cols)), np.uint8), d,
                          partition_present=ppres, tie=cfg.tie, rng=[worker_rngs[me]])
        bits = b_[0]
        pres = _full_mask(nb, d) if p_ is None else p_[0].copy()
    elif len(cols):  # the common path: the same result as partition_signs + encode, leaner
        bits, p_ = V.worker_vote(g, cfg.tie, partition_rngs=[part_rngs[j] for j in cols],
                                 rng=worker_rngs[me])
        pres = _full_mask(nb, d) if p_ is None else p_
    else:  # an empty Byzantine worker still sends its attack
        bits, pres = np.zeros(nb, np.uint8), np.zeros(nb, np.uint8)
    if attacking:
        bits = A.attack_vote(cfg.attack, bits, d, rng=worker_rngs[me], target=target)
        if cfg.attack == "reverse":
            bits &= pres
        else:
            pres = _full_mask(nb, d)
    return np.concatenate([bits, pres]) if cfg.tie == "abstain" else bits


def _full_mask(nb: int, d: int) -> np.ndarray:
    pres = np.full(nb, 0xFF, np.uint8)
    pres[-1] &= V._tail_mask(d)
    return pres


def _multibit_message(cfg, g_all, cols, every, attacking, rng) -> np.ndarray:
    """The §2.2 multi-bit message: the worker's average partition sign, quantized, packed."""
    if len(cols) == 0:
        return np.zeros(0, np.uint8)
    q = cfg.quant_bits
    s = np.sign(g_all)
    if cfg.tie == "plus":
        s[s == 0] = 1
    own = s[cols] if every else s
    avg = (np.ones((1, len(cols)), np.uint8) @ own) / np.array([len(cols)])[:, None]
    msg = T.quantize(avg, q)[0]
    if attacking:
        if cfg.attack == "reverse":
            msg = -msg
        elif cfg.attack == "directional":
            msg = np.ones_like(msg)
        elif cfg.attack == "random":
            msg = rng.choice(T._levels(q), size=msg.shape[0])
        elif cfg.attack == "worst":
            msg = -np.sign(s.sum(axis=0))
    return T.multibit_pack(msg, q)


def _misbehave(bad: dict, msg: np.ndarray, step: int) -> np.ndarray:
    kind = bad.get("kind")
    if kind == "short":
        return msg[: max(1, msg.size // 2)].copy()
    if kind == "garbage":
        return np.random.default_rng(step).integers(0, 256, msg.size, dtype=np.uint8)
    if kind == "wrong_step":
        return pack_message(step + 1000, msg[HEADER_BYTES:])
    if kind == "long":
        return np.concatenate([msg, np.zeros(64, np.uint8)])
    if kind == "sleep":
        time.sleep(float(bad.get("seconds", 1.0)))
        return msg
    raise ValueError(f"misbehave kind={kind!r} must be short, garbage, wrong_step, long or sleep")


def _collect(comm, MPI, step: int, n: int, length: int, deadline, absent_log, late,
             expect=None, stash=None):
    """Server: receive one message per expected worker (by polling), validate, return payloads.

    ``expect``: the workers waited for (default all); a message from another worker is kept
    in ``stash`` for a later phase of the same step (the adversary channel's second phase).
    """
    expect = set(range(n)) if expect is None else set(expect)
    got: dict[int, np.ndarray | None] = {}
    if stash:
        for wkr in list(stash):
            if wkr in expect:
                got[wkr] = stash.pop(wkr)
    t_end = None if deadline is None else time.perf_counter() + deadline
    nap = 1e-4
    while not expect.issubset(got):
        progressed = False
        status = MPI.Status()
        msg = comm.improbe(source=MPI.ANY_SOURCE, tag=TAG, status=status)
        if msg is not None:
            progressed = True
            src = status.Get_source()
            buf = np.empty(status.Get_count(MPI.BYTE), dtype=np.uint8)
            msg.Recv([buf, MPI.BYTE])
            worker = src - 1
            payload = parse_message(buf, step, length)
            if payload is None and parse_message(buf, step, 0) is not None:
                got.setdefault(worker, None)  # an explicit abstention (empty worker)
                continue
            if payload is None:
                head_step = _peek_step(buf)
                if head_step is not None and head_step < step:
                    late[0] += 1
                    continue  # a late message of an earlier step: discard, keep waiting
                absent_log.append((step, worker, f"malformed message of {buf.size} bytes"))
                payload = None
            if worker not in expect:
                if stash is not None:
                    stash.setdefault(worker, payload)
            elif worker not in got:
                got[worker] = payload
        if t_end is not None and time.perf_counter() > t_end:
            for wkr in sorted(expect):
                if wkr not in got:
                    absent_log.append((step, wkr, "missed the deadline"))
                    got[wkr] = None
            break
        if not progressed:
            time.sleep(nap)
            nap = min(nap * 2, 2e-3)
        else:
            nap = 1e-4
    return got


def _peek_step(buf: np.ndarray) -> int | None:
    if buf.size < HEADER_BYTES:
        return None
    head = buf[:HEADER_BYTES].view(_HEADER)[0]
    return int(head["step"]) if int(head["magic"]) == MAGIC else None


def _server_decode(cfg, got, vote, nb, d, agg, draco_code=None, msg_dtype=np.float32
                   ) -> np.ndarray:
    n = cfg.n
    if vote and cfg.quant_bits > 1:  # mean of the present workers' levels, quantized again
        q = cfg.quant_bits
        rows = [T.multibit_unpack(p, q, d) for _, p in sorted(got.items()) if p is not None]
        mean = np.stack(rows).mean(axis=0) if rows else np.zeros(d)
        return T.multibit_pack(T.quantize(mean, q), q)
    if vote:
        bits = np.zeros((n, nb), np.uint8)
        pres = np.zeros((n, nb), np.uint8)
        for i, payload in got.items():
            if payload is None:
                continue
            bits[i] = payload[:nb]
            if cfg.tie == "abstain":
                pres[i] = payload[nb:]
            else:
                pres[i] = 0xFF
                pres[i, -1] &= V._tail_mask(d)
        val, ties = V.majority(bits, d, pres, return_ties=True)
        nz = ~ties
        nz[-1] &= V._tail_mask(d)
        return np.concatenate([val, nz])
    if draco_code is not None:  # every node's message; an absent one is NaN (adversarial)
        msgs = np.full((n, d), np.nan, dtype=msg_dtype)
        for i, p in got.items():
            if p is not None:
                msgs[i] = np.frombuffer(p.tobytes(), dtype=msg_dtype)
        total = np.real(draco_code.decode(msgs))
        return (total / n).astype(np.float32).view(np.uint8)
    rows = [np.frombuffer(p.tobytes(), dtype=np.float32) for i, p in sorted(got.items())
            if p is not None]
    x = np.stack(rows) if rows else np.zeros((1, d), np.float32)
    return np.asarray(agg(x), dtype=np.float32).view(np.uint8)


def _unpack_update(buf: np.ndarray, vote: bool, nb: int, d: int, q: int = 1) -> np.ndarray:
    if vote and q > 1:
        return T.multibit_unpack(buf, q, d).astype(np.float32)
    if not vote:
        return np.frombuffer(buf.tobytes(), dtype=np.float32).copy()
    val = V.unpack(buf[:nb], d).astype(np.float32)
    nz = np.unpackbits(buf[nb:], count=d).astype(bool)
    val[~nz] = 0.0
    return val


def launch(cfg: TrainConfig, *, results=None, parity: bool = False, deadline=None,
           timeout: float | None = 3600, extra_args=()) -> dict:
    """Run ``cfg`` under ``mpiexec -n n+1`` from Python (a notebook, a test) and return the
    JSON summary, with ``metrics`` (a DataFrame) added.

    Uses ``sys.prefix/bin/mpiexec`` and ``sys.executable``: a notebook kernel's PATH may lack
    the virtual environment's ``bin``. One thread per rank (``OMP_NUM_THREADS=1``).
    """
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    mpiexec = Path(sys.prefix) / "bin" / "mpiexec"
    if not mpiexec.exists():
        raise FileNotFoundError(f"{mpiexec} not found: pip install mpich mpi4py")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(json.dumps(cfg.to_dict()))
        cfg_path = fh.name
    cmd = [str(mpiexec), "-n", str(cfg.n + 1), sys.executable, "-m", "electionlib", "train",
           "--backend", "mpi", "--config", cfg_path, "--json", *extra_args]
    if results is not None:
        cmd += ["--results", str(results)]
    if parity:
        cmd += ["--parity"]
    if deadline is not None:
        cmd += ["--deadline", str(deadline)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ELECTIONLIB_QUIET": "1"}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        os.unlink(cfg_path)
    if out.returncode != 0:
        raise RuntimeError(f"mpiexec failed ({out.returncode}):\n{out.stdout[-2000:]}\n"
                           f"{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
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
    from ._progress import progress as _bar

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
