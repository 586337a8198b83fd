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
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from mipnet.bounds.lp import LPSession
from mipnet.errors import CertificateWarning, NoSolutionError
from mipnet.network import Network
from mipnet.progress import Phase, TrainProgress, chain
from mipnet.solvers import SolveOptions, Status
from mipnet.solvers.base import Backend, relative_gap
from mipnet.train.certificate import TOL, objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import Loss
from mipnet.train.sign_patterns import cuts
from mipnet.train.sign_patterns.conv_heads import HeadPatternFormulation, HeadPatterns
from mipnet.train.sign_patterns.formulation import SignPatternFormulation
from mipnet.train.sign_patterns.obbt import first_layer_bounds
from mipnet.train.sign_patterns.unit_counts import UnitCountFormulation, UnitCounts

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
#: with root LPs (head patterns), a pattern's first MIP may use this many even shares of the time left ...
SHARE_FACTOR = 3.0
#: ... and at least this many seconds
MIN_SHARE = 5.0


def solve_by_output_signs(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                          domains: list[WeightDomain], backend: Backend, options: SolveOptions,
                          starts: dict[int, tuple[Network, float]], t_start: float,
                          progress: TrainProgress | None = None) -> dict:
    """Solve the ``H + 1`` sign-pattern sub-problems; returns the best network and the combined status.

    ``starts`` maps pattern ``k`` to a feasible network with that pattern and its objective (the warm starts).
    Two phases: first every pattern's root cut loop (a safe LP bound per pattern, closing those that hold nothing
    better than the best start), then the MIPs of the patterns left open, from the most promising start, each
    with the remaining time. A pattern whose MIP is not reached (time limit, Ctrl-C) still has its loop's bound,
    so a stopped run reports a finite bound and gap.

    ``progress`` hears of every phase (build, cut loop, solve per pattern), better network and better bound; a
    tracker already marked ``interrupted`` (Ctrl-C in the warm start) skips every pattern. Bounds are at least
    :data:`~mipnet.progress.OBJECTIVE_FLOOR` (:data:`~mipnet.progress.FLOOR_RULE`).
    """
    h = template.layers[0].units

    def make_form(k: int, warm: Network | None, incumbent: float | None,
                  z_bounds: tuple[np.ndarray, np.ndarray] | None, config: TrainConfig) -> SignPatternFormulation:
        v = np.array([1.0] * k + [-1.0] * (h - k))
        return SignPatternFormulation(template, X, y, loss, config, domains, v, warm=warm, incumbent=incumbent,
                                      z_bounds=z_bounds)

    run = _Decomposition(X, y, loss, config, backend, options, starts, t_start, progress,
                         n_patterns=h + 1, make_form=make_form, obbt_applies=True)
    return run.run()


def solve_by_head_patterns(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                           domains: list[WeightDomain], backend: Backend, options: SolveOptions,
                           heads: HeadPatterns, starts: dict[int, tuple[Network, float]], t_start: float,
                           progress: TrainProgress | None = None) -> dict:
    """Solve the head-pattern sub-problems of a convolution-pooling-head network
    (:mod:`mipnet.train.sign_patterns.conv_heads`); returns what :func:`solve_by_output_signs` returns.

    ``starts`` maps a pattern index to a network in that pattern (:meth:`HeadPatterns.canonical`) and its
    objective. The patterns with a start go first; the others are solved with the best objective as a cutoff.
    """

    def make_form(k: int, warm: Network | None, incumbent: float | None,
                  z_bounds: tuple[np.ndarray, np.ndarray] | None, config: TrainConfig) -> HeadPatternFormulation:
        return HeadPatternFormulation(template, X, y, loss, config, domains, heads.head(k), heads.off_filters(k),
                                      warm=warm, incumbent=incumbent)

    run = _Decomposition(X, y, loss, config, backend, options, starts, t_start, progress,
                         n_patterns=len(heads.patterns), make_form=make_form, obbt_applies=False,
                         labels=[list(p) for p in heads.patterns], root_lp=True)
    return run.run()


def solve_by_unit_counts(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                         domains: list[WeightDomain], backend: Backend, options: SolveOptions, counts: UnitCounts,
                         starts: dict[int, tuple[Network, float]], t_start: float,
                         progress: TrainProgress | None = None) -> dict:
    """Solve the sub-problems by the number of active first-layer units (:mod:`mipnet.train.sign_patterns.
    unit_counts`); returns what :func:`solve_by_output_signs` returns. ``starts`` maps a count to a network in that
    sub-problem's form (:meth:`UnitCounts.canonical`) and its objective; the others get the best as a cutoff."""

    def make_form(k: int, warm: Network | None, incumbent: float | None,
                  z_bounds: tuple[np.ndarray, np.ndarray] | None, config: TrainConfig) -> UnitCountFormulation:
        return UnitCountFormulation(template, X, y, loss, config, domains, counts.counts[k], counts.columns,
                                    counts.head_zero, warm=warm, incumbent=incumbent)

    run = _Decomposition(X, y, loss, config, backend, options, starts, t_start, progress,
                         n_patterns=len(counts.counts), make_form=make_form, obbt_applies=False,
                         labels=[f"{k} active" for k in counts.counts], root_lp=True)
    return run.run()


class _Decomposition:
    """The state of one decomposition run: the best network so far, and per pattern its report line, a valid lower
    bound on the networks in it that beat the best one (its loop's safe LP bound until its MIP says more; -inf when
    nothing ran) and whether it is settled (closed by a bound, or its MIP proved).

    ``make_form(k, warm, incumbent, z_bounds, config)`` builds pattern ``k``'s sub-problem; ``obbt_applies``: whether
    the OBBT of the first layer's bounds serves it; ``labels``: what the report says of each pattern (default ``k``);
    ``root_lp``: bound each pattern by its safe root LP first (where no cut loop applies) and share the time
    between the MIPs (:meth:`run`).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig, backend: Backend,
                 options: SolveOptions, starts: dict[int, tuple[Network, float]], t_start: float,
                 progress: TrainProgress | None, n_patterns: int, make_form: Callable[..., TrainingFormulation],
                 obbt_applies: bool, labels: list | None = None, root_lp: bool = False) -> None:
        self.progress = progress if progress is not None else TrainProgress(started=t_start)
        self.X, self.y, self.loss, self.config = X, y, loss, config
        self.backend, self.options, self.starts, self.t_start = backend, options, starts, t_start
        self.make_form, self.obbt_applies, self.root_lp = make_form, obbt_applies, root_lp
        self.labels = labels if labels is not None else list(range(n_patterns))
        self.best_net, self.best_val, self.best_form, self.best_x = None, math.inf, None, None
        for net, val in starts.values():
            if val < self.best_val:
                self.best_net, self.best_val = net, val
        self.warm_value = self.best_val
        self.order = sorted(range(n_patterns), key=lambda k: starts[k][1] if k in starts else math.inf)
        self.entries: dict[int, dict] = {}  # the report's line per pattern
        self.lower: dict[int, float] = {k: -math.inf for k in self.order}
        self.settled: set[int] = set()
        self.pending: list[tuple[int, TrainingFormulation, bool]] = []  # patterns that need a MIP
        self.nodes, self.solve_time, self.accepted = 0, 0.0, None
        self.size: dict = {}
        self.interrupted = self.progress.interrupted
        self.node_limited = False   # some pattern's MIP stopped at the node limit
        if math.isfinite(self.best_val):
            self.progress.found(self.best_val, "best warm start")

    def run(self) -> dict:
        """Phase 1 (build each pattern's sub-problem; its root cut loop, or its root LP, where it applies), phase 2
        (the MIPs of the patterns left open); the combined result.

        With ``root_lp`` (the head patterns) phase 2 takes the patterns with a start first, then the others from the
        lowest root bound, each MIP capped at :data:`SHARE_FACTOR` times an even share of the time left; the
        patterns a cap stopped get the time that remains afterwards (again from the lowest bound)."""
        for k in self.order:
            self.prepare(k)
        if not self.root_lp:
            for job in list(self.pending):
                self.solve(*job)
            return self.result()
        jobs = sorted(self.pending, key=lambda job: (not job[2], self.lower[job[0]]))
        for i, job in enumerate(jobs):
            left = self.time_left()
            share = None if left is None else max(SHARE_FACTOR * left / (len(jobs) - i), MIN_SHARE)
            self.solve(*job, cap=share)
        again = sorted((job for job in jobs if job[0] not in self.settled), key=lambda job: self.lower[job[0]])
        for job in again:
            self.solve(*job)
        return self.result()

    # ----------------------------------------------------------------------------------------- bounds
    def whole_bound(self) -> float:
        """A valid bound on the optimum of the whole problem: the smallest over the patterns (each a bound on the
        networks in it that beat the best one), the best network's value, and the floor."""
        return self.progress.clip(min(min(self.lower.values(), default=math.inf), self.best_val))

    def raise_lower(self, k: int, bound: float) -> float:
        """Pattern ``k``'s bound raised to ``bound`` (valid for it); returns the bound of the whole problem."""
        if not math.isnan(bound) and bound > self.lower[k]:
            self.lower[k] = bound
        whole = self.whole_bound()
        self.progress.set_bound(whole, quiet=True)
        return whole

    # ------------------------------------------------------------------------------------------ clock
    def time_left(self) -> float | None:
        if self.options.time_limit is None:
            return None
        return self.options.time_limit - (time.perf_counter() - self.t_start)

    @staticmethod
    def out_of_time(remaining: float | None) -> bool:
        return remaining is not None and remaining <= 0.5

    def limit(self) -> Status:
        """The limit that left some pattern open: the node limit when one stopped a MIP and time remains."""
        return Status.NODE_LIMIT if self.node_limited and not self.out_of_time(self.time_left()) else Status.TIME_LIMIT

    def skipped(self) -> str:
        return "skipped (interrupted)" if self.interrupted else "skipped (time limit)"

    def target(self) -> float | None:
        """Solutions within the relative gap of the best count as equal, as in any solve with that gap."""
        if not math.isfinite(self.best_val):
            return None
        return self.best_val - self.options.mip_gap * abs(self.best_val)

    # ---------------------------------------------------------------------------------------- phase 1
    def prepare(self, k: int) -> None:
        """Build pattern ``k``'s sub-problem (OBBT first when asked) and run its root cut loop; Ctrl-C while doing so
        skips this pattern and the rest (the best network so far is kept)."""
        if self.interrupted or self.out_of_time(self.time_left()):
            self.entries[k] = {"k": self.labels[k], "status": self.skipped()}
            return
        try:
            self._prepare(k)
        except KeyboardInterrupt:
            self.interrupted = self.progress.interrupted = True
            self.entries.setdefault(k, {"k": self.labels[k]})["status"] = "interrupted"
            self.pending = [job for job in self.pending if job[0] != k]

    def _prepare(self, k: int) -> None:
        opts = self.config.sign_patterns
        self.progress.enter(Phase.BUILD, k)
        remaining = self.time_left()
        start_net, start_val = self.starts.get(k, (None, math.inf))
        use_start = start_net is not None and start_val <= self.best_val * (1 + 1e-9) + 1e-12
        incumbent = self.best_val if math.isfinite(self.best_val) else None
        warm = start_net if use_start else None
        z_bounds, obbt_info = None, None
        entry = self.entries[k] = {"k": self.labels[k]}
        if opts.obbt is not None and incumbent is not None and self.obbt_applies:
            # LP bound tightening of the big-M values (valid for every solution no worse than the incumbent);
            # off by default: measured slower on breast cancer (40, 4) (see bench/RESULTS.md)
            budget = opts.obbt.time_fraction * (remaining if remaining is not None else 600.0)
            lp_config = replace(self.config, sign_patterns=replace(opts, pair_rows=opts.obbt.pair_rows))
            z_bounds, obbt_info = first_layer_bounds(
                lambda zb: self.make_form(k, warm, incumbent, zb, lp_config),
                max(self.best_val, start_val if use_start else self.best_val), budget,
                rounds=opts.obbt.rounds, lower=opts.obbt.lower, symmetric=opts.obbt.symmetric)
            remaining = self.time_left()
        entry["obbt"] = obbt_info
        form = self.make_form(k, warm, incumbent, z_bounds, self.config)
        self.backend.check(form.m)
        if opts.relu_cuts and cuts.applicable(form) and not self.out_of_time(remaining):
            # a pattern whose safe LP bound reaches the target holds nothing better than the best network and
            # needs no MIP; otherwise its near-binding cuts go into the MIP
            self.progress.enter(Phase.CUTS, k)
            budget = CUT_TIME_FRACTION * (remaining if remaining is not None else 600.0)

            def on_round(state: cuts.CutLoopResult, lp_value: float) -> None:
                self.progress.emit(f"round {state.rounds}, {state.generated} cuts, LP value {lp_value:.6g}")

            loop = cuts.root_cut_loop(form, self.target(), budget, keep_slack=opts.cut_keep_slack,
                                      symmetric=opts.cut_symmetric, on_round=on_round)
            entry["cuts"] = loop.as_dict()
            if math.isfinite(loop.bound):   # the floor rule (FLOOR_RULE) in the report's lines too
                entry["cuts"]["bound"] = self.progress.clip(loop.bound)
            entry["loop_bound"] = entry["cuts"]["bound"]
            self.raise_lower(k, loop.bound)
            self.progress.emit(f"safe LP bound {loop.bound:.6g} after {loop.rounds} rounds ({loop.stopped})")
            if loop.stopped == "interrupted":   # Ctrl-C in the loop: its rounds and bound are kept, the rest skipped
                self.interrupted = self.progress.interrupted = True
                entry["status"] = "interrupted"
                return
            cuts.add_cuts(form, loop.cuts)
        elif self.root_lp and not self.out_of_time(remaining):
            self.progress.enter(Phase.CUTS, k, "root LP")
            lp = LPSession(form.m, relax=True, objective=True).solve(time_limit=remaining)
            entry["root_lp"] = self.progress.clip(lp.bound) if math.isfinite(lp.bound) else lp.bound
            entry["loop_bound"] = entry["root_lp"]
            self.raise_lower(k, lp.bound)
        self.pending.append((k, form, use_start))

    # ---------------------------------------------------------------------------------------- phase 2
    def solve(self, k: int, form: TrainingFormulation, use_start: bool, cap: float | None = None) -> None:
        """Close pattern ``k`` by its loop's (or root LP's) bound, or solve its MIP with the remaining time (at most
        ``cap`` seconds)."""
        entry = self.entries[k]
        if k in self.settled:
            return
        goal = self.target()
        if goal is not None and self.lower[k] >= goal and ("cuts" in entry or "root_lp" in entry):
            how = "the cut loop's LP bound" if "cuts" in entry else "its root LP bound"
            entry.update(status=f"closed by {how}", bound=self.lower[k], cutoff=goal, nodes=0,
                         time=entry["cuts"]["time"] if "cuts" in entry else 0.0)
            self.settled.add(k)
            return
        remaining = self.time_left()
        if self.interrupted or self.out_of_time(remaining):
            entry.setdefault("status", self.skipped())    # a pattern revisited keeps what its first MIP said
            return
        # with its own start the solver has the incumbent already; without, the target is a cutoff
        cutoff = None if use_start else goal
        name = self.backend.name
        extra_options = {**SUB_OPTIONS.get(name, {}), **(CUTOFF_OPTIONS.get(name, {}) if cutoff is not None else {})}
        self.progress.enter(Phase.SOLVE, k, f"{form.m.n_vars} variables, {form.m.n_rows} rows"
                            + ("" if cutoff is None else f", cutoff {cutoff:.6g}"))
        # the solver's bound holds for the solutions below the cutoff: it says no more than the cutoff itself
        live = self.progress.solver_callback(
            lambda bound: self.raise_lower(k, bound if cutoff is None else min(bound, cutoff)))
        limit = remaining if cap is None or (remaining is not None and remaining <= cap) else cap
        solve_options = replace(self.options, time_limit=limit, cutoff=cutoff,
                                solver_options={**extra_options, **self.options.solver_options},
                                callback=chain(live, self.options.callback))
        try:
            res = self.backend.solve(form.m, solve_options, start=form.start_vector())
        except KeyboardInterrupt:
            self.interrupted = self.progress.interrupted = True
            entry["status"] = "interrupted"
            return
        self.interrupted = res.status == Status.INTERRUPTED
        self.node_limited = self.node_limited or res.status == Status.NODE_LIMIT
        self.progress.interrupted = self.progress.interrupted or self.interrupted
        self.nodes += res.nodes
        self.solve_time += res.time
        if use_start:
            self.accepted = res.start_accepted if self.accepted is None else (self.accepted and res.start_accepted)
        self.size = _add_sizes(self.size, form.m.size())
        earlier = entry.get("time", 0.0) if "nodes" in entry else 0.0   # a revisited pattern: both MIPs' time
        entry.update(status=str(res.status), objective=res.objective,
                     bound=self.progress.clip(res.bound) if math.isfinite(res.bound) else res.bound,
                     time=earlier + res.time, nodes=entry.get("nodes", 0) + res.nodes, cutoff=cutoff)
        if res.has_solution:
            self._take(k, form, res, entry)
        if res.status in (Status.OPTIMAL, Status.INFEASIBLE):
            # optimal: its objective (within the gap); else nothing below the cutoff (or infeasible)
            sub_lower = res.objective if res.has_solution and res.status == Status.OPTIMAL else math.inf
            self.lower[k] = sub_lower if cutoff is None else min(sub_lower, cutoff)
            self.settled.add(k)
        elif math.isfinite(res.bound):
            self.lower[k] = max(res.bound, self.lower[k])
        self.progress.set_bound(self.whole_bound(), quiet=True)
        self.progress.emit(f"pattern {self.labels[k]}: {res.status}")

    def _take(self, k: int, form: TrainingFormulation, res: object, entry: dict) -> None:
        """The sub-problem's network, its objective recomputed by numpy (exact; at most the solver's value, since
        one-sided ReLUs only relax), kept if it beats the best."""
        net = form.extract(res.x)
        val = objective_value(net, self.X, self.y, self.loss, self.config)
        entry["network_objective"] = val
        tol = TOL * (1.0 + abs(res.objective))
        if val > res.objective + tol:  # would mean a loose big-M or an invalid row: a bug, said loudly
            warnings.warn(f"certificate failed: pattern {self.labels[k]}: numpy objective {val:.10g} exceeds the "
                          f"solver's {res.objective:.10g} (tolerance {tol:.3g})", CertificateWarning, stacklevel=4)
            entry["certificate_failed"] = True
        if val < self.best_val:
            self.best_net, self.best_val, self.best_form, self.best_x = net, val, form, res.x
            self.progress.found(val, f"pattern {self.labels[k]}'s network")

    def result(self) -> dict:
        all_proved = len(self.settled) == len(self.order)
        if self.best_net is None:
            if all_proved:
                raise NoSolutionError("the constraints are infeasible (no network satisfies them)",
                                      proved_infeasible=True)
            raise NoSolutionError("the run was interrupted before any network was found" if self.interrupted else
                                  "the solver found no feasible network before the time limit")
        bound = self.whole_bound()
        status = Status.OPTIMAL if all_proved else (Status.INTERRUPTED if self.interrupted else self.limit())
        return {"network": self.best_net, "objective": self.best_val, "bound": bound,
                "gap": relative_gap(self.best_val, bound), "status": status, "nodes": self.nodes,
                "solve_time": self.solve_time, "size": self.size, "sub_problems": [self.entries[k] for k in self.order],
                "warm_value": self.warm_value, "accepted": self.accepted, "form": self.best_form, "x": self.best_x,
                "history": list(self.progress.history)}


def _add_sizes(a: dict, b: dict) -> dict:
    return {key: a.get(key, 0) + b.get(key, 0) for key in b}
