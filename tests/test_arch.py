"""Architecture text and JSON: parsing, formatting, errors that name the token."""

from __future__ import annotations

import json

import pytest

from mipnet.arch import (
    architecture_from_json,
    architecture_to_json,
    format_architecture,
    load_architecture,
    parse_architecture,
)
from mipnet.errors import SettingsError, ShapeError
from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from mipnet.network import Network


def test_parse_issue_example():
    layers = parse_architecture("conv(4,k=3,p=1)-maxpool(2)-flatten-dense(2)")
    assert [type(x) for x in layers] == [Conv2D, MaxPool2D, Flatten, Dense]
    conv = layers[0]
    assert conv.out_channels == 4 and conv.kernel == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
    assert layers[1].kernel == (2, 2) and layers[1].stride == (2, 2)
    assert layers[3].units == 2
    net = Network(layers, (1, 8, 8))
    assert net.output_shape == (2,)


def test_parse_all_forms():
    layers = parse_architecture("conv(4,k=3,s=1,p=1,bias=0) - avgpool(2,s=2) - conv2d(2, kernel=2x3, stride=1x2) "
                                "- maxpool2d(k=2,s=1) - flatten - dense(8) - linear(1,bias=0,relu=0)")
    c0, a, c1, m, _, d0, d1 = layers
    assert c0.bias_on is False and a.stride == (2, 2) and isinstance(a, AvgPool2D)
    assert c1.kernel == (2, 3) and c1.stride == (1, 2)
    assert m.kernel == (2, 2) and m.stride == (1, 1)
    assert d0.units == 8 and d1.bias_on is False and d1.relu is False


@pytest.mark.parametrize("text", [
    "conv(4,k=3,p=1)-maxpool(2)-flatten-dense(2)",
    "conv(4,k=3,s=2,p=1,bias=0)-avgpool(2,s=1)-conv(2,k=2x3,active=0)-flatten-dense(8)-dense(1,relu=0)",
    "avgpool(3x2,s=1x2)-flatten-dense(3,bias=0)",
])
def test_format_round_trip(text):
    layers = parse_architecture(text)
    assert format_architecture(layers) == text
    assert [x.params() for x in parse_architecture(format_architecture(layers))] == [x.params() for x in layers]


@pytest.mark.parametrize("text, exc, token", [
    ("conv(4,k=3)-pool(2)-dense(1)", SettingsError, "pool(2)"),
    ("conv(4,q=3)-flatten-dense(1)", SettingsError, "conv(4,q=3)"),
    ("conv(k=3)-flatten-dense(1)", SettingsError, "conv(k=3)"),
    ("dense(2.5)", SettingsError, "dense(2.5)"),
    ("dense(1,relu=maybe)", SettingsError, "dense(1,relu=maybe)"),
    ("conv(0,k=3)-flatten-dense(1)", ShapeError, "conv(0,k=3)"),
    ("dense(2)--dense(1)", SettingsError, "empty layer"),
    ("dense(2", SettingsError, "unbalanced"),
    ("maxpool(2,2,2)", SettingsError, "maxpool(2,2,2)"),
    ("", SettingsError, "empty"),
])
def test_bad_text_names_the_token(text, exc, token):
    with pytest.raises(exc) as err:
        parse_architecture(text)
    assert token in str(err.value)


def test_json_file_round_trip(tmp_path):
    layers = parse_architecture("conv(3,k=3,p=1)-maxpool(2)-flatten-dense(4)-dense(1)")
    spec = architecture_to_json(layers)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(spec))
    again = load_architecture(str(path))
    assert [x.params() for x in again] == [x.params() for x in layers]
    assert load_architecture(path)[0].out_channels == 3
    assert [x.params() for x in load_architecture(layers)] == [x.params() for x in layers]
    assert load_architecture("dense(3)-dense(1)")[0].units == 3
    short = architecture_from_json([{"kind": "conv", "out_channels": 2, "kernel": 3}, {"kind": "flatten"},
                                    {"kind": "dense", "units": 1}])
    assert short[0].kernel == (3, 3)


@pytest.mark.parametrize("spec, words", [
    ([{"kind": "conv3d", "out_channels": 2}], "conv3d"),
    ([{"units": 2}], "kind"),
    ([{"kind": "dense", "units": 2, "colour": "red"}], "layer 0"),
    ([], "non-empty"),
])
def test_bad_json(spec, words):
    with pytest.raises(SettingsError, match=words):
        architecture_from_json(spec)


def test_missing_and_broken_json_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_architecture(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_architecture(bad)
