import numpy as np
import pytest

from mipnet.errors import FormatError
from mipnet.io import load_any, load_onnx, to_onnx

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _same_weights(a, b):
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb)
        if la.is_affine:
            assert la.relu == lb.relu
            np.testing.assert_array_equal(la.weight, lb.weight)
            np.testing.assert_array_equal(la.bias, lb.bias)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_export_import_roundtrip_is_exact(tmp_path, kind, dense_net, conv_net):
    net = dense_net([4, 6, 5, 3], 1) if kind == "dense" else conv_net(2)
    to_onnx(net, tmp_path / "n.onnx", dtype="float64")
    back = load_onnx(tmp_path / "n.onnx")
    _same_weights(net, back)
    X = np.random.default_rng(0).normal(size=(7, *net.input_shape))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))


def test_onnxruntime_matches_forward_dense_float64(tmp_path, dense_net):
    ort = pytest.importorskip("onnxruntime")
    net = dense_net([5, 8, 8, 4], 3)
    to_onnx(net, tmp_path / "n.onnx", dtype="float64")
    sess = ort.InferenceSession(str(tmp_path / "n.onnx"))
    X = np.random.default_rng(1).normal(size=(20, 5))
    np.testing.assert_allclose(sess.run(None, {"input": X})[0], net.forward(X), atol=1e-6)


def test_onnxruntime_matches_forward_conv_float32(tmp_path, conv_net):
    # onnxruntime has no float64 Conv kernel: export float32 and compare with the float32-rounded weights
    ort = pytest.importorskip("onnxruntime")
    net = conv_net(4)
    to_onnx(net, tmp_path / "n.onnx", dtype="float32")
    net32 = load_onnx(tmp_path / "n.onnx")
    sess = ort.InferenceSession(str(tmp_path / "n.onnx"))
    X = np.random.default_rng(2).normal(size=(10, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"input": X})[0], net32.forward(X.astype(float)), atol=1e-5)


def _ir3_model(tmp_path, extra_nodes=(), relu_after_first=True):
    """Sub(input, mean) -> Flatten -> MatMul+Add -> Relu -> MatMul+Add, initializers also listed as inputs."""
    rng = np.random.default_rng(5)
    mean = rng.normal(size=(1, 1, 1, 3))
    W1, b1, W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)), rng.normal(size=2)
    inits = {"mean": mean, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"], name="norm"),
             helper.make_node("Flatten", ["s"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "W1"], ["m1"], name="mm1"),
             helper.make_node("Add", ["m1", "b1"], ["a1"], name="add1")]
    cur = "a1"
    if relu_after_first:
        nodes.append(helper.make_node("Relu", ["a1"], ["r1"], name="relu1"))
        cur = "r1"
    nodes += [helper.make_node("MatMul", [cur, "W2"], ["m2"], name="mm2"),
              helper.make_node("Add", ["m2", "b2"], ["y0"], name="add2")]
    out = "y0"
    for node in extra_nodes:
        nodes.append(node)
        out = node.output[0]
    init_t = [numpy_helper.from_array(v, k) for k, v in inits.items()]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 1, 1, 3])] + [
        helper.make_tensor_value_info(k, TensorProto.DOUBLE, list(v.shape)) for k, v in inits.items()]
    graph = helper.make_graph(nodes, "ir3", graph_inputs,
                              [helper.make_tensor_value_info(out, TensorProto.DOUBLE, [1, 2])], initializer=init_t)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)])
    model.ir_version = 3
    path = tmp_path / "ir3.onnx"
    onnx.save(model, str(path))

    def reference(X):
        h = np.maximum((X.reshape(len(X), 3) - mean.reshape(1, 3)) @ W1 + b1, 0)
        return h @ W2 + b2
    return path, reference


def test_ir3_initializers_as_inputs_and_leading_sub_are_exact(tmp_path):
    path, reference = _ir3_model(tmp_path)
    net = load_any(path)
    assert net.input_shape == (3,)
    assert [la.relu for la in net.layers] == [True, False]
    X = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_allclose(net.forward(X), reference(X), rtol=1e-12, atol=1e-12)


def test_unsupported_node_names_node_and_op(tmp_path):
    path, _ = _ir3_model(tmp_path, extra_nodes=[helper.make_node("Sigmoid", ["y0"], ["y1"], name="squash")])
    with pytest.raises(FormatError, match=r"'squash'.*Sigmoid"):
        load_onnx(path)


def test_relu_twice_is_read_as_one_relu(tmp_path):
    path, reference = _ir3_model(tmp_path, extra_nodes=[helper.make_node("Relu", ["y0"], ["y1"], name="r_end"),
                                                        helper.make_node("Relu", ["y1"], ["y2"], name="r_twice")])
    net = load_onnx(path)
    assert [la.relu for la in net.layers] == [True, True]
    X = np.random.default_rng(1).normal(size=(40, 3))
    np.testing.assert_allclose(net.forward(X), np.maximum(reference(X), 0), rtol=1e-12, atol=1e-12)


def test_damaged_file(tmp_path):
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not an onnx file at all")
    with pytest.raises(FormatError):
        load_onnx(p)
