"""Reading and writing networks: mipnet JSON here; ONNX, NNet, PyTorch and VNN-LIB beside it."""

from __future__ import annotations

from pathlib import Path

from mipnet.io.json_format import load_json, save_json
from mipnet.network import Network


def save_network(net: Network, path: str | Path, metadata: dict | None = None) -> None:
    """Save ``net`` as mipnet JSON (human-readable, exact, safe to load)."""
    save_json(net, path, metadata)


def load_network(path: str | Path) -> Network:
    """Load a network from mipnet JSON (``.json``), ONNX (``.onnx``) or NNet (``.nnet``)."""
    if str(path).lower().endswith(".json"):
        return load_json(path)[0]
    from mipnet.io.loaders import load_any

    return load_any(path)


__all__ = ["load_json", "load_network", "save_json", "save_network"]
