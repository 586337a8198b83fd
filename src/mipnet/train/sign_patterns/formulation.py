"""The sub-problem of one output-sign pattern: the training MIP with the output weights fixed, and its extra rows.

With one hidden Dense layer, a single output and ``sign`` output weights fixed to ``v`` (one pattern of the exact
decomposition, :mod:`mipnet.train.sign_patterns.decompose`), the output ``o_i = sum_j v_j a_ij + c`` is linear.
With a loss that is a nonincreasing function of the margin ``s_i o_i`` (binary hinge, misclassification), the
objective is monotone in every first-layer activation: the direction of ``a_ij`` is ``s_i v_j``. That gives:

* one-sided ReLUs (:func:`mipnet.encode.relu.relu` with a direction): half the binaries;
* the margin cap ``s_i o_i <= 1`` (binary hinge) and the big-M it implies for one-sided entries;
* secant rows and pair rows tying the activations to the L1 variables;
* the handles the root cut loop reads (:class:`SignPatternHandles`).

Each is valid for the optimum (tested against the naive model); the switches are
:class:`~mipnet.train.config.SignPatternOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnet.encode import Act
from mipnet.errors import SettingsError
from mipnet.layers import Dense, Layer
from mipnet.network import Network
from mipnet.train.config import TrainConfig
from mipnet.train.domains import WeightDomain
from mipnet.train.formulation import TrainingFormulation, WeightBlock, is_prunable
from mipnet.train.losses import Hinge, Loss, Misclassification, binary_sign
from mipnet.train.pairs import nearest_pairs


@dataclass
class SignPatternHandles:
    """What the root cut loop reads from a sub-problem (first layer on data, one-sided ReLUs).

    Attributes
    ----------
    X : ndarray ``(N, E)``
        The data.
    z, a : ndarray of int ``(N, H)``
        First-layer pre-activation and activation variables.
    l1 : ndarray of int ``(H, E)``
        Variables ``t >= |W|`` of the first layer's weights.
    abs_bias : ndarray of int ``(H,)``
        Variables ``beta >= |b|`` of the first layer's biases.
    direction : ndarray ``(N, H)``
        +1 where the objective cannot increase as ``a`` grows (binary side), -1 where it cannot decrease.
    output_signs : ndarray ``(H,)``
    """

    X: np.ndarray
    z: np.ndarray
    a: np.ndarray
    l1: np.ndarray
    abs_bias: np.ndarray
    direction: np.ndarray
    output_signs: np.ndarray


class SignPatternFormulation(TrainingFormulation):
    """The training MIP of one output-sign pattern ``output_signs`` (see the module docstring).

    Parameters are those of :class:`~mipnet.train.formulation.TrainingFormulation`, plus ``output_signs``: one
    value in ``{-1, +1}`` per hidden unit. Needs one hidden Dense layer and a single output with non-prunable
    ``sign`` weights.

    Attributes
    ----------
    first_z, first_a : Act
        The first layer's pre-activations and activations.
    first_direction : ndarray or None
        Per (sample, unit) direction of the one-sided ReLUs (``None`` when the loss is not monotone in the margin
        or one-sided ReLUs are off).
    handles : SignPatternHandles or None
        For the cut loop (``None`` when the sub-problem lacks the variables the cuts need).
    """

    def __init__(self, template: Network, X: np.ndarray, y: np.ndarray, loss: Loss, config: TrainConfig,
                 domains: list[WeightDomain], output_signs: np.ndarray, warm: Network | None = None,
                 incumbent: float | None = None, z_bounds: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.options = config.sign_patterns
        self.output_signs = np.asarray(output_signs, dtype=float).reshape(-1)
        self.first_z: Act | None = None
        self.first_a: Act | None = None
        self.first_direction: np.ndarray | None = None
        self.abs_bias: np.ndarray | None = None
        self.handles: SignPatternHandles | None = None
        self._template_check(template, domains, config)
        super().__init__(template, X, y, loss, config, domains, warm=warm, incumbent=incumbent, z_bounds=z_bounds)
        blk = self.blocks[0]
        if (self.first_direction is not None and self.abs_bias is not None and blk.absw is not None):
            self.handles = SignPatternHandles(self.X, self.first_z.idx, self.first_a.idx, blk.absw, self.abs_bias,
                                              self.first_direction, self.output_signs)

    def _template_check(self, template: Network, domains: list[WeightDomain], config: TrainConfig) -> None:
        layers = template.layers
        last = template.affine_layers()[-1]
        signs = self.output_signs
        ok = (len(layers) == 2 and all(isinstance(layer, Dense) for layer in layers) and last.units == 1
              and domains[-1].kind == "sign" and len(signs) == layers[0].units and np.all(np.abs(signs) == 1.0))
        if ok:
            ok = not is_prunable(template, config, last)
        if not ok:
            raise SettingsError("output_signs needs one hidden Dense layer, a single output with non-prunable sign "
                                "weights, and one value in {-1, +1} per hidden unit")

    # --------------------------------------------------------------------------------------- the hooks
    def _fixed_weights(self, layer: Layer) -> np.ndarray | None:
        return self.output_signs[None, :] if layer is self.affine_layers[-1] else None

    def _direction(self) -> np.ndarray | None:
        """Per (sample, unit): the direction ``s_i v_j`` of the first-layer activations, when known."""
        if not self.options.one_sided_relu or not isinstance(self.loss, (Hinge, Misclassification)):
            return None
        s = binary_sign(np.asarray(self.y).reshape(-1))
        return s[:, None] * self.output_signs[None, :]

    def _margin_cap(self, direction: np.ndarray | None) -> np.ndarray | None:
        """Upper bound on useful activations (binary hinge), per (sample, unit).

        In the one-sided model an activation with direction +1 may be lowered freely; lowering those of sample
        ``i`` until its margin ``s_i o_i`` is at most 1 leaves its hinge term at 0, so some optimal solution has
        ``s_i o_i <= 1`` for every ``i`` (a row added with the loss). A sample with no direction -1 unit then has
        ``sum_j a_ij = s_i o_i - s_i c <= 1 + omega_b``: that caps each of its activations.
        """
        if direction is None or not isinstance(self.loss, Hinge) or not self.options.margin_cap:
            return None
        cap = np.full(direction.shape, np.inf)
        no_hurt = (direction >= 0).all(1)
        cap[no_hurt] = 1.0 + self.config.omega_b
        return cap

    def _relu_options(self, layer: Layer, z: Act) -> dict:
        if layer is not self.template.layers[0]:
            return {}
        direction = self._direction()
        cap = self._margin_cap(direction)
        start = None
        if z.val is not None and cap is not None:
            start = self._lower_start(np.maximum(z.val, 0.0), direction)
        return {"direction": direction, "cap": cap, "start": start, "indicator": self.options.relu_indicator}

    def _after_relu(self, layer: Layer, block: WeightBlock, z: Act, a: Act, options: dict) -> None:
        if layer is not self.template.layers[0]:
            return
        direction = options.get("direction")
        self.first_z, self.first_a, self.first_direction = z, a, direction
        if direction is not None:
            self._add_secant_rows(block, z, a, direction >= 0)
            self._add_pair_rows(block, z, a, direction)

    def _order_fixed_group(self, blk: WeightBlock, nxt: WeightBlock) -> None:
        """Order the units within each group of equal output sign (optional: measured slower with HiGHS, whose own
        symmetry detection handles the groups)."""
        if not self.options.group_order:
            return
        b = blk.b
        same = np.flatnonzero(nxt.fixed[0, :-1] == nxt.fixed[0, 1:])
        if same.size:
            self.m.add_rows(np.stack([b[same], b[same + 1]], -1), [1.0, -1.0], lo=0.0)   # b_j >= b_j+1

    def _after_loss(self) -> None:
        if self._margin_cap(self._direction()) is not None:  # s_i o_i <= 1 (valid: see _margin_cap)
            s = binary_sign(np.asarray(self.y).reshape(-1))
            self.m.add_rows(self.out.idx[:, :1], s[:, None], hi=1.0)

    # ------------------------------------------------------------------------------------ extra rows
    def _lower_start(self, aval: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Warm-start activations lowered where direction is +1 so that every margin ``s_i o_i`` is at most 1
        (the row of :meth:`_margin_cap`); the hinge terms stay 0 there, so the start's objective is unchanged."""
        v = self.output_signs
        c = float(self.warm.layers[-1].bias[0]) if self.warm.layers[-1].bias is not None else 0.0
        s = binary_sign(np.asarray(self.y).reshape(-1))
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
        if not self.options.secant_rows:
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
        (:attr:`SignPatternOptions.listed_pair_rows`; 0 disables).
        """
        k = self.options.listed_pair_rows
        if k <= 0 or blk.absw is None or not isinstance(blk.layer, Dense):
            return
        s = binary_sign(np.asarray(self.y).reshape(-1))
        pos, neg = np.flatnonzero(s > 0), np.flatnonzero(s < 0)
        if not pos.size or not neg.size:
            return
        pp = nearest_pairs(self.X, pos, neg, k)  # (positive, negative)
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
