"""The AST walk: which calls and keywords carry an experiment name, a registered model name or a
run tag, and the literal strings they are given.

Only what is certain is reported. A value is taken when it is a string literal, an f-string
without placeholders, or a module-level ``NAME = "literal"`` bound nowhere else in the file;
anything else (a variable, a call, a ``*args`` that hides the position) is skipped silently,
because a linter that guesses at runtime values reports findings nobody can act on.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from pytest_mlflow_guard.vocabulary import TAG_RUN_MODE

__all__ = ["Site", "SiteKind", "find_sites", "literal"]

SiteKind = Literal["experiment", "registered_model", "tag"]

#: callee (last part of the called name) -> (position, keyword) of its experiment name argument
EXPERIMENT_ARGUMENTS: dict[str, tuple[int, str]] = {
    "set_experiment": (0, "experiment_name"),
    "create_experiment": (0, "name"),
    "rename_experiment": (1, "new_name"),
    "ExperimentTracker": (0, "experiment_name"),
}
#: the same for registered model names
MODEL_ARGUMENTS: dict[str, tuple[int, str]] = {
    "register_model": (1, "name"),
    "create_registered_model": (0, "name"),
    "rename_registered_model": (1, "new_name"),
}
#: keywords that name an experiment or a registered model whatever the call
EXPERIMENT_KEYWORD = "experiment_name"
MODEL_KEYWORD = "registered_model_name"
_NAME_ARGUMENTS: tuple[tuple[SiteKind, dict[str, tuple[int, str]], str], ...] = (
    ("experiment", EXPERIMENT_ARGUMENTS, EXPERIMENT_KEYWORD),
    ("registered_model", MODEL_ARGUMENTS, MODEL_KEYWORD),
)
#: the tracker's keyword for the run.mode tag (``ExperimentTracker``, ``start_run``, ``build_tags``)
RUN_MODE_KEYWORD = "run_mode"
#: MLflow calls whose ``tags=`` go to an experiment, a logged model, a registered model or a
#: model version: the tag-value rule judges run tags only. Any other call's ``tags=`` is taken for
#: run tags, so a project's own wrapper of ``start_run`` is checked too.
NOT_RUN_TAGS = frozenset(
    {
        "create_experiment",
        "set_experiment_tags",
        "log_model",
        "create_logged_model",
        "initialize_logged_model",
        "create_external_model",
        "create_registered_model",
        "register_model",
        "create_model_version",
    }
)


@dataclass(frozen=True)
class Site:
    """A literal the conventions govern, and where it stands (``col_offset`` in UTF-8 bytes, as
    ``ast`` gives it)."""

    kind: SiteKind
    value: str
    line: int
    col_offset: int
    #: the tag's name, for ``kind == "tag"``
    key: str = ""
    #: the experiment named by the same call (``ExperimentTracker("a/b", run_mode=...)``): the
    #: per-experiment overrides that apply to a tag value
    experiment: str | None = None


def find_sites(tree: ast.Module) -> list[Site]:
    """Every governed literal in ``tree``, in source order."""
    constants = _module_constants(tree)
    sites: list[Site] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            sites.extend(_call_sites(node, constants))
    sites.sort(key=lambda site: (site.line, site.col_offset))
    return sites


def literal(node: ast.expr | None, constants: Mapping[str, str]) -> str | None:
    """The string ``node`` stands for when the source alone fixes it, else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):  # f"plain": no placeholder, so still a literal
        parts = [literal(part, constants) for part in node.values]
        return None if None in parts else "".join(p for p in parts if p is not None)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "literal"`` whose name is bound exactly once in the whole file.

    Counting every binding anywhere (parameters, imports, loop targets, assignments inside
    functions) is cruder than scope analysis but never folds a name that may mean something else
    where it is used: a parameter called like the constant simply turns folding off for it.
    """
    candidates: dict[str, str] = {}
    for stmt in tree.body:
        target, value = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        text = literal(value, {})  # {}: a constant made of another name is not folded
        if isinstance(target, ast.Name) and text is not None:
            candidates[target.id] = text
    bindings = Counter(_bound_names(tree))
    return {name: text for name, text in candidates.items() if bindings[name] == 1}


_NAMED_BINDINGS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)


def _bound_names(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            yield node.id
        elif isinstance(node, ast.arg):
            yield node.arg
        elif isinstance(node, ast.alias):
            yield (node.asname or node.name).split(".")[0]
        elif isinstance(node, _NAMED_BINDINGS) and node.name:  # def, class, except as...
            yield node.name
        elif isinstance(node, ast.Global | ast.Nonlocal):
            yield from node.names * 2  # rebound elsewhere: never fold


def _callee(call: ast.Call) -> str | None:
    """``mlflow.sklearn.log_model`` -> ``log_model``; None for calls of anything else."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument at ``position`` or passed as ``keyword``; None when absent or when a
    ``*args`` before it hides which argument sits where."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    before = call.args[: position + 1]
    if len(before) <= position or any(isinstance(arg, ast.Starred) for arg in before):
        return None
    return call.args[position]


def _keyword(call: ast.Call, keyword: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


def _site(
    kind: SiteKind, node: ast.expr | None, constants: Mapping[str, str], key: str = ""
) -> Iterator[Site]:
    value = literal(node, constants)
    if node is not None and value is not None:
        yield Site(kind, value, node.lineno, node.col_offset, key)


def _call_sites(call: ast.Call, constants: Mapping[str, str]) -> Iterator[Site]:
    callee = _callee(call)
    names: list[Site] = []
    for kind, arguments, keyword in _NAME_ARGUMENTS:
        nodes = [_keyword(call, keyword)]
        if callee in arguments:
            node = _argument(call, *arguments[callee])
            if node is not nodes[0]:  # set_experiment(experiment_name=...) is both
                nodes.append(node)
        for node in nodes:
            names.extend(_site(kind, node, constants))
    yield from names
    experiment = next((s.value for s in names if s.kind == "experiment"), None)
    for site in _tag_sites(call, callee, constants):
        yield replace(site, experiment=experiment)


def _tag_sites(call: ast.Call, callee: str | None, constants: Mapping[str, str]) -> Iterator[Site]:
    if callee != "dict":  # tags=dict(run_mode=...) is a tag named "run_mode", not run.mode
        yield from _site("tag", _keyword(call, RUN_MODE_KEYWORD), constants, TAG_RUN_MODE)
    mapping = _argument(call, 0, "tags") if callee == "set_tags" else _keyword(call, "tags")
    if mapping is not None and callee not in NOT_RUN_TAGS:
        for key, value in _pairs(mapping, constants):
            yield from _site("tag", value, constants, key)
    if callee == "set_tag":
        key_node, value_node = _set_tag_arguments(call)
        tag = literal(key_node, constants)
        if tag is not None:
            yield from _site("tag", value_node, constants, tag)


def _set_tag_arguments(call: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """``set_tag``'s key and value: ``mlflow.set_tag(key, value)`` or the client's
    ``set_tag(run_id, key, value)``, told apart by how many positional arguments fill the
    ``key``/``value`` slots that no keyword took."""
    given = {kw.arg: kw.value for kw in call.keywords if kw.arg in ("key", "value")}
    open_slots = [slot for slot in ("key", "value") if slot not in given]
    if any(isinstance(arg, ast.Starred) for arg in call.args):
        return None, None
    leading = len(call.args) - len(open_slots)
    if leading not in (0, 1):  # neither form: leave it to a type checker
        return None, None
    given.update(zip(open_slots, call.args[leading:], strict=True))
    return given.get("key"), given.get("value")


def _pairs(mapping: ast.expr, constants: Mapping[str, str]) -> Iterator[tuple[str, ast.expr]]:
    """(literal key, value node) of a ``{...}`` literal or a ``dict(...)`` call."""
    if isinstance(mapping, ast.Dict):
        for key_node, value in zip(mapping.keys, mapping.values, strict=True):
            key = literal(key_node, constants)  # None also for a ``**spread``
            if key is not None:
                yield key, value
    elif isinstance(mapping, ast.Call) and isinstance(mapping.func, ast.Name):
        if mapping.func.id != "dict":
            return
        if mapping.args:  # dict({...}, key=...)
            yield from _pairs(mapping.args[0], constants)
        for kw in mapping.keywords:
            if kw.arg is not None:
                yield kw.arg, kw.value
