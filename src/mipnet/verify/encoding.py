"""The verification MIP (DESIGN.md section 3): weights are constants, the input is a variable in a region.

:func:`encode` turns a network and per-layer bounds into a :class:`~mipnet.mip.MIPModel`. Affine layers become
linear rows ``z = W a + b`` (dense and convolution alike, through :func:`mipnet.train.formulation.emap_of`); a ReLU
with bounds ``L < 0 < U`` gets one binary ``d`` and the rows ``a >= z``, ``a >= 0``, ``a <= z - L(1 - d)``,
``a <= U d`` (the project's big-M form); a stable ReLU gets no binary (off: ``a = 0``, on: ``a`` is ``z``).
Max pooling uses selector binaries (``sum s = 1``, ``m >= a_p``, ``m <= a_p + (U_max - L_p)(1 - s_p)``), unless
one entry's lower bound is at least every other entry's upper bound (then ``m`` is that entry); average pooling is
linear. With ``relax=True`` the binaries become continuous in ``[0, 1]``: the LP relaxation used to tighten bounds
(for a ReLU it is the triangle relaxation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
from mipnet.mip import MIPModel
from mipnet.network import Network
from mipnet.train.formulation import emap_of
from mipnet.verify.bounds import LayerBounds


@dataclass
class Encoding:
    """Handle to the variables of an encoded network.

    Attributes
    ----------
    model : MIPModel
    x : ndarray of int
        Input variables (flat, ``n_inputs``).
    z : list of ndarray of int
        Per layer: the pre-activation variables of an affine layer (``-1`` where none was needed because the
        ReLU is off), the output variables of any other layer.
    out : ndarray of int
        The network's output variables.
    n_binaries : int
    """

    model: MIPModel
    x: np.ndarray
    z: list[np.ndarray] = field(default_factory=list)
    out: np.ndarray | None = None
    n_binaries: int = 0


def _affine_rows(m: MIPModel, layer: Dense | Conv2D, a: np.ndarray, zidx: np.ndarray) -> None:
    """Rows ``z[o, p] = sum_e W[o, e] a[emap[p, e]] + b[o]`` for the entries where ``zidx >= 0``."""
    W = layer.weight.reshape(layer.weight.shape[0], -1)               # (O, E)
    bias = layer.bias if layer.bias is not None else np.zeros(W.shape[0])
    emap = emap_of(layer)                                              # (P, E), -1 = padding
    O, P = W.shape[0], emap.shape[0]
    acol = np.where(emap >= 0, a[np.maximum(emap, 0)], -1)              # (P, E) variable indices
    zz = zidx.reshape(O, P)
    keep = zz >= 0
    if not keep.any():
        return
    cols = np.concatenate([zz[:, :, None], np.broadcast_to(acol[None], (O, P, acol.shape[1]))], axis=-1)
    coefs = np.concatenate([-np.ones((O, P, 1)), np.broadcast_to(W[:, None, :], (O, P, W.shape[1]))], axis=-1)
    rhs = -np.broadcast_to(bias[:, None], (O, P))
    m.add_rows(cols[keep], coefs[keep], lo=rhs[keep], hi=rhs[keep])


def encode(net: Network, bounds: LayerBounds, upto: int | None = None, relax: bool = False,
           input_rows: tuple[np.ndarray, np.ndarray] | None = None) -> Encoding:
    """Encode ``net`` over the input box in ``bounds``.

    Parameters
    ----------
    net : Network
    bounds : LayerBounds
        Input box and per-layer bounds (see :mod:`mipnet.verify.bounds`).
    upto : int, optional
        Stop after the affine rows of layer ``upto`` (its ``z`` has every entry, no ReLU): used to bound that
        layer's pre-activations. ``None`` encodes the whole network.
    relax : bool
        LP relaxation: binaries become continuous in ``[0, 1]``.
    input_rows : (A, b), optional
        Extra linear input constraints ``A x <= b``.
    """
    m = MIPModel()
    x = m.add_vars(net.n_inputs, bounds.input_lo, bounds.input_hi)
    enc = Encoding(m, x)
    if input_rows is not None and len(input_rows[1]):
        A, b = input_rows
        m.add_rows(np.broadcast_to(x, A.shape), A, hi=b)
    zero = None
    a = x
    last = len(net.layers) - 1 if upto is None else upto
    for i, layer in enumerate(net.layers[:last + 1]):
        lo, hi = bounds.lo[i], bounds.hi[i]
        if layer.is_affine:
            final = i == upto
            use_relu = bool(layer.relu) and not final
            off = (hi <= 0) if use_relu else np.zeros(lo.shape, bool)
            zidx = np.full(lo.shape, -1, dtype=np.int64)
            need = ~off
            zidx[need] = m.add_vars(int(need.sum()), lo[need], hi[need])
            _affine_rows(m, layer, a, zidx)
            enc.z.append(zidx)
            if not use_relu:
                a = zidx
                continue
            on = lo >= 0
            unstable = ~off & ~on
            new_a = np.empty(lo.shape, dtype=np.int64)
            new_a[on] = zidx[on]
            if off.any():
                if zero is None:
                    zero = int(m.add_vars(1, 0.0, 0.0)[0])
                new_a[off] = zero
            if unstable.any():
                au = m.add_vars(int(unstable.sum()), 0.0, hi[unstable])
                zu, Lu, Uu = zidx[unstable], lo[unstable], hi[unstable]
                d = m.add_vars(au.shape, 0.0, 1.0, integer=not relax)
                enc.n_binaries += 0 if relax else int(au.size)
                one = np.ones(au.shape)
                m.add_rows(np.stack([au, zu], -1), np.stack([one, -one], -1), lo=0.0)            # a >= z
                m.add_rows(np.stack([au, zu, d], -1), np.stack([one, -one, -Lu], -1), hi=-Lu)    # a <= z - L(1-d)
                m.add_rows(np.stack([au, d], -1), np.stack([one, -Uu], -1), hi=0.0)              # a <= U d
                new_a[unstable] = au
            a = new_a
        elif isinstance(layer, Flatten):
            enc.z.append(a)
        elif isinstance(layer, AvgPool2D):
            win = layer.window_index().reshape(-1, layer.kernel[0] * layer.kernel[1])     # (C*P, K)
            out = m.add_vars(win.shape[0], lo, hi)
            K = win.shape[1]
            m.add_rows(np.concatenate([out[:, None], a[win]], axis=1),
                       np.concatenate([-np.ones((len(out), 1)), np.full((len(out), K), 1.0 / K)], axis=1),
                       lo=0.0, hi=0.0)
            enc.z.append(out)
            a = out
        elif isinstance(layer, MaxPool2D):
            a = _maxpool(m, enc, layer, a, net, i, bounds, relax)
            enc.z.append(a)
        else:  # pragma: no cover - every layer kind is handled
            raise TypeError(f"cannot encode {layer!r}")
    enc.out = a
    return enc


def _maxpool(m: MIPModel, enc: Encoding, layer: MaxPool2D, a: np.ndarray, net: Network, i: int,
             bounds: LayerBounds, relax: bool) -> np.ndarray:
    """``m = max over each window`` with selector binaries; returns the output variables."""
    in_lo, in_hi = bounds.post(net, i - 1) if i else (bounds.input_lo, bounds.input_hi)
    win = layer.window_index().reshape(-1, layer.kernel[0] * layer.kernel[1])          # (C*P, K)
    Lw, Uw = in_lo[win], in_hi[win]
    out_lo, out_hi = Lw.max(axis=1), Uw.max(axis=1)
    out = m.add_vars(win.shape[0], out_lo, out_hi)
    K = win.shape[1]
    # an entry dominates when its lower bound reaches every other entry's upper bound
    order = np.argsort(-Lw, axis=1)
    best = order[:, 0]
    rows = np.arange(len(out))
    others_hi = np.where(np.arange(K)[None, :] == best[:, None], -np.inf, Uw).max(axis=1)
    dominated = Lw[rows, best] >= others_hi
    if dominated.any():
        r = rows[dominated]
        m.add_rows(np.stack([out[r], a[win[r, best[r]]]], -1), [1.0, -1.0], lo=0.0, hi=0.0)
    rest = rows[~dominated]
    if len(rest):
        aw = a[win[rest]]                                                              # (R, K)
        o = out[rest][:, None]
        m.add_rows(np.stack(np.broadcast_arrays(o, aw), -1), [1.0, -1.0], lo=0.0)      # m >= a_p
        s = m.add_vars((len(rest), K), 0.0, 1.0, integer=not relax)
        enc.n_binaries += 0 if relax else int(s.size)
        m.add_rows(s, np.ones(s.shape), lo=1.0, hi=1.0)                                  # sum s = 1
        big = out_hi[rest][:, None] - Lw[rest]                                           # U_max - L_p
        cols = np.stack(np.broadcast_arrays(o, aw, s), -1)
        coefs = np.stack(np.broadcast_arrays(np.ones_like(big), -np.ones_like(big), big), -1)
        m.add_rows(cols, coefs, hi=big)                                                  # m <= a_p + big (1 - s_p)
    return out
