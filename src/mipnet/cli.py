"""The ``mipnet`` command line: train, predict, info, export, plot, demo, verify, repair, supports, vnncomp."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mipnet.cli_vnnlib import add_instance_parser, add_supports_parser, add_vnncomp_parser
from mipnet.clock import time_limit_text
from mipnet.errors import DataError, MIPNetError, SettingsError
from mipnet.io.nnet import save_nnet
from mipnet.io.onnx_io import to_onnx
from mipnet.model import Model, Scaler
from mipnet.report import fmt
from mipnet.train.config import PrimalSearch

# --------------------------------------------------------------------------------------------------- data


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file (comma separated, first row is the header)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a valid CSV file ({exc})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataError(f"{path}: line {i} has {len(r)} fields, the header has {len(header)}")
    return header, rows[1:]


def numeric_columns(path: str | Path, header: list[str], rows: list[list[str]], columns: list[str]) -> np.ndarray:
    out = np.empty((len(rows), len(columns)))
    for j, name in enumerate(columns):
        col = header.index(name)
        for i, r in enumerate(rows):
            try:
                out[i, j] = float(r[col])
            except ValueError:
                raise DataError(f"{path}: column {name!r} line {i + 2} is not a number: {r[col]!r}") from None
    bad = np.argwhere(~np.isfinite(out))
    if len(bad):
        i, j = bad[0]
        raise DataError(f"{path}: column {columns[j]!r} line {i + 2} is {rows[i][header.index(columns[j])]!r}: the "
                        f"features must be finite numbers ({len(bad)} such value(s) in all)")
    return out


# ------------------------------------------------------------------------------------------- progress


def _display(args: argparse.Namespace, console: object, announce: str | None = None) -> object | None:
    """The live progress of ``train`` and ``demo`` (none with ``--quiet``): a ``rich`` live line on a terminal,
    plain lines otherwise, with times counted from the launch of the command. ``announce``: the detail of a first
    ``start`` line shown at once (what runs before the fit's first event)."""
    if args.quiet:
        return None
    from mipnet.progress import Phase, TrainProgress, make_display

    launched = getattr(args, "launched", None)
    display = make_display(console, started=launched)
    if announce:
        TrainProgress(display, started=launched).enter(Phase.START, detail=announce)
    return display


def _stopped_note(report: object) -> str | None:
    """What to say when a run ended before its proof (Ctrl-C, the time limit or the node limit)."""
    if report.status == "interrupted":
        return "interrupted: the best network found so far is kept"
    if report.status == "time_limit":
        return "time limit reached: the best network found so far is kept"
    if report.status == "node_limit":
        return "node limit reached: the best network found so far is kept"
    return None


# ------------------------------------------------------------------------------------------- commands


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise SettingsError(f"--hidden takes comma-separated widths like 4,4, got {text!r}") from None
    return widths


def _estimator_kwargs(args: argparse.Namespace, console: object) -> dict:
    weights = [w.strip() for w in args.weights.split(",")] if "," in args.weights else args.weights  # per layer
    kw = dict(hidden=_hidden(args.hidden), loss=args.loss, weights=weights, weight_bound=args.weight_bound,
              l1=args.l1, l0=args.l0, l2=args.l2, neuron_penalty=args.neuron_penalty,
              input_penalty=args.input_penalty, max_inputs=args.max_inputs, max_neurons=args.max_neurons,
              filter_penalty=args.filter_penalty, max_filters=args.max_filters, layer_penalty=args.layer_penalty,
              max_layers=args.max_layers, primal=args.primal,
              solver=args.solver, time_limit=args.time_limit, threads=args.threads, node_limit=args.node_limit,
              seed=args.seed)
    if getattr(args, "arch", None):
        from mipnet.arch import load_architecture

        kw["architecture"] = load_architecture(args.arch)
    return kw


def _check_solver_options(args: argparse.Namespace) -> None:
    """The solver (known and installed), its time limit, node limit and threads: refused before any data is read or any
    line printed."""
    from mipnet.solvers import SolveOptions, get_backend  # here: `mipnet --help` starts without scipy

    SolveOptions(time_limit=args.time_limit, threads=args.threads, node_limit=args.node_limit)
    get_backend(args.solver)


def _make_estimator(task: str, kwargs: dict) -> object:
    from mipnet.estimators import MIPNetClassifier, MIPNetRegressor

    return (MIPNetClassifier if task == "classification" else MIPNetRegressor)(**kwargs)


def _guess_task(loss: str | None, target: list[str]) -> str:
    """The task a target column suggests (a given ``loss`` decides it; see :func:`decide_task`)."""
    from mipnet.train.losses import make_loss

    if loss:
        return make_loss(loss).task
    return _target_kind(target)[0]


def _target_kind(target: list[str]) -> tuple[str, str]:
    """``(task, why)`` suggested by the values of a target column: labels that are not numbers, or at most 20
    distinct whole numbers, are classes; other numbers are a regression target."""
    distinct = sorted(set(target))
    try:
        vals = np.array([float(t) for t in target])
    except ValueError:
        return "classification", f"{len(distinct)} distinct labels that are not all numbers"
    n = len(np.unique(vals))
    if np.all(vals == np.round(vals)) and n <= 20:
        return "classification", f"{n} distinct whole numbers"
    return "regression", f"{n} distinct numbers" + ("" if np.all(vals == np.round(vals)) else ", not all whole")


def decide_task(task: str, loss: str | None, target: list[str], column: str) -> tuple[str, str]:
    """The task of ``mipnet train`` and why: ``--task`` when given, else the loss's task, else a guess from the
    target column. A loss that contradicts ``--task`` or the kind of target column is an error (a regression loss
    never turns class labels into numbers silently, nor a classification loss numbers into classes)."""
    from mipnet.train.losses import make_loss

    loss_task = make_loss(loss).task if loss else None
    if task != "auto":
        if loss_task is not None and loss_task != task:
            raise SettingsError(f"--loss {loss} is a {loss_task} loss, but --task {task} was given")
        return task, "given by --task"
    kind, why = _target_kind(target)
    if loss_task is None:
        return kind, f"guessed from the target column {column!r}: {why}; --task to choose"
    if loss_task != kind:
        if loss_task == "regression":
            fix = ("a classification loss (hinge, zero_one)" if why.endswith("not all numbers") else
                   "a classification loss (hinge, zero_one), or --task regression to fit the labels as numbers")
            raise SettingsError(f"--loss {loss} is a regression loss, but the target column {column!r} holds class "
                                f"labels ({why}): give {fix}")
        raise SettingsError(f"--loss {loss} is a classification loss, but the target column {column!r} holds "
                            f"continuous values ({why}): give a regression loss (absolute, max, squared), or --task "
                            "classification to make each value a class")
    return kind, f"from --loss {loss}"


def training_fit_line(task: str, predicted: np.ndarray, y: np.ndarray) -> str:
    """The fit on the training data: accuracy (classification) or the errors (regression), one line."""
    if task == "classification":
        right = int(np.sum(np.asarray(predicted) == np.asarray(y)))
        return f"training accuracy {right / len(y):.4f} ({right} of {len(y)} samples)"
    n = len(y)
    err = np.abs(np.asarray(predicted, dtype=float).reshape(n, -1) - np.asarray(y, dtype=float).reshape(n, -1))
    return (f"training error: mean absolute {err.mean():.6g}, max {err.max():.6g}, root mean squared "
            f"{np.sqrt((err ** 2).mean()):.6g} ({n} samples)")


def check_writable(path: str | Path, option: str = "--out") -> None:
    """Raise :class:`SettingsError` unless a file can be written at ``path`` (checked by creating a temporary file
    next to it, so it also works for read-only file systems and for root)."""
    p = Path(path)
    if p.is_dir():
        raise SettingsError(f"{option} {path}: is a directory, not a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise SettingsError(f"{option} {path}: the directory {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise SettingsError(f"{option} {path}: the file is not writable")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise SettingsError(f"{option} {path}: cannot write in {parent} ({exc.strerror})") from None


def _saved(model: object, path: str) -> bool:
    """Save ``model`` (anything with ``save(path)``); on an OS error say in one line that it was not saved."""
    try:
        model.save(path)
    except OSError as exc:
        print(f"mipnet: error: cannot write {path} ({exc.strerror}): the trained model was not saved", file=sys.stderr)
        return False
    return True


def cmd_train(args: argparse.Namespace, console: object) -> int:
    _check_solver_options(args)
    if args.out:
        check_writable(args.out)   # before the (possibly long) training, not after
    header, rows = read_csv(args.data)
    if args.target not in header:
        raise DataError(f"{args.data}: no column named {args.target!r} (columns: {', '.join(header)})")
    features = [h for h in header if h != args.target]
    X = numeric_columns(args.data, header, rows, features)
    target = [r[header.index(args.target)].strip() for r in rows]
    task, why = decide_task(args.task, args.loss, target, args.target)
    if task == "classification":
        labels = [int(float(t)) if _is_int(t) else t for t in target]
        y = np.asarray(labels)
    else:
        y = numeric_columns(args.data, header, rows, [args.target])[:, 0]
    scaler = Scaler.fit(args.scale, X)
    kwargs = _estimator_kwargs(args, console)
    Xs = scaler(X)
    constraints = _constraints(args, features, scaler, Xs.shape[1])
    console.print(f"training a {task} network on {len(X)} samples x {len(features)} features "
                  f"({args.solver}, {time_limit_text(args.time_limit)})", highlight=False)
    console.print(f"task {task} ({why})", highlight=False)
    if args.image_shape:
        Xs = Xs.reshape(len(Xs), *_shape(args.image_shape, Xs.shape[1]))
    # a progress line at once: importing scikit-learn and the solver takes seconds before the fit's first event
    display = _display(args, console, announce="loading the estimator and the solver")
    est = _make_estimator(task, kwargs)
    if constraints:   # region constraints hold over the data's bounding box (in the scaled space the MIP sees)
        est.set_params(constraints=constraints, region=(Xs.min(0), Xs.max(0)))
    est.set_params(callback=display)
    try:   # Ctrl-C and the time limit end the fit with the best network so far (report_.status says which)
        est.fit(Xs, y)
    except MIPNetError as exc:
        if args.out:   # one line, and no doubt about the file
            raise type(exc)(f"{str(exc).splitlines()[0]} (no model saved)") from None
        raise
    finally:
        if display is not None:
            display.close()
    est.report_.feature_names = features
    console.print(str(est.report_), highlight=False)
    console.print(training_fit_line(task, est.predict(Xs), y), highlight=False)
    note = _stopped_note(est.report_)
    if note:
        console.print(note, highlight=False)
    if not args.out:
        console.print("model not saved (give --out FILE to save it)", highlight=False)
        return 0
    model = dataclasses.replace(est.to_model(), preprocessing=scaler, features=features, target=args.target)
    if not _saved(model, args.out):
        return 2
    console.print(f"saved {args.out} (the network with its {scaler.kind} feature scaling and feature names"
                  + (f"; {est.report_.status}: the best network found so far" if note else "") + ")",
                  highlight=False)
    return 0


def _constraints(args: argparse.Namespace, features: list[str], scaler: Scaler, n_inputs: int) -> list:
    """``--monotone NAME:+|-`` and ``--constraint FILE.vnnlib`` (raw features) as constraint objects on the scaled
    features the network is trained on (positive per-feature scaling keeps monotonicity and maps rows exactly)."""
    # deferred: training and the verifier, which `mipnet --help` and `mipnet verify` do not need at start-up
    from mipnet import constraints as C
    from mipnet.io.vnnlib import Disjunct, Property, load_vnnlib

    out = []
    for text in args.monotone or []:
        name, _, sign = text.rpartition(":")
        if not name or sign not in ("+", "-"):
            raise SettingsError(f"--monotone takes FEATURE:+ or FEATURE:-, got {text!r}")
        if name not in features:
            raise SettingsError(f"--monotone: unknown feature {name!r} (features: {', '.join(features)})")
        out.append(C.Monotone(features.index(name), "increasing" if sign == "+" else "decreasing"))
    for path in args.constraint or []:
        prop = load_vnnlib(path, n_inputs, None)
        disjuncts = [Disjunct(*scaler.map_rows(d.A, d.b), d.n_inputs) for d in prop.disjuncts]
        out.append(C.SafeRegion(Property(prop.n_inputs, prop.n_outputs, disjuncts, str(path))))
    return out


def _shape(text: str, n_features: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise SettingsError(f"--image-shape takes C,H,W like 1,8,8, got {text!r}") from None
    if int(np.prod(shape)) != n_features:
        raise DataError(f"--image-shape {text} holds {int(np.prod(shape))} values; the data has {n_features} features")
    return shape


def _is_int(t: str) -> bool:
    try:
        return float(t) == int(float(t))
    except ValueError:
        return False


def _load_model(path: str) -> Model:
    return Model.load(path)


def cmd_predict(args: argparse.Namespace, console: object) -> int:
    model = _load_model(args.model)
    header, rows = read_csv(args.data)
    features = model.features
    if features is None:
        features = [h for h in header if h != model.target][: model.n_features]
    missing = [f for f in features if f not in header]
    if missing:
        raise DataError(f"{args.data}: missing feature columns {missing}")
    if len(features) != model.n_features:
        raise DataError(f"{args.data}: {len(features)} feature columns, the model takes {model.n_features}")
    X = numeric_columns(args.data, header, rows, features)
    if model.task == "classification":
        lines = ["prediction"] + [str(p) for p in model.predict(X)]
    else:
        out = model.outputs(X)
        lines = [",".join(f"output_{k}" for k in range(out.shape[1]))] + [",".join(f"{v:.10g}" for v in r)
                                                                        for r in out]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_info(args: argparse.Namespace, console: object) -> int:
    model = _load_model(args.model)
    net, meta = model.network, model.metadata
    s = net.summary(tol=0.0)
    if args.json:
        print(json.dumps({"summary": s, "model": model.describe(), "report": meta.get("report"),
                          "metadata": {k: v for k, v in meta.items() if k != "report"}}, indent=1))
        return 0
    console.print(f"input shape {tuple(s['input_shape'])} -> output shape {tuple(s['output_shape'])}", highlight=False)
    for i, entry in enumerate(s["layers"]):
        desc = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("kind", "nonzero_weights", "weights",
                                                                          "active_units", "units", "out_shape"))
        line = f"  [{i}] {entry['kind']}({desc}) -> {tuple(entry['out_shape'])}"
        if "weights" in entry:
            unit = "filters" if entry["kind"] == "conv2d" else "neurons"
            line += (f"   nonzero weights {entry['nonzero_weights']}/{entry['weights']}, active {unit} "
                     f"{entry['active_units']}/{entry['units']}")
        console.print(line, highlight=False)
    console.print(f"parameters {s['nonzero_parameters']} nonzero of {s['parameters']}", highlight=False)
    if model.task:
        what = f"task {model.task}"
        if model.classes is not None:
            what += f", classes {', '.join(map(str, model.classes))}"
        if model.target is not None:
            what += f", target {model.target}"
        console.print(what, highlight=False)
    names = model.features
    if names is not None:
        console.print(f"features ({len(names)}): {', '.join(names)}", highlight=False)
    pre = model.preprocessing
    if pre is None:
        console.print("preprocessing: none (inputs go to the network as they are)", highlight=False)
    else:
        console.print(f"preprocessing: {pre.kind} scaling x' = (x - offset) * scale, applied by predict, load() and "
                      "verify (which takes raw features unless --space scaled):", highlight=False)
        for row in pre.describe(names):
            console.print(f"  {row}", highlight=False)
    if s["inputs_used"] is not None:
        used = [names[k] for k in s["inputs_used"]] if names else s["inputs_used"]
        console.print(f"inputs used ({len(used)} of {net.n_inputs}): {', '.join(map(str, used))}", highlight=False)
    rep = meta.get("report")
    if rep:
        console.print(f"trained: status {rep.get('status')}, objective {fmt(rep.get('objective'))}, "
                      f"bound {fmt(rep.get('bound'))}, gap {fmt(rep.get('gap'), pct=True)}",
                      highlight=False)
    return 0


EXPORT_SUFFIXES = (".onnx", ".nnet", ".json")


def cmd_export(args: argparse.Namespace, console: object) -> int:
    """Write a model's network to ONNX, NNet or mipnet JSON, on raw features (the preprocessing folded into the
    first layer) or on the network's own inputs; the file is read back and compared with the model."""
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise SettingsError(f"{out}: cannot export to {suffix or '(no suffix)'!r}; choose {', '.join(EXPORT_SUFFIXES)}")
    check_writable(out, option="output")
    model = _load_model(args.model)
    raw = args.space == "raw"
    net = model.raw_network() if raw else model.network
    if suffix == ".onnx":
        to_onnx(net, out, dtype="float64" if args.float64 else "float32")
    elif suffix == ".nnet":
        save_nnet(net, out)
    else:   # a model file without preprocessing: its labels and names kept, its inputs those of ``net``
        Model(net, None, model.features if raw else None, model.target, model.task, model.classes,
              model.metadata).save(out)
    # the re-check: the file as written, read back, against the model on raw points (through its preprocessing)
    rng = np.random.default_rng(0)
    Xs = rng.uniform(-1.0, 1.0, (256, model.n_features))
    X_raw = model.inverse_transform(Xs)
    want = model.outputs(X_raw)
    back = Model.load(out).network
    got = back.forward((X_raw if raw else Xs).reshape(len(Xs), *back.input_shape)).reshape(len(Xs), -1)
    err = float(np.max(np.abs(got - want) / (1.0 + np.abs(want))))
    space = ("raw features (the preprocessing folded into the first layer)" if raw and model.preprocessing
             is not None else "raw features" if raw else "the network's own (scaled) inputs")
    console.print(f"saved {out}: takes {space}; read back, its outputs differ from the model's by at most "
                  f"{err:.2g} relative on 256 points", highlight=False)
    return 0


def cmd_plot(args: argparse.Namespace, console: object) -> int:
    from mipnet.plot import PlotKind, plot_network, plot_progress, save_figure

    kind = PlotKind(args.kind)
    out = args.out or str(Path(args.model).with_suffix(".png"))
    check_writable(out)
    if kind == PlotKind.SWEEP:
        from mipnet.sweep import SweepResult

        fig = SweepResult.load(args.model).plot()
    else:
        model = _load_model(args.model)
        if kind == PlotKind.NETWORK:
            names = None
            if model.classes is not None:
                names = ([f"score (> 0: {model.classes[1]})"] if model.network.n_outputs == 1
                         else [str(c) for c in model.classes])
            fig = plot_network(model.network, model.features, names, title=Path(args.model).name)
        else:
            history = (model.metadata.get("report") or {}).get("history")
            if not history:
                raise DataError(f"{args.model}: the model's report has no progress history (trained before it was "
                                "recorded, or not by mipnet)")
            fig = plot_progress(history, title=Path(args.model).name, log_gap=True)
    save_figure(fig, out)
    console.print(f"saved {out}", highlight=False)
    return 0


def cmd_demo(args: argparse.Namespace, console: object) -> int:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from mipnet.estimators import MIPNetClassifier

    if args.out:
        check_writable(args.out)
    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler((-1, 1)).fit_transform(StandardScaler().fit_transform(X))
    n = args.n
    console.print(f"mipnet demo: breast cancer (scikit-learn), first {n} rows for training, the other {len(X) - n} "
                  f"held out; one hidden layer of {args.hidden} ReLU neurons, hinge loss + {args.l1} * L1, HiGHS",
                  highlight=False)
    display = _display(args, console)
    clf = MIPNetClassifier(hidden=(args.hidden,), l1=args.l1, time_limit=args.time_limit, callback=display)
    try:
        clf.fit(X[:n], y[:n])
    finally:
        if display is not None:
            display.close()
    console.print(str(clf.report_), highlight=False)
    console.print(f"train accuracy {clf.score(X[:n], y[:n]):.3f}; held-out accuracy {clf.score(X[n:], y[n:]):.3f} "
                  f"on {len(X) - n} samples", highlight=False)
    note = _stopped_note(clf.report_)
    if note:
        console.print(note, highlight=False)
    if args.out:
        if not _saved(clf, args.out):
            return 2
        console.print(f"saved {args.out}" + (f" ({clf.report_.status}: the best network found so far)" if note
                                            else ""), highlight=False)
    else:
        console.print("model not saved (give --out FILE to save it)", highlight=False)
    return 0


# ---------------------------------------------------------------------------------------------- parser


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (``none`` for ``None``), unless the text already says it or the
    option is required."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.required or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if action.default is None:
            return f"{text} (default: none)"
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mipnet", description="Train ReLU networks to proven optimality by MIP, and "
                                                           "verify trained networks exactly.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a network on a CSV file",
                       formatter_class=_DefaultsFormatter,
                       description="Train a ReLU network on a CSV file (header row, numeric feature columns) to proven "
                                   "optimality by MIP, print the report and the fit on the training data, and save "
                                   "the model with its feature scaling.")
    t.add_argument("data", help="CSV file: a header row, then one sample per row")
    t.add_argument("--target", required=True, help="name of the target column (every other column is a feature)")
    t.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto: from --loss when given, else guessed from the target column (labels that are not "
                        "numbers, or at most 20 distinct whole numbers, are classes); a loss that contradicts the "
                        "task or the target column is an error")
    t.add_argument("--hidden", default="4", help="hidden layer widths, comma separated, e.g. 4,4 (ignored with --arch)")
    t.add_argument("--arch", default=None, help="architecture text instead of --hidden, e.g. "
                                                "'conv(4,k=3,p=1)-maxpool(2)-flatten-dense(2)'; the last layer has one "
                                                "output per class (two classes: 1 or 2) or per target")
    t.add_argument("--loss", default=None, help="hinge | zero_one (classification) | absolute | max | squared "
                                                "(regression; squared needs --solver scip) (default: hinge for "
                                                "classification, absolute for regression)")
    t.add_argument("--weights", default="auto", help="weight domain: auto | continuous | sign | ternary | "
                                                     "grid(bits) | continuous-bilinear, or one per affine layer "
                                                     "separated by commas (e.g. continuous,ternary)")
    t.add_argument("--weight-bound", type=float, default=1.0, help="every weight lies in [-bound, bound]")
    penalties = {"l1": "penalty on the sum of |weights|", "l2": "penalty on the sum of squared weights",
                 "l0": "penalty per nonzero weight", "neuron-penalty": "penalty per active hidden neuron",
                 "input-penalty": "penalty per input feature used", "filter-penalty": "penalty per active filter",
                 "layer-penalty": "penalty per active gated layer"}
    for name, text in penalties.items():
        t.add_argument(f"--{name}", type=float, default=0.0, help=text)
    limits = {"max-inputs": "at most this many input features",
              "max-neurons": "at most this many active neurons per hidden layer",
              "max-filters": "at most this many active filters per convolution layer",
              "max-layers": "at most this many active gated layers"}
    for name, text in limits.items():
        t.add_argument(f"--{name}", type=int, default=None, help=text)
    t.add_argument("--image-shape", default=None, help="C,H,W: reshape each row's features into an image (for --arch "
                                                       "with convolutions), e.g. 1,8,8")
    t.add_argument("--scale", default="minmax", help="feature scaling saved with the model: minmax (to [-1, 1]), "
                                                    "standard or none")
    t.add_argument("--primal", choices=[p.value for p in PrimalSearch], default=PrimalSearch.AUTO.value,
                   help="primal side: large-neighbourhood search for better networks before the full MIP (auto: "
                        "for networks with a convolution)")
    _solver_args(t)
    t.add_argument("--out", default=None, help="where to save the model (mipnet JSON); none: not saved")
    t.add_argument("--monotone", action="append", metavar="FEATURE:+|-",
                   help="the output must be non-decreasing (+) or non-increasing (-) in FEATURE over the data's "
                        "bounding box, proved by the verifier (repeatable)")
    t.add_argument("--constraint", action="append", metavar="FILE.vnnlib",
                   help="the unsafe region of this VNN-LIB file (X_i = raw feature i) must be empty for the trained "
                        "network, proved by the verifier (repeatable)")

    pr = sub.add_parser("predict", help="predict with a saved model")
    pr.add_argument("model")
    pr.add_argument("data")
    pr.add_argument("--out", default=None)

    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model")
    i.add_argument("--json", action="store_true")

    ex = sub.add_parser("export", help="write a saved model's network as ONNX, NNet or mipnet JSON",
                        formatter_class=_DefaultsFormatter,
                        description="Write the network of a model file so that other tools can run it. By default "
                                    "it takes raw features, as predict does: the model's scaling is folded into "
                                    "the first Dense layer (exact algebra). The file is read back and compared "
                                    "with the model.")
    ex.add_argument("model", help="model file (.json, .onnx, .nnet)")
    ex.add_argument("out", help="output file: .onnx (float32 unless --float64), .nnet or .json")
    ex.add_argument("--space", choices=("raw", "scaled"), default="raw",
                    help="inputs of the written network: raw features, or the network's own scaled inputs")
    ex.add_argument("--float64", action="store_true", help="ONNX tensors in float64 (bit-exact weights)")

    pl = sub.add_parser("plot", help="draw a saved model, its training progress, or a sweep (needs matplotlib)",
                        formatter_class=_DefaultsFormatter,
                        description="Draw a model (pruned inputs, neurons and filters grey, weights as edge widths), "
                                    "the incumbent and bound over its training, or a lambda sweep saved by "
                                    "mipnet.sweep.SweepResult.save, as PNG or SVG (pip install 'mipnet[plot]').")
    pl.add_argument("model", help="model file (.json, .onnx, .nnet), or a sweep file (.json) with --kind sweep")
    pl.add_argument("--kind", choices=("network", "progress", "sweep"), default="network", help="what to draw")
    pl.add_argument("--out", default=None, help="picture file, .png or .svg (default: the model's name with .png)")

    d = sub.add_parser("demo", help="train on breast cancer (ships with scikit-learn) to proven optimality")
    d.add_argument("--n", type=int, default=40, help="training rows (default 40)")
    d.add_argument("--hidden", type=int, default=2)
    d.add_argument("--l1", type=float, default=0.01)
    d.add_argument("--time-limit", type=float, default=300.0)
    d.add_argument("--quiet", action="store_true")
    d.add_argument("--out", default=None)

    try:
        from mipnet.cli_verify import add_parser as add_verify
    except ImportError:
        add_verify = None
    if add_verify is not None:
        add_verify(sub)
    from mipnet.cli_repair import add_parser as add_repair

    add_repair(sub)
    add_supports_parser(sub)
    add_vnncomp_parser(sub)
    add_instance_parser(sub)
    return p


def _solver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solver", default="highs", help="highs (embedded) | scip (pip install 'mipnet[scip]'; for "
                                                     "squared error) | gurobi (pip install 'mipnet[gurobi]'; needs a "
                                                     "licence beyond small models)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds (none: no limit); at the limit the best "
                                                                  "network found so far is kept")
    p.add_argument("--threads", type=int, default=1, help="solver threads")
    p.add_argument("--node-limit", type=int, default=None, metavar="NODES",
                   help="branch-and-bound nodes per MIP solve: a fixed amount of work (with one thread and no time "
                        "limit the same data gives the same network every time)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the warm start and the solver")
    p.add_argument("--quiet", action="store_true", help="no live progress")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mipnet`` command."""
    launched = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"train": cmd_train, "predict": cmd_predict, "info": cmd_info, "demo": cmd_demo, "plot": cmd_plot,
                "export": cmd_export}
    try:
        if args.command in commands:
            from rich.console import Console  # here, not at the top: --help and verify start without it

            args.launched = launched   # progress times count from here

            return commands[args.command](args, Console(soft_wrap=True, highlight=False))
        return args.func(args)
    except (MIPNetError, OSError) as exc:
        print(f"mipnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        unsaved = " (no model saved)" if args.command in ("train", "demo") else ""
        print(f"mipnet: interrupted{unsaved}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
