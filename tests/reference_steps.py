"""An independent, vectorised implementation of one training step per family: the ``sim``
trainer's step before it called :mod:`electionlib.schemes`. Kept as an oracle: the schemes'
per-worker encode / attack / decode must give the same update, bit for bit
(``tests/test_schemes.py``)."""

from __future__ import annotations

import time

import numpy as np

from electionlib import attacks as A
from electionlib import votes as V
from electionlib.schemes import _levels, multibit_signs, partition_signs, quantize


def vote_step(cfg, Gp, G, byz, d, worker_rngs, part_rngs):
    """One coded SignSGD step: returns (update (d,), encode seconds, decode seconds)."""
    t0 = time.perf_counter()
    g = Gp.numpy()
    if cfg.quant_bits > 1:
        return multibit_step(cfg, g, G, byz, worker_rngs, t0)
    pbits, ppres = partition_signs(g, cfg.tie, part_rngs)
    bits, present = V.encode(pbits, G, d, partition_present=ppres, tie=cfg.tie, rng=worker_rngs)
    if cfg.attack != "none" and len(byz):
        target = V.majority(pbits, d, ppres) if cfg.attack == "worst" else None
        bits, present = A.apply_vote_attack(cfg.attack, bits, present, byz, d,
                                            rngs=worker_rngs, target=target)
    t_enc = (time.perf_counter() - t0) / max(1, G.shape[0])
    t1 = time.perf_counter()
    u = V.decide(bits, d, present).astype(np.float32)
    return u, t_enc, time.perf_counter() - t1




def multibit_step(cfg, g, G, byz, worker_rngs, t0):
    s = multibit_signs(g, cfg.tie)
    loads = G.sum(axis=1)
    avg = (G @ s) / np.maximum(loads, 1)[:, None]
    msg = quantize(avg, cfg.quant_bits)
    msg[loads == 0] = 0
    for i in byz:
        if cfg.attack == "reverse":
            msg[i] = -msg[i]
        elif cfg.attack == "directional":
            msg[i] = 1.0
        elif cfg.attack == "random":
            msg[i] = worker_rngs[i].choice(_levels(cfg.quant_bits), size=msg.shape[1])
        elif cfg.attack == "sign_flip":
            flip = worker_rngs[i].random(msg.shape[1]) < 0.75
            msg[i] = np.where(flip, -msg[i], msg[i])
        elif cfg.attack == "worst":
            msg[i] = -np.sign(s.sum(axis=0))
    t_enc = (time.perf_counter() - t0) / max(1, G.shape[0])
    t1 = time.perf_counter()
    present = loads > 0
    u = quantize(msg[present].mean(axis=0), cfg.quant_bits).astype(np.float32)
    return u, t_enc, time.perf_counter() - t1


def _attacked(cfg, messages: np.ndarray, honest_rows, byz, worker_rngs, shifted=None):
    out = messages.copy()
    honest = messages[honest_rows]
    for i in byz:
        own = shifted[i] if shifted is not None else messages[i]
        out[i] = A.attack_gradient(cfg.attack, own, honest=honest if len(honest) else
                                   messages[:1], n=cfg.n, f=cfg.b, rng=worker_rngs[i])
    return out


def agg_step(cfg, Gp, Gs, agg, byz, worker_rngs):
    t0 = time.perf_counter()
    msgs = Gp.numpy().astype(np.float32)
    honest_rows = np.setdiff1d(np.arange(cfg.n), byz)
    if cfg.attack != "none" and len(byz):
        msgs = _attacked(cfg, msgs, honest_rows, byz, worker_rngs,
                         None if Gs is None else Gs.numpy())
    t_enc = time.perf_counter() - t0
    t1 = time.perf_counter()
    u = np.asarray(agg(msgs), dtype=np.float32)
    return u, t_enc / cfg.n, time.perf_counter() - t1


def draco_step(cfg, Gp, Gs, code, byz, worker_rngs):
    t0 = time.perf_counter()
    msgs = code.encode(Gp.numpy().astype(np.float64))
    honest_rows = np.setdiff1d(np.arange(cfg.n), byz)
    if cfg.attack != "none" and len(byz):
        shifted = None if Gs is None else code.encode(Gs.numpy().astype(np.float64))
        msgs = _attacked(cfg, msgs, honest_rows, byz, worker_rngs, shifted)
    t_enc = (time.perf_counter() - t0) / cfg.n
    t1 = time.perf_counter()
    total = np.real(code.decode(msgs))
    return (total / cfg.n).astype(np.float32), t_enc, time.perf_counter() - t1


