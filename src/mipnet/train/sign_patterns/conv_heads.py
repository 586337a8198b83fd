"""The exact decomposition of a convolutional network's training MIP by its head weights.

For a network ``Conv2D (continuous weights, on the data) -> ReLU -> pooling / flatten -> Dense head`` whose head has
discrete weights, the head's weights range over a finite set. With them fixed, every output is linear in the
pooled features (no product linearisation is left), and with a loss that is monotone in each margin (binary or
multiclass hinge, misclassification) the objective is monotone in each pooled feature of each sample: the
direction of feature ``j`` on sample ``i`` is the common sign of ``v[y_i, j] - v[k, j]`` over the other classes
``k`` (one output: ``s_i v_j``). Max and average pooling are nondecreasing in each entry, so the direction carries
back to every convolution entry of the feature's window. That gives:

* one-sided ReLUs and max pools (:func:`mipnet.encode.relu.relu`, :func:`mipnet.encode.pool.maxpool`): entries
  the objective wants small keep only their convex side (no binary); only the entries it wants large keep binaries;
* secant rows ``a <= (z + sum_e |x_e| t_e + |b|) / 2`` on the entries it wants large (the bound
  ``relu(z) = (z + |z|) / 2 <= ...`` with the L1 variables ``t >= |w|``), which tie the activations to the L1 term;
  and, for a max pool right after the convolution, ``m <= sum_e max_k |x_ke| t_e + |b|`` on the pooled entries it
  wants large (``relu(z_k) <= |z_k|`` for every window entry ``k``): without it the pool's selector rows let the
  relaxation raise ``m`` with no weight at all;
* pair rows ``m_h - m_u <= sum_e max_k |x_hke - x_uke| t_e`` for the same pooled entry of two samples, ``h`` where
  the objective wants it large and ``u`` where it wants it small (``m_h = relu(z_hk*)`` for some window entry
  ``k*``, ``m_u >= relu(z_uk*)``, and ``relu(p) - relu(q) <= |p - q| = |w . (x_hk* - x_uk*)|``; the bias cancels):
  separating two images costs weight in proportion to how little they differ;
* filters whose head weights are all 0 switched off (they cannot change an output; with zero weights they cost
  nothing, so some optimum has them so), and the filter gates of the others fixed on (a filter switched off
  outputs 0, as it does in the pattern with its head block at 0, whose head costs less: that pattern holds a
  network at least as good).

The filters of the convolution are interchangeable (with their head weights; the penalties are sums over
filters), so only one head per multiset of per-filter head blocks is needed: the patterns are the multisets, each
written with its blocks in descending order of their index. The optimum is the best over the patterns; each
pattern's MIP (or its bound at a time limit) bounds the networks in it. Applicable when the number of patterns is
at most :data:`MAX_HEAD_PATTERNS`.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass

import numpy as np

from mipnet.encode import Act, LayerEncoding, LayerOptions
from mipnet.errors import SettingsError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Layer, MaxPool2D, gather_windows
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.formulation import POOLING_LAYERS, TrainingFormulation, WeightBlock
from mipnet.train.losses import Hinge, Loss, Misclassification, binary_sign
from mipnet.train.pairs import PAIR_ROWS, nearest_pairs

#: the largest number of head patterns the decomposition solves (beyond it the full MIP is solved)
MAX_HEAD_PATTERNS = 200


@dataclass(frozen=True)
class HeadPatterns:
    """The head patterns of a convolution-pooling-head network.

    Attributes
    ----------
    n_filters : int
        Output channels of the convolution.
    per_filter : int
        Head inputs per filter (the pooled entries of one channel).
    n_outputs : int
    levels : ndarray
        The head domain's values.
    blocks : ndarray ``(B, n_outputs, per_filter)``
        Every possible head block of one filter (its head weights).
    patterns : list of tuple of int
        One tuple of block indices per pattern (one per filter, nonincreasing).
    """

    n_filters: int
    per_filter: int
    n_outputs: int
    levels: np.ndarray
    blocks: np.ndarray
    patterns: list[tuple[int, ...]]

    def head(self, k: int) -> np.ndarray:
        """Pattern ``k``'s head weights ``(n_outputs, n_filters * per_filter)``, filter ``f``'s block in the columns
        ``f * per_filter ...`` (the flatten order of ``(C, H, W)``)."""
        blocks = self.blocks[list(self.patterns[k])]            # (F, K, P)
        return np.concatenate(list(blocks), axis=1)

    def off_filters(self, k: int) -> np.ndarray:
        """The filters whose head block in pattern ``k`` is all zero."""
        return np.flatnonzero([not np.any(self.blocks[b]) for b in self.patterns[k]])

    def canonical(self, net: Network) -> tuple[int, Network]:
        """The pattern of a network and a copy of it in that pattern's filter order, the filters with a zero head
        block switched off and the head weights of filters that output 0 everywhere set to 0 (the same outputs,
        penalties no higher). The head weights must lie on the levels."""
        conv, head = net.affine_layers()[0], net.affine_layers()[-1]
        hw = head.weight.reshape(self.n_outputs, self.n_filters, self.per_filter)
        per = np.transpose(hw, (1, 0, 2)).copy()                   # (F, K, P)
        bias = np.zeros(self.n_filters) if conv.bias is None else conv.bias
        silent = ~np.any(conv.weight.reshape(self.n_filters, -1) != 0, axis=1) & (bias <= 0)
        per[silent] = 0.0             # a filter that outputs 0 everywhere: its head weights change nothing
        codes = []
        for blk in per:
            hit = np.flatnonzero(np.all(np.isclose(self.blocks, blk[None], rtol=0.0, atol=1e-9), axis=(1, 2)))
            if not hit.size:
                raise SettingsError("the network's head weights are not on the head domain's levels")
            codes.append(int(hit[0]))
        order = sorted(range(self.n_filters), key=lambda f: -codes[f])
        out = copy.deepcopy(net)
        cconv, chead = out.affine_layers()[0], out.affine_layers()[-1]
        w = conv.weight[order].copy()
        b = None if conv.bias is None else conv.bias[order].copy()
        key = tuple(codes[f] for f in order)
        for f, code in enumerate(key):
            if not np.any(self.blocks[code]):
                w[f] = 0.0
                if b is not None:
                    b[f] = 0.0
        cconv.weight, cconv.bias = w, b
        chead.weight = np.concatenate([per[f] for f in order], axis=1).reshape(head.weight.shape)
        return self.patterns.index(key), out


def head_patterns(template: Network, loss: Loss, domains: list[WeightDomain], config: TrainConfig,
                  head_prunable: bool) -> HeadPatterns | None:
    """The head patterns of ``template``, or ``None`` when the decomposition does not apply (see the module
    docstring: the layer sequence, continuous first-layer and discrete head weights, a loss monotone in the
    margins, no layer gates, at most :data:`MAX_HEAD_PATTERNS` patterns)."""
    layers = template.layers
    affine = template.affine_layers()
    if len(affine) != 2 or not isinstance(layers[0], Conv2D) or not isinstance(layers[-1], Dense):
        return None
    conv, head = layers[0], layers[-1]
    if not (conv.relu and conv.active and head.active and not head.relu):
        return None
    if not all(isinstance(layer, POOLING_LAYERS) for layer in layers[1:-1]):
        return None
    if domains[0].kind != "continuous" or not domains[1].discrete or config.layer_gates:
        return None
    if not isinstance(loss, (Hinge, Misclassification)):
        return None
    n_filters = conv.out_shape[0]
    n_in = int(np.prod(head.in_shape))
    if n_in % n_filters:
        return None
    per_filter, n_outputs = n_in // n_filters, head.units
    levels = domains[1].levels(config.weight_bound, head_prunable)
    n_blocks = len(levels) ** (per_filter * n_outputs)
    if n_blocks > MAX_HEAD_PATTERNS or math.comb(n_blocks + n_filters - 1, n_filters) > MAX_HEAD_PATTERNS:
        return None
    blocks = np.array([np.array(c).reshape(n_outputs, per_filter)
                       for c in itertools.product(levels, repeat=per_filter * n_outputs)])
    patterns = [tuple(sorted(c, reverse=True))
                for c in itertools.combinations_with_replacement(range(len(blocks)), n_filters)]
    return HeadPatterns(n_filters, per_filter, n_outputs, levels, blocks, sorted(set(patterns)))


def feature_directions(head: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per (sample, head input): +1 where the loss cannot increase as the input grows, -1 where it cannot
    decrease (also where it does not depend on it), 0 where it may do either. ``head``: ``(K, D)`` weights."""
    y = np.asarray(y).reshape(-1)
    if head.shape[0] == 1:
        d = binary_sign(y)[:, None] * np.sign(head[0])[None, :]
        return np.where(d == 0, -1.0, d)
    diff = head[y][:, None, :] - head[None, :, :]                  # (N, K, D): v[y_i] - v[k]
    other = np.arange(head.shape[0])[None, :] != y[:, None]        # (N, K)
    up = np.all((diff >= 0) | ~other[..., None], axis=1)
    down = np.all((diff <= 0) | ~other[..., None], axis=1)
    return np.where(up & ~down, 1.0, np.where(down, -1.0, 0.0))


def carry_back(windows: np.ndarray, direction: np.ndarray, n_in: int) -> np.ndarray:
    """The direction of a pooling layer's inputs from that of its outputs: the common direction of the windows an
    entry lies in (0 when they disagree; -1 for an entry in no window: the objective does not depend on it)."""
    n = direction.shape[0]
    up = np.zeros((n, n_in), dtype=bool)
    down = np.zeros((n, n_in), dtype=bool)
    both = np.zeros((n, n_in), dtype=bool)
    for r, win in enumerate(windows):
        d = direction[:, r][:, None]
        up[:, win] |= d > 0
        down[:, win] |= d < 0
        both[:, win] |= d == 0
    return np.where(both | (up & down), 0.0, np.where(up, 1.0, -1.0))


class HeadPatternFormulation(TrainingFormulation):
    """The training MIP of one head pattern (the module docstring): head weights fixed to ``head``, one-sided
    ReLUs and max pools, secant rows, filters with no head weight switched off.

    Parameters are those of :class:`~mipnet.train.formulation.TrainingFormulation`, plus ``head`` (``(K, D)``
    fixed head weights) and ``off`` (filters to switch off).
    """

    def __init__(self, template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                 domains: list[WeightDomain], head: np.ndarray, off: np.ndarray, warm: Network | None = None,
                 incumbent: float | None = None) -> None:
        self.head = np.asarray(head, dtype=float)
        self.off = np.asarray(off, dtype=np.int64)
        self.directions = self._directions(template, y)
        self._abs_bias: np.ndarray | None = None
        super().__init__(template, X, y, loss, config, domains, warm=warm, incumbent=incumbent)
        self._switch_filters()

    def _directions(self, template: Network, y: np.ndarray) -> dict[int, np.ndarray]:
        """Per layer (by position): the direction of its output entries, from the head back to the convolution."""
        d = feature_directions(self.head, y)
        out: dict[int, np.ndarray] = {}
        for pos in range(len(template.layers) - 2, -1, -1):
            layer = template.layers[pos]
            out[pos] = d
            if isinstance(layer, (MaxPool2D, AvgPool2D)):
                d = carry_back(layer.windows(), d, int(np.prod(layer.in_shape)))
        return out

    def _position(self, layer: Layer) -> int:
        return next(i for i, each in enumerate(self.template.layers) if each is layer)

    # --------------------------------------------------------------------------------------- the hooks
    def _fixed_weights(self, layer: Layer) -> np.ndarray | None:
        return self.head if layer is self.affine_layers[-1] else None

    def _relu_options(self, layer: Layer, z: Act) -> dict:
        if layer is not self.template.layers[0]:
            return {}
        return {"direction": self.directions[0]}

    def _layer_options(self, layer: Layer) -> LayerOptions | None:
        if isinstance(layer, MaxPool2D):
            return LayerOptions(direction=self.directions[self._position(layer)])
        return None

    def _after_relu(self, layer: Layer, block: WeightBlock, z: Act, a: Act, options: dict) -> None:
        if layer is self.template.layers[0]:
            self._add_secant_rows(block, z, a, options["direction"] > 0)

    def _after_layer(self, layer: Layer, out: LayerEncoding) -> None:
        if isinstance(layer, MaxPool2D) and self._position(layer) == 1:
            self._add_pool_rows(layer, out.out, self.directions[1] > 0)
            self._add_pair_rows(layer, out.out, self.directions[1])

    # ------------------------------------------------------------------------------------ extra rows
    def _add_secant_rows(self, blk: WeightBlock, z: Act, a: Act, sel: np.ndarray) -> None:
        """``a <= (z + sum_e |x_e| t_e + beta) / 2`` on the convolution entries ``sel`` (the module docstring);
        ``x`` the entry's input patch, ``t >= |w|`` the L1 variables, ``beta >= |b|``."""
        if blk.absw is None or not self.config.sign_patterns.secant_rows:
            return
        m, layer = self.m, blk.layer
        windows = layer.windows()                                 # (positions, E): input index per patch entry
        n_pos = windows.shape[0]
        beta = self._bias_magnitudes(blk)
        ii, jj = np.nonzero(sel)                                  # sample, entry (filter * n_pos + position)
        if not ii.size:
            return
        f, p = jj // n_pos, jj % n_pos
        absx = np.abs(self._patch_values(windows))               # (N, positions, E)
        cols = [a.idx[ii, jj][:, None], z.idx[ii, jj][:, None], blk.absw[f]]
        coefs = [np.ones((len(ii), 1)), np.full((len(ii), 1), -0.5), -0.5 * absx[ii, p]]
        if beta is not None:
            cols.append(beta[f][:, None])
            coefs.append(np.full((len(ii), 1), -0.5))
        m.add_rows(np.concatenate(cols, 1), np.concatenate(coefs, 1), hi=0.0)

    def _add_pool_rows(self, pool: MaxPool2D, m_act: Act, sel: np.ndarray) -> None:
        """``m <= sum_e max_k |x_ke| t_e + beta`` on the pooled entries ``sel`` of a max pool right after the
        convolution (the module docstring; ``k`` runs over the window's positions)."""
        blk = self.blocks[0]
        if blk.absw is None or not self.config.sign_patterns.secant_rows or m_act.idx is None:
            return
        ii, rr = np.nonzero(sel)
        if not ii.size:
            return
        n_pos = blk.layer.windows().shape[0]
        win = pool.windows()                                      # (R, K): conv output entries (filter, position)
        f = win[rr, 0] // n_pos
        pos = win[rr] % n_pos                                     # (len, K)
        absx = np.abs(self._patch_values(blk.layer.windows()))   # (N, positions, E)
        xbar = absx[ii[:, None], pos].max(1)                      # (len, E)
        cols = [m_act.idx[ii, rr][:, None], blk.absw[f]]
        coefs = [np.ones((len(ii), 1)), -xbar]
        beta = self._bias_magnitudes(blk)
        if beta is not None:
            cols.append(beta[f][:, None])
            coefs.append(np.full((len(ii), 1), -1.0))
        self.m.add_rows(np.concatenate(cols, 1), np.concatenate(coefs, 1), hi=0.0)

    def _add_pair_rows(self, pool: MaxPool2D, m_act: Act, direction: np.ndarray) -> None:
        """Pair rows (the module docstring) for each pooled entry between each sample where it is wanted large and
        its :data:`PAIR_ROWS` nearest samples (L1 distance of the images) where it is wanted small, and back."""
        blk = self.blocks[0]
        k = PAIR_ROWS if self.config.sign_patterns.pair_rows is None else int(self.config.sign_patterns.pair_rows)
        if blk.absw is None or k <= 0 or m_act.idx is None:
            return
        n_pos = blk.layer.windows().shape[0]
        win = pool.windows()
        patches = self._patch_values(blk.layer.windows())        # (N, positions, E)
        cols, coefs = [], []
        for r in range(win.shape[0]):
            pp = nearest_pairs(self.X, np.flatnonzero(direction[:, r] > 0), np.flatnonzero(direction[:, r] < 0), k)
            if not len(pp):
                continue
            pos = win[r] % n_pos
            f = int(win[r, 0] // n_pos)
            dbar = np.abs(patches[pp[:, 0]][:, pos] - patches[pp[:, 1]][:, pos]).max(1)   # (pairs, E)
            n = len(pp)
            cols.append(np.concatenate([m_act.idx[pp[:, 0], r][:, None], m_act.idx[pp[:, 1], r][:, None],
                                        np.broadcast_to(blk.absw[f], (n, blk.absw.shape[1]))], 1))
            coefs.append(np.concatenate([np.ones((n, 1)), -np.ones((n, 1)), -dbar], 1))
        if cols:
            self.m.add_rows(np.concatenate(cols), np.concatenate(coefs), hi=0.0)

    def _bias_magnitudes(self, blk: WeightBlock) -> np.ndarray | None:
        """Variables ``beta >= |b|`` of the convolution's biases (made once; ``None`` without biases)."""
        if blk.b is None:
            return None
        if self._abs_bias is None:
            m = self.m
            beta = m.add_vars(blk.b.shape, 0.0, self.config.omega_b)
            m.add_rows(np.stack([beta, blk.b], -1), [1.0, -1.0], lo=0.0)
            m.add_rows(np.stack([beta, blk.b], -1), [1.0, 1.0], lo=0.0)
            if blk.warm[1] is not None:
                self._record(beta, np.abs(blk.warm[1]))
            self._abs_bias = beta
        return self._abs_bias

    def _patch_values(self, windows: np.ndarray) -> np.ndarray:
        """The data under each window ``(N, positions, E)`` (index -1: zero padding)."""
        return gather_windows(self.X, windows)

    def _switch_filters(self) -> None:
        """Weights and bias of the filters in ``off`` fixed at 0, their gates at 0, the other gates at 1 (the
        module docstring)."""
        blk = self.blocks[0]
        m = self.m
        if blk.filter_gate is not None:
            on = np.setdiff1d(np.arange(len(blk.filter_gate)), self.off)
            m.set_bounds(blk.filter_gate[on], 1.0, 1.0)
            self._record(blk.filter_gate[on], np.ones(len(on)))
        if not self.off.size:
            return
        m.set_bounds(blk.W[self.off].reshape(-1), 0.0, 0.0)
        if blk.b is not None:
            m.set_bounds(blk.b[self.off], 0.0, 0.0)
        if blk.filter_gate is not None:
            m.set_bounds(blk.filter_gate[self.off], 0.0, 0.0)
