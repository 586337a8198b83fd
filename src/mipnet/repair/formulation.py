"""The repair MIP over finitely many points, built by the training formulation (DESIGN.md section 6).

The first layers of the network are fixed, so at every point their output (the *hidden* input of the repaired
layers, the *tail*) is a constant: the tail is trained like a network on data, by the same
:class:`~mipnet.train.formulation.TrainingFormulation` (weights are variables, the tail's input is data). The
differences are the objective and the weight box:

* every weight and bias ``w`` of the tail lies in ``w0 +- max_change`` around its original value ``w0``, and the
  objective is the change ``|w - w0|`` (summed, or its largest entry), not ``|w|``;
* the loss is the output change on the reference inputs: the targets are the original network's outputs there,
  weighted by ``output_weight``;
* the counterexample points are encoded beside the data and kept out of the unsafe region by
  :func:`mipnet.constraints.rows.add_safe_rows` (the caller adds those rows).

The first repaired layer multiplies variable weights by constants (linear rows); a second repaired layer multiplies
variable weights by the first one's variable activations: a bilinear product, exact with continuous weights only by
spatial branch-and-bound (``continuous-bilinear``, SCIP).
"""

from __future__ import annotations

import numpy as np

from mipnet.layers import Dense, Layer
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.formulation import TrainingFormulation, WeightBlock
from mipnet.train.losses import Loss


def decision_slack(Y0: np.ndarray, Y: np.ndarray, argmin: bool, cap: float) -> np.ndarray:
    """Per reference input: by how much the outputs ``Y`` break the rows of
    :meth:`RepairFormulation.keep_decisions` stated from the original outputs ``Y0`` (0 where they hold): the numpy
    side of the soft decision rows."""
    Y0, Y = np.asarray(Y0, dtype=float), np.asarray(Y, dtype=float)
    n, k = Y0.shape
    if k == 1:
        lead = np.minimum(0.5 * np.abs(Y0[:, 0]), cap)
        return np.maximum(np.where(Y0[:, 0] > 0, lead - Y[:, 0], Y[:, 0]), 0.0)
    s = 1.0 if argmin else -1.0
    d = np.argmin(Y0, axis=1) if argmin else np.argmax(Y0, axis=1)
    rows = np.arange(n)[:, None]
    lead = np.minimum(0.5 * s * (Y0 - Y0[rows[:, 0], d][:, None]), cap)
    viol = s * (Y[rows[:, 0], d][:, None] - Y) + lead
    viol[rows[:, 0], d] = 0.0
    return np.maximum(viol.max(axis=1), 0.0)


class RepairFormulation(TrainingFormulation):
    """The repair MIP of a network's tail (its last affine layers, all :class:`~mipnet.layers.Dense`).

    Parameters
    ----------
    tail : Network
        The layers to repair, with their original weights, on the hidden input.
    H : ndarray, shape ``(N, tail.n_inputs)``
        The tail's input at the reference points (the fixed layers' output).
    Y0 : ndarray, shape ``(N, n_outputs)``
        The original outputs there (the targets of the output-change loss).
    loss : Loss
        ``AbsoluteError`` (mean output change) or ``MaxError`` (largest output change).
    l1_change : bool
        ``True``: the objective holds ``sum |w - w0|``; ``False``: ``max |w - w0|``.
    max_change : float
        Every weight and bias stays within this distance of its original value.
    output_weight : float
        Weight of the output-change loss in the objective (0: the change alone).
    points : ndarray or None
        The tail's input at the counterexample points, encoded after the reference points (``point_out``).

    Attributes
    ----------
    change : list of ndarray
        The change variables: ``|w - w0|`` per entry (L1), or the one bound ``t >= |w - w0|`` (L-inf).
    """

    def __init__(self, tail: Network, H: np.ndarray, Y0: np.ndarray, loss: Loss, l1_change: bool,
                 max_change: float, output_weight: float, points: np.ndarray | None = None) -> None:
        affine = tail.affine_layers()
        self.w0 = [layer.weight.reshape(layer.weight.shape[0], -1).astype(float) for layer in affine]
        self.b0 = [np.zeros(layer.weight.shape[0]) if layer.bias is None else np.asarray(layer.bias, dtype=float)
                   for layer in affine]
        self.l1_change, self.max_change, self.output_weight = l1_change, float(max_change), float(output_weight)
        self.change: list[np.ndarray] = []
        self._t: np.ndarray | None = None
        big_w = max(float(np.max(np.abs(w), initial=0.0)) for w in self.w0) + self.max_change
        big_b = max(float(np.max(np.abs(b), initial=0.0)) for b in self.b0) + self.max_change
        config = TrainConfig(weights="continuous", weight_bound=big_w, bias_bound=big_b, symmetry=False,
                             bounds="interval", warm_start=False, decompose=False)
        domains = [WeightDomain("continuous")] + [WeightDomain("continuous-bilinear")] * (len(affine) - 1)
        H_all = H if points is None or not len(points) else np.vstack([H, points])
        super().__init__(tail, H, Y0, loss, config, domains, z_bounds=self._first_bounds(H_all), points=points)

    def _first_bounds(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pre-activation bounds of the first repaired layer at every point: ``|z - z0| <= max_change (|h|_1 + 1)``
        for weights and bias within ``max_change`` of the original (widened for rounding)."""
        z0 = H @ self.w0[0].T + self.b0[0]
        r = self.max_change * (np.abs(H).sum(axis=1, keepdims=True) + 1.0)
        pad = 1e-9 * (1.0 + np.abs(z0) + r)
        return z0 - r - pad, z0 + r + pad

    def _weights(self, layer: Dense, dom: WeightDomain, warm_layer: Layer | None) -> WeightBlock:
        blk = super()._weights(layer, dom, warm_layer)
        k = len(self.blocks) - 1
        d = self.max_change
        pairs = [(blk.W, self.w0[k])] + ([(blk.b, self.b0[k])] if blk.b is not None else [])
        m = self.m
        for idx, v0 in pairs:
            m.set_bounds(idx, v0 - d, v0 + d)
            if self.l1_change:
                a = m.add_vars(idx.shape, 0.0, d)
                m.add_objective(a, 1.0)
                self.change.append(a)
            else:
                if self._t is None:
                    self._t = m.add_vars(1, 0.0, d)
                    m.add_objective(self._t, 1.0)
                    self.change.append(self._t)
                a = np.broadcast_to(self._t[0], idx.shape)
            m.add_rows(np.stack([a, idx], -1), [1.0, -1.0], lo=-v0)    # a >= w - w0
            m.add_rows(np.stack([a, idx], -1), [1.0, 1.0], lo=v0)      # a >= w0 - w
        return blk

    def keep_decisions(self, rows: np.ndarray, argmin: bool, cap: float, soft: float | None = None,
                       count: float | None = None) -> np.ndarray | None:
        """Keep the original decision at the reference inputs ``rows``: the winning output stays ahead of every
        other by half its original lead, at most ``cap`` (one output: its sign stays, by the same rule).

        Linear rows on the reference outputs; the original network satisfies them. ``soft``: each input's rows may
        be violated by a slack ``s_i >= 0`` that costs ``soft * s_i`` in the objective. ``count``: each input's rows
        are switched off by a binary ``c_i`` (big-M from the output bounds) that costs ``count * c_i``: the
        objective counts the changed decisions, so the drawdown on ``rows`` is minimised exactly. Both are always
        feasible. Returns the binaries ``c`` with ``count``, else ``None``.
        """
        if soft is not None and count is not None:
            raise ValueError("keep_decisions: soft and count exclude each other")
        if not len(rows):
            return None
        cols, coefs, rhs, top = self._decision_rows(np.asarray(rows), argmin, cap)
        n = len(rows)
        m = self.m
        extra = None
        if soft is not None:
            extra = m.add_vars(n, 0.0, np.inf)
            m.add_objective(extra, soft)
            big = np.ones_like(rhs)
        elif count is not None:
            extra = m.add_binaries(n)
            m.add_objective(extra, count)
            big = np.maximum(top - rhs, 0.0) * (1 + 1e-9) + 1e-9        # c_i = 1 makes every row of input i free
        if extra is None:
            m.add_rows(cols, coefs, hi=rhs)
            return None
        cols = np.concatenate([cols, np.broadcast_to(extra[:, None, None], (*rhs.shape, 1))], -1)
        coefs = np.concatenate([np.broadcast_to(coefs, cols[..., :-1].shape), -big[..., None]], -1)
        m.add_rows(cols.reshape(-1, cols.shape[-1]), coefs.reshape(-1, coefs.shape[-1]), hi=rhs.reshape(-1))
        return extra if count is not None else None

    def _decision_rows(self, rows: np.ndarray, argmin: bool, cap: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The decision rows of :meth:`keep_decisions` as ``coefs . o[cols] <= rhs``, per input and other output
        (shapes ``(n, r, w)``, ``(w,)``, ``(n, r)``), with ``top``: the largest value of each left side allowed by
        the output bounds."""
        Y0 = np.asarray(self.y, dtype=float)[rows]
        o, lo, hi = self.out.idx[rows], self.out.lo[rows], self.out.hi[rows]
        n, k = Y0.shape
        if k == 1:                                                  # o > 0: -o <= -lead; o <= 0: o <= 0
            lead = np.minimum(0.5 * np.abs(Y0[:, 0]), cap)
            pos = Y0[:, 0] > 0
            sg = np.where(pos, -1.0, 1.0)
            cols = o[:, None, :1]
            rhs = np.where(pos, -lead, 0.0)[:, None]
            top = np.where(pos, -lo[:, 0], hi[:, 0])[:, None]
            return cols, sg[:, None, None], rhs, top
        s = 1.0 if argmin else -1.0                                        # argmin: o_d <= o_j - lead
        d = np.argmin(Y0, axis=1) if argmin else np.argmax(Y0, axis=1)
        r = np.arange(n)[:, None]
        win = Y0[r[:, 0], d]
        j = np.array([[c for c in range(k) if c != dd] for dd in d]).reshape(n, k - 1)   # the other outputs
        lead = np.minimum(0.5 * s * (Y0[r, j] - win[:, None]), cap)
        cols = np.stack([np.broadcast_to(o[r[:, 0], d][:, None], j.shape), o[r, j]], -1)
        if s > 0:
            top = hi[r[:, 0], d][:, None] - lo[r, j]
        else:
            top = hi[r, j] - lo[r[:, 0], d][:, None]
        return cols, np.array([s, -s]), -lead, top

    def _add_loss(self) -> None:
        out = self.out
        self.loss_vars = self.loss.encode(self.m, out.idx, out.lo, out.hi, self.y)
        if self.output_weight > 0:
            self.loss.objective(self.m, self.loss_vars, self.n)
            for i in np.ravel(self.loss_vars).tolist():
                self.m.obj[i] *= self.output_weight
