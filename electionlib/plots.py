"""Plot helpers: each takes ``ax=None`` and returns the axis; they read tables only."""

from __future__ import annotations

import numpy as np

__all__ = ["allocation_matrix", "bound_vs_exact", "mc_vs_exact", "new_axes", "training_curves",
           "cost_curves", "cost_terms", "peer_ratios", "SCHEME_COLORS", "RULE_COLORS"]

#: One colour per method, keyed by its id (:mod:`electionlib.methods`).
SCHEME_COLORS = {
    "clean": "#000000",
    "uncoded": "#d62728",
    "bern-r2": "#98df8a",
    "bern-r3": "#2ca02c",
    "det": "#1f77b4",
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
