"""The network: an ordered list of layers with an input shape, evaluated with plain numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mipnet.errors import ShapeError
from mipnet.layers import Conv2D, Dense, Layer, Shape


class Network:
    """A feed-forward ReLU network.

    Parameters
    ----------
    layers : sequence of Layer
        Layers in order. Affine layers whose ``relu`` is ``None`` get a ReLU unless they are the last affine
        layer.
    input_shape : int or tuple
        Shape of one input without the batch axis: ``n_features`` or ``(C, H, W)``.

    Attributes
    ----------
    layers : list of Layer
    input_shape, output_shape : tuple
    """

    def __init__(self, layers: Sequence[Layer], input_shape: int | Shape) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ShapeError("a network needs at least one layer")
        self.input_shape: Shape = ((int(input_shape),) if np.isscalar(input_shape)
                                   else tuple(int(s) for s in input_shape))
        affine = [i for i, layer in enumerate(self.layers) if layer.is_affine]
        if not affine:
            raise ShapeError("a network needs at least one Dense or Conv2D layer")
        for i in affine:
            if self.layers[i].relu is None:
                self.layers[i].relu = i != affine[-1]
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.build(shape)
            except ShapeError as exc:
                raise ShapeError(f"layer {i} ({layer!r}): {exc}") from None
        if len(shape) != 1:
            raise ShapeError(f"the network's output must be flat, got shape {shape}: add Flatten() and Dense()")
        self.output_shape: Shape = shape

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_outputs(self) -> int:
        return int(self.output_shape[0])

    def has_weights(self) -> bool:
        return all(layer.weight is not None for layer in self.layers if layer.is_affine)

    def check_input(self, X: np.ndarray) -> np.ndarray:
        """Return ``X`` as a float array of shape ``(N, *input_shape)`` or raise :class:`ShapeError`."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 1 and X.size == self.n_inputs:
            X = X.reshape(1, -1)
        if X.shape[1:] != self.input_shape:
            if X.ndim >= 2 and int(np.prod(X.shape[1:])) == self.n_inputs:
                X = X.reshape(X.shape[0], *self.input_shape)
            else:
                raise ShapeError(f"input has shape {X.shape[1:]} per sample, the network expects {self.input_shape}")
        return X

    def forward(self, X: np.ndarray, return_all: bool = False) -> np.ndarray | list[np.ndarray]:
        """Raw outputs (scores) of the network for a batch ``X``.

        Parameters
        ----------
        X : array of shape ``(N, *input_shape)`` (a flat ``(N, n_inputs)`` is reshaped)
        return_all : bool
            Return the list of every layer's output (after its ReLU) instead of the last.
        """
        if not self.has_weights():
            raise ShapeError("the network has no weights yet")
        a = self.check_input(X)
        outs = []
        for layer in self.layers:
            a = layer.forward(a)
            outs.append(a)
        return outs if return_all else a

    def pre_activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, with affine layers reported *before* their ReLU."""
        a = self.check_input(X)
        outs = []
        for layer in self.layers:
            if layer.is_affine and layer.relu and getattr(layer, "active", True):
                layer.relu = False
                try:
                    z = layer.forward(a)
                finally:
                    layer.relu = True
                outs.append(z)
                a = np.maximum(z, 0.0)
            else:
                a = layer.forward(a)
                outs.append(a)
        return outs

    def affine_layers(self) -> list[Dense | Conv2D]:
        return [layer for layer in self.layers if layer.is_affine]

    def n_parameters(self, nonzero: bool = False, tol: float = 0.0) -> int:
        """Count weights and biases (only those with ``|value| > tol`` when ``nonzero``)."""
        total = 0
        for layer in self.affine_layers():
            for arr in (layer.weight, layer.bias):
                if arr is not None:
                    total += int(np.sum(np.abs(arr) > tol)) if nonzero else arr.size
        return total

    def summary(self, tol: float = 1e-9) -> dict:
        """Architecture and sparsity facts: nonzero weights, active neurons/filters, inputs used."""
        layers = []
        for layer in self.layers:
            entry = {"kind": layer.kind, **layer.params(), "out_shape": list(layer.out_shape)}
            if layer.is_affine and layer.weight is not None:
                w = layer.weight.reshape(layer.weight.shape[0], -1)
                b = layer.bias if layer.bias is not None else np.zeros(w.shape[0])
                active = (np.abs(w) > tol).any(axis=1) | (np.abs(b) > tol)
                entry.update(nonzero_weights=int(np.sum(np.abs(w) > tol)), weights=int(w.size),
                             active_units=int(active.sum()), units=int(w.shape[0]))
            layers.append(entry)
        first = self.affine_layers()[0]
        used = None
        if isinstance(first, Dense) and first.weight is not None and len(self.input_shape) == 1 \
                and self.layers[0] is first:
            used = [int(k) for k in np.flatnonzero((np.abs(first.weight) > tol).any(axis=0))]
        return {"input_shape": list(self.input_shape), "output_shape": list(self.output_shape), "layers": layers,
                "parameters": self.n_parameters(), "nonzero_parameters": self.n_parameters(True, tol),
                "inputs_used": used}

    def __repr__(self) -> str:
        return f"Network(input_shape={self.input_shape}, layers={self.layers!r})"
