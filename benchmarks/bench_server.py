"""Benchmark: what does the tracking-server app cost a client?

Starts two real ``mlflow server`` processes on 127.0.0.1 (sqlite backend copied from the same
migrated empty database, one uvicorn worker each): one plain, one with ``--app-name
mlflow-guard`` (enforce mode, the default configuration). Then, through ``MlflowClient``, each
operation is one ``create_run`` with the convention tags plus one ``log_batch`` of 10 params and
10 metrics. Blocks of ``--block`` operations alternate between the two servers (A B A B..., the
order flipping every other round) until each has done ``--runs`` operations, so drift on a noisy
machine hits both alike. The figure is the ratio of the median per-operation times, guarded over
plain (target <= 1.10). Afterwards both stores are read back and every run must be there with
its 10 params and 10 metrics, so a server that silently drops writes cannot look fast.

    python benchmarks/bench_server.py                  # 1,000 operations per server
    python benchmarks/bench_server.py --runs 100 --block 20   # smoke run
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

TARGET = 1.10
PARAMS = METRICS = 10
SHA = "0123456789abcdef0123456789abcdef01234567"
TAGS = {
    "os.user": "bench",
    "git.commit": SHA,
    "source.type": "script",
    "model.type": "none",
    "run.mode": "training",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(root: Path, template: Path, app: str | None) -> Iterator[str]:
    root.mkdir()
    shutil.copy(template, root / "mlflow.db")
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        *(("--app-name", app) if app else ()),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with (root / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"server {app or 'plain'} did not start:\n"
                    + (root / "server.log").read_text()[-3000:]
                )
            with suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2):
                break
            time.sleep(0.3)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def one_operation(client: Any, experiment_id: str, i: int) -> float:
    from mlflow.entities import Metric, Param

    started = time.perf_counter()
    run = client.create_run(experiment_id, tags=TAGS, run_name=f"bench_{i:05d}")
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        params=[Param(f"param_{j}", str(i * PARAMS + j)) for j in range(PARAMS)],
        metrics=[Metric(f"metric_{j}", i + j / METRICS, now, 0) for j in range(METRICS)],
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="operations per server")
    parser.add_argument("--block", type=int, default=50, help="operations per alternation")
    args = parser.parse_args()
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    from pytest_mlflow_guard.mlflow_io.stores import template_db

    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        root = Path(tmp)
        with (
            server(root / "plain", template_db(), None) as plain,
            server(root / "guarded", template_db(), "mlflow-guard") as guarded,
        ):
            clients = {"plain": MlflowClient(plain), "guarded": MlflowClient(guarded)}
            experiments = {
                name: client.create_experiment("bench/server") for name, client in clients.items()
            }
            for name, client in clients.items():  # warm-up: connections, first queries
                for i in range(5):
                    one_operation(client, experiments[name], -1 - i)
            times: dict[str, list[float]] = {name: [] for name in clients}
            done = 0
            while done < args.runs:
                order = (
                    ["plain", "guarded"] if (done // args.block) % 2 == 0 else ["guarded", "plain"]
                )
                size = min(args.block, args.runs - done)
                for name in order:
                    for i in range(done, done + size):
                        times[name].append(one_operation(clients[name], experiments[name], i))
                done += size
            for name, client in clients.items():
                runs = client.search_runs(
                    [experiments[name]], run_view_type=ViewType.ALL, max_results=args.runs + 10
                )
                complete = [
                    r for r in runs
                    if len(r.data.params) == PARAMS and len(r.data.metrics) == METRICS
                    and r.info.run_name.startswith("bench_0")
                ]  # fmt: skip
                if len(complete) != args.runs:
                    raise SystemExit(f"{name}: {len(complete)} complete runs, expected {args.runs}")
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio = medians["guarded"] / medians["plain"]
    what = f"create_run + log_batch of {PARAMS} params, {METRICS} metrics"
    print(f"operations per server: {args.runs} ({what})")
    for name in ("plain", "guarded"):
        values = sorted(times[name])
        p90 = values[int(len(values) * 0.9)] * 1000
        print(f"  {name:<8} median {medians[name]:7.2f} ms   p90 {p90:7.2f} ms")
    verdict = "ok" if ratio <= TARGET else "over target"
    print(f"ratio guarded/plain (median): {ratio:.3f}  (target <= {TARGET:.2f}: {verdict})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
