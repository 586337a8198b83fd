"""Launch to first progress of ``mipnet train`` on the full breast-cancer data (569 x 30, scikit-learn), 4 hidden units,
default settings (issue 10, item 5), for one or more checkouts in one run.

Each checkout's command line runs as a separate process on a CSV of the raw features (its stdout a pipe, so progress
comes as plain lines); every line is timestamped from the process start. Reported per checkout: seconds to the first
progress line, to the first line of each phase (start, warm start, build, cut loop, primal search, solve), to the
first line with a network found (``*``), to the first line of the solver (the MIP has been built and the solver runs),
to the end; the build and solve times from the report; the status, the warm start's objective, the objective and the
bound.
The checkouts run one after the other, never together.

    python bench/bench_build.py --src /work/before-progress/src --src src --time-limit 60 [--json out.json]
        [--train-args='--l1 0.01']
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import commit_of, env_for

#: a progress line, before (solver lines ``  *      1.2s  incumbent ...``) and after (``  *     0.1s  warm start ...``)
PROGRESS = re.compile(r"^\s+\*?\s+\d+\.\d+s\s")
#: a progress line with a better network (``*``)
INCUMBENT = re.compile(r"^\s+\*\s+\d+\.\d+s\s")
#: a line of the solver: the only progress line before; the ``solve`` phase after
SOLVER = re.compile(r"^\s+\*?\s+\d+\.\d+s\s+(incumbent|solve)")
#: the phases of a run as the progress lines name them (:class:`mipnet.progress.Phase`)
PHASES = ("start", "warm start", "build", "cut loop", "primal search", "solve")
#: a progress line's phase
PHASE = re.compile(r"^\s+\*?\s+\d+\.\d+s\s+(" + "|".join(PHASES) + r")\b")


def write_data(path: Path) -> tuple[int, int]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{j}" for j in range(data.data.shape[1])] + ["diagnosis"])
        for x, t in zip(data.data, data.target):
            w.writerow([*map(repr, map(float, x)), int(t)])
    return data.data.shape


def run(src: str, data: Path, time_limit: float, hidden: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-u", "-c", "import sys; from mipnet.cli import main; sys.exit(main())", "train", str(data),
           "--target", "diagnosis", "--hidden", str(hidden), "--time-limit", str(time_limit), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(src))
    lines = [(time.perf_counter() - t0, line.rstrip("\n")) for line in proc.stdout]
    err = proc.stderr.read()
    rc = proc.wait()
    total = time.perf_counter() - t0
    first = next((t for t, line in lines if PROGRESS.match(line)), None)
    first_incumbent = next((t for t, line in lines if INCUMBENT.match(line)), None)
    first_solver = next((t for t, line in lines if SOLVER.match(line)), None)
    phases: dict[str, float] = {}
    for t, line in lines:
        m = PHASE.match(line)
        if m:
            phases.setdefault(m.group(1), t)
    text = "\n".join(line for _, line in lines)
    warm = re.search(r"^warm start\s+objective (\S+)", text, re.M)
    times = re.search(r"time\s+solve ([\d.]+)s, build ([\d.]+)s, total ([\d.]+)s", text)
    status = re.search(r"^status\s+(.*)$", text, re.M)
    objective = re.search(r"^objective\s+(\S+)\s+best bound (\S+)\s+gap (\S+)", text, re.M)
    return {"src": src, "rc": rc, "stderr": err[-500:], "first_progress_s": first, "first_incumbent_s": first_incumbent,
            "first_solver_line_s": first_solver, "first_line_per_phase_s": phases,
            "warm_start_objective": warm.group(1) if warm else None,
            "end_s": total, "progress_lines": sum(bool(PROGRESS.match(line)) for _, line in lines),
            "solve_s": float(times.group(1)) if times else None, "build_s": float(times.group(2)) if times else None,
            "status": status.group(1) if status else None,
            "objective": objective.group(1) if objective else None, "bound": objective.group(2) if objective else None,
            "gap": objective.group(3) if objective else None,
            "commit": commit_of(src)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", action="append", required=True, help="a checkout's src folder (repeatable)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--hidden", type=int, default=4)
    ap.add_argument("--json", default=None)
    ap.add_argument("--train-args", default="", help="more options for `mipnet train`, e.g. --train-args='--l1 0.01'")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "breast_cancer.csv"
        shape = write_data(data)
        results = [run(src, data, args.time_limit, args.hidden, args.train_args.split()) for src in args.src]
    from importlib.metadata import version

    import highspy  # noqa: F401

    info = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}", "highspy": version("highspy"), "numpy": version("numpy"),
            "scipy": version("scipy"), "data": f"breast cancer {shape[0]} x {shape[1]}",
            "hidden": args.hidden, "time_limit": args.time_limit, "train_args": args.train_args,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(info))
    print("| checkout | commit | first progress line | first incumbent line | first solver line | end | build (report) "
          "| solve (report) | progress lines | status | warm start objective | objective | bound | gap |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def s(v: float | None) -> str:
        return "none" if v is None else f"{v:.2f} s"

    for r in results:
        print(f"| {r['src']} | {r['commit']} | {s(r['first_progress_s'])} | {s(r['first_incumbent_s'])} | "
              f"{s(r['first_solver_line_s'])} | "
              f"{s(r['end_s'])} | {s(r['build_s'])} | {s(r['solve_s'])} | {r['progress_lines']} | {r['status']} | "
              f"{r['warm_start_objective']} | {r['objective']} | {r['bound']} | {r['gap']} |")
        if r["rc"] != 0:
            print(f"  exit {r['rc']}: {r['stderr']}")
    print()
    print("| checkout | commit | " + " | ".join(f"first {p} line" for p in PHASES) + " |")
    print("|---|---|" + "---|" * len(PHASES))
    for r in results:
        print(f"| {r['src']} | {r['commit']} | " + " | ".join(s(r["first_line_per_phase_s"].get(p)) for p in PHASES)
              + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
