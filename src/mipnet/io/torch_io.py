"""PyTorch import (``from_torch``) and export (``to_torch``) of ``nn.Sequential`` ReLU networks.

Supported modules: ``Linear``, ``Conv2d`` (no groups, no dilation, symmetric zero padding), ``ReLU`` (after an
affine module, possibly with ``Flatten`` in between), ``MaxPool2d`` and ``AvgPool2d`` (no padding, no ceil mode),
``Flatten`` and ``Identity``/``Dropout`` (ignored). ``torch`` is imported lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mipnet.errors import FormatError, SettingsError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D
from mipnet.network import Network


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SettingsError("PyTorch support needs torch: pip install torch") from exc
    return torch


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def from_torch(module: Any, input_shape: int | tuple[int, ...] | None = None) -> Network:
    """Convert a PyTorch ``nn.Sequential`` (or a single module) into a :class:`~mipnet.network.Network`.

    Parameters
    ----------
    module : torch.nn.Module
        ``nn.Sequential`` of Linear, Conv2d, ReLU, MaxPool2d, AvgPool2d, Flatten.
    input_shape : int or tuple, optional
        Shape of one input without the batch axis. Needed when the first module is not ``Linear``
        (e.g. ``(1, 28, 28)`` for a convolutional network).

    Returns
    -------
    Network

    Raises
    ------
    FormatError
        A module mipnet cannot represent; the message names it.
    """
    torch = _torch()
    nn = torch.nn
    mods = list(module) if isinstance(module, nn.Sequential) else [module]
    layers: list[Layer] = []

    def fail(i: int, m: Any, why: str) -> FormatError:
        return FormatError(f"unsupported module {i} ({type(m).__name__}): {why}")

    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            W = m.weight.detach().double().cpu().numpy().copy()
            b = m.bias.detach().double().cpu().numpy().copy() if m.bias is not None else np.zeros(W.shape[0])
            layers.append(Dense(W.shape[0], relu=False, bias_on=m.bias is not None, weight=W, bias=b))
            if input_shape is None and not layers[:-1]:
                input_shape = (W.shape[1],)
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1 or _pair(m.dilation) != (1, 1):
                raise fail(i, m, "grouped or dilated convolutions are not supported")
            if isinstance(m.padding, str) or m.padding_mode != "zeros":
                raise fail(i, m, "only explicit zero padding is supported")
            W = m.weight.detach().double().cpu().numpy().copy()
            b = m.bias.detach().double().cpu().numpy().copy() if m.bias is not None else np.zeros(W.shape[0])
            layers.append(Conv2D(W.shape[0], kernel=_pair(m.kernel_size), stride=_pair(m.stride),
                                 padding=_pair(m.padding), bias_on=m.bias is not None, relu=False, weight=W, bias=b))
        elif isinstance(m, nn.ReLU):
            k = len(layers) - 1
            while k >= 0 and isinstance(layers[k], Flatten):
                k -= 1
            if k < 0 or not layers[k].is_affine or layers[k].relu:
                raise fail(i, m, "a ReLU must follow a Linear or Conv2d module that has no ReLU yet")
            layers[k].relu = True
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            if _pair(m.padding) != (0, 0) or m.ceil_mode:
                raise fail(i, m, "padded or ceil-mode pooling is not supported")
            if isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != (1, 1):
                raise fail(i, m, "dilated pooling is not supported")
            stride = m.stride if m.stride is not None else m.kernel_size
            cls = MaxPool2D if isinstance(m, nn.MaxPool2d) else AvgPool2D
            layers.append(cls(_pair(m.kernel_size), _pair(stride)))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise fail(i, m, "only Flatten(start_dim=1, end_dim=-1) is supported")
            layers.append(Flatten())
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        else:
            raise fail(i, m, "this module type is not supported")
    if input_shape is None:
        raise SettingsError("give input_shape: the first module does not determine the input size")
    return Network(layers, input_shape)


def to_torch(net: Network, dtype: Any = None) -> Any:
    """Build a PyTorch ``nn.Sequential`` computing the same function as ``net``.

    Parameters
    ----------
    net : Network
    dtype : torch.dtype, optional
        Parameter type; default ``torch.float64`` so that the weights are kept exactly.

    Returns
    -------
    torch.nn.Sequential
    """
    torch = _torch()
    nn = torch.nn
    dtype = torch.float64 if dtype is None else dtype
    mods: list[Any] = []
    for layer in net.layers:
        if isinstance(layer, (Dense, Conv2D)):
            if isinstance(layer, Dense):
                m = nn.Linear(layer.weight.shape[1], layer.units, bias=layer.bias is not None, dtype=dtype)
            else:
                m = nn.Conv2d(layer.weight.shape[1], layer.out_channels, layer.kernel, stride=layer.stride,
                              padding=layer.padding, bias=layer.bias is not None, dtype=dtype)
            with torch.no_grad():
                m.weight.copy_(torch.as_tensor(layer.weight, dtype=dtype))
                if layer.bias is not None:
                    m.bias.copy_(torch.as_tensor(layer.bias, dtype=dtype))
            mods.append(m)
        elif isinstance(layer, MaxPool2D):
            mods.append(nn.MaxPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, AvgPool2D):
            mods.append(nn.AvgPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, Flatten):
            mods.append(nn.Flatten())
        else:  # pragma: no cover
            raise FormatError(f"cannot export layer {layer!r} to PyTorch")
        if layer.is_affine and layer.relu:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)
