"""Checks the package's layout targets (issue 28): no import cycles, no module over 500 lines (but modeling_bilstm.py),
no function over 60 lines (in the package and in scripts/ beside it). Prints what breaks a target and exits 1; exits 0
when every target holds.

    python scripts/check_layout.py [--package hf_bilstm] [--graph docs/imports.mmd]

Imports are read with `ast` (nothing is imported), module-level and inside functions alike: a lazy import is still
an arrow between two rooms. `--graph` also writes the import picture as a Mermaid flowchart.
"""

import argparse
import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
LONG_MODULES_ALLOWED = {"modeling_bilstm"}  # the model's one file, copied next to the weights for remote code


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's own modules that `name` imports (resolving relative imports and `from . import x`)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for i, target in enumerate(targets):
            full = target
            while target and target not in known:
                target = target.rpartition(".")[0]
            if i == 0 and full != target and target in known and is_package_name(target, known):
                # `from .package.missing import x`, or `from .missing import x` in the package: a module that is not
                # there (an import left behind by a move)
                MISSING.append(f"{name} imports {full}, which does not exist")
            if target and target != name:
                found.add(target)
    return found


MISSING: list[str] = []


def is_package_name(name: str, known: set[str]) -> bool:
    return any(other.startswith(name + ".") for other in known)


def read_package(root: Path) -> tuple[dict[str, set[str]], dict[str, int], list[tuple[str, int, str, int]]]:
    """(imports per module, lines per module, functions longer than the limit: module, line, name, length)."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    known = set(paths)
    imports, lines, long_functions = {}, {}, []
    for name, path in paths.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        lines[name] = len(text.splitlines())
        imports[name] = imported_modules(tree, name, path.name == "__init__.py", known)
        long_functions += functions_over_the_limit(tree, name)
    return imports, lines, long_functions


def functions_over_the_limit(tree: ast.Module, name: str) -> list[tuple[str, int, str, int]]:
    """(module, line, name, length) of each function in `tree` longer than the limit, nested ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((name, node.lineno, node.name, length))
    return found


def long_script_functions(scripts: Path) -> list[tuple[str, int, str, int]]:
    """The functions over the limit in the scripts beside the package (`scripts/*.py`): the same rule, no exception."""
    found = []
    for path in sorted(scripts.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += functions_over_the_limit(tree, f"{scripts.name}/{path.name}")
    return found


def cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each one import circle or more.

    A package's `__init__` importing its own submodules is not counted: that is how a package exposes them.
    """
    graph = {
        name: {t for t in targets if not (name and t.startswith(name + ".") and is_init(name, imports))}
        for name, targets in imports.items()
    }
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def is_init(name: str, imports: dict[str, set[str]]) -> bool:
    return any(other.startswith(name + ".") for other in imports)


def mermaid(imports: dict[str, set[str]], package: str) -> str:
    """A Mermaid flowchart of the imports between the package's modules (packages' `__init__` left out)."""

    def short(name: str) -> str:
        return name[len(package) + 1 :] or package

    nodes = sorted(name for name in imports if not is_init(name, imports))
    lines = ["flowchart LR"]
    groups: dict[str, list[str]] = {}
    for name in nodes:
        groups.setdefault(short(name).rpartition(".")[0], []).append(name)
    for group, members in sorted(groups.items()):
        if group:
            lines.append(f"  subgraph {group}/")
        for member in members:
            lines.append(f'    {short(member).replace(".", "_")}["{short(member).rpartition(".")[2]}"]')
        if group:
            lines.append("  end")
    for name in nodes:
        for target in sorted(imports[name]):
            if target in nodes:
                lines.append(f"  {short(name).replace('.', '_')} --> {short(target).replace('.', '_')}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default=str(Path(__file__).resolve().parent.parent / "hf_bilstm"))
    parser.add_argument("--graph", help="also write the import picture (Mermaid) to this file")
    args = parser.parse_args(argv)
    root = Path(args.package).resolve()
    imports, lines, long_functions = read_package(root)
    long_functions += long_script_functions(root.parent / "scripts")
    problems = [f"import cycle: {' <-> '.join(component)}" for component in cycles(imports)] + MISSING
    problems += [
        f"{name}: {count} lines (over {MAX_MODULE_LINES})"
        for name, count in sorted(lines.items())
        if count > MAX_MODULE_LINES and name.rpartition(".")[2] not in LONG_MODULES_ALLOWED
    ]
    problems += [
        f"{name}:{line} {function}(): {length} lines (over {MAX_FUNCTION_LINES})"
        for name, line, function, length in long_functions
    ]
    if args.graph:
        Path(args.graph).write_text(mermaid(imports, root.name), encoding="utf-8")
    for problem in problems:
        print(problem)
    print(f"{len(lines)} modules, {sum(lines.values())} lines; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
