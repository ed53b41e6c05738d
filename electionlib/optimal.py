"""The minimum redundancy of a perfectly b-tolerant code in the paper's model, solved exactly.

Remark 3 of the election-coding paper asks for the minimal redundancy that still gives perfect
Byzantine tolerance. Its finite, deterministic analogue: over every ``(n, k)`` 0/1 matrix ``G``
in the model of Section 4 -- **every row of odd weight** (every worker computes at least one
partition and its local majority is a ±1 vote) -- find one with the fewest ones that is
perfectly b-Byzantine tolerant (:func:`electionlib.tolerance.verify`: every message with a
majority, every Byzantine set of size b, every behaviour; a tie at the master is a failure),
and prove that none has fewer.

Without the odd-row condition the question is trivial: flipping one pivotal partition must
swing the master's sum by at least ``4b + 2``, and each worker holding it moves the sum by at
most 2, so every column needs ``2b + 1`` ones; ``2b + 1`` all-ones rows and empty rows reach
it, whatever the tie rule (:func:`loose_optimum`).

**Encoding** (Google OR-Tools CP-SAT, an exact solver that proves optimality). Variables
``x_ij``; row ``i`` has weight ``2 t_i + 1``. For a message ``m`` with majority ``mu``, row ``i``
agrees iff ``sum_j x_ij m_j mu >= 1`` (its weight is odd, so the sum is never 0); after the
Byzantines turn ``b`` agreeing rows, the master still decides ``mu`` iff at least
``T = floor((n + 2b)/2) + 1`` rows agree. One such constraint per message would need every
message; instead they are added **lazily**: solve, ask :func:`~electionlib.tolerance.verify`
for a counterexample, add the constraint of its message, solve again. The symmetry of row and
column permutations is broken by ordering the rows, and the columns, as binary numbers
(double-lex ordering, valid because tolerance does not depend on the order of workers or of
partitions). Every constraint added holds for every tolerant code, so each solve relaxes the
true problem: its lower bound is a lower bound of the true minimum, and once the solver's
optimum is certified tolerant it is the true minimum.

Example:
    >>> res = minimum_redundancy(5, 1, time_limit=20)
    >>> res.status, res.ones, res.certificate.tolerant
    ('OPTIMAL', 19, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _validate as v
from . import codes, tolerance

__all__ = ["OptimalCode", "minimum_redundancy", "OBJECTIVES", "loose_optimum",
           "agreement_threshold", "double_lex", "SOLVER"]

#: What the solver minimises: the total number of ones (total computation, the paper's
#: redundancy times k) or the largest row weight (the most loaded worker), with the total as
#: a tie-break.
OBJECTIVES = ("ones", "max_load")
#: The exact solver and the version this module is tested with.
SOLVER = "OR-Tools CP-SAT"


def agreement_threshold(n: int, b: int) -> int:
    """Rows that must agree with the majority for ``b`` Byzantines not to move it:
    ``floor((n + 2b)/2) + 1`` (the master needs ``(A - b) - (n - A + b) > 0``).

    Example:
        >>> agreement_threshold(5, 1)
        4
    """
    return (v.integer("n", n, lo=1) + 2 * v.integer("b", b, lo=0)) // 2 + 1


@dataclass(frozen=True)
class OptimalCode:
    """The result of :func:`minimum_redundancy`.

    Attributes:
        n, b, k, tie, objective: the question.
        status: ``OPTIMAL`` (the code and a proof that no code in the model does better),
            ``FEASIBLE`` (a certified code and a lower bound, the time limit was hit),
            ``INFEASIBLE`` (a proof that no code in the model is b-tolerant) or ``UNKNOWN``
            (no certified code within the time limit; ``bound`` still holds).
        G: the code (None if none was certified).
        ones, redundancy, max_load: its number of ones, ``ones / k``, largest row weight.
        bound: the best proven lower bound on the objective.
        cuts: messages encoded (lazy constraints); rounds: solver calls.
        certificate: :func:`electionlib.tolerance.verify`'s result for ``G``.
        eq5: Algorithm 1's redundancy (eq. (5)) where it is defined (odd ``n = k``,
            ``0 < b < floor(n/2)``), else None.
        seconds: wall time.
    """

    n: int
    b: int
    k: int
    tie: str
    objective: str
    status: str
    G: np.ndarray | None
    ones: int | None
    redundancy: float | None
    max_load: int | None
    bound: float
    cuts: int
    rounds: int
    certificate: tolerance.ToleranceResult | None
    eq5: float | None
    seconds: float
    messages: list = field(default_factory=list, repr=False)

    @property
    def gap_to_eq5(self) -> float | None:
        """``eq5 - redundancy``: how much redundancy Algorithm 1 spends above this code."""
        if self.eq5 is None or self.redundancy is None:
            return None
        return self.eq5 - self.redundancy

    def to_dict(self) -> dict:
        """JSON-ready: ``G`` as a list of rows, every number as a plain Python value."""
        cert = self.certificate
        return {
            "n": self.n, "b": self.b, "k": self.k, "tie": self.tie, "objective": self.objective,
            "status": self.status, "G": None if self.G is None else self.G.tolist(),
            "ones": self.ones, "redundancy": self.redundancy, "max_load": self.max_load,
            "bound": self.bound, "cuts": self.cuts, "rounds": self.rounds,
            "tolerant": None if cert is None else bool(cert.tolerant),
            "messages_checked": None if cert is None else int(cert.messages_checked),
            "eq5": self.eq5, "gap_to_eq5": self.gap_to_eq5, "seconds": self.seconds,
            "solver": SOLVER,
        }


def _eq5(n: int, b: int, k: int) -> float | None:
    if k != n or n % 2 == 0 or not 0 < b < n // 2:
        return None
    return codes.eq5_redundancy(n, b)


def minimum_redundancy(n: int, b: int, *, k: int | None = None, tie: str = "coin",
                       objective: str = "ones", time_limit: float = 60.0, workers: int = 1,
                       seed: int = 0) -> OptimalCode:
    """A perfectly b-tolerant code with odd rows and the fewest ones (or the smallest maximum
    load), with the solver's proof (module docstring).

    Args:
        n: workers, 1 <= n <= 30.
        b: Byzantine workers, 0 <= b < n.
        k: partitions (default ``n``), 1 <= k <= :data:`electionlib.tolerance.MAX_PARTITIONS`.
        tie: the tie rule the certificate is checked under (with odd rows a worker never ties;
            a tie at the master is a failure under every rule).
        objective: one of :data:`OBJECTIVES`.
        time_limit: seconds in all, > 0.
        workers: the solver's search threads (1: deterministic for a given seed).
        seed: the solver's random seed.

    Returns:
        :class:`OptimalCode`.

    Reference: Section 4 (the model: odd rows), Lemma 2 and Theorem 3 (tolerance, Algorithm 1,
    eq. (5)), Remark 3 (minimal redundancy).
    """
    from ortools.sat.python import cp_model  # the solver's import is slow: on use

    n = v.integer("n", n, lo=1, hi=30)
    b = v.integer("b", b, lo=0, hi=n - 1)
    k = n if k is None else v.integer("k", k, lo=1, hi=tolerance.MAX_PARTITIONS)
    tie = v.choice("tie", tie, tolerance.TIE_RULES)
    objective = v.choice("objective", objective, OBJECTIVES)
    limit = v.real("time_limit", time_limit, lo=0.0, lo_open=True)
    workers = v.integer("workers", workers, lo=1)
    seed = v.integer("seed", seed, lo=0)
    T = agreement_threshold(n, b)
    t0 = time.perf_counter()

    model = cp_model.CpModel()
    x = [[model.NewBoolVar(f"x{i}_{j}") for j in range(k)] for i in range(n)]
    for i in range(n):
        t = model.NewIntVar(0, (k - 1) // 2, f"t{i}")
        model.Add(sum(x[i]) == 2 * t + 1)
    rows = [sum((1 << j) * x[i][j] for j in range(k)) for i in range(n)]
    cols = [sum((1 << i) * x[i][j] for i in range(n)) for j in range(k)]
    for i in range(n - 1):
        model.Add(rows[i] <= rows[i + 1])
    for j in range(k - 1):
        model.Add(cols[j] <= cols[j + 1])
    total = sum(x[i][j] for i in range(n) for j in range(k))
    if objective == "ones":
        model.Minimize(total)
    else:
        load = model.NewIntVar(1, k, "max_load")
        for i in range(n):
            model.Add(sum(x[i]) <= load)
        model.Minimize((n * k + 1) * load + total)  # the load first, then the ones

    # the incumbent: Algorithm 1's code where it exists (certified). For the ones, the model
    # then asks for a code with fewer: "infeasible" proves the incumbent optimal.
    best, best_cert = None, None
    start = _start(n, b, k)
    if start is not None and objective == "ones":
        res0 = tolerance.verify(start, b, tie=tie)
        if res0.tolerant:
            best, best_cert = start, res0
            model.Add(total <= int(start.sum()) - 1)

    def add_message(m: np.ndarray) -> None:
        mu = 1 if int(m.sum()) > 0 else -1
        agree = []
        for i in range(n):
            a = model.NewBoolVar("")
            model.Add(sum(int(m[j]) * mu * x[i][j] for j in range(k)) >= 1).OnlyEnforceIf(a)
            agree.append(a)
        model.Add(sum(agree) >= T)

    messages: list = []
    rounds, status, bound = 0, "UNKNOWN", 0.0
    while True:
        left = limit - (time.perf_counter() - t0)
        if left <= 0:
            break
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = left
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        code = solver.Solve(model)
        rounds += 1
        if code == cp_model.INFEASIBLE:  # nothing better than the incumbent exists
            status = "OPTIMAL" if best is not None else "INFEASIBLE"
            bound = math.inf
            break
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break  # no candidate within the time left
        bound = max(bound, _objective_bound(solver.BestObjectiveBound(), objective, n, k))
        cand = np.array([[solver.Value(x[i][j]) for j in range(k)] for i in range(n)], np.uint8)
        res = tolerance.verify(cand, b, tie=tie)
        if res.tolerant:
            best, best_cert = cand, res
            if code == cp_model.OPTIMAL:
                status = "OPTIMAL"
                break
            if objective == "ones":  # a better code was found in time: ask for a better one
                model.Add(total <= int(cand.sum()) - 1)
            continue
        batch = _violated(cand, b, T) if k % 2 else []
        if not batch:  # the checker's counterexample (even k: every message is enumerated)
            batch = [np.asarray(res.counterexample.m, np.int64)]
        for m in batch[:MAX_CUTS_PER_ROUND]:
            messages.append(m)
            add_message(m)
    seconds = time.perf_counter() - t0
    G, cert = best, best_cert
    if status == "UNKNOWN" and G is not None:
        status = "FEASIBLE"
    ones = None if G is None else int(G.sum())
    value = None if G is None else (ones if objective == "ones" else int(G.sum(axis=1).max()))
    if status == "OPTIMAL":
        bound = float(value)
    elif value is not None:
        bound = min(bound, float(value))
    return OptimalCode(
        n=n, b=b, k=k, tie=tie, objective=objective, status=status, G=G, ones=ones,
        redundancy=None if G is None else ones / k,
        max_load=None if G is None else int(G.sum(axis=1).max()), bound=float(bound),
        cuts=len(messages), rounds=rounds, certificate=cert, eq5=_eq5(n, b, k),
        seconds=seconds, messages=messages)


def double_lex(G: np.ndarray) -> np.ndarray:
    """``G`` with its rows and its columns in increasing order as binary numbers (row ``i``:
    ``sum_j 2^j G_ij``; column ``j``: ``sum_i 2^i G_ij``), by sorting rows and columns in turn
    until neither moves (each sort lowers the matrix in a well-founded order, so it stops):
    the form the solver's symmetry breaking admits."""
    G = np.asarray(G, np.uint8).copy()
    n, k = G.shape
    wr, wc = 1 << np.arange(k, dtype=object), 1 << np.arange(n, dtype=object)
    for _ in range(10 * (n + k) + 10):
        r = np.argsort([int(sum(int(x) * w for x, w in zip(row, wr, strict=True))) for row in G],
                       kind="stable")
        G = G[r]
        c = np.argsort([int(sum(int(x) * w for x, w in zip(col, wc, strict=True)))
                        for col in G.T], kind="stable")
        G = G[:, c]
        if (r == np.arange(n)).all() and (c == np.arange(k)).all():
            return G
    raise AssertionError("double-lex sorting did not settle")  # pragma: no cover


def _start(n: int, b: int, k: int) -> np.ndarray | None:
    """Algorithm 1's code in double-lex form where it exists (odd ``n = k``, ``0 < b <
    floor(n/2)``), else None."""
    if _eq5(n, b, k) is None:
        return None
    return double_lex(codes.deterministic(n, b))


#: Messages added per round at most (the violated ones of the current candidate).
MAX_CUTS_PER_ROUND = 64


def _violated(G: np.ndarray, b: int, T: int) -> list:
    """Every message that fools the master for ``G`` (odd rows, odd ``k``) among those of
    margin one with majority -1 (Lemma 2: with odd rows they are the only ones that matter,
    and a message's complement is fooled exactly when it is), as ±1 arrays."""
    from itertools import combinations

    n, k = G.shape
    out = []
    Gi = G.astype(np.int64)
    for plus in combinations(range(k), k // 2):
        m = -np.ones(k, np.int64)
        m[list(plus)] = 1
        agree = int(((Gi @ m) < 0).sum())  # rows whose local majority is -1, the majority
        if agree < T:
            out.append(m)
    return out


def _objective_bound(raw: float, objective: str, n: int, k: int) -> float:
    """The solver's bound in the objective's own unit (ones, or the max load)."""
    if objective == "ones":
        return float(math.ceil(raw - 1e-9))
    return float(math.floor((raw + 1e-9) / (n * k + 1)))


def loose_optimum(n: int, b: int, k: int | None = None) -> np.ndarray:
    """The optimum under the checker's looser definition (empty rows allowed): ``2b + 1``
    all-ones rows, the rest empty, ``(2b + 1) k`` ones (the least: every column needs
    ``2b + 1``). Requires ``2b + 1 <= n``.

    Example:
        >>> loose_optimum(5, 1).sum(axis=1).tolist()
        [5, 5, 5, 0, 0]
    """
    n = v.integer("n", n, lo=1)
    b = v.integer("b", b, lo=0, hi=(n - 1) // 2)
    k = n if k is None else v.integer("k", k, lo=1)
    G = np.zeros((n, k), np.uint8)
    G[: 2 * b + 1] = 1
    return G
