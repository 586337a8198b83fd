"""Pictures of a trained network, of a solve's progress and of a lambda sweep (``pip install 'mipnet[plot]'``).

Everything draws on a fresh :class:`matplotlib.figure.Figure` (no pyplot, no global state, no display needed) and
returns it; with ``out`` the figure is also written, as PNG or SVG by the file's suffix.

* :func:`plot_network`: inputs (labelled with the feature names), neurons and outputs as circles, weights as edges
  whose width is proportional to ``|w|`` (blue positive, red negative; zero weights are not drawn), convolution
  filters as small images of their kernels; pruned inputs, neurons and filters (:func:`pruned_units`) are grey.
* :func:`plot_progress`: the incumbent and the bound over time (:attr:`mipnet.report.TrainReport.history`).
* :func:`plot_sweep`: score against nonzero weights for each value of a penalty (:func:`mipnet.sweep.sweep`, or
  a ``GridSearchCV``'s ``cv_results_`` scored with :func:`mipnet.sweep.nonzero_weights`).

Artists carry ids (``gid``, also the ``id`` of SVG elements): ``input:<i>``, ``unit:<layer>:<j>`` (affine layer
``layer``, counted from 0), ``filter:<layer>:<f>``, ``edges:<layer>``, ``incumbent``, ``bound``, ``sweep``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from mipnet.errors import DataError, OptionalDependencyError, SettingsError
from mipnet.layers import Conv2D, Dense, Flatten, active_units
from mipnet.network import Network

#: colours of an active and a pruned unit (face, edge) and of positive and negative weights
ACTIVE_FACE, ACTIVE_EDGE = "#ffffff", "#222222"
PRUNED_FACE, PRUNED_EDGE = "#d9d9d9", "#a6a6a6"
POSITIVE, NEGATIVE = "#1f77b4", "#d62728"
#: widest edge (points), drawn for the largest ``|w|`` of a layer
MAX_EDGE_WIDTH = 4.0
#: the file suffixes :func:`save_figure` writes
FORMATS = (".png", ".svg")


class PlotKind(StrEnum):
    """What ``mipnet plot`` and :meth:`mipnet.report.TrainReport.plot` draw."""

    NETWORK = "network"    #: the trained network, pruned units grey
    PROGRESS = "progress"  #: incumbent and bound over time
    SWEEP = "sweep"        #: score against sparsity over a penalty's values


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches, or :class:`OptionalDependencyError` in one line."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise OptionalDependencyError("plotting needs matplotlib: pip install 'mipnet[plot]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Any, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` (``.png`` or ``.svg``); returns the path."""
    p = Path(out)
    if p.suffix.lower() not in FORMATS:
        raise SettingsError(f"{out}: pictures are written as {' or '.join(FORMATS)} (by the file's suffix)")
    fig.savefig(p, dpi=150 if p.suffix.lower() == ".png" else None)
    return p


def _finish(fig: Any, out: str | Path | None) -> Any:
    if out is not None:
        save_figure(fig, out)
    return fig


# ------------------------------------------------------------------------------------------------ network


def pruned_units(net: Network, tol: float = 0.0) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """What :func:`plot_network` greys out: ``(inputs, units)``.

    ``inputs``: per input feature, whether no weight of the first layer uses it (``None`` unless the first layer
    is dense on flat inputs). ``units``: per affine layer, per neuron or filter, whether it is pruned: every unit
    of a gated-off layer, a unit without any nonzero weight or bias (:func:`mipnet.layers.active_units`), and a
    hidden neuron that the next dense layer gives only zero weights (it contributes nothing).
    """
    affine = net.affine_layers()
    units = []
    for layer in affine:
        if layer.weight is None:
            raise SettingsError("the network has no weights yet: nothing to draw")
        units.append(~active_units(layer, tol) if layer.active else np.ones(layer.weight.shape[0], dtype=bool))
    for i, layer in enumerate(net.layers[:-1]):
        after = net.layers[i + 1]
        if isinstance(layer, Dense) and isinstance(after, Dense) and after.active:
            k = affine.index(layer)
            units[k] = units[k] | ~(np.abs(after.weight) > tol).any(axis=0)
    inputs = None
    first = net.layers[0]
    if isinstance(first, Dense) and len(net.input_shape) == 1:
        inputs = ~(np.abs(first.weight) > tol).any(axis=0) if first.active else np.zeros(net.n_inputs, dtype=bool)
    return inputs, units


def _column_y(n: int, height: float) -> np.ndarray:
    return np.linspace(height, 0.0, n) if n > 1 else np.array([height / 2])


def plot_network(net: Network, feature_names: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None, out: str | Path | None = None, tol: float = 0.0,
                 title: str | None = None) -> Any:
    """Draw ``net``: units as circles, weights as edges (width ``|w|``), convolution filters as kernel images.

    Parameters
    ----------
    net : Network
    feature_names : sequence of str, optional
        Labels of the inputs (dense networks; default ``x0, x1, ...``).
    output_names : sequence of str, optional
        Labels of the outputs (e.g. the class names).
    out : path, optional
        Also write the figure there (``.png`` or ``.svg``).
    tol : float
        Weights with ``|w| <= tol`` count as zero.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    inputs_pruned, units_pruned = pruned_units(net, tol)
    affine = net.affine_layers()
    # columns of circles: the inputs when flat, then every dense layer; conv layers and the rest as panels
    flat_start = next((i for i, layer in enumerate(net.layers) if isinstance(layer, Dense)), len(net.layers))
    panels = net.layers[:flat_start]
    dense = [layer for layer in net.layers[flat_start:] if isinstance(layer, Dense)]
    n_in = int(np.prod(dense[0].in_shape)) if dense else 0
    sizes = [n_in] + [layer.units for layer in dense]
    height = max(max(sizes), 2) - 1.0
    gap = max(3.0, 0.45 * height)
    radius = 0.32
    x0 = 0.0
    n_filter_rows = max([layer.out_channels for layer in panels if isinstance(layer, Conv2D)] or [1])
    height = max(height, 1.6 * n_filter_rows)
    fig = new_figure(min(2 + 1.8 * (len(panels) + len(sizes)), 18), min(2 + 0.32 * height, 14))
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.axis("off")

    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle, Rectangle

    # ---- panels: conv filters as images, pooling and flatten as labelled boxes
    for layer in panels:
        if isinstance(layer, Conv2D):
            k = affine.index(layer)
            w = layer.weight
            m = float(np.abs(w).max()) or 1.0
            kh, kw = w.shape[2], w.shape[3]
            c_in = w.shape[1]
            cell = 1.2
            wide = cell * (c_in * (kw + 1) - 1) / kh     # the in-channels side by side, square cells
            ys = _column_y(w.shape[0], height)
            for f in range(w.shape[0]):
                img = np.concatenate([np.pad(w[f, c], ((0, 0), (0, 1)), constant_values=np.nan)
                                      for c in range(c_in)], axis=1)[:, :-1]
                pruned = bool(units_pruned[k][f])
                ext = (x0, x0 + wide, ys[f] - cell / 2, ys[f] + cell / 2)
                ax.imshow(img, extent=ext, cmap="Greys" if pruned else "RdBu_r", vmin=-m, vmax=m,
                          alpha=0.3 if pruned else 1.0, interpolation="nearest", gid=f"filter-image:{k}:{f}")
                ax.add_patch(Rectangle((ext[0], ext[2]), wide, cell, fill=False, lw=1.5,
                                       edgecolor=PRUNED_EDGE if pruned else ACTIVE_EDGE, gid=f"filter:{k}:{f}"))
            active = int((~units_pruned[k]).sum())
            ax.text(x0 + wide / 2, height + 1.2, f"conv {kh}x{kw}\n{active}/{w.shape[0]} filters", ha="center",
                    va="bottom", fontsize=8)
            x0 += wide + gap * 0.6
        else:
            label = "flatten" if isinstance(layer, Flatten) else f"{layer.kind}\n{'x'.join(map(str, layer.kernel))}"
            ax.add_patch(Rectangle((x0, height / 2 - 1.0), 1.2, 2.0, facecolor="#f2f2f2", edgecolor=ACTIVE_EDGE,
                                   gid=f"layer:{net.layers.index(layer)}"))
            ax.text(x0 + 0.6, height / 2, label, ha="center", va="center", fontsize=7)
            x0 += 1.2 + gap * 0.6
    if not dense:
        return _finish(_titled(fig, ax, title), out)

    # ---- circles: inputs of the first dense layer, then each dense layer
    xs = [x0 + gap * i for i in range(len(sizes))]
    ys = [_column_y(n, height) for n in sizes]
    for i, layer in enumerate(dense):
        w = layer.weight if layer.active else np.eye(layer.units)
        m = float(np.abs(w).max()) or 1.0
        rows, cols = np.nonzero(np.abs(w) > tol)
        segs = [((xs[i], ys[i][c]), (xs[i + 1], ys[i + 1][r])) for r, c in zip(rows, cols)]
        vals = w[rows, cols]
        ax.add_collection(LineCollection(segs, linewidths=MAX_EDGE_WIDTH * np.abs(vals) / m + 0.2,
                                         colors=[POSITIVE if v > 0 else NEGATIVE for v in vals], alpha=0.8,
                                         zorder=1, gid=f"edges:{affine.index(layer)}"))
    in_pruned = inputs_pruned if inputs_pruned is not None and flat_start == 0 else np.zeros(n_in, dtype=bool)
    names = list(feature_names) if feature_names is not None and flat_start == 0 else None
    for j in range(n_in):
        pruned = bool(in_pruned[j])
        ax.add_patch(Circle((xs[0], ys[0][j]), radius, facecolor=PRUNED_FACE if pruned else ACTIVE_FACE,
                            edgecolor=PRUNED_EDGE if pruned else ACTIVE_EDGE, zorder=2, gid=f"input:{j}"))
        if flat_start == 0 or n_in <= 32:
            label = names[j] if names is not None and j < len(names) else f"x{j}"
            ax.text(xs[0] - radius - 0.25, ys[0][j], label, ha="right", va="center", fontsize=7,
                    color=PRUNED_EDGE if pruned else "black")
    for i, layer in enumerate(dense):
        k = affine.index(layer)
        last = layer is affine[-1]
        for j in range(layer.units):
            pruned = bool(units_pruned[k][j])
            ax.add_patch(Circle((xs[i + 1], ys[i + 1][j]), radius, facecolor=PRUNED_FACE if pruned else ACTIVE_FACE,
                                edgecolor=PRUNED_EDGE if pruned else ACTIVE_EDGE, zorder=2, gid=f"unit:{k}:{j}"))
            if last:
                label = output_names[j] if output_names is not None and j < len(output_names) else f"output {j}"
                ax.text(xs[i + 1] + radius + 0.25, ys[i + 1][j], str(label), ha="left", va="center", fontsize=7)
        active = int((~units_pruned[k]).sum())
        caption = "outputs" if last else f"{active}/{layer.units} neurons"
        ax.text(xs[i + 1], height + 1.0, caption + ("" if layer.active else "\n(gated off)"), ha="center",
                va="bottom", fontsize=8)
    if flat_start == 0 and inputs_pruned is not None:
        ax.text(xs[0], height + 1.0, f"{int((~inputs_pruned).sum())}/{n_in} inputs", ha="center", va="bottom",
                fontsize=8)
    ax.set_xlim(-gap if flat_start == 0 else -1.0, xs[-1] + gap)
    ax.set_ylim(-1.0, height + 2.5)
    return _finish(_titled(fig, ax, title), out)


def _titled(fig: Any, ax: Any, title: str | None) -> Any:
    if title:
        ax.set_title(title, fontsize=10)
    ax.autoscale_view()
    return fig


# ----------------------------------------------------------------------------------------------- progress


def plot_progress(history: Sequence[Sequence[float]], out: str | Path | None = None, title: str | None = None,
                  log_gap: bool = False) -> Any:
    """Incumbent and bound over time, as steps, from ``(time, incumbent, bound)`` triples.

    Non-finite values (no incumbent yet, no bound) are left out of the lines. ``log_gap``: a second panel with the
    relative gap on a log scale.

    Raises
    ------
    DataError
        ``history`` is empty or not triples of numbers.
    """
    try:
        h = np.asarray(history, dtype=float)
    except (TypeError, ValueError):
        raise DataError("a progress history is a list of (time, incumbent, bound) numbers") from None
    if h.ndim != 2 or h.shape[1] != 3 or len(h) == 0:
        raise DataError("no progress history to draw (a list of (time, incumbent, bound) is needed; models trained "
                        "before it was recorded have none)")
    h = h[np.argsort(h[:, 0], kind="stable")]
    fig = new_figure(7, 6 if log_gap else 4)
    axes = fig.subplots(2, 1, sharex=True) if log_gap else [fig.add_subplot()]
    ax = axes[0]
    for col, name, colour in ((1, "incumbent", POSITIVE), (2, "bound", NEGATIVE)):
        ok = np.isfinite(h[:, col])
        ax.step(h[ok, 0], h[ok, col], where="post", color=colour, label=name, gid=name, marker=".", markersize=4)
    ax.set_ylabel("objective")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    if log_gap:
        inc, bnd = h[:, 1], h[:, 2]
        ok = np.isfinite(inc) & np.isfinite(bnd)
        gap = np.abs(inc[ok] - bnd[ok]) / np.maximum(np.abs(inc[ok]), 1e-10)
        axes[1].step(h[ok, 0], np.maximum(gap, 1e-12), where="post", color="black", gid="gap")
        axes[1].set_yscale("log")
        axes[1].set_ylabel("relative gap")
        axes[1].grid(alpha=0.3)
    axes[-1].set_xlabel("seconds")
    if title:
        ax.set_title(title, fontsize=10)
    return _finish(fig, out)


# -------------------------------------------------------------------------------------------------- sweep


def sweep_table(results: Mapping[str, Any] | Any, param: str | None = None) -> tuple[str, list[dict]]:
    """``(param, rows)`` with ``value``, ``score`` and ``nonzero_weights`` per candidate, from a
    :class:`mipnet.sweep.SweepResult` (anything with ``as_dict()``) or a ``GridSearchCV``'s ``cv_results_``
    (scored with :func:`mipnet.sweep.nonzero_weights` under the name ``nonzero_weights``)."""
    if hasattr(results, "as_dict"):
        results = results.as_dict()
    if not isinstance(results, Mapping):
        raise DataError("a sweep is a SweepResult or a GridSearchCV's cv_results_")
    if "points" in results:   # SweepResult.as_dict()
        return str(results["param"]), [dict(p) for p in results["points"]]
    params = results.get("params")
    if params is None:
        raise DataError("cv_results_ without 'params': not a GridSearchCV result")
    nz = results.get("mean_test_nonzero_weights")
    if nz is None:
        raise DataError("cv_results_ has no 'mean_test_nonzero_weights': give GridSearchCV "
                        "scoring=mipnet.sweep.SCORING and refit='score'")
    score = results.get("mean_test_score", results.get("mean_test_accuracy"))
    if score is None:
        keys = [k for k in results if k.startswith("mean_test_") and k != "mean_test_nonzero_weights"]
        if not keys:
            raise DataError("cv_results_ has no test score next to nonzero_weights")
        score = results[keys[0]]
    names = sorted({k for p in params for k in p})
    if param is None:
        varying = [k for k in names if len({repr(p.get(k)) for p in params}) > 1]
        param = varying[0] if varying else names[0]
    rows = [{"value": p.get(param), "score": float(s), "nonzero_weights": float(n)}
            for p, s, n in zip(params, score, nz)]
    return param, rows


def plot_sweep(results: Mapping[str, Any] | Any, param: str | None = None, out: str | Path | None = None,
               title: str | None = None) -> Any:
    """The accuracy-sparsity trade-off: score (accuracy, or R^2) against nonzero weights, one point per value of
    the swept penalty (labelled with it), joined in order of the value. See :func:`sweep_table` for ``results``."""
    param, rows = sweep_table(results, param)
    if not rows:
        raise DataError("the sweep has no candidates")
    order = sorted(range(len(rows)), key=lambda i: _sort_key(rows[i]["value"]))
    nz = np.array([rows[i]["nonzero_weights"] for i in order], dtype=float)
    sc = np.array([rows[i]["score"] for i in order], dtype=float)
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    ax.plot(nz, sc, "-o", color=POSITIVE, gid="sweep")
    for i, x, yv in zip(order, nz, sc):
        ax.annotate(f"{param}={rows[i]['value']}", (x, yv), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("nonzero weights")
    ax.set_ylabel("score")
    ax.grid(alpha=0.3)
    ax.set_title(title or f"sweep over {param}", fontsize=10)
    return _finish(fig, out)


def _sort_key(v: Any) -> tuple[int, float | str]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return (1, str(v))
    return (0, f if not math.isnan(f) else math.inf)
