"""Every backend gives the same answers in the same vocabulary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnet.errors import SettingsError, SolverUnavailableError
from mipnet.mip import MIPModel
from mipnet.solvers import BACKENDS, Progress, SolveOptions, Status, available_solvers, get_backend

SOLVERS = [s for s in BACKENDS if s in available_solvers()]


def knapsack() -> MIPModel:
    m = MIPModel()
    x = m.add_vars(4, 0, 1, integer=True)
    m.add_rows(x[None, :], [[5.0, 4.0, 3.0, 2.0]], hi=9.0)
    m.add_objective(x, [-10.0, -7.0, -5.0, -3.0])
    return m


@pytest.mark.parametrize("solver", SOLVERS)
def test_optimal_with_start_and_progress(solver):
    events = []
    res = get_backend(solver).solve(knapsack(), SolveOptions(callback=events.append),
                                    start=np.array([1.0, 0.0, 0.0, 0.0]))
    assert res.status == Status.OPTIMAL and res.proved
    assert res.objective == pytest.approx(-17.0)  # items 0 and 1: weight 9, value 17
    assert res.bound == pytest.approx(-17.0, abs=1e-6) and res.gap == pytest.approx(0.0, abs=1e-6)
    assert res.solver == solver and res.version
    assert all(isinstance(e, Progress) for e in events)
    assert knapsack().violation(res.x) < 1e-6


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible(solver):
    m = MIPModel()
    x = m.add_vars(2, 0, 1, integer=True)
    m.add_rows(x[None, :], [[1.0, 1.0]], lo=3.0)
    res = get_backend(solver).solve(m, SolveOptions())
    assert res.status == Status.INFEASIBLE and not res.has_solution and math.isnan(res.objective)


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "highs"])
def test_quadratic_and_bilinear(solver):
    m = MIPModel()
    x = m.add_vars(2, -2.0, 2.0)
    t = m.add_vars(1, -4.0, 4.0)
    z = m.add_vars(1, 0, 1, integer=True)
    m.add_bilinear(t, x[:1], x[1:])
    m.add_rows(np.array([[t[0], z[0]]]), [[1.0, 1.0]], lo=-2.5, hi=-2.5)  # t = -2.5 - z
    m.add_quadratic_objective(x, 1.0)
    res = get_backend(solver).solve(m, SolveOptions(time_limit=30))
    assert res.status == Status.OPTIMAL
    assert res.objective == pytest.approx(5.0, abs=1e-4)  # |x0 x1| = 2.5 at least: x0^2 + x1^2 >= 5


def test_highs_refuses_nonlinear_with_clear_error():
    m = knapsack()
    m.add_quadratic_objective(np.array([0]), 1.0)
    with pytest.raises(SolverUnavailableError, match="scip"):
        get_backend("highs").solve(m, SolveOptions())


def test_bad_options():
    with pytest.raises(SettingsError):
        SolveOptions(time_limit=-1)
    with pytest.raises(SettingsError):
        SolveOptions(threads=0)
    with pytest.raises(SettingsError, match="unknown solver"):
        get_backend("cplex")


def multi_knapsack(n: int = 60) -> MIPModel:
    """60 items, 8 capacity rows: a few hundred branch-and-bound nodes for each backend (optimum -2375)."""
    rng = np.random.default_rng(0)
    m = MIPModel()
    x = m.add_vars(n, 0, 1, integer=True)
    w = rng.integers(20, 60, (8, n)).astype(float)
    m.add_rows(x[None, :].repeat(8, 0), w, hi=w.sum(1) / 2 + 0.5)
    m.add_objective(x, -rng.integers(10, 100, n).astype(float))
    return m


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limit_keeps_incumbent(solver):
    m = multi_knapsack()
    res = get_backend(solver).solve(m, SolveOptions(time_limit=0.2), start=np.zeros(m.n_vars))
    assert res.status in (Status.TIME_LIMIT, Status.OPTIMAL)
    assert res.has_solution and m.violation(res.x) < 1e-6


@pytest.mark.parametrize("solver", SOLVERS)
def test_node_limit_stops_with_the_incumbent_and_a_valid_bound(solver):
    m = multi_knapsack()
    full = get_backend(solver).solve(m, SolveOptions(time_limit=60))
    assert full.status == Status.OPTIMAL and full.nodes > 3   # the limit below stops a search that needs more
    for nodes in (1, 3):
        res = get_backend(solver).solve(m, SolveOptions(node_limit=nodes), start=np.zeros(m.n_vars))
        assert res.status == Status.NODE_LIMIT and not res.proved and res.nodes <= nodes
        assert res.has_solution and m.violation(res.x) < 1e-6
        assert res.bound <= full.objective + 1e-6 <= res.objective + 2e-6   # min: bound <= optimum <= incumbent


def test_node_limit_must_be_a_positive_whole_number():
    assert SolveOptions(node_limit=5).node_limit == 5
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(SettingsError, match="node_limit"):
            SolveOptions(node_limit=bad)


@pytest.mark.parametrize("solver", SOLVERS)
def test_history_records_the_progress_and_the_end(solver):
    events = []
    res = get_backend(solver).solve(knapsack(), SolveOptions(callback=events.append))
    assert len(res.history) == len(events) + 1      # every event the user saw, then the end
    for (t, inc, bnd), e in zip(res.history, events):
        assert (t, inc, bnd) == (e.time, e.incumbent, e.bound)
    t_end, inc_end, bnd_end = res.history[-1]
    assert (inc_end, bnd_end) == (res.objective, res.bound) and t_end >= max([e.time for e in events], default=0)
    # recorded without a user callback too
    assert get_backend(solver).solve(knapsack(), SolveOptions()).history[-1][1] == pytest.approx(-17.0)
