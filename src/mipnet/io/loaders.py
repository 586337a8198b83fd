"""Load a network from a file, choosing the reader by the file's extension."""

from __future__ import annotations

from pathlib import Path

from mipnet.errors import FormatError
from mipnet.network import Network

SUPPORTED = (".onnx", ".nnet")


def load_any(path: str | Path) -> Network:
    """Read a network from ``.onnx`` or ``.nnet`` (NNet in its normalised space, like the ACAS Xu ONNX files).

    Raises
    ------
    FormatError
        Unknown extension, or a file mipnet cannot read.
    OSError
        The file does not exist or cannot be read.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SUPPORTED:
        raise FormatError(f"{p}: unknown network file type {ext or '(none)'!r}; "
                          f"supported: .json (mipnet), {', '.join(SUPPORTED)}")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    if ext == ".onnx":
        from mipnet.io.onnx_io import load_onnx

        return load_onnx(p)
    from mipnet.io.nnet import load_nnet

    return load_nnet(p)
