"""Training under constraints: exact rows for structure and point constraints, a counterexample-guided loop for
region constraints, and an explanation when the constraints conflict (DESIGN.md section 6).

Each round solves the training MIP with every region constraint imposed at finitely many points (pairs for
monotonicity), then verifies the trained network over the whole region with the exact verifier. Every
counterexample (re-checked by a forward pass) becomes a point of the next round. The loop stops when the verifier
proves every region constraint, or at the round or time limit. Bounds on the constrained problem: each round's MIP
bound is a **lower bound** on the best network of the architecture that satisfies the constraints on the whole
region (the round has fewer constraints); a network whose every constraint is proved gives an **upper bound**
(its objective). A verifier ``unknown`` is never taken as proof.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from mipnet import verify
from mipnet.constraints.objects import Constraint, Monotone, MonotoneMode, OutputBound, SafeRegion
from mipnet.constraints.rows import ConstraintSet, RegionPoints
from mipnet.errors import InfeasibleConstraintsError, NoSolutionError
from mipnet.network import Network
from mipnet.report import TrainReport
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import Loss
from mipnet.train.trainer import train_network
from mipnet.verify.results import Verdict

#: proofs of region constraints allow this slack: monotone changes >= -MONOTONE_TOL, outputs within
#: OUTPUT_TOL * (1 + |bound|) of their bounds (the verifier's own MIP margin is 1e-5 (1 + |bound|))
MONOTONE_TOL = 1e-4
OUTPUT_TOL = 1e-4
#: per-constraint verifier time limit (seconds) when the fit has no time limit
VERIFY_TIME = 60.0
#: share of the remaining time one round's training MIP may use (the rest is kept for verification and later rounds)
ROUND_SHARE = 0.5


def _initial_points(cs: ConstraintSet, n: int, seed: int) -> dict[int, RegionPoints]:
    """``n`` random points (pairs) of each region constraint's region, to start from."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, c in enumerate(cs.region_constraints):
        if isinstance(c, SafeRegion) or n <= 0:
            out[i] = RegionPoints()
            continue
        lo, hi = cs.region_of(c)
        X = rng.uniform(lo, hi, (n, cs.n_inputs))
        if isinstance(c, Monotone):
            k = cs.feature(c.feature)
            X2 = X.copy()
            X[:, k], X2[:, k] = lo[k], hi[k]
            out[i] = RegionPoints(list(X), list(X2))
        else:
            out[i] = RegionPoints(list(X))
    return out


def _verify(cs: ConstraintSet, c: Constraint, net: Network, time_limit: float, seed: int
            ) -> tuple[Verdict, str, list[np.ndarray], list[np.ndarray]]:
    """Verdict on one region constraint for ``net``, a note, and re-checked counterexample points (and partners)."""
    if isinstance(c, Monotone):
        lo, hi = cs.region_of(c)
        res = verify.monotonicity(net, cs.feature(c.feature), lo, hi, output=c.output, direction=c.direction,
                                  time_limit=time_limit, tol=MONOTONE_TOL, seed=seed)
        if res.status == Verdict.VIOLATED:
            return res.status, res.note, [res.counterexample.reshape(-1)], [res.counterexample_pair.reshape(-1)]
        return res.status, res.note, [], []
    if isinstance(c, OutputBound):
        lo, hi = cs.region_of(c)
        res = verify.output_bounds(net, lo, hi, time_limit=time_limit, seed=seed)
        j = c.output
        tol_hi, tol_lo = OUTPUT_TOL * (1 + abs(c.upper)), OUTPUT_TOL * (1 + abs(c.lower))
        found = []
        if math.isfinite(c.upper) and res.upper_attained[j] > c.upper + tol_hi:
            found.append(res.upper_input[j].reshape(-1))
        if math.isfinite(c.lower) and res.lower_attained[j] < c.lower - tol_lo:
            found.append(res.lower_input[j].reshape(-1))
        span = f"output {j} in [{res.lower[j]:.6g}, {res.upper[j]:.6g}] (reached [{res.lower_attained[j]:.6g}, " \
               f"{res.upper_attained[j]:.6g}])"
        if found:
            return Verdict.VIOLATED, span, found, []
        ok = (not math.isfinite(c.upper) or res.upper[j] <= c.upper + tol_hi) and \
             (not math.isfinite(c.lower) or res.lower[j] >= c.lower - tol_lo)
        return (Verdict.HOLDS if ok else Verdict.UNKNOWN), span, [], []
    res = verify.check_property(net, cs.unsafe_region(c), time_limit=time_limit, seed=seed)
    if res.status == Verdict.VIOLATED:
        return res.status, res.note, [res.counterexample.reshape(-1)], []
    return res.status, res.note, [], []


def explain_infeasible(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                       solver: str, options: SolveOptions, constraints: Sequence[Constraint],
                       make_set: object) -> tuple[list[Constraint], bool]:
    """A small subset of ``constraints`` that is infeasible on its own, by deletion filtering: drop one constraint
    at a time and keep it out when the rest stays *proved* infeasible. Returns the subset and whether every
    deletion test was decided (``False``: some test hit its time limit, so the subset may not be minimal)."""
    keep = list(constraints)
    decided = True
    per_test = SolveOptions(time_limit=min(options.time_limit or 30.0, 30.0), threads=options.threads,
                            mip_gap=options.mip_gap)
    for c in list(keep):
        trial = [d for d in keep if d is not c]
        cs = make_set(trial)
        try:
            train_network(template, X, y, loss, cs.config(replace(config, warm_start=False)), solver, per_test,
                          cs.extra({}))
        except NoSolutionError as exc:
            if exc.proved_infeasible:
                keep = trial
            else:
                decided = False
            continue
    return keep, decided


def train_with_constraints(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                           solver: str, options: SolveOptions, constraints: Sequence[Constraint],
                           feature_names: Sequence[str] | None = None, classes: np.ndarray | None = None,
                           region: tuple | None = None, max_rounds: int = 20, initial_points: int = 0,
                           verify_time: float | None = None, seed: int = 0,
                           callback: Callable | None = None) -> tuple[Network, TrainReport]:
    """Train ``template`` with every constraint enforced; region constraints by the counterexample loop.

    ``callback``: progress events of each round's training (:func:`mipnet.train.trainer.train_network`).

    ``initial_points``: random points (pairs) of the region imposed from round 0 (default none: round 0 is the
    unconstrained problem, whose network, if the verifier proves it, is optimal for the constrained one too).

    Returns the network of the last round and its report, with ``report.certified`` (per constraint:
    ``enforced`` for the exact rows of structure and point constraints, re-checked with numpy; ``holds`` /
    ``violated`` / ``unknown`` from the verifier for region constraints) and ``report.rounds``.

    Raises
    ------
    InfeasibleConstraintsError
        When the constraints (at the points of the round) admit no network; names a small conflicting subset.
    """
    t0 = time.perf_counter()

    def make_set(cs_list: Sequence[Constraint]) -> ConstraintSet:
        return ConstraintSet(cs_list, template, feature_names, classes, region, data=(X, y))

    cs = make_set(constraints)
    region_cs = cs.region_constraints
    points = _initial_points(cs, initial_points, seed)
    rounds: list[dict] = []
    lower = -math.inf
    net = report = None
    verdicts: list[tuple] = []
    for r in range(max_rounds if region_cs else 1):
        left = None if options.time_limit is None else options.time_limit - (time.perf_counter() - t0)
        if left is not None and left <= 1.0 and net is not None:
            break
        extra = cs.extra(points)
        if extra.points is None and not cs.has_rows:
            # nothing to add yet (round 0 of region constraints alone): the plain problem, with every speed feature
            # (the decomposition by output signs included); its optimum is a lower bound, and if the verifier proves
            # the constraints for it, it is the constrained optimum
            extra = None
        t_round = time.perf_counter()
        try:
            share = left if left is None or not region_cs else max(left * ROUND_SHARE, 1.0)
            net, report = train_network(template, X, y, loss, cs.config(config), solver,
                                        replace(options, time_limit=share), extra, callback=callback)
        except NoSolutionError as exc:
            if not exc.proved_infeasible:
                raise
            conflict, decided = explain_infeasible(template, X, y, loss, config, solver, options, constraints,
                                                   make_set)
            names = "; ".join(c.describe() for c in conflict)
            note = "" if decided else " (some deletion tests ran out of time: the set may not be minimal)"
            where = f" at the points of round {r}" if region_cs else ""
            raise InfeasibleConstraintsError(f"no network satisfies the constraints{where}; these conflict: "
                                             f"{names}{note}", conflict) from None
        train_time = time.perf_counter() - t_round
        lower = max(lower, report.bound) if math.isfinite(report.bound) else lower
        t_verify = time.perf_counter()
        verdicts, added = [], 0
        for i, c in enumerate(region_cs):
            budget = verify_time or VERIFY_TIME
            if options.time_limit is not None:
                budget = max(min(budget, options.time_limit - (time.perf_counter() - t0)), 1.0)
            status, note, found, partners = _verify(cs, c, net, budget, seed + r)
            verdicts.append((c, status, note))
            points[i].points.extend(found)
            points[i].partners.extend(partners)
            added += len(found)
        rounds.append({"round": r, "objective": report.objective, "bound": report.bound, "status": report.status,
                       "verdicts": [str(v[1]) for v in verdicts], "added": added, "train_time": train_time,
                       "verify_time": time.perf_counter() - t_verify})
        if all(v[1] == Verdict.HOLDS for v in verdicts) or added == 0:
            break
    problems = cs.violations(net)
    certified = []
    for c in cs.constraints:
        if c in region_cs:
            _, status, note = next(v for v in verdicts if v[0] is c)
            tol = f"proved within {MONOTONE_TOL:g}" if isinstance(c, Monotone) else \
                f"proved within {OUTPUT_TOL:g} (1 + |bound|)" if isinstance(c, OutputBound) else ""
            certified.append({"constraint": c.describe(), "status": str(status),
                              "detail": note + (f" [{tol}]" if status == Verdict.HOLDS and tol else "")})
        else:
            bad = [p for p in problems if p.startswith(c.describe())]
            how = "exact rows of the training MIP" + (" (sufficient weight-sign condition)" if isinstance(c, Monotone)
                                                      and c.mode == MonotoneMode.SIGN else "")
            certified.append({"constraint": c.describe(), "status": "violated" if bad else "enforced",
                              "detail": "; ".join(bad) if bad else f"{how}, re-checked with numpy"})
    proved = all(v[1] == Verdict.HOLDS for v in verdicts)
    upper = report.objective if proved and not problems else math.inf
    report.certified, report.rounds = certified, rounds if region_cs else None
    report.extra["constrained"] = (
        f"lower bound {lower:.6g} (best MIP bound over the rounds), upper bound "
        + (f"{upper:.6g} (this network, every constraint proved)" if math.isfinite(upper) else
           "none (not every constraint proved)")
        + (f", gap {(upper - lower) / max(abs(upper), 1e-12):.2%}" if math.isfinite(upper) and math.isfinite(lower)
           else ""))
    report.bounds_constrained = {"lower": lower, "upper": upper, "rounds": len(rounds), "proved": proved}
    report.total_time = time.perf_counter() - t0
    return net, report
