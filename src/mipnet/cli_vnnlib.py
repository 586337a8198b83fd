"""The VNN-LIB solver command line and the VNN-COMP runner.

::

    mipnet supports --onnx-operators            # one per line; also --onnx-opset-versions, --vnnlib-versions,
                                                # --serialise-assignments
    mipnet verify QUERY.vnnlib --network NAME=MODEL.onnx --timeout 60 [--serialise-assignments]
    mipnet vnncomp INSTANCES.csv [--out results.csv] [--workers N | --scheduler ADDRESS]
    mipnet vnncomp-instance MODEL.onnx QUERY.vnnlib RESULTS_FILE TIMEOUT     # what run_instance.sh calls

``verify`` in this form prints one word on stdout: ``sat`` (the query's region, the *unsafe* region, holds an
input: a counterexample, re-checked by ``Network.forward``), ``unsat`` (proved empty) or ``unknown`` (neither, for
any reason: never read as safe); with ``--serialise-assignments`` a ``sat`` is followed by the assignment in the
VNN-COMP form ``((X_0 v) ... (Y_0 v))``. The VNN-COMP words add ``timeout`` (unknown at the time limit) and
``error`` (the instance could not be read or run).

Every query goes through :func:`mipnet.verify.check_property`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mipnet.errors import MIPNetError, SettingsError

VNNLIB_VERSIONS: tuple[str, ...] = ("1.0", "2.0")
"""VNN-LIB versions :func:`mipnet.io.load_vnnlib` reads."""

ASSIGNMENT_FORMATS: tuple[str, ...] = ("vnncomp",)
"""How a satisfying assignment is written (``--serialise-assignments``): the VNN-COMP ``((X_0 v) ... (Y_0 v))``."""

TIMEOUT_GRACE_S = 15.0
"""Seconds the runner allows an instance beyond its time limit (start-up, reading) before it is killed."""


class ResultWord(StrEnum):
    """The VNN-COMP result words."""

    SAT = "sat"            #: a counterexample, re-checked
    UNSAT = "unsat"        #: the unsafe region is proved empty
    UNKNOWN = "unknown"    #: neither, before the time limit
    TIMEOUT = "timeout"    #: neither, at the time limit
    ERROR = "error"        #: the instance could not be read or run


@dataclass
class InstanceResult:
    """One instance's answer: the result word, the seconds taken and, for ``sat``, the assignment text."""

    word: ResultWord
    time: float
    assignment: str = ""
    message: str = ""


def result_word(status: str, elapsed: float, time_limit: float | None) -> ResultWord:
    """The VNN-COMP word for a verifier answer (``holds``/``violated``/``unknown``)."""
    if status == "violated":
        return ResultWord.SAT
    if status == "holds":
        return ResultWord.UNSAT
    if time_limit is not None and elapsed >= 0.95 * time_limit:
        return ResultWord.TIMEOUT
    return ResultWord.UNKNOWN


def format_assignment(x: np.ndarray, y: np.ndarray) -> str:
    """A counterexample in the VNN-COMP form ``((X_0 v)\\n (X_1 v)\\n ... (Y_0 v))`` (flat C order, 17 digits)."""
    items = [f"(X_{i} {float(v)!r})" for i, v in enumerate(np.ravel(x))]
    items += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(np.ravel(y))]
    return "(" + "\n ".join(items) + ")"


# ------------------------------------------------------------------------------------------ supports
def add_supports_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``supports`` subcommand; returns its parser."""
    p = subparsers.add_parser("supports", help="list what the VNN-LIB solver interface supports",
                              description="Print one supported item per line.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--onnx-operators", action="store_true", help="ONNX operators read on the network's path")
    g.add_argument("--onnx-opset-versions", action="store_true", help="ONNX default-domain opset versions")
    g.add_argument("--vnnlib-versions", action="store_true", help="VNN-LIB versions")
    g.add_argument("--serialise-assignments", action="store_true",
                   help="formats a satisfying assignment is written in (verify --serialise-assignments)")
    p.set_defaults(func=run_supports)
    return p


def run_supports(args: argparse.Namespace) -> int:
    """Run ``mipnet supports``."""
    from mipnet.io.onnx_io import ONNX_OPERATORS, ONNX_OPSET_VERSIONS

    if args.onnx_operators:
        items: tuple = ONNX_OPERATORS
    elif args.onnx_opset_versions:
        items = ONNX_OPSET_VERSIONS
    elif args.vnnlib_versions:
        items = VNNLIB_VERSIONS
    else:
        items = ASSIGNMENT_FORMATS
    print("\n".join(str(i) for i in items))
    return 0


# ------------------------------------------------------------------------------------------ one query
def _network_option(values: list[str]) -> Path:
    if len(values) != 1:
        raise SettingsError(f"give exactly one --network NAME=MODEL.onnx (multi-network queries are not "
                            f"supported), got {len(values)}")
    name, sep, path = values[0].partition("=")
    if not sep or not name or not path:
        raise SettingsError(f"--network takes NAME=MODEL.onnx, got {values[0]!r}")
    return Path(path)


def solve(model: str | Path, query: str | Path, timeout: float | None) -> InstanceResult:
    """Answer one VNN-LIB query on one network file with :func:`mipnet.verify.check_property`.

    Parameters
    ----------
    model : path
        ``.onnx``, ``.nnet`` or mipnet ``.json``.
    query : path
        The ``.vnnlib`` file (1.0 or 2.0, optionally ``.gz``): the unsafe region.
    timeout : float or None
        Seconds for the query (reading the files not included).

    Returns
    -------
    InstanceResult
        ``sat`` with the re-checked assignment, ``unsat``, ``unknown`` or ``timeout``.
    """
    from mipnet.io import load_network
    from mipnet.verify import check_property

    start = time.monotonic()
    net = load_network(model)
    left = None if timeout is None else max(timeout - (time.monotonic() - start), 0.01)
    res = check_property(net, query, time_limit=left)
    elapsed = time.monotonic() - start
    word = result_word(res.status, elapsed, timeout)
    text = ""
    if word is ResultWord.SAT:
        text = format_assignment(res.counterexample, net.forward(res.counterexample.reshape(1, -1))[0])
    return InstanceResult(word, elapsed, text, res.note)


def run_query(args: argparse.Namespace) -> int:
    """``mipnet verify QUERY --network NAME=MODEL --timeout S``: print ``sat``/``unsat``/``unknown``."""
    try:
        model = _network_option(args.networks)
        if args.network is None or args.property is not None:
            raise SettingsError("with --network, give only the query: mipnet verify QUERY.vnnlib --network "
                                "NAME=MODEL.onnx")
        if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
            raise SettingsError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        result = solve(model, args.network, args.timeout)
    except (MIPNetError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"mipnet verify: error: {msg}", file=sys.stderr)
        return 2
    word = result.word if result.word is not ResultWord.TIMEOUT else ResultWord.UNKNOWN
    print(word.value)
    if args.serialise_assignments and result.assignment:
        print(result.assignment)
    return 0


# ------------------------------------------------------------------------------------------ VNN-COMP
def write_result_file(path: str | Path, result: InstanceResult) -> None:
    """The VNN-COMP result file: the word on the first line, then the assignment for ``sat``."""
    text = result.word.value + "\n" + (result.assignment + "\n" if result.assignment else "")
    Path(path).write_text(text, encoding="utf-8")


def read_result_file(path: str | Path) -> tuple[ResultWord, str]:
    """The word and the assignment of a VNN-COMP result file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    try:
        word = ResultWord(lines[0].strip()) if lines else ResultWord.ERROR
    except ValueError:
        word = ResultWord.ERROR
    return word, "\n".join(lines[1:]).strip()


def add_instance_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``vnncomp-instance`` subcommand (one instance, as ``run_instance.sh`` runs it)."""
    p = subparsers.add_parser("vnncomp-instance", help="run one VNN-COMP instance and write its result file",
                              description="Verify MODEL against QUERY within TIMEOUT seconds and write the VNN-COMP "
                                          "result file (sat / unsat / unknown / timeout / error, and the "
                                          "assignment for sat).")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("query", metavar="QUERY.vnnlib")
    p.add_argument("results", metavar="RESULTS_FILE")
    p.add_argument("timeout", metavar="TIMEOUT", type=float)
    p.set_defaults(func=run_instance_command)
    return p


def run_instance_command(args: argparse.Namespace) -> int:
    """Run ``mipnet vnncomp-instance``; the result file is written even on an error (``error``)."""
    start = time.monotonic()
    try:
        result = solve(args.model, args.query, args.timeout)
    except (MIPNetError, OSError) as exc:
        result = InstanceResult(ResultWord.ERROR, time.monotonic() - start, message=str(exc).splitlines()[0])
        print(f"mipnet vnncomp-instance: error: {result.message}", file=sys.stderr)
    write_result_file(args.results, result)
    return 0


@dataclass
class Instance:
    """One row of a VNN-COMP ``instances.csv``: the network, the query and the time limit (seconds)."""

    onnx: Path
    vnnlib: Path
    timeout: float


def _resolve(folder: Path, name: str, sub: str) -> Path:
    """A path of instances.csv: relative to its folder, else (a bare name) in its ``onnx/`` or ``vnnlib/``."""
    p = Path(name)
    if not p.is_absolute():
        p = folder / p
    if not p.exists() and len(Path(name).parts) == 1 and (folder / sub / name).exists():
        p = folder / sub / name
    return p


def read_instances(path: str | Path) -> list[Instance]:
    """Rows ``onnx,vnnlib,timeout`` of a VNN-COMP ``instances.csv`` (paths relative to its folder)."""
    folder = Path(path).parent
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for k, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                raise SettingsError(f"{path}, line {k}: expected onnx,vnnlib,timeout, got {row}")
            try:
                timeout = float(row[2])
            except ValueError:
                raise SettingsError(f"{path}, line {k}: the timeout {row[2]!r} is not a number") from None
            rows.append(Instance(_resolve(folder, row[0].strip(), "onnx"), _resolve(folder, row[1].strip(), "vnnlib"),
                                 timeout))
    return rows


def run_instance(instance: Instance, grace: float = TIMEOUT_GRACE_S) -> InstanceResult:
    """Run one instance in a fresh process (``mipnet vnncomp-instance``), killed at its limit plus ``grace``."""
    with tempfile.TemporaryDirectory(prefix="mipnet-vnncomp-") as tmp:
        out = Path(tmp) / "result.txt"
        cmd = [sys.executable, "-m", "mipnet.cli", "vnncomp-instance", str(instance.onnx), str(instance.vnnlib),
               str(out), repr(instance.timeout)]
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=instance.timeout + grace,
                                  env=dict(os.environ))
        except subprocess.TimeoutExpired:
            return InstanceResult(ResultWord.TIMEOUT, time.monotonic() - start, message="killed at the time limit")
        elapsed = time.monotonic() - start
        if not out.exists():
            tail = (proc.stderr or "").strip().splitlines()
            why = tail[-1] if tail else f"exit code {proc.returncode}"
            return InstanceResult(ResultWord.ERROR, elapsed, message=why)
        word, assignment = read_result_file(out)
        message = (proc.stderr or "").strip().splitlines()
        return InstanceResult(word, elapsed, assignment, message[-1] if message else "")


def run_instances(instances: list[Instance], workers: int = 1, scheduler: str | None = None,
                  progress: Callable[[int, Instance, InstanceResult], None] | None = None) -> list[InstanceResult]:
    """Run instances, each in its own process under its own limit: one at a time, on a local Dask cluster of
    ``workers`` processes, or on the Dask cluster at ``scheduler``.

    Parameters
    ----------
    instances : list of Instance
    workers : int
        Instances run at once (``> 1`` starts a local Dask cluster).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    progress : callable, optional
        Called as ``progress(index, instance, result)`` when each instance finishes.

    Returns
    -------
    list of InstanceResult
        In the order of ``instances``.
    """
    if workers < 1:
        raise SettingsError(f"--workers must be at least 1, got {workers}")
    results: list[InstanceResult | None] = [None] * len(instances)
    if scheduler is None and workers == 1:
        for k, inst in enumerate(instances):
            results[k] = run_instance(inst)
            if progress is not None:
                progress(k, inst, results[k])
        return results
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SettingsError("parallel runs need Dask: pip install 'mipnet[dask]'") from None
    cluster = None
    if scheduler is None:
        # one thread per worker process: each instance then has a core (and its solver process) to itself
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(scheduler if scheduler is not None else cluster)
    try:
        futures = {client.submit(run_instance, inst, pure=False): k for k, inst in enumerate(instances)}
        for fut in as_completed(list(futures)):
            k = futures[fut]
            try:
                results[k] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker lost or a task failing is this instance's error
                results[k] = InstanceResult(ResultWord.ERROR, 0.0, message=f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(k, instances[k], results[k])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def add_vnncomp_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``vnncomp`` subcommand; returns its parser."""
    p = subparsers.add_parser("vnncomp", help="run a VNN-COMP instances.csv",
                              description="Run every row (onnx, vnnlib, timeout) of a VNN-COMP instances.csv, each "
                                          "in its own process under its own limit, and write the result words "
                                          "(sat / unsat / unknown / timeout / error) with the counterexamples.")
    p.add_argument("instances", metavar="INSTANCES.csv")
    p.add_argument("--out", default=None, help="results CSV: onnx, vnnlib, result, time, counterexample (default: "
                                               "stdout only)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=1, help="instances at once, on a local Dask cluster (default 1)")
    g.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.set_defaults(func=run_vnncomp)
    return p


def run_vnncomp(args: argparse.Namespace) -> int:
    """Run ``mipnet vnncomp``: one line per instance on stdout, a summary, and the results CSV."""
    try:
        instances = read_instances(args.instances)

        def show(k: int, inst: Instance, res: InstanceResult) -> None:
            print(f"{k + 1}/{len(instances)}  {inst.onnx.name}  {inst.vnnlib.name}  {res.word.value}  "
                  f"{res.time:.1f} s", flush=True)

        start = time.monotonic()
        results = run_instances(instances, args.workers, args.scheduler, show)
    except (MIPNetError, OSError) as exc:
        print(f"mipnet vnncomp: error: {exc}", file=sys.stderr)
        return 2
    counts = {w.value: sum(r.word is w for r in results) for w in ResultWord}
    print(f"{len(results)} instances in {time.monotonic() - start:.1f} s: "
          + ", ".join(f"{n} {w}" for w, n in counts.items() if n))
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["onnx", "vnnlib", "result", "time", "counterexample"])
            for inst, res in zip(instances, results):
                w.writerow([str(inst.onnx), str(inst.vnnlib), res.word.value, f"{res.time:.3f}", res.assignment])
    return 0
