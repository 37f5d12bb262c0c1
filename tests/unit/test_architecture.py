"""The architecture: ``include/vlforge`` never imports Airflow, has no import cycle, and no arrow runs up the stack.

Imports are read from the source (``ast``), function-level ones included, so an import moved into a
function to dodge a cycle is still a cycle. The stack (docs/adr/0005-run-folder-contract.md):

0. foundation: records, geometry, store, layout, storage, manifest, media, tables, expectations, gates
   (and their data_docs),
   config (and every ``*.config``), run, and small helpers (numerics, hostname, recent);
1. engines: the building blocks inside each stage package, lower stage packages first
   (ingest, quality, curate, augment, synth, export), then the shared ones (report, compare, ...);
2. stages: ``ingest`` (its package), every ``<stage>.stage`` and ``<stage>.gate``, and ``prepare``;
3. release; 4. promotion and catalog; 5. the CLI, the demo, the dashboard and evaluation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "vlforge"
FOUNDATION = {
    "vlforge",
    "vlforge.records",
    "vlforge.geometry",
    "vlforge.store",
    "vlforge.layout",
    "vlforge.storage",
    "vlforge.manifest",
    "vlforge.media",
    "vlforge.tables",
    "vlforge.expectations",
    "vlforge.gates",
    "vlforge.data_docs",  # the gates' Data Docs views
    "vlforge.label_studio_tasks",
    "vlforge.config",
    "vlforge.run",
    "vlforge.numerics",
    "vlforge.hostname",
    "vlforge.recent",
    "vlforge.augment.encoding",  # the recipe's augment.encoding values (the augment config's), with their encoder
}
STAGE_PACKAGES = ("ingest", "quality", "curate", "augment", "synth", "export")
UPPER = {"vlforge.release": 3, "vlforge.promotion": 4, "vlforge.catalog": 4, "vlforge.cli": 5, "vlforge.demo": 5}
UPPER_PACKAGES = {"dashboard": 5, "evaluate": 5}


def module_imports(root: Path) -> dict[str, set[str]]:
    """Every module under ``root`` (a package folder) and the modules it imports anywhere in its body."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = (path, ".".join(parts[:-1]))
    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
        graph[name] = found
    return graph


def airflow_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets if target.split(".")[0] == "airflow")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles among the package's own modules (strongly connected components; Tarjan)."""
    own = {module: sorted(target for target in targets if target in graph and target != module) for module, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in own[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(own):
        if module not in index:
            visit(module)
    return sorted(found)


def layer(module: str) -> tuple[int, int]:
    """(rank, position in the stack of stage packages): an import may only point at an equal or lower layer."""
    parts = module.split(".")
    if module in FOUNDATION or parts[-1] == "config":
        return (0, 0)
    if module in UPPER:
        return (UPPER[module], 0)
    package = parts[1] if len(parts) > 1 else ""
    if package in UPPER_PACKAGES:
        return (UPPER_PACKAGES[package], 0)
    position = STAGE_PACKAGES.index(package) if package in STAGE_PACKAGES else len(STAGE_PACKAGES)
    if module in ("vlforge.ingest", "vlforge.prepare") or parts[-1] in ("stage", "gate"):
        return (2, position)
    return (1, position)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    upward = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets & graph.keys()):
            same_package = module.split(".")[:2] == target.split(".")[:2] and layer(target)[0] <= layer(module)[0]
            if not same_package and layer(target) > layer(module):
                upward.append(f"{module} {layer(module)} imports {target} {layer(target)}")
    return upward


def test_vlforge_never_imports_airflow() -> None:
    assert airflow_imports(module_imports(PACKAGE)) == []


def test_vlforge_has_no_import_cycle_even_through_function_level_imports() -> None:
    assert cycles(module_imports(PACKAGE)) == []


def test_no_import_runs_up_the_stack() -> None:
    assert upward_imports(module_imports(PACKAGE)) == []


def test_every_module_is_read() -> None:
    graph = module_imports(PACKAGE)
    assert len(graph) == len(list(PACKAGE.rglob("*.py")))
    assert {"vlforge.augment.stage", "vlforge.ingest", "vlforge.release", "vlforge.layout"} <= graph.keys()
    assert "vlforge.augment.ops.base" in graph["vlforge.augment.ops.rotate"]


def _plant(root: Path, files: dict[str, str]) -> Path:
    package = root / "vlforge"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    return package


def test_a_planted_cycle_through_a_function_level_import_is_caught(tmp_path: Path) -> None:
    package = _plant(
        tmp_path,
        {
            "release.py": "from vlforge.augment.stage import plan\n",
            "augment/__init__.py": "",
            "augment/stage.py": "def plan():\n    from vlforge.release import publish\n    return publish\n",
        },
    )
    assert cycles(module_imports(package)) == [["vlforge.augment.stage", "vlforge.release"]]


def test_a_planted_airflow_import_is_caught(tmp_path: Path) -> None:
    package = _plant(tmp_path, {"quality/__init__.py": "", "quality/gate.py": "def run():\n    import airflow.sdk\n"})
    assert airflow_imports(module_imports(package)) == ["vlforge.quality.gate imports airflow.sdk"]


@pytest.mark.parametrize(
    ("module", "imported"),
    [("vlforge.quality.gate", "vlforge.augment.stage"), ("vlforge.layout", "vlforge.release"), ("vlforge.curate.dedup", "vlforge.curate.stage")],
)
def test_a_planted_upward_import_is_caught(tmp_path: Path, module: str, imported: str) -> None:
    files = {"/".join(name.split(".")[1:]) + ".py": "" for name in (module, imported)}
    files[module.split(".", 1)[1].replace(".", "/") + ".py"] = f"import {imported}\n"
    for name in list(files):
        if "/" in name:
            files.setdefault(name.rsplit("/", 1)[0] + "/__init__.py", "")
    graph = module_imports(_plant(tmp_path, files))
    assert upward_imports(graph) == [f"{module} {layer(module)} imports {imported} {layer(imported)}"]
