"""Pictures: headless (matplotlib's Agg and SVG writers), checked artist by artist and as files."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from mipnet import Conv2D, Dense, Flatten, MaxPool2D, Network  # noqa: E402
from mipnet.errors import DataError, OptionalDependencyError, SettingsError  # noqa: E402
from mipnet.plot import (  # noqa: E402
    ACTIVE_FACE,
    PRUNED_EDGE,
    PRUNED_FACE,
    plot_network,
    plot_progress,
    plot_sweep,
    pruned_units,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _by_gid(fig) -> dict:
    out = {}
    for ax in fig.axes:
        for artist in [*ax.patches, *ax.collections, *ax.images, *ax.lines]:
            if artist.get_gid():
                out[artist.get_gid()] = artist
    return out


def _pruned_dense() -> Network:
    """4 inputs -> 3 neurons -> 2 outputs; input 1 unused, neuron 2 without weights, neuron 1 unused by the head."""
    w1 = np.array([[0.5, 0.0, -1.0, 0.2], [0.0, 0.0, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0]])
    w2 = np.array([[1.0, 0.0, 0.0], [-0.5, 0.0, 0.0]])
    return Network([Dense(3, weight=w1, bias=np.array([0.1, 0.0, 0.0])), Dense(2, weight=w2, bias=np.zeros(2))], 4)


def test_pruned_units_of_a_dense_network() -> None:
    inputs, units = pruned_units(_pruned_dense())
    assert inputs.tolist() == [False, True, False, False]
    assert units[0].tolist() == [False, True, True]     # neuron 1: no outgoing weight; neuron 2: nothing
    assert units[1].tolist() == [False, False]


def test_network_greys_exactly_the_pruned_units_and_draws_each_weight(tmp_path) -> None:
    net = _pruned_dense()
    names = ["age", "height", "weight", "income"]
    fig = plot_network(net, feature_names=names, output_names=["no", "yes"], out=tmp_path / "net.png")
    art = _by_gid(fig)
    inputs, units = pruned_units(net)
    for j, pruned in enumerate(inputs):
        assert art[f"input:{j}"].get_facecolor() == to_rgba(PRUNED_FACE if pruned else ACTIVE_FACE)
    for k, mask in enumerate(units):
        for j, pruned in enumerate(mask):
            assert art[f"unit:{k}:{j}"].get_facecolor() == to_rgba(PRUNED_FACE if pruned else ACTIVE_FACE)
    for k, layer in enumerate(net.affine_layers()):
        edges = art[f"edges:{k}"]
        assert len(edges.get_segments()) == int(np.count_nonzero(layer.weight))
        widths = np.asarray(edges.get_linewidths())
        assert widths.max() == pytest.approx(widths[np.argmax(np.abs(layer.weight[layer.weight != 0]))])
    labels = {t.get_text(): t for t in fig.axes[0].texts}
    assert set(names) <= set(labels) and {"no", "yes"} <= set(labels)
    assert labels["height"].get_color() == PRUNED_EDGE          # the unused input's label is grey too
    data = (tmp_path / "net.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and imread(tmp_path / "net.png").ndim == 3


def test_network_as_svg_names_its_units(tmp_path) -> None:
    out = tmp_path / "net.svg"
    plot_network(_pruned_dense(), out=out)
    root = ET.parse(out).getroot()                   # valid XML
    assert root.tag.endswith("svg")
    ids = {el.get("id") for el in root.iter()}
    assert {"input:0", "input:1", "unit:0:2", "unit:1:1", "edges:0"} <= ids


def test_conv_filters_are_drawn_and_the_inactive_one_is_grey(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2, 3, 3))
    b = rng.normal(size=3)
    w[1], b[1] = 0.0, 0.0
    net = Network([Conv2D(3, 3, padding=1, weight=w, bias=b), MaxPool2D(2), Flatten(),
                   Dense(2, weight=rng.normal(size=(2, 27)), bias=np.zeros(2))], (2, 6, 6))
    fig = plot_network(net, out=tmp_path / "conv.svg")
    art = _by_gid(fig)
    for f in range(3):
        frame = art[f"filter:0:{f}"]
        grey = f == 1
        assert (frame.get_edgecolor() == to_rgba(PRUNED_EDGE)) == grey
        image = art[f"filter-image:0:{f}"]
        assert image.get_array().shape == (3, 2 * 4 - 1)          # two in-channels side by side
        assert (image.get_alpha() < 1) == grey
    assert len(art["edges:1"].get_segments()) == 2 * 27
    ET.parse(tmp_path / "conv.svg")


def test_progress_steps_and_non_finite_points_left_out(tmp_path) -> None:
    history = [(0.1, np.inf, -np.inf), (0.5, 3.0, -np.inf), (1.0, 2.0, 0.5), (2.0, 2.0, 2.0)]
    fig = plot_progress(history, out=tmp_path / "p.png", log_gap=True)
    art = _by_gid(fig)
    assert art["incumbent"].get_xdata().tolist() == [0.5, 1.0, 2.0]
    assert art["bound"].get_ydata().tolist() == [0.5, 2.0]
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(DataError, match="no progress history"):
        plot_progress([])


def test_sweep_from_a_table_in_order_of_the_value(tmp_path) -> None:
    table = {"format": "mipnet-sweep", "param": "l1", "score_name": "accuracy",
             "points": [{"value": 0.1, "score": 0.9, "nonzero_weights": 5}, {"value": 0.0, "score": 1.0,
                                                                          "nonzero_weights": 12}]}
    fig = plot_sweep(table, out=tmp_path / "s.svg")
    line = _by_gid(fig)["sweep"]
    assert line.get_xdata().tolist() == [12, 5] and line.get_ydata().tolist() == [1.0, 0.9]
    ET.parse(tmp_path / "s.svg")
    with pytest.raises(DataError, match="nonzero_weights"):
        plot_sweep({"params": [{"l1": 0}], "mean_test_score": [1.0]})


def test_unknown_suffix_and_missing_matplotlib(tmp_path, monkeypatch) -> None:
    with pytest.raises(SettingsError, match=r"\.png or \.svg"):
        plot_network(_pruned_dense(), out=tmp_path / "net.jpg")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)   # as if matplotlib were not installed
    with pytest.raises(OptionalDependencyError, match=r"pip install 'mipnet\[plot\]'"):
        plot_network(_pruned_dense())
