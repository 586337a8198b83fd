"""Dense training benchmark (issue 2): time to proven optimality, naive formulation vs the default (fast) one.

Breast cancer (scikit-learn), standardised then scaled to [-1, 1], the first N rows; one hidden layer of H
ReLU units, one output with sign weights; hinge loss + 0.01 * L1; HiGHS with 1 thread. Each grid point runs
the naive model (``TrainConfig.naive``: big-M from per-sample interval bounds, no warm start, no symmetry
handling, one MIP), the previous default ("before": no root cuts) and the default configuration, in the same
run. Times are wall-clock totals of ``train_network`` (warm start, model building and every solve included).

    PYTHONPATH=src python bench/bench_train.py [--time-limit 300] [--grid 40x2,40x4,80x4,160x4]
        [--variants naive,before,ours] [--json OUT.json]      # run (with --json: only save the raw results)
    PYTHONPATH=src python bench/bench_train.py --merge A.json B.json   # table from runs made in parallel
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mipnet import Dense, Network
from mipnet.solvers import SolveOptions
from mipnet.train.config import SignPatternOptions, TrainConfig
from mipnet.train.losses import make_loss
from mipnet.train.trainer import train_network

HEADING = "## Dense training (issue 2)"
L1 = 0.01
MIP_GAP = 1e-6


def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X)), y


def run(X: np.ndarray, y: np.ndarray, n: int, h: int, config: TrainConfig, time_limit: float) -> dict:
    template = Network([Dense(h), Dense(1)], X.shape[1])
    t0 = time.perf_counter()
    _, rep = train_network(template, X[:n], y[:n], make_loss("hinge"), config,
                           options=SolveOptions(time_limit=time_limit, threads=1, mip_gap=MIP_GAP))
    return {"time": time.perf_counter() - t0, "status": rep.status, "objective": rep.objective, "bound": rep.bound,
            "gap": rep.gap, "proved": rep.proved_optimal, "cert": rep.certificate["ok"], "nodes": rep.nodes}


def machine() -> str:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        model = m.group(1).strip() if m else ""
    except OSError:
        pass

    cpu = model or platform.processor() or "unknown CPU"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


#: the configurations compared: the naive model, the previous default (before the root cut loop: pair rows
#: instead) and the current default
VARIANTS = {
    "naive": lambda: TrainConfig.naive(l1=L1),
    "before": lambda: TrainConfig(l1=L1, sign_patterns=SignPatternOptions(relu_cuts=False)),
    "ours": lambda: TrainConfig(l1=L1),
}


def ratio(slow: dict | None, fast: dict | None) -> str:
    if not slow or not fast:
        return "-"
    if not fast["proved"]:
        return "n/a (not proved)" if slow["proved"] else "n/a (neither proved)"
    r = slow["time"] / fast["time"]
    return f"{r:.1f}x" if slow["proved"] else f"≥ {r:.1f}x"


def fmt(r: dict | None) -> str:
    if not r:
        return "- | - | -"
    gap = f", gap {100 * r['gap']:.2f}%" if "gap" in r and np.isfinite(r["gap"]) else ""
    status = r["status"] if r["proved"] else f"{r['status']} (bound {r['bound']:.6f}{gap})"
    return f"{r['time']:.1f} s | {status} | {r['objective']:.6f}"


def same_optimum(rows: dict) -> str:
    proved = [r for r in rows.values() if r and r["proved"]]
    if len(proved) == 1:  # the proved optimum must not be above any other run's incumbent
        others = [r["objective"] for r in rows.values() if r and not r["proved"]]
        if not others:
            return "-"
        best = proved[0]["objective"]
        return "proved ≤ the others" if best <= min(others) + 1e-6 * max(abs(best), 1e-12) else "NO"
    if len(proved) < 2:
        return "-"
    objs = [r["objective"] for r in proved]
    ok = max(objs) - min(objs) <= 1e-6 * max(abs(min(objs)), 1e-12)
    return "yes" if ok else "NO"


def table(results: list[dict]) -> str:
    lines = ["| N | H | naive time | naive status | naive objective | before time | before status | before objective "
             "| ours time | ours status | ours objective | ours vs naive | ours vs before | same optimum |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        v = res["runs"]
        lines.append(f"| {res['n']} | {res['h']} | {fmt(v.get('naive'))} | {fmt(v.get('before'))} | "
                     f"{fmt(v.get('ours'))} | {ratio(v.get('naive'), v.get('ours'))} | "
                     f"{ratio(v.get('before'), v.get('ours'))} | {same_optimum(v)} |")
    return "\n".join(lines)


def median_ratio(results: list[dict]) -> str:
    pairs = [(r["runs"].get("naive"), r["runs"].get("ours")) for r in results]
    if any(a is None or b is None for a, b in pairs):
        return "n/a (not every grid point has both runs)"
    if not all(b["proved"] for _, b in pairs):
        return "n/a (not every grid point proved by ours)"
    vals = [a["time"] / b["time"] for a, b in pairs]
    lower = any(not a["proved"] for a, _ in pairs)
    return ("≥ " if lower else "") + f"{float(np.median(vals)):.1f}x"


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new)


def section(results: list[dict], commands: list[str], time_limit: float) -> str:
    from importlib.metadata import version

    md = table(results)
    return "\n".join([
        HEADING, "",
        "Time to proven optimality (wall clock, warm start and model building included), breast cancer "
        "(scikit-learn, standardised, scaled to [-1, 1], first N rows), one hidden layer of H ReLU units, sign "
        f"output weights, hinge loss + {L1} * L1, weight bound 1, HiGHS 1 thread, relative MIP gap {MIP_GAP:g}, "
        f"time limit {time_limit:g} s per run. naive = `TrainConfig.naive()` (big-M from per-sample interval "
        "bounds, no warm start, no symmetry handling, one MIP); before = the previous default (pair rows, no root "
        "cuts: `SignPatternOptions(relu_cuts=False)`); ours = "
        "`TrainConfig()` defaults (LP-polished warm starts, exact decomposition by output signs with cutoffs, "
        "one-sided ReLUs, secant rows, root cut loop with convex-combination ReLU cuts, "
        "L1-budget big-M, HiGHS heuristics off in the sub-problems). A slower run stopped by the time limit makes "
        "the speed-up a lower bound (≥).",
        "",
        *[f"- command: `{c}`" for c in commands],
        f"- machine: {machine()} (timings are noisy: see the notes below the table)",
        f"- HiGHS (highspy) {version('highspy')}",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        md, "",
        f"Median speed-up of ours over naive across the grid: {median_ratio(results)}.", ""])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per training run (default 300)")
    ap.add_argument("--grid", default="40x2,40x4,80x4,160x4", help="comma-separated NxH")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {list(VARIANTS)}")
    ap.add_argument("--json", help="also save the raw results here (to merge runs made in parallel)")
    ap.add_argument("--merge", nargs="+", help="write the section from saved --json files instead of running")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args(argv)
    cmd = "PYTHONPATH=src python bench/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.merge:
        saved = [json.loads(Path(f).read_text()) for f in args.merge]
        results = sorted((r for s in saved for r in s["results"]), key=lambda r: (r["n"], r["h"]))
        commands = [c for s in saved for c in s["commands"]] + [cmd.strip()]
        time_limit = saved[0]["time_limit"]
    else:
        grid = [tuple(int(v) for v in g.split("x")) for g in args.grid.split(",")]
        names = args.variants.split(",")
        X, y = data()
        results = []
        for n, h in grid:
            runs = {}
            for name in names:
                runs[name] = run(X, y, n, h, VARIANTS[name](), args.time_limit)
                print(f"N={n} H={h} {name}: {fmt(runs[name])}", flush=True)
            results.append({"n": n, "h": h, "runs": runs})
        commands, time_limit = [cmd.strip()], args.time_limit
        if args.json:
            Path(args.json).write_text(json.dumps({"results": results, "commands": commands,
                                                   "time_limit": time_limit}, indent=1))
    print("\n" + table(results) + f"\n\nmedian speed-up over naive: {median_ratio(results)}")
    if args.merge or not args.json:
        write_section(Path(args.out), section(results, commands, time_limit))


if __name__ == "__main__":
    main()
