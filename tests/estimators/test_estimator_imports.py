"""The estimator layer is pure tensor math: it imports only torch, numpy, math, the standard
library's typing helpers and miub.interface (STYLE.md: imports flow one way)."""

from __future__ import annotations

import ast
from pathlib import Path

import miub.estimators

ALLOWED_ROOTS = {
    "torch",
    "numpy",
    "math",
    "__future__",
    "collections",
    "dataclasses",
    "functools",
    "importlib",
    "typing",
    "inspect",
}
ALLOWED_MIUB = {"miub.interface"}
PACKAGE_DIR = Path(miub.estimators.__file__).parent


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            names.append(node.module or "")
    return names


def test_estimators_import_only_tensor_math() -> None:
    files = sorted(PACKAGE_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for name in _imports(path):
            root = name.split(".")[0]
            if root == "miub":
                ok = name in ALLOWED_MIUB or name.startswith("miub.estimators")
            else:
                ok = root in ALLOWED_ROOTS
            assert ok, f"{path.name} imports {name}; estimators may not import it"
