"""Dense training with neuron gates: the full MIP against the decomposition by the number of active hidden units
(``mipnet.train.sign_patterns.unit_counts``), side by side in one run.

Breast cancer (scikit-learn), 10 standardised features scaled to [-1, 1], a fixed shuffle, the first N samples;
``Dense(h)-Dense(1)`` (continuous first layer, ``sign`` head), hinge loss, ``l1 = 0.01``, ``neuron_penalty = 0.02``,
120 s per solve, one thread. ``decompose=False`` is the full MIP (what this architecture got before the
decomposition); ``decompose=True`` the decomposition.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/bench_unit_counts.py --out bench/unit_counts_dense.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mipnet import Dense, Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import TrainConfig
from mipnet.train.losses import Hinge
from mipnet.train.trainer import train_network

CASES = ((40, 3), (80, 3), (40, 5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=Path("bench/unit_counts_dense.jsonl"))
    args = ap.parse_args()
    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X))
    idx = np.random.default_rng(0).permutation(len(X))
    X, y = X[idx][:, :10], y[idx]
    with args.out.open("w") as fh:
        for n, h in CASES:
            for decompose in (False, True):
                cfg = TrainConfig(l1=0.01, neuron_penalty=0.02, decompose=decompose)
                t0 = time.perf_counter()
                _, rep = train_network(Network([Dense(h), Dense(1)], 10), X[:n], y[:n], Hinge(), cfg,
                                       options=SolveOptions(time_limit=args.time_limit, threads=1))
                rec = {"n": n, "hidden": h, "decompose": decompose, "decomposition": rep.extra.get("decomposition"),
                       "status": rep.status, "objective": rep.objective, "bound": rep.bound, "gap": rep.gap,
                       "time": round(time.perf_counter() - t0, 1), "certificate": rep.certificate["ok"]}
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
