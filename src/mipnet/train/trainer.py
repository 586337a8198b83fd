"""Train a network by MIP: warm start, bounds, build, solve, extract, certify, report."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from mipnet.errors import NoSolutionError
from mipnet.layers import Conv2D
from mipnet.network import Network
from mipnet.report import TrainReport
from mipnet.solvers import SolveOptions, Status, get_backend
from mipnet.train.certificate import certify, objective_terms
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Loss
from mipnet.train.sign_patterns.decompose import solve_by_output_signs
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
                  extra: ExtraConstraints | None = None) -> tuple[Network, TrainReport]:
    """Solve the training MIP and return the trained network with its report.

    ``extra``: constraints beyond the configuration's (points, rows); they make it one MIP (no decomposition by
    output signs, whose sub-problems and cutoffs assume none).

    Raises
    ------
    NoSolutionError
        When the solver proves the constraints infeasible or stops before finding any network.
    """
    t_start = time.perf_counter()
    options = options or SolveOptions()
    backend = get_backend(solver)
    if extra is not None and not extra.symmetric:
        config = replace(config, symmetry=False)
    convolutional = any(isinstance(layer, Conv2D) for layer in template.layers)
    domains = resolve_domains(config.weights, len(template.affine_layers()), template.n_outputs, convolutional)
    prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]

    if (extra is None and config.decompose and config.warm_start and solver == "highs" and not config.layer_gates
            and sign_output_applicable(template, loss, domains, prunable)):
        return _train_decomposed(template, X, y, loss, config, domains, backend, options, t_start)
    warm, warm_value = None, None
    if config.warm_start:
        start = warm_start if dense_applicable(template, config) else warm_start_layers
        found = start(template, X, y, loss, config, domains, prunable)
        if found is not None and (extra is None or extra.satisfied is None or extra.satisfied(found[0])):
            warm, warm_value = found
    form = TrainingFormulation(template, X, y, loss, config, domains, warm=warm, incumbent=warm_value,
                               points=None if extra is None else extra.points)
    if extra is not None and extra.add_rows is not None:
        extra.add_rows(form)
    backend.check(form.m)
    build_time = time.perf_counter() - t_start
    result = backend.solve(form.m, options, start=form.start_vector())
    if not result.has_solution:
        why = {Status.INFEASIBLE: "the constraints are infeasible (no network satisfies them)",
               Status.NO_SOLUTION: "the solver found no feasible network before the time limit",
               Status.INTERRUPTED: "the solve was interrupted before any network was found"}
        raise NoSolutionError(why.get(result.status, f"the solver ended with status {result.status}"),
                              proved_infeasible=result.status == Status.INFEASIBLE)
    net = form.extract(result.x)
    cert = certify(net, X, y, loss, config, form.encoding, result.x, result.objective)
    terms = objective_terms(net, X, y, loss, config)
    report = TrainReport(
        status=str(result.status), proved_optimal=result.status == Status.OPTIMAL, objective=result.objective,
        bound=result.bound, gap=result.gap, solve_time=result.time, build_time=build_time,
        total_time=time.perf_counter() - t_start, nodes=result.nodes, solver=result.solver,
        solver_version=result.version, mip_size=form.m.size(), weights=[str(d) for d in domains],
        bound_rule=config.bounds, l1_budget=form.budget, warm_start_objective=warm_value,
        warm_start_accepted=result.start_accepted, objective_terms=terms, sparsity=sparsity(net),
        certificate=cert.as_dict(), history=[(t + build_time, inc, bnd) for t, inc, bnd in result.history],
        extra={"mip gap option": f"{options.mip_gap:g} (optimal means within this relative gap)"}
        if math.isfinite(options.mip_gap) else {})
    return net, report


def _train_decomposed(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                      domains: list, backend: object, options: SolveOptions,
                      t_start: float) -> tuple[Network, TrainReport]:
    """One hidden layer, sign output weights: warm starts per output-sign pattern, then the exact decomposition."""
    yy = np.asarray(y)
    starts = sign_output_starts(template, X, yy, config)
    build_time = time.perf_counter() - t_start
    out = solve_by_output_signs(template, X, yy, loss, config, domains, backend, options, starts, t_start)
    net = order_hidden_units(out["network"])
    # the sub-problem keeps one side of each ReLU, so its activation variables may exceed the network's; the
    # certificate compares the network's forward pass with the solver's objective (the network's objective
    # can only be lower), and the outputs of a full formulation with the network as its start
    check = TrainingFormulation(template, X, yy, loss, replace(config, symmetry=False), domains, warm=net)
    x = check.start_vector()
    cert = certify(net, X, yy, loss, config, check.encoding, x, out["objective"])
    bad = [e["k"] for e in out["sub_problems"] if e.get("certificate_failed")]
    if bad:
        cert.ok = False
        cert.message = f"sign patterns {bad}: numpy objective above the solver's (see the warnings)"
    if check.m.violation(x) > 1e-6:
        cert.ok = False
        cert.message = f"the network violates the full formulation by {check.m.violation(x):.3g}"
    terms = objective_terms(net, X, yy, loss, config)
    report = TrainReport(
        status=str(out["status"]), proved_optimal=out["status"] == Status.OPTIMAL, objective=out["objective"],
        bound=out["bound"], gap=out["gap"], solve_time=out["solve_time"], build_time=build_time,
        total_time=time.perf_counter() - t_start, nodes=out["nodes"], solver=backend.name,
        solver_version=backend.version(), mip_size=out["size"], weights=[str(d) for d in domains],
        bound_rule=config.bounds, l1_budget=None, warm_start_objective=out["warm_value"],
        warm_start_accepted=out["accepted"], objective_terms=terms, sparsity=sparsity(net),
        certificate=cert.as_dict(), history=out["history"],
        extra={"decomposition": "by output signs", "sub_problems": out["sub_problems"]})
    return net, report
