"""ONNX import and export of feed-forward ReLU networks.

Import walks the graph node by node (ONNX graphs are topologically sorted) and turns it into mipnet layers:

- every node whose inputs are all constants is evaluated once with onnx's own reference evaluator
  (``onnx.reference``), so constant ``Reshape``/``Transpose``/``Slice``/``Squeeze``/``Unsqueeze``/``Concat``/
  ``Cast``/``Shape``/``Gather`` chains, ``Constant`` nodes and weight transposes need no special code;
- ``Gemm`` and ``MatMul`` become :class:`~mipnet.layers.Dense`, ``Conv`` becomes :class:`~mipnet.layers.Conv2D`,
  ``MaxPool``/``AveragePool`` become pooling layers, ``Relu`` sets the ``relu`` flag of the affine layer before it;
- elementwise affine maps of the activation (``Add``/``Sub``/``Mul``/``Div`` by a constant, ``Neg``,
  ``BatchNormalization`` in inference mode) are folded exactly into the affine layer before them when nothing
  non-linear lies between, else into the next affine layer, else (before a ``Relu``, a pooling or the end)
  written as an affine layer of their own (a diagonal ``Dense`` or a per-channel 1x1 ``Conv2D``);
- layout operators on the activation (``Flatten``, ``Reshape``, ``Squeeze``, ``Unsqueeze``, a ``Transpose`` that
  moves only axes of size 1) keep the data in C order and only relabel its shape: an input reshaped to an image
  (and flattened back later) needs no layer; ``Identity``, ``Dropout`` and a ``Cast`` to a float type are no-ops;
- padded or ceil-mode pooling is written as an exact zero-padding layer (a linear ``Conv2D`` with a single
  identity tap, which can also pad unevenly) before an unpadded pooling layer: exact for max pooling of a
  non-negative activation (after a ReLU; refused otherwise) and for average pooling that counts the padding;
  dilated max pooling (of a non-negative activation) becomes convolutions with ReLUs, by
  ``max(a, b) = relu(a - b) + relu(b)``;
- ``Add`` of the activation and an earlier tensor of the chain (a residual block with an identity skip) widens the
  affine layers of the branch so that they carry the skip through (exactly: through a ReLU as is when it is
  non-negative, else as ``relu(x)`` and ``relu(-x)``) and adds it back in the branch's last affine layer;
- a trailing ``Softmax``/``LogSoftmax``/``ArgMax`` (and what only post-processes it: ``ArrayFeatureExtractor``,
  ``ZipMap``, ``Cast``...) is dropped: the network returns the scores before it, whose argmax is the same. The
  import records a note (:class:`OnnxImport`; :func:`load_onnx` issues it as a
  :class:`~mipnet.errors.ConversionNote` warning);
- an input with no batch axis (shape ``[5]``) is read as one sample; a leading dimension that is symbolic or 1
  is the batch axis.

Anything else raises :class:`~mipnet.errors.FormatError` naming the node and its op type.

Export writes ``Gemm``, ``Conv``, ``Relu``, ``MaxPool``, ``AveragePool`` and ``Flatten`` in float32 by default
(the VNN-COMP convention; onnxruntime runs every layer kind) or float64 on request.

``onnx`` is imported lazily: the rest of mipnet works without it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from mipnet.errors import ConversionNote, FormatError, MIPNetError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, Shape
from mipnet.network import Network

ONNX_OPERATORS: tuple[str, ...] = (
    "Add", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Constant", "Conv", "Div", "Dropout", "Flatten",
    "Gemm", "Identity", "LogSoftmax", "MatMul", "MaxPool", "Mul", "Neg", "Relu", "Reshape", "Shape", "Softmax",
    "Squeeze", "Sub", "Transpose", "Unsqueeze",
)
"""Operators the importer reads on the activation path, within the limits of the module docstring. Any operator of
the default domain that onnx's reference evaluator implements (``Slice``, ``Concat``, ``Gather``...) is also read
where all its inputs are constants."""

ONNX_OPSET_VERSIONS: tuple[int, ...] = tuple(range(7, 22))
"""Default-domain opset versions the importer is tested against (operators are read with their opset's
semantics by onnx's reference evaluator)."""

_LAYOUT_OPS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose"})
_NO_OPS = frozenset({"Identity", "Dropout"})
_TAIL_START = frozenset({"Softmax", "LogSoftmax", "ArgMax"})
_TAIL_OPS = _TAIL_START | frozenset({"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                                     "ArrayFeatureExtractor", "ZipMap"})


class OnnxDtype(StrEnum):
    """Tensor element type of an exported ONNX model."""

    FLOAT32 = "float32"
    FLOAT64 = "float64"


@dataclass
class OnnxImport:
    """The result of reading an ONNX file.

    Attributes
    ----------
    network : Network
    notes : list of str
        Deliberate changes made while reading (e.g. a trailing ``Softmax`` dropped).
    """

    network: Network
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Snapshot:
    """The state of the layer chain where a tensor was computed (for a residual ``Add`` that reads it again)."""

    n_layers: int
    shape: Shape
    full: Shape
    nonneg: bool
    plain: bool          # no pending elementwise map: the tensor is the output of the first ``n_layers`` layers


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FormatError("reading or writing ONNX needs the 'onnx' package: pip install onnx") from exc
    return onnx


def _per_channel(arr: np.ndarray) -> bool:
    """Whether a ``(C, H, W)`` array is constant over ``H, W``."""
    return bool(np.all(arr == arr[:, :1, :1]))


class _GraphReader:
    """Turns the nodes of one ONNX graph, in order, into a list of mipnet layers."""

    def __init__(self, graph: Any, opsets: dict[str, int]) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.opsets = opsets
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        real_inputs = [i for i in graph.input if i.name not in self.consts]
        if len(real_inputs) != 1:
            raise FormatError(f"the ONNX graph must have exactly one non-constant input, found "
                              f"{[i.name for i in real_inputs]}")
        inp = real_inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inp.type.tensor_type.shape.dim]
        if not dims:
            raise FormatError(f"graph input {inp.name!r} is a scalar: mipnet needs at least one feature axis")
        batched = dims[0] == -1 or (dims[0] == 1 and len(dims) >= 2)
        per_sample = dims[1:] if batched else dims
        if any(d <= 0 for d in per_sample):
            raise FormatError(f"graph input {inp.name!r} has unknown feature dimensions {dims}")
        self.input_name = inp.name
        self.input_shape: Shape = tuple(int(d) for d in per_sample)
        self.current = inp.name          # name of the tensor that carries the running activation
        self.full: Shape = ((1,) if batched else ()) + self.input_shape   # its ONNX shape, batch size 1
        self.shape: Shape = self.input_shape    # its shape in the layer chain (same size and C order as ``full``)
        self.layers: list[Layer] = []
        self.open = False                # the last layer is affine, and nothing has been applied after it
        self.nonneg = False              # the activation is known to be >= 0 (after a ReLU)
        self.pend: tuple[np.ndarray, np.ndarray] | None = None   # pending x -> a * x + b, in ``self.shape`` layout
        self.score: str | None = None    # once a Softmax/ArgMax tail starts: the scores before it
        self.tail: set[str] = set()      # tensors computed by the dropped tail
        self.notes: list[str] = []
        self.saved: dict[str, _Snapshot] = {}
        self._snapshot()

    # ------------------------------------------------------------------------------------------ helpers
    def _fail(self, node: Any, why: str) -> FormatError:
        return FormatError(f"unsupported ONNX node {node.name or '(unnamed)'!r} (op type {node.op_type}): {why}")

    def _split(self, node: Any) -> tuple[list[np.ndarray | None], bool]:
        """Inputs of a node: constants as float arrays, the running activation (or a missing input) as ``None``."""
        vals: list[np.ndarray | None] = []
        uses_act = False
        for name in node.input:
            if name == "":
                vals.append(None)
            elif name in self.consts:
                vals.append(np.asarray(self.consts[name], dtype=float))
            elif name == self.current:
                vals.append(None)
                uses_act = True
            else:
                raise self._fail(node, f"input {name!r} is neither a constant nor the running activation (only "
                                       "sequential networks, with residual Adds of an identity skip, are supported)")
        return vals, uses_act

    @staticmethod
    def _attrs(node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _evaluate(self, node: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one node with onnx's reference evaluator (under the model's opsets)."""
        from onnx.reference import ReferenceEvaluator

        try:
            outs = ReferenceEvaluator(node, opsets=self.opsets).run(None, feeds)
        except Exception as exc:  # noqa: BLE001 - any failure of the evaluator means we cannot read this node
            raise self._fail(node, f"cannot evaluate it on constant inputs ({type(exc).__name__}: {exc})") from None
        return [np.asarray(o) for o in outs]

    def _advance(self, node: Any, full: Shape) -> None:
        self.current = node.output[0]
        self.full = tuple(int(d) for d in full)
        self._snapshot()

    def _snapshot(self) -> None:
        self.saved[self.current] = _Snapshot(len(self.layers), self.shape, self.full, self.nonneg, self.pend is None)

    def _add_layer(self, layer: Layer) -> None:
        self.shape = tuple(layer.build(self.shape))
        self.layers.append(layer)
        self.open = layer.is_affine
        if layer.is_affine:
            self.nonneg = False

    def _relabel(self, node: Any, shape: Shape, what: str) -> None:
        """Give the activation a new layer-chain shape of the same size (C order), with a layer only if needed."""
        if shape == self.shape:
            return
        if self.pend is not None:
            self.pend = (self.pend[0].reshape(shape), self.pend[1].reshape(shape))
        if not self.layers:          # still the raw input: the network simply takes inputs of this shape
            self.input_shape = self.shape = shape
        elif len(shape) == 1:
            self._add_layer(Flatten())
        else:
            raise self._fail(node, f"{what} needs the activation as {shape}, but it is {self.shape} after layer "
                                   f"{len(self.layers) - 1}: reshaping a flat activation back to an image inside "
                                   "the network is not supported")

    def _need_flat(self, node: Any) -> None:
        if int(np.prod(self.full[:-1])) != 1:
            raise self._fail(node, f"the activation {self.full} has more than one row: only one vector per sample")
        self._relabel(node, (int(np.prod(self.shape)),), node.op_type)

    def _need_image(self, node: Any) -> None:
        if len(self.full) != 4 or self.full[0] != 1:
            raise self._fail(node, f"needs an (N, C, H, W) activation, got shape {self.full}")
        self._relabel(node, self.full[1:], node.op_type)

    def _broadcast(self, node: Any, c: np.ndarray) -> np.ndarray:
        """A constant broadcast against the activation, in layer-chain layout."""
        try:
            shape = np.broadcast_shapes(np.shape(c), self.full)
        except ValueError:
            shape = None
        if shape != self.full:
            raise self._fail(node, f"constant of shape {np.shape(c)} does not broadcast to {self.full}")
        return np.broadcast_to(np.asarray(c, dtype=float), self.full).reshape(self.shape)

    # ------------------------------------------------------------------------------ elementwise affine maps
    def _elementwise(self, node: Any, a: np.ndarray | float, b: np.ndarray | float) -> None:
        """The activation becomes ``a * x + b`` (constants broadcast against it)."""
        a = self._broadcast(node, np.asarray(a, dtype=float))
        b = self._broadcast(node, np.asarray(b, dtype=float))
        last = self.layers[-1] if self.layers else None
        if self.pend is None and self.open and last is not None:
            if isinstance(last, Dense):
                last.weight = a[:, None] * last.weight
                last.bias = a * self._bias(last) + b
                self._advance(node, self.full)
                return
            if isinstance(last, Conv2D) and _per_channel(a) and _per_channel(b):
                last.weight = a[:, 0, 0, None, None, None] * last.weight
                last.bias = a[:, 0, 0] * self._bias(last) + b[:, 0, 0]
                self._advance(node, self.full)
                return
        if self.pend is None:
            self.pend = (a.copy(), b.copy())
        else:
            pa, pb = self.pend
            self.pend = (a * pa, a * pb + b)
        self.nonneg = False
        self._advance(node, self.full)

    @staticmethod
    def _bias(layer: Dense | Conv2D) -> np.ndarray:
        n = layer.units if isinstance(layer, Dense) else layer.out_channels
        return np.zeros(n) if layer.bias is None else layer.bias

    def _flush(self, node: Any) -> None:
        """Write a pending elementwise affine map as a layer of its own (before something non-linear)."""
        if self.pend is None:
            return
        a, b = self.pend
        self.pend = None
        if len(self.shape) == 1:
            self._add_layer(Dense(self.shape[0], relu=None, weight=np.diag(a), bias=b))
        elif len(self.shape) == 3 and _per_channel(a) and _per_channel(b):
            c = self.shape[0]
            weight = np.zeros((c, c, 1, 1))
            weight[np.arange(c), np.arange(c), 0, 0] = a[:, 0, 0]
            self._add_layer(Conv2D(c, kernel=1, relu=None, weight=weight, bias=b[:, 0, 0].copy()))
        else:
            raise self._fail(node, f"an elementwise scaling or offset of the {self.shape} activation that varies "
                                   "within a channel cannot be written as a layer here")

    # ---------------------------------------------------------------------------------------- the walk
    def run(self) -> OnnxImport:
        for node in self.graph.node:
            names = [n for n in node.input if n]
            if self.score is not None and any(n in self.tail or n == self.score for n in names):
                self._tail_node(node)
                continue
            if node.op_type == "Shape" and names and names[0] == self.current:
                self.consts[node.output[0]] = np.array(self.full, dtype=np.int64)
                continue
            if all(n in self.consts for n in names) and node.domain in ("", "ai.onnx"):
                feeds = {n: self.consts[n] for n in names}
                for name, value in zip(node.output, self._evaluate(node, feeds)):
                    self.consts[name] = value
                continue
            if node.op_type in _TAIL_START:
                self._tail_node(node)
                continue
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise self._fail(node, "this operator is not supported")
            handler(node)
        return self._finish()

    def _finish(self) -> OnnxImport:
        outs = [o.name for o in self.graph.output]
        end = self.current if self.score is None else self.score
        ends = {end} | self.tail
        if not any(o in ends for o in outs):
            raise FormatError(f"the graph output {outs} is not the end of the layer chain ({end!r})")
        others = [o for o in outs if o not in ends]
        if others:
            raise FormatError(f"graph outputs {others} are not computed from the layer chain's end ({end!r})")
        if self.score is None:
            self._flush(self.graph.node[-1])
        if len(self.shape) != 1:
            self._relabel(self.graph.node[-1], (int(np.prod(self.shape)),), "the network output")
        if not any(layer.is_affine for layer in self.layers):
            raise FormatError("the ONNX graph has no affine layer (Gemm, MatMul or Conv)")
        for layer in self.layers:
            if layer.is_affine and layer.relu is None:
                layer.relu = False
        return OnnxImport(Network(self.layers, self.input_shape), self.notes)

    def _tail_node(self, node: Any) -> None:
        if node.op_type not in _TAIL_OPS:
            raise self._fail(node, "only Softmax, LogSoftmax, ArgMax and the post-processing of their result "
                                   "(Cast, Reshape, ArrayFeatureExtractor, ZipMap...) may follow the scores")
        if self.score is None:
            if node.input[0] != self.current:
                raise self._fail(node, "a Softmax/LogSoftmax/ArgMax tail must take the running activation")
            self._flush(node)
            self.score = self.current
        if node.op_type in _TAIL_START:
            self.notes.append(f"dropped the trailing {node.op_type} (node {node.name or node.output[0]!r}): the "
                              "network returns the scores before it, whose argmax (the predicted class) is the "
                              "same; a property on the output values is posed on those scores")
        self.tail.update(o for o in node.output if o)

    # ---------------------------------------------------------------------------------------- op handlers
    def _op_Identity(self, node: Any) -> None:
        self._split(node)
        self._advance(node, self.full)

    _op_Dropout = _op_Identity

    def _op_Cast(self, node: Any) -> None:
        from onnx import TensorProto

        floats = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
        if int(self._attrs(node).get("to", 0)) not in floats:
            raise self._fail(node, "only a Cast of the activation to a float type (a no-op here) is supported")
        self._op_Identity(node)

    def _layout(self, node: Any) -> None:
        """Flatten/Reshape/Squeeze/Unsqueeze/Transpose of the activation: allowed when it keeps the C order."""
        vals, uses_act = self._split(node)
        if not uses_act or node.input[0] != self.current:
            raise self._fail(node, "the activation must be its first input")
        size = int(np.prod(self.full))
        feeds = {node.input[0]: np.arange(size, dtype=float).reshape(self.full)}
        feeds.update({n: self.consts[n] for n in node.input[1:] if n})
        out = self._evaluate(node, feeds)[0]
        if out.size != size or not np.array_equal(out.reshape(-1), np.arange(size)):
            raise self._fail(node, f"it reorders the activation ({self.full} to {out.shape}); only operators that "
                                   "keep the data in C order (reshapes, moving axes of size 1) are supported")
        self._advance(node, out.shape)

    _op_Flatten = _op_Reshape = _op_Squeeze = _op_Unsqueeze = _op_Transpose = _layout

    def _op_Relu(self, node: Any) -> None:
        self._split(node)
        if self.nonneg:              # ReLU of a non-negative activation is the identity
            self._advance(node, self.full)
            return
        self._flush(node)
        # ReLU commutes with Flatten and with max pooling: look back over them to the affine layer
        k = len(self.layers) - 1
        while k >= 0 and isinstance(self.layers[k], (Flatten, MaxPool2D)):
            k -= 1
        if k < 0 or not self.layers[k].is_affine or self.layers[k].relu:
            raise self._fail(node, "a ReLU must follow a Gemm/MatMul/Conv (+ Add) layer that has no ReLU yet")
        self.layers[k].relu = True
        self.open = False
        self.nonneg = True
        self._advance(node, self.full)

    def _op_Gemm(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or vals[0] is not None or vals[1] is None or int(a.get("transA", 0)):
            raise self._fail(node, "only Gemm(activation, constant weight[, constant bias]) without transA")
        B = vals[1] if int(a.get("transB", 0)) else vals[1].T    # (out, in)
        W = float(a.get("alpha", 1.0)) * B
        bias = np.zeros(W.shape[0])
        if len(vals) > 2 and vals[2] is not None:
            bias = float(a.get("beta", 1.0)) * np.broadcast_to(vals[2].reshape(-1), (W.shape[0],)).astype(float)
        self._dense(node, W, bias)

    def _op_MatMul(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        if not uses_act or len(vals) != 2:
            raise self._fail(node, "only MatMul of the activation and a constant 2-D weight is supported")
        if vals[0] is None and vals[1] is not None and vals[1].ndim == 2:      # x @ W
            self._dense(node, vals[1].T.copy(), np.zeros(vals[1].shape[1]))
        elif vals[1] is None and vals[0] is not None and vals[0].ndim == 2 and len(self.full) <= 2 \
                and self.full[0] == int(np.prod(self.full)):                    # W @ x, x a column
            self._dense(node, vals[0].copy(), np.zeros(vals[0].shape[0]), column=True)
        else:
            raise self._fail(node, "only MatMul of the activation and a constant 2-D weight is supported")

    def _dense(self, node: Any, W: np.ndarray, bias: np.ndarray, column: bool = False) -> None:
        n_in = self.full[0] if column else self.full[-1]
        if W.shape[1] != n_in:
            raise self._fail(node, f"weight takes {W.shape[1]} inputs, the activation is {self.full}")
        if not column:
            self._need_flat(node)
        else:
            self._relabel(node, (n_in,), node.op_type)
        if self.pend is not None:                        # W (a x + b) + c = (W a) x + (W b + c)
            pa, pb = self.pend
            self.pend = None
            bias = bias + W @ pb
            W = W * pa[None, :]
        self._add_layer(Dense(W.shape[0], relu=None, weight=W, bias=bias))
        self._advance(node, ((W.shape[0],) + self.full[1:]) if column else (*self.full[:-1], W.shape[0]))

    def _op_Conv(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or vals[0] is not None or vals[1] is None:
            raise self._fail(node, "only Conv(activation, constant weight[, constant bias]) is supported")
        W = vals[1]
        if W.ndim != 4:
            raise self._fail(node, "only 2-D convolutions are supported")
        self._need_image(node)
        if int(a.get("group", 1)) != 1 or any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            raise self._fail(node, "grouped or dilated convolutions are not supported")
        strides = [int(s) for s in a.get("strides", [1, 1])]
        pads = self._pads(node, a, W.shape[2:], strides, [1, 1])
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise self._fail(node, f"asymmetric padding {pads} is not supported")
        bias = np.zeros(W.shape[0]) if len(vals) < 3 or vals[2] is None else vals[2].reshape(-1)
        if self.pend is not None:
            pa, pb = self.pend
            if _per_channel(pa) and _per_channel(pb) and (not np.any(pb) or not any(pads)):
                bias = bias + np.einsum("oikl,i->o", W, pb[:, 0, 0])
                W = W * pa[None, :, 0, 0, None, None]
                self.pend = None
            else:
                self._flush(node)
        layer = Conv2D(W.shape[0], kernel=tuple(W.shape[2:]), stride=tuple(strides), padding=(pads[0], pads[1]),
                       relu=None, weight=W, bias=bias)
        self._add_layer(layer)
        self._advance(node, (1, *self.shape))

    def _pads(self, node: Any, a: dict[str, Any], kernel: tuple[int, ...], strides: list[int],
              dilations: list[int]) -> list[int]:
        """Explicit ``[top, left, bottom, right]`` pads from ``pads`` or ``auto_pad``."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("NOTSET", "VALID"):
            return [int(p) for p in a.get("pads", [0, 0, 0, 0])] if auto == "NOTSET" else [0, 0, 0, 0]
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self._fail(node, f"auto_pad {auto} is not supported")
        pads = [0, 0, 0, 0]
        for ax in range(2):
            size, k_eff = self.full[2 + ax], (kernel[ax] - 1) * dilations[ax] + 1
            total = max((-(-size // strides[ax]) - 1) * strides[ax] + k_eff - size, 0)
            small, big = total // 2, total - total // 2
            pads[ax], pads[ax + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        return pads

    def _pad_layer(self, pads: list[int]) -> None:
        """Exact zero padding (top, left, bottom, right) as a linear convolution with one identity tap."""
        c = self.shape[0]
        t, left, b, r = pads
        ph, pw = max(t, b), max(left, r)
        kh, kw = 2 * ph - t - b + 1, 2 * pw - left - r + 1
        weight = np.zeros((c, c, kh, kw))
        weight[np.arange(c), np.arange(c), ph - t, pw - left] = 1.0
        self._add_layer(Conv2D(c, kernel=(kh, kw), padding=(ph, pw), relu=False, weight=weight, bias=np.zeros(c)))
        self.open = False

    def _pool(self, node: Any, cls: type) -> None:
        _, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act:
            raise self._fail(node, "pooling of a constant")
        self._need_image(node)
        kernel = [int(k) for k in a["kernel_shape"]]
        if len(kernel) != 2:
            raise self._fail(node, "only 2-D pooling is supported")
        stride = [int(s) for s in a.get("strides", [1, 1])]        # the ONNX default stride is 1
        dilation = [int(d) for d in a.get("dilations", [1, 1])]
        dilated = any(d != 1 for d in dilation)
        k_eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
        pads = self._pads(node, a, tuple(kernel), stride, dilation)
        if cls is AvgPool2D and (dilated or int(a.get("ceil_mode", 0))):
            raise self._fail(node, "dilated or ceil-mode average pooling is not supported")
        if int(a.get("ceil_mode", 0)):
            for ax in range(2):
                size = self.full[2 + ax] + pads[ax] + pads[ax + 2]
                out = -(-(size - k_eff[ax]) // stride[ax]) + 1
                if (out - 1) * stride[ax] >= self.full[2 + ax] + pads[ax]:   # the last window must start inside
                    out -= 1
                pads[ax + 2] += max((out - 1) * stride[ax] + k_eff[ax] - size, 0)
        self._flush(node)
        was_nonneg = self.nonneg
        if cls is MaxPool2D and (any(pads) or dilated) and not self.nonneg:
            raise self._fail(node, "padded, ceil-mode or dilated max pooling is read exactly only for a "
                                   "non-negative activation (after a ReLU)")
        if any(pads):
            if cls is AvgPool2D and not int(a.get("count_include_pad", 0)):
                raise self._fail(node, "padded average pooling that excludes the padding from the average "
                                       "(count_include_pad=0) is not supported")
            self._pad_layer(pads)
        if dilated:
            self._max_tree(kernel, stride, dilation)
        else:
            self._add_layer(cls(tuple(kernel), tuple(stride)))
            self.open = False
        self.nonneg = was_nonneg
        self._advance(node, (1, *self.shape))

    def _max_tree(self, kernel: list[int], stride: list[int], dilation: list[int]) -> None:
        """Dilated max pooling of a non-negative activation as convolutions with ReLUs, exactly.

        ``max(a, b) = relu(a - b) + relu(b)`` for ``b >= 0``: the first convolution (the dilated window, with the
        pooling's stride) gives ``relu(t_p - t_q)`` and ``relu(t_q)`` for pairs of window taps, each further 1x1
        convolution halves the number of candidates, and a last linear 1x1 convolution sums the final pair.
        """
        c = self.shape[0]
        taps = [(i * dilation[0], j * dilation[1]) for i in range(kernel[0]) for j in range(kernel[1])]
        k_eff = ((kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1)

        def pairs(values: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
            """Rows computing relu(v_a - v_b), relu(v_b) per pair (relu(v) for a last odd one); the new values."""
            rows = []
            for k in range(0, len(values) - 1, 2):
                rows += [values[k] - values[k + 1], values[k + 1]]
            if len(values) % 2:
                rows.append(values[-1])
            n = len(rows)
            new = [np.eye(n)[k] + np.eye(n)[k + 1] for k in range(0, 2 * (len(values) // 2), 2)]
            if len(values) % 2:
                new.append(np.eye(n)[n - 1])
            return np.array(rows), new

        def blocks(w: np.ndarray) -> np.ndarray:     # the same per-channel weights for every channel
            o, n = w.shape[:2]
            full = np.zeros((c * o, c * n, *w.shape[2:]))
            for ch in range(c):
                full[ch * o:(ch + 1) * o, ch * n:(ch + 1) * n] = w
            return full

        first = np.zeros((len(taps), *k_eff))        # each tap as a functional of the window
        for k, (i, j) in enumerate(taps):
            first[k, i, j] = 1.0
        rows, values = pairs(list(first))
        self._add_layer(Conv2D(c * len(rows), kernel=k_eff, stride=tuple(stride), relu=True,
                               weight=blocks(rows[:, None]), bias=np.zeros(c * len(rows))))
        while len(values) > 1:
            rows, values = pairs(values)
            self._add_layer(Conv2D(c * len(rows), kernel=1, relu=True, weight=blocks(rows[:, :, None, None]),
                                   bias=np.zeros(c * len(rows))))
        self._add_layer(Conv2D(c, kernel=1, relu=False, weight=blocks(values[0][None, :, None, None]),
                               bias=np.zeros(c)))

    def _op_MaxPool(self, node: Any) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise self._fail(node, "MaxPool with an Indices output is not supported")
        if int(self._attrs(node).get("storage_order", 0)):
            raise self._fail(node, "storage_order=1 is not supported")
        self._pool(node, MaxPool2D)

    def _op_AveragePool(self, node: Any) -> None:
        self._pool(node, AvgPool2D)

    def _constant_operand(self, node: Any) -> tuple[np.ndarray, bool]:
        vals, uses_act = self._split(node)
        if not uses_act or len(vals) != 2 or (vals[0] is None) == (vals[1] is None):
            raise self._fail(node, "only an elementwise operation between the activation and a constant")
        return (vals[1], True) if vals[0] is None else (vals[0], False)

    def _op_Add(self, node: Any) -> None:
        tensors = [n for n in node.input if n and n not in self.consts]
        if len(tensors) == 2 and tensors[0] == tensors[1] == self.current:      # x + x
            self._elementwise(node, 2.0, 0.0)
            return
        if len(tensors) == 2 and self.current in tensors:
            skip = tensors[1] if tensors[0] == self.current else tensors[0]
            if skip not in self.saved:
                raise self._fail(node, f"input {skip!r} is not on the layer chain")
            self._residual(node, self.saved[skip])
            return
        c, _ = self._constant_operand(node)
        self._elementwise(node, 1.0, c)

    # ------------------------------------------------------------------------------------- residual blocks
    def _residual(self, node: Any, snap: _Snapshot) -> None:
        """``branch(x) + x`` for an identity skip ``x``: the branch's affine layers are widened to carry ``x``.

        A carried copy passes a ReLU unchanged when ``x >= 0`` (known after a ReLU); a signed ``x`` is carried as
        ``relu(x)`` and ``relu(-x)`` from the first ReLU layer on, and ``x = relu(x) - relu(-x)`` is added back at
        the end. Exact; a convolution carries ``x`` through a centre tap, so every convolution of the branch must
        keep the image size (stride 1, kernel ``2 * padding + 1``).
        """
        if snap.full != self.full:
            raise self._fail(node, f"residual Add of a {snap.full} and a {self.full} tensor: only an identity skip of "
                                   "the same shape is supported")
        if not snap.plain:
            raise self._fail(node, "the skip tensor of a residual Add carries an unfolded scaling or offset")
        j = snap.n_layers
        if j == len(self.layers) and self.shape == snap.shape:        # (a x + b) + x, no layer in between
            a, b = self.pend if self.pend is not None else (np.ones(self.shape), np.zeros(self.shape))
            self.pend = (a + 1.0, b)
            self.nonneg = False
            self._advance(node, self.full)
            return
        self._flush(node)
        branch = self.layers[j:]
        image = len(snap.shape) == 3
        kind = Conv2D if image else Dense
        if self.shape != snap.shape or not branch or len(snap.shape) not in (1, 3):
            raise self._fail(node, f"a residual branch from {snap.shape} to {self.shape} is not supported")
        for layer in branch:
            if not isinstance(layer, kind) or not layer.active:
                raise self._fail(node, f"a residual branch over {snap.shape} may hold only {kind.__name__} layers, "
                                       f"found {layer!r}")
            if image and (layer.stride != (1, 1) or layer.kernel != (2 * layer.padding[0] + 1,
                                                                      2 * layer.padding[1] + 1)):
                raise self._fail(node, f"a convolution in a residual branch must keep the image size (stride 1, "
                                       f"kernel 2 * padding + 1), found {layer!r}")
        d = snap.shape[0]
        eye = np.eye(d)
        pair = False           # the carry is (relu(x), relu(-x)) rather than x
        carry = 0              # carried channels entering the layer (0: the layer's own input is x)
        new: list[Layer] = []
        for i, layer in enumerate(branch):
            relu = bool(layer.relu)
            o, n = layer.weight.shape[:2]
            if i == len(branch) - 1 and not relu:                            # the last layer adds x to its output
                M = np.zeros((o, n + carry))
                if carry == 0:
                    M[:, :n] = eye
                else:
                    M[:, n:] = np.hstack([eye, -eye]) if pair else eye       # carry -> x
                new.append(self._embed(layer, M, relu))
                break
            if relu and not snap.nonneg and not pair:                        # x -> (relu(x), relu(-x))
                T = np.vstack([eye, -eye])
                pair = True
            else:
                T = np.eye(2 * d if pair else d)
            M = np.zeros((o + T.shape[0], n + carry))
            M[o:, :n] = T if carry == 0 else 0.0
            M[o:, n:] = T if carry else 0.0
            new.append(self._embed(layer, M, relu))
            carry = T.shape[0]
            if i == len(branch) - 1:                                         # ReLU at the end: a layer adds x
                back = np.hstack([eye, -eye]) if pair else eye
                new.append(self._embed(None, np.hstack([np.eye(o), back]), False, image))
        shape = snap.shape
        for layer in new:
            shape = tuple(layer.build(shape))
        assert shape == self.shape
        self.layers = self.layers[:j] + new
        self.saved = {k: v for k, v in self.saved.items() if v.n_layers <= j}
        self.open = True
        self.nonneg = False
        self._advance(node, self.full)

    @staticmethod
    def _embed(layer: Dense | Conv2D | None, M: np.ndarray, relu: bool, image: bool = False) -> Dense | Conv2D:
        """``layer`` widened to ``M.shape`` (its weights in the top-left block) plus ``M`` as a centre tap."""
        rows = M.shape[0]
        if layer is None:
            weight = M[:, :, None, None] if image else M
            return (Conv2D(rows, kernel=1, relu=relu, weight=weight, bias=np.zeros(rows)) if image
                    else Dense(rows, relu=relu, weight=weight, bias=np.zeros(rows)))
        o, n = layer.weight.shape[:2]
        bias = np.concatenate([_GraphReader._bias(layer), np.zeros(rows - o)])
        if isinstance(layer, Dense):
            weight = np.zeros(M.shape)
            weight[:o, :n] = layer.weight
            return Dense(rows, relu=relu, weight=weight + M, bias=bias)
        weight = np.zeros((*M.shape, *layer.kernel))
        weight[:o, :n] = layer.weight
        weight[:, :, layer.padding[0], layer.padding[1]] += M
        return Conv2D(rows, kernel=layer.kernel, stride=layer.stride, padding=layer.padding, relu=relu, weight=weight,
                      bias=bias)

    def _op_Sub(self, node: Any) -> None:
        c, act_first = self._constant_operand(node)
        self._elementwise(node, 1.0, -c) if act_first else self._elementwise(node, -1.0, c)

    def _op_Mul(self, node: Any) -> None:
        c, _ = self._constant_operand(node)
        self._elementwise(node, c, 0.0)

    def _op_Div(self, node: Any) -> None:
        c, act_first = self._constant_operand(node)
        if not act_first or np.any(c == 0):
            raise self._fail(node, "only activation / nonzero constant is supported")
        self._elementwise(node, 1.0 / c, 0.0)

    def _op_Neg(self, node: Any) -> None:
        self._split(node)
        self._elementwise(node, -1.0, 0.0)

    def _op_BatchNormalization(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or vals[0] is not None or any(v is None for v in vals[1:5]):
            raise self._fail(node, "only BatchNormalization(activation, constant scale, bias, mean, var)")
        if int(a.get("training_mode", 0)) or (len(node.output) > 1 and any(node.output[1:])):
            raise self._fail(node, "only inference-mode BatchNormalization is supported")
        if len(self.full) < 2:
            raise self._fail(node, f"needs a channel axis, the activation is {self.full}")
        scale, beta, mean, var = (v.reshape(-1) for v in vals[1:5])
        mult = scale / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        axes = (1, -1) + (1,) * (len(self.full) - 2)
        self._elementwise(node, mult.reshape(axes), (beta - mean * mult).reshape(axes))


def read_onnx(path: str | Path) -> OnnxImport:
    """Read a feed-forward ReLU network from an ONNX file, with the notes on what was changed.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    OnnxImport
        The network and the notes (e.g. a trailing ``Softmax`` dropped).

    Raises
    ------
    FormatError
        The file cannot be parsed, or contains a node mipnet cannot represent (the message names the node and its
        op type).
    """
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
    except OSError:
        raise
    except Exception as exc:
        raise FormatError(f"{path}: not a readable ONNX file ({exc})") from None
    opsets = {o.domain or "": int(o.version) for o in model.opset_import}
    try:
        result = _GraphReader(model.graph, opsets).run()
    except MIPNetError:
        raise
    except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # a damaged graph (missing attributes, tensors of the wrong size or type) fails inside the reader's
        # numpy and protobuf calls: one error naming the file and the problem, never a traceback
        raise FormatError(f"{path}: damaged or inconsistent ONNX graph ({type(exc).__name__}: {exc})") from None
    for i, layer in enumerate(result.network.affine_layers()):
        if not (np.all(np.isfinite(layer.weight)) and (layer.bias is None or np.all(np.isfinite(layer.bias)))):
            raise FormatError(f"{path}: affine layer {i} has weights that are not finite numbers")
    return result


def load_onnx(path: str | Path) -> Network:
    """Read a feed-forward ReLU network from an ONNX file (see :func:`read_onnx`).

    Every note of the import (e.g. a trailing ``Softmax`` dropped) is issued as a
    :class:`~mipnet.errors.ConversionNote` warning.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Network

    Raises
    ------
    FormatError
        The file cannot be parsed, or contains a node mipnet cannot represent.
    """
    result = read_onnx(path)
    for note in result.notes:
        warnings.warn(f"{path}: {note}", ConversionNote, stacklevel=2)
    return result.network


def to_onnx(net: Network, path: str | Path | None = None, dtype: OnnxDtype | str = OnnxDtype.FLOAT32,
            opset: int = 13) -> Any:
    """Write a network as an ONNX model (``Gemm``, ``Conv``, ``Relu``, ``MaxPool``, ``AveragePool``, ``Flatten``).

    Parameters
    ----------
    net : Network
    path : str or Path, optional
        Where to save; ``None`` only returns the model.
    dtype : OnnxDtype or {"float32", "float64"}
        Tensor type. ``float32`` (default, the VNN-COMP convention) runs in onnxruntime for every layer kind;
        ``float64`` keeps the weights bit for bit, so import after export is exact (onnxruntime has no float64
        ``Conv`` kernel, so float64 convolutional models run only in other runtimes).
    opset : int

    Returns
    -------
    onnx.ModelProto
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    try:
        dtype = OnnxDtype(dtype)
    except ValueError:
        raise FormatError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    np_t = np.float64 if dtype is OnnxDtype.FLOAT64 else np.float32
    elem = TensorProto.DOUBLE if dtype is OnnxDtype.FLOAT64 else TensorProto.FLOAT
    nodes, inits = [], []
    cur = "input"

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np_t), name))
        return name

    for i, layer in enumerate(net.layers):
        out = f"l{i}_{layer.kind}"
        if isinstance(layer, Dense):
            bias = layer.bias if layer.bias is not None else np.zeros(layer.units)
            nodes.append(helper.make_node("Gemm", [cur, const(f"W{i}", layer.weight), const(f"b{i}", bias)], [out],
                                          name=f"gemm{i}", transB=1))
        elif isinstance(layer, Conv2D):
            bias = layer.bias if layer.bias is not None else np.zeros(layer.out_channels)
            ph, pw = layer.padding
            nodes.append(helper.make_node("Conv", [cur, const(f"W{i}", layer.weight), const(f"b{i}", bias)], [out],
                                          name=f"conv{i}", kernel_shape=list(layer.kernel),
                                          strides=list(layer.stride), pads=[ph, pw, ph, pw]))
        elif isinstance(layer, (MaxPool2D, AvgPool2D)):
            op = "MaxPool" if isinstance(layer, MaxPool2D) else "AveragePool"
            nodes.append(helper.make_node(op, [cur], [out], name=f"pool{i}", kernel_shape=list(layer.kernel),
                                          strides=list(layer.stride)))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [cur], [out], name=f"flatten{i}", axis=1))
        else:  # pragma: no cover - every mipnet layer is handled above
            raise FormatError(f"cannot export layer {layer!r} to ONNX")
        cur = out
        if layer.is_affine and layer.relu:
            nodes.append(helper.make_node("Relu", [cur], [f"{out}_relu"], name=f"relu{i}"))
            cur = f"{out}_relu"
    nodes.append(helper.make_node("Identity", [cur], ["output"], name="output"))
    graph = helper.make_graph(
        nodes, "mipnet",
        [helper.make_tensor_value_info("input", elem, ["N", *net.input_shape])],
        [helper.make_tensor_value_info("output", elem, ["N", net.n_outputs])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="mipnet")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, str(path))
    return model
