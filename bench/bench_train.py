"""Dense training benchmark (issue 2): time to proven optimality, naive formulation vs the default (fast) one.

Breast cancer (scikit-learn), standardised then scaled to [-1, 1], the first N rows; one hidden layer of H
ReLU units, one output with sign weights; hinge loss + 0.01 * L1; HiGHS with 1 thread. Each grid point runs
the naive model (``TrainConfig.naive``: big-M from per-sample interval bounds, no warm start, no symmetry
handling, one MIP) and the default configuration, in the same run. Times are wall-clock totals of
``train_network`` (warm start, model building and every solve included).

    PYTHONPATH=src python bench/bench_train.py [--time-limit 300] [--grid 40x2,40x4,80x4,160x4]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from mipnet.train.config import TrainConfig
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
            "proved": rep.proved_optimal, "cert": rep.certificate["ok"], "nodes": rep.nodes}


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


def ratio(naive: dict, ours: dict) -> str:
    if not ours["proved"]:
        return "n/a (ours not proved)"
    r = naive["time"] / ours["time"]
    return f"{r:.1f}x" if naive["proved"] else f"≥ {r:.1f}x"


def fmt(r: dict) -> str:
    return f"{r['time']:.1f} s | {r['status']} | {r['objective']:.6f}"


def table(rows: list[tuple[int, int, dict, dict]]) -> str:
    lines = ["| N | H | naive time | naive status | naive objective | ours time | ours status | ours objective "
             "| speed-up | same optimum |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, h, a, b in rows:
        if a["proved"] and b["proved"]:
            same = "yes" if abs(a["objective"] - b["objective"]) <= 1e-6 * max(abs(a["objective"]), 1e-12) else "NO"
        elif b["proved"]:
            same = "ours ≤ naive" if b["objective"] <= a["objective"] + 1e-9 else "NO"
        else:
            same = "-"
        lines.append(f"| {n} | {h} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} | {same} |")
    return "\n".join(lines)


def median_ratio(rows: list[tuple[int, int, dict, dict]]) -> str:
    vals = [a["time"] / b["time"] for _, _, a, b in rows if b["proved"]]
    if len(vals) < len(rows):
        return "n/a (not every grid point proved by ours)"
    lower = any(not a["proved"] for _, _, a, _ in rows)
    return ("≥ " if lower else "") + f"{float(np.median(vals)):.1f}x"


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per training run (default 300)")
    ap.add_argument("--grid", default="40x2,40x4,80x4,160x4", help="comma-separated NxH")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args(argv)
    grid = [tuple(int(v) for v in g.split("x")) for g in args.grid.split(",")]
    X, y = data()
    rows = []
    for n, h in grid:
        a = run(X, y, n, h, TrainConfig.naive(l1=L1), args.time_limit)
        print(f"N={n} H={h} naive: {fmt(a)}", flush=True)
        b = run(X, y, n, h, TrainConfig(l1=L1), args.time_limit)
        print(f"N={n} H={h} ours:  {fmt(b)}  ({ratio(a, b)})", flush=True)
        rows.append((n, h, a, b))
    from importlib.metadata import version

    md = table(rows)
    cmd = "PYTHONPATH=src python bench/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([
        HEADING, "",
        "Time to proven optimality (wall clock, warm start and model building included), breast cancer "
        "(scikit-learn, standardised, scaled to [-1, 1], first N rows), one hidden layer of H ReLU units, sign "
        f"output weights, hinge loss + {L1} * L1, weight bound 1, HiGHS 1 thread, relative MIP gap {MIP_GAP:g}, "
        f"time limit {args.time_limit:g} s per run. naive = `TrainConfig.naive()` (big-M from per-sample interval "
        "bounds, no warm start, no symmetry handling); ours = `TrainConfig()` defaults (LP-polished warm starts, "
        "exact decomposition by output signs with cutoffs, one-sided ReLUs, secant and pair rows, L1-budget big-M, "
        "HiGHS heuristics off in the sub-problems). A naive run stopped by the time limit makes the speed-up a "
        "lower bound (≥).",
        "",
        f"- command: `{cmd.strip()}`",
        f"- machine: {machine()} (shared with other jobs: timings are noisy)",
        f"- HiGHS (highspy) {version('highspy')}",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        md, "",
        f"Median speed-up over the grid: {median_ratio(rows)}.", ""])
    print("\n" + md + f"\n\nmedian speed-up: {median_ratio(rows)}")
    write_section(Path(args.out), text)


if __name__ == "__main__":
    main()
