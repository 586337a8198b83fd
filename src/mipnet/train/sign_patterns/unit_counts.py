"""The exact decomposition of a training MIP by the number of active first-layer units (filters or neurons).

For a network ``affine layer (ReLU) -> max / average pooling, flatten ... -> Dense head`` whose first layer's units
have gates (filters of a convolution with ``filter_penalty`` / ``max_filters``; hidden neurons with
``neuron_penalty`` / ``max_neurons``), the units are interchangeable: permuting them, with their gates and the head's
columns that read them, gives the same outputs and the same objective (the penalties are sums over units and
weights). So every network has a copy whose active units come first, and the optimum is the best over the
sub-problems ``k = 0 .. K``: the gates of units ``0 .. k-1`` fixed on, the others off, with their weights, bias and
the head's weights on them fixed at 0 (an off unit outputs 0, so those head weights change nothing and some
optimum has them 0).

What it buys: each sub-problem's LP bound counts its ``k`` unit penalties in full (the full model's LP lets every
gate be a small fraction), and the sub-problems with fewer units have fewer variables. With the best network's
objective as the cutoff, sub-problem ``k`` closes at its root once ``k`` penalties exceed it. This serves the
networks whose head is too wide for the decomposition by head patterns
(:mod:`mipnet.train.sign_patterns.conv_heads`), e.g. ``conv(3,k=3)-maxpool(2)-flatten-dense(2)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from mipnet.layers import Conv2D, Dense
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.formulation import POOLING_LAYERS, TrainingFormulation
from mipnet.train.losses import Loss
from mipnet.train.warmstart_cnn import input_channels


@dataclass(frozen=True)
class UnitCounts:
    """The sub-problems of the decomposition: one per number of active first-layer units.

    Attributes
    ----------
    n_units : int
        Units (filters or neurons) of the first affine layer.
    counts : list of int
        ``0 .. K`` (``K``: ``n_units`` or the limit on active units).
    columns : ndarray ``(D,)``
        The first-layer unit each head column reads.
    head_zero : bool
        Whether 0 is a value of the head's weights (not for ``sign`` weights without pruning): only then are the
        head's weights on switched-off units set to 0 (otherwise they stay free; they change nothing).
    """

    n_units: int
    counts: list[int]
    columns: np.ndarray
    head_zero: bool = True

    def canonical(self, net: Network) -> tuple[int, Network]:
        """The sub-problem of a network and a copy of it in that sub-problem's form: its active units first (in
        their order), units that output 0 everywhere (no weight, bias <= 0) switched off with their head weights
        at 0 (the same outputs, penalties no higher)."""
        first, head = net.affine_layers()[0], net.affine_layers()[-1]
        w = first.weight.reshape(self.n_units, -1)
        bias = np.zeros(self.n_units) if first.bias is None else first.bias
        silent = ~np.any(w != 0, axis=1) & (bias <= 0)
        active = np.flatnonzero(~silent)
        order = np.concatenate([active, np.flatnonzero(silent)])
        out = copy.deepcopy(net)
        ofirst, ohead = out.affine_layers()[0], out.affine_layers()[-1]
        ow = first.weight[order].copy()
        ow[len(active):] = 0.0
        ofirst.weight = ow
        if first.bias is not None:
            ob = first.bias[order].copy()
            ob[len(active):] = 0.0
            ofirst.bias = ob
        hw = head.weight.reshape(head.units, -1)
        new_cols = np.concatenate([np.flatnonzero(self.columns == u) for u in order])
        ohw = hw[:, new_cols].copy()
        if self.head_zero:
            ohw[:, np.isin(self.columns, np.arange(len(active), self.n_units))] = 0.0
        ohead.weight = ohw.reshape(head.weight.shape)
        return len(active), out


def unit_counts(template: Network, loss: Loss, domains: list[WeightDomain], config: TrainConfig,
                prunable_head: bool) -> UnitCounts | None:
    """The decomposition's sub-problems for ``template``, or ``None`` when it does not apply (the layer sequence of
    the module docstring, gates on the first layer's units, no layer gates). ``prunable_head``: whether the head's
    weights may be 0 (:func:`~mipnet.train.formulation.is_prunable`)."""
    layers = template.layers
    affine = template.affine_layers()
    if len(affine) != 2 or not layers[0].is_affine or not isinstance(layers[-1], Dense):
        return None
    first, head = layers[0], layers[-1]
    if not (first.relu and first.active and head.active) or config.layer_gates:
        return None
    if not all(isinstance(layer, POOLING_LAYERS) for layer in layers[1:-1]):
        return None
    if isinstance(first, Conv2D):
        gated, limit = config.filter_gates, config.max_filters
    else:
        gated, limit = config.neuron_gates, config.max_neurons
    if not gated:
        return None
    n_units = first.out_shape[0]
    columns = input_channels(template)[1]
    if columns is None or len(columns) != int(np.prod(head.in_shape)):
        return None
    top = n_units if limit is None else min(n_units, int(limit))
    head_domain = domains[-1]
    head_zero = not head_domain.discrete or bool(np.any(head_domain.levels(config.weight_bound, prunable_head) == 0))
    return UnitCounts(n_units, list(range(top + 1)), np.asarray(columns), head_zero)


class UnitCountFormulation(TrainingFormulation):
    """The training MIP of one sub-problem: the gates of the first ``active`` units fixed on, the others off with
    their weights, bias and the head's weights on them at 0.

    Parameters are those of :class:`~mipnet.train.formulation.TrainingFormulation`, plus ``active`` (the number of
    active units), ``columns`` and ``head_zero`` (:class:`UnitCounts`).
    """

    def __init__(self, template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                 domains: list[WeightDomain], active: int, columns: np.ndarray, head_zero: bool = True,
                 warm: Network | None = None, incumbent: float | None = None) -> None:
        self.active, self.columns, self.head_zero = int(active), np.asarray(columns), bool(head_zero)
        # the full model's symmetry rows order the hidden units by their head weights and biases; with the active
        # units first and the others at 0 that order would cut off networks (an active unit with a negative bias
        # before the switched-off ones), so this sub-problem has the units' order fixed by their gates alone
        super().__init__(template, X, y, loss, replace(config, symmetry=False), domains, warm=warm,
                         incumbent=incumbent)
        self._fix_units()

    def _fix_units(self) -> None:
        m, c = self.m, self.config
        first, head = self.blocks[0], self.blocks[-1]
        gates = first.filter_gate if first.filter_gate is not None else first.gate
        n_units = first.W.shape[0]
        on, off = np.arange(self.active), np.arange(self.active, n_units)
        m.set_bounds(gates[on], 1.0, 1.0)
        m.set_bounds(gates[off], 0.0, 0.0)
        if not off.size:
            return
        zero_first = [first.W[off], first.absw[off] if first.absw is not None else None,
                      first.nz[off] if first.nz is not None else None, first.b[off] if first.b is not None else None]
        cols = np.flatnonzero(np.isin(self.columns, off)) if self.head_zero else np.zeros(0, dtype=np.int64)
        zero_head = [head.W[:, cols], head.absw[:, cols] if head.absw is not None else None,
                     head.nz[:, cols] if head.nz is not None else None]
        for idx in zero_first + zero_head:
            if idx is not None:
                m.set_bounds(idx, 0.0, 0.0)
        for blk, beta in ((first, None if first.beta is None else first.beta[off]),
                          (head, None if head.beta is None else head.beta[:, cols])):
            if beta is not None:      # discrete weights: their binaries at the code of 0
                m.fix(beta, blk.domain.binaries_of(np.zeros(beta.shape[:-1]), c.weight_bound, blk.prunable))
