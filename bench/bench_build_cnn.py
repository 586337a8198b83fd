"""Build time and peak memory of the CNN training MIP (issue 14, item 4), for one or more checkouts in one run.

Architecture ``conv(3,k=3)-maxpool(2)-flatten-dense(1)`` on scikit-learn digits 3 vs 8 (8x8, scaled to [0, 1]),
hinge loss, ``l1=0.001``, ``filter_penalty=0.01``, ``weights="auto"``, the projected warm start as MIP start. For
each checkout and each N, a fresh process (``PYTHONPATH`` = the checkout's ``src``) measures, after the warm start:

* ``build_s``: :class:`~mipnet.train.formulation.TrainingFormulation` (every layer encoder, the loss, the start
  values recorded), plus the start vector;
* ``handoff_s``: the model handed to HiGHS: the sparse matrix (:meth:`MIPModel.matrix`), the objective vector,
  ``passModel`` (``pass_model``; ``highs_lp`` in older checkouts) and the start (``setSolution``), i.e. everything
  the backend does before the solver's own work;
* ``peak_mib``: the peak of Python allocations during both (``tracemalloc``, numpy arrays included), and the
  process's maximum resident size at the end (``ru_maxrss``);
* the MIP's size.

The checkouts run one after the other, never together::

    python bench/bench_build_cnn.py --src /work/wt-cnnprimal-before/src --src src --sizes 80,200 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from checkouts import probe

CHILD = r'''
import json, resource, sys, time, tracemalloc
import numpy as np
from sklearn.datasets import load_digits
from mipnet.arch import parse_architecture
from mipnet.network import Network
from mipnet.solvers import highs as highs_backend
from mipnet.solvers.highs import new_highs
from mipnet.train.config import TrainConfig
from mipnet.train.domains import resolve_domains
from mipnet.train.formulation import TrainingFormulation, is_prunable
from mipnet.train.losses import Hinge
from mipnet.train.warmstart_cnn import warm_start_layers
import highspy

n = int(sys.argv[1])
d = load_digits()
keep = np.flatnonzero(np.isin(d.target, (3, 8)))
rng = np.random.default_rng(0)
rng.shuffle(keep)
X = d.images[keep][:n, None] / 16.0
y = (d.target[keep][:n] == 8).astype(int)
template = Network(parse_architecture("conv(3,k=3)-maxpool(2)-flatten-dense(1)"), (1, 8, 8))
config = TrainConfig(l1=0.001, filter_penalty=0.01)
domains = resolve_domains(config.weights, 2, 1, True)
prunable = [is_prunable(template, config, layer) for layer in template.affine_layers()]
warm, value = warm_start_layers(template, X, y, Hinge(), config, domains, prunable)
tracemalloc.start()
t0 = time.perf_counter()
form = TrainingFormulation(template, X, y, Hinge(), config, domains, warm=warm, incumbent=value)
start = form.start_vector()
t1 = time.perf_counter()
m = form.m
h = new_highs(False)
lb, ub = m.bounds()
A, lo, hi = m.matrix()
if hasattr(highs_backend, "pass_model"):
    highs_backend.pass_model(h, lb, ub, A, lo, hi, m.objective_vector(), float(m.obj_constant), m.integrality())
else:   # checkouts before the array hand-off
    h.passModel(highs_backend.highs_lp(lb, ub, A, lo, hi, m.objective_vector(), float(m.obj_constant),
                                       m.integrality()))
sol = highspy.HighsSolution()
sol.col_value = np.asarray(start, dtype=float).tolist()
sol.value_valid = True
h.setSolution(sol)
t2 = time.perf_counter()
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"n": n, "build_s": t1 - t0, "handoff_s": t2 - t1, "peak_mib": peak / 2**20,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **m.size()}))
'''


def run(src: str, n: int) -> dict:
    return probe(src, CHILD, str(n), check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", action="append", required=True, help="a checkout's src folder (repeatable)")
    ap.add_argument("--sizes", default="80,200")
    ap.add_argument("--repeat", type=int, default=1, help="runs per checkout and size (the fastest is kept)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for src in args.src:
            runs = [run(src, n) for _ in range(args.repeat)]
            rows.append(min(runs, key=lambda r: r["build_s"] + r["handoff_s"]))
    print("| N | checkout | commit | build (s) | hand-off to HiGHS (s) | peak Python memory (MiB) | max RSS (MiB) | "
          "variables | binaries | rows | nonzeros |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['src']} | {r['commit']} | {r['build_s']:.3f} | {r['handoff_s']:.3f} | "
              f"{r['peak_mib']:.1f} | {r['maxrss_mib']:.0f} | {r['variables']} | {r['binaries']} | "
              f"{r['constraints']} | {r['nonzeros']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
