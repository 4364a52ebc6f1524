"""Machine-readable JSON report (a public interface: changes bump ``version``).

Schema, version 1 (keys always appear in this order; output is indented by 2 spaces)::

    {
      "version": 1,
      "tracking_uri": "http://mlflow:5000",      # the store that was audited
      "checked": {                               # how many objects of each kind were looked at
        "experiments": 3,
        "runs": 120,
        "logged_models": 40,
        "registered_models": 2,
        "model_versions": 9
      },
      "findings": [                              # in the order the rule engine reported them
        {
          "rule": "MLG201",                      # stable rule code
          "name": "required-tag",                # readable rule name
          "severity": "error",                   # "error" | "warning"
          "object_type": "run",                  # experiment | run | logged_model |
                                                 # registered_model | model_version | store |
                                                 # workspace
          "object_id": "3f2a9c...",              # run id, experiment id, logged model id,
                                                 # model name, or "name/version"
          "experiment_id": "1",                  # string or null
          "run_id": "3f2a9c...",                 # string or null
          "message": "run has no 'owner' tag",
          "url": "http://mlflow:5000/#/...",     # MLflow UI link, or null when unknown
          "workspace": "team-b",                 # ONLY on a store with workspaces (MLflow
                                                 # 3.10+): the one the object is in
          "store": "sqlite:////tmp/t/mlflow.db"  # ONLY when the object is in another store
        }                                        # than tracking_uri (a pytest session's tests
                                                 # can point MLflow at stores of their own)
      ],
      "summary": {"error": 1, "warning": 0},     # finding counts by severity
      "baseline": {"suppressed": 4, "fixed": 1}  # ONLY when a baseline was used; each value is
                                                 # an int, or null if that count is unknown
    }

``checked`` always carries the five keys above (0 when not checked); a store-specific extra
count, if a caller adds one, follows them in sorted order. ``"notes"`` (a list of strings about
what could not be checked) is present only when there are notes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from json.encoder import encode_basestring
from typing import Any

from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import checked_counts

SCHEMA_VERSION = 1


def _finding(finding: Finding) -> dict[str, Any]:
    placed = {"workspace": finding.workspace} if finding.workspace else {}
    if finding.store:
        placed["store"] = finding.store
    return {
        "rule": finding.rule,
        "name": finding.name,
        "severity": finding.severity,
        "object_type": finding.object_type,
        "object_id": finding.object_id,
        "experiment_id": finding.experiment_id,
        "run_id": finding.run_id,
        "message": finding.message,
        "url": finding.url,
    } | placed


def to_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON document described in the module docstring."""
    data: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "tracking_uri": report.tracking_uri,
        "checked": checked_counts(report),
        "findings": [_finding(finding) for finding in report.findings],
        "summary": report.summary(),
    }
    if report.baseline_suppressed is not None or report.baseline_fixed is not None:
        data["baseline"] = {
            "suppressed": report.baseline_suppressed,
            "fixed": report.baseline_fixed,
        }
    if report.notes:
        data["notes"] = list(report.notes)
    return data


def render(report: Report) -> str:
    return "".join(chunks(report))


def _nested(value: Any, indent: str) -> str:
    # json.dumps(indent=2) of a value that sits ``indent`` deep: its inner lines shifted along
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _scalar(value: str | int | float | None) -> str:
    # what json.dumps(ensure_ascii=False) gives, without its per-call cost
    if isinstance(value, str):
        return encode_basestring(value)
    return "null" if value is None else json.dumps(value)


def _flat(value: dict[str, Any], indent: str) -> str:
    """``_nested`` of a dict of strings, numbers and nulls, written directly: with an ``indent``
    json.dumps encodes in Python, most of the time of a large report."""
    if not value or not all(
        v is None or (isinstance(v, str | int | float) and not isinstance(v, bool))
        for v in value.values()
    ):
        return _nested(value, indent)
    inner = ",\n" + indent + "  "
    items = inner.join(f"{encode_basestring(k)}: {_scalar(v)}" for k, v in value.items())
    return "{\n" + indent + "  " + items + "\n" + indent + "}"


def chunks(report: Report, clean: Callable[[Finding], Finding] = lambda f: f) -> Iterator[str]:
    """The document of :func:`render`, a finding at a time, byte for byte what
    ``json.dumps(to_dict(report), indent=2)`` gives: a store with a hundred thousand findings is
    written without holding their dicts and the whole text at once. ``clean`` is applied to each
    finding on its way out (the redaction policy)."""
    # sort_keys stays off: the documented key order (version first, summary last) is part of the
    # interface, and dicts keep insertion order, so output is already deterministic.
    data = to_dict(replace(report, findings=[]))
    data["summary"] = report.summary()
    yield "{"
    for index, (key, value) in enumerate(data.items()):
        yield ("," if index else "") + f"\n  {json.dumps(key)}: "
        if key != "findings" or not report.findings:
            yield _nested(value, "  ")
            continue
        yield "["
        for number, finding in enumerate(report.findings):
            yield ("," if number else "") + "\n    " + _flat(_finding(clean(finding)), "    ")
        yield "\n  ]"
    yield "\n}\n"
