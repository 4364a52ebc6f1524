"""Every name the guard reads or writes, in one place (as MLflow keeps its own in
``mlflow/utils/mlflow_tags.py``): tag and metric names, environment variables, sentinel values,
run modes, object types and severities.

A name the team's guide fixes (``os.user``, ``run.mode``...) is spelled here and nowhere else in
the package; everything else imports it. Standard library only: the pytest plugin, the rules and
the MLflow-facing code all read this module.
"""

from __future__ import annotations

import re
from typing import Literal

# ------------------------------------------------------------------ the guide's run tags
TAG_USER = "os.user"
TAG_GIT_COMMIT = "git.commit"
TAG_GIT_BRANCH = "git.branch"
TAG_GIT_DIRTY = "git.dirty"
TAG_GIT_REMOTE = "git.remote"
TAG_SOURCE_TYPE = "source.type"
TAG_SOURCE_COMMAND = "source.command"
TAG_SOURCE_WORKDIR = "source.workdir"
TAG_RUN_MODE = "run.mode"
TAG_MODEL_TYPE = "model.type"

#: what a run that logged a model records of its interpreter (beside ``environment/``)
TAG_PYTHON_VERSION = "python.version"
TAG_PLATFORM = "platform"

#: the tags every run must carry unless ``required-tags`` says otherwise
REQUIRED_TAGS = (TAG_USER, TAG_GIT_COMMIT, TAG_SOURCE_TYPE, TAG_MODEL_TYPE, TAG_RUN_MODE)

# ------------------------------------------------------------------ values of those tags
RUN_MODE_TRAINING = "training"
RUN_MODE_VALIDATION = "validation"
RUN_MODE_INFERENCE = "inference"
RUN_MODES = (RUN_MODE_TRAINING, RUN_MODE_VALIDATION, RUN_MODE_INFERENCE)

SOURCE_TYPE_SCRIPT = "script"
SOURCE_TYPE_NOTEBOOK = "notebook"
SOURCE_TYPE_PYTEST = "pytest"
SOURCE_TYPES = (SOURCE_TYPE_SCRIPT, SOURCE_TYPE_NOTEBOOK, SOURCE_TYPE_PYTEST)

#: ``model.type`` of a run that logged no model (the tag is required on every run)
MODEL_TYPE_NONE = "none"

# ------------------------------------------------------------------ CI and tests
TAG_CI_PROVIDER = "ci.provider"
TAG_CI_RUN_URL = "ci.run_url"
TAG_CI_JOB = "ci.job"
CI_PROVIDER_UNKNOWN = "unknown"

TAG_TEST_NODEID = "test.nodeid"
TAG_TEST_OUTCOME = "test.outcome"
TAG_TEST_DURATION = "test.duration_seconds"
TAG_PYTEST_ROOTDIR = "pytest.rootdir"
TAG_PYTEST_ARGS = "pytest.args"
TAG_PYTEST_OUTCOME = "pytest.outcome"

#: pytest's outcome counts, logged on the session run as ``tests.<key>`` metrics
TEST_COUNT_KEYS = ("passed", "failed", "skipped", "errors", "xfailed", "xpassed")
METRIC_TESTS_PREFIX = "tests."
METRIC_TESTS_DURATION = "tests.duration_seconds"
METRIC_GUARD_ERRORS = "mlflow_guard.errors"
METRIC_GUARD_WARNINGS = "mlflow_guard.warnings"

# ------------------------------------------------------------------ the guard's own tags
#: id of the guarded pytest session a run was made in
TAG_SESSION = "mlflow_guard.session"
#: exempts a run, logged model, model version or registered model from some rule codes (comma
#: separated codes or names); ``TAG_IGNORE_REASON`` says why
TAG_IGNORE = "mlflow_guard.ignore"
TAG_IGNORE_REASON = "mlflow_guard.ignore_reason"
#: when a version entered its stage (ISO-8601 UTC), set by the lifecycle helpers: MLflow only
#: keeps ``last_updated_timestamp``, which any description edit also moves
TAG_STAGE_SINCE = "mlflow_guard.stage_since"
#: a run the tracker refused and could not delete (left behind, marked)
TAG_DISCARDED = "mlflow_guard.discarded"
#: on a replay: the run it reproduces
TAG_REPRODUCTION_OF = "reproduction.of"
#: set by the tracking-server app in warn mode (the rule codes a write was accepted with), and by
#: ``check --annotate`` (the codes of the run's findings in the last check)
TAG_FINDINGS = "mlflow_guard.findings"
#: ``check --annotate``: ``pass`` or ``fail`` (an error-level finding) on each checked run, and
#: ``TAG_FINDINGS`` the comma-separated rule codes of its findings (removed when it has none)
TAG_STATUS = "mlflow_guard.status"
STATUS_PASS, STATUS_FAIL = "pass", "fail"
#: ``fix --apply``: on every object it changed, what it filled and when
TAG_FIXED_BY = "mlflow_guard.fixed_by"
#: prefix of the registered-model tags holding the audit trail of stage and alias changes
#: (one tag per change: ``mlflow_guard.audit.<ms>.<nn>.<random>``, a JSON object)
TAG_AUDIT_PREFIX = "mlflow_guard.audit."
#: on the runs the ``reproducible`` marker makes: "1/2", and one id shared by the repetitions
TAG_REPEAT = "reproducible.repeat"
TAG_REPEAT_GROUP = "reproducible.group"

# ------------------------------------------------------------------ the registry's lifecycle
#: the guide's stages, in lifecycle order (MLflow's own spelling)
STAGES = ("None", "Staging", "Production", "Archived")
#: stages that have an alias of their own (the stage's name, lower-cased: ``@staging``,
#: ``@production``); "None" and "Archived" are where a version rests
ALIASED_STAGES = ("Staging", "Production")


def stage_alias(stage: str) -> str:
    """The alias that mirrors ``stage`` (``Production`` -> ``production``)."""
    return stage.lower()


# ------------------------------------------------------------------ MLflow's own tags
MLFLOW_RUN_NAME = "mlflow.runName"
#: who and what MLflow's own context providers say started a run (``fix`` derives the team's
#: ``os.user`` and ``source.type`` from them)
MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
#: MLflow's ``mlflow.source.type`` values (``SourceType``) and the team's ``source.type`` each
#: one means; JOB and UNKNOWN say nothing about how the code ran
MLFLOW_SOURCE_TYPES = {
    "LOCAL": SOURCE_TYPE_SCRIPT,
    "PROJECT": SOURCE_TYPE_SCRIPT,
    "NOTEBOOK": SOURCE_TYPE_NOTEBOOK,
}
#: the generic flavour every MLflow model has besides its own: it names no model type
MLFLOW_PYFUNC_FLAVOR = "python_function"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
# MLflow's git tags: its detection follows sys.argv[0], so under pytest it is wrong or empty
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
#: marks a registered model that is a prompt of MLflow's prompt registry (not a model)
MLFLOW_PROMPT_TAG = "mlflow.prompt.is_prompt"

# ------------------------------------------------------------------ environment variables
# MLflow's
ENV_MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_MLFLOW_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
ENV_MLFLOW_EXPERIMENT_ID = "MLFLOW_EXPERIMENT_ID"
ENV_MLFLOW_RUN_ID = "MLFLOW_RUN_ID"

# the plugin's options (each also has an ini key and a flag: see pytest_plugin/options.py)
ENV_GUARD = "MLFLOW_GUARD"
ENV_MODE = "MLFLOW_GUARD_MODE"
ENV_EXPERIMENT = "MLFLOW_GUARD_EXPERIMENT"
ENV_SCOPE = "MLFLOW_GUARD_SCOPE"
ENV_BASELINE = "MLFLOW_GUARD_BASELINE"
ENV_ISOLATED = "MLFLOW_GUARD_ISOLATED"
ENV_TEST_FINDINGS = "MLFLOW_GUARD_TEST_FINDINGS"
ENV_CONFIG = "MLFLOW_GUARD_CONFIG"
#: the tracking-server app's mode: ``enforce`` (refuse) or ``warn`` (accept and tag)
ENV_SERVER_MODE = "MLFLOW_GUARD_SERVER_MODE"
SERVER_MODES = ("enforce", "warn")

# how a guarded session reaches every process that makes runs (tracking/session_env.py)
#: id of the guarded pytest session; runs made while it is set get ``TAG_SESSION``
ENV_SESSION_ID = "MLFLOW_GUARD_SESSION_ID"
#: run id of the session run, the parent of the runs the fixtures and markers start
ENV_SESSION_RUN_ID = "MLFLOW_GUARD_SESSION_RUN_ID"
#: a file every process appends a line to when it starts a run: tells teardown "look for runs"
ENV_LEDGER = "MLFLOW_GUARD_LEDGER"
#: the session's store (absolute), and the experiment that runs without one go to there
ENV_TRACKING_URI = "MLFLOW_GUARD_TRACKING_URI"
ENV_EXPERIMENT_NAME = "MLFLOW_GUARD_EXPERIMENT_NAME"
ENV_EXPERIMENT_ID = "MLFLOW_GUARD_EXPERIMENT_ID"
#: JSON object of extra tags for runs made by the current test (from its ``mlflow_guard`` marker)
ENV_TEST_TAGS = "MLFLOW_GUARD_TEST_TAGS"
#: set by ``mlflow-guard reproduce`` for the replayed command: the run it reproduces
ENV_REPRODUCTION_OF = "MLFLOW_GUARD_REPRODUCTION_OF"

# ------------------------------------------------------------------ the gate's words
ObjectType = Literal[
    "experiment", "run", "logged_model", "registered_model", "model_version", "store", "workspace"
]
#: every object type, in the order reports list them: the hierarchy a reader walks down
OBJECT_TYPES: tuple[ObjectType, ...] = (
    "store",
    "workspace",
    "experiment",
    "run",
    "logged_model",
    "registered_model",
    "model_version",
)
#: the types a rule can check (a store or a workspace is only ever unchecked)
RULE_KINDS: tuple[ObjectType, ...] = OBJECT_TYPES[2:]
#: ``Report.checked`` keys (how many objects of each kind were checked), in report order
CHECKED_KEYS = ("experiments", "runs", "logged_models", "registered_models", "model_versions")

Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")
#: what a rule's level may be set to in the config: a severity, or off
LEVELS = (*SEVERITIES, "off")

#: ``mlflow-guard check --reader`` / ``reader`` in the config: how the store is read
READERS = ("auto", "api", "sql")

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

#: what MLflow accepts as a workspace name (``WorkspaceNameValidator``, MLflow 3.10+)
WORKSPACE_NAME = re.compile(r"^[a-z0-9][-a-z0-9]{0,61}[a-z0-9]$")
