"""The README's promises about installation match the Makefile (issue 10: `make demo` did not install onnx and
the README did not say so)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_target_installs(target: str) -> list[str]:
    """The ``pip install`` arguments of a Makefile target and of the targets it depends on."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    rules = dict(re.findall(r"^([^\s#][^:\n]*):[^\n]*\n((?:\t[^\n]*\n?)*)", text, flags=re.M))
    heads = {name.strip(): line for name, line in re.findall(r"^([^\s#][^:\n]*):([^\n]*)$", text, flags=re.M)}
    seen, todo, installs = set(), [target], []
    while todo:
        name = todo.pop()
        if name in seen or name not in rules:
            continue
        seen.add(name)
        installs += re.findall(r"pip install (?:--\S+ )*(.+)", rules[name])
        todo += heads.get(name, "").split()
    return installs


def test_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test"]


def test_readme_says_which_extras_make_demo_leaves_out():
    demo = _make_target_installs("demo")
    assert demo, "the demo target installs nothing?"
    assert not any("onnx" in line for line in demo)          # the core only ...
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.split("## What mipnet is", 1)[0]
    assert "mipnet[onnx]" in start and "make demo" in start    # ... and the Quick start says how to add ONNX
