"""The ``mipnet verify`` subcommand.

::

    mipnet verify net.onnx property.vnnlib --time-limit 120
    mipnet verify model.json --robust-at point.csv --eps 0.05 --label 3
    mipnet verify net.nnet --bounds LOWER,UPPER        # LOWER/UPPER: numbers or CSV files
    mipnet verify model.json --monotone 2 --box=-1,1 [--decreasing] [--output 0]
    mipnet verify QUERY.vnnlib --network NAME=MODEL.onnx --timeout 60    # VNN-LIB solver form: sat|unsat|unknown

Prints ``holds``, ``violated`` or ``unknown`` and the time (or JSON with ``--json``). The exit code is 0 for any
answer, including ``unknown``; 2 for an error (unreadable file, unsupported node, bad option), with a one-line
message on stderr.

Spaces: a model trained by ``mipnet train`` scales its features before the network (the ``preprocessing`` of the
model file). Points (``--robust-at``, ``--eps``, ``--domain``), boxes (``--bounds``, ``--box``), the ``X_i`` of a
property and every counterexample are then in the **raw feature space** by default, the space of the CSV files
``mipnet predict`` reads; ``--space scaled`` poses the query on the network's own (scaled) inputs instead. The
mapping is exact, not an approximation (see :mod:`mipnet.model`), and every counterexample is re-checked through the
preprocessing and ``Network.forward``, as ``predict`` computes. ``.onnx`` / ``.nnet`` files and models without
preprocessing work in the network input space. The output says which space (``space`` in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from mipnet.cli_vnnlib import run_query
from mipnet.clock import DEFAULT_TIME_LIMIT, time_limit_text
from mipnet.errors import MIPNetError, SettingsError


def _seconds(text: str) -> float | None:
    """A ``--time-limit`` value: a positive number of seconds, or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or 'none', got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to an argparse ``subparsers`` object; returns its parser."""
    p = subparsers.add_parser("verify", help="verify a trained network (VNN-LIB property, robustness, bounds)",
                              description="Prove a property of a ReLU network or find a counterexample.")
    p.add_argument("network", metavar="NETWORK", help="network file: .onnx, .nnet or a mipnet .json (with --network: "
                                                      "the QUERY.vnnlib)")
    p.add_argument("property", metavar="PROPERTY", nargs="?", help="a .vnnlib property (the unsafe region)")
    p.add_argument("--robust-at", metavar="CSV", help="local robustness around the input in this CSV file")
    p.add_argument("--eps", type=float, help="L-infinity radius for --robust-at")
    p.add_argument("--label", type=int, help="class that must win (default: the network's prediction)")
    p.add_argument("--domain", metavar="LOW,HIGH", help="valid input range intersected with the ball, e.g. 0,1")
    p.add_argument("--bounds", metavar="LOWER,UPPER", help="bound every output over the input box LOWER..UPPER "
                   "(each a number or a CSV file; write --bounds=-1,1 when LOWER is negative)")
    p.add_argument("--monotone", type=int, metavar="FEATURE", help="prove an output monotone in input FEATURE "
                   "(0-based) over the box given by --box")
    p.add_argument("--box", metavar="LOWER,UPPER", help="input box for --monotone (as for --bounds)")
    p.add_argument("--decreasing", action="store_true", help="with --monotone: non-increasing (default: "
                   "non-decreasing)")
    p.add_argument("--output", type=int, default=0, help="with --monotone: the output index (default 0)")
    p.add_argument("--time-limit", type=_seconds, default=DEFAULT_TIME_LIMIT, metavar="SECONDS",
                   help=f"seconds for the whole query, or 'none' for no limit (default: {DEFAULT_TIME_LIMIT:g}, as in "
                        "the Python API)")
    p.add_argument("--solver", choices=["highs", "scip"], default="highs")
    p.add_argument("--tightening", choices=["interval", "lp", "mip"], default="lp",
                   help="bound tightening before the MIP (default: lp)")
    p.add_argument("--method", choices=["auto", "bab", "mip", "split"], default="auto",
                   help="property and robustness search: bab (batched branch and bound on alpha-CROWN bounds, "
                        "exact MIP leaves; 'split' means bab) or mip (one exact MIP per disjunct, or per competing "
                        "class: exact margins); 'auto', the default, is bab for properties and for robustness of "
                        "networks with more than 64 ReLUs, else mip")
    p.add_argument("--threads", type=int, default=1,
                   help="cores: the branch and bound's worker processes (a search open after 0.5 s goes parallel), "
                        "the solver's threads with --method mip, numpy's BLAS threads")
    p.add_argument("--space", choices=["raw", "scaled"], default="raw",
                   help="space of points, boxes, properties and counterexamples for a model with feature scaling: "
                        "raw features, as in the CSV files of 'mipnet predict' (default), or the network's scaled "
                        "inputs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--network", dest="networks", action="append", metavar="NAME=MODEL.onnx",
                   help="VNN-LIB solver form: 'mipnet verify QUERY.vnnlib --network NAME=MODEL.onnx --timeout S' "
                        "prints sat (a counterexample in the query's region), unsat (proved empty) or unknown")
    p.add_argument("--timeout", type=float, default=None, help="with --network: seconds for the query")
    p.add_argument("--serialise-assignments", action="store_true",
                   help="with --network: after sat, print the assignment as ((X_0 v) ... (Y_0 v))")
    p.set_defaults(func=run)
    return p


def _load_model(path: str):  # noqa: ANN202 - Model, imported lazily
    from mipnet.model import Model

    return Model.load(path)


def _read_vector(text: str) -> np.ndarray:
    """A number, or a CSV/whitespace file of numbers."""
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not np.isfinite(number):
            raise SettingsError(f"expected a finite number, got {text!r}")
        return np.array([number])
    path = Path(text)
    raw = _read_text(path).replace(",", " ").split()
    try:
        v = np.array([float(t) for t in raw])
    except ValueError:
        raise SettingsError(f"{path}: expected numbers separated by commas or spaces") from None
    if not np.all(np.isfinite(v)):
        raise SettingsError(f"{path}: value {int(np.argmin(np.isfinite(v))) + 1} is not a finite number")
    return v


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None


def _read_point(text: str, model: object) -> np.ndarray:
    """The point of ``--robust-at``: numbers separated by commas or spaces, or a CSV file whose header names the
    model's features (as read by ``mipnet predict``; its first data row is used)."""
    try:
        return _read_vector(text)
    except SettingsError:
        names = getattr(model, "features", None)
        rows = [r for r in _read_text(Path(text)).splitlines() if r.strip()]
        header = [h.strip() for h in rows[0].split(",")] if rows else []
        if not names or len(rows) < 2 or not set(names) <= set(header):
            raise
        values = [v.strip() for v in rows[1].split(",")]
        try:
            point = np.array([float(values[header.index(n)]) for n in names])
        except (ValueError, IndexError):
            raise SettingsError(f"{text}: line 2 must hold a number for every feature") from None
        if not np.all(np.isfinite(point)):
            bad = names[int(np.argmin(np.isfinite(point)))]
            raise SettingsError(f"{text}: line 2, feature {bad!r} is not a finite number") from None
        return point


_SPACE_LINES = {"raw feature space": "space: raw feature space (points, boxes and counterexamples in the model's "
                                     "features; its {kind} scaling is applied before the network)",
                "scaled feature space": "space: scaled feature space (the network's inputs, after the model's "
                                        "{kind} scaling)",
                "network input space": "space: network input space (no preprocessing)"}


def _pair(text: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    parts = text.split(",")
    if len(parts) != 2:
        raise SettingsError(f"{what} takes LOW,HIGH (two numbers or two CSV files), got {text!r}")
    return _read_vector(parts[0].strip()), _read_vector(parts[1].strip())


def _silence_highs_banner() -> None:
    """HiGHS prints a banner on stdout when its first instance is created: create it with stdout muted."""
    try:
        import highspy
    except ImportError:  # pragma: no cover
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _query_name(args: argparse.Namespace) -> str:
    if args.property is not None:
        return f"property {args.property}"
    if args.robust_at is not None:
        return f"robustness at {args.robust_at}, eps {args.eps:g}" if args.eps is not None else "robustness"
    if args.monotone is not None:
        return f"monotonicity in input {args.monotone}"
    return "output bounds"


def run(args: argparse.Namespace) -> int:
    """Run the ``verify`` subcommand; returns the process exit code."""
    _silence_highs_banner()
    if args.networks:
        return run_query(args)
    try:
        modes = sum(x is not None for x in (args.property, args.robust_at, args.bounds, args.monotone))
        if modes != 1:
            raise SettingsError("give exactly one query: a PROPERTY file, --robust-at CSV, --bounds LOWER,UPPER, or "
                                "--monotone FEATURE --box LOWER,UPPER")
        model = _load_model(args.network)
        if not args.json:   # the header: what runs, with which limit
            print(f"verifying {args.network} ({_query_name(args)}; {args.solver}, {time_limit_text(args.time_limit)})",
                  flush=True)
        scaled = args.space == "scaled"
        common = dict(time_limit=args.time_limit, solver=args.solver, tightening=args.tightening,
                      threads=args.threads, scaled=scaled)
        if args.property is not None:
            res = model.verify_property(args.property, method=args.method, **common)
            out = res.as_dict()
            line = f"{res.status}  ({res.time:.2f} s)  {res.note}"
        elif args.robust_at is not None:
            if args.eps is None:
                raise SettingsError("--robust-at needs --eps")
            x = _read_point(args.robust_at, model)
            domain = _pair(args.domain, "--domain") if args.domain else None
            res = model.verify_robustness(x, args.eps, label=args.label, domain=domain, method=args.method, **common)
            out = res.as_dict()
            label = f"label {res.label}"
            if model.classes is not None and model.network.n_outputs > 1:
                out["class"] = model.classes[res.label]
                label += f" (class {model.classes[res.label]})"
            line = (f"{res.status}  ({res.time:.2f} s)  {label}, eps {res.eps:g}: worst-case margin in "
                    f"[{res.margin_bound:.6g}, {res.margin:.6g}]")
        elif args.monotone is not None:
            if args.box is None:
                raise SettingsError("--monotone needs --box LOWER,UPPER")
            lo, hi = _pair(args.box, "--box")
            res = model.verify_monotonicity(args.monotone, lo, hi, output=args.output,
                                            direction="decreasing" if args.decreasing else "increasing", **common)
            out = res.as_dict()
            line = f"{res.status}  ({res.time:.2f} s)  {res.note}"
            if res.counterexample_pair is not None:
                line += "\nhigher input: " + ", ".join(f"{v:.9g}" for v in np.ravel(res.counterexample_pair))
        else:
            lo, hi = _pair(args.bounds, "--bounds")
            res = model.verify_bounds(lo, hi, **common)
            out = res.as_dict()
            rows = [f"  y{j}: [{lo_:.6g}, {hi_:.6g}]" for j, (lo_, hi_) in enumerate(zip(res.lower, res.upper))]
            line = f"{res.status}  ({res.time:.2f} s)  proved output bounds:\n" + "\n".join(rows)
        out["space"] = res.space
        out["time_limit"] = args.time_limit
        kind = model.preprocessing.kind if model.preprocessing is not None else ""
        space_line = _SPACE_LINES[res.space].format(kind=kind)
    except (MIPNetError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"mipnet verify: error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out))
    else:
        print(line)
        print(space_line)
        if out.get("counterexample") is not None:
            print("counterexample: " + ", ".join(f"{v:.9g}" for v in np.ravel(out["counterexample"])))
    return 0
