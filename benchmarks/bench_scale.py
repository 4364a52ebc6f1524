#!/usr/bin/env python
"""The gate at scale: sqlite at 100,000 runs, PostgreSQL at 1,000,000, and ``mlflow server``.

Stores are generated once, in bulk with SQL (``tests/generated_store.py``: 10 params, 5 metrics
and the convention tags per run, ~10% violating, 200 model versions), and cached under
``--cache-dir`` (PostgreSQL keeps its cluster there). Each command runs as its own process, the
two of a scenario alternated (A B A B ...), and medians are compared within this one run:

  (a) ``--scenario sqlite``: ``mlflow-guard check`` vs a bare listing (paged
      ``MlflowClient.search_runs`` over every experiment, then ``search_model_versions``) of a
      100,000-run sqlite store. Target: gate/listing <= 0.5. The gate's peak RSS at 100,000 runs
      against 10,000: target <= 1.3.
  (b) ``--scenario postgres``: the same on PostgreSQL at 1,000,000 runs. Target: gate <= 120 s.
  (c) ``--scenario server``: both through ``mlflow server`` on PostgreSQL, 100,000 runs.
      Target: gate/listing <= 1.2.

    python benchmarks/bench_scale.py --scenario sqlite
    python benchmarks/bench_scale.py --scenario postgres --repeat 2
    python benchmarks/bench_scale.py --scenario server

Artifacts: the sqlite store's runs each have their own folder (``environment/requirements.txt``
in four experiments of five); at 1,000,000 runs that would be three million inodes, so there the
runs of an experiment share one folder (each run's file is still looked up, per run).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]

from bench_gate import QUIET_ENV, measure  # noqa: E402
from generated_store import generate  # noqa: E402
from postgres import PostgresServer, cluster  # noqa: E402

LAYOUT = 2  # bump when the generated store changes: invalidates cached stores
VERSIONS = 200

LISTING = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient(tracking_uri=sys.argv[1])
ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
runs = versions = 0
token = None
while True:
    page = client.search_runs(ids, max_results=1000, page_token=token)
    runs += len(page)
    token = page.token
    if not token:
        break
token = None
while True:
    page = client.search_model_versions(max_results=1000, page_token=token)
    versions += len(page)
    token = page.token
    if not token:
        break
print(json.dumps({"runs": runs, "versions": versions}))
"""


def _migrate(uri: str) -> None:
    code = "import sys, mlflow; mlflow.MlflowClient(tracking_uri=sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, uri], check=True, capture_output=True)


def sqlite_store(cache: Path, runs: int) -> str:
    folder = cache / f"sqlite-{runs}-v{LAYOUT}"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    if not (folder / "done").exists():
        if folder.exists():
            sys.exit(f"{folder} is incomplete (an interrupted build?): remove it and run again")
        folder.mkdir(parents=True)
        print(f"generating {runs} runs in {folder} ...", flush=True)
        began = time.perf_counter()
        _migrate(uri)
        generate(uri, runs=runs, versions=VERSIONS, artifacts=folder / "artifacts")
        (folder / "done").write_text("")
        print(f"  generated in {time.perf_counter() - began:.0f} s", flush=True)
    return uri


def postgres_store(server: PostgresServer, runs: int, artifacts: Path) -> str:
    name = f"scale_{runs}_v{LAYOUT}"
    done = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}_done'").strip()
    uri = server.uri(name)
    if done != "1":
        server.psql(f"DROP DATABASE IF EXISTS {name}")
        server.psql(f"CREATE DATABASE {name}")
        print(f"generating {runs} runs in PostgreSQL database {name} ...", flush=True)
        began = time.perf_counter()
        _migrate(uri)
        generate(uri, runs=runs, versions=VERSIONS, artifacts=artifacts, shared_artifacts=True)
        server.psql("VACUUM ANALYZE", name)
        server.psql(f"CREATE DATABASE {name}_done")  # a marker that survives restarts
        print(f"  generated in {time.perf_counter() - began:.0f} s", flush=True)
    return uri


@contextmanager
def mlflow_server(backend: str, root: Path, workers: int) -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (root / "mlflow-server.log").open("wb")
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
        "--default-artifact-root", str(root / "served"), "--no-serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    env = {**QUIET_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    import os

    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    sys.exit(f"mlflow server exited: see {root / 'mlflow-server.log'}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def alternate(a: list[str], b: list[str], repeat: int) -> tuple[list[float], list[float], float]:
    """Wall seconds of A and B over ``repeat`` alternated rounds (after one untimed round
    each); and B's median peak RSS in MiB."""
    print(f"  A: {shlex.join(a)[:160]}\n  B: {shlex.join(b)[:160]}", flush=True)
    print(f"  warm-up: A -> {measure(a)[2]}   B -> {measure(b)[2][:120]}", flush=True)
    a_times: list[float] = []
    b_times: list[float] = []
    b_rss: list[float] = []
    for i in range(repeat):
        first, second = (a, b) if i % 2 == 0 else (b, a)  # A B, then B A: drift hits both
        for command in (first, second):
            seconds, rss, _ = measure(command)
            (a_times if command is a else b_times).append(seconds)
            if command is b:
                b_rss.append(rss)
        print(f"  round {i + 1}: A {a_times[-1]:.1f} s, B {b_times[-1]:.1f} s", flush=True)
    return a_times, b_times, statistics.median(b_rss)


def gate_listing_gate(
    listing: list[str], checking: list[str], repeat: int
) -> tuple[list[float], list[float]]:
    """One untimed gate run (it warms the database's cache for both), then G L G ... with the
    listing once, in the middle."""
    print(f"  A: {shlex.join(listing)[:160]}\n  B: {shlex.join(checking)[:160]}", flush=True)
    print(f"  warm-up: B -> {measure(checking)[2][:120]}", flush=True)
    a_times: list[float] = []
    b_times: list[float] = []
    for i in range(max(2, repeat)):
        b_times.append(measure(checking)[0])
        print(f"  gate {i + 1}: {b_times[-1]:.1f} s", flush=True)
        if i == 0:
            a_times.append(measure(listing)[0])
            print(f"  listing: {a_times[-1]:.1f} s", flush=True)
    return a_times, b_times


def gate(uri: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest_mlflow_guard.cli", "check", "--tracking-uri", uri,
        "--format", "json", "--output", "/dev/null",
    ]  # fmt: skip


def report(name: str, listing: list[float], checking: list[float], target: float | None) -> None:
    med = statistics.median
    ratio = med(checking) / med(listing)
    line = f"{name}: listing median {med(listing):.1f} s, gate median {med(checking):.1f} s"
    verdict = (
        "" if target is None else f" (target <= {target}: {'OK' if ratio <= target else 'MISSED'})"
    )
    print(f"{line}, gate/listing {ratio:.2f}{verdict}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("sqlite", "postgres", "server"), required=True)
    parser.add_argument("--runs", type=int, help="default: 100,000 / 1,000,000 / 100,000")
    parser.add_argument("--small-runs", type=int, default=10_000, help="(a): the RSS baseline")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="(c): mlflow server workers")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "benchmarks" / ".cache")
    args = parser.parse_args(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    listing = [sys.executable, "-c", LISTING]

    if args.scenario == "sqlite":
        runs = args.runs or 100_000
        uri = sqlite_store(args.cache_dir, runs)
        small = sqlite_store(args.cache_dir, args.small_runs)
        print(f"(a) sqlite, {runs} runs, {VERSIONS} versions", flush=True)
        a, b, rss = alternate([*listing, uri], gate(uri), args.repeat)
        report("(a)", a, b, 0.5)
        small_rss = statistics.median(measure(gate(small))[1] for _ in range(args.repeat))
        print(
            f"(a) gate peak RSS: {rss:.0f} MiB at {runs} runs, {small_rss:.0f} MiB at "
            f"{args.small_runs}: ratio {rss / small_rss:.2f} (target <= 1.3: "
            f"{'OK' if rss / small_rss <= 1.3 else 'MISSED'})"
        )
        return 0

    # one cluster for every layout: each layout has its own databases in it
    with cluster(args.cache_dir / "postgres", keep=True) as server:
        if args.scenario == "postgres":
            runs = args.runs or 1_000_000
            uri = postgres_store(server, runs, args.cache_dir / f"pg-artifacts-{runs}")
            print(f"(b) PostgreSQL, {runs} runs, {VERSIONS} versions", flush=True)
            # the listing takes the better part of an hour here: once, between gate runs
            a, b = gate_listing_gate([*listing, uri], gate(uri), args.repeat)
            report("(b)", a, b, None)
            gate_s = statistics.median(b)
            print(f"(b) gate wall time median {gate_s:.1f} s (target <= 120 s: "
                  f"{'OK' if gate_s <= 120 else 'MISSED'})")  # fmt: skip
            return 0
        runs = args.runs or 100_000
        uri = postgres_store(server, runs, args.cache_dir / f"pg-artifacts-{runs}")
        root = args.cache_dir / "server"
        root.mkdir(exist_ok=True)
        with mlflow_server(uri, root, args.workers) as url:
            print(f"(c) mlflow server ({args.workers} workers) on PostgreSQL, {runs} runs")
            a, b, _ = alternate([*listing, url], gate(url), args.repeat)
            report("(c)", a, b, 1.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
