"""Large-neighbourhood search (mipnet.train.lns): never worse than its start, every network certified, no bound from
it, the same optimum as without it on instances the MIP proves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnet.arch import parse_architecture
from mipnet.clock import Clock
from mipnet.errors import SettingsError
from mipnet.network import Network
from mipnet.progress import Phase, TrainProgress
from mipnet.solvers import SolveOptions, Status, get_backend
from mipnet.train import lns
from mipnet.train.certificate import Certificate, certify, objective_value
from mipnet.train.config import LNSOptions, PrimalSearch, TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Hinge
from mipnet.train.trainer import primal_search_on, train_network
from mipnet.train.warmstart_cnn import warm_start_layers


def _digits(n: int, pair=(3, 8)):
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    keep = np.flatnonzero(np.isin(d.target, pair))[:n]
    return d.images[keep][:, None] / 16.0, (d.target[keep] == pair[1]).astype(int)


def _setup(X, y, arch, config):
    template = Network(parse_architecture(arch), X.shape[1:])
    domains = resolve_domains(config.weights, len(template.affine_layers()), 1, True)
    prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]
    net, value = warm_start_layers(template, X, y, Hinge(), config, domains, prunable)

    def build(n, v):
        return TrainingFormulation(template, X, y, Hinge(), config, domains, warm=n, incumbent=v)

    return template, domains, net, value, build


def test_search_improves_on_the_warm_start_and_every_network_is_certified():
    X, y = _digits(16)
    config = TrainConfig(l1=0.001, filter_penalty=0.01, primal=PrimalSearch.LNS)
    _, _, warm, warm_value, build = _setup(X, y, "conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)", config)
    events = []
    tracker = TrainProgress(events.append)
    out = lns.search(build, warm, warm_value, X, y, Hinge(), config, get_backend("highs"), SolveOptions(),
                     Clock(8.0), tracker)
    assert out.value <= warm_value
    assert out.value < warm_value - 1e-6          # the projected warm start leaves room on this instance
    # the objective is the network's, recomputed by numpy; the formulation kept is built around the network
    assert out.value == pytest.approx(objective_value(out.network, X, y, Hinge(), config), abs=1e-9)
    x0 = out.form.start_vector()
    assert out.form.m.violation(x0) < 1e-7
    cert = certify(out.network, X, y, Hinge(), config, out.form.encoding, x0, out.value)
    assert cert.ok and cert.numpy_objective == pytest.approx(out.value, abs=1e-9)
    # every improvement is in the tracker's history, in order; the bound never moves (it is the floor)
    values = [r.objective for r in out.improvements]
    assert values == sorted(values, reverse=True) and values[-1] == out.value
    incumbents = [inc for _, inc, _ in tracker.history]
    for v in values:
        assert any(inc == pytest.approx(v, abs=1e-12) for inc in incumbents)
    assert all(b == 0.0 for _, _, b in tracker.history)
    assert any(e.phase == Phase.PRIMAL and e.improved for e in events)
    assert "no bound comes from it" in out.summary()


def test_pinned_bounds_fix_everything_outside_the_neighbourhood():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(5, 1, 4, 4))
    y = np.array([0, 1, 0, 1, 1])
    config = TrainConfig(l1=0.01, filter_penalty=0.05)
    _, _, warm, value, build = _setup(X, y, "conv(2,k=3)-maxpool(2)-flatten-dense(1)", config)
    form = build(warm, value)
    x = form.start_vector()
    hoods = lns.Neighbourhoods(form, config.lns, seed=0)
    by_name = {nb.name: nb for nb in hoods.cycle()}
    assert {"pattern", "head", "unit 0 of layer 0", "unit 1 of layer 0", "layer 0"} <= set(by_name)
    lb0, ub0 = form.m.bounds()
    nb = by_name["unit 1 of layer 0"]
    lb, ub = lns.pinned_bounds(form, x, nb)
    conv, head = form.blocks
    assert np.all(lb[conv.W[0]] == ub[conv.W[0]]) and np.all(lb[conv.W[0]] == x[conv.W[0]])
    assert lb[conv.filter_gate[0]] == ub[conv.filter_gate[0]]
    assert np.array_equal(lb[conv.W[1]], lb0[conv.W[1]]) and np.array_equal(ub[conv.W[1]], ub0[conv.W[1]])
    assert ub[conv.filter_gate[1]] == 1.0 and lb[conv.filter_gate[1]] == 0.0
    reads_1 = lns.input_channels(form.template)[1] == 1
    assert np.all(ub[head.W[0, reads_1]] > lb[head.W[0, reads_1]])
    assert np.all(ub[head.W[0, ~reads_1]] == lb[head.W[0, ~reads_1]])
    # the pattern LP fixes every integer variable; its sub-model has none left and keeps the incumbent feasible
    lb, ub = lns.pinned_bounds(form, x, by_name["pattern"])
    ints = form.m.integrality()
    assert np.all(lb[ints] == ub[ints])
    sub, lift = lns.restricted(form.m, lb, ub)
    assert sub.n_vars < form.m.n_vars and not sub.integrality().any()
    res = get_backend("highs").solve(sub, SolveOptions(time_limit=20))
    assert res.status == Status.OPTIMAL and res.objective <= value + 1e-7
    full = lift(res.x)
    assert form.m.violation(full) < 1e-6
    assert form.m.objective_value(full) == pytest.approx(res.objective, abs=1e-7)


@pytest.mark.parametrize("arch, shape, seed", [("conv(1,k=2)-maxpool(2)-flatten-dense(1)", (1, 3, 3), 1),
                                               ("conv(2,k=2,bias=0)-maxpool(2)-flatten-dense(1)", (1, 3, 3), 4)])
def test_same_optimum_with_and_without_the_search(arch, shape, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(6, *shape))
    y = np.array([0, 1, 0, 1, 1, 0])
    template = Network(parse_architecture(arch), shape)
    reports = {}
    for primal in (PrimalSearch.NONE, PrimalSearch.LNS):
        config = TrainConfig(weights=["continuous", "ternary"], l1=0.01, filter_penalty=0.05, primal=primal,
                             lns=LNSOptions(sub_time_limit=1.0))
        net, report = train_network(template, X, y, Hinge(), config, options=SolveOptions(time_limit=120, mip_gap=0))
        assert report.proved_optimal, report
        assert report.certificate["ok"]
        assert report.objective == pytest.approx(objective_value(net, X, y, Hinge(), config), abs=1e-6)
        assert report.objective <= report.warm_start_objective + 1e-9
        reports[primal] = report
    a, b = reports[PrimalSearch.NONE], reports[PrimalSearch.LNS]
    assert b.objective == pytest.approx(a.objective, abs=1e-6)
    assert b.bound == pytest.approx(b.objective, abs=1e-6)     # the full MIP's bound, proved
    assert "primal search" in b.extra and "primal search" not in a.extra


def test_train_reports_the_search_and_keeps_the_full_models_bound():
    X, y = _digits(16)
    template = Network(parse_architecture("conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)"), (1, 8, 8))
    config = TrainConfig(l1=0.001, filter_penalty=0.01)        # primal "auto": on for a convolutional network
    seen = []
    net, report = train_network(template, X, y, Hinge(), config, options=SolveOptions(time_limit=10),
                                callback=seen.append)
    phases = [e.phase for e in seen]
    assert Phase.PRIMAL in phases and phases.index(Phase.PRIMAL) < phases.index(Phase.SOLVE)
    assert report.certificate["ok"]
    assert report.objective <= report.warm_start_objective
    assert report.objective == pytest.approx(objective_value(net, X, y, Hinge(), config), abs=1e-6)
    # no bound while the search runs: the first positive bound comes from the full MIP's solve phase
    first_bound = next((e for e in seen if e.bound > 0), None)
    assert first_bound is None or first_bound.phase in (Phase.SOLVE, Phase.DONE)
    assert 0.0 <= report.bound <= report.objective
    assert report.history and report.history[-1][1] == pytest.approx(report.objective)
    assert "large-neighbourhood search" in report.extra["primal search"]


def test_a_network_that_fails_the_certificate_is_refused(monkeypatch):
    X, y = _digits(12)
    config = TrainConfig(l1=0.001, filter_penalty=0.01)
    _, _, warm, value, build = _setup(X, y, "conv(2,k=3,s=2)-maxpool(3)-flatten-dense(1)", config)

    def failing(net, *args, **kwargs):
        return Certificate(False, 1.0, 0.0, 0.0, 0.0, 0.0, "made to fail")

    monkeypatch.setattr(lns, "certify", failing)
    out = lns.search(build, warm, value, X, y, Hinge(), config, get_backend("highs"), SolveOptions(),
                     Clock(4.0), TrainProgress())
    assert out.value == value and out.network is warm and not out.improvements
    assert all(math.isnan(r.objective) or not r.improved for r in out.rounds)


def test_options_are_typed():
    assert TrainConfig(primal="lns").primal == PrimalSearch.LNS
    assert TrainConfig.naive().primal == PrimalSearch.NONE
    assert primal_search_on(TrainConfig(), convolutional=True)
    assert not primal_search_on(TrainConfig(), convolutional=False)
    assert primal_search_on(TrainConfig(primal="lns"), convolutional=False)
    with pytest.raises(SettingsError, match="primal"):
        TrainConfig(primal="tabu")
    with pytest.raises(SettingsError, match="time_share"):
        LNSOptions(time_share=1.5)
    with pytest.raises(SettingsError, match="sub_time_limit"):
        LNSOptions(sub_time_limit=0)
    with pytest.raises(SettingsError, match="lns"):
        TrainConfig(lns={"time_share": 0.5})
