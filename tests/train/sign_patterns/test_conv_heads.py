"""The decomposition of a CNN's training MIP by head patterns keeps the optimum (correctness only).

Tiny images (1 x 2 x 4, made here), ``conv(2, k=2, s=2)-maxpool(1x2)-flatten-dense(1)``: every pattern's sub-problem
against the full model with the head fixed to the same weights, the whole decomposition against the naive full
MIP, the rows against random networks, the pattern bookkeeping, the directions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnet import Conv2D, Dense, Flatten, MaxPool2D, Network
from mipnet.solvers import SolveOptions, get_backend
from mipnet.train.certificate import objective_value
from mipnet.train.config import SignPatternOptions, TrainConfig
from mipnet.train.domains import WeightDomain, resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Hinge, SquaredError
from mipnet.train.sign_patterns.conv_heads import (
    HeadPatternFormulation,
    carry_back,
    feature_directions,
    head_patterns,
)
from mipnet.train.trainer import train_network

OPTS = SolveOptions(time_limit=60, threads=1, mip_gap=1e-7)
CONFIG = {"l1": 0.01, "filter_penalty": 0.02, "weights": ["continuous", "ternary"]}


def _template(outputs: int = 1, filters: int = 2) -> Network:
    return Network([Conv2D(filters, kernel=2, stride=2), MaxPool2D((1, 2)), Flatten(), Dense(outputs)], (1, 2, 4))


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class depends on where the bright pixel is (a max pool problem)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 0.1, (n, 1, 2, 4))
    y = np.arange(n) % 2
    for i in range(n):
        c = rng.integers(0, 2)
        X[i, 0, int(y[i] == 1), 2 * c] += 0.9
    return X, y


def _patterns(template: Network, config: TrainConfig):
    domains = resolve_domains(config.weights, 2, template.n_outputs, True)
    heads = head_patterns(template, Hinge(), domains, config, is_prunable(template, config, template.layers[-1]))
    return heads, domains


def test_patterns_are_the_multisets_of_head_blocks() -> None:
    config = TrainConfig(**CONFIG)
    heads, _ = _patterns(_template(), config)
    assert len(heads.patterns) == math.comb(3 + 2 - 1, 2)        # ternary: 3 blocks, 2 interchangeable filters
    assert all(list(p) == sorted(p, reverse=True) for p in heads.patterns)
    grid = TrainConfig(l1=0.01, filter_penalty=0.02)              # auto: grid(3) head, 7 levels
    assert len(_patterns(_template(), grid)[0].patterns) == math.comb(7 + 2 - 1, 2)
    assert _patterns(_template(filters=3, outputs=2), grid)[0] is None   # 49 blocks, 18424 patterns: too many
    domains = resolve_domains(config.weights, 2, 1, True)
    assert head_patterns(_template(), SquaredError(), domains, config, True) is None   # not monotone in margins
    discrete_first = [WeightDomain("ternary"), WeightDomain("ternary")]
    assert head_patterns(_template(), Hinge(), discrete_first, config, True) is None


def test_directions_follow_the_loss() -> None:
    head = np.array([[1.0, -0.5, 0.0]])
    y = np.array([1, 0])
    np.testing.assert_array_equal(feature_directions(head, y), [[1, -1, -1], [-1, 1, -1]])
    # two outputs: the sign of v[y] - v[other]
    head2 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(feature_directions(head2, np.array([0, 1])), [[1, -1, -1], [-1, 1, -1]])
    # three outputs: v[y] above one and below another: no direction
    head3 = np.array([[0.0], [1.0], [-1.0]])
    np.testing.assert_array_equal(feature_directions(head3, np.array([0, 1, 2])), [[0], [1], [-1]])
    # pooling windows carry the direction back; overlapping windows that disagree give 0; no window gives -1
    windows = np.array([[0, 1], [1, 2]])
    np.testing.assert_array_equal(carry_back(windows, np.array([[1.0, -1.0], [1.0, 1.0]]), 4),
                                  [[1, 0, -1, -1], [1, 1, 1, -1]])


def test_the_rows_hold_for_random_networks_in_each_pattern() -> None:
    """Every row of a sub-problem (one-sided pools, secant, pool and pair rows) holds at the exact values of any
    network in its pattern: the forward pass as a start violates nothing."""
    X, y = _data(10, 0)
    config = TrainConfig(**CONFIG)
    template = _template()
    heads, domains = _patterns(template, config)
    rng = np.random.default_rng(1)
    for k in range(len(heads.patterns)):
        for _ in range(3):
            net = _random_network(template, rng)
            head = heads.head(k)
            net.layers[-1].weight = head.copy()
            off = heads.off_filters(k)
            net.layers[0].weight[off] = 0.0
            net.layers[0].bias[off] = 0.0
            form = HeadPatternFormulation(template, X, y, Hinge(), config, domains, head, off, warm=net)
            x = form.start_vector()
            assert form.m.violation(x) <= 1e-9, (heads.patterns[k], form.m.violation(x))
            assert form.m.objective_value(x) == pytest.approx(objective_value(net, X, y, Hinge(), config))


def _random_network(template: Network, rng: np.random.Generator) -> Network:
    net = Network([Conv2D(2, kernel=2, stride=2), MaxPool2D((1, 2)), Flatten(), Dense(template.n_outputs)], (1, 2, 4))
    conv, head = net.layers[0], net.layers[-1]
    conv.weight = rng.uniform(-1, 1, (2, 1, 2, 2))
    conv.bias = rng.uniform(-1, 1, 2)
    head.weight = np.zeros((template.n_outputs, 2))
    head.bias = rng.uniform(-1, 1, template.n_outputs)
    return net


def test_each_sub_problem_equals_the_full_model_with_its_head_fixed() -> None:
    X, y = _data(6, 2)
    config = TrainConfig(**CONFIG)
    template = _template()
    heads, domains = _patterns(template, config)
    backend = get_backend("highs")
    subs, fulls = [], []
    for k in range(len(heads.patterns)):
        head = heads.head(k)
        sub = HeadPatternFormulation(template, X, y, Hinge(), config, domains, head, heads.off_filters(k))
        full = TrainingFormulation(template, X, y, Hinge(), TrainConfig.naive(**CONFIG), domains)
        blk = full.blocks[-1]
        full.m.fix(blk.W, head)
        full.m.fix(blk.beta, blk.domain.binaries_of(head, config.weight_bound, blk.prunable))
        a, b = backend.solve(sub.m, OPTS), backend.solve(full.m, OPTS)
        assert a.proved and b.proved
        net = sub.extract(a.x)
        assert objective_value(net, X, y, Hinge(), config) <= a.objective + 1e-7
        subs.append(a.objective)
        fulls.append(b.objective)
    # a sub-problem is above its fixed-head model only where it forces a filter on (the pattern with that filter's
    # head block at 0 holds a network at least as good), so the best pattern is the optimum
    assert np.all(np.array(subs) >= np.array(fulls) - 1e-6)
    assert min(subs) == pytest.approx(min(fulls), abs=1e-6)


def test_the_decomposition_proves_the_naive_optimum() -> None:
    X, y = _data(8, 2)
    template = _template()
    _, naive = train_network(template, X, y, Hinge(), TrainConfig.naive(**CONFIG), options=OPTS)
    assert naive.proved_optimal
    for options in (SignPatternOptions(), SignPatternOptions(secant_rows=False, pair_rows=0),
                    SignPatternOptions(pair_rows=1)):
        net, rep = train_network(template, X, y, Hinge(), TrainConfig(**CONFIG, sign_patterns=options),
                                 options=OPTS)
        assert rep.extra["decomposition"] == "by head patterns"
        assert rep.proved_optimal and rep.certificate["ok"]
        assert rep.objective == pytest.approx(naive.objective, abs=1e-6)
        assert objective_value(net, X, y, Hinge(), TrainConfig(**CONFIG)) == pytest.approx(rep.objective, abs=1e-9)
        assert rep.bound <= rep.objective + 1e-9


def test_canonical_orders_the_filters_and_keeps_the_outputs() -> None:
    X, _ = _data(6, 4)
    config = TrainConfig(**CONFIG)
    template = _template()
    heads, _ = _patterns(template, config)
    rng = np.random.default_rng(5)
    net = _random_network(template, rng)
    net.layers[-1].weight = np.array([[-1.0, 1.0]])
    k, out = heads.canonical(net)
    assert list(heads.patterns[k]) == [2, 0]                      # blocks +1 then -1 (levels -1, 0, 1)
    np.testing.assert_allclose(out.forward(X), net.forward(X))
    # a filter whose head weight is 0 is switched off; a filter that outputs 0 gets head weight 0
    net.layers[-1].weight = np.array([[0.0, 1.0]])
    k, out = heads.canonical(net)
    assert not np.any(out.layers[0].weight[heads.off_filters(k)])
    np.testing.assert_allclose(out.forward(X), net.forward(X))
    net.layers[-1].weight = np.array([[1.0, 1.0]])
    net.layers[0].weight[0] = 0.0
    net.layers[0].bias[0] = -0.5
    k, out = heads.canonical(net)
    assert list(heads.patterns[k]) == [2, 1]
    np.testing.assert_allclose(out.forward(X), net.forward(X))
