"""The training MIP (DESIGN.md section 2): weights are variables, the data are constants.

One encoder serves dense and convolutional layers: an affine layer computes
``z[i, o, p] = sum_e W[o, e] * in[i, emap[p, e]] + b[o]`` where ``emap`` lists, for each output position ``p``,
which inputs meet weight column ``e`` (a dense layer has one position and ``emap = arange(in)``; a convolution
has one position per output pixel and its patch indices). Where the input is data the product is linear in
the weights; where it is a bounded activation and the weight discrete, the product is linearised exactly
through the weight's binaries.

When a warm-start network is given, every encoder also computes the value of each variable it creates from
the forward pass, so that :meth:`TrainingFormulation.start_vector` is a feasible MIP start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnet.errors import SettingsError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, gather_windows
from mipnet.mip import MIPModel
from mipnet.network import Network
from mipnet.train.bounds import affine_bound
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.losses import Hinge, Loss, Misclassification, _binary_sign
from mipnet.train.structure import is_gateable


@dataclass
class Act:
    """One layer's values for every sample, flattened per sample to ``(N, D)``.

    ``idx`` holds variable indices (``None`` when the values are data constants), ``lo``/``hi`` their bounds
    and ``val`` their warm-start values (``None`` without a warm start).
    """

    idx: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray
    val: np.ndarray | None

    @property
    def const(self) -> bool:
        return self.idx is None


@dataclass
class WeightBlock:
    """The variables of one affine layer's weights, shape ``(out, E)``."""

    layer: Dense | Conv2D
    domain: WeightDomain
    mag: float
    prunable: bool
    W: np.ndarray
    b: np.ndarray | None
    beta: np.ndarray | None = None
    c0: float = 0.0
    coef: np.ndarray | None = None
    absw: np.ndarray | None = None
    nz: np.ndarray | None = None
    gate: np.ndarray | None = None
    warm: tuple = (None, None)
    filter_gate: np.ndarray | None = None
    layer_gate: int | None = None
    fixed: np.ndarray | None = None


def is_prunable(template: Network, config: TrainConfig, layer: Layer) -> bool:
    """Whether a layer's weights must be able to be 0 (L0 indicators or gates act on it)."""
    c = config
    gated = (c.neuron_penalty > 0 or c.max_neurons) and layer is not template.affine_layers()[-1] \
        and isinstance(layer, Dense)
    input_gated = (c.input_penalty > 0 or c.max_inputs) and layer is template.layers[0]
    filter_gated = c.filter_gates and isinstance(layer, Conv2D)
    layer_gated = c.layer_gates and is_gateable(template, layer)
    return bool(c.l0 > 0 or gated or input_gated or filter_gated or layer_gated)


def emap_of(layer: Layer) -> np.ndarray:
    """For an affine layer, the ``(P, E)`` map from (output position, weight column) to flat input index."""
    if isinstance(layer, Dense):
        return np.arange(layer.in_shape[0])[None, :]
    if isinstance(layer, Conv2D):
        return layer.patch_index()
    raise TypeError(f"{layer!r} is not affine")


class TrainingFormulation:
    """Build the training MIP for a network template, data and options.

    Parameters
    ----------
    template : Network
        Architecture (weights, if any, are ignored).
    X : ndarray, shape ``(N, *input_shape)``
    y : ndarray
        Encoded targets: class indices for classification, ``(N, K)`` floats for regression.
    loss : Loss
    config : TrainConfig
    domains : list of WeightDomain
        One per affine layer.
    warm : Network or None
        A network on the weight domains whose forward pass gives a MIP start.
    incumbent : float or None
        Objective value of a known solution (enables the budget bound rule).
    output_signs : ndarray or None
        Fix the output layer's sign weights to these values (one per hidden unit): one sub-problem of the exact
        decomposition by output signs (see :mod:`mipnet.train.decompose`). Needs one hidden Dense layer and a
        single output with non-prunable ``sign`` weights. With a binary hinge or misclassification loss, each
        ReLU then keeps only the side of its constraints the objective can push against (see :meth:`_relu`).
    z_bounds : tuple of ndarray or None
        ``(lo, hi)``, shape ``(N, units)``: bounds on the first layer's pre-activations, intersected with the
        default ones (the caller vouches for their validity, e.g. :mod:`mipnet.train.obbt`).
    """

    def __init__(self, template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                 domains: list[WeightDomain], warm: Network | None = None, incumbent: float | None = None,
                 output_signs: np.ndarray | None = None,
                 z_bounds: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.template, self.loss, self.config, self.domains = template, loss, config, domains
        self.X = template.check_input(X).reshape(len(X), -1)
        self.y = y
        self.n = self.X.shape[0]
        self.m = MIPModel()
        self.blocks: list[WeightBlock] = []
        self._start: list[tuple[np.ndarray, np.ndarray]] = []
        self.warm = warm
        self.affine_layers = template.affine_layers()
        if len(domains) != len(self.affine_layers):
            raise SettingsError(f"{len(domains)} weight domains for {len(self.affine_layers)} affine layers")
        self._check_domains()
        self.output_signs = self._check_output_signs(output_signs)
        self.z_bounds = z_bounds
        self.first_z: Act | None = None
        self.first_a: Act | None = None
        self.abs_bias: np.ndarray | None = None
        self.first_direction: np.ndarray | None = None
        self.budget = self._budget(incumbent)
        self._build()

    # ------------------------------------------------------------------------------------------ set-up
    def _check_domains(self) -> None:
        on_data = True
        for layer, dom in zip(self.template.layers, self._domains_by_layer()):
            if layer.is_affine:
                if dom.kind == "continuous" and not on_data:
                    raise SettingsError(
                        "continuous weights are exact as a MILP only where the layer's input is data (the first "
                        "affine layer); for later layers choose a discrete domain (sign, ternary, grid(bits)) or "
                        "'continuous-bilinear' with solver='scip'")
                on_data = False

    def _check_output_signs(self, signs: np.ndarray | None) -> np.ndarray | None:
        if signs is None:
            return None
        signs = np.asarray(signs, dtype=float).reshape(-1)
        layers, last = self.template.layers, self.affine_layers[-1]
        ok = (len(layers) == 2 and all(isinstance(layer, Dense) for layer in layers) and last.units == 1
              and self.domains[-1].kind == "sign" and not self._prunable(last) and len(signs) == layers[0].units
              and np.all(np.abs(signs) == 1.0))
        if not ok:
            raise SettingsError("output_signs needs one hidden Dense layer, a single output with non-prunable sign "
                                "weights, and one value in {-1, +1} per hidden unit")
        return signs

    def _relu_direction(self, layer: Layer) -> np.ndarray | None:
        """Per (sample, unit): +1 where the objective cannot increase when ``a`` grows, -1 where it cannot
        decrease, ``None`` when unknown. Known only with fixed output signs ``v`` and a loss that is a
        nonincreasing function of the margin ``s_i * o_i`` (binary hinge, misclassification), where
        ``o_i = sum_j v_j a_ij + c``: the direction of ``a_ij`` is ``s_i * v_j``."""
        if self.output_signs is None or layer is not self.template.layers[0]:
            return None
        if not self.config.extra.get("one_sided_relu", True):
            return None
        if not isinstance(self.loss, (Hinge, Misclassification)):
            return None
        s = _binary_sign(np.asarray(self.y).reshape(-1))
        return s[:, None] * self.output_signs[None, :]

    def _margin_cap(self, direction: np.ndarray | None) -> np.ndarray | None:
        """Upper bound on useful activations (binary hinge with fixed output signs), per (sample, unit).

        In the one-sided model (see :meth:`_relu`) an activation with direction +1 may be lowered freely; lowering
        those of sample ``i`` until its margin ``s_i o_i`` is at most 1 leaves its hinge term at 0, and setting
        them all to 0 gives a margin ``-(hurting activations) + s_i c <= omega_b``... so some optimal solution has
        ``s_i o_i <= 1`` for every ``i`` (a row added with the loss). A sample with no direction -1 unit then
        has ``sum_j a_ij = s_i o_i - s_i c <= 1 + omega_b``: that caps each of its activations.
        """
        if direction is None or not isinstance(self.loss, Hinge) or not self.config.extra.get("margin_cap", True):
            return None
        cap = np.full(direction.shape, np.inf)
        no_hurt = (direction >= 0).all(1)
        cap[no_hurt] = 1.0 + self.config.omega_b
        return cap

    def _domains_by_layer(self) -> list[WeightDomain | None]:
        it = iter(self.domains)
        return [next(it) if layer.is_affine else None for layer in self.template.layers]

    def _is_hidden(self, layer: Layer) -> bool:
        return layer is not self.affine_layers[-1]

    def _prunable(self, layer: Layer) -> bool:
        return is_prunable(self.template, self.config, layer)

    def _budget(self, incumbent: float | None) -> float | None:
        c = self.config
        if c.bounds != "budget" or c.l1 <= 0 or incumbent is None or not np.isfinite(incumbent):
            return None
        fixed = 0.0
        for layer, dom in zip(self.affine_layers, self.domains):
            if dom.kind == "sign" and not self._prunable(layer):
                fixed += c.l1 * self._n_weights(layer)
        # tiny slack so the incumbent itself stays feasible after rounding
        return max(incumbent - fixed, 0.0) / c.l1 * (1 + 1e-7) + 1e-9

    @staticmethod
    def _n_weights(layer: Dense | Conv2D) -> int:
        return int(np.prod(layer.out_shape[:1])) * emap_of(layer).shape[1]

    def _record(self, idx: np.ndarray, values: np.ndarray | None) -> None:
        if self.warm is not None and values is not None:
            self._start.append((np.asarray(idx).reshape(-1), np.broadcast_to(values, np.shape(idx)).reshape(-1)))

    # ------------------------------------------------------------------------------------------- build
    def _build(self) -> None:
        warm_layers = self.warm.layers if self.warm is not None else [None] * len(self.template.layers)
        act = Act(None, self.X, self.X, self.X if self.warm is not None else None)
        self._check_structure()
        for layer, dom, wl in zip(self.template.layers, self._domains_by_layer(), warm_layers):
            if layer.is_affine:
                prev = act
                block = self._weights(layer, dom, wl)
                act = self._affine(layer, block, act)
                if layer.relu:
                    direction = self._relu_direction(layer)
                    z_act, act = act, self._relu(act, direction, self._margin_cap(direction))
                    if layer is self.template.layers[0]:
                        self.first_z, self.first_a, self.first_direction = z_act, act, direction
                    if direction is not None:
                        self._add_secant_rows(block, z_act, act, direction >= 0)
                        self._add_pair_rows(block, z_act, act, direction)
                if block.layer_gate is not None:
                    act = self._layer_skip(block, prev, act)
            elif isinstance(layer, Flatten):
                continue
            elif isinstance(layer, MaxPool2D):
                act = self._maxpool(layer, act)
            elif isinstance(layer, AvgPool2D):
                act = self._avgpool(layer, act)
            else:
                raise SettingsError(f"layer {layer!r} is not supported in training")
        self.out = act
        self._add_layer_limit()
        self._add_input_gates()
        self._add_symmetry()
        self._add_budget_row()
        self._add_loss()

    def _weights(self, layer: Dense | Conv2D, dom: WeightDomain, warm_layer: Layer | None) -> WeightBlock:
        m, c = self.m, self.config
        out = layer.out_shape[0]
        n_e = emap_of(layer).shape[1]
        prunable = self._prunable(layer)
        mag = dom.magnitude(c.weight_bound)
        W = m.add_vars((out, n_e), -mag, mag)
        b = m.add_vars(out, -c.omega_b, c.omega_b) if layer.bias_on else None
        blk = WeightBlock(layer, dom, mag, prunable, W, b)
        if self.output_signs is not None and layer is self.affine_layers[-1]:
            blk.fixed = self.output_signs[None, :]
            m.set_bounds(W, blk.fixed, blk.fixed)
        wv = bv = None
        if warm_layer is not None:
            wv = warm_layer.weight.reshape(out, -1)
            bv = warm_layer.bias if warm_layer.bias is not None else np.zeros(out)
            self._record(W, wv)
            if b is not None:
                self._record(b, bv)
        if dom.discrete and blk.fixed is None:
            c0, coef = dom.encoding(c.weight_bound, prunable)
            t = len(coef)
            beta = m.add_binaries((out, n_e, t))
            blk.beta, blk.c0, blk.coef = beta, c0, coef
            # W - sum_t coef_t beta_t = c0
            m.add_rows(np.concatenate([W[..., None], beta], -1), np.concatenate([[1.0], -coef]), lo=c0, hi=c0)
            if t == 2 and dom.kind in ("sign", "ternary"):
                m.add_rows(beta, [1.0, 1.0], hi=1.0)
            elif dom.kind == "grid" and 2 * dom.grid_k + 1 < 2 ** dom.bits:
                m.add_rows(beta, 2.0 ** np.arange(t), hi=2 * dom.grid_k)
            if wv is not None:
                self._record(beta, dom.binaries_of(wv, c.weight_bound, prunable))
        # L1: |w| through absw >= +-w
        if c.l1 > 0:
            if dom.kind == "sign" and not prunable:
                m.obj_constant += c.l1 * W.size
            else:
                blk.absw = m.add_vars(W.shape, 0.0, mag)
                m.add_rows(np.stack([blk.absw, W], -1), [1.0, -1.0], lo=0.0)
                m.add_rows(np.stack([blk.absw, W], -1), [1.0, 1.0], lo=0.0)
                m.add_objective(blk.absw, c.l1)
                self._record(blk.absw, None if wv is None else np.abs(wv))
        # L2: linear in the binaries for sign and ternary, quadratic otherwise
        if c.l2 > 0:
            if dom.kind == "sign" and not prunable:
                m.obj_constant += c.l2 * W.size
            elif dom.kind in ("sign", "ternary"):
                m.add_objective(blk.beta, c.l2 * mag ** 2)
            else:
                m.add_quadratic_objective(W, c.l2)
        # L0: nonzero indicators |w| <= mag * s
        if c.l0 > 0:
            blk.nz = m.add_binaries(W.shape)
            self._big_m_link(W, blk.nz, mag)
            m.add_objective(blk.nz, c.l0)
            self._record(blk.nz, None if wv is None else (np.abs(wv) > 0).astype(float))
        # neuron gates: a gated-off unit has all incoming weights and its bias at 0
        if self._is_hidden(layer) and (c.neuron_penalty > 0 or c.max_neurons) and isinstance(layer, Dense):
            blk.gate = m.add_binaries(out)
            self._big_m_link(W, np.repeat(blk.gate[:, None], n_e, 1), mag)
            if b is not None:
                self._big_m_link(b, blk.gate, c.omega_b)
            m.add_objective(blk.gate, c.neuron_penalty)
            if c.max_neurons:
                m.add_rows(blk.gate[None, :], 1.0, hi=c.max_neurons)
            if wv is not None:
                self._record(blk.gate, ((np.abs(wv) > 0).any(1) | (np.abs(bv) > 0)).astype(float))
        self._structure_gates(blk, warm_layer)
        self.blocks.append(blk)
        blk.warm = (wv, bv)
        return blk

    def _big_m_link(self, v: np.ndarray, s: np.ndarray, big: float) -> None:
        """``-big * s <= v <= big * s`` elementwise."""
        self.m.add_rows(np.stack([s, v], -1), [big, -1.0], lo=0.0)
        self.m.add_rows(np.stack([s, v], -1), [big, 1.0], lo=0.0)

    def _affine(self, layer: Dense | Conv2D, blk: WeightBlock, act: Act) -> Act:
        m, c = self.m, self.config
        emap = emap_of(layer)  # (P, E)
        n, (p, n_e) = self.n, emap.shape
        out = layer.out_shape[0]
        mag_in = gather_windows(np.maximum(np.abs(act.lo), np.abs(act.hi)), emap)  # (N, P, E), 0 on padding
        width = affine_bound(mag_in, blk.mag, self.budget)  # (N, P)
        bias = c.omega_b if blk.b is not None else 0.0
        hi = np.broadcast_to((width + bias)[:, None, :], (n, out, p))
        lo = -hi
        if self.z_bounds is not None and layer is self.template.layers[0] and p == 1:
            lo = np.maximum(lo, self.z_bounds[0].reshape(n, out, 1))
            hi = np.minimum(hi, self.z_bounds[1].reshape(n, out, 1))
        z = m.add_vars((n, out, p), lo, hi)
        b_cols = np.broadcast_to((blk.b if blk.b is not None else np.full(out, -1))[None, :, None, None],
                                 (n, out, p, 1))
        z_cols = z[..., None]
        wv, bv = blk.warm
        if act.const:
            xp = gather_windows(act.lo, emap)  # (N, P, E)
            w_cols = np.broadcast_to(blk.W[None, :, None, :], (n, out, p, n_e))
            coefs = np.concatenate([np.ones((n, out, p, 1)), -np.broadcast_to(xp[:, None], (n, out, p, n_e)),
                                    -np.ones((n, out, p, 1))], -1)
            m.add_rows(np.concatenate([z_cols, w_cols, b_cols], -1), coefs, lo=0.0, hi=0.0)
        elif blk.fixed is not None:  # weights fixed: z = sum_e w_e a_e + b is linear
            a_cols = gather_windows(act.idx.astype(float), emap, fill=-1).astype(np.int64)  # (N, P, E)
            cols = np.concatenate([z_cols, np.broadcast_to(a_cols[:, None], (n, out, p, n_e)), b_cols], -1)
            coefs = np.concatenate([np.ones((n, out, p, 1)),
                                    np.broadcast_to(-blk.fixed[None, :, None, :], (n, out, p, n_e)),
                                    -np.ones((n, out, p, 1))], -1)
            m.add_rows(cols, coefs, lo=0.0, hi=0.0)
        elif blk.domain.discrete:
            self._discrete_product(blk, act, emap, z)
        elif blk.domain.kind == "continuous-bilinear":
            self._bilinear_product(blk, act, emap, z, mag_in)
        else:  # guarded in _check_domains
            raise SettingsError("continuous weights on a non-data input")
        zval = None
        if act.val is not None:
            xp = gather_windows(act.val, emap)
            zval = np.einsum("npe,oe->nop", xp, wv) + bv[None, :, None]
            self._record(z, zval)
        flat = lambda a: None if a is None else a.reshape(n, out * p)  # noqa: E731  (C, H, W) order
        return Act(flat(z), flat(lo), flat(hi), flat(zval))

    def _discrete_product(self, blk: WeightBlock, act: Act, emap: np.ndarray, z: np.ndarray) -> None:
        """``z = sum_e (c0 + sum_t coef_t beta_et) * a_e + b`` with ``r = beta * a`` linearised exactly."""
        m = self.m
        n, out, p = z.shape
        n_e, t = emap.shape[1], len(blk.coef)
        a_idx = gather_windows(act.idx.astype(float), emap, fill=-1).astype(np.int64)  # (N, P, E)
        lo = gather_windows(act.lo, emap)
        hi = gather_windows(act.hi, emap)
        live = (a_idx >= 0) & ((hi > 0) | (lo < 0))  # (N, P, E)
        ii, pp, ee = np.nonzero(live)
        k = len(ii)
        # r[k, o, t] = beta[o, e_k, t] * a[i_k, p_k, e_k]
        lo_k, hi_k = lo[ii, pp, ee], hi[ii, pp, ee]
        r_lo = np.minimum(lo_k, 0.0)[:, None, None] * np.ones((1, out, t))
        r_hi = np.maximum(hi_k, 0.0)[:, None, None] * np.ones((1, out, t))
        r = m.add_vars((k, out, t), r_lo, r_hi)
        beta = blk.beta[:, ee, :].transpose(1, 0, 2)  # (k, out, t)
        a = np.broadcast_to(a_idx[ii, pp, ee][:, None, None], r.shape)
        L = np.broadcast_to(lo_k[:, None, None], r.shape)
        U = np.broadcast_to(hi_k[:, None, None], r.shape)
        one = np.ones(r.shape)
        # r <= U beta ; r >= L beta ; r <= a - L (1 - beta) ; r >= a - U (1 - beta)
        m.add_rows(np.stack([r, beta], -1), np.stack([one, -U], -1), hi=0.0)
        m.add_rows(np.stack([r, beta], -1), np.stack([one, -L], -1), lo=0.0)
        m.add_rows(np.stack([r, a, beta], -1), np.stack([one, -one, -L], -1), hi=-L)
        m.add_rows(np.stack([r, a, beta], -1), np.stack([one, -one, -U], -1), lo=-U)
        # z - c0 * sum_e a - sum_{e,t} coef_t r - b = 0, gathered per (i, o, p)
        rows = np.full((n, out, p, n_e, t), -1, dtype=np.int64)
        rows[ii, :, pp, ee, :] = r
        a_cols = np.where(live, a_idx, -1)  # (N, P, E)
        cols = np.concatenate([z[..., None], np.broadcast_to(a_cols[:, None], (n, out, p, n_e)),
                               rows.reshape(n, out, p, n_e * t),
                               np.broadcast_to((blk.b if blk.b is not None else np.full(out, -1))[None, :, None, None],
                                               (n, out, p, 1))], -1)
        coefs = np.concatenate([np.ones((n, out, p, 1)), np.full((n, out, p, n_e), -blk.c0),
                                np.broadcast_to(-np.tile(blk.coef, n_e), (n, out, p, n_e * t)),
                                -np.ones((n, out, p, 1))], -1)
        m.add_rows(cols, coefs, lo=0.0, hi=0.0)
        if act.val is not None:
            bval = blk.domain.binaries_of(blk.warm[0], self.config.weight_bound, blk.prunable)  # (out, E, t)
            aval = gather_windows(act.val, emap)[ii, pp, ee]
            self._record(r, bval[:, ee, :].transpose(1, 0, 2) * aval[:, None, None])

    def _bilinear_product(self, blk: WeightBlock, act: Act, emap: np.ndarray, z: np.ndarray,
                          mag_in: np.ndarray) -> None:
        """``t = W * a`` as nonconvex bilinear equalities (SCIP's spatial branch-and-bound)."""
        m = self.m
        n, out, p = z.shape
        a_idx = gather_windows(act.idx.astype(float), emap, fill=-1).astype(np.int64)
        ii, pp, ee = np.nonzero((a_idx >= 0) & (mag_in > 0))
        bound = blk.mag * mag_in[ii, pp, ee][:, None] * np.ones((1, out))
        t = m.add_vars((len(ii), out), -bound, bound)
        m.add_bilinear(t, np.broadcast_to(blk.W[:, ee].T, t.shape),
                       np.broadcast_to(a_idx[ii, pp, ee][:, None], t.shape))
        rows = np.full((n, out, p, emap.shape[1]), -1, dtype=np.int64)
        rows[ii, :, pp, ee] = t
        b_idx = blk.b if blk.b is not None else np.full(out, -1)
        b_cols = np.broadcast_to(b_idx[None, :, None, None], (n, out, p, 1))
        cols = np.concatenate([z[..., None], rows, b_cols], -1)
        coefs = np.concatenate([np.ones((n, out, p, 1)), -np.ones(rows.shape), -np.ones((n, out, p, 1))], -1)
        m.add_rows(cols, coefs, lo=0.0, hi=0.0)
        if act.val is not None:
            aval = gather_windows(act.val, emap)[ii, pp, ee]
            self._record(t, blk.warm[0][:, ee].T * aval[:, None])

    def _relu(self, z: Act, direction: np.ndarray | None = None, cap: np.ndarray | None = None) -> Act:
        """``a = max(z, 0)`` with per-entry bounds; stable entries get no binary.

        With a ``direction`` (see :meth:`_relu_direction`) each entry keeps one side only. Where the objective
        cannot decrease as ``a`` grows (-1) only the convex side ``a >= max(z, 0)`` is kept (no binary); where it
        cannot increase (+1) only ``a <= max(z, 0)`` (binary). Valid: this relaxes the feasible set, and from any
        solution of the relaxation setting every ``a`` to ``max(z, 0)`` moves each entry in the direction that
        does not increase the objective, giving a solution of the original model that is at least as good
        with the same weights. So the optimal value is unchanged and the weights of an optimal solution are an
        optimal network (its outputs are recomputed by a forward pass). ``cap`` (see :meth:`_margin_cap`) lowers
        the big-M of one-sided (+1) entries.
        """
        m = self.m
        L, U = z.lo, z.hi
        a = m.add_vars(z.idx.shape, 0.0, np.maximum(U, 0.0))
        lower = upper = np.ones(z.idx.shape, dtype=bool)
        if direction is not None:
            lower, upper = direction <= 0, direction >= 0
        on = L >= 0
        unstable = (L < 0) & (U > 0)
        both = on & lower & upper
        if both.any():
            m.add_rows(np.stack([a[both], z.idx[both]], -1), [1.0, -1.0], lo=0.0, hi=0.0)
        if (on & ~both & lower).any():
            m.add_rows(np.stack([a[on & ~both & lower], z.idx[on & ~both & lower]], -1), [1.0, -1.0], lo=0.0)
        if (on & ~both & upper).any():
            m.add_rows(np.stack([a[on & ~both & upper], z.idx[on & ~both & upper]], -1), [1.0, -1.0], hi=0.0)
        if (unstable & lower).any():
            sel = unstable & lower
            m.add_rows(np.stack([a[sel], z.idx[sel]], -1), [1.0, -1.0], lo=0.0)                     # a >= z
        if (unstable & upper).any():
            sel = unstable & upper
            au, zu, Lu, Uz = a[sel], z.idx[sel], L[sel], U[sel]
            Uu = Uz if cap is None else np.minimum(Uz, cap[sel])
            d = m.add_binaries(au.shape)
            one = np.ones(au.shape)
            m.add_rows(np.stack([au, zu, d], -1), np.stack([one, -one, -Lu], -1), hi=-Lu)             # a <= z - L(1-d)
            m.add_rows(np.stack([au, d], -1), np.stack([one, -Uu], -1), hi=0.0)                       # a <= U d
            if direction is not None and self.config.extra.get("relu_indicator", False):
                # z <= U d: d is the side of the unit's hyperplane (d = 0 then means z <= 0, not only a = 0), so
                # branching on d splits the weight space. Valid for the optimum: a solution with d = 0 and z > 0
                # has a = 0 and stays feasible, with the same objective, when d is set to 1. Off by default:
                # measured slower (bench/RESULTS.md)
                m.add_rows(np.stack([zu, d], -1), np.stack([one, -Uz], -1), hi=0.0)
            if z.val is not None:
                self._record(d, (z.val[sel] > 0).astype(float))
        aval = None if z.val is None else np.maximum(z.val, 0.0)
        if aval is not None and cap is not None:
            aval = self._lower_start(aval, direction)
        self._record(a, aval)
        return Act(a, np.maximum(L, 0.0), np.maximum(U, 0.0), aval)

    # ------------------------------------------------------------------- pooling and structure gates
    def _check_structure(self) -> None:
        c, t = self.config, self.template
        if c.filter_gates and not any(isinstance(layer, Conv2D) for layer in t.layers):
            raise SettingsError("filter_penalty / max_filters need a Conv2D layer in the architecture")
        if c.layer_gates and not any(is_gateable(t, layer) for layer in t.layers):
            raise SettingsError("layer_penalty / max_layers need a hidden Dense or Conv2D layer whose output shape "
                                "equals its input shape (a gated-off layer passes its input through)")

    def _structure_gates(self, blk: WeightBlock, warm_layer: Layer | None) -> None:
        """Filter gates (one per output channel of a convolution) and the layer gate of a shape-preserving layer."""
        m, c, layer = self.m, self.config, blk.layer
        out, n_e = blk.W.shape
        wv = bv = None
        if warm_layer is not None:
            wv = warm_layer.weight.reshape(out, -1)
            bv = warm_layer.bias if warm_layer.bias is not None else np.zeros(out)
        if c.filter_gates and isinstance(layer, Conv2D):
            f = m.add_binaries(out)
            self._gate_link(blk, np.repeat(f[:, None], n_e, 1))
            if blk.b is not None:
                self._big_m_link(blk.b, f, c.omega_b)
            m.add_objective(f, c.filter_penalty)
            if c.max_filters:
                m.add_rows(f[None, :], 1.0, hi=c.max_filters)
            blk.filter_gate = f
            if wv is not None:
                self._record(f, ((np.abs(wv) > 0).any(1) | (np.abs(bv) > 0)).astype(float))
        if c.layer_gates and is_gateable(self.template, layer):
            u = int(m.add_binaries(1)[0])
            self._gate_link(blk, np.full(blk.W.shape, u))
            if blk.b is not None:
                self._big_m_link(blk.b, np.full(out, u), c.omega_b)
            if blk.filter_gate is not None:  # f_c <= u: a skipped layer has no active filter
                m.add_rows(np.stack([blk.filter_gate, np.full(out, u)], -1), [1.0, -1.0], hi=0.0)
            m.add_objective(np.array([u]), c.layer_penalty)
            blk.layer_gate = u
            if warm_layer is not None:
                self._record(np.array([u]), np.array([float(warm_layer.active)]))

    def _gate_link(self, blk: WeightBlock, gate: np.ndarray) -> None:
        """Weights are 0 where ``gate`` (shaped like ``W``) is 0. For sign and ternary weights encoded by two
        binaries ``w = c (p - q)`` this is ``p + q <= gate`` (tighter than ``|w| <= mag * gate``)."""
        if blk.beta is not None and blk.beta.shape[-1] == 2 and blk.domain.kind in ("sign", "ternary"):
            self.m.add_rows(np.concatenate([blk.beta, gate[..., None]], -1), [1.0, 1.0, -1.0], hi=0.0)
        else:
            self._big_m_link(blk.W, gate, blk.mag)

    def _layer_skip(self, blk: WeightBlock, prev: Act, cur: Act) -> Act:
        """``a = r + s``: ``r`` is the layer's own output (0 when ``u = 0``: its weights and bias are 0) and the
        skip path ``s`` equals the layer's input when ``u = 0`` and 0 when ``u = 1``."""
        m, u = self.m, blk.layer_gate
        n, d = cur.lo.shape
        uu = np.full((n, d), u)
        one = np.ones((n, d))
        lp, up = np.minimum(prev.lo, 0.0), np.maximum(prev.hi, 0.0)
        s = m.add_vars((n, d), lp, up)
        if prev.const:  # s = x (1 - u)
            m.add_rows(np.stack([s, uu], -1), np.stack([one, prev.lo], -1), lo=prev.lo, hi=prev.lo)
        else:
            m.add_rows(np.stack([s, uu], -1), np.stack([one, up], -1), hi=up)                       # s <= U+(1-u)
            m.add_rows(np.stack([s, uu], -1), np.stack([one, lp], -1), lo=lp)                       # s >= L-(1-u)
            m.add_rows(np.stack([s, prev.idx, uu], -1), np.stack([one, -one, up], -1), lo=0.0)      # s >= a - U+ u
            m.add_rows(np.stack([s, prev.idx, uu], -1), np.stack([one, -one, lp], -1), hi=0.0)      # s <= a - L- u
        lo, hi = np.minimum(cur.lo, prev.lo), np.maximum(cur.hi, prev.hi)
        a = m.add_vars((n, d), lo, hi)
        m.add_rows(np.stack([a, cur.idx, s], -1), [1.0, -1.0, -1.0], lo=0.0, hi=0.0)
        aval = None
        if cur.val is not None:
            on = float(blk.layer_gate is not None and self._warm_active(blk))
            sval = prev.val * (1.0 - on)
            aval = cur.val + sval
            self._record(s, sval)
            self._record(a, aval)
        return Act(a, lo, hi, aval)

    def _warm_active(self, blk: WeightBlock) -> bool:
        warm_affine = self.warm.affine_layers()
        return bool(warm_affine[self.blocks.index(blk)].active)

    @staticmethod
    def _pool_index(layer: MaxPool2D | AvgPool2D) -> np.ndarray:
        idx = layer.window_index()  # (C, P, K), no padding
        return idx.reshape(-1, idx.shape[-1])

    def _avgpool(self, layer: AvgPool2D, act: Act) -> Act:
        """Average pooling: one linear equality per sample and output entry."""
        win = self._pool_index(layer)  # (R, K)
        k = win.shape[1]
        lo, hi = act.lo[:, win].mean(-1), act.hi[:, win].mean(-1)
        val = None if act.val is None else act.val[:, win].mean(-1)
        if act.const:
            return Act(None, lo, hi, val)
        n, r = lo.shape
        mvar = self.m.add_vars((n, r), lo, hi)
        cols = np.concatenate([mvar[..., None], act.idx[:, win]], -1)
        self.m.add_rows(cols, np.concatenate([[1.0], np.full(k, -1.0 / k)]), lo=0.0, hi=0.0)
        self._record(mvar, val)
        return Act(mvar, lo, hi, val)

    def _maxpool(self, layer: MaxPool2D, act: Act) -> Act:
        """Max pooling with selector binaries; entries that can never be the maximum get none, and a window with
        one possible maximum gets an equality (a window of entries fixed at 0 gives 0)."""
        m = self.m
        win = self._pool_index(layer)
        L, U = act.lo[:, win], act.hi[:, win]  # (N, R, K)
        val = None if act.val is None else act.val[:, win].max(-1)
        if act.const:
            return Act(None, L.max(-1), U.max(-1), val)
        idx = act.idx[:, win]
        n, r, k = L.shape
        lstar, kstar = L.max(-1), L.argmax(-1)
        cand = U > lstar[..., None]
        cand[np.arange(n)[:, None], np.arange(r)[None, :], kstar] = True
        umax = U.max(-1)
        mvar = m.add_vars((n, r), lstar, umax)
        count = cand.sum(-1)
        single = count == 1
        if single.any():
            a_star = idx[np.arange(n)[:, None], np.arange(r)[None, :], kstar]
            m.add_rows(np.stack([mvar[single], a_star[single]], -1), [1.0, -1.0], lo=0.0, hi=0.0)
        ii, rr, kk = np.nonzero(cand & ~single[..., None])
        if len(ii):
            mk, ak, lk, uk = mvar[ii, rr], idx[ii, rr, kk], L[ii, rr, kk], umax[ii, rr]
            sig = m.add_binaries(len(ii))
            sel = np.full((n, r, k), -1, dtype=np.int64)
            sel[ii, rr, kk] = sig
            multi = ~single
            m.add_rows(sel[multi], 1.0, lo=1.0, hi=1.0)                                           # sum sigma = 1
            one = np.ones(len(ii))
            m.add_rows(np.stack([mk, ak], -1), [1.0, -1.0], lo=0.0)                              # m >= a_k
            big = uk - lk
            m.add_rows(np.stack([mk, ak, sig], -1), np.stack([one, -one, big], -1), hi=big)      # m <= a_k + M(1-s)
            if act.val is not None:
                v = np.where(cand, act.val[:, win], -np.inf)
                choice = np.zeros((n, r, k))
                choice[np.arange(n)[:, None], np.arange(r)[None, :], v.argmax(-1)] = 1.0
                self._record(sig, choice[ii, rr, kk])
        self._record(mvar, val)
        return Act(mvar, lstar, umax, val)

    def _add_layer_limit(self) -> None:
        gates = [blk.layer_gate for blk in self.blocks if blk.layer_gate is not None]
        if gates and self.config.max_layers is not None:
            self.m.add_rows(np.array(gates)[None, :], 1.0, hi=self.config.max_layers)

    def _apply_structure(self, blk: WeightBlock, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                         new: Layer) -> tuple[np.ndarray, np.ndarray | None]:
        """Zero the filters whose gate is off; mark a layer whose layer gate is off as inactive (weights 0)."""
        if blk.filter_gate is not None:
            on = x[blk.filter_gate] > 0.5
            w = np.where(on[:, None], w, 0.0)
            b = None if b is None else np.where(on, b, 0.0)
        if blk.layer_gate is not None:
            new.active = bool(x[blk.layer_gate] > 0.5)
            if not new.active:
                w = np.zeros_like(w)
                b = None if b is None else np.zeros_like(b)
        return w, b

    def _lower_start(self, aval: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Warm-start activations lowered where direction is +1 so that every margin ``s_i o_i`` is at most 1
        (the row of :meth:`_margin_cap`); the hinge terms stay 0 there, so the start's objective is unchanged."""
        v = self.output_signs
        c = float(self.warm.layers[-1].bias[0]) if self.warm.layers[-1].bias is not None else 0.0
        s = _binary_sign(np.asarray(self.y).reshape(-1))
        helpful = direction > 0
        margin = s * (aval @ v + c)
        excess = np.maximum(margin - 1.0, 0.0)
        total = (aval * helpful).sum(1)
        keep = np.where(total > 0, np.clip((total - excess) / np.where(total > 0, total, 1.0), 0.0, 1.0), 1.0)
        return np.where(helpful, aval * keep[:, None], aval)

    def _add_secant_rows(self, blk: WeightBlock, z: Act, a: Act, sel: np.ndarray) -> None:
        """``a_ij <= (z_ij + sum_e |x_ie| |w_je| + |b_j|) / 2`` for the first layer on data (``sel`` entries).

        Valid for every network: ``relu(z) = (z + |z|) / 2`` and ``|z_ij| <= sum_e |w_je| |x_ie| + |b_j|``; with
        ``t >= |w|`` (the L1 variables) and ``beta >= |b|`` the right side only grows. It ties the activations to
        the L1 term, so the LP relaxation can no longer fit the data with zero weights.
        """
        if blk.absw is None or blk.b is None or not isinstance(blk.layer, Dense):
            return
        if not self.config.extra.get("secant_rows", True):
            return
        m = self.m
        beta = m.add_vars(blk.b.shape, 0.0, self.config.omega_b)
        self.abs_bias = beta
        m.add_rows(np.stack([beta, blk.b], -1), [1.0, -1.0], lo=0.0)
        m.add_rows(np.stack([beta, blk.b], -1), [1.0, 1.0], lo=0.0)
        if blk.warm[1] is not None:
            self._record(beta, np.abs(blk.warm[1]))
        ii, jj = np.nonzero(sel)
        if not ii.size:
            return
        absx = np.abs(self.X)  # (N, E)
        cols = np.concatenate([a.idx[ii, jj][:, None], z.idx[ii, jj][:, None], blk.absw[jj], beta[jj][:, None]], 1)
        coefs = np.concatenate([np.ones((len(ii), 1)), np.full((len(ii), 1), -0.5), -0.5 * absx[ii],
                                np.full((len(ii), 1), -0.5)], 1)
        m.add_rows(cols, coefs, hi=0.0)

    def _add_pair_rows(self, blk: WeightBlock, z: Act, a: Act, direction: np.ndarray) -> None:
        """``a_hj - a_uj <= (w_j . (x_h - x_u) + sum_e |x_he - x_ue| |w_je|) / 2`` for sample pairs where unit
        ``j`` has direction +1 on ``h`` and -1 on ``u`` (first layer on data, one-sided ReLUs).

        Valid: there ``a_hj <= relu(z_hj)`` and ``a_uj >= relu(z_uj)``, and ``relu(p) - relu(q) <= relu(p - q)
        = (d + |d|) / 2`` with ``d = z_hj - z_uj = w_j . (x_h - x_u)`` (the bias cancels) and ``|d| <= sum_e
        |x_he - x_ue| t_je``. Separating two nearby samples of opposite roles costs L1 weight, which the LP
        relaxation otherwise ignores. Rows for each sample's ``k`` nearest samples of the other class
        (``config.extra["pair_rows"]``, default 8; 0 disables).
        """
        k = int(self.config.extra.get("pair_rows", 8))
        if k <= 0 or blk.absw is None or not isinstance(blk.layer, Dense):
            return
        s = _binary_sign(np.asarray(self.y).reshape(-1))
        pos, neg = np.flatnonzero(s > 0), np.flatnonzero(s < 0)
        if not pos.size or not neg.size:
            return
        dist = np.abs(self.X[pos][:, None, :] - self.X[neg][None, :, :]).sum(-1)  # (P, Q) L1 distances
        pairs = set()
        for r, i in enumerate(pos):
            pairs.update((int(i), int(neg[q])) for q in np.argsort(dist[r], kind="stable")[:k])
        for q, u in enumerate(neg):
            pairs.update((int(pos[r]), int(u)) for r in np.argsort(dist[:, q], kind="stable")[:k])
        pp = np.array(sorted(pairs), dtype=np.int64)  # (positive, negative)
        m = self.m
        for j in range(direction.shape[1]):
            # unit j has direction +1 on the samples whose sign matches its output sign
            h, u = (pp[:, 0], pp[:, 1]) if self.output_signs[j] > 0 else (pp[:, 1], pp[:, 0])
            dx = self.X[h] - self.X[u]
            n = len(h)
            # w_j . (x_h - x_u) written as z_hj - z_uj: 2 nonzeros instead of E
            cols = np.concatenate([a.idx[h, j][:, None], a.idx[u, j][:, None], z.idx[h, j][:, None],
                                   z.idx[u, j][:, None], np.broadcast_to(blk.absw[j], (n, blk.W.shape[1]))], 1)
            coefs = np.concatenate([np.ones((n, 1)), -np.ones((n, 1)), np.full((n, 1), -0.5),
                                    np.full((n, 1), 0.5), -0.5 * np.abs(dx)], 1)
            m.add_rows(cols, coefs, hi=0.0)

    # ------------------------------------------------------------------------------- global pieces
    def _add_input_gates(self) -> None:
        c, m = self.config, self.m
        first = self.template.layers[0]
        self.input_gate = None
        if not (c.input_penalty > 0 or c.max_inputs):
            return
        if not isinstance(first, Dense):
            raise SettingsError("input feature gates need a Dense first layer on flat features")
        blk = self.blocks[0]
        g = m.add_binaries(first.in_shape[0])
        self._big_m_link(blk.W, np.repeat(g[None, :], blk.W.shape[0], 0), blk.mag)
        m.add_objective(g, c.input_penalty)
        if c.max_inputs:
            m.add_rows(g[None, :], 1.0, hi=c.max_inputs)
        self.input_gate = g
        if blk.warm[0] is not None:
            self._record(g, (np.abs(blk.warm[0]) > 0).any(0).astype(float))

    def _add_symmetry(self) -> None:
        """Order the hidden neurons of each dense layer followed by a dense layer (valid: any permutation of
        a hidden layer's neurons, with their gates and outgoing weights, gives the same network)."""
        if not self.config.symmetry:
            return
        layers = self.template.layers
        for k, blk in enumerate(self.blocks[:-1]):
            nxt = self.blocks[k + 1]
            li = layers.index(blk.layer)
            if not (isinstance(blk.layer, Dense) and isinstance(layers[li + 1], Dense) and blk.b is not None
                    and blk.layer.relu and len(blk.b) > 1) or blk.layer_gate is not None:
                continue
            b = blk.b
            if nxt.fixed is not None:  # fixed output signs: order the units within each group of equal sign
                # (optional: measured slower with HiGHS, whose own symmetry detection handles the groups)
                if not self.config.extra.get("group_order", False):
                    continue
                same = np.flatnonzero(nxt.fixed[0, :-1] == nxt.fixed[0, 1:])
                if same.size:
                    self.m.add_rows(np.stack([b[same], b[same + 1]], -1), [1.0, -1.0], lo=0.0)   # b_j >= b_j+1
            elif nxt.layer.out_shape[0] == 1 and nxt.domain.discrete:
                v = nxt.W[0]
                step = float(np.min(np.diff(nxt.domain.levels(self.config.weight_bound, nxt.prunable))))
                big = 2 * self.config.omega_b / step
                self.m.add_rows(np.stack([v[:-1], v[1:]], -1), [1.0, -1.0], lo=0.0)              # v_j >= v_j+1
                self.m.add_rows(np.stack([b[:-1], b[1:], v[:-1], v[1:]], -1), [1.0, -1.0, big, -big], lo=0.0)
            else:
                self.m.add_rows(np.stack([b[:-1], b[1:]], -1), [1.0, -1.0], lo=0.0)              # b_j >= b_j+1

    def _add_budget_row(self) -> None:
        if self.budget is None:
            return
        absw = [blk.absw.reshape(-1) for blk in self.blocks if blk.absw is not None]
        if absw:
            cols = np.concatenate(absw)
            self.m.add_rows(cols[None, :], 1.0, hi=self.budget)

    def _add_loss(self) -> None:
        out = self.out
        self.loss_vars = self.loss.encode(self.m, out.idx, out.lo, out.hi, self.y)
        self.loss.objective(self.m, self.loss_vars, self.n)
        if self._margin_cap(self._relu_direction(self.template.layers[0])) is not None:  # s_i o_i <= 1 (valid: see
            s = _binary_sign(np.asarray(self.y).reshape(-1))                         # _margin_cap)
            self.m.add_rows(out.idx[:, :1], s[:, None], hi=1.0)
        if out.val is not None:
            self._record(self.loss_vars, self.loss.start(out.val, self.y))

    # --------------------------------------------------------------------------------------- results
    def start_vector(self) -> np.ndarray | None:
        """The warm start as a full variable vector (``None`` without a warm start)."""
        if self.warm is None:
            return None
        x = np.full(self.m.n_vars, np.nan)
        for idx, val in self._start:
            x[idx] = val
        missing = np.flatnonzero(np.isnan(x))
        if missing.size:  # variables left free by the encoding (e.g. unused gates): their lower bound
            lb, ub = self.m.bounds()
            x[missing] = np.clip(0.0, lb[missing], ub[missing])
        return x

    def extract(self, x: np.ndarray) -> Network:
        """The trained network read from a solution vector: discrete weights snapped to their levels,
        weights whose indicator or gate is off set to exactly 0."""
        layers = []
        it = iter(self.blocks)
        for layer in self.template.layers:
            new = _copy_layer(layer)
            if layer.is_affine:
                blk = next(it)
                w = x[blk.W]
                if blk.domain.discrete:
                    w = blk.domain.project(w, self.config.weight_bound, blk.prunable)
                if blk.nz is not None:
                    w = np.where(x[blk.nz] > 0.5, w, 0.0)
                b = x[blk.b] if blk.b is not None else None
                if blk.gate is not None:
                    on = x[blk.gate] > 0.5
                    w = np.where(on[:, None], w, 0.0)
                    if b is not None:
                        b = np.where(on, b, 0.0)
                w, b = self._apply_structure(blk, x, w, b, new)
                if blk is self.blocks[0] and self.input_gate is not None:
                    w = np.where(x[self.input_gate][None, :] > 0.5, w, 0.0)
                tiny = 1e-9 * max(blk.mag, 1.0)
                w = np.where(np.abs(w) <= tiny, 0.0, w)
                new.weight = w.reshape((layer.out_shape[0],) + _weight_tail(layer))
                new.bias = b if b is not None else None
            layers.append(new)
        return Network(layers, self.template.input_shape)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The MIP's output variables at ``x``: shape ``(N, K)``."""
        return x[self.out.idx]

    def fix_weights(self, net: Network) -> None:
        """Pin every weight (and its binaries) and bias to ``net``'s values (tests and what-if checks)."""
        for blk, layer in zip(self.blocks, net.affine_layers()):
            w = layer.weight.reshape(blk.W.shape)
            self.m.fix(blk.W, w)
            if blk.beta is not None:
                self.m.fix(blk.beta, blk.domain.binaries_of(w, self.config.weight_bound, blk.prunable))
            if blk.b is not None:
                self.m.fix(blk.b, layer.bias if layer.bias is not None else np.zeros(len(blk.b)))
            if blk.layer_gate is not None:
                self.m.fix(np.array([blk.layer_gate]), np.array([float(layer.active)]))


def _weight_tail(layer: Dense | Conv2D) -> tuple[int, ...]:
    if isinstance(layer, Conv2D):
        return (layer.in_shape[0], *layer.kernel)
    return (layer.in_shape[0],)


def _copy_layer(layer: Layer) -> Layer:
    """A fresh, unbuilt copy of a layer's hyper-parameters (no weights)."""
    from mipnet.layers import LAYER_TYPES

    cls = LAYER_TYPES[layer.kind]
    params = layer.params()
    return cls(**params) if params else cls()
