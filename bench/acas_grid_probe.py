"""Where an ACAS Xu search spends its work: the property's box cut into a grid over two inputs, each cell searched
alone by the branch and bound (``DisjunctSearch``) for a few seconds.

    PYTHONPATH=src python bench/acas_grid_probe.py --net 3_3 --prop 2 --dims 1 2 --cells 4 --seconds 15

Prints, per cell, the answer (h: holds, u: unknown, v: violated), the seconds and the sub-problems bounded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mipnet.clock import Clock
from mipnet.io import load_network
from mipnet.io.vnnlib import parse_vnnlib
from mipnet.verify.bab import DisjunctSearch

ACAS = Path(__file__).resolve().parents[2] / "shared" / "external" / "acasxu"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="3_3")
    ap.add_argument("--prop", default="2")
    ap.add_argument("--dims", nargs=2, type=int, default=[1, 2])
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--root", type=Path, default=ACAS)
    args = ap.parse_args(argv)
    net = load_network(args.root / "onnx" / f"ACASXU_run2a_{args.net}_batch_2000.onnx")
    prop = parse_vnnlib((args.root / "vnnlib" / f"prop_{args.prop}.vnnlib").read_text(), net.n_inputs,
                        net.n_outputs)
    a, b = args.dims
    for d in prop.disjuncts:
        lo, hi = d.box()
        ea, eb = np.linspace(lo[a], hi[a], args.cells + 1), np.linspace(lo[b], hi[b], args.cells + 1)
        print(f"box {lo} .. {hi}; rows: x{a}, columns: x{b}")
        for i in range(args.cells):
            row = []
            for j in range(args.cells):
                cl, ch = lo.copy(), hi.copy()
                cl[a], ch[a], cl[b], ch[b] = ea[i], ea[i + 1], eb[j], eb[j + 1]
                t0 = time.perf_counter()
                status, _, stats = DisjunctSearch(net, d, cl, ch).run(Clock(args.seconds))
                row.append(f"{status[0]} {time.perf_counter() - t0:5.1f}s/{stats['subproblems']:>6}")
            print(f"x{a} in [{ea[i]:+.3f}, {ea[i + 1]:+.3f}]: " + "  ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
