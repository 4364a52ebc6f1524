"""Pre-flight: can this run be replayed here, and how faithfully? Pure logic on plain data.

The facts come from MLflow (``RunFacts``, read by ``mlflow_io.replay``) and from git and the
interpreter (``LocalFacts``, gathered by ``workspace``); this module only judges them, so every
verdict can be tested without a store or a repository. A ``fail`` row means the replay cannot
start (exit 2); ``warn`` rows mean it can, but the result may differ for a known reason that the
report names, so a "not reproduced" verdict comes with its likely explanation.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pytest_mlflow_guard.records import RunFacts
from pytest_mlflow_guard.vocabulary import (
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
)

CheckStatus = Literal["pass", "warn", "fail"]

_TRUNCATED = re.compile(r" \.\.\.\[\d+ more characters not recorded\]$")
_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")
# interpreter options that take a value as the next argument
_PYTHON_OPTS_WITH_VALUE = {"-W", "-X", "-Q"}
MAX_LISTED = 20


@dataclass(frozen=True)
class LocalFacts:
    """What this machine offers for the replay, as plain data."""

    repo_root: str | None  # None: not inside a git repository
    commit_present: bool = False
    changed_files: tuple[str, ...] = ()  # "M path" lines: working tree vs the recorded commit
    untracked_files: tuple[str, ...] = ()
    workdir_in_commit: bool | None = None
    script_in_commit: bool | None = None  # None: the command names no file to check
    python_version: str = ""
    requirements: str = ""  # the current environment, same format as the recorded one
    env_mode: str = "current"


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    summary: str
    details: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Command:
    """A recorded ``source.command``, understood well enough to run it with another python."""

    argv: tuple[str, ...]
    kind: Literal["python", "pytest", "other"]
    script: str | None  # the file it runs (for pytest: the test file), relative to the workdir

    def with_python(self, python: str) -> list[str]:
        """The argv to execute: ``python`` becomes the chosen interpreter, ``pytest`` its
        ``-m pytest``, so the replay never picks up another install from ``PATH``."""
        if self.kind == "python":
            return [python, *self.argv[1:]]
        if self.kind == "pytest":
            return [python, "-m", "pytest", *self.argv[1:]]
        return list(self.argv)


def parse_command(command: str) -> Command:
    """Split a recorded command; raises ``ValueError`` when it is not a valid shell line."""
    argv = tuple(shlex.split(command))
    if not argv:
        raise ValueError("empty command")
    head = argv[0].rsplit("/", 1)[-1]
    if head in ("pytest", "py.test"):
        node = next((a for a in argv[1:] if not a.startswith("-")), None)
        return Command(argv, "pytest", node.split("::", 1)[0] if node else None)
    if _PYTHON.match(head):
        args = list(argv[1:])
        while args and args[0].startswith("-"):
            opt = args.pop(0)
            if opt in ("-m", "-c"):
                return Command(argv, "python", None)
            if opt in _PYTHON_OPTS_WITH_VALUE and args:
                args.pop(0)
        return Command(argv, "python", args[0] if args else None)
    return Command(argv, "other", None)


def _requirement_key(line: str) -> tuple[str, str] | None:
    """``name==1.0`` -> (name, 1.0); ``-e ./pkg`` -> (``./pkg``, editable); comments -> None,
    except the tracker's note for a local install outside the repository."""
    line = line.strip()
    note = re.match(r"^#\s*([A-Za-z0-9_.-]+)==(\S+) \(installed from a local path", line)
    if note:
        return _canonical(note[1]), f"{note[2]} (local install)"
    if not line or line.startswith("#"):
        return None
    if line.startswith("-e "):
        return line[3:].strip(), "editable"
    if line.startswith(("./", "../", "/", ".")):
        return line, "local"
    if " @ " in line:
        name, url = line.split(" @ ", 1)
        return _canonical(name), f"@ {url.strip()}"
    name, sep, version = line.partition("==")
    return _canonical(name), version.strip() if sep else "any"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def parse_requirements(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key = _requirement_key(line)
        if key is not None:
            out[key[0]] = key[1]
    return out


def _pin(name: str, version: str) -> str:
    if version.startswith("@"):
        return f"{name} {version}"
    return name if version in ("editable", "local") else f"{name}=={version}"


def requirements_diff(recorded: str, current: str) -> list[str]:
    """``+ name==v`` (only now), ``- name==v`` (only then), ``~ name v1 -> v2`` lines."""
    old, new = parse_requirements(recorded), parse_requirements(current)
    lines = [
        f"~ {n} {old[n]} -> {new[n]}" for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
    ]
    lines += [
        f"- {_pin(n, old[n])} (recorded, not installed now)"
        for n in sorted(old.keys() - new.keys())
    ]
    lines += [
        f"+ {_pin(n, new[n])} (installed now, not recorded)"
        for n in sorted(new.keys() - old.keys())
    ]
    return lines


def _listed(items: Sequence[str]) -> tuple[str, ...]:
    shown = tuple(items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        shown += (f"... and {len(items) - MAX_LISTED} more",)
    return shown


def _check_commit(run: RunFacts, local: LocalFacts) -> Check:
    if not run.commit:
        return Check(
            "commit", "fail", f"no {TAG_GIT_COMMIT} recorded: nothing to check out (MLG201)"
        )
    if local.repo_root is None:
        return Check("commit", "fail", f"{run.commit[:12]} recorded, but this is no git repository")
    if not local.commit_present:
        return Check(
            "commit",
            "fail",
            f"{run.commit[:12]} recorded, not found in {local.repo_root}",
            ("fetch it first (git fetch origin) or replay from the clone that has it",),
        )
    return Check("commit", "pass", f"{run.commit[:12]} recorded and present in {local.repo_root}")


def _check_tree(run: RunFacts, local: LocalFacts) -> Check:
    if not local.commit_present or not run.commit:
        return Check("working tree", "warn", "not compared: the commit is not available")
    changed = list(local.changed_files) + [f"? {p}" for p in local.untracked_files]
    if not changed:
        return Check("working tree", "pass", f"identical to {run.commit[:12]}")
    return Check(
        "working tree",
        "warn",
        f"{len(changed)} file(s) differ from {run.commit[:12]}; the replay uses the commit, "
        "not your working tree",
        _listed(changed),
    )


def _check_dirty(run: RunFacts) -> Check:
    dirty = run.tags.get(TAG_GIT_DIRTY)
    if dirty == "true":
        return Check(
            "dirty run",
            "warn",
            "the run was made from a tree with uncommitted changes: the commit does not hold "
            "exactly the code that ran, so it cannot be replayed exactly (MLG204)",
        )
    if dirty == "false":
        return Check("dirty run", "pass", "the run was made from a clean tree")
    return Check("dirty run", "warn", "git.dirty not recorded: the tree may have had changes")


def _check_requirements(run: RunFacts, local: LocalFacts) -> Check:
    if not run.requirements:
        status: CheckStatus = "fail" if local.env_mode == "recorded" else "warn"
        return Check(
            "requirements",
            status,
            "no environment/requirements.txt recorded (MLG501)"
            + ("" if status == "fail" else ": the replay uses the current environment as is"),
        )
    notes = [
        f"{name} {version}: not installable from an index; the recorded venv will lack it"
        for name, version in parse_requirements(run.requirements).items()
        if version.endswith("(local install)")
    ]
    if local.env_mode == "recorded":
        return Check(
            "requirements",
            "warn" if notes else "pass",
            "recorded; a fresh virtualenv is built from them",
            tuple(notes),
        )
    diff = requirements_diff(run.requirements, local.requirements)
    if not diff:
        return Check("requirements", "pass", "the current environment matches the recorded one")
    return Check(
        "requirements",
        "warn",
        f"{len(diff)} difference(s) from the current environment (--env recorded rebuilds it)",
        _listed(diff),
    )


def _check_python(run: RunFacts, local: LocalFacts) -> Check:
    if not run.python_version:
        return Check("python", "warn", f"not recorded; replaying with {local.python_version}")
    if run.python_version == local.python_version:
        return Check("python", "pass", f"{run.python_version} recorded and used")
    same_minor = run.python_version.split(".")[:2] == local.python_version.split(".")[:2]
    return Check(
        "python",
        "warn",
        f"{run.python_version} recorded, {local.python_version} used"
        + ("" if same_minor else " (another minor version: numerics and hashing may differ)"),
    )


def _check_command(run: RunFacts, local: LocalFacts) -> Check:
    if not run.command:
        return Check("command", "fail", "no source.command recorded: nothing to run (MLG502)")
    if _TRUNCATED.search(run.command):
        return Check("command", "fail", "source.command was cut when recorded: cannot run it")
    try:
        parsed = parse_command(run.command)
    except ValueError as exc:
        return Check("command", "fail", f"source.command is not a command line: {exc}")
    where = f"in {run.workdir}/" if run.workdir != "." else "at the repository root"
    if local.workdir_in_commit is False:
        return Check("command", "fail", f"{run.command} (workdir {run.workdir} not in the commit)")
    if local.script_in_commit is False:
        return Check(
            "command",
            "fail",
            f"{run.command}: {parsed.script} is not in the commit (was it untracked?)",
        )
    if "***" in run.command:
        return Check(
            "command",
            "warn",
            f"{run.command} {where}",
            ("secret values were masked when recorded; the replay passes '***' in their place",),
        )
    return Check("command", "pass", f"{run.command} {where}")


def _check_params(run: RunFacts) -> Check:
    if not run.params:
        return Check(
            "params",
            "warn",
            "no params recorded: the replay cannot show it ran with the same ones (MLG503)",
        )
    return Check("params", "pass", f"{len(run.params)} recorded; compared after the replay")


def evaluate(run: RunFacts, local: LocalFacts) -> list[Check]:
    """The pre-flight rows, in the order the report shows them."""
    return [
        _check_commit(run, local),
        _check_tree(run, local),
        _check_dirty(run),
        _check_requirements(run, local),
        _check_python(run, local),
        _check_command(run, local),
        _check_params(run),
    ]


def blocking(checks: Sequence[Check]) -> list[Check]:
    return [check for check in checks if check.status == "fail"]
