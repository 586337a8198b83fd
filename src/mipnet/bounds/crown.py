"""Batched linear-relaxation bounds (CROWN, with optimised slopes: alpha-CROWN) for many input boxes at once.

A network is first lowered to a :class:`Chain`: affine maps (every affine layer — Dense, Conv2D, AvgPool2D,
Flatten, an inactive layer — composed into one matrix between two non-linearities) alternating with ReLUs and
max-pools. For a batch of ``B`` boxes:

* **intermediate bounds**: for the input of every non-linearity, the rows ``+-I`` are propagated backwards to the
  input (each earlier ReLU replaced by its linear relaxation built from the bounds already found), and minimised
  over each box — the CROWN bound; it is intersected with interval arithmetic;
* **specification rows** ``A [x; y] <= b`` (a disjunct of a VNN-LIB property): the same backward pass gives for
  every box and row a lower bound on ``A_r [x; y] - b_r``; a positive value proves that no input of the box
  satisfies row ``r``, hence none lies in the disjunct's region;
* **alpha**: the lower slope of every unstable ReLU is a free parameter in ``[0, 1]`` per box and row (any value
  gives a valid bound); :func:`optimise_rows` raises the row bounds by projected gradient ascent (Adam). The gradient
  of the bound with respect to a slope is the row's backward coefficient times the value of that neuron's input
  in a forward pass of the relaxed network from the minimising corner, so one backward and one forward pass give
  every gradient.

ReLU splits are passed as per-box masks that fix a neuron's input to ``>= 0`` or ``<= 0``: the intermediate bounds
are clipped accordingly before the relaxation (the neuron becomes stable).

Floating point: bounds are computed in float64 and every minimised value is widened by
:data:`~mipnet.bounds.interval.ROUND_EPS` relative to the magnitude of the terms summed (``|coefficients| . max(|lo|,
|hi|) + |constant|``), which dominates the rounding error of the sums; callers add their own margin before they
call a row proved (see :mod:`mipnet.verify.bab`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from mipnet.bounds.interval import ROUND_EPS
from mipnet.bounds.interval import layer_bounds as interval_layer_bounds
from mipnet.bounds.layer_bounds import LayerBounds
from mipnet.layers import Layer, MaxPool2D
from mipnet.network import Network


@dataclass
class Affine:
    """``z = W a + b`` on flat vectors."""

    W: np.ndarray
    b: np.ndarray


@dataclass
class Relu:
    """Element-wise ReLU of the previous affine map's output."""

    size: int


@dataclass
class MaxPool:
    """``y_j = max_k a[windows[j, k]]`` (flat indices into the previous output)."""

    windows: np.ndarray


@dataclass
class Chain:
    """A network as ``Affine, (Relu | MaxPool, Affine)*``: affine maps alternate with non-linearities."""

    ops: list = field(default_factory=list)
    n_inputs: int = 0

    @property
    def affines(self) -> list[Affine]:
        return [op for op in self.ops if isinstance(op, Affine)]

    @property
    def activations(self) -> list[Relu | MaxPool]:
        return [op for op in self.ops if not isinstance(op, Affine)]


def evaluate(chain: Chain, X: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Outputs of the chain on flat inputs ``X`` (``(N, n)``) and, with ``rows`` (``(N, n_out)``: one output
    weighting per input), the gradient of ``rows . y`` with respect to the input (back-propagation through the
    ReLU masks and max-pool selections of each point)."""
    v = X
    tape: list = []
    for op in chain.ops:
        if isinstance(op, Affine):
            v = v @ op.W.T + op.b
        elif isinstance(op, Relu):
            tape.append(v > 0)
            v = np.maximum(v, 0.0)
        else:
            win = v[:, op.windows]
            k = np.argmax(win, axis=2)
            tape.append((op.windows[np.arange(op.windows.shape[0]), k], v.shape[1]))
            v = np.take_along_axis(win, k[..., None], axis=2)[..., 0]
    if rows is None:
        return v, None
    g = rows
    t = len(tape)
    for op in reversed(chain.ops):
        if isinstance(op, Affine):
            g = g @ op.W
            continue
        t -= 1
        if isinstance(op, Relu):
            g = g * tape[t]
        else:
            sel, m_in = tape[t]
            full = np.zeros((len(g), m_in))
            np.add.at(full, (np.arange(len(g))[:, None], sel), g)
            g = full
    return v, g


def _affine_part(layer: Layer, X: np.ndarray) -> np.ndarray:
    """The layer's output on ``X`` without its ReLU."""
    relu = getattr(layer, "relu", False)
    if not relu:
        return layer.forward(X)
    layer.relu = False
    try:
        return layer.forward(X)
    finally:
        layer.relu = relu


def lower(net: Network) -> Chain:
    """Lower ``net`` to a :class:`Chain`. Every layer kind is handled through its forward pass: an affine layer
    (``is_affine``, or any layer other than max pooling without a ReLU, e.g. average pooling and flatten) is read off
    as a matrix by evaluating it on the unit vectors, so new affine layer kinds need nothing here."""
    n = net.n_inputs
    chain = Chain(n_inputs=n)
    W, b = np.eye(n), np.zeros(n)
    shape = net.input_shape
    for layer in net.layers:
        if isinstance(layer, MaxPool2D):
            chain.ops.append(Affine(W, b))
            chain.ops.append(MaxPool(layer.windows()))
            m = int(layer.windows().shape[0])
            W, b = np.eye(m), np.zeros(m)
        else:
            k = int(np.prod(shape))
            basis = np.vstack([np.zeros(k), np.eye(k)]).reshape(k + 1, *shape)
            out = _affine_part(layer, basis).reshape(k + 1, -1)
            lw, lb = (out[1:] - out[0]).T, out[0]
            W, b = lw @ W, lw @ b + lb
            if getattr(layer, "relu", False) and getattr(layer, "active", True):
                chain.ops.append(Affine(W, b))
                chain.ops.append(Relu(W.shape[0]))
                W, b = np.eye(W.shape[0]), np.zeros(W.shape[0])
        shape = layer.out_shape
    chain.ops.append(Affine(W, b))
    return chain


def _box_min(L: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``min over the box of L x + c`` for ``L`` of shape ``(B, R, n)``, boxes ``(B, n)``: the value widened down
    for rounding, and the minimising corner ``(B, R, n)``."""
    corner = np.where(L > 0, lo[:, None, :], hi[:, None, :])
    v = np.einsum("brn,brn->br", L, corner) + c
    mag = np.einsum("brn,bn->br", np.abs(L), np.maximum(np.abs(lo), np.abs(hi))) + np.abs(c)
    return v - ROUND_EPS * (1.0 + mag), corner


def relu_lines(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper line ``a <= lam z + shift`` and the default (CROWN-adaptive) lower slope of ``a = relu(z)`` on
    ``[l, u]``: exact on stable entries, the triangle on unstable ones. Returns ``(lam, shift, slope)``."""
    off, on = u <= 0, l >= 0
    unst = ~off & ~on
    lam = np.where(unst, u / np.where(unst, u - l, 1.0), on.astype(float))
    shift = np.where(unst, -lam * l, 0.0)
    slope = np.where(unst, (u > -l).astype(float), on.astype(float))
    return lam, shift, slope


@dataclass
class BoxBounds:
    """Bounds of one batch of boxes: ``pre[k]`` = (lower, upper) of the input of the k-th non-linearity,
    shapes ``(B, m_k)``."""

    lo: np.ndarray
    hi: np.ndarray
    pre: list[tuple[np.ndarray, np.ndarray]]

    def unstable(self, chain: Chain) -> np.ndarray:
        """Number of unstable ReLUs (input bounds ``l < 0 < u``) per box, for the chain these bounds belong to.

        Max-pool inputs are not counted: whether a window is decided is a different test (one input's lower bound
        at least every other's upper bound, :func:`maxpool_lines`), and a window whose inputs straddle 0 may well
        be decided.
        """
        counts = np.zeros(len(self.lo), dtype=int)
        for op, (l, u) in zip(chain.activations, self.pre):
            if isinstance(op, Relu):
                counts += ((l < 0) & (u > 0)).sum(axis=1)
        return counts


def maxpool_lines(windows: np.ndarray, l: np.ndarray, u: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relaxation of ``y_j = max_k a[w_jk]``: lower ``y_j >= a[w_j i*]`` with ``i*`` the input of largest lower
    bound; upper ``y_j <= a[w_j i*]`` when that input dominates the window (its lower bound at least every other's
    upper bound), else ``y_j <= max_k u[w_jk]``. Returns ``(sel, dominated, ucap)``: the selected flat indices
    ``(B, m)``, whether it dominates, and the constant cap."""
    wl, wu = l[:, windows], u[:, windows]                       # (B, m, K)
    k_star = np.argmax(wl, axis=2)
    sel = np.take_along_axis(np.broadcast_to(windows, wl.shape), k_star[..., None], axis=2)[..., 0]
    best_l = np.take_along_axis(wl, k_star[..., None], axis=2)[..., 0]
    others = np.where(np.arange(windows.shape[1]) == k_star[..., None], -np.inf, wu).max(axis=2)
    return sel, best_l >= others, wu.max(axis=2)


class Relaxation:
    """Backward (CROWN) passes through a :class:`Chain` over a batch of boxes with known intermediate bounds.

    Parameters
    ----------
    chain : Chain
    bounds : BoxBounds
        Bounds of the inputs of the non-linearities before index ``upto`` (at least).
    """

    def __init__(self, chain: Chain, bounds: BoxBounds) -> None:
        self.chain, self.bounds = chain, bounds
        self.lines: list = []
        for op, (l, u) in zip(chain.activations, bounds.pre):
            self.lines.append(relu_lines(l, u) if isinstance(op, Relu) else maxpool_lines(op.windows, l, u))

    def backward(self, L: np.ndarray, c: np.ndarray, start: int, alphas: list | None = None,
                 keep: bool = False, betas: list | None = None, splits: list | None = None
                 ) -> tuple[np.ndarray, np.ndarray, list]:
        """Propagate ``L @ (output of affine map start) + c`` (``L``: ``(B, R, m)``) back to the input.

        ``alphas[k]`` (``(B, R, m_k)`` or ``None``) are lower slopes for the k-th activation's unstable ReLUs.
        ``betas[k]`` (``(B, R, m_k)``, ``>= 0``) are multipliers of the ReLU splits ``splits[k]`` (``(B, m_k)``,
        +1: input ``>= 0``, -1: ``<= 0``): the term ``-beta s z`` is added to the function at the k-th ReLU's input
        ``z``; it is ``<= 0`` wherever the splits hold, so the result is still a lower bound there (beta-CROWN).
        Returns the input coefficients, the constant and, with ``keep``, the coefficient of every activation's
        output (for gradients).
        """
        ops = self.chain.ops
        act_index = sum(1 for op in ops[: 2 * start] if not isinstance(op, Affine))
        kept: list = [None] * len(self.lines)
        for i in range(2 * start, -1, -1):
            op = ops[i]
            if isinstance(op, Affine):
                flat = L.reshape(-1, L.shape[-1])
                c = c + (flat @ op.b).reshape(L.shape[:2])
                L = (flat @ op.W).reshape(*L.shape[:2], op.W.shape[1])
                continue
            act_index -= 1
            k = act_index
            if keep:
                kept[k] = L
            lp, ln = np.maximum(L, 0.0), np.minimum(L, 0.0)
            if isinstance(op, Relu):
                lam, shift, slope = self.lines[k]
                low = slope[:, None, :] if alphas is None or alphas[k] is None else alphas[k]
                c = c + (ln * shift[:, None, :]).sum(axis=2)
                L = lp * low + ln * lam[:, None, :]
                if betas is not None and betas[k] is not None:
                    L = L - betas[k] * splits[k][:, None, :]
            else:
                sel, dom, ucap = self.lines[k]
                m_in = self.bounds.pre[k][0].shape[1]
                c = c + np.einsum("brm,bm->br", ln, np.where(dom, 0.0, ucap))
                coef = lp + np.where(dom[:, None, :], ln, 0.0)
                L = np.zeros((*L.shape[:2], m_in))
                idx = np.broadcast_to(sel[:, None, :], coef.shape)
                np.add.at(L, (np.arange(L.shape[0])[:, None, None], np.arange(L.shape[1])[None, :, None], idx),
                          coef)
        return L, c, kept

    def relaxed_forward(self, corner: np.ndarray, kept: list, alphas: list | None) -> list:
        """Values of every activation's input along the relaxed network from ``corner`` (``(B, R, n)``), the
        derivative of the bound with respect to each activation's output coefficient."""
        ops = self.chain.ops
        v = corner
        values: list = []
        k = 0
        for op in ops:
            if isinstance(op, Affine):
                v = v @ op.W.T + op.b
                continue
            values.append(v)
            L = kept[k]
            if isinstance(op, Relu):
                lam, shift, slope = self.lines[k]
                low = slope[:, None, :] if alphas is None or alphas[k] is None else alphas[k]
                v = np.where(L > 0, low * v, lam[:, None, :] * v + shift[:, None, :])
            else:
                sel, dom, ucap = self.lines[k]
                picked = np.take_along_axis(v, np.broadcast_to(sel[:, None, :], (*v.shape[:2], sel.shape[1])),
                                            axis=2)
                v = np.where((L > 0) | dom[:, None, :], picked, ucap[:, None, :])
            k += 1
        return values


def _interval_affine(op: Affine, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Wp, Wn = np.maximum(op.W, 0.0), np.minimum(op.W, 0.0)
    lo = l @ Wp.T + u @ Wn.T + op.b
    hi = u @ Wp.T + l @ Wn.T + op.b
    mag = np.maximum(np.abs(l), np.abs(u)) @ np.abs(op.W).T + np.abs(op.b)
    return lo - ROUND_EPS * (1 + mag), hi + ROUND_EPS * (1 + mag)


def _interval_activation(op: Relu | MaxPool, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(op, Relu):
        return np.maximum(l, 0.0), np.maximum(u, 0.0)
    return l[:, op.windows].max(axis=2), u[:, op.windows].max(axis=2)


def _clip_split(op: Relu | MaxPool, split: np.ndarray | None, l: np.ndarray, u: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of a ReLU's input under the split (+1: ``>= 0``, -1: ``<= 0``)."""
    if split is None or not isinstance(op, Relu):
        return l, u
    return np.where(split > 0, np.maximum(l, 0.0), l), np.where(split < 0, np.minimum(u, 0.0), u)


def _right_multiply(Lt: np.ndarray, Wt: np.ndarray) -> np.ndarray:
    """``Lt[b] @ Wt`` for every ``b`` of ``Lt`` (``(B, n, m')``) as one matrix product."""
    B, n, mp = Lt.shape
    return (Lt.reshape(B * n, mp) @ Wt).reshape(B, n, Wt.shape[1])


def _box_min_columns(Lt: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """:func:`_box_min` for functions stored as columns: ``Lt`` of shape ``(B, n, R)``."""
    v = (np.maximum(Lt, 0.0) * lo[:, :, None] + np.minimum(Lt, 0.0) * hi[:, :, None]).sum(axis=1) + c
    mag = (np.abs(Lt) * np.maximum(np.abs(lo), np.abs(hi))[:, :, None]).sum(axis=1) + np.abs(c)
    return v - ROUND_EPS * (1.0 + mag)


def forward_bounds(chain: Chain, lo: np.ndarray, hi: np.ndarray, splits: list | None = None) -> BoxBounds:
    """Bounds of the input of every non-linearity by forward linear bounds (``Ll x + cl <= v <= Lu x + cu``,
    carried layer by layer with the ReLU relaxation), intersected with interval arithmetic. Costs
    ``O(B m^2 n)`` per layer: the choice for few inputs ``n``; :func:`box_bounds` (backward) is tighter."""
    B, n = lo.shape
    bounds = BoxBounds(lo, hi, [])
    # linear functions stored transposed, (B, n, m): each layer is one matrix product
    Ll = np.broadcast_to(np.eye(n), (B, n, n))
    Lu, cl, cu = Ll, np.zeros((B, n)), np.zeros((B, n))
    il, iu = lo, hi
    ops = chain.ops
    for k, op in enumerate(chain.activations):
        aff = ops[2 * k]
        Wp, Wn = np.maximum(aff.W, 0.0).T, np.minimum(aff.W, 0.0).T
        Zl = _right_multiply(Ll, Wp) + _right_multiply(Lu, Wn)
        Zu = _right_multiply(Lu, Wp) + _right_multiply(Ll, Wn)
        zl, zu = cl @ Wp + cu @ Wn + aff.b, cu @ Wp + cl @ Wn + aff.b
        vl = _box_min_columns(Zl, zl, lo, hi)
        vu = -_box_min_columns(-Zu, -zu, lo, hi)
        l, u = _interval_affine(aff, il, iu)
        l, u = _clip_split(op, None if splits is None else splits[k], np.maximum(l, vl), np.minimum(u, vu))
        bounds.pre.append((l, u))
        il, iu = _interval_activation(op, l, u)
        if isinstance(op, Relu):
            lam, shift, slope = relu_lines(l, u)
            Lu, cu = lam[:, None, :] * Zu, lam * zu + shift
            Ll, cl = slope[:, None, :] * Zl, slope * zl
        else:
            sel, dom, ucap = maxpool_lines(op.windows, l, u)
            pick = np.broadcast_to(sel[:, None, :], (B, n, sel.shape[1]))
            Ll = np.take_along_axis(Zl, pick, axis=2)
            cl = np.take_along_axis(zl, sel, axis=1)
            Lu = np.where(dom[:, None, :], np.take_along_axis(Zu, pick, axis=2), 0.0)
            cu = np.where(dom, np.take_along_axis(zu, sel, axis=1), ucap)
    return bounds


class BackwardRows(StrEnum):
    """Which neurons of a layer :func:`box_bounds` tightens by backward passes (the others keep their interval and
    forward bounds)."""

    #: The neurons undecided (``l < 0 < u``) in some box of the batch, the same rows for every box: the cheaper choice
    #: for a batch of one input box under different ReLU splits (a wide layer has many neurons on).
    UNDECIDED = "undecided"
    #: Each box's neurons that are not off (``u > 0``): the undecided ones, whose bounds shape the ReLU relaxation,
    #: and the ones on, whose bounds carry into the next layer's interval bounds (an off neuron outputs exactly 0
    #: whatever its bounds). Tighter, and cheaper for many small boxes whose neurons differ (input splitting).
    LIVE = "live"


#: Groups of boxes, by their number of rows, in which :func:`box_bounds` runs its backward passes.
ROW_GROUPS = 4


def _tighten(chain: Chain, bounds: BoxBounds, k: int, l: np.ndarray, u: np.ndarray, rows: BackwardRows) -> None:
    """Tighten ``l, u`` (the k-th non-linearity's input bounds, ``(B, m)``, in place) by backward passes from the
    neurons that ``rows`` names.

    With ``LIVE``, box by box: each box's live neurons are gathered into its own rows, and the boxes, sorted by how
    many they have, run in :data:`ROW_GROUPS` groups padded to their largest count, so the passes cost about the
    boxes' own counts rather than the batch's union."""
    B, m = l.shape
    if rows == BackwardRows.UNDECIDED:
        # the same rows for every box: one pass, the unit rows broadcast
        cols = np.flatnonzero(np.any((l < 0) & (u > 0), axis=0))
        if len(cols):
            eye = np.broadcast_to(np.eye(m)[cols], (B, len(cols), m))
            L, c, _ = Relaxation(chain, bounds).backward(np.concatenate([eye, -eye], axis=1),
                                                         np.zeros((B, 2 * len(cols))), k)
            v, _ = _box_min(L, c, bounds.lo, bounds.hi)
            l[:, cols] = np.maximum(l[:, cols], v[:, :len(cols)])
            u[:, cols] = np.minimum(u[:, cols], -v[:, len(cols):])
        return
    chosen = u > 0
    counts = chosen.sum(axis=1)
    if not counts.any():
        return
    for group in np.array_split(np.argsort(counts, kind="stable"), ROW_GROUPS):
        if not len(group) or counts[group].max() == 0:
            continue
        width = int(counts[group].max())
        # each box's live neurons first (a stable sort keeps their order), padded by off ones
        cols = np.argsort(~chosen[group], axis=1, kind="stable")[:, :width]            # (G, width)
        real = np.take_along_axis(chosen[group], cols, axis=1)
        G = len(group)
        eye = np.zeros((G, width, m))
        eye[np.arange(G)[:, None], np.arange(width)[None, :], cols] = 1.0
        sub = BoxBounds(bounds.lo[group], bounds.hi[group], [(pl[group], pu[group]) for pl, pu in bounds.pre])
        L, c, _ = Relaxation(chain, sub).backward(np.concatenate([eye, -eye], axis=1), np.zeros((G, 2 * width)), k)
        v, _ = _box_min(L, c, sub.lo, sub.hi)
        g = group[:, None]
        l[g, cols] = np.where(real, np.maximum(l[g, cols], v[:, :width]), l[g, cols])
        u[g, cols] = np.where(real, np.minimum(u[g, cols], -v[:, width:]), u[g, cols])


def box_bounds(chain: Chain, lo: np.ndarray, hi: np.ndarray, splits: list | None = None,
               rows: BackwardRows = BackwardRows.UNDECIDED) -> BoxBounds:
    """CROWN bounds of the input of every non-linearity, for boxes ``lo, hi`` of shape ``(B, n)``.

    ``splits[k]`` (optional, ``(B, m_k)`` int8: +1 input >= 0, -1 input <= 0, 0 free) clips the k-th ReLU's bounds
    (a split the branch and bound made). ``rows``: which neurons get backward passes (:class:`BackwardRows`).
    """
    bounds = BoxBounds(lo, hi, [])
    fwd = forward_bounds(chain, lo, hi, splits)
    il, iu = lo, hi            # interval bounds of the current affine map's input
    ops = chain.ops
    for k, op in enumerate(chain.activations):
        aff = ops[2 * k]
        l, u = _interval_affine(aff, il, iu)
        if k > 0:
            l, u = np.maximum(l, fwd.pre[k][0]), np.minimum(u, fwd.pre[k][1])
            _tighten(chain, bounds, k, l, u, rows)
        else:
            # the first affine map is exact on the box
            L = np.broadcast_to(aff.W, (lo.shape[0], *aff.W.shape))
            v, _ = _box_min(np.concatenate([L, -L], axis=1), np.concatenate([aff.b, -aff.b])[None], lo, hi)
            m = aff.W.shape[0]
            l, u = np.maximum(l, v[:, :m]), np.minimum(u, -v[:, m:])
        l, u = _clip_split(op, None if splits is None else splits[k], l, u)
        bounds.pre.append((l, u))
        il, iu = _interval_activation(op, l, u)
    return bounds


def row_bounds(chain: Chain, bounds: BoxBounds, A_x: np.ndarray, A_y: np.ndarray, b: np.ndarray,
               alphas: list | None = None, keep: bool = False, betas: list | None = None,
               splits: list | None = None, rel: Relaxation | None = None) -> tuple:
    """Lower bounds on ``A_x x + A_y y - b`` per box and row (``(B, R)``), the minimising corners, and (with
    ``keep``) what :func:`optimise_rows` needs for gradients. ``betas``/``splits``: see
    :meth:`Relaxation.backward` (the bounds hold on the part of each box where its splits hold)."""
    rel = rel if rel is not None else Relaxation(chain, bounds)
    B = bounds.lo.shape[0]
    L0 = np.broadcast_to(A_y, (B, *A_y.shape)) if A_y.ndim == 2 else A_y
    c0 = np.broadcast_to(-b, (B, b.shape[-1])) if b.ndim == 1 else -b
    L, c, kept = rel.backward(L0, c0, len(chain.activations), alphas, keep, betas, splits)
    L = L + (A_x if A_x.ndim == 3 else A_x[None])
    v, corner = _box_min(L, c, bounds.lo, bounds.hi)
    return v, corner, rel, kept, L, c


#: Step of the splits' multipliers (beta) in :func:`optimise_rows`, relative to each row's coefficient scale: the
#: default of the branch and bound's ``BabOptions.beta_lr`` too.
BETA_LR = 0.3


def optimise_rows(chain: Chain, bounds: BoxBounds, A_x: np.ndarray, A_y: np.ndarray, b: np.ndarray,
                  iterations: int = 20, lr: float = 0.3, target: float = 0.0, splits: list | None = None,
                  beta_lr: float = BETA_LR) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row bounds with lower ReLU slopes optimised per box and row (alpha-CROWN on the specification) and, with
    ``splits``, the splits' multipliers (beta-CROWN).

    Projected gradient ascent with Adam on every unstable ReLU's lower slope (in ``[0, 1]``, from the
    CROWN-adaptive slopes) and on every split neuron's multiplier ``beta >= 0`` (from 0, step ``beta_lr`` relative
    to the scale of the row's coefficients); the best bound seen per box and row is kept (every iterate is a valid
    bound). The gradient of the bound in a split's multiplier is ``-s z`` with ``z`` the neuron's input along the
    relaxed network from the minimising corner. Boxes whose best row already exceeds ``target`` stop early.
    Returns ``(bounds (B, R), corners (B, R, n), L (B, R, n), c (B, R))``: the best linear lower functions
    ``L x + c`` (valid where the splits hold) and their values.
    """
    rel = Relaxation(chain, bounds)
    B, R = bounds.lo.shape[0], b.shape[-1]
    relus = [isinstance(op, Relu) for op in chain.activations]
    signs: list | None = None
    betas: list | None = None
    if splits is not None and any(s is not None and np.any(s) for s in splits):
        signs = [None if s is None or not is_relu else s.astype(float) for s, is_relu in zip(splits, relus)]
        betas = [None if s is None else np.zeros((B, R, s.shape[1])) for s in signs]
    v, corner, rel, kept, L, c = row_bounds(chain, bounds, A_x, A_y, b, None, True, betas, signs, rel)
    best, best_corner, best_L, best_c = v.copy(), corner.copy(), L.copy(), c.copy()
    if not any(relus) or iterations <= 0:
        return best, best_corner, best_L, best_c
    alphas: list = []
    unstable: list = []
    for k, is_relu in enumerate(relus):
        if not is_relu:
            alphas.append(None)
            unstable.append(None)
            continue
        l, u = bounds.pre[k]
        _, _, slope = rel.lines[k]
        alphas.append(np.broadcast_to(slope[:, None, :], (B, R, slope.shape[1])).copy())
        unstable.append(((l < 0) & (u > 0))[:, None, :])
    m1 = [None if a is None else np.zeros_like(a) for a in alphas]
    m2 = [None if a is None else np.zeros_like(a) for a in alphas]
    if betas is not None:
        # the multipliers' step is relative to each row's coefficient scale at the split's layer
        scale = [None if bt is None else np.abs(kept[k]).max(axis=2, keepdims=True) + 1e-12
                 for k, bt in enumerate(betas)]
        bm1 = [None if bt is None else np.zeros_like(bt) for bt in betas]
        bm2 = [None if bt is None else np.zeros_like(bt) for bt in betas]
    active = np.ones(B, bool)
    for it in range(1, iterations + 1):
        active &= best.max(axis=1) <= target
        if not active.any():
            break
        values = rel.relaxed_forward(corner, kept, alphas)
        for k, a in enumerate(alphas):
            if a is None:
                continue
            g = np.maximum(kept[k], 0.0) * values[k] * unstable[k] * active[:, None, None]
            m1[k], m2[k], step = _adam(m1[k], m2[k], g, it)
            alphas[k] = np.clip(a + lr * step, 0.0, 1.0)
            if betas is not None and betas[k] is not None:
                g = -signs[k][:, None, :] * values[k] * active[:, None, None]
                bm1[k], bm2[k], step = _adam(bm1[k], bm2[k], g, it)
                betas[k] = np.maximum(betas[k] + beta_lr * scale[k] * step * (signs[k][:, None, :] != 0), 0.0)
        v, corner, rel, kept, L, c = row_bounds(chain, bounds, A_x, A_y, b, alphas, True, betas, signs, rel)
        better = v > best
        best = np.where(better, v, best)
        best_corner = np.where(better[..., None], corner, best_corner)
        best_L = np.where(better[..., None], L, best_L)
        best_c = np.where(better, c, best_c)
    return best, best_corner, best_L, best_c


def _adam(m1: np.ndarray, m2: np.ndarray, g: np.ndarray, it: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam moment update; returns the new moments and the unit step."""
    m1 = 0.9 * m1 + 0.1 * g
    m2 = 0.999 * m2 + 0.001 * g * g
    return m1, m2, (m1 / (1 - 0.9 ** it)) / (np.sqrt(m2 / (1 - 0.999 ** it)) + 1e-12)


def combine_rows(L: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, iterations: int = 30
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A lower bound on ``min_x max_r (L_r x + c_r)`` over each box: ``max over convex weights w`` of
    ``min_x sum_r w_r (L_r x + c_r)`` by mirror ascent on the simplex (batched; every iterate is valid, the best
    is kept). A positive value proves that no point of the box makes every ``L_r x + c_r <= 0``.

    Returns the bound ``(B,)`` and the minimising corner of the best combination ``(B, n)``.
    """
    B, R, _ = L.shape
    single, corners = _box_min(L, c, lo, hi)
    r = np.argmax(single, axis=1)
    best = single[np.arange(B), r]
    best_x = corners[np.arange(B), r]
    if R == 1:
        return best, best_x
    w = np.full((B, R), 0.5 / R)
    w[np.arange(B), r] += 0.5
    for _ in range(iterations):
        v, x = _box_min((w[..., None] * L).sum(axis=1)[:, None, :], (w * c).sum(axis=1)[:, None], lo, hi)
        v, x = v[:, 0], x[:, 0]
        better = v > best
        best, best_x = np.where(better, v, best), np.where(better[:, None], x, best_x)
        g = np.einsum("brn,bn->br", L, x) + c           # each row's value at the minimiser: a supergradient
        scale = np.maximum(np.abs(g).max(axis=1, keepdims=True), 1e-30)
        w = w * np.exp(-1.0 * g / scale * -1.0)
        w = np.maximum(w / w.sum(axis=1, keepdims=True), 1e-12)
    return best, best_x


def layer_bounds_of_box(net: Network, lo: np.ndarray, hi: np.ndarray, pre: list) -> LayerBounds:
    """Per-layer bounds of ``net`` on one box (for the exact MIP of a sub-problem): interval arithmetic, with the
    input of every ReLU layer intersected with the sub-problem's bounds ``pre`` (one ``(lower, upper)`` per
    non-linearity of :func:`lower`, in order; ReLU splits already applied)."""
    lb = LayerBounds(np.asarray(lo, float), np.asarray(hi, float), method="crown")
    k = 0
    for i, layer in enumerate(net.layers):
        l, u = interval_layer_bounds(layer, *lb.post(net, i - 1), rel=ROUND_EPS)
        if isinstance(layer, MaxPool2D):
            k += 1
        elif getattr(layer, "relu", False) and getattr(layer, "active", True):
            l, u = np.maximum(l, pre[k][0]), np.minimum(u, pre[k][1])
            k += 1
        lb.lo.append(l)
        lb.hi.append(u)
    return lb
