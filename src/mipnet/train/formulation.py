"""The training MIP (DESIGN.md section 2): weights are variables, the data are constants.

This module is orchestration: for each layer of the template it makes the weight variables (with the training-only
parts: weight domains, penalties, gates of :mod:`mipnet.train.structure`) and hands them to the shared layer
encoders of :mod:`mipnet.encode` (the same code that encodes a trained network for verification), then adds the
global pieces (input gates, symmetry, the L1 budget row, the loss).

When a warm-start network is given, every encoder also computes the value of each variable it creates from
the forward pass, so that :meth:`TrainingFormulation.start_vector` is a feasible MIP start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnet.encode import Act, Encoder, LayerEncoding, LayerOptions, NetworkEncoding, Weights, encode_layer
from mipnet.encode.affine import default_bounds
from mipnet.encode.relu import relu
from mipnet.errors import SettingsError
from mipnet.layers import LAYER_TYPES, AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, gather_windows
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.losses import Loss, binary_sign
from mipnet.train.pairs import nearest_pairs_of_classes
from mipnet.train.structure import is_gateable

#: the layers that may lie between a first affine layer and a ``Dense`` head for the head decompositions and the
#: output pair rows: each is nondecreasing in every input entry, 1-Lipschitz in the max norm and keeps channels apart
POOLING_LAYERS = (MaxPool2D, AvgPool2D, Flatten)


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
    gated = c.neuron_gates and layer is not template.affine_layers()[-1] and isinstance(layer, Dense)
    input_gated = c.input_gates and layer is template.layers[0]
    filter_gated = c.filter_gates and isinstance(layer, Conv2D)
    layer_gated = c.layer_gates and is_gateable(template, layer)
    return bool(c.l0 > 0 or gated or input_gated or filter_gated or layer_gated)


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
    z_bounds : tuple of ndarray or None
        ``(lo, hi)``, shape ``(N, units)``: bounds on the first layer's pre-activations, intersected with the
        default ones (the caller vouches for their validity, e.g. :mod:`mipnet.train.sign_patterns.obbt`).
    points : ndarray or None
        ``(M, *input_shape)``: inputs encoded after the data with the same weights but left out of the loss
        (constraints on the network's outputs there are added by the caller, :mod:`mipnet.constraints`).

    Attributes
    ----------
    m : MIPModel
    encoding : NetworkEncoding
        The handle of the encoded network (inputs: the data, then the points; outputs: the network's output
        variables for each).
    out, point_out : Act
        The output values of the data (in the loss) and of the points.
    output_pair_row_index : ndarray
        The rows of :meth:`add_output_pair_rows`.
    blocks : list of WeightBlock
    budget : float or None
        The L1 budget of the big-M rule.
    """

    def __init__(self, template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                 domains: list[WeightDomain], warm: Network | None = None, incumbent: float | None = None,
                 z_bounds: tuple[np.ndarray, np.ndarray] | None = None, points: np.ndarray | None = None) -> None:
        self.template, self.loss, self.config, self.domains = template, loss, config, domains
        self.X = template.check_input(X).reshape(len(X), -1)
        self.y = y
        self.n = self.X.shape[0]
        self.points = (np.zeros((0, self.X.shape[1])) if points is None or not len(points)
                       else template.check_input(points).reshape(len(points), -1))
        self.enc = Encoder()
        self.m = self.enc.m
        self.blocks: list[WeightBlock] = []
        self.warm = warm
        self.affine_layers = template.affine_layers()
        if len(domains) != len(self.affine_layers):
            raise SettingsError(f"{len(domains)} weight domains for {len(self.affine_layers)} affine layers")
        self._check_domains()
        self.z_bounds = z_bounds
        self.budget = self._budget(incumbent)
        self._build()

    # ------------------------------------------------------------------------------------------ hooks
    def _fixed_weights(self, layer: Layer) -> np.ndarray | None:
        """Constant weight values for a layer (``None``: variables). Sub-classes fix some layers."""
        return None

    def _relu_options(self, layer: Layer, z: Act) -> dict:
        """Keyword options of :func:`mipnet.encode.relu.relu` for a layer's ReLU (none by default)."""
        return {}

    def _after_relu(self, layer: Layer, block: WeightBlock, z: Act, a: Act, options: dict) -> None:
        """Called after each affine layer's ReLU (nothing by default)."""

    def _layer_options(self, layer: Layer) -> LayerOptions | None:
        """Encoder options of a layer that is not affine (pooling, flatten; none by default)."""
        return None

    def _after_layer(self, layer: Layer, out: LayerEncoding) -> None:
        """Called after each layer that is not affine (nothing by default)."""

    def _order_fixed_group(self, blk: WeightBlock, nxt: WeightBlock) -> None:
        """Symmetry rows for a hidden layer whose next layer has fixed weights (none by default)."""

    def _after_loss(self) -> None:
        """Called after the loss rows (nothing by default)."""

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
        return int(np.prod(layer.out_shape[:1])) * layer.windows().shape[1]

    def _record(self, idx: np.ndarray, values: np.ndarray | None) -> None:
        if self.warm is not None:
            self.enc.record(idx, values)

    # ------------------------------------------------------------------------------------------- build
    def _build(self) -> None:
        warm_layers = self.warm.layers if self.warm is not None else [None] * len(self.template.layers)
        X_all = np.vstack([self.X, self.points]) if len(self.points) else self.X
        act = Act(None, X_all, X_all, X_all)
        self.encoding = NetworkEncoding(self.m, act)
        self._check_structure()
        for layer, dom, wl in zip(self.template.layers, self._domains_by_layer(), warm_layers):
            if layer.is_affine:
                prev = act
                block = self._weights(layer, dom, wl)
                z = self._affine(layer, block, act)
                act = z
                if layer.relu:
                    options = self._relu_options(layer, z)
                    act = relu(self.enc, z, **options)
                    self._after_relu(layer, block, z, act, options)
                if block.layer_gate is not None:
                    act = self._layer_skip(block, prev, act)
                self.encoding.layers.append(LayerEncoding(z, act))
            else:
                out = encode_layer(self.enc, layer, act, self._layer_options(layer))
                self._after_layer(layer, out)
                self.encoding.layers.append(out)
                act = out.out
        self.encoding.outputs = act
        n = self.n
        self.out = Act(act.idx[:n], act.lo[:n], act.hi[:n], None if act.val is None else act.val[:n])
        self.point_out = Act(act.idx[n:], act.lo[n:], act.hi[n:], None if act.val is None else act.val[n:])
        self.output_pair_row_index = self.add_output_pair_rows(self.config.output_pair_rows)
        self._add_layer_limit()
        self._add_input_gates()
        self._add_symmetry()
        self._add_budget_row()
        self._add_loss()
        self.encoding.n_binaries = self.enc.n_binaries

    def _affine(self, layer: Dense | Conv2D, blk: WeightBlock, act: Act) -> Act:
        """The layer's pre-activations through the shared affine encoder, with the training big-M bounds."""
        weights = self._encoder_weights(blk)
        bounds = None
        if self.z_bounds is not None and layer is self.template.layers[0] and layer.windows().shape[0] == 1:
            from_domain = default_bounds(self.enc, layer.windows(), weights, act)
            bounds = (np.maximum(from_domain[0], self.z_bounds[0]), np.minimum(from_domain[1], self.z_bounds[1]))
        out = encode_layer(self.enc, layer, act, LayerOptions(weights=weights, bounds=bounds, relu=False))
        return out.z

    def _encoder_weights(self, blk: WeightBlock) -> Weights:
        """The encoder's view of a weight block: constants where the layer is fixed, else the variables."""
        wv, bv = blk.warm
        b_idx = blk.b
        if blk.fixed is not None:
            return Weights(weight=blk.fixed, bias=bv if b_idx is not None else None, bias_idx=b_idx,
                           bias_mag=self.config.omega_b)
        beta_start = None
        if blk.beta is not None and wv is not None:
            beta_start = blk.domain.binaries_of(wv, self.config.weight_bound, blk.prunable)
        return Weights(weight=wv, bias=bv if b_idx is not None else None, weight_idx=blk.W, bias_idx=b_idx,
                       mag=blk.mag, bias_mag=self.config.omega_b, budget=self.budget, beta=blk.beta, c0=blk.c0,
                       coef=blk.coef, beta_start=beta_start, bilinear=blk.domain.kind == "continuous-bilinear")

    def _weights(self, layer: Dense | Conv2D, dom: WeightDomain, warm_layer: Layer | None) -> WeightBlock:
        m, c = self.m, self.config
        out = layer.out_shape[0]
        n_e = layer.windows().shape[1]
        prunable = self._prunable(layer)
        mag = dom.magnitude(c.weight_bound)
        W = m.add_vars((out, n_e), -mag, mag)
        b = m.add_vars(out, -c.omega_b, c.omega_b) if layer.bias_on else None
        blk = WeightBlock(layer, dom, mag, prunable, W, b)
        fixed = self._fixed_weights(layer)
        if fixed is not None:
            blk.fixed = fixed
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
            beta = self.enc.binaries((out, n_e, t))
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
            blk.nz = self.enc.binaries(W.shape)
            self._big_m_link(W, blk.nz, mag)
            m.add_objective(blk.nz, c.l0)
            self._record(blk.nz, None if wv is None else (np.abs(wv) > 0).astype(float))
        # neuron gates: a gated-off unit has all incoming weights and its bias at 0
        if self._is_hidden(layer) and c.neuron_gates and isinstance(layer, Dense):
            blk.gate = self.enc.binaries(out)
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

    # --------------------------------------------------------------------------------- structure gates
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
            f = self.enc.binaries(out)
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
            u = int(self.enc.binaries(1)[0])
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

    # ------------------------------------------------------------------------------- global pieces
    def _add_input_gates(self) -> None:
        c, m = self.config, self.m
        first = self.template.layers[0]
        self.input_gate = None
        if not c.input_gates:
            return
        if not isinstance(first, Dense):
            raise SettingsError("input feature gates need a Dense first layer on flat features")
        blk = self.blocks[0]
        g = self.enc.binaries(first.in_shape[0])
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
            if nxt.fixed is not None:
                self._order_fixed_group(blk, nxt)
            elif nxt.layer.out_shape[0] == 1 and nxt.domain.discrete:
                v = nxt.W[0]
                step = float(np.min(np.diff(nxt.domain.levels(self.config.weight_bound, nxt.prunable))))
                big = 2 * self.config.omega_b / step
                self.m.add_rows(np.stack([v[:-1], v[1:]], -1), [1.0, -1.0], lo=0.0)              # v_j >= v_j+1
                self.m.add_rows(np.stack([b[:-1], b[1:], v[:-1], v[1:]], -1), [1.0, -1.0, big, -big], lo=0.0)
            else:
                self.m.add_rows(np.stack([b[:-1], b[1:]], -1), [1.0, -1.0], lo=0.0)              # b_j >= b_j+1

    def head_receptive_fields(self) -> np.ndarray | None:
        """``(D, n_first)`` booleans: the first affine layer's output entries (after its ReLU, in ``(C, H, W)``
        order) that each input of the head depends on, through max / average pooling and flatten; ``None`` when the
        network is not ``affine (ReLU) -> pooling / flatten ... -> Dense`` or an input mixes channels."""
        layers = self.template.layers
        if len(self.affine_layers) != 2 or not isinstance(layers[-1], Dense) or not layers[0].is_affine:
            return None
        if not (layers[0].relu and layers[0].active and layers[-1].active):
            return None
        if not all(isinstance(layer, POOLING_LAYERS) for layer in layers[1:-1]):
            return None
        fields = np.eye(int(np.prod(layers[0].out_shape)), dtype=bool)
        for layer in layers[1:-1]:
            if isinstance(layer, Flatten):
                continue
            win = layer.windows()                                   # (R, K) input entries of each output
            step = np.zeros((len(win), fields.shape[0]), dtype=bool)
            rows = np.repeat(np.arange(len(win)), win.shape[1]).reshape(win.shape)
            step[rows[win >= 0], win[win >= 0]] = True
            fields = (step.astype(np.int64) @ fields.astype(np.int64)) > 0
        positions = layers[0].windows().shape[0]
        channel = np.arange(fields.shape[1]) // positions
        if any(len(np.unique(channel[row])) != 1 for row in fields):
            return None
        return fields

    def add_output_pair_rows(self, k: int) -> np.ndarray:
        """Rows ``D_h - D_u <= sum_j c_j sum_e max_{p in R_j} |x_hpe - x_upe| t_{f(j) e}`` for pairs of samples of
        different classes, each sample with its ``k`` nearest (L1) of another class.

        ``D`` is the output (one output: ``o``, ``h`` of class 1) or the difference of the two samples' class
        outputs (``o_{y_h} - o_{y_u}``); ``R_j`` the first layer's output positions (of filter ``f(j)``) that head
        input ``j`` pools; ``t >= |w|`` the first layer's L1 variables; ``c_j`` a bound on the head's weight on
        ``j`` (``|v_j|``, or ``|v_{y_h j} - v_{y_u j}|``): the weight bound where the head is a variable, the
        fixed values where it is fixed. Valid for every network of the model: max and average pooling and ReLU are
        1-Lipschitz in the max norm, so ``|m_hj - m_uj| <= max_{p in R_j} |w_f . (x_hp - x_up)|`` (the biases
        cancel), and ``|D_h - D_u| <= sum_j c_j |m_hj - m_uj|``. Without them the LP relaxation of the head's
        products gives each sample a head of its own and separates any two samples at no cost in weight.
        Applies to classification with ``l1 > 0`` and the layer sequence of :meth:`head_receptive_fields`;
        returns the rows' indices (empty where it does not apply).
        """
        first, head = self.blocks[0], self.blocks[-1]
        if k <= 0 or self.loss.task != "classification" or first.absw is None or len(self.blocks) != 2:
            return np.zeros(0, dtype=np.int64)
        if first.layer_gate is not None or head.layer_gate is not None or first.domain.discrete:
            return np.zeros(0, dtype=np.int64)
        fields = self.head_receptive_fields()
        if fields is None:
            return np.zeros(0, dtype=np.int64)
        n_out = self.out.idx.shape[1]
        labels = np.asarray(self.y).reshape(-1).astype(np.int64)
        pairs = nearest_pairs_of_classes(self.X, labels, k)
        if n_out == 1:
            pos = binary_sign(labels) > 0
            pairs = np.where(pos[pairs[:, :1]], pairs, pairs[:, ::-1])      # (class 1, class 0)
        if not len(pairs):
            return np.zeros(0, dtype=np.int64)
        h, u = pairs[:, 0], pairs[:, 1]
        if head.fixed is not None:
            v = np.asarray(head.fixed, dtype=float).reshape(n_out, -1)
            c = np.abs(v[0])[None, :] if n_out == 1 else np.abs(v[labels[h]] - v[labels[u]])   # (P or 1, D)
        else:
            c = np.full((1, fields.shape[0]), head.mag * (1.0 if n_out == 1 else 2.0))
        layer = first.layer
        positions = layer.windows().shape[0]
        patches = gather_windows(self.X, layer.windows())                 # (N, positions, E)
        diff = np.abs(patches[h] - patches[u])                             # (P, positions, E)
        n_filters, n_e = first.absw.shape
        coef = np.zeros((len(h), n_filters, n_e))
        for j, row in enumerate(fields):
            entries = np.flatnonzero(row)
            f = int(entries[0] // positions)
            coef[:, f] += c[:, j][:, None] * diff[:, entries % positions].max(1)
        out = self.out.idx
        if n_out == 1:
            d_cols, d_coefs = [out[h, 0], out[u, 0]], [1.0, -1.0]
        else:
            d_cols = [out[h, labels[h]], out[h, labels[u]], out[u, labels[h]], out[u, labels[u]]]
            d_coefs = [1.0, -1.0, -1.0, 1.0]
        n = len(h)
        cols = np.concatenate([np.stack(d_cols, 1), np.broadcast_to(first.absw.reshape(1, -1), (n, n_filters * n_e))],
                              1)
        coefs = np.concatenate([np.broadcast_to(np.array(d_coefs), (n, len(d_coefs))), -coef.reshape(n, -1)], 1)
        return self.m.add_rows(cols, coefs, hi=0.0)

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
        self._after_loss()
        if out.val is not None:
            self._record(self.loss_vars, self.loss.start(out.val, self.y))

    # --------------------------------------------------------------------------------------- results
    def start_vector(self) -> np.ndarray | None:
        """The warm start as a full variable vector (``None`` without a warm start)."""
        if self.warm is None:
            return None
        return self.enc.start_vector()  # variables left free by the encoding (e.g. unused gates): their lower bound

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
        return self.encoding.output_values(x)

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
    cls = LAYER_TYPES[layer.kind]
    params = layer.params()
    return cls(**params) if params else cls()
