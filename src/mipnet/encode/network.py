"""One encoder per layer kind, dispatched from one table, and the handle of an encoded network.

:func:`encode_layer` is the single dispatch on layer type: training (:mod:`mipnet.train.formulation`, weights are
variables, the data constants, a batch of N samples) and verification (:func:`encode_network`, weights are
constants, one input or two copies in a region) both call it. :class:`NetworkEncoding` is the handle a caller gets
back; it can re-check itself against :meth:`Network.forward` (:meth:`NetworkEncoding.error`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mipnet.bounds.interval import ROUND_EPS
from mipnet.bounds.layer_bounds import LayerBounds
from mipnet.encode.affine import affine
from mipnet.encode.pool import avgpool, maxpool
from mipnet.encode.relu import relu
from mipnet.encode.values import Act, Encoder, Weights
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D
from mipnet.mip import MIPModel
from mipnet.network import Network


@dataclass
class LayerOptions:
    """How one layer is encoded (everything optional).

    Attributes
    ----------
    weights : Weights or None
        For an affine layer: ``None`` uses the layer's own (constant) weights.
    bounds : (lo, hi) or None
        Bounds on the affine pre-activations (or on the output of another layer), used as given.
    relu : bool or None
        ``None``: the layer's own flag; ``False`` stops before the ReLU (to bound the pre-activations).
    direction, cap, start, indicator :
        ReLU options (see :func:`mipnet.encode.relu.relu`); ``direction`` also serves max pooling
        (:func:`mipnet.encode.pool.maxpool`).
    """

    weights: Weights | None = None
    bounds: tuple[np.ndarray, np.ndarray] | None = None
    relu: bool | None = None
    direction: np.ndarray | None = None
    cap: np.ndarray | None = None
    start: np.ndarray | None = None
    indicator: bool = False


@dataclass
class LayerEncoding:
    """A layer's variables: ``z`` the affine pre-activations (``None`` for other layers), ``out`` its output."""

    z: Act | None
    out: Act


def _affine_layer(enc: Encoder, layer: Layer, act: Act, opt: LayerOptions) -> LayerEncoding:
    if not layer.active:  # gated off: passes its input through
        return LayerEncoding(None, act)
    weights = opt.weights if opt.weights is not None else Weights.of_layer(layer)
    z = affine(enc, layer.windows(), weights, act, opt.bounds)
    use_relu = bool(layer.relu) if opt.relu is None else opt.relu
    if not use_relu:
        return LayerEncoding(z, z)
    return LayerEncoding(z, relu(enc, z, opt.direction, opt.cap, opt.start, opt.indicator))


def _maxpool_layer(enc: Encoder, layer: Layer, act: Act, opt: LayerOptions) -> LayerEncoding:
    return LayerEncoding(None, maxpool(enc, layer.windows(), act, opt.direction))


def _avgpool_layer(enc: Encoder, layer: Layer, act: Act, opt: LayerOptions) -> LayerEncoding:
    return LayerEncoding(None, avgpool(enc, layer.windows(), act))


def _flatten_layer(enc: Encoder, layer: Layer, act: Act, opt: LayerOptions) -> LayerEncoding:
    return LayerEncoding(None, act)  # values are flat per sample already, in (C, H, W) order


#: the one table from layer type to encoder
LAYER_ENCODERS: dict[type[Layer], Callable[[Encoder, Layer, Act, LayerOptions], LayerEncoding]] = {
    Dense: _affine_layer, Conv2D: _affine_layer, MaxPool2D: _maxpool_layer, AvgPool2D: _avgpool_layer,
    Flatten: _flatten_layer,
}


def encode_layer(enc: Encoder, layer: Layer, act: Act, options: LayerOptions | None = None) -> LayerEncoding:
    """Encode one layer on the values ``act`` (a batch ``(N, D)``)."""
    try:
        fn = LAYER_ENCODERS[type(layer)]
    except KeyError:
        raise TypeError(f"no encoder for {layer!r}") from None
    return fn(enc, layer, act, options or LayerOptions())


@dataclass
class NetworkEncoding:
    """Handle to an encoded network.

    Attributes
    ----------
    model : MIPModel
    inputs : Act
        The input values ``(N, n_inputs)``: variables (verification) or constants (training data).
    layers : list of LayerEncoding
        One per layer of the network (up to the last one encoded).
    outputs : Act
        The last encoded layer's output ``(N, D)``.
    n_binaries : int
    network : Network or None
        The encoded network when its weights are constants.
    """

    model: MIPModel
    inputs: Act
    layers: list[LayerEncoding] = field(default_factory=list)
    outputs: Act | None = None
    n_binaries: int = 0
    network: Network | None = None

    @property
    def x(self) -> np.ndarray:
        """Input variables of the first (or only) copy, flat."""
        return self.inputs.idx[0]

    @property
    def out(self) -> np.ndarray:
        """Output variables of the first (or only) copy, flat."""
        return self.outputs.idx[0]

    def z(self, i: int) -> np.ndarray:
        """Pre-activation variables of affine layer ``i`` (first copy), flat."""
        return self.layers[i].z.idx[0]

    def input_values(self, x: np.ndarray) -> np.ndarray:
        """The inputs ``(N, n_inputs)`` at a solution vector ``x``."""
        return self.inputs.val if self.inputs.const else x[self.inputs.idx]

    def output_values(self, x: np.ndarray) -> np.ndarray:
        """The MIP's output variables ``(N, D)`` at a solution vector ``x``."""
        return x[self.outputs.idx]

    def forward(self, x: np.ndarray, net: Network | None = None) -> np.ndarray:
        """``Network.forward`` of the MIP's inputs at ``x`` (``net``: e.g. the network a training solution encodes;
        default the encoded network)."""
        net = self.network if net is None else net
        X = self.input_values(x)
        return net.forward(X.reshape(len(X), *net.input_shape)).reshape(len(X), -1)

    def error(self, x: np.ndarray, net: Network | None = None) -> float:
        """Largest ``|forward - MIP outputs|`` at ``x`` (the re-check of a solution, as gurobi-ml's ``get_error``)."""
        return float(np.max(np.abs(self.forward(x, net) - self.output_values(x)), initial=0.0))


def encode_network(net: Network, bounds: LayerBounds, copies: int = 1, upto: int | None = None,
                   relax: bool = False, input_rows: tuple[np.ndarray, np.ndarray] | None = None,
                   model: MIPModel | None = None) -> NetworkEncoding:
    """Encode a trained network over the input box of ``bounds`` (verification: the weights are constants).

    Parameters
    ----------
    net : Network
    bounds : LayerBounds
        Input box and per-layer bounds; every copy uses them.
    copies : int
        Batch size: independent copies of the network in one model (e.g. 2 for monotonicity pairs).
    upto : int, optional
        Stop after the affine rows of layer ``upto`` (no ReLU): used to bound that layer's pre-activations.
    relax : bool
        LP relaxation: binaries become continuous in ``[0, 1]``.
    input_rows : (A, b), optional
        Extra linear input constraints ``A x <= b`` on every copy.
    model : MIPModel, optional
        Add to this model instead of a new one.
    """
    enc = Encoder(model, relax=relax, widen=ROUND_EPS)
    shape = (copies, net.n_inputs)
    x = enc.m.add_vars(shape, np.broadcast_to(bounds.input_lo, shape), np.broadcast_to(bounds.input_hi, shape))
    act = Act(x, np.broadcast_to(bounds.input_lo, shape).copy(), np.broadcast_to(bounds.input_hi, shape).copy(), None)
    handle = NetworkEncoding(enc.m, act, network=net)
    if input_rows is not None and len(input_rows[1]):
        A, b = input_rows
        for c in range(copies):
            enc.m.add_rows(np.broadcast_to(x[c], A.shape), A, hi=b)
    last = len(net.layers) - 1 if upto is None else upto
    for i, layer in enumerate(net.layers[:last + 1]):
        lo = np.broadcast_to(bounds.lo[i], (copies, bounds.lo[i].size))
        hi = np.broadcast_to(bounds.hi[i], (copies, bounds.hi[i].size))
        opt = LayerOptions(bounds=(lo, hi), relu=False if i == upto else None)
        out = encode_layer(enc, layer, act, opt)
        handle.layers.append(out)
        act = out.out
    handle.outputs = act
    handle.n_binaries = enc.n_binaries
    return handle
