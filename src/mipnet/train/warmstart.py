"""Warm start: a network trained by gradient descent (plain numpy), projected onto the weight domains.

The projection keeps the network's function where it can: positive homogeneity of ReLU moves each hidden
unit's scale from its outgoing weights into its incoming weights and bias before discrete weights are rounded.
The candidate with the best objective (computed exactly by :func:`~mipnet.train.certificate.objective_value`)
is returned, with its hidden units ordered to satisfy the symmetry-breaking constraints.
"""

from __future__ import annotations

import numpy as np

from mipnet.layers import Dense
from mipnet.network import Network
from mipnet.train.certificate import objective_value
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.losses import AbsoluteError, Hinge, Loss, MaxError, Misclassification, SquaredError


def _output_grad(loss: Loss, o: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Subgradient of the mean loss with respect to the outputs ``o`` (N, K)."""
    n = len(o)
    g = np.zeros_like(o)
    if isinstance(loss, (Hinge, Misclassification)):
        if o.shape[1] == 1:
            s = np.where(y == 1, 1.0, -1.0)
            g[:, 0] = -s * (1.0 - s * o[:, 0] > 0) / n
        else:
            true = o[np.arange(n), y]
            viol = 1.0 + o - true[:, None]
            viol[np.arange(n), y] = -np.inf
            k = viol.argmax(1)
            hit = viol[np.arange(n), k] > 0
            g[np.arange(n)[hit], k[hit]] += 1.0 / n
            g[np.arange(n)[hit], y[hit]] -= 1.0 / n
    elif isinstance(loss, (AbsoluteError, MaxError)):
        g = np.sign(o - y) / n
    elif isinstance(loss, SquaredError):
        g = 2.0 * (o - y) / n
    else:
        g = np.sign(o - y) / n
    return g


def gradient_train(sizes: list[int], X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                   seed: int = 0, epochs: int = 600, lr: float = 0.02) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-batch Adam on a dense ReLU network with layer sizes ``sizes`` (inputs first)."""
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append([rng.normal(0, np.sqrt(2.0 / a), (b, a)), np.zeros(b)])
    m1 = [[np.zeros_like(p) for p in layer] for layer in params]
    m2 = [[np.zeros_like(p) for p in layer] for layer in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        acts, pre = [X], []
        for i, (W, b) in enumerate(params):
            z = acts[-1] @ W.T + b
            pre.append(z)
            acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
        g = _output_grad(loss, acts[-1], y)
        for i in range(len(params) - 1, -1, -1):
            W, b = params[i]
            gW = g.T @ acts[i] + config.l1 * np.sign(W) + 2 * config.l2 * W
            gb = g.sum(0)
            if i > 0:
                g = (g @ W) * (pre[i - 1] > 0)
            for j, gr in enumerate((gW, gb)):
                m1[i][j] = b1 * m1[i][j] + (1 - b1) * gr
                m2[i][j] = b2 * m2[i][j] + (1 - b2) * gr * gr
                mh = m1[i][j] / (1 - b1 ** step)
                vh = m2[i][j] / (1 - b2 ** step)
                params[i][j] = params[i][j] - lr * mh / (np.sqrt(vh) + eps)
    return [(W, b) for W, b in params]


def project(params: list[tuple[np.ndarray, np.ndarray]], domains: list[WeightDomain], config: TrainConfig,
            prunable: list[bool], scale_first: bool, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Project dense parameters onto the domains (see the module docstring)."""
    params = [(W.copy(), b.copy()) for W, b in params]
    omega, omega_b = config.weight_bound, config.omega_b
    for l in range(len(params) - 1, 0, -1):
        dom = domains[l]
        if not dom.discrete:
            continue
        W, b = params[l]
        target = dom.magnitude(omega)
        s = np.abs(W).max(0) / target
        s = np.where(s > 0, s, 1.0)
        W /= s[None, :]
        Wp, bp = params[l - 1]
        Wp *= s[:, None]
        bp *= s
        params[l] = (dom.project(W, omega, prunable[l]), b)
    if scale_first:  # shrink all activations uniformly (exact up to the output scale, by homogeneity)
        W0, b0 = params[0]
        alpha = min(1.0, omega / max(np.abs(W0).max(), 1e-12), omega_b / max(np.abs(b0).max(initial=0), 1e-12))
        params = [(W * alpha, b * alpha) if l == 0 else (W, b * alpha) for l, (W, b) in enumerate(params)]
    W0, b0 = params[0]
    W0 = np.where(np.abs(W0) < threshold * omega, 0.0, W0)
    params[0] = (domains[0].project(W0, omega, prunable[0]), np.clip(b0, -omega_b, omega_b))
    for l in range(1, len(params)):
        params[l] = (params[l][0], np.clip(params[l][1], -omega_b, omega_b))
    return params


def limit_structure(params: list, config: TrainConfig) -> list:
    """Enforce hard limits (at most k inputs, k neurons per hidden layer) by keeping the largest."""
    params = [(W.copy(), b.copy()) for W, b in params]
    if config.max_inputs:
        W0 = params[0][0]
        keep = np.argsort(-np.abs(W0).sum(0))[: config.max_inputs]
        mask = np.zeros(W0.shape[1], bool)
        mask[keep] = True
        params[0] = (np.where(mask[None, :], W0, 0.0), params[0][1])
    if config.max_neurons:
        for l in range(len(params) - 1):
            W, b = params[l]
            keep = np.argsort(-(np.abs(W).sum(1) + np.abs(b)))[: config.max_neurons]
            mask = np.zeros(len(b), bool)
            mask[keep] = True
            params[l] = (np.where(mask[:, None], W, 0.0), np.where(mask, b, 0.0))
    return params


def order_hidden(params: list, domains: list[WeightDomain]) -> list:
    """Permute hidden units so that the symmetry-breaking order holds (see the formulation)."""
    params = [(W.copy(), b.copy()) for W, b in params]
    for l in range(len(params) - 1):
        W, b = params[l]
        Wn, bn = params[l + 1]
        if Wn.shape[0] == 1 and domains[l + 1].discrete:
            order = np.lexsort((-b, -Wn[0]))  # v descending, then bias descending
        else:
            order = np.argsort(-b, kind="stable")
        params[l] = (W[order], b[order])
        params[l + 1] = (Wn[:, order], bn)
    return params


def warm_start(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
               domains: list[WeightDomain], prunable: list[bool], restarts: int = 3) -> tuple[Network, float] | None:
    """Best projected gradient-trained network and its objective; ``None`` for unsupported architectures."""
    if not all(isinstance(layer, Dense) for layer in template.layers) or config.layer_gates:
        from mipnet.train.warmstart_cnn import warm_start_layers  # convolutions, pooling, layer gates

        return warm_start_layers(template, X, y, loss, config, domains, prunable)
    X2 = X.reshape(len(X), -1)
    sizes = [X2.shape[1]] + [layer.units for layer in template.layers]
    yy = y if loss.task == "regression" else y.astype(int)
    best: tuple[Network, float] | None = None
    for r in range(restarts):
        raw = gradient_train(sizes, X2, yy, loss, config, seed=config.seed + r)
        for scale_first in (False, True):
            for thr in (0.0, 1e-2, 5e-2, 0.1):
                params = project(raw, domains, config, prunable, scale_first, thr)
                params = limit_structure(params, config)
                if config.symmetry:
                    params = order_hidden(params, domains)
                layers = [Dense(layer.units, relu=layer.relu, bias_on=layer.bias_on, weight=W,
                                bias=b if layer.bias_on else None)
                          for layer, (W, b) in zip(template.layers, params)]
                net = Network(layers, template.input_shape)
                value = objective_value(net, X, y, loss, config)
                if best is None or value < best[1]:
                    best = (net, value)
    return best
