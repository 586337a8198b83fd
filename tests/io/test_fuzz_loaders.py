"""Fuzzing of every loader: mutated model, network, data and property files either load correctly or raise
mipnet's own error (:class:`~mipnet.errors.MIPNetError`) with a message: never another exception, never a hang.

Each loader starts from valid files (a dense and a convolutional network, a CSV of data and of a point, a VNN-LIB
property) and hypothesis mutates them: byte flips, insertions, deletions and truncation for every format; field
deletion and type changes for JSON; random protobuf field mutation (clear, new scalar values, dropped or
duplicated repeated entries) for ONNX. Every example runs under a wall-clock deadline (``DEADLINE`` seconds,
SIGALRM): exceeding it fails the test as a hang. A file that loads must also be usable: its network evaluates.

The default run is small (``DEFAULT_EXAMPLES`` per test); ``MIPNET_FUZZ_EXAMPLES=N`` runs N per test, and
``MIPNET_FUZZ_REPORT=FILE`` writes the counts per loader (inputs tried, loaded, clean errors, crashes, hangs) as
JSON at the end (bench/RESULTS.md has one big run).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mipnet import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, Network  # noqa: E402
from mipnet.cli import numeric_columns, read_csv  # noqa: E402
from mipnet.cli_verify import _read_point  # noqa: E402
from mipnet.errors import MIPNetError  # noqa: E402
from mipnet.io.nnet import load_nnet  # noqa: E402
from mipnet.io.vnnlib import load_vnnlib  # noqa: E402
from mipnet.model import Model, Scaler  # noqa: E402

DEFAULT_EXAMPLES = 100
EXAMPLES = int(os.environ.get("MIPNET_FUZZ_EXAMPLES", "0")) or DEFAULT_EXAMPLES
DEADLINE = float(os.environ.get("MIPNET_FUZZ_DEADLINE", "5"))
COUNTS: dict[str, Counter] = defaultdict(Counter)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES == DEFAULT_EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


class Hang(Exception):
    """An example ran past the deadline."""


@contextmanager
def deadline(seconds: float):
    if threading.current_thread() is not threading.main_thread():   # SIGALRM works in the main thread only
        yield
        return

    def fire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def attempt(loader: str, load: Callable[[], object], use: Callable[[object], None] = lambda r: None) -> None:
    """Run ``load`` (then ``use`` on its result) under the deadline and count how it ended; anything but a
    result or a :class:`MIPNetError` with a message fails the test."""
    COUNTS[loader]["inputs tried"] += 1
    try:
        with deadline(DEADLINE), np.errstate(all="ignore"):
            use(load())
    except MIPNetError as exc:
        assert str(exc).strip(), f"{loader}: {type(exc).__name__} without a message"
        COUNTS[loader]["clean errors"] += 1
        return
    except Hang:
        COUNTS[loader]["hangs"] += 1
        raise
    except BaseException:
        COUNTS[loader]["crashes"] += 1
        raise
    COUNTS[loader]["loaded"] += 1


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    yield
    path = os.environ.get("MIPNET_FUZZ_REPORT")
    if path:
        rows = {k: {f: c.get(f, 0) for f in ("inputs tried", "loaded", "clean errors", "crashes", "hangs")}
                for k, c in sorted(COUNTS.items())}
        Path(path).write_text(json.dumps(rows, indent=1) + "\n")


# ------------------------------------------------------------------------------------------------ seeds


def dense_net() -> Network:
    rng = np.random.default_rng(0)
    return Network([Dense(3, weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3)),
                    Dense(2, weight=rng.normal(size=(2, 3)), bias=rng.normal(size=2))], 4)


def conv_net() -> Network:
    rng = np.random.default_rng(1)
    return Network([Conv2D(2, 3, padding=1, weight=rng.normal(size=(2, 1, 3, 3)), bias=rng.normal(size=2)),
                    MaxPool2D(2), AvgPool2D(1), Flatten(),
                    Dense(2, weight=rng.normal(size=(2, 8)), bias=rng.normal(size=2))], (1, 4, 4))


def json_seeds(tmp: Path) -> list[bytes]:
    X = np.random.default_rng(2).normal(size=(10, 4))
    dense = Model(dense_net(), Scaler.fit("minmax", X), ["a", "b", "c", "d"], "y", "classification", ["no", "yes"],
                  {"estimator": "MIPNetClassifier", "report": {"status": "optimal", "history": [[0.1, 1.0, 0.5]]}})
    conv = Model(conv_net(), None, None, None, "regression")
    out = []
    for i, m in enumerate((dense, conv)):
        m.save(tmp / f"seed{i}.json")
        out.append((tmp / f"seed{i}.json").read_bytes())
    return out


def nnet_text(net: Network) -> str:
    sizes = [net.n_inputs] + [layer.units for layer in net.affine_layers()]
    lines = ["// a small network", f"{len(sizes) - 1},{sizes[0]},{sizes[-1]},{max(sizes)},",
             ",".join(map(str, sizes)) + ",", "0,", ",".join(["-1"] * sizes[0]) + ",",
             ",".join(["1"] * sizes[0]) + ",", ",".join(["0"] * (sizes[0] + 1)) + ",",
             ",".join(["1"] * (sizes[0] + 1)) + ","]
    for layer in net.affine_layers():
        lines += [",".join(f"{v:.6g}" for v in row) + "," for row in layer.weight]
        lines += [f"{v:.6g}," for v in layer.bias]
    return "\n".join(lines) + "\n"


CSV_SEED = b"a,b,c,d,label\n0.5,1,-2,3.25,yes\n1e-3,2,0,-1,no\n7,8,9,10,yes\n"
POINT_SEED = b"a,b,c,d\n0.1,0.2,0.3,0.4\n"
VNNLIB_SEED = b"""; a property
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const X_2 Real)
(declare-const X_3 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (<= X_0 1.0))
(assert (>= X_0 -1.0))
(assert (and (<= X_1 0.5) (>= X_1 -0.5)))
(assert (<= X_2 1e-1))
(assert (>= X_2 0))
(assert (<= X_3 2))
(assert (>= X_3 1))
(assert (or (and (>= Y_0 Y_1)) (and (<= Y_1 -3.5) (>= Y_0 0))))
"""


# -------------------------------------------------------------------------------------------- mutations


@st.composite
def byte_mutations(draw, seeds: list[bytes]) -> bytes:
    """A seed with up to 8 random edits: flip a byte, overwrite one, insert bytes, delete a run, truncate,
    duplicate a slice."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        n = len(data)
        pos = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and n:
            data[pos] = draw(st.sampled_from([0, 0xFF, ord("9"), ord("-"), ord("e"), ord(","), ord("\n"), ord("["),
                                              ord('"'), ord("("), ord(")"), draw(st.integers(0, 255))]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
                [b"nan", b"inf", b"-1", b"1e308", b"999999999", b"\xff\xfe", b",,", b"\n", b"[]", b"{}", b"null"]))
        elif op == "delete" and n:
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup" and n:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 32))]
    return bytes(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.sampled_from([0, 1, -1, 2, 10**9])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
    | st.sampled_from(["inf", "nan", "dense", "conv2d", "maxpool2d", "flatten", "minmax", "standard",
                       "mipnet-network"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def json_mutations(draw, seeds: list[bytes]) -> bytes:
    """A seed document with up to 4 fields deleted, replaced by a value of another type, or duplicated."""
    doc = json.loads(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "dup"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(JSON_VALUES)
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = copy.deepcopy(parent)
    return json.dumps(doc, allow_nan=True).encode()


def _repeated(fd) -> bool:
    rep = getattr(fd, "is_repeated", None)
    return bool(rep) if rep is not None else fd.label == fd.LABEL_REPEATED


def _onnx_fields(msg, out: list) -> list:
    for fd, value in msg.ListFields():
        out.append((msg, fd))
        if fd.type == fd.TYPE_MESSAGE:
            for sub in (value if _repeated(fd) else [value]):
                _onnx_fields(sub, out)
    return out


def _scalar(draw, fd):
    t = fd.type
    if t in (fd.TYPE_INT64, fd.TYPE_INT32, fd.TYPE_SINT64, fd.TYPE_SINT32, fd.TYPE_SFIXED32, fd.TYPE_SFIXED64):
        lim = 2**31 - 1 if t in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32) else 2**63 - 1
        return draw(st.sampled_from([0, 1, -1, 2, 3, 7, 11, 13, 10**6]) | st.integers(-lim - 1, lim))
    if t in (fd.TYPE_UINT64, fd.TYPE_UINT32, fd.TYPE_FIXED32, fd.TYPE_FIXED64):
        return draw(st.integers(0, 2**32 - 1))
    if t in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        return draw(st.floats(allow_nan=True, allow_infinity=True, width=32 if t == fd.TYPE_FLOAT else 64))
    if t == fd.TYPE_BOOL:
        return draw(st.booleans())
    if t == fd.TYPE_ENUM:
        return draw(st.sampled_from([v.number for v in fd.enum_type.values]))
    if t == fd.TYPE_STRING:
        return draw(st.text(max_size=8) | st.sampled_from(["Gemm", "Relu", "Conv", "MatMul", "Add", "input", "",
                                                           "Flatten", "MaxPool", "Reshape", "Constant"]))
    if t == fd.TYPE_BYTES:
        return draw(st.binary(max_size=40))
    return None


@st.composite
def onnx_mutations(draw, seeds: list[bytes]) -> bytes:
    """A seed model with up to 4 protobuf fields cleared, set to new values, or repeated entries dropped or
    duplicated; then possibly byte mutations of the serialised model."""
    import onnx

    model = onnx.ModelProto()
    model.ParseFromString(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        msg, fd = draw(st.sampled_from(_onnx_fields(model, [])))
        op = draw(st.sampled_from(["clear", "set", "set", "drop", "dup"]))
        repeated = _repeated(fd)
        if op == "clear":
            msg.ClearField(fd.name)
        elif repeated and op in ("drop", "dup"):
            items = getattr(msg, fd.name)
            if len(items):
                i = draw(st.integers(0, len(items) - 1))
                if op == "drop":
                    del items[i]
                elif fd.type == fd.TYPE_MESSAGE:
                    items.add().CopyFrom(items[i])
                else:
                    items.append(items[i])
        elif fd.type != fd.TYPE_MESSAGE:
            value = _scalar(draw, fd)
            if value is None:
                continue
            try:
                if repeated:
                    items = getattr(msg, fd.name)
                    if len(items):
                        items[draw(st.integers(0, len(items) - 1))] = value
                    else:
                        items.append(value)
                else:
                    setattr(msg, fd.name, value)
            except (ValueError, TypeError):   # a value the field cannot hold (e.g. non-UTF-8)
                continue
    data = model.SerializeToString()
    if draw(st.booleans()):
        data = draw(byte_mutations([data]))
    return data


# ------------------------------------------------------------------------------------------------ users


def _evaluate(net: Network) -> None:
    """A loaded network must evaluate (when it is small enough to try), to finite outputs of its shape."""
    assert isinstance(net, Network)
    for layer in net.affine_layers():     # a loaded network has finite weights
        assert np.all(np.isfinite(layer.weight)) and (layer.bias is None or np.all(np.isfinite(layer.bias)))
    if net.n_inputs <= 10**5:
        out = net.forward(np.zeros((1, *net.input_shape)))
        assert out.shape == (1, net.n_outputs)


def _use_model(model: Model) -> None:
    _evaluate(model.network)
    if model.n_features <= 10**5:
        model.predict(np.zeros((1, model.n_features))) if model.task == "classification" else \
            model.outputs(np.zeros((1, model.n_features)))


# ------------------------------------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, list[bytes]]:
    tmp = tmp_path_factory.mktemp("seeds")
    out = {"json": json_seeds(tmp), "nnet": [nnet_text(dense_net()).encode()], "csv": [CSV_SEED],
           "point": [POINT_SEED], "vnnlib": [VNNLIB_SEED]}
    try:
        from mipnet.io.onnx_io import to_onnx

        out["onnx"] = [to_onnx(dense_net()).SerializeToString(), to_onnx(conv_net()).SerializeToString(),
                       to_onnx(dense_net(), dtype="float32").SerializeToString()]
    except ImportError:
        pass
    for kind, files in out.items():   # the seeds themselves load
        for data in files:
            _load(kind, data, tmp)
    return out


def _write(tmp: Path, data: bytes, suffix: str) -> Path:
    p = tmp / f"fuzz{suffix}"
    p.write_bytes(data)
    return p


def _load(kind: str, data: bytes, tmp: Path) -> object:
    if kind == "json":
        return _use_model(Model.load(_write(tmp, data, ".json")))
    if kind == "onnx":
        return _use_model(Model.load(_write(tmp, data, ".onnx")))
    if kind == "nnet":
        return _evaluate(load_nnet(_write(tmp, data, ".nnet")))
    if kind == "csv":
        p = _write(tmp, data, ".csv")
        header, rows = read_csv(p)
        X = numeric_columns(p, header, rows, [h for h in header if h != "label"][:4])
        assert np.all(np.isfinite(X))
        return X
    if kind == "point":
        x = _read_point(str(_write(tmp, data, ".csv")), Model(dense_net(), features=["a", "b", "c", "d"]))
        assert x.ndim == 1 and np.all(np.isfinite(x))
        return x
    if kind == "vnnlib":
        return load_vnnlib(_write(tmp, data, ".vnnlib"), 4, 2)
    raise AssertionError(kind)


@pytest.fixture
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.data())
def test_json_model_bytes(seeds, tmp, data) -> None:
    blob = data.draw(byte_mutations(seeds["json"]))
    attempt("JSON model (bytes)", lambda: _load("json", blob, tmp))


@FUZZ
@given(data=st.data())
def test_json_model_fields(seeds, tmp, data) -> None:
    blob = data.draw(json_mutations(seeds["json"]))
    attempt("JSON model (fields)", lambda: _load("json", blob, tmp))


@FUZZ
@given(data=st.data())
def test_onnx_fields_and_bytes(seeds, tmp, data) -> None:
    if "onnx" not in seeds:
        pytest.skip("onnx is not installed")
    blob = data.draw(onnx_mutations(seeds["onnx"]))
    attempt("ONNX", lambda: _load("onnx", blob, tmp))


@FUZZ
@given(data=st.data())
def test_nnet_bytes(seeds, tmp, data) -> None:
    blob = data.draw(byte_mutations(seeds["nnet"]))
    attempt("NNet", lambda: _load("nnet", blob, tmp))


@FUZZ
@given(data=st.data())
def test_csv_data_bytes(seeds, tmp, data) -> None:
    blob = data.draw(byte_mutations(seeds["csv"]))
    attempt("CSV data", lambda: _load("csv", blob, tmp))


@FUZZ
@given(data=st.data())
def test_csv_point_bytes(seeds, tmp, data) -> None:
    blob = data.draw(byte_mutations(seeds["point"]))
    attempt("CSV point", lambda: _load("point", blob, tmp))


@FUZZ
@given(data=st.data())
def test_vnnlib_bytes(seeds, tmp, data) -> None:
    blob = data.draw(byte_mutations(seeds["vnnlib"]))
    attempt("VNN-LIB", lambda: _load("vnnlib", blob, tmp))




# ------------------------------------------------------------------------- regressions found by the fuzzer

NNET = nnet_text(dense_net())
REGRESSIONS = [
    ("json", b"\xff" + json.dumps({"format": "mipnet-network"}).encode(), "not a text file"),
    ("json", json.dumps({"format": "mipnet-network", "version": 1, "input_shape": [2],
                         "layers": [{"kind": ["dense"]}]}).encode(), "unknown kind"),
    # a 200-byte file whose pooling layer would have built a 9 GiB window index before its shape check
    ("json", json.dumps({"format": "mipnet-network", "version": 1, "input_shape": [1, 100000, 100000],
                         "layers": [{"kind": "maxpool2d", "kernel": [2, 2]}, {"kind": "flatten"},
                                    {"kind": "dense", "units": 1, "weight": [[1.0]], "bias": [0.0]}]}).encode(),
     "weight has 1 inputs"),
    ("json", json.dumps({"format": "mipnet-network", "version": 1, "input_shape": [2],
                         "layers": [{"kind": "dense", "units": 1, "weight": [1.0, 2.0]}]}).encode(),
     "weight must be a 2-dimensional array"),
    ("json", json.dumps({"format": "mipnet-network", "version": 1, "input_shape": [2],
                         "layers": [{"kind": "dense", "units": 2, "weight": [[1.0, 2.0]]}]}).encode(),
     "weight has 1 rows for 2 units"),
    ("nnet", b"\xff" + NNET.encode(), "not a text file"),
    ("nnet", NNET.replace("2,4,2,4,", "1e312,4,2,4,", 1).encode(), "not a valid NNet file"),
    ("nnet", NNET.replace("0.12573,", "nan,", 1).encode(), "finite"),
    ("csv", b"\xff" + CSV_SEED, "not a text file"),
    ("point", b"\xff" + POINT_SEED, "not a text file"),
    ("point", b"a,b,c,d\n0.1,nan,0.3,0.4\n", "'b' is not a finite number"),
    ("point", b"0.1 inf 0.3 0.4\n", "not a finite number"),
]


@pytest.mark.parametrize(("kind", "data", "message"), REGRESSIONS)
def test_fuzzer_findings_are_clean_errors(tmp, kind, data, message) -> None:
    with pytest.raises(MIPNetError, match=message):
        _load(kind, data, tmp)


def test_onnx_without_an_attribute_is_a_clean_error(tmp) -> None:
    onnx = pytest.importorskip("onnx")
    from mipnet.io.onnx_io import to_onnx

    model = to_onnx(conv_net())
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    del conv.attribute[:]                                  # no kernel_shape, pads, strides
    model.graph.initializer[0].ClearField("raw_data")      # and an empty weight tensor
    with pytest.raises(MIPNetError, match="ONNX"):
        _load("onnx", model.SerializeToString(), tmp)
    nan = to_onnx(dense_net())
    nan.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(np.full((3, 4), np.nan), "W0"))
    with pytest.raises(MIPNetError, match="not finite"):
        _load("onnx", nan.SerializeToString(), tmp)
