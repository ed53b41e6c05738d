# %% [markdown]
# # 07 · Beyond the paper: heterogeneous data, every attack, and bytes on the wire
#
# The papers split the training data i.i.d. Here the partitions follow Dirichlet label splits
# (each class spread over the 15 partitions with proportions drawn from Dir(α); α = ∞ is the
# paper's i.i.d. split), every scheme faces **every attack that applies to it**, and each
# scheme is reduced to its **worst case over attacks**: the accuracy a defender can count on
# without knowing the attack. Beside it: the bytes each worker sends per step, measured.
#
# Vote schemes and real-valued rules face different attack sets (an attack on a real vector
# has no meaning for a 1-bit vote, and a vote attack none for a float gradient), so worst
# cases are compared only within a family. **Nothing here is a claim of the papers**: the two
# verdicts at the end are the project's own findings, decided by rules declared in
# `electionlib/claims.py` before the runs were read.

# %% tags=["parameters"]
profile = "quick"

# %%
import math
import os

import numpy as np
import pandas as pd

import electionlib as el
from electionlib import heterogeneity as H
from electionlib import suites as S

pd.set_option("display.max_colwidth", 100)
pd.set_option("display.width", 160)
profile = os.environ.get("ELECTIONLIB_PROFILE", profile)
root = el.experiments.results_dir()
P = H.PROFILE[profile]
entries = H.grid(profile)
print(f"profile={profile}: n={P['n']}, b in {P['bs']}, α in {P['alphas']}, seeds {P['seeds']}, "
      f"{len(P['methods'])} schemes, {len(entries)} runs; budget: {S.budget(entries)}")

# %% [markdown]
# **What this profile keeps.** `full` trains the whole grid: 12 schemes (uncoded votes,
# Bernoulli E[r] = 2 and 3, the deterministic code; median, trimmed mean, Krum, BrSGD,
# centered clipping alone, after NNM and after bucketing, DRACO's cyclic code), α ∈ {∞, 1, 0.1},
# b ∈ {0, 3, 5} of n = 15, three seeds, all of Fashion-MNIST. `quick` keeps **every attack**
# and cuts the rest: 8 schemes (no Bernoulli E[r] = 2, Krum, BrSGD or bucketing), α ∈ {∞, 0.1},
# one seed, 6,000 training examples and 2 epochs (50 steps). `ci` is a smoke test (a few
# attacks, six steps). Optimisers (both families train the same 50 steps): Signum at lr 1e-3
# for votes, SGD at lr 0.05 for real-valued rules, momentum 0.9 at the master. The robust
# schemes are designed for the cell's b (for b = 0: as for the smallest attacked b). DRACO's
# repetition code needs n to be a multiple of 2s + 1 (15 is not, at s = 3 or 5), so DRACO runs
# its cyclic code.

# %% [markdown]
# ## 1. The partitioners
# `el.data.partition(labels, k, rng=..., scheme=...)`: each bar is one of the 15 partitions of
# the training set, coloured by label. Every example lies in exactly one partition (tested).

# %%
ds = el.data.load("fmnist", subsample=P["subsample"] or 60000, rng=np.random.default_rng(0))
splits = [("i.i.d.", dict(scheme="iid")), ("Dirichlet α=1", dict(scheme="dirichlet", alpha=1.0)),
          ("Dirichlet α=0.1", dict(scheme="dirichlet", alpha=0.1)),
          ("shards, 2 per partition", dict(scheme="shards", labels_per_partition=2))]
fig, axes = el.plots.new_axes(4, 1, width=3.3, height=2.6)
for ax, (name, kw) in zip(axes[0], splits, strict=True):
    parts = el.data.partition(ds.y_train, P["n"], rng=np.random.default_rng(1), **kw)
    el.plots.label_mix(el.data.label_mix(ds.y_train, parts, n_classes=10), ax=ax, title=name)
axes[0, -1].legend(title="label", fontsize=6, ncol=2, loc="upper right", framealpha=0.9)
fig.tight_layout()
_ = el.experiments.save_figure(fig, "07_label_mix")

# %% [markdown]
# ## 2. Heterogeneity and the vote
# Each partition's mini-batch gradient sign is compared, per coordinate, with the sign of the
# full gradient (4,096 examples of the whole training set) at the model of the attack-free
# uncoded i.i.d. run after training, over 10 mini-batches. Under the i.i.d. split every
# partition agrees at the same rate; under a Dirichlet split each agrees at its own, and some
# agree **less than half the time**: their votes point away from the global descent direction.
#
# The exact vote-error model of notebooks 01 and 03 (Theorem 1) assumes identically
# distributed partition signs. Under heterogeneity it does not hold. What replaces it:
# per coordinate, the exact error over every pattern of independent partitions each correct
# with **its own measured probability** (`theory.exact_error_fixed(..., rho=...)`), averaged
# over coordinates drawn at random (Monte-Carlo over the measured agreements). `iid_model` is
# the same with every partition at the coordinate's mean agreement, so the difference between
# the two columns is heterogeneity alone. The Byzantines are the allocation-aware adversary.

# %%
clean_iid = [c for lab, c in entries if lab["method"] == "uncoded" and lab["b"] == 0
             and math.isinf(lab["alpha"])][0]
trained = el.train.run_cached(clean_iid, need_params=True, progress=False).params
study = el.experiments.cached_table(
    "heterogeneity_vote", dict(profile=profile, config=clean_iid.to_dict(), coords=P["coords"],
                               version=2),
    lambda: H.vote_study(clean_iid, trained, coords=P["coords"]))
agree = study[study.table == "agreement"]
errors = study[study.table == "error"].dropna(axis=1, how="all")
fig, axes = el.plots.new_axes(2, 1, width=4.4, height=3.0)
for alpha, g in agree.groupby("alpha", sort=False):
    axes[0, 0].plot(g.partition, g.agreement, "o-", ms=3, label=H.alpha_label(alpha))
axes[0, 0].axhline(0.5, color="grey", lw=0.8, ls=":")
axes[0, 0].set(xlabel="partition j", ylabel="sign agreement with the full gradient",
               title="per-partition agreement (mean over coordinates)")
axes[0, 0].legend(fontsize=7)
for (method, b), g in errors[errors.b.isin([0, 5])].groupby(["method", "b"], sort=False):
    x = [("∞" if math.isinf(a) else f"{a:g}") for a in g.alpha]
    axes[0, 1].plot(x, g.error, "o-" if b else "o--", ms=3, color=el.plots.SCHEME_COLORS[method],
                    label=f"{el.methods.label(method)}, b={b}")
axes[0, 1].set(xlabel="Dirichlet α", ylabel="P(update sign ≠ full-gradient sign)",
               title="the master's error, allocation-aware adversary")
axes[0, 1].legend(fontsize=6)
fig.tight_layout()
_ = el.experiments.save_figure(fig, "07_agreement")
errors.pivot_table(index=["alpha", "method"], columns="b", values=["error", "iid_model"]).round(3)

# %% [markdown]
# ## 3. Every scheme against every attack
# Runs are cached by the hash of their configuration (`results/train/`), so an interrupted grid
# resumes. Real-valued attacks: reversed gradient, constant, Gaussian, model negation, gradient
# scale, label shift, ALIE, IPM, Mimic, Inf, NaN, MinMax, MinSum and Fang's attack on trimmed
# mean and median. Vote attacks: reverse, directional, random, worst (the reverse of the true
# majority), stochastic sign flips (q = 0.75), and the worst case sent by the
# **allocation-aware** set (the Byzantines that maximise the master's exact error for the run's
# G, fixed for the run).

# %%
df = S.run_grid(entries, progress=False)
final = H.final_accuracy(df)
worst = H.worst_case(final)
best = H.best_per_cell(worst)
el.experiments.save_table(worst, "07_worst_case")
attacks_faced = final.groupby("family").attack.unique().map(lambda a: sorted(set(a) - {"none"}))
print({k: len(v) for k, v in attacks_faced.items()}, "attacks per family")
final.pivot_table(index=["family", "method", "split", "b"], columns="attack",
                  values="accuracy").round(2)

# %% [markdown]
# ## 4. Worst-case heat maps
# One panel per scheme: the minimum final test accuracy over the attacks of its family, with
# b/n across and α down; each attacked cell names its worst attack. The last two panels name
# the best scheme of each family per cell (worst cases compared only within a family).

# %%
methods = [m for m in P["methods"] if m in set(worst.method)]  # votes first
cols = 5
rows_n = math.ceil((len(methods) + 2) / cols)
fig, axes = el.plots.new_axes(cols, rows_n, width=2.7, height=2.3, layout="constrained")
flat = axes.ravel()
for i, m in enumerate(methods):
    fam = "vote attacks" if H.family(m) == "votes" else "real-valued attacks"
    im = el.plots.worst_case_heatmap(worst, m, ax=flat[i],
                                     title=f"{el.methods.label(m)}\n({fam})")
el.plots.best_scheme_heatmap(best, "votes", ax=flat[len(methods)],
                             title="best vote scheme\n(vote attacks)")
el.plots.best_scheme_heatmap(best, "real-valued", ax=flat[len(methods) + 1],
                             title="best real-valued rule\n(real-valued attacks)")
for i, ax in enumerate(flat):
    if i >= len(methods) + 2:
        ax.axis("off")
    elif i % cols:
        ax.set_ylabel("")
        ax.set_yticklabels([])
fig.colorbar(im, ax=axes, shrink=0.6, label="worst-case test accuracy")
_ = el.experiments.save_figure(fig, "07_worst_case")

# %% [markdown]
# ## 5. Robustness against bytes on the wire
# Worst-case accuracy at the largest b against the bytes each worker sends per step, as both
# backends measure them (payload plus the 16-byte frame header): 1-bit votes send
# ⌈d/8⌉ + 16 bytes, float32 rules 4d + 16, DRACO's cyclic code complex128, 16d + 16. The two
# families are drawn apart because their worst cases are over different attack sets; the
# bytes axis is shared.

# %%
top = worst[worst.b == worst.b.max()]
fig, axes = el.plots.new_axes(2, 1, width=4.6, height=3.4, sharex=True)
for ax, fam, what in ((axes[0, 0], "votes", "vote attacks"),
                      (axes[0, 1], "real-valued", "real-valued attacks")):
    el.plots.robustness_vs_bytes(top[top.family == fam], ax=ax,
                                 title=f"{fam}, worst over the {what}, b/n = "
                                       f"{top.b_frac.iloc[0]}\n(points of one scheme joined "
                                       "across α)")
    ax.legend(fontsize=6, loc="best")
fig.tight_layout()
_ = el.experiments.save_figure(fig, "07_bytes")
top[["scheme", "split", "worst_accuracy", "worst_attack", "bytes_per_worker_per_step"]]

# %% [markdown]
# ## 6. Findings
# Two verdicts of the project (not the papers'): does election coding raise the worst case over
# every vote attack above uncoded SignSGD-MV, on the i.i.d. split (a control: the paper's
# setting) and on Dirichlet splits? The rule (`het-gain-*` in `electionlib/claims.py`): the best
# of Bernoulli E[r] = 3 and the deterministic code minus uncoded, paired by seed, in every cell;
# yes at ≥ 2 points, direction only above 0, NO otherwise; the worst cell decides. A profile
# that trains fewer cells is judged on the cells it trains, and says so (a cell it trains but
# the table lacks is an error). At `ci` (six steps) the verdicts are `n/a`.

# %%
table = H.coding_gain_table(H.worst_by_seed(final))
rows = []
for cid in ("het-gain-iid", "het-gain-dirichlet"):  # the cells this profile trains
    cells = [c for c in el.claims.get(cid).cells if c in H.gain_cells(profile)]
    rows.append(el.claims.judge(cid, table, budget=S.budget(entries), profile=profile,
                                cells=cells))
claims = el.claims.rows_table(rows)
el.experiments.atomic_write_text(root / "07_claims.csv", claims.to_csv(index=False))
print(H.finding(worst))
claims[["id", "cells", "outcome", "measured"]]

# %% [markdown]
# **The finding, in words** (quick profile, one seed, 50 steps; the numbers above are the
# evidence and `full` repeats it at three seeds on all of Fashion-MNIST).
#
# * *Where the coding gain survives.* Algorithm 1's deterministic code returns the partition
#   majority whatever the Byzantines send, so its worst case over every vote attack equals
#   its attack-free accuracy on the i.i.d. and on the Dirichlet split alike (0.759 and 0.698
#   at both b), while uncoded SignSGD-MV falls to 0.469 and 0.013 at α = 0.1 (b = 3, 5). Its
#   gain over uncoded voting is larger under heterogeneity (+22.9 and +68.5 points) than on
#   the i.i.d. split (+9.1 and +24.5).
# * *Where it does not.* The Bernoulli code's gain, probabilistic in the paper, does not
#   survive at α = 0.1 with b = 3 (0.466 against 0.469), and it keeps only part of it at b = 5
#   (0.366 against 0.013). Heterogeneity itself costs every vote scheme: each partition agrees
#   with the full gradient's sign at its own rate and the master's error rises without any
#   attacker (section 2) — no code recovers what the partitions' majority has lost.
# * The float32 rules, at 32× the bytes of a vote, fall to 0.01–0.32 in the worst case at this
#   budget (MinMax, MinSum, model negation, constant); only DRACO's exact decoding holds
#   (0.66–0.68), at 128× the bytes of a vote.
