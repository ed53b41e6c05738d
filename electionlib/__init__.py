"""electionlib: election coding for Byzantine-robust SignSGD, reproduced.

Sohn, Han, Choi, Moon. *Election Coding for Distributed Learning: Protecting
SignSGD against Byzantine Attacks.* NeurIPS 2020.

Modules: :mod:`codes` (allocation matrices), :mod:`votes` (1-bit packed votes,
encoder and decoder), :mod:`attacks`, :mod:`tolerance` (exact Lemma 2
checker), :mod:`theory` (bounds and exact probabilities), :mod:`montecarlo`,
:mod:`analysis` (notebook tables), :mod:`experiments` (result store),
:mod:`plots`, :mod:`profiles`; :mod:`data` (datasets) and :mod:`sampling` (partitions and
mini-batches); :mod:`config` (a run's configuration and streams), :mod:`schemes` (one object
per scheme: partitions, wire sizes, encode, decode), :mod:`step` (the schedule, the update and
the schema both backends write), :mod:`gradients`, :mod:`ddp` (a majority-vote DDP
communication hook), the trainers (:mod:`train`, :mod:`mpi_backend`), :mod:`perf` (the
benchmarks), the claims registry (:mod:`claims`), :mod:`heterogeneity` (non-i.i.d. splits,
every attack, worst cases: notebook 07), :mod:`optimal` (minimum-redundancy codes, solved
exactly) and :mod:`redundancy` (its tables: notebook 08).
"""

__version__ = "0.1.0"

# Every module loads on first use (``el.codes``, ``el.train``...), so that ``import electionlib``
# and the command line start as fast as numpy: scipy.stats, pandas and torch come only with
# the modules that need them.
_LAZY = ("aggregators", "analysis", "attacks", "claims", "codes", "config", "costmodel", "data",
         "ddp", "draco", "experiments", "gradients", "heterogeneity", "methods", "models",
         "montecarlo", "optimal", "redundancy",
         "mpi_backend", "mpi_transport", "perf", "plots", "presets", "profiles", "publish",
         "sampling", "schemes", "step", "suites", "theory", "tolerance", "train", "verdicts",
         "votes")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'electionlib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = list(_LAZY)
