"""The import graph of the ``mipnet`` package, from its source (no import is executed).

    python tools/import_graph.py             # package graph: one line per package and what it imports
    python tools/import_graph.py --modules   # module graph
    python tools/import_graph.py --check     # exit 1 on a cycle or a forbidden edge

Rules checked (DESIGN.md section 5): no import cycle between modules or between packages, counting imports inside
functions as if they were at the top (a deferred import may make start-up faster, never hide a cycle); ``train``
and ``verify`` both import ``encode`` and ``bounds`` and never each other; ``encode`` and ``bounds`` import neither
job; ``constraints`` (which joins the two jobs) is imported by neither.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
#: (importer package, imported package) pairs that must not occur
FORBIDDEN = [("train", "verify"), ("verify", "train"), ("encode", "train"), ("encode", "verify"),
             ("bounds", "train"), ("bounds", "verify"), ("bounds", "encode")] + \
    [(low, "constraints") for low in ("train", "verify", "encode", "bounds")]


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(src: Path = SRC) -> dict[str, list[str]]:
    """Per ``mipnet`` module: the ``mipnet`` modules it imports, at the top or inside a function
    (``from mipnet.x import y`` counts as importing ``mipnet.x.y`` when that is a module)."""
    files = sorted((src / "mipnet").rglob("*.py"))
    names = {module_name(f, src) for f in files}
    out: dict[str, list[str]] = {}
    for f in files:
        mod = module_name(f, src)
        found: list[str] = []
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                found.extend(a.name for a in node.names if a.name.startswith("mipnet"))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(node, mod, f.name == "__init__.py")
                if target.startswith("mipnet"):
                    found.extend(f"{target}.{a.name}" if f"{target}.{a.name}" in names else target for a in node.names)
        out[mod] = found
    return out


def package_of(module: str) -> str:
    """``mipnet.train.sign_patterns.cuts`` -> ``train``; top-level modules are their own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph (as a list of nodes), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = dfs(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def module_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> imported modules (a package ``__init__`` importing its own modules is not an edge back)."""
    return {m: {t for t in deps if t != m} for m, deps in imports(src).items()}


def package_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Package -> imported packages (``mipnet/__init__.py``, the public face, is left out)."""
    graph: dict[str, set[str]] = {}
    for m, deps in imports(src).items():
        if m == "mipnet":
            continue
        p = package_of(m)
        graph.setdefault(p, set()).update(package_of(t) for t in deps if package_of(t) not in (p, "mipnet"))
    return graph


def problems(src: Path = SRC) -> list[str]:
    """Every violation of the rules in the module docstring."""
    out = []
    cyc = find_cycle(module_graph(src))
    if cyc:
        out.append("module cycle: " + " -> ".join(cyc))
    pg = package_graph(src)
    cyc = find_cycle(pg)
    if cyc:
        out.append("package cycle: " + " -> ".join(cyc))
    out += [f"forbidden import: {a} imports {b}" for a, b in FORBIDDEN if b in pg.get(a, set())]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", action="store_true", help="print the module graph instead of the package graph")
    ap.add_argument("--check", action="store_true", help="exit 1 if a rule is broken")
    args = ap.parse_args(argv)
    graph = module_graph() if args.modules else package_graph()
    for node in sorted(graph):
        print(f"{node} -> {', '.join(sorted(graph[node])) or '(nothing)'}")
    found = problems()
    for p in found:
        print("PROBLEM:", p)
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
