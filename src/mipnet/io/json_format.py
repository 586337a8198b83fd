"""mipnet's own file format: one human-readable JSON document, never pickle.

```
{"format": "mipnet-network", "version": 1, "input_shape": [30],
 "layers": [{"kind": "dense", "units": 4, "relu": true, "bias_on": true, "weight": [[...]], "bias": [...]}, ...],
 "metadata": {...}}
```
Weights are written with full double precision (Python's shortest round-trip repr), so saving and loading is
exact. Loading validates every field and raises :class:`~mipnet.errors.FormatError` naming what is wrong.

The ``metadata`` fields of a trained model (``preprocessing``, ``features``, ``target``, ``task``, ``classes``) are
defined and validated by :mod:`mipnet.model`; read model files with :meth:`mipnet.model.Model.load`, which applies
the preprocessing, rather than with :func:`load_json`, which returns the bare network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mipnet.errors import FormatError, MIPNetError
from mipnet.layers import LAYER_TYPES, Conv2D
from mipnet.network import Network

FORMAT = "mipnet-network"
VERSION = 1


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars made plain and non-finite floats written as the strings "inf", "-inf", "nan"."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def network_to_dict(net: Network, metadata: dict | None = None) -> dict:
    """The JSON-ready description of ``net``."""
    layers = []
    for layer in net.layers:
        entry: dict[str, Any] = {"kind": layer.kind, **layer.params()}
        if layer.is_affine:
            entry["weight"] = layer.weight.tolist()
            entry["bias"] = None if layer.bias is None else layer.bias.tolist()
        layers.append(entry)
    return {"format": FORMAT, "version": VERSION, "input_shape": list(net.input_shape), "layers": layers,
            "metadata": json_safe(metadata or {})}


def network_from_dict(doc: Any, source: str = "document") -> tuple[Network, dict]:
    """Rebuild a network from :func:`network_to_dict` output, validating every field."""
    def bad(msg: str) -> FormatError:
        return FormatError(f"{source}: {msg}")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"not a mipnet network file (expected \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise bad(f"unsupported version {doc.get('version')!r} (this mipnet reads version {VERSION})")
    shape = doc.get("input_shape")
    if not (isinstance(shape, list) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
        raise bad(f"input_shape must be a list of positive integers, got {shape!r}")
    if not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise bad("layers must be a non-empty list")
    layers = []
    for i, entry in enumerate(doc["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str) or entry["kind"] not in LAYER_TYPES:
            raise bad(f"layer {i}: unknown kind {entry.get('kind') if isinstance(entry, dict) else entry!r}")
        params = {k: v for k, v in entry.items() if k not in ("kind", "weight", "bias")}
        try:
            layer = LAYER_TYPES[entry["kind"]](**params)
        except (TypeError, ValueError) as exc:
            raise bad(f"layer {i} ({entry['kind']}): {exc}") from None
        if layer.is_affine:
            try:
                w = np.asarray(entry.get("weight"), dtype=float)
                b = entry.get("bias")
                b = None if b is None else np.asarray(b, dtype=float)
            except (TypeError, ValueError):
                raise bad(f"layer {i}: weight and bias must be arrays of numbers") from None
            if w.ndim == 0 or not np.all(np.isfinite(w)) or (b is not None and not np.all(np.isfinite(b))):
                raise bad(f"layer {i}: weights must be finite numbers")
            want = 4 if isinstance(layer, Conv2D) else 2
            if w.ndim != want:
                raise bad(f"layer {i} ({entry['kind']}): weight must be a {want}-dimensional array, got shape "
                          f"{w.shape}")
            units = layer.out_channels if isinstance(layer, Conv2D) else layer.units
            if w.shape[0] != units:
                raise bad(f"layer {i} ({entry['kind']}): weight has {w.shape[0]} rows for {units} units")
            if b is not None and b.shape != (w.shape[0],):
                raise bad(f"layer {i}: bias has shape {b.shape}, expected ({w.shape[0]},)")
            layer.weight, layer.bias = w, b
        layers.append(layer)
    try:
        net = Network(layers, tuple(shape))
    except MIPNetError as exc:
        raise bad(str(exc)) from None
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad("metadata must be an object")
    return net, meta


def save_json(net: Network, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``net`` (and optional JSON-ready ``metadata``) to ``path``."""
    for layer in net.affine_layers():
        if layer.weight is None:
            raise FormatError("cannot save a network without weights")
    Path(path).write_text(json.dumps(network_to_dict(net, metadata), indent=1, allow_nan=False) + "\n")


def load_json(path: str | Path) -> tuple[Network, dict]:
    """Read a network saved by :func:`save_json`; returns ``(network, metadata)``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{path}: cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    try:
        doc = json.loads(text, parse_constant=lambda c: math.nan)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: damaged JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return network_from_dict(doc, str(path))
