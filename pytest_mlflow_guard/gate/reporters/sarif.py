"""SARIF 2.1.0 log for code-scanning dashboards (GitHub code scanning, Azure DevOps, IDE viewers).

One run whose ``tool.driver.rules`` lists every rule the audit ran (from ``Report.rules``; the
rule docstring becomes the help text) and one result per finding.

Locations. The objects audited live in an MLflow tracking store, not in source files, so each
result carries a ``logicalLocation`` naming the object (``kind`` = object type,
``fullyQualifiedName`` = ``experiment/1/run/<id>``). That alone is not enough: GitHub code scanning
rejects the *whole upload* ("locationFromSarifResult: expected artifact location") when any result
lacks ``physicalLocation.artifactLocation.uri``, and also when that URI is absolute with a scheme
other than ``file`` ("URI scheme https did not match the checkout URI scheme file",
github/codeql-action#754). So every result has a physical location that is the logical path as
a *relative* URI resolved against the ``MLFLOW_TRACKING`` base id, described in
``run.originalUriBaseIds``; the object's MLflow UI link, when known, goes into the message text,
``hostedViewerUri`` and ``properties.url`` instead.

The "artifact" is not a file in the repository; GitHub shows the alert without a code preview,
which is the honest rendering of a finding about a tracking store.

``partialFingerprints["mlflowGuardFinding/v1"]`` hashes the finding's baseline identity (rule,
object type, object id and the distinguishing part of the message) so an alert keeps its
identity across runs even when wording or numbers in the message change.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from importlib import metadata
from typing import Any
from urllib.parse import quote

from pytest_mlflow_guard.gate.findings import Finding, Report, RuleInfo

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "mlflow-guard"
INFORMATION_URI = "https://pypi.org/project/pytest-mlflow-guard/"
URI_BASE_ID = "MLFLOW_TRACKING"
FINGERPRINT_KEY = "mlflowGuardFinding/v1"

# Section headings of a rule docstring ("Why:", "Anti-pattern", "Fix: do this"), emphasised in
# the Markdown help so the three parts stand out in GitHub's rule panel.
_SECTION = re.compile(r"^(Why|Anti-pattern|Fix|Example|Examples)\s*:?(\s+.*)?$", re.IGNORECASE)
_UNDERLINE = re.compile(r"^\s*[-=~]{3,}\s*$")


def _tool_version() -> str | None:
    try:
        return metadata.version("pytest-mlflow-guard")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return None


def _pascal(name: str) -> str:
    """``required-tag`` -> ``RequiredTag``: SARIF recommends identifier-like rule names."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_\s]+", name) if part)


def _markdown(doc: str) -> str:
    lines: list[str] = []
    for line in doc.splitlines():
        if _UNDERLINE.match(line) and lines:
            continue  # a reST underline: the heading above it is already emphasised
        match = _SECTION.match(line)
        if match:
            # A blank line first: Markdown would otherwise run "Why" and "Fix" into one paragraph.
            if lines and lines[-1].strip():
                lines.append("")
            rest = (match.group(2) or "").strip()
            lines.append(f"**{match.group(1)}:** {rest}".rstrip())
        else:
            lines.append(line)
    return "\n".join(lines)


def _rule_descriptor(rule: RuleInfo) -> dict[str, Any]:
    doc = inspect.cleandoc(rule.doc) if rule.doc else rule.summary
    return {
        "id": rule.code,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.summary or rule.name},
        "fullDescription": {"text": doc or rule.name},
        "help": {"text": doc or rule.name, "markdown": _markdown(doc or rule.name)},
        "defaultConfiguration": {"level": rule.default_severity},
        "properties": {"tags": ["mlflow", rule.name]},
    }


def _fallback_rule(finding: Finding) -> RuleInfo:
    # A finding whose rule is missing from Report.rules (a plugin rule, a hand-built report)
    # still needs a descriptor for ruleIndex to point at.
    return RuleInfo(finding.rule, finding.name, finding.severity, finding.name, "")


def logical_path(finding: Finding) -> str:
    """``experiment/1/run/<id>``: the object's place in the tracking store's hierarchy."""
    parts: list[str] = []
    # a workspace holds its experiments and its registry (names repeat across workspaces)
    if finding.workspace and finding.object_type != "workspace":
        parts += ["workspace", finding.workspace]
    # Runs and logged models sit inside an experiment (and a logged model inside its run);
    # registered models and their versions are top-level in MLflow, whatever run they came from.
    if finding.object_type in ("run", "logged_model") and finding.experiment_id:
        parts += ["experiment", finding.experiment_id]
    if finding.object_type == "logged_model" and finding.run_id:
        parts += ["run", finding.run_id]
    parts += [finding.object_type, finding.object_id]
    return "/".join(parts)


def _location(finding: Finding) -> dict[str, Any]:
    path = logical_path(finding)
    # Percent-encode so model names with spaces or '#' stay one valid relative reference.
    artifact = {"uri": quote(path, safe="/"), "uriBaseId": URI_BASE_ID}
    return {
        "physicalLocation": {"artifactLocation": artifact},
        "logicalLocations": [
            {"name": finding.object_id, "kind": finding.object_type, "fullyQualifiedName": path}
        ],
    }


def _result(finding: Finding, rule_index: int, seen: dict[str, int]) -> dict[str, Any]:
    text = finding.message or finding.name
    if finding.workspace and finding.object_type != "workspace":
        text += f" (in workspace {finding.workspace})"
    if finding.store:
        text += f" (in store {finding.store})"
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": finding.severity,
        "message": {"text": f"{text} {finding.url}" if finding.url else text},
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding, seen)},
    }
    if finding.url:
        result["hostedViewerUri"] = finding.url
        result["properties"] = {"url": finding.url}
    return result


def _fingerprint(finding: Finding, seen: dict[str, int]) -> str:
    digest = hashlib.sha256(finding.fingerprint().encode("utf-8")).hexdigest()
    # Two findings with the same identity (same rule on the same object, no quoted detail in the
    # message) would otherwise collapse into one alert; number the repeats.
    count = seen.get(digest, 0)
    seen[digest] = count + 1
    return digest if count == 0 else f"{digest}:{count}"


def _base_uri(tracking_uri: str) -> dict[str, Any]:
    # No "uri": an http(s) base would turn every location into an absolute https URI again,
    # which code scanning rejects; the description says which store the paths are in.
    return {"description": {"text": f"MLflow tracking store {tracking_uri}"}}


def to_dict(report: Report) -> dict[str, Any]:
    rules = list(report.rules)
    index = {rule.code: i for i, rule in enumerate(rules)}
    for finding in report.findings:
        if finding.rule not in index:
            index[finding.rule] = len(rules)
            rules.append(_fallback_rule(finding))

    seen: dict[str, int] = {}
    results = [_result(finding, index[finding.rule], seen) for finding in report.findings]

    driver: dict[str, Any] = {"name": TOOL_NAME, "informationUri": INFORMATION_URI}
    version = _tool_version()
    if version:
        driver["version"] = version
    driver["rules"] = [_rule_descriptor(rule) for rule in rules]

    properties: dict[str, Any] = {
        "trackingUri": report.tracking_uri,
        "checked": dict(report.checked),
    }
    if report.baseline_suppressed is not None or report.baseline_fixed is not None:
        properties["baseline"] = {
            "suppressed": report.baseline_suppressed,
            "fixed": report.baseline_fixed,
        }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {URI_BASE_ID: _base_uri(report.tracking_uri)},
        "results": results,
        "properties": properties,
    }
    if report.notes:
        # Notes say what could not be checked: tool notifications, not results about objects.
        run["invocations"] = [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": note}} for note in report.notes
                ],
            }
        ]
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
