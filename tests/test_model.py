"""The model file: network + preprocessing + names and labels, validated on load; verification in raw space."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mipnet import Conv2D, Dense, Flatten, Network, save_network, verify
from mipnet.errors import FormatError, SettingsError
from mipnet.io.vnnlib import Disjunct, Property
from mipnet.model import NETWORK_SPACE, RAW_SPACE, SCALED_SPACE, Model, Scaler


def _sum_net() -> Network:
    """Two outputs: ``o0 = s0 + s1`` (through two ReLUs), ``o1 = 0``; class 0 wins when ``s0 + s1 > 0``."""
    return Network([Dense(2, weight=np.array([[1.0, 1.0], [-1.0, -1.0]]), bias=np.zeros(2)),
                    Dense(2, weight=np.array([[1.0, -1.0], [0.0, 0.0]]), bias=np.zeros(2))], 2)


# feature 0 in [0, 100] (scale 0.02), feature 1 in [0, 1] (scale 2): the minmax scaling of ``mipnet train``
SCALER = Scaler("minmax", np.array([50.0, 0.5]), np.array([0.02, 2.0]))


def _model() -> Model:
    return Model(_sum_net(), SCALER, ["big", "small"], "t", "classification", ["high", "low"], {"note": "x"})


def _fold(model: Model) -> Network:
    """The network with the scaling folded into its first Dense layer (exact algebra): it takes raw inputs."""
    net = copy.deepcopy(model.network)
    first, pre = net.layers[0], model.preprocessing
    w = first.weight
    first.bias = first.bias - w @ (pre.offset * pre.scale)
    first.weight = w * pre.scale[None, :]
    return net


# ------------------------------------------------------------------------------------------------- Scaler
def test_scaler_fit_matches_the_cli_scaling():
    X = np.array([[0.0, 5.0, 1.0], [10.0, 5.0, 3.0], [4.0, 5.0, 2.0]])
    mm = Scaler.fit("minmax", X)
    assert np.allclose(mm(X).min(0)[[0, 2]], -1) and np.allclose(mm(X).max(0)[[0, 2]], 1)
    assert mm.scale[1] == 2.0 and mm.offset[1] == 5.0          # a constant feature: span 1, as before
    st = Scaler.fit("standard", X)
    assert np.allclose(st(X).mean(0), 0) and np.allclose(st(X)[:, [0, 2]].std(0), 1) and st.scale[1] == 1.0
    assert Scaler.fit("none", X).is_identity()
    assert np.allclose(mm.inverse(mm(X)), X)
    with pytest.raises(SettingsError, match="unknown scaling"):
        Scaler.fit("log", X)


@pytest.mark.parametrize("scale", [[1.0, 0.0], [1.0, -2.0], [np.inf, 1.0], [np.nan, 1.0]])
def test_scaler_refuses_non_positive_or_non_finite_scale(scale):
    with pytest.raises(SettingsError, match="finite and positive"):
        Scaler("minmax", [0.0, 0.0], scale)


def test_scaler_is_monotone_so_boxes_map_into_boxes():
    rng = np.random.default_rng(0)
    sc = Scaler("standard", rng.normal(size=3) * 1e3, np.exp(rng.normal(size=3) * 5))
    lo = rng.normal(size=3) * 1e3
    hi = lo + np.abs(rng.normal(size=3)) * 1e-9 * np.abs(lo)     # a tiny box: rounding matters
    X = rng.uniform(lo, hi, (10000, 3))
    assert np.all(sc(X) >= sc(lo)) and np.all(sc(X) <= sc(hi))


# ---------------------------------------------------------------------------------------------- files
def test_round_trip_is_exact(tmp_path):
    m = _model()
    m.save(tmp_path / "m.json")
    back = Model.load(tmp_path / "m.json")
    assert back.features == ["big", "small"] and back.target == "t" and back.classes == ["high", "low"]
    assert back.task == "classification" and back.metadata == {"note": "x"} and back.space == RAW_SPACE
    assert np.array_equal(back.preprocessing.offset, SCALER.offset)
    assert np.array_equal(back.preprocessing.scale, SCALER.scale)
    X = np.random.default_rng(1).uniform(0, 100, (50, 2))
    assert np.array_equal(back.outputs(X), m.outputs(X))
    assert np.array_equal(back.outputs(X), m.network.forward(SCALER(X)))


def test_files_written_by_the_old_cli_and_by_save_network_load(tmp_path):
    # the layout ``mipnet train`` wrote before the Model class: the fields in the metadata
    meta = {"estimator": "MIPNetClassifier", "task": "classification", "classes": ["high", "low"],
            "features": ["big", "small"], "target": "t", "preprocessing": SCALER.as_dict()}
    save_network(_sum_net(), tmp_path / "cli.json", meta)
    m = Model.load(tmp_path / "cli.json")
    assert m.preprocessing is not None and m.predict([[30.0, 0.5]])[0] == "low"
    save_network(_sum_net(), tmp_path / "plain.json")
    plain = Model.load(tmp_path / "plain.json")
    assert plain.preprocessing is None and plain.task is None and plain.space == NETWORK_SPACE
    assert np.array_equal(plain.outputs([[30.0, 0.5]]), _sum_net().forward(np.array([[30.0, 0.5]])))


@pytest.mark.parametrize("mutate,match", [
    (lambda m: m["preprocessing"].update(scale=[0.02, 0.0]), "scale must be finite and positive"),
    (lambda m: m["preprocessing"].update(scale=[0.02, -1.0]), "scale must be finite and positive"),
    (lambda m: m["preprocessing"].update(scale=["nan", 1.0]), "scale must be finite and positive"),
    (lambda m: m["preprocessing"].update(offset=[1.0, "inf"]), "offset must be finite"),
    (lambda m: m["preprocessing"].update(offset=[1.0]), "offset has 1 values but scale has 2"),
    (lambda m: m["preprocessing"].update(offset=[1.0, 2.0, 3.0], scale=[1.0, 1.0, 1.0]),
     "preprocessing has 3 features, the network 2 inputs"),
    (lambda m: m["preprocessing"].update(offset="x"), "lists of numbers"),
    (lambda m: m.update(preprocessing=[1, 2]), "preprocessing must be an object"),
    (lambda m: m.update(features=["a"]), "1 feature names for a network with 2 inputs"),
    (lambda m: m.update(classes=["a", "b", "c"]), "3 class labels"),
    (lambda m: m.update(task="ranking"), "task must be"),
    (lambda m: m.pop("classes"), "needs its class labels"),
])
def test_damaged_model_fields(tmp_path, mutate, match, capsys):
    from mipnet.cli import main

    path = tmp_path / "m.json"
    _model().save(path)
    doc = json.loads(path.read_text())
    mutate(doc["metadata"])
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=match) as info:
        Model.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_predict_applies_the_preprocessing():
    m = _model()
    X = np.array([[30.0, 0.5], [80.0, 0.5], [50.0, 0.4], [50.0, 0.6]])
    assert list(m.predict(X)) == ["low", "high", "low", "high"]
    assert np.allclose(m.transform(X), SCALER(X)) and np.allclose(m.inverse_transform(m.transform(X)), X)


# ------------------------------------------------------------------------------- verification in raw space
def test_robustness_ball_is_per_feature_in_raw_units():
    """Worst-case margin of label "low" at raw (30, 0.5): 0.4 - 0.02 eps - 2 eps (the raw ball, exactly)."""
    m = _model()
    x = np.array([30.0, 0.5])
    res = m.verify_robustness(x, 0.15)
    assert res.status == "holds" and res.label == 1 and res.space == RAW_SPACE and res.eps == 0.15
    assert res.margin_bound == pytest.approx(0.4 - 2.02 * 0.15, abs=1e-6)
    res = m.verify_robustness(x, 0.25)
    assert res.status == "violated" and res.space == RAW_SPACE
    cex = res.counterexample
    assert np.all((cex >= x - 0.25) & (cex <= x + 0.25)) and m.predict(cex)[0] == "high"   # raw, re-checked
    assert np.allclose(res.counterexample_output, m.outputs(cex)[0])
    # in the scaled space the same numbers mean another query
    scaled = m.verify_robustness(x, 0.15, scaled=True)
    assert scaled.space == SCALED_SPACE and scaled.label == 0


def test_robustness_with_a_raw_domain():
    m = _model()
    res = m.verify_robustness([30.0, 0.5], 0.25, domain=(0.0, [100.0, 0.55]))
    # feature 1 can rise by 0.05 only: margin 0.4 - 0.02 * 0.25 - 2 * 0.05
    assert res.status == "holds" and res.margin_bound == pytest.approx(0.4 - 0.005 - 0.1, abs=1e-6)
    with pytest.raises(SettingsError, match="does not meet"):
        m.verify_robustness([30.0, 0.5], 0.1, domain=(60.0, 100.0))


def test_bounds_and_monotonicity_in_raw_space():
    m = _model()
    res = m.verify_bounds([0.0, 0.0], [100.0, 1.0])
    assert res.space == RAW_SPACE and res.status == "exact"
    assert res.lower[0] == pytest.approx(-2, abs=1e-4) and res.upper[0] == pytest.approx(2, abs=1e-4)
    res = m.verify_bounds([50.0, 0.5], [75.0, 0.75])
    assert res.lower[0] == pytest.approx(0, abs=1e-4) and res.upper[0] == pytest.approx(1, abs=1e-4)
    assert m.verify_monotonicity(0, [0.0, 0.0], [100.0, 1.0]).status == "holds"
    bad = m.verify_monotonicity(1, [20.0, 0.0], [40.0, 1.0], direction="decreasing")
    assert bad.status == "violated" and bad.space == RAW_SPACE
    a, b = bad.counterexample, bad.counterexample_pair
    assert np.all((a >= [20, 0]) & (a <= [40, 1])) and np.all((b >= [20, 0]) & (b <= [40, 1]))
    assert a[0] == b[0] and b[1] >= a[1] and m.outputs(b)[0, 0] - m.outputs(a)[0, 0] > 1e-4


def test_property_in_raw_space(tmp_path):
    m = _model()
    head = "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)\n"
    box = "(assert (>= X_0 20))(assert (<= X_0 40))(assert (>= X_1 0))(assert (<= X_1 1))\n"
    (tmp_path / "p.vnnlib").write_text(head + box + "(assert (>= Y_0 0.5))\n")    # max o0 is -0.2 + 1 = 0.8
    res = m.verify_property(tmp_path / "p.vnnlib")
    assert res.status == "violated" and res.space == RAW_SPACE
    cex = res.counterexample
    assert 20 <= cex[0] <= 40 and 0 <= cex[1] <= 1 and m.outputs(cex)[0, 0] >= 0.5
    (tmp_path / "q.vnnlib").write_text(head + box + "(assert (>= Y_0 0.81))\n")
    assert m.verify_property(tmp_path / "q.vnnlib").status == "holds"
    (tmp_path / "r.vnnlib").write_text(head + box + "(assert (<= (+ X_0 X_1) 30))(assert (>= Y_0 0.5))\n")
    res = m.verify_property(tmp_path / "r.vnnlib")                  # a row that combines raw inputs
    assert res.status == "violated" and res.space == RAW_SPACE
    cex = res.counterexample
    assert 20 <= cex[0] <= 40 and 0 <= cex[1] <= 1 and cex[0] + cex[1] <= 30 and m.outputs(cex)[0, 0] >= 0.5
    (tmp_path / "s.vnnlib").write_text(head + box + "(assert (<= (+ X_0 X_1) 30))(assert (>= Y_0 0.81))\n")
    assert m.verify_property(tmp_path / "s.vnnlib").status == "holds"
    assert m.verify_property(tmp_path / "r.vnnlib", scaled=True).space == SCALED_SPACE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raw_queries_agree_with_the_folded_network(dense_net, seed):
    """Cross-check on random networks and scalings: the scaling folded into the first layer gives a network on raw
    inputs; its plain queries must give the same proved numbers as the model's raw-space queries."""
    rng = np.random.default_rng(seed)
    net = dense_net([3, 5, 4, 3], seed=seed)
    scaler = Scaler("standard", rng.normal(size=3) * 10, np.exp(rng.normal(size=3) * 2))
    m = Model(net, scaler)
    folded = _fold(m)
    x = rng.normal(size=3) * 10
    assert np.allclose(folded.forward(x[None]), m.outputs(x), rtol=1e-9, atol=1e-9)
    eps = 0.3 / float(scaler.scale.max())
    a, b = m.verify_robustness(x, eps), verify.robustness(folded, x, eps)
    assert a.label == b.label and a.status == b.status
    if a.status != "violated":
        assert a.margin_bound == pytest.approx(b.margin_bound, abs=1e-5)
    else:
        margins = m.outputs(a.counterexample)[0]
        assert np.all((a.counterexample >= x - eps) & (a.counterexample <= x + eps))
        assert margins[a.label] <= np.delete(margins, a.label).max()
    lo, hi = x - 1 / scaler.scale, x + 1 / scaler.scale
    ba, bb = m.verify_bounds(lo, hi), verify.output_bounds(folded, lo, hi)
    assert np.allclose(ba.lower, bb.lower, atol=1e-4) and np.allclose(ba.upper, bb.upper, atol=1e-4)
    Y = m.outputs(rng.uniform(lo, hi, (4000, 3)))
    assert np.all(Y >= ba.lower) and np.all(Y <= ba.upper)
    # a property whose rows combine raw inputs with each other and with an output: the same answer and proved bound
    A = np.array([[1.0, -1.0, 0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0, 1.0, 0.0]])
    c = folded.forward(x[None])[0]
    for shift in (-1.0, 1.0):
        b = np.array([x[0] - x[1] + 0.5 * x[2], c[1] - c[0] + shift])
        rows = np.vstack([np.hstack([np.eye(3), np.zeros((3, 3))]), np.hstack([-np.eye(3), np.zeros((3, 3))]), A])
        prop = Property(3, 3, [Disjunct(rows, np.concatenate([hi, -lo, b]), 3)], "combined")
        pa, pb = m.verify_property(prop), verify.check_property(folded, prop)
        assert pa.status == pb.status and pa.status in ("holds", "violated")
        if pa.status == "violated":
            assert prop.disjuncts[0].holds_at(pa.counterexample, m.outputs(pa.counterexample)[0], tol=1e-9)
    ma, mb = m.verify_monotonicity(1, lo, hi), verify.monotonicity(folded, 1, lo, hi)
    assert ma.status == mb.status
    if ma.status == "violated":
        assert m.outputs(ma.counterexample_pair)[0, 0] - m.outputs(ma.counterexample)[0, 0] < -ma.tol


def test_onnx_and_plain_models_work_in_network_input_space(tmp_path):
    pytest.importorskip("onnx")
    from mipnet.io import to_onnx

    to_onnx(_sum_net(), tmp_path / "n.onnx")
    m = Model.load(tmp_path / "n.onnx")
    assert m.preprocessing is None and m.space == NETWORK_SPACE
    res = m.verify_robustness([0.3, 0.5], 0.1)
    assert res.space == NETWORK_SPACE and res.label == 0 and res.status == "holds"


def test_image_model_scales_flat_features(conv_net):
    """Preprocessing acts on the flattened features; the network sees (C, H, W) images."""
    rng = np.random.default_rng(4)
    net = conv_net(1)
    m = Model(net, Scaler("standard", rng.normal(size=36), np.exp(rng.normal(size=36))))
    X = rng.normal(size=(5, 36))
    assert np.array_equal(m.outputs(X), net.forward(m.preprocessing(X).reshape(5, 1, 6, 6)))
    res = m.verify_robustness(X[0], 0.5, time_limit=5)
    assert res.space == RAW_SPACE and res.status in ("holds", "violated", "unknown")
    if res.status == "violated":
        cex = res.counterexample
        assert cex.shape == (36,) and np.all(cex >= X[0] - 0.5) and np.all(cex <= X[0] + 0.5)
    b = m.verify_bounds(X[0] - 0.1, X[0] + 0.1, exact=False)
    Y = m.outputs(rng.uniform(X[0] - 0.1, X[0] + 0.1, (500, 36)))
    assert np.all(Y >= b.lower) and np.all(Y <= b.upper)


def test_class_indices_break_ties_towards_the_first_class():
    from mipnet.model import class_indices

    out = np.array([[1.0, 1.0 + 1e-15, 0.0], [1.0, 1.0 + 1e-6, 0.0], [-2.0, -3.0, -2.0 - 1e-14], [0.0, 5.0, 5.0]])
    assert class_indices(out).tolist() == [0, 1, 0, 1]
    one = np.array([[1e-16], [-1e-16], [0.0], [1e-6], [-0.5]])
    assert class_indices(one).tolist() == [0, 0, 0, 1, 0]
    big = np.array([[1e9, 1e9 + 0.5]])                           # relative: 0.5 apart at 1e9 is a tie
    assert class_indices(big).tolist() == [0]


# ---------------------------------------------------------------------------------------- raw network (export)
@pytest.mark.parametrize("seed", range(4))
def test_raw_network_takes_raw_features_as_outputs_does(dense_net, seed):
    """The scaling folded into the first Dense layer: the copy gives the model's outputs on raw features, and the
    model itself is left as it was."""
    rng = np.random.default_rng(seed)
    net = dense_net([3, 5, 2], seed=seed)
    scaler = Scaler("standard", rng.normal(size=3) * 10, rng.uniform(0.01, 5.0, size=3))
    model = Model(net, scaler)
    before = [layer.weight.copy() for layer in net.affine_layers()]
    raw = model.raw_network()
    X = scaler.inverse(rng.uniform(-2, 2, size=(200, 3)))
    want = model.outputs(X)
    assert np.allclose(raw.forward(X), want, rtol=1e-12, atol=1e-12 * (1 + np.abs(want).max()))
    assert all(np.array_equal(w, layer.weight) for w, layer in zip(before, net.affine_layers(), strict=True))
    assert not np.allclose(raw.forward(scaler(X)), want)      # it really changed: raw inputs, not scaled ones


def test_raw_network_without_preprocessing_is_a_copy_and_conv_first_is_refused(dense_net):
    net = dense_net([2, 3, 1], seed=0)
    copy_ = Model(net).raw_network()
    assert copy_ is not net and np.array_equal(copy_.forward(np.eye(2)), net.forward(np.eye(2)))
    conv = Network([Conv2D(1, kernel=2, weight=np.ones((1, 1, 2, 2)), bias=np.zeros(1)), Flatten(),
                    Dense(1, weight=np.ones((1, 1)), bias=np.zeros(1))], (1, 2, 2))
    model = Model(conv, Scaler("minmax", np.zeros(4), np.full(4, 2.0)))
    with pytest.raises(SettingsError, match="cannot be folded into the first layer"):
        model.raw_network()
    flat_first = Network([Flatten(), Dense(1, weight=np.arange(4.0)[None], bias=np.ones(1))], (1, 2, 2))
    m = Model(flat_first, Scaler("minmax", np.arange(4.0), np.full(4, 0.5)))
    X = np.random.default_rng(1).uniform(-3, 3, size=(10, 4))
    assert np.allclose(m.raw_network().forward(X.reshape(10, 1, 2, 2)), m.outputs(X))
