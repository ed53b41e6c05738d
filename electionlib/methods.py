"""Stable ids of the methods that the experiment grids compare, and their display labels.

Every grid of :mod:`electionlib.suites` gives each run a ``method`` id beside its ``scheme``
label. Rules (:mod:`electionlib.claims`), verdicts, plots and notebooks select, join and
colour by the id; the label is for legends and tables only, so it can be reworded without
moving a verdict. A variant that a parameter distinguishes keeps its method's id and says
the parameter in its own column (the deterministic code designed for a smaller b̂ is
``det`` with ``design_b`` set).

Example:
    >>> label("bern-r2"), method_of("Bern. code E[r]=2")
    ('Bern. code E[r]=2', 'bern-r2')
    >>> method_of("Det. code (b̂=1)")
    'det'
"""

from __future__ import annotations

__all__ = ["METHODS", "label", "method_of", "with_method", "vote_method"]

#: id -> display label, for every method a grid runs.
METHODS = {
    "clean": "no attack",
    "uncoded": "SignSGD-MV (uncoded)",
    "bern-r2": "Bern. code E[r]=2",
    "bern-r3": "Bern. code E[r]=3",
    "det": "Det. code",
    "opt": "min-ones code",
    "opt-load": "min-load code",
    "bern-r3-rho05": "Bern. E[r]=3, ρ=0.5 (r_eff=1.5)",
    "uncoded-noise": "SignSGD-MV (uncoded), σ²=1e-8",
    "bern-r3-rho05-noise": "Bern. E[r]=3, ρ=0.5, σ²=1e-8",
    "fgm": "FGM (full gradient + median)",
    "draco-rep": "DRACO repetition",
    "draco-cyc": "DRACO cyclic",
    "gm": "geometric median",
    "mean": "mean",
    "mean-clean": "mean (no attack)",
    "median": "median",
    "brsgd": "BrSGD",
    "krum": "krum",
    "krum-a10": "krum α=10%",
    "krum-a50": "krum α=50%",
    "clean-long": "no attack (3x longer)",
    "trimmed-mean": "trimmed mean",
    "cc": "centered clipping",
    "cc-nnm": "NNM + centered clipping",
    "cc-bucket": "bucketing + centered clipping",
}

_BY_LABEL = {lab: m for m, lab in METHODS.items()}


def label(method: str, design_b: int | None = None, b: int | None = None) -> str:
    """The display label of ``method``; the deterministic code designed for ``design_b``
    below the run's ``b`` says so (``Det. code (b̂=1)``)."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {sorted(METHODS)}")
    if method == "det" and design_b is not None and b is not None and design_b != b:
        return f"Det. code (b̂={design_b})"
    return METHODS[method]


def method_of(scheme: str) -> str:
    """The id of a display label (tables stored before the ``method`` column existed)."""
    if scheme in _BY_LABEL:
        return _BY_LABEL[scheme]
    if scheme.startswith("Det. code (b̂="):
        return "det"
    raise ValueError(f"scheme label {scheme!r} names no method of electionlib.methods")


def with_method(df):
    """``df`` with a ``method`` column, derived from its ``scheme`` labels when it has none
    (a table of ``results/published`` written before the ids)."""
    if "method" in df.columns or "scheme" not in df.columns:
        return df
    return df.assign(method=[method_of(s) for s in df["scheme"]])


def vote_method(code: str, r=None) -> str:
    """The id of a vote scheme by its code (``uncoded``, ``bernoulli`` with ``E[r] = r`` in
    {2, 3}, ``deterministic``): the Monte-Carlo tables name their schemes this way.

    Example:
        >>> vote_method("bernoulli", 3.0), vote_method("deterministic")
        ('bern-r3', 'det')
    """
    if code == "uncoded":
        return "uncoded"
    if code == "deterministic":
        return "det"
    if code in ("optimal", "optimal-load"):
        return "opt" if code == "optimal" else "opt-load"
    if code == "bernoulli" and r is not None and float(r) in (2.0, 3.0):
        return f"bern-r{float(r):g}"
    raise ValueError(f"code={code!r}, r={r!r} names no vote method of electionlib.methods "
                     f"(uncoded, bernoulli with r in {{2, 3}}, deterministic)")
