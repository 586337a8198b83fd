"""scikit-learn estimators: ``MIPNetClassifier`` and ``MIPNetRegressor``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from mipnet.constraints import train_with_constraints
from mipnet.errors import DataError, SettingsError
from mipnet.layers import Dense, Layer
from mipnet.model import Model
from mipnet.network import Network
from mipnet.report import TrainReport
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network

_CONFIG_FIELDS = ("weights", "weight_bound", "bias_bound", "l1", "l2", "l0", "neuron_penalty", "input_penalty",
                  "max_inputs", "max_neurons", "filter_penalty", "max_filters", "layer_penalty", "max_layers",
                  "symmetry", "bounds", "warm_start", "margin", "seed")


def check_features(X: object, name: str = "X") -> np.ndarray:
    """``X`` as a finite float array with at least one sample, or a :class:`DataError` that says why."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None
    if X.ndim == 1:
        raise DataError(f"{name} must be 2-D (samples x features) or (N, C, H, W) images, got a 1-D array; "
                        "use X.reshape(-1, 1) for a single feature")
    if X.shape[0] == 0 or X.size == 0:
        raise DataError(f"{name} is empty")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise DataError(f"{name} contains NaN or infinite values (first at index {tuple(int(i) for i in bad)})")
    return X


class _MIPNetBase(BaseEstimator):
    """Shared options and fitting of the MIP estimators (see the README for each option)."""

    _default_loss = "hinge"

    def __init__(self, hidden: Sequence[int] = (4,), architecture: Sequence[Layer] | None = None,
                 loss: str | None = None, weights: str | list = "auto", weight_bound: float = 1.0,
                 bias_bound: float | None = None, l1: float = 0.0, l2: float = 0.0, l0: float = 0.0,
                 neuron_penalty: float = 0.0, input_penalty: float = 0.0, max_inputs: int | None = None,
                 max_neurons: int | None = None, filter_penalty: float = 0.0, max_filters: int | None = None,
                 layer_penalty: float = 0.0, max_layers: int | None = None, margin: float = 1e-2,
                 symmetry: bool = True,
                 bounds: str = "budget", warm_start: bool = True, solver: str = "highs",
                 time_limit: float | None = None, threads: int = 1, mip_gap: float = 1e-4, seed: int = 0,
                 verbose: bool = False, callback: Callable | None = None, constraints: Sequence | None = None,
                 region: tuple | None = None) -> None:
        self.hidden = hidden
        self.architecture = architecture
        self.loss = loss
        self.weights = weights
        self.weight_bound = weight_bound
        self.bias_bound = bias_bound
        self.l1 = l1
        self.l2 = l2
        self.l0 = l0
        self.neuron_penalty = neuron_penalty
        self.input_penalty = input_penalty
        self.max_inputs = max_inputs
        self.max_neurons = max_neurons
        self.filter_penalty = filter_penalty
        self.max_filters = max_filters
        self.layer_penalty = layer_penalty
        self.max_layers = max_layers
        self.margin = margin
        self.symmetry = symmetry
        self.bounds = bounds
        self.warm_start = warm_start
        self.solver = solver
        self.time_limit = time_limit
        self.threads = threads
        self.mip_gap = mip_gap
        self.seed = seed
        self.verbose = verbose
        self.callback = callback
        self.constraints = constraints
        self.region = region

    # ----------------------------------------------------------------------------------------- helpers
    def _template(self, input_shape: tuple[int, ...], n_outputs: int) -> Network:
        if self.architecture is not None:
            import copy

            from mipnet.arch import load_architecture

            layers = [copy.deepcopy(layer) for layer in load_architecture(self.architecture)]
            for layer in layers:
                if layer.is_affine:
                    layer.weight = layer.bias = None
            last = [layer for layer in layers if layer.is_affine][-1]
            width = getattr(last, "units", getattr(last, "out_channels", None))
            if width != n_outputs:
                raise SettingsError(f"the architecture's last layer has {width} outputs; this task needs "
                                    f"{n_outputs}")
            return Network(layers, input_shape)
        hidden = (self.hidden,) if np.isscalar(self.hidden) else tuple(self.hidden)
        if any(int(h) != h or h < 1 for h in hidden):
            raise SettingsError(f"hidden must list positive layer widths, got {self.hidden!r}")
        if len(input_shape) != 1:
            raise SettingsError("image input needs an architecture (e.g. [Conv2D(...), Flatten(), Dense(...)])")
        return Network([Dense(int(h)) for h in hidden] + [Dense(n_outputs)], input_shape)

    def _config(self) -> TrainConfig:
        return TrainConfig(**{k: getattr(self, k) for k in _CONFIG_FIELDS})

    def _options(self) -> SolveOptions:
        tl = self.time_limit
        if tl is not None and (not isinstance(tl, (int, float)) or not math.isfinite(tl) or tl <= 0):
            raise SettingsError(f"time_limit must be a positive number of seconds or None, got {tl!r}")
        return SolveOptions(time_limit=tl, threads=self.threads, mip_gap=self.mip_gap, seed=self.seed,
                            verbose=self.verbose, callback=self.callback)

    def _fit_encoded(self, X: np.ndarray, y_enc: np.ndarray, n_outputs: int) -> None:
        loss = make_loss(self.loss or self._default_loss, self.margin)
        expected = "regression" if isinstance(self, RegressorMixin) else "classification"
        if loss.task != expected:
            raise SettingsError(f"loss {loss.name!r} is for {loss.task}; {type(self).__name__} needs a "
                                f"{expected} loss")
        template = self._template(X.shape[1:], n_outputs)
        if self.constraints:
            self.network_, self.report_ = train_with_constraints(
                template, X, y_enc, loss, self._config(), self.solver, self._options(), list(self.constraints),
                feature_names=getattr(self, "feature_names_in_", None), classes=getattr(self, "classes_", None),
                region=self.region, seed=self.seed)
        else:
            self.network_, self.report_ = train_network(template, X, y_enc, loss, self._config(), self.solver,
                                                        self._options())
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = tuple(X.shape[1:])
        # fitted on X as given: no preprocessing (drop what a loaded model brought along)
        self.preprocessing_, self.feature_names_, self.target_, self.metadata_ = None, None, None, {}

    def _outputs(self, X: object) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = check_features(X)
        if int(np.prod(X.shape[1:])) != self.n_features_in_:
            raise DataError(f"X has {int(np.prod(X.shape[1:]))} features per sample; the model was fitted on "
                            f"{self.n_features_in_}")
        pre = getattr(self, "preprocessing_", None)
        if pre is not None:   # a model trained by ``mipnet train``: raw features, scaled as when it was trained
            X = pre(X.reshape(len(X), -1))
        return self.network_.forward(X.reshape(len(X), *self.input_shape_))

    def _metadata(self) -> dict:
        meta = {k: v for k, v in getattr(self, "metadata_", {}).items() if k not in ("report",)}
        meta["estimator"] = type(self).__name__
        if hasattr(self, "report_"):
            meta["report"] = {k: v for k, v in self.report_.as_dict().items() if k not in ("certificate",)}
        elif "report" in getattr(self, "metadata_", {}):
            meta["report"] = self.metadata_["report"]
        return meta

    def to_model(self) -> Model:
        """The fitted estimator as a :class:`~mipnet.model.Model` (network, labels, preprocessing, report)."""
        check_is_fitted(self, "network_")
        meta = self._metadata()
        task, classes = meta.pop("task", None), meta.pop("classes", None)
        return Model(self.network_, getattr(self, "preprocessing_", None), getattr(self, "feature_names_", None),
                     getattr(self, "target_", None), task, classes, meta)

    def save(self, path: str | Path) -> None:
        """Save the fitted model (network, labels, report, and the preprocessing of a model loaded from a file
        that has one) as mipnet JSON (:mod:`mipnet.model`)."""
        self.to_model().save(path)

    def _set_from_model(self, model: Model) -> None:
        net = model.network
        self.network_, self.input_shape_, self.n_features_in_ = net, net.input_shape, net.n_inputs
        self.preprocessing_ = model.preprocessing
        self.feature_names_, self.target_ = model.features, model.target
        self.metadata_ = dict(model.metadata)

    @property
    def report(self) -> TrainReport:
        check_is_fitted(self, "report_")
        return self.report_


class MIPNetClassifier(ClassifierMixin, _MIPNetBase):
    """A ReLU network classifier trained to proven optimality by mixed-integer programming.

    Two classes use one output and the binary hinge loss; more classes use one output per class and the
    multiclass hinge loss. ``loss="zero_one"`` counts misclassified samples (with ``margin``).

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden dense layers (ignored when ``architecture`` is given).
    architecture : list of Layer, optional
        Explicit layers (e.g. ``[Conv2D(4, kernel=3), MaxPool2D(2), Flatten(), Dense(2)]``).
    loss : {"hinge", "zero_one"}
    weights : str or list
        Weight domain(s), see :class:`mipnet.train.config.TrainConfig`.
    weight_bound, bias_bound, l1, l2, l0, neuron_penalty, input_penalty, max_inputs, max_neurons, filter_penalty,
    max_filters, layer_penalty, max_layers, margin, symmetry, bounds, warm_start, seed
        See :class:`mipnet.train.config.TrainConfig`.
    solver : {"highs", "scip"}
    time_limit : float or None
        Seconds; at the limit the best network found so far is kept (``report_.status == "time_limit"``).
    threads, mip_gap, verbose, callback
        Solver options (``callback`` receives :class:`mipnet.solvers.Progress` events).
    constraints : list of mipnet.constraints.Constraint, optional
        What the network must satisfy (weight signs and bounds, structure logic, outputs or classes at points,
        monotonicity, output bounds and VNN-LIB properties over a region); see ``docs/constraints.md``. Region
        constraints are proved by the verifier in a counterexample-guided loop (``report_.certified``,
        ``report_.rounds``); features may be named when ``X`` is a DataFrame.
    region : (lower, upper), optional
        Per-feature bounds of the input region of region constraints (in the space of ``X``).

    Attributes
    ----------
    network_ : Network
        The trained network (plain numpy).
    report_ : TrainReport
        Status, objective, bound, gap, times, MIP size, sparsity, certificate.
    classes_ : ndarray
    """

    def fit(self, X: object, y: object) -> MIPNetClassifier:
        """Train on ``X`` (``(N, features)`` or ``(N, C, H, W)``) and labels ``y`` of any type."""
        X = check_features(X)
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1:
            raise DataError(f"y must be 1-D labels, got shape {y.shape}")
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} samples but y has {len(y)}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise DataError("y contains NaN or infinite values")
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"y has only one class ({self.classes_[0]!r}); a classifier needs at least two")
        self._fit_encoded(X, y_enc.astype(int), 1 if len(self.classes_) == 2 else len(self.classes_))
        return self

    def decision_function(self, X: object) -> np.ndarray:
        """Raw network outputs: shape ``(N,)`` for two classes (positive means ``classes_[1]``), else ``(N, K)``."""
        o = self._outputs(X)
        return o[:, 0] if o.shape[1] == 1 else o

    def predict(self, X: object) -> np.ndarray:
        o = self.decision_function(X)
        idx = (o > 0).astype(int) if o.ndim == 1 else o.argmax(1)
        return self.classes_[idx]

    def _metadata(self) -> dict:
        return {**super()._metadata(), "task": "classification", "classes": self.classes_.tolist()}

    @classmethod
    def load(cls, path: str | Path) -> MIPNetClassifier:
        """Rebuild a fitted classifier saved by :meth:`save` or trained by ``mipnet train`` (for prediction).

        The model file's preprocessing (``mipnet train`` scales the features) is applied inside
        :meth:`predict` and :meth:`decision_function`, so they take raw features, as ``mipnet predict`` does.
        """
        model = Model.load(path)
        if model.task != "classification":
            raise DataError(f"{path} does not hold a classifier (no class labels in its metadata)")
        est = cls()
        est._set_from_model(model)
        est.classes_ = np.asarray(model.classes)
        return est


class MIPNetRegressor(RegressorMixin, _MIPNetBase):
    """A ReLU network regressor trained to proven optimality by mixed-integer programming.

    Losses: ``"absolute"`` (mean absolute error, default), ``"max"`` (largest absolute error),
    ``"squared"`` (mean squared error; quadratic, needs ``solver="scip"``). Same options as
    :class:`MIPNetClassifier`; ``y`` may be ``(N,)`` or ``(N, K)``.
    """

    _default_loss = "absolute"

    def fit(self, X: object, y: object) -> MIPNetRegressor:
        X = check_features(X)
        y_in = np.asarray(y)
        if y_in.ndim not in (1, 2):
            raise DataError(f"y must have shape (N,) or (N, K), got {y_in.shape}")
        y = check_features(y_in.reshape(len(y_in), -1), "y")
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} samples but y has {len(y)}")
        self._y_1d = y_in.ndim == 1
        self._fit_encoded(X, y, y.shape[1])
        return self

    def predict(self, X: object) -> np.ndarray:
        o = self._outputs(X)
        return o[:, 0] if getattr(self, "_y_1d", o.shape[1] == 1) else o

    def _metadata(self) -> dict:
        return {**super()._metadata(), "task": "regression"}

    @classmethod
    def load(cls, path: str | Path) -> MIPNetRegressor:
        """Rebuild a fitted regressor saved by :meth:`save` or trained by ``mipnet train`` (for prediction); the
        file's preprocessing is applied inside :meth:`predict`, which takes raw features."""
        model = Model.load(path)
        if model.task == "classification":
            raise DataError(f"{path} holds a classifier: load it with MIPNetClassifier.load")
        est = cls()
        est._set_from_model(model)
        est._y_1d = model.network.n_outputs == 1
        return est
