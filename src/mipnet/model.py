"""A trained model as one file: the network plus what it takes to use it on raw data.

A :class:`Model` is a :class:`~mipnet.network.Network` together with

* its **preprocessing** (:class:`Scaler`, the per-feature affine map ``x' = (x - offset) * scale`` applied to raw
  features before the network; ``None`` means the identity),
* the **feature names**, the **target** name, the **task** and the **class labels**,
* free-form metadata (the estimator's class name, the training report, ...).

It is stored in mipnet's JSON network format (:mod:`mipnet.io.json_format`, version 1) with these fields in the
document's ``"metadata"`` object::

    "metadata": {"task": "classification", "classes": [0, 1, 2], "features": ["sl", "sw", "pl", "pw"],
                 "target": "species",
                 "preprocessing": {"kind": "minmax", "offset": [...], "scale": [...]}, ...}

Every field is optional, so files written by :func:`mipnet.save_network` or by the estimators before this module
existed load unchanged (no ``preprocessing`` means the identity). Loading validates every field and raises
:class:`~mipnet.errors.FormatError` with a one-line message. ``.onnx`` and ``.nnet`` files load as models without
preprocessing: their inputs are the network's inputs.

Everything that uses a saved model goes through this module: :meth:`MIPNetClassifier.load
<mipnet.estimators.MIPNetClassifier.load>`, ``mipnet predict``, ``mipnet info``, ``mipnet verify`` and ``mipnet
export`` (:meth:`Model.raw_network`: the scaling folded into the first layer), so a model gives the same answers
wherever it is used.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mipnet.decision import TIE_TOL, class_indices, competitor_rows, tie_tolerance
from mipnet.errors import DataError, FormatError, MIPNetError, SettingsError
from mipnet.layers import Dense, Flatten
from mipnet.network import Network

TASKS = ("classification", "regression")
SCALINGS = ("minmax", "standard", "none")

RAW_SPACE = "raw feature space"
SCALED_SPACE = "scaled feature space"
NETWORK_SPACE = "network input space"


def _scaler_problem(kind: object, offset: np.ndarray, scale: np.ndarray) -> str | None:
    """Why ``(kind, offset, scale)`` is not a valid preprocessing, or ``None``."""
    if not isinstance(kind, str) or not kind:
        return f"kind must be a non-empty string, got {kind!r}"
    if offset.ndim != 1 or scale.ndim != 1 or offset.size == 0:
        return "offset and scale must be non-empty lists of numbers"
    if offset.shape != scale.shape:
        return f"offset has {offset.size} values but scale has {scale.size}"
    if not np.all(np.isfinite(offset)):
        return f"offset must be finite (feature {int(np.flatnonzero(~np.isfinite(offset))[0])})"
    bad = ~(np.isfinite(scale) & (scale > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        return f"scale must be finite and positive, got {scale[j]!r} for feature {j}"
    return None


class Scaler:
    """Per-feature affine preprocessing ``x' = (x - offset) * scale`` with finite, positive ``scale``.

    Parameters
    ----------
    kind : str
        How it was fitted: ``"minmax"`` (each feature to ``[-1, 1]``), ``"standard"`` (zero mean, unit variance) or
        ``"none"`` (identity); informative only, ``offset`` and ``scale`` define the map.
    offset, scale : array of shape ``(n_features,)``

    Raises
    ------
    SettingsError
        Shapes differ, a value is not finite, or a scale is not positive (the map must be increasing in every
        feature, so boxes map to boxes).
    """

    def __init__(self, kind: str, offset: np.ndarray, scale: np.ndarray) -> None:
        try:
            offset, scale = np.asarray(offset, dtype=float), np.asarray(scale, dtype=float)
        except (TypeError, ValueError):
            raise SettingsError("preprocessing: offset and scale must be lists of numbers") from None
        problem = _scaler_problem(kind, offset, scale)
        if problem:
            raise SettingsError(f"preprocessing: {problem}")
        self.kind, self.offset, self.scale = kind, offset, scale

    @classmethod
    def fit(cls, kind: str, X: np.ndarray) -> Scaler:
        """Fit ``kind`` (``"minmax"``, ``"standard"`` or ``"none"``) to the rows of ``X`` (samples x features).

        ``minmax`` maps each feature's range to ``[-1, 1]`` (a constant feature gets ``scale = 2``), ``standard``
        to zero mean and unit variance (a constant feature gets ``scale = 1``); a span so small that its scale is
        not a finite number gets ``scale = 1``.
        """
        X = np.asarray(X, dtype=float)
        if kind == "none":
            return cls(kind, np.zeros(X.shape[1]), np.ones(X.shape[1]))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            if kind == "standard":
                sd = X.std(0)
                offset, scale = X.mean(0), 1.0 / np.where(sd > 0, sd, 1.0)
            elif kind == "minmax":  # to [-1, 1]
                lo, hi = X.min(0), X.max(0)
                offset, scale = (lo + hi) / 2, 2.0 / np.where(hi > lo, hi - lo, 1.0)
            else:
                raise SettingsError(f"unknown scaling {kind!r}: choose minmax, standard or none")
        if not np.all(np.isfinite(offset)):
            raise DataError("the features are too large to scale (their mean or midpoint overflows)")
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(kind, offset, scale)

    @property
    def n_features(self) -> int:
        return int(self.offset.size)

    def is_identity(self) -> bool:
        return bool(np.all(self.offset == 0) and np.all(self.scale == 1))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Scaled features ``(X - offset) * scale`` (``X`` of shape ``(..., n_features)``).

        Rounding is monotone, so this floating-point map is non-decreasing in every feature: the image of a box
        ``[lo, hi]`` lies in ``[self(lo), self(hi)]`` exactly.
        """
        return (np.asarray(X, dtype=float) - self.offset) * self.scale

    transform = __call__

    def inverse(self, Xs: np.ndarray) -> np.ndarray:
        """Raw features ``Xs / scale + offset`` (the inverse map, up to rounding)."""
        return np.asarray(Xs, dtype=float) / self.scale + self.offset

    def map_rows(self, A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``A [x; y] <= b`` on raw inputs ``x`` rewritten on scaled inputs: with ``x = xs / scale + offset``,
        ``A_x x = (A_x / scale) xs + A_x offset`` (exact algebra; output columns unchanged)."""
        n = self.n_features
        A = np.array(A, dtype=float)
        Ax = A[:, :n]
        b2 = np.asarray(b, dtype=float) - Ax @ self.offset
        A[:, :n] = Ax / self.scale
        return A, b2

    def as_dict(self) -> dict:
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: Any, source: str = "document") -> Scaler:
        """Rebuild from :meth:`as_dict`; raises :class:`FormatError` naming what is wrong."""
        if not isinstance(d, dict) or set(d) - {"kind", "offset", "scale"} or not {"offset", "scale"} <= set(d):
            raise FormatError(f"{source}: preprocessing must be an object with kind, offset and scale")
        try:
            return cls(d.get("kind", "affine"), d["offset"], d["scale"])
        except SettingsError as exc:
            raise FormatError(f"{source}: {exc}") from None

    def describe(self, names: list[str] | None = None) -> list[str]:
        """One line per feature: ``name: (x - offset) * scale``."""
        names = names or [f"x{j}" for j in range(self.n_features)]
        return [f"{n}: (x - {o:.10g}) * {s:.10g}" for n, o, s in zip(names, self.offset, self.scale)]

    def __repr__(self) -> str:
        return f"Scaler(kind={self.kind!r}, n_features={self.n_features})"


@dataclass
class Model:
    """A network with its preprocessing, feature names, target, task and class labels.

    Attributes
    ----------
    network : Network
    preprocessing : Scaler or None
        Applied to raw features (flattened) before the network; ``None`` is the identity.
    features : list of str or None
        Names of the raw input features, in order.
    target : str or None
    task : {"classification", "regression"} or None
    classes : list or None
        Class labels (classification): ``classes[k]`` is output ``k``; with one output, ``classes[1]`` wins when
        the output is positive.
    metadata : dict
        Anything else saved with the model (estimator name, training report, ...).
    source : str
        The file it was loaded from.
    """

    network: Network
    preprocessing: Scaler | None = None
    features: list[str] | None = None
    target: str | None = None
    task: str | None = None
    classes: list | None = None
    metadata: dict = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise SettingsError(problem)

    def _problem(self) -> str | None:
        n_in, n_out = self.network.n_inputs, self.network.n_outputs
        pre = self.preprocessing
        if pre is not None and pre.n_features != n_in:
            return f"preprocessing has {pre.n_features} features, the network {n_in} inputs"
        if self.features is not None:
            if not (isinstance(self.features, list) and all(isinstance(f, str) for f in self.features)):
                return "features must be a list of names"
            if len(self.features) != n_in:
                return f"{len(self.features)} feature names for a network with {n_in} inputs"
        if self.target is not None and not isinstance(self.target, str):
            return f"target must be a name, got {self.target!r}"
        if self.task is not None and self.task not in TASKS:
            return f"task must be 'classification' or 'regression', got {self.task!r}"
        if self.classes is not None:
            if not isinstance(self.classes, list):
                return "classes must be a list of labels"
            want = 2 if n_out == 1 else n_out
            if len(self.classes) != want:
                return f"{len(self.classes)} class labels for a network with {n_out} output(s) (expected {want})"
        if self.task == "classification" and self.classes is None:
            return "a classification model needs its class labels (classes)"
        return None

    # --------------------------------------------------------------------------------------------- spaces
    @property
    def space(self) -> str:
        """Where raw inputs live: ``"raw feature space"`` with preprocessing, else ``"network input space"``."""
        return RAW_SPACE if self.preprocessing is not None else NETWORK_SPACE

    def space_for(self, scaled: bool) -> str:
        """The space a verifier query is posed in: the network's own inputs when ``scaled`` or without
        preprocessing, else the raw feature space."""
        if self.preprocessing is None:
            return NETWORK_SPACE
        return SCALED_SPACE if scaled else RAW_SPACE

    @property
    def n_features(self) -> int:
        return self.network.n_inputs

    # ------------------------------------------------------------------------------------------ evaluation
    def _flat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if int(np.prod(X.shape[1:])) != self.n_features:
            raise DataError(f"expected {self.n_features} features per sample, got {int(np.prod(X.shape[1:]))}")
        return X.reshape(len(X), -1)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw features (``(N, n_features)``, ``(N, *input_shape)`` or one flat sample) to network inputs of shape
        ``(N, *input_shape)``: the preprocessing, then a reshape."""
        X = self._flat(X)
        if self.preprocessing is not None:
            X = self.preprocessing(X)
        return X.reshape(len(X), *self.network.input_shape)

    def inverse_transform(self, Xs: np.ndarray) -> np.ndarray:
        """Network inputs back to raw features, flat ``(N, n_features)`` (exact up to rounding)."""
        Xs = self._flat(Xs)
        return Xs if self.preprocessing is None else self.preprocessing.inverse(Xs)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """Network outputs ``(N, n_outputs)`` for raw features: :meth:`transform`, then :meth:`Network.forward`.

        This is the one path every prediction (and every re-check of a verifier's counterexample) goes through.
        """
        return self.network.forward(self.transform(X)).reshape(-1, self.network.n_outputs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (classification; :func:`class_indices`: ties go to the first class) or the outputs
        ``(N, n_outputs)`` (regression, or no task)."""
        out = self.outputs(X)
        if self.task != "classification":
            return out
        classes = np.asarray(self.classes, dtype=object)
        return classes[class_indices(out)]

    def raw_network(self) -> Network:
        """A copy of the network with the preprocessing folded into its first layer, so that it takes raw features
        as :meth:`outputs` does: ``W' = W diag(scale)``, ``b' = b - W (scale * offset)`` (exact algebra; the outputs
        agree with :meth:`outputs` up to rounding). Without preprocessing, a plain copy. This is what ``mipnet
        export`` writes by default.

        Raises
        ------
        SettingsError
            The scaling is not the identity and the first layer that reads the features (after a ``Flatten``) is
            not an active ``Dense`` layer with weights: a convolution shares its weights across positions, so
            per-feature scales cannot move into it (export the network on its scaled inputs instead).
        """
        net = copy.deepcopy(self.network)
        pre = self.preprocessing
        if pre is None or pre.is_identity():
            return net
        first = next((layer for layer in net.layers if not isinstance(layer, Flatten)), None)
        if not isinstance(first, Dense) or not first.active or first.weight is None:
            kind = "none" if first is None else first.kind
            raise SettingsError(f"the preprocessing cannot be folded into the first layer ({kind}): only an "
                                "active Dense layer takes per-feature scales; export the network on its scaled "
                                "inputs instead")
        w = first.weight
        bias = first.bias if first.bias is not None else np.zeros(first.units)
        first.bias = bias - w @ (pre.scale * pre.offset)
        first.weight = w * pre.scale[None, :]
        first.bias_on = True
        return net

    # --------------------------------------------------------------------------------------------- files
    def to_metadata(self) -> dict:
        """The JSON ``metadata`` object of the model file (free metadata plus the model fields)."""
        meta = {k: v for k, v in self.metadata.items() if k not in _FIELDS}
        for key, value in (("task", self.task), ("classes", self.classes), ("features", self.features),
                           ("target", self.target)):
            if value is not None:
                meta[key] = value
        if self.preprocessing is not None:
            meta["preprocessing"] = self.preprocessing.as_dict()
        return meta

    def save(self, path: str | Path) -> None:
        """Write the model as mipnet JSON (see the module docstring)."""
        from mipnet.io.json_format import save_json

        save_json(self.network, path, self.to_metadata())

    @classmethod
    def from_network(cls, net: Network, metadata: dict | None = None, source: str = "document") -> Model:
        """The model described by a network and its file's ``metadata``; raises :class:`FormatError`."""
        meta = dict(metadata or {})
        pre = meta.get("preprocessing")
        scaler = None if pre is None else Scaler.from_dict(pre, source)
        classes = meta.get("classes")
        try:
            return cls(net, scaler, meta.get("features"), meta.get("target"), meta.get("task"), classes,
                       {k: v for k, v in meta.items() if k not in _FIELDS}, source)
        except MIPNetError as exc:
            raise FormatError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a model from mipnet JSON (``.json``, with its preprocessing and labels), ``.onnx`` or ``.nnet``
        (network only).

        Raises
        ------
        FormatError
            A damaged or inconsistent file (one-line message naming the problem).
        OSError
            The file cannot be read.
        """
        p = Path(path)
        if p.suffix.lower() in (".onnx", ".nnet"):
            from mipnet.io.loaders import load_any

            return cls(load_any(p), source=str(p))
        from mipnet.io.json_format import load_json

        net, meta = load_json(p)
        return cls.from_network(net, meta, str(p))

    # ------------------------------------------------------------------------------------------ verification
    # Queries on a model with preprocessing take their points and boxes in the raw feature space. They are not
    # solved on a rewritten network: the scaling ``T(x) = (x - offset) * scale`` (positive, per feature) maps a raw
    # box ``[lo, hi]`` onto the box ``[T(lo), T(hi)]`` of the network's inputs, and because floating-point rounding
    # is monotone, ``T`` as computed by :meth:`transform` sends every raw point of ``[lo, hi]`` into
    # ``[T(lo), T(hi)]`` exactly. The verifier then runs unchanged on the network as ``predict`` uses it, so its
    # proofs carry over with no new rounding; an L-infinity ball of radius ``eps`` in raw space is the box with
    # per-feature radius ``eps * scale`` (intersected with ``domain``). Every counterexample is mapped back to raw
    # features (clipped into the raw box), re-run through :meth:`outputs` (the path ``predict`` uses) and reported
    # only if it still breaks the property there; otherwise the answer is ``unknown``. Each result gets an extra
    # attribute ``space`` (``"raw feature space"``, ``"scaled feature space"`` or ``"network input space"``) that
    # says where its counterexample lies.

    def _raw_vector(self, v: np.ndarray | float, what: str, broadcast: bool = True) -> np.ndarray:
        """``v`` as one value per feature; with ``broadcast`` (box corners, domains) one number serves them all."""
        a = np.asarray(v, dtype=float).reshape(-1)
        if broadcast and a.size == 1:
            a = np.full(self.n_features, float(a[0]))
        if a.size != self.n_features:
            raise SettingsError(f"{what} has {a.size} value{'' if a.size == 1 else 's'}, the model takes "
                                f"{self.n_features} features")
        return a

    def _raw_box(self, lower: np.ndarray | float, upper: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._raw_vector(lower, "the lower corner"), self._raw_vector(upper, "the upper corner")
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
            raise SettingsError("the box needs lower <= upper in every feature")
        return lo, hi

    def _scaled(self, v: np.ndarray) -> np.ndarray:
        return self.preprocessing(v).reshape(self.network.input_shape)

    def _raw(self, v: np.ndarray) -> np.ndarray:
        return self.preprocessing.inverse(np.asarray(v, dtype=float).reshape(-1))

    def verify_robustness(self, x: np.ndarray, eps: float, label: int | None = None,
                          domain: tuple[np.ndarray | float, np.ndarray | float] | None = None, scaled: bool = False,
                          **options: Any) -> Any:
        """Local robustness (:func:`mipnet.verify.robustness`) around the raw input ``x`` in the L-infinity ball of
        radius ``eps`` in raw feature units.

        Parameters
        ----------
        x : array
            The centre, ``n_features`` raw values.
        eps : float
            Radius in raw units (the box ``[x - eps, x + eps]`` per feature, intersected with ``domain``).
        label : int, optional
            Output index that must win; default: the prediction at ``x``.
        domain : (low, high), optional
            Valid range of the raw features.
        scaled : bool
            Take ``x``, ``eps`` and ``domain`` in the network's input space instead (no preprocessing).
        **options
            ``time_limit``, ``solver``, ``tightening``, ``threads``, ``samples``, ``seed``.

        Returns
        -------
        RobustnessResult
            With ``space``; ``counterexample`` in that space. ``margin_bound`` is proved over the whole ball;
            ``margin`` is the smallest margin found (re-checked in raw space when the answer is ``violated``).
        """
        from mipnet import verify
        from mipnet.verify.results import UNKNOWN, VIOLATED

        if self.preprocessing is None or scaled:
            res = verify.robustness(self.network, x, eps, label=label, domain=domain, **options)
            res.space = self.space_for(scaled)
            return res
        x = self._raw_vector(x, "x", broadcast=False)
        eps = float(eps)
        if not (math.isfinite(eps) and eps >= 0):
            raise SettingsError(f"eps must be a non-negative number, got {eps}")
        if not np.all(np.isfinite(x)):
            raise SettingsError("x must be finite")
        lo, hi = x - eps, x + eps
        if domain is not None:
            lo = np.maximum(lo, self._raw_vector(domain[0], "the domain's lower end"))
            hi = np.minimum(hi, self._raw_vector(domain[1], "the domain's upper end"))
            if np.any(lo > hi):
                raise SettingsError("the ball does not meet the input domain")
        xs, lo_s, hi_s = self.preprocessing(x), self.preprocessing(lo), self.preprocessing(hi)
        # a scalar radius that covers the scaled box; the domain then cuts the ball down to exactly that box
        radius = 2.0 * float(np.max(np.maximum(xs - lo_s, hi_s - xs))) + 1.0
        res = verify.robustness(self.network, xs, radius, label=label, domain=(lo_s, hi_s), **options)
        res.eps, res.space = eps, RAW_SPACE
        if res.status == VIOLATED:
            xr = np.clip(self._raw(res.counterexample), lo, hi)
            out = self.outputs(xr)[0]
            C, _ = competitor_rows(len(out), res.label)
            margin = float((C @ out).min())
            predicted = int(class_indices(out[None])[0])
            if predicted != res.label:    # predict's rule, as the verifier's re-check
                res.counterexample, res.counterexample_output, res.margin = xr, out, margin
                res.note = (f"raw input predicted as class {predicted}, margin {margin:.6g} (mapped "
                            "back from the network's input space and re-checked through the preprocessing and "
                            "Network.forward)")
            else:
                res.status, res.counterexample, res.counterexample_output = UNKNOWN, None, None
                res.note = (f"a counterexample of the network input space keeps its class once mapped back to raw "
                            f"features and re-checked (margin {margin:.6g}, rounding); no proof either")
        return res

    def verify_bounds(self, lower: np.ndarray | float, upper: np.ndarray | float, scaled: bool = False,
                      **options: Any) -> Any:
        """Proved bounds on every output over the raw box ``[lower, upper]`` (:func:`mipnet.verify.output_bounds`
        on the scaled box, which holds the image of the raw box exactly).

        ``lower_attained`` / ``upper_attained`` are outputs at points of the scaled box. With ``scaled=True`` the
        box is in the network's input space. The result gets ``space``.
        """
        from mipnet import verify

        if self.preprocessing is None or scaled:
            res = verify.output_bounds(self.network, lower, upper, **options)
        else:
            lo, hi = self._raw_box(lower, upper)
            res = verify.output_bounds(self.network, self._scaled(lo), self._scaled(hi), **options)
        res.space = self.space_for(scaled)
        return res

    def verify_monotonicity(self, feature: int, lower: np.ndarray | float, upper: np.ndarray | float,
                            output: int = 0, direction: str = "increasing", scaled: bool = False,
                            **options: Any) -> Any:
        """Monotonicity of ``output`` in raw feature ``feature`` over the raw box (:func:`mipnet.verify.monotonicity`).

        The scaling is increasing in every feature, so pairs of raw inputs that differ only in ``feature`` (in
        order) map to such pairs of scaled inputs: the property is the same in both spaces. A counterexample pair is
        mapped back, re-checked through :meth:`outputs`, and reported in raw features. The result gets ``space``.
        """
        from mipnet import verify
        from mipnet.verify.results import UNKNOWN, VIOLATED

        if self.preprocessing is None or scaled:
            res = verify.monotonicity(self.network, feature, lower, upper, output=output, direction=direction,
                                      **options)
            res.space = self.space_for(scaled)
            return res
        lo, hi = self._raw_box(lower, upper)
        res = verify.monotonicity(self.network, feature, self._scaled(lo), self._scaled(hi), output=output,
                                  direction=direction, **options)
        res.space = RAW_SPACE
        if res.status == VIOLATED:
            f, sign = res.feature, 1.0 if res.direction == "increasing" else -1.0
            a = np.clip(self._raw(res.counterexample), lo, hi)
            b = a.copy()
            b[f] = np.clip(self._raw(res.counterexample_pair)[f], a[f], hi[f])
            ya, yb = self.outputs(a)[0], self.outputs(b)[0]
            change = float(sign * (yb[res.output] - ya[res.output]))
            if change < -res.tol:
                res.counterexample, res.counterexample_pair = a, b
                res.counterexample_output, res.counterexample_pair_output = ya, yb
                res.worst_found = change
                res.note = (f"raising raw feature {f} from {a[f]:.9g} to {b[f]:.9g} changes output {res.output} by "
                            f"{sign * change:.6g} (re-checked through the preprocessing and Network.forward)")
            else:
                res.status = UNKNOWN
                res.counterexample = res.counterexample_pair = None
                res.counterexample_output = res.counterexample_pair_output = None
                res.note = ("a counterexample pair of the network input space does not break the property once "
                            "mapped back to raw features and re-checked (rounding); no proof either")
        return res

    def verify_property(self, prop: Any, scaled: bool = False, **options: Any) -> Any:
        """A VNN-LIB property (:func:`mipnet.verify.check_property`) whose ``X_i`` are raw features.

        Each disjunct's bounds on single inputs are mapped to the scaled space like a box (the scaling is monotone in
        floating point, so the scaled box holds the image of the raw one); rows that combine several inputs (or
        inputs with outputs) are rewritten on the scaled inputs by :meth:`Scaler.map_rows` (exact algebra, rounded
        far below the verifier's margin); rows on the outputs alone are kept. With ``scaled=True`` every ``X_i`` is a
        network input instead. A counterexample is mapped back, re-checked through :meth:`outputs` against the raw
        property, and reported in raw features.
        """
        from mipnet import verify
        from mipnet.io.vnnlib import Disjunct, Property, load_vnnlib
        from mipnet.verify.results import UNKNOWN, VIOLATED

        net = self.network
        if not isinstance(prop, Property):
            prop = load_vnnlib(prop, net.n_inputs, net.n_outputs)
        if self.preprocessing is None or scaled:
            res = verify.check_property(net, prop, **options)
            res.space = self.space_for(scaled)
            return res
        n = net.n_inputs
        scaled_disjuncts, boxes = [], []
        for d in prop.disjuncts:
            A, b = self.preprocessing.map_rows(*d.other_rows())
            lo, hi = d.box()
            boxes.append((lo, hi))
            with np.errstate(invalid="ignore"):
                lo_s, hi_s = self.preprocessing(lo), self.preprocessing(hi)
            rows, rhs = [], []
            for j in range(n):
                if np.isfinite(hi[j]):
                    rows.append(np.eye(1, n + net.n_outputs, j)[0])
                    rhs.append(hi_s[j])
                if np.isfinite(lo[j]):
                    rows.append(-np.eye(1, n + net.n_outputs, j)[0])
                    rhs.append(-lo_s[j])
            A_s = np.vstack([np.array(rows).reshape(-1, n + net.n_outputs), A])
            scaled_disjuncts.append(Disjunct(A_s, np.concatenate([rhs, b]), n))
        res = verify.check_property(net, Property(n, net.n_outputs, scaled_disjuncts, prop.source), **options)
        res.space = RAW_SPACE
        if res.status == VIOLATED:
            xs = np.asarray(res.counterexample, dtype=float).reshape(-1)
            found = None
            for d, (lo, hi) in zip(prop.disjuncts, boxes):
                xr = np.clip(self._raw(xs), lo, hi)
                y = self.outputs(xr)[0]
                if d.holds_at(xr, y):
                    found = xr, y
                    break
            if found is not None:
                res.counterexample, res.counterexample_output = found
                res.note += "; mapped back to raw features and re-checked through the preprocessing"
            else:
                res.status, res.counterexample, res.counterexample_output = UNKNOWN, None, None
                res.note = ("a counterexample of the network input space is not in the raw property's region once "
                            "mapped back to raw features and re-checked (rounding); no proof either")
        return res

    def describe(self) -> dict:
        """JSON-ready facts about the model (no weights): task, classes, target, features, preprocessing, space."""
        return {"task": self.task, "classes": self.classes, "target": self.target, "features": self.features,
                "preprocessing": None if self.preprocessing is None else self.preprocessing.as_dict(),
                "space": self.space}


_FIELDS = ("task", "classes", "features", "target", "preprocessing")


def load_model(path: str | Path) -> Model:
    """Read a model file (same as :meth:`Model.load`)."""
    return Model.load(path)


__all__ = ["NETWORK_SPACE", "RAW_SPACE", "SCALED_SPACE", "TIE_TOL", "Model", "Scaler", "class_indices", "load_model",
           "tie_tolerance"]
