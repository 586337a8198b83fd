"""The training report prints one line per sign-pattern sub-problem, with its root cuts."""

from __future__ import annotations

import math

from mipnet import Dense, Network
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
