"""``ExperimentTracker``: the team guide's API over MLflow, with the conventions applied for you.

Validation happens before any write, so a refused name or value leaves the store untouched. MLflow
itself is only imported (via ``mlflow_io``) when a run actually starts.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_mlflow_guard import interrupts
from pytest_mlflow_guard.config import GuardConfig, load_config
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import ArgumentError, ConventionError, GuardError
from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.tracking import arguments, context, conventions, environment, ledger
from pytest_mlflow_guard.vocabulary import (
    MLFLOW_PARENT_RUN_ID,
    MODEL_TYPE_NONE,
    RUN_MODE_TRAINING,
    RUN_MODES,
    TAG_MODEL_TYPE,
    TAG_RUN_MODE,
)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``."""
    return arguments.flatten("params", values, prefix)


class ExperimentTracker:
    """Track runs of one experiment the way the team guide prescribes.

    ``experiment_name`` must follow ``{project}/{module}`` (MLG101). ``tracking_uri`` defaults to
    MLflow's own resolution: ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working
    directory (MLflow 3). An explicit URI is also made MLflow's current one, so ``mlflow.*``
    calls inside ``start_run`` land in the same store.
    """

    def __init__(
        self,
        experiment_name: str,
        tracking_uri: str | None = None,
        *,
        registry_uri: str | None = None,
        run_mode: str = RUN_MODE_TRAINING,
        model_type: str | None = None,
        initial_stage: str | None = "Staging",
        config: GuardConfig | None = None,
        code_path: str | Path | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        base = config if config is not None else load_config()
        if arguments.optional_str("ExperimentTracker(tracking_uri=...)", tracking_uri):
            from pytest_mlflow_guard.mlflow_io.connect import check_uri

            check_uri("ExperimentTracker(tracking_uri=...)", str(tracking_uri))
        self.experiment_name = conventions.check_experiment_name(experiment_name, base)
        # what the gate applies to this experiment's runs: overrides matching its name included
        self.config = base.for_experiment(self.experiment_name)
        self.run_mode = self._check_run_mode(run_mode)
        self._tracking_uri = tracking_uri
        self._registry_uri = registry_uri
        self.model_type = model_type
        self.initial_stage = initial_stage
        self.code_path = Path(code_path) if code_path is not None else None
        # tags every run of this tracker starts with (the pytest fixture puts the session's here)
        self.default_tags = arguments.tag_values("ExperimentTracker(tags=...)", tags)
        self._client: Any = None
        self._run_id: str | None = None
        # (model name, version, model created by this run) registered by the open run, so a
        # refused run can roll back what it registered
        self._versions: list[tuple[str, str, bool]] = []

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``MlflowClient`` this tracker writes with (created on first use)."""
        if self._client is None:
            from pytest_mlflow_guard.mlflow_io import clients

            self._client = clients.client(self._tracking_uri, self._registry_uri)
        return self._client

    @property
    def tracking_uri(self) -> str:
        from pytest_mlflow_guard.mlflow_io import clients

        return clients.resolved_tracking_uri(self._tracking_uri)

    @property
    def run_id(self) -> str | None:
        """Id of the run started by ``start_run`` that is still open, if any."""
        return self._run_id

    def _check_run_mode(self, mode: object) -> str:
        if not isinstance(mode, str):
            raise ArgumentError(f"run_mode={mode!r}: expected a string")
        allowed = self.config.allowed_values.get(TAG_RUN_MODE, RUN_MODES)
        if mode not in allowed:
            raise ConventionError(
                "MLG202", "tag-value", mode, f"{TAG_RUN_MODE} in {', '.join(allowed)}"
            )
        return mode

    def _repo_root(self) -> Path | None:
        info = context.find_git(self.code_path)
        return info.root if info is not None else None

    def _require_run(self, what: str) -> str:
        if self._run_id is None:
            raise GuardError(
                f"{what} needs an active run: call it inside `with tracker.start_run():`"
            )
        return self._run_id

    # -- runs -------------------------------------------------------------------------------
    def build_tags(
        self, tags: Mapping[str, Any] | None = None, run_mode: str | None = None
    ) -> dict[str, str]:
        """Automatic tags, then tracker defaults, then the caller's tags (which win)."""
        merged = context.automatic_tags(self.code_path)
        merged[TAG_RUN_MODE] = run_mode or self.run_mode
        if self.model_type:
            merged[TAG_MODEL_TYPE] = self.model_type
        merged.update(self.default_tags)
        merged.update(arguments.tag_values("tags", tags))
        merged = redact_mapping(merged)  # a secret-looking tag keeps its name, not its value
        conventions.check_tag_values(merged, self.config)
        conventions.check_lengths(merged, conventions.MAX_TAG_VALUE_LENGTH, "tag")
        return merged

    @contextmanager
    def start_run(
        self,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        run_mode: str | None = None,
        nested: bool | None = None,
        description: str | None = None,
    ) -> Iterator[Any]:
        """Start a run tagged with the conventions; yields MLflow's ``ActiveRun``.

        The run ends FINISHED, or FAILED (KILLED on Ctrl-C) when the block raises; the exception
        propagates. A ``ConventionError`` from inside the block rolls the attempt back instead
        (versions it registered, logged models, the run, an experiment made for it): a refused
        attempt would only fail the gate, and a version left pointing at it would mislead.

        ``nested`` defaults to "when another run is active": then the new run is its child.
        """
        from pytest_mlflow_guard.mlflow_io import writer

        # every argument is checked before anything is written
        arguments.optional_str("start_run(run_name=...)", run_name)
        arguments.optional_str("start_run(description=...)", description)
        if nested is not None and not isinstance(nested, bool):
            raise ArgumentError(f"start_run(nested={nested!r}): expected True, False or None")
        if run_mode is not None:
            self._check_run_mode(run_mode)
        if run_name is None:
            run_name = f"{datetime.now():%Y%m%d-%H%M%S}_{context.current_user()}"
        conventions.check_run_name(run_name, self.config)
        merged = self.build_tags(tags, run_mode)
        if nested is None:  # inside another run (say the mlflow_run fixture's): become its child
            nested = writer.has_active_run()
        if nested:
            merged.pop(MLFLOW_PARENT_RUN_ID, None)  # MLflow sets it to the enclosing run
        experiment = writer.use_experiment(self.client, self.experiment_name)
        try:
            with context.tags_supplied():
                run = writer.start_fluent_run(
                    self._tracking_uri, experiment.experiment_id, run_name, merged, nested,
                    description,
                )  # fmt: skip
        except BaseException:
            # e.g. another run is active and nested=False: leave no empty experiment behind
            writer.discard_experiment_if_empty(self.client, experiment)
            raise
        ledger.note_run(self.tracking_uri)
        outer = self._run_id, self._versions
        self._run_id, self._versions = run.info.run_id, []
        try:
            yield run
        except ConventionError:
            writer.end_run("FAILED")
            try:
                with interrupts.deferred():  # a roll-back cut in half leaves half an attempt
                    writer.discard_run(self.client, run.info.run_id, experiment, self._versions)
            except Exception as exc:  # the refusal is the news; a failed clean-up must not hide it
                warnings.warn(
                    f"could not roll back refused run {run.info.run_id} (left FAILED): "
                    f"{clean(exc)}",
                    stacklevel=3,
                )
            raise
        except (KeyboardInterrupt, SystemExit):
            writer.end_run("KILLED")
            raise
        except BaseException:
            writer.end_run("FAILED")
            raise
        else:
            writer.end_run("FINISHED")
            self._announce(run)
        finally:
            self._run_id, self._versions = outer

    def _announce(self, run: Any) -> None:
        """MLflow's own "View run" line (which it prints for a server store, credentials of the
        tracking URI included), printed without them."""
        from pytest_mlflow_guard.mlflow_io import links

        base = links.ui_url_for(self.tracking_uri, self.config.ui_url)
        if base is not None and self.tracking_uri.partition("://")[0].lower() in ("http", "https"):
            url = links.run_url(base, run.info.experiment_id, run.info.run_id)
            print(f"🏃 View run {clean(run.info.run_name or run.info.run_id)} at: {url}")

    # -- logging ----------------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log (nested) params in as few requests as MLflow's batch limit allows.

        Values at or over MLflow's 6000-character limit are refused with MLG602, never cut.
        """
        from pytest_mlflow_guard.mlflow_io import writer

        run_id = self._require_run("log_params")
        flat = {arguments.check_key("param", k): str(v) for k, v in flatten(params).items()}
        flat = redact_mapping(flat)  # a param called db.password is recorded as "***"
        conventions.check_lengths(flat, conventions.MAX_PARAM_VALUE_LENGTH, "param")
        writer.log_params(self.client, run_id, flat)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        from pytest_mlflow_guard.mlflow_io import writer

        run_id = self._require_run("log_metrics")
        values = arguments.metric_values("metrics", metrics)
        step = arguments.step_value(step)
        writer.log_metrics(self.client, run_id, values, step, int(time.time() * 1000))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from pytest_mlflow_guard.mlflow_io import writer

        run_id = self._require_run("set_tags")
        values = redact_mapping(arguments.tag_values("tags", tags))
        conventions.check_tag_values(values, self.config)
        conventions.check_lengths(values, conventions.MAX_TAG_VALUE_LENGTH, "tag")
        writer.set_tags(self.client, run_id, values)

    def log_environment(self) -> dict[str, str]:
        """Log ``environment/requirements.txt`` (exact pins) and ``environment/python.json``.

        Also tags the run with ``python.version`` and ``platform``. Returns the Python facts.
        """
        from pytest_mlflow_guard.mlflow_io import writer

        run_id = self._require_run("log_environment")
        files, tags = environment.payload(self._repo_root())
        writer.log_text_files(self.client, run_id, files, "environment")
        writer.set_tags(self.client, run_id, tags)
        return environment.python_info()

    def log_model(
        self,
        model: Any,
        artifact_path: str | None = None,
        *,
        name: str | None = None,
        input_example: Any = None,
        signature: Any = None,
        registered_model_name: str | None = None,
        stage: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Log ``model`` with a signature, register it and move it to the initial stage.

        scikit-learn models use MLflow's sklearn flavour (skops format); anything else with a
        ``predict`` method is wrapped as a pyfunc model. The signature is inferred from
        ``input_example`` when not given. Returns MLflow's ``ModelInfo``.
        """
        from pytest_mlflow_guard.mlflow_io import registry, writer

        arguments.optional_str("log_model(artifact_path=...)", artifact_path)
        arguments.optional_str("log_model(name=...)", name)
        if registered_model_name is not None:
            conventions.check_registered_model_name(registered_model_name, self.config)
        target_stage = stage if stage is not None else self.initial_stage
        if target_stage is not None:
            target_stage = registry.normalize_stage(target_stage)
        if artifact_path and name and artifact_path != name:
            raise GuardError(f"give either artifact_path={artifact_path!r} or name={name!r}")
        if not writer.is_sklearn(model) and not callable(getattr(model, "predict", None)):
            raise GuardError(f"cannot log a {type(model).__name__}: it has no predict() method")
        run_id = self._require_run("log_model")
        if signature is None and input_example is not None:
            signature = writer.infer_signature(model, input_example)
        model_is_new = registered_model_name is not None and not writer.registered_model_exists(
            self.client, registered_model_name
        )
        # Before logging: registering the model is part of logging it, and the version's run
        # must already say what it holds (a guarded tracking server judges the run right then).
        # "none" is what a run that has not logged a model says (set by the pytest fixture).
        run_tags = self.client.get_run(run_id).data.tags
        if run_tags.get(TAG_MODEL_TYPE) in (None, "", MODEL_TYPE_NONE):
            writer.set_tags(self.client, run_id, {TAG_MODEL_TYPE: type(model).__name__})
        info = writer.log_model(
            model,
            name or artifact_path or "model",
            signature,
            input_example,
            registered_model_name,
            kwargs,
        )
        version = getattr(info, "registered_model_version", None)
        if registered_model_name and version is not None:
            self._versions.append((registered_model_name, str(version), model_is_new))
        if registered_model_name and version is not None and target_stage not in (None, "None"):
            registry.transition(self.client, registered_model_name, version, target_stage)
        return info

    # -- lifecycle --------------------------------------------------------------------------
    def transition_stage(self, name: str, version: str | int, stage: str) -> Any:
        """Move a registered version to None/Staging/Production/Archived (aliases follow)."""
        from pytest_mlflow_guard.mlflow_io import registry

        return registry.transition(self.client, name, version, stage)

    def promote(self, name: str, version: str | int) -> Any:
        """Put a version into Production and archive the one that was there."""
        return self.transition_stage(name, version, "Production")
