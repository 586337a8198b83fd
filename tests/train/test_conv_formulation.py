"""Exactness of the convolutional training MIP: pooling, filter gates, layer gates, warm start."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mipnet.arch import parse_architecture
from mipnet.errors import SettingsError
from mipnet.layers import Conv2D, Dense, Flatten, MaxPool2D
from mipnet.network import Network
from mipnet.solvers import SolveOptions, Status, get_backend
from mipnet.train.certificate import objective_terms, objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain, resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Hinge
from mipnet.train.warmstart import dense_applicable
from mipnet.train.warmstart_cnn import warm_start_layers

ARCHS = [  # (text, input shape, outputs)
    ("conv(2,k=3,p=1)-maxpool(2)-conv(2,k=2,p=1)-avgpool(2,s=1)-flatten-dense(3)-dense(1)", (1, 5, 5), 1),
    ("maxpool(2,s=1)-conv(2,k=2,s=2,p=1)-maxpool(2,s=1)-flatten-dense(2)", (2, 5, 5), 2),
    ("avgpool(2,s=1)-conv(3,k=3,p=1)-avgpool(2)-flatten-dense(4)-dense(4)-dense(1)", (1, 5, 5), 1),
]
DOMAINS = ["sign", "ternary", "grid(3)"]


def _solve(form: TrainingFormulation, solver: str = "highs", time_limit: float = 60.0):
    res = get_backend(solver).solve(form.m, SolveOptions(time_limit=time_limit, mip_gap=0.0))
    assert res.status == Status.OPTIMAL, res
    return res


def _random_net(text, shape, domains, config, rng, template_only=False):
    net = Network(parse_architecture(text), shape)
    if template_only:
        return net
    for layer, dom in zip(net.affine_layers(), domains):
        tail = (layer.in_shape[0], *layer.kernel) if isinstance(layer, Conv2D) else layer.in_shape
        w = rng.uniform(-1, 1, size=(layer.out_shape[0], *tail))
        layer.weight = dom.project(w, config.weight_bound, is_prunable(net, config, layer))
        layer.bias = rng.uniform(-0.5, 0.5, size=layer.out_shape[0])
    return net


def _labels(n_out, n, rng):
    return rng.integers(0, max(n_out, 2), size=n)


@pytest.mark.parametrize("arch", ARCHS, ids=["conv-max-conv-avg", "pool-first", "avg-conv-dense-dense"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_fixed_weights_outputs_equal_forward(arch, domain):
    text, shape, n_out = arch
    rng = np.random.default_rng(abs(hash((text, domain))) % 2 ** 32)
    n_aff = text.count("conv") + text.count("dense")
    # symmetry off: a random network need not satisfy the ordering rows
    config = TrainConfig(weights=["continuous"] + [domain] * (n_aff - 1), filter_penalty=0.01, symmetry=False)
    domains = resolve_domains(config.weights, n_aff, n_out)
    net = _random_net(text, shape, domains, config, rng)
    X = rng.normal(size=(4, *shape))
    y = _labels(n_out, 4, rng)
    form = TrainingFormulation(_random_net(text, shape, domains, config, rng, True), X, y, Hinge(), config, domains)
    form.fix_weights(net)
    res = _solve(form)
    np.testing.assert_allclose(form.outputs(res.x), net.forward(X).reshape(4, -1), atol=1e-6)
    assert res.objective == pytest.approx(objective_value(net, X, y, Hinge(), config), abs=1e-6)
    # the same network as a warm start: every auxiliary value computed by the encoders, feasible, same objective
    warm = TrainingFormulation(_random_net(text, shape, domains, config, rng, True), X, y, Hinge(), config, domains,
                               warm=net)
    x0 = warm.start_vector()
    assert warm.m.violation(x0) < 1e-9
    assert warm.m.objective_value(x0) == pytest.approx(objective_value(net, X, y, Hinge(), config), abs=1e-9)


def _sign_levels(template, config, layer):
    return WeightDomain("sign").levels(1.0, is_prunable(template, config, layer))


def _hinge(o, y):
    s = np.where(y == 1, 1.0, -1.0)
    return np.maximum(0.0, 1.0 - s * o).mean(-1)


@pytest.mark.parametrize("penalty, max_filters", [(0.05, None), (0.3, None), (0.0, 1)])
def test_filter_gates_match_brute_force(penalty, max_filters):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(5, 1, 2, 2))
    y = np.array([1, 0, 1, 1, 0])
    template = Network([Conv2D(2, 2, bias_on=False), Flatten(), Dense(1, bias_on=False)], (1, 2, 2))
    config = TrainConfig(weights="sign", filter_penalty=penalty, max_filters=max_filters)
    domains = resolve_domains("sign", 2, 1)
    form = TrainingFormulation(template, X, y, Hinge(), config, domains)
    res = _solve(form)
    net = form.extract(res.x)
    conv_lv = _sign_levels(template, config, template.layers[0])
    out_lv = _sign_levels(template, config, template.layers[2])
    filters = np.array(list(itertools.product(conv_lv, repeat=4)))  # one filter: 4 weights
    Xf = X.reshape(5, 4)
    best = np.inf
    for f0, f1 in itertools.product(range(len(filters)), repeat=2):
        h = np.maximum(Xf @ np.stack([filters[f0], filters[f1]]).T, 0.0)  # (N, 2)
        n_active = int(filters[f0].any()) + int(filters[f1].any())
        if max_filters is not None and n_active > max_filters:
            continue
        for v in itertools.product(out_lv, repeat=2):
            best = min(best, _hinge(h @ np.array(v), y) + penalty * n_active)
    assert res.objective == pytest.approx(best, abs=1e-7)
    assert objective_value(net, X, y, Hinge(), config) == pytest.approx(best, abs=1e-7)
    if max_filters is not None:
        assert (np.abs(net.layers[0].weight).reshape(2, -1).sum(1) > 0).sum() <= max_filters


@pytest.mark.parametrize("penalty, max_layers, target", [(0.05, None, "linear"), (0.05, None, "relu"),
                                                          (0.0, 0, "relu")])
def test_layer_gates_match_brute_force(penalty, max_layers, target):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int) if target == "linear" else (np.abs(X[:, 0]) > 0.7).astype(int)
    template = Network([Dense(2, bias_on=False), Dense(1, bias_on=False)], 2)
    config = TrainConfig(weights="sign", layer_penalty=penalty, max_layers=max_layers)
    domains = resolve_domains("sign", 2, 1)
    form = TrainingFormulation(template, X, y, Hinge(), config, domains)
    res = _solve(form)
    net = form.extract(res.x)
    hid_lv = _sign_levels(template, config, template.layers[0])
    out_lv = _sign_levels(template, config, template.layers[1])
    best = np.inf
    for v in itertools.product(out_lv, repeat=2):
        v = np.array(v)
        best = min(best, _hinge(X @ v, y))  # layer skipped: the output layer sees the input
        if max_layers == 0:
            continue
        for w in itertools.product(hid_lv, repeat=4):
            h = np.maximum(X @ np.array(w).reshape(2, 2).T, 0.0)
            best = min(best, _hinge(h @ v, y) + penalty)
    assert res.objective == pytest.approx(best, abs=1e-7)
    terms = objective_terms(net, X, y, Hinge(), config)
    assert terms["total"] == pytest.approx(best, abs=1e-7)
    np.testing.assert_allclose(form.outputs(res.x), net.forward(X), atol=1e-7)
    if max_layers == 0 or target == "linear":
        assert net.layers[0].active is False
        assert terms["layers"] == 0.0


@pytest.mark.parametrize("solver", ["highs", "scip"])
def test_conv_maxpool_gates_match_brute_force(solver):
    """conv (filter gate) -> max pool -> 1x1 conv (filter and layer gate) -> dense; sign weights, no biases."""
    if solver == "scip":
        pytest.importorskip("pyscipopt")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(6, 1, 2, 3))
    y = np.array([1, 0, 1, 1, 0, 0])
    arch = "conv(1,k=2,bias=0)-maxpool(1x2)-conv(1,k=1,bias=0)-flatten-dense(1,bias=0)"
    config = TrainConfig(weights="sign", filter_penalty=0.02, layer_penalty=0.03)
    template = Network(parse_architecture(arch), (1, 2, 3))
    form = TrainingFormulation(template, X, y, Hinge(), config, resolve_domains("sign", 3, 1))
    assert form.blocks[1].layer_gate is not None and form.blocks[0].layer_gate is None
    assert form.blocks[0].filter_gate is not None and form.blocks[1].filter_gate is not None
    res = _solve(form, solver)
    net = form.extract(res.x)
    assert objective_value(net, X, y, Hinge(), config) == pytest.approx(res.objective, abs=1e-6)
    np.testing.assert_allclose(form.outputs(res.x), net.forward(X), atol=1e-6)
    best = np.inf
    levels = [_sign_levels(template, config, layer) for layer in template.affine_layers()]
    for w0, w1, v, on in itertools.product(itertools.product(levels[0], repeat=4), levels[1], levels[2],
                                           (False, True)):
        if not on and w1 != 0:
            continue
        cand = Network(parse_architecture(arch), (1, 2, 3))
        c0, _, c1, _, d = cand.layers
        c0.weight, c1.weight, d.weight = np.reshape(w0, (1, 1, 2, 2)), np.full((1, 1, 1, 1), w1), np.full((1, 1), v)
        c1.active = on
        best = min(best, objective_value(cand, X, y, Hinge(), config))
    assert res.objective == pytest.approx(best, abs=1e-6)


# ------------------------------------------------------------------------------------ numpy terms, settings
def test_objective_terms_count_filters_and_layers():
    rng = np.random.default_rng(2)
    conv = Conv2D(3, 3, padding=1, weight=rng.normal(size=(3, 1, 3, 3)), bias=np.zeros(3))
    conv.weight[1] = 0.0  # filter 1 off
    gated = Conv2D(3, 3, padding=1, weight=np.zeros((3, 3, 3, 3)), bias=np.zeros(3), active=False)
    dense = Dense(1, weight=rng.normal(size=(1, 12)), bias=np.zeros(1))
    net = Network([conv, gated, MaxPool2D(2), Flatten(), dense], (1, 4, 4))
    X, y = rng.normal(size=(3, 1, 4, 4)), np.array([0, 1, 1])
    terms = objective_terms(net, X, y, Hinge(), TrainConfig(filter_penalty=0.1, layer_penalty=0.5))
    assert terms["filters"] == pytest.approx(0.2)  # 2 active filters in the first conv, 0 in the skipped one
    assert terms["layers"] == pytest.approx(0.0)   # the only gateable layer (the second conv) is off
    gated.active = True
    terms = objective_terms(net, X, y, Hinge(), TrainConfig(filter_penalty=0.1, layer_penalty=0.5))
    assert terms["layers"] == pytest.approx(0.5) and terms["filters"] == pytest.approx(0.2)


def test_structure_options_need_matching_layers():
    X, y = np.zeros((2, 3)), np.array([0, 1])
    dense = Network([Dense(2), Dense(1)], 3)
    with pytest.raises(SettingsError, match="Conv2D"):
        TrainingFormulation(dense, X, y, Hinge(), TrainConfig(filter_penalty=0.1), resolve_domains("auto", 2, 1))
    with pytest.raises(SettingsError, match="output shape"):
        TrainingFormulation(dense, X, y, Hinge(), TrainConfig(max_layers=1), resolve_domains("auto", 2, 1))
    with pytest.raises(SettingsError, match="max_layers"):
        TrainConfig(max_layers=-1)


@pytest.mark.parametrize("options", [dict(filter_penalty=0.01), dict(filter_penalty=0.01, max_filters=1),
                                     dict(layer_penalty=0.01, max_layers=0, l1=0.001)])
def test_cnn_warm_start_is_feasible(options):
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, size=(6, 1, 4, 4))
    y = np.array([0, 1, 0, 1, 1, 0])
    template = Network(parse_architecture("conv(2,k=3,p=1)-conv(2,k=3,p=1)-maxpool(2)-flatten-dense(1)"), (1, 4, 4))
    config = TrainConfig(weights=["continuous", "ternary", "sign"], **options)
    domains = resolve_domains(config.weights, 3, 1)
    prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]
    found = warm_start_layers(template, X, y, Hinge(), config, domains, prunable)
    assert found is not None
    net, value = found
    assert value == pytest.approx(objective_value(net, X, y, Hinge(), config))
    if options.get("max_filters"):
        assert (np.abs(net.layers[0].weight).reshape(2, -1).sum(1) > 0).sum() <= 1
    form = TrainingFormulation(template, X, y, Hinge(), config, domains, warm=net, incumbent=value)
    x0 = form.start_vector()
    assert form.m.violation(x0) < 1e-7
    assert form.m.objective_value(x0) == pytest.approx(value, abs=1e-7)


def test_dense_layer_gates_use_the_general_warm_start():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(8, 3))
    y = (X[:, 0] > 0).astype(int)
    template = Network(parse_architecture("dense(3)-dense(3)-dense(1)"), 3)
    config = TrainConfig(weights=["continuous", "ternary", "sign"], layer_penalty=0.01, max_layers=1)
    domains = resolve_domains(config.weights, 3, 1)
    prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]
    assert not dense_applicable(template, config)
    net, value = warm_start_layers(template, X, y, Hinge(), config, domains, prunable)
    assert [layer.active for layer in net.affine_layers()] == [True, False, True]  # at most one gated layer on
    form = TrainingFormulation(template, X, y, Hinge(), config, domains, warm=net, incumbent=value)
    x0 = form.start_vector()
    assert form.m.violation(x0) < 1e-7
    assert form.m.objective_value(x0) == pytest.approx(value, abs=1e-7)


def test_auto_domains_for_convolutional_networks():
    assert [str(d) for d in resolve_domains("auto", 2, 1, convolutional=True)] == ["continuous", "grid(3)"]
    assert [str(d) for d in resolve_domains("auto", 2, 1)] == ["continuous", "sign"]
