"""The four rings of docs/ARCHITECTURE.md, checked on the source: every module of vau_plugin/ sits in one ring and
imports only modules of its own ring or of the rings before it (function-level imports included: a lazy import is
still a dependency), the imports between modules form no circle, and only the adapters import the upstream tools.

A new module must be placed in `RINGS` (the test names it otherwise), so the map in docs/ARCHITECTURE.md and this
table stay the one description of the layout."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vau_plugin"
# Folders shipped inside the package under another name (pyproject.toml's package-dir).
SHIPPED_AS = {ROOT / "tasks": "vau_plugin.tasks", ROOT / "recipes": "vau_plugin.recipes"}

# Ring by module name: the longest matching prefix (a package name covers its modules) decides.
RINGS: dict[str, tuple[str, ...]] = {
    # What VAU-Bench is and how it is scored: no torch, no numpy, no upstream tool.
    "domain": (
        "vau_plugin", "vau_plugin._env", "vau_plugin._files", "vau_plugin.data", "vau_plugin.parsing",
        "vau_plugin.prompts", "vau_plugin.metrics", "vau_plugin.task_metrics", "vau_plugin.rewards",
        "vau_plugin.predictions", "vau_plugin.score", "vau_plugin.progress",
    ),
    # Video files and the frames a model sees: the budget, sampling, decoding, the frame cache, the motion layer.
    "media": (
        "vau_plugin.budget", "vau_plugin.sampling", "vau_plugin.video", "vau_plugin.video_checks", "vau_plugin.cache",
        "vau_plugin.motion", "vau_plugin.motion_model",
    ),
    # The only code that imports lmms_eval, llamafactory or trl (tasks/ is shipped as vau_plugin.tasks).
    "adapters": ("vau_plugin.lmms", "vau_plugin.llamafactory", "vau_plugin.frameworks", "vau_plugin.tasks"),
    # What a user or developer runs; nothing else imports it (recipes/ is shipped as vau_plugin.recipes).
    "tools": (
        "vau_plugin.cli", "vau_plugin.commands", "vau_plugin.runners", "vau_plugin.demo", "vau_plugin.learning",
        "vau_plugin.gpu_check", "vau_plugin.tiny_model", "vau_plugin.benches", "vau_plugin.motion_preview",
        "vau_plugin.recipes",
    ),
}
ORDER = tuple(RINGS)
UPSTREAM = ("lmms_eval", "llamafactory", "trl")
# What the domain never imports: the heavy numeric and media stack (torch only where a tensor is made: media on).
NOT_IN_DOMAIN = ("torch", "torchvision", "transformers", "decord", "av", "numpy") + UPSTREAM


def _module_name(path: Path, folder: Path, package: str) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(path, folder, package): path
    for folder, package in {PACKAGE: "vau_plugin", **SHIPPED_AS}.items()
    for path in sorted(folder.rglob("*.py"))
}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(vau_plugin modules, top-level outside packages) that `name` imports anywhere in its source, type-checking
    blocks left out (they run only under a type checker)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inside: set[str] = set()
    outside: set[str] = set()

    def add(target: str) -> None:
        if target.split(".")[0] != "vau_plugin":
            outside.add(target.split(".")[0])
            return
        while target not in MODULES and "." in target:
            target = target.rpartition(".")[0]
        inside.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                for alias in child.names:
                    candidate = f"{module}.{alias.name}"
                    add(candidate if candidate in MODULES else module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    inside.discard(name)
    return inside, outside


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def ring_of(module: str) -> str | None:
    """The ring of `module`: the ring of its longest prefix in RINGS (None: not placed)."""
    best, best_len = None, -1
    for ring, prefixes in RINGS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = ring, len(prefix)
    return best


def test_every_module_is_placed_in_a_ring():
    unplaced = sorted(name for name in MODULES if ring_of(name) is None)
    assert not unplaced, f"place these modules in RINGS (tests/test_architecture.py) and docs/ARCHITECTURE.md: {unplaced}"


def test_no_module_imports_a_ring_after_its_own():
    outward = [
        f"{name} ({ring_of(name)}) imports {target} ({ring_of(target)})"
        for name, (inside, _) in GRAPH.items()
        for target in sorted(inside)
        if ORDER.index(ring_of(target) or "tools") > ORDER.index(ring_of(name) or "tools")
    ]
    assert not outward, "\n".join(outward)


def _circles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node][0]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            connect(node)
    return found


def test_the_imports_form_no_circle():
    # A package's __init__ counts like any module: `vau_plugin.lmms` importing a submodule that imports it back is a circle.
    assert _circles() == []


def test_only_the_adapters_import_the_upstream_tools():
    importers = {
        f"{name} ({ring_of(name)}): {sorted(set(outside) & set(UPSTREAM))}"
        for name, (_, outside) in GRAPH.items()
        if set(outside) & set(UPSTREAM) and ring_of(name) != "adapters"
    }
    assert not importers, sorted(importers)


def test_the_domain_imports_no_tensor_media_or_upstream_library():
    heavy = {
        f"{name}: {sorted(set(outside) & set(NOT_IN_DOMAIN))}"
        for name, (_, outside) in GRAPH.items()
        if ring_of(name) == "domain" and set(outside) & set(NOT_IN_DOMAIN)
    }
    assert not heavy, sorted(heavy)


# What importing must not load, checked in a fresh interpreter (a static check cannot see what a third-party import
# pulls in). The motion layer is a torch.nn.Module, so its modules need torch to be defined; the rest of the media
# ring imports torch only where a tensor is made.
LIGHT_RINGS = {"domain": ("torch", "numpy") + UPSTREAM, "media": ("torch",) + UPSTREAM}
NEEDS_TORCH = ("vau_plugin.motion", "vau_plugin.motion_model")


@pytest.mark.parametrize("ring", sorted(LIGHT_RINGS))
def test_importing_a_ring_loads_no_heavy_library(ring):
    names = sorted(name for name in MODULES if ring_of(name) == ring and name not in NEEDS_TORCH)
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({LIGHT_RINGS[ring]!r})))"
    )
    env = {**os.environ, "VAU_PLUGIN_NO_HOOK": "1"}  # the start-up hook loads nothing heavy, but is not what is tested
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "[]"
