"""Convex-combination ReLU cuts: every cut holds at every feasible point, the loop's bound is a lower bound,
and adding the cuts keeps the sub-problem's optimum."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.bounds import lp as lp_module
from mipnet.solvers import SolveOptions
from mipnet.solvers.highs import HighsBackend
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import make_loss
from mipnet.train.sign_patterns import cuts
from mipnet.train.sign_patterns.formulation import SignPatternFormulation

OPTS = SolveOptions(time_limit=60, threads=1, mip_gap=1e-7)


def _random_net(rng: np.random.Generator, d: int, v: np.ndarray, scale: float) -> Network:
    h = len(v)
    W = np.clip(rng.normal(0, scale, (h, d)), -1, 1)
    b = np.clip(rng.normal(0, scale, h), -1, 1)
    c = float(np.clip(rng.normal(0, 0.5), -1, 1))
    return Network([Dense(h, weight=W, bias=b), Dense(1, relu=False, weight=v[None, :], bias=np.array([c]))], d)


def _form(X, y, v, warm=None, config=None):
    template = Network([Dense(len(v)), Dense(1)], X.shape[1])
    return SignPatternFormulation(template, X, y, make_loss("hinge"), config or TrainConfig(l1=0.01),
                                  resolve_domains("auto", 2, 1), v, warm=warm)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_every_cut_holds_at_random_feasible_networks(bc_subset, k: int) -> None:
    X, y = bc_subset(24, 4, 3)
    v = np.array([1.0] * k + [-1.0] * (2 - k))
    form = _form(X, y, v)
    loop = cuts.root_cut_loop(form, None, time_budget=30, keep_slack=np.inf)
    assert loop.generated > 0 and len(loop.cuts) == loop.generated
    rng = np.random.default_rng(k)
    checked = 0
    for trial in range(30):
        net = _random_net(rng, X.shape[1], v, scale=[0.1, 0.5, 2.0][trial % 3])
        x = _form(X, y, v, warm=net).start_vector()  # same variable layout: a feasible point of ``form``
        if form.m.violation(x) > 1e-9:
            continue
        checked += 1
        assert cuts.cut_values(form, x, loop.cuts).max() <= 1e-9
    assert checked >= 20


def test_a_cut_is_valid_for_any_weights(bc_subset) -> None:
    """The coefficients come from the given lambda: random nonnegative lambdas give valid cuts too."""
    X, y = bc_subset(16, 3, 1)
    v = np.array([1.0, -1.0])
    form = _form(X, y, v)
    rng = np.random.default_rng(0)
    direction = form.first_direction
    made = []
    for j in range(2):
        down = np.flatnonzero(direction[:, j] < 0)
        for h in np.flatnonzero(direction[:, j] > 0)[:4]:
            lam = rng.exponential(0.3, len(down)) * (rng.random(len(down)) < 0.5)
            made.append(cuts.make_cut(form, int(h), j, down, lam))
    for _ in range(20):
        x = _form(X, y, v, warm=_random_net(rng, X.shape[1], v, 1.0)).start_vector()
        assert form.m.violation(x) <= 1e-9
        assert cuts.cut_values(form, x, made).max() <= 1e-9


@pytest.mark.parametrize("k", [0, 1, 2])
def test_loop_bound_is_below_the_optimum_and_cuts_keep_it(bc_subset, k: int) -> None:
    X, y = bc_subset(14, 3, 7)
    v = np.array([1.0] * k + [-1.0] * (2 - k))
    plain = HighsBackend().solve(_form(X, y, v).m, OPTS)
    assert plain.status == "optimal"
    form = _form(X, y, v)
    loop = cuts.root_cut_loop(form, None, time_budget=30)
    assert loop.bound <= plain.objective + 1e-7
    assert loop.bound >= loop.lp_bound_start - 1e-6  # cuts only raise the LP bound (safe bound: small margin)
    cuts.add_cuts(form, loop.cuts)
    with_cuts = HighsBackend().solve(form.m, OPTS)
    assert with_cuts.status == "optimal"
    assert with_cuts.objective == pytest.approx(plain.objective, rel=1e-6, abs=1e-9)


def test_loop_stops_at_the_cutoff(bc_subset) -> None:
    X, y = bc_subset(14, 3, 7)
    v = np.array([1.0, -1.0])
    form = _form(X, y, v)
    loop = cuts.root_cut_loop(form, cutoff=-1.0, time_budget=30)  # any LP bound is above -1
    assert loop.stopped == "bound reached the cutoff" and loop.rounds == 0 and loop.bound >= -1.0


def test_an_lp_stopped_by_the_time_budget_keeps_the_last_solved_lps_bound(bc_subset, monkeypatch) -> None:
    """The loop's bound and kept cuts come from the last LP solved to optimality, not from one cut short."""
    import highspy

    X, y = bc_subset(30, 5, 2)
    v = np.array([1.0, -1.0])
    reference = cuts.root_cut_loop(_form(X, y, v), None, time_budget=60, max_rounds=2)
    assert reference.stopped == "round limit" and reference.rounds == 2

    class StopsAfter:
        """The loop's LP instance, reporting a time limit from its fourth run on."""

        def __init__(self, inner: object) -> None:
            self.inner, self.runs = inner, 0

        def run(self) -> object:
            self.runs += 1
            return self.inner.run()

        def getModelStatus(self) -> object:
            return highspy.HighsModelStatus.kTimeLimit if self.runs > 3 else self.inner.getModelStatus()

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    made = []
    real = lp_module.new_highs

    def first_instance_stops(verbose: bool) -> object:
        h = real(verbose)
        made.append(h)
        return StopsAfter(h) if len(made) == 1 else h  # the loop's LP session (the separators use their own)

    monkeypatch.setattr(lp_module, "new_highs", first_instance_stops)
    stopped = cuts.root_cut_loop(_form(X, y, v), None, time_budget=60)
    assert stopped.stopped.startswith("LP status") and stopped.rounds == 3
    assert stopped.bound == pytest.approx(reference.bound, rel=1e-7, abs=1e-9)
    assert len(stopped.cuts) >= len(reference.cuts)  # the last round's cuts (violated at that LP) are kept too


def test_not_applicable_without_output_signs(bc_subset) -> None:
    X, y = bc_subset(10, 3, 0)
    template = Network([Dense(2), Dense(1)], X.shape[1])
    form = TrainingFormulation(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01), resolve_domains("auto", 2, 1))
    assert not cuts.applicable(form)
    assert cuts.root_cut_loop(form, None, 5).stopped == "not applicable"


def test_ctrl_c_in_the_cut_loop_keeps_the_best_network(bc_subset, monkeypatch) -> None:
    from mipnet.solvers import SolveOptions
    from mipnet.train.trainer import train_network

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cuts, "root_cut_loop", interrupted)
    X, y = bc_subset(20, 4, 2)
    template = Network([Dense(2), Dense(1)], X.shape[1])
    net, rep = train_network(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01),
                             options=SolveOptions(time_limit=60, threads=1))
    assert rep.status == "interrupted" and not rep.proved_optimal
    assert rep.objective == pytest.approx(rep.warm_start_objective)  # the best start, certified
    assert rep.certificate["ok"]
    assert [s["status"] for s in rep.extra["sub_problems"]] == ["interrupted", "skipped (interrupted)",
                                                               "skipped (interrupted)"]
    np.testing.assert_allclose(net.forward(X).shape, (20, 1))
