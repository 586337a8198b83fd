"""Constraints as rows of the training MIP, and the same constraints checked on a network with numpy.

:class:`ConstraintSet` resolves feature names and indices once (a clear error before any solve for unknown names,
indices out of range, a region of the wrong size or an impossible sign), then gives the training MIP what it needs:
the configuration (gates and limits), the points to encode beside the data, the rows (:meth:`ConstraintSet.extra`),
and :meth:`ConstraintSet.violations`, the numpy re-check of every constraint that holds at finitely many points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mipnet.constraints.objects import (
    Active,
    ClassAt,
    Constraint,
    Excludes,
    Fairness,
    FairnessKind,
    FilterActive,
    Implies,
    Kind,
    LayerActive,
    Literal,
    MaxFilters,
    MaxInputs,
    MaxNeurons,
    Monotone,
    MonotoneMode,
    OutputAt,
    OutputBound,
    SafeRegion,
    Uses,
    WeightBound,
    WeightSign,
)
from mipnet.encode import Encoder
from mipnet.errors import SettingsError
from mipnet.io.vnnlib import Property, load_vnnlib
from mipnet.layers import Conv2D, Dense
from mipnet.network import Network
from mipnet.train.config import Gate, TrainConfig
from mipnet.train.formulation import TrainingFormulation
from mipnet.train.structure import active_units, is_gateable
from mipnet.train.trainer import ExtraConstraints

#: smallest magnitude (relative to the weight bound) of a weight that counts as "used" where a constraint needs a
#: structure choice to be real: far above the solvers' feasibility tolerances (1e-6), which would let 1e-6 pass as 0
USED_EPS = 1e-4
#: tolerance of the numpy re-check of point constraints (the solver's feasibility tolerance is 1e-6)
CHECK_TOL = 1e-5


@dataclass
class RegionPoints:
    """The finitely many points at which a region constraint is imposed in the training MIP (pairs for
    :class:`Monotone`: ``points`` then ``partners``, with ``partners[i]`` the raised copy of ``points[i]``)."""

    points: list[np.ndarray] = field(default_factory=list)
    partners: list[np.ndarray] = field(default_factory=list)


class ConstraintSet:
    """Constraints resolved against a network template and its features.

    Parameters
    ----------
    constraints : sequence of Constraint
    template : Network
        The architecture being trained.
    feature_names : sequence of str or None
        Names of the input features (DataFrame columns); features may then be named.
    classes : array or None
        Class labels of a classifier (for :class:`ClassAt`).
    region : (lower, upper) or None
        The default region of region constraints (per-feature bounds).
    """

    def __init__(self, constraints: Sequence[Constraint], template: Network, feature_names: Sequence[str] | None,
                 classes: np.ndarray | None = None, region: tuple | None = None,
                 data: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.constraints = list(constraints)
        self.template = template
        self.names = None if feature_names is None else [str(n) for n in feature_names]
        self.classes = None if classes is None else np.asarray(classes)
        self.n_inputs = template.n_inputs
        self.affine = template.affine_layers()
        for c in self.constraints:
            if not isinstance(c, Constraint):
                raise SettingsError(f"{c!r} is not a constraint object (see mipnet.constraints)")
        self.region = None if region is None else self.check_region(region, "region")
        self.data = None if data is None else (np.asarray(data[0], dtype=float).reshape(len(data[0]), -1),
                                               np.asarray(data[1]))
        self._validate()

    # ---------------------------------------------------------------------------------------- resolution
    def feature(self, ref: object) -> int:
        """The index of a feature given by name or index."""
        if isinstance(ref, str):
            if self.names is None:
                raise SettingsError(f"feature {ref!r} is named, but the data has no feature names: pass a DataFrame "
                                    "or refer to features by index")
            if ref not in self.names:
                raise SettingsError(f"unknown feature {ref!r}; the features are {self.names}")
            return self.names.index(ref)
        if isinstance(ref, (int, np.integer)) and 0 <= int(ref) < self.n_inputs:
            return int(ref)
        raise SettingsError(f"feature {ref!r} is not an input index in 0..{self.n_inputs - 1} or a feature name")

    def feature_label(self, k: int) -> str:
        return self.names[k] if self.names is not None else f"x{k}"

    def check_region(self, region: object, what: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            lo, hi = region
            lo = np.broadcast_to(np.asarray(lo, dtype=float), (self.n_inputs,)).copy()
            hi = np.broadcast_to(np.asarray(hi, dtype=float), (self.n_inputs,)).copy()
        except (TypeError, ValueError):
            raise SettingsError(f"{what} must be (lower, upper) with {self.n_inputs} values each (one per input "
                                "feature), or scalars") from None
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo > hi):
            raise SettingsError(f"{what} needs finite lower <= upper for every feature")
        return lo, hi

    def region_of(self, c: Constraint) -> tuple[np.ndarray, np.ndarray]:
        if getattr(c, "region", None) is not None:
            return self.check_region(c.region, f"the region of {c.describe()}")
        if self.region is None:
            raise SettingsError(f"{c.describe()} holds over a region: give region=(lower, upper) to fit, or to the "
                                "constraint")
        return self.region

    def _layer(self, layer: int, c: Constraint) -> Dense | Conv2D:
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self.affine):
            raise SettingsError(f"{c.describe()}: layer must be an affine-layer index in 0..{len(self.affine) - 1}")
        return self.affine[int(layer)]

    def _validate(self) -> None:
        for c in self.constraints:
            if isinstance(c, (WeightSign, WeightBound)):
                layer = self._layer(c.layer, c)
                if isinstance(c, WeightSign) and c.sign not in (-1, 1):
                    raise SettingsError(f"{c.describe()}: sign must be +1 or -1, got {c.sign!r}")
                if isinstance(c, WeightBound) and not c.lower <= c.upper:
                    raise SettingsError(f"{c.describe()}: lower must not exceed upper")
                if c.feature is not None and layer is not self.template.layers[0]:
                    raise SettingsError(f"{c.describe()}: a feature names an input of the first layer (layer=0)")
                if c.feature is not None:
                    self.feature(c.feature)
                if c.neuron is not None and not 0 <= c.neuron < layer.out_shape[0]:
                    raise SettingsError(f"{c.describe()}: neuron must be in 0..{layer.out_shape[0] - 1}")
            elif isinstance(c, (MaxInputs, MaxNeurons, MaxFilters)):
                if int(c.k) != c.k or c.k < 1:
                    raise SettingsError(f"{c.describe()}: k must be a whole number >= 1")
            elif isinstance(c, (Implies, Excludes)):
                for lit in (c.if_, c.then) if isinstance(c, Implies) else (c.a, c.b):
                    self._literal_check(lit, c)
            elif isinstance(c, OutputAt):
                self._point(c.x, c)
                self._output(c.output, c)
                if not c.lower <= c.upper:
                    raise SettingsError(f"{c.describe()}: lower must not exceed upper")
            elif isinstance(c, ClassAt):
                self._point(c.x, c)
                self._label(c.label, c)
            elif isinstance(c, Monotone):
                if c.direction not in ("increasing", "decreasing"):
                    raise SettingsError(f"{c.describe()}: direction must be 'increasing' or 'decreasing'")
                self.feature(c.feature)
                self._output(c.output, c)
                MonotoneMode(c.mode)
                if c.mode == MonotoneMode.LOOP:
                    self.region_of(c)
            elif isinstance(c, OutputBound):
                self._output(c.output, c)
                if not c.lower <= c.upper or (math.isinf(c.lower) and math.isinf(c.upper)):
                    raise SettingsError(f"{c.describe()}: needs a finite lower or upper bound, lower <= upper")
                self.region_of(c)
            elif isinstance(c, SafeRegion):
                self.unsafe_region(c)
            elif isinstance(c, Fairness):
                self.fairness_groups(c)
            else:
                raise SettingsError(f"{c.describe()} is not supported in training")
        literals = [lit for c in self.constraints if isinstance(c, (Implies, Excludes))
                    for lit in ((c.if_, c.then) if isinstance(c, Implies) else (c.a, c.b))]
        self._literals = literals

    def _point(self, x: object, c: Constraint) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.size != self.n_inputs or not np.all(np.isfinite(x)):
            raise SettingsError(f"{c.describe()}: the point needs {self.n_inputs} finite values")
        return x

    def _output(self, j: int, c: Constraint) -> None:
        n = self.template.n_outputs
        if not isinstance(j, (int, np.integer)) or not 0 <= j < n:
            raise SettingsError(f"{c.describe()}: output must be in 0..{n - 1}")

    def _label(self, label: object, c: Constraint) -> int:
        if self.classes is None:
            raise SettingsError(f"{c.describe()}: a class constraint needs a classifier")
        hits = np.flatnonzero(self.classes == label)
        if not hits.size:
            raise SettingsError(f"{c.describe()}: unknown class {label!r}; the classes are {self.classes.tolist()}")
        return int(hits[0])

    def _literal_check(self, lit: object, c: Constraint) -> None:
        if isinstance(lit, Uses):
            if not isinstance(self.template.layers[0], Dense):
                raise SettingsError(f"{c.describe()}: Uses needs a Dense first layer on flat features")
            self.feature(lit.feature)
        elif isinstance(lit, Active):
            layer = self._layer(lit.layer, c)
            if not isinstance(layer, Dense) or layer is self.affine[-1]:
                raise SettingsError(f"{c.describe()}: Active names a neuron of a hidden Dense layer")
            if not 0 <= lit.neuron < layer.units:
                raise SettingsError(f"{c.describe()}: neuron must be in 0..{layer.units - 1}")
        elif isinstance(lit, FilterActive):
            layer = self._layer(lit.layer, c)
            if not isinstance(layer, Conv2D) or not 0 <= lit.filter < layer.out_channels:
                raise SettingsError(f"{c.describe()}: FilterActive names a filter of a Conv2D layer")
        elif isinstance(lit, LayerActive):
            layer = self._layer(lit.layer, c)
            if not is_gateable(self.template, layer):
                raise SettingsError(f"{c.describe()}: layer {lit.layer} cannot be switched off (only a hidden layer "
                                    "whose output shape equals its input shape)")
        else:
            raise SettingsError(f"{c.describe()}: {lit!r} is not a structure literal (Uses, Active, FilterActive, "
                                "LayerActive)")

    def fairness_groups(self, c: Fairness) -> list[tuple[np.ndarray, np.ndarray]]:
        """Pairs of sample masks (group, rest) whose class-1 rates must be within ``delta``: one pair for
        demographic parity, one per true class for equalised odds."""
        if self.template.n_outputs != 1 or self.classes is None or len(self.classes) != 2:
            raise SettingsError(f"{c.describe()}: fairness needs a binary classifier with one output")
        if not (math.isfinite(c.delta) and 0 <= c.delta <= 1):
            raise SettingsError(f"{c.describe()}: delta must be a rate in [0, 1]")
        if self.data is None:
            raise SettingsError(f"{c.describe()}: fairness is stated on the training set")
        X, y = self.data
        col = X[:, self.feature(c.feature)]
        values = np.unique(col)
        group = c.group if c.group is not None else (values.max() if len(values) == 2 else None)
        if group is None:
            raise SettingsError(f"{c.describe()}: feature {c.feature!r} has {len(values)} values; give group=VALUE")
        g = col == group
        if not g.any() or g.all():
            raise SettingsError(f"{c.describe()}: the group {group!r} must hold some samples, not all")
        if c.kind_of_rate == FairnessKind.DEMOGRAPHIC_PARITY:
            return [(g, ~g)]
        pairs = [(g & (y == t), ~g & (y == t)) for t in (0, 1)]
        return [(a, b) for a, b in pairs if a.any() and b.any()]

    def unsafe_region(self, c: SafeRegion) -> Property:
        if isinstance(c.path, Property):
            if (c.path.n_inputs, c.path.n_outputs) != (self.n_inputs, self.template.n_outputs):
                raise SettingsError(f"{c.describe()}: the property has {c.path.n_inputs} inputs and "
                                    f"{c.path.n_outputs} outputs, the network {self.n_inputs} and "
                                    f"{self.template.n_outputs}")
            return c.path
        return load_vnnlib(c.path, self.n_inputs, self.template.n_outputs)

    # --------------------------------------------------------------------------------------- for the MIP
    @property
    def region_constraints(self) -> list[Constraint]:
        return [c for c in self.constraints
                if c.kind == Kind.REGION and not (isinstance(c, Monotone) and c.mode == MonotoneMode.SIGN)]

    @property
    def has_rows(self) -> bool:
        """Whether some constraint adds rows whatever the points (structure, point and sign-mode constraints)."""
        return any(c not in self.region_constraints for c in self.constraints)

    @property
    def symmetric(self) -> bool:
        """Whether every constraint treats the hidden units of a layer alike (no neuron or filter named)."""
        for c in self.constraints:
            if isinstance(c, (WeightSign, WeightBound)) and (c.neuron is not None or c.layer > 0):
                return False
        return not any(isinstance(lit, (Active, FilterActive, LayerActive)) for lit in self._literals)

    def config(self, config: TrainConfig) -> TrainConfig:
        """``config`` with the gates and limits the constraints need."""
        gates = set(config.gates)
        kw: dict = {}
        for lit in self._literals:
            gates.add({Uses: Gate.INPUT, Active: Gate.NEURON, FilterActive: Gate.FILTER, LayerActive: Gate.LAYER}[
                type(lit)])
        for c in self.constraints:
            if isinstance(c, MaxInputs):
                kw["max_inputs"] = min(int(c.k), config.max_inputs or int(c.k))
            elif isinstance(c, MaxNeurons):
                kw["max_neurons"] = min(int(c.k), config.max_neurons or int(c.k))
            elif isinstance(c, MaxFilters):
                kw["max_filters"] = min(int(c.k), config.max_filters or int(c.k))
        return replace(config, gates=frozenset(gates), **kw)

    def extra(self, region_points: dict[int, RegionPoints] | None = None) -> ExtraConstraints:
        """Points, rows and the numpy check for the training MIP; ``region_points[i]`` holds the points at which
        region constraint ``i`` (its index in :attr:`region_constraints`) is imposed."""
        region_points = region_points or {}
        points: list[np.ndarray] = []
        plan: list[tuple] = []  # (constraint, indices of its points in the point block, extra data)

        def add(xs: list[np.ndarray]) -> np.ndarray:
            start = len(points)
            points.extend(np.asarray(x, dtype=float).reshape(-1) for x in xs)
            return np.arange(start, len(points))

        for c in self.constraints:
            if isinstance(c, (OutputAt, ClassAt)):
                plan.append((c, add([c.x]), None))
        fairness = [c for c in self.constraints if isinstance(c, Fairness)]
        for i, c in enumerate(self.region_constraints):
            rp = region_points.get(i, RegionPoints())
            if isinstance(c, Monotone):
                plan.append((c, add(rp.points), add(rp.partners)))
            elif rp.points:
                plan.append((c, add(rp.points), None))
        P = np.array(points) if points else None

        def add_rows(form: TrainingFormulation) -> None:
            self._structure_rows(form)
            for c, idx, other in plan:
                _POINT_ROWS[type(c)](self, form, c, idx, other)
            for c in fairness:
                self._fairness_rows(form, c)

        def satisfied(net: Network) -> bool:
            return not self.violations(net, P, plan) and not any(self._fairness_gap(net, c) for c in fairness)

        return ExtraConstraints(points=P, add_rows=add_rows, satisfied=satisfied, symmetric=self.symmetric)

    # ---------------------------------------------------------------------------------- structure rows
    def _selected(self, c: WeightSign | WeightBound, shape: tuple[int, int]) -> np.ndarray:
        """Mask of the weights of a layer ``(O, E)`` that a weight constraint selects."""
        sel = np.ones(shape, dtype=bool)
        if c.feature is not None:
            cols = np.zeros(shape[1], dtype=bool)
            cols[self.feature(c.feature)] = True
            sel &= cols[None, :]
        if c.neuron is not None:
            rows = np.zeros(shape[0], dtype=bool)
            rows[c.neuron] = True
            sel &= rows[:, None]
        return sel

    def _weight_limits(self, layer_index: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.full(shape, -np.inf), np.full(shape, np.inf)
        for c in self.constraints:
            if isinstance(c, (WeightSign, WeightBound)) and c.layer == layer_index:
                sel = self._selected(c, shape)
                if isinstance(c, WeightSign):
                    (lo if c.sign > 0 else hi)[sel] = np.maximum(lo[sel], 0.0) if c.sign > 0 else \
                        np.minimum(hi[sel], 0.0)
                else:
                    lo[sel] = np.maximum(lo[sel], c.lower)
                    hi[sel] = np.minimum(hi[sel], c.upper)
        for c in self.constraints:  # the sufficient monotone condition for deep networks: later layers >= 0
            if isinstance(c, Monotone) and c.mode == MonotoneMode.SIGN and len(self.affine) > 2 and layer_index > 0:
                lo = np.maximum(lo, 0.0)
        return lo, hi

    def _structure_rows(self, form: TrainingFormulation) -> None:
        m = form.m
        for li, blk in enumerate(form.blocks):
            lo, hi = self._weight_limits(li, blk.W.shape)
            if np.any(np.isfinite(lo)) or np.any(np.isfinite(hi)):
                m.set_bounds(blk.W, lo, hi)
        for c in self.constraints:
            if isinstance(c, Monotone) and c.mode == MonotoneMode.SIGN:
                self._monotone_sign_rows(form, c)
            elif isinstance(c, Implies):
                g_if, g_then = self._gate(form, c.if_), self._gate(form, c.then)
                self._force_used(form, c.then, g_then)
                m.add_rows(np.array([[g_if, g_then]]), [1.0, -1.0], hi=0.0)             # if on, then on
            elif isinstance(c, Excludes):
                m.add_rows(np.array([[self._gate(form, c.a), self._gate(form, c.b)]]), [1.0, 1.0], hi=1.0)

    def _gate(self, form: TrainingFormulation, lit: Literal) -> int:
        if isinstance(lit, Uses):
            return int(form.input_gate[self.feature(lit.feature)])
        if isinstance(lit, Active):
            return int(form.blocks[lit.layer].gate[lit.neuron])
        if isinstance(lit, FilterActive):
            return int(form.blocks[lit.layer].filter_gate[lit.filter])
        return int(form.blocks[lit.layer].layer_gate)

    def _force_used(self, form: TrainingFormulation, lit: Literal, gate: int) -> None:
        """Gate on implies the choice is real: some weight of the feature / neuron / filter has ``|w| >= eps``
        (two binaries per weight pick the side; a layer's gate is its state already)."""
        if isinstance(lit, LayerActive):
            return
        if isinstance(lit, Uses):
            blk, sel = form.blocks[0], (slice(None), self.feature(lit.feature))
        elif isinstance(lit, Active):
            blk, sel = form.blocks[lit.layer], (lit.neuron, slice(None))
        else:
            blk, sel = form.blocks[lit.layer], (lit.filter, slice(None))
        w = blk.W[sel].reshape(-1)
        eps, big = USED_EPS * blk.mag, blk.mag + USED_EPS * blk.mag
        enc = form.enc
        pos, neg = enc.binaries(w.size), enc.binaries(w.size)
        m = form.m
        m.add_rows(np.stack([w, pos], -1), [1.0, -big], lo=eps - big)                      # pos => w >= eps
        m.add_rows(np.stack([w, neg], -1), [1.0, big], hi=big - eps)                       # neg => w <= -eps
        m.add_rows(np.concatenate([pos, neg, [gate]])[None, :], np.concatenate([np.ones(2 * w.size), [-1.0]]),
                   lo=0.0)                                                                 # gate => some side

    def _monotone_sign_rows(self, form: TrainingFormulation, c: Monotone) -> None:
        """One hidden layer: ``W1[j, k] * V[o, j]`` has the direction's sign for every unit ``j`` (a network with that
        property is monotone in feature ``k``, as ReLU is non-decreasing), written exactly through the output
        weights' binaries. Deeper networks: column ``k`` of the first layer has the sign and every later weight is
        ``>= 0`` (set in :meth:`_weight_limits`)."""
        k, m = self.feature(c.feature), form.m
        first = form.blocks[0]
        if len(form.blocks) > 2 or form.blocks[1].beta is None:
            if len(form.blocks) == 2:
                raise SettingsError(f"{c.describe()} with mode='sign' needs discrete output weights (sign or "
                                    "ternary) or a deeper network")
            m.set_bounds(first.W[:, k], 0.0 if c.sign > 0 else -np.inf, np.inf if c.sign > 0 else 0.0)
            return
        out = form.blocks[1]
        if out.beta.shape[-1] == 1:   # non-prunable sign: v = 2 beta - 1, so v > 0 iff beta = 1
            p, q = out.beta[c.output, :, 0], None
        elif out.beta.shape[-1] == 2 and out.domain.kind in ("sign", "ternary"):
            p, q = out.beta[c.output, :, 0], out.beta[c.output, :, 1]
        else:
            raise SettingsError(f"{c.describe()} with mode='sign' needs sign or ternary output weights")
        w, om = first.W[:, k], first.mag
        pos, neg = (p, q) if c.sign > 0 else (q, p)
        # v_j > 0 => w_j >= 0 ; v_j < 0 => w_j <= 0 (for a decreasing feature the sides swap)
        if pos is not None:
            m.add_rows(np.stack([w, pos], -1), [1.0, -om], lo=-om)                          # w >= -om (1 - pos)
        else:   # pos = 1 - p (non-prunable sign, decreasing)
            m.add_rows(np.stack([w, p], -1), [1.0, om], lo=0.0)                             # w >= -om p
        if neg is not None:
            m.add_rows(np.stack([w, neg], -1), [1.0, om], hi=om)                            # w <= om (1 - neg)
        else:   # neg = 1 - p (non-prunable sign, increasing)
            m.add_rows(np.stack([w, p], -1), [1.0, -om], hi=0.0)                            # w <= om p

    def _fairness_rows(self, form: TrainingFormulation, c: Fairness) -> None:
        """A binary ``p_i`` per training sample with ``p_i = 1 => o_i >= margin`` and ``p_i = 0 => o_i <= 0`` (the
        prediction), then ``|mean_A p - mean_B p| <= delta`` for each pair of groups."""
        out, m = form.out, form.m
        o, lo, hi = out.idx[:, 0], out.lo[:, 0], out.hi[:, 0]
        p = form.enc.binaries(len(o))
        m.add_rows(np.stack([o, p], -1), np.stack([np.ones(len(o)), -(c.margin - lo)], -1), lo=lo)   # p=1: o >= mg
        m.add_rows(np.stack([o, p], -1), np.stack([np.ones(len(o)), -np.maximum(hi, 0.0)], -1), hi=0.0)  # p=0: o<=0
        for a, b in self.fairness_groups(c):
            coef = np.where(a, 1.0 / a.sum(), 0.0) - np.where(b, 1.0 / b.sum(), 0.0)
            keep = coef != 0
            m.add_rows(p[keep][None, :], coef[keep][None, :], lo=-c.delta, hi=c.delta)
        if out.val is not None:
            form.enc.record(p, (out.val[:, 0] > 0).astype(float))

    def _fairness_gap(self, net: Network, c: Fairness) -> str:
        """Why ``net`` breaks the fairness constraint on the training set, or ``""``."""
        X, _ = self.data
        o = net.forward(X.reshape(len(X), *net.input_shape)).reshape(len(X), -1)[:, 0]
        pred = o > 0
        if np.any((o > 0) & (o < c.margin - CHECK_TOL)):
            return f"an output lies in (0, {c.margin:g}), which the MIP excludes"
        for a, b in self.fairness_groups(c):
            gap = abs(pred[a].mean() - pred[b].mean())
            if gap > c.delta + 1e-12:
                return f"class-1 rates differ by {gap:.4f} > {c.delta:g}"
        return ""

    # ------------------------------------------------------------------------------- the numpy re-check
    def violations(self, net: Network, points: np.ndarray | None = None, plan: list | None = None) -> list[str]:
        """Every constraint that ``net`` breaks among those that hold at finitely many points (structure, points,
        and region constraints at the points of ``plan``), each as one line; empty when none."""
        out = []
        affine = net.affine_layers()
        for li, layer in enumerate(affine):
            W = layer.weight.reshape(layer.weight.shape[0], -1)
            lo, hi = self._weight_limits(li, W.shape)
            bad = (W < lo - 1e-9) | (W > hi + 1e-9)
            if bad.any():
                out.append(f"layer {li}: {int(bad.sum())} weights outside their sign or bound constraints")
        for c in self.constraints:
            if isinstance(c, MaxInputs) and isinstance(affine[0], Dense):
                used = int((np.abs(affine[0].weight) > 0).any(0).sum())
                if used > c.k:
                    out.append(f"{c.describe()}: {used} inputs used")
            elif isinstance(c, MaxNeurons):
                for layer in affine[:-1]:
                    if isinstance(layer, Dense) and active_units(layer).sum() > c.k:
                        out.append(f"{c.describe()}: {int(active_units(layer).sum())} active neurons")
            elif isinstance(c, MaxFilters):
                for layer in affine:
                    if isinstance(layer, Conv2D) and active_units(layer).sum() > c.k:
                        out.append(f"{c.describe()}: {int(active_units(layer).sum())} active filters")
            elif isinstance(c, Implies) and self.literal_on(net, c.if_) and not self.literal_on(net, c.then):
                out.append(f"{c.describe()}: the first holds and the second does not")
            elif isinstance(c, Excludes) and self.literal_on(net, c.a) and self.literal_on(net, c.b):
                out.append(f"{c.describe()}: both hold")
            elif isinstance(c, Fairness) and (gap := self._fairness_gap(net, c)):
                out.append(f"{c.describe()}: {gap}")
            elif isinstance(c, Monotone) and c.mode == MonotoneMode.SIGN and len(affine) == 2:
                k = self.feature(c.feature)
                prod = affine[0].weight[:, k] * affine[1].weight[c.output] * c.sign
                if np.any(prod < -1e-9):
                    out.append(f"{c.describe()}: a unit's weight signs break the sufficient condition")
        if plan and points is not None:
            Y = net.forward(points.reshape(len(points), *net.input_shape)).reshape(len(points), -1)
            for c, idx, other in plan:
                msg = _POINT_CHECK[type(c)](self, points, Y, c, idx, other)
                if msg:
                    out.append(f"{c.describe()}: {msg}")
        return out

    def literal_on(self, net: Network, lit: Literal) -> bool:
        affine = net.affine_layers()
        if isinstance(lit, Uses):
            return bool((np.abs(affine[0].weight[:, self.feature(lit.feature)]) > 0).any())
        if isinstance(lit, Active):
            return bool(active_units(affine[lit.layer])[lit.neuron])
        if isinstance(lit, FilterActive):
            return bool(active_units(affine[lit.layer])[lit.filter]) and affine[lit.layer].active
        return bool(affine[lit.layer].active)


# ------------------------------------------------------------------------------ point rows and checks
def _rows_output_at(cs: ConstraintSet, form: TrainingFormulation, c: OutputAt | OutputBound, idx: np.ndarray,
                    other: object) -> None:
    v = form.point_out.idx[idx, c.output]
    form.m.add_rows(v[:, None], 1.0, lo=c.lower, hi=c.upper)


def _check_output_at(cs: ConstraintSet, X: np.ndarray, Y: np.ndarray, c: OutputAt | OutputBound, idx: np.ndarray,
                     other: object) -> str:
    v = Y[idx, c.output]
    if np.any(v < c.lower - CHECK_TOL * (1 + abs(c.lower))) or np.any(v > c.upper + CHECK_TOL * (1 + abs(c.upper))):
        return f"output {float(v[0]):.6g}"
    return ""


def _class_rows(n_out: int, label: int) -> tuple[list, list]:
    """``(output column pairs, sign)`` rows ``sign * (o_a - o_b) >= margin`` that make ``label`` the prediction."""
    if n_out == 1:   # binary, one output: class 1 iff o > 0
        return [(0, None)], [1.0 if label == 1 else -1.0]
    return [(label, k) for k in range(n_out) if k != label], [1.0] * (n_out - 1)


def _rows_class_at(cs: ConstraintSet, form: TrainingFormulation, c: ClassAt, idx: np.ndarray, other: object) -> None:
    o = form.point_out.idx[idx[0]]
    pairs, signs = _class_rows(len(o), cs._label(c.label, c))
    for (a, b), s in zip(pairs, signs):
        if b is None:
            form.m.add_rows(np.array([[o[a]]]), [s], lo=c.margin if s > 0 else 0.0)
        else:
            form.m.add_rows(np.array([[o[a], o[b]]]), [1.0, -1.0], lo=c.margin)


def _check_class_at(cs: ConstraintSet, X: np.ndarray, Y: np.ndarray, c: ClassAt, idx: np.ndarray,
                    other: object) -> str:
    y = Y[idx[0]]
    label = cs._label(c.label, c)
    pred = int(y[0] > 0) if len(y) == 1 else int(np.argmax(y))
    return "" if pred == label else f"predicts class {cs.classes[pred]!r}"


def _rows_monotone(cs: ConstraintSet, form: TrainingFormulation, c: Monotone, idx: np.ndarray, other: np.ndarray
                   ) -> None:
    if not len(idx):
        return
    o = form.point_out.idx
    form.m.add_rows(np.stack([o[other, c.output], o[idx, c.output]], -1), [c.sign, -c.sign], lo=0.0)


def _check_monotone(cs: ConstraintSet, X: np.ndarray, Y: np.ndarray, c: Monotone, idx: np.ndarray,
                    other: np.ndarray) -> str:
    if not len(idx):
        return ""
    d = c.sign * (Y[other, c.output] - Y[idx, c.output])
    return f"a pair changes the output by {float(d.min()):.3g}" if d.min() < -CHECK_TOL else ""


#: the margin by which a point of a VNN-LIB constraint stays out of the unsafe region (one violated row)
SAFE_MARGIN = 1e-4


def _rows_safe_region(cs: ConstraintSet, form: TrainingFormulation, c: SafeRegion, idx: np.ndarray, other: object
                      ) -> None:
    """At each point ``x``: for every disjunct whose input rows hold at ``x``, at least one of its output rows is
    violated by ``SAFE_MARGIN`` (see :func:`add_safe_rows`)."""
    prop = cs.unsafe_region(c)
    out = form.point_out
    for p in idx:
        add_safe_rows(form.enc, out.idx[p], out.lo[p], out.hi[p], form.points[p], prop, SAFE_MARGIN,
                      c.describe())


def add_safe_rows(enc: Encoder, out: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray, prop: Property,
                  margin: float = SAFE_MARGIN, what: str = "the property") -> None:
    """Keep one point out of a VNN-LIB unsafe region: for every disjunct whose input rows hold at the input ``x``,
    at least one of its output rows is violated by ``margin`` (a binary per row picks it when there are several;
    big-M from the output bounds ``lo <= out <= hi``).

    Parameters
    ----------
    enc : Encoder
        Where the rows go (its model holds the output variables).
    out : ndarray of int
        The output variables of the network at ``x``, one per output.
    lo, hi : ndarray
        Their bounds.
    x : ndarray
        The (flat) input: a constant, it decides which disjuncts apply.
    prop : Property
        The unsafe region.
    margin : float
        By how much the chosen row is violated.
    what : str
        Names the constraint in the error for a disjunct without output rows.

    Raises
    ------
    SettingsError
        A disjunct that applies at ``x`` has no output rows: ``x`` is unsafe whatever the network.
    """
    m, n = enc.m, prop.n_inputs
    x = np.asarray(x, dtype=float).reshape(-1)
    for d in prop.disjuncts:
        A, b = d.A, d.b
        Ax, Ay = A[:, :n], A[:, n:]
        outputs_rows = np.any(Ay != 0, axis=1)
        if np.any(Ax[~outputs_rows] @ x > b[~outputs_rows] + 1e-12):
            continue   # x is outside this disjunct's input part
        rows = np.flatnonzero(outputs_rows)
        if not rows.size:
            raise SettingsError(f"{what}: a disjunct has no output rows, so its inputs are unsafe whatever the "
                                "network")
        # A_r [x; y] >= b_r + margin: Ay.y >= need
        need = b[rows] - Ax[rows] @ x + margin
        if rows.size == 1:
            m.add_rows(out[None, :], Ay[rows[0]][None, :], lo=need)
            continue
        u = enc.binaries(rows.size)
        for r, ur, nd in zip(rows, u, need):
            # when u_r = 1: Ay.y - big * u >= need - big
            low = float(np.maximum(Ay[r], 0) @ lo + np.minimum(Ay[r], 0) @ hi)
            big = max(nd - low, 0.0) + 1.0
            m.add_rows(np.concatenate([out, [ur]])[None, :], np.concatenate([Ay[r], [-big]]), lo=nd - big)
        m.add_rows(u[None, :], 1.0, lo=1.0)


def _check_safe_region(cs: ConstraintSet, X: np.ndarray, Y: np.ndarray, c: SafeRegion, idx: np.ndarray,
                       other: object) -> str:
    prop = cs.unsafe_region(c)
    n = cs.n_inputs
    for p in idx:
        v = np.concatenate([X[p], Y[p]])
        for d in prop.disjuncts:
            out_rows = np.any(d.A[:, n:] != 0, axis=1)
            if np.any(d.A[~out_rows] @ v > d.b[~out_rows] + 1e-12):
                continue
            if np.all(d.A[out_rows] @ v < d.b[out_rows] + SAFE_MARGIN - CHECK_TOL):
                return f"the output at a constraint point lies in (or within {SAFE_MARGIN:g} of) the unsafe region"
    return ""


#: rows and numpy checks per constraint type (an output bound at its points is an output range at each point)
_POINT_ROWS = {OutputAt: _rows_output_at, ClassAt: _rows_class_at, Monotone: _rows_monotone,
               OutputBound: _rows_output_at, SafeRegion: _rows_safe_region}
_POINT_CHECK = {OutputAt: _check_output_at, ClassAt: _check_class_at, Monotone: _check_monotone,
                OutputBound: _check_output_at, SafeRegion: _check_safe_region}
