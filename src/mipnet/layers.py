"""Neutral layer descriptions: each layer knows its shapes and evaluates itself with numpy.

Layers hold no solver logic; the encoders in :mod:`mipnet.encode` turn them into constraints (for training and
verification alike). Each layer with a sliding window (or a weight matrix) knows its own geometry through
:meth:`Layer.windows`. Affine layers (:class:`Dense`, :class:`Conv2D`) carry a ``relu`` flag: ``True`` applies a
ReLU after the affine map, ``False`` leaves it linear, ``None`` means "decide when the network is built"
(ReLU everywhere except on the last affine layer).

Shapes follow PyTorch: a dense weight is ``(out, in)``, a convolution weight ``(out, in, kh, kw)``, images
are ``(N, C, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mipnet.errors import ShapeError

Shape = tuple[int, ...]


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def window_shape(in_shape: Shape, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> tuple[int, int]:
    """``(OH, OW)``, the number of window positions of a sliding window over a ``(C, H, W)`` input (computed
    without building the index, so checking a shape costs nothing however large it is)."""
    _, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"window {kernel} with padding {padding} does not fit an input of {h}x{w}")
    return oh, ow


def window_index(in_shape: Shape, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> tuple[np.ndarray, Shape]:
    """Flat input indices covered by each sliding window, the one place for window geometry.

    Parameters
    ----------
    in_shape : tuple
        ``(C, H, W)`` of the input.
    kernel, stride, padding : pair of int
        Window size, step and zero padding on each side.

    Returns
    -------
    index : ndarray of int, shape ``(C, OH*OW, kh*kw)``
        ``index[c, p, k]`` is the flat position (in ``C*H*W``) of kernel element ``k`` of output position ``p``
        in channel ``c``, or ``-1`` where the window covers padding.
    out_hw : tuple
        ``(OH, OW)``.
    """
    c, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = window_shape(in_shape, kernel, stride, padding)
    rows = (np.arange(oh) * sh)[:, None, None, None] + np.arange(kh)[None, None, :, None] - ph
    cols = (np.arange(ow) * sw)[None, :, None, None] + np.arange(kw)[None, None, None, :] - pw
    rows, cols = np.broadcast_arrays(rows, cols)  # (oh, ow, kh, kw)
    valid = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    hw_index = np.where(valid, rows * w + cols, -1).reshape(oh * ow, kh * kw)
    chan = (np.arange(c) * h * w)[:, None, None]
    index = np.where(hw_index[None] >= 0, hw_index[None] + chan, -1)
    return index.astype(np.int64), (oh, ow)


def gather_windows(X: np.ndarray, index: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Gather ``X[:, index]`` for flattened inputs ``X`` of shape ``(N, D)``, with ``fill`` where index is -1."""
    padded = np.concatenate([X, np.full((X.shape[0], 1), fill, dtype=X.dtype)], axis=1)
    return padded[:, np.where(index >= 0, index, X.shape[1])]


def active_units(layer: Layer, tol: float = 0.0) -> np.ndarray:
    """Per output unit (neuron or filter) of an affine layer: whether any weight or its bias is nonzero."""
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    b = layer.bias if layer.bias is not None else np.zeros(w.shape[0])
    return (np.abs(w) > tol).any(axis=1) | (np.abs(b) > tol)


class Layer:
    """Base class: a layer maps an input of ``in_shape`` (without the batch axis) to ``out_shape``."""

    kind: str = "layer"
    in_shape: Shape | None = None

    def build(self, in_shape: Shape) -> Shape:
        """Check ``in_shape``, store it and return the output shape."""
        raise NotImplementedError

    @property
    def out_shape(self) -> Shape:
        if self.in_shape is None:
            raise ShapeError(f"{self.kind} layer is not built yet")
        return self.build(self.in_shape)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Evaluate the layer on a batch ``X`` of shape ``(N, *in_shape)``."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The hyper-parameters (not the weights) as plain JSON values."""
        return {}

    def windows(self) -> np.ndarray:
        """The layer's geometry: flat input indices (within one sample) that feed each output row.

        Returns
        -------
        ndarray of int, shape ``(R, K)``
            For an affine layer, ``R`` output positions (1 for :class:`Dense`, ``OH*OW`` for :class:`Conv2D`) by
            ``K`` weight columns; for a pooling layer, ``R = C*OH*OW`` output entries by ``K = kh*kw`` window
            slots. ``-1`` marks zero padding.
        """
        raise TypeError(f"{type(self).__name__} has no window geometry")

    @property
    def is_affine(self) -> bool:
        return False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@dataclass(repr=False, eq=False)
class Dense(Layer):
    """Fully connected layer ``z = W a + b`` (``W`` of shape ``(units, in)``), optionally followed by ReLU.

    ``active=False`` marks a layer switched off by its layer gate: it passes its input through unchanged (so it
    needs ``units`` equal to its input width) and its weights are ignored.
    """

    units: int
    relu: bool | None = None
    bias_on: bool = True
    weight: np.ndarray | None = field(default=None)
    bias: np.ndarray | None = field(default=None)
    active: bool = True
    kind = "dense"

    def __post_init__(self) -> None:
        if int(self.units) < 1:
            raise ShapeError(f"Dense needs at least one unit, got {self.units}")
        self.units = int(self.units)
        self.in_shape = None
        if self.weight is not None:
            self.weight = np.asarray(self.weight, dtype=float)
            if self.weight.ndim != 2 or self.weight.shape[0] != self.units:
                raise ShapeError(f"Dense weight must have shape ({self.units}, in), got {self.weight.shape}")
        if self.bias is not None:
            self.bias = np.asarray(self.bias, dtype=float).reshape(-1)

    @property
    def is_affine(self) -> bool:
        return True

    def build(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise ShapeError(f"Dense({self.units}) needs a flat input, got shape {in_shape}: add Flatten() before it")
        if self.weight is not None and self.weight.shape[1] != in_shape[0]:
            raise ShapeError(f"Dense({self.units}) weight has {self.weight.shape[1]} inputs, "
                             f"the layer gets {in_shape[0]}")
        if not self.active and in_shape[0] != self.units:
            raise ShapeError(f"an inactive (gated-off) Dense({self.units}) passes its input through, so it needs "
                             f"{self.units} inputs, got {in_shape[0]}")
        self.in_shape = tuple(in_shape)
        return (self.units,)

    def windows(self) -> np.ndarray:
        return np.arange(self.in_shape[0])[None, :]

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not self.active:
            return X
        z = X @ self.weight.T
        if self.bias is not None:
            z = z + self.bias
        return np.maximum(z, 0.0) if self.relu else z

    def params(self) -> dict[str, Any]:
        return {"units": self.units, "relu": self.relu, "bias_on": self.bias_on, "active": bool(self.active)}


@dataclass(repr=False, eq=False)
class Conv2D(Layer):
    """2-D convolution with zero padding (cross-correlation, as in PyTorch), optionally followed by ReLU.

    ``active=False`` marks a layer switched off by its layer gate: it passes its input through unchanged (its
    output shape must equal its input shape) and its weights are ignored.
    """

    out_channels: int
    kernel: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    bias_on: bool = True
    relu: bool | None = None
    weight: np.ndarray | None = field(default=None)
    bias: np.ndarray | None = field(default=None)
    active: bool = True
    kind = "conv2d"

    def __post_init__(self) -> None:
        self.kernel, self.stride, self.padding = _pair(self.kernel), _pair(self.stride), _pair(self.padding)
        if int(self.out_channels) < 1 or min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ShapeError(f"invalid Conv2D({self.out_channels}, kernel={self.kernel}, stride={self.stride}, "
                             f"padding={self.padding})")
        self.out_channels = int(self.out_channels)
        self.in_shape = None
        if self.weight is not None:
            self.weight = np.asarray(self.weight, dtype=float)
        if self.bias is not None:
            self.bias = np.asarray(self.bias, dtype=float).reshape(-1)

    @property
    def is_affine(self) -> bool:
        return True

    def build(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ShapeError(f"Conv2D needs (C, H, W) input, got shape {in_shape}")
        oh, ow = window_shape(in_shape, self.kernel, self.stride, self.padding)
        expect = (self.out_channels, in_shape[0], *self.kernel)
        if self.weight is not None and self.weight.shape != expect:
            raise ShapeError(f"Conv2D weight must have shape {expect}, got {self.weight.shape}")
        if not self.active and (self.out_channels, oh, ow) != tuple(in_shape):
            raise ShapeError(f"an inactive (gated-off) Conv2D passes its input through, so its output shape "
                             f"{(self.out_channels, oh, ow)} must equal its input shape {tuple(in_shape)}")
        self.in_shape = tuple(in_shape)
        return (self.out_channels, oh, ow)

    def windows(self) -> np.ndarray:
        """Flat input index of every (position, in-channel, kh, kw) element: shape ``(OH*OW, C*kh*kw)``."""
        idx, _ = window_index(self.in_shape, self.kernel, self.stride, self.padding)  # (C, P, K)
        return idx.transpose(1, 0, 2).reshape(idx.shape[1], -1)

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not self.active:
            return X
        n = X.shape[0]
        out_shape = self.out_shape
        patches = gather_windows(X.reshape(n, -1), self.windows())  # (N, P, C*k*k)
        z = patches @ self.weight.reshape(self.out_channels, -1).T  # (N, P, out)
        if self.bias is not None:
            z = z + self.bias
        z = z.transpose(0, 2, 1).reshape(n, *out_shape)
        return np.maximum(z, 0.0) if self.relu else z

    def params(self) -> dict[str, Any]:
        return {"out_channels": self.out_channels, "kernel": list(self.kernel), "stride": list(self.stride),
                "padding": list(self.padding), "bias_on": self.bias_on, "relu": self.relu, "active": bool(self.active)}


@dataclass(repr=False, eq=False)
class _Pool2D(Layer):
    kernel: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.kernel = _pair(self.kernel)
        self.stride = self.kernel if self.stride is None else _pair(self.stride)
        if min(self.kernel) < 1 or min(self.stride) < 1:
            raise ShapeError(f"invalid {type(self).__name__}(kernel={self.kernel}, stride={self.stride})")
        self.in_shape = None

    def build(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ShapeError(f"{type(self).__name__} needs (C, H, W) input, got shape {in_shape}")
        oh, ow = window_shape(in_shape, self.kernel, self.stride, (0, 0))
        self.in_shape = tuple(in_shape)
        return (in_shape[0], oh, ow)

    def windows(self) -> np.ndarray:
        """Flat input indices of each window: shape ``(C*OH*OW, kh*kw)`` (output entries in ``(C, H, W)`` order)."""
        idx = window_index(self.in_shape, self.kernel, self.stride, (0, 0))[0]
        return idx.reshape(-1, idx.shape[-1])

    def _windows(self, X: np.ndarray) -> np.ndarray:
        return gather_windows(X.reshape(X.shape[0], -1), self.windows())  # (N, C*P, K)

    def params(self) -> dict[str, Any]:
        return {"kernel": list(self.kernel), "stride": list(self.stride)}


class MaxPool2D(_Pool2D):
    """Max pooling over ``kernel`` windows (no padding)."""

    kind = "maxpool2d"

    def forward(self, X: np.ndarray) -> np.ndarray:
        return self._windows(X).max(axis=-1).reshape(X.shape[0], *self.out_shape)


class AvgPool2D(_Pool2D):
    """Average pooling over ``kernel`` windows (no padding): linear."""

    kind = "avgpool2d"

    def forward(self, X: np.ndarray) -> np.ndarray:
        return self._windows(X).mean(axis=-1).reshape(X.shape[0], *self.out_shape)


class Flatten(Layer):
    """Reshape ``(C, H, W)`` to ``C*H*W`` in C order (as ``torch.flatten``)."""

    kind = "flatten"

    def __init__(self) -> None:
        self.in_shape = None

    def build(self, in_shape: Shape) -> Shape:
        self.in_shape = tuple(in_shape)
        return (int(np.prod(in_shape)),)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(X.shape[0], -1)


LAYER_TYPES: dict[str, type[Layer]] = {
    "dense": Dense, "conv2d": Conv2D, "maxpool2d": MaxPool2D, "avgpool2d": AvgPool2D, "flatten": Flatten,
}
