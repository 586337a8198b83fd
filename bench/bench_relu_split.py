"""ReLU-splitting branch and bound with and without the splits' multipliers (beta-CROWN), one run.

For random dense ReLU networks on the box ``[-1, 1]^n``, the exact minimum of output 0 is found by the exact MIP
(``verify.output_bounds``); the property "output 0 <= min - gap" (empty) is then decided by
:class:`mipnet.verify.bab.DisjunctSearch` with ReLU branching and no MIP leaves, in two settings of the same code:

* ``alpha``: 8 slope steps per batch, multipliers fixed at 0 (``beta_lr=0``): the search before beta-CROWN;
* ``beta``: ``BabOptions()`` defaults for ReLU branching (``relu_iterations`` slope and multiplier steps).

Printed per case: answer, sub-problems, LP leaves, seconds. Usage::

    PYTHONPATH=src python bench/bench_relu_split.py [--time-limit 120]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mipnet import Dense, Network, verify
from mipnet.clock import Clock
from mipnet.io import parse_vnnlib
from mipnet.verify.bab import BabOptions, Branching, DisjunctSearch

CASES = [((3, 8, 8, 2), s, 0.02) for s in range(4)] + [((4, 10, 10, 3), s, 0.02) for s in range(2)] + \
        [((5, 16, 16, 2), 0, 0.05)]


def _net(sizes: tuple, seed: int) -> Network:
    """The tests' random network (tests/conftest.py ``dense_net``): ReLU on every hidden layer."""
    rng = np.random.default_rng(seed)
    layers = [Dense(o, weight=rng.normal(size=(o, i)) / np.sqrt(i), bias=rng.normal(size=o) * 0.3)
              for i, o in zip(sizes[:-1], sizes[1:])]
    return Network(layers, sizes[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=120.0)
    args = ap.parse_args()
    settings = {"alpha": BabOptions(branching=Branching.RELU, mip_threshold=0, relu_iterations=8, beta_lr=0.0),
                "beta": BabOptions(branching=Branching.RELU, mip_threshold=0)}
    print("| network | seed | gap | setting | answer | sub-problems | LP leaves | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for sizes, seed, gap in CASES:
            net = _net(sizes, seed)
            n = sizes[0]
            exact = verify.output_bounds(net, -np.ones(n), np.ones(n), time_limit=120)
            c = float(exact.lower[0]) - gap
            text = "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + \
                "".join(f"(declare-const Y_{j} Real)\n" for j in range(sizes[-1])) + \
                "".join(f"(assert (>= X_{i} -1.0)) (assert (<= X_{i} 1.0))\n" for i in range(n)) + \
                f"(assert (<= Y_0 {c!r}))\n"
            d = parse_vnnlib(text).disjuncts[0]
            for name, opts in settings.items():
                t = time.perf_counter()
                status, _, stats = DisjunctSearch(net, d, -np.ones(n), np.ones(n), opts).run(Clock(args.time_limit))
                print(f"| {'-'.join(map(str, sizes))} | {seed} | {gap} | {name} | {status} | {stats['subproblems']} | "
                      f"{stats['lp_leaves']} | {time.perf_counter() - t:.1f} |", flush=True)


if __name__ == "__main__":
    main()
