"""Tag rules (MLG2xx): the tags every run must carry, and what their values may be."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pytest_mlflow_guard.gate.rules.base import Rule, RuleContext, shorten, tag_value
from pytest_mlflow_guard.records import RunRecord
from pytest_mlflow_guard.vocabulary import TAG_GIT_COMMIT, TAG_GIT_DIRTY

#: A full git object name: SHA-1 (40 hex digits) or SHA-256 (64 hex digits).
FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


class RequiredTag(Rule[RunRecord]):
    """Every run carries each of the team's required tags, with a non-empty value.

    Why:
    Tags such as `git.commit`, `os.user`, `source.type`, `model.type` and `run.mode` are what
    lets anyone filter the run table, attribute a result to a person and to code, and tell a
    training run from a quick validation. A run missing them is a result nobody can trace.
    Each missing tag is reported separately, so fixing one does not hide the others.

    Anti-pattern:
        with mlflow.start_run(run_name="xgb-baseline"):
            mlflow.log_metric("auc", 0.91)  # no tags at all

    Fix:
    Set the tags when the run starts (the guard's tracker fills most of them in for you), or
    adjust `required-tags` in `[tool.mlflow-guard]` if the team's list differs:
        mlflow.start_run(run_name="xgb-baseline", tags={"run.mode": "training", ...})
    """

    code = "MLG201"
    name = "required-tag"
    default_severity = "error"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        for tag in ctx.config.required_tags:
            if not tag_value(obj.tags, tag):
                yield f"missing required tag '{tag}'"


class TagValue(Rule[RunRecord]):
    """Tags with a fixed vocabulary use one of its values.

    Why:
    Tags like `run.mode` or `source.type` are only useful for filtering if everybody spells
    them the same way: `train`, `Training` and `training` split one query into three. The
    allowed values live in `allowed-values` in `[tool.mlflow-guard]`. A tag that is absent is
    reported by `required-tag` (MLG201), not here.

    Anti-pattern:
        mlflow.set_tag("run.mode", "train")

    Fix:
    Use one of the configured values (`mlflow-guard rules` and the config list them):
        mlflow.set_tag("run.mode", "training")
    """

    code = "MLG202"
    name = "tag-value"
    default_severity = "error"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        for tag, allowed in ctx.config.allowed_values.items():
            value = obj.tags.get(tag)
            # absent or blank: MLG201's business when the tag is required, nobody's otherwise
            if value is None or not value.strip() or value in allowed:
                continue
            yield f"tag '{tag}' has value {shorten(value)!r}; allowed: {', '.join(allowed)}"


class GitCommit(Rule[RunRecord]):
    """The `git.commit` tag, when present, is a full commit SHA.

    Why:
    The commit is how a result is tied back to the exact code that produced it. Abbreviated
    hashes become ambiguous as a repository grows, and values such as `HEAD`, `main` or a hash
    with a trailing newline cannot be checked out at all.

    Anti-pattern:
        mlflow.set_tag("git.commit", "a1b2c3d")  # short hash
        mlflow.set_tag("git.commit", subprocess.check_output(["git", "rev-parse", "HEAD"]).decode())

    Fix:
    Record the full 40-character (SHA-1) or 64-character (SHA-256) hash, stripped:
        sha = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
        mlflow.set_tag("git.commit", sha)
    """

    code = "MLG203"
    name = "git-commit"
    default_severity = "error"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        value = obj.tags.get(TAG_GIT_COMMIT)
        if value is None or not value.strip():
            return  # a missing commit is MLG201's finding
        if not FULL_SHA.fullmatch(value):
            yield (
                f"tag {TAG_GIT_COMMIT!r} value {shorten(value)!r} is not a full 40- or "
                "64-character hex SHA"
            )


class DirtyTree(Rule[RunRecord]):
    """The run was not made from a working tree with uncommitted changes.

    Why:
    `git.commit` only identifies the code if the working tree matched that commit. With
    uncommitted edits (`git.dirty` = `true`) the result depends on changes that exist on one
    laptop only, and checking out the commit will not reproduce it.

    Anti-pattern:
        # edit train.py, do not commit, then:
        python train.py  # tagged git.dirty=true

    Fix:
    Commit (or stash) the changes before a run whose result matters, then run again. For
    exploratory work, log to an experiment where this rule is relaxed through `overrides`.
    """

    code = "MLG204"
    name = "dirty-tree"
    default_severity = "warning"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        if tag_value(obj.tags, TAG_GIT_DIRTY).lower() == "true":
            yield "tag 'git.dirty' is true: the run was made from uncommitted changes"


RULES = (RequiredTag(), TagValue(), GitCommit(), DirtyTree())
