import warnings

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


# ------------------------------------------------------------------ graph patterns, compared with onnxruntime
ort = pytest.importorskip("onnxruntime")

_F32, _F64 = TensorProto.FLOAT, TensorProto.DOUBLE


def _graph_model(tmp_path, nodes, inits, in_shape, out_name, elem=_F64, opset=13, extra_outputs=()):
    np_t = np.float64 if elem == _F64 else np.float32
    init_t = [numpy_helper.from_array(v if v.dtype.kind in "iub" else v.astype(np_t), k) for k, v in inits.items()]
    outputs = [helper.make_tensor_value_info(out_name, elem, None)]
    outputs += [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in extra_outputs]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, in_shape)], outputs,
                              initializer=init_t)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    return path


def _matches_onnxruntime(path, n=25, rtol=1e-6, atol=1e-9, seed=0, output=0, low=-2.0, high=2.0):
    """Load with mipnet and compare Network.forward with onnxruntime, one sample per run (batch axis or not)."""
    net = load_onnx(path)
    sess = ort.InferenceSession(str(path))
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    dt = np.float64 if "double" in inp.type else np.float32
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n, *shape)).astype(dt)
    ref = np.stack([np.ravel(sess.run(None, {inp.name: x})[output]) for x in X])
    got = net.forward(X.reshape(n, -1).astype(float))
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)
    return net


def _bn_params(rng, c, prefix):
    return {f"{prefix}_s": rng.uniform(0.5, 2, c), f"{prefix}_b": rng.normal(size=c),
            f"{prefix}_m": rng.normal(size=c), f"{prefix}_v": rng.uniform(0.5, 2, c)}


def _bn(prefix, x, y):
    return helper.make_node("BatchNormalization", [x, f"{prefix}_s", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"],
                            [y], name=prefix, epsilon=1e-3)


@pytest.mark.parametrize("opset", [7, 9, 11, 13, 17, 21])
def test_batchnorm_before_after_and_alone_is_exact(tmp_path, opset):
    """Gemm-BN-Relu (into the Gemm), Relu-BN-Gemm (into the next Gemm), a final BN (an affine layer of its own),
    under the range of opsets that ``mipnet supports --onnx-opset-versions`` names."""
    rng = np.random.default_rng(0)
    inits = {"W1": rng.normal(size=(6, 4)), "b1": rng.normal(size=6), "W2": rng.normal(size=(3, 6)),
             "b2": rng.normal(size=3), **_bn_params(rng, 6, "bn1"), **_bn_params(rng, 6, "bn2"),
             **_bn_params(rng, 3, "bn3")}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["g1"], transB=1), _bn("bn1", "g1", "n1"),
             helper.make_node("Relu", ["n1"], ["r1"]), _bn("bn2", "r1", "n2"),
             helper.make_node("Gemm", ["n2", "W2", "b2"], ["g2"], transB=1), helper.make_node("Relu", ["g2"], ["r2"]),
             _bn("bn3", "r2", "y")]
    net = _matches_onnxruntime(_graph_model(tmp_path, nodes, inits, ["N", 4], "y", opset=opset))
    assert [la.kind for la in net.layers] == ["dense", "dense", "dense"]
    assert [la.relu for la in net.layers] == [True, True, False]


def test_conv_batchnorm_relu_and_normalised_padded_input(tmp_path):
    """Sub/Div input normalisation (per channel) before a padded Conv, then Conv-BN-Relu-Flatten-Gemm."""
    rng = np.random.default_rng(1)
    inits = {"mean": rng.normal(size=(1, 2, 1, 1)), "std": rng.uniform(0.5, 2, (1, 2, 1, 1)),
             "K": rng.normal(size=(3, 2, 3, 3)), "kb": rng.normal(size=3), **_bn_params(rng, 3, "bn"),
             "W": rng.normal(size=(4, 48)), "b": rng.normal(size=4)}
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"]), helper.make_node("Div", ["s", "std"], ["d"]),
             helper.make_node("Conv", ["d", "K", "kb"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             _bn("bn", "c", "n"), helper.make_node("Relu", ["n"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)]
    net = _matches_onnxruntime(_graph_model(tmp_path, nodes, inits, ["N", 2, 4, 4], "y", elem=_F32), rtol=1e-5,
                               atol=1e-5)
    # the normalisation cannot enter a padded convolution exactly: it is a 1x1 convolution of its own
    assert [la.kind for la in net.layers] == ["conv2d", "conv2d", "flatten", "dense"]
    assert net.layers[0].kernel == (1, 1) and not net.layers[0].relu and net.layers[1].relu


def test_constant_subgraphs_cast_identity_dropout_are_folded(tmp_path):
    """Weights built by Transpose/Slice/Concat/Reshape/Squeeze/Unsqueeze/Cast of constants; Cast, Identity and
    Dropout on the activation."""
    rng = np.random.default_rng(2)
    Wt = rng.normal(size=(5, 7))                       # transposed and with one extra column, sliced off below
    inits = {"Wt": Wt, "b_lo": rng.normal(size=(1, 2)), "b_hi": rng.normal(size=(1, 2)),
             "starts": np.array([0]), "ends": np.array([4]), "axes": np.array([1]), "shape": np.array([4]),
             "ax0": np.array([0]), "W2": rng.normal(size=(4, 2))}
    nodes = [helper.make_node("Transpose", ["Wt"], ["W_t"], perm=[1, 0]),           # (7, 5)
             helper.make_node("Slice", ["W_t", "starts", "ends", "axes"], ["W_s"]),  # (7, 4)... sliced on axis 1
             helper.make_node("Concat", ["b_lo", "b_hi"], ["b_c"], axis=1),          # (1, 4)
             helper.make_node("Reshape", ["b_c", "shape"], ["b_r"]),
             helper.make_node("Unsqueeze", ["b_r", "ax0"], ["b_u"]),
             helper.make_node("Squeeze", ["b_u", "ax0"], ["b_q"]),
             helper.make_node("Cast", ["b_q"], ["b"], to=_F64),
             helper.make_node("Cast", ["x"], ["xc"], to=_F64),
             helper.make_node("Identity", ["xc"], ["xi"]),
             helper.make_node("MatMul", ["xi", "W_s"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Dropout", ["a"], ["dr"]), helper.make_node("Relu", ["dr"], ["r"]),
             helper.make_node("MatMul", ["r", "W2"], ["y"])]
    net = _matches_onnxruntime(_graph_model(tmp_path, nodes, inits, ["N", 7], "y"))
    np.testing.assert_array_equal(net.layers[0].weight, Wt.T[:, :4].T)


def test_input_reshaped_to_an_image_and_back(tmp_path):
    """A flat (48,) input reshaped to (3, 4, 4), a Conv, a MaxPool, a Reshape back to (N, -1) and a Gemm."""
    rng = np.random.default_rng(3)
    inits = {"img": np.array([-1, 3, 4, 4]), "flat": np.array([1, -1]), "K": rng.normal(size=(2, 3, 3, 3)),
             "W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}
    nodes = [helper.make_node("Reshape", ["x", "img"], ["i"]),
             helper.make_node("Conv", ["i", "K"], ["c"], kernel_shape=[3, 3]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Reshape", ["p", "flat"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "b"], ["y"], transB=1)]
    net = _matches_onnxruntime(_graph_model(tmp_path, nodes, inits, ["N", 48], "y", elem=_F32), rtol=1e-5, atol=1e-5)
    assert net.input_shape == (3, 4, 4)


@pytest.mark.parametrize("in_shape", [[5], [1, 1, 1, 5]])
def test_input_without_batch_axis_or_with_unit_axes(tmp_path, in_shape):
    rng = np.random.default_rng(4)
    inits = {"W1": rng.normal(size=(5, 6)), "b1": rng.normal(size=6), "W2": rng.normal(size=(6, 2))}
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m"]), helper.make_node("Add", ["m", "b1"], ["a"]),
             helper.make_node("Relu", ["a"], ["r"]), helper.make_node("MatMul", ["r", "W2"], ["y"])]
    net = _matches_onnxruntime(_graph_model(tmp_path, nodes, inits, in_shape, "y"))
    assert net.input_shape in ((5,), (1, 1, 5))
    assert net.n_outputs == 2


@pytest.mark.parametrize("tail", ["Softmax", "LogSoftmax", "ArgMax"])
def test_trailing_softmax_or_argmax_is_dropped_with_a_note(tmp_path, tail):
    rng = np.random.default_rng(5)
    inits = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="dense"),
             helper.make_node(tail, ["z"], ["t"], name="tail", axis=1)]
    out = "t"
    if tail == "ArgMax":
        nodes.append(helper.make_node("Cast", ["t"], ["label"], to=TensorProto.INT32))
        out = "label"
    path = _graph_model(tmp_path, nodes, inits, ["N", 4], out)
    if tail == "ArgMax":   # the label output is int32: write the model again with the right output type
        model = onnx.load(str(path))
        model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT32
        onnx.save(model, str(path))
    from mipnet.errors import ConversionNote
    from mipnet.io.onnx_io import read_onnx

    with pytest.warns(ConversionNote, match=f"dropped the trailing {tail}"):
        net = load_onnx(path)
    assert len(read_onnx(path).notes) == 1
    X = np.random.default_rng(6).normal(size=(30, 4))
    sess = ort.InferenceSession(str(path))
    ref = np.stack([sess.run(None, {"x": x[None]})[0].reshape(-1) for x in X])
    scores = net.forward(X)
    np.testing.assert_allclose(scores, X @ inits["W"] + inits["b"], rtol=1e-12)
    if tail == "ArgMax":
        np.testing.assert_array_equal(scores.argmax(1), ref[:, 0])
    else:
        np.testing.assert_array_equal(scores.argmax(1), ref.argmax(1))


def test_node_after_softmax_that_changes_scores_is_refused(tmp_path):
    rng = np.random.default_rng(7)
    inits = {"W": rng.normal(size=(4, 3)), "two": np.array([2.0])}
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Softmax", ["z"], ["p"], axis=1),
             helper.make_node("Mul", ["p", "two"], ["y"], name="rescale")]
    with pytest.raises(FormatError, match=r"'rescale'.*Mul"):
        load_onnx(_graph_model(tmp_path, nodes, inits, ["N", 4], "y"))


def _pool_model(tmp_path, relu=True, **pool):
    rng = np.random.default_rng(8)
    inits = {"K": rng.normal(size=(2, 1, 2, 2)), "kb": rng.normal(size=2)}
    nodes = [helper.make_node("Conv", ["x", "K", "kb"], ["c"], kernel_shape=[2, 2])]
    cur = "c"
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        cur = "r"
    nodes += [helper.make_node("MaxPool", [cur], ["p"], name="pool", **pool),
              helper.make_node("Flatten", ["p"], ["y"])]
    return _graph_model(tmp_path, nodes, inits, ["N", 1, 7, 8], "y", elem=_F32)


@pytest.mark.parametrize("pool", [dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
                                  dict(kernel_shape=[2, 3], pads=[0, 1, 1, 0], strides=[2, 1]),
                                  dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
                                  dict(kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[2, 3], ceil_mode=1),
                                  dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2]),
                                  dict(kernel_shape=[2, 2])])
def test_padded_and_ceil_mode_max_pooling(tmp_path, pool):
    _matches_onnxruntime(_pool_model(tmp_path, **pool), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool", [dict(kernel_shape=[2, 2], dilations=[2, 2]),
                                  dict(kernel_shape=[3, 2], dilations=[2, 3], strides=[2, 1]),
                                  dict(kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 1, 2, 1], strides=[2, 2]),
                                  dict(kernel_shape=[2, 3], dilations=[1, 2], strides=[2, 2], ceil_mode=1)])
def test_dilated_max_pooling_becomes_relu_layers(tmp_path, pool):
    net = _matches_onnxruntime(_pool_model(tmp_path, **pool), rtol=1e-5, atol=1e-5)
    assert not any(la.kind == "maxpool2d" for la in net.layers)


def test_padded_or_dilated_max_pooling_of_a_signed_activation_is_refused(tmp_path):
    for pool in (dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1]), dict(kernel_shape=[2, 2], dilations=[2, 2])):
        with pytest.raises(FormatError, match=r"'pool'.*MaxPool.*non-negative"):
            load_onnx(_pool_model(tmp_path, relu=False, **pool))


def test_transpose_that_reorders_the_activation_is_named(tmp_path):
    rng = np.random.default_rng(9)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="nhwc", perm=[0, 2, 3, 1]),
             helper.make_node("Flatten", ["t"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["y"])]
    with pytest.raises(FormatError, match=r"'nhwc'.*Transpose.*reorders"):
        load_onnx(_graph_model(tmp_path, nodes, {"W": rng.normal(size=(12, 2))}, ["N", 3, 2, 2], "y"))


def test_unsupported_operator_is_named(tmp_path):
    rng = np.random.default_rng(10)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Tanh", ["m"], ["y"], name="squash")]
    with pytest.raises(FormatError, match=r"'squash'.*Tanh.*not supported"):
        load_onnx(_graph_model(tmp_path, nodes, {"W": rng.normal(size=(3, 2))}, ["N", 3], "y"))


# ------------------------------------------------------------------------------------------ PyTorch exports
def _torch_export(tmp_path, module, example):
    torch = pytest.importorskip("torch")
    module.eval()
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no constant folding: the exporter would otherwise fuse Conv-BatchNorm itself
        torch.onnx.export(module, example, str(path), dynamo=False, do_constant_folding=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}})
    return path


def _randomise_batchnorm(module):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)


def test_torch_linear_batchnorm_relu_export(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nn = torch.nn
    module = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.BatchNorm1d(8),
                           nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3), nn.Softmax(dim=1))
    _randomise_batchnorm(module)
    path = _torch_export(tmp_path, module, torch.zeros(2, 5))
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "BatchNormalization" in ops
    with pytest.warns(UserWarning, match="Softmax"):
        net = load_onnx(path)
    X = np.random.default_rng(11).normal(size=(30, 5))
    with torch.no_grad():
        logits = module[:-1](torch.tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(net.forward(X), logits, rtol=1e-5, atol=1e-5)


def test_torch_conv_batchnorm_relu_padded_maxpool_export(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                           nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), nn.Flatten(), nn.Linear(27, 4))
    _randomise_batchnorm(module)
    path = _torch_export(tmp_path, module, torch.zeros(1, 2, 5, 5))
    assert "BatchNormalization" in [n.op_type for n in onnx.load(str(path)).graph.node]
    _matches_onnxruntime(path, rtol=1e-5, atol=1e-5)


def test_skl2onnx_mlp_classifier(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((6,), max_iter=300, random_state=0).fit(X, y)
    model = skl2onnx.to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    with pytest.warns(UserWarning, match="Softmax"):
        net = load_onnx(path)
    scores = net.forward(X)
    np.testing.assert_array_equal(scores.argmax(1), clf.predict(X))
    hidden = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    np.testing.assert_allclose(scores, hidden @ clf.coefs_[1] + clf.intercepts_[1], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_export_runs_in_onnxruntime_for_every_layer_kind(tmp_path, dtype, conv_net, dense_net):
    """conv_net has Conv2D, MaxPool2D, AvgPool2D, Flatten and Dense; onnxruntime has no float64 Conv kernel, so
    float64 is checked on the dense network only."""
    nets = [dense_net([4, 6, 3], 2)] + ([conv_net(3)] if dtype == "float32" else [])
    for net in nets:
        model = to_onnx(net, tmp_path / "n.onnx", **({"dtype": dtype} if dtype == "float64" else {}))
        assert model.graph.input[0].type.tensor_type.elem_type == (_F64 if dtype == "float64" else _F32)
        back = load_onnx(tmp_path / "n.onnx")     # the weights as written (rounded to float32 by default)
        sess = ort.InferenceSession(str(tmp_path / "n.onnx"))
        X = np.random.default_rng(12).normal(size=(15, *net.input_shape))
        got = sess.run(None, {"input": X.astype(np.float64 if dtype == "float64" else np.float32)})[0]
        np.testing.assert_allclose(got, back.forward(X), rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-6)
        np.testing.assert_allclose(back.forward(X), net.forward(X), rtol=1e-5, atol=1e-5)
    kinds = {la.kind for la in nets[-1].layers}
    if dtype == "float32":
        assert kinds == {"conv2d", "maxpool2d", "avgpool2d", "flatten", "dense"}


def test_export_rejects_unknown_dtype(dense_net):
    with pytest.raises(FormatError, match="dtype"):
        to_onnx(dense_net([2, 2], 0), dtype="int8")


# ------------------------------------------------------------------------------------------ residual blocks
def _dense_residual(tmp_path, relu_first, relu_end, depth):
    """x (signed, or after a ReLU) -> [Gemm (-> Relu)] * depth ... + x, widened into plain Dense layers."""
    rng = np.random.default_rng(20)
    inits = {"W0": rng.normal(size=(4, 4)), "b0": rng.normal(size=4)}
    nodes = [helper.make_node("Gemm", ["x", "W0", "b0"], ["h0"], transB=1)]
    skip = "h0"
    if relu_first:
        nodes.append(helper.make_node("Relu", ["h0"], ["s"]))
        skip = "s"
    cur = skip
    for k in range(depth):
        inits[f"W{k + 1}"], inits[f"b{k + 1}"] = rng.normal(size=(4, 4)), rng.normal(size=4)
        nodes.append(helper.make_node("Gemm", [cur, f"W{k + 1}", f"b{k + 1}"], [f"g{k}"], transB=1))
        cur = f"g{k}"
        if k < depth - 1 or relu_end:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"]))
            cur = f"r{k}"
    nodes += [helper.make_node("Add", [cur, skip], ["sum"], name="residual"),
              helper.make_node("Relu", ["sum"], ["rs"]),
              helper.make_node("Gemm", ["rs", "Wout", "bout"], ["y"], transB=1)]
    inits["Wout"], inits["bout"] = rng.normal(size=(2, 4)), rng.normal(size=2)
    return _graph_model(tmp_path, nodes, inits, ["N", 4], "y")


@pytest.mark.parametrize("relu_first", [True, False])
@pytest.mark.parametrize("relu_end", [True, False])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_dense_residual_add_is_exact(tmp_path, relu_first, relu_end, depth):
    net = _matches_onnxruntime(_dense_residual(tmp_path, relu_first, relu_end, depth), n=40, low=-3, high=3)
    assert all(la.kind == "dense" for la in net.layers)


def test_torch_conv_residual_block_export(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(2)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
            self.branch = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                                        nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 3))

        def forward(self, x):
            h = self.stem(x)
            return self.head(torch.relu(self.branch(h) + h))

    module = Block()
    _randomise_batchnorm(module)
    net = _matches_onnxruntime(_torch_export(tmp_path, module, torch.zeros(1, 1, 5, 5)), rtol=1e-5, atol=1e-5)
    assert [la.kind for la in net.layers] == ["conv2d", "conv2d", "conv2d", "flatten", "dense"]


def test_residual_branch_that_changes_the_image_size_is_refused(tmp_path):
    rng = np.random.default_rng(21)
    inits = {"K": rng.normal(size=(1, 1, 3, 3)), "W": rng.normal(size=(16, 2))}
    nodes = [helper.make_node("Conv", ["x", "K"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "K"], ["c2"], kernel_shape=[3, 3], pads=[2, 2, 2, 2], dilations=[1, 1]),
             helper.make_node("MaxPool", ["c2"], ["p"], kernel_shape=[3, 3]),
             helper.make_node("Add", ["p", "r"], ["s"], name="res"),
             helper.make_node("Flatten", ["s"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["y"])]
    with pytest.raises(FormatError, match=r"'res'.*Add"):
        load_onnx(_graph_model(tmp_path, nodes, inits, ["N", 1, 4, 4], "y", elem=_F32))
