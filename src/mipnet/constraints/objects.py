"""Constraint objects: what a trained network must satisfy, stated on named parts of the network.

Features are referred to by name (a DataFrame column or ``feature_names``) or by index; layers by the index of
the affine layer (0 = the first Dense/Conv2D), neurons and filters by their index in that layer. Three kinds:

* **structure** constraints on weights and structure choices (sign and bound of weights, at most k inputs /
  neurons / filters, implications and exclusions between "input used", "neuron active", "filter active", "layer
  active"): exact rows of the training MIP;
* **point** constraints (a required output or class at given inputs): linear in the encoder's variables for the
  points, exact rows of the training MIP;
* **region** constraints (for every input of a region: monotone in a feature, output within bounds, a VNN-LIB
  unsafe region empty): enforced by the counterexample-guided loop of :mod:`mipnet.constraints.loop` and proved by
  the verifier; :class:`Monotone` also has a sufficient weight-sign mode (exact rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

FeatureRef = int | str


class Kind(StrEnum):
    STRUCTURE = "structure"
    POINT = "point"
    REGION = "region"


class Constraint:
    """Base class of every constraint object."""

    kind: Kind = Kind.STRUCTURE

    def describe(self) -> str:
        """One line for reports."""
        fields = ", ".join(f"{k}={_short(v)}" for k, v in vars(self).items() if v is not None)
        return f"{type(self).__name__}({fields})"


def _short(v: object) -> str:
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}" if v.size > 6 else str(np.round(v, 4).tolist())
    if isinstance(v, Literal):
        return v.describe()
    return repr(v)


# --------------------------------------------------------------------------------------------- weights
@dataclass(frozen=True, eq=False)
class WeightSign(Constraint):
    """Every weight of affine layer ``layer`` from input ``feature`` (a column) and/or into ``neuron`` (a row) has
    sign ``sign`` (``+1``: ``w >= 0``, ``-1``: ``w <= 0``). With neither, the whole layer."""

    sign: int
    layer: int = 0
    feature: FeatureRef | None = None
    neuron: int | None = None


@dataclass(frozen=True, eq=False)
class WeightBound(Constraint):
    """Every selected weight (as for :class:`WeightSign`) lies in ``[lower, upper]``."""

    lower: float = -math.inf
    upper: float = math.inf
    layer: int = 0
    feature: FeatureRef | None = None
    neuron: int | None = None


@dataclass(frozen=True, eq=False)
class MaxInputs(Constraint):
    """At most ``k`` input features used (a feature is used when any first-layer weight from it is nonzero)."""

    k: int


@dataclass(frozen=True, eq=False)
class MaxNeurons(Constraint):
    """At most ``k`` active neurons in every hidden Dense layer."""

    k: int


@dataclass(frozen=True, eq=False)
class MaxFilters(Constraint):
    """At most ``k`` active filters in every convolution layer."""

    k: int


# ------------------------------------------------------------------------------------ structure logic
class Literal:
    """A structure choice that is on or off (a gate of the training MIP)."""

    def describe(self) -> str:
        fields = ", ".join(repr(v) for v in vars(self).values())
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True, eq=False)
class Uses(Literal):
    """Input ``feature`` is used."""

    feature: FeatureRef


@dataclass(frozen=True, eq=False)
class Active(Literal):
    """Neuron ``neuron`` of hidden Dense layer ``layer`` (affine-layer index) is active."""

    neuron: int
    layer: int = 0


@dataclass(frozen=True, eq=False)
class FilterActive(Literal):
    """Filter ``filter`` of convolution layer ``layer`` (affine-layer index) is active."""

    filter: int
    layer: int = 0


@dataclass(frozen=True, eq=False)
class LayerActive(Literal):
    """Affine layer ``layer`` is active (not passed through by its layer gate)."""

    layer: int


@dataclass(frozen=True, eq=False)
class Implies(Constraint):
    """``if_`` on implies ``then`` on."""

    if_: Literal
    then: Literal


@dataclass(frozen=True, eq=False)
class Excludes(Constraint):
    """``a`` and ``b`` are not both on."""

    a: Literal
    b: Literal


# ---------------------------------------------------------------------------------------------- points
@dataclass(frozen=True, eq=False)
class OutputAt(Constraint):
    """At input ``x``, output ``output`` lies in ``[lower, upper]``."""

    x: np.ndarray
    lower: float = -math.inf
    upper: float = math.inf
    output: int = 0
    kind = Kind.POINT


@dataclass(frozen=True, eq=False)
class ClassAt(Constraint):
    """At input ``x`` the classifier predicts ``label`` (a label as given in ``y``), by at least ``margin`` in the
    network's outputs."""

    x: np.ndarray
    label: object
    margin: float = 1e-3
    kind = Kind.POINT


class FairnessKind(StrEnum):
    """Which rates :class:`Fairness` compares between the two groups."""

    DEMOGRAPHIC_PARITY = "demographic_parity"   #: rate of predicted class 1
    EQUALIZED_ODDS = "equalized_odds"           #: rate of predicted class 1 among each true class


@dataclass(frozen=True, eq=False)
class Fairness(Constraint):
    """On the training set, the rate at which the binary classifier predicts class 1 differs by at most ``delta``
    between the samples whose ``feature`` equals ``group`` and the others (per true class for equalised odds).

    ``group`` defaults to the larger of the feature's two values. A sample counts as predicted class 1 when its
    output is ``> 0`` (the classifier's rule); the MIP asks ``o >= margin`` for those, so outputs in ``(0, margin)``
    are excluded, as for the ``zero_one`` loss.
    """

    feature: FeatureRef
    delta: float
    kind_of_rate: FairnessKind = FairnessKind.DEMOGRAPHIC_PARITY
    group: float | None = None
    margin: float = 1e-3
    kind = Kind.POINT


# --------------------------------------------------------------------------------------------- regions
class MonotoneMode(StrEnum):
    """How :class:`Monotone` is enforced."""

    LOOP = "loop"    #: pairs at finitely many points in the MIP, verified over the region, counterexamples added
    SIGN = "sign"    #: a sufficient condition on the weight signs (exact rows; may cost accuracy)


@dataclass(frozen=True, eq=False)
class Monotone(Constraint):
    """Output ``output`` is non-decreasing (``"increasing"``) or non-increasing (``"decreasing"``) in ``feature``
    over the region (the fit's ``region`` unless given here)."""

    feature: FeatureRef
    direction: str = "increasing"
    output: int = 0
    region: tuple | None = None
    mode: MonotoneMode = MonotoneMode.LOOP
    kind = Kind.REGION

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "increasing" else -1.0


@dataclass(frozen=True, eq=False)
class OutputBound(Constraint):
    """Output ``output`` lies in ``[lower, upper]`` for every input of the region."""

    region: tuple | None = None
    lower: float = -math.inf
    upper: float = math.inf
    output: int = 0
    kind = Kind.REGION


@dataclass(frozen=True, eq=False)
class SafeRegion(Constraint):
    """The unsafe region of a VNN-LIB file, or a parsed :class:`~mipnet.io.vnnlib.Property`, over the network's
    inputs (``X_i`` is input feature ``i``) is empty for the trained network."""

    path: str | Path | object
    kind = Kind.REGION


__all__ = ["Active", "ClassAt", "Constraint", "Excludes", "Fairness", "FairnessKind", "FilterActive", "Implies",
           "Kind", "LayerActive", "Literal", "MaxFilters", "MaxInputs", "MaxNeurons", "Monotone", "MonotoneMode",
           "OutputAt", "OutputBound", "SafeRegion", "Uses", "WeightBound", "WeightSign"]
