"""Load or save a network, choosing the reader or writer by the file's extension."""

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


#: the formats :func:`save_any` writes, by extension
WRITABLE = (".json", ".onnx", ".nnet")


def save_any(net: Network, path: str | Path) -> None:
    """Write ``net`` in the format its extension names: ``.json`` (mipnet), ``.onnx`` (float64) or ``.nnet``.

    Raises
    ------
    FormatError
        Unknown extension, or a network the format cannot hold (NNet: Dense layers only).
    OSError
        The file cannot be written.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITABLE:
        raise FormatError(f"{p}: cannot write network file type {ext or '(none)'!r}; supported: "
                          f"{', '.join(WRITABLE)}")
    if ext == ".json":
        from mipnet.io.json_format import save_json

        save_json(net, p)
    elif ext == ".onnx":
        from mipnet.io.onnx_io import to_onnx

        to_onnx(net, p, dtype="float64")   # the exact weights (a repair is proved for these, not their rounding)
    else:
        from mipnet.io.nnet import save_nnet

        save_nnet(net, p)
