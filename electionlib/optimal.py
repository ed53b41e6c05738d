"""The minimum redundancy of a perfectly b-tolerant code in the paper's model, solved exactly.

Remark 3 of the election-coding paper asks for the minimal redundancy that still gives perfect
Byzantine tolerance. Its finite, deterministic analogue: over every ``(n, k)`` 0/1 matrix ``G``
in the model of Section 4 -- **every row of odd weight** (every worker computes at least one
partition and its local majority is a ±1 vote) -- find one with the fewest ones that is
perfectly b-Byzantine tolerant (:func:`electionlib.tolerance.verify`: every message with a
majority, every Byzantine set of size b, every behaviour; a tie at the master is a failure),
and prove that none has fewer.

Without the odd-row condition the question is trivial for odd ``k``: flipping one pivotal
partition must swing the master's sum by at least ``4b + 2``, and each worker holding it
moves the sum by at most 2, so every column needs ``2b + 1`` ones; ``2b + 1`` all-ones rows
and empty rows reach it, whatever the tie rule (:func:`loose_optimum`). For even ``k`` no
partition is pivotal alone and the argument gives only half (:func:`lower_bound`).

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

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _validate as v
from . import codes, experiments, tolerance
from ._progress import progress

__all__ = ["OptimalCode", "minimum_redundancy", "OBJECTIVES", "loose_optimum",
           "agreement_threshold", "double_lex", "SOLVER", "grid", "solve_cells", "STORE",
           "load_store", "write_store", "stored", "stored_code", "lower_bound", "save",
           "STORE_RECIPE", "build_store"]

#: What the solver minimises: the total number of ones (total computation, the paper's
#: redundancy times k) or the largest row weight (the most loaded worker), with the total as
#: a tie-break.
OBJECTIVES = ("ones", "max_load")
#: The exact solver and the version this module is tested with.
SOLVER = "OR-Tools CP-SAT"
#: The package's store of solved codes (computed by ``python -m electionlib optimal --store``
#: at the full profile's time limits; see ``electionlib/_data/README.md``).
STORE = Path(__file__).resolve().parent / "_data" / "optimal_codes.json"


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

    @classmethod
    def from_dict(cls, d: dict, *, certify: bool = True) -> OptimalCode:
        """The result back from :meth:`to_dict` (a cache or the package's store). With
        ``certify`` the code's tolerance is checked again by :func:`tolerance.verify` (the
        solver's proof of optimality is its recorded status, bound and cuts)."""
        G = None if d["G"] is None else np.asarray(d["G"], np.uint8)
        if G is not None and (G.shape != (int(d["n"]), int(d["k"])) or (G > 1).any()
                              or (G.sum(axis=1) % 2 == 0).any()):
            raise ValueError(f"the stored code for n={d['n']}, b={d['b']}, k={d['k']} is not "
                             f"an (n, k) 0/1 matrix with odd rows")
        cert = None
        if G is not None and certify:
            cert = tolerance.verify(G, int(d["b"]), tie=d["tie"])
            if not cert.tolerant:
                raise ValueError(f"the stored code for n={d['n']}, b={d['b']}, k={d['k']} is "
                                 f"not b-tolerant: {cert.summary()}")
        return cls(n=int(d["n"]), b=int(d["b"]), k=int(d["k"]), tie=d["tie"],
                   objective=d["objective"], status=d["status"], G=G, ones=d["ones"],
                   redundancy=d["redundancy"], max_load=d["max_load"],
                   bound=float(d["bound"]), cuts=int(d["cuts"]), rounds=int(d["rounds"]),
                   certificate=cert, eq5=d["eq5"], seconds=float(d["seconds"]))


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
        workers: the solver's search threads (1: one path for a given seed, though a time
            limit in wall-clock seconds can stop it at different points on different machines).
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
    colsum = [sum(x[i][j] for i in range(n)) for j in range(k)]
    if k % 2:  # the column bound (lower_bound): valid for every tolerant code
        for j in range(k):
            model.Add(colsum[j] >= min(2 * b + 1, n))
    else:  # even k: every two columns together (lower_bound)
        for j in range(k):
            for j2 in range(j + 1, k):
                model.Add(colsum[j] + colsum[j2] >= min(2 * b + 1, n))
    total = sum(x[i][j] for i in range(n) for j in range(k))
    if objective == "ones":
        model.Minimize(total)
    else:
        load = model.NewIntVar(1, k, "max_load")
        for i in range(n):
            model.Add(sum(x[i]) <= load)
        model.Minimize((n * k + 1) * load + total)  # the load first, then the ones
    goal = total if objective == "ones" else (n * k + 1) * load + total

    # the incumbent: a certified code (_start: Algorithm 1's where it exists). The model then
    # asks for a better one: "infeasible" proves the incumbent optimal.
    best, best_cert = None, None
    start = _start(n, b, k)
    if start is not None:
        res0 = tolerance.verify(start, b, tie=tie)
        if res0.tolerant:
            best, best_cert = start, res0
            ones0, load0 = int(start.sum()), int(start.sum(axis=1).max())
            model.Add(goal <= (ones0 if objective == "ones" else (n * k + 1) * load0 + ones0)
                      - 1)

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
    # each round stops at ``cap`` seconds (doubled after a round without a cut): a candidate
    # found early is refuted early, and the relaxation tightens faster than if every round
    # had to prove its own optimum
    cap = ROUND_SECONDS
    while True:
        left = limit - (time.perf_counter() - t0)
        if left <= 0:
            break
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = min(left, cap)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        code = solver.Solve(model)
        rounds += 1
        if code == cp_model.INFEASIBLE:  # nothing better than the incumbent exists
            status = "OPTIMAL" if best is not None else "INFEASIBLE"
            bound = math.inf
            break
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            cap *= 2  # no candidate within this round's time: give the next one more
            continue
        bound = max(bound, _objective_bound(solver.BestObjectiveBound(), objective, n, k))
        cand = np.array([[solver.Value(x[i][j]) for j in range(k)] for i in range(n)], np.uint8)
        res = tolerance.verify(cand, b, tie=tie)
        if res.tolerant:
            best, best_cert = cand, res
            if code == cp_model.OPTIMAL:
                status = "OPTIMAL"
                break
            # a better code was found within the round's cap: ask for a better one
            model.Add(goal <= int(solver.ObjectiveValue()) - 1)
            cap *= 2  # a new incumbent: the next round must beat it, give it more time
            continue
        batch = _violated(cand, b, T)
        if not batch:  # the checker's counterexample (none of the least margin was found)
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
    """A tolerant code in double-lex form to start from: Algorithm 1's where it exists (odd
    ``n = k``, ``0 < b < floor(n/2)``); else, for ``2b < n``, every row full (odd ``k``) or
    full but one partition, a different one per row in turn (even ``k``: weight ``k - 1``,
    and every row still agrees with every majority, whose margin is at least 2); else None.
    """
    if _eq5(n, b, k) is not None:
        return double_lex(codes.deterministic(n, b))
    if 2 * b >= n:
        return None
    G = np.ones((n, k), np.uint8)
    if k % 2 == 0:
        G[np.arange(n), np.arange(n) % k] = 0
    return double_lex(G)


#: The first rounds' time cap (seconds) of :func:`minimum_redundancy`.
ROUND_SECONDS = 2.0
#: Messages added per round at most (the violated ones of the current candidate).
MAX_CUTS_PER_ROUND = 64


def _violated(G: np.ndarray, b: int, T: int) -> list:
    """Every message that fools the master for ``G`` (odd rows) among those of the least
    margin with majority -1: ``(k - 1) // 2`` partitions +1, the rest -1 (margin one for odd
    ``k``, Lemma 2; margin two for even ``k``), as ±1 arrays. With odd rows these are the only
    messages that matter: moving a partition from the minority to the majority can only add
    rows that agree with the majority (a row's sum moves towards it), so a fooled message of
    larger margin makes a fooled one of the least margin; and a message's complement is fooled
    exactly when it is."""
    from itertools import combinations

    n, k = G.shape
    out = []
    Gi = G.astype(np.int64)
    for plus in combinations(range(k), (k - 1) // 2):
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
    """The optimum under the checker's looser definition (empty rows allowed) for odd ``k``:
    ``2b + 1`` all-ones rows, the rest empty, ``(2b + 1) k`` ones (the least: every column
    needs ``2b + 1``, :func:`lower_bound`); for even ``k`` it is tolerant but the bound is only
    half. Requires ``2b + 1 <= n``.

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


def lower_bound(n: int, b: int, k: int | None = None) -> int:
    """A lower bound on the ones of every perfectly b-tolerant code, proven on paper.

    **Odd k: ``(2b + 1) k``.** Take a message of margin one and one partition ``j`` on the
    majority's side: flipping ``j`` flips the majority. Before the flip the master must decide
    ``mu`` under any ``b`` Byzantines, so the honest votes' sum (times ``mu``) is at least
    ``2b + 1``; after it, at most ``-(2b + 1)``. The sum moves by at least ``4b + 2``
    towards the new majority; only workers holding ``j`` can move it that way, each by at most
    2 (a worker whose local vote ties, possible only with an even row, may flip under the
    coin rule, which resolves ties against the majority, but it moves the sum the other way):
    column ``j`` holds ``2b + 1`` ones, and every column can be made pivotal. This is DRACO's
    ``2b + 1`` per partition.

    **Even k: ``(2b + 1) k / 2``.** No message has margin one: a majority has margin two or
    more, and flipping one partition of a margin-two message leaves a tie, which asks nothing.
    Flipping two partitions ``j, l`` of its majority flips it, so by the same count the
    workers holding ``j`` or ``l`` number at least ``2b + 1``: any two columns hold ``2b + 1``
    ones together, and pairing the columns gives the bound.

    Both hold with or without odd rows (for odd ``k`` the first is the optimum of the looser
    model, :func:`loose_optimum`).

    Example:
        >>> lower_bound(7, 2), lower_bound(6, 1)
        (35, 9)
    """
    k = n if k is None else v.integer("k", k, lo=1)
    b = v.integer("b", b, lo=0)
    return (2 * b + 1) * k if k % 2 else (2 * b + 1) * k // 2


def grid(max_n: int, *, min_n: int = 3, even: bool = True) -> list[tuple[int, int]]:
    """The ``(n, b)`` cells of the minimum-redundancy table: every ``n`` from ``min_n`` to
    ``max_n`` (odd only with ``even=False``) and every ``b`` with ``1 <= b`` and ``2b + 1 <=
    n`` (a b-tolerant code needs ``2b + 1`` workers per partition).

    Example:
        >>> grid(6)
        [(3, 1), (4, 1), (5, 1), (5, 2), (6, 1), (6, 2)]
    """
    max_n = v.integer("max_n", max_n, lo=1, hi=30)
    return [(n, b) for n in range(v.integer("min_n", min_n, lo=1), max_n + 1)
            if even or n % 2 for b in range(1, (n - 1) // 2 + 1)]


def _cache_key(n, b, k, tie, objective, time_limit, seed) -> dict:
    return dict(kind="minimum_redundancy", n=n, b=b, k=k, tie=tie, objective=objective,
                time_limit=float(time_limit), seed=seed, workers=1, solver=_solver_version(),
                search=SEARCH_VERSION)


#: Bumped when the search changes (the cache keys of :func:`solve_cells` include it).
SEARCH_VERSION = 3


def _solver_version() -> str:
    try:
        from importlib.metadata import version

        return f"ortools {version('ortools')}"
    except Exception:  # noqa: BLE001 - any metadata failure: the name alone
        return "ortools"


def solve_cells(cells, *, time_limit: float, k=None, tie: str = "coin",
                objective: str = "ones", seed: int = 0, root=None, force: bool = False,
                show_progress: bool = True) -> list[OptimalCode]:
    """:func:`minimum_redundancy` over ``cells`` (``(n, b)`` pairs, or ``(n, b, k)``), each
    cached under ``results/optimal/`` (one JSON per question and time limit), so that a long
    table is resumable and a rerun reads it back (the code is certified again on reading).

    Args:
        cells: ``(n, b)`` or ``(n, b, k)`` tuples.
        time_limit: seconds per cell; k: partitions for ``(n, b)`` cells (default ``n``).
        tie, objective, seed: as in :func:`minimum_redundancy` (one search thread).
        root: results folder (default :func:`electionlib.experiments.results_dir`).
        force: solve again even if cached.
    """
    out = []
    folder = experiments.results_dir(root) / "optimal"
    cells = [tuple(c) for c in cells]
    for cell in progress(cells, total=len(cells), desc="minimum redundancy",
                         enabled=show_progress):
        n, b = int(cell[0]), int(cell[1])
        kk = int(cell[2]) if len(cell) > 2 else (n if k is None else int(k))
        path = _cache_path(folder, n, b, kk, tie, objective, time_limit, seed)
        if path.is_file() and not force:
            try:
                out.append(OptimalCode.from_dict(json.loads(path.read_text())))
                continue
            except (OSError, ValueError, KeyError, TypeError):
                pass  # unreadable or not tolerant: solve again
        res = minimum_redundancy(n, b, k=kk, tie=tie, objective=objective,
                                 time_limit=time_limit, seed=seed)
        save(res, time_limit=time_limit, seed=seed, root=root)
        out.append(res)
    return out


def _cache_path(folder, n, b, k, tie, objective, time_limit, seed) -> Path:
    key = _cache_key(n, b, k, tie, objective, time_limit, seed)
    return Path(folder) / f"{experiments.config_hash(key)}.json"


def save(res: OptimalCode, *, time_limit: float, seed: int = 0, root=None) -> Path:
    """Store ``res`` in the user's cache (``results/optimal/``), where :func:`stored` and
    :func:`solve_cells` find it."""
    key = _cache_key(res.n, res.b, res.k, res.tie, res.objective, time_limit, seed)
    path = _cache_path(experiments.results_dir(root) / "optimal", res.n, res.b, res.k,
                       res.tie, res.objective, time_limit, seed)
    return experiments.atomic_write_text(path, json.dumps({**res.to_dict(), "key": key}))


#: What the package's store holds: every cell of :func:`grid` up to ``max_n`` (and the
#: ``k != n`` cells), both objectives, at ``time_limit`` seconds per cell.
STORE_RECIPE = dict(max_n=11, time_limit=240.0, extra=((5, 1, 3), (5, 1, 7), (7, 1, 5),
                                                        (7, 2, 9), (9, 2, 7)))


def build_store(*, max_n: int | None = None, time_limit: float | None = None, root=None,
                path=STORE, show_progress: bool = True) -> list[OptimalCode]:
    """Solve :data:`STORE_RECIPE`'s cells for both objectives (cached, resumable) and write
    the store; returns the results."""
    max_n = STORE_RECIPE["max_n"] if max_n is None else max_n
    limit = STORE_RECIPE["time_limit"] if time_limit is None else time_limit
    cells = grid(max_n) + [c for c in STORE_RECIPE["extra"] if c[0] <= max_n]
    res = []
    for objective in OBJECTIVES:
        res += solve_cells(cells, time_limit=limit, objective=objective, root=root,
                           show_progress=show_progress)
    write_store(res, path, command=f"python -m electionlib optimal --store --max-n {max_n} "
                                   f"--time-limit {limit:g}")
    return res


def write_store(results, path=STORE, *, command: str = "") -> Path:
    """Write ``results`` (:class:`OptimalCode`) as the store: one JSON object with the
    solver's version, the command that made it and one record per code."""
    recs = [json.dumps(r.to_dict()) for r in results]  # one code per line
    head = json.dumps({"solver": _solver_version(), "command": command})[:-1]
    text = head + ', "codes": [\n' + ",\n".join(recs) + "\n]}\n"
    json.loads(text)  # well-formed before it is written
    return experiments.atomic_write_text(Path(path), text)


def load_store(path=STORE, *, certify: bool = True) -> list[OptimalCode]:
    """The stored codes (each certified again by :func:`tolerance.verify` with ``certify``);
    an empty list if there is no store."""
    path = Path(path)
    if not path.is_file():
        return []
    return [OptimalCode.from_dict(d, certify=certify)
            for d in json.loads(path.read_text())["codes"]]


#: The statuses that come with a certified code.
_WITH_CODE = ("OPTIMAL", "FEASIBLE")


def stored(n: int, b: int, k: int | None = None, *, objective: str = "ones",
           path=None) -> OptimalCode | None:
    """The best stored code for ``(n, b, k, objective)``: from the package's store (``path``)
    if it has one, and only otherwise from the user's cache (``results/optimal/``,
    :func:`solve_cells` and ``--save``, of this search's version), so that a cell the
    package stores trains with the same code on every machine. Within a source: a proven
    optimum for ``objective`` first, then the fewest ones (or the smallest load) of the codes
    either objective's search found. None if none is stored."""
    k = n if k is None else k
    objective = v.choice("objective", objective, OBJECTIVES)

    def best(docs):
        found = [d for d in docs if (d.get("n"), d.get("b"), d.get("k")) == (n, b, k)
                 and d.get("objective") in OBJECTIVES and d.get("G") is not None
                 and d.get("status") in _WITH_CODE]
        if not found:
            return None
        val = "ones" if objective == "ones" else "max_load"
        # a proof for this objective first; otherwise the best value of either objective's
        # search (the other one's code may be better when both hit the time limit)
        return min(found, key=lambda d: (0 if d["objective"] == objective
                                         and d["status"] == "OPTIMAL" else 1, d[val],
                                         d["ones"], d["max_load"]))

    def read(p):
        try:
            doc = json.loads(Path(p).read_text())
        except (OSError, ValueError):
            return []
        return doc.get("codes", []) if isinstance(doc, dict) else []

    hit = best(read(STORE if path is None else path))
    if hit is None and path is None:
        cache = experiments.results_dir() / "optimal"
        docs = []
        for p in sorted(cache.glob("*.json")) if cache.is_dir() else []:
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(d, dict) and d.get("key", {}).get("search") == SEARCH_VERSION:
                docs.append(d)
        hit = best(docs)
    return None if hit is None else OptimalCode.from_dict(hit)


def stored_code(n: int, b: int, k: int | None = None, *, objective: str = "ones") -> np.ndarray:
    """The stored minimum-redundancy code ``G`` for training (:func:`stored`, certified on
    reading); a ``ValueError`` that says how to compute it when none is stored."""
    res = stored(n, b, k, objective=objective)
    if res is None:
        have = sorted({(r.n, r.b, r.k) for r in load_store(certify=False)
                       if r.objective == objective})
        raise ValueError(
            f"no stored minimum-redundancy code for n={n}, b={b}, k={n if k is None else k} "
            f"(objective {objective!r}); the package stores (n, b, k) in {have}. Compute it "
            f"with: python -m electionlib optimal --n {n} --b {b} --save")
    return res.G
