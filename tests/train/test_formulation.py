"""The training MIP is exact: with weights fixed its outputs equal the numpy forward pass, and its optimum
equals brute force over discrete domains and the other solver's answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.errors import CertificateWarning, SettingsError, SolverUnavailableError
from mipnet.solvers import SolveOptions, Status, available_solvers, get_backend
from mipnet.train.certificate import certify, objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain, resolve_domains
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network

LOSSES_CLS = ["hinge", "zero_one"]
LOSSES_REG = ["absolute", "max"]
DOMAINS = ["sign", "ternary", "grid(2)", "grid(3)"]


def random_network(sizes, domains, omega, rng, bias=True):
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        dom = WeightDomain.parse(domains[k])
        w = rng.uniform(-omega, omega, (b, a))
        w = dom.project(w, omega) if dom.discrete else w
        layers.append(Dense(b, weight=w, bias=rng.uniform(-0.5, 0.5, b) if bias else None, bias_on=bias))
    return Network(layers, sizes[0])


def fixed_outputs(net, X, y, loss, domains, cfg, solver="highs"):
    template = Network([Dense(layer.units, bias_on=layer.bias_on) for layer in net.layers], net.input_shape)
    form = TrainingFormulation(template, X, y, make_loss(loss), cfg, [WeightDomain.parse(d) for d in domains])
    form.fix_weights(net)
    res = get_backend(solver).solve(form.m, SolveOptions(time_limit=60))
    assert res.status == Status.OPTIMAL
    return form, res


@pytest.mark.parametrize("dom", DOMAINS)
@pytest.mark.parametrize("loss", LOSSES_CLS + LOSSES_REG)
def test_fixed_weights_outputs_equal_forward(dom, loss):
    rng = np.random.default_rng(abs(hash((dom, loss))) % 2**32)
    X = rng.uniform(-1, 1, (12, 3))
    domains = ["continuous", dom, dom]
    net = random_network([3, 4, 3, 1], domains, 1.0, rng)
    y = (rng.uniform(size=12) > 0.5).astype(int) if loss in LOSSES_CLS else rng.normal(size=(12, 1))
    cfg = TrainConfig(l1=0.01, l0=0.001, symmetry=False, warm_start=False, bounds="interval")
    form, res = fixed_outputs(net, X, y, loss, domains, cfg)
    assert np.allclose(form.outputs(res.x), net.forward(X), atol=1e-6)
    assert res.objective == pytest.approx(objective_value(net, X, y, make_loss(loss), cfg), abs=1e-6)


def test_fixed_weights_multiclass():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (10, 3))
    y = rng.integers(0, 3, 10)
    domains = ["continuous", "ternary"]
    net = random_network([3, 4, 3], domains, 1.0, rng)
    for loss in ("hinge", "zero_one"):
        cfg = TrainConfig(l1=0.01, symmetry=False, warm_start=False)
        form, res = fixed_outputs(net, X, y, loss, domains, cfg)
        assert np.allclose(form.outputs(res.x), net.forward(X), atol=1e-6)
        assert res.objective == pytest.approx(objective_value(net, X, y, make_loss(loss), cfg), abs=1e-6)


def brute_force(X, y, loss, cfg, domain, sizes):
    """Minimum objective over every network whose weights lie on the domain's levels (no biases)."""
    dom = WeightDomain.parse(domain)
    shapes = [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    n_w = sum(a * b for a, b in shapes)
    levels = dom.levels(cfg.weight_bound, prunable=cfg.l0 > 0)
    best = np.inf
    for combo in itertools.product(levels, repeat=n_w):
        flat = np.array(combo)
        layers, k = [], 0
        for b, a in shapes:
            layers.append(Dense(b, weight=flat[k:k + a * b].reshape(b, a), bias_on=False))
            k += a * b
        best = min(best, objective_value(Network(layers, sizes[0]), X, y, make_loss(loss), cfg))
    return best


@pytest.mark.parametrize("domain,loss", [("ternary", "hinge"), ("sign", "hinge"), ("grid(2)", "zero_one"),
                                         ("ternary", "absolute"), ("sign", "max")])
def test_optimum_equals_brute_force(domain, loss, tiny_binary):
    X, y = tiny_binary
    X = X[:6]
    y = y[:6] if loss in LOSSES_CLS else X[:, :1] - X[:, 1:]
    sizes = [2, 2, 1]
    for symmetry in (False, True):
        cfg = TrainConfig(weights=domain, l1=0.01, symmetry=symmetry, warm_start=symmetry)
        template = Network([Dense(2, bias_on=False), Dense(1, bias_on=False)], 2)
        net, rep = train_network(template, X, y, make_loss(loss), cfg, options=SolveOptions(time_limit=60))
        assert rep.status == "optimal"
        assert rep.objective == pytest.approx(brute_force(X, y, loss, cfg, domain, sizes), abs=1e-6)
        assert rep.certificate["ok"]


@pytest.mark.skipif("scip" not in available_solvers(), reason="SCIP not installed")
@pytest.mark.parametrize("weights", ["auto", ["continuous", "ternary", "sign"]])
def test_highs_and_scip_agree(weights, small_breast_cancer):
    X, y = small_breast_cancer
    n, d = (12, 3) if weights == "auto" else (6, 2)
    X, y = X[:n, :d], y[:n]
    hidden = [Dense(2), Dense(1)] if weights == "auto" else [Dense(2), Dense(2), Dense(1)]
    template = Network(hidden, d)
    cfg = TrainConfig(weights=weights, l1=0.01)
    objs = []
    for solver in available_solvers():  # highs, scip, and gurobi where installed
        t = Network([Dense(layer.units) for layer in template.layers], d)
        net, rep = train_network(t, X, y, make_loss("hinge"), cfg, solver, SolveOptions(time_limit=120))
        assert rep.status == "optimal" and rep.certificate["ok"]
        objs.append(rep.objective)
    assert objs[0] == pytest.approx(objs[1], rel=1e-4, abs=1e-6)


def test_certificate_fires_on_corrupted_solution(tiny_binary):
    X, y = tiny_binary
    cfg = TrainConfig(l1=0.01)
    template = Network([Dense(2), Dense(1)], 2)
    net, rep = train_network(template, X, y, make_loss("hinge"), cfg, options=SolveOptions(time_limit=60))
    corrupted = Network([Dense(2, weight=net.layers[0].weight + 0.3, bias=net.layers[0].bias),
                         Dense(1, weight=net.layers[1].weight, bias=net.layers[1].bias)], 2)
    # a formulation whose solution vector encodes ``net``; the corrupted network must not match its outputs
    form = TrainingFormulation(template, X, y, make_loss("hinge"), cfg, resolve_domains("auto", 2, 1), warm=net)
    x = form.start_vector()
    assert form.encoding.error(x, net) <= 1e-9
    with pytest.warns(CertificateWarning, match="outputs differ"):
        cert = certify(corrupted, X, y, make_loss("hinge"), cfg, form.encoding, x, rep.objective)
    assert not cert.ok


def test_continuous_later_layer_is_refused():
    template = Network([Dense(2), Dense(1)], 2)
    with pytest.raises(SettingsError, match="continuous-bilinear"):
        TrainingFormulation(template, np.zeros((3, 2)), np.array([0, 1, 0]), make_loss("hinge"), TrainConfig(),
                            [WeightDomain("continuous")] * 2)


def test_bilinear_needs_scip(tiny_binary):
    X, y = tiny_binary
    template = Network([Dense(2), Dense(1)], 2)
    cfg = TrainConfig(weights=["continuous", "continuous-bilinear"], warm_start=False)
    with pytest.raises(SolverUnavailableError, match="scip"):
        train_network(template, X, y, make_loss("hinge"), cfg, "highs")


@pytest.mark.skipif("scip" not in available_solvers(), reason="SCIP not installed")
def test_bilinear_with_scip_is_exact(tiny_binary):
    X, y = tiny_binary
    X, y = X[:5], y[:5]
    template = Network([Dense(2), Dense(1)], 2)
    cfg = TrainConfig(weights=["continuous", "continuous-bilinear"], l1=0.05, warm_start=False)
    net, rep = train_network(template, X, y, make_loss("hinge"), cfg, "scip", SolveOptions(time_limit=120))
    assert rep.certificate["ok"]
    assert rep.objective == pytest.approx(objective_value(net, X, y, make_loss("hinge"), cfg), abs=1e-5)


@pytest.mark.skipif("scip" not in available_solvers(), reason="SCIP not installed")
def test_squared_error_and_l2_with_scip():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (8, 2))
    y = (X[:, :1] ** 2)
    template = Network([Dense(2), Dense(1)], 2)
    cfg = TrainConfig(l2=0.01, weights=["continuous", "ternary"])
    with pytest.raises(SolverUnavailableError, match="quadratic"):
        train_network(template, X, y, make_loss("squared"), cfg, "highs")
    net, rep = train_network(template, X, y, make_loss("squared"), cfg, "scip", SolveOptions(time_limit=120))
    assert rep.status == "optimal" and rep.certificate["ok"]


def test_structure_penalties_and_limits(small_breast_cancer):
    X, y = small_breast_cancer
    X, y = X[:12, :3], y[:12]
    template = Network([Dense(3), Dense(1)], X.shape[1])
    cfg = TrainConfig(l1=0.01, neuron_penalty=0.02, input_penalty=0.01, max_inputs=2, max_neurons=2)
    net, rep = train_network(template, X, y, make_loss("hinge"), cfg, options=SolveOptions(time_limit=120))
    assert rep.certificate["ok"]
    assert len(net.summary()["inputs_used"]) <= 2
    assert rep.sparsity["active_units"][0] <= 2
    assert rep.objective_terms["total"] == pytest.approx(rep.objective, abs=1e-5)


def test_auto_domains():
    assert [str(d) for d in resolve_domains("auto", 2, 1)] == ["continuous", "sign"]
    assert [str(d) for d in resolve_domains("auto", 3, 1)] == ["continuous", "ternary", "ternary"]
    assert [str(d) for d in resolve_domains("auto", 2, 3)] == ["continuous", "ternary"]
    with pytest.raises(SettingsError):
        resolve_domains("grid(1)", 2, 1)
