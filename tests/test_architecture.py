"""The package's import structure: no circle, and every import points down the layers of
docs/architecture.md (nothing in ir/ or hardware/ imports a backend)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neurodeploy"

# Each part of the package may import its own modules and the parts of lower rank.
RANKS = {
    "neurodeploy": 0,  # the package's __init__: the version
    "errors": 0,
    "limits": 0,
    "interrupts": 0,
    "registry": 0,
    "hardware": 1,
    "neurons": 2,
    "dialects": 2.5,  # exporter dialects: lower neuron nodes for the normalise pass
    "ir": 3,
    "learning": 3.5,  # the learning spec, its lowering and arithmetic: above ir, below the backends that run it
    "backends": 4,
    "encoders": 4,
    "data": 4,
    "frontends": 5,
    "reports": 6,
    "conversion": 6,
    "training": 7,
    "scale": 7.5,  # shards of a run over Ray workers, merged (the pipeline's runner)
    "pipeline": 8,
    "sweep": 8.5,  # whole deployments as Ray tasks
    "warmup": 8.5,  # make setup: compiles the numba engine
    "cli": 9,
    "api": 9,
    "__main__": 10,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The package module an import names: the longest prefix that is a module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def imports_of(module: str) -> set[str]:
    """Package modules imported anywhere in ``module`` (inside functions too: a lazy import is
    still a dependency)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [f"{prefix}.{alias.name}" for alias in node.names] + [prefix]
        else:
            continue
        for name in names:
            target = resolve(name) if name.split(".")[0] == "neurodeploy" else None
            if target is not None and target != module:
                found.add(target)
    # ``from .a import b`` names both ``pkg.a`` and, if it is one, the module ``pkg.a.b``
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def test_every_part_of_the_package_has_a_rank():
    assert {part(m) for m in MODULES} <= set(RANKS), sorted({part(m) for m in MODULES} - set(RANKS))


def test_no_import_circle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module)


def test_imports_point_down_the_layers():
    upward = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if part(target) != part(module) and RANKS[part(target)] > RANKS[part(module)]
    ]
    assert not upward, "\n".join(upward)


def test_ir_and_hardware_import_no_backend():
    offending = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if part(module) in ("ir", "hardware")
        for target in targets
        if part(target) == "backends"
    ]
    assert not offending, "\n".join(offending)


def test_hardware_imports_only_errors():
    offending = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if part(module) == "hardware"
        for target in targets
        if part(target) not in ("hardware", "errors")
    ]
    assert not offending, "\n".join(offending)


def test_the_walk_sees_imports():
    """A walk that found nothing would pass every test above."""
    assert "neurodeploy.hardware.profile" in GRAPH["neurodeploy.ir.stages"]
    assert "neurodeploy.backends.kernels" in GRAPH["neurodeploy.backends.numba_engine"]
    assert sum(len(targets) for targets in GRAPH.values()) > 100
