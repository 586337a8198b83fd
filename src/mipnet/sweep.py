"""A lambda sweep: one fit per value of a penalty, with the score and sparsity of each (:func:`sweep`).

The fits are independent, so they run in parallel through joblib (``n_jobs``), and on a Dask cluster inside
``joblib.parallel_backend("dask")``, like a ``GridSearchCV``. For a cross-validated sweep, give ``GridSearchCV``
``scoring=SCORING, refit="score"``: its ``cv_results_`` then carry ``mean_test_nonzero_weights`` and
:func:`mipnet.plot.plot_sweep` draws them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier

from mipnet.errors import DataError, FormatError, SettingsError
from mipnet.io.json_format import json_safe
from mipnet.plot import plot_sweep

FORMAT = "mipnet-sweep"


def nonzero_weights(estimator: Any, X: Any = None, y: Any = None) -> float:
    """Scorer: the fitted estimator's number of nonzero weights (``report_.sparsity``; ``X``, ``y`` unused)."""
    return float(estimator.report_.sparsity["nonzero_weights"])


def own_score(estimator: Any, X: Any, y: Any) -> float:
    """Scorer: the estimator's own ``score`` (accuracy for a classifier, R^2 for a regressor)."""
    return float(estimator.score(X, y))


#: ``GridSearchCV(..., scoring=SCORING, refit="score")``: the estimator's own score and its nonzero weights
SCORING = {"score": own_score, "nonzero_weights": nonzero_weights}


@dataclass
class SweepPoint:
    """One fit of a sweep."""

    value: Any
    score: float
    nonzero_weights: int
    weights: int
    inputs_used: int | None
    active_units: list[int]
    status: str
    proved_optimal: bool
    objective: float


@dataclass
class SweepResult:
    """The fits of :func:`sweep`, in the order of ``values``; :meth:`plot` draws the trade-off."""

    param: str
    score_name: str
    points: list[SweepPoint] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    def save(self, path: str | Path) -> None:
        """Write the sweep as JSON (``mipnet plot FILE --kind sweep`` draws it)."""
        Path(path).write_text(json.dumps(json_safe(self.as_dict()), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a sweep written by :meth:`save`; raises :class:`FormatError` for anything else."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: not a readable sweep file ({exc})") from None
        return cls.from_dict(doc, str(path))

    @classmethod
    def from_dict(cls, doc: Any, source: str = "document") -> SweepResult:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise FormatError(f"{source}: not a mipnet sweep file (expected \"format\": \"{FORMAT}\")")
        try:
            points = [SweepPoint(**p) for p in doc["points"]]
            return cls(str(doc["param"]), str(doc["score_name"]), points)
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{source}: damaged sweep file ({exc})") from None

    def plot(self, out: str | Path | None = None, title: str | None = None) -> Any:
        """The accuracy-sparsity trade-off (:func:`mipnet.plot.plot_sweep`); returns the figure."""
        return plot_sweep(self, out=out, title=title)


def _fit_one(estimator: Any, param: str, value: Any, X: Any, y: Any, X_test: Any, y_test: Any) -> SweepPoint:
    est = clone(estimator).set_params(**{param: value}).fit(X, y)
    rep = est.report_
    s = rep.sparsity
    return SweepPoint(value=value, score=float(est.score(X_test, y_test)), nonzero_weights=int(s["nonzero_weights"]),
                      weights=int(s["weights"]), inputs_used=s.get("inputs_used_count"),
                      active_units=list(s["active_units"]), status=rep.status, proved_optimal=rep.proved_optimal,
                      objective=float(rep.objective))


def sweep(estimator: Any, X: Any, y: Any, values: Sequence[Any], param: str = "l1", X_test: Any = None,
          y_test: Any = None, n_jobs: int | None = None) -> SweepResult:
    """Fit a clone of ``estimator`` for each value of ``param`` and record its score and sparsity.

    Parameters
    ----------
    estimator : MIPNetClassifier or MIPNetRegressor
        Unfitted template (its other parameters are kept).
    X, y : training data
    values : sequence
        Values of ``param`` (e.g. ``[0, 0.01, 0.1]`` for ``l1``).
    param : str
        The estimator parameter to sweep (``l1``, ``l0``, ``neuron_penalty``, ``input_penalty``, ...).
    X_test, y_test : optional
        Data for the score (accuracy for a classifier, R^2 for a regressor); default the training data.
    n_jobs : int, optional
        Parallel fits (joblib; inside ``joblib.parallel_backend("dask")`` they run on a Dask cluster).

    Returns
    -------
    SweepResult
    """
    if param not in estimator.get_params():
        raise SettingsError(f"{type(estimator).__name__} has no parameter {param!r} to sweep")
    values = list(values)
    if not values:
        raise DataError("a sweep needs at least one value")
    if (X_test is None) != (y_test is None):
        raise DataError("give both X_test and y_test, or neither")
    Xt, yt = (X, y) if X_test is None else (X_test, y_test)
    points = Parallel(n_jobs=n_jobs)(delayed(_fit_one)(estimator, param, v, X, y, Xt, yt) for v in values)
    name = "accuracy" if is_classifier(estimator) else "R^2"
    return SweepResult(param, name, list(points))


__all__ = ["SCORING", "SweepPoint", "SweepResult", "nonzero_weights", "own_score", "sweep"]
