import numpy as np
import pytest

from mipnet.io import load_any, load_nnet
from mipnet.io.nnet import read_nnet


@pytest.mark.parametrize("name", ["1_1", "2_9", "4_5"])
def test_acasxu_onnx_and_nnet_agree(acasxu, name):
    a = load_any(acasxu / "onnx" / f"ACASXU_run2a_{name}_batch_2000.onnx")
    b = load_any(acasxu / "nnet" / f"ACASXU_experimental_v2a_{name}.nnet")
    assert a.input_shape == b.input_shape == (5,)
    assert a.n_outputs == b.n_outputs == 5
    X = np.random.default_rng(0).uniform(-0.5, 0.5, size=(500, 5))
    # the ONNX weights are float32, the NNet text has 5-6 significant digits: agree to that precision
    np.testing.assert_allclose(a.forward(X), b.forward(X), rtol=1e-4, atol=1e-4)


def test_acasxu_onnx_matches_onnxruntime(acasxu):
    ort = pytest.importorskip("onnxruntime")
    path = acasxu / "onnx" / "ACASXU_run2a_1_1_batch_2000.onnx"
    net = load_any(path)
    sess = ort.InferenceSession(str(path))
    name = sess.get_inputs()[0].name
    X = np.random.default_rng(3).uniform(-0.5, 0.5, size=(50, 5)).astype(np.float32)
    ref = np.vstack([sess.run(None, {name: x.reshape(1, 1, 1, 5)})[0] for x in X])
    np.testing.assert_allclose(net.forward(X.astype(float)), ref, rtol=1e-5, atol=1e-5)


def test_physical_space_equals_nnet_semantics(acasxu):
    path = acasxu / "nnet" / "ACASXU_experimental_v2a_1_1.nnet"
    d = read_nnet(path)
    norm, phys = load_nnet(path), load_nnet(path, space="physical")
    rng = np.random.default_rng(1)
    X = rng.uniform(d["mins"], d["maxs"], size=(200, 5))
    expected = norm.forward((X - d["means"][:5]) / d["ranges"][:5]) * d["ranges"][5] + d["means"][5]
    np.testing.assert_allclose(phys.forward(X), expected, rtol=1e-9, atol=1e-6)
