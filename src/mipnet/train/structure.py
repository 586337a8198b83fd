"""Which layers carry structure binaries (filter gates, layer gates), shared by the MIP and its numpy check."""

from __future__ import annotations

from mipnet.layers import Conv2D, Layer, active_units
from mipnet.network import Network

__all__ = ["active_filters", "active_layers", "active_units", "gateable_layers", "is_gateable"]


def is_gateable(net: Network, layer: Layer) -> bool:
    """Whether ``layer`` can carry a layer gate: a hidden affine layer whose output shape equals its input shape
    (switched off, it passes its input through unchanged)."""
    affine = net.affine_layers()
    return layer.is_affine and layer is not affine[-1] and tuple(layer.in_shape) == tuple(layer.out_shape)


def gateable_layers(net: Network) -> list[Layer]:
    """The layers of ``net`` that can carry a layer gate, in order."""
    return [layer for layer in net.layers if is_gateable(net, layer)]


def active_filters(net: Network, tol: float = 0.0) -> list[int]:
    """Number of active filters of each convolution layer (0 for a gated-off layer)."""
    return [int(active_units(layer, tol).sum()) if layer.active else 0
            for layer in net.layers if isinstance(layer, Conv2D)]


def active_layers(net: Network) -> list[bool]:
    """The ``active`` flag of every gateable layer, in order."""
    return [bool(layer.active) for layer in gateable_layers(net)]
