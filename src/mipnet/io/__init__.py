"""Reading and writing networks: mipnet JSON; ONNX, NNet and PyTorch import/export; VNN-LIB properties.

Optional dependencies (``onnx``, ``torch``) are imported only when the matching function is called.
"""

from __future__ import annotations

from pathlib import Path

from mipnet.io.json_format import load_json, save_json
from mipnet.io.loaders import load_any, save_any
from mipnet.io.nnet import load_nnet, save_nnet
from mipnet.io.onnx_io import load_onnx, to_onnx
from mipnet.io.torch_io import from_torch, to_torch
from mipnet.io.vnnlib import Disjunct, Property, load_vnnlib, parse_vnnlib
from mipnet.network import Network


def save_network(net: Network, path: str | Path, metadata: dict | None = None) -> None:
    """Save ``net`` as mipnet JSON (human-readable, exact, safe to load)."""
    save_json(net, path, metadata)


def load_network(path: str | Path) -> Network:
    """Load a network from mipnet JSON (``.json``), ONNX (``.onnx``) or NNet (``.nnet``)."""
    if str(path).lower().endswith(".json"):
        return load_json(path)[0]
    return load_any(path)


__all__ = ["Disjunct", "Property", "from_torch", "load_any", "load_json", "load_network", "load_nnet", "load_onnx",
           "load_vnnlib", "parse_vnnlib", "save_any", "save_json", "save_network", "save_nnet", "to_onnx", "to_torch"]
