"""The package import graph (tools/import_graph.py): no cycles, train and verify share encode/bounds and never
import each other."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_graph.py"


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_cycle_and_no_forbidden_edge() -> None:
    assert _tool().problems() == []


def test_both_jobs_import_the_shared_encoder_and_bounds() -> None:
    graph = _tool().package_graph()
    for job in ("train", "verify"):
        assert {"encode", "bounds"} <= graph[job]
    assert "train" not in graph["verify"] and "verify" not in graph["train"]


def test_the_checker_finds_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "mipnet"
    (pkg / "train").mkdir(parents=True)
    (pkg / "verify").mkdir()
    for p in (pkg, pkg / "train", pkg / "verify"):
        (p / "__init__.py").write_text("")
    (pkg / "train" / "a.py").write_text("def f():\n    from mipnet.verify import b\n")
    (pkg / "verify" / "b.py").write_text("from mipnet.train.a import f\n")
    found = _tool().problems(tmp_path)
    assert any("cycle" in p for p in found) and any("train imports verify" in p for p in found)
