"""pytest plugin entry point (``pytest11``): translates pytest hooks into calls on a session object.

Kept free of MLflow imports: pytest loads this module in every session of the environment.
What the session decides lives in ``session.py``; the fixtures in ``fixtures.py`` and the
``reproduce`` fixture and marker in ``reproduce.py`` are registered from here.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import ConfigError, GuardError
from pytest_mlflow_guard.pytest_plugin.handoff import WorkerState
from pytest_mlflow_guard.pytest_plugin.keys import (
    FIXTURE_RUN_KEY,
    REPORTS_KEY,
    SESSION_KEY,
    guard_of,
    marker_spec,
)
from pytest_mlflow_guard.pytest_plugin.options import OPTIONS, resolve
from pytest_mlflow_guard.pytest_plugin.session import GuardSession
from pytest_mlflow_guard.tracking import context

_FIXTURES = ("tracker", "mlflow_run", "mlflow_guard_tracking_uri", "mlflow_guard_experiment")


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
        args = (settings, config.rootpath, config.invocation_params.args)
        if worker is None:
            guard = GuardSession(*args)
        else:
            guard = GuardSession.attach(*args, WorkerState.from_dict(worker))
    except (ConfigError, GuardError) as exc:
        raise pytest.UsageError(f"mlflow-guard: {clean(exc)}") from None
    config.stash[SESSION_KEY] = guard
    # the fixtures, and the `reproduce` fixture and `reproducible` marker
    from pytest_mlflow_guard.pytest_plugin import fixtures
    from pytest_mlflow_guard.pytest_plugin import reproduce as pytest_reproduce

    for module, name in ((fixtures, "fixtures"), (pytest_reproduce, "reproduce")):
        if not config.pluginmanager.is_registered(module):  # `-p` may have loaded it
            config.pluginmanager.register(module, f"mlflow_guard.{name}")
    if guard.settings.enabled:
        junit = bool(getattr(config.option, "xmlpath", None))
        hooks = GuardedTestHooks(guard, controller=not _is_worker(config), junit=junit)
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
        node.workerinput["mlflow_guard"] = self.guard.worker_state().as_dict()


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


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from pytest_mlflow_guard.pytest_plugin.options import header_line

    guard = guard_of(config)
    lines = [header_line(guard.settings, guard.display_uri, guard.experiment)]
    if guard.problem:
        lines.append(f"mlflow-guard: {clean(guard.problem)}")
    lines.extend(f"mlflow-guard: note: {clean(note)}" for note in guard.notes)
    return lines


# ---------------------------------------------------------------------------------- session
@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # before xdist's own sessionstart (trylast) spawns the workers: they attach to this run
    if not _is_worker(session.config):
        guard_of(session.config).start()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    guard = guard_of(session.config)
    failing = guard.finish(int(exitstatus), interrupted)
    if guard.interrupted:
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    elif failing and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from pytest_mlflow_guard.pytest_plugin.summary import summary_lines

    guard = guard_of(config)
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
class GuardedTestHooks:
    """Per-test hooks, registered only when the guard is switched on: a session that did not
    switch it on pays for none of them (the overhead benchmark's measure (a))."""

    def __init__(self, guard: GuardSession, controller: bool, junit: bool = False) -> None:
        self.guard = guard
        self.controller = controller
        self.junit = junit  # --junitxml: each test's runs become <property> entries

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
        from pytest_mlflow_guard.pytest_plugin.summary import findings_block

        if self.junit:  # before the verdict below, which may fail the test
            from pytest_mlflow_guard.pytest_plugin.junit import run_properties

            item.user_properties.extend(run_properties(self.guard, item.nodeid))

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
