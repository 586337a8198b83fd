import numpy as np
import pytest

from mipnet.errors import FormatError
from mipnet.io import from_torch, to_torch

torch = pytest.importorskip("torch")
nn = torch.nn


def test_from_torch_conv_matches_torch():
    torch.manual_seed(0)
    mod = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 2, stride=1),
                        nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    net = from_torch(mod, input_shape=(1, 8, 8))
    X = np.random.default_rng(0).normal(size=(6, 1, 8, 8))
    with torch.no_grad():
        ref = mod.double()(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.forward(X), ref, atol=1e-6)
    assert [la.relu for la in net.affine_layers()] == [True, True, True, False]


def test_from_torch_dense_infers_input_size_float32_module():
    torch.manual_seed(1)
    mod = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    net = from_torch(mod)
    X = np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32)
    with torch.no_grad():
        ref = mod(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.forward(X), ref, atol=1e-5)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_to_torch_roundtrip(kind, dense_net, conv_net):
    net = dense_net([3, 5, 4, 2], 7) if kind == "dense" else conv_net(8)
    mod = to_torch(net)
    X = np.random.default_rng(2).normal(size=(5, *net.input_shape))
    with torch.no_grad():
        out = mod(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(out, net.forward(X), atol=1e-6)
    back = from_torch(mod, input_shape=net.input_shape)
    for la, lb in zip(net.affine_layers(), back.affine_layers()):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)


def test_unsupported_module():
    with pytest.raises(FormatError, match="Sigmoid"):
        from_torch(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()))
    with pytest.raises(FormatError, match="ReLU"):
        from_torch(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), input_shape=2)
