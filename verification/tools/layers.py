"""The import rules of DESIGN §1, read from the source with ``ast`` (nothing is imported).

Layers, from the bottom: golden ← hdl ← synth ← verification, the CLI (``fp4hw``) on top. A
package may import the ones below it and itself, never one above; ``golden`` imports only the
standard library and numpy (its numbers are drawn by ``synth.plots``), ``hdl`` only the standard library, amaranth and golden. No product
module (anything but ``verification/test_*.py`` and ``conftest.py``) imports a test module, and
no package imports the CLI except the tests that exercise it.

:func:`violations` returns one line per broken rule: ``path:line: what``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("golden", "hdl", "synth", "verification", "fp4hw")
RANK = {name: i for i, name in enumerate(PACKAGES)}
# Outside packages each layer may import (None: any).
# golden computes; the analysis figures are drawn by synth.plots (fp4hw analyze passes it in).
EXTERNAL = {"golden": {"numpy"}, "hdl": {"amaranth"}, "synth": None, "verification": None, "fp4hw": None}


def is_test(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py"


def sub_depth(path: Path, package: str) -> int:
    """How many folders below ``package`` the file ``path`` sits."""
    parts = path.parent.parts
    return len(parts) - 1 - max(i for i, p in enumerate(parts) if p == package)


def _imports(tree: ast.AST, package: str, path: Path):
    """(line, absolute dotted module) of every import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:                          # relative: resolved against this file's package
                parts = [package] + list(path.parent.parts[len(path.parent.parts) - sub_depth(path, package):])
                module = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                yield node.lineno, module
                if not node.module:
                    for alias in node.names:
                        yield node.lineno, f"{module}.{alias.name}"
            else:
                yield node.lineno, node.module or ""
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"


def violations(root: Path) -> list[str]:
    root = Path(root)
    found = []
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root)
            test = package == "verification" and is_test(path)
            tree = ast.parse(path.read_text(), str(path))
            for line, module in _imports(tree, package, path):
                top = module.split(".")[0]
                if top in RANK:
                    if test:
                        continue                    # tests may exercise every layer, the CLI included
                    if RANK[top] > RANK[package]:
                        found.append(f"{where}:{line}: {package} imports {module} (a layer above)")
                    parts = module.split(".")
                    if top == "verification" and len(parts) > 1 and (parts[1].startswith("test_")
                                                                      or parts[1] == "conftest"):
                        found.append(f"{where}:{line}: product module imports the test module {module}")
                elif top not in stdlib and EXTERNAL[package] is not None and top not in EXTERNAL[package]:
                    found.append(f"{where}:{line}: {package} imports {module} (allowed: the standard library, "
                                 f"{', '.join(sorted(EXTERNAL[package]))} and the layers below)")
    return sorted(set(found))
