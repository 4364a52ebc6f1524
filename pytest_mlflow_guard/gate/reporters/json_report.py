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
                                                 # registered_model | model_version | store
          "object_id": "3f2a9c...",              # run id, experiment id, logged model id,
                                                 # model name, or "name/version"
          "experiment_id": "1",                  # string or null
          "run_id": "3f2a9c...",                 # string or null
          "message": "run has no 'owner' tag",
          "url": "http://mlflow:5000/#/...",     # MLflow UI link, or null when unknown
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
from typing import Any

from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import checked_counts

SCHEMA_VERSION = 1


def _finding(finding: Finding) -> dict[str, Any]:
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
    } | ({"store": finding.store} if finding.store else {})


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
    # sort_keys stays off: the documented key order (version first, summary last) is part of the
    # interface, and dicts keep insertion order, so output is already deterministic.
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
