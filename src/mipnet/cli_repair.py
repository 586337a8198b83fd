"""The ``mipnet repair`` subcommand.

::

    mipnet repair net.onnx prop.vnnlib --layers 1 --norm l1 --out repaired.onnx
    mipnet repair net.nnet prop.vnnlib --reference inputs.csv --decision argmin --time-limit 600

Reads ONNX, NNet or a mipnet JSON network; changes the weights and biases of its last ``--layers`` affine layers as
little as possible so that the VNN-LIB property (the unsafe region must be empty) is **proved** by the verifier; writes
the repaired network in the format of ``--out``'s extension (default: the input's format, ``NAME.repaired.EXT``).
The property's ``X_i`` are the network's own inputs (for a mipnet model with feature scaling: the scaled inputs).

Exit code: 0 when the repair is proved (the file is written), 1 when it is not (nothing is written unless
``--keep-unproved``), 2 for an error (unreadable file, bad option), with a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mipnet.errors import DataError, FormatError, MIPNetError, SettingsError
from mipnet.io import load_any, load_json, load_vnnlib, save_any, save_json
from mipnet.repair import Decision, DecisionRows, Norm, repair

FORMATS = (".onnx", ".nnet", ".json")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``repair`` subcommand to an argparse ``subparsers`` object; returns its parser."""
    p = subparsers.add_parser("repair", help="change the last layers minimally so that a VNN-LIB property is proved",
                              description="Provable repair: the smallest change of the last layers' weights and "
                                          "biases that makes the verifier prove the property over its whole region.")
    p.add_argument("network", metavar="NETWORK", help="network file: .onnx, .nnet or a mipnet .json")
    p.add_argument("property", metavar="PROPERTY", help="a .vnnlib property (the unsafe region, in the network's "
                                                        "input space)")
    p.add_argument("--layers", type=int, default=1, help="how many affine layers, from the output, may change "
                                                         "(default 1; 2 or more need SCIP)")
    p.add_argument("--norm", choices=[n.value for n in Norm], default=Norm.L1.value,
                   help="size of the weight change to minimise: l1 (sum) or linf (largest entry) (default l1)")
    p.add_argument("--out", default=None, help="where to write the repaired network; its extension (.onnx, .nnet, "
                                               ".json) picks the format (default: NETWORK's name with .repaired and "
                                               "its format)")
    p.add_argument("--reference", metavar="FILE.csv", default=None,
                   help="reference inputs, one per row (a header row is skipped), on which the outputs and decisions "
                        "should change as little as possible (default: --samples inputs drawn from the property's "
                        "input region)")
    p.add_argument("--samples", type=int, default=500, help="reference inputs drawn when --reference is not given "
                                                            "(default 500)")
    p.add_argument("--decision", choices=[d.value for d in Decision], default=Decision.ARGMAX.value,
                   help="the network's decision for the drawdown: argmax, or argmin (ACAS Xu) (default argmax)")
    p.add_argument("--decision-rows", choices=[d.value for d in DecisionRows], default=DecisionRows.KEEP.value,
                   help="how the reference decisions are kept: keep (hard rows, a penalised slack when they conflict "
                        "with the property), count (a binary per reference input: the MIP minimises the number of "
                        "changed decisions), none (default keep)")
    p.add_argument("--margin", type=float, default=1e-3, help="each counterexample point is kept out of the unsafe "
                                                              "region by this much (default 1e-3)")
    p.add_argument("--margin-growth", type=float, default=1.0,
                   help="proof-guided margin: when the verifier answers unknown, multiply the margin by this factor "
                        "and impose it at the sampled inputs closest to the unsafe region (default 1: off)")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds for the whole repair (default 600)")
    p.add_argument("--verify-time", type=float, default=None, help="seconds per verification (default: the time "
                                                                   "left)")
    p.add_argument("--max-rounds", type=int, default=30, help="repair rounds, each one MIP and one verification")
    p.add_argument("--keep-unproved", action="store_true", help="write the last candidate even when it is not proved")
    p.add_argument("--threads", type=int, default=1, help="cores for each verification (the branch and bound's "
                   "worker processes) and the repair MIP's solver threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
    return p


def read_reference(path: str | Path, n_inputs: int) -> np.ndarray:
    """Rows of numbers from a CSV file (a first line that is not numeric is taken as a header)."""
    try:
        lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror})") from None
    rows = []
    for i, ln in enumerate(lines):
        try:
            rows.append([float(v) for v in ln.replace(";", ",").split(",") if v.strip()])
        except ValueError:
            if i == 0:
                continue
            raise DataError(f"{path}: line {i + 1} is not a row of numbers") from None
    if not rows:
        raise DataError(f"{path}: no rows of numbers")
    if any(len(r) != n_inputs for r in rows):
        raise DataError(f"{path}: every row needs {n_inputs} numbers (one per network input)")
    X = np.array(rows)
    if not np.all(np.isfinite(X)):
        raise DataError(f"{path}: the reference inputs contain NaN or infinite values")
    return X


def _load(path: str) -> tuple[object, dict | None]:
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FORMATS:
        raise FormatError(f"{p}: unknown network file type {ext or '(none)'!r}; supported: {', '.join(FORMATS)}")
    if ext == ".json":
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        return load_json(p)
    return load_any(p), None


def output_path(network: str, out: str | None) -> Path:
    """Where the repaired network goes: ``out`` (its extension, or the input's when it has none), or
    ``NAME.repaired.EXT`` beside the input."""
    src = Path(network)
    if out is None:
        return src.with_name(f"{src.stem}.repaired{src.suffix}")
    dst = Path(out)
    if not dst.suffix:
        dst = dst.with_suffix(src.suffix)
    if dst.suffix.lower() not in FORMATS:
        raise FormatError(f"--out {out}: cannot write {dst.suffix!r}; use {', '.join(FORMATS)}")
    return dst


def run(args: argparse.Namespace) -> int:
    """Run the ``repair`` subcommand; returns the process exit code."""
    try:
        net, meta = _load(args.network)
        dst = output_path(args.network, args.out)
        if not dst.parent.exists():
            raise SettingsError(f"--out {dst}: the folder {dst.parent} does not exist")
        prop = load_vnnlib(args.property, net.n_inputs, net.n_outputs)
        reference = None if args.reference is None else read_reference(args.reference, net.n_inputs)
        res = repair(net, prop, layers=args.layers, norm=args.norm, reference=reference, n_reference=args.samples,
                     decision=args.decision, decision_rows=args.decision_rows, margin=args.margin,
                     margin_growth=args.margin_growth, time_limit=args.time_limit, verify_time=args.verify_time,
                     max_rounds=args.max_rounds, threads=args.threads, seed=args.seed)
        written = None
        if res.network is not None and (res.proved or args.keep_unproved):
            if dst.suffix.lower() == ".json":
                save_json(res.network, dst, {**(meta or {}), "repair": res.as_dict()})
            else:
                save_any(res.network, dst)
            written = dst
    except (MIPNetError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"mipnet repair: error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**res.as_dict(), "written": None if written is None else str(written)}))
    else:
        print("\n".join(res.summary()))
        print(f"written: {written}" if written is not None else "nothing written" + (
            "" if res.proved else " (not proved; --keep-unproved writes the last candidate)"))
    return 0 if res.proved else 1
