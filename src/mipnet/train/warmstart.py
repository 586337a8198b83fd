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
from mipnet.solvers.highs import new_highs, pass_model
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


class PolishLP:
    """The LP polishing of :func:`sign_output_starts` for one output-sign vector ``v``: one HiGHS instance, built
    once, re-solved for each activation pattern by changing bounds only (a warm start from the last basis).

    With the activation pattern ``on`` (N, H) fixed, every pre-activation ``z_ij = w_j x_i + b_j`` is linear in the
    weights, and the best network with that pattern is an LP (exact for the pattern, and feasible for the MIP, ReLU
    outputs included). The matrix does not depend on the pattern: each ReLU output gets a column ``p_ij >= 0`` and
    a row ``z_ij - p_ij``; where ``on``, the row is ``= 0`` (``p_ij = z_ij >= 0``), where off, ``p_ij`` is fixed at 0
    and the row is ``<= 0`` (``z_ij <= 0``). Only those row and column bounds change between patterns, so the dual
    simplex restarts from the previous basis instead of solving a new LP from scratch.

    Columns: the weights ``w`` (``H x E``, row-major), their absolute values ``t``, the biases ``b``, the output bias
    ``c``, the hinge terms ``e`` (one per sample), the ReLU outputs ``p`` (unit-major). Rows: the ``H N`` rows
    ``w_j x_i + b_j - p_ij`` (unit-major); per sample the hinge row ``-e_i - s_i (sum_j v_j p_ij + c) <= -1``; then
    ``w - t <= 0`` and ``-w - t <= 0``. Objective: ``mean(e) + l1 sum(t)``.

    Parameters
    ----------
    X : ndarray
        Inputs (N, E).
    s : ndarray
        Labels as signs (N,), ``+1`` or ``-1``.
    v : ndarray
        Output weights (H,), each ``+1`` or ``-1``.
    l1, omega, omega_b : float
        The L1 penalty, the weight bound and the bias bound.
    """

    def __init__(self, X: np.ndarray, s: np.ndarray, v: np.ndarray, l1: float, omega: float,
                 omega_b: float) -> None:
        import scipy.sparse as sp

        n, d = X.shape
        h = len(v)
        nw = h * d
        self.n, self.d, self.h = n, d, h
        self.ib, self.ic = 2 * nw, 2 * nw + h
        ie = self.ic + 1
        self.ip = ie + n
        nv = self.ip + h * n
        m = h * n
        unit = np.repeat(np.arange(h), n)                           # the unit of each ReLU row (unit-major)
        sample = np.tile(np.arange(n), h)                           # its sample
        z_rows = np.repeat(np.arange(m), d + 2)
        z_cols = np.concatenate([unit[:, None] * d + np.arange(d)[None, :], (self.ib + unit)[:, None],
                                 (self.ip + np.arange(m))[:, None]], 1).ravel()
        z_vals = np.concatenate([X[sample], np.ones((m, 1)), -np.ones((m, 1))], 1).ravel()
        h_rows = m + np.concatenate([sample, np.arange(n), np.arange(n)])
        h_cols = np.concatenate([self.ip + np.arange(m), np.full(n, self.ic), ie + np.arange(n)])
        h_vals = np.concatenate([-s[sample] * v[unit], -s, -np.ones(n)])
        k = np.arange(nw)
        r0 = m + n
        a_rows = np.concatenate([r0 + k, r0 + k, r0 + nw + k, r0 + nw + k])
        a_cols = np.concatenate([k, nw + k, k, nw + k])
        a_vals = np.concatenate([np.ones(nw), -np.ones(nw), -np.ones(nw), -np.ones(nw)])
        rows = np.concatenate([z_rows, h_rows, a_rows])
        cols = np.concatenate([z_cols, h_cols, a_cols])
        vals = np.concatenate([z_vals, h_vals, a_vals])
        keep = vals != 0
        A = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(m + n + 2 * nw, nv))
        lo = np.concatenate([np.zeros(m), np.full(n + 2 * nw, -np.inf)])
        hi = np.concatenate([np.zeros(m), -np.ones(n), np.zeros(2 * nw)])
        lb = np.concatenate([np.full(nw, -omega), np.zeros(nw), np.full(h + 1, -omega_b), np.zeros(n + m)])
        ub = np.concatenate([np.full(nw, omega), np.full(nw, omega), np.full(h + 1, omega_b), np.full(n + m, np.inf)])
        cost = np.zeros(nv)
        cost[nw:2 * nw] = l1
        cost[ie:self.ip] = 1.0 / n
        self.highs = new_highs(False)
        self.highs.setOptionValue("threads", 1)
        pass_model(self.highs, lb, ub, A, lo, hi, cost)
        self._rows = np.arange(m, dtype=np.int32)
        self._cols = (self.ip + self._rows).astype(np.int32)

    def solve(self, on: np.ndarray, time_limit: float | None = None) -> tuple[np.ndarray, np.ndarray, float] | None:
        """The best ``(W, b, c)`` with activation pattern ``on`` (N, H); ``None`` when the LP did not end optimal
        (``time_limit``, seconds, reached)."""
        import highspy

        inf = highspy.kHighsInf
        active = np.asarray(on, dtype=bool).T.reshape(-1)           # unit-major, as the rows
        m = len(self._rows)
        self.highs.changeRowsBounds(m, self._rows, np.where(active, 0.0, -inf), np.zeros(m))
        self.highs.changeColsBounds(m, self._cols, np.zeros(m), np.where(active, inf, 0.0))
        # HiGHS (before 2.0) compares its time_limit with the instance's run time summed over every run(): the
        # limit of this solve is that sum plus the seconds given
        self.highs.setOptionValue("time_limit", inf if time_limit is None
                                  else self.highs.getRunTime() + max(float(time_limit), 1e-3))
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(self.highs.getSolution().col_value, dtype=float)
        return x[:self.h * self.d].reshape(self.h, self.d), x[self.ib:self.ib + self.h], float(x[self.ic])


def _polish_lp(lp: PolishLP, on: np.ndarray, time_limit: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """One LP polishing: the best network with activation pattern ``on`` (see :class:`PolishLP`); ``time_limit``:
    seconds for the LP (stopped: ``None``, as for a failed LP)."""
    return lp.solve(on, time_limit)


#: relative gain below which an LP polishing round counts as stale (two stale rounds in a row end the polishing of a
#: restart): on the full breast-cancer data with 4 hidden units, 15% fewer LPs than stopping only at no gain, and the
#: same best start (bench/RESULTS.md, "Launch to first progress")
POLISH_TOL = 1e-3


def sign_output_starts(template: Network, X: np.ndarray, y: np.ndarray, config: TrainConfig,
                       restarts: int = 4, epochs: int = 400, lr: float = 0.03, polish_rounds: int = 20,
                       polish_tol: float = POLISH_TOL,
                       into: dict | None = None, progress: TrainProgress | None = None,
                       polish_clock: Clock | None = None) -> dict[int, tuple[Network, float]]:
    """Warm starts for a one-hidden-layer network with ``sign`` output weights, one per output-sign pattern.

    By symmetry the output signs can be taken sorted descending, so pattern ``k`` has ``k`` units with ``+1``
    and ``H - k`` with ``-1``. For each pattern: projected Adam from ``restarts`` random starts (weights stay
    in their boxes, so no rescaling is needed). Then LP polishing of those starts, over all patterns, the most
    promising (lowest objective) first: with the activation pattern of the current network fixed, the best weights
    are an LP (:class:`PolishLP`, one HiGHS instance per pattern, re-solved warm); repeat while it improves by more
    than ``polish_tol`` (relative; two rounds below it end the polishing of a start), at most ``polish_rounds``
    times. Every candidate is feasible and is scored by its exact objective; returns ``{k: (network, objective)}``
    with units ordered by bias within each sign group (the symmetry order of the formulation).

    ``into``: a dict filled as the search goes (pattern ``k``'s best network so far, each time it improves), so that
    a caller interrupted by Ctrl-C keeps every start found. ``progress`` hears of each step as it starts (each
    pattern's gradient restarts, each start's LP polishing and its rounds) and of each better objective.
    ``polish_clock``: once it is out of time, no more LP polishing (every pattern already has its gradient starts,
    a fraction of a second each, computed before any polishing).
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

    signs = [np.array([1.0] * k + [-1.0] * (h - k)) for k in range(h + 1)]
    kept = [math.inf] * (h + 1)     # the objective of out[k] (a candidate kept at once, in case of Ctrl-C)
    # 1. the gradient starts of every pattern (a fraction of a second each), in a fixed order (the random stream)
    starts: list[tuple[float, int, int, tuple]] = []      # (objective, k, restart, (W, b, c))
    for k, v in enumerate(signs):
        if progress is not None:
            progress.enter(Phase.WARM_START, k, f"{restarts} gradient restarts")
        for restart in range(restarts):
            if progress is not None:
                progress.emit(f"restart {restart + 1} of {restarts}: gradient training")
            W, b, c = _projected_adam(X2, s, v, l1, omega, omega_b, rng, epochs, lr)
            f = _sign_objective(W, b, v, c, X2, s, l1)
            starts.append((f, k, restart, (W, b, c)))
            if f < kept[k]:
                kept[k] = f
                keep(k, v, (f, _clipped(W, b, c, omega, omega_b)), f"restart {restart + 1} of {restarts}")
    best: dict[int, tuple[float, tuple]] = {}
    for f, k, _, (W, b, c) in starts:
        if k not in best or f < best[k][0]:
            best[k] = (f, _clipped(W, b, c, omega, omega_b))
    # 2. LP polishing, the most promising start first (lowest objective, over all patterns): under a time limit the
    # polishing that stops early has done the starts most likely to give the best network
    lps: dict[int, PolishLP] = {}   # one per pattern, built at its first polishing, re-solved warm after that
    for rank, (f, k, restart, (W, b, c)) in enumerate(sorted(starts, key=lambda e: (e[0], e[1], e[2]))):
        if polish_clock is not None and polish_clock.out():
            break
        v = signs[k]
        what = f"LP polishing of restart {restart + 1} ({rank + 1} of {len(starts)})"
        if progress is not None:
            progress.enter(Phase.WARM_START, k, what)
        stale = 0
        for r in range(polish_rounds):
            if polish_clock is not None and polish_clock.out():
                break
            if progress is not None and r:
                progress.emit(f"{what}, round {r + 1}")
            if k not in lps:
                lps[k] = PolishLP(X2, s, v, l1, omega, omega_b)
            # units at z = 0 (on the LP's boundary) are assigned off, then on, alternately: the current network is
            # feasible for both patterns, so each LP can only improve on it
            res = _polish_lp(lps[k], X2 @ W.T + b > (1e-9 if r % 2 == 0 else -1e-9),
                             None if polish_clock is None else polish_clock.left())
            f2 = math.inf if res is None else _sign_objective(*res[:2], v, res[2], X2, s, l1)
            improved = f2 < f - 1e-12
            # a round that gains less than polish_tol (relative) counts as stale, like one that gains nothing
            stale = 0 if improved and f2 <= f - polish_tol * f else stale + 1
            if improved:
                (W, b, c), f = res, f2
                if f < kept[k]:
                    kept[k] = f
                    keep(k, v, (f, _clipped(W, b, c, omega, omega_b)), f"{what}, round {r + 1}")
            if stale >= 2:
                break
        if f < best[k][0]:
            best[k] = (f, _clipped(W, b, c, omega, omega_b))
    for k, v in enumerate(signs):
        keep(k, v, best[k], "best of the restarts")
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
