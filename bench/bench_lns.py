"""Large-neighbourhood search on and off (issue 14, item 3): digits 3 vs 8, N = 40 (seeded shuffle, the rest held
out), conv(3,k=3)-maxpool(2)-flatten-dense(1), hinge, filter_penalty 0.01, l1 0.001, HiGHS, one thread.

Usage: ``PYTHONPATH=src python bench/bench_lns.py none|lns|auto TIME_LIMIT`` (one JSON line per run).
"""
import json
import sys

import numpy as np
from sklearn.datasets import load_digits

from mipnet import Network
from mipnet.arch import parse_architecture
from mipnet.solvers import SolveOptions
from mipnet.train.config import PrimalSearch, TrainConfig
from mipnet.train.losses import Hinge
from mipnet.train.trainer import train_network

d = load_digits()
idx = np.flatnonzero(np.isin(d.target, (3, 8)))
rng = np.random.default_rng(0)
rng.shuffle(idx)
tr, te = idx[:40], idx[40:]
X, y = d.images[tr][:, None] / 16.0, (d.target[tr] == 8).astype(int)
Xt, yt = d.images[te][:, None] / 16.0, (d.target[te] == 8).astype(int)
primal, T = PrimalSearch(sys.argv[1]), float(sys.argv[2])
template = Network(parse_architecture("conv(3,k=3)-maxpool(2)-flatten-dense(1)"), (1, 8, 8))
cfg = TrainConfig(l1=0.001, filter_penalty=0.01, primal=primal)
net, rep = train_network(template, X, y, Hinge(), cfg, options=SolveOptions(time_limit=T))
acc = float(((net.forward(Xt)[:, 0] > 0).astype(int) == yt).mean())
print(json.dumps({"primal": str(primal), "time_limit": T, "status": str(rep.status), "objective": rep.objective,
                  "bound": rep.bound, "warm_start_objective": rep.warm_start_objective, "test_acc": acc}))
