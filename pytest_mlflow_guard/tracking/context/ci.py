"""Where a CI system says the current build lives, from its standard environment variables.

Only links and ids are read, never a token; URLs still go through the redaction policy because a
Jenkins ``BUILD_URL`` can carry ``user:token@``. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import (
    CI_PROVIDER_UNKNOWN,
    TAG_CI_JOB,
    TAG_CI_PROVIDER,
    TAG_CI_RUN_URL,
)


def ci_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """``ci.provider``, ``ci.run_url`` (and ``ci.job``) for GitHub Actions, GitLab or Jenkins."""
    get = environ.get
    if get("GITHUB_ACTIONS") == "true" and get("GITHUB_RUN_ID") and get("GITHUB_REPOSITORY"):
        server = get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        url = f"{server}/{get('GITHUB_REPOSITORY')}/actions/runs/{get('GITHUB_RUN_ID')}"
        if get("GITHUB_RUN_ATTEMPT"):
            url += f"/attempts/{get('GITHUB_RUN_ATTEMPT')}"
        return _tags("github-actions", url, get("GITHUB_JOB"))
    if get("GITLAB_CI") == "true" and get("CI_PIPELINE_URL"):
        return _tags("gitlab-ci", get("CI_PIPELINE_URL", ""), get("CI_JOB_URL"))
    if get("JENKINS_URL") and get("BUILD_URL"):
        return _tags("jenkins", get("BUILD_URL", ""), get("JOB_NAME"))
    if get("CI", "").lower() in ("true", "1"):
        return {TAG_CI_PROVIDER: CI_PROVIDER_UNKNOWN}
    return {}


def _tags(provider: str, url: str, job: str | None) -> dict[str, str]:
    tags = {TAG_CI_PROVIDER: provider, TAG_CI_RUN_URL: redact_text(url)}
    if job:
        tags[TAG_CI_JOB] = redact_text(job)
    return tags


class CiProvider:
    """Only the session run gets these (a build has one session run; its test runs link to it
    as their parent)."""

    def in_context(self) -> bool:
        return True

    def tags(self, code_path: Path | None) -> dict[str, str]:
        return ci_tags(os.environ)
