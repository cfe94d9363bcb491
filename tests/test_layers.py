"""The layers of docs/ARCHITECTURE.md hold: import-linter's contracts (pyproject.toml) and
no import cycles inside either package, function-local imports included."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT


def test_import_linter_contracts_hold():
    pytest.importorskip("importlinter")
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
         "lint_imports_command()"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def _cycles(graph, package: str) -> list[list[str]]:
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m)
                       if i in modules and i != m) for m in modules}  # fmt: skip
    found, state = [], dict.fromkeys(modules, 0)  # 0 new, 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state[nxt] == 1:
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif state[nxt] == 0:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in modules:
        if state[module] == 0:
            visit(module, [])
    # a package's __init__ re-exporting its own modules is not a cycle of concepts
    return [c for c in found if not any(m == package or _is_parent(m, c) for m in c[:1])]


def _is_parent(module: str, cycle: list[str]) -> bool:
    return all(other == module or other.startswith(module + ".") for other in cycle)


@pytest.mark.parametrize("package", ["legacy_saver", "converters"])
def test_no_import_cycles(package):
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(package)
    assert _cycles(graph, package) == []
