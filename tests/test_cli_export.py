"""``mipnet export``: a model's network written as ONNX, NNet or mipnet JSON, on raw features by default (the
model file's scaling folded into the first layer), read back and compared with the model."""

from __future__ import annotations

import numpy as np
import pytest

from mipnet.cli import main
from mipnet.io import load_network
from mipnet.model import Model, Scaler


@pytest.fixture
def scaled_model(tmp_path, dense_net):
    """A 3-feature, 2-class model with a minmax scaling, saved as JSON (as ``mipnet train`` writes them)."""
    scaler = Scaler("minmax", np.array([50.0, 0.5, -3.0]), np.array([0.02, 2.0, 0.25]))
    model = Model(dense_net([3, 6, 2], seed=3), scaler, ["age", "dose", "score"], "y", "classification", [0, 1])
    path = tmp_path / "model.json"
    model.save(path)
    X = scaler.inverse(np.random.default_rng(0).uniform(-1.5, 1.5, size=(300, 3)))
    return path, model, X


@pytest.mark.parametrize("suffix,rtol", [(".json", 1e-12), (".nnet", 1e-9), (".onnx", 1e-5)])
def test_the_exported_network_takes_raw_features(tmp_path, scaled_model, capsys, suffix, rtol):
    if suffix == ".onnx":
        pytest.importorskip("onnx")
    path, model, X = scaled_model
    out = tmp_path / f"net{suffix}"
    assert main(["export", str(path), str(out)]) == 0
    line = capsys.readouterr().out
    assert "takes raw features (the preprocessing folded into the first layer)" in line and "read back" in line
    want = model.outputs(X)
    got = load_network(out).forward(X)
    assert np.allclose(got, want, rtol=rtol, atol=rtol * (1 + np.abs(want).max()))
    if suffix == ".json":          # a model file again: same labels, no preprocessing, same predictions
        back = Model.load(out)
        assert back.preprocessing is None and back.classes == [0, 1] and back.features == model.features
        assert np.array_equal(back.predict(X), model.predict(X))


def test_scaled_space_keeps_the_network_as_it_is(tmp_path, scaled_model, capsys):
    path, model, X = scaled_model
    out = tmp_path / "scaled.nnet"
    assert main(["export", str(path), str(out), "--space", "scaled"]) == 0
    assert "the network's own (scaled) inputs" in capsys.readouterr().out
    Xs = model.transform(X)
    assert np.allclose(load_network(out).forward(Xs), model.network.forward(Xs), rtol=1e-9, atol=1e-9)


def test_float64_onnx_is_exact(tmp_path, scaled_model, capsys):
    pytest.importorskip("onnx")
    path, model, _ = scaled_model
    out = tmp_path / "net64.onnx"
    assert main(["export", str(path), str(out), "--float64"]) == 0
    capsys.readouterr()
    raw = model.raw_network()
    for a, b in zip(load_network(out).affine_layers(), raw.affine_layers(), strict=True):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)


@pytest.mark.parametrize("name,match", [("net.txt", "cannot export to '.txt'"),
                                        ("missing/net.onnx", "does not exist")])
def test_bad_output_names_are_one_line_errors(tmp_path, scaled_model, capsys, name, match):
    path, _, _ = scaled_model
    assert main(["export", str(path), str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
