"""electionlib: election coding for Byzantine-robust SignSGD, reproduced.

Sohn, Han, Choi, Moon. *Election Coding for Distributed Learning: Protecting
SignSGD against Byzantine Attacks.* NeurIPS 2020.

Modules: :mod:`codes` (allocation matrices), :mod:`votes` (1-bit packed votes,
encoder and decoder), :mod:`attacks`, :mod:`tolerance` (exact Lemma 2
checker), :mod:`theory` (bounds and exact probabilities), :mod:`montecarlo`,
:mod:`analysis` (notebook tables), :mod:`experiments` (result store),
:mod:`plots`, :mod:`profiles`; :mod:`schemes` (one object per scheme: partitions, wire
sizes, encode, decode), :mod:`ddp` (a majority-vote DDP communication hook), the trainers
(:mod:`train`, :mod:`mpi_backend`) and the claims registry (:mod:`claims`).
"""

from . import (
    analysis,
    attacks,
    codes,
    experiments,
    montecarlo,
    plots,
    profiles,
    theory,
    tolerance,
    votes,
)

__version__ = "0.1.0"

# Modules that import torch (or are heavier) load on first use: ``el.train``, ``el.data``...
_LAZY = ("aggregators", "claims", "costmodel", "data", "ddp", "draco", "models", "mpi_backend",
         "mpi_transport", "perf", "presets", "publish", "schemes", "suites", "train",
         "verdicts")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'electionlib' has no attribute {name!r}")

__all__ = [
    "aggregators",
    "claims",
    "presets",
    "verdicts",
    "schemes",
    "ddp",
    "data",
    "draco",
    "models",
    "train",
    "analysis",
    "attacks",
    "codes",
    "experiments",
    "montecarlo",
    "plots",
    "profiles",
    "theory",
    "tolerance",
    "votes",
]
