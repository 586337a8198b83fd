"""scikit-learn estimators: ``MIPNetClassifier`` and ``MIPNetRegressor``.

Input validation is scikit-learn's own (:func:`sklearn.utils.validation.validate_data`, ``type_of_target``), so the
estimators follow its conventions (``n_features_in_``, ``feature_names_in_`` for pandas DataFrames, the messages its
conformance suite expects); bad values raise :class:`~mipnet.errors.DataError` (a ``ValueError``) with
scikit-learn's message, data of a type that cannot be numbers (sparse matrices, objects) a ``TypeError``.
:data:`EXPECTED_FAILED_CHECKS` lists the checks of ``sklearn.utils.estimator_checks`` that are known to fail
(none at present).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mipnet.constraints import train_with_constraints
from mipnet.errors import DataError, MIPNetError, SettingsError
from mipnet.layers import Dense, Layer
from mipnet.model import Model, class_indices, tie_tolerance
from mipnet.network import Network
from mipnet.progress import LineDisplay, chain
from mipnet.report import TrainReport
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network

_CONFIG_FIELDS = ("weights", "weight_bound", "bias_bound", "l1", "l2", "l0", "neuron_penalty", "input_penalty",
                  "max_inputs", "max_neurons", "filter_penalty", "max_filters", "layer_penalty", "max_layers",
                  "symmetry", "bounds", "warm_start", "primal", "margin", "seed")

#: Checks of ``sklearn.utils.estimator_checks`` each estimator is known to fail, ``{check name: reason}`` per
#: estimator class name (pass it as ``expected_failed_checks`` to ``check_estimator``). Empty: every check passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {"MIPNetClassifier": {}, "MIPNetRegressor": {}}

def _ndim(X: object) -> int | None:
    nd = getattr(X, "ndim", None)
    if nd is None:
        try:
            nd = np.ndim(X)
        except (TypeError, ValueError):
            return None
    return int(nd)


def _data_errors(fn: Callable, *args: object, **kwargs: object) -> object:
    """``fn(*args, **kwargs)`` with scikit-learn's ``ValueError`` raised as :class:`DataError` (same message)."""
    try:
        return fn(*args, **kwargs)
    except MIPNetError:
        raise
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _check_finite(X: np.ndarray, name: str = "X") -> np.ndarray:
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
                 bounds: str = "budget", warm_start: bool = True, primal: str = "auto", solver: str = "highs",
                 time_limit: float | None = None, threads: int = 1, mip_gap: float = 1e-4,
                 node_limit: int | None = None, seed: int = 0,
                 verbose: bool | int = False, callback: Callable | None = None, constraints: Sequence | None = None,
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
        self.primal = primal
        self.solver = solver
        self.time_limit = time_limit
        self.threads = threads
        self.mip_gap = mip_gap
        self.node_limit = node_limit
        self.seed = seed
        self.verbose = verbose
        self.callback = callback
        self.constraints = constraints
        self.region = region

    # ----------------------------------------------------------------------------------------- helpers
    def __sklearn_tags__(self) -> object:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _template(self, input_shape: tuple[int, ...], n_outputs: int, other_widths: tuple[int, ...] = (),
                  why: str = "") -> Network:
        """The untrained network: ``architecture`` (whose last affine layer must have ``n_outputs`` or one of
        ``other_widths`` outputs), else ``hidden`` dense layers and a ``Dense(n_outputs)`` head."""
        if self.architecture is not None:
            import copy

            from mipnet.arch import load_architecture

            layers = [copy.deepcopy(layer) for layer in load_architecture(self.architecture)]
            for layer in layers:
                if layer.is_affine:
                    layer.weight = layer.bias = None
            last = [layer for layer in layers if layer.is_affine][-1]
            width = getattr(last, "units", getattr(last, "out_channels", None))
            if width != n_outputs and width not in other_widths:
                need = " or ".join(str(w) for w in (n_outputs, *other_widths))
                raise SettingsError(f"the architecture's last layer has {width} outputs; this task needs {need}"
                                    + (f" ({why})" if why else ""))
            return Network(layers, input_shape)
        hidden = (self.hidden,) if np.isscalar(self.hidden) else tuple(self.hidden)
        if any(int(h) != h or h < 1 for h in hidden):
            raise SettingsError(f"hidden must list positive layer widths, got {self.hidden!r}")
        if len(input_shape) != 1:
            raise SettingsError("image input needs an architecture (e.g. [Conv2D(...), Flatten(), Dense(...)])")
        return Network([Dense(int(h)) for h in hidden] + [Dense(n_outputs)], input_shape)

    def _validate_fit(self, X: object, y: object, **y_params: object) -> tuple[np.ndarray, np.ndarray]:
        """``X`` as a finite float array (``(N, features)`` or ``(N, C, H, W)``) and ``y`` checked by scikit-learn's
        ``validate_data``, which also records ``n_features_in_`` and, for a DataFrame, ``feature_names_in_``."""
        self._started = time.perf_counter()   # the launch of the fit: progress times and the time limit count from it
        params = {"dtype": np.float64, "allow_nd": True, "ensure_all_finite": False, "accept_sparse": False}
        nd = _ndim(X)
        if nd is not None and nd > 2:
            params["ensure_2d"] = False    # images: n_features_in_ is the flattened count, set by _fit_encoded
        X, y = _data_errors(validate_data, self, X, y, reset=True, **params, **y_params)
        if X.size == 0:
            raise DataError(f"X is empty (shape {X.shape})")
        return _check_finite(X), y

    def _validate_predict(self, X: object) -> np.ndarray:
        """``X`` checked against what the estimator was fitted on (feature count and names)."""
        params = {"dtype": np.float64, "allow_nd": True, "ensure_all_finite": False, "accept_sparse": False}
        nd = _ndim(X)
        if nd is not None and nd > 2:
            X = _data_errors(validate_data, self, X, reset=False, ensure_2d=False, **params)
            n = int(np.prod(X.shape[1:]))
            if n != self.n_features_in_:
                raise DataError(f"X has {n} features per sample (shape {X.shape[1:]}), but {type(self).__name__} "
                                f"is expecting {self.n_features_in_} features as input")
        else:
            X = _data_errors(validate_data, self, X, reset=False, **params)
        return _check_finite(X)

    def _config(self) -> TrainConfig:
        return TrainConfig(**{k: getattr(self, k) for k in _CONFIG_FIELDS})

    def _options(self) -> SolveOptions:
        tl = self.time_limit
        if tl is not None and (not isinstance(tl, (int, float)) or not math.isfinite(tl) or tl <= 0):
            raise SettingsError(f"time_limit must be a positive number of seconds or None, got {tl!r}")
        return SolveOptions(time_limit=tl, threads=self.threads, mip_gap=self.mip_gap, node_limit=self.node_limit,
                            seed=self.seed, verbose=int(self.verbose) >= 2)

    def _progress(self) -> Callable | None:
        """The callback of a constrained fit: ``callback`` and, with ``verbose``, plain progress lines."""
        lines = LineDisplay(started=self._started) if self.verbose else None
        return chain(self.callback, lines)

    def _fit_encoded(self, X: np.ndarray, y_enc: np.ndarray, n_outputs: int, other_widths: tuple[int, ...] = (),
                     why: str = "") -> None:
        loss = make_loss(self.loss or self._default_loss, self.margin)
        expected = "regression" if isinstance(self, RegressorMixin) else "classification"
        if loss.task != expected:
            raise SettingsError(f"loss {loss.name!r} is for {loss.task}; {type(self).__name__} needs a "
                                f"{expected} loss")
        template = self._template(X.shape[1:], n_outputs, other_widths, why)
        if self.constraints:
            self.network_, self.report_ = train_with_constraints(
                template, X, y_enc, loss, self._config(), self.solver, self._options(), list(self.constraints),
                feature_names=getattr(self, "feature_names_in_", None), classes=getattr(self, "classes_", None),
                region=self.region, seed=self.seed, callback=self._progress())
        else:
            self.network_, self.report_ = train_network(template, X, y_enc, loss, self._config(), self.solver,
                                                        self._options(), callback=self.callback,
                                                        verbose=bool(self.verbose), started=self._started)
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = tuple(X.shape[1:])
        names = getattr(self, "feature_names_in_", None)
        self.feature_names_ = None if names is None else [str(name) for name in names]
        self.report_.feature_names = self.feature_names_
        self.report_.network = self.network_
        # fitted on X as given: no preprocessing (drop what a loaded model brought along)
        self.preprocessing_, self.target_, self.metadata_ = None, None, {}

    def _outputs(self, X: object) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = self._validate_predict(X)
        pre = getattr(self, "preprocessing_", None)
        if pre is not None:   # a model trained by ``mipnet train``: raw features, scaled as when it was trained
            X = pre(X.reshape(len(X), -1))
        return self.network_.forward(X.reshape(len(X), *self.input_shape_)).reshape(len(X), -1)

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
        if model.features is not None:     # scikit-learn then checks the columns of a DataFrame against them
            self.feature_names_in_ = np.asarray(model.features, dtype=object)
        self.metadata_ = dict(model.metadata)

    @property
    def report(self) -> TrainReport:
        check_is_fitted(self, "report_")
        return self.report_


class MIPNetClassifier(ClassifierMixin, _MIPNetBase):
    """A ReLU network classifier trained to proven optimality by mixed-integer programming.

    Two classes use one output and the binary hinge loss by default; more classes use one output per class and
    the multiclass hinge loss. An ``architecture`` whose last layer has two outputs (``Dense(2)``) gives two
    classes one output each and the multiclass hinge as well. ``loss="zero_one"`` counts misclassified samples
    (with ``margin``).

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden dense layers (ignored when ``architecture`` is given).
    architecture : list of Layer or str, optional
        Explicit layers (e.g. ``[Conv2D(4, kernel=3), MaxPool2D(2), Flatten(), Dense(2)]``); the last affine layer
        has one output per class, or one output (or two) for two classes.
    loss : {"hinge", "zero_one"}
    weights : str or list
        Weight domain(s), see :class:`mipnet.train.config.TrainConfig`.
    weight_bound, bias_bound, l1, l2, l0, neuron_penalty, input_penalty, max_inputs, max_neurons, filter_penalty,
    max_filters, layer_penalty, max_layers, margin, symmetry, bounds, warm_start, seed
        See :class:`mipnet.train.config.TrainConfig`.
    primal : {"auto", "lns", "none"}
        The primal side (:class:`mipnet.train.config.PrimalSearch`): ``auto`` runs the large-neighbourhood search
        before the full MIP for networks with a convolution, ``lns`` always, ``none`` never.
    solver : {"highs", "scip", "gurobi"}
    time_limit : float or None
        Seconds; at the limit the best network found so far is kept (``report_.status == "time_limit"``).
    threads, mip_gap
        Solver options.
    node_limit : int or None
        Branch-and-bound nodes per MIP solve (``None``: no limit); at the limit the best network found so far is
        kept (``report_.status == "node_limit"``). A fixed amount of work, unlike ``time_limit``: with
        ``threads=1`` and ``time_limit=None`` the same data gives the same network every time.
    verbose : bool or int
        ``0`` / ``False`` (default): silent. ``1`` / ``True``: show the progress from the launch of ``fit`` (phase,
        elapsed time, incumbent, bound, gap): a live line on a terminal, plain lines otherwise. ``2``: also the
        solver's own log.
    callback : callable, optional
        Called with a :class:`mipnet.progress.ProgressEvent` at every step of the fit: ``phase`` (a
        :class:`mipnet.progress.Phase`: warm start, build, cut loop, solve, done), ``elapsed`` (seconds since
        ``fit`` was called), ``incumbent``, ``bound``, ``gap``, and ``pattern`` (the output-sign pattern of the
        decomposition), ``nodes``, ``improved``, ``detail``. Ctrl-C during ``fit`` keeps the best network so far
        (``report_.status == "interrupted"``).
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
        The class labels; output ``k`` scores ``classes_[k]`` (one output: positive means ``classes_[1]``).
    n_features_in_ : int
        Number of input features (for image input, ``C * H * W``).
    feature_names_in_ : ndarray of str
        Column names of the DataFrame ``fit`` was given (only then); saved with the model.
    """

    def fit(self, X: object, y: object) -> MIPNetClassifier:
        """Train on ``X`` (``(N, features)``, a DataFrame, or ``(N, C, H, W)`` images) and class labels ``y``.

        Raises
        ------
        DataError
            ``X`` or ``y`` is unusable (NaN, empty, lengths differ, a continuous target, a single class).
        SettingsError
            An option is impossible (e.g. a regression loss, an architecture head of the wrong width).
        """
        X, y = self._validate_fit(X, y)    # a column-vector y is raveled with a DataConversionWarning
        _data_errors(check_classification_targets, y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise DataError(f"y has only one class ({self.classes_[0]!r}); a classifier needs at least two")
        if k == 2:
            self._fit_encoded(X, y_enc.astype(int), 1, (2,), "two classes: 1 output (binary hinge) or 2 (one per "
                                                             "class)")
        else:
            self._fit_encoded(X, y_enc.astype(int), k, (), f"one output per class for {k} classes")
        return self

    def decision_function(self, X: object) -> np.ndarray:
        """Class scores from the network outputs ``o``.

        Two classes: shape ``(N,)``, positive means ``classes_[1]``: ``o[:, 0]`` for a one-output network,
        ``o[:, 1] - o[:, 0]`` for a two-output one (scikit-learn's convention for binary classifiers). More
        classes: ``o``, shape ``(N, K)``. Scores that tie within :func:`~mipnet.model.tie_tolerance`
        (floating-point noise, about 1e-16, where the MIP solution puts a sample exactly on a tie) are returned
        tied: a binary score as 0, a class score as the row's maximum. :meth:`predict` gives a tie to the first of
        the tied classes.
        """
        o = self._outputs(X)
        if o.shape[1] > 2 or (o.shape[1] == 2 and len(self.classes_) != 2):
            top = o.max(axis=1, keepdims=True)
            return np.where(o >= top - tie_tolerance(o), top, o)
        d = o[:, 0] if o.shape[1] == 1 else o[:, 1] - o[:, 0]
        return np.where(np.abs(d) <= tie_tolerance(o)[:, 0], 0.0, d)

    def predict(self, X: object) -> np.ndarray:
        """Class labels: the class of the largest output (one output: ``classes_[1]`` where it is positive); ties
        (within :func:`~mipnet.model.tie_tolerance`) go to the first class. The rule is
        :func:`mipnet.model.class_indices`, the one ``Model.predict`` and ``mipnet predict`` use."""
        idx = class_indices(self._outputs(X))    # checks that the estimator is fitted, before classes_ is read
        return self.classes_[idx]

    def _metadata(self) -> dict:
        return {**super()._metadata(), "task": "classification", "classes": self.classes_.tolist()}

    @classmethod
    def load(cls, path: str | Path) -> MIPNetClassifier:
        """Rebuild a fitted classifier saved by :meth:`save` or trained by ``mipnet train`` (for prediction).

        The model file's preprocessing (``mipnet train`` scales the features) is applied inside
        :meth:`predict` and :meth:`decision_function`, so they take raw features, as ``mipnet predict`` does.
        The file's feature names become ``feature_names_in_``.
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
    ``"squared"`` (mean squared error; quadratic, needs ``solver="scip"``). Same options and attributes as
    :class:`MIPNetClassifier` (but ``classes_``); ``y`` may be ``(N,)`` or ``(N, K)`` (``predict`` returns the same
    shape).
    """

    _default_loss = "absolute"

    def __sklearn_tags__(self) -> object:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: object, y: object) -> MIPNetRegressor:
        """Train on ``X`` (``(N, features)``, a DataFrame, or ``(N, C, H, W)`` images) and targets ``y``
        (``(N,)`` or ``(N, K)``).

        Raises
        ------
        DataError
            ``X`` or ``y`` is unusable (NaN, empty, lengths differ, a target that is not numbers).
        SettingsError
            An option is impossible (e.g. a classification loss).
        """
        X, y = self._validate_fit(X, y, multi_output=True, y_numeric=True)
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"y must be numbers for a regressor ({exc})") from None
        y2 = _check_finite(y.reshape(len(y), -1), "y")
        if y2.shape[1] == 0:
            raise DataError(f"y has no target columns (shape {y.shape})")
        self._y_1d = y.ndim == 1
        self._fit_encoded(X, y2, y2.shape[1], (), "one output per target column")
        return self

    def predict(self, X: object) -> np.ndarray:
        """The network outputs: shape ``(N,)`` for a 1-D ``y`` in :meth:`fit`, else ``(N, K)``."""
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
