"""What the layer encoders pass to each other: a layer's values for a batch, and an affine layer's weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mipnet.mip import MIPModel


@dataclass
class Act:
    """One layer's values for every sample of a batch, flattened per sample to ``(N, D)``.

    ``idx`` holds variable indices (``None`` when the values are constants, e.g. training data), ``lo``/``hi``
    their bounds and ``val`` their start values (the forward pass of a known network; ``None`` without one). A
    constant ``Act`` has ``lo == hi == val``.
    """

    idx: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray
    val: np.ndarray | None

    @property
    def const(self) -> bool:
        return self.idx is None

    @classmethod
    def constant(cls, values: np.ndarray) -> Act:
        values = np.asarray(values, dtype=float)
        return cls(None, values, values, values)


@dataclass
class Weights:
    """An affine layer's weights ``(O, E)`` and bias ``(O,)`` as the encoder sees them.

    Each of the two is either constant (``*_idx`` is ``None``, the values in ``weight`` / ``bias``) or a block of
    variables (``*_idx``; ``weight`` / ``bias`` then hold start values or ``None``). A layer without bias has
    ``bias = bias_idx = None``.

    Variable weights lie in ``[-mag, mag]`` (``sum |w| <= budget`` where known) and variable biases in
    ``[-bias_mag, bias_mag]``. How a variable weight multiplies a variable activation:

    * ``beta`` given (a discrete domain): ``w = c0 + sum_t coef_t beta_t`` with binaries ``beta`` of shape
      ``(O, E, T)``: the product is linearised exactly (``beta_start``: their start values);
    * ``bilinear``: ``t = w * a`` as a nonconvex bilinear equality (spatial branch-and-bound only);
    * neither: refused (continuous weights are exact as a MILP only on data).
    """

    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_idx: np.ndarray | None = None
    bias_idx: np.ndarray | None = None
    mag: float = math.inf
    bias_mag: float = 0.0
    budget: float | None = None
    beta: np.ndarray | None = None
    c0: float = 0.0
    coef: np.ndarray | None = None
    beta_start: np.ndarray | None = None
    bilinear: bool = False

    @classmethod
    def of_layer(cls, layer: object) -> Weights:
        """The constant weights of a trained Dense or Conv2D layer."""
        w = np.asarray(layer.weight, dtype=float)
        return cls(weight=w.reshape(w.shape[0], -1), bias=None if layer.bias is None else np.asarray(layer.bias))

    @property
    def n_out(self) -> int:
        return int((self.weight_idx if self.weight_idx is not None else self.weight).shape[0])

    @property
    def constant(self) -> bool:
        """Whether the weights (not necessarily the bias) are constants."""
        return self.weight_idx is None

    def has_start(self) -> bool:
        return self.weight is not None and (self.bias_idx is None or self.bias is not None)

    def bias_columns(self) -> np.ndarray:
        """Bias variable per output unit, ``-1`` where the bias is constant or absent (a dropped term)."""
        return self.bias_idx if self.bias_idx is not None else np.full(self.n_out, -1)

    def bias_values(self) -> np.ndarray:
        return np.zeros(self.n_out) if self.bias is None else np.asarray(self.bias, dtype=float)


class Encoder:
    """Where the layer encoders write: a model, the relaxation switch, the bound widening and the start values.

    Parameters
    ----------
    model : MIPModel
    relax : bool
        Binaries become continuous in ``[0, 1]`` (the LP relaxation used to tighten bounds).
    widen : float
        Relative widening of the interval bounds the encoders compute themselves (verification: rounding of
        ``float`` arithmetic); ``0`` keeps exact big-M values (training).
    """

    def __init__(self, model: MIPModel | None = None, relax: bool = False, widen: float = 0.0) -> None:
        self.m = MIPModel() if model is None else model
        self.relax = relax
        self.widen = widen
        self.n_binaries = 0
        self._start: list[tuple[np.ndarray, np.ndarray]] = []

    def binaries(self, shape: int | tuple[int, ...]) -> np.ndarray:
        """A block of binaries (continuous in ``[0, 1]`` when relaxed)."""
        idx = self.m.add_vars(shape, 0.0, 1.0, integer=not self.relax)
        if not self.relax:
            self.n_binaries += int(idx.size)
        return idx

    def record(self, idx: np.ndarray, values: np.ndarray | None) -> None:
        """Remember start values of variables (ignored when ``values`` is ``None``)."""
        if values is not None:
            self._start.append((np.asarray(idx).reshape(-1), np.broadcast_to(values, np.shape(idx)).reshape(-1)))

    def start_vector(self) -> np.ndarray:
        """The recorded start values as a full vector; variables without one get 0 clipped to their bounds."""
        x = np.full(self.m.n_vars, np.nan)
        for idx, val in self._start:
            x[idx] = val
        missing = np.flatnonzero(np.isnan(x))
        if missing.size:
            lb, ub = self.m.bounds()
            x[missing] = np.clip(0.0, lb[missing], ub[missing])
        return x
