"""The package's import graph: acyclic, layered one way, and no hidden imports inside functions.

Every ``import`` / ``from ... import`` in amc/ is read with an AST walk (function bodies included,
``if TYPE_CHECKING:`` blocks excluded: they never run), resolved to amc modules, and checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import amc

ROOT = Path(amc.__file__).parent

# Lower layers first; a module may import its own layer's modules and any layer below, never above.
LAYERS = [
    ["amc", "amc.errors", "amc.config", "amc.files", "amc.jsonio", "amc.checkpoint"],
    ["amc.metrics", "amc.plots", "amc.progress", "amc.stats"],
    ["amc.data", "amc.models"],
    ["amc.train"],
    ["amc.runtime"],
    ["amc.export"],
    ["amc.eval"],
    ["amc.serve", "amc.classify", "amc.pretrained", "amc.quickstart"],
    ["amc.cli", "amc.__main__"],
]
# Imports allowed inside functions: optional or heavy libraries a CPU install may lack or should not pay for
# at start-up, and, in the CLI only, the library each command calls (so `amc --help` stays fast).
LAZY_OK = {"tensorrt", "uvicorn", "fastapi", "starlette", "prometheus_client", "matplotlib", "sigmf", "jsonschema",
           "torch", "h5py", "scipy.stats",
           "gnuradio"}  # gnuradio: optional, outside amc's environment (amc.data.gr_chain)


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def layer(name: str) -> int:
    best = -1
    for i, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes if p != "amc"):
            best = i
    return 0 if best < 0 and name == "amc" else best


class Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, bool, int]] = []  # (imported, inside a function, line)
        self.depth = 0

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _func(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _func

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, self.depth > 0, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            pkg = self.module.split(".")
            pkg = pkg if self.is_package else pkg[:-1]
            pkg = pkg[: len(pkg) - node.level + 1]
            base = ".".join(pkg + ([base] if base else []))
        for alias in node.names:
            self.found.append((f"{base}.{alias.name}", self.depth > 0, node.lineno))


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    lazy: list[tuple[str, str, int]] = []
    for name, path in mods.items():
        v = Imports(name, path.name == "__init__.py")
        v.visit(ast.parse(path.read_text()))
        for target, inside, line in v.found:
            if inside:
                lazy.append((name, target, line))
            if target.split(".")[0] != "amc":
                continue
            while target not in mods and "." in target:  # `from amc.x import name` -> amc.x
                target = target.rsplit(".", 1)[0]
            if target in mods and target != name:
                edges[name].add(target)
    return edges, lazy


def test_import_graph_is_acyclic():
    edges, _ = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_layers_import_downwards_only():
    edges, _ = graph()
    bad = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, targets in edges.items()
           for b in targets if layer(b) > layer(a)]
    unplaced = [m for m in edges if layer(m) < 0]
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"
    assert not bad, "\n".join(bad)


def test_function_level_imports_are_only_the_lazy_heavy_ones():
    _, lazy = graph()
    bad = [f"{m}:{line} imports {t}" for m, t, line in lazy
           if not any(t == ok or t.startswith(ok + ".") for ok in LAZY_OK)
           and not (m.startswith("amc.cli") and t.startswith("amc."))]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_cycle_and_a_lazy_import(tmp_path):
    """The AST walk itself: relative imports resolve, function bodies count, TYPE_CHECKING does not."""
    src = ("from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    from amc import c\n"
           "def f():\n    import os\n")
    v = Imports("amc.pkg.a", False)
    v.visit(ast.parse(src))
    assert ("amc.pkg.b", False, 2) in v.found
    assert ("os", True, 6) in v.found
    assert not any(t == "amc.c" for t, _, _ in v.found)


def test_modules_loaded_by_name_exist_in_their_layer():
    """The two imports by name (importlib): each artifact kind's runtime backend (Engine.load) and each export
    format's builder. The AST walk cannot see them, so they are checked here: the module exists, sits in the
    layer of the table that names it, and defines what the table expects."""
    import importlib

    from amc.export.formats import FORMATS
    from amc.runtime.base import _BACKENDS
    from amc.runtime.formats import ARTIFACTS

    mods = modules()
    for kind in ARTIFACTS.values():
        assert kind.module in mods and layer(kind.module) == layer("amc.runtime"), kind
        importlib.import_module(kind.module)
        assert kind.backend in _BACKENDS, f"{kind.module} defines no Engine with backend {kind.backend!r}"
    for fmt in FORMATS.values():
        module, name = fmt.build.__qualname__.rsplit(".", 1)
        assert module in mods and layer(module) == layer("amc.export"), fmt
        assert callable(getattr(importlib.import_module(module), name)), fmt
