"""The NNet text format (Julian et al., used for the ACAS Xu networks).

Layout: ``//`` comment lines, then ``numLayers, inputSize, outputSize, maxLayerSize``; the layer sizes; a legacy
flag; the input minimums, maximums, means (inputs + 1 output) and ranges (inputs + 1 output); then for each layer
its weight rows (one line per output neuron) followed by its biases (one line each). Hidden layers have ReLU, the
last is linear.

**Which space the network works in.** An NNet file stores the raw weights, which act on *normalised* inputs
``(x - mean) / range`` (after clipping ``x`` to ``[min, max]``) and give *normalised* outputs; the physical output
is ``y * range_out + mean_out``. :func:`load_nnet` returns, by default (``space="normalized"``), the network on
normalised inputs and outputs: exactly what the ACAS Xu ONNX files compute and what the ACAS Xu ``.vnnlib``
properties are written in. ``space="physical"`` folds the (affine) normalisation of inputs and outputs into the
first and last layers; the clipping to ``[min, max]`` is not represented, so that network equals the NNet
semantics only for inputs inside ``[min, max]`` (verify over regions inside that box).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mipnet.errors import FormatError, SettingsError
from mipnet.layers import Dense
from mipnet.network import Network


def _numbers(line: str) -> list[float]:
    return [float(t) for t in line.replace(",", " ").split()]


def read_nnet(path: str | Path) -> dict:
    """Parse an NNet file into its parts: ``sizes``, ``weights``, ``biases``, ``mins``, ``maxs``, ``means``,
    ``ranges``."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("//")]
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    try:
        n_layers, n_in, n_out, _ = (int(v) for v in _numbers(lines[0])[:4])
        sizes = [int(v) for v in _numbers(lines[1])]
        if len(sizes) != n_layers + 1 or sizes[0] != n_in or sizes[-1] != n_out:
            raise FormatError(f"{path}: layer sizes {sizes} do not match the header ({n_layers} layers, "
                              f"{n_in} inputs, {n_out} outputs)")
        mins, maxs = np.array(_numbers(lines[3])), np.array(_numbers(lines[4]))
        means, ranges = np.array(_numbers(lines[5])), np.array(_numbers(lines[6]))
        pos = 7
        weights, biases = [], []
        for k in range(n_layers):
            rows = [_numbers(lines[pos + r]) for r in range(sizes[k + 1])]
            pos += sizes[k + 1]
            W = np.array(rows, dtype=float)
            if W.shape != (sizes[k + 1], sizes[k]):
                raise FormatError(f"{path}: layer {k} weights have shape {W.shape}, expected "
                                  f"{(sizes[k + 1], sizes[k])}")
            b = np.array([_numbers(lines[pos + r])[0] for r in range(sizes[k + 1])], dtype=float)
            pos += sizes[k + 1]
            weights.append(W)
            biases.append(b)
    except (IndexError, ValueError, OverflowError) as exc:
        raise FormatError(f"{path}: not a valid NNet file ({exc})") from None
    if len(mins) < n_in or len(maxs) < n_in or len(means) < n_in + 1 or len(ranges) < n_in + 1:
        raise FormatError(f"{path}: the normalisation lines are too short")
    if not all(np.all(np.isfinite(a)) for a in [*weights, *biases]):
        raise FormatError(f"{path}: the weights and biases must be finite numbers")
    return {"sizes": sizes, "weights": weights, "biases": biases, "mins": mins[:n_in], "maxs": maxs[:n_in],
            "means": means[:n_in + 1], "ranges": ranges[:n_in + 1]}


def load_nnet(path: str | Path, space: str = "normalized") -> Network:
    """Read an NNet file as a :class:`~mipnet.network.Network`.

    Parameters
    ----------
    path : str or Path
    space : {"normalized", "physical"}
        ``"normalized"`` (default): the stored weights as they are, on normalised inputs and outputs (the space of
        the ACAS Xu ONNX and VNN-LIB files). ``"physical"``: input normalisation and output scaling folded into the
        first and last layers (without the input clipping; see the module notes).

    Returns
    -------
    Network
    """
    if space not in ("normalized", "physical"):
        raise SettingsError(f"space must be 'normalized' or 'physical', got {space!r}")
    d = read_nnet(path)
    Ws, bs = [w.copy() for w in d["weights"]], [b.copy() for b in d["biases"]]
    if space == "physical":
        n_in = d["sizes"][0]
        mean_in, range_in = d["means"][:n_in], d["ranges"][:n_in]
        # W ((x - m) / r) + b = (W / r) x + (b - (W / r) m)
        Ws[0] = Ws[0] / range_in[None, :]
        bs[0] = bs[0] - Ws[0] @ mean_in
        Ws[-1] = Ws[-1] * d["ranges"][-1]
        bs[-1] = bs[-1] * d["ranges"][-1] + d["means"][-1]
    layers = [Dense(W.shape[0], relu=k < len(Ws) - 1, weight=W, bias=b) for k, (W, b) in enumerate(zip(Ws, bs))]
    net = Network(layers, d["sizes"][0])
    net.nnet_normalization = {k: d[k] for k in ("mins", "maxs", "means", "ranges")}  # type: ignore[attr-defined]
    return net


def save_nnet(net: Network, path: str | Path, normalization: dict | None = None) -> None:
    """Write a network of Dense layers (ReLU on every hidden layer, the last linear) as an NNet file.

    Parameters
    ----------
    net : Network
        Its weights are written as they are: they act on normalised inputs and give normalised outputs, as the
        network of :func:`load_nnet` with ``space="normalized"``.
    path : str or Path
    normalization : dict or None
        ``mins``, ``maxs`` (one per input), ``means``, ``ranges`` (inputs + 1 output) for the header. Default: the
        ``nnet_normalization`` of a network read by :func:`load_nnet` (so a file read and written back keeps its
        header), else the identity (means 0, ranges 1) with unbounded input limits (``+-1.7976931348623157e308``).

    Raises
    ------
    FormatError
        The network is not a plain stack of Dense layers with that activation pattern.
    """
    layers = net.layers
    if not all(isinstance(layer, Dense) and layer.active for layer in layers):
        raise FormatError("NNet holds Dense layers only (no convolution, pooling, flatten or gated-off layer)")
    if any(bool(layer.relu) != (k < len(layers) - 1) for k, layer in enumerate(layers)):
        raise FormatError("NNet needs ReLU after every hidden layer and a linear last layer")
    n_in, n_out = net.n_inputs, net.n_outputs
    norm = normalization if normalization is not None else getattr(net, "nnet_normalization", None)
    if norm is None:
        big = float(np.finfo(float).max)
        norm = {"mins": np.full(n_in, -big), "maxs": np.full(n_in, big), "means": np.zeros(n_in + 1),
                "ranges": np.ones(n_in + 1)}
    parts = {k: np.asarray(norm[k], dtype=float).reshape(-1) for k in ("mins", "maxs", "means", "ranges")}
    for k, size in (("mins", n_in), ("maxs", n_in), ("means", n_in + 1), ("ranges", n_in + 1)):
        if parts[k].size != size:
            raise FormatError(f"NNet normalization: {k} needs {size} values, got {parts[k].size}")
    sizes = [n_in] + [layer.units for layer in layers]

    def line(values: np.ndarray) -> str:
        return ",".join(repr(float(v)) for v in np.ravel(values)) + ",\n"

    out = ["// Neural network in the NNet format, written by mipnet\n",
           f"{len(layers)},{n_in},{n_out},{max(sizes)},\n", ",".join(map(str, sizes)) + ",\n", "0,\n"]
    out += [line(parts[k]) for k in ("mins", "maxs", "means", "ranges")]
    for layer in layers:
        out += [line(row) for row in layer.weight]
        bias = np.zeros(layer.units) if layer.bias is None else layer.bias
        out += [f"{float(b)!r},\n" for b in bias]
    Path(path).write_text("".join(out), encoding="utf-8")
