# %% [markdown]
# # 05 · Figures and summary, regenerated from `results/` only
#
# Reads what notebooks 01–04 stored (cached tables and training runs, keyed by the hash of their
# configuration) and redraws the headline figures in the paper's layout, as PNG and PDF in
# `results/figures/`, shows the committed full-profile tables and every verdict so far.
# **Nothing is trained or simulated here**: a missing result stops the notebook with the name of
# the notebook to run first.

# %% tags=["parameters"]
profile = "quick"
scale = "cpu"  # "paper": Fig. 4/5 with CIFAR-10 + ResNet-18 and Table B.2 (your data, a GPU)

# %%
import json
import os

import matplotlib.pyplot as plt
import pandas as pd

import electionlib as el
from electionlib import suites as S

pd.set_option("display.max_colwidth", 120)
profile = os.environ.get("ELECTIONLIB_PROFILE", profile)
root = el.experiments.results_dir()
missing = [nb for nb in ("01", "02", "03", "04") if not (root / f"{nb}_claims.csv").is_file()]
if missing:
    raise FileNotFoundError(f"results of notebooks {missing} are missing: run them first "
                            "(./run_all.sh runs every notebook in order)")
print(f"profile={profile}; reading {root}")

# %% [markdown]
# ## Fig. 4 and Fig. 5 in the paper's layout
# Two rows per figure: test accuracy against epoch, and against (modelled) training time.

# %%
for name, pairs in [("fig4", [(5, 1), (9, 2), (15, 3)]), ("fig5", [(5, 2), (9, 3), (15, 6)])]:
    df = S.run_grid(S.figure_grid(pairs, profile, scale=scale), only_cached=True, progress=False)
    fig, axes = el.plots.new_axes(len(pairs), 2, width=4.0, height=2.9)
    for j, (n, b) in enumerate(pairs):
        d = df[(df.n == n) & (df.b == b)]
        el.plots.training_curves(d, "epoch", ax=axes[0, j], title=f"n={n}, b={b}")
        el.plots.training_curves(d, "modelled_seconds", ax=axes[1, j])
        axes[1, j].set_xlabel("training time (modelled, s)")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    el.experiments.save_figure(fig, f"05_{name}_paper_layout")
    plt.show()

# %% [markdown]
# ## Table A.1 analog: modelled time to reach a test accuracy
# `inf`: the scheme never reached the target within the run (the paper's ∞).

# %%
both = pd.concat([S.run_grid(S.figure_grid(p, profile, scale=scale), only_cached=True, progress=False)
                  for p in ([(5, 1), (9, 2), (15, 3)], [(5, 2), (9, 3), (15, 6)])])
tA1 = S.time_to_accuracy(both, ["n", "b", "method", "scheme"], [0.6, 0.7, 0.75, 0.8])
el.experiments.atomic_write_text(root / "05_table_A1.csv", tA1.to_csv(index=False))
tA1.round(2)

# %% [markdown]
# ## Fig. 6a, DRACO Table 2 and BrSGD Table 1

# %%
amz = S.run_grid(S.amazon_grid(profile), only_cached=True, progress=False)
dr = S.run_grid(S.draco_grid(profile), only_cached=True, progress=False)
br = S.run_grid(S.brsgd_grid(profile), only_cached=True, progress=False)
fig, axes = el.plots.new_axes(2, 1)
el.plots.training_curves(amz, "modelled_seconds", "auc", ax=axes[0, 0],
                         title="Fig. 6a analog: Amazon, n=15, b=5, directional")
axes[0, 0].legend(fontsize=6)
dr["label"] = dr.scheme + " s=" + dr.s.astype(str)
el.plots.training_curves(dr[dr.attack.isin(["reversed_gradient", "none"])], "modelled_seconds",
                         hue="label", ax=axes[0, 1], title="DRACO Table 2 analog (reversed grad.)")
axes[0, 1].legend(fontsize=5)
fig.tight_layout()
el.experiments.save_figure(fig, "05_fig6_draco")
plt.show()
S.final_table(br, ["alpha", "attack", "rule"]).pivot_table(
    index=["alpha", "attack"], columns="rule", values="mean").round(3)

# %% [markdown]
# ## Notebooks 01–03, redrawn from their stored tables
# Theorem 1's bound against the exact global error (01), how often random Bernoulli codes are
# perfectly b-tolerant and what Algorithm 1 costs against DRACO (02), and the Monte-Carlo error
# curves of the worst-case attack with their exact values (03).

# %%
th = el.experiments.load_table("01_theorem1")
cert = el.experiments.load_table("02_certificates")
bern = el.experiments.load_table("02_bernoulli_tolerance")
mc = el.experiments.load_table("03_mc_vs_b")
fig, axes = el.plots.new_axes(4, 1, width=3.8, height=3.0)
d = th[(th.alpha == 0.2) & (th.S == 1.0)]
for col, style in [("bound", "--"), ("exact", ".-"), ("exact_uncoded", ".-")]:
    axes[0, 0].plot(d.n, d[col], style, label=col)
axes[0, 0].set(xscale="log", yscale="log", ylim=(1e-16, 1.5), xlabel="n",
               title="01 · Theorem 1 (α=0.2, S=1)")
axes[0, 0].legend(fontsize=7)
for b, g in bern.groupby("b"):
    axes[0, 1].plot(g.expected_r, g.fraction_tolerant, "o-", label=f"b={b}")
axes[0, 1].set(xlabel="E[r]", title="02 · random codes perfectly b-tolerant")
axes[0, 1].legend(fontsize=7)
for n_, g in cert.groupby("n"):
    if n_ in (9, 15, 21):
        axes[0, 2].plot(g.b, g.redundancy, "o-", label=f"Algorithm 1, n={n_}")
axes[0, 2].plot(cert.b.unique(), 2 * cert.b.unique() + 1, "k--", label="DRACO 2b+1")
axes[0, 2].set(xlabel="b", ylabel="r", title="02 · redundancy")
axes[0, 2].legend(fontsize=6)
w = mc[(mc.attack == "worst") & (mc.target == "sign") & (mc.n == mc.n.max())]
el.plots.mc_vs_exact(w, "b_frac", "scheme", ax=axes[0, 3],
                     title=f"03 · worst attack, n={w.n.max()}: P(µ̂ ≠ sign(g))")
axes[0, 3].legend(fontsize=5)
fig.tight_layout()
el.experiments.save_figure(fig, "05_theory_codes_montecarlo")
plt.show()

# %% [markdown]
# ## The full profile: Fig. 4 at (9, 2) and Fig. 5 at (9, 3), trained to the plateau
# All of Fashion-MNIST, three seeds, the full test set; tables committed in
# `results/published/full/` (`python -m electionlib full-tables`), with their provenance.

# %%
pub = root / "published" / "full"
if (pub / "claims.csv").is_file():
    full = pd.read_csv(pub / "claims.csv", keep_default_na=False)
    prov = json.loads((pub / "provenance.json").read_text())
    print(f"computed at commit {prov['commit'][:10]} (TRAINER_VERSION {prov['trainer_version']}), "
          f"plateau {prov['plateau']:.4f}; command: {prov['command']}")
    curves = el.methods.with_method(  # tables published before the method ids: from the labels
        pd.concat([pd.read_csv(pub / f"{x}_curves.csv") for x in ("fig4_9_2", "fig5_9_3")]))
    fig, axes = el.plots.new_axes(2, 1, width=4.6, height=3.2)
    for ax, (nb_, d) in zip(axes[0], curves.groupby(["n", "b"]), strict=True):
        el.plots.training_curves(d, "epoch", ax=ax, title=f"full profile: n={nb_[0]}, b={nb_[1]}")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    el.experiments.save_figure(fig, "05_full_profile")
    display_cols = ["id", "cells", "outcome", "labels", "measured"]
else:
    full = None
    print("no full-profile tables in results/published/full (python -m electionlib "
          "full-tables computes them)")
full[display_cols] if full is not None else None

# %% [markdown]
# ## Every verdict so far
# The rows written by notebooks 01–04 (each with its rule and budget); `SUMMARY.md` is written
# after the last notebook (`python -m electionlib summary`, called by `./run_all.sh`).

# %%
claims = pd.concat([pd.read_csv(f, keep_default_na=False) for f in sorted(root.glob("[0-9][0-9]_claims.csv"))],
                   ignore_index=True)
print(", ".join(f"{k}: {v}" for k, v in claims.outcome.value_counts().items()))
claims[["notebook", "id", "outcome", "labels", "rule"]]
