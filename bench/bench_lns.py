"""Large-neighbourhood search on and off (issue 14, item 3): digits 3 vs 8 (``bench_cnn.load_pair``: seeded
shuffle, a balanced training set of N, the rest held out), conv(3,k=3)-maxpool(2)-flatten-dense(1), hinge,
filter_penalty 0.01, l1 0.001, HiGHS, one thread.

Usage: ``PYTHONPATH=src python bench/bench_lns.py none|lns|auto TIME_LIMIT [N]`` (one JSON line per run; N = 40).
"""
import json
import sys

from bench_cnn import accuracy, load_pair

from mipnet import Network
from mipnet.arch import parse_architecture
from mipnet.solvers import SolveOptions
from mipnet.train.config import PrimalSearch, TrainConfig
from mipnet.train.losses import Hinge
from mipnet.train.trainer import train_network

primal, T = PrimalSearch(sys.argv[1]), float(sys.argv[2])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 40
X, y, Xt, yt = load_pair((3, 8), N)
template = Network(parse_architecture("conv(3,k=3)-maxpool(2)-flatten-dense(1)"), (1, 8, 8))
cfg = TrainConfig(l1=0.001, filter_penalty=0.01, primal=primal)
net, rep = train_network(template, X, y, Hinge(), cfg, options=SolveOptions(time_limit=T))
print(json.dumps({"primal": str(primal), "time_limit": T, "n": N, "status": str(rep.status),
                  "objective": rep.objective, "bound": rep.bound, "warm_start_objective": rep.warm_start_objective,
                  "test_acc": accuracy(net, Xt, yt)}))
