"""The ``mipnet verify`` subcommand.

::

    mipnet verify net.onnx property.vnnlib --time-limit 120
    mipnet verify model.json --robust-at point.csv --eps 0.05 --label 3
    mipnet verify net.nnet --bounds LOWER,UPPER        # LOWER/UPPER: numbers or CSV files
    mipnet verify model.json --monotone 2 --box=-1,1 [--decreasing] [--output 0]

Prints ``holds``, ``violated`` or ``unknown`` and the time (or JSON with ``--json``). The exit code is 0 for any
answer, including ``unknown``; 2 for an error (unreadable file, unsupported node, bad option), with a one-line
message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from mipnet.errors import MIPNetError, SettingsError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to an argparse ``subparsers`` object; returns its parser."""
    p = subparsers.add_parser("verify", help="verify a trained network (VNN-LIB property, robustness, bounds)",
                              description="Prove a property of a ReLU network or find a counterexample.")
    p.add_argument("network", metavar="NETWORK", help="network file: .onnx, .nnet or a mipnet .json")
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
    p.add_argument("--time-limit", type=float, default=None, help="seconds for the whole query")
    p.add_argument("--solver", choices=["highs", "scip"], default="highs")
    p.add_argument("--tightening", choices=["interval", "lp", "mip"], default="lp",
                   help="bound tightening before the MIP (default: lp)")
    p.add_argument("--method", choices=["auto", "mip", "split"], default="auto",
                   help="property search: input splitting (dense nets), one MIP per disjunct, or auto (default)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
    return p


def _load_network(path: str):  # noqa: ANN202 - Network, imported lazily
    ext = Path(path).suffix.lower()
    if ext in (".onnx", ".nnet"):
        from mipnet.io.loaders import load_any

        return load_any(path)
    import mipnet

    loader = getattr(mipnet, "load_network", None)
    if loader is None:
        from mipnet.io.loaders import load_any

        return load_any(path)   # raises FormatError naming the supported types
    return loader(path)


def _read_vector(text: str) -> np.ndarray:
    """A number, or a CSV/whitespace file of numbers."""
    try:
        return np.array([float(text)])
    except ValueError:
        pass
    path = Path(text)
    raw = path.read_text(encoding="utf-8").replace(",", " ").split()
    try:
        return np.array([float(v) for v in raw])
    except ValueError:
        raise SettingsError(f"{path}: expected numbers separated by commas or spaces") from None


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


def run(args: argparse.Namespace) -> int:
    """Run the ``verify`` subcommand; returns the process exit code."""
    from mipnet import verify

    _silence_highs_banner()
    try:
        modes = sum(x is not None for x in (args.property, args.robust_at, args.bounds, args.monotone))
        if modes != 1:
            raise SettingsError("give exactly one query: a PROPERTY file, --robust-at CSV, --bounds LOWER,UPPER, or "
                                "--monotone FEATURE --box LOWER,UPPER")
        net = _load_network(args.network)
        common = dict(time_limit=args.time_limit, solver=args.solver, tightening=args.tightening,
                      threads=args.threads)
        if args.property is not None:
            res = verify.check_property(net, args.property, method=args.method, **common)
            out = res.as_dict()
            line = f"{res.status}  ({res.time:.2f} s)  {res.note}"
        elif args.robust_at is not None:
            if args.eps is None:
                raise SettingsError("--robust-at needs --eps")
            x = _read_vector(args.robust_at)
            domain = _pair(args.domain, "--domain") if args.domain else None
            res = verify.robustness(net, x, args.eps, label=args.label, domain=domain, **common)
            out = res.as_dict()
            line = (f"{res.status}  ({res.time:.2f} s)  label {res.label}, eps {res.eps:g}: worst-case margin in "
                    f"[{res.margin_bound:.6g}, {res.margin:.6g}]")
        elif args.monotone is not None:
            if args.box is None:
                raise SettingsError("--monotone needs --box LOWER,UPPER")
            lo, hi = _pair(args.box, "--box")
            res = verify.monotonicity(net, args.monotone, lo, hi, output=args.output,
                                      direction="decreasing" if args.decreasing else "increasing", **common)
            out = res.as_dict()
            line = f"{res.status}  ({res.time:.2f} s)  {res.note}"
            if res.counterexample_pair is not None:
                line += "\nhigher input: " + ", ".join(f"{v:.9g}" for v in np.ravel(res.counterexample_pair))
        else:
            lo, hi = _pair(args.bounds, "--bounds")
            res = verify.output_bounds(net, lo, hi, **common)
            out = res.as_dict()
            rows = [f"  y{j}: [{lo_:.6g}, {hi_:.6g}]" for j, (lo_, hi_) in enumerate(zip(res.lower, res.upper))]
            line = f"{res.status}  ({res.time:.2f} s)  proved output bounds:\n" + "\n".join(rows)
    except (MIPNetError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"mipnet verify: error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out))
    else:
        print(line)
        if out.get("counterexample") is not None:
            print("counterexample: " + ", ".join(f"{v:.9g}" for v in np.ravel(out["counterexample"])))
    return 0
