"""Train a network by MIP: warm start, bounds, build, solve, extract, certify, report."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from mipnet.clock import Clock
from mipnet.errors import NoSolutionError
from mipnet.layers import Conv2D
from mipnet.network import Network
from mipnet.progress import FLOOR_RULE, Phase, ProgressEvent, TrainProgress, chain, make_display
from mipnet.report import TrainReport
from mipnet.solvers import SolveOptions, Status, get_backend
from mipnet.solvers.base import LIMIT_STATUSES, relative_gap, stopping_limit
from mipnet.train.certificate import Certificate, certify, objective_terms, objective_value
from mipnet.train.config import PrimalSearch, TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.lns import search
from mipnet.train.losses import Loss
from mipnet.train.sign_patterns.conv_heads import HeadPatterns, head_patterns
from mipnet.train.sign_patterns.decompose import solve_by_head_patterns, solve_by_output_signs, solve_by_unit_counts
from mipnet.train.sign_patterns.unit_counts import UnitCounts, unit_counts
from mipnet.train.structure import active_filters, active_layers
from mipnet.train.warmstart import (
    dense_applicable,
    order_hidden_units,
    sign_output_applicable,
    sign_output_starts,
    warm_start,
)
from mipnet.train.warmstart_cnn import warm_start_layers


def sparsity(net: Network, tol: float = 0.0) -> dict:
    """Structure of a trained network: nonzero weights, active units per affine layer, inputs used, active
    filters per convolution layer, active (not gated-off) affine layers, and the flag of every gateable layer."""
    s = net.summary(tol)
    affine = [entry for entry in s["layers"] if "weights" in entry]
    used = s["inputs_used"]
    return {"nonzero_weights": sum(e["nonzero_weights"] for e in affine), "weights": sum(e["weights"] for e in affine),
            "active_units": [e["active_units"] for e in affine], "inputs_used": used,
            "inputs_used_count": None if used is None else len(used),
            "active_filters": active_filters(net, tol),
            "filters": [e["units"] for e in affine if e["kind"] == "conv2d"],
            "active_layers": sum(e.get("active", True) for e in affine), "layers": len(affine),
            "gated_layers_active": active_layers(net)}


@dataclass
class ExtraConstraints:
    """What a caller adds to the training MIP (:mod:`mipnet.constraints` builds one).

    Attributes
    ----------
    points : ndarray or None
        Inputs encoded beside the data, left out of the loss (see :class:`TrainingFormulation`).
    add_rows : callable or None
        ``add_rows(form)`` adds the constraints' rows to the built formulation.
    satisfied : callable or None
        ``satisfied(net)``: whether a network meets every constraint the rows state. A warm start that does not is
        dropped, and with it the L1-budget bound rule (its objective bounds only the unconstrained optimum).
    symmetric : bool
        Whether the constraints treat the hidden units of a layer alike; if not, the symmetry rows are left out
        (they would cut off every optimum that the constraints make asymmetric).
    """

    points: np.ndarray | None = None
    add_rows: Callable[[TrainingFormulation], None] | None = None
    satisfied: Callable[[Network], bool] | None = None
    symmetric: bool = True


def train_network(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                  solver: str = "highs", options: SolveOptions | None = None,
                  extra: ExtraConstraints | None = None, callback: Callable[[ProgressEvent], None] | None = None,
                  verbose: bool = False, started: float | None = None) -> tuple[Network, TrainReport]:
    """Solve the training MIP and return the trained network with its report.

    ``extra``: constraints beyond the configuration's (points, rows); they make it one MIP (no decomposition by
    output signs, whose sub-problems and cutoffs assume none).

    Parameters
    ----------
    callback : callable or None
        Called with a :class:`~mipnet.progress.ProgressEvent` at every step: phase (warm start, build, cut loop,
        solve; per sign pattern in the decomposition), seconds since launch, incumbent, bound, gap. ``options``'s
        own ``callback`` still receives the solver's raw :class:`~mipnet.solvers.Progress` events.
    verbose : bool
        Show the progress on standard output: a live line on a terminal, plain lines otherwise
        (:func:`mipnet.progress.make_display`).
    started : float or None
        ``time.perf_counter()`` at launch (default: now): the elapsed times and ``options.time_limit`` count from it.

    Notes
    -----
    No lost work: Ctrl-C (``KeyboardInterrupt``) or the time limit in any phase ends the run with the best network
    found so far (status ``interrupted`` or ``time_limit``), a bound that is valid and at least the objective's floor
    (:data:`mipnet.progress.FLOOR_RULE`), and the report of what ran. The time limit counts from launch: the warm
    start's LP polishing stops at :data:`WARM_START_TIME_FRACTION` of it, and the solve gets what is left.

    Raises
    ------
    NoSolutionError
        When the solver proves the constraints infeasible, or the run stops before finding any network.
    """
    t_start = time.perf_counter() if started is None else started
    display = make_display(started=t_start) if verbose else None
    tracker = TrainProgress(chain(callback, display), started=t_start)
    try:
        return _train(template, X, y, loss, config, solver, options or SolveOptions(), extra, tracker)
    finally:
        if display is not None:
            display.close()


#: share of the time limit the warm start's LP polishing may use (the MIP gets the rest)
WARM_START_TIME_FRACTION = 0.5
#: before a decomposition by head patterns the primal search gets this part of its usual share (the patterns'
#: MIPs find networks themselves)
HEAD_PATTERN_LNS_FACTOR = 0.2


def primal_search_on(config: TrainConfig, convolutional: bool) -> bool:
    """Whether the large-neighbourhood search runs before the full MIP (:class:`~mipnet.train.config.PrimalSearch`:
    ``auto`` means for networks with a convolution)."""
    return config.primal == PrimalSearch.LNS or (config.primal == PrimalSearch.AUTO and convolutional)


def _train(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig, solver: str,
           options: SolveOptions, extra: ExtraConstraints | None,
           tracker: TrainProgress) -> tuple[Network, TrainReport]:
    t_start = tracker.started
    clock = Clock(options.time_limit, started=t_start)
    backend = get_backend(solver)
    if extra is not None and not extra.symmetric:
        config = replace(config, symmetry=False)
    convolutional = any(isinstance(layer, Conv2D) for layer in template.layers)
    domains = resolve_domains(config.weights, len(template.affine_layers()), template.n_outputs, convolutional)
    prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]

    # the search runs on the full MIP: asking for it explicitly also asks for the full MIP (no decomposition)
    if (extra is None and config.decompose and config.warm_start and solver == "highs" and not config.layer_gates
            and config.primal != PrimalSearch.LNS and sign_output_applicable(template, loss, domains, prunable)):
        return _train_decomposed(template, X, y, loss, config, domains, backend, options, tracker, clock)
    heads, decomposition = None, None   # decomposition: (its patterns, its driver, its name in the report)
    if extra is None and config.decompose and config.warm_start and solver == "highs":
        heads = head_patterns(template, loss, domains, config, prunable[-1])
        counts = None if heads is not None or config.primal == PrimalSearch.LNS else unit_counts(
            template, loss, domains, config, prunable[-1])
        if heads is not None:
            decomposition = (heads, solve_by_head_patterns, "by head patterns")
        elif counts is not None:
            decomposition = (counts, solve_by_unit_counts, "by unit counts")
    found: list[tuple[Network, float]] = []   # the best warm start so far (kept on Ctrl-C)
    warm, warm_value, form, result, build_time = None, None, None, None, 0.0
    start_value, primal = None, None
    points = None if extra is None else extra.points

    def build(net: Network | None, value: float | None) -> TrainingFormulation:
        f = TrainingFormulation(template, X, y, loss, config, domains, warm=net, incumbent=value, points=points)
        if extra is not None and extra.add_rows is not None:
            extra.add_rows(f)
        return f

    try:
        if config.warm_start:
            tracker.enter(Phase.WARM_START)
            start = warm_start if dense_applicable(template, config) else warm_start_layers

            def on_found(net: Network, value: float) -> None:
                if extra is None or extra.satisfied is None or extra.satisfied(net):
                    found[:] = [(net, value)]
                    tracker.found(value, "gradient start")

            start(template, X, y, loss, config, domains, prunable, on_found=on_found)
            if found:
                warm, warm_value = found[0]
                start_value = warm_value
        tracker.enter(Phase.BUILD)
        form = build(warm, warm_value)
        backend.check(form.m)
        build_time = time.perf_counter() - t_start
        if warm is not None and primal_search_on(config, convolutional) and not clock.out():
            left = clock.left()
            share = config.lns.time_share * (HEAD_PATTERN_LNS_FACTOR if heads is not None else 1.0)
            primal = search(build, warm, warm_value, X, y, loss, config, backend, options,
                            Clock(None if left is None else share * left), tracker, form=form,
                            separate_head=extra is None)
            form, warm, warm_value = primal.form, primal.network, primal.value
        if decomposition is not None and warm is not None and not clock.out() and not tracker.interrupted:
            return _train_by_patterns(template, X, y, loss, config, domains, backend, options, tracker, *decomposition,
                                      warm, start_value, build_time,
                                      {} if primal is None else {"primal search": primal.summary()})
        if not clock.out() and not tracker.interrupted:
            tracker.enter(Phase.SOLVE, detail=f"{form.m.n_vars} variables, {form.m.n_rows} rows")
            solve_options = replace(options, time_limit=clock.left(),
                                    callback=chain(tracker.solver_callback(), options.callback))
            result = backend.solve(form.m, solve_options, start=form.start_vector())
    except KeyboardInterrupt:
        tracker.interrupted = True
        if found and warm is None:
            warm, warm_value = found[0]
            start_value = warm_value
    if not build_time:
        build_time = time.perf_counter() - t_start
    primal_lines = {} if primal is None else {"primal search": primal.summary()}
    better_start = (result is not None and result.has_solution and warm is not None
                    and result.objective > warm_value + 1e-9 * (1.0 + abs(warm_value)))
    if result is None or better_start or (
            not result.has_solution and result.status in (Status.INTERRUPTED, Status.NO_SOLUTION, *LIMIT_STATUSES)
            and warm is not None):
        return _stopped_early(template, X, y, loss, config, domains, backend, options, tracker, warm, warm_value,
                              form, result, build_time, start_value, primal_lines)
    if not result.has_solution:
        why = {Status.INFEASIBLE: "the constraints are infeasible (no network satisfies them)",
               Status.NO_SOLUTION: "the solver found no feasible network before the time limit",
               Status.INTERRUPTED: "the solve was interrupted before any network was found"}
        raise NoSolutionError(why.get(result.status, f"the solver ended with status {result.status}"),
                              proved_infeasible=result.status == Status.INFEASIBLE)
    net = form.extract(result.x)
    cert = certify(net, X, y, loss, config, form.encoding, result.x, result.objective)
    terms = objective_terms(net, X, y, loss, config)
    bound, extra_lines = _reported_bound(result.bound, tracker, result.status == Status.OPTIMAL)
    gap = relative_gap(result.objective, bound) if bound != result.bound else result.gap
    tracker.found(result.objective)
    tracker.set_bound(bound, quiet=True)
    tracker.enter(Phase.DONE, detail=str(result.status))
    extra_lines.update(primal_lines)
    if math.isfinite(options.mip_gap):
        extra_lines["mip gap option"] = f"{options.mip_gap:g} (optimal means within this relative gap)"
    report = TrainReport(
        status=str(result.status), proved_optimal=result.status == Status.OPTIMAL, objective=result.objective,
        bound=bound, gap=gap, solve_time=result.time, build_time=build_time,
        total_time=time.perf_counter() - t_start, nodes=result.nodes, solver=result.solver,
        solver_version=result.version, mip_size=form.m.size(), weights=[str(d) for d in domains],
        bound_rule=config.bounds, l1_budget=form.budget, warm_start_objective=start_value,
        warm_start_accepted=result.start_accepted, objective_terms=terms, sparsity=sparsity(net),
        certificate=cert.as_dict(), history=list(tracker.history), extra=extra_lines)
    return net, report


def _reported_bound(solver_bound: float, tracker: TrainProgress, proved: bool) -> tuple[float, dict]:
    """The bound a report states: the solver's, or the best valid one seen during the run when that is higher (a
    solver stopped early may return ``-inf`` after its progress showed a finite bound), raised to the floor; and the
    report's note when the floor rule acted."""
    bound = solver_bound if math.isfinite(solver_bound) or proved else -math.inf
    if not proved:
        bound = max(bound, tracker.bound)
    note = {"bound floor": FLOOR_RULE}
    if bound < tracker.floor:
        note["bound floor"] += f" (here: the solver's {solver_bound:.3g})"
        bound = tracker.floor
    return float(bound), note


def _stopped_early(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig, domains: list,
                   backend: object, options: SolveOptions, tracker: TrainProgress, warm: Network | None,
                   warm_value: float | None, form: TrainingFormulation | None, result: object,
                   build_time: float, start_value: float | None = None,
                   primal_lines: dict | None = None) -> tuple[Network, TrainReport]:
    """The report of a run stopped (Ctrl-C or the time limit) before the solver returned a network at least as good
    as the best one known: that network (the warm start, or the primal search's best; ``form`` is built around it),
    with the best valid bound known (at least the floor). ``start_value``: the warm start's objective."""
    status = Status.INTERRUPTED if tracker.interrupted else stopping_limit(result)
    if warm is None:
        raise NoSolutionError("the run was interrupted before any network was found" if tracker.interrupted else
                              "the time limit was reached before any network was found")
    phase = tracker.phase.value
    if form is not None:
        cert = certify(warm, X, y, loss, config, form.encoding, form.start_vector(), warm_value)
        size = form.m.size()
    else:
        cert = Certificate(True, 0.0, 0.0, float(warm_value), float(warm_value), 0.0,
                           "no solver solution to re-check: the network is the warm start, its objective "
                           "computed by numpy")
        size = {}
    bound, extra_lines = _reported_bound(-math.inf if result is None else result.bound, tracker, False)
    source = "the warm start" if not primal_lines or start_value == warm_value else "the primal search's"
    if result is not None and result.has_solution:
        extra_lines["stopped"] = (f"{status}: the solver's network ({result.objective:.6g}) is worse than the best "
                                  f"known, {source}")
    else:
        extra_lines["stopped"] = f"{status} during the {phase} phase: the best network so far is {source}"
    extra_lines.update(primal_lines or {})
    tracker.enter(Phase.DONE, detail=str(status))
    report = TrainReport(
        status=str(status), proved_optimal=False, objective=float(warm_value), bound=bound,
        gap=relative_gap(float(warm_value), bound), solve_time=0.0 if result is None else result.time,
        build_time=build_time, total_time=tracker.elapsed, nodes=0 if result is None else result.nodes,
        solver=backend.name, solver_version=backend.version(), mip_size=size, weights=[str(d) for d in domains],
        bound_rule=config.bounds, l1_budget=None if form is None else form.budget,
        warm_start_objective=warm_value if start_value is None else start_value,
        warm_start_accepted=None if result is None else result.start_accepted,
        objective_terms=objective_terms(warm, X, y, loss, config), sparsity=sparsity(warm),
        certificate=cert.as_dict(), history=list(tracker.history), extra=extra_lines)
    return warm, report


def _train_decomposed(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                      domains: list, backend: object, options: SolveOptions, tracker: TrainProgress,
                      clock: Clock) -> tuple[Network, TrainReport]:
    """One hidden layer, sign output weights: warm starts per output-sign pattern, then the exact decomposition.

    Ctrl-C in the warm start keeps the starts found so far (every pattern is then skipped); the warm start's LP
    polishing stops at :data:`WARM_START_TIME_FRACTION` of the time limit."""
    yy = np.asarray(y)
    t_start = tracker.started
    starts: dict = {}
    polish = Clock(None if clock.limit is None else WARM_START_TIME_FRACTION * clock.limit, started=t_start)
    try:
        sign_output_starts(template, X, yy, config, into=starts, progress=tracker, polish_clock=polish)
    except KeyboardInterrupt:
        tracker.interrupted = True
    build_time = time.perf_counter() - t_start
    out = solve_by_output_signs(template, X, yy, loss, config, domains, backend, options, starts, t_start, tracker)
    net = order_hidden_units(out["network"])
    return _decomposition_report(template, X, yy, loss, config, domains, backend, tracker, out, net, build_time,
                                 "by output signs")


def _train_by_patterns(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                       domains: list, backend: object, options: SolveOptions, tracker: TrainProgress,
                       patterns: HeadPatterns | UnitCounts, solve: Callable[..., dict], kind: str, warm: Network,
                       start_value: float | None, build_time: float,
                       primal_lines: dict) -> tuple[Network, TrainReport]:
    """A decomposition that starts from the best network so far (warm start, primal search): by head patterns
    (:mod:`mipnet.train.sign_patterns.conv_heads`, a small discrete head) or by the number of active first-layer
    units (:mod:`mipnet.train.sign_patterns.unit_counts`, gated units and a wider head). ``solve`` is its driver
    (:func:`solve_by_head_patterns`, :func:`solve_by_unit_counts`); the best network, in its canonical form, is the
    start of its own sub-problem and the cutoff of the others. ``start_value``: the gradient warm start's
    objective."""
    yy = np.asarray(y)
    k, start = patterns.canonical(warm)
    starts = {k: (start, objective_value(start, X, yy, loss, config))}
    out = solve(template, X, yy, loss, config, domains, backend, options, patterns, starts, tracker.started, tracker)
    net, report = _decomposition_report(template, X, yy, loss, config, domains, backend, tracker, out, out["network"],
                                        build_time, kind)
    report.warm_start_objective = start_value
    report.extra.update(primal_lines)
    return net, report


def _decomposition_report(template: Network, X: np.ndarray, yy: np.ndarray, loss: Loss, config: TrainConfig,
                          domains: list, backend: object, tracker: TrainProgress, out: dict, net: Network,
                          build_time: float, kind: str) -> tuple[Network, TrainReport]:
    """The network and report of a decomposition (``out`` from the driver): the network re-checked against the full
    formulation, since a sub-problem keeps one side of some ReLUs."""
    t_start = tracker.started
    # the sub-problem keeps one side of each ReLU, so its activation variables may exceed the network's; the
    # certificate compares the network's forward pass with the solver's objective (the network's objective
    # can only be lower), and the outputs of a full formulation with the network as its start
    try:
        check = TrainingFormulation(template, X, yy, loss, replace(config, symmetry=False), domains, warm=net)
        x = check.start_vector()
        cert = certify(net, X, yy, loss, config, check.encoding, x, out["objective"])
        violation = check.m.violation(x)
    except KeyboardInterrupt:   # Ctrl-C during the re-check: the network is kept, the check said not done
        tracker.interrupted = True
        value = objective_value(net, X, yy, loss, config)
        cert = Certificate(False, math.nan, math.nan, float(out["objective"]), value, math.nan,
                           "interrupted before the certificate was complete")
        violation = 0.0
    bad = [e["k"] for e in out["sub_problems"] if e.get("certificate_failed")]
    if bad:
        cert.ok = False
        cert.message = f"patterns {bad}: numpy objective above the solver's (see the warnings)"
    if violation > 1e-6:
        cert.ok = False
        cert.message = f"the network violates the full formulation by {violation:.3g}"
    terms = objective_terms(net, X, yy, loss, config)
    extra_lines = {"decomposition": kind, "sub_problems": out["sub_problems"], "bound floor": FLOOR_RULE}
    tracker.enter(Phase.DONE, detail=str(out["status"]))
    report = TrainReport(
        status=str(out["status"]), proved_optimal=out["status"] == Status.OPTIMAL, objective=out["objective"],
        bound=out["bound"], gap=out["gap"], solve_time=out["solve_time"], build_time=build_time,
        total_time=time.perf_counter() - t_start, nodes=out["nodes"], solver=backend.name,
        solver_version=backend.version(), mip_size=out["size"], weights=[str(d) for d in domains],
        bound_rule=config.bounds, l1_budget=None, warm_start_objective=out["warm_value"],
        warm_start_accepted=out["accepted"], objective_terms=terms, sparsity=sparsity(net),
        certificate=cert.as_dict(), history=list(tracker.history), extra=extra_lines)
    return net, report
