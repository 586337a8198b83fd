"""No lost work and honest reports (issue 10, items 3 and 4): Ctrl-C (a ``KeyboardInterrupt`` injected into one phase
function at a time) or the time limit in any phase — warm start, build, cut loop, solve — ends with the best network
found so far and a finite, valid bound, in both training paths (one MIP, and the decomposition by output signs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.progress import OBJECTIVE_FLOOR, Phase
from mipnet.solvers import Progress, SolveOptions, Status
from mipnet.solvers.highs import HighsBackend
from mipnet.train import trainer, warmstart
from mipnet.train.certificate import objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.sign_patterns import cuts, decompose
from mipnet.train.trainer import train_network

OPTS = SolveOptions(time_limit=60, threads=1)


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


def _interrupt_on_call(n: int, original: object) -> object:
    """A stand-in for ``original`` that raises KeyboardInterrupt on its ``n``-th call (1-based)."""
    calls = [0]

    def fn(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] >= n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    return fn


def _sign_net(X: np.ndarray, h: int = 2) -> Network:   # the decomposition by output signs applies
    return Network([Dense(h), Dense(1)], X.shape[1])


def _deep_net(X: np.ndarray) -> Network:   # two hidden layers: one MIP (no decomposition)
    return Network([Dense(2), Dense(2), Dense(1)], X.shape[1])


def _assert_kept(net: Network, rep: object, X: np.ndarray, y: np.ndarray, config: TrainConfig, status: str) -> None:
    """The run ended with a network, its true objective, a finite valid bound and a finite gap."""
    assert rep.status == status and not rep.proved_optimal
    assert rep.objective == pytest.approx(objective_value(net, X, y, make_loss("hinge"), config), rel=1e-6)
    assert math.isfinite(rep.bound) and OBJECTIVE_FLOOR <= rep.bound <= rep.objective + 1e-9
    assert math.isfinite(rep.gap)
    assert net.forward(X).shape == (len(X), 1)


# ------------------------------------------------------------------------------- the decomposition by output signs
def test_ctrl_c_in_the_warm_start_keeps_the_starts_found(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(l1=0.01)
    # the second LP polishing is interrupted: every pattern's gradient starts (made before any polishing) and the first
    # polish are kept
    monkeypatch.setattr(warmstart, "_polish_lp", _interrupt_on_call(2, warmstart._polish_lp))
    net, rep = train_network(_sign_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.bound == OBJECTIVE_FLOOR    # nothing but the floor is known before any LP bound
    assert all(s["status"] == "skipped (interrupted)" for s in rep.extra["sub_problems"])
    assert rep.certificate["ok"]


def test_ctrl_c_while_a_sub_problem_is_built_keeps_the_best_start(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(l1=0.01)
    monkeypatch.setattr(decompose, "SignPatternFormulation", _interrupt)
    net, rep = train_network(_sign_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.objective == pytest.approx(rep.warm_start_objective)
    statuses = [s["status"] for s in rep.extra["sub_problems"]]
    assert statuses[0] == "interrupted" and set(statuses[1:]) == {"skipped (interrupted)"}


def test_ctrl_c_in_the_cut_loop_keeps_its_rounds_and_bound(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(l1=0.01)
    # the second separation round is interrupted: one round of cuts was done, and its LP gives a safe bound
    monkeypatch.setattr(cuts, "separate", _interrupt_on_call(2, cuts.separate))
    net, rep = train_network(_sign_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    first = rep.extra["sub_problems"][0]
    assert first["status"] == "interrupted"
    assert first["cuts"]["rounds"] == 1 and first["cuts"]["stopped"] == "interrupted"   # the real count
    assert math.isfinite(first["cuts"]["bound"]) and first["cuts"]["bound"] >= OBJECTIVE_FLOOR
    assert "root cuts: 1 rounds" in str(rep)


def test_ctrl_c_in_a_solve_keeps_a_finite_bound_without_cut_loops(bc_subset, monkeypatch) -> None:
    """No L1 penalty: no cut loop runs, so before any MIP bound only the floor is known (was: -inf, gap inf)."""
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig()
    monkeypatch.setattr(HighsBackend, "solve", _interrupt)
    net, rep = train_network(_sign_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.bound == OBJECTIVE_FLOOR and "-inf" not in str(rep) and "gap inf" not in str(rep)


def test_time_limit_in_the_warm_start_ends_with_the_starts_and_the_floor(bc_subset) -> None:
    """A limit too short for the warm start's LP polishing: it stops, every pattern still gets its gradient start,
    the MIPs are skipped, and the bound is the floor (was: the polishing ignored the limit and the bound was -inf)."""
    X, y = bc_subset(60, 6, 1)
    config = TrainConfig(l1=0.01)
    net, rep = train_network(_sign_net(X, 3), X, y, make_loss("hinge"), config,
                             options=SolveOptions(time_limit=0.02, threads=1))
    _assert_kept(net, rep, X, y, config, "time_limit")
    assert {s["status"] for s in rep.extra["sub_problems"]} == {"skipped (time limit)"}
    assert rep.bound == OBJECTIVE_FLOOR


def test_a_tiny_negative_sub_problem_bound_is_reported_as_the_floor(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig()
    real = HighsBackend.solve

    def rounding(self, *args, **kwargs):   # a solver bound a hair below 0, as HiGHS gave on a sign pattern
        res = real(self, *args, **kwargs)
        res.bound = -6.1e-15
        res.status = Status.TIME_LIMIT if res.has_solution else res.status
        return res

    monkeypatch.setattr(HighsBackend, "solve", rounding)
    _, rep = train_network(_sign_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    bounds = [s["bound"] for s in rep.extra["sub_problems"] if "bound" in s]
    assert bounds and all(b >= 0.0 for b in bounds)
    assert rep.bound >= 0.0 and "e-15" not in str(rep)
    assert "bounds are at least 0" in str(rep)    # the rule, stated


# ------------------------------------------------------------------------------------------------------ one MIP
def test_ctrl_c_in_the_dense_warm_start_keeps_its_best_candidate(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(weights="ternary")
    monkeypatch.setattr(warmstart, "gradient_train", _interrupt_on_call(2, warmstart.gradient_train))
    net, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.bound == OBJECTIVE_FLOOR and "warm start phase" in rep.extra["stopped"]


def test_ctrl_c_while_the_mip_is_built_keeps_the_warm_start(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(weights="ternary")
    monkeypatch.setattr(trainer, "TrainingFormulation", _interrupt)
    net, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.objective == pytest.approx(rep.warm_start_objective)
    assert "build phase" in rep.extra["stopped"]


def test_ctrl_c_in_the_solve_keeps_the_warm_start_and_the_bound_seen(bc_subset, monkeypatch) -> None:
    """The solver's progress showed a bound, then the solve was lost to Ctrl-C: the report keeps that bound."""
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(weights="ternary")

    def shows_a_bound_then_interrupted(self, model, options, start=None):
        options.callback(Progress(0.1, math.inf, 0.0123, math.inf, 5))
        raise KeyboardInterrupt

    monkeypatch.setattr(HighsBackend, "solve", shows_a_bound_then_interrupted)
    net, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    _assert_kept(net, rep, X, y, config, "interrupted")
    assert rep.bound == pytest.approx(0.0123)
    assert rep.certificate["ok"]    # the warm start re-checked against the built MIP


def test_a_solver_returning_minus_inf_after_showing_a_bound_reports_that_bound(bc_subset, monkeypatch) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(weights="ternary")
    real = HighsBackend.solve

    def loses_its_bound(self, model, options, start=None):
        res = real(self, model, SolveOptions(time_limit=20, threads=1), start)
        options.callback(Progress(0.1, res.objective, 0.0123, 0.5, 5))
        res.bound, res.status = -math.inf, Status.INTERRUPTED
        return res

    monkeypatch.setattr(HighsBackend, "solve", loses_its_bound)
    _, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), config, options=OPTS)
    assert rep.status == "interrupted"
    assert rep.bound == pytest.approx(0.0123) and math.isfinite(rep.gap)


def test_time_limit_counts_from_launch_and_ends_the_dense_run_with_the_warm_start(bc_subset) -> None:
    X, y = bc_subset(30, 4, 0)
    config = TrainConfig(weights="ternary")
    net, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), config,
                             options=SolveOptions(time_limit=0.01, threads=1))
    _assert_kept(net, rep, X, y, config, "time_limit")


def test_events_follow_the_phases_with_times_from_launch(bc_subset) -> None:
    X, y = bc_subset(30, 4, 0)
    events = []
    train_network(_sign_net(X), X, y, make_loss("hinge"), TrainConfig(l1=0.01), options=OPTS, callback=events.append)
    phases = [e.phase for e in events]
    assert phases[0] == Phase.WARM_START and phases[-1] == Phase.DONE
    assert {Phase.BUILD, Phase.CUTS} <= set(phases)
    first = {p: phases.index(p) for p in set(phases)}
    assert first[Phase.WARM_START] < first[Phase.BUILD] < first[Phase.CUTS]
    assert all(e.pattern is not None for e in events if e.phase in (Phase.BUILD, Phase.CUTS, Phase.SOLVE))
    times = [e.elapsed for e in events]
    assert times == sorted(times) and times[0] >= 0
    for e in events:
        assert OBJECTIVE_FLOOR <= e.bound and (e.bound <= e.incumbent + 1e-9)
    incumbents = [e.incumbent for e in events]
    assert incumbents == sorted(incumbents, reverse=True) and math.isfinite(incumbents[-1])


@pytest.mark.parametrize("solver", ["highs", "scip"])
def test_improving_solutions_of_the_solver_appear_in_the_progress(bc_subset, solver) -> None:
    """Without a warm start every network comes from the solver: each better one is a SOLVE event (under SCIP too)."""
    if solver == "scip":
        pytest.importorskip("pyscipopt")
    X, y = bc_subset(20, 3, 0)
    events = []
    _, rep = train_network(_deep_net(X), X, y, make_loss("hinge"), TrainConfig(weights="ternary", warm_start=False),
                           solver=solver, options=SolveOptions(time_limit=5, threads=1), callback=events.append)
    found = [e for e in events if e.phase == Phase.SOLVE and e.improved]
    assert found and all(math.isfinite(e.incumbent) and e.nodes >= 0 for e in found)
    assert min(e.incumbent for e in found) >= rep.objective - 1e-6 * (1 + abs(rep.objective))
