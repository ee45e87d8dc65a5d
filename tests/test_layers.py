"""The house rule, checked on the source: each layer imports only the layers before it, peers never import
each other, nothing imports the trainer but itself, and no module imports another that imports it back
(an import inside a function counts: it is a dependency all the same).

    kernels -> engine.core -> engine.io | engine.decode | engine.executors -> engine.store
            -> engine.download | engine.generate | engine.score | engine.select | engine.export
             | engine.report | engine.vlm | engine.prompts
            -> trainer.common -> trainer.tokenize | trainer.train | trainer.convert -> trainer.sample
            -> trainer (its command registration) -> engine.cli

The folders kernels/, engine/ and trainer/ import as pixsift.kernels, pixsift.engine and pixsift.trainer
(setup.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("kernels", "engine", "trainer")
# (rank, group): an import goes to a lower rank, or stays inside its own group.
LAYERS = {
    "pixsift.kernels": 0,
    "pixsift.engine.core": 1,
    "pixsift.engine.io": 2,
    "pixsift.engine.decode": 2,
    "pixsift.engine.executors": 2,
    "pixsift.engine.store": 3,
    "pixsift.engine.download": 4,
    "pixsift.engine.generate": 4,
    "pixsift.engine.score": 4,
    "pixsift.engine.select": 4,
    "pixsift.engine.export": 4,
    "pixsift.engine.report": 4,
    "pixsift.engine.vlm": 4,
    "pixsift.engine.prompts": 4,
    "pixsift.trainer.common": 5,
    "pixsift.trainer.tokenize": 6,
    "pixsift.trainer.train": 6,
    "pixsift.trainer.convert": 6,
    "pixsift.trainer.sample": 7,
    "pixsift.trainer": 8,
    "pixsift.engine.cli": 9,
}


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            parts = ("pixsift", *path.relative_to(REPO).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def group(module: str) -> str:
    """The layer group a module belongs to: its longest prefix in LAYERS."""
    parts = module.split(".")
    return next(".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in LAYERS)


def imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its source; `from pkg import name` counts as
    pkg.name when that is a module, else as pkg."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found - {module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports(path, module, known) for module, path in known.items()}


def test_each_layer_imports_only_the_layers_before_it(graph):
    wrong = []
    for module, targets in sorted(graph.items()):
        here = group(module)
        for target in sorted(targets):
            there = group(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} imports {target} ({there} is not before {here})")
    assert not wrong, "\n".join(wrong)


def test_no_module_cycles(graph):
    cycles = strongly_connected(graph)
    assert not cycles, "\n".join(" -> ".join(sorted(c)) for c in cycles)


def test_the_top_folders_hold_only_packages_and_no_init():
    """engine/ holds its layers, each a package; none of the three folders is a package itself, so from the
    repository root `import kernels` finds Hugging Face's `kernels` (setup.py says why)."""
    for folder in FOLDERS:
        assert not (REPO / folder / "__init__.py").exists(), folder
    entries = [p for p in (REPO / "engine").iterdir() if p.name != "__pycache__"]
    assert all((p / "__init__.py").is_file() for p in entries), entries
    assert {f"pixsift.engine.{p.name}" for p in entries} == {
        g for g in LAYERS if g.startswith("pixsift.engine.")
    }


def test_the_trainer_is_in_rooms_by_command():
    """trainer/ holds a room (a package) per command and one of shared parts; at its root only the command
    registration."""
    rooms = {p.name for p in (REPO / "trainer").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert {f"pixsift.trainer.{room}" for room in rooms} == {
        g for g in LAYERS if g.startswith("pixsift.trainer.")
    }
    assert all((REPO / "trainer" / room / "__init__.py").is_file() for room in rooms)
    assert {p.name for p in (REPO / "trainer").glob("*.py")} == {"cli.py", "commands.py"}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the components of more than one module (the cycles)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_tests_import_nothing_from_benchmarks():
    """What tests and benchmarks share lives in tests/fixtures; benchmarks are only run (as scripts)."""
    found = []
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "benchmarks"]
    assert not found, found


def test_no_package_imports_one_that_imports_it_back(graph):
    """Inside every package, its subpackages and modules form no cycle either: modules collapsed to the
    child of the package they are in (engine.select.steps.top_k -> engine.select.steps), at every depth."""
    packages = {m.rpartition(".")[0] for m in graph} | {
        m for m, p in modules().items() if p.name == "__init__.py"
    }
    cycles = []
    for package in sorted(packages):
        collapsed: dict[str, set[str]] = {}
        for module, targets in graph.items():
            if (here := child_of(package, module)) is not None:
                there = {child_of(package, t) for t in targets} - {None, here}
                collapsed.setdefault(here, set()).update(there)
        cycles += strongly_connected(collapsed)
    assert not cycles, "\n".join(" <-> ".join(sorted(c)) for c in cycles)
    steps = child_of("pixsift.engine.select", "pixsift.engine.select.steps.top_k")
    assert steps == "pixsift.engine.select.steps"


def child_of(package: str, module: str) -> str | None:
    """The child of `package` that holds `module` (itself, or the subpackage it is in); None outside it."""
    if not module.startswith(package + "."):
        return None
    return ".".join(module.split(".")[: package.count(".") + 2])
