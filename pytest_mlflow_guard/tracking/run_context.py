"""MLflow's plugin points, so that plain ``mlflow.start_run()`` follows the conventions too.

* ``GuardRunContextProvider`` (entry point ``mlflow.run_context_provider``): the convention tags
  on every run. MLflow applies providers in order and the caller's ``tags=`` last, so the caller
  still wins; plugin providers come after MLflow's own git provider, which lets these tags
  correct its ``mlflow.source.git.*`` under pytest.
* ``GuardExperimentProvider`` (entry point ``mlflow.default_experiment_provider``): during a
  guarded pytest session, a run started without an experiment goes to the session's experiment
  instead of "Default", whose name breaks the naming convention (MLG101).

Both are duck-typed (no MLflow import at module level: MLflow imports this module itself).
"""

from __future__ import annotations

from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.tracking import ledger, session_env
from pytest_mlflow_guard.tracking.context import automatic_tags, provider_should_tag


class GuardRunContextProvider:
    """Duck-typed ``mlflow.tracking.context.RunContextProvider``."""

    def in_context(self) -> bool:
        return provider_should_tag()

    def tags(self) -> dict[str, str]:
        from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri

        tags = redact_mapping(automatic_tags())  # marker tags included: the policy applies
        ledger.note_run(resolved_tracking_uri(None))
        return tags


class GuardExperimentProvider:
    """Duck-typed ``mlflow.tracking.default_experiment.abstract_context.DefaultExperimentProvider``.

    In the session's store the experiment id is known (exported by the session); a test that
    points MLflow at a store of its own gets the session experiment there, created on first use.
    """

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}  # tracking URI -> session experiment id there

    def in_context(self) -> bool:
        return session_env.session_id() is not None and bool(session_env.experiment_name())

    def get_experiment_id(self) -> str:
        from pytest_mlflow_guard.mlflow_io.clients import client, resolved_tracking_uri
        from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri
        from pytest_mlflow_guard.mlflow_io.writer import experiment_id_for

        uri = absolute_tracking_uri(resolved_tracking_uri(None))
        if uri == session_env.tracking_uri() and session_env.experiment_id():
            return str(session_env.experiment_id())
        if uri not in self._ids:
            name = str(session_env.experiment_name())
            self._ids[uri] = experiment_id_for(client(uri), name)[0]
        return self._ids[uri]
