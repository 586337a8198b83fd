"""Importers and exporters: ONNX, NNet, PyTorch, and the VNN-LIB property format.

Optional dependencies (``onnx``, ``torch``) are imported only when the matching function is called.
"""

from mipnet.io.loaders import load_any
from mipnet.io.nnet import load_nnet
from mipnet.io.onnx_io import load_onnx, to_onnx
from mipnet.io.torch_io import from_torch, to_torch
from mipnet.io.vnnlib import Disjunct, Property, load_vnnlib, parse_vnnlib

__all__ = ["Disjunct", "Property", "from_torch", "load_any", "load_nnet", "load_onnx", "load_vnnlib",
           "parse_vnnlib", "to_onnx", "to_torch"]
