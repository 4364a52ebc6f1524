"""One audit of a tracking store, from options to a ``Report``: shared by the CLI and the plugin.

MLflow is only imported (through ``mlflow_io.reader``) when a check actually runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TextIO

from pytest_mlflow_guard.config import GuardConfig, Scope, load_config
from pytest_mlflow_guard.gate.annotations import ANNOTATION_TAGS, RunAnnotations, annotation_edits
from pytest_mlflow_guard.gate.baseline import apply_baseline, load_baseline, write_baseline
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.rules import rule_infos
from pytest_mlflow_guard.gate.sharded import Shards, deal, jobs_for, merged_counts
from pytest_mlflow_guard.gate.state import load_since
from pytest_mlflow_guard.gate.urls import url_builder
from pytest_mlflow_guard.mlflow_io import links
from pytest_mlflow_guard.records import Record, RunRecord
from pytest_mlflow_guard.redact import redact_text


@dataclass
class CheckOptions:
    tracking_uri: str | None = None
    config_path: str | None = None
    #: the file's config when the caller has read it already (the plugin checks after each
    #: test that made runs: it should not parse pyproject.toml every time)
    config: GuardConfig | None = None
    experiments: Sequence[str] = ()
    since: str | None = None
    statuses: Sequence[str] = ()
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    baseline: str | None = None
    collect_objects: bool = False
    #: only runs carrying all these tags (and what they registered): a pytest session's scope
    run_tags: Mapping[str, str] = field(default_factory=dict)
    workers: int = 8
    progress: TextIO | None = None  # where to draw a progress line (a TTY), or None
    #: the server that resolves ``mlflow-artifacts:`` URIs (default: the config's)
    artifacts_server: str | None = None
    #: ``auto``, ``api`` or ``sql`` (default: the config's ``reader``)
    reader: str | None = None
    #: the state file of an incremental check (``--since-last``)
    since_last: str | None = None
    #: processes that read and check a database store's experiments (0: as many as there are
    #: cores for a large store, see ``gate.sharded``)
    jobs: int = 0
    #: the workspaces to read (``--workspace``); every one when empty
    workspaces: Sequence[str] = ()
    #: filled, when given, with each checked run's annotation tags, for ``--annotate`` (its
    #: writes come after the reports: see :func:`annotate`)
    annotate_runs: dict[str, tuple[str | None, str | None, str | None]] | None = None
    notes: list[str] = field(default_factory=list)


def effective_config(options: CheckOptions) -> GuardConfig:
    """The file's config with command-line selections and scope applied on top (CLI wins)."""
    config = options.config or load_config(options.config_path)
    scope = config.scope
    if options.run_tags:  # a session's own runs: the file's scope (say "mushroom/*") is not asked
        scope = Scope()
    scope = Scope(
        experiments=tuple(options.experiments) or scope.experiments,
        since=options.since or scope.since,
        statuses=tuple(s.upper() for s in options.statuses) or scope.statuses,
        workspaces=tuple(options.workspaces) or scope.workspaces,
    )
    changes: dict[str, object] = {"scope": scope}
    if options.select:
        changes["select"] = tuple(options.select)
    if options.ignore:
        changes["ignore"] = (*config.ignore, *options.ignore)
    return replace(config, **changes)  # type: ignore[arg-type]


class _Progress:
    """A single self-overwriting stderr line; drawn at most every 250 records."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.count = 0

    def tick(self, engine: Engine) -> None:
        self.count += 1
        if self.stream is not None and self.count % 250 == 0:
            c = engine.checked
            self.stream.write(
                f"\rmlflow-guard: {c['experiments']} experiments, {c['runs']} runs, "
                f"{c['model_versions']} model versions checked"
            )
            self.stream.flush()

    def done(self) -> None:
        if self.stream is not None and self.count >= 250:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run_check(options: CheckOptions, write_baseline_to: str | None = None) -> Report:
    """Read the store, apply the rules and the baseline; raise ``GuardError`` on bad input."""
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.connect import bounded_http, probe
    from pytest_mlflow_guard.mlflow_io.readers import Reader, open_reader

    config = effective_config(options)
    uri = resolved_tracking_uri(options.tracking_uri)
    baseline = load_baseline(options.baseline) if options.baseline else None
    engine = Engine(
        config,
        url_for=url_builder(links.ui_url_for(uri, config.ui_url)),
        collect_objects=options.collect_objects,
    )
    probe(uri)
    notes = list(options.notes)
    changed_since = None
    if options.since_last:
        since = load_since(options.since_last, redact_text(uri))
        notes.append(since.note)
        changed_since = since.changed_since
    started = datetime.now(timezone.utc)
    progress = _Progress(options.progress)
    findings: list[Finding] = []
    artifacts = options.artifacts_server or config.artifacts_server
    shardable = False
    with bounded_http():
        reader: Reader
        if options.run_tags:
            from pytest_mlflow_guard.mlflow_io.session_reader import SessionReader

            reader = SessionReader(
                uri,
                options.run_tags,
                scope=config.scope,
                max_workers=options.workers,
                artifacts_server=artifacts,
            )
        else:
            choice = open_reader(
                uri,
                options.reader or config.reader,
                config.scope,
                workers=options.workers,
                artifacts_server=artifacts,
                changed_since=changed_since,
                workspaces=config.scope.workspaces,
            )
            reader = choice.reader
            notes.extend(choice.notes)
            shardable = choice.kind == "sql" and not options.collect_objects
        sharded = None
        if options.annotate_runs is not None:  # the runs' tags are needed: one process reads
            reader = _Observed(reader, options.annotate_runs)
        elif not options.run_tags and shardable:
            sharded = _sharded_findings(reader, options, config, uri, artifacts, changed_since)
        if sharded is not None:
            findings, checked, names = sharded
        else:
            for finding in engine.check(_ticking(reader.iter_records(), progress, engine)):
                findings.append(finding)
            checked, names = dict(engine.checked), engine.experiment_names
    progress.done()
    report = Report(
        tracking_uri=redact_text(uri),
        checked=checked,
        findings=findings,
        objects=engine.objects,
        rules=rule_infos(),
        notes=notes,
        started_at=started,
        experiment_names=names,
    )
    if write_baseline_to:
        count = write_baseline(write_baseline_to, findings)
        report.notes.append(f"wrote {count} findings to baseline {write_baseline_to}")
    if baseline is not None:
        report.findings, report.baseline_suppressed, report.baseline_fixed = apply_baseline(
            findings, baseline
        )
    return report


class _Observed:
    """A reader passing its records through, noting each run's annotation tags on the way."""

    def __init__(
        self, reader: Any, runs: dict[str, tuple[str | None, str | None, str | None]]
    ) -> None:
        self.reader, self.runs = reader, runs

    def iter_records(self) -> Iterator[Record]:
        for record in self.reader.iter_records():
            if isinstance(record, RunRecord):
                status, codes = (record.tags.get(key) for key in ANNOTATION_TAGS)
                self.runs[record.run_id] = (status, codes, record.workspace)
            yield record


def annotate(
    tracking_uri: str | None,
    runs: RunAnnotations,
    findings: Sequence[Finding],
) -> list[str]:
    """Tag the checked ``runs`` with the check's verdict (``gate.annotations``); what happened,
    as lines to show. Called once the reports are written: a store that refuses the writes
    costs the annotations, never the reports."""
    from pytest_mlflow_guard.gate.reporters._common import plural
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.edit_writer import apply_edits

    written = apply_edits(resolved_tracking_uri(tracking_uri), annotation_edits(runs, findings))
    lines = [f"annotated {plural(len(runs), 'run')} ({written.objects} changed)"]
    lines += [f"not annotated: {conflict}" for conflict in written.conflicts]
    return lines


def _sharded_findings(
    reader: Any,
    options: CheckOptions,
    config: GuardConfig,
    uri: str,
    artifacts: str | None,
    changed_since: datetime | None,
) -> tuple[list[Finding], dict[str, int], dict[str, str]] | None:
    """The check's findings, counts and experiment names from worker processes
    (``gate.sharded``), or None when the store is small enough for one process (or ``jobs``
    says 1). ``reader`` is the SQL reader: it plans the shards, then reads the registry."""
    if options.jobs == 1:
        return None
    plan = reader.shard_plan()
    runs = sum(plan.run_counts.get(exp_id, 0) for exp_id in plan.experiment_ids)
    jobs = jobs_for(options.jobs, runs, os.cpu_count() or 1)
    if jobs <= 1:
        return None
    ui_base = links.ui_url_for(uri, config.ui_url)
    shards = Shards(
        uri,
        config,
        ui_base,
        artifacts_server=artifacts,
        changed_since=changed_since,
        workers=options.workers,
        workspaces=config.scope.workspaces,
    )
    groups = deal([(i, plan.run_counts.get(i, 0)) for i in plan.experiment_ids], jobs)
    findings = list(shards.findings(plan.experiment_ids, groups))
    registry = Engine(config, url_for=url_builder(ui_base))
    findings.extend(registry.check(reader.iter_registry()))
    return findings, merged_counts(shards.checked, registry.checked), plan.names


def _ticking(records: Iterable[Record], progress: _Progress, engine: Engine) -> Iterator[Record]:
    for record in records:
        yield record
        progress.tick(engine)


def stderr_if_tty() -> TextIO | None:
    return sys.stderr if sys.stderr.isatty() else None
