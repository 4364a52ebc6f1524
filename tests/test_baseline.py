"""Baselines: write, load, apply; fixed counts; clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.baseline import apply_baseline, load_baseline, write_baseline
from pytest_mlflow_guard.gate.findings import Finding


def finding(rule: str, object_id: str, message: str, object_type: str = "run") -> Finding:
    return Finding(
        rule=rule,
        name="x",
        severity="error",
        object_type=object_type,  # type: ignore[arg-type]
        object_id=object_id,
        message=message,
    )


COMMIT = finding("MLG201", "r1", "missing required tag 'git.commit'")
USER = finding("MLG201", "r1", "missing required tag 'os.user'")
DIRTY = finding(
    "MLG204", "r2", "tag 'git.dirty' is true: the run was made from uncommitted changes"
)
SIGNATURE = finding("MLG303", "fraud_scorer/3", "model version has no signature", "model_version")


def test_round_trip_suppresses_everything_written(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert write_baseline(path, [DIRTY, COMMIT, SIGNATURE]) == 3
    baseline = load_baseline(path)
    assert baseline.path == path
    new, suppressed, fixed = apply_baseline([COMMIT, DIRTY, SIGNATURE], baseline)
    assert (new, suppressed, fixed) == ([], 3, 0)


def test_new_findings_pass_through_in_order(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write_baseline(path, [COMMIT])
    late = finding("MLG102", "r3", "run has no name")
    new, suppressed, fixed = apply_baseline([late, COMMIT, USER], load_baseline(path))
    # the second missing tag on the same run is new: the tag name is part of the fingerprint
    assert new == [late, USER]
    assert (suppressed, fixed) == (1, 0)


def test_fixed_counts_baseline_entries_no_longer_found(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write_baseline(path, [COMMIT, USER, DIRTY, SIGNATURE])
    new, suppressed, fixed = apply_baseline([USER], load_baseline(path))
    assert (new, suppressed, fixed) == ([], 1, 3)


def test_rewording_a_message_keeps_the_match(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write_baseline(path, [COMMIT, SIGNATURE])
    reworded = [
        finding("MLG201", "r1", "required tag 'git.commit' is absent"),
        finding("MLG303", "fraud_scorer/3", "version lacks a signature", "model_version"),
    ]
    assert apply_baseline(reworded, load_baseline(path)) == ([], 2, 0)


def test_a_fingerprint_accepts_as_many_findings_as_it_was_written_for(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    write_baseline(path, [DIRTY])
    new, suppressed, fixed = apply_baseline([DIRTY, DIRTY], load_baseline(path))
    assert (new, suppressed, fixed) == ([DIRTY], 1, 0)


def test_file_is_sorted_versioned_and_stable(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "nested" / "two.json"
    write_baseline(one, [SIGNATURE, DIRTY, COMMIT])
    write_baseline(two, [COMMIT, SIGNATURE, DIRTY])
    assert one.read_text(encoding="utf-8") == two.read_text(encoding="utf-8")
    document = json.loads(one.read_text(encoding="utf-8"))
    assert document["version"] == 1
    entries = document["findings"]
    assert [entry["fingerprint"] for entry in entries] == sorted(
        entry["fingerprint"] for entry in entries
    )
    assert entries[0] == {
        "fingerprint": "MLG201|run|r1|git.commit",
        "rule": "MLG201",
        "object_type": "run",
        "object_id": "r1",
        "message": "missing required tag 'git.commit'",
    }
    assert not list(tmp_path.glob("**/.*.tmp"))  # the temporary file was renamed away


def test_empty_baseline(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert write_baseline(path, []) == 0
    assert apply_baseline([COMMIT], load_baseline(path)) == ([COMMIT], 0, 0)


def test_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="not found") as excinfo:
        load_baseline(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "'findings' list"),
        ('{"version": 1}', "'findings' list"),
        ('{"version": 1, "findings": {}}', "'findings' list"),
        ('{"version": 2, "findings": []}', "unsupported version 2"),
        ('{"findings": []}', "unsupported version None"),
        ('{"version": 1, "findings": [{"rule": "MLG201"}]}', r"findings\[0\] has no 'fingerprint'"),
        ('{"version": 1, "findings": ["MLG201|run|r1|"]}', r"findings\[0\]"),
        (
            '{"version": 1, "findings": [{"fingerprint": "a", "rule": 3}]}',
            r"findings\[0\] has a non-string field",
        ),
    ],
)
def test_malformed_file_is_a_config_error_naming_it(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=complaint) as excinfo:
        load_baseline(path)
    assert str(path) in str(excinfo.value)


def test_entries_with_only_a_fingerprint_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"version": 1, "findings": [{"fingerprint": "MLG201|run|r1|git.commit"}]}')
    assert apply_baseline([COMMIT, USER], load_baseline(path)) == ([USER], 1, 0)
