"""Schemes: per-worker encode + server decode equal the trainers' steps bit for bit, wire sizes
are the bytes really produced, and any message is data (wrong sizes are absences)."""

import numpy as np
import pytest
import reference_steps as R
import torch

from electionlib import attacks as A
from electionlib import codes, draco, schemes
from electionlib import config as C
from electionlib import mpi_backend as M
from electionlib import train as T
from electionlib import votes as V


def _grads(k, d, seed, zeros=0.3):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((k, d)).astype(np.float32)
    g[rng.random((k, d)) < zeros] = 0.0  # exact zeros exercise sign(0) under every rule
    return g


def _vote_cfg(**kw):
    base = dict(dataset="digits", n=7, code="bernoulli", r=2.0, tie="coin", seed=3)
    return T.TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("tie", ["coin", "plus", "abstain"])
@pytest.mark.parametrize("code,extra", [("bernoulli", dict(r=2.0)), ("bernoulli", dict(r=3.0)),
                                        ("uncoded", {}), ("deterministic", dict(b=2))])
def test_election_vote_equals_the_sim_step_over_several_steps(tie, code, extra):
    cfg = _vote_cfg(code=code, tie=tie, **({} if code == "bernoulli" else {"r": None}), **extra)
    d, k = 37, cfg.n
    st = C.streams(cfg.seed)
    G = C.allocation(cfg, k, C.code_stream(cfg, st))
    scheme = schemes.from_config(cfg, d, G=G)
    # the sim trainer's own streams, advanced step after step alongside the scheme's
    worker_rngs = [np.random.default_rng(s) for s in st["workers"].spawn(cfg.n)]
    part_rngs = C.partition_rngs(st, k)
    for step in range(4):
        g = _grads(k, d, seed=10 * step + 1)
        u_sim, _, _ = R.vote_step(cfg, torch.from_numpy(g), G, np.array([], int), d,
                                  worker_rngs, part_rngs)
        u = scheme.step(g)
        assert u.dtype == np.float32 and u.shape == (d,)
        np.testing.assert_array_equal(u, u_sim)


@pytest.mark.parametrize("tie", ["coin", "plus", "abstain"])
@pytest.mark.parametrize("attack", ["reverse", "directional", "random", "worst", "sign_flip"])
def test_election_vote_under_attack_equals_the_sim_step(tie, attack):
    # a Bernoulli code with empty rows (kept), two of them Byzantine: absent workers and
    # attackers exactly as the sim trainer applies them, streams advancing over the steps
    cfg = _vote_cfg(n=9, r=1.5, tie=tie, b=3, attack=attack, seed=0)
    d, k = 45, cfg.n
    st = C.streams(cfg.seed)
    G = C.allocation(cfg, k, C.code_stream(cfg, st))
    empty = np.flatnonzero(codes.empty_rows(G))
    assert len(empty) >= 2, "this seed must give empty workers"
    byz = np.array(sorted({int(empty[0]), int(empty[1]), int(np.flatnonzero(G.sum(1))[0])}))
    scheme = schemes.from_config(cfg, d, G=G)
    worker_rngs = [np.random.default_rng(s) for s in st["workers"].spawn(cfg.n)]
    part_rngs = C.partition_rngs(st, k)
    for step in range(4):
        g = _grads(k, d, seed=100 + step)
        u_sim, _, _ = R.vote_step(cfg, torch.from_numpy(g), G, byz, d, worker_rngs, part_rngs)
        np.testing.assert_array_equal(scheme.step(g, byzantine=byz, attack=attack), u_sim)


@pytest.mark.parametrize("attack", ["reverse", "directional", "random", "worst", "sign_flip"])
def test_multibit_vote_under_attack_equals_the_sim_step(attack):
    cfg = _vote_cfg(n=9, r=1.5, quant_bits=2, tie="plus", b=3, attack=attack, seed=0)
    d, k = 30, cfg.n
    st = C.streams(cfg.seed)
    G = C.allocation(cfg, k, C.code_stream(cfg, st))
    empty = np.flatnonzero(codes.empty_rows(G))
    byz = np.array(sorted({int(empty[0]), int(np.flatnonzero(G.sum(1))[0])}))
    scheme = schemes.from_config(cfg, d, G=G)
    worker_rngs = [np.random.default_rng(s) for s in st["workers"].spawn(cfg.n)]
    for step in range(3):
        g = _grads(k, d, seed=200 + step)
        u_sim, _, _ = R.vote_step(cfg, torch.from_numpy(g), G, byz, d, worker_rngs, None)
        np.testing.assert_array_equal(scheme.step(g, byzantine=byz, attack=attack), u_sim)


def test_attack_none_and_absent_messages():
    scheme = schemes.ElectionVote(codes.uncoded(3), 10, tie="abstain")
    msg = scheme.encode(0, _grads(1, 10, seed=1))
    np.testing.assert_array_equal(scheme.attack_message("none", msg), msg)
    assert scheme.attack_message("none", None) is None
    assert scheme.attack_message("reverse", None) is None
    assert scheme.attack_message("directional", None).size == scheme.message_bytes
    empty = schemes.ElectionVote(np.array([[1, 0], [0, 0]], np.uint8), 5)
    assert empty.encode(1, np.zeros((0, 5))).size == 0  # no partition: the empty message
    # non-contiguous or ragged messages are data too: absent, never an error
    agg = schemes.RobustAggregate(3, 4)
    good = [agg.encode(i, np.ones((1, 4))) for i in range(3)]
    wide = np.zeros(2 * good[0].size, np.uint8)
    wide[::2] = good[0]
    np.testing.assert_array_equal(agg.decode([wide[::2], good[1], good[2]]), np.ones(4))
    assert agg.decode([[1, [2, 3]], good[1], good[2]]).shape == (4,)


def test_election_vote_decode_is_the_majority_of_present_votes_and_bad_messages_abstain():
    d = 29
    G = codes.bernoulli(7, 2 / 7, rng=np.random.default_rng(0))
    scheme = schemes.ElectionVote(G, d, tie="abstain")
    rng = np.random.default_rng(5)
    nb = V.packed_length(d)
    msgs = [rng.integers(0, 256, 2 * nb, dtype=np.uint8) for _ in range(7)]
    msgs[1] = None
    # the definition: per coordinate, +1 votes against -1 votes among the present ones
    s = np.stack([V.unpack(m[:nb], d) for m in msgs if m is not None]).astype(int)
    p = np.stack([np.unpackbits(m[nb:], count=d) for m in msgs if m is not None]).astype(int)
    count = (s * p).sum(0)
    np.testing.assert_array_equal(scheme.decode(msgs), np.sign(count).astype(np.float32))
    # a message of the wrong size or dtype abstains like an absent one
    for bad in (np.zeros(2 * nb + 1, np.uint8), np.zeros(2 * nb, np.int16), "x" * (2 * nb),
                np.zeros((2, nb), np.uint8)):
        np.testing.assert_array_equal(scheme.decode(msgs[:1] + [bad] + msgs[2:]),
                                      scheme.decode(msgs))
    assert not scheme.decode([None] * 7).any()  # nobody voted: nothing moves
    # three hand-made votes on d = 3 (tie="plus"): 2 of 3 decide; the wire form round-trips
    three = schemes.ElectionVote(codes.uncoded(3), 3, tie="plus")
    votes = [V.pack(np.array(x)) for x in ([1, -1, 1], [1, 1, -1], [-1, -1, -1])]
    assert three.decode(votes).tolist() == [1.0, -1.0, -1.0]
    assert three.decode([votes[0], None, votes[2]]).tolist() == [0.0, -1.0, 0.0]


def test_multibit_vote_equals_the_sim_step():
    cfg = _vote_cfg(quant_bits=3, tie="plus")
    d, k = 23, cfg.n
    st = C.streams(cfg.seed)
    G = C.allocation(cfg, k, C.code_stream(cfg, st))
    scheme = schemes.from_config(cfg, d, G=G)
    assert isinstance(scheme, schemes.MultiBitVote)
    for step in range(3):
        g = _grads(k, d, seed=step)
        u_sim, _, _ = R.vote_step(cfg, torch.from_numpy(g), G, np.array([], int), d, None, None)
        np.testing.assert_array_equal(scheme.step(g), u_sim)
        assert all(len(scheme.encode(i, g[scheme.partitions(i)])) == scheme.message_bytes
                   for i in range(cfg.n) if len(scheme.partitions(i)))


@pytest.mark.parametrize("code", ["draco-repetition", "draco-cyclic"])
def test_draco_equals_the_sim_step_and_sends_its_declared_bytes(code):
    cfg = T.TrainConfig(dataset="digits", n=9, b=1, code=code)
    d = 31
    scheme = schemes.from_config(cfg, d)
    g = _grads(cfg.n, d, seed=2, zeros=0.0)
    u_sim, _, _ = R.draco_step(cfg, torch.from_numpy(g), None, C.draco_code(cfg),
                                np.array([], int), None)
    np.testing.assert_allclose(scheme.step(g), u_sim, rtol=0, atol=0)
    item = 16 if code == "draco-cyclic" else 8  # complex128 / float64 on the wire
    for i in range(cfg.n):
        msg = scheme.encode(i, g[scheme.partitions(i)])
        assert msg.dtype == np.uint8 and msg.nbytes == scheme.message_bytes == item * d
    assert schemes.wire_bytes(scheme) == schemes.HEADER_BYTES + item * d
    # one adversarial node (the code's s = 1): the decoder still recovers the mean exactly
    # for the repetition code, and to round-off for the cyclic one
    out = scheme.step(g, byzantine=[4], attack="constant")
    np.testing.assert_allclose(out, g.sum(0) / cfg.n, rtol=1e-5, atol=1e-6)


def test_robust_aggregate_equals_the_sim_step_and_survives_absences():
    cfg = T.TrainConfig(dataset="digits", n=7, b=2, aggregator="trimmed_mean",
                        agg_params=(("f", 2),))
    d = 11
    scheme = schemes.from_config(cfg, d)
    g = _grads(cfg.n, d, seed=4)
    u_sim, _, _ = R.agg_step(cfg, torch.from_numpy(g), None, C.agg_callable(cfg),
                              np.array([], int), None)
    np.testing.assert_array_equal(scheme.step(g), u_sim)
    msgs = [scheme.encode(i, g[[i]]) for i in range(cfg.n)]
    assert all(m.nbytes == scheme.message_bytes == 4 * d for m in msgs)
    # trimmed mean with f = 2 needs 5 rows; with 4 present the rule is re-derived, no error
    u = scheme.decode([None, None, None] + msgs[3:])
    assert np.isfinite(u).all() and u.shape == (d,)


def _agg_case(cfg, d, seed):
    """Gradients, label-shifted gradients and a Byzantine set for a full-precision step."""
    g = _grads(cfg.n, d, seed=seed, zeros=0.0)
    shifted = _grads(cfg.n, d, seed=seed + 50, zeros=0.0)
    byz = np.array(sorted(np.random.default_rng(seed).choice(cfg.n, cfg.b, replace=False)))
    return g, shifted, byz


@pytest.mark.parametrize("attack", A.GRADIENT_ATTACKS)
def test_robust_aggregate_under_every_attack_equals_the_reference_step(attack):
    cfg = T.TrainConfig(dataset="digits", n=7, b=2, aggregator="median", attack=attack)
    d = 13
    scheme = schemes.from_config(cfg, d)
    ref_rngs = [np.random.default_rng(s) for s in C.streams(cfg.seed)["workers"].spawn(cfg.n)]
    for step in range(3):
        g, shifted, byz = _agg_case(cfg, d, seed=300 + step)
        u_ref, _, _ = R.agg_step(cfg, torch.from_numpy(g), torch.from_numpy(shifted),
                                 C.agg_callable(cfg), byz, ref_rngs)
        u, t_enc, t_dec = scheme.exchange(g, byzantine=byz, attack=attack, shifted=shifted,
                                          f=cfg.b)
        np.testing.assert_array_equal(u, u_ref)
        assert t_enc >= 0 and t_dec >= 0


@pytest.mark.parametrize("code", ["draco-repetition", "draco-cyclic"])
@pytest.mark.parametrize("attack", ["constant", "reversed_gradient", "label_shift", "alie",
                                    "gaussian"])
def test_draco_under_attack_equals_the_reference_step(code, attack):
    cfg = T.TrainConfig(dataset="digits", n=9, b=1, code=code, attack=attack)
    d = 17
    scheme = schemes.from_config(cfg, d)
    ref_rngs = [np.random.default_rng(s) for s in C.streams(cfg.seed)["workers"].spawn(cfg.n)]
    for step in range(2):
        g, shifted, byz = _agg_case(cfg, d, seed=400 + step)
        u_ref, _, _ = R.draco_step(cfg, torch.from_numpy(g), torch.from_numpy(shifted),
                                   C.draco_code(cfg), byz, ref_rngs)
        u, _, _ = scheme.exchange(g, byzantine=byz, attack=attack, shifted=shifted, f=cfg.b)
        np.testing.assert_array_equal(u, u_ref)


def test_user_step_accepts_torch_and_returns_torch():
    G = codes.bernoulli(9, 2 / 9, rng=np.random.default_rng(1), empty_rows="redraw")
    scheme = schemes.ElectionVote(G, 50, tie="plus")
    g = torch.randn(9, 50, generator=torch.Generator().manual_seed(0))
    u = scheme.step(g, byzantine=[0, 1], attack="reverse", rng=0)
    assert isinstance(u, torch.Tensor) and u.shape == (50,)
    assert set(u.unique().tolist()) <= {-1.0, 0.0, 1.0}
    with pytest.raises(ValueError, match=r"partition_grads must have shape \(k, d\)"):
        scheme.step(g[:, :10])


def test_step_optimizer_writes_the_update_into_grad():
    model = torch.nn.Linear(3, 2)
    d = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    scheme = schemes.ElectionVote(codes.uncoded(3), d, tie="plus")
    before = [p.detach().clone() for p in model.parameters()]
    g = torch.ones(3, d)
    g[0] = -1  # majority +1 everywhere
    schemes.step_optimizer(scheme, opt, g)
    for b, p in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), b - 0.5)
    with pytest.raises(ValueError, match="params hold"):
        schemes.step_optimizer(schemes.ElectionVote(codes.uncoded(3), d + 1), opt,
                               torch.ones(3, d + 1))


def test_declared_sizes_are_the_wire_formats():
    # explicit formulas: packed bits, a presence plane, q + 1 planes, float32, float64 and
    # complex128 per coordinate (the mpi backend's frames take these sizes: test_mpi.py
    # measures the bytes its workers hand to MPI)
    d = 40
    nb = V.packed_length(d)
    cases = [(_vote_cfg(), nb), (_vote_cfg(tie="abstain"), 2 * nb),
             (_vote_cfg(quant_bits=2), 3 * nb), (_vote_cfg(quant_bits=3), 4 * nb),
             (T.TrainConfig(dataset="digits", n=9, b=1, code="draco-cyclic"), 16 * d),
             (T.TrainConfig(dataset="digits", n=9, b=1, code="draco-repetition"), 8 * d),
             (T.TrainConfig(dataset="digits", n=5, aggregator="median"), 4 * d)]
    for cfg, want in cases:
        assert schemes.sized(cfg, d).message_bytes == want, cfg
        assert schemes.from_config(cfg, d).message_bytes == want, cfg
        assert M.payload_bytes(cfg, d) == want


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="tie"):
        schemes.ElectionVote(codes.uncoded(3), 4, tie="maybe")
    with pytest.raises(ValueError, match="messages has 2 entries"):
        schemes.ElectionVote(codes.uncoded(3), 4).decode([None, None])
    with pytest.raises(ValueError, match="bits"):
        schemes.MultiBitVote(codes.uncoded(3), 4, bits=1)
    with pytest.raises(ValueError, match="grads of worker 0"):
        schemes.RobustAggregate(3, 4).encode(0, np.zeros((2, 4)))
    assert isinstance(schemes.Draco("repetition", 5, n=3, s=1).code, draco.RepetitionCode)
