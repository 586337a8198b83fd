"""Training losses: each class holds its exact MIP encoding and its numpy evaluation side by side."""

from __future__ import annotations

import numpy as np

from mipnet.errors import SettingsError
from mipnet.mip import MIPModel


class Loss:
    """A loss over the network outputs ``o`` (shape ``(N, K)``) and encoded targets ``y``.

    ``encode`` adds the loss variables and rows and returns the objective terms; ``value`` computes the same
    quantity with numpy; ``start`` gives the loss variables' values for given outputs (a MIP start).
    """

    name = "loss"
    task = "classification"

    def n_outputs(self, n_classes: int) -> int:
        return 1 if n_classes == 2 else n_classes

    def encode(self, m: MIPModel, out: np.ndarray, out_lo: np.ndarray, out_hi: np.ndarray,
               y: np.ndarray) -> np.ndarray:
        """Add the loss; returns the index array of the loss variables (objective set by the caller)."""
        raise NotImplementedError

    def objective(self, m: MIPModel, loss_vars: np.ndarray, n: int) -> None:
        m.add_objective(loss_vars, 1.0 / n)

    def value(self, outputs: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def start(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def binary_sign(y: np.ndarray) -> np.ndarray:
    return np.where(y.reshape(-1) == 1, 1.0, -1.0)


class Hinge(Loss):
    """Hinge loss ``max(0, 1 - y*o)`` (two classes, one output, ``y`` in {-1, +1}); multiclass hinge
    ``max_k max(0, 1 + o_k - o_y)`` (Crammer-Singer) for ``K >= 2`` outputs, one per class, ``y`` the class index
    (so two classes with two outputs use it too: ``max(0, 1 + o_other - o_y)``)."""

    name = "hinge"

    def _margins(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        if outputs.shape[1] == 1:
            return 1.0 - binary_sign(y) * outputs[:, 0]
        n, k = outputs.shape
        true = outputs[np.arange(n), y]
        other = 1.0 + outputs - true[:, None]
        other[np.arange(n), y] = 0.0
        return other.max(axis=1)

    def value(self, outputs: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.maximum(0.0, self._margins(outputs, y))))

    def start(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, self._margins(outputs, y))

    def encode(self, m, out, out_lo, out_hi, y):
        n, k = out.shape
        worst = 1.0 + np.max(np.abs(np.concatenate([out_lo, out_hi])), initial=0.0) * 2
        e = m.add_vars(n, 0.0, worst)
        if k == 1:
            s = binary_sign(y)
            m.add_rows(np.stack([e, out[:, 0]], 1), np.stack([np.ones(n), s], 1), lo=1.0)  # e + y*o >= 1
        else:
            rows_e, rows_o, rows_t = [], [], []
            for c in range(k):
                mask = y != c
                rows_e.append(e[mask])
                rows_o.append(out[mask, c])
                rows_t.append(out[mask, y[mask]])
            e_, o_, t_ = map(np.concatenate, (rows_e, rows_o, rows_t))
            ones = np.ones(len(e_))
            m.add_rows(np.stack([e_, o_, t_], 1), np.stack([ones, -ones, ones], 1), lo=1.0)  # e - o_k + o_y >= 1
        return e


class Misclassification(Loss):
    """Share of samples not classified with the margin: sample i counts unless ``y*o >= margin`` (two
    classes) or ``o_y - o_k >= margin`` for every other class k. One binary per sample."""

    name = "zero_one"

    def __init__(self, margin: float = 1e-2) -> None:
        if margin <= 0:
            raise SettingsError("the misclassification margin must be positive")
        self.margin = float(margin)

    def _ok(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        if outputs.shape[1] == 1:
            return binary_sign(y) * outputs[:, 0] >= self.margin - 1e-9
        n = outputs.shape[0]
        true = outputs[np.arange(n), y]
        diff = true[:, None] - outputs
        diff[np.arange(n), y] = np.inf
        return diff.min(axis=1) >= self.margin - 1e-9

    def value(self, outputs, y):
        return float(np.mean(~self._ok(outputs, y)))

    def start(self, outputs, y):
        return (~self._ok(outputs, y)).astype(float)

    def encode(self, m, out, out_lo, out_hi, y):
        n, k = out.shape
        z = m.add_binaries(n)
        if k == 1:
            s = binary_sign(y)
            worst = np.where(s > 0, out_lo[:, 0], -out_hi[:, 0])  # smallest possible y*o
            big = np.maximum(self.margin - worst, 0.0)
            m.add_rows(np.stack([out[:, 0], z], 1), np.stack([s, big], 1), lo=self.margin)  # y*o + M z >= margin
        else:
            for c in range(k):
                mask = np.flatnonzero(y != c)
                yc = y[mask]
                worst = out_lo[mask, yc] - out_hi[mask, c]
                big = np.maximum(self.margin - worst, 0.0)
                m.add_rows(np.stack([out[mask, yc], out[mask, c], z[mask]], 1),
                           np.stack([np.ones(len(mask)), -np.ones(len(mask)), big], 1), lo=self.margin)
        return z


class AbsoluteError(Loss):
    """Mean absolute error ``|o - y|`` summed over outputs (regression)."""

    name = "absolute"
    task = "regression"

    def value(self, outputs, y):
        return float(np.mean(np.abs(outputs - y).sum(axis=1)))

    def start(self, outputs, y):
        return np.abs(outputs - y)

    def encode(self, m, out, out_lo, out_hi, y):
        worst = np.maximum(np.abs(out_hi - y), np.abs(out_lo - y))
        e = m.add_vars(out.shape, 0.0, worst)
        ones = np.ones(out.shape)
        m.add_rows(np.stack([e, out], -1), np.stack([ones, -ones], -1), lo=-y)  # e >= o - y
        m.add_rows(np.stack([e, out], -1), np.stack([ones, ones], -1), lo=y)    # e >= y - o
        return e


class MaxError(Loss):
    """Largest absolute error over samples and outputs (regression); the objective holds it, not a mean."""

    name = "max"
    task = "regression"

    def value(self, outputs, y):
        return float(np.max(np.abs(outputs - y)))

    def start(self, outputs, y):
        return np.array([np.max(np.abs(outputs - y))])

    def objective(self, m, loss_vars, n):
        m.add_objective(loss_vars, 1.0)

    def encode(self, m, out, out_lo, out_hi, y):
        worst = float(np.max(np.maximum(np.abs(out_hi - y), np.abs(out_lo - y))))
        t = m.add_vars(1, 0.0, worst)
        tt = np.full(out.shape, t[0])
        ones = np.ones(out.shape)
        m.add_rows(np.stack([tt, out], -1), np.stack([ones, -ones], -1), lo=-y)
        m.add_rows(np.stack([tt, out], -1), np.stack([ones, ones], -1), lo=y)
        return t


class SquaredError(Loss):
    """Mean squared error summed over outputs: a quadratic objective (SCIP only)."""

    name = "squared"
    task = "regression"

    def value(self, outputs, y):
        return float(np.mean(((outputs - y) ** 2).sum(axis=1)))

    def start(self, outputs, y):
        return outputs - y

    def encode(self, m, out, out_lo, out_hi, y):
        d = m.add_vars(out.shape, out_lo - y, out_hi - y)
        ones = np.ones(out.shape)
        m.add_rows(np.stack([d, out], -1), np.stack([ones, -ones], -1), lo=-y, hi=-y)  # d = o - y
        return d

    def objective(self, m, loss_vars, n):
        m.add_quadratic_objective(loss_vars, 1.0 / n)


LOSSES = {"hinge": Hinge, "multiclass_hinge": Hinge, "zero_one": Misclassification,
          "misclassification": Misclassification, "absolute": AbsoluteError, "mae": AbsoluteError,
          "max": MaxError, "max_error": MaxError, "squared": SquaredError, "mse": SquaredError}


def make_loss(name: str | Loss, margin: float = 1e-2) -> Loss:
    """Loss by name: hinge (also multiclass), zero_one (misclassification count with ``margin``), absolute,
    max, squared."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower()
    if key not in LOSSES:
        raise SettingsError(f"unknown loss {name!r}: choose one of {sorted(set(LOSSES))}")
    cls = LOSSES[key]
    return cls(margin) if cls is Misclassification else cls()

