"""Benchmark: what does the pytest plugin cost a test suite?

Generates test suites into a throwaway git repository (committed, since the guard tags
``git.commit``; its ``pyproject.toml`` says ``[project] name = "bench"``, so the session
experiment is ``bench/tests``) and times ``python -m pytest -q -p no:cacheprovider ...`` there, each
figure against a baseline measured in the same run:

  (a) ``--trivial`` (500) trivial tests with the plugin installed but not switched on, against
      ``-p no:mlflow_guard`` (target ratio <= 1.05);
  (b) the same suite with the guard on (``--mlflow-guard``: session run + gate, sqlite store)
      against the guard off: the absolute extra seconds;
  (c) ``--logging`` (100) tests each logging 10 params and 10 metrics, one call at a time, into
      the run of the ``mlflow_run`` fixture, against the same code calling MLflow directly in
      ``with mlflow.start_run(experiment_id=..., run_name=<test name>)`` with the plugin disabled
      (target ratio <= 1.2 with the guard off); a third column has the fixture with the guard on,
      which adds the per-test convention check.

Every pytest process is a fresh subprocess timed by wall clock; the variants of a figure alternate
within each round (and the order flips every other round) so drift on a noisy machine hits them
alike; the table shows medians over ``--rounds`` rounds (default 5 for (a), 3 for (b) and (c)),
after one untimed warm-up run of each variant. In (b) and (c) every timed run gets a fresh sqlite
store copied from the same migrated empty database, so no variant pays for MLflow's schema
migrations. Afterwards the stores of the last round are read back with ``MlflowClient`` and the
runs each variant made are counted (and every pytest run must report all its tests passed), so a
variant that silently skips its work cannot look fast.

MLflow's ``mlflow.run_context_provider`` entry point is not a pytest plugin: ``-p no:mlflow_guard``
leaves it on, so the direct baseline of (c) also gets the convention tags on its runs.

    python benchmarks/bench_overhead.py                 # the full benchmark (several minutes)
    python benchmarks/bench_overhead.py --quick         # smoke run: small suites, one round
    python benchmarks/bench_overhead.py --only c --rounds 5 --keep
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

TARGET_A = 1.05
TARGET_C = 1.2
PARAMS = 10
METRICS = 10
PROJECT = "bench"
EXPERIMENT = f"{PROJECT}/tests"  # what the guard derives from the suite's pyproject.toml
TRIVIAL_PER_FILE = 50
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
NO_PLUGIN = ("-p", "no:mlflow_guard")
GUARD_ON = ("--mlflow-guard",)
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# the parent's MLflow / pytest / guard settings must not leak into the measured sessions
SCRUBBED_PREFIXES = ("MLFLOW_", "_MLFLOW_", "PYTEST_")
ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"  # see pytest_mlflow_guard.mlflow_io.stores

TEMPLATE_DB = "from pytest_mlflow_guard.mlflow_io.stores import template_db; print(template_db())"

COUNT_RUNS = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities import ViewType
params, metrics = int(sys.argv[1]), int(sys.argv[2])
out = {}
for uri in sys.argv[3:]:
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs, token = [], None
    while ids:
        page = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    tests = [r for r in runs if (r.info.run_name or "").startswith("test_")]
    out[uri] = {
        "runs": len(runs),
        "test_runs": len(tests),
        "complete_test_runs": sum(
            1 for r in tests if len(r.data.params) == params
            and len(r.data.metrics) == metrics and r.info.status == "FINISHED"
        ),
    }
print(json.dumps(out))
"""

# Shared verbatim by both modules of (c): the only difference is where the run comes from.
LOGGING_HELPER = f"""
import mlflow


def _log(i: int) -> None:
    for j in range({PARAMS}):
        mlflow.log_param(f"param_{{j}}", i * {PARAMS} + j)
    for j in range({METRICS}):
        mlflow.log_metric(f"metric_{{j}}", i + j / {METRICS})
"""


# --------------------------------------------------------------------------- the suites


@dataclass(frozen=True)
class Suite:
    root: Path
    trivial: str  # pytest argument selecting the trivial tests
    direct: str  # module of the (c) baseline: plain mlflow.start_run
    fixture: str  # module of the (c) plugin variant: the mlflow_run fixture


def write_suite(root: Path, trivial: int, logging: int) -> Suite:
    """The test suites, committed into a fresh git repository at ``root``."""
    trivial_dir = root / "tests" / "trivial"
    logged_dir = root / "tests" / "logged"
    trivial_dir.mkdir(parents=True)
    logged_dir.mkdir(parents=True)
    # the empty pytest table pins the rootdir here, so the experiment is bench/tests
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PROJECT}"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
    )
    (root / ".gitignore").write_text("__pycache__/\n")  # bytecode must not make git.dirty true
    for start in range(0, trivial, TRIVIAL_PER_FILE):
        body = "".join(
            f"\n\ndef test_{i:04d}() -> None:\n    assert True\n"
            for i in range(start, min(start + TRIVIAL_PER_FILE, trivial))
        )
        (trivial_dir / f"test_trivial_{start // TRIVIAL_PER_FILE:02d}.py").write_text(body)
    direct = [
        LOGGING_HELPER,
        # created once, as the fixture's experiment_id_for does on its first test
        f'\nEXPERIMENT_ID = mlflow.set_experiment("{EXPERIMENT}").experiment_id\n',
    ]
    fixture = [LOGGING_HELPER]
    for i in range(logging):
        direct.append(
            f"\n\ndef test_{i:04d}() -> None:\n"
            f'    with mlflow.start_run(experiment_id=EXPERIMENT_ID, run_name="test_{i:04d}"):\n'
            f"        _log({i})\n"
        )
        fixture.append(f"\n\ndef test_{i:04d}(mlflow_run: object) -> None:\n    _log({i})\n")
    (logged_dir / "test_log_direct.py").write_text("".join(direct))
    (logged_dir / "test_log_fixture.py").write_text("".join(fixture))
    git = ("git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid")
    for command in (
        (*git, "-c", "init.defaultBranch=main", "init", "-q"),
        (*git, "add", "-A"),
        (*git, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "benchmark suite"),
    ):
        subprocess.run(command, cwd=root, check=True)
    return Suite(
        root,
        "tests/trivial",
        "tests/logged/test_log_direct.py",
        "tests/logged/test_log_fixture.py",
    )


# --------------------------------------------------------------------------- measuring


@dataclass
class Variant:
    label: str
    args: tuple[str, ...]  # after PYTEST
    tests: int  # every one of them must pass
    with_store: bool  # a fresh sqlite store per run
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process tree
    last_store: str | None = None  # URI of the last timed run's store

    @property
    def command(self) -> str:
        return shlex.join(["python", *PYTEST[1:], *self.args])


class Runner:
    def __init__(self, suite: Suite, scratch: Path, template: Path) -> None:
        self.suite = suite
        self.stores = scratch / "stores"
        self.template = template
        self.count = 0
        base = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        self.env = {**base, **QUIET_ENV}

    def fresh_store(self) -> tuple[str, dict[str, str]]:
        """A copy of the migrated empty database, and the environment pointing at it."""
        self.count += 1
        folder = self.stores / f"store-{self.count:03d}"
        (folder / "artifacts").mkdir(parents=True)
        shutil.copyfile(self.template, folder / "mlflow.db")
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        # artifacts beside the store, never in an ./mlruns inside the suite's working tree
        return uri, {"MLFLOW_TRACKING_URI": uri, ARTIFACT_ROOT_ENV: str(folder / "artifacts")}

    def run(self, variant: Variant) -> tuple[float, float, str | None]:
        """Wall and CPU seconds of one pytest subprocess (the store is set up before the clock
        starts). The CPU time is a steadier figure than the wall time when sqlite's fsyncs on a
        shared disk dominate, as they do in (c)."""
        uri, extra = self.fresh_store() if variant.with_store else (None, {})
        command = [*PYTEST, *variant.args]
        with tempfile.TemporaryFile() as out:
            began = time.perf_counter()
            process = subprocess.Popen(
                command, cwd=self.suite.root, env={**self.env, **extra}, stdout=out, stderr=out
            )
            # os.wait4: the rusage of this child (and the git processes it waited for) alone
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - began
            process.returncode = code = os.waitstatus_to_exitcode(status)
            out.seek(0)
            output = out.read().decode(errors="replace")
        lines = output.strip().splitlines()
        summary = lines[-1] if lines else ""
        passed = re.search(r"(\d+) passed", summary)
        if code != 0 or passed is None or int(passed.group(1)) != variant.tests:
            sys.exit(
                f"{variant.label}: expected {variant.tests} passed, got exit {code}: "
                f"{summary!r}\n  {shlex.join(command)}\n{output[-3000:]}"
            )
        return seconds, usage.ru_utime + usage.ru_stime, uri

    def rounds(self, variants: Sequence[Variant], rounds: int, warm_up: bool) -> None:
        if warm_up:
            # -k deselects after collection: every test module is still imported (bytecode,
            # page cache), but the warm-up costs one test rather than a whole (c) run
            for variant in variants:
                self.run(replace(variant, args=(*variant.args, "-k", "test_0000"), tests=1))
        for i in range(rounds):
            # alternate A B C / C B A: a steady drift within a round favours no variant
            order = variants if i % 2 == 0 else list(reversed(variants))
            for variant in order:
                seconds, cpu, uri = self.run(variant)
                variant.times.append(seconds)
                variant.cpu.append(cpu)
                variant.last_store = uri
            shown = ", ".join(f"{v.label} {v.times[-1]:.2f} s" for v in variants)
            print(f"    round {i + 1}: {shown}", flush=True)


def count_runs(uris: list[str], env: dict[str, str]) -> dict[str, dict[str, int]]:
    """Runs found in each store (one subprocess for all: importing MLflow costs seconds)."""
    if not uris:
        return {}
    done = subprocess.run(
        [sys.executable, "-c", COUNT_RUNS, str(PARAMS), str(METRICS), *uris],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"counting runs failed:\n{done.stderr[-3000:]}")
    result: dict[str, dict[str, int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "MISSED"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="rounds for every figure (default 5 / 3 / 3)")
    parser.add_argument("--trivial", type=int, default=500, help="trivial tests, (a) and (b)")
    parser.add_argument("--logging", type=int, default=100, help="logging tests, (c)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100/20 tests, 1 round")
    parser.add_argument("--only", choices=("a", "b", "c"), action="append", help="repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the suite and stores")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = args.rounds or 1
        args.trivial = min(args.trivial, 100)
        args.logging = min(args.logging, 20)
    figures = set(args.only or ("a", "b", "c"))
    rounds = {f: args.rounds or (5 if f == "a" else 3) for f in "abc"}
    warm_up = not args.quick

    # Without the entry point, "installed but off" and "-p no:" are the same thing: (a) would
    # pass trivially, and --mlflow-guard would be an unknown option.
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    if "mlflow_guard" not in names:
        sys.exit("the pytest11 entry point mlflow_guard is not installed: pip install -e .")

    began = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    try:
        suite = write_suite(scratch / "suite", args.trivial, args.logging)
        runner = Runner(suite, scratch, Path(_template()))
        results = run_figures(runner, suite, figures, rounds, warm_up, args)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    results["total_seconds"] = round(time.monotonic() - began, 1)
    print(f"\nwhole benchmark: {results['total_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _template() -> str:
    """Path of the migrated empty database (built once per MLflow version, then cached)."""
    done = subprocess.run(
        [sys.executable, "-c", TEMPLATE_DB], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def run_figures(
    runner: Runner,
    suite: Suite,
    figures: set[str],
    rounds: dict[str, int],
    warm_up: bool,
    args: argparse.Namespace,
) -> dict[str, Any]:
    trivial, logging = args.trivial, args.logging
    print(f"suite: {suite.root} (git repo, experiment {EXPERIMENT})")
    rows: list[tuple[str, str, str, str, str]] = []
    results: dict[str, Any] = {"trivial": trivial, "logging": logging, "rounds": rounds}
    checks: list[tuple[Variant, int, int]] = []  # variant, runs expected, complete test runs

    if "a" in figures:
        off = Variant("-p no:mlflow_guard", (*NO_PLUGIN, suite.trivial), trivial, False)
        on = Variant("installed, off", (suite.trivial,), trivial, False)
        print(f"\n(a) {trivial} trivial tests, {rounds['a']} rounds")
        runner.rounds([off, on], rounds["a"], warm_up)
        ratio = med(on.times) / med(off.times)
        rows.append(
            (
                f"(a) {trivial} trivial tests: installed, not on / -p no:mlflow_guard",
                f"{med(off.times):.2f} s",
                f"{med(on.times):.2f} s",
                f"x {ratio:.3f}",
                f"<= {TARGET_A}  {verdict(ratio, TARGET_A)}",
            )
        )
        results["a"] = _result(off, on, ratio=ratio)
        touched = [p.name for p in (suite.root / "mlflow.db", suite.root / "mlruns") if p.exists()]
        if touched:  # the plugin switched off must not even open a store
            sys.exit(f"(a) created {touched} in the suite")

    if "b" in figures:
        off = Variant("guard off", (suite.trivial,), trivial, True)
        on = Variant("guard on", (*GUARD_ON, suite.trivial), trivial, True)
        print(f"\n(b) {trivial} trivial tests, guard on vs off, {rounds['b']} rounds")
        runner.rounds([off, on], rounds["b"], warm_up)
        extra = med(on.times) - med(off.times)
        rows.append(
            (
                f"(b) {trivial} trivial tests: --mlflow-guard (session run + gate) / off",
                f"{med(off.times):.2f} s",
                f"{med(on.times):.2f} s",
                f"{extra:+.2f} s",
                "(reported)",
            )
        )
        results["b"] = _result(off, on, extra_seconds=extra)
        checks += [(off, 0, 0), (on, 1, 0)]  # only the session run

    if "c" in figures:
        direct = Variant("direct", (*NO_PLUGIN, suite.direct), logging, True)
        fixture = Variant("mlflow_run, guard off", (suite.fixture,), logging, True)
        guarded = Variant("mlflow_run, guard on", (*GUARD_ON, suite.fixture), logging, True)
        print(
            f"\n(c) {logging} tests x ({PARAMS} params + {METRICS} metrics), {rounds['c']} rounds"
        )
        runner.rounds([direct, fixture, guarded], rounds["c"], warm_up)
        ratio = med(fixture.times) / med(direct.times)
        ratio_on = med(guarded.times) / med(direct.times)
        label = f"(c) {logging} tests logging {PARAMS}p+{METRICS}m: mlflow_run / direct"
        rows.append(
            (
                f"{label}, guard off",
                f"{med(direct.times):.2f} s",
                f"{med(fixture.times):.2f} s",
                f"x {ratio:.3f}",
                f"<= {TARGET_C}  {verdict(ratio, TARGET_C)}",
            )
        )
        rows.append(
            (
                f"{label}, guard on",
                f"{med(direct.times):.2f} s",
                f"{med(guarded.times):.2f} s",
                f"x {ratio_on:.3f} ({med(guarded.times) - med(direct.times):+.2f} s)",
                "(reported)",
            )
        )
        results["c"] = _result(direct, fixture, ratio=ratio)
        results["c_guard_on"] = _result(direct, guarded, ratio=ratio_on)
        checks += [(direct, logging, logging), (fixture, logging, logging)]
        checks += [(guarded, logging + 1, logging)]  # and the session run

    counts = count_runs([v.last_store for v, _, _ in checks if v.last_store], runner.env)
    sanity: list[str] = []
    failed = False
    for variant, runs, complete in checks:
        found = counts.get(variant.last_store or "", {})
        ok = found.get("runs") == runs and found.get("complete_test_runs") == complete
        failed = failed or not ok
        sanity.append(
            f"  {variant.label:24} {found.get('runs', '?')} runs "
            f"({found.get('complete_test_runs', '?')} test runs with {PARAMS} params, "
            f"{METRICS} metrics, FINISHED); expected {runs} ({complete})"
            f"{'' if ok else '   <-- WRONG'}"
        )
    results["sanity"] = {v.label: counts.get(v.last_store or "", {}) for v, _, _ in checks}

    print(f"\ncommand: python {shlex.join(sys.argv)}")
    print(f"in {suite.root}, every variant as: python -m pytest -q -p no:cacheprovider ...")
    widths = [max(len(r[i]) for r in [*rows, _HEADER]) for i in range(5)]
    for row in [_HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print("\nall rounds, wall seconds; CPU seconds (user + system):")
    for figure in ("a", "b", "c", "c_guard_on"):
        if figure in results:
            r = results[figure]
            print(f"  {figure:10} baseline {fmt(r['baseline_times'])} | plugin {fmt(r['times'])}")
            print(
                f"  {'':10} CPU s, median: baseline {r['baseline_cpu']:.2f} | plugin "
                f"{r['cpu']:.2f} | x {r['cpu'] / r['baseline_cpu']:.3f} "
                f"({r['cpu'] - r['baseline_cpu']:+.2f} s)"
            )
            print(f"  {'':10} baseline: {r['baseline_command']}")
            print(f"  {'':10} plugin:   {r['command']}")
    if sanity:
        print("\nruns in the store of each variant's last timed run:")
        print("\n".join(sanity))
    if failed:
        sys.exit("a variant did not make the runs it should have: its time means nothing")
    return results


_HEADER = ("measure", "baseline", "plugin", "ratio / extra", "target")


def _result(baseline: Variant, plugin: Variant, **figures: float) -> dict[str, Any]:
    return {
        "baseline_command": baseline.command,
        "command": plugin.command,
        "baseline_seconds": med(baseline.times),
        "seconds": med(plugin.times),
        "baseline_times": baseline.times,
        "times": plugin.times,
        "baseline_cpu": med(baseline.cpu),
        "cpu": med(plugin.cpu),
        **figures,
    }


if __name__ == "__main__":
    raise SystemExit(main())
