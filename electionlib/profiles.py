"""Run profiles: one parameter of every notebook.

* ``ci`` — what ``./run_all.sh test`` executes (all notebooks in minutes);
* ``quick`` — the default of ``./run_all.sh``: enough for every figure to carry its claim
  on a 2-core CPU;
* ``full`` — the paper's scale, for users with the hardware.
"""

from __future__ import annotations

from types import MappingProxyType

from . import _validate as v

__all__ = ["PROFILES", "get"]

_P = {
    "ci": {
        # 01 theory
        "theory_n_max": 101,
        # 02 code verification
        "verify_n_max": 15,
        "bernoulli_codes_per_p": 40,
        "bernoulli_n": 9,
        # 03 Monte-Carlo
        "mc_trials": 4_000,
        "mc_n": (9,),
        "mc_snr": (0.25, 1.0),
        # 04 training
        "train_subsample": {"fmnist": 3000, "amazon": None, "digits": None, "cifar10": 2000},
        "train_test_subsample": {"fmnist": 1000, "amazon": None, "digits": None,
                                 "cifar10": 1000},
        # 06 performance: the MPI step breakdown (perf.SIZES holds the other benchmarks)
        "bench_mpi": {"ns": (3,), "dataset": "digits", "subsample": None, "epochs": 0.2},
    },
    "quick": {
        "theory_n_max": 301,
        "verify_n_max": 21,
        "bernoulli_codes_per_p": 1000,
        "bernoulli_n": 9,
        "mc_trials": 100_000,
        "mc_n": (9, 15),
        "mc_snr": (0.1, 0.25, 0.5, 1.0),
        "train_subsample": {"fmnist": 18000, "amazon": None, "digits": None, "cifar10": 10000},
        "train_test_subsample": {"fmnist": 2000, "amazon": None, "digits": None,
                                 "cifar10": 2000},
        "bench_mpi": {"ns": (3, 5, 9), "dataset": "fmnist", "subsample": 18000, "epochs": 0.3},
    },
    "full": {
        "theory_n_max": 1001,
        "verify_n_max": 25,
        "bernoulli_codes_per_p": 4_000,
        "bernoulli_n": 11,
        "mc_trials": 1_000_000,
        "mc_n": (9, 15, 21),
        "mc_snr": (0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
        "train_subsample": {"fmnist": None, "amazon": None, "digits": None, "cifar10": None},
        "train_test_subsample": {"fmnist": None, "amazon": None, "digits": None,
                                 "cifar10": None},
        "bench_mpi": {"ns": (3, 5, 9, 15), "dataset": "fmnist", "subsample": None,
                      "epochs": 0.5},
    },
}

PROFILES = MappingProxyType({k: MappingProxyType(p) for k, p in _P.items()})


def get(profile: str) -> MappingProxyType:
    """Parameters of ``profile`` (``ci``, ``quick`` or ``full``).

    Example:
        >>> get("ci")["mc_trials"]
        4000
    """
    v.choice("profile", profile, tuple(PROFILES))
    return PROFILES[profile]
