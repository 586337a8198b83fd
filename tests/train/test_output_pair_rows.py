"""The output pair rows of the training MIP (``TrainingFormulation.add_output_pair_rows``) hold for every network
of the model, are tight where they can be, keep the optimum, and raise the LP bound where the head's products
alone give nothing; the choice of pairs (``mipnet.train.pairs``)."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, Network
from mipnet.bounds.lp import LPSession
from mipnet.solvers import SolveOptions, get_backend
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import AbsoluteError, Hinge
from mipnet.train.pairs import nearest_pairs, nearest_pairs_of_classes

OPTS = SolveOptions(time_limit=60, threads=1, mip_gap=1e-7)


def _conv(outputs: int, pool: str) -> Network:
    mid = {"max": [MaxPool2D((1, 2))], "avg": [AvgPool2D((1, 2))], "none": []}[pool]
    return Network([Conv2D(2, kernel=2, stride=1), *mid, Flatten(), Dense(outputs)], (1, 2, 4))


def _images(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 0.2, (n, 1, 2, 4))
    y = np.arange(n) % classes
    for i in range(n):
        X[i, 0, y[i] % 2, (y[i] + rng.integers(0, 2)) % 4] += 0.8
    return X, y


def _random_like(template: Network, config: TrainConfig, domains, rng: np.random.Generator) -> Network:
    """A network of the template with continuous first-layer weights and head weights on the head's levels."""
    net = Network([type(layer)(**layer.params()) for layer in template.layers], template.input_shape)
    first, head = net.affine_layers()
    tail = (first.in_shape[0], *first.kernel) if isinstance(first, Conv2D) else (first.in_shape[0],)
    shape = (first.out_shape[0], *tail)
    first.weight = rng.uniform(-1, 1, shape) * (rng.uniform(size=shape) < 0.7)
    first.bias = rng.uniform(-0.5, 0.5, first.out_shape[0])
    levels = domains[-1].levels(config.weight_bound)
    head.weight = rng.choice(levels, (head.units, head.in_shape[0]))
    head.bias = rng.uniform(-1, 1, head.units)
    return net


CASES = [(_conv(1, "max"), 2), (_conv(2, "max"), 2), (_conv(2, "avg"), 2), (_conv(3, "none"), 3),
         (Network([Dense(3), Dense(1)], 8), 2)]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_rows_hold_for_random_networks(case):
    template, classes = CASES[case]
    X, y = _images(12, classes, case)
    if template.input_shape == (8,):
        X = X.reshape(len(X), -1)
    # symmetry off: random networks break the order of the hidden units
    config = TrainConfig(l1=0.01, filter_penalty=0.01 if isinstance(template.layers[0], Conv2D) else 0.0,
                         weights=["continuous", "grid(2)"], symmetry=False, output_pair_rows=8)
    domains = resolve_domains(config.weights, 2, template.n_outputs, True)
    rng = np.random.default_rng(case)
    for _ in range(5):
        net = _random_like(template, config, domains, rng)
        form = TrainingFormulation(template, X, y, Hinge(), config, domains, warm=net)
        assert len(form.output_pair_row_index) > 0
        x = form.start_vector()
        assert form.m.violation(x) <= 1e-9


def test_a_row_is_tight_where_the_network_makes_it_so():
    """One unit ``relu(w . x + b)`` with ``w = sign(x_h - x_u)``, both samples active, head weight at its bound:
    ``o_h - o_u = sum |x_h - x_u| = sum_e |dx_e| |w_e|``, the row's right-hand side, so no coefficient can be
    smaller."""
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (6, 4))
    y = np.array([1, 0, 1, 0, 1, 0])
    template = Network([Dense(1), Dense(1)], 4)
    config = TrainConfig(l1=0.01, weights=["continuous", "sign"], output_pair_rows=8)
    domains = resolve_domains(config.weights, 2, 1, False)
    pairs = nearest_pairs(X, np.flatnonzero(y == 1), np.flatnonzero(y == 0), 8)
    h, u = pairs[0]
    w = np.sign(X[h] - X[u])
    first = Dense(1, weight=w[None, :] * 0.2, bias=np.array([1.0]))       # active on all of [0, 1]^4
    net = Network([first, Dense(1, relu=False, weight=np.array([[1.0]]), bias=np.array([0.0]))], 4)
    form = TrainingFormulation(template, X, y, Hinge(), config, domains, warm=net)
    x = form.start_vector()
    A, _, hi = form.m.matrix()
    rows = form.output_pair_row_index
    slack = hi[rows] - A[rows] @ x
    assert form.m.violation(x) <= 1e-9
    assert slack.min() == pytest.approx(0.0, abs=1e-9)


def test_the_rows_keep_the_optimum_and_raise_the_lp_bound():
    X, y = _images(6, 2, 7)
    template = _conv(1, "max")
    terms = {"l1": 0.01, "filter_penalty": 0.01, "weights": ["continuous", "ternary"]}
    backend = get_backend("highs")
    objectives, roots = [], []
    for k in (0, 8):
        config = TrainConfig.naive(**terms, output_pair_rows=k)
        domains = resolve_domains(config.weights, 2, 1, True)
        form = TrainingFormulation(template, X, y, Hinge(), config, domains)
        assert (len(form.output_pair_row_index) > 0) == (k > 0)
        res = backend.solve(form.m, OPTS)
        assert res.proved
        objectives.append(res.objective)
        roots.append(LPSession(form.m, relax=True, objective=True).solve().bound)
    assert objectives[1] == pytest.approx(objectives[0], abs=1e-6)
    assert roots[0] <= 1e-5 < roots[1] <= objectives[1] + 1e-9


def test_the_rows_apply_only_where_they_are_valid_and_useful():
    X, y = _images(8, 2, 1)
    template = _conv(1, "max")
    domains = resolve_domains(["continuous", "ternary"], 2, 1, True)
    no_l1 = TrainingFormulation(template, X, y, Hinge(), TrainConfig(weights=["continuous", "ternary"],
                                                                      output_pair_rows=8), domains)
    assert len(no_l1.output_pair_row_index) == 0
    reg = TrainingFormulation(template, X, X.reshape(8, -1)[:, :1], AbsoluteError(),
                              TrainConfig(l1=0.01, weights=["continuous", "ternary"], output_pair_rows=8), domains)
    assert len(reg.output_pair_row_index) == 0
    deep = Network([Conv2D(2, kernel=2), Flatten(), Dense(2), Dense(1)], (1, 2, 4))
    deep_form = TrainingFormulation(deep, X, y, Hinge(), TrainConfig(l1=0.01, weights="ternary", output_pair_rows=8),
                                    resolve_domains("ternary", 3, 1, True))
    assert deep_form.head_receptive_fields() is None
    assert len(deep_form.output_pair_row_index) == 0
    assert TrainConfig().output_pair_rows == 0 and TrainConfig.naive().output_pair_rows == 0


def test_receptive_fields_follow_the_pooling():
    X, y = _images(4, 2, 0)
    form = TrainingFormulation(_conv(1, "max"), X, y, Hinge(), TrainConfig(l1=0.01, weights=["continuous", "ternary"],
                                                                           output_pair_rows=8),
                               resolve_domains(["continuous", "ternary"], 2, 1, True))
    fields = form.head_receptive_fields()
    # conv output (2, 1, 3): 3 positions per filter; pool (1, 2) -> 1 entry per filter over positions 0, 1
    assert fields.shape == (2, 6)
    np.testing.assert_array_equal(fields, [[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0]])


def test_nearest_pairs():
    X = np.array([[0.0], [0.1], [1.0], [1.2], [5.0]])
    np.testing.assert_array_equal(nearest_pairs(X, [0, 2], [1, 3, 4], 1), [[0, 1], [2, 3], [2, 4]])
    assert nearest_pairs(X, [], [1], 3).shape == (0, 2)
    pairs = nearest_pairs_of_classes(X, np.array([0, 1, 0, 1, 2]), 1)
    assert np.all(pairs[:, 0] < pairs[:, 1])
    labels = np.array([0, 1, 0, 1, 2])
    assert np.all(labels[pairs[:, 0]] != labels[pairs[:, 1]])
    assert {tuple(p) for p in pairs} >= {(0, 1), (2, 3), (2, 4), (3, 4)}
