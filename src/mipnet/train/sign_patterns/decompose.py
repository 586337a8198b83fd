"""Exact decomposition of the training MIP by output signs (one hidden layer, one output, ``sign`` weights).

With output weights ``v in {-1, +1}^H`` the hidden units can be permuted (with their incoming weights and
biases) without changing the network or the objective (the L1 term is a sum over weights), so every network
has a copy with ``v`` sorted descending: ``v = (+1 x k, -1 x (H - k))`` for some ``k in 0..H``. The optimum
is therefore the best of the ``H + 1`` sub-problems with ``v`` fixed to these patterns. Each sub-problem:

* has no product linearisation (``o_i = sum_j v_j a_ij + c`` is linear);
* keeps one side of each ReLU only (the objective is monotone in ``a_ij``; see
  :mod:`mipnet.train.sign_patterns.formulation`), which halves the binaries;
* first runs a root cut loop on its LP relaxation (:mod:`mipnet.train.sign_patterns.cuts`): if the safe LP bound
  reaches the best value known (within the gap) the pattern is closed without a MIP, else the cuts go into the MIP;
* uses the L1 budget of the best network known so far for its big-M bounds, and that network's objective
  as a solver cutoff: a sub-problem that finds nothing below the cutoff has proved that none exists.

A sub-problem's result is a network (weights and biases); its objective is recomputed from scratch by a
numpy forward pass, as in every solve.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace

import numpy as np

from mipnet.errors import CertificateWarning, NoSolutionError
from mipnet.network import Network
from mipnet.solvers import SolveOptions, Status
from mipnet.solvers.base import Backend, relative_gap
from mipnet.train.certificate import TOL, objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.losses import Loss
from mipnet.train.sign_patterns import cuts
from mipnet.train.sign_patterns.formulation import SignPatternFormulation
from mipnet.train.sign_patterns.obbt import first_layer_bounds

#: solver settings for the sub-problems: each starts from a near-optimal network or has a cutoff, so primal
#: heuristics rarely pay (measured: same nodes, about half the time on breast cancer (40, 4)); user options win
SUB_OPTIONS = {"highs": {"mip_heuristic_effort": 0.0}}
#: added for a sub-problem solved with a cutoff (no start of its own): HiGHS still runs its sub-MIP heuristics
#: (RENS, RINS) and a few others at effort 0, and below a cutoff they look for solutions that rarely exist
#: (measured, breast cancer (80, 4), pattern k = 2: 101.0 s -> 72.9 s, the same 1,487 nodes; bench/RESULTS.md)
CUTOFF_OPTIONS = {"highs": {"mip_heuristic_run_rens": False, "mip_heuristic_run_rins": False,
                            "mip_heuristic_run_root_reduced_cost": False,
                            "mip_heuristic_run_feasibility_jump": False}}
#: share of a sub-problem's remaining time the root cut loop may use
CUT_TIME_FRACTION = 0.15


def solve_by_output_signs(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                          domains: list[WeightDomain], backend: Backend, options: SolveOptions,
                          starts: dict[int, tuple[Network, float]], t_start: float) -> dict:
    """Solve the ``H + 1`` sign-pattern sub-problems; returns the best network and the combined status.

    ``starts`` maps pattern ``k`` to a feasible network with that pattern and its objective (the warm starts).
    Two phases: first every pattern's root cut loop (a safe LP bound per pattern, closing those that hold nothing
    better than the best start), then the MIPs of the patterns left open, from the most promising start, each
    with the remaining time. A pattern whose MIP is not reached (time limit, Ctrl-C) still has its loop's bound,
    so a stopped run reports a finite bound and gap.
    """
    h = template.layers[0].units
    best_net, best_val, best_form, best_x = None, math.inf, None, None
    for net, val in starts.values():
        if val < best_val:
            best_net, best_val = net, val
    warm_value = best_val
    order = sorted(range(h + 1), key=lambda k: starts[k][1] if k in starts else math.inf)
    opts = config.sign_patterns
    use_cuts = opts.relu_cuts
    entries: dict[int, dict] = {}  # the report's line per pattern
    # a valid lower bound per pattern on the networks that beat the best one (its loop's safe LP bound until its
    # MIP says more; -inf when nothing ran), and the patterns settled (closed by a bound, or their MIP proved)
    lower: dict[int, float] = {k: -math.inf for k in order}
    settled: set[int] = set()
    pending: list[tuple[int, SignPatternFormulation, bool]] = []  # patterns that need a MIP
    nodes, solve_time, accepted = 0, 0.0, None
    size: dict = {}
    interrupted = False

    def time_left() -> float | None:
        return None if options.time_limit is None else options.time_limit - (time.perf_counter() - t_start)

    def out_of_time(remaining: float | None) -> bool:
        return remaining is not None and remaining <= 0.5

    def skipped() -> str:
        return "skipped (interrupted)" if interrupted else "skipped (time limit)"

    def target() -> float | None:
        # solutions within the relative gap of the best count as equal, as in any solve with that gap
        return best_val - options.mip_gap * abs(best_val) if math.isfinite(best_val) else None

    # phase 1: build each pattern's sub-problem and run its root cut loop
    for k in order:
        if interrupted or out_of_time(time_left()):
            entries[k] = {"k": k, "status": skipped()}
            continue
        v = np.array([1.0] * k + [-1.0] * (h - k))
        remaining = time_left()
        start_net, start_val = starts.get(k, (None, math.inf))
        use_start = start_net is not None and start_val <= best_val * (1 + 1e-9) + 1e-12
        incumbent = best_val if math.isfinite(best_val) else None
        warm = start_net if use_start else None
        z_bounds, obbt_info = None, None
        if opts.obbt is not None and incumbent is not None:
            # LP bound tightening of the big-M values (valid for every solution no worse than the incumbent);
            # off by default: measured slower on breast cancer (40, 4) (see bench/RESULTS.md)
            budget = opts.obbt.time_fraction * (remaining if remaining is not None else 600.0)
            lp_config = replace(config, sign_patterns=replace(opts, pair_rows=opts.obbt.pair_rows))
            z_bounds, obbt_info = first_layer_bounds(
                lambda zb: SignPatternFormulation(template, X, y, loss, lp_config, domains, v,  # noqa: B023
                                                  warm=warm, incumbent=incumbent, z_bounds=zb),  # noqa: B023
                max(best_val, start_val if use_start else best_val), budget,
                rounds=opts.obbt.rounds, lower=opts.obbt.lower, symmetric=opts.obbt.symmetric)
            remaining = time_left()
        entry = entries[k] = {"k": k, "obbt": obbt_info}
        form = SignPatternFormulation(template, X, y, loss, config, domains, v, warm=warm, incumbent=incumbent,
                                      z_bounds=z_bounds)
        backend.check(form.m)
        if use_cuts and cuts.applicable(form) and not out_of_time(remaining):
            # a pattern whose safe LP bound reaches the target holds nothing better than the best network and
            # needs no MIP; otherwise its near-binding cuts go into the MIP
            budget = CUT_TIME_FRACTION * (remaining if remaining is not None else 600.0)
            try:
                loop = cuts.root_cut_loop(form, target(), budget, keep_slack=opts.cut_keep_slack,
                                          symmetric=opts.cut_symmetric)
            except KeyboardInterrupt:  # Ctrl-C in the cut loop: as in a solve, keep the best network so far
                interrupted = True
                entry["status"] = "interrupted"
                continue
            entry["cuts"] = loop.as_dict()
            entry["loop_bound"] = lower[k] = loop.bound
            cuts.add_cuts(form, loop.cuts)
        pending.append((k, form, use_start))

    # phase 2: the MIPs of the patterns not closed by their bound
    for k, form, use_start in pending:
        entry = entries[k]
        goal = target()
        if goal is not None and lower[k] >= goal:
            entry.update(status="closed by the cut loop's LP bound", bound=lower[k], cutoff=goal, nodes=0,
                         time=entry["cuts"]["time"])
            settled.add(k)
            continue
        remaining = time_left()
        if interrupted or out_of_time(remaining):
            entry["status"] = skipped()
            continue
        # with its own start the solver has the incumbent already; without, the target is a cutoff
        cutoff = None if use_start else goal
        extra_options = {**SUB_OPTIONS.get(backend.name, {}),
                         **(CUTOFF_OPTIONS.get(backend.name, {}) if cutoff is not None else {})}
        opts = replace(options, time_limit=remaining, cutoff=cutoff,
                       solver_options={**extra_options, **options.solver_options})
        try:
            res = backend.solve(form.m, opts, start=form.start_vector())
        except KeyboardInterrupt:
            interrupted = True
            entry["status"] = "interrupted"
            continue
        interrupted = res.status == Status.INTERRUPTED
        nodes += res.nodes
        solve_time += res.time
        if use_start:
            accepted = res.start_accepted if accepted is None else (accepted and res.start_accepted)
        size = _add_sizes(size, form.m.size())
        entry.update(status=str(res.status), objective=res.objective, bound=res.bound, time=res.time,
                     nodes=res.nodes, cutoff=cutoff)
        if res.has_solution:
            net = form.extract(res.x)
            val = objective_value(net, X, y, loss, config)  # exact; <= the solver's value (see _relu)
            entry["network_objective"] = val
            tol = TOL * (1.0 + abs(res.objective))
            if val > res.objective + tol:  # would mean a loose big-M or an invalid row: a bug, said loudly
                warnings.warn(f"certificate failed: sign pattern {k}: numpy objective {val:.10g} exceeds the "
                              f"solver's {res.objective:.10g} (tolerance {tol:.3g})", CertificateWarning,
                              stacklevel=2)
                entry["certificate_failed"] = True
            if val < best_val:
                best_net, best_val, best_form, best_x = net, val, form, res.x
        if res.status in (Status.OPTIMAL, Status.INFEASIBLE):
            # optimal: its objective (within the gap); else nothing below the cutoff (or infeasible)
            sub_lower = res.objective if res.has_solution and res.status == Status.OPTIMAL else math.inf
            lower[k] = sub_lower if cutoff is None else min(sub_lower, cutoff)
            settled.add(k)
        elif math.isfinite(res.bound):
            lower[k] = max(res.bound, lower[k])
    all_proved = len(settled) == len(order)
    if best_net is None:
        if all_proved:
            raise NoSolutionError("the constraints are infeasible (no network satisfies them)")
        raise NoSolutionError("the solver found no feasible network before the time limit")
    subs = [entries[k] for k in order]
    bound = min(min(lower.values(), default=math.inf), best_val)
    status = Status.OPTIMAL if all_proved else (Status.INTERRUPTED if interrupted else Status.TIME_LIMIT)
    return {"network": best_net, "objective": best_val, "bound": bound, "gap": relative_gap(best_val, bound),
            "status": status, "nodes": nodes, "solve_time": solve_time, "size": size, "sub_problems": subs,
            "warm_value": warm_value, "accepted": accepted, "form": best_form, "x": best_x}


def _add_sizes(a: dict, b: dict) -> dict:
    return {key: a.get(key, 0) + b.get(key, 0) for key in b}
