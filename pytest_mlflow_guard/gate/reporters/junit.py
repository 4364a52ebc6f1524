"""JUnit XML for CI test reporters (Jenkins, GitLab, GitHub test-report actions).

One ``<testsuite name="mlflow-guard">`` holds one ``<testcase>`` per checked object, so a CI
dashboard shows "120 passed, 3 failed" in terms a reader knows: runs, experiments, models.

* ``classname`` is ``mlflow-guard.<object type>`` (Jenkins splits on the dot: package
  ``mlflow-guard``, class ``run``); ``name`` is the object's label and id.
* Each **error** finding is a ``<failure type="MLG201" message="...">``. Most readers show only
  the first ``<failure>`` of a testcase in their summary, so every failure's body is complete on
  its own (rule, message, object, link).
* **Warnings** go into the testcase's ``<system-out>``: visible in the report, but a warning must
  not fail the build.
* Findings on objects missing from ``Report.objects`` still get a (synthesized) testcase.

The suite's ``failures`` attribute counts failed testcases, as the JUnit/Ant schema defines it,
not ``<failure>`` elements (a run with three missing tags is one failed test).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import (
    ObjectGroup,
    baseline_line,
    checked_line,
    group_by_object,
    totals_line,
    type_label,
)

SUITE_NAME = "mlflow-guard"

# Characters XML 1.0 cannot carry at all, not even as character references. ElementTree escapes
# <, & and quotes but passes these through, producing a file every parser rejects; a tag value
# with a stray control byte must not break the whole CI report.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _INVALID_XML.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _where(group: ObjectGroup) -> str:
    where = f"{type_label(group.object_type)} {group.display_name}"
    if group.experiment_id and group.object_type != "experiment":
        where += f" in experiment {group.experiment_id}"
    return where + group.where


def _failure_body(finding: Finding, group: ObjectGroup) -> str:
    lines = [
        f"{finding.rule} {finding.name} ({finding.severity})",
        finding.message,
        f"object: {_where(group)}",
    ]
    if finding.run_id and finding.object_type != "run":
        lines.append(f"run: {finding.run_id}")
    if finding.url:
        lines.append(f"url: {finding.url}")
    return "\n".join(lines)


def _testcase_name(group: ObjectGroup) -> str:
    if not group.label or group.label == group.object_id:
        return group.object_id
    return f"{group.label} ({group.object_id})"


def _testcase(parent: ET.Element, group: ObjectGroup) -> bool:
    """Append the group's testcase; True when it failed (has at least one error)."""
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": _xml_text(f"{SUITE_NAME}.{group.object_type}"),
            "name": _xml_text(_testcase_name(group)),
            "time": "0",
        },
    )
    errors = [f for f in group.findings if f.severity == "error"]
    warnings = [f for f in group.findings if f.severity != "error"]
    for finding in errors:
        failure = ET.SubElement(
            case,
            "failure",
            {"type": _xml_text(finding.rule), "message": _xml_text(finding.message)},
        )
        failure.text = _xml_text(_failure_body(finding, group))
    if warnings:
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text("\n\n".join(_failure_body(f, group) for f in warnings))
    return bool(errors)


def render(report: Report) -> str:
    groups = group_by_object(report.findings, report.objects)
    root = ET.Element("testsuites", {"name": SUITE_NAME})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME})

    properties = ET.SubElement(suite, "properties")
    ET.SubElement(
        properties, "property", {"name": "tracking_uri", "value": _xml_text(report.tracking_uri)}
    )

    failed = sum(_testcase(suite, group) for group in groups)

    summary_lines = [totals_line(report), checked_line(report)]
    baseline = baseline_line(report)
    if baseline:
        summary_lines.append(baseline)
    summary_lines.extend(f"note: {note}" for note in report.notes)
    suite_out = ET.SubElement(suite, "system-out")
    suite_out.text = _xml_text("\n".join(summary_lines))

    counts = {
        "tests": str(len(groups)),
        "failures": str(failed),
        "errors": "0",  # JUnit "errors" means the test itself crashed; the audit never does that
        "skipped": "0",
        "time": "0",
    }
    suite.attrib.update(counts)
    root.attrib.update({k: v for k, v in counts.items() if k != "skipped"})

    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
