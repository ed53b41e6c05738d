"""Tables behind notebooks 01–03: each function returns a tidy ``pandas.DataFrame``.

The notebooks call these (through :func:`electionlib.experiments.cached_table`)
and only plot; the tests check the tables against the paper's statements.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import torch
from scipy import stats

from . import _validate as v
from . import aggregators, attacks, codes, gradients, montecarlo, theory, tolerance
from ._progress import progress as _bar
from .config import TrainConfig
from .experiments import atomic_write_text

__all__ = [
    "algorithm1_certificates",
    "bernoulli_tolerance",
    "theorem1_table",
    "lemma1_table",
    "mc_grid",
    "brsgd_threshold_sensitivity",
    "verdict",
    "claims_table",
    "write_summary",
]


def algorithm1_certificates(n_max: int = 21, *, tie: str = "coin", progress: bool = False):
    """Certify Algorithm 1 for every odd ``5 <= n <= n_max`` and every valid ``b``.

    For each (n, b): the code's redundancy against eq. (5) and DRACO's 2b+1,
    the exact Lemma 2 check at ``b`` (must hold, Theorem 3) and at ``b + 1``
    (must fail: a counterexample is recorded), and the time each check took.

    Returns:
        DataFrame with columns n, b, s, L, redundancy, eq5, draco, tolerant,
        fails_at_b_plus_1, counterexample, messages, seconds.

    Example:
        >>> df = algorithm1_certificates(7)
        >>> df[["n", "b", "tolerant", "fails_at_b_plus_1"]].values.tolist()
        [[5, 1, True, True], [7, 1, True, True], [7, 2, True, True]]
        >>> df["redundancy"].round(4).tolist()
        [3.8, 4.1429, 5.8571]

    Reference: Algorithm 1, Lemma 2, Theorem 3, eq. (5).
    """
    n_max = v.integer("n_max", n_max, lo=5, hi=tolerance.MAX_PARTITIONS)
    pairs = [(n, b) for n in range(5, n_max + 1, 2) for b in range(1, n // 2)]
    rows = []
    for n, b in _bar(pairs, len(pairs), "Lemma 2", progress):
        G = codes.deterministic(n, b)
        s, L = codes.deterministic_params(n, b)
        t0 = time.perf_counter()
        ok = tolerance.verify(G, b, tie=tie)
        seconds = time.perf_counter() - t0
        bad = tolerance.verify(G, b + 1, tie=tie)
        cx = bad.counterexample
        rows.append(
            dict(
                n=n, b=b, s=s, L=L, redundancy=codes.redundancy(G),
                eq5=theory.eq5_redundancy(n, b), draco=theory.draco_redundancy(b),
                tolerant=ok.tolerant, fails_at_b_plus_1=not bad.tolerant,
                counterexample=None if cx is None else
                f"m={''.join('+' if x > 0 else '-' for x in cx.m)} byz={list(cx.byzantine)}",
                messages=ok.messages_checked, seconds=seconds,
            )
        )
    return pd.DataFrame(rows)


def bernoulli_tolerance(
    n: int, p_values, b_values, *, samples: int, seed=0, tie: str = "coin",
    progress: bool = False,
):
    """Fraction of random Bernoulli codes that are *perfectly* b-tolerant, versus p.

    Perfect tolerance is a deterministic property (Section 4: "no probabilistic
    codes achieve this" in the sense that a random G only has it with some
    probability); this measures that probability and the mean of
    :func:`electionlib.tolerance.max_tolerable_b` over ``samples`` codes per p.

    Returns:
        DataFrame with columns n, p, expected_r, b, fraction_tolerant, samples, and
        mean_max_b (one value per p, repeated over b).
    """
    n = v.integer("n", n, lo=1, hi=tolerance.MAX_PARTITIONS)
    samples = v.integer("samples", samples, lo=1)
    p_values = [v.real("p", p, lo=0.0, hi=1.0) for p in p_values]
    b_values = [v.integer("b", b, lo=0, hi=n) for b in b_values]
    seeds = np.random.SeedSequence(seed).spawn(len(p_values))
    rows = []
    for p, ss in _bar(list(zip(p_values, seeds, strict=True)), len(p_values), "p", progress):
        rng = np.random.default_rng(ss)
        maxb = np.array(
            [tolerance.max_tolerable_b(codes.bernoulli(n, p, rng=rng), tie=tie)
             for _ in range(samples)]
        )
        for b in b_values:
            rows.append(dict(n=n, p=p, expected_r=n * p, b=b,
                             fraction_tolerant=float((maxb >= b).mean()),
                             samples=samples, mean_max_b=float(maxb.mean())))
    return pd.DataFrame(rows)


def lemma1_table(n_values, C_values, S_values, *, tie: str = "coin"):
    """Lemma 1's bound q* beside the exact local error of the ensemble at p = p*.

    Rows where p* > 1 (small n) are kept with ``valid = False``: Lemma 1 needs
    a connection probability, so the bound says nothing there.

    Returns:
        DataFrame: n, C, S, p_star, valid, q_star, exact_local (NaN if not valid).
    """
    rows = []
    for n, C, S in itertools.product(n_values, C_values, S_values):
        p_star = theory.lemma1_p_star(n, C)
        valid = p_star <= 1.0
        rows.append(dict(
            n=n, C=C, S=S, p_star=p_star, valid=valid,
            q_star=theory.lemma1_q_star(n, C, S),
            exact_local=theory.exact_local_error_ensemble(n, p_star, S, tie) if valid else np.nan,
        ))
    return pd.DataFrame(rows)


def theorem1_table(n_values, alpha: float, C: float, S: float, *, tie: str = "coin"):
    """Theorem 1's bound beside the exact global error, for Bernoulli codes at p = p*.

    For each n the bound is ``1 / Delta*`` with ``Delta*`` the largest
    ``Delta`` satisfying condition (3) (:func:`electionlib.theory.theorem1_best_bound`),
    ``u_min = 1 - q*``; the exact error is
    :func:`electionlib.theory.exact_error_ensemble` with ``b = round(alpha n)``
    Byzantines sending ``-sign(g)``.

    Returns:
        DataFrame: n, b, alpha, p_star, u_min, bound (NaN where (3) holds for no
        Delta > 2), exact, independent (what independent workers with the exact local
        error would give: the proof's model), exact_uncoded.
    """
    alpha = v.real("alpha", alpha, lo=0.0, hi=1.0, hi_open=True)
    rows = []
    for n in n_values:
        p_star = theory.lemma1_p_star(n, C)
        if p_star > 1.0:
            continue
        u = 1.0 - theory.lemma1_q_star(n, C, S)
        b = int(round(alpha * n))
        u_exact = 1.0 - theory.exact_local_error_ensemble(n, p_star, S, tie)
        x = np.arange(n - b + 1)  # correct honest votes, if workers were independent
        independent = float(stats.binom.pmf(x, n - b, u_exact)[2 * x - (n - b) - b <= 0].sum())
        rows.append(dict(
            n=n, b=b, alpha=alpha, p_star=p_star, u_min=u,
            bound=theory.theorem1_best_bound(n, alpha, u) if u > 0 else np.nan,
            exact=theory.exact_error_ensemble(n, n, p_star, b, S, tie=tie),
            independent=independent,
            exact_uncoded=theory.exact_error_fixed(np.eye(n), list(range(b)), S, tie=tie)
            if n <= theory.MAX_FIXED_K else _uncoded_exact(n, b, S),
        ))
    return pd.DataFrame(rows)


def _uncoded_exact(n: int, b: int, S: float) -> float:
    """Uncoded SignSGD-MV under the worst attack, exactly: error iff 2X - (n-b) - b <= 0."""
    rho = theory.sign_correct_prob(S)
    honest = n - b
    # D = (#correct - #wrong) among honest - b; error iff D <= 0 <=> 2X - honest - b <= 0
    x = np.arange(honest + 1)
    return float(stats.binom.pmf(x, honest, rho)[2 * x - honest - b <= 0].sum())


def mc_grid(cells, *, trials: int, seed=0, tie: str = "coin", level: float = 0.999,
            progress: bool = False):
    """Monte-Carlo estimates with their exact values, over a list of cells.

    Each cell is a dict with keys ``code`` (``uncoded``, ``deterministic``,
    ``bernoulli``), ``n``, ``b``, ``S``, ``attack``, ``target`` and, for
    Bernoulli codes, ``r`` (expected redundancy, ``p = r/n``; the ensemble is
    sampled and computed exactly) or, for deterministic codes, ``design_b``.
    The Byzantine set of fixed codes is chosen by
    :func:`electionlib.attacks.byzantine_set` (``worst``: most loaded workers).
    The directional attack (all +1) is averaged over ``sign(g) = +1`` and ``-1``.

    Returns:
        DataFrame with the cell's keys plus mc, ci_low, ci_high, exact, trials.
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = root.spawn(len(cells))
    rows = []
    for cell, ss in _bar(list(zip(cells, seeds, strict=True)), len(cells), "MC", progress):
        c = dict(cell)
        n, b, S = c["n"], c["b"], c["S"]
        # The directional attack pushes towards +1, so it helps when sign(g) = +1: average
        # over sign(g) = +1 and -1 (half the trials each), as a coordinate of unknown sign.
        signs = (1, -1) if c["attack"] == "directional" else (1,)
        errors, exact = 0, 0.0
        for sign_g, sub in zip(signs, ss.spawn(len(signs)), strict=True):
            t = trials // len(signs)
            kw = dict(attack=c["attack"], target=c["target"], tie=tie, sign_g=sign_g)
            if c["code"] == "bernoulli":
                p = c["r"] / n
                est = montecarlo.estimate_ensemble(n, n, p, b, S, trials=t, seed=sub, **kw)
                exact += theory.exact_error_ensemble(n, n, p, b, S, **kw) / len(signs)
            else:
                G = codes.uncoded(n) if c["code"] == "uncoded" else codes.deterministic(
                    n, c.get("design_b", b))
                byz = attacks.byzantine_set(G, b, select="worst")
                est = montecarlo.estimate_fixed(G, byz, S, trials=t, seed=sub, **kw)
                exact += theory.exact_error_fixed(G, byz, S, **kw) / len(signs)
            errors += est.errors
        total = trials // len(signs) * len(signs)
        lo, hi = montecarlo.clopper_pearson(errors, total, level)
        rows.append({**c, "mc": errors / total, "ci_low": lo, "ci_high": hi, "exact": exact,
                     "trials": total})
    return pd.DataFrame(rows)


def brsgd_threshold_sensitivity(honest, *, f: int, attack: str = "gaussian", multipliers=None,
                                beta: float = 0.5, seed=0) -> pd.DataFrame:
    """BrSGD's sensitivity to its threshold 𝔗 (the paper gives no value).

    ``f`` Byzantine rows (the attack of :func:`electionlib.attacks.attack_gradient`, applied
    to copies of the first rows) are appended to the honest rows; BrSGD runs with
    ``𝔗 = multiplier * 𝔗_default`` (``𝔗_default`` = the library's median-distance rule on
    the attacked input) and the relative error ``||out - mean(honest)|| / ||mean(honest)||``
    is reported with the sizes of C1 and of the selection.

    Returns:
        DataFrame: multiplier, threshold, rel_error, c1_size, selected, fallback.
    """
    honest = np.asarray(honest, dtype=np.float64)
    h = honest.shape[0]
    rng = np.random.default_rng(seed)
    byz = np.stack([attacks.attack_gradient(attack, honest[i % h], honest=honest, n=h + f, f=f,
                                            rng=rng) for i in range(f)]) if f else honest[:0]
    x = np.vstack([honest, byz])
    default = aggregators.get("brsgd", beta=beta).trace(x).threshold
    target = honest.mean(axis=0)
    rows = []
    for mlt in multipliers or (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
        tr = aggregators.get("brsgd", beta=beta, threshold=mlt * default).trace(x)
        rows.append(dict(multiplier=mlt, threshold=mlt * default,
                         rel_error=float(np.linalg.norm(tr.output - target)
                                         / np.linalg.norm(target)),
                         c1_size=int(np.sum(tr.c1)), selected=int(np.sum(tr.selected)),
                         fallback=bool(tr.fallback)))
    return pd.DataFrame(rows)


def verdict(gap: float, paper_min: float) -> str:
    """``yes`` if ``gap >= paper_min``, ``direction only`` if ``0 < gap < paper_min``, else ``NO``.

    Example:
        >>> verdict(0.12, 0.15), verdict(0.2, 0.15), verdict(-0.01, 0.05)
        ('direction only', 'yes', 'NO')
    """
    return "yes" if gap >= paper_min else ("direction only" if gap > 0 else "NO")


def claims_table(rows) -> pd.DataFrame:
    """The "paper says / we measured / holds?" table that ends every notebook.

    Args:
        rows: iterable of ``(claim, paper_says, we_measured, holds)``; ``holds`` is a bool
            (``yes`` / ``NO``) or a string verdict such as ``"direction only"`` (the sign of
            the effect is reproduced but not its size).

    Example:
        >>> claims_table([("eq. (5)", "r = 3.8", "3.8", True)]).loc[0, "holds"]
        'yes'
    """
    out = []
    for claim, paper, measured, holds in rows:
        out.append({"claim": claim, "paper says": paper, "we measured": measured,
                    "holds?": holds if isinstance(holds, str) else ("yes" if holds else "NO")})
    return pd.DataFrame(out).rename(columns={"holds?": "holds"})



def write_summary(root, profile: str):
    """Gather every ``NN_claims.csv`` under ``root`` into ``root/SUMMARY.md`` (one table,
    with the verdict counts) and return the combined claims table."""
    from pathlib import Path


    root = Path(root)
    files = sorted(root.glob("[0-9][0-9]_claims.csv"))
    if not files:
        raise FileNotFoundError(f"no NN_claims.csv in {root}: run the notebooks first")
    claims = pd.concat([pd.read_csv(f).assign(notebook=f.name[:2]) for f in files],
                       ignore_index=True)
    lines = [f"# electionlib: reproduced claims (profile `{profile}`)", "",
             "Generated by `notebooks/05_figures.ipynb` (and again by 06) from `results/` only. "
             "Verdict `yes` means the measurement agrees with the paper's statement in this "
             "run; `NO` is reported as is.", "",
             "| notebook | claim | paper says | we measured | holds |", "|---|---|---|---|---|"]
    for r in claims.itertuples():
        cells = [str(x).replace("|", "/") for x in (r.notebook, r.claim, r[2], r[3], r.holds)]
        lines.append("| " + " | ".join(cells) + " |")
    counts = claims.holds.value_counts()
    lines += ["", f"{len(claims)} claims: " + ", ".join(f"{k}: {v}" for k, v in counts.items())
              + " ('direction only': the effect has the paper's sign but not its size)."]
    atomic_write_text(root / "SUMMARY.md", "\n".join(lines) + "\n")
    return claims


def sign_agreement(cfg: TrainConfig, params: np.ndarray | None = None, *, steps: int = 20,
                   reference: int = 4096) -> pd.DataFrame:
    """How often a partition's mini-batch gradient sign agrees with the full gradient's.

    At parameters ``params`` (default: the initial model), draws ``steps`` rounds of the
    ``k`` partition mini-batches of ``cfg`` (batch ``rho * B``) and compares each partition
    gradient's sign with that of a large-batch reference gradient (``reference`` examples),
    per coordinate. The agreement rate ``a`` of a coordinate implies an SNR
    ``S = Phi^-1(a)`` under the Gaussian model of notebooks 01 and 03, which sets how much
    a few reversed votes can do.

    Returns:
        DataFrame with one row per coordinate: ``agreement`` and ``S`` (clipped to [0, 5]),
        plus ``abs_grad`` (magnitude of the reference gradient).
    """
    fn, sampler, ds, w, st = gradients.setup(cfg, params)
    rng = np.random.default_rng(st["eval"])
    ref_idx = rng.choice(ds.n_train, size=(1, min(reference, ds.n_train)), replace=False)
    ref, _ = fn(w, ref_idx)
    ref_sign = torch.sign(ref[0])
    agree = torch.zeros(fn.d)
    for _ in range(steps):
        Gp, _ = fn(w, sampler.next())
        agree += (torch.sign(Gp) == ref_sign).float().mean(0)
    a = (agree / steps).numpy()
    S = np.clip(stats.norm.ppf(np.clip(a, 1e-6, 1 - 1e-6)), 0.0, 5.0)
    return pd.DataFrame({"agreement": a, "S": S, "abs_grad": ref[0].abs().numpy()})
