"""House rules of DESIGN.md §1 that can be checked mechanically."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _full_imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (function-level imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_pyfai_imported_in_one_module_only():
    users = [p.relative_to(ROOT).as_posix() for folder in ("saxs", "kernels", "pipelines")
             for p in _modules(folder) if "pyFAI" in _imports(p)]
    assert users == ["saxs/azimuthal.py"]


def test_fabio_and_h5py_only_in_io():
    for path in _modules("saxs"):
        if "fabio" in _imports(path) or "h5py" in _imports(path):
            assert path.parent.name == "io", path


def test_numba_only_in_kernels():
    for folder in ("saxs", "pipelines"):
        for path in _modules(folder):
            assert "numba" not in _imports(path), path


def test_arrows_point_down():
    for path in _modules("kernels"):
        assert not {"saxs", "saxs_pipelines"} & _imports(path), path
    for path in _modules("saxs"):
        assert "saxs_pipelines" not in _imports(path), path
    for folder in ("kernels", "saxs"):
        for path in _modules(folder):
            assert "matplotlib" not in _imports(path), path


@pytest.mark.parametrize("heavy", ["pyFAI", "h5py", "fabio", "numba", "scipy", "matplotlib"])
def test_import_saxs_stays_light(heavy):
    code = f"import sys, saxs; print({heavy!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_sasmodels_only_in_the_models_bridge():
    users = [p.relative_to(ROOT).as_posix() for folder in ("saxs", "kernels", "pipelines")
             for p in _modules(folder) if "sasmodels" in _imports(p)]
    assert users == ["saxs/models/bridge.py"]


def test_simulator_used_by_nothing_in_the_library():
    for path in _modules("saxs"):
        if "simulate" in path.relative_to(ROOT).parts:
            continue
        assert not any(n.startswith("saxs.simulate") for n in _full_imports(path)), path


def test_series_only_links_and_classifies():
    names = _full_imports(ROOT / "saxs" / "series.py")
    assert not any(n.startswith(("saxs.montecarlo", "saxs.simulate", "saxs_kernels"))
                   for n in names)


def test_models_layer_below_analysis():
    """saxs/models imports no analysis module, no io and no simulator."""
    allowed = ("saxs.models", "saxs.errors", "saxs.units", "saxs.curve", "saxs._lazy",
               "saxs_kernels")
    for path in (ROOT / "saxs" / "models").rglob("*.py"):
        for name in _full_imports(path):
            if name.startswith(("saxs.", "saxs_")):
                assert name.startswith(allowed), (path, name)


def _module_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere (function level and TYPE_CHECKING
    included), over saxs/, kernels/ and pipelines/ under their import names."""
    packages = {"saxs": "saxs", "kernels": "saxs_kernels", "pipelines": "saxs_pipelines"}
    modules = {}
    for folder, name in packages.items():
        for path in _modules(folder):
            parts = [name, *path.relative_to(ROOT / folder).with_suffix("").parts]
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in modules.items():
        deps = set()
        for imported in _full_imports(path):
            name = imported
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root, first in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(first)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_circles_anywhere():
    graph = _module_graph()
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles(graph) == []
    # packages only import downwards: pipelines -> saxs -> kernels
    for module, deps in graph.items():
        if module.startswith("saxs_kernels"):
            assert not any(d.startswith(("saxs.", "saxs_pipelines")) or d == "saxs"
                           for d in deps), module
        if module.startswith("saxs.") or module == "saxs":
            assert not any(d.startswith("saxs_pipelines") for d in deps), module


def test_matplotlib_only_in_pipelines():
    for folder in ("saxs", "kernels"):
        for path in _modules(folder):
            assert "matplotlib" not in _imports(path), path


#: What saxs/io may import besides itself: the data objects it reads into and writes from,
#: units and errors, and the kernels' decoder (DESIGN: IO only reads and writes).
IO_MAY_IMPORT = ("saxs.errors", "saxs.units", "saxs.curve", "saxs.frames", "saxs.geometry",
                 "saxs.header", "saxs.framecurves", "saxs.calibration_images", "saxs.sizedist",
                 "saxs_kernels")


def test_io_imports_only_data_objects_and_kernels():
    graph = _module_graph()
    for module, deps in graph.items():
        if not module.startswith("saxs.io"):
            continue
        for dep in deps:
            assert dep == "saxs" or dep.startswith(("saxs.io", *IO_MAY_IMPORT)), (module, dep)
