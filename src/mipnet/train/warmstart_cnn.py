"""Warm start for any layer sequence (convolution, pooling, flatten, dense), in plain numpy.

Full-batch Adam through the layers (convolutions as im2col over :meth:`~mipnet.layers.Layer.windows`), then the
projection of :mod:`mipnet.train.warmstart` generalised to channels: ReLU, max pooling and average pooling are
positively homogeneous per channel, so the scale of each input channel of a discrete layer is moved into the
filter (or neuron) that produces it before rounding. Structure limits (at most k filters, neurons, active
layers) are enforced by keeping the largest units, hidden dense units are ordered for the symmetry-breaking
rows, and the candidate with the best exact objective is returned. The formulation then computes every
auxiliary variable from this network's forward pass, so the start is feasible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, gather_windows
from mipnet.network import Network
from mipnet.train.certificate import objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.losses import Loss
from mipnet.train.structure import is_gateable
from mipnet.train.warmstart import _output_grad, order_units

Params = list[tuple[np.ndarray, np.ndarray]]


def _scatter(grad: np.ndarray, index: np.ndarray, width: int) -> np.ndarray:
    """Adjoint of :func:`gather_windows`: add ``grad[:, j]`` into column ``index[j]`` (``-1`` dropped)."""
    index = index.reshape(-1)
    grad = grad.reshape(grad.shape[0], -1)
    keep = index >= 0
    out_t = np.zeros((width, grad.shape[0]))
    np.add.at(out_t, index[keep], grad[:, keep].T)
    return out_t.T


def _forward(layers: list[Layer], params: Params, X: np.ndarray) -> tuple[np.ndarray, list]:
    """Forward pass on flattened activations, keeping what the backward pass needs."""
    a, tape, k = X, [], 0
    for layer in layers:
        if layer.is_affine:
            W, b = params[k]
            emap = layer.windows()
            patches = gather_windows(a, emap)  # (N, P, E)
            z = np.einsum("npe,oe->nop", patches, W) + b[None, :, None]
            z = z.reshape(len(a), -1)
            tape.append(("affine", k, patches, z, emap, a.shape[1]))
            a = np.maximum(z, 0.0) if layer.relu else z
            k += 1
        elif isinstance(layer, MaxPool2D):
            win = layer.windows()
            vals = a[:, win]
            arg = vals.argmax(-1)
            tape.append(("max", win, arg, a.shape[1]))
            a = np.take_along_axis(vals, arg[..., None], -1)[..., 0]
        elif isinstance(layer, AvgPool2D):
            win = layer.windows()
            tape.append(("avg", win, None, a.shape[1]))
            a = a[:, win].mean(-1)
        elif not isinstance(layer, Flatten):
            raise TypeError(f"no warm start for {layer!r}")
    return a, tape


def gradient_train_layers(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                          seed: int = 0, epochs: int = 400, lr: float = 0.02) -> Params:
    """Full-batch Adam on ``template``'s layers; returns ``(W, b)`` per affine layer with ``W`` of shape
    ``(out, E)`` (a convolution's filters flattened as ``(in, kh, kw)``)."""
    rng = np.random.default_rng(seed)
    layers = template.layers
    affine = template.affine_layers()
    params = []
    for layer in affine:
        n_e = layer.windows().shape[1]
        params.append((rng.normal(0.0, np.sqrt(2.0 / n_e), (layer.out_shape[0], n_e)), np.zeros(layer.out_shape[0])))
    params = [list(p) for p in params]
    m1 = [[np.zeros_like(p) for p in pr] for pr in params]
    m2 = [[np.zeros_like(p) for p in pr] for pr in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    X = X.reshape(len(X), -1)
    for step in range(1, epochs + 1):
        out, tape = _forward(layers, [tuple(p) for p in params], X)
        g = _output_grad(loss, out, y)
        grads: list = [None] * len(params)
        for entry in reversed(tape):
            if entry[0] == "affine":
                _, k, patches, z, emap, width = entry
                layer = affine[k]
                if layer.relu:
                    g = g * (z > 0)
                n = len(g)
                gz = g.reshape(n, layer.out_shape[0], -1)  # (N, out, P)
                W = params[k][0]
                grads[k] = (np.einsum("nop,npe->oe", gz, patches) + config.l1 * np.sign(W) + 2 * config.l2 * W,
                            gz.sum((0, 2)))
                if k > 0:
                    g = _scatter(np.einsum("nop,oe->npe", gz, W), emap, width)
            elif entry[0] == "max":
                _, win, arg, width = entry
                src = win[np.arange(win.shape[0])[None, :], arg]  # (N, R): input entry holding each max
                gin = np.zeros((len(g), width))
                rows = np.repeat(np.arange(len(g)), src.shape[1])
                np.add.at(gin, (rows, src.reshape(-1)), g.reshape(-1))  # windows may overlap
                g = gin
            else:
                _, win, _, width = entry
                k_size = win.shape[-1]
                g = _scatter(np.repeat(g[..., None] / k_size, k_size, -1), win, width)
        for k, (gW, gb) in enumerate(grads):
            for j, gr in enumerate((gW, gb)):
                m1[k][j] = b1 * m1[k][j] + (1 - b1) * gr
                m2[k][j] = b2 * m2[k][j] + (1 - b2) * gr * gr
                mh = m1[k][j] / (1 - b1 ** step)
                vh = m2[k][j] / (1 - b2 ** step)
                params[k][j] = params[k][j] - lr * mh / (np.sqrt(vh) + eps)
    return [(W, b) for W, b in params]


def input_channels(template: Network) -> list[np.ndarray | None]:
    """For each affine layer after the first: the previous affine layer's unit (neuron or channel) that feeds each
    weight column (``None`` for the first affine layer)."""
    labels, result = None, []
    for layer in template.layers:
        if layer.is_affine:
            if labels is None:
                result.append(None)
            elif isinstance(layer, Conv2D):
                c, h, w = layer.in_shape
                per_channel = labels[np.arange(c) * h * w]
                result.append(np.repeat(per_channel, layer.kernel[0] * layer.kernel[1]))
            else:
                result.append(labels.copy())
            out = layer.out_shape
            labels = np.repeat(np.arange(out[0]), int(np.prod(out[1:])))
        elif isinstance(layer, (MaxPool2D, AvgPool2D)) and labels is not None:
            labels = labels[layer.windows()[:, 0]]
    return result


def project_layers(params: Params, template: Network, domains: list[WeightDomain], config: TrainConfig,
                   prunable: list[bool], scale_first: bool, threshold: float) -> Params:
    """Project onto the weight domains, moving each input channel's scale into the unit that produces it."""
    params = [(W.copy(), b.copy()) for W, b in params]
    omega, omega_b = config.weight_bound, config.omega_b
    chans = input_channels(template)
    for k in range(len(params) - 1, 0, -1):
        dom = domains[k]
        if not dom.discrete:
            continue
        W, b = params[k]
        Wp, bp = params[k - 1]
        col_max = np.abs(W).max(0)
        s = np.zeros(len(bp))
        np.maximum.at(s, chans[k], col_max)
        s = s / dom.magnitude(omega)
        s = np.where(s > 0, s, 1.0)
        W = W / s[chans[k]][None, :]
        params[k - 1] = (Wp * s[:, None], bp * s)
        params[k] = (dom.project(W, omega, prunable[k]), b)
    if scale_first:
        W0, b0 = params[0]
        alpha = min(1.0, omega / max(np.abs(W0).max(), 1e-12), omega_b / max(np.abs(b0).max(initial=0), 1e-12))
        params = [(W * alpha, b * alpha) if k == 0 else (W, b * alpha) for k, (W, b) in enumerate(params)]
    W0, b0 = params[0]
    W0 = np.where(np.abs(W0) < threshold * omega, 0.0, W0)
    params[0] = (domains[0].project(W0, omega, prunable[0]), b0)
    return [(W, np.clip(b, -omega_b, omega_b)) for W, b in params]


def _keep_largest(W: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.argsort(-(np.abs(W).sum(1) + np.abs(b)))[:k]
    mask = np.zeros(len(b), bool)
    mask[keep] = True
    return np.where(mask[:, None], W, 0.0), np.where(mask, b, 0.0)


def build_network(template: Network, params: Params, config: TrainConfig, domains: list[WeightDomain]) -> Network:
    """A network with ``template``'s layers and ``params``, after structure limits and symmetry ordering."""
    affine = template.affine_layers()
    params = [(W.copy(), b.copy()) for W, b in params]
    for k, layer in enumerate(affine[:-1]):
        W, b = params[k]
        if isinstance(layer, Conv2D) and config.max_filters:
            params[k] = _keep_largest(W, b, config.max_filters)
        if isinstance(layer, Dense) and config.max_neurons:
            params[k] = _keep_largest(W, b, config.max_neurons)
    active = [True] * len(affine)
    if config.layer_gates and config.max_layers is not None:
        gated = [k for k, layer in enumerate(affine) if is_gateable(template, layer)]
        for k in gated[config.max_layers:]:
            active[k] = False
            params[k] = (np.zeros_like(params[k][0]), np.zeros_like(params[k][1]))
    if config.symmetry:
        params = _order_dense(template, params, domains, active, config)
    layers, it = [], iter(zip(params, active))
    for layer in template.layers:
        if layer.is_affine:
            (W, b), on = next(it)
            tail = (layer.in_shape[0], *layer.kernel) if isinstance(layer, Conv2D) else (layer.in_shape[0],)
            new = type(layer)(**{**layer.params(), "active": on})
            new.weight = W.reshape((layer.out_shape[0],) + tail)
            new.bias = b if layer.bias_on else None
            layers.append(new)
        else:
            layers.append(type(layer)(**layer.params()) if layer.params() else type(layer)())
    return Network(layers, template.input_shape)


def _order_dense(template: Network, params: Params, domains: list[WeightDomain], active: list[bool],
                 config: TrainConfig) -> Params:
    """Permute hidden dense units as the formulation's symmetry rows require (dense layer followed by dense)."""
    layers, affine = template.layers, template.affine_layers()
    for k, layer in enumerate(affine[:-1]):
        li = next(i for i, lay in enumerate(layers) if lay is layer)
        if not (isinstance(layer, Dense) and isinstance(layers[li + 1], Dense) and layer.bias_on and layer.relu
                and layer.units > 1) or (config.layer_gates and is_gateable(template, layer)):
            continue
        order_units(params, k, domains)
    return params


def prune_filters(net: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                  value: float) -> float:
    """Greedily switch off filters (smallest first) while that lowers the exact objective; returns the new value.

    ``net`` is changed in place.
    """
    for layer in net.layers:
        if not isinstance(layer, Conv2D):
            continue
        norms = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(1)
        for c in np.argsort(norms):
            if not norms[c] and (layer.bias is None or not layer.bias[c]):
                continue
            saved = layer.weight[c].copy(), None if layer.bias is None else float(layer.bias[c])
            layer.weight[c] = 0.0
            if layer.bias is not None:
                layer.bias[c] = 0.0
            trial = objective_value(net, X, y, loss, config)
            if trial < value:
                value = trial
            else:
                layer.weight[c] = saved[0]
                if layer.bias is not None:
                    layer.bias[c] = saved[1]
    return value


def warm_start_layers(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                      domains: list[WeightDomain], prunable: list[bool],
                      restarts: int = 2,
                      on_found: Callable[[Network, float], None] | None = None) -> tuple[Network, float] | None:
    """Best projected gradient-trained network for any supported layer sequence, with its exact objective;
    ``on_found(network, objective)`` hears of each better candidate at once (as in
    :func:`mipnet.train.warmstart.warm_start`)."""
    supported = (Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten)
    if not all(isinstance(layer, supported) for layer in template.layers):
        return None
    yy = y if loss.task == "regression" else y.astype(int)
    Xf = X.reshape(len(X), -1)
    best: tuple[Network, float] | None = None
    for r in range(restarts):
        raw = gradient_train_layers(template, Xf, yy, loss, config, seed=config.seed + r)
        for scale_first in (False, True):
            for thr in (0.0, 0.05):
                params = project_layers(raw, template, domains, config, prunable, scale_first, thr)
                net = build_network(template, params, config, domains)
                value = objective_value(net, X, y, loss, config)
                if config.filter_gates:
                    value = prune_filters(net, X, y, loss, config, value)
                if best is None or value < best[1]:
                    best = (net, value)
                    if on_found is not None:
                        on_found(net, value)
    return best
