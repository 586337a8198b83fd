"""Verification benchmark on the real ACAS Xu networks (../shared/external/acasxu): mipnet, OMLT, Marabou, NeuralSAT.

Instances: properties 1-4 on each of the 9 networks present, plus the runnable pairs 5/N11, 6/N11, 7/N19, 8/N29,
9/N33, 10/N45 (the data README). Each tool gets the same per-instance time limit and one thread; every answer
is recorded (holds / violated / unknown) with its time. A "violated" answer from either tool is re-checked here
with ``Network.forward``; a disagreement between two definite answers is flagged.

Usage (run from the repository root)::

    PYTHONPATH=src python bench/bench_verify.py --tool mipnet --time-limit 30 --out bench/out_mipnet.jsonl
    PYTHONPATH=src python bench/bench_verify.py --tool omlt   --time-limit 30 --out bench/out_omlt.jsonl
    PYTHONPATH=src python bench/bench_verify.py --tool marabou --time-limit 30 --out bench/out_marabou.jsonl
    PYTHONPATH=src python bench/bench_verify.py --tool neuralsat --time-limit 30 --out bench/out_neuralsat.jsonl
    PYTHONPATH=src python bench/bench_verify.py --summarize bench/out_mipnet.jsonl bench/out_omlt.jsonl \\
        bench/out_marabou.jsonl
    PYTHONPATH=src python bench/bench_verify.py --quick ...      # 6 instances
    PYTHONPATH=src python bench/bench_verify.py --tool mipnet,marabou,neuralsat,mipnet-mip --time-limit 116 \\
        --out bench/acas_116     # several tools in one run, interleaved instance by instance

OMLT (``pip install omlt pyomo``) encodes each network with its ``ReluBigMFormulation`` (interval bounds from the
input box) and solves each disjunct of the property as a feasibility MIP with HiGHS (pyomo ``appsi_highs``).

Marabou (maraboupy 2.0, ``pip install maraboupy``) reads the same ONNX file (``Marabou.read_onnx``) and solves each
disjunct as one query (box rows as input bounds, the other rows as ``addInequality``), one worker, the time limit
shared across disjuncts; a ``sat`` point counts only once mipnet's forward pass confirms it (see ``run_marabou``).

NeuralSAT (``../shared/peers/neuralsat``, after its ``setup.sh``) reads the same ONNX and VNN-LIB files; its time is
its own clock (``wall`` in the records adds its ~7 s start-up).

The adapters and the summary table live in ``bench/peers.py`` (shared with ``bench/bench_robust.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from peers import confirm, result_files, run_interleaved, run_marabou, run_mipnet, run_neuralsat, run_omlt, summarize

from mipnet.io import load_any, load_vnnlib

ROOT = Path(__file__).resolve().parents[1]
ACAS = ROOT / ".." / "shared" / "external" / "acasxu"
NETS = ["1_1", "1_7", "1_9", "2_1", "2_9", "3_3", "4_2", "4_5", "5_3"]
EXTRA = [("1_1", 5), ("1_1", 6), ("1_9", 7), ("2_9", 8), ("3_3", 9), ("4_5", 10)]
TOOLS = ("mipnet", "mipnet-2threads", "mipnet-mip", "omlt", "marabou", "neuralsat")
QUICK = [("1_1", 3), ("1_1", 4), ("2_9", 2), ("1_7", 3), ("2_9", 8), ("4_2", 4)]


def instances(quick: bool) -> list[tuple[str, int]]:
    if quick:
        return QUICK
    return [(n, p) for p in (1, 2, 3, 4) for n in NETS] + EXTRA


def onnx_path(net_id: str) -> Path:
    return ACAS / "onnx" / f"ACASXU_run2a_{net_id}_batch_2000.onnx"


def run_tool(tool: str, net_id: str, p: int, time_limit: float) -> dict:
    """One tool on one instance (network ``net_id``, property ``p``); a violated answer is re-checked here."""
    net = load_any(onnx_path(net_id))
    spec = ACAS / "vnnlib" / f"prop_{p}.vnnlib"
    prop = load_vnnlib(spec, 5, 5)
    if tool == "neuralsat":
        r = run_neuralsat(onnx_path(net_id), spec, net, prop, time_limit)
    elif tool == "omlt":
        r = run_omlt(net, prop, time_limit)
    elif tool == "marabou":
        r = run_marabou(onnx_path(net_id), net, prop, time_limit)
    elif tool == "mipnet-mip":
        r = run_mipnet(net, prop, time_limit, "mip")
    elif tool == "mipnet-2threads":
        r = run_mipnet(net, prop, time_limit, "auto", threads=2)
    else:
        r = run_mipnet(net, prop, time_limit, "auto")
    if r["status"] == "violated":     # re-check every counterexample here, whatever the tool
        r["rechecked"] = confirm(net, prop, r["x"]) is not None
    rec = {"tool": tool, "net": net_id, "prop": p, "time_limit": time_limit, **r}
    rec.pop("x")
    return rec


def bench(tools: list[str], time_limit: float, quick: bool, outs: list[Path],
          only: list[tuple[str, int]] | None = None) -> None:
    """Every instance by every tool, interleaved (instance by instance), so a change in the machine's load falls on
    all tools alike; one JSON-lines file per tool."""
    if not ACAS.is_dir():
        sys.exit(f"ACAS Xu data not found at {ACAS}")
    run_interleaved(only or instances(quick), tools, outs,
                    lambda tool, case: run_tool(tool, case[0], case[1], time_limit),
                    lambda r: f"{r['tool']:10s} N{r['net']} prop {r['prop']:2d}: {r['status']:8s} {r['time']:7.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default="mipnet",
                    help="a tool, or several separated by commas (run interleaved, instance by instance): "
                         "mipnet, mipnet-2threads (threads=2), mipnet-mip, omlt, marabou, neuralsat")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="6 instances only")
    ap.add_argument("--out", type=Path, default=None,
                    help="the result file (one tool), or with several tools a folder for out_<tool>.jsonl files")
    ap.add_argument("--instances", help="comma-separated NET:PROP pairs, e.g. 1_1:2,3_3:9 (instead of the set)")
    ap.add_argument("--summarize", nargs="+", type=Path, help="print a markdown table from result files")
    args = ap.parse_args()
    if args.summarize:
        print(summarize(args.summarize, net_prefix="N"))
        return
    only = None
    if args.instances:
        only = [(item.split(":")[0], int(item.split(":")[1])) for item in args.instances.split(",")]
    tools = [t.strip() for t in args.tool.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        ap.error(f"unknown tool {unknown}; choose from {', '.join(TOOLS)}")
    bench(tools, args.time_limit, args.quick, result_files(tools, args.out, ROOT / "bench", "out_"), only)


if __name__ == "__main__":
    main()
