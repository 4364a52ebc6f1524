"""Judging the literals ``visitor`` finds, by the gate's own rules and under the gate's own config.

Each literal is handed to the rule engine as the record it will become in the store (an
experiment, a registered model, a run carrying that one tag) and only the finding of the rule the
literal stands for is kept. So lint and ``mlflow-guard check`` cannot disagree: same patterns,
same vocabulary, same messages, same ``select``/``ignore``/``severity``, and per-experiment
``overrides`` for experiment names (and for tag values given in the call that names the
experiment, such as ``ExperimentTracker("a/b", run_mode=...)``).
"""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import threading
import tokenize
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.errors import ConfigError, GuardError
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.gate.rules import get_rule, parse_ignore_tag
from pytest_mlflow_guard.lint.visitor import Site, SiteKind, find_sites
from pytest_mlflow_guard.records import ExperimentRecord, Record, RegisteredModelRecord, RunRecord
from pytest_mlflow_guard.vocabulary import Severity

__all__ = ["Checker", "LintFinding", "SourceError", "lint_file", "lint_source", "suppressions"]

#: the rule each kind of literal is judged by
RULE_OF: dict[SiteKind, str] = {
    "experiment": "MLG101",
    "registered_model": "MLG103",
    "tag": "MLG202",
}
#: ``# mlflow-guard: ignore`` or ``# mlflow-guard: ignore[MLG101, tag-value]``, anywhere in a
#: comment (so it can follow another tool's directive in the same comment)
SUPPRESSION = re.compile(r"#\s*mlflow-guard:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?")
#: how ``ast`` counts lines (``str.splitlines`` also breaks at form feeds and U+2028)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceError(GuardError):
    """A file that is not Python source: a syntax error, an undecodable byte, unreadable."""


@dataclass(frozen=True)
class LintFinding:
    """One finding at a place in a file (``line`` and ``col`` count from 1, ``col`` in
    characters)."""

    path: str
    line: int
    col: int
    code: str
    name: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Checker:
    """Judges literals under one config. Building it validates the config's rule references
    (an unknown code in ``select`` is a ``ConfigError`` before any file is read)."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._engine = Engine(config)
        # the same literal recurs (one experiment name in every script): judge it once
        self._verdicts: dict[tuple[str, str, str, str | None], tuple[Finding, ...]] = {}

    def judge(self, site: Site) -> tuple[Finding, ...]:
        """The findings of the rule ``site`` stands for, as the gate would report them."""
        key = (site.kind, site.key, site.value, site.experiment)
        verdict = self._verdicts.get(key)
        if verdict is None:
            record = self._record(site)
            code = RULE_OF[site.kind]
            found = self._engine.check([record]) if record is not None else ()
            verdict = self._verdicts[key] = tuple(f for f in found if f.rule == code)
        return verdict

    def _record(self, site: Site) -> Record | None:
        if site.kind == "experiment":
            return ExperimentRecord(experiment_id="", name=site.value)
        if site.kind == "registered_model":
            return RegisteredModelRecord(name=site.value)
        config = self.config.for_experiment(site.experiment) if site.experiment else self.config
        if site.key not in config.allowed_values:
            return None  # a tag without a vocabulary: nothing to judge
        return RunRecord(
            run_id="",
            experiment_id="",
            experiment_name=site.experiment or "",
            run_name=None,
            status="FINISHED",
            tags={site.key: site.value},
        )


def suppressions(text: str) -> dict[int, frozenset[str] | None]:
    """Line -> the rule codes its ``# mlflow-guard: ignore[...]`` comment suppresses (None: all).

    Entries that name no rule suppress nothing (the finding stays visible, so a typo shows).
    Comments are found with ``tokenize``, so a ``#`` inside a string is not one.
    """
    if "mlflow-guard" not in text:  # the usual file: no need to tokenize it
        return {}
    found: dict[int, frozenset[str] | None] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            match = SUPPRESSION.search(token.string) if token.type == tokenize.COMMENT else None
            if match is None:
                continue
            entries = match["codes"]
            found[token.start[0]] = None if entries is None else frozenset(_codes(entries))
    except (tokenize.TokenError, SyntaxError):  # parsed by ast already; keep what was read
        pass
    return found


def _codes(entries: str) -> set[str]:
    codes = set()
    for entry in parse_ignore_tag(entries):
        try:
            codes.add(get_rule(entry).code)
        except ConfigError:
            continue
    return codes


#: deeper than this, an expression is refused: Python 3.11 and 3.12's parsers give up near 3,000
#: levels (RecursionError), 3.13's further on, 3.10's kills the process with a segfault
MAX_DEPTH = 1000
#: the parser's thread gets this much stack: room for Python 3.10 to build a tree of up to
#: ``_MAX_OPERATORS`` levels (measured: a million on 512 MiB)
_PARSER_STACK = 512 * 1024 * 1024
#: operators in one statement past which the source is not parsed at all (an 8 MiB file can
#: hold four million, more than any stack above holds on Python 3.10)
_MAX_OPERATORS = 500_000
_NOT_NESTING = frozenset({",", ":", ";", "=", ")", "]", "}", "->", "..."})


def parse(text: str, path: str) -> ast.Module:
    """``ast.parse``, the same on every Python: ``RecursionError`` for anything nested more
    than ``MAX_DEPTH`` deep, never a crash. Python 3.10's parser has no guard for a deep
    expression and overflows the C stack (seen: ``x = 1+1+...`` 200,000 terms long), so it
    runs on a thread with a deep stack, and the depth is measured on the tree."""
    if _operators_in_a_statement(text) > _MAX_OPERATORS:
        raise RecursionError(f"over {_MAX_OPERATORS:,} operators in one statement")
    result: list[ast.Module | BaseException] = []

    def work() -> None:
        try:
            result.append(ast.parse(text, filename=path))
        except BaseException as exc:  # handed to the caller's thread, raised there
            result.append(exc)

    previous = threading.stack_size(_PARSER_STACK)
    try:
        thread = threading.Thread(target=work, name="mlflow-guard-lint-parse")
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    tree = result[0]
    if _depth(tree) > MAX_DEPTH:
        raise RecursionError(f"nested more than {MAX_DEPTH} deep")
    return tree


def _operators_in_a_statement(text: str) -> int:
    """The most operator tokens in one logical line (0 for what does not tokenize: the parser
    says what is wrong with it). Tokenizing is slow: a file with fewer operator characters in
    all than the limit is not tokenized."""
    if sum(text.count(mark) for mark in "+-*/%@&|^~<>.([{") <= _MAX_OPERATORS:
        return 0
    most = count = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NEWLINE:
                most, count = max(most, count), 0
            elif token.type == tokenize.OP and token.string not in _NOT_NESTING:
                count += 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return max(most, count)


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:  # not recursive: the tree may be hundreds of thousands deep
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def lint_source(text: str, path: str, checker: Checker) -> list[LintFinding]:
    """The findings in one file's source, in source order (``SyntaxError`` if it is not
    Python)."""
    sites = find_sites(parse(text, path))
    if not sites:
        return []
    quiet = suppressions(text)
    lines = _LINE_BREAK.split(text)
    found = []
    for site in sites:
        for finding in checker.judge(site):
            if _suppressed(quiet, site.line, finding.rule):
                continue
            column = _column(lines, site.line, site.col_offset)
            found.append(
                LintFinding(
                    path,
                    site.line,
                    column,
                    finding.rule,
                    finding.name,
                    finding.severity,
                    finding.message,
                )
            )
    return found


def _suppressed(quiet: dict[int, frozenset[str] | None], line: int, code: str) -> bool:
    if line not in quiet:
        return False
    codes = quiet[line]
    return codes is None or code in codes


def _column(lines: Sequence[str], line: int, col_offset: int) -> int:
    """1-based character column of ``ast``'s UTF-8 byte offset (they differ after non-ASCII)."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text.encode()[:col_offset].decode(errors="ignore")) + 1


#: a source file larger than this is not read (a generated or vendored blob: nobody's literals)
MAX_SOURCE_BYTES = 8 * 1024 * 1024


def read_source(path: Path) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``MAX_SOURCE_BYTES``;
    ``SourceError`` saying why not otherwise. A committed symlink to ``/dev/zero`` would be read
    until memory runs out and a FIFO named ``x.py`` would block forever: the file is opened
    without waiting for a writer, and its kind and size come from the open file itself (no race
    between a check and the read)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{path}: not a regular file ({_kind(info.st_mode)}): not read")
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        limit = MAX_SOURCE_BYTES // (1024 * 1024)
        raise SourceError(f"{path}: larger than {limit} MiB: not read")
    return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def lint_file(path: Path, checker: Checker) -> list[LintFinding]:
    """The findings in ``path``, shown as given; ``SourceError`` when it is not Python source."""
    try:
        data = read_source(path)
        # honours a PEP 263 coding cookie and a UTF-8 BOM, as the interpreter does
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return lint_source(data.decode(encoding), str(path), checker)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        raise SourceError(f"{where}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # undecodable bytes, a NUL byte (3.11), an unknown encoding
        raise SourceError(f"{path}: not Python source: {exc}") from None
    except (RecursionError, MemoryError):  # ast.parse of an expression nested thousands deep
        raise SourceError(f"{path}: too deeply nested for Python's parser") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
