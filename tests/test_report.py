"""The training report: one line per sign-pattern sub-problem with its root cuts, and its pictures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnet import Dense, MIPNetClassifier, Network
from mipnet.errors import SettingsError
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network


def test_report_lists_every_sign_pattern_with_its_cuts(bc_subset) -> None:
    X, y = bc_subset(20, 4, 2)
    template = Network([Dense(2), Dense(1)], X.shape[1])
    _, rep = train_network(template, X, y, make_loss("hinge"), TrainConfig(l1=0.01),
                           options=SolveOptions(time_limit=60, threads=1))
    subs = rep.extra["sub_problems"]
    assert sorted(s["k"] for s in subs) == [0, 1, 2]
    text = str(rep)
    for s in subs:
        assert f"sign pattern k={s['k']}: {s['status']}" in text
        assert s["cuts"] is not None and s["cuts"]["rounds"] >= 0
        if "objective" not in s:  # closed by the cut loop: its safe bound reached the cutoff
            assert s["status"].startswith("closed") and s["bound"] >= s["cutoff"]
            assert math.isfinite(s["bound"])
    assert "root cuts:" in text
    assert rep.proved_optimal
    assert "active filters" not in text and "[] of []" not in text   # a dense network has no filters


def test_history_is_since_training_began_and_ends_at_the_result(bc_subset) -> None:
    X, y = bc_subset(16, 3, 1)
    for config in (TrainConfig(l1=0.01), TrainConfig(l1=0.01, decompose=False)):   # decomposed and one MIP
        _, rep = train_network(Network([Dense(2), Dense(1)], X.shape[1]), X, y, make_loss("hinge"), config,
                               options=SolveOptions(time_limit=30, threads=1))
        h = rep.history
        assert h and all(len(p) == 3 for p in h)
        times = [t for t, _, _ in h]
        assert times == sorted(times) and 0 <= times[0] and times[-1] <= rep.total_time
        incumbents = [inc for _, inc, _ in h if math.isfinite(inc)]
        assert min(incumbents) >= rep.objective - 1e-6 * (1 + abs(rep.objective))   # never below the result
        bounds = [b for _, _, b in h if math.isfinite(b)]
        assert max(bounds) <= rep.objective + 1e-6 * (1 + abs(rep.objective))      # a bound, never above it
        assert h[-1][1] == pytest.approx(rep.objective, rel=1e-9) and "history" in rep.as_dict()
        assert "network" not in rep.as_dict()


def test_report_plot_draws_the_fitted_network_and_its_progress(tmp_path) -> None:
    """``report_.plot()`` of a fitted estimator: the network with the feature names, then the progress, as files."""
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MIPNetClassifier(hidden=(2,), time_limit=10).fit(X, y)
    fig = clf.report_.plot(out=tmp_path / "net.png")
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"x0", "x1", "x2", "output 0"} <= texts
    assert (tmp_path / "net.png").read_bytes().startswith(b"\x89PNG")
    clf.report_.plot("progress", out=tmp_path / "progress.svg")
    assert (tmp_path / "progress.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(SettingsError, match="unknown plot kind"):
        clf.report_.plot("sweep-of-nothing")
