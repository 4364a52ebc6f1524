"""MLflow run-context provider: plain ``mlflow.start_run()`` gets the convention tags too.

Registered through the ``mlflow.run_context_provider`` entry point. MLflow applies providers in
order and the caller's ``tags=`` last, so the caller still wins; plugin providers come after
MLflow's own git provider, which lets these tags correct its ``mlflow.source.git.*`` under pytest.
"""

from __future__ import annotations

from .context import automatic_tags, provider_should_tag


class GuardRunContextProvider:
    """Duck-typed ``mlflow.tracking.context.RunContextProvider`` (no MLflow import needed)."""

    def in_context(self) -> bool:
        return provider_should_tag()

    def tags(self) -> dict[str, str]:
        return automatic_tags()
