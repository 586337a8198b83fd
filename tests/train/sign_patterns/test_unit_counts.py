"""The decomposition by the number of active first-layer units keeps the optimum (correctness only): against the
naive full MIP on tiny conv and dense networks whose heads are too wide for the head patterns, the canonical form
of a network, the sub-problems' rows at random networks."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Conv2D, Dense, Flatten, MaxPool2D, Network
from mipnet.solvers import SolveOptions
from mipnet.train.certificate import objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.losses import Hinge
from mipnet.train.sign_patterns.unit_counts import UnitCountFormulation, unit_counts
from mipnet.train.trainer import train_network

OPTS = SolveOptions(time_limit=120, threads=1, mip_gap=1e-7)
CONV = {"l1": 0.01, "filter_penalty": 0.05, "weights": ["continuous", "grid(3)"]}


def _conv() -> Network:
    # 2 head weights per filter on 7 levels: 49 blocks, 1225 head patterns (more than the head patterns take)
    return Network([Conv2D(2, kernel=2, stride=1), MaxPool2D((1, 2)), Flatten(), Dense(2)], (1, 2, 3))


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 0.1, (n, 1, 2, 3))
    y = np.arange(n) % 2
    for i in range(n):
        X[i, 0, int(y[i]), 2 * rng.integers(0, 2)] += 0.9
    return X, y


def test_the_decomposition_proves_the_naive_optimum_conv():
    X, y = _images(3, 0)
    template = _conv()
    _, naive = train_network(template, X, y, Hinge(), TrainConfig.naive(**CONV), options=OPTS)
    assert naive.proved_optimal
    net, rep = train_network(template, X, y, Hinge(), TrainConfig(**CONV), options=OPTS)
    assert rep.extra["decomposition"] == "by unit counts"
    assert rep.proved_optimal and rep.certificate["ok"]
    assert rep.objective == pytest.approx(naive.objective, abs=1e-6)
    assert objective_value(net, X, y, Hinge(), TrainConfig(**CONV)) == pytest.approx(rep.objective, abs=1e-9)
    assert [e["k"] for e in rep.extra["sub_problems"]] and len(rep.extra["sub_problems"]) == 3


def test_the_decomposition_proves_the_naive_optimum_dense():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    terms = {"l1": 0.01, "neuron_penalty": 0.05, "weights": ["continuous", "ternary"]}
    template = Network([Dense(2), Dense(3)], 2)
    _, naive = train_network(template, X, y, Hinge(), TrainConfig.naive(**terms), options=OPTS)
    assert naive.proved_optimal
    _, free = train_network(template, X, y, Hinge(), TrainConfig(**terms), options=OPTS)
    assert free.extra["decomposition"] == "by unit counts"
    assert free.proved_optimal and free.objective == pytest.approx(naive.objective, abs=1e-6)
    _, one = train_network(template, X, y, Hinge(), TrainConfig(**terms, max_neurons=1), options=OPTS)
    assert len(one.extra["sub_problems"]) == 2               # 0 or 1 active neuron
    assert one.proved_optimal and one.objective >= free.objective - 1e-9


def test_canonical_puts_the_active_units_first_and_keeps_the_outputs():
    X, y = _images(6, 2)
    template = _conv()
    config = TrainConfig(**CONV)
    domains = resolve_domains(config.weights, 2, 2, True)
    counts = unit_counts(template, Hinge(), domains, config, True)
    rng = np.random.default_rng(0)
    net = Network([Conv2D(2, kernel=2, stride=1, weight=np.stack([np.zeros((1, 2, 2)), rng.normal(size=(1, 2, 2))]),
                          bias=np.array([-0.3, 0.1])),
                   MaxPool2D((1, 2)), Flatten(),
                   Dense(2, weight=np.array([[1.0, -1.0], [0.0, 1.0]]), bias=np.zeros(2))], (1, 2, 3))
    k, canon = counts.canonical(net)
    assert k == 1
    np.testing.assert_allclose(canon.forward(X), net.forward(X), atol=1e-12)
    np.testing.assert_array_equal(canon.layers[0].weight[1], 0.0)
    assert canon.layers[0].bias[1] == 0.0
    np.testing.assert_array_equal(canon.layers[-1].weight[:, 1], 0.0)
    np.testing.assert_array_equal(canon.layers[-1].weight[:, 0], net.layers[-1].weight[:, 1])
    assert objective_value(canon, X, y, Hinge(), config) <= objective_value(net, X, y, Hinge(), config) + 1e-12
    form = UnitCountFormulation(template, X, y, Hinge(), config, domains, k, counts.columns, warm=canon)
    assert form.m.violation(form.start_vector()) <= 1e-9


def test_applicability_and_limits():
    template = _conv()
    domains = resolve_domains(CONV["weights"], 2, 2, True)
    assert unit_counts(template, Hinge(), domains, TrainConfig(l1=0.01), True) is None          # no filter gates
    assert unit_counts(template, Hinge(), domains, TrainConfig(**CONV, max_filters=1), True).counts == [0, 1]
    deep = Network([Conv2D(2, kernel=2), Flatten(), Dense(2), Dense(2)], (1, 2, 3))
    deep_config = TrainConfig(**{**CONV, "weights": "ternary"})
    assert unit_counts(deep, Hinge(), resolve_domains("ternary", 3, 2, True), deep_config, True) is None


def test_a_sign_head_without_zero_keeps_its_weights_on_switched_off_units():
    """``sign`` head weights are +-1 (no 0 without pruning): the head's weights on switched-off units stay as they
    are (they change nothing), in the canonical form and in the sub-problem, whose start then violates nothing."""
    template = Network([Dense(3), Dense(1)], 2)
    config = TrainConfig(l1=0.01, neuron_penalty=0.02)
    domains = resolve_domains(config.weights, 2, 1, False)
    counts = unit_counts(template, Hinge(), domains, config, False)
    assert str(domains[-1]) == "sign" and not counts.head_zero
    net = Network([Dense(3, weight=np.array([[0.0, 0.0], [1.0, -0.5], [0.0, 0.0]]), bias=np.array([0.0, 0.2, -0.1])),
                   Dense(1, relu=False, weight=np.array([[1.0, -1.0, -1.0]]), bias=np.array([0.1]))], 2)
    k, canon = counts.canonical(net)
    assert k == 1
    np.testing.assert_array_equal(canon.layers[-1].weight, [[-1.0, 1.0, -1.0]])
    X = np.random.default_rng(0).uniform(-1, 1, (5, 2))
    y = np.array([0, 1, 0, 1, 1])
    np.testing.assert_allclose(canon.forward(X), net.forward(X), atol=1e-12)
    form = UnitCountFormulation(template, X, y, Hinge(), config, domains, k, counts.columns, counts.head_zero,
                                warm=canon)
    assert form.m.violation(form.start_vector()) <= 1e-9


def test_an_active_unit_may_have_any_bias():
    """The full model orders hidden units by bias (a multi-output head); with the active units first and the others
    at 0 that order would cut off an active unit with a negative bias: the sub-problem must hold such a network."""
    template = Network([Dense(2), Dense(3)], 2)
    config = TrainConfig(l1=0.01, neuron_penalty=0.02, weights=["continuous", "ternary"])
    domains = resolve_domains(config.weights, 2, 3, False)
    counts = unit_counts(template, Hinge(), domains, config, True)
    net = Network([Dense(2, weight=np.array([[1.0, -0.5], [0.0, 0.0]]), bias=np.array([-0.2, 0.0])),
                   Dense(3, relu=False, weight=np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]), bias=np.zeros(3))],
                  2)
    k, canon = counts.canonical(net)
    X = np.random.default_rng(2).uniform(-1, 1, (6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    form = UnitCountFormulation(template, X, y, Hinge(), config, domains, k, counts.columns, warm=canon)
    assert k == 1 and form.m.violation(form.start_vector()) <= 1e-9
