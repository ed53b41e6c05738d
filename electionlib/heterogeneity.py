"""Beyond the paper's i.i.d. partitions: heterogeneous data, every attack, worst cases and
bytes on the wire (notebook 07).

The papers split the training data i.i.d. This module trains every scheme on Dirichlet label
splits (:func:`electionlib.sampling.partition`; the grids label the paper's i.i.d. split
``alpha = inf``)
against every attack that applies to it, and reduces the runs to the **worst case over
attacks** per (scheme, alpha, b): the accuracy a defender can count on when it does not know
the attack. Vote schemes and real-valued rules face different attack sets (votes are bits; an
attack on real vectors has no meaning for them), so a worst case is compared with another only
within one family; the figures say so.

* :func:`grid` -- the configurations of a profile (:data:`PROFILE`: what each profile keeps);
* :func:`worst_case` -- minimum final accuracy over attacks, with the attack that attains it;
* :func:`best_per_cell` -- the best scheme of each family per cell;
* :func:`partition_agreement` -- how often each partition's gradient sign agrees with the full
  gradient's, per coordinate, under a split;
* :func:`vote_errors` -- the master's error for uncoded, Bernoulli and deterministic codes at
  the measured agreements: exact over partition patterns per coordinate, Monte-Carlo over the
  coordinates (the i.i.d. model of Theorem 1 assumes every partition's sign is correct with one
  probability; under heterogeneity each partition has its own);
* :func:`coding_gain_table` -- the tidy table of the registered findings ``het-gain-iid`` and
  ``het-gain-dirichlet`` (:mod:`electionlib.claims`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import _validate as v
from . import attacks as A
from . import codes, gradients, presets, profiles, theory
from . import methods as M
from .config import TrainConfig

__all__ = ["PROFILE", "VOTE_METHODS", "FP_METHODS", "ALLOCATION_AWARE", "scheme_kwargs",
           "attacks_for", "grid", "final_accuracy", "worst_case", "best_per_cell",
           "partition_agreement", "vote_errors", "coding_gain_table", "alpha_label", "family",
           "worst_by_seed", "vote_study", "finding", "gain_cells", "GAIN_CANDIDATES"]

#: The vote attack of the allocation-aware adversary (``attack="worst"`` with the Byzantine set
#: ``byz_select="omniscient"``), as the grids label it.
ALLOCATION_AWARE = "worst (allocation-aware set)"

VOTE_METHODS = ("uncoded", "bern-r2", "bern-r3", "det")
FP_METHODS = ("median", "trimmed-mean", "krum", "brsgd", "cc", "cc-nnm", "cc-bucket",
              "draco-cyc")

#: What each profile trains. ``quick`` keeps every attack and cuts schemes, alpha values and
#: seeds (one seed); ``full`` carries the whole grid.
PROFILE = {
    "ci": dict(n=15, bs=(0, 5), alphas=(math.inf, 0.1), seeds=(0,), subsample=1500,
               test_subsample=500, epochs=1.0,
               methods=("uncoded", "bern-r3", "det", "median", "cc-nnm"),
               vote_attacks=("reverse", "worst", "sign_flip"),
               fp_attacks=("alie", "fang", "minmax", "nan"), coords=20),
    "quick": dict(n=15, bs=(0, 3, 5), alphas=(math.inf, 0.1), seeds=(0,), subsample=6000,
                  test_subsample=1000, epochs=2.0,
                  methods=("uncoded", "bern-r3", "det", "median", "trimmed-mean", "cc",
                           "cc-nnm", "draco-cyc"),
                  vote_attacks=None, fp_attacks=None, coords=100),
    "full": dict(n=15, bs=(0, 3, 5), alphas=(math.inf, 1.0, 0.1), seeds=(0, 1, 2),
                 subsample=None, test_subsample=None, epochs=2.0,
                 methods=VOTE_METHODS + FP_METHODS, vote_attacks=None, fp_attacks=None,
                 coords=400),
}

#: The short-budget optimisers (both families train in the same number of steps): Signum at
#: lr 1e-3 for votes (the digits default; the Fashion-MNIST stand-in's 1e-4 is tuned for 10x
#: as many steps), SGD at lr 0.05 for the real-valued rules; momentum 0.9 at the master.
VOTE_OPT = dict(lr=1e-3, momentum="server", eta=0.9, batch=16, tie="coin", lr_decay_epochs=())
FP_OPT = dict(lr=0.05, momentum="server", eta=0.9, batch=16)


def alpha_label(alpha: float) -> str:
    """``"α=∞ (i.i.d.)"`` or ``"α=0.1"``: the label of a split in tables and figures."""
    return "α=∞ (i.i.d.)" if math.isinf(alpha) else f"α={alpha:g}"


def scheme_kwargs(method: str, n: int, b: int) -> dict:
    """The :class:`TrainConfig` fields of ``method`` at ``n`` workers and ``b`` Byzantines.

    Each robust scheme is designed for ``max(b, 1)`` Byzantines (the attack-free ``b = 0``
    column runs them as built for the smallest attacked cell), capped at what the scheme can
    take at ``n``: Algorithm 1 needs ``b < floor(n/2)``; Krum ``n >= 2f + 3``; the trimmed mean
    ``n >= 2f + 1``; DRACO's cyclic code ``n >= 2s + 1`` (DRACO's repetition code needs ``n``
    to be a multiple of ``2s + 1``, which ``n = 15`` is not at ``s = 3`` or ``5``).

    Example:
        >>> scheme_kwargs("cc-nnm", 15, 3)["agg_params"]
        (('pre', 'nnm'), ('f', 3))
    """
    f = max(b, 1)
    table = {
        "uncoded": dict(code="uncoded"),
        "bern-r2": dict(code="bernoulli", r=2.0),
        "bern-r3": dict(code="bernoulli", r=3.0),
        "det": dict(code="deterministic", design_b=min(f, n // 2 - 1)),
        "median": dict(aggregator="median"),
        "trimmed-mean": dict(aggregator="trimmed_mean", agg_params=(("f", min(f, (n - 1) // 2)),)),
        "krum": dict(aggregator="krum", agg_params=(("f", min(f, (n - 3) // 2)),)),
        "brsgd": dict(aggregator="brsgd", agg_params=(("beta", 0.5),)),
        "cc": dict(aggregator="centered_clipping"),
        "cc-nnm": dict(aggregator="centered_clipping", agg_params=(("pre", "nnm"), ("f", f))),
        "cc-bucket": dict(aggregator="centered_clipping",
                          agg_params=(("pre", "bucketing"), ("s", 2), ("seed", 0))),
        "draco-cyc": dict(code="draco-cyclic", design_b=min(f, (n - 1) // 2)),
    }
    if method not in table:
        raise ValueError(f"method={method!r} must be one of {sorted(table)}")
    return dict(table[method])


def family(method: str) -> str:
    """``"votes"`` or ``"real-valued"``."""
    return "votes" if method in VOTE_METHODS else "real-valued"


def attacks_for(method: str, subset=None) -> list[tuple[str, str]]:
    """The attacks a ``method`` faces, as ``(label, attack)``: every vote attack of
    :data:`electionlib.attacks.VOTE_ATTACKS` plus the allocation-aware adversary for votes,
    every gradient attack of :data:`electionlib.attacks.GRADIENT_ATTACKS` for the others
    (``subset``: a profile's cut)."""
    if family(method) == "votes":
        names = [a for a in A.VOTE_ATTACKS if a != "none"]
        out = [(a, a) for a in names if subset is None or a in subset]
        if subset is None or "worst" in subset:
            out.append((ALLOCATION_AWARE, "worst"))
        return out
    names = [a for a in A.GRADIENT_ATTACKS if a != "none"]
    return [(a, a) for a in names if subset is None or a in subset]


def grid(profile: str, seeds=None, methods=None) -> list[tuple[dict, TrainConfig]]:
    """Every run of notebook 07 at ``profile``: for each scheme, alpha, b and seed, the
    attack-free run (``b = 0``) or one run per attack (``b > 0``).

    Returns:
        list of ``(labels, TrainConfig)``; labels: method, scheme, family, alpha, split
        (:func:`alpha_label`), b, b_frac, attack (its label), seed.
    """
    p = PROFILE[v.choice("profile", profile, tuple(PROFILE))]
    seeds = p["seeds"] if seeds is None else tuple(seeds)
    methods = p["methods"] if methods is None else tuple(methods)
    n = p["n"]
    base = dict(dataset="fmnist", subsample=p["subsample"], test_subsample=p["test_subsample"],
                epochs=p["epochs"], eval_every=p["epochs"] / 2, n=n)
    out = []
    for method in methods:
        fam = family(method)
        opt = VOTE_OPT if fam == "votes" else FP_OPT
        for alpha in p["alphas"]:
            split = {} if math.isinf(alpha) else dict(partition="dirichlet", alpha=float(alpha))
            for b in p["bs"]:
                sub = p["vote_attacks"] if fam == "votes" else p["fp_attacks"]
                cells = [("none", "none")] if b == 0 else attacks_for(method, sub)
                for seed in seeds:
                    for lab, attack in cells:
                        kw = {**base, **opt, **split, **scheme_kwargs(method, n, b), "b": b,
                              "attack": attack, "seed": seed}
                        if lab == ALLOCATION_AWARE:
                            kw["byz_select"] = "omniscient"
                        if dict(kw.get("agg_params", ())).get("pre") == "bucketing":
                            # the bucketing stream follows the run's seed
                            kw["agg_params"] = tuple((key, seed if key == "seed" else val)
                                                     for key, val in kw["agg_params"])
                        cfg = presets.build(None, kw)
                        out.append((dict(method=method, scheme=M.label(method), family=fam,
                                         alpha=float(alpha), split=alpha_label(alpha), b=b,
                                         b_frac=f"{b}/{n}", attack=lab, seed=seed), cfg))
    return out


def final_accuracy(df: pd.DataFrame, chance: float = 0.1) -> pd.DataFrame:
    """One row per run (its last evaluation): the labels, ``accuracy``,
    ``bytes_per_worker_per_step`` and ``diverged``. A run whose model stopped being finite
    scores the accuracy its last evaluation gave; a NaN accuracy counts as ``chance`` (0.1:
    Fashion-MNIST's ten balanced test classes), the accuracy of a constant prediction."""
    keys = ["method", "scheme", "family", "alpha", "split", "b", "b_frac", "attack", "seed"]
    last = df.sort_values("step").groupby(keys, dropna=False, sort=False).tail(1)
    out = last[keys + ["accuracy", "bytes_per_worker_per_step", "diverged"]].copy()
    out["accuracy"] = out["accuracy"].fillna(v.real("chance", chance, lo=0.0, hi=1.0))
    return out.reset_index(drop=True)


def worst_case(final: pd.DataFrame) -> pd.DataFrame:
    """Per (method, alpha, b): the minimum over attacks of the seed-mean final accuracy, the
    attack that attains it (ties: the first in attack order) and the number of attacks.

    Example:
        >>> t = pd.DataFrame(dict(method="m", scheme="M", family="votes", alpha=0.1,
        ...     split="α=0.1", b=3, b_frac="3/15", attack=["a", "b", "a", "b"],
        ...     seed=[0, 0, 1, 1], accuracy=[0.8, 0.5, 0.6, 0.7],
        ...     bytes_per_worker_per_step=10, diverged=False))
        >>> worst_case(t)[["worst_accuracy", "worst_attack", "attacks"]].values.tolist()
        [[0.6, 'b', 2]]
    """
    keys = ["method", "scheme", "family", "alpha", "split", "b", "b_frac"]
    per = final.groupby(keys + ["attack"], sort=False, dropna=False).agg(
        accuracy=("accuracy", "mean"), seeds=("seed", "nunique"),
        bytes=("bytes_per_worker_per_step", "first")).reset_index()
    rows = []
    for key, g in per.groupby(keys, sort=False, dropna=False):
        i = int(np.argmin(g["accuracy"].to_numpy()))
        rows.append({**dict(zip(keys, key, strict=True)),
                     "worst_accuracy": float(g["accuracy"].iloc[i]),
                     "worst_attack": g["attack"].iloc[i], "attacks": len(g),
                     "seeds": int(g["seeds"].min()),
                     "bytes_per_worker_per_step": int(g["bytes"].iloc[0])})
    return pd.DataFrame(rows)


def best_per_cell(worst: pd.DataFrame) -> pd.DataFrame:
    """Per (family, alpha, b): the scheme with the highest worst-case accuracy (within a family
    only: the attack sets of votes and real-valued rules differ)."""
    rows = []
    for key, g in worst.groupby(["family", "alpha", "split", "b", "b_frac"], sort=False):
        best = g.loc[g["worst_accuracy"].idxmax()]
        rows.append(dict(zip(["family", "alpha", "split", "b", "b_frac"], key, strict=True),
                         method=best["method"], scheme=best["scheme"],
                         worst_accuracy=float(best["worst_accuracy"])))
    return pd.DataFrame(rows)


def gain_cells(profile: str) -> list[str]:
    """The cells ``α=A,b=B`` of the findings ``het-gain-*`` that ``profile`` trains (every
    split and every attacked b of :data:`PROFILE`), whatever the runs returned: a cell the
    grid lost is then an error of the verdict, never a silent omission."""
    p = PROFILE[v.choice("profile", profile, tuple(PROFILE))]
    return [f"α={'inf' if math.isinf(a) else f'{a:g}'},b={b}" for a in p["alphas"]
            for b in p["bs"] if b > 0]


def coding_gain_table(worst_by_seed: pd.DataFrame) -> pd.DataFrame:
    """The tidy table of the findings ``het-gain-*``: per cell ``α=A,b=B`` and seed, each
    vote scheme's worst case over the vote attacks (columns ``cell, method, seed, value``).

    ``worst_by_seed``: :func:`worst_case` of one seed at a time, concatenated with a
    ``seed`` column."""
    t = worst_by_seed[(worst_by_seed["family"] == "votes") & (worst_by_seed["b"] > 0)]
    cell = [f"α={'inf' if math.isinf(a) else f'{a:g}'},b={b}" for a, b in
            zip(t["alpha"], t["b"], strict=True)]
    return pd.DataFrame(dict(cell=cell, method=t["method"].to_numpy(),
                             seed=t["seed"].to_numpy(), value=t["worst_accuracy"].to_numpy()))


def worst_by_seed(final: pd.DataFrame) -> pd.DataFrame:
    """:func:`worst_case` of each seed apart (a ``seed`` column), for paired comparisons."""
    frames = [worst_case(g).assign(seed=s) for s, g in final.groupby("seed", sort=True)]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- the vote


def partition_agreement(cfg: TrainConfig, params=None, *, steps: int = 10,
                        reference: int = 4096) -> np.ndarray:
    """How often each partition's mini-batch gradient sign agrees with the full gradient's:
    ``(k, d)`` float64, entry ``(j, c)`` over ``steps`` mini-batches of partition ``j``.

    The reference is the gradient of ``reference`` examples drawn from the whole training set
    (the global objective the partitions share) at ``params`` (default: the initial model).
    Under the i.i.d. split every row estimates the same agreement; under a Dirichlet split
    each partition sees its own label mix and agrees with the global sign at its own rate.
    """
    import torch

    steps = v.integer("steps", steps, lo=1)
    fn, sampler, ds, w, st = gradients.setup(cfg, params)
    rng = np.random.default_rng(st["eval"])
    ref_idx = rng.choice(ds.n_train, size=(1, min(reference, ds.n_train)), replace=False)
    ref_sign = torch.sign(fn(w, ref_idx)[0][0])
    agree = torch.zeros(sampler.k, fn.d, dtype=torch.float64)
    for _ in range(steps):
        Gp, _ = fn(w, sampler.next())
        agree += (torch.sign(Gp) == ref_sign).double()
    return (agree / steps).numpy()


def vote_errors(agreement: np.ndarray, b_values, *, coords: int = 100, rng=0,
                bernoulli_draws: int = 3, tie: str = "coin") -> pd.DataFrame:
    """The master's error ``P(sign of the update != sign of the full gradient)`` at measured
    per-partition agreements, for uncoded, Bernoulli E[r] = 2, 3 and deterministic codes.

    For ``coords`` coordinates drawn at random, the exact error is computed over every
    partition-sign pattern (:func:`electionlib.theory.exact_error_fixed` with ``rho`` = that
    coordinate's column of ``agreement``: independent partitions, each correct with its own
    probability), and averaged: Monte-Carlo over coordinates, exact within one. The
    Byzantines are an allocation-aware adversary that also knows the data's law: the set that
    maximises the error at the partitions' mean agreements
    (:func:`electionlib.attacks.worst_byzantine_set` with ``rho``), sending the reverse of the
    true sign. (The training grid's allocation-aware set knows the code only:
    ``byz_select="omniscient"`` chooses it with fair-coin partitions and reverses the
    partition majority.) Each code is drawn once and used at every ``b``. Beside it,
    ``iid_model``: the same with every partition at the coordinate's mean agreement (Theorem
    1's identical partitions), so that the difference is the heterogeneity alone.

    Returns:
        DataFrame: method, b, error, iid_model, se (standard error over coordinates).
    """
    agreement = np.asarray(agreement, dtype=np.float64)
    k, d = agreement.shape
    gen = v.rng(rng)
    cols = gen.choice(d, size=min(coords, d), replace=False)
    mean_rho = agreement.mean(axis=1)
    allocs = [("uncoded", codes.uncoded(k))]
    for r in (2.0, 3.0):
        allocs += [(f"bern-r{r:g}", codes.bernoulli(k, r / k, rng=gen))
                   for _ in range(bernoulli_draws)]
    rows = []
    for b in b_values:
        here = allocs + ([("det", codes.deterministic(k, b))] if 0 < b < k // 2 else [])
        per: dict[str, list] = {}
        for method, G in here:
            byz = (A.worst_byzantine_set(G, b, rho=mean_rho, target="sign", tie=tie,
                                         max_sets=500)[0] if b else ())
            e = [theory.exact_error_fixed(G, byz, rho=agreement[:, c], attack="worst",
                                          target="sign", tie=tie) for c in cols]
            s = [theory.exact_error_fixed(G, byz, rho=np.full(k, agreement[:, c].mean()),
                                          attack="worst", target="sign", tie=tie)
                 for c in cols]
            per.setdefault(method, []).append((np.asarray(e), np.asarray(s)))
        for method, draws in per.items():
            e = np.mean([x for x, _ in draws], axis=0)
            s = np.mean([y for _, y in draws], axis=0)
            rows.append(dict(method=method, b=int(b), error=float(e.mean()),
                             iid_model=float(s.mean()),
                             se=float(e.std(ddof=1) / math.sqrt(len(e))) if len(e) > 1
                             else float("nan")))
    return pd.DataFrame(rows)


def profile_of(profile: str) -> dict:
    """The profile's settings (:data:`PROFILE`) with the run profile's name checked."""
    profiles.get(profile)
    return dict(PROFILE[profile])


def vote_study(cfg: TrainConfig, params, alphas=(math.inf, 1.0, 0.1), b_values=(0, 3, 5), *,
               coords: int = 100, steps: int = 10, rng=0) -> pd.DataFrame:
    """Sign agreement and the master's vote error under each split of ``alphas``.

    For each alpha, :func:`partition_agreement` of ``cfg`` with that split (``inf``: i.i.d.)
    at ``params``, then :func:`vote_errors` at ``b_values``. One long table: rows with
    ``table == "agreement"`` (alpha, partition, agreement: its mean over coordinates,
    below_half: the share of its coordinates agreeing less than half the time) and rows with
    ``table == "error"`` (alpha, method, b, error, iid_model, se).
    """
    out = []
    for alpha in alphas:
        kw = cfg.to_dict()
        kw.update(partition="iid", alpha=None) if math.isinf(alpha) else kw.update(
            partition="dirichlet", alpha=float(alpha))
        a = partition_agreement(TrainConfig.from_dict(kw), params, steps=steps)
        for j in range(a.shape[0]):
            out.append(dict(table="agreement", alpha=float(alpha), partition=j,
                            agreement=float(a[j].mean()), below_half=float((a[j] < 0.5).mean())))
        e = vote_errors(a, b_values, coords=coords, rng=rng)
        out += [dict(table="error", alpha=float(alpha), **r) for r in e.to_dict("records")]
    return pd.DataFrame(out)


#: The coded schemes the findings ``het-gain-*`` take the best of (their rule's candidates).
GAIN_CANDIDATES = ("bern-r3", "det")


def finding(worst: pd.DataFrame) -> str:
    """The measured finding in one paragraph: per split and b, the best of
    :data:`GAIN_CANDIDATES`' worst case against uncoded SignSGD-MV's, and the best
    real-valued rule's, from :func:`worst_case` (numbers only; the verdicts are the
    registry's)."""
    lines = []
    for (alpha, b), g in worst[worst["b"] > 0].groupby(["alpha", "b"], sort=True):
        vote = g[g["family"] == "votes"].set_index("method")
        fp = g[g["family"] == "real-valued"]
        coded = vote[vote.index.isin(GAIN_CANDIDATES)]
        if "uncoded" not in vote.index or coded.empty:
            continue
        best = coded["worst_accuracy"].idxmax()
        gain = coded.loc[best, "worst_accuracy"] - vote.loc["uncoded", "worst_accuracy"]
        unc = vote.loc["uncoded", "worst_accuracy"]
        txt = (f"{alpha_label(alpha)}, b={b}: {M.label(best)} "
               f"{coded.loc[best, 'worst_accuracy']:.3f} vs uncoded {unc:.3f} "
               f"({100 * gain:+.1f} points, worst attack on uncoded: "
               f"{vote.loc['uncoded', 'worst_attack']})")
        if not fp.empty:
            r = fp.loc[fp["worst_accuracy"].idxmax()]
            txt += (f"; best real-valued rule (against the real-valued attacks) "
                    f"{r['scheme']} {r['worst_accuracy']:.3f}")
        lines.append(txt)
    return "\n".join(lines)
