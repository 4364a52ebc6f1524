"""pytest plugin entry point (``pytest11``): translates pytest hooks into calls on a session object.

Kept free of MLflow imports: pytest loads this module in every session of the environment.
Everything that decides or talks to MLflow lives in ``guard_session`` and ``mlflow_io``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import context, session_env
from .display import clean
from .errors import ConfigError, GuardError
from .guard_session import GuardSession
from .markers import MarkerSpec
from .options import OPTIONS, resolve

if TYPE_CHECKING:
    from .tracker import ExperimentTracker

SESSION_KEY = pytest.StashKey[GuardSession]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
MARKER_KEY = pytest.StashKey[MarkerSpec | None]()
#: the ``mlflow_run`` fixture's run, for teardown to correct its outcome
FIXTURE_RUN_KEY = pytest.StashKey[Any]()
_FIXTURES = ("tracker", "mlflow_run")


class MlflowGuardWarning(pytest.PytestWarning):
    """Convention findings in warn mode, and problems the guard reports without failing."""


# ---------------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlflow-guard", "MLflow conventions (pytest-mlflow-guard)")
    for opt in OPTIONS:
        env = f" [env {opt.env}]" if opt.env else ""
        help_text = f"{opt.help}{env} [ini {opt.ini}]"
        if opt.kind == "bool":
            # --flag / --no-flag: the negative form turns off what the ini or environment set
            group.addoption(
                opt.flag,
                action=argparse.BooleanOptionalAction,
                default=None,
                dest=f"mlflow_guard_{opt.dest}",
                help=help_text,
            )
            parser.addini(opt.ini, opt.help, type="bool", default=None)
        elif opt.kind == "list":
            group.addoption(
                opt.flag,
                action="append",
                default=None,
                metavar="FORMAT:PATH",
                dest=f"mlflow_guard_{opt.dest}",
                help=help_text,
            )
            parser.addini(opt.ini, opt.help, type="linelist", default=[])
        else:
            choices = {"choices": opt.choices} if opt.choices else {}
            group.addoption(
                opt.flag, default=None, dest=f"mlflow_guard_{opt.dest}", help=help_text, **choices
            )
            parser.addini(opt.ini, opt.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    # Tests call ExperimentTracker (or mlflow.start_run) from files inside the project under test;
    # the rootpath is where git facts come from when no caller frame sits in a repository.
    context.set_pytest_rootpath(config.rootpath)
    config.addinivalue_line(
        "markers",
        "mlflow_guard(ignore=[...], experiment=None, tags={}, reason=None): per-test settings "
        "of pytest-mlflow-guard for the runs this test makes",
    )
    cli = {o.dest: config.getoption(f"mlflow_guard_{o.dest}") for o in OPTIONS}
    try:
        settings = resolve(cli, config.getini, os.environ)
        worker = getattr(config, "workerinput", {}).get("mlflow_guard")
        guard = GuardSession(settings, config.rootpath, config.invocation_params.args, worker)
    except (ConfigError, GuardError) as exc:
        raise pytest.UsageError(f"mlflow-guard: {clean(exc)}") from None
    config.stash[SESSION_KEY] = guard
    from . import pytest_reproduce  # the `reproduce` fixture and `reproducible` marker

    if not config.pluginmanager.is_registered(pytest_reproduce):  # `-p` may have loaded it
        config.pluginmanager.register(pytest_reproduce, "mlflow_guard.reproduce")
    if guard.settings.enabled:
        hooks = GuardedTestHooks(guard, controller=not _is_worker(config))
        config.pluginmanager.register(hooks, "mlflow_guard.tests")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(guard), "mlflow_guard.xdist")
    _warn_on_fixture_clash(config)


class XdistHooks:
    """Registered only when pytest-xdist is installed (its hooks do not exist otherwise)."""

    def __init__(self, guard: GuardSession) -> None:
        self.guard = guard

    def pytest_configure_node(self, node: Any) -> None:
        # workers attach to the session the controller opened; they never open their own
        node.workerinput["mlflow_guard"] = self.guard.worker_input()


def _warn_on_fixture_clash(config: pytest.Config) -> None:
    """MLflow (or another plugin) defining ``tracker``/``mlflow_run`` too: say which one wins."""
    for name, plugin in config.pluginmanager.list_name_plugin():
        module = getattr(plugin, "__name__", "") or ""
        if plugin is None or module.startswith("pytest_mlflow_guard") or "mlflow" not in module:
            continue
        for fixture in _FIXTURES:
            obj = getattr(plugin, fixture, None)
            if obj is not None and (
                hasattr(obj, "_fixture_function_marker") or hasattr(obj, "_pytestfixturefunction")
            ):
                config.issue_config_time_warning(
                    MlflowGuardWarning(
                        f"plugin {name!r} ({module}) also defines the fixture {fixture!r}; "
                        f"pytest-mlflow-guard's {fixture!r} may be shadowed. Disable one of them "
                        f"(-p no:{name} or -p no:mlflow_guard) to be sure which one tests get."
                    ),
                    stacklevel=2,
                )


def _guard(config: pytest.Config) -> GuardSession:
    return config.stash[SESSION_KEY]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from .options import header_line

    guard = _guard(config)
    lines = [header_line(guard.settings, guard.display_uri, guard.experiment)]
    if guard.problem:
        lines.append(f"mlflow-guard: {clean(guard.problem)}")
    return lines


# ---------------------------------------------------------------------------------- session
@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # before xdist's own sessionstart (trylast) spawns the workers: they attach to this run
    if not _is_worker(session.config):
        _guard(session.config).start()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    guard = _guard(session.config)
    failing = guard.finish(int(exitstatus), interrupted)
    if guard.interrupted:
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    elif failing and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from .session_summary import summary_lines

    guard = _guard(config)
    if not guard.settings.enabled or _is_worker(config):
        return
    lines = summary_lines(guard)
    if lines:
        terminalreporter.section("mlflow-guard")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    context.set_pytest_rootpath(None)
    guard = config.stash.get(SESSION_KEY, None)
    if guard is not None:
        guard.close()  # no-op after finish(); undoes the exports if the session never ran


# ---------------------------------------------------------------------------------- per test
def marker_spec(item: pytest.Item) -> MarkerSpec | None:
    """The test's ``mlflow_guard`` marker, parsed once; a bad one fails the test, naming it."""
    if MARKER_KEY not in item.stash:
        marker = item.get_closest_marker("mlflow_guard")
        try:
            item.stash[MARKER_KEY] = (
                MarkerSpec.parse(marker.kwargs, item.nodeid) if marker else None
            )
        except ConfigError as exc:
            pytest.fail(str(exc), pytrace=False)
    return item.stash[MARKER_KEY]


class GuardedTestHooks:
    """Per-test hooks, registered only when the guard is switched on: a session that did not
    switch it on pays for none of them (the overhead benchmark's measure (a))."""

    def __init__(self, guard: GuardSession, controller: bool) -> None:
        self.guard = guard
        self.controller = controller

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.controller:  # xdist sends the controller every worker's reports
            self.guard.record(report.when or "", report.outcome, hasattr(report, "wasxfail"))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # a plain hook, not a wrapper: a bad marker fails this test's setup like any setup error
        self.guard.begin_test(item.nodeid, marker_spec(item))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        result = yield  # fixtures (and their runs) are torn down now
        from .session_summary import findings_block

        # errors only: warning-level findings would repeat, per test, what the summary lists
        errors = [f for f in self.guard.end_test(item.nodeid) if f.severity == "error"]
        if errors and self.guard.settings.mode == "enforce":
            fixture_run = item.stash.get(FIXTURE_RUN_KEY, None)
            if fixture_run is not None:  # tagged "passed" before the guard's verdict
                try:
                    fixture_run.mark_errored()
                except Exception as exc:  # the findings are the news; the store is reported
                    self.guard.store_failed(exc)
            pytest.fail(
                "mlflow-guard: runs made by this test break the team's conventions:\n"
                + findings_block(errors),
                pytrace=False,
            )
        if errors:
            warnings.warn(
                MlflowGuardWarning("mlflow-guard: runs made by this test break the team's "
                                   "conventions (warn mode):\n" + findings_block(errors)),
                stacklevel=1,
            )  # fmt: skip
        return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if "mlflow_run" in getattr(item, "fixturenames", ()):  # its teardown tags the outcome
        item.stash.setdefault(REPORTS_KEY, {})[report.when] = report
    return report


# ---------------------------------------------------------------------------------- fixtures
def _spec(request: pytest.FixtureRequest) -> MarkerSpec | None:
    return marker_spec(request.node)


def _check_usable(guard: GuardSession) -> None:
    if guard.settings.enabled and guard.problem:
        pytest.fail(f"mlflow-guard: {clean(guard.problem)}", pytrace=False)


def _run_tags(request: pytest.FixtureRequest, guard: GuardSession) -> dict[str, str]:
    spec = _spec(request)
    tags = {session_env.TAG_TEST_NODEID: request.node.nodeid}
    if guard.active and guard.session_run_id:
        tags[session_env.TAG_PARENT_RUN_ID] = guard.session_run_id
    if spec is not None:
        tags.update(spec.run_tags(request.node.nodeid))
    return tags


@pytest.fixture
def tracker(request: pytest.FixtureRequest) -> Iterator[ExperimentTracker]:
    """An ``ExperimentTracker`` for this test, bound to the session's store and conventions.

    Its runs go to the session experiment (or ``@pytest.mark.mlflow_guard(experiment=...)``),
    are children of the session run when the guard is on, and carry ``test.nodeid``. They
    default to ``run.mode=validation`` and ``model.type=none`` (replaced by the logged model's
    class). MLflow's tracking URI, active experiment and run stack are restored afterwards.
    """
    from .mlflow_io.test_runs import preserved_mlflow_state
    from .tracker import ExperimentTracker

    guard = _guard(request.config)
    _check_usable(guard)
    spec = _spec(request)
    with preserved_mlflow_state():
        yield ExperimentTracker(
            (spec.experiment if spec and spec.experiment else None) or guard.experiment,
            tracking_uri=guard.tracking_uri,
            run_mode="validation",
            model_type="none",
            config=guard.config,
            code_path=request.path,
            tags=_run_tags(request, guard),
        )


def _outcome(reports: dict[str, pytest.TestReport]) -> tuple[str, str]:
    """(test.outcome tag, run status) from the phase reports seen so far."""
    call, setup = reports.get("call"), reports.get("setup")
    if call is not None:
        return call.outcome, "FAILED" if call.failed else "FINISHED"
    if setup is not None and setup.skipped:  # a later fixture skipped the test
        return "skipped", "FINISHED"
    if setup is not None and setup.failed:  # a later fixture failed: the test never ran
        return "error", "FAILED"
    return "interrupted", "KILLED"  # Ctrl-C or pytest.exit during the test


@pytest.fixture
def mlflow_run(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An active MLflow run for this test; ``mlflow.log_param``/``log_metric``/``log_model``
    calls in the test land in it. Yields MLflow's ``ActiveRun``.

    Named after the test, tagged ``test.nodeid``, ``run.mode=validation`` and ``model.type``
    (the flavor of a model the test logs, else ``none``); a child of the session run when the
    guard is on. At teardown it is tagged ``test.outcome`` and ``test.duration_seconds``,
    records the environment if a model was logged, and ends FAILED if the test failed. MLflow's
    global state (tracking URI, active experiment, run stack) is restored afterwards.
    """
    from .mlflow_io.test_runs import FixtureRun, preserved_mlflow_state

    guard = _guard(request.config)
    _check_usable(guard)
    spec = _spec(request)
    tags = {
        context.TAG_RUN_MODE: "validation",
        context.TAG_MODEL_TYPE: "none",
        **_run_tags(request, guard),
    }
    experiment = (spec.experiment if spec and spec.experiment else None) or guard.experiment
    run = FixtureRun(guard.tracking_uri, experiment, request.node.name, tags)
    request.node.stash[FIXTURE_RUN_KEY] = run
    with preserved_mlflow_state():
        try:
            active = run.start()
        except GuardError:
            raise
        except Exception as exc:  # the store, not the test: say so once, then fail fast
            pytest.fail(f"mlflow-guard: {guard.store_failed(exc)}", pytrace=False)
        started = time.monotonic()
        try:
            yield active
        finally:
            outcome, status = _outcome(request.node.stash.get(REPORTS_KEY, {}))
            run.finish(
                status,
                {
                    "test.outcome": outcome,
                    "test.duration_seconds": f"{time.monotonic() - started:.3f}",
                },
                guard.environment_payload,
            )
