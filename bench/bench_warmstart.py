"""The warm start of the decomposition by output signs alone (``sign_output_starts``, no time limit) on the full
breast-cancer data (569 x 30, scaled to [-1, 1] as ``mipnet train --scale minmax`` does), 4 hidden units, default
settings (issue 10): where the time before the first solver line goes, for one or more checkouts in one run.

Each checkout runs in its own process (``PYTHONPATH`` its ``src``), one after the other. Reported: the warm start's
seconds, the LP polishings (how many, seconds inside them), the best start's objective and each pattern's, and the
seconds to the best start's event.

    python bench/bench_warmstart.py --src /work/wt-firsthour-before/src --src src [--hidden 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from checkouts import probe

#: run in each checkout's process: prints one JSON line
PROBE = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import load_breast_cancer
from mipnet import Dense, Network
from mipnet.model import Scaler
from mipnet.progress import TrainProgress
from mipnet.train.config import TrainConfig
import mipnet.train.warmstart as ws

hidden = int(sys.argv[1])
X, y = load_breast_cancer(return_X_y=True)
X = Scaler.fit("minmax", X).transform(X)
template = Network([Dense(hidden, relu=True), Dense(1, relu=False)], (X.shape[1],))
lp = {"n": 0, "s": 0.0}
real = ws._polish_lp

def timed(*args, **kwargs):
    t = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        lp["n"] += 1
        lp["s"] += time.perf_counter() - t

ws._polish_lp = timed
events = []
t0 = time.perf_counter()
out = ws.sign_output_starts(template, X, y, TrainConfig(), progress=TrainProgress(events.append, started=t0))
total = time.perf_counter() - t0
better = [e for e in events if e.improved]
print(json.dumps({"warm_start_s": total, "lp_polishings": lp["n"], "lp_s": lp["s"],
                  "best": min(v for _, v in out.values()), "per_pattern": [out[k][1] for k in sorted(out)],
                  "best_found_s": better[-1].elapsed if better else None, "events": len(events)}))
"""


def run(src: str, hidden: int) -> dict:
    return probe(src, PROBE, str(hidden))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", action="append", required=True, help="a checkout's src folder (repeatable)")
    ap.add_argument("--hidden", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = [run(src, args.hidden) for src in args.src]
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "hidden": args.hidden}))
    print("| checkout | commit | warm start | LP polishings | in the LPs | best start | per pattern k=0.. "
          "| best found at |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['src']} | error: {r['error']} |")
            continue
        print(f"| {r['src']} | {r['commit']} | {r['warm_start_s']:.1f} s | {r['lp_polishings']} | {r['lp_s']:.1f} s | "
              f"{r['best']:.7g} | {', '.join(f'{v:.5g}' for v in r['per_pattern'])} | {r['best_found_s']:.1f} s |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
