"""Architectures as text and as JSON.

Text: layers joined by ``-``, e.g. ``"conv(4,k=3,p=1)-maxpool(2)-flatten-dense(2)"``.

============================  =====================================================================
token                         layer
============================  =====================================================================
``conv(C,k=3,s=1,p=0)``       :class:`~mipnet.layers.Conv2D` with ``C`` filters; also ``bias=0``, ``relu=0|1``;
                              a kernel, stride or padding may be a pair written ``3x2``
``maxpool(K,s=K)``            :class:`~mipnet.layers.MaxPool2D` (stride defaults to the kernel)
``avgpool(K,s=K)``            :class:`~mipnet.layers.AvgPool2D`
``flatten``                   :class:`~mipnet.layers.Flatten`
``dense(U)``                  :class:`~mipnet.layers.Dense` with ``U`` units; also ``bias=0``, ``relu=0|1``
============================  =====================================================================

Long names (``conv2d``, ``maxpool2d``, ``avgpool2d``, ``linear``) and long keys (``kernel``, ``stride``,
``padding``) are accepted too. JSON: a list of objects ``{"kind": ..., <parameters>}`` where ``kind`` is a
layer kind (``conv2d``, ``maxpool2d``, ``avgpool2d``, ``flatten``, ``dense``) and the parameters are those of
:meth:`~mipnet.layers.Layer.params`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mipnet.errors import SettingsError, ShapeError
from mipnet.layers import LAYER_TYPES, AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D

_ALIASES = {"conv": "conv2d", "conv2d": "conv2d", "maxpool": "maxpool2d", "maxpool2d": "maxpool2d",
            "avgpool": "avgpool2d", "avgpool2d": "avgpool2d", "flatten": "flatten", "dense": "dense",
            "linear": "dense"}
# per kind: positional parameter names, then accepted keys -> parameter name
_POSITIONAL = {"conv2d": ["out_channels", "kernel"], "maxpool2d": ["kernel", "stride"],
               "avgpool2d": ["kernel", "stride"], "flatten": [], "dense": ["units"]}
_KEYS = {
    "conv2d": {"c": "out_channels", "out_channels": "out_channels", "k": "kernel", "kernel": "kernel",
               "s": "stride", "stride": "stride", "p": "padding", "padding": "padding", "bias": "bias_on",
               "relu": "relu", "active": "active"},
    "maxpool2d": {"k": "kernel", "kernel": "kernel", "s": "stride", "stride": "stride"},
    "avgpool2d": {"k": "kernel", "kernel": "kernel", "s": "stride", "stride": "stride"},
    "flatten": {},
    "dense": {"u": "units", "units": "units", "bias": "bias_on", "relu": "relu", "active": "active"},
}
_BOOL = ("bias_on", "relu", "active")
_TOKEN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$")


def _split(text: str) -> list[str]:
    """Split at ``-`` outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SettingsError(f"unbalanced ')' in architecture {text!r}")
        if ch == "-" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise SettingsError(f"unbalanced '(' in architecture {text!r}")
    parts.append("".join(cur))
    return parts


def _value(token: str, key: str, raw: str) -> Any:
    raw = raw.strip()
    if key in _BOOL:
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"in {token!r}: {key} must be 0 or 1, got {raw!r}")
    m = re.fullmatch(r"(\d+)(?:\s*x\s*(\d+))?", raw)
    if not m:
        raise SettingsError(f"in {token!r}: {key} must be a whole number (or a pair like 3x2), got {raw!r}")
    return int(m.group(1)) if m.group(2) is None else (int(m.group(1)), int(m.group(2)))


def parse_layer(token: str) -> Layer:
    """One layer from a token such as ``conv(4,k=3,p=1)``; raises :class:`SettingsError` naming the token."""
    m = _TOKEN.match(token)
    if not m:
        raise SettingsError(f"cannot read architecture token {token!r}: expected name or name(arguments)")
    name, args = m.group(1).lower(), m.group(2)
    if name not in _ALIASES:
        raise SettingsError(f"unknown layer {m.group(1)!r} in token {token.strip()!r}: choose one of "
                            "conv, maxpool, avgpool, flatten, dense")
    kind = _ALIASES[name]
    params: dict[str, Any] = {}
    items = args.split(",") if args is not None and args.strip() else []
    positional = list(_POSITIONAL[kind])
    for item in items:
        if "=" in item:
            key, raw = item.split("=", 1)
            key = key.strip().lower()
            if key not in _KEYS[kind]:
                raise SettingsError(f"unknown argument {key!r} in token {token.strip()!r}: accepted are "
                                    f"{sorted(_KEYS[kind])}")
            pname = _KEYS[kind][key]
        else:
            if not positional:
                raise SettingsError(f"too many positional arguments in token {token.strip()!r}")
            pname, raw = positional.pop(0), item
            if not raw.strip():
                raise SettingsError(f"empty argument in token {token.strip()!r}")
        if pname in params:
            raise SettingsError(f"{pname} given twice in token {token.strip()!r}")
        params[pname] = _value(token.strip(), pname, raw)
        if pname in _POSITIONAL[kind] and pname in positional:
            positional.remove(pname)
    needed = {"conv2d": "out_channels", "dense": "units"}.get(kind)
    if needed and needed not in params:
        raise SettingsError(f"token {token.strip()!r} needs the number of {needed.replace('_', ' ')}")
    return _make(kind, params, token.strip())


def _make(kind: str, params: dict[str, Any], where: str) -> Layer:
    cls = LAYER_TYPES[kind]
    try:
        return cls(**params) if params else cls()
    except ShapeError as exc:
        raise ShapeError(f"in {where!r}: {exc}") from None
    except TypeError as exc:
        raise SettingsError(f"in {where!r}: {exc}") from None


def parse_architecture(text: str) -> list[Layer]:
    """Layers from text such as ``"conv(4,k=3,p=1)-maxpool(2)-flatten-dense(2)"`` (see the module docstring).

    Raises
    ------
    SettingsError
        On an unknown layer, argument or malformed token (the message names the token).
    ShapeError
        On impossible values such as ``conv(0)`` (the message names the token).
    """
    if not isinstance(text, str) or not text.strip():
        raise SettingsError("the architecture text is empty")
    tokens = _split(text)
    for t in tokens:
        if not t.strip():
            raise SettingsError(f"empty layer between '-' in architecture {text!r}")
    return [parse_layer(t) for t in tokens]


def _pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def format_layer(layer: Layer) -> str:
    """The text token of one layer (inverse of :func:`parse_layer`)."""
    extra = []
    if layer.is_affine:
        if not layer.bias_on:
            extra.append("bias=0")
        if layer.relu is not None:
            extra.append(f"relu={int(bool(layer.relu))}")
        if not layer.active:
            extra.append("active=0")
    if isinstance(layer, Conv2D):
        args = [str(layer.out_channels), f"k={_pair_text(layer.kernel)}"]
        if layer.stride != (1, 1):
            args.append(f"s={_pair_text(layer.stride)}")
        if layer.padding != (0, 0):
            args.append(f"p={_pair_text(layer.padding)}")
        return f"conv({','.join(args + extra)})"
    if isinstance(layer, (MaxPool2D, AvgPool2D)):
        name = "maxpool" if isinstance(layer, MaxPool2D) else "avgpool"
        args = [_pair_text(layer.kernel)]
        if layer.stride != layer.kernel:
            args.append(f"s={_pair_text(layer.stride)}")
        return f"{name}({','.join(args)})"
    if isinstance(layer, Flatten):
        return "flatten"
    if isinstance(layer, Dense):
        return f"dense({','.join([str(layer.units)] + extra)})"
    raise SettingsError(f"cannot write {layer!r} as architecture text")


def format_architecture(layers: Sequence[Layer]) -> str:
    """Text of a layer list: ``format_architecture(parse_architecture(t))`` reads back to the same layers."""
    return "-".join(format_layer(layer) for layer in layers)


def architecture_to_json(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """The JSON form: one ``{"kind": ..., **layer.params()}`` per layer (no weights)."""
    return [{"kind": layer.kind, **layer.params()} for layer in layers]


def architecture_from_json(spec: Sequence[dict[str, Any]]) -> list[Layer]:
    """Layers from the JSON form (a list of ``{"kind": ..., <parameters>}``)."""
    if not isinstance(spec, (list, tuple)) or not spec:
        raise SettingsError("a JSON architecture must be a non-empty list of layer objects")
    layers = []
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict) or "kind" not in entry:
            raise SettingsError(f"layer {i} of the JSON architecture must be an object with a 'kind', got {entry!r}")
        params = {k: v for k, v in entry.items() if k != "kind"}
        kind = _ALIASES.get(str(entry["kind"]).lower())
        if kind is None:
            raise SettingsError(f"layer {i}: unknown kind {entry['kind']!r}; choose one of {sorted(LAYER_TYPES)}")
        layers.append(_make(kind, params, f"layer {i} ({entry['kind']})"))
    return layers


def load_architecture(source: str | Path | Sequence[Layer] | Sequence[dict[str, Any]]) -> list[Layer]:
    """Layers from architecture text, a ``.json`` file path, a JSON list, or a list of layers (copied, unbuilt)."""
    if isinstance(source, Path) or (isinstance(source, str) and source.strip().lower().endswith(".json")):
        path = Path(source)
        if not path.is_file():
            raise SettingsError(f"architecture file {str(path)!r} does not exist")
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SettingsError(f"architecture file {str(path)!r} is not valid JSON: {exc}") from None
        return architecture_from_json(spec)
    if isinstance(source, str):
        return parse_architecture(source)
    items = list(source)
    if items and all(isinstance(x, dict) for x in items):
        return architecture_from_json(items)
    if items and all(isinstance(x, Layer) for x in items):
        return [_make(x.kind, x.params(), repr(x)) for x in items]
    raise SettingsError("an architecture is text, a .json path, a list of layer objects or a list of layers")
