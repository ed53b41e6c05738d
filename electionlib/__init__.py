"""electionlib: election coding for Byzantine-robust SignSGD, reproduced.

Sohn, Han, Choi, Moon. *Election Coding for Distributed Learning: Protecting
SignSGD against Byzantine Attacks.* NeurIPS 2020.

Modules: :mod:`codes` (allocation matrices), :mod:`votes` (1-bit packed votes,
encoder and decoder), :mod:`attacks`, :mod:`tolerance` (exact Lemma 2
checker), :mod:`theory` (bounds and exact probabilities), :mod:`montecarlo`,
:mod:`analysis` (notebook tables), :mod:`experiments` (result store),
:mod:`plots`, :mod:`profiles`.
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

__all__ = [
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
