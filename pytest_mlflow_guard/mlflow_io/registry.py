"""Model lifecycle on the MLflow registry: the guide's stages, mirrored as MLflow 3 aliases.

The guide moves versions None -> Staging -> Production -> Archived. MLflow deprecated stages in
favour of aliases (``models:/name@production``), but still honours both, so every transition here
sets the stage *and* keeps a lower-case alias of the same name pointing at the version: URIs of
either style load the same model, and teams can move to aliases without a flag day.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.vocabulary import ALIASED_STAGES, STAGES, TAG_STAGE_SINCE, stage_alias

if TYPE_CHECKING:
    from mlflow import MlflowClient


class LifecycleError(GuardError, ValueError):
    """An invalid stage or transition (names the value and the valid choices)."""


def normalize_stage(stage: str) -> str:
    for known in STAGES:
        if stage.strip().lower() == known.lower():
            return known
    raise LifecycleError(f"unknown stage {stage!r}; valid stages: {', '.join(STAGES)}")


def transition(
    c: MlflowClient,
    name: str,
    version: str | int,
    stage: str,
    *,
    archive_existing: bool | None = None,
) -> Any:
    """Move ``name`` version ``version`` to ``stage`` and keep the aliases in step.

    Promoting to Production archives the versions that were there (the guide's single-production
    rule) unless ``archive_existing=False``. Returns the updated ``ModelVersion``.
    """
    target = normalize_stage(stage)
    version = str(version)
    current = c.get_model_version(name, version)
    previous = current.current_stage
    if archive_existing is None:
        archive_existing = target == "Production"
    displaced = []
    if archive_existing and target in ALIASED_STAGES:
        # MLflow's client: imported with it, when a transition runs
        from pytest_mlflow_guard.mlflow_io.versions import versions_of

        displaced = [
            v.version
            for v in versions_of(c, name, page_size=1000)
            if v.current_stage == target and str(v.version) != version
        ]
    with warnings.catch_warnings():
        # Stages are deprecated but are the guide's vocabulary; the alias kept beside each one
        # below is the supported path. One deprecation warning per call would drown real ones.
        warnings.simplefilter("ignore", FutureWarning)
        updated = c.transition_model_version_stage(
            name, version, target, archive_existing_versions=bool(displaced)
        )
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    c.set_model_version_tag(name, version, TAG_STAGE_SINCE, now)
    for old in displaced:
        c.set_model_version_tag(name, old, TAG_STAGE_SINCE, now)
    aliases = c.get_registered_model(name).aliases or {}
    if previous in ALIASED_STAGES and previous != target:
        alias = stage_alias(previous)
        if str(aliases.get(alias)) == version:
            c.delete_registered_model_alias(name, alias)
    if target in ALIASED_STAGES:
        c.set_registered_model_alias(name, stage_alias(target), version)
    return updated
