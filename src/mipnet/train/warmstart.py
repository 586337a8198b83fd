"""Warm start: a network trained by gradient descent (plain numpy), projected onto the weight domains.

The projection keeps the network's function where it can: positive homogeneity of ReLU moves each hidden
unit's scale from its outgoing weights into its incoming weights and bias before discrete weights are rounded.
The candidate with the best objective (computed exactly by :func:`~mipnet.train.certificate.objective_value`)
is returned, with its hidden units ordered to satisfy the symmetry-breaking constraints.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mipnet.clock import Clock
from mipnet.layers import Dense
from mipnet.network import Network
from mipnet.progress import Phase, TrainProgress
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
        order_units(params, l, domains)
    return params


def order_units(params: list, l: int, domains: list[WeightDomain]) -> None:
    """Permute the units of affine layer ``l`` (rows of its ``(W, b)``, columns of layer ``l + 1``'s ``W``) in
    place into the order of the formulation's symmetry rows: output weight descending then bias descending when
    the next layer has one discrete output, else bias descending."""
    W, b = params[l]
    Wn, bn = params[l + 1]
    if Wn.shape[0] == 1 and domains[l + 1].discrete:
        order = np.lexsort((-b, -Wn[0]))
    else:
        order = np.argsort(-b, kind="stable")
    params[l] = (W[order], b[order])
    params[l + 1] = (Wn[:, order], bn)


def dense_applicable(template: Network, config: TrainConfig) -> bool:
    """Whether :func:`warm_start` applies (Dense layers only, no layer gates); else
    :func:`mipnet.train.warmstart_cnn.warm_start_layers` (convolutions, pooling, layer gates)."""
    return all(isinstance(layer, Dense) for layer in template.layers) and not config.layer_gates


def warm_start(template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
               domains: list[WeightDomain], prunable: list[bool], restarts: int = 3,
               on_found: Callable[[Network, float], None] | None = None) -> tuple[Network, float] | None:
    """Best projected gradient-trained network of Dense layers (see :func:`dense_applicable`) and its objective.

    ``on_found(network, objective)`` is called with each better candidate as soon as it is scored (a caller stopped
    by Ctrl-C keeps the last one)."""
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
                    if on_found is not None:
                        on_found(net, value)
    return best


# ------------------------------------------------------------------ one hidden layer, sign output weights
def sign_output_applicable(template: Network, loss: Loss, domains: list[WeightDomain], prunable: list[bool]) -> bool:
    """One hidden Dense layer, one output with non-prunable sign weights, continuous first layer, binary hinge."""
    layers = template.layers
    return (len(layers) == 2 and all(isinstance(layer, Dense) for layer in layers) and layers[1].units == 1
            and layers[0].bias_on and layers[1].bias_on and domains[0].kind == "continuous"
            and domains[1].kind == "sign" and not any(prunable) and isinstance(loss, Hinge))


def _sign_objective(W: np.ndarray, b: np.ndarray, v: np.ndarray, c: float, X: np.ndarray, s: np.ndarray,
                    l1: float) -> float:
    o = np.maximum(X @ W.T + b, 0.0) @ v + c
    return float(np.mean(np.maximum(0.0, 1.0 - s * o)) + l1 * (np.abs(W).sum() + len(v)))


def _projected_adam(X: np.ndarray, s: np.ndarray, v: np.ndarray, l1: float, omega: float, omega_b: float,
                    rng: np.random.Generator, epochs: int, lr: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Adam on ``mean hinge + l1 |W|`` with the output signs ``v`` fixed, projected onto the boxes every step."""
    n, d = X.shape
    params = [np.clip(rng.normal(0, np.sqrt(2.0 / d), (len(v), d)), -omega, omega),
              rng.uniform(-0.1, 0.1, len(v)), np.zeros(1)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    box = (omega, omega_b, omega_b)
    for t in range(1, epochs + 1):
        W, b, c = params
        z = X @ W.T + b
        o = np.maximum(z, 0.0) @ v + c[0]
        g = -s * (1.0 - s * o > 0) / n
        gz = g[:, None] * v[None, :] * (z > 0)
        grads = (gz.T @ X + l1 * np.sign(W), gz.sum(0), np.array([g.sum()]))
        for k in range(3):
            m1[k] = 0.9 * m1[k] + 0.1 * grads[k]
            m2[k] = 0.999 * m2[k] + 0.001 * grads[k] ** 2
            step = lr * (m1[k] / (1 - 0.9 ** t)) / (np.sqrt(m2[k] / (1 - 0.999 ** t)) + 1e-8)
            params[k] = np.clip(params[k] - step, -box[k], box[k])
    return params[0], params[1], float(params[2][0])


def polish_matrix(X: np.ndarray, s: np.ndarray, v: np.ndarray, on: np.ndarray) -> object:
    """The constraint matrix of :func:`_polish_lp` (CSR, canonical: sorted indices, no stored zeros), built with
    whole-array operations.

    Columns: the weights ``w`` (``H x E``, row-major), their absolute values ``t``, the biases ``b``, the output
    bias ``c``, the hinge terms ``e`` (one per sample). Rows: per unit ``j`` and sample ``i``, ``-(w_j x_i + b_j)
    <= 0`` where ``on`` and ``w_j x_i + b_j <= 0`` where off (unit-major); per sample the hinge row
    ``-e_i - s_i (sum_j v_j on_ij (w_j x_i + b_j) + c) <= -1``; then ``w - t <= 0`` and ``-w - t <= 0``.
    """
    import scipy.sparse as sp

    n, d = X.shape
    h = len(v)
    nw = h * d
    iw, it, ib, ic, ie = 0, nw, 2 * nw, 2 * nw + h, 2 * nw + h + 1
    nv = ie + n
    sg = np.where(on, -1.0, 1.0)                                   # (N, H)
    coef = -(s[:, None] * v[None, :] * on)                         # (N, H)
    # per row: E weight entries of one unit and its bias (activation rows), all H units' (hinge rows)
    act_cols = np.concatenate([iw + np.arange(d)[None, :] + d * np.arange(h)[:, None], (ib + np.arange(h))[:, None]],
                              1)                                   # (H, E + 1)
    act_rows = np.broadcast_to(np.arange(h * n).reshape(h, n)[:, :, None], (h, n, d + 1))
    act_vals = np.concatenate([sg.T[:, :, None] * X[None, :, :], sg.T[:, :, None]], 2)    # (H, N, E + 1)
    act_col = np.broadcast_to(act_cols[:, None, :], (h, n, d + 1))
    hin_cols = np.concatenate([iw + np.arange(nw), ib + np.arange(h), [ic]])
    hin_vals = np.concatenate([(coef[:, :, None] * X[:, None, :]).reshape(n, nw), coef, -s[:, None]], 1)
    hin_rows = np.broadcast_to(h * n + np.arange(n)[:, None], hin_vals.shape)
    e_rows, e_cols = h * n + np.arange(n), ie + np.arange(n)
    k = np.arange(nw)
    r0 = h * n + n
    abs_rows = np.concatenate([r0 + k, r0 + k, r0 + nw + k, r0 + nw + k])
    abs_cols = np.concatenate([iw + k, it + k, iw + k, it + k])
    abs_vals = np.concatenate([np.ones(nw), -np.ones(nw), -np.ones(nw), -np.ones(nw)])
    rows = np.concatenate([act_rows.ravel(), hin_rows.ravel(), e_rows, abs_rows])
    cols = np.concatenate([act_col.ravel(), np.broadcast_to(hin_cols, hin_vals.shape).ravel(), e_cols, abs_cols])
    vals = np.concatenate([act_vals.ravel(), hin_vals.ravel(), -np.ones(n), abs_vals])
    keep = vals != 0
    A = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(h * n + n + 2 * nw, nv))
    A.sum_duplicates()
    A.sort_indices()
    return A


def _polish_lp(X: np.ndarray, s: np.ndarray, v: np.ndarray, l1: float, omega: float, omega_b: float,
               on: np.ndarray, time_limit: float | None = None) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The best network with output signs ``v`` and activation pattern ``on`` (N, H): a linear program.

    With the pattern fixed every pre-activation is linear in the weights, ``z_ij >= 0`` where on and ``<= 0``
    where off, so the optimum is exact for that pattern (and feasible for the MIP, ReLU outputs included).
    ``time_limit``: seconds for the LP (stopped: ``None``, as for a failed LP).
    """
    from scipy.optimize import linprog

    n, d = X.shape
    h = len(v)
    nw = h * d
    ib, ic, ie = 2 * nw, 2 * nw + h, 2 * nw + h + 1
    nv = ie + n
    cost = np.zeros(nv)
    cost[nw:2 * nw] = l1
    cost[ie:] = 1.0 / n
    A = polish_matrix(X, s, v, on)
    rhs = np.concatenate([np.zeros(n * h), -np.ones(n), np.zeros(2 * nw)])
    bounds = [(-omega, omega)] * nw + [(0, omega)] * nw + [(-omega_b, omega_b)] * (h + 1) + [(0, None)] * n
    options = {} if time_limit is None else {"time_limit": max(float(time_limit), 1e-3)}
    res = linprog(cost, A_ub=A, b_ub=rhs, bounds=bounds, method="highs", options=options)
    if res.status != 0:
        return None
    x = res.x
    return x[:nw].reshape(h, d), x[ib:ib + h], float(x[ic])


def sign_output_starts(template: Network, X: np.ndarray, y: np.ndarray, config: TrainConfig,
                       restarts: int = 4, epochs: int = 400, lr: float = 0.03, polish_rounds: int = 20,
                       into: dict | None = None, progress: TrainProgress | None = None,
                       polish_clock: Clock | None = None) -> dict[int, tuple[Network, float]]:
    """Warm starts for a one-hidden-layer network with ``sign`` output weights, one per output-sign pattern.

    By symmetry the output signs can be taken sorted descending, so pattern ``k`` has ``k`` units with ``+1``
    and ``H - k`` with ``-1``. For each pattern: projected Adam from ``restarts`` random starts (weights stay
    in their boxes, so no rescaling is needed), then LP polishing: with the activation pattern of the current
    network fixed, the best weights are an LP; repeat while it improves. Every candidate is feasible and is
    scored by its exact objective; returns ``{k: (network, objective)}`` with units ordered by bias within
    each sign group (the symmetry order of the formulation).

    ``into``: a dict filled as the search goes (pattern ``k``'s best network so far, each time it improves), so that
    a caller interrupted by Ctrl-C keeps every start found. ``progress`` hears of each better objective.
    ``polish_clock``: once it is out of time, no more LP polishing (the gradient starts of the remaining patterns,
    a fraction of a second each, still run, so that every pattern has a start).
    """
    X2 = X.reshape(len(X), -1)
    s = np.where(np.asarray(y).reshape(-1) == 1, 1.0, -1.0)
    h = template.layers[0].units
    omega, omega_b, l1 = config.weight_bound, config.omega_b, config.l1
    rng = np.random.default_rng(config.seed)
    out: dict[int, tuple[Network, float]] = {} if into is None else into

    def keep(k: int, v: np.ndarray, best: tuple, detail: str) -> None:
        _, (W, b, c) = best
        layers = [Dense(h, relu=True, weight=W, bias=b), Dense(1, relu=False, weight=v[None, :], bias=np.array([c]))]
        net = order_hidden_units(Network(layers, template.input_shape))
        out[k] = (net, objective_value(net, X, y, Hinge(), config))
        if progress is not None:
            progress.pattern = k
            progress.found(out[k][1], detail)

    for k in range(h + 1):
        v = np.array([1.0] * k + [-1.0] * (h - k))
        if progress is not None:
            progress.enter(Phase.WARM_START, k, f"{restarts} gradient restarts, LP polishing")
        best: tuple[float, tuple] | None = None
        kept = math.inf   # the objective of out[k] (a candidate kept at once, in case of Ctrl-C)
        for restart in range(restarts):
            W, b, c = _projected_adam(X2, s, v, l1, omega, omega_b, rng, epochs, lr)
            f = _sign_objective(W, b, v, c, X2, s, l1)
            if f < kept:
                kept = f
                keep(k, v, (f, _clipped(W, b, c, omega, omega_b)), f"restart {restart + 1} of {restarts}")
            stale = 0
            for r in range(polish_rounds):
                if polish_clock is not None and polish_clock.out():
                    break
                # units at z = 0 (on the LP's boundary) are assigned off, then on, alternately: the current
                # network is feasible for both patterns, so each LP can only improve on it
                res = _polish_lp(X2, s, v, l1, omega, omega_b, X2 @ W.T + b > (1e-9 if r % 2 == 0 else -1e-9),
                                 None if polish_clock is None else polish_clock.left())
                f2 = math.inf if res is None else _sign_objective(*res[:2], v, res[2], X2, s, l1)
                if f2 >= f - 1e-12:
                    stale += 1
                    if stale >= 2:
                        break
                    continue
                stale = 0
                (W, b, c), f = res, f2
                if f < kept:
                    kept = f
                    keep(k, v, (f, _clipped(W, b, c, omega, omega_b)),
                         f"restart {restart + 1} of {restarts}, LP polishing round {r + 1}")
            if best is None or f < best[0]:
                best = (f, _clipped(W, b, c, omega, omega_b))
        keep(k, v, best, "best of the restarts")
    return out


def _clipped(W: np.ndarray, b: np.ndarray, c: float, omega: float, omega_b: float) -> tuple:
    return np.clip(W, -omega, omega), np.clip(b, -omega_b, omega_b), float(np.clip(c, -omega_b, omega_b))


def order_hidden_units(net: Network) -> Network:
    """The same network with its hidden units sorted by output weight, then bias, both descending (the order
    of the symmetry-breaking rows; a permutation of hidden units does not change the function)."""
    first, last = net.layers
    v, b = last.weight[0], first.bias
    order = np.lexsort((-b, -v))
    layers = [Dense(first.units, relu=True, weight=first.weight[order], bias=b[order]),
              Dense(1, relu=False, weight=last.weight[:, order], bias=last.bias)]
    return Network(layers, net.input_shape)
