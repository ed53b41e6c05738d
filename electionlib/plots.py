"""Plot helpers: each takes ``ax=None`` and returns the axis; they read tables only."""

from __future__ import annotations

import numpy as np

__all__ = ["allocation_matrix", "bound_vs_exact", "mc_vs_exact", "new_axes", "training_curves",
           "cost_curves", "cost_terms", "peer_ratios", "label_mix", "worst_case_heatmap",
           "best_scheme_heatmap", "robustness_vs_bytes", "code_matrices", "redundancy_vs_n",
           "SCHEME_COLORS", "RULE_COLORS"]

#: One colour per method, keyed by its id (:mod:`electionlib.methods`).
SCHEME_COLORS = {
    "clean": "#000000",
    "uncoded": "#d62728",
    "bern-r2": "#98df8a",
    "bern-r3": "#2ca02c",
    "det": "#1f77b4",
    "opt": "#9467bd",
    "opt-load": "#ff7f0e",
}

PALETTE = {
    "uncoded": "#d62728",
    "deterministic": "#1f77b4",
    "bernoulli": "#2ca02c",
    "bound": "#7f7f7f",
    "exact": "#000000",
}


def new_axes(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.2, **kw):
    """A figure with a grid of axes sized for the notebooks; returns ``(fig, axes)``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, **kw)
    return fig, axes


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def allocation_matrix(G, ax=None, title: str | None = None):
    """Draw an allocation matrix ``G`` (workers x partitions) as a heat map (Fig. 3 style)."""
    ax = _ax(ax)
    G = np.asarray(G)
    ax.imshow(G, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
    ax.set_xlabel("data partition j")
    ax.set_ylabel("worker i")
    n, k = G.shape
    ax.set_xticks(range(0, k, max(1, k // 8)))
    ax.set_yticks(range(0, n, max(1, n // 8)))
    ax.set_xticks(np.arange(-0.5, k), minor=True)
    ax.set_yticks(np.arange(-0.5, n), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    if title:
        ax.set_title(title)
    return ax


def bound_vs_exact(df, x: str, curves: dict, ax=None, logy: bool = True, title=None):
    """Plot several columns of ``df`` against ``x``.

    Args:
        df: table.
        x: column for the horizontal axis.
        curves: mapping column -> dict of matplotlib keyword arguments (label, color, ls...).
    """
    ax = _ax(ax)
    for col, style in curves.items():
        d = df[[x, col]].dropna()
        ax.plot(d[x], d[col], **{"marker": ".", "label": col, **style})
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def mc_vs_exact(df, x: str, by: str, ax=None, logy: bool = False, title=None, colors=None):
    """Monte-Carlo estimates (points with confidence bars) and exact values (lines).

    ``df`` has columns ``x``, ``by``, ``mc``, ``ci_low``, ``ci_high``, ``exact``. Colours:
    ``colors`` keyed by the ``by`` value, else :data:`SCHEME_COLORS` keyed by the curve's
    ``method`` id where ``df`` has that column.
    """
    ax = _ax(ax)
    colors = colors or {}
    for key, d in df.groupby(by, sort=False):
        d = d.sort_values(x)
        color = colors.get(key, SCHEME_COLORS.get(d["method"].iloc[0]) if "method" in d
                            else None)
        line, = ax.plot(d[x], d["exact"], "-", color=color, label=f"{key} (exact)")
        err = np.vstack([d["mc"] - d["ci_low"], d["ci_high"] - d["mc"]]).clip(min=0)
        ax.errorbar(d[x], d["mc"], yerr=err, fmt="o", ms=3.5, color=line.get_color(),
                    capsize=2, label=f"{key} (MC)")
    if logy:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel(x)
    ax.set_ylabel("error probability")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def training_curves(df, x: str = "epoch", y: str = "accuracy", hue: str = "scheme", ax=None,
                    title=None, colors=None, band: bool = True):
    """Seed-averaged curves of ``y`` against ``x`` per ``hue`` value, with the band of the
    seeds' range (minimum to maximum), drawn with seaborn.

    ``df`` is a tidy table with columns ``x``, ``y``, ``hue``, ``seed`` and ``step``; curves
    are averaged over seeds at equal step (``x`` is the seeds' mean at that step, so that a
    time axis that differs slightly between seeds stays one curve). The legend states the
    number of seeds. Colours: ``colors`` keyed by the ``hue`` value, else
    :data:`SCHEME_COLORS` keyed by the curve's ``method`` id (a column of ``df``).
    """
    import seaborn as sns

    ax = _ax(ax)
    colors = colors or {}
    extra = ["method"] if "method" in df.columns and hue != "method" else []
    d = df[[hue, "seed", "step", x, y, *extra]].copy()
    method = (d.groupby(hue, sort=False)["method"].first().to_dict() if extra else
              {k: k for k in d[hue].unique()} if hue == "method" else {})
    d["_x"] = d.groupby([hue, "step"], sort=False)[x].transform("mean")
    seeds = d.groupby(hue, sort=False)["seed"].nunique()
    d["_label"] = [f"{k} ({seeds[k]} seed{'s' if seeds[k] > 1 else ''})" for k in d[hue]]
    palette = {}
    for key in seeds.index:
        color = colors.get(key, SCHEME_COLORS.get(method.get(key)))
        if color is not None:
            palette[f"{key} ({seeds[key]} seed{'s' if seeds[key] > 1 else ''})"] = color
    order = list(dict.fromkeys(d["_label"]))
    rest = [lab for lab in order if lab not in palette]
    if rest:
        for lab, col in zip(rest, sns.color_palette("tab10", len(rest)), strict=True):
            palette[lab] = col
    sns.lineplot(data=d, x="_x", y=y, hue="_label", hue_order=order, palette=palette,
                 errorbar=("pi", 100) if band else None, estimator="mean", ax=ax, lw=1.6,
                 err_kws={"alpha": 0.15, "lw": 0})
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    leg = ax.get_legend()
    if leg is not None:
        leg.set_title(None)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


#: One color per aggregation rule of :mod:`electionlib.perf` (anchors in grey).
RULE_COLORS = {
    "majority": "#2ca02c", "copy_packed": "#7f7f7f", "copy_float32": "#c7c7c7",
    "mean": "#000000", "median": "#d62728", "trimmed_mean": "#ff9896", "krum": "#9467bd",
    "multi_krum": "#c5b0d5", "bulyan": "#8c564b", "geometric_median": "#e377c2",
    "centered_clipping": "#bcbd22", "brsgd": "#17becf", "draco_repetition": "#1f77b4",
    "draco_cyclic": "#aec7e8",
}


def cost_curves(agg, x: str = "n", at=None, ax=None, title=None, rules=None):
    """Log-log cost (median seconds) vs ``x`` (``"n"`` or ``"d"``) for each rule, at a fixed
    value of the other variable (``at``; default its largest value with a measured row).

    Reads a :func:`electionlib.perf.aggregation_table`; only rows with status ``ok``.
    """
    ax = _ax(ax)
    other = "d" if x == "n" else "n"
    ok = agg[agg["status"] == "ok"]
    if at is None:
        at = ok[other].max()
    sel = ok[ok[other] == at]
    for rule in rules or dict.fromkeys(sel["rule"]):
        r = sel[sel["rule"] == rule].sort_values(x)
        if len(r):
            style = ":" if rule.startswith("copy") else "-"
            ax.plot(r[x], r["seconds"], style, marker="o", ms=3, label=rule,
                    color=RULE_COLORS.get(rule))
    ax.set(xscale="log", yscale="log", xlabel=x, ylabel="seconds (median)",
           title=title or f"aggregation cost vs {x} ({other} = {at:,})")
    return ax


def cost_terms(rows, ax=None, title=None, terms=("compute", "encode", "upload", "aggregate",
                                                  "broadcast")):
    """Horizontal stacked bars of a step's cost terms (one bar per row, labelled by
    ``rule``), log-free: each bar's segments are the terms' shares of its total, and the
    total is written at the bar's end."""
    ax = _ax(ax)
    colors = ["#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#ffbb78"]
    labels = list(rows["rule"])
    left = np.zeros(len(rows))
    total = rows[list(terms)].sum(axis=1).to_numpy()
    for term, c in zip(terms, colors, strict=False):
        share = rows[term].to_numpy() / np.where(total > 0, total, 1)
        ax.barh(labels, share, left=left, color=c, label=term)
        left += share
    for i, t in enumerate(total):
        ax.text(1.01, i, f"{t:.3g} s", va="center", fontsize=7)
    ax.set(xlim=(0, 1.25), xlabel="share of the step time", title=title)
    ax.invert_yaxis()
    return ax


def peer_ratios(table, ax=None, title=None, target: float = 1.0):
    """Horizontal bars: electionlib's time over a peer library's per rule, one bar per
    ``(n, d)``, with the spread of the repeats' ratios as error bars and the target line.

    Reads a :func:`electionlib.perf.peer_table` (columns ``label, n, d, ratio, ratio_lo,
    ratio_hi, peer``); bars left of the line are cases where electionlib is faster.
    """
    ax = _ax(ax)
    labels = list(dict.fromkeys(table["label"]))
    shapes = list(dict.fromkeys(zip(table["n"], table["d"], strict=True)))
    h = 0.8 / max(len(shapes), 1)
    for k, (n, d) in enumerate(shapes):
        sub = table[(table["n"] == n) & (table["d"] == d)].set_index("label")
        ys = [i + (k - (len(shapes) - 1) / 2) * h for i, lab in enumerate(labels)
              if lab in sub.index]
        sub = sub.loc[[lab for lab in labels if lab in sub.index]]
        err = np.vstack([sub["ratio"] - sub["ratio_lo"], sub["ratio_hi"] - sub["ratio"]])
        ax.barh(ys, sub["ratio"], height=h, xerr=err, capsize=2, label=f"n={n}, d={d:,}")
    ax.axvline(target, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    peer = table["peer"].iloc[0] if len(table) else "peer"
    ax.set(xscale="log", xlabel=f"electionlib time / {peer} time (median, spread)",
           title=title or f"robust aggregators vs {peer}")
    ax.legend(fontsize=7)
    return ax


def label_mix(mix, ax=None, title: str | None = None):
    """The label mix of each partition (``(k, C)`` shares, rows summing to 1) as stacked
    bars: one bar per partition, one colour per label."""
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    mix = np.asarray(mix, dtype=float)
    k, c = mix.shape
    cmap = plt.get_cmap("tab10" if c <= 10 else "tab20")
    bottom = np.zeros(k)
    for j in range(c):
        ax.bar(np.arange(k), mix[:, j], bottom=bottom, color=cmap(j % cmap.N), width=0.85,
               label=str(j))
        bottom += mix[:, j]
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(0, 1)
    ax.set_xlabel("partition j")
    ax.set_ylabel("share of its examples")
    if title:
        ax.set_title(title)
    return ax


def worst_case_heatmap(worst, method: str, ax=None, title: str | None = None, vmin=0.0,
                       vmax=1.0, annotate_attack: bool = True):
    """One scheme's worst-case accuracy over attacks: b/n on the x axis, the split (alpha) on
    the y axis, each cell annotated with its accuracy and the attack that attains it.

    ``worst``: :func:`electionlib.heterogeneity.worst_case`."""
    ax = _ax(ax)
    t = worst[worst["method"] == method]
    alphas = sorted(t["alpha"].unique(), reverse=True)  # inf (i.i.d.) on top
    bs = sorted(t["b"].unique())
    grid = np.full((len(alphas), len(bs)), np.nan)
    notes = [["" for _ in bs] for _ in alphas]
    for r in t.itertuples():
        i, j = alphas.index(r.alpha), bs.index(r.b)
        grid[i, j] = r.worst_accuracy
        notes[i][j] = f"{r.worst_accuracy:.2f}" + (
            f"\n{_short(r.worst_attack)}" if annotate_attack and r.b > 0 else "")
    im = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(len(alphas)):
        for j in range(len(bs)):
            if notes[i][j]:
                ax.text(j, i, notes[i][j], ha="center", va="center", fontsize=6.5,
                        color="white" if grid[i, j] < 0.55 * vmax else "black")
    _split_axes(ax, t, alphas, bs, title)
    return im


def _split_axes(ax, t, alphas, bs, title) -> None:
    """The axes of a heat map over splits: b/n across (``t``'s ``b_frac`` labels), the
    Dirichlet alpha down (inf: the i.i.d. split)."""
    frac = dict(zip(t["b"], t["b_frac"], strict=True)) if "b_frac" in t else {}
    ax.set_xticks(range(len(bs)), [str(frac.get(b, b)) for b in bs])
    ax.set_yticks(range(len(alphas)),
                  ["∞ (i.i.d.)" if np.isinf(a) else f"{a:g}" for a in alphas])
    ax.set_xlabel("b / n")
    ax.set_ylabel("Dirichlet α")
    if title:
        ax.set_title(title, fontsize=8)


def _short(attack: str) -> str:
    """A heat-map cell's attack name, short enough for the cell."""
    return {"worst (allocation-aware set)": "worst+alloc", "reversed_gradient": "rev. grad",
            "model_negation": "model neg.", "gradient_scale": "grad. scale",
            "label_shift": "label shift"}.get(attack, attack)


def best_scheme_heatmap(best, family: str, ax=None, title: str | None = None,
                        colors: dict | None = None):
    """Per cell (alpha x b/n), the scheme of ``family`` with the highest worst-case accuracy,
    named in the cell with that accuracy. ``best``:
    :func:`electionlib.heterogeneity.best_per_cell`."""
    ax = _ax(ax)
    t = best[best["family"] == family]
    alphas = sorted(t["alpha"].unique(), reverse=True)
    bs = sorted(t["b"].unique())
    methods = sorted(t["method"].unique())
    grid = np.full((len(alphas), len(bs)), np.nan)
    for r in t.itertuples():
        i, j = alphas.index(r.alpha), bs.index(r.b)
        grid[i, j] = methods.index(r.method)
        ax.text(j, i, f"{r.method}\n{r.worst_accuracy:.2f}", ha="center", va="center",
                fontsize=7)
    ax.imshow(grid, cmap="Pastel1", vmin=0, vmax=max(8, len(methods)), aspect="auto")
    _split_axes(ax, t, alphas, bs, title)
    return ax


def robustness_vs_bytes(worst, ax=None, title: str | None = None, markers=None):
    """Worst-case accuracy against the measured bytes each worker sends per step (log x), one
    point per (scheme, split) at the cell given by the rows of ``worst``; votes as circles,
    real-valued rules as squares, one colour per scheme."""
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    methods = list(dict.fromkeys(worst["method"]))
    cmap = plt.get_cmap("tab20")
    marks = markers or {}
    for m_i, m in enumerate(methods):
        t = worst[worst["method"] == m].sort_values("alpha")
        col = SCHEME_COLORS.get(m, cmap(m_i % 20))
        shape = "o" if t["family"].iloc[0] == "votes" else "s"
        for r in t.itertuples():
            ax.scatter(r.bytes_per_worker_per_step, r.worst_accuracy, color=col,
                       marker=marks.get(r.split, shape), s=36, edgecolor="black",
                       linewidth=0.4, label=f"{r.scheme}" if r.Index == t.index[0] else None)
        if len(t) > 1:
            ax.plot(t["bytes_per_worker_per_step"], t["worst_accuracy"], color=col, lw=0.6,
                    alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("bytes per worker per step (measured, with the frame header)")
    ax.set_ylabel("worst-case test accuracy")
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def code_matrices(items, ncols: int = 5, width: float = 2.4):
    """Draw codes side by side (:func:`allocation_matrix`); ``items``: ``(title, G)`` pairs.
    Returns the figure."""
    items = list(items)
    if not items:
        raise ValueError("items is empty: nothing to draw")
    ncols = min(ncols, len(items))
    nrows = -(-len(items) // ncols)
    fig, axes = new_axes(ncols, nrows, width=width, height=width * 1.05)
    for ax in axes.flat[len(items):]:
        ax.set_visible(False)
    for ax, (title, G) in zip(axes.flat, items, strict=False):
        allocation_matrix(G, ax=ax)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("partition", fontsize=7)
        ax.set_ylabel("worker", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def redundancy_vs_n(table, ax=None, title: str | None = None):
    """The minimum redundancy (ones / k; open markers where only a bound and a code are
    known), eq. (5) for Algorithm 1 and DRACO's 2b + 1 (= the column bound) against ``n``,
    one colour per ``b``. ``table``: :func:`electionlib.redundancy.minimum_table` rows with
    ``k = n``."""
    ax = _ax(ax)
    t = table[table.k == table.n]
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    bs = sorted(t.b.unique())
    for i, b in enumerate(bs):
        c = cmap(i / max(1, len(bs) - 1) * 0.85)
        g = t[t.b == b].sort_values("n")
        proven = g.status == "OPTIMAL"
        ax.plot(g.n, g.redundancy, "-", color=c, lw=1.2, label=f"b={b}: minimum")
        ax.plot(g.n[proven], g.redundancy[proven], "o", color=c, ms=5)
        ax.plot(g.n[~proven], g.redundancy[~proven], "o", mfc="white", color=c, ms=5)
        e = g.dropna(subset=["eq5"])
        if len(e):
            ax.plot(e.n, e.eq5, "x--", color=c, lw=0.8, ms=5)
        ax.axhline(2 * b + 1, color=c, lw=0.6, ls=":")  # the bound for odd n only
    ax.set_xlabel("n (workers = partitions)")
    ax.set_ylabel("redundancy (ones / k)")
    ax.plot([], [], "x--", color="grey", label="Algorithm 1 (eq. (5))")
    ax.plot([], [], ":", color="grey", label="2b+1 (DRACO; the bound for odd n)")
    ax.plot([], [], "o", mfc="white", color="grey", label="time limit (code, not proven)")
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
