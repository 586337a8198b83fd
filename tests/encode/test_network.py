"""The shared encoders: fix one side of every product, solve, and compare with ``Network.forward``.

DESIGN.md section 1's product table, case by case, for every layer kind, with a batch axis (one input, two copies,
N samples).
"""

from __future__ import annotations

import numpy as np
import pytest

from mipnet import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, Network
from mipnet.bounds.layer_bounds import interval_bounds
from mipnet.encode import LAYER_ENCODERS, Act, Encoder, LayerOptions, Weights, encode_layer, encode_network
from mipnet.encode.affine import affine
from mipnet.errors import SettingsError
from mipnet.layers import LAYER_TYPES
from mipnet.solvers import SolveOptions, available_solvers, get_backend

OPTS = SolveOptions(time_limit=60, mip_gap=1e-9)


def _mixed_net(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return Network([Conv2D(2, 3, padding=1, weight=rng.normal(size=(2, 1, 3, 3)) / 3, bias=rng.normal(size=2) * .2),
                    MaxPool2D(2), Conv2D(2, 2, stride=1, weight=rng.normal(size=(2, 2, 2, 2)) / 2,
                                         bias=rng.normal(size=2) * .1),
                    AvgPool2D(1), Flatten(), Dense(3, weight=rng.normal(size=(3, 2)), bias=rng.normal(size=3))],
                   (1, 4, 4))


def test_every_layer_kind_has_one_encoder() -> None:
    assert set(LAYER_ENCODERS) == set(LAYER_TYPES.values())


@pytest.mark.parametrize("copies", [1, 2])
@pytest.mark.parametrize("kind", ["dense", "mixed"])
def test_constant_weights_fixed_inputs_equal_forward(dense_net, kind: str, copies: int) -> None:
    """Verification side (constant weight x variable activation): fix the inputs, the outputs are the forward
    pass, for every layer kind and with one or two copies in one model."""
    net = dense_net([3, 6, 5, 2], seed=4) if kind == "dense" else _mixed_net(2)
    rng = np.random.default_rng(1)
    lo, hi = -np.ones(net.n_inputs), np.ones(net.n_inputs)
    enc = encode_network(net, interval_bounds(net, lo, hi), copies=copies)
    for _ in range(3):
        X = rng.uniform(lo, hi, (copies, net.n_inputs))
        enc.model.fix(enc.inputs.idx, X)
        res = get_backend("highs").solve(enc.model, OPTS)
        assert res.status == "optimal"
        assert enc.error(res.x) <= 1e-6
        np.testing.assert_allclose(enc.output_values(res.x), net.forward(X.reshape(copies, *net.input_shape)),
                                   atol=1e-6)


def _solve_fixed(enc: Encoder, fix: list[tuple[np.ndarray, np.ndarray]], solver: str = "highs") -> np.ndarray:
    for idx, val in fix:
        enc.m.fix(idx, val)
    res = get_backend(solver).solve(enc.m, OPTS)
    assert res.status == "optimal", res.status
    return res.x


@pytest.mark.parametrize("layer_kind", ["dense", "conv"])
def test_variable_weights_on_data_equal_forward(layer_kind: str) -> None:
    """Training side, first layer (variable weight x constant data): fix the weights, get the forward pass."""
    rng = np.random.default_rng(2)
    layer = Dense(3, relu=False) if layer_kind == "dense" else Conv2D(2, 2, padding=1, relu=False)
    shape = (4,) if layer_kind == "dense" else (1, 3, 3)
    net = Network([layer] if layer_kind == "dense" else [layer, Flatten()], shape)
    X = rng.uniform(-1, 1, (5, *shape))
    W = rng.uniform(-1, 1, (layer.out_shape[0], layer.windows().shape[1]))
    b = rng.uniform(-.5, .5, layer.out_shape[0])
    enc = Encoder()
    w_idx, b_idx = enc.m.add_vars(W.shape, -1, 1), enc.m.add_vars(b.shape, -.5, .5)
    z = affine(enc, layer.windows(), Weights(weight_idx=w_idx, bias_idx=b_idx, mag=1.0, bias_mag=0.5),
               Act.constant(X.reshape(5, -1)))
    x = _solve_fixed(enc, [(w_idx, W), (b_idx, b)])
    layer.weight, layer.bias = W.reshape(layer.out_shape[0], *(shape if layer_kind == "dense" else (1, 2, 2))), b
    np.testing.assert_allclose(x[z.idx], net.forward(X).reshape(5, -1), atol=1e-7)


def test_discrete_weights_on_bounded_activations_equal_forward() -> None:
    """Variable discrete weight x bounded variable activation: exact through the binaries."""
    rng = np.random.default_rng(3)
    n, e, o = 4, 3, 2
    A = rng.uniform(0, 2, (n, e))
    levels = np.array([-1.0, 0.0, 1.0])                           # ternary: w = p - q
    W = rng.choice(levels, (o, e))
    enc = Encoder()
    a_idx = enc.m.add_vars((n, e), 0.0, 2.0)
    w_idx = enc.m.add_vars((o, e), -1, 1)
    beta = enc.binaries((o, e, 2))
    enc.m.add_rows(np.concatenate([w_idx[..., None], beta], -1), [1.0, -1.0, 1.0], lo=0.0, hi=0.0)
    enc.m.add_rows(beta, [1.0, 1.0], hi=1.0)
    weights = Weights(weight_idx=w_idx, mag=1.0, beta=beta, c0=0.0, coef=np.array([1.0, -1.0]))
    z = affine(enc, np.arange(e)[None], weights, Act(a_idx, np.zeros((n, e)), np.full((n, e), 2.0), None))
    x = _solve_fixed(enc, [(a_idx, A), (beta, np.stack([W > 0, W < 0], -1).astype(float))])
    np.testing.assert_allclose(x[z.idx], A @ W.T, atol=1e-7)


@pytest.mark.skipif("scip" not in available_solvers(), reason="pyscipopt not installed")
def test_continuous_bilinear_product_equals_forward() -> None:
    rng = np.random.default_rng(4)
    n, e, o = 3, 2, 2
    A, W = rng.uniform(0, 1, (n, e)), rng.uniform(-1, 1, (o, e))
    enc = Encoder()
    a_idx, w_idx = enc.m.add_vars((n, e), 0.0, 1.0), enc.m.add_vars((o, e), -1, 1)
    z = affine(enc, np.arange(e)[None], Weights(weight_idx=w_idx, mag=1.0, bilinear=True),
               Act(a_idx, np.zeros((n, e)), np.ones((n, e)), None))
    x = _solve_fixed(enc, [(a_idx, A), (w_idx, W)], solver="scip")
    np.testing.assert_allclose(x[z.idx], A @ W.T, atol=1e-6)


def test_continuous_weights_on_variables_are_refused() -> None:
    enc = Encoder()
    a_idx, w_idx = enc.m.add_vars((1, 2), 0.0, 1.0), enc.m.add_vars((1, 2), -1, 1)
    with pytest.raises(SettingsError, match="continuous-bilinear"):
        affine(enc, np.arange(2)[None], Weights(weight_idx=w_idx, mag=1.0), Act(a_idx, np.zeros((1, 2)),
                                                                               np.ones((1, 2)), None))


def test_constant_weights_on_constants_are_evaluated() -> None:
    layer = Dense(2, weight=np.array([[1.0, -2.0], [0.5, 0.5]]), bias=np.array([0.1, -0.1]))
    Network([layer], 2)
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    out = encode_layer(Encoder(), layer, Act.constant(X))
    assert out.out.const and out.z.const
    np.testing.assert_allclose(out.out.val, np.maximum(X @ layer.weight.T + layer.bias, 0) if layer.relu
                               else X @ layer.weight.T + layer.bias)


def test_a_gated_off_layer_passes_its_input_through(dense_net) -> None:
    rng = np.random.default_rng(5)
    net = Network([Dense(3, weight=rng.normal(size=(3, 3)), bias=rng.normal(size=3)),
                   Dense(3, weight=rng.normal(size=(3, 3)), bias=rng.normal(size=3), active=False),
                   Dense(1, weight=rng.normal(size=(1, 3)), bias=rng.normal(size=1))], 3)
    enc = encode_network(net, interval_bounds(net, -np.ones(3), np.ones(3)))
    X = rng.uniform(-1, 1, (1, 3))
    enc.model.fix(enc.inputs.idx, X)
    res = get_backend("highs").solve(enc.model, OPTS)
    assert enc.error(res.x) <= 1e-6


def test_relaxation_has_no_binaries_and_bounds_the_mip(dense_net) -> None:
    net = dense_net([2, 8, 8, 1], seed=7)
    lb = interval_bounds(net, -np.ones(2), np.ones(2))
    exact, relaxed = encode_network(net, lb), encode_network(net, lb, relax=True)
    assert exact.n_binaries > 0 and relaxed.n_binaries == 0 and not relaxed.model.integrality().any()
    for enc in (exact, relaxed):
        enc.model.add_objective(enc.outputs.idx[0], 1.0)
    a = get_backend("highs").solve(exact.model, OPTS)
    b = get_backend("highs").solve(relaxed.model, OPTS)
    assert b.objective <= a.objective + 1e-7


def test_upto_stops_before_the_relu(dense_net) -> None:
    net = dense_net([2, 4, 1], seed=8)
    enc = encode_network(net, interval_bounds(net, -np.ones(2), np.ones(2)), upto=0)
    assert len(enc.layers) == 1 and enc.layers[0].z is enc.layers[0].out


def test_options_pass_bounds_through() -> None:
    layer = Dense(1, weight=np.array([[1.0, 1.0]]), bias=np.array([0.0]))
    Network([layer], 2)
    enc = Encoder()
    a = enc.m.add_vars((1, 2), 0.0, 1.0)
    out = encode_layer(enc, layer, Act(a, np.zeros((1, 2)), np.ones((1, 2)), None),
                       LayerOptions(bounds=(np.array([[0.5]]), np.array([[1.5]])), relu=False))
    np.testing.assert_array_equal(out.z.lo, [[0.5]])
    np.testing.assert_array_equal(out.z.hi, [[1.5]])


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PROPERTY = settings(max_examples=int(__import__("os").environ.get("MIPNET_FUZZ_EXAMPLES", "0")) or 12,
                     deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])


@st.composite
def _random_net(draw) -> Network:
    """A small random network: dense (1-3 layers) or conv (Conv2D, optional pool, Flatten, Dense)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
        return Network([Dense(o, weight=rng.normal(size=(o, i)), bias=rng.normal(size=o) * 0.5)
                        for i, o in zip(sizes[:-1], sizes[1:])], sizes[0])
    c_in, side, f = draw(st.integers(1, 2)), draw(st.integers(3, 5)), draw(st.integers(1, 3))
    k, pad = draw(st.integers(1, 3)), draw(st.integers(0, 1))
    conv = Conv2D(f, k, padding=pad, weight=rng.normal(size=(f, c_in, k, k)) / k, bias=rng.normal(size=f) * 0.3)
    layers = [conv]
    out = side + 2 * pad - k + 1
    pool = draw(st.sampled_from([None, MaxPool2D, AvgPool2D]))
    if pool is not None and out >= 2:
        layers.append(pool(2))
        out //= 2
    n_out = draw(st.integers(1, 3))
    layers += [Flatten(), Dense(n_out, weight=rng.normal(size=(n_out, f * out * out)), bias=rng.normal(size=n_out))]
    return Network(layers, (c_in, side, side))


@_PROPERTY
@given(net=_random_net(), seed=st.integers(0, 2**32 - 1), width=st.floats(0.1, 3.0))
def test_random_networks_with_fixed_inputs_equal_forward(net: Network, seed: int, width: float) -> None:
    """Property: for any small dense or conv network and any inputs in its box, the MIP with the inputs fixed has
    the forward pass as its outputs."""
    rng = np.random.default_rng(seed)
    lo, hi = -width * np.ones(net.n_inputs), width * np.ones(net.n_inputs)
    enc = encode_network(net, interval_bounds(net, lo, hi), copies=2)
    X = rng.uniform(lo, hi, (2, net.n_inputs))
    enc.model.fix(enc.inputs.idx, X)
    res = get_backend("highs").solve(enc.model, OPTS)
    assert res.status == "optimal"
    np.testing.assert_allclose(enc.output_values(res.x), net.forward(X.reshape(2, *net.input_shape)), atol=1e-6,
                               rtol=1e-7)
