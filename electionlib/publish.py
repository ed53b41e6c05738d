"""The committed results: the full-profile tables and the summary of every verdict.

``results/`` is not committed, except ``results/published/``:

* ``published/full/``: the Fig. 4 analog at (9, 2) and the Fig. 5 analog at (9, 3) at the
  ``full`` profile (all of Fashion-MNIST, trained to the plateau, three seeds), as tidy
  tables (final accuracy of every run with its configuration hash), the plateau curve, the
  judged claims and the provenance (command, commit, ``TRAINER_VERSION``, ``pip freeze``);
* ``published/SUMMARY.md``: a copy of the last ``results/SUMMARY.md`` of the quick profile,
  so that the verdicts show on the repository page.

``python -m electionlib full-tables`` computes the first (resumable: every finished run is
stored, a rerun continues), ``python -m electionlib summary`` writes the second.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from . import claims as C
from . import experiments
from . import methods as M
from . import suites as S
from . import verdicts as V
from .train import TRAINER_VERSION

__all__ = ["published_dir", "full_tables", "summary", "FULL_COMMAND"]

FULL_COMMAND = "python -m electionlib full-tables --workers 2"


def published_dir(root=None) -> Path:
    path = experiments.results_dir(root) / "published"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _git(*args) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=20,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _finals(df: pd.DataFrame, entries) -> pd.DataFrame:
    """One row per run: its labels, final accuracy, steps and configuration hash (runs found
    by their ids, never by a display label)."""
    rows = []
    for labels, cfg in entries:
        key = {**cfg.to_dict(), "trainer_version": TRAINER_VERSION}
        m = df
        for k, val in labels.items():
            if k != "scheme":
                m = m[m[k] == val]
        last = m.sort_values("step").iloc[-1]
        rows.append({**labels, "final_accuracy": float(last.accuracy), "steps": int(last.step),
                     "epochs": cfg.epochs, "test_set": "full" if cfg.test_subsample is None
                     else cfg.test_subsample, "config_hash": experiments.config_hash(key)})
    return pd.DataFrame(rows)


def full_tables(*, workers: int | None = None, root=None, progress: bool = True) -> Path:
    """Train (or reuse) the full-profile cells, judge their claims, write
    ``published/full/``; returns that folder."""
    out = published_dir(root) / "full"
    out.mkdir(parents=True, exist_ok=True)
    # the code that trains is the code at the start (commits made during a long run are not)
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "electionlib"))
    plateau_entry = [({"method": "clean-long", "scheme": M.label("clean-long"), "seed": 0},
                      S.plateau_config("full"))]
    g92 = S.figure_grid([(9, 2)], "full")
    g93 = S.figure_grid([(9, 3)], "full")
    S.run_grid(plateau_entry + g93 + g92, workers=workers, root=root, progress=progress)
    plat = S.run_grid(plateau_entry, root=root, progress=False)
    plateau = float(plat.sort_values("step").accuracy.tail(5).mean())
    if S.PLATEAU.get("full") is None:
        S.PLATEAU["full"] = plateau
    fig4 = S.run_grid(g92, root=root, progress=False)
    fig5 = S.run_grid(g93, root=root, progress=False)
    rows = V.figure_rows(fig4, fig5, profile="full", budget4=S.budget(g92),
                         budget5=S.budget(g93), subset=True)
    for name, df, entries in (("fig4_9_2", fig4, g92), ("fig5_9_3", fig5, g93)):
        experiments.atomic_write_text(out / f"{name}.csv", _finals(df, entries).to_csv(
            index=False))
        experiments.atomic_write_text(out / f"{name}_curves.csv", df[[
            "n", "b", "method", "scheme", "seed", "step", "epoch", "accuracy", "test_loss",
            "modelled_seconds"]].to_csv(index=False))
    experiments.atomic_write_text(out / "plateau.csv", plat[["epoch", "step", "accuracy",
                                                             "test_loss"]].to_csv(index=False))
    experiments.atomic_write_text(out / "claims.csv", C.rows_table(rows).to_csv(index=False))

    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True,
                            text=True, timeout=120).stdout.splitlines()
    experiments.atomic_write_text(out / "provenance.json", json.dumps({
        "command": FULL_COMMAND, "commit": commit, "dirty": dirty,
        "trainer_version": TRAINER_VERSION, "claims_registry_commit": C.registry_commit(),
        "plateau": plateau, "plateau_definition": "mean of the last 5 evaluations (full test "
        "set) of the attack-free n=9 run trained 3x the epochs of the cells",
        "pip_freeze": [x for x in freeze if not x.startswith("-e ")]}, indent=2))
    return out


def summary(profile: str, *, root=None, publish: bool = False) -> Path:
    """Write ``results/SUMMARY.md`` from every notebook's claims (with the full-profile
    verdicts beside them), and with ``publish`` copy it to ``published/SUMMARY.md``."""
    root_dir = experiments.results_dir(root)
    C.write_summary(root_dir, profile, published=published_dir(root) / "full")
    path = root_dir / "SUMMARY.md"
    if publish:
        experiments.atomic_write_text(published_dir(root) / "SUMMARY.md", path.read_text())
    return path
