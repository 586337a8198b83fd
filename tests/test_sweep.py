"""The lambda sweep helper, its file, and the trade-off drawn from it and from GridSearchCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from mipnet.errors import FormatError, SettingsError
from mipnet.estimators import MIPNetClassifier
from mipnet.sweep import SCORING, SweepResult, sweep


@pytest.fixture
def data(bc_subset):
    return bc_subset(24, 4, 5)


def test_sweep_trades_accuracy_for_sparsity_and_round_trips(tmp_path, data) -> None:
    X, y = data
    est = MIPNetClassifier(hidden=(2,), time_limit=20)
    res = sweep(est, X, y, [0.0, 0.05, 0.5], param="l1")
    assert [p.value for p in res.points] == [0.0, 0.05, 0.5] and res.score_name == "accuracy"
    for p in res.points:
        assert 0 <= p.score <= 1 and 0 <= p.nonzero_weights <= p.weights
    p = res.points[1]
    fitted = MIPNetClassifier(hidden=(2,), time_limit=20, l1=p.value).fit(X, y)
    if p.proved_optimal and fitted.report_.proved_optimal:   # the same proved optimum: the same objective
        assert p.objective == pytest.approx(fitted.report_.objective, rel=1e-4, abs=1e-6)
        assert p.score == pytest.approx(fitted.score(X, y))   # one thread, one seed: the same network
    proved = [p for p in res.points if p.proved_optimal]
    # a larger L1 penalty never gives an optimum with a larger L1 norm, and at 0.5 most weights are gone
    assert res.points[-1].nonzero_weights <= res.points[0].nonzero_weights or len(proved) < 3
    path = tmp_path / "sweep.json"
    res.save(path)
    again = SweepResult.load(path)
    assert again == res
    with pytest.raises(FormatError, match="not a mipnet sweep"):
        SweepResult.from_dict({"format": "x"})
    with pytest.raises(SettingsError, match="no parameter 'lambda'"):
        sweep(est, X, y, [0.1], param="lambda")


def test_sweep_plots_from_the_result_and_from_grid_search(tmp_path, data) -> None:
    pytest.importorskip("matplotlib")
    X, y = data
    res = sweep(MIPNetClassifier(hidden=(1,), time_limit=10), X, y, [0.0, 0.2], n_jobs=2)
    fig = res.plot(out=tmp_path / "s.png")
    line = next(a for a in fig.axes[0].lines if a.get_gid() == "sweep")
    assert sorted(line.get_xdata().tolist()) == sorted(p.nonzero_weights for p in res.points)
    grid = GridSearchCV(MIPNetClassifier(hidden=(1,), time_limit=10), {"l1": [0.0, 0.2]}, cv=2, scoring=SCORING,
                        refit="score").fit(X, y)
    from mipnet.plot import plot_sweep

    fig = plot_sweep(grid.cv_results_, out=tmp_path / "g.svg")
    line = next(a for a in fig.axes[0].lines if a.get_gid() == "sweep")
    nz = grid.cv_results_["mean_test_nonzero_weights"]
    assert sorted(line.get_xdata().tolist()) == sorted(nz.tolist())
    assert np.all(nz >= 0)
