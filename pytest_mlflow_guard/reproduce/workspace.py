"""Where a replay runs: a temporary git worktree, an interpreter, a child process. No MLflow.

The user's working tree and branch are never touched: the recorded commit is checked out into
a detached worktree inside a temporary directory, which is removed (with any virtualenv built
for the replay) when the block ends, whether it ends normally, by an error or by Ctrl-C.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.reproduce.preflight import LocalFacts, parse_command
from pytest_mlflow_guard.vocabulary import (
    ENV_MLFLOW_EXPERIMENT_ID,
    ENV_MLFLOW_EXPERIMENT_NAME,
    ENV_MLFLOW_RUN_ID,
    ENV_MLFLOW_TRACKING_URI,
    ENV_REPRODUCTION_OF,
)

_GIT_TIMEOUT_S = 60
# Variables a replayed command must not inherit: they would make MLflow resume another run,
# or make the child believe it is the test that started the replay.
_DROPPED_ENV = (
    ENV_MLFLOW_RUN_ID,
    ENV_MLFLOW_EXPERIMENT_NAME,
    "PYTEST_CURRENT_TEST",
    "PYTEST_ADDOPTS",
)


class ReplayError(GuardError):
    """The replay could not be carried out (the reason is the message): exit 2."""


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # hooksPath: `git worktree add` runs post-checkout hooks; a replay must not run the user's
    # hooks (they may be slow, interactive, or have side effects on the real checkout).
    proc = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT_S,
        check=False,
    )
    if check and proc.returncode != 0:
        raise ReplayError(f"git {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc


def repo_root(start: Path) -> Path | None:
    try:
        proc = git(start, "rev-parse", "--show-toplevel", check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def _in_commit(root: Path, commit: str, path: str) -> bool:
    return git(root, "cat-file", "-e", f"{commit}:{path}", check=False).returncode == 0


def _relpath(workdir: str, script: str) -> str:
    joined = os.path.normpath(os.path.join(workdir, script))
    return "." if joined in ("", ".") else joined


def local_facts(
    root: Path | None,
    commit: str | None,
    command: str | None,
    workdir: str,
    env_mode: str,
    current_requirements: str,
) -> LocalFacts:
    """Git facts about ``commit`` in the repository at ``root``, for the pre-flight."""
    base = LocalFacts(
        repo_root=None,
        python_version=platform.python_version(),
        requirements=current_requirements,
        env_mode=env_mode,
    )
    if root is None:
        return base
    present = bool(commit) and (
        git(root, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0
    )
    if not commit or not present:
        return replace(base, repo_root=str(root))
    diff = git(root, "diff", "--name-status", "--no-renames", commit, "--", check=False)
    untracked = git(root, "ls-files", "--others", "--exclude-standard", check=False)
    workdir_ok = workdir == "." or _in_commit(root, commit, workdir)
    script_ok: bool | None = None
    if command and workdir_ok:
        try:
            script = parse_command(command).script
        except ValueError:
            script = None
        if script and not os.path.isabs(script):
            script_ok = _in_commit(root, commit, _relpath(workdir, script))
    return LocalFacts(
        repo_root=str(root),
        commit_present=True,
        changed_files=tuple(" ".join(line.split("\t")) for line in diff.stdout.splitlines()),
        untracked_files=tuple(untracked.stdout.splitlines()),
        workdir_in_commit=workdir_ok,
        script_in_commit=script_ok,
        python_version=platform.python_version(),
        requirements=current_requirements,
        env_mode=env_mode,
    )


@dataclass(frozen=True)
class Workspace:
    tmp: Path
    worktree: Path


@contextmanager
def worktree(root: Path, commit: str) -> Iterator[Workspace]:
    """A detached worktree of ``commit`` in a fresh temporary directory, removed afterwards.

    SIGTERM is turned into ``KeyboardInterrupt`` for the duration (main thread only), so a
    killed replay also cleans up. Only this worktree's entry in git's bookkeeping
    (``.git/worktrees``) is removed: ``git worktree prune`` would also drop the entries of the
    user's other worktrees whose folders happen to be missing right now (an unmounted disk),
    and with them their index, staged changes included.
    """
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-guard-replay-"))
    tree = tmp / "worktree"
    previous = _trap_sigterm()
    try:
        git(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        yield Workspace(tmp, tree)
    finally:
        try:
            # removes the folder and its bookkeeping; also when the folder is already gone
            git(root, "worktree", "remove", "--force", "--force", str(tree), check=False)
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            _restore_sigterm(previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _trap_sigterm() -> object:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _restore_sigterm(previous: object) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


_PROBE = (
    "import json, sys\n"
    "mapping = {}\n"
    "for finder in sys.meta_path:\n"
    "    module = sys.modules.get(getattr(finder, '__module__', '') or '')\n"
    "    found = getattr(module, 'MAPPING', None)\n"
    "    if isinstance(found, dict) and module.__name__.startswith('__editable__'):\n"
    "        mapping.update(found)\n"
    "print(json.dumps({'path': sys.path[1:], 'mapping': mapping}))\n"
)


def import_paths(python: str, root: Path, tree: Path, links: Path) -> list[str]:
    """``PYTHONPATH`` entries that make ``python`` import the worktree's code, not the user's.

    Editable installs of the repository's own packages (the team's project, this package)
    point into the user's checkout: by ``.pth`` path entries or by setuptools' editable finder;
    so may ``PYTHONPATH``. Each such entry is mapped to the same place in the worktree; a
    finder's packages get a symlink in ``links``. Without this, ``--env current`` would run the
    commit's script against today's library code.
    """
    proc = subprocess.run(
        [python, "-c", _PROBE],
        capture_output=True,
        text=True,
        cwd=tree,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise ReplayError(f"cannot start {python}: {proc.stderr.strip()[-500:]}")
    probe = json.loads(proc.stdout)
    root = root.resolve()
    paths: list[str] = []
    for entry in probe["path"]:
        mapped = _mapped(entry, root, tree)
        if mapped is not None and mapped.is_dir():
            paths.append(str(mapped))
    for package, location in sorted(probe["mapping"].items()):
        mapped = _mapped(location, root, tree)
        if mapped is not None and mapped.exists():
            links.mkdir(exist_ok=True)
            (links / package).symlink_to(mapped)
    if links.is_dir():
        paths.insert(0, str(links))
    return paths


def mapped_pythonpath(pythonpath: str | None, root: Path, tree: Path) -> list[str]:
    """The worktree counterparts of ``PYTHONPATH`` entries inside the user's checkout (for
    ``--env recorded``, whose virtualenv knows nothing of the user's editable installs)."""
    mapped = (
        _mapped(entry, root.resolve(), tree) for entry in (pythonpath or "").split(os.pathsep)
    )
    return [str(path) for path in mapped if path is not None and path.is_dir()]


def _mapped(path: str, root: Path, tree: Path) -> Path | None:
    if not path:
        return None
    real = Path(path).resolve()
    if not real.is_relative_to(root):
        return None
    return tree / real.relative_to(root)


def build_venv(tmp: Path, python: str, requirements: str, tree: Path, stream: TextIO | None) -> str:
    """A fresh virtualenv with the recorded requirements; returns its interpreter.

    ``pip`` runs from the worktree root, where the requirements' ``-e ./path`` lines (the
    repository's own packages, as the tracker records them) find the commit's code.
    """
    venv = tmp / "venv"
    req = tmp / "requirements.txt"
    req.write_text(requirements, encoding="utf-8")
    run_logged([python, "-m", "venv", str(venv)], tree, dict(os.environ), stream, "venv")
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    interpreter = str(bindir / ("python.exe" if os.name == "nt" else "python"))
    command = [interpreter, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run_logged([*command, "-r", str(req)], tree, dict(os.environ), stream, "pip install")
    return interpreter


def run_logged(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], stream: TextIO | None, what: str
) -> None:
    result = run_child(argv, cwd, env, stream)
    if result.returncode != 0:
        raise ReplayError(f"{what} exited with {result.returncode}: {result.tail[-1000:]}")


def child_env(
    base: Mapping[str, str],
    tracking_uri: str,
    experiment_id: str,
    reproduction_of: str,
    python_paths: Sequence[str],
    python: str,
    root: Path,
) -> dict[str, str]:
    """The replayed command's environment: the caller's, pointed at the same store and
    experiment, marked with the run it reproduces. ``PYTHONPATH`` entries inside the user's
    checkout (``root``) are left out: ``python_paths`` holds their worktree counterparts.
    Nothing from the environment is ever printed."""
    env = {k: v for k, v in base.items() if k not in _DROPPED_ENV}
    env[ENV_MLFLOW_TRACKING_URI] = tracking_uri
    env[ENV_MLFLOW_EXPERIMENT_ID] = experiment_id
    env[ENV_REPRODUCTION_OF] = reproduction_of
    paths = list(python_paths)
    for entry in base.get("PYTHONPATH", "").split(os.pathsep):
        if entry and _mapped(entry, root.resolve(), root) is None:
            paths.append(entry)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    # console scripts the command may call (a recorded `pytest ...` of another shape, tools
    # it shells out to) come from the replay's interpreter first
    env["PATH"] = os.pathsep.join(p for p in (str(Path(python).parent), env.get("PATH")) if p)
    return env


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    seconds: float
    tail: str


def run_child(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    stream: TextIO | None,
    timeout_s: float | None = None,
) -> ChildResult:
    """Run ``argv``, copying its output (stdout and stderr) to ``stream`` as it comes.

    The child gets its own process group; on Ctrl-C, SIGTERM or timeout the whole group is
    interrupted (SIGINT first, so MLflow code can end its run as KILLED), then terminated.
    """
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=80)
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            # the child has the tracking URI, credentials included (MLflow prints it in its
            # "View run" line): what is copied out goes through the redaction policy
            line = redact_text(line)
            tail.append(line)
            if stream is not None:
                stream.write(line)
                stream.flush()

    reader = threading.Thread(target=pump, name="mlflow-guard-replay-output", daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(proc)
        reader.join(5)
        raise ReplayError(f"{argv[0]} did not finish within {timeout_s:g} s: stopped it") from None
    except BaseException:
        _stop(proc)
        raise
    reader.join(10)
    return ChildResult(returncode, time.monotonic() - start, "".join(tail))


def _stop(proc: subprocess.Popen[str]) -> None:
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
