import numpy as np
import pytest

from mipnet import Dense, Network
from mipnet.errors import FormatError
from mipnet.io import load_any, load_nnet, save_nnet
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


def test_save_nnet_round_trip_keeps_weights_and_header(tmp_path, dense_net):
    net = dense_net([3, 5, 4, 2], seed=4)
    norm = {"mins": [-1.0, -2.0, 0.0], "maxs": [1.0, 2.0, 3.0], "means": [0.1, 0.2, 0.3, 0.5],
            "ranges": [2.0, 4.0, 3.0, 7.0]}
    path = tmp_path / "net.nnet"
    save_nnet(net, path, norm)
    back = load_nnet(path)
    X = np.random.default_rng(0).uniform(-1, 1, (20, 3))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))       # repr() of floats: exact
    d = read_nnet(path)
    for k, v in norm.items():
        np.testing.assert_array_equal(d[k], v)
    save_nnet(back, tmp_path / "again.nnet")                              # the header read back is written again
    assert read_nnet(tmp_path / "again.nnet")["ranges"].tolist() == norm["ranges"]
    save_nnet(net, tmp_path / "plain.nnet")                               # no header given: identity scaling
    np.testing.assert_array_equal(load_nnet(tmp_path / "plain.nnet", space="physical").forward(X), net.forward(X))


def test_save_nnet_refuses_what_nnet_cannot_hold(tmp_path, conv_net):
    with pytest.raises(FormatError, match="Dense layers only"):
        save_nnet(conv_net(0), tmp_path / "c.nnet")
    net = Network([Dense(2, relu=False, weight=np.ones((2, 2)), bias=np.zeros(2)),
                   Dense(1, weight=np.ones((1, 2)), bias=np.zeros(1))], 2)
    with pytest.raises(FormatError, match="ReLU after every hidden layer"):
        save_nnet(net, tmp_path / "d.nnet")
