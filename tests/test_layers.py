"""Layer geometry and forward passes: against PyTorch (when installed) and against naive numpy loops."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mipnet.errors import ShapeError
from mipnet.layers import LAYER_TYPES, AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from mipnet.network import Network

CONV_CASES = [  # (in_channels, out_channels, H, W, kernel, stride, padding)
    (1, 1, 5, 5, 3, 1, 0),
    (2, 3, 6, 7, 3, 1, 1),
    (3, 2, 7, 6, (2, 3), (2, 1), (1, 0)),
    (1, 4, 8, 8, 3, 2, 1),
    (2, 2, 5, 5, 5, 1, 2),
    (2, 1, 4, 9, (1, 3), (1, 3), (0, 1)),
]
POOL_CASES = [  # (C, H, W, kernel, stride)
    (1, 4, 4, 2, None), (2, 5, 7, 2, 1), (3, 6, 6, 3, 2), (2, 7, 5, (2, 3), (1, 2)),
]


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def naive_conv(x, w, b, stride, padding):
    """Cross-correlation with zero padding by explicit loops."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(n):
        for f in range(o):
            for r in range(oh):
                for q in range(ow):
                    out[i, f, r, q] = np.sum(xp[i, :, r * sh:r * sh + kh, q * sw:q * sw + kw] * w[f]) + b[f]
    return out


def naive_pool(x, kernel, stride, reduce):
    n, c, h, w = x.shape
    (kh, kw) = _pair(kernel)
    (sh, sw) = _pair(stride if stride is not None else kernel)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for r in range(oh):
        for q in range(ow):
            out[:, :, r, q] = reduce(x[:, :, r * sh:r * sh + kh, q * sw:q * sw + kw], axis=(2, 3))
    return out


def _conv(case, rng, relu=False):
    cin, cout, h, w, k, s, p = case
    layer = Conv2D(cout, kernel=k, stride=s, padding=p, relu=relu)
    kh, kw = _pair(k)
    layer.weight = rng.normal(size=(cout, cin, kh, kw))
    layer.bias = rng.normal(size=cout)
    layer.build((cin, h, w))
    return layer, rng.normal(size=(3, cin, h, w))


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_naive_loops(case):
    layer, x = _conv(case, np.random.default_rng(0))
    ref = naive_conv(x, layer.weight, layer.bias, layer.stride, layer.padding)
    assert layer.out_shape == ref.shape[1:]
    np.testing.assert_allclose(layer.forward(x), ref, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pools_match_naive_loops(case):
    c, h, w, k, s = case
    x = np.random.default_rng(1).normal(size=(2, c, h, w))
    for cls, red in ((MaxPool2D, np.max), (AvgPool2D, np.mean)):
        layer = cls(k, s)
        layer.build((c, h, w))
        ref = naive_pool(x, k, s, red)
        assert layer.out_shape == ref.shape[1:]
        np.testing.assert_allclose(layer.forward(x), ref, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch(case):
    torch = pytest.importorskip("torch")
    layer, x = _conv(case, np.random.default_rng(2), relu=True)
    ref = torch.relu(torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.weight), torch.tensor(layer.bias),
                                                stride=layer.stride, padding=layer.padding)).numpy()
    np.testing.assert_allclose(layer.forward(x), ref, atol=1e-10)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pools_match_torch(case):
    torch = pytest.importorskip("torch")
    c, h, w, k, s = case
    x = np.random.default_rng(3).normal(size=(2, c, h, w))
    t = torch.tensor(x)
    for cls, fn in ((MaxPool2D, torch.nn.functional.max_pool2d), (AvgPool2D, torch.nn.functional.avg_pool2d)):
        layer = cls(k, s)
        layer.build((c, h, w))
        ref = fn(t, kernel_size=_pair(k), stride=_pair(s if s is not None else k)).numpy()
        np.testing.assert_allclose(layer.forward(x), ref, atol=1e-12)


def test_network_matches_torch_sequential():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    layers = [Conv2D(3, 3, 1, 1), MaxPool2D(2), Conv2D(2, 2, 1, 1), AvgPool2D(2, 1), Flatten(), Dense(5), Dense(2)]
    net = Network(layers, (2, 8, 8))
    for layer in net.affine_layers():
        tail = (layer.in_shape[0], *layer.kernel) if isinstance(layer, Conv2D) else layer.in_shape
        layer.weight = rng.normal(size=(layer.out_shape[0], *tail))
        layer.bias = rng.normal(size=layer.out_shape[0])
    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, 1, 1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(3, 2, 2, 1, 1),
        torch.nn.ReLU(), torch.nn.AvgPool2d(2, 1), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 5), torch.nn.ReLU(),
        torch.nn.Linear(5, 2)).double()
    with torch.no_grad():
        for mod, layer in zip([m for m in tnet if hasattr(m, "weight")], net.affine_layers()):
            mod.weight.copy_(torch.tensor(layer.weight))
            mod.bias.copy_(torch.tensor(layer.bias))
        x = rng.normal(size=(4, 2, 8, 8))
        np.testing.assert_allclose(net.forward(x), tnet(torch.tensor(x)).numpy(), atol=1e-10)


def test_shape_inference_any_order():
    net = Network([AvgPool2D(2), Conv2D(2, 3, padding=1), MaxPool2D(2, 1), Flatten(), Dense(3), Dense(1)], (1, 8, 8))
    shapes = [layer.out_shape for layer in net.layers]
    assert shapes == [(1, 4, 4), (2, 4, 4), (2, 3, 3), (18,), (3,), (1,)]
    assert [layer.relu for layer in net.affine_layers()] == [True, True, False]


@pytest.mark.parametrize("layers, words", [
    ([Dense(3), Dense(1)], "Flatten"),
    ([Conv2D(2, 9), Flatten(), Dense(1)], "does not fit"),
    ([Conv2D(2, 3)], "flat"),
    ([Flatten(), Conv2D(2, 3), Flatten(), Dense(1)], "(C, H, W)"),
    ([MaxPool2D(5), Flatten(), Dense(1)], "does not fit"),
])
def test_shape_errors_name_the_layer(layers, words):
    with pytest.raises(ShapeError) as err:
        Network(layers, (1, 4, 4))
    assert words in str(err.value)
    if words != "flat":
        assert str(err.value).startswith("layer ")


def test_inactive_layers_pass_input_through():
    rng = np.random.default_rng(5)
    conv = Conv2D(2, 3, padding=1, active=False, weight=rng.normal(size=(2, 2, 3, 3)), bias=np.ones(2))
    dense = Dense(8, active=False, weight=rng.normal(size=(8, 8)), bias=np.ones(8))
    last = Dense(1, weight=rng.normal(size=(1, 8)), bias=np.zeros(1))
    net = Network([conv, MaxPool2D(2), Flatten(), dense, last], (2, 4, 4))
    x = rng.normal(size=(3, 2, 4, 4))
    pooled = naive_pool(x, 2, None, np.max).reshape(3, -1)
    np.testing.assert_allclose(net.forward(x), pooled @ last.weight.T, atol=1e-12)
    pre = net.pre_activations(x)
    np.testing.assert_allclose(pre[0], x)  # the gated-off conv is the identity, even before its (skipped) ReLU
    with pytest.raises(ShapeError, match="inactive"):
        Network([Dense(3, active=False), Dense(1)], 4)
    with pytest.raises(ShapeError, match="inactive"):
        Network([Conv2D(3, 3, padding=1, active=False), Flatten(), Dense(1)], (2, 4, 4))


def test_params_round_trip_every_layer():
    layers = [Conv2D(3, (3, 2), (2, 1), (1, 0), bias_on=False, relu=True, active=False), MaxPool2D(2, 1),
              AvgPool2D((2, 3), (1, 2)), Flatten(), Dense(4, relu=False, bias_on=False, active=False), Dense(1)]
    for layer in layers:
        params = layer.params()
        again = LAYER_TYPES[layer.kind](**params) if params else LAYER_TYPES[layer.kind]()
        assert type(again) is type(layer) and again.params() == params
        assert json.loads(json.dumps(params)) == params


def test_layers_compare_by_identity():
    a, b = Dense(4), Dense(4)
    assert a != b and [a, b].index(b) == 1
