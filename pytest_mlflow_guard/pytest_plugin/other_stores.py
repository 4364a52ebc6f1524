"""The gate over everything a guarded pytest session wrote: its own store and every other store a
test pointed MLflow at (``mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/...")``).

The session's ledger says which stores its runs went to (:mod:`.ledger`). Each other store is
checked for the session's runs there; a store that cannot be read any more (a temporary
directory already removed) is reported as unchecked (MLG004), never counted as a pass. No pytest;
MLflow only through :mod:`.gate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.tracking.ledger import Entry

__all__ = ["combine", "other_stores", "sweep", "unchecked_store"]

#: checks one store for the runs carrying the given tags; raises when the store is unusable
CheckStore = Callable[[str], Report]


def other_stores(entries: Iterable[Entry], session_uri: str) -> list[str]:
    """The stores besides ``session_uri`` that runs went to, in the order first seen."""
    return list(dict.fromkeys(e.tracking_uri for e in entries if e.tracking_uri != session_uri))


def sweep(uris: Iterable[str], session_id: str) -> list[str]:
    """End the session's runs left RUNNING in other stores (a test's subprocess that died) as
    KILLED; returns their ids. A store that cannot be read is left to the gate, which reports
    it: it is probed first, because opening a missing sqlite file would create one."""
    from pytest_mlflow_guard.mlflow_io.connect import probe
    from pytest_mlflow_guard.mlflow_io.session_run import SessionStore

    ended: list[str] = []
    for uri in uris:
        try:
            probe(uri)
            ended += SessionStore(uri).close_out(session_id, "KILLED", keep="").ended
        except Exception:  # reported by the gate as MLG004
            continue
    return ended


def unchecked_store(uri: str, reason: str, config: GuardConfig) -> Finding | None:
    """MLG004 on a store the session wrote runs to but that cannot be read (None: the team
    ignored MLG004)."""
    # the rule catalogue: only when a check runs
    from pytest_mlflow_guard.gate.engine import unchecked_severity

    severity = unchecked_severity(config)
    if severity is None:
        return None
    where = redact_text(uri)
    return Finding(
        rule="MLG004",
        name="unchecked",
        severity=severity,
        object_type="store",
        object_id=where,
        message=f"runs made in this session in {where} could not be checked: {reason}",
        store=where,
    )


def combine(
    main: Report,
    uris: Sequence[str],
    check: CheckStore,
    config: GuardConfig,
    describe: Callable[[BaseException], str],
) -> Report:
    """``main`` (the session store's report) with the report of every store in ``uris`` added:
    their findings marked with their store, their counts summed, a note per store."""
    findings = list(main.findings)
    checked = dict(main.checked)
    notes = list(main.notes)
    for uri in uris:
        where = redact_text(uri)
        try:
            other = check(uri)
        except Exception as exc:  # gone, unreadable, not an MLflow store: said, never passed
            finding = unchecked_store(uri, describe(exc), config)
            if finding is not None:
                findings.append(finding)
            notes.append(f"not checked: {where} ({describe(exc)})")
            continue
        findings.extend(replace(f, store=where) for f in other.findings)
        for key, count in other.checked.items():
            checked[key] = checked.get(key, 0) + count
        notes.append(f"also checked {other.checked.get('runs', 0)} run(s) in {where}")
    return replace(main, findings=findings, checked=checked, notes=notes)
