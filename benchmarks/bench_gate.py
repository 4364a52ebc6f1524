#!/usr/bin/env python
"""How much does the gate cost over simply listing the store?

Builds (once; cached under ``--cache-dir``, keyed by size) a sqlite MLflow store of ``--runs`` runs
(10 params, 5 metrics and the convention tags each, ~10% violating: a missing ``git.commit`` or a
bad ``run.mode``; every run has ``environment/requirements.txt``) spread over 10 experiments, plus
``--versions`` registered model versions, each backed by its own LoggedModel whose artifacts are a
real tiny scikit-learn model with a signature. A ``--small-runs`` store is built the same way.

Then measures, each in a fresh subprocess so that its peak RSS is its own (``os.wait4``):

  (a) a bare paged ``MlflowClient.search_runs`` listing of every run (1000 per page);
  (b) the gate: ``python -m pytest_mlflow_guard.cli check --tracking-uri URI --format json
      --output /dev/null`` (``--gate cli``), or the reader fed through the rule engine
      (``--gate engine``), or the reader alone (``--gate reader``); ``--gate-cmd`` runs any
      command, ``{uri}`` replaced by the store's URI.

and prints medians over ``--repeat`` rounds: wall seconds of (a) and (b) and their ratio, peak
RSS of both, and the gate's peak RSS on the small store against the large one.

    python benchmarks/bench_gate.py                       # 10,000 vs 1,000 runs, 3 rounds
    python benchmarks/bench_gate.py --runs 2000 --small-runs 200 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LAYOUT = 1  # bump when the generated store changes: invalidates cached stores
EXPERIMENTS = 10
VERSIONS_PER_MODEL = 10
TARGET_TIME_RATIO = 1.5
TARGET_MEMORY_RATIO = 1.5
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

BARE_LISTING = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient(tracking_uri=sys.argv[1])
ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
count, token = 0, None
while True:
    page = client.search_runs(ids, max_results=1000, page_token=token)
    count += len(page)
    token = page.token
    if not token:
        break
print(json.dumps({"runs": count}))
"""

GATE_IN_PROCESS = """
import json, sys
from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.mlflow_io.reader import StoreReader
config = GuardConfig()
records = StoreReader(sys.argv[1], config.scope).iter_records()
if sys.argv[2] == "engine":
    from pytest_mlflow_guard.gate.engine import Engine
    print(json.dumps({"findings": sum(1 for _ in Engine(config).check(records))}))
else:
    print(json.dumps({"records": sum(1 for _ in records)}))
"""


# --------------------------------------------------------------------------- building stores


def convention_tags(i: int) -> dict[str, str]:
    tags = {
        "os.user": f"user{i % 7}",
        "git.commit": f"{i:040x}",
        "source.type": "script",
        "model.type": "logreg",
        "run.mode": ("training", "validation", "inference")[i % 3],
        "source.command": f"python train.py --seed {i}",
    }
    if i % 10 == 3:  # ~10% violate: half lack a required tag, half use a value not allowed
        if i % 20 == 3:
            del tags["git.commit"]
        else:
            tags["run.mode"] = "debug"
    return tags


def template_model(directory: Path) -> Path:
    """A real tiny scikit-learn model saved with a signature and an input example."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).random((20, 4))
    model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    path = directory / "template-model"
    mlflow.sklearn.save_model(
        model, str(path), input_example=x[:1], serialization_format="cloudpickle"
    )
    return path


def build_store(directory: Path, runs: int, versions: int) -> None:
    import warnings

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    warnings.simplefilter("ignore")
    directory.mkdir(parents=True)
    artifacts = directory / "artifacts"
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # the registry resolves ``models:/m-...`` sources through it
    client = MlflowClient(tracking_uri=uri)
    experiments = [
        client.create_experiment(f"bench/exp-{k:02d}", artifact_location=str(artifacts / str(k)))
        for k in range(EXPERIMENTS)
    ]
    model_dir = template_model(directory) if versions else None
    models = -(-versions // VERSIONS_PER_MODEL)
    for m in range(models):
        client.create_registered_model(f"bench_model_{m:02d}", tags={"team": "bench"})
    start = 1_700_000_000_000
    began = time.monotonic()
    for i in range(runs):
        run = client.create_run(
            experiments[i % EXPERIMENTS],
            start_time=start + i * 1000,
            tags=convention_tags(i),
            run_name=f"run-{i:05d}",
        )
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(f"metric_{j}", i * 0.001 + j, start + i * 1000, 0) for j in range(5)],
            params=[Param(f"param_{j}", str(i * 10 + j)) for j in range(10)],
        )
        client.set_terminated(run_id, end_time=start + i * 1000 + 500)
        environment = Path(run.info.artifact_uri) / "environment"
        environment.mkdir(parents=True)
        (environment / "requirements.txt").write_text("scikit-learn\nmlflow\n")
        if i < versions and model_dir is not None:
            logged = client.create_logged_model(
                experiments[i % EXPERIMENTS], name="model", source_run_id=run_id
            )
            shutil.copytree(model_dir, logged.artifact_location, dirs_exist_ok=True)
            client.finalize_logged_model(logged.model_id, "READY")
            client.create_model_version(
                f"bench_model_{i % models:02d}",
                source=f"models:/{logged.model_id}",
                run_id=run_id,
                model_id=logged.model_id,
            )
        if (i + 1) % 1000 == 0:
            rate = (i + 1) / (time.monotonic() - began)
            print(f"  built {i + 1}/{runs} runs ({rate:.0f} runs/s)", flush=True)
    for m in range(models):
        name = f"bench_model_{m:02d}"
        latest = max(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
        client.set_registered_model_alias(name, "champion", str(latest))
        client.transition_model_version_stage(name, str(latest), "Production")


def ensure_store(cache: Path, runs: int, versions: int, rebuild: bool) -> str:
    """The URI of the cached store of this size, built first if missing or incomplete."""
    directory = cache / f"store-r{runs}-v{versions}-l{LAYOUT}"
    if rebuild or not (directory / "READY").exists():
        shutil.rmtree(directory, ignore_errors=True)  # absent, incomplete or to be rebuilt
        print(f"building {directory} (cached for next time) ...", flush=True)
        began = time.monotonic()
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "import bench_gate as b; b.build_store(Path(sys.argv[2]), int(sys.argv[3]),"
            " int(sys.argv[4]))"
        )
        here = str(Path(__file__).resolve().parent)
        subprocess.run(
            [sys.executable, "-c", code, here, str(directory), str(runs), str(versions)],
            check=True,
            env={**os.environ, **QUIET_ENV},
        )
        (directory / "READY").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        print(f"built in {time.monotonic() - began:.0f} s", flush=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


# --------------------------------------------------------------------------- measuring


def gate_command(args: argparse.Namespace, uri: str) -> list[str]:
    if args.gate_cmd:
        return shlex.split(args.gate_cmd.replace("{uri}", uri))
    mode = args.gate
    if mode == "auto":
        mode = "cli" if (REPO / "pytest_mlflow_guard" / "cli.py").exists() else "engine"
    if mode == "cli":
        return [
            sys.executable, "-m", "pytest_mlflow_guard.cli", "check",
            "--tracking-uri", uri, "--format", "json", "--output", os.devnull,
        ]  # fmt: skip
    return [sys.executable, "-c", GATE_IN_PROCESS, uri, mode]


def measure(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, last stdout line) of one fresh subprocess.

    ``os.wait4`` gives the rusage of that child alone (``RUSAGE_CHILDREN`` would be the maximum
    over every child so far), so output goes to files rather than pipes that need ``wait()``.
    """
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code not in (0, 1):  # the gate exits 1 when it finds violations
        sys.exit(f"command failed ({code}): {shlex.join(command)}\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, lines[-1][:200] if lines else ""  # Linux: KiB


def measure_rounds(command: list[str], rounds: int) -> tuple[list[float], list[float], str]:
    times, peaks, last = [], [], ""
    for _ in range(rounds):
        seconds, rss, last = measure(command)
        times.append(seconds)
        peaks.append(rss)
    return times, peaks, last


def verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--small-runs", type=int, default=1_000)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "benchmarks" / ".cache")
    parser.add_argument("--gate", choices=("auto", "cli", "engine", "reader"), default="auto")
    parser.add_argument("--gate-cmd", help="gate command line; {uri} is the store URI")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached stores")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    large = ensure_store(args.cache_dir, args.runs, args.versions, args.rebuild)
    small = ensure_store(args.cache_dir, args.small_runs, args.versions, args.rebuild)
    bare = [sys.executable, "-c", BARE_LISTING, large]
    gate = gate_command(args, large)
    print(f"store: {args.runs} runs, {args.versions} model versions: {large}")
    print(f"(a) bare listing: python -c <paged MlflowClient.search_runs, 1000/page> {large}")
    print(f"(b) gate:         {shlex.join(gate)}")
    print("warming up (one untimed round each) ...", flush=True)
    print(f"    (a) -> {measure(bare)[2]}   (b) -> {measure(gate)[2]}", flush=True)

    a_times: list[float] = []
    b_times: list[float] = []
    a_rss: list[float] = []
    b_rss: list[float] = []
    for i in range(args.repeat):  # interleaved, so drift hits both alike
        seconds, rss, _ = measure(bare)
        a_times.append(seconds)
        a_rss.append(rss)
        seconds, rss, _ = measure(gate)
        b_times.append(seconds)
        b_rss.append(rss)
        print(f"  round {i + 1}: a {a_times[-1]:.2f} s, b {b_times[-1]:.2f} s", flush=True)
    small_gate = gate_command(args, small)
    small_times, small_rss, _ = measure_rounds(small_gate, args.repeat)

    med = statistics.median
    ratio = med(b_times) / med(a_times)
    memory_ratio = med(b_rss) / med(small_rss)
    results: dict[str, Any] = {
        "runs": args.runs,
        "small_runs": args.small_runs,
        "versions": args.versions,
        "repeat": args.repeat,
        "gate_command": shlex.join(gate),
        "a_seconds": med(a_times),
        "b_seconds": med(b_times),
        "ratio": ratio,
        "a_peak_rss_mib": med(a_rss),
        "b_peak_rss_mib": med(b_rss),
        "gate_small_seconds": med(small_times),
        "gate_small_peak_rss_mib": med(small_rss),
        "memory_ratio": memory_ratio,
    }
    print()
    print(f"{'':38}{'median':>10}   all rounds")
    print(f"{'(a) bare listing, seconds':38}{med(a_times):10.2f}   {fmt(a_times)}")
    print(f"{'(b) gate, seconds':38}{med(b_times):10.2f}   {fmt(b_times)}")
    print(f"{'ratio b/a':38}{ratio:10.2f}   target <= {TARGET_TIME_RATIO}: "
          f"{verdict(ratio, TARGET_TIME_RATIO)}")  # fmt: skip
    print(f"{'(a) peak RSS, MiB':38}{med(a_rss):10.0f}   {fmt(a_rss, 0)}")
    print(f"{'(b) peak RSS, MiB':38}{med(b_rss):10.0f}   {fmt(b_rss, 0)}")
    print(f"{f'gate peak RSS, {args.small_runs} runs, MiB':38}{med(small_rss):10.0f}   "
          f"{fmt(small_rss, 0)}")  # fmt: skip
    print(f"{f'gate peak RSS, {args.runs} runs, MiB':38}{med(b_rss):10.0f}")
    print(f"{'memory ratio large/small':38}{memory_ratio:10.2f}   target <= "
          f"{TARGET_MEMORY_RATIO}: {verdict(memory_ratio, TARGET_MEMORY_RATIO)}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def fmt(values: list[float], digits: int = 2) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
