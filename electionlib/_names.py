"""The names the command line offers before it loads a module that computes: the attacks.

Kept apart from :mod:`electionlib.attacks` (which re-exports them) so that building the
command line's parser, ``--help`` and ``verify`` import numpy and little else: the attacks
module needs :mod:`electionlib.theory`, which loads scipy.stats.
"""

from __future__ import annotations

__all__ = ["VOTE_ATTACKS", "GRADIENT_ATTACKS", "OMNISCIENT"]

#: Attacks on 1-bit (or multi-bit) votes (:func:`electionlib.attacks.attack_vote`).
VOTE_ATTACKS = ("none", "reverse", "directional", "random", "worst", "sign_flip")

#: Attacks on full-precision messages (:func:`electionlib.attacks.attack_gradient`).
GRADIENT_ATTACKS = (
    "none",
    "reversed_gradient",
    "constant",
    "gaussian",
    "model_negation",
    "gradient_scale",
    "label_shift",
    "alie",
    "ipm",
    "mimic",
    "inf",
    "nan",
    "minmax",
    "minsum",
    "fang",
)

#: The gradient attacks that see the honest messages (the adversary channel).
OMNISCIENT = frozenset({"model_negation", "alie", "ipm", "mimic", "minmax", "minsum", "fang"})
