"""The layering the README's architecture section describes, checked on the source (AST, no imports).

* only ``randsmooth.cli`` parses arguments (no ``argparse`` elsewhere in the library);
* nothing in the library imports the commands (``randsmooth.cli``) but ``__main__``;
* the decisions and metrics (``decide``, ``sequential``, ``metrics``, ``evaluate``, ``render``, ``logs``,
  ``counts``) and the paper artifacts (``papers``) never import sampling engines, training or the
  workflow layer;
* ``randsmooth.pipeline``, ``train_config`` and ``papers.catalog`` (which the workflow reads)
  import neither torch nor torch-importing modules at module level (the workflow reads configs on
  a login node; library checks are imported lazily);
* every module is in one of the layers of the README's "Architecture" section (read from it) and
  imports only from its own layer and the layers listed before it;
* no import cycle between modules, counting imports under ``TYPE_CHECKING`` and inside functions
  (e.g. ``plan`` builds on ``papers`` and ``resources``, so neither may import ``plan`` back);
* every library module stays under 600 lines, every pipeline module under about 300.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "randsmooth"
README = Path(__file__).resolve().parents[1] / "README.md"
MODULES = sorted(p for p in SRC.rglob("*.py"))
TORCH_FREE_PACKAGE_MODULES = {"atomic", "bounds", "costs", "seeding", "train_config", "pipeline"}
TORCH_FREE_MODULES = {"randsmooth.papers", "randsmooth.papers.catalog"}


def name(path: Path) -> str:
    return ".".join(path.relative_to(SRC.parent).with_suffix("").parts)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    package = name(path).split(".")[:-1] if path.name != "__init__.py" else name(path).split(".")
    return imported(ast.parse(path.read_text()), package, top_level_only)


def imported(tree: ast.Module, package: list[str], top_level_only: bool = False) -> set[str]:
    """Absolute names of everything ``tree`` (a module of ``package``) imports."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{alias.name}" for alias in node.names}
    return out


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_layering(path: Path) -> None:
    module = name(path)
    deps = imports(path)
    if not module.startswith(("randsmooth.cli", "randsmooth.__main__")):
        assert "argparse" not in deps, f"{module} parses arguments; that is randsmooth.cli's job"
        assert not any(d.startswith("randsmooth.cli") for d in deps), f"{module} imports a command"
    decisions = ("decide", "sequential", "metrics", "evaluate", "render", "logs", "counts", "papers")
    if module.split(".")[1] in decisions:
        # train_config is a foundation (torch-free); the training loop is randsmooth.train
        bad = [d for d in deps if d.startswith(("randsmooth.engine", "randsmooth.train.", "randsmooth.pipeline"))]
        bad += [d for d in deps if d == "randsmooth.train"]
        assert not bad, f"{module} imports {bad}"
    if module.split(".")[1] in TORCH_FREE_PACKAGE_MODULES or module in TORCH_FREE_MODULES:
        top = imports(path, top_level_only=True)
        heavy = [
            d for d in top if d.split(".")[0] == "torch" or d.startswith(("randsmooth.sampling", "randsmooth.data"))
        ]
        assert not heavy, f"{module} imports {heavy} at module level"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    limit = 330 if name(path).startswith("randsmooth.pipeline") else 600
    assert lines <= limit, f"{name(path)} has {lines} lines"


def test_metrics_and_paper_jobs_do_not_import_torch() -> None:
    """The many small jobs that read count tables (metrics, merge, paper artifacts, summaries) start
    without torch: the noise families import it only where they sample (about 1.5 s per job)."""
    import subprocess
    import sys

    jobs = ("metrics", "merge", "paper", "paper_readme", "published_logs", "summary", "index")
    modules = [f"randsmooth.cli.{job}" for job in jobs]
    # reading a count table builds its noise (get_noise checks it): that must not import torch either
    noises = "; ".join(f"get_noise({name!r}, 0.25, 64)" for name in ("gaussian", "laplace", "uniform"))
    code = (
        f"import sys; import {', '.join(modules)}; from randsmooth.sampling import get_noise; {noises}; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"


def readme_layers() -> list[tuple[str, set[str]]]:
    """The layers of the README's architecture section, in order: each bullet ``* **Name** (`a`, `b`):``."""
    section = README.read_text().split("### Architecture", 1)[1].split("\n### ", 1)[0]
    layers = []
    for title, members in re.findall(r"^\* \*\*(.+?)\*\* \(([^)]*)\)", section, flags=re.M):
        layers.append((title, set(re.findall(r"`([a-z_]+)`", members))))
    return layers


def test_readme_layers_cover_every_module() -> None:
    layers = readme_layers()
    assert [title for title, _ in layers][:2] == ["Foundations", "Noise and data"] and len(layers) >= 8
    placed = [m for _, members in layers for m in members]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    tops = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in MODULES} - {"__init__", "__main__"}
    assert sorted(tops - set(placed)) == [], "modules in no layer of the README"
    assert sorted(set(placed) - tops) == [], "layers name modules that do not exist"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_layer_order(path: Path) -> None:
    """A module imports only from its own layer and the layers before it (README order)."""
    level = {m: i for i, (_, members) in enumerate(readme_layers()) for m in members}
    parts = name(path).split(".")
    if len(parts) < 2 or parts[1] in ("__init__", "__main__"):
        return
    later = sorted(
        d
        for d in imports(path)
        if d.split(".")[0] == "randsmooth" and d.count(".") >= 1 and level.get(d.split(".")[1], -1) > level[parts[1]]
    )
    assert not later, f"{name(path)} imports {later}, from a layer after its own"


def import_graph(sources: dict[str, set[str]]) -> dict[str, set[str]]:
    """Module -> the modules among ``sources`` it imports (an import of ``m.name`` counts for ``m``;
    a package's ``__init__`` is left out: ``from . import x`` names it but imports ``x``)."""
    modules = set(sources)
    return {m: {d for d in deps if d in modules and d != m} for m, deps in sources.items()}


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (``[a, b, ..., a]``), or ``[]`` when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[module] = 2
        path.pop()
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_import_cycle_found_in_type_checking_back_import() -> None:
    """The old ``plan`` <-> ``papers`` pattern: ``plan`` imports ``papers``, which imports ``plan``
    only for a type annotation (under ``TYPE_CHECKING``); that is a cycle all the same."""
    plan = "from .papers import add_paper\n"
    papers = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .plan import Plan\n"
    sources = {
        "randsmooth.pipeline.plan": imported(ast.parse(plan), ["randsmooth", "pipeline"]),
        "randsmooth.pipeline.papers": imported(ast.parse(papers), ["randsmooth", "pipeline"]),
    }
    assert import_cycle(import_graph(sources)) == [
        "randsmooth.pipeline.papers",
        "randsmooth.pipeline.plan",
        "randsmooth.pipeline.papers",
    ]
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle() -> None:
    """No module imports, directly or through others, a module that imports it back: every import,
    also one under ``TYPE_CHECKING`` or inside a function, runs one way."""
    sources = {name(p): imports(p) for p in MODULES if p.name != "__init__.py"}
    cycle = import_cycle(import_graph(sources))
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"
