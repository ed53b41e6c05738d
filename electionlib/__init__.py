"""electionlib: election coding for Byzantine-robust SignSGD, reproduced.

Sohn, Han, Choi, Moon. *Election Coding for Distributed Learning: Protecting
SignSGD against Byzantine Attacks.* NeurIPS 2020.
"""

from . import codes, votes

__version__ = "0.1.0"

__all__ = ["attacks", "codes", "experiments", "montecarlo", "theory", "tolerance", "votes"]
