"""Batched CROWN bounds: the lowered chain equals the network, every bound is sound against dense sampling, the
backward pass is at least as tight as the forward one, optimised slopes only raise the bound."""

import numpy as np
import pytest

from mipnet.bounds.crown import (
    BackwardRows,
    BoxBounds,
    Relaxation,
    _box_min,
    _interval_activation,
    _interval_affine,
    box_bounds,
    combine_rows,
    evaluate,
    forward_bounds,
    layer_bounds_of_box,
    lower,
    optimise_rows,
    row_bounds,
)


def _boxes(rng, n, B, width=0.6):
    lo = rng.uniform(-1, 1 - width, (B, n))
    return lo, lo + rng.uniform(0.05, width, (B, n))


def _nets(dense_net, conv_net):
    return [dense_net([4, 12, 10, 3], seed=1), dense_net([3, 8, 8, 8, 2], seed=2), conv_net(0), conv_net(3)]


def test_chain_equals_forward_and_its_gradient_is_exact(dense_net, conv_net):
    rng = np.random.default_rng(0)
    for net in _nets(dense_net, conv_net):
        chain = lower(net)
        X = rng.uniform(-1, 1, (7, net.n_inputs))
        w = rng.normal(size=(7, net.n_outputs))
        y, g = evaluate(chain, X, w)
        np.testing.assert_allclose(y, net.forward(X.reshape(7, *net.input_shape)).reshape(7, -1), atol=1e-12)
        h = 1e-6
        for j in range(0, net.n_inputs, max(1, net.n_inputs // 5)):
            E = np.zeros(net.n_inputs)
            E[j] = h
            diff = (evaluate(chain, X + E)[0] - evaluate(chain, X - E)[0]) * w
            np.testing.assert_allclose(g[:, j], diff.sum(axis=1) / (2 * h), atol=1e-5)


@pytest.mark.parametrize("rows", list(BackwardRows))
@pytest.mark.parametrize("which", range(4))
def test_bounds_are_sound_and_backward_is_tighter(dense_net, conv_net, which, rows):
    net = _nets(dense_net, conv_net)[which]
    chain = lower(net)
    rng = np.random.default_rng(which)
    lo, hi = _boxes(rng, net.n_inputs, 5)
    fb, bb = forward_bounds(chain, lo, hi), box_bounds(chain, lo, hi, rows=rows)
    relu_layers = [i for i, la in enumerate(net.layers) if la.is_affine and la.relu]
    for i in range(5):
        X = rng.uniform(lo[i], hi[i], (4000, net.n_inputs))
        X = np.vstack([X, lo[i], hi[i]])
        pre = net.pre_activations(X.reshape(len(X), *net.input_shape))
        vals = [pre[j].reshape(len(X), -1) for j in relu_layers]
        k = 0
        for op_bounds_f, op_bounds_b in zip(fb.pre, bb.pre):
            lf, uf = op_bounds_f[0][i], op_bounds_f[1][i]
            lb_, ub_ = op_bounds_b[0][i], op_bounds_b[1][i]
            assert np.all(lb_ >= lf - 1e-12) and np.all(ub_ <= uf + 1e-12)
            if k < len(vals) and lf.size == vals[k].shape[1]:
                assert np.all(vals[k].min(axis=0) >= lb_ - 1e-9) and np.all(vals[k].max(axis=0) <= ub_ + 1e-9)
            k += 1
        # the per-layer bounds handed to the exact MIP contain every sampled value too
        lbx = layer_bounds_of_box(net, lo[i], hi[i], [(l[i], u[i]) for l, u in bb.pre])
        outs = net.pre_activations(X.reshape(len(X), *net.input_shape))
        for j, o in enumerate(outs):
            o = o.reshape(len(X), -1)
            assert np.all(o.min(axis=0) >= lbx.lo[j] - 1e-9) and np.all(o.max(axis=0) <= lbx.hi[j] + 1e-9)


@pytest.mark.parametrize("which", range(4))
def test_row_bounds_sound_and_alpha_only_raises_them(dense_net, conv_net, which):
    net = _nets(dense_net, conv_net)[which]
    chain = lower(net)
    rng = np.random.default_rng(10 + which)
    lo, hi = _boxes(rng, net.n_inputs, 4)
    bb = box_bounds(chain, lo, hi)
    R = 3
    A_y = rng.normal(size=(R, net.n_outputs))
    A_x = rng.normal(size=(R, net.n_inputs)) * 0.1
    b = rng.normal(size=R)
    v0 = row_bounds(chain, bb, A_x, A_y, b)[0]
    v, corners, L, c = optimise_rows(chain, bb, A_x, A_y, b, iterations=15, target=np.inf)
    assert np.all(v >= v0 - 1e-12)
    assert np.any(v > v0 + 1e-9)   # the slopes did something on these random nets
    comb, _ = combine_rows(L, c, lo, hi)
    assert np.all(comb >= v.max(axis=1) - 1e-12)
    for i in range(4):
        X = np.vstack([rng.uniform(lo[i], hi[i], (4000, net.n_inputs)), corners[i]])
        Y = net.forward(X.reshape(len(X), *net.input_shape)).reshape(len(X), -1)
        rows = X @ A_x.T + Y @ A_y.T - b
        assert np.all(rows.min(axis=0) >= v[i] - 1e-9)
        assert rows.max(axis=1).min() >= comb[i] - 1e-9
        # the linear lower functions themselves hold pointwise
        assert np.all(rows >= X @ L[i].T + c[i] - 1e-9)


def test_relu_splits_clip_the_bounds(dense_net):
    net = dense_net([3, 6, 6, 2], seed=5)
    chain = lower(net)
    lo, hi = -np.ones((1, 3)), np.ones((1, 3))
    bb = box_bounds(chain, lo, hi)
    l, u = bb.pre[0]
    j = int(np.flatnonzero((l[0] < 0) & (u[0] > 0))[0])
    pos = [np.zeros((1, 6), np.int8), np.zeros((1, 6), np.int8)]
    pos[0][0, j] = 1
    neg = [p.copy() for p in pos]
    neg[0][0, j] = -1
    bp, bn = box_bounds(chain, lo, hi, pos), box_bounds(chain, lo, hi, neg)
    assert bp.pre[0][0][0, j] == 0.0 and bn.pre[0][1][0, j] == 0.0
    assert bp.unstable(chain)[0] < bb.unstable(chain)[0] and bn.unstable(chain)[0] < bb.unstable(chain)[0]


@pytest.mark.parametrize("which", range(4))
def test_split_multipliers_keep_the_bound_sound_where_the_splits_hold(dense_net, conv_net, which):
    """beta-CROWN: with ReLU splits, the row bound holds at every sampled input that satisfies the splits, and the
    multipliers raise it above the bound without them."""
    net = _nets(dense_net, conv_net)[which]
    chain = lower(net)
    rng = np.random.default_rng(20 + which)
    B, R = 4, 2
    lo, hi = _boxes(rng, net.n_inputs, B, width=1.0)
    bb = box_bounds(chain, lo, hi)
    relu_ks = [k for k, op in enumerate(chain.activations) if hasattr(op, "size")]
    # split up to two unstable neurons of every ReLU layer, at random signs
    splits = [None] * len(chain.activations)
    for k in relu_ks:
        l, u = bb.pre[k]
        s = np.zeros(l.shape, np.int8)
        for i in range(B):
            unst = np.flatnonzero((l[i] < 0) & (u[i] > 0))
            pick = rng.permutation(unst)[:2]
            s[i, pick] = rng.choice([-1, 1], len(pick))
        splits[k] = s
    bs = box_bounds(chain, lo, hi, splits)
    A_y = rng.normal(size=(R, net.n_outputs))
    A_x = np.zeros((R, net.n_inputs))
    b = rng.normal(size=R)
    v0 = optimise_rows(chain, bs, A_x, A_y, b, iterations=30, target=np.inf, splits=splits, beta_lr=0.0)[0]
    v, corners, L, c = optimise_rows(chain, bs, A_x, A_y, b, iterations=30, target=np.inf, splits=splits)
    # the multipliers raise the bounds on the whole (one joint ascent need not dominate row by row)
    assert v.sum() > v0.sum() + 1e-6
    for i in range(B):
        X = rng.uniform(lo[i], hi[i], (20000, net.n_inputs))
        pre = _pre_activations(chain, X)
        ok = np.ones(len(X), bool)
        for k in relu_ks:
            ok &= np.all(pre[k] * splits[k][i] >= 0, axis=1)
        X = X[ok]
        if not len(X):
            continue
        Y = net.forward(X.reshape(len(X), *net.input_shape)).reshape(len(X), -1)
        rows = X @ A_x.T + Y @ A_y.T - b
        assert np.all(rows.min(axis=0) >= v[i] - 1e-9)
        assert np.all(rows >= X @ L[i].T + c[i] - 1e-9)


def _pre_activations(chain, X):
    """Inputs of every non-linearity of the chain on ``X``."""
    out, v = [], X
    for op in chain.ops:
        if hasattr(op, "W"):
            v = v @ op.W.T + op.b
        elif hasattr(op, "size"):
            out.append(v)
            v = np.maximum(v, 0.0)
        else:
            out.append(v)
            v = v[:, op.windows].max(axis=2)
    return out


def _reference_box_bounds(chain, lo, hi):
    """:func:`box_bounds` of one box with a backward pass from every neuron of every layer (no gathering)."""
    fwd = forward_bounds(chain, lo, hi)
    bounds = BoxBounds(lo, hi, [])
    il, iu = lo, hi
    for k, op in enumerate(chain.activations):
        aff = chain.ops[2 * k]
        l, u = _interval_affine(aff, il, iu)
        l, u = np.maximum(l, fwd.pre[k][0]), np.minimum(u, fwd.pre[k][1])
        m = aff.W.shape[0]
        eye = np.eye(m)[None]
        L, c, _ = Relaxation(chain, bounds).backward(np.concatenate([eye, -eye], axis=1), np.zeros((1, 2 * m)), k)
        v, _ = _box_min(L, c, lo, hi)
        l, u = np.maximum(l, v[:, :m]), np.minimum(u, -v[:, m:])
        bounds.pre.append((l, u))
        il, iu = _interval_activation(op, l, u)
    return bounds


@pytest.mark.parametrize("which", range(4))
def test_live_rows_equal_a_backward_pass_from_every_neuron_where_it_matters(dense_net, conv_net, which):
    """Gathering each box's live neurons (not off: ``u > 0``) into its own rows, in groups by count, gives the bounds
    of a backward pass from every neuron for every live neuron, and the same neurons off; boxes of mixed widths make
    the counts (and the groups' padding) differ. The batch's undecided neurons alone give bounds no tighter."""
    net = _nets(dense_net, conv_net)[which]
    chain = lower(net)
    rng = np.random.default_rng(10 + which)
    lo = rng.uniform(-1, 0.5, (13, net.n_inputs))
    hi = lo + rng.uniform(0.0, 1.0, (13, 1)) * rng.uniform(0.01, 0.6, (13, net.n_inputs))
    bb = box_bounds(chain, lo, hi, rows=BackwardRows.LIVE)
    undecided = box_bounds(chain, lo, hi, rows=BackwardRows.UNDECIDED)
    for (l, u), (ul, uu) in zip(bb.pre, undecided.pre):
        live = u > 0
        assert np.all(ul[live] <= l[live] + 1e-9) and np.all(uu[live] >= u[live] - 1e-9)
    for i in range(len(lo)):
        ref = _reference_box_bounds(chain, lo[i:i + 1], hi[i:i + 1])
        for (l, u), (rl, ru) in zip(bb.pre, ref.pre):
            live = u[i] > 0
            np.testing.assert_array_equal(live, ru[0] > 0)
            np.testing.assert_allclose(l[i][live], rl[0][live], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(u[i][live], ru[0][live], rtol=1e-9, atol=1e-9)
            assert np.all(u[i][~live] <= 0)
