"""Constraint objects: each kind enforced (the trained network satisfies it, checked independently by numpy, by
dense sampling and by the verifier), networks that violate a constraint are infeasible for its rows, the loop on a
case that needs more than one round, conflicting sets explained, bad inputs refused before any solve."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet import constraints as C
from mipnet.constraints import ConstraintSet, train_with_constraints
from mipnet.errors import InfeasibleConstraintsError, SettingsError
from mipnet.io.vnnlib import parse_vnnlib
from mipnet.solvers import SolveOptions, get_backend
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.losses import make_loss

OPTS = SolveOptions(time_limit=60, mip_gap=1e-6)
BOX = (-np.ones(2), np.ones(2))


def _data(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A regression target that decreases in x0 on part of [-1, 1] (so monotone training has to work)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.abs(X[:, 0]) - 0.5 * X[:, 1]
    return X, y[:, None]


def _fit(constraints, X=None, y=None, hidden=2, names=None, **kw):
    if X is None:
        X, y = _data()
    template = Network([Dense(hidden), Dense(1)], X.shape[1])
    config = TrainConfig(l1=0.01, weights=["continuous", "ternary"])
    return train_with_constraints(template, X, y, make_loss("absolute"), config, "highs", OPTS, constraints,
                                  feature_names=names, region=kw.pop("region", BOX), **kw)


def _changes(net: Network, feature: int, sign: float, n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, (n, 2))
    X2 = X.copy()
    X2[:, feature] = rng.uniform(X[:, feature], 1.0)
    return sign * (net.forward(X2)[:, 0] - net.forward(X)[:, 0])


# ------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("constraint, match", [
    (C.Monotone("income"), "unknown feature 'income'"),
    (C.WeightSign(sign=2, feature=0), "sign must be"),
    (C.WeightSign(sign=1, layer=1, feature=0), "first layer"),
    (C.WeightSign(sign=1, layer=5), "layer must be"),
    (C.Implies(C.Active(7), C.Uses("a")), "neuron must be"),
    (C.OutputAt(np.zeros(3), lower=0.0), "needs 2 finite values"),
    (C.OutputBound(region=(np.zeros(3), np.ones(3)), upper=1.0), "region"),
    (C.OutputBound(), "finite lower or upper"),
])
def test_bad_constraints_are_refused_before_any_solve(constraint, match) -> None:
    template = Network([Dense(2), Dense(1)], 2)
    with pytest.raises(SettingsError, match=match):
        ConstraintSet([constraint], template, ["a", "b"], region=BOX)


def test_a_region_constraint_needs_a_region() -> None:
    with pytest.raises(SettingsError, match="region"):
        ConstraintSet([C.Monotone(0)], Network([Dense(2), Dense(1)], 2), None)


# ------------------------------------------------------------------------------------ structure and points
def test_weight_sign_and_bound_are_enforced_and_violating_networks_are_infeasible() -> None:
    cons = [C.WeightSign(sign=-1, feature="a"), C.WeightBound(lower=-0.3, upper=0.3, layer=0, feature="b")]
    net, rep = _fit(cons, names=["a", "b"])
    W = net.layers[0].weight
    assert np.all(W[:, 0] <= 1e-9) and np.all(np.abs(W[:, 1]) <= 0.3 + 1e-9)
    assert [c["status"] for c in rep.certified] == ["enforced", "enforced"]
    # a network that breaks the sign: its fixed weights make the constrained MIP infeasible
    X, y = _data()
    template = Network([Dense(2), Dense(1)], 2)
    config = TrainConfig(l1=0.01, weights=["continuous", "ternary"], symmetry=False)
    cs = ConstraintSet(cons, template, ["a", "b"])
    bad = Network([Dense(2, weight=np.array([[0.5, 0.1], [-0.2, 0.1]]), bias=np.zeros(2)),
                   Dense(1, weight=np.array([[1.0, -1.0]]), bias=np.zeros(1))], 2)
    form = TrainingFormulation(template, X, y, make_loss("absolute"), cs.config(config),
                               resolve_domains(config.weights, 2, 1), points=None)
    cs.extra().add_rows(form)
    W0 = bad.layers[0].weight
    form.m.add_rows(form.blocks[0].W[..., None], 1.0, lo=W0, hi=W0)   # pin the first layer (rows: bounds stay)
    assert get_backend("highs").solve(form.m, OPTS).status == "infeasible"
    assert cs.violations(bad)


def test_implication_between_inputs_is_enforced() -> None:
    X, y = _data(12, 3)
    cons = [C.Implies(C.Uses("a"), C.Uses("b")), C.MaxInputs(1)]   # a needs b, at most one input: a is out
    net, rep = _fit(cons, X, y, names=["a", "b"])
    used = (np.abs(net.layers[0].weight) > 0).any(0)
    assert not used[0] or used[1]
    assert used.sum() <= 1
    assert all(c["status"] == "enforced" for c in rep.certified)


def test_implication_forces_real_use() -> None:
    """Uses(b) on (forced by Uses(a)) means a nonzero weight of b in the network, not only a gate at 1."""
    X, y = _data(12, 4)
    y = (X[:, :1] * 0.8)  # depends on a only
    net, rep = _fit([C.Implies(C.Uses(0), C.Uses(1))], X, y)
    used = (np.abs(net.layers[0].weight) > 0).any(0)
    assert not used[0] or used[1]


def test_output_and_class_at_points() -> None:
    x = np.array([0.9, -0.2])
    net, rep = _fit([C.OutputAt(x, lower=2.0, upper=2.5)])
    assert 2.0 - 1e-6 <= net.forward(x[None])[0, 0] <= 2.5 + 1e-6
    assert rep.certified[0]["status"] == "enforced"


# -------------------------------------------------------------------------------------------- regions
def test_monotone_loop_needs_more_than_one_round_and_proves_it() -> None:
    net, rep = _fit([C.Monotone(0, "increasing")], initial_points=0)
    assert len(rep.rounds) >= 2 and rep.rounds[0]["added"] >= 1          # round 0 broke it, a pair was added
    assert rep.certified[0]["status"] == "holds"
    assert _changes(net, 0, 1.0).min() >= -1e-4                          # dense sampling agrees with the proof
    b = rep.bounds_constrained
    assert b["proved"] and b["lower"] <= b["upper"] + 1e-9


def test_monotone_sign_mode_is_monotone_by_construction() -> None:
    net, rep = _fit([C.Monotone(0, "decreasing", mode=C.MonotoneMode.SIGN)])
    prod = net.layers[0].weight[:, 0] * net.layers[1].weight[0]
    assert np.all(prod <= 1e-12)
    assert _changes(net, 0, -1.0).min() >= -1e-9
    assert rep.certified[0]["status"] == "enforced"


def test_output_bound_over_a_region_is_proved() -> None:
    X, y = _data(10, 1)
    net, rep = _fit([C.OutputBound(upper=0.6)], X, y)
    assert rep.certified[0]["status"] == "holds"
    Z = np.random.default_rng(0).uniform(-1, 1, (20000, 2))
    assert net.forward(Z).max() <= 0.6 + 1e-4 * 1.6


def test_safe_region_from_vnnlib_is_proved() -> None:
    text = """(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)
    (assert (>= X_0 0.0))(assert (<= X_0 1.0))(assert (>= X_1 -1.0))(assert (<= X_1 1.0))(assert (>= Y_0 0.7))"""
    prop = parse_vnnlib(text, 2, 1)
    net, rep = _fit([C.SafeRegion(prop)])
    assert rep.certified[0]["status"] == "holds"
    Z = np.random.default_rng(1).uniform([0, -1], [1, 1], (20000, 2))
    assert net.forward(Z).max() < 0.7


def test_conflicting_constraints_are_explained() -> None:
    x = np.array([0.5, 0.5])
    conflict = [C.OutputAt(x, lower=1.0), C.OutputAt(x, upper=0.0)]
    with pytest.raises(InfeasibleConstraintsError, match="conflict") as info:
        _fit([C.WeightSign(sign=1, feature=1), *conflict])
    assert info.value.conflict == conflict


@pytest.mark.parametrize("kind", [C.FairnessKind.DEMOGRAPHIC_PARITY, C.FairnessKind.EQUALIZED_ODDS])
def test_fairness_on_the_training_set(kind) -> None:
    """A protected binary feature that predicts the label: unconstrained, the rates differ a lot; with the
    constraint they differ by at most delta (numpy re-check of the classifier's predictions)."""
    rng = np.random.default_rng(2)
    n = 16
    g = (np.arange(n) % 2).astype(float)
    X = np.column_stack([g, rng.uniform(-1, 1, n)])
    y = ((g + 0.3 * X[:, 1]) > 0.5).astype(int)
    template = Network([Dense(2), Dense(1)], 2)
    config = TrainConfig(l1=0.01)
    quick = SolveOptions(time_limit=15, mip_gap=1e-6)   # any network the MIP returns must satisfy the constraint
    net, rep = train_with_constraints(template, X, y, make_loss("hinge"), config, "highs", quick,
                                      [C.Fairness("group", 0.25, kind)], feature_names=["group", "x"],
                                      classes=np.array([0, 1]))
    pred = net.forward(X)[:, 0] > 0
    pairs = [(g == 1, g == 0)] if kind == C.FairnessKind.DEMOGRAPHIC_PARITY else \
        [((g == 1) & (y == t), (g == 0) & (y == t)) for t in (0, 1)]
    for a, b in pairs:
        if a.any() and b.any():
            assert abs(pred[a].mean() - pred[b].mean()) <= 0.25 + 1e-12
    assert rep.certified[0]["status"] == "enforced"


def test_fairness_needs_a_binary_classifier() -> None:
    with pytest.raises(SettingsError, match="binary classifier"):
        ConstraintSet([C.Fairness(0, 0.1)], Network([Dense(2), Dense(1)], 2), None, classes=None,
                      data=(np.zeros((4, 2)), np.zeros(4)))


def test_class_at_a_point_is_enforced() -> None:
    """A binary classifier (one output, class 1 when o > 0) made to predict class 1 where its data says 0."""
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (10, 2))
    y = (X[:, 0] > 0).astype(int)
    x = np.array([-0.9, 0.0])
    template = Network([Dense(2), Dense(1)], 2)
    net, rep = train_with_constraints(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01), "highs", OPTS,
                                      [C.ClassAt(x, 1)], classes=np.array([0, 1]))
    assert net.forward(x[None])[0, 0] >= 1e-3 - 1e-6
    assert rep.certified[0]["status"] == "enforced"
