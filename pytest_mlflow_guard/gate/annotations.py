"""``check --annotate``: the check's verdict on each run, as tags the MLflow UI filters on.

``mlflow_guard.status`` is ``fail`` when the run (or a model it logged) has an error-level
finding, ``pass`` otherwise; ``mlflow_guard.findings`` lists the codes of all its findings
(warnings too) and is removed when there are none, so a run fixed since the last check loses its
stale codes. The verdict is the gate's: findings a baseline accepts do not count. Runs whose tags
already say this are not written again.

Plain core: no MLflow, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pytest_mlflow_guard.edits import Edit
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.vocabulary import STATUS_FAIL, STATUS_PASS, TAG_FINDINGS, TAG_STATUS

ANNOTATION_TAGS = (TAG_STATUS, TAG_FINDINGS)

#: a checked run's id -> its current values of ``ANNOTATION_TAGS`` (None: absent) and its
#: workspace (None on a store without workspaces)
RunAnnotations = Mapping[str, tuple[str | None, str | None, str | None]]


def annotation_edits(runs: RunAnnotations, findings: Iterable[Finding]) -> list[Edit]:
    codes: dict[str, set[str]] = {}
    failing: set[str] = set()
    for finding in findings:
        if finding.run_id is None or finding.object_type not in ("run", "logged_model"):
            continue
        codes.setdefault(finding.run_id, set()).add(finding.rule)
        if finding.severity == "error":
            failing.add(finding.run_id)
    edits = []
    for run_id, (*current, workspace) in runs.items():
        wanted = (
            STATUS_FAIL if run_id in failing else STATUS_PASS,
            ",".join(sorted(codes.get(run_id, ()))) or None,
        )
        for key, now, new in zip(ANNOTATION_TAGS, current, wanted, strict=True):
            if now != new:
                edits.append(
                    Edit("run", run_id, "tag", key, now, new, "mlflow-guard check", workspace)
                )
    return edits
