"""ONNX import and export of feed-forward ReLU networks.

Import walks the graph node by node and turns it into mipnet layers: ``Gemm`` and ``MatMul`` (+ ``Add`` of a
constant) become :class:`~mipnet.layers.Dense`, ``Conv`` becomes :class:`~mipnet.layers.Conv2D`, ``Relu`` sets the
``relu`` flag of the affine layer before it, ``MaxPool``/``AveragePool`` become pooling layers and ``Flatten`` /
``Reshape`` to ``(N, -1)`` become :class:`~mipnet.layers.Flatten`. Old IR-3 files list every initializer among
the graph inputs as well: a graph input that has an initializer is a constant. A leading ``Sub`` (or ``Add``) of a
constant, as used for input normalisation, is folded exactly into the bias of the first affine layer
(``W (x - c) + b = W x + (b - W c)``); a leading ``Div``/``Mul`` by a constant is folded into its weights.

``onnx`` is imported lazily: the rest of mipnet works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mipnet.errors import FormatError, MIPNetError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D
from mipnet.network import Network


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FormatError("reading or writing ONNX needs the 'onnx' package: pip install onnx") from exc
    return onnx


class _GraphReader:
    """Turns the nodes of one ONNX graph, in order, into a list of mipnet layers."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i).astype(float)
                                              for i in graph.initializer}
        real_inputs = [i for i in graph.input if i.name not in self.consts]
        if len(real_inputs) != 1:
            raise FormatError(f"the ONNX graph must have exactly one non-constant input, found "
                              f"{[i.name for i in real_inputs]}")
        inp = real_inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inp.type.tensor_type.shape.dim]
        if len(dims) < 2:
            raise FormatError(f"graph input {inp.name!r} needs a batch axis and at least one feature axis, "
                              f"got shape {dims}")
        if any(d <= 0 for d in dims[1:]):
            raise FormatError(f"graph input {inp.name!r} has unknown feature dimensions {dims}")
        self.input_name = inp.name
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in dims[1:])
        self.current = inp.name          # name of the tensor that carries the running activation
        self.shape = self.input_shape    # its per-sample shape
        self.layers: list[Layer] = []
        self.open_bias = False           # the last layer is affine with no ReLU yet: an Add folds into its bias
        self.in_offset: np.ndarray | None = None   # x -> x + in_offset before the first affine layer
        self.in_scale: np.ndarray | None = None    # x -> x * in_scale before the first affine layer (after offset)

    # ------------------------------------------------------------------------------------------ helpers
    def _fail(self, node: Any, why: str) -> FormatError:
        return FormatError(f"unsupported ONNX node {node.name or '(unnamed)'!r} (op type {node.op_type}): {why}")

    def _split(self, node: Any) -> tuple[list[np.ndarray | None], bool]:
        """Inputs of a node: constants as arrays, the running activation as ``None``."""
        vals: list[np.ndarray | None] = []
        uses_act = False
        for name in node.input:
            if name == "":
                vals.append(None)
                continue
            if name in self.consts:
                vals.append(self.consts[name])
            elif name == self.current:
                vals.append(None)
                uses_act = True
            else:
                raise self._fail(node, f"input {name!r} is neither a constant nor the running activation "
                                       "(only sequential networks are supported)")
        return vals, uses_act

    @staticmethod
    def _attrs(node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _advance(self, node: Any, shape: tuple[int, ...]) -> None:
        self.current = node.output[0]
        self.shape = shape

    def _last_affine(self) -> Layer | None:
        return self.layers[-1] if self.layers and self.layers[-1].is_affine else None

    def _add_layer(self, layer: Layer) -> None:
        layer_shape = layer.build(self.shape)
        self.layers.append(layer)
        self.shape = tuple(layer_shape)

    def _fold_input_transform(self, node: Any, weight: np.ndarray, flat_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold a pending input offset/scale into a first affine layer; returns (weight, bias shift)."""
        shift = np.zeros(weight.shape[0])
        if self.in_offset is None and self.in_scale is None:
            return weight, shift
        if self.layers and not all(isinstance(la, Flatten) for la in self.layers):
            raise self._fail(node, "input normalisation must come directly before the first affine layer")
        n_in = flat_w.shape[1]
        scale = np.ones(n_in) if self.in_scale is None else np.broadcast_to(self.in_scale, self.shape).reshape(-1)
        offset = np.zeros(n_in) if self.in_offset is None else np.broadcast_to(self.in_offset, self.shape).reshape(-1)
        w_new = flat_w * scale[None, :]
        shift = w_new @ offset
        return w_new.reshape(weight.shape), shift

    # ---------------------------------------------------------------------------------------- op handlers
    def run(self) -> Network:
        for node in self.graph.node:
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise self._fail(node, "this operator is not supported")
            handler(node)
        outs = [o.name for o in self.graph.output]
        if self.current not in outs:
            raise FormatError(f"the graph output {outs} is not the end of the layer chain ({self.current!r})")
        if not self.layers:
            raise FormatError("the ONNX graph has no layers mipnet understands")
        if self.in_offset is not None or self.in_scale is not None:
            raise FormatError("an input normalisation (Sub/Add/Mul/Div of a constant) is not followed by an affine "
                              "layer it could be folded into")
        for layer in self.layers:
            if layer.is_affine and layer.relu is None:
                layer.relu = False
        return Network(self.layers, self.input_shape)

    def _op_Constant(self, node: Any) -> None:
        from onnx import numpy_helper

        attrs = {a.name: a for a in node.attribute}
        if "value" not in attrs:
            raise self._fail(node, "only tensor-valued Constant nodes are supported")
        self.consts[node.output[0]] = numpy_helper.to_array(attrs["value"].t).astype(float)

    def _op_Identity(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        if uses_act:
            self._advance(node, self.shape)
        else:
            self.consts[node.output[0]] = vals[0]

    _op_Dropout = _op_Identity

    def _op_Relu(self, node: Any) -> None:
        _, uses_act = self._split(node)
        if not uses_act:
            raise self._fail(node, "ReLU of a constant")
        # ReLU commutes with Flatten: look back over Flatten layers to the affine layer
        k = len(self.layers) - 1
        while k >= 0 and isinstance(self.layers[k], Flatten):
            k -= 1
        if k < 0 or not self.layers[k].is_affine or self.layers[k].relu:
            raise self._fail(node, "a ReLU must follow a Gemm/MatMul/Conv (+ Add) layer that has no ReLU yet")
        if self.in_offset is not None or self.in_scale is not None:
            raise self._fail(node, "a ReLU directly after input normalisation is not supported")
        self.layers[k].relu = True
        self.open_bias = False
        self._advance(node, self.shape)

    def _shape_op(self, node: Any, target: tuple[int, ...] | None) -> None:
        flat = (int(np.prod(self.shape)),)
        if target is not None and tuple(target) != flat and tuple(target) != self.shape:
            raise self._fail(node, f"reshape of {self.shape} to {target}: only flattening to (N, -1) is supported")
        if len(self.shape) > 1 and (target is None or tuple(target) == flat):
            if not self.layers and self.in_offset is None and self.in_scale is None:
                self.input_shape = flat       # flatten of the raw input: the network takes flat inputs
                self.shape = flat
            elif not self.layers:
                self.in_offset = None if self.in_offset is None else np.broadcast_to(self.in_offset, self.shape)
                self.in_scale = None if self.in_scale is None else np.broadcast_to(self.in_scale, self.shape)
                self.in_offset = None if self.in_offset is None else self.in_offset.reshape(-1)
                self.in_scale = None if self.in_scale is None else self.in_scale.reshape(-1)
                self.input_shape = flat
                self.shape = flat
            else:
                self._add_layer(Flatten())
        self.open_bias = self.open_bias and len(self.shape) == 1
        self._advance(node, self.shape)

    def _op_Flatten(self, node: Any) -> None:
        _, uses_act = self._split(node)
        axis = int(self._attrs(node).get("axis", 1))
        if not uses_act or axis != 1:
            raise self._fail(node, "only Flatten of the activation with axis=1 is supported")
        self._shape_op(node, None)

    def _op_Reshape(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        if not uses_act or vals[1] is None:
            raise self._fail(node, "Reshape needs the activation and a constant shape")
        target = [int(v) for v in np.asarray(vals[1]).reshape(-1)]
        if len(target) < 1:
            raise self._fail(node, f"cannot reshape to {target}")
        per_sample = target[1:]
        n = int(np.prod(self.shape))
        if per_sample.count(-1) == 1:
            known = int(np.prod([d for d in per_sample if d != -1])) or 1
            per_sample = [n // known if d == -1 else d for d in per_sample]
        if target[0] not in (1, -1, 0) and len(target) > 1:
            raise self._fail(node, f"reshape to {target} changes the batch axis")
        if len(target) == 1:
            raise self._fail(node, f"reshape to {target} drops the batch axis")
        if int(np.prod(per_sample)) != n:
            raise self._fail(node, f"reshape of {self.shape} to {target} does not keep the size")
        self._shape_op(node, tuple(per_sample))

    def _op_Gemm(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or vals[0] is not None or vals[1] is None or int(a.get("transA", 0)):
            raise self._fail(node, "only Gemm(activation, constant weight[, constant bias]) without transA")
        if len(self.shape) != 1:
            raise self._fail(node, f"Gemm needs a flat input, the activation has shape {self.shape}")
        B = vals[1] if int(a.get("transB", 0)) else vals[1].T    # (out, in)
        W = float(a.get("alpha", 1.0)) * B
        bias = np.zeros(W.shape[0])
        if len(vals) > 2 and vals[2] is not None:
            bias = float(a.get("beta", 1.0)) * np.broadcast_to(vals[2], (W.shape[0],)).astype(float)
        self._dense(node, W, bias)

    def _op_MatMul(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        if not uses_act or vals[0] is not None or vals[1] is None or vals[1].ndim != 2:
            raise self._fail(node, "only MatMul(activation, constant 2-D weight) is supported")
        if len(self.shape) != 1:
            raise self._fail(node, f"MatMul needs a flat input, the activation has shape {self.shape}")
        self._dense(node, vals[1].T.copy(), np.zeros(vals[1].shape[1]))

    def _dense(self, node: Any, W: np.ndarray, bias: np.ndarray) -> None:
        if W.shape[1] != self.shape[0]:
            raise self._fail(node, f"weight takes {W.shape[1]} inputs, the activation has {self.shape[0]}")
        W, shift = self._fold_input_transform(node, W, W)
        self.in_offset = self.in_scale = None
        self._add_layer(Dense(W.shape[0], relu=None, weight=W, bias=bias + shift))
        self.open_bias = True
        self._advance(node, self.shape)

    def _op_Conv(self, node: Any) -> None:
        vals, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or vals[0] is not None or vals[1] is None:
            raise self._fail(node, "only Conv(activation, constant weight[, constant bias]) is supported")
        if len(self.shape) != 3:
            raise self._fail(node, f"Conv needs a (C, H, W) input, the activation has shape {self.shape}")
        W = vals[1]
        if W.ndim != 4:
            raise self._fail(node, "only 2-D convolutions are supported")
        if int(a.get("group", 1)) != 1 or any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            raise self._fail(node, "grouped or dilated convolutions are not supported")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            raise self._fail(node, "auto_pad SAME is not supported: give explicit pads")
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise self._fail(node, f"asymmetric padding {pads} is not supported")
        strides = [int(s) for s in a.get("strides", [1, 1])]
        bias = np.zeros(W.shape[0]) if len(vals) < 3 or vals[2] is None else vals[2].reshape(-1)
        if self.in_offset is not None or self.in_scale is not None:
            if pads[0] or pads[1]:
                raise self._fail(node, "input normalisation before a padded convolution cannot be folded exactly")
            off = None if self.in_offset is None else np.broadcast_to(self.in_offset, self.shape)
            sc = None if self.in_scale is None else np.broadcast_to(self.in_scale, self.shape)
            for arr in (off, sc):
                if arr is not None and not np.all(arr == arr[:, :1, :1]):
                    raise self._fail(node, "input normalisation before a convolution must be constant per channel")
            scale_c = np.ones(self.shape[0]) if sc is None else sc[:, 0, 0]
            off_c = np.zeros(self.shape[0]) if off is None else off[:, 0, 0]
            W = W * scale_c[None, :, None, None]
            bias = bias + np.einsum("oikl,i->o", W, off_c)
            self.in_offset = self.in_scale = None
        layer = Conv2D(W.shape[0], kernel=tuple(W.shape[2:]), stride=tuple(strides), padding=(pads[0], pads[1]),
                       relu=None, weight=W, bias=bias)
        self._add_layer(layer)
        self.open_bias = True
        self._advance(node, self.shape)

    def _pool(self, node: Any, cls: type) -> None:
        _, uses_act = self._split(node)
        a = self._attrs(node)
        if not uses_act or len(self.shape) != 3:
            raise self._fail(node, f"pooling needs a (C, H, W) activation, got shape {self.shape}")
        if any(int(p) for p in a.get("pads", [0, 0, 0, 0])) or int(a.get("ceil_mode", 0)):
            raise self._fail(node, "padded or ceil-mode pooling is not supported")
        if any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            raise self._fail(node, "dilated pooling is not supported")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            raise self._fail(node, "auto_pad is not supported")
        if self.in_offset is not None or self.in_scale is not None:
            raise self._fail(node, "input normalisation must be followed by an affine layer")
        kernel = tuple(int(k) for k in a["kernel_shape"])
        stride = tuple(int(s) for s in a.get("strides", kernel))
        self._add_layer(cls(kernel, stride))
        self.open_bias = False
        self._advance(node, self.shape)

    def _op_MaxPool(self, node: Any) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise self._fail(node, "MaxPool with an Indices output is not supported")
        self._pool(node, MaxPool2D)

    def _op_AveragePool(self, node: Any) -> None:
        self._pool(node, AvgPool2D)

    def _constant_operand(self, node: Any) -> tuple[np.ndarray, bool]:
        vals, uses_act = self._split(node)
        if not uses_act or len(vals) != 2 or (vals[0] is None) == (vals[1] is None):
            raise self._fail(node, "only an elementwise operation between the activation and a constant")
        return (vals[1], True) if vals[0] is None else (vals[0], False)

    def _per_sample(self, node: Any, c: np.ndarray) -> np.ndarray:
        """Broadcast a constant against ``(1, *shape)`` and drop the batch axis."""
        try:
            return np.broadcast_to(c, (1, *self.shape))[0]
        except ValueError:
            raise self._fail(node, f"constant of shape {c.shape} does not broadcast to {(1, *self.shape)}") from None

    def _add_const(self, node: Any, c: np.ndarray) -> None:
        c = self._per_sample(node, c)
        last = self._last_affine()
        if last is not None and self.open_bias:
            if isinstance(last, Dense):
                last.bias = last.bias + c.reshape(-1)
            else:
                if not np.all(c == c[:, :1, :1]):
                    raise self._fail(node, "a constant added after Conv must be constant per channel")
                last.bias = last.bias + c[:, 0, 0]
        elif not self.layers or all(isinstance(la, Flatten) for la in self.layers):
            # input normalisation x -> (x + offset) * scale  (offset applies before any scale)
            if self.in_scale is not None:
                raise self._fail(node, "an offset after an input scaling is not supported")
            self.in_offset = c.copy() if self.in_offset is None else self.in_offset + c
        else:
            raise self._fail(node, "adding a constant is only supported right after an affine layer or on the input")
        self._advance(node, self.shape)

    def _op_Add(self, node: Any) -> None:
        c, _ = self._constant_operand(node)
        self._add_const(node, c)

    def _op_Sub(self, node: Any) -> None:
        c, act_first = self._constant_operand(node)
        if not act_first:
            raise self._fail(node, "only activation - constant is supported (constant - activation is not)")
        self._add_const(node, -c)

    def _scale(self, node: Any, s: np.ndarray) -> None:
        s = self._per_sample(node, s)
        if self.layers and not all(isinstance(la, Flatten) for la in self.layers):
            raise self._fail(node, "multiplying by a constant is only supported on the input (normalisation)")
        self.in_scale = s.copy() if self.in_scale is None else self.in_scale * s
        self._advance(node, self.shape)

    def _op_Mul(self, node: Any) -> None:
        c, _ = self._constant_operand(node)
        self._scale(node, c)

    def _op_Div(self, node: Any) -> None:
        c, act_first = self._constant_operand(node)
        if not act_first or np.any(c == 0):
            raise self._fail(node, "only activation / nonzero constant is supported")
        self._scale(node, 1.0 / c)


def load_onnx(path: str | Path) -> Network:
    """Read a feed-forward ReLU network from an ONNX file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Network

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
    try:
        net = _GraphReader(model.graph).run()
    except MIPNetError:
        raise
    except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # a damaged graph (missing attributes, tensors of the wrong size or type) fails inside the reader's
        # numpy and protobuf calls: one error naming the file and the problem, never a traceback
        raise FormatError(f"{path}: damaged or inconsistent ONNX graph ({type(exc).__name__}: {exc})") from None
    for i, layer in enumerate(net.affine_layers()):
        if not (np.all(np.isfinite(layer.weight)) and (layer.bias is None or np.all(np.isfinite(layer.bias)))):
            raise FormatError(f"{path}: affine layer {i} has weights that are not finite numbers")
    return net


def to_onnx(net: Network, path: str | Path | None = None, dtype: str = "float64", opset: int = 13) -> Any:
    """Write a network as an ONNX model (``Gemm``, ``Conv``, ``Relu``, ``MaxPool``, ``AveragePool``, ``Flatten``).

    Parameters
    ----------
    net : Network
    path : str or Path, optional
        Where to save; ``None`` only returns the model.
    dtype : {"float64", "float32"}
        Tensor type. ``float64`` (default) keeps the weights bit for bit, so import after export is exact.
    opset : int

    Returns
    -------
    onnx.ModelProto
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    if dtype not in ("float64", "float32"):
        raise FormatError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    np_t = np.float64 if dtype == "float64" else np.float32
    elem = TensorProto.DOUBLE if dtype == "float64" else TensorProto.FLOAT
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
