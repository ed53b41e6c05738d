# %% [markdown]
# # 04 · Training under attack: coded SignSGD-MV, DRACO, BrSGD and robust aggregators
#
# Reproduces the training claims of Section 5 and supplement A of *Election Coding* (Sohn et al.,
# NeurIPS 2020), DRACO's Table 2 (Chen et al., 2018) and BrSGD's Table 1 (Li et al.), on one
# trainer (`electionlib.train`, `sim` backend: all workers in one process, every step exactly as
# the distributed algorithm computes it).
#
# **CPU-scale stand-in.** The paper trains ResNet-18 on CIFAR-10 on GPUs; here Fashion-MNIST with
# LeNet-5 (61,706 parameters) stands in, on a subsample at the quick profile. The paper-scale
# configuration is the same code with `--dataset cifar10 --model resnet18` and the Table B.2
# hyperparameters (`./run_all.sh --full`, CIFAR-10 files supplied by the user). Every setting is
# declared in `electionlib/suites.py`; the votes use the paper's learning rate 1e-4 with momentum
# 0.9 at the master, batch B = 16 per partition; full-precision rules use SGD, lr 0.01, momentum 0.9.
#
# Time axis: a *modelled distributed time* per step — slowest worker's load × measured
# per-partition gradient time + encode + decode + bytes / 1 Gbit/s (`train.modelled_step_seconds`).

# %% tags=["parameters"]
profile = "quick"
scale = "cpu"  # "paper": Fig. 4/5 with CIFAR-10 + ResNet-18 and Table B.2 (your data, a GPU)

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import electionlib as el
from electionlib import suites as S

pd.set_option("display.max_colwidth", 120)
profile = os.environ.get("ELECTIONLIB_PROFILE", profile)
prof = el.profiles.get(profile)
ds = el.data.load("fmnist")  # stops here with the install command if Fashion-MNIST is missing
print(f"profile={profile}: Fashion-MNIST {ds.n_train} train / {ds.n_test} test, using "
      f"{prof['train_subsample']['fmnist'] or ds.n_train} / "
      f"{prof['train_test_subsample']['fmnist'] or ds.n_test}; {S.EPOCHS[profile]} epochs; "
      f"seeds {S.SEEDS[profile]}")
CLAIMS = []


def curves(df, pairs, title):
    fig, axes = el.plots.new_axes(len(pairs), 2, width=4.2, height=3.0)
    for j, (n, b) in enumerate(pairs):
        d = df[(df.n == n) & (df.b == b)]
        el.plots.training_curves(d, "epoch", ax=axes[0, j], title=f"n={n}, b={b}")
        el.plots.training_curves(d, "modelled_seconds", ax=axes[1, j])
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# %% [markdown]
# ## 1 · Fig. 4 analog: a small portion of Byzantines, reverse attack
# $(n, b) \in \{(5,1), (9,2), (15,3)\}$: no attack vs uncoded SignSGD-MV vs Bernoulli codes with
# $E[r] = 2, 3$ vs the deterministic code (Algorithm 1 designed for $b$; Byzantines are its most
# loaded workers). The paper: codes "nearly achieve the ideal performance", 5–10% above uncoded.

# %%
pairs4 = [(5, 1), (9, 2), (15, 3)]
fig4 = S.run_grid(S.figure_grid(pairs4, profile, scale=scale))
fig = curves(fig4, pairs4, "Fig. 4 analog (Fashion-MNIST, LeNet-5): test accuracy vs epoch "
             "(top) and vs modelled time (bottom)")
el.experiments.save_figure(fig, "04_fig4_analog")
plt.show()
t4 = S.final_table(fig4, ["n", "b", "scheme"])
t4.pivot_table(index=["n", "b"], columns="scheme", values="mean").round(4)


# %%
def same_as_clean(df, n, b):
    """Deterministic code under attack vs the attack-free run: identical accuracy curves?"""
    d = df[(df.n == n) & (df.b == b)]
    det = d[d.scheme.str.startswith("Det.")].sort_values(["seed", "step"]).accuracy.to_numpy()
    clean = d[d.scheme == "no attack"].sort_values(["seed", "step"]).accuracy.to_numpy()
    return len(det) == len(clean) and np.array_equal(det, clean)


identical4 = all(same_as_clean(fig4, n, b) for n, b in pairs4)
piv4 = t4.pivot_table(index=["n", "b"], columns="scheme", values="mean")
gain4 = (piv4[["Bern. code E[r]=2", "Bern. code E[r]=3"]].max(axis=1)
         - piv4["SignSGD-MV (uncoded)"])
CLAIMS += [
    ("Fig. 4 / Theorem 3", "deterministic code = attack-free run (b ≤ design b)",
     f"accuracy curves identical to the attack-free run at all {len(pairs4)} (n, b), every seed",
     identical4),
    ("Fig. 4", "codes 5–10% above uncoded (ResNet-18/CIFAR-10)",
     "best Bernoulli − uncoded: " + ", ".join(f"n={n}: {g:+.1%}" for (n, _), g in gain4.items()),
     el.analysis.verdict(gain4.min(), 0.05)),
]
print(f"deterministic == attack-free: {identical4}; Bernoulli gain over uncoded: "
      + ", ".join(f"{g:+.2%}" for g in gain4))

# %% [markdown]
# ## 2 · Fig. 5 analog: a large portion of Byzantines
# $(n, b) \in \{(5,2), (9,3), (15,6)\}$. For $n=5, b=2$ Algorithm 1 cannot be designed for $b$
# ($b < \lfloor n/2 \rfloor$ is required): it is designed for $\hat b = 1$, as in supplement A.2.

# %%
pairs5 = [(5, 2), (9, 3), (15, 6)]
fig5 = S.run_grid(S.figure_grid(pairs5, profile, scale=scale))
fig = curves(fig5, pairs5, "Fig. 5 analog: test accuracy vs epoch (top) and modelled time "
             "(bottom)")
el.experiments.save_figure(fig, "04_fig5_analog")
plt.show()
t5 = S.final_table(fig5, ["n", "b", "scheme"])
t5.pivot_table(index=["n", "b"], columns="scheme", values="mean").round(4)

# %%
piv5 = t5.pivot_table(index=["n", "b"], columns="scheme", values="mean")
unc = piv5["SignSGD-MV (uncoded)"]
order_ok = {}
for (n, b), row in piv5.iterrows():
    det = row[[c for c in piv5.columns if c.startswith("Det.")]].dropna().iloc[0]
    bern = max(row["Bern. code E[r]=2"], row["Bern. code E[r]=3"])
    order_ok[(n, b)] = det >= bern - 0.01 and bern >= row["SignSGD-MV (uncoded)"] - 0.01
print("ordering attack-free ≈ deterministic ≥ Bernoulli ≥ uncoded (1-point slack):",
      {f"n={n},b={b}": ok for (n, b), ok in order_ok.items()})
CLAIMS += [
    ("Fig. 5", "codes keep high accuracy; 15–30% above uncoded when b/n is large",
     "best code − uncoded: " + ", ".join(
         f"n={n},b={b}: {piv5.loc[(n, b)].drop('no attack').max() - unc[(n, b)]:+.1%}"
         for n, b in pairs5),
     el.analysis.verdict((piv5.drop(columns="no attack").max(axis=1) - unc).min(), 0.15)),
    ("Ordering (issue)", "attack-free ≈ deterministic ≥ Bernoulli E[r]=2,3 ≥ uncoded at b/n ≥ 1/3",
     f"holds at {sum(order_ok.values())}/{len(order_ok)} (n, b) (1-point slack)",
     all(order_ok.values())),
]

# %% [markdown]
# ## 3 · Supplement A analogs (one seed)
# A.2 mismatch (code designed for $\hat b = 1$, attacked by $b = 2$), A.3 maximum Byzantines
# $b = (n-1)/2$, A.4 reduced redundancy ($\rho = 0.5$: batch $\rho B$, $r_\text{eff} = \rho r$),
# A.5 noisy partition gradients ($\sigma^2 = 10^{-8}$), A.6 full gradient + median (FGM, 32×
# the communication of 1-bit votes).

# %%
app = S.run_grid(S.appendix_grid(profile))
sections = list(dict.fromkeys(app.section))
fig, axes = el.plots.new_axes(len(sections), 1, width=3.6, height=3.0)
for ax, sec in zip(axes[0], sections, strict=True):
    el.plots.training_curves(app[app.section == sec], "epoch", ax=ax, title=sec)
    ax.legend(fontsize=6)
fig.tight_layout()
el.experiments.save_figure(fig, "04_appendix_analogs")
plt.show()
tA = S.final_table(app, ["section", "scheme"])
tA

# %%
fa = tA.set_index(["section", "scheme"])["mean"]
mis = fa["A.2 mismatch n=5 b=2"]
mx = fa["A.3 max Byzantines n=9 b=4"]
red = fa["A.4 reduced redundancy n=15 b=6"]
fgm = fa["A.6 vs FGM n=15 b=6"]
CLAIMS += [
    ("A.2 mismatch", "code for b̂=1 still beats uncoded at b=2 (>20% gap)",
     f"Det. (b̂=1) {mis['Det. code (b̂=1)']:.3f} vs uncoded {mis['SignSGD-MV (uncoded)']:.3f}",
     el.analysis.verdict(mis["Det. code (b̂=1)"] - mis["SignSGD-MV (uncoded)"], 0.20)),
    ("A.3 max b", "Bernoulli codes > uncoded at b=(n-1)/2 (>20% gap)",
     f"E[r]=2: {mx['Bern. code E[r]=2']:.3f}, E[r]=3: {mx['Bern. code E[r]=3']:.3f}, uncoded "
     f"{mx['SignSGD-MV (uncoded)']:.3f}",
     el.analysis.verdict(max(mx["Bern. code E[r]=2"], mx["Bern. code E[r]=3"])
                         - mx["SignSGD-MV (uncoded)"], 0.20)),
    ("A.4 ρ=0.5", "r_eff = 1.5 still beats uncoded (20–30% gap)",
     f"{red['Bern. E[r]=3, ρ=0.5 (r_eff=1.5)']:.3f} vs uncoded "
     f"{red['SignSGD-MV (uncoded)']:.3f}",
     el.analysis.verdict(red["Bern. E[r]=3, ρ=0.5 (r_eff=1.5)"] - red["SignSGD-MV (uncoded)"],
                         0.20)),
    ("A.6 FGM", "coded votes (r_eff=1.5) beat FGM at b=6 with 32x less communication",
     f"code {fgm.drop('FGM (full gradient + median)').iloc[0]:.3f} vs FGM "
     f"{fgm['FGM (full gradient + median)']:.3f}",
     fgm.drop("FGM (full gradient + median)").iloc[0] > fgm["FGM (full gradient + median)"]),
]

# %% [markdown]
# ## 4 · Fig. 6a analog: Amazon Employee Access, logistic regression
# $d = 263{,}500$ one-hot features (encoders fitted on all rows, as the reference implementation
# did), $n = 15$, $b = 5$, directional attack (all ones), batch 15 per partition, momentum per
# partition at the workers ($v \leftarrow 0.9v + 0.1g$), lr $10^{-3}$ for the first epoch then
# $10^{-4}$, ternary votes (`tie="abstain"`: most coordinates of a sparse gradient are exactly 0).

# %%
amz = S.run_grid(S.amazon_grid(profile))
fig, axes = el.plots.new_axes(2, 1)
el.plots.training_curves(amz, "epoch", "auc", ax=axes[0, 0], title="test AUC vs epoch")
el.plots.training_curves(amz, "modelled_seconds", "auc", ax=axes[0, 1],
                         title="test AUC vs modelled time")
axes[0, 0].axhline(0.7, color="gray", ls=":", lw=1)
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
el.experiments.save_figure(fig, "04_fig6_amazon")
plt.show()
tz = S.final_table(amz, ["scheme"], metric="auc")
tt = S.time_to_accuracy(amz, ["scheme"], [0.6, 0.7], metric="auc")
tz.merge(tt, on="scheme")

# %%
fz = tz.set_index("scheme")["mean"]
CLAIMS += [("Fig. 6a", "Bernoulli E[r]=2 clearly above uncoded under the directional attack; "
            "AUC 0.7 reached sooner",
            f"AUC E[r]=2 {fz['Bern. code E[r]=2']:.3f} vs uncoded "
            f"{fz['SignSGD-MV (uncoded)']:.3f} (no attack {fz['no attack']:.3f})",
            fz["Bern. code E[r]=2"] > fz["SignSGD-MV (uncoded)"])]

# %% [markdown]
# ## 5 · DRACO Table 2 analog
# DRACO (Theorem 3.1: redundancy $r \ge 2s+1$) with the repetition and the cyclic code vs the
# geometric median and the plain mean, $n = 15$, reversed-gradient ($-100g$) and constant ($-100$)
# attacks by $s = 1, 2$ nodes. Speed-up = time for the geometric median to reach an accuracy
# divided by DRACO's time.

# %%
dr = S.run_grid(S.draco_grid(profile))
dr["label"] = dr.scheme + " s=" + dr.s.astype(str)
fig, axes = el.plots.new_axes(2, 1)
for ax, attack in zip(axes[0], ["reversed_gradient", "constant"], strict=True):
    d = dr[(dr.attack == attack) | (dr.attack == "none")]
    el.plots.training_curves(d, "modelled_seconds", hue="label", ax=ax, title=f"{attack} attack")
    ax.legend(fontsize=6)
fig.tight_layout()
el.experiments.save_figure(fig, "04_draco_table2")
plt.show()
tD = S.final_table(dr, ["attack", "s", "scheme"])
targets = [0.6, 0.7]
ttD = S.time_to_accuracy(dr, ["attack", "s", "scheme"], targets)
tD.merge(ttD, on=["attack", "s", "scheme"])

# %%
fd = tD.set_index(["attack", "s", "scheme"])["mean"]
clean_curve = dr[dr.scheme == "mean (no attack)"].sort_values("step").accuracy.to_numpy()
dev = {}
for c in ("DRACO repetition", "DRACO cyclic"):
    dev[c] = max(np.abs(g.sort_values("step").accuracy.to_numpy() - clean_curve).max()
                 for _, g in dr[dr.scheme == c].groupby(["attack", "s"]))
tt60 = ttD.set_index(["attack", "s", "scheme"])["60%"]
speedup = {(a, s_): tt60[(a, s_, "geometric median")] / tt60[(a, s_, "DRACO repetition")]
           for a in ("reversed_gradient", "constant") for s_ in (1, 2)}
print("largest accuracy gap to the attack-free run:", {k: round(x, 4) for k, x in dev.items()})
print("speed-up of DRACO repetition over the geometric median to 60%:",
      {f"{a} s={s_}": round(x, 2) for (a, s_), x in speedup.items()})
mean_broken = all(fd[(a, s, "mean")] < 0.3 for a in ("reversed_gradient", "constant")
                  for s in (1, 2))
CLAIMS += [
    ("DRACO Thm 3.1/Table 2", "DRACO recovers the attack-free update for ≤ s adversaries",
     "max accuracy gap to the attack-free run over all evaluations: "
     + ", ".join(f"{c}: {x:.4f}" for c, x in dev.items()), max(dev.values()) <= 0.005),
    ("DRACO Table 2", "DRACO reaches a given accuracy faster than the geometric median",
     "speed-up to 60% (modelled time): " + ", ".join(
         f"{a[:8]} s={s_}: {x:.2f}x" for (a, s_), x in speedup.items()),
     all(x > 1 for x in speedup.values())),
    ("DRACO Table 2", "plain mean collapses under these attacks",
     f"mean < 0.3 in all four attack cells: {mean_broken}", mean_broken),
]

# %% [markdown]
# ## 6 · BrSGD Table 1 analog
# LeNet, Fashion-MNIST, $m = 20$ workers, $\alpha \in \{10, 25, 50\}\%$ Byzantine, the four attacks
# of BrSGD (Gaussian σ=200, model negation −10¹⁰Σ, gradient scale ×10¹⁰, label shift 9−y); BrSGD
# (β = ½, 𝔗 = the library's documented default) vs coordinate median vs mean vs Krum. At α = 50%
# the honest-majority assumption of every rule here is broken.

# %%
br = S.run_grid(S.brsgd_grid(profile))
tB = S.final_table(br, ["alpha", "attack", "rule"])
tab1 = tB.pivot_table(index=["alpha", "attack"], columns="rule", values="mean").round(3)
tab1

# %%
fig, ax = plt.subplots(figsize=(7, 3.4))
im = ax.imshow(tab1.values, cmap="RdYlGn", vmin=0, vmax=max(0.9, np.nanmax(tab1.values)))
ax.set_xticks(range(tab1.shape[1]), tab1.columns)
ax.set_yticks(range(tab1.shape[0]), [f"α={a:.0%} {t}" for a, t in tab1.index], fontsize=7)
for (i, j), val in np.ndenumerate(tab1.values):
    ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=7)
fig.colorbar(im, ax=ax, label="final test accuracy")
ax.set_title("BrSGD Table 1 analog (m = 20, LeNet-5, Fashion-MNIST)", fontsize=10)
el.experiments.save_figure(fig, "04_brsgd_table1")
plt.show()

# %% [markdown]
# **BrSGD's threshold 𝔗.** The paper gives no value; the library's default is the median over
# workers of the ℓ1 distance to the coordinate-wise median (`aggregators.BrSGD`). Sensitivity,
# on real LeNet partition gradients at initialisation (15 honest + 5 attacked rows): the error of
# the aggregate relative to the honest mean, for 𝔗 from 1/8 to 8 times the default.

# %%
g20 = el.train.partition_gradients(S.brsgd_grid(profile)[0][1])
sens = pd.concat([el.analysis.brsgd_threshold_sensitivity(g20[:15], f=5, attack=a).assign(attack=a)
                  for a in ("gaussian", "model_negation", "gradient_scale")])
sens.pivot_table(index="multiplier", columns="attack", values="rel_error").round(3)

# %%
b25 = tab1.loc[[a for a in tab1.index if a[0] in (0.10, 0.25)]]
mean_coll = all(tab1.loc[(a, t), "mean"] < 0.3 for a in (0.10, 0.25)
                for t in ("gaussian", "model_negation"))
mean_ok = all(tab1.loc[(a, t), "mean"] > 0.5 for a in (0.10, 0.25) for t in ("label_shift",))
brsgd_ok = bool((b25["brsgd"] > 0.5).all())
med_scale = {a: tab1.loc[(a, "gradient_scale"), "median"] for a in (0.25, 0.5)}
CLAIMS += [
    ("BrSGD Table 1", "mean collapses under Gaussian and model negation (α ≤ 25%)",
     f"mean < 0.3 in those cells: {mean_coll}", mean_coll),
    ("BrSGD Table 1", "mean survives label shift", f"mean > 0.5 under label shift: {mean_ok}",
     mean_ok),
    ("BrSGD Table 1", "mean survives gradient scale (×1e10)",
     "mean accuracy: " + ", ".join(f"α={a:.0%}: {tab1.loc[(a, 'gradient_scale'), 'mean']:.2f}"
                                   for a in (0.10, 0.25)),
     all(tab1.loc[(a, "gradient_scale"), "mean"] > 0.5 for a in (0.10, 0.25))),
    ("BrSGD Table 1", "BrSGD stays accurate under all four attacks for α ≤ 25%",
     f"BrSGD > 0.5 in all 8 cells: {brsgd_ok}", brsgd_ok),
    ("BrSGD Table 1", "median fails under gradient scale at 25–50%",
     "median accuracy: " + ", ".join(f"α={a:.0%}: {v:.2f}" for a, v in med_scale.items()),
     all(x < 0.5 for x in med_scale.values())),
]

# %% [markdown]
# ## 7 · Sign agreement of the partition gradients
# A reversed vote matters only on coordinates where the honest partition signs are split. We
# measure, per coordinate, how often a partition's mini-batch gradient sign ($B = 16$) agrees
# with a large-batch gradient's sign, at initialisation and after attack-free training of the
# $n = 9$ configuration, and translate it into the SNR $S = \Phi^{-1}(\text{agreement})$ of
# notebooks 01/03. Sign descent moves every coordinate by the same step, so what matters for
# progress is the agreement on the coordinates that carry the gradient's mass: we report the
# median coordinate and the top decile by $|g|$, and the exact error of the master's vote
# (notebook 03's computation, worst-case attack by $b = 3$ of $n = 9$) at those SNRs.

# %%
cfg9 = S.figure_grid([(9, 3)], profile, seeds=(0,))[0][1]  # the attack-free n=9 run
trained = el.train.run(cfg9, progress=False).params
sa = pd.concat([el.train.sign_agreement(cfg9).assign(model="initial"),
                el.train.sign_agreement(cfg9, trained).assign(model="trained (no attack)")])
fig, ax = plt.subplots(figsize=(5, 3))
for key, d in sa.groupby("model"):
    ax.hist(d.agreement, bins=40, alpha=0.5, label=key, density=True)
ax.set(xlabel="partition sign agreement with the large-batch sign", ylabel="density")
ax.legend(fontsize=8)
el.experiments.save_figure(fig, "04_sign_agreement")
plt.show()
rows = []
for key, d in sa.groupby("model"):
    top = d[d.abs_grad >= d.abs_grad.quantile(0.9)]
    for where, S_ in [("median coordinate", float(d.S.median())),
                      ("top 10% by |g|", float(top.S.median()))]:
        rows.append(dict(model=key, coordinates=where, S=S_,
                         agreement=float(el.theory.sign_correct_prob(S_)),
                         no_attack=el.theory.exact_error_fixed(np.eye(9), [], S_),
                         uncoded_b3=el.theory.exact_error_fixed(np.eye(9), [6, 7, 8], S_),
                         bern_r2_b3=el.theory.exact_error_ensemble(9, 9, 2 / 9, 3, S_)))
pd.DataFrame(rows).round(4)

# %% [markdown]
# ### Per-partition batch and momentum placement
# The gain of coding over uncoded voting at $(n, b) = (9, 3)$, reverse attack, one seed, for
# $B \in \{4, 16, 64\}$ and momentum at the master (the CIFAR-10 runs) or per partition at the
# workers before the sign (the Amazon runs; lr $10^{-3}$ so the effective step matches). The
# settings were declared before running (`suites.sensitivity_grid`) and all are shown.

# %%
sens_runs = S.run_grid(S.sensitivity_grid(profile))
tS = S.final_table(sens_runs, ["batch", "momentum", "scheme"]).pivot_table(
    index=["batch", "momentum"], columns="scheme", values="mean")
tS["coding gain"] = tS["Bern. code E[r]=3"] - tS["SignSGD-MV (uncoded)"]
tS["attack cost (uncoded)"] = tS["no attack"] - tS["SignSGD-MV (uncoded)"]
tS.round(3)

# %% [markdown]
# ## 8 · The same experiment over MPI
# $n = 9$, $b = 3$, reverse attack: uncoded vs Bernoulli $E[r]=2$, run through `mpiexec`
# (1 parameter server + 9 workers, one thread each, on this 2-core machine; the workers send
# 1-bit votes as typed buffers, `electionlib.mpi_backend`) and overlaid on the sim backend's
# curves for the same configuration and seed (section 2). Without parity mode the workers batch
# their own partitions, so the curves agree up to float rounding; `tests/test_mpi.py` checks
# bit-identity in parity mode. Bytes per worker per step and the per-step time breakdown are
# measured by the MPI runs.

# %%
mpi_cfgs = [(lab, c) for lab, c in S.figure_grid([(9, 3)], profile, seeds=(0,), scale=scale)
            if lab["scheme"] in ("SignSGD-MV (uncoded)", "Bern. code E[r]=2")]
mpi_runs = {lab["scheme"]: el.mpi_backend.launch(c) for lab, c in mpi_cfgs}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
sim9 = fig5[(fig5.n == 9) & (fig5.b == 3) & (fig5.seed == 0)]
for scheme, r in mpi_runs.items():
    d = sim9[sim9.scheme == scheme]
    line, = ax.plot(d.epoch, d.accuracy, "-", label=f"{scheme} (sim)")
    ax.plot(r["metrics"].epoch, r["metrics"].accuracy, "o--", ms=3, color=line.get_color(),
            label=f"{scheme} (MPI, 10 ranks)")
ax.set(xlabel="epoch", ylabel="accuracy", title="n=9, b=3, reverse attack: sim vs MPI (seed 0)")
ax.legend(fontsize=7)
el.experiments.save_figure(fig, "04_mpi_vs_sim")
plt.show()
d = mpi_runs["Bern. code E[r]=2"]["model_dimension"]
pd.DataFrame([{"scheme": k, "final accuracy (MPI)": r["final_accuracy"],
               "final accuracy (sim)": sim9[sim9.scheme == k].accuracy.iloc[-1],
               "bytes/worker/step (votes)": r["bytes_per_worker_per_step"],
               "bytes/worker/step (float32 would be)": 4 * d + 16,
               **{f"{key} (ms/step)": 1e3 * v for key, v in r["timing_per_step"].items()}}
              for k, r in mpi_runs.items()]).round(3).T

# %% [markdown]
# ## Claims
# Each row: the paper's statement, what this run measured, and whether it holds here. Note for the
# comparison with the paper's figures: the reference implementation's single-process CIFAR-10
# script loops over ranks n−1..1, so it simulates n−1 workers and can draw a Byzantine index that
# never runs; our trainer runs exactly n workers and b Byzantines. The CPU stand-in
# (LeNet-5 on Fashion-MNIST, two epochs at quick) shows smaller gaps than ResNet-18 on CIFAR-10
# at small b/n; section 7 gives the measured sign agreement behind that.

# %%
claims = el.analysis.claims_table(CLAIMS)
el.experiments.atomic_write_text(el.experiments.results_dir() / "04_claims.csv",
                                 claims.to_csv(index=False))
claims
