"""The layout holds what it promises: each folder is a layer, imports only run downwards, MLflow
and pytest are imported only where the folder names say, and every name of the vocabulary is
spelled in one module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_mlflow_guard
from pytest_mlflow_guard import vocabulary

PACKAGE = Path(pytest_mlflow_guard.__file__).parent
#: lowest first: a module may import its own layer and the ones before it, never a later one
LAYERS = (
    "base",
    "mlflow_io",
    "tracking",
    "gate",
    "lint",
    "server",
    "reproduce",
    "pytest_plugin",
    "cli",
)
#: where MLflow (and Flask, which only the tracking server uses) may be imported
MLFLOW_LAYERS = ("mlflow_io", "server")


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _layer(relative: str) -> str:
    if relative == "__init__.py":
        return "cli"  # the public face (``from pytest_mlflow_guard import ExperimentTracker``)
    head = relative.split("/")[0].removesuffix(".py")
    return head if head in LAYERS else "base"


def _imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_mlflow_only_under_mlflow_io_and_server_and_pytest_only_under_pytest_plugin() -> None:
    wrong = []
    for relative, tree in _modules().items():
        for name in _imports(tree):
            root = name.split(".")[0]
            if root in ("mlflow", "flask") and _layer(relative) not in MLFLOW_LAYERS:
                wrong.append(f"{relative} imports {name}")
            if root in ("pytest", "_pytest") and _layer(relative) != "pytest_plugin":
                wrong.append(f"{relative} imports {name}")
    assert wrong == []


def test_imports_only_run_down_the_layers() -> None:
    wrong = []
    for relative, tree in _modules().items():
        here = LAYERS.index(_layer(relative))
        for name in _imports(tree):
            parts = name.split(".")
            if parts[0] != "pytest_mlflow_guard" or len(parts) < 2:
                continue
            target = LAYERS.index(parts[1] if parts[1] in LAYERS else "base")
            if target > here:
                wrong.append(f"{relative} ({LAYERS[here]}) imports {name} ({LAYERS[target]})")
    assert wrong == []


def test_every_vocabulary_name_is_spelled_in_the_vocabulary_only() -> None:
    # names that cannot be ordinary words: dotted tag names and environment variables
    spelled = {
        value: name
        for name, value in vars(vocabulary).items()
        if name.startswith(("TAG_", "MLFLOW_", "ENV_"))
        and isinstance(value, str)
        and ("." in value or value.isupper())
    }
    found = []
    for relative, tree in _modules().items():
        if relative == "vocabulary.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in spelled:
                found.append(f"{relative}:{node.lineno} {node.value!r} ({spelled[node.value]})")
    assert found == []


@pytest.mark.parametrize(
    "entry",
    [
        "import pytest_mlflow_guard.pytest_plugin.plugin",
        "from importlib.metadata import entry_points; "
        "[e.load() for e in entry_points(group='pytest11') if e.name == 'mlflow_guard']",
    ],
)
def test_the_plugin_loads_with_mlflow_blocked(entry: str) -> None:
    # None in sys.modules makes `import mlflow` raise ImportError
    code = f"import sys; sys.modules['mlflow'] = None; {entry}; print('loaded')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "loaded"), done.stderr
