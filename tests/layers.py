"""The layering of `conformance/`: each stage imports only from the stages before it, no cycles.

Run as a script (`python tests/layers.py`, which `nox -s lint` does) or through its unit test.
Standard library only: it reads the sources with `ast`, so it sees lazy imports in functions too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"

# The pipeline's stages, in order: a module may import from its own stage and those before it.
STAGES = ("core", "cases", "engines", "oracles", "checks", "failures", "report", "run", "cli")
# Of the top package, a stage may read the version string and nothing else.
TOP_ALLOWED = {"__version__"}


def module_name(path: Path) -> str:
    """`conformance.checks.graph` for conformance/checks/graph.py; packages without `__init__`."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """Every `conformance` import in the file: (line, module, names imported from it)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "conformance":
                found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "conformance":
                    found.append((node.lineno, alias.name, ()))
    return found


def stage_of(module: str) -> int | None:
    """The stage index of a module of the package; None for the top package and its modules."""
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def violations() -> list[str]:
    """Imports that run back up the pipeline, imports of the top package, and import cycles."""
    problems = []
    modules = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        mine = stage_of(name)
        deps = set()
        for line, target, names in imports(path):
            deps.add(target)
            deps |= {f"{target}.{n}" for n in names if f"{target}.{n}" in modules}
            if mine is None:
                continue  # the top package (api, __main__) may import any stage
            theirs = stage_of(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if theirs is None and not (target == "conformance" and set(names) <= TOP_ALLOWED):
                problems.append(f"{where}: {name} imports the top package ({target})")
            elif theirs is not None and theirs > mine:
                problems.append(
                    f"{where}: {name} (stage {STAGES[mine]}) imports {target} "
                    f"(stage {STAGES[theirs]}, later in the pipeline)"
                )
        graph[name] = {d for d in deps if d in modules and d != name}
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first walk (iterative: no recursion limit)."""
    found, state = [], {}
    for root in sorted(graph):
        if root in state:
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                found.append([*path[path.index(child) :], child])
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return found


def main() -> int:
    """Print every violation; exit 1 if there is any."""
    problems = violations()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering problem(s); the stages, in order: {', '.join(STAGES)}")
        return 1
    print(f"layers ok: {', '.join(STAGES)}, each importing only from those before it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
