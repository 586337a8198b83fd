"""One CNN training of bench_cnn.py (digits 0 vs 1, N = 80, conv(3,k=3)-maxpool(2)-flatten-dense(2)) with its
progress printed, to see where the time goes: ``PYTHONPATH=src python bench/cnn_80/unit_counts_trace.py 300``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_cnn import load_pair  # noqa: E402

from mipnet.arch import parse_architecture  # noqa: E402
from mipnet.network import Network  # noqa: E402
from mipnet.progress import LineDisplay  # noqa: E402
from mipnet.solvers import SolveOptions  # noqa: E402
from mipnet.train.config import TrainConfig  # noqa: E402
from mipnet.train.losses import Hinge  # noqa: E402
from mipnet.train.trainer import train_network  # noqa: E402


def main(time_limit: float) -> None:
    X, y, _, _ = load_pair((0, 1), 80)
    template = Network(parse_architecture("conv(3,k=3)-maxpool(2)-flatten-dense(2)"), (1, 8, 8))
    t0 = time.perf_counter()
    _, rep = train_network(template, X, y, Hinge(), TrainConfig(l1=0.001, filter_penalty=0.01),
                           options=SolveOptions(time_limit=time_limit), callback=LineDisplay(started=t0))
    print(rep.status, rep.objective, rep.bound, rep.solve_time, rep.total_time)
    for key, value in rep.extra.items():
        print(key, ":", value)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 300.0)
