"""A guarded pytest session as plain code: ``plugin.py`` only translates hooks into these calls.

Lifecycle on the controller (the only process when xdist is not used): ``start()`` prepares the
store and opens the session run before any xdist worker exists, and exports the session's ids in
the environment; ``record()`` counts outcomes; ``finish()`` ends leftover runs, runs the gate,
writes the reports and closes the session run. Workers are built with ``GuardSession.attach``
from the controller's ``worker_state()`` and only do the per-test part
(``begin_test``/``end_test``).

The store is opened through ``open_store`` (a tracking URI to a ``SessionStore``), so tests build
the session in-process on a real sqlite store and can put a faulty store in its place. No pytest
import. MLflow is imported only once the session actually talks to a store.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlflow_guard import interrupts
from pytest_mlflow_guard.config import GuardConfig, find_pyproject, load_config
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import ConfigError, GuardError, one_line
from pytest_mlflow_guard.gate import report_files
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.pytest_plugin import other_stores
from pytest_mlflow_guard.pytest_plugin.handoff import Exports, WorkerState
from pytest_mlflow_guard.pytest_plugin.markers import MarkerSpec
from pytest_mlflow_guard.pytest_plugin.options import Settings, default_experiment
from pytest_mlflow_guard.pytest_plugin.session_content import (
    report_artifacts,
    session_metrics,
    session_run_tags,
)
from pytest_mlflow_guard.tracking import context, conventions, ledger
from pytest_mlflow_guard.vocabulary import (
    ENV_EXPERIMENT_ID,
    ENV_EXPERIMENT_NAME,
    ENV_LEDGER,
    ENV_MLFLOW_TRACKING_URI,
    ENV_SESSION_ID,
    ENV_SESSION_RUN_ID,
    ENV_TEST_TAGS,
    ENV_TRACKING_URI,
    TAG_PYTEST_OUTCOME,
    TAG_SESSION,
    TAG_TEST_NODEID,
)

if TYPE_CHECKING:
    from pytest_mlflow_guard.mlflow_io.session_run import SessionStore

_MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow 3's default when nothing is configured


def _open_session_store(tracking_uri: str) -> SessionStore:
    from pytest_mlflow_guard.mlflow_io.session_run import SessionStore

    return SessionStore(tracking_uri)


class GuardSession:
    def __init__(
        self,
        settings: Settings,
        rootpath: Path,
        args: Sequence[str],
        *,
        open_store: Callable[[str], SessionStore] = _open_session_store,
    ) -> None:
        self.settings = settings
        self.open_store = open_store
        self.rootpath = rootpath
        self.args = list(args)
        path = settings.config or find_pyproject(rootpath)
        self.config_path = str(path) if path else None
        self.config = load_config(self.config_path) if self.config_path else GuardConfig()
        self.experiment = settings.experiment or default_experiment(rootpath, self.config)
        try:
            conventions.check_experiment_name(self.experiment, self.config)
        except GuardError as exc:
            raise ConfigError(f"mlflow-guard experiment {self.experiment!r}: {exc}") from None
        self.tracking_uri: str | None = settings.tracking_uri
        if settings.reports:  # never the store or the config (checked before the session)
            report_files.check_targets(
                ((f"--mlflow-guard-report {fmt}:", path) for fmt, path in settings.reports),
                report_files.protected_for(self.display_uri, self.config_path),
                make_parents=True,
            )
        self.session_id: str | None = None
        self.session_run_id: str | None = None
        self.experiment_id: str | None = None
        self.problem: str | None = None  # the store could not be used; reported once
        self.notes: list[str] = []  # what the header says about the store, beside the problem
        self.report: Report | None = None
        self.run_tests: dict[str, str] = {}  # run id -> node id of the test that made it
        self.counts: Counter[str] = Counter()
        self.swept: list[str] = []
        self.status: str | None = None
        self.interrupted = False  # Ctrl-C while the session ended: pytest then exits 2
        self._started = time.monotonic()
        self._exports = Exports()
        self._isolated: Any = None
        self._ledger_size = 0
        self._ledger: Path | None = None
        self._environment: tuple[dict[str, str], dict[str, str]] | None = None

    @classmethod
    def attach(
        cls, settings: Settings, rootpath: Path, args: Sequence[str], state: WorkerState
    ) -> GuardSession:
        """A worker's view of the session the controller opened (it never opens its own)."""
        session = cls(settings, rootpath, args)
        session.session_id = state.session_id
        session.session_run_id = state.session_run_id
        session.experiment_id = state.experiment_id
        session.tracking_uri = state.tracking_uri
        session.problem = state.problem
        return session

    def worker_state(self) -> WorkerState:
        return WorkerState(
            self.session_id,
            self.session_run_id,
            self.experiment_id,
            self.tracking_uri,
            self.problem,
        )

    # ------------------------------------------------------------------ controller: start
    @property
    def display_uri(self) -> str:
        return self.tracking_uri or os.environ.get(ENV_MLFLOW_TRACKING_URI) or _MLFLOW_DEFAULT_URI

    @property
    def active(self) -> bool:
        """A session run is open and the store answered."""
        return self.session_run_id is not None and self.problem is None

    def start(self) -> None:
        """Prepare the store, open the session run, export the session to child processes."""
        if not self.settings.enabled:
            return
        from pytest_mlflow_guard.mlflow_io import stores
        from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
        from pytest_mlflow_guard.mlflow_io.connect import BOUNDED_HTTP, bounded_http, probe
        from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri

        self.session_id = uuid.uuid4().hex
        # inherited from a pytest that started this one: it names a test of that other session
        os.environ.pop("PYTEST_CURRENT_TEST", None)
        try:
            if self.settings.isolated:
                self._isolated = stores.IsolatedStore()
                self.tracking_uri = self._isolated.tracking_uri
                if self._isolated.note:
                    self.notes.append(self._isolated.note)
                self._exports.set(stores.ARTIFACT_ROOT_ENV, str(self._isolated.artifacts))
            uri = absolute_tracking_uri(resolved_tracking_uri(self.tracking_uri))
            self.tracking_uri = uri
            # runs made anywhere in this session (workers, subprocesses) go to this store
            self._exports.set(ENV_MLFLOW_TRACKING_URI, uri)
            # a server dying mid-session must cost seconds per call, not MLflow's minutes of
            # retries; values the user set win
            for key, value in BOUNDED_HTTP.items():
                self._exports.set_default(key, value)
            stores.ensure_sqlite_store(uri)
            probe(uri)
            folder = Path(self._isolated.root if self._isolated else _tmpdir())
            self._ledger = ledger.create(folder / f"mlflow-guard-{self.session_id}.ledger")
            self._exports.set(ENV_LEDGER, str(self._ledger))
            self._exports.set(ENV_SESSION_ID, self.session_id)
            with bounded_http():
                self._open_session_run()
            assert self.session_run_id is not None and self.experiment_id is not None
            self._exports.set(ENV_SESSION_RUN_ID, self.session_run_id)
            # where plain mlflow.start_run() without an experiment goes (tracking/run_context.py)
            self._exports.set(ENV_TRACKING_URI, uri)
            self._exports.set(ENV_EXPERIMENT_NAME, self.experiment)
            self._exports.set(ENV_EXPERIMENT_ID, self.experiment_id)
        except KeyboardInterrupt:
            self._abandon("interrupted while the session started")
            raise
        except Exception as exc:  # MlflowException, OSError, sqlalchemy...: reported, not raised
            self.problem = _describe(exc, self.display_uri)

    def _abandon(self, why: str) -> None:
        """Ctrl-C before the session was under way: end its run KILLED, check nothing."""
        self.problem = why
        self.status = "KILLED"
        if self.session_run_id is not None and self.tracking_uri is not None:
            try:
                self.open_store(self.tracking_uri).close_session_run(self.session_run_id, "KILLED")
            except Exception:  # the store is why we are stopping: nothing more to do
                self.status = None

    def _open_session_run(self) -> None:
        assert self.tracking_uri is not None
        store = self.open_store(self.tracking_uri)
        store.warm_up()
        tags = session_run_tags(self.rootpath, self.args)
        name = f"{datetime.now():%Y%m%d-%H%M%S}_{context.current_user()}"
        self.experiment_id, self.session_run_id = store.start_session_run(
            self.experiment, name, tags
        )
        files, env_tags = self.environment_payload()
        store.log_environment(self.session_run_id, files, env_tags)

    def environment_payload(self) -> tuple[dict[str, str], dict[str, str]]:
        """``environment/`` files and tags, computed once per process."""
        if self._environment is None:
            from pytest_mlflow_guard.tracking import environment

            git = context.find_git(self.rootpath)
            self._environment = environment.payload(git.root if git else None)
        return self._environment

    def store_failed(self, exc: BaseException) -> str:
        """Remember that the store failed (the first reason wins) and return the reason: the
        fixtures then fail fast instead of waiting on a dead server in every test."""
        if self.problem is None and self.settings.enabled:
            self.problem = _describe(exc, self.display_uri)
        return self.problem or _describe(exc, self.display_uri)

    # ------------------------------------------------------------------ per test
    def begin_test(self, nodeid: str, marker: MarkerSpec | None) -> None:
        tags = marker.run_tags(nodeid) if marker else {}
        if tags:
            os.environ[ENV_TEST_TAGS] = json.dumps(tags)
        self._ledger_size = ledger.size(os.environ.get(ENV_LEDGER))

    def end_test(self, nodeid: str) -> list[Finding]:
        """Findings on the runs this test made, in every store it made them in (only looked
        for when it made some)."""
        os.environ.pop(ENV_TEST_TAGS, None)
        if not (self.active and self.settings.gate_on and self.settings.test_findings):
            return []
        entries = self._test_entries()
        if not entries:
            return []  # no process wrote "I am starting a run" during this test
        assert self.session_id is not None and self.tracking_uri is not None
        tags = {TAG_SESSION: self.session_id, TAG_TEST_NODEID: nodeid}
        try:
            report = self._check(tags)
        except Exception as exc:
            self.problem = _describe(exc, self.display_uri)
            return []
        others = other_stores.other_stores(entries, self.tracking_uri)
        if others:
            report = self._combine(report, others, tags)
        return [f for f in report.findings if f.run_id != self.session_run_id]

    def _test_entries(self) -> list[ledger.Entry]:
        """What the ledger got since the current test began: one entry per run started."""
        return ledger.entries(os.environ.get(ENV_LEDGER), self._ledger_size)

    def test_stores(self) -> list[str]:
        """The stores the current test started runs in (the session's first), or none."""
        if not self.active:
            return []
        uris = dict.fromkeys(entry.tracking_uri for entry in self._test_entries())
        main = [uri for uri in uris if uri == self.tracking_uri]
        return main + [uri for uri in uris if uri != self.tracking_uri]

    def _combine(self, report: Report, uris: Sequence[str], run_tags: Mapping[str, str]) -> Report:
        return other_stores.combine(
            report,
            uris,
            lambda uri: self._check(run_tags, uri=uri),
            self.config,
            _reason,
        )

    def _check(
        self,
        run_tags: Mapping[str, str] | None,
        experiments: Sequence[str] = (),
        uri: str | None = None,
    ) -> Report:
        from pytest_mlflow_guard.gate.check import CheckOptions, run_check

        options = CheckOptions(
            tracking_uri=uri or self.tracking_uri,
            config_path=self.config_path,
            config=self.config,
            experiments=experiments,
            baseline=self.settings.baseline,
            run_tags=dict(run_tags or {}),
            workers=4,
        )
        return run_check(options)

    def record(self, when: str, outcome: str, xfail: bool) -> None:
        """Count one phase report the way pytest's summary line does."""
        if when == "call":
            key = {
                "passed": "xpassed" if xfail else "passed",
                "failed": "failed",
                "skipped": "xfailed" if xfail else "skipped",
            }[outcome]
            self.counts[key] += 1
        elif outcome == "failed":
            self.counts["errors"] += 1
        elif outcome == "skipped":
            self.counts["skipped"] += 1

    # ------------------------------------------------------------------ controller: finish
    def finish(self, exitstatus: int, interrupted: bool) -> bool:
        """End leftover runs, run the gate, close the session run. True: fail the build.

        Ctrl-C at any moment of it sets ``interrupted`` instead of escaping (pytest would print
        a raw traceback): the session run still ends, KILLED."""
        try:
            if not self.settings.enabled or self.session_run_id is None or self.problem:
                return self.settings.mode == "enforce" and self.problem is not None
            return self._finish(exitstatus, interrupted)
        except KeyboardInterrupt:
            self.interrupted = True
            return self.settings.mode == "enforce"
        finally:
            self.close()

    def _finish(self, exitstatus: int, interrupted: bool) -> bool:
        from pytest_mlflow_guard.mlflow_io.connect import bounded_http

        assert self.tracking_uri and self.session_id and self.session_run_id
        with bounded_http():
            store = self.open_store(self.tracking_uri)
            try:
                with interrupts.deferred():  # a few requests: finish them, then stop
                    runs = store.close_out(self.session_id, "KILLED", keep=self.session_run_id)
                    others = self._other_stores()
                    self.swept = runs.ended + other_stores.sweep(others, self.session_id)
                self.run_tests = runs.tests
                if self.settings.gate_on:
                    self.report = self._gate(store, runs.experiment_ids)
            except KeyboardInterrupt:
                interrupted = self.interrupted = True
                self.problem = "interrupted while checking the session: it was not checked"
            except Exception as exc:
                self.problem = _describe(exc, self.display_uri)
            failing = self.settings.mode == "enforce" and (
                self.problem is not None or bool(self.report and self.report.summary()["error"])
            )
            if interrupted:
                self.status = "KILLED"
            else:
                self.status = "FAILED" if exitstatus != 0 or failing else "FINISHED"
            try:
                with interrupts.deferred():  # the session run ends with its status, always
                    store.finish_session_run(
                        self.session_run_id,
                        self.status,
                        session_metrics(self.counts, time.monotonic() - self._started, self.report),
                        {TAG_PYTEST_OUTCOME: self.status.lower()},
                        report_artifacts(self.report),
                    )
            except KeyboardInterrupt:
                self.interrupted = True
            except Exception as exc:
                self.problem = self.problem or _describe(exc, self.display_uri)
                failing = self.settings.mode == "enforce"
        self._write_reports()
        return failing

    def _gate(self, store: SessionStore, experiment_ids: set[str]) -> Report:
        assert self.session_id is not None and self.tracking_uri is not None
        session = {TAG_SESSION: self.session_id}
        if self.settings.scope == "session":
            report = self._check(session)
        elif self.settings.scope == "experiment":
            names = store.experiment_names(experiment_ids)
            report = self._check(None, [_glob_escape(n) for n in names] or [self.experiment])
        else:
            report = self._check(None)
        # runs the tests made in stores of their own: checked there (scope session)
        others = self._other_stores()
        return self._combine(report, others, session) if others else report

    def _other_stores(self) -> list[str]:
        assert self.tracking_uri is not None
        return other_stores.other_stores(ledger.entries(self._ledger), self.tracking_uri)

    def _write_reports(self) -> None:
        if self.report is None:
            return
        from pytest_mlflow_guard.gate.reporters import render

        for fmt, path in self.settings.reports:
            report_files.write_text(path, render(fmt, self.report))

    def close(self) -> None:
        """Undo the environment exports, remove the ledger and a throwaway store (idempotent)."""
        self._exports.restore()
        if self._ledger is not None:
            self._ledger.unlink(missing_ok=True)
            self._ledger = None
        if self._isolated is not None:
            self._isolated.close()
            self._isolated = None


def _tmpdir() -> str:
    import tempfile

    return tempfile.gettempdir()


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _reason(exc: BaseException) -> str:
    return clean(one_line(exc))


def _describe(exc: BaseException, uri: str) -> str:
    return f"tracking store {clean(uri)} unusable: {_reason(exc)}"
