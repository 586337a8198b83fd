"""Per-layer bounds of a network over an input region (the object every verification step passes around)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mipnet.bounds import interval
from mipnet.errors import SettingsError
from mipnet.network import Network


class BoundTightening(StrEnum):
    """How hard to work on neuron bounds before the final MIP."""

    INTERVAL = "interval"   #: interval arithmetic only
    LP = "lp"               #: + LP relaxation bounds for unstable neurons (default)
    MIP = "mip"             #: + MIP bounds (per-neuron time limit) for neurons the LP leaves unstable

    @classmethod
    def parse(cls, value: str | BoundTightening) -> BoundTightening:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise SettingsError(f"unknown bound tightening {value!r}: choose one of "
                                f"{[m.value for m in cls]}") from None


@dataclass
class LayerBounds:
    """Input box and, per layer, bounds on the affine pre-activations (or on the output of other layers).

    Attributes
    ----------
    input_lo, input_hi : ndarray
        Flat input box.
    lo, hi : list of ndarray
        One flat array per layer of ``net.layers``.
    method : str
        How the bounds were obtained (a :class:`BoundTightening` value, or ``"crown"``).
    stats : dict
        Counts of unstable neurons and LP/MIP solves.
    empty : bool
        The solver proved the input region (box and extra rows) empty; the lists may then be incomplete.
    """

    input_lo: np.ndarray
    input_hi: np.ndarray
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    method: str = BoundTightening.INTERVAL
    stats: dict = field(default_factory=dict)
    empty: bool = False

    def post(self, net: Network, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on the output of layer ``i`` (after its ReLU); ``i = -1`` is the input box."""
        if i < 0:
            return self.input_lo, self.input_hi
        layer = net.layers[i]
        if layer.is_affine and layer.relu and layer.active:
            return interval.relu(self.lo[i], self.hi[i])
        return self.lo[i], self.hi[i]

    def unstable(self, net: Network) -> int:
        """Number of ReLUs with ``L < 0 < U`` (each costs one binary)."""
        return int(sum(np.sum((lo < 0) & (hi > 0)) for layer, lo, hi in zip(net.layers, self.lo, self.hi)
                       if layer.is_affine and layer.relu))


def check_box(net: Network, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input box as flat float arrays; a :class:`SettingsError` unless it has ``n_inputs`` finite entries."""
    lo = np.asarray(lower, dtype=float).reshape(-1)
    hi = np.asarray(upper, dtype=float).reshape(-1)
    if lo.size != net.n_inputs or hi.size != net.n_inputs:
        raise SettingsError(f"the input box needs {net.n_inputs} entries, got {lo.size} and {hi.size}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise SettingsError("the input box must be finite in every input")
    return lo, hi


def interval_bounds(net: Network, lower: np.ndarray, upper: np.ndarray, rel: float = interval.ROUND_EPS
                    ) -> LayerBounds:
    """Interval bounds on every layer of ``net`` over the box (widened by ``rel`` for rounding)."""
    lo, hi = check_box(net, lower, upper)
    lb = LayerBounds(lo, hi, method=BoundTightening.INTERVAL)
    for i, layer in enumerate(net.layers):
        l, u = interval.layer_bounds(layer, *lb.post(net, i - 1), rel=rel)
        lb.lo.append(l)
        lb.hi.append(u)
    return lb
