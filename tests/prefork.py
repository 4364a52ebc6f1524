"""Real pytest processes for pytester, forked from one that has already imported MLflow.

Most of this suite's time is pytester sessions: real ``python -m pytest`` processes, because what
they test needs one (exit codes, xdist, signals, terminal output, a plugin state nobody touched).
About three of the four seconds such a process takes on two cores go to importing MLflow,
SQLAlchemy and scikit-learn. So each test worker starts one *zygote* that imports them once, and
every pytester session is a fork of it that then becomes ``python -m pytest`` exactly as
pytester's ``popen`` would start it: the same argv, working directory, environment, ``sys.path``,
standard streams and exit status, a fresh random state, its own pid. It is still a separate
process: a crash, an ``os._exit`` or a signal in it never reaches the test.

What differs from a new interpreter is only what was imported before the session started. Tests
whose subject is exactly that (what loading the plugin imports) carry
``@pytest.mark.fresh_interpreter`` and get a new interpreter, as does anything that is not a plain
``python -m pytest`` or when the zygote cannot start.

The zygote is ``python -c ZYGOTE FD``: ``-c``, so that no frame below pytest's names a file (the
guard looks for the caller's code on the stack, and a real ``python -m pytest`` has none there).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

# Everything a guarded session imports that takes long, and nothing that is a pytest plugin
# itself (pytest rewrites the asserts of those, and says so when it cannot).
HEAVY = (
    "pytest",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.sklearn",
    "sklearn.linear_model",
    "sklearn.ensemble",
)
_MAX_REQUEST = 1 << 20
# Top level, not a function: pytest's SystemExit must end the process the ordinary way (atexit
# handlers, non-daemon threads joined, streams flushed), as it ends `python -m pytest`.
ZYGOTE = """\
import runpy, sys, threading
sys.path.insert(0, sys.argv[2])
import prefork
del sys.path[0]
session = prefork.serve(int(sys.argv[1]), sys.argv[3].split(","))
assert threading.active_count() == 1  # a fork copies only the thread that calls it
prefork.become_pytest(session, frozenset(sys.modules))
del session
runpy.run_module("pytest", run_name="__main__", alter_sys=True)
"""


# ---------------------------------------------------------------------------- the test side


class ForkedProcess:
    """The part of :class:`subprocess.Popen` that ``Pytester.run`` uses."""

    stdin = None

    def __init__(self, args: tuple[str, ...], channel: socket.socket) -> None:
        self.args = args
        self._channel = channel
        self._buffer = b""
        self.returncode: int | None = None
        self.pid = int(self._message(None).removeprefix("pid "))

    def _message(self, timeout: float | None) -> str:
        self._channel.settimeout(timeout)
        while b"\n" not in self._buffer:
            try:
                chunk = self._channel.recv(4096)
            except TimeoutError:
                raise subprocess.TimeoutExpired(list(self.args), timeout or 0) from None
            if not chunk:
                raise RuntimeError("the zygote's waiter went away without an exit status")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = int(self._message(timeout).removeprefix("exit "))
            self._channel.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._channel], [], [], 0)[0]:
            return self.wait()
        return self.returncode

    def send_signal(self, number: int) -> None:
        # the waiter has not reaped the pid while no exit status came: it is still this process
        if self.poll() is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    """One per test worker, started on first use; ``None`` from :meth:`spawn` means "start a
    new interpreter instead"."""

    def __init__(self, folder: Path, heavy: tuple[str, ...] = HEAVY) -> None:
        self._folder = folder
        self._heavy = heavy
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._broken = False

    def _start(self) -> socket.socket | None:
        if self._control is None and not self._broken:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            with (self._folder / "zygote.log").open("wb") as log:
                self._process = subprocess.Popen(
                    [sys.executable, "-c", ZYGOTE, str(theirs.fileno()), str(Path(__file__).parent),
                     ",".join(self._heavy)],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self._folder, env=env,
                )  # fmt: skip
            theirs.close()
            ours.settimeout(120)
            try:
                ready = ours.recv(64) == b"ready"
            except OSError:
                ready = False
            if ready:
                ours.settimeout(None)
                self._control = ours
            else:
                self._broken = True
                ours.close()
        return self._control

    def spawn(
        self, args: tuple[str, ...], env: dict[str, str], stdout: Any, stderr: Any
    ) -> ForkedProcess | None:
        control = self._start()
        if control is None:
            return None
        ours, theirs = socket.socketpair()
        with open(os.devnull, "rb") as stdin:
            request = json.dumps({"args": list(args[2:]), "cwd": os.getcwd(), "env": env})
            fds = [theirs.fileno(), stdin.fileno(), stdout.fileno(), stderr.fileno()]
            socket.send_fds(control, [request.encode()], fds)
        theirs.close()
        return ForkedProcess(args, ours)

    def close(self) -> None:
        if self._control is not None:
            self._control.close()  # the zygote ends when its control socket closes
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


# ----------------------------------------------------------------------------- the zygote


def serve(fd: int, heavy: list[str]) -> dict[str, Any]:
    """Answer requests until the control socket closes; returns only in a forked session."""
    control = socket.socket(fileno=fd)
    for name in heavy:
        __import__(name)
    control.send(b"ready")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST, 4)
        except OSError:
            message, fds = b"", []
        if not message:
            raise SystemExit(0)
        while True:  # reap the waiters of sessions that ended
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if os.fork() != 0:
            for fd in fds:
                os.close(fd)
            continue
        # the waiter: starts the session, then tells the test its pid and, later, its exit
        control.close()
        channel = socket.socket(fileno=fds[0])
        pid = os.fork()
        if pid == 0:
            channel.close()
            request = json.loads(message)
            request["stdio"] = fds[1:]
            return dict(request)
        for fd in fds[1:]:
            os.close(fd)
        channel.sendall(f"pid {pid}\n".encode())
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        channel.sendall(f"exit {status}\n".encode())
        os._exit(0)


def become_pytest(request: dict[str, Any], preloaded: frozenset[str]) -> None:
    """Turn this fork into what ``Pytester.popen`` starts: ``python -mpytest ARGS``."""
    import random

    for target, fd in enumerate(request["stdio"]):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # `python -m` puts the working directory first, then PYTHONPATH (pytester adds the working
    # directory there too), then what the interpreter itself has
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *extra, *sys.path[1:]]
    sys.argv[:] = ["-m", *request["args"]]
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    # pytest wants to rewrite the asserts of plugins (the guard, anyio) and warns when they are
    # already imported: here they are, because MLflow imports them, and only because of this
    # harness; a new interpreter would not warn
    from _pytest.assertion.rewrite import AssertionRewritingHook

    warn = AssertionRewritingHook._warn_already_imported

    def _warn_unless_preloaded(self: AssertionRewritingHook, name: str) -> None:
        if name not in preloaded:
            warn(self, name)

    AssertionRewritingHook._warn_already_imported = _warn_unless_preloaded  # type: ignore[method-assign]
