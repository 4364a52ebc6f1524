"""Random records and configurations through the engine, every reporter and a baseline round
trip: nothing crashes, every report parses, no human-facing line carries a control character or
a CI command, and a baseline of today's findings accepts exactly today's findings."""

from __future__ import annotations

import json
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_mlflow_guard.config import from_mapping
from pytest_mlflow_guard.gate.baseline import apply_baseline, load_baseline, write_baseline
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Report
from pytest_mlflow_guard.gate.reporters import FORMATS, render
from pytest_mlflow_guard.gate.rules import ALL_RULES, rule_infos
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
TAG_KEYS = [
    "os.user", "git.commit", "git.dirty", "source.type", "source.command", "model.type",
    "run.mode", "mlflow_guard.ignore", "mlflow_guard.ignore_reason", "team",
]  # fmt: skip
# anything a store may hold: control characters, newlines, CI commands, very long values
store_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "training", "a" * 40, "MLG201,bogus", "\x1b[31m::error::x\n##[y]"]),
    # an a/b pattern repeated to 7990-8010 characters: drawing 8000 characters one by one would
    # be most of this module's run time
    st.tuples(st.integers(7990, 8010), st.text(alphabet="ab", min_size=1, max_size=16)).map(
        lambda t: (t[1] * (t[0] // len(t[1]) + 1))[: t[0]]
    ),
)
times = st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc)))
maybe_bool = st.one_of(st.none(), st.booleans())
reason = st.one_of(st.none(), store_text)


@st.composite
def logged_models(draw: Any, run_id: str) -> LoggedModelRecord:
    return LoggedModelRecord(
        model_id=draw(st.text(min_size=1, max_size=12)),
        experiment_id="1",
        run_id=run_id,
        name=draw(store_text),
        has_signature=draw(maybe_bool),
        has_input_example=draw(maybe_bool),
        tags=draw(st.dictionaries(st.sampled_from(TAG_KEYS), store_text, max_size=3)),
        unreadable=draw(reason),
    )


@st.composite
def runs(draw: Any) -> RunRecord:
    run_id = draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=32))
    return RunRecord(
        run_id=run_id,
        experiment_id="1",
        experiment_name=draw(st.sampled_from(["mushroom/demo", "Bad Name", "legacy/x"])),
        run_name=draw(st.one_of(st.none(), store_text, st.just("bold-hawk-42"))),
        status=draw(st.sampled_from(["RUNNING", "FINISHED", "FAILED", "KILLED"])),
        start_time=draw(times),
        end_time=draw(times),
        tags=draw(st.dictionaries(st.sampled_from(TAG_KEYS), store_text)),
        params=draw(st.dictionaries(store_text, store_text, max_size=4)),
        has_requirements=draw(maybe_bool),
        logged_models=tuple(draw(st.lists(logged_models(run_id), max_size=2))),
        name_generated=draw(maybe_bool),
        requirements_unreadable=draw(reason),
    )


@st.composite
def registered_models(draw: Any) -> RegisteredModelRecord:
    name = draw(store_text)
    versions = tuple(
        ModelVersionRecord(
            name=name,
            version=str(i + 1),
            stage=draw(st.sampled_from(["None", "Staging", "Production", "Archived"])),
            run_id=draw(st.one_of(st.none(), st.text(max_size=8))),
            has_signature=draw(maybe_bool),
            tags=draw(st.dictionaries(st.sampled_from(TAG_KEYS), store_text, max_size=2)),
            last_updated_time=draw(times),
            source_run=draw(st.one_of(st.none(), runs())),
            source_run_missing=draw(st.booleans()),
            signature_unreadable=draw(reason),
            source_run_unreadable=draw(reason),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    return RegisteredModelRecord(name=name, versions=versions)


codes = st.sampled_from([rule.code for rule in ALL_RULES])
configs = st.fixed_dictionaries(
    {},
    optional={
        "select": st.one_of(st.just(["ALL"]), st.lists(codes, min_size=1, max_size=5)),
        "ignore": st.lists(codes, max_size=3),
        "severity": st.dictionaries(codes, st.sampled_from(["error", "warning", "off"])),
        "run-name-pattern": st.sampled_from(["^[0-9]{8}-[0-9]{6}_.+$", ".*"]),
        "required-tags": st.lists(st.sampled_from(TAG_KEYS), min_size=1, max_size=4),
        "allowed-values": st.dictionaries(
            st.sampled_from(["run.mode", "source.type"]),
            st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3),
            max_size=2,
        ),
        "stale-running-hours": st.floats(0, 876_000),
        "stale-staging-days": st.floats(0, 36_500),
        "overrides": st.lists(
            st.fixed_dictionaries(
                {"experiments": st.just(["legacy/*"]), "ignore": st.lists(codes, max_size=2)}
            ),
            max_size=1,
        ),
    },
)


def _safe_line(line: str) -> bool:
    return (
        not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line)
        and "##[" not in line
        and not line.lstrip().startswith("::")
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs,
    experiment=st.builds(ExperimentRecord, st.just("1"), store_text),
    run_list=st.lists(runs(), max_size=4),
    models=st.lists(registered_models(), max_size=2),
)
def test_engine_reporters_and_baseline_never_break(
    config: dict[str, Any],
    experiment: ExperimentRecord,
    run_list: list[RunRecord],
    models: list[RegisteredModelRecord],
) -> None:
    engine = Engine(from_mapping(config), now=NOW, collect_objects=True)
    findings = list(engine.check([experiment, *run_list, *models]))
    report = Report(
        tracking_uri="sqlite:///m.db",
        checked=dict(engine.checked),
        findings=findings,
        objects=engine.objects,
        rules=rule_infos(),
    )
    rendered = {fmt: render(fmt, report) for fmt in FORMATS}

    assert json.loads(rendered["json"])["summary"] == report.summary()
    assert len(json.loads(rendered["sarif"])["runs"][0]["results"]) == len(findings)
    ET.fromstring(rendered["junit"])
    assert all(_safe_line(line) for line in rendered["text"].splitlines())
    github = rendered["github"].splitlines()
    assert all(line.startswith(("::error ", "::warning ", "mlflow-guard:")) for line in github)
    assert all(f.object_type in {"experiment", "run", "logged_model", "registered_model",
                                 "model_version"} for f in findings)  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "baseline.json"
        assert write_baseline(path, findings) == len(findings)
        new, suppressed, fixed = apply_baseline(findings, load_baseline(path))
    assert (new, suppressed, fixed) == ([], len(findings), 0)
