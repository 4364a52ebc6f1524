"""A real PostgreSQL server for the tests: Debian's ``initdb`` and ``pg_ctl`` on 127.0.0.1.

One cluster per test worker, in a directory this harness creates (and alone removes), with trust
authentication on loopback only. PostgreSQL refuses to run as root, so under root (CI) the
server runs as the ``postgres`` user the Debian package creates.

Where PostgreSQL is not installed the tests that need it are skipped with that reason, except
when ``MLFLOW_GUARD_REQUIRE_POSTGRES`` is set (``.ci/run`` sets it after installing the package):
then a missing server is a failure, so CI can never pass by skipping them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "PostgresUnavailable", "cluster", "find_bindir", "postgres_server"]

REQUIRE_ENV = "MLFLOW_GUARD_REQUIRE_POSTGRES"


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: Debian keeps them off PATH, per major version."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for directory in reversed(candidates):
        if os.access(os.path.join(directory, "pg_ctl"), os.X_OK):
            return Path(directory)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    port: int
    data: Path
    bindir: Path
    #: the operating-system user the server runs as (None: this process's own)
    user: str | None

    def uri(self, database: str = "postgres", role: str = "postgres") -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser; the output, or ``CalledProcessError`` with it."""
        command = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-c",
            sql,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
        return done.stdout


def _as(user: str | None, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set: CI must run the PostgreSQL tests)")
    pytest.skip(reason)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (not installed, or no user to run it as)."""


@contextmanager
def cluster(root: Path, *, keep: bool = False) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster in ``root/data`` (created when missing), started on a free port and
    stopped afterwards. Unless ``keep``, ``root`` is removed too: it must be this harness's own
    (``keep`` is for the benchmark's cached stores)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        )
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' user to run PostgreSQL as"
            ) from None
        user = "postgres"
    data = root / "data"
    fresh = not (data / "PG_VERSION").exists()
    data.mkdir(parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    log = root / "server.log"
    try:
        if fresh:
            initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            subprocess.run(_as(user, initdb), check=True, capture_output=True, timeout=120)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        subprocess.run(
            _as(user, [*start, "-w", "-t", "60", "start"]),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = getattr(exc, "stderr", b"") or b""
        detail = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc}\n{detail}\n{tail}") from None
    try:
        yield PostgresServer(port=port, data=data, bindir=bindir, user=user)
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast" if keep else "immediate"]
        subprocess.run(
            _as(user, [*stop, "-w", "stop"]), capture_output=True, timeout=60, check=False
        )
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A new cluster for the tests (skipped where PostgreSQL is unavailable, see the module)."""
    root = Path(tempfile.mkdtemp(prefix="mlflow-guard-pg-"))
    started = cluster(root)
    try:
        server = started.__enter__()
    except PostgresUnavailable as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(str(exc))
        raise
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        started.__exit__(None, None, None)
