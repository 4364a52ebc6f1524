"""What the tracking-server app lets through: the gate's rules, applied to one write before it is
made.

Plain code on plain records (no MLflow, no Flask): ``server/writes.py`` turns a request into the
record the store would hold after it, this module runs the rules that can be judged at that
moment and says whether to refuse. Only the rules listed in ``WRITE_RULES`` take part: a tag
that is set later in a run's life (``model.type`` is known when the model is logged) must not
make the run impossible to create, so required tags (MLG201) and the run's reproducibility
(MLG5xx) are the gate's business, after the fact.

In ``enforce`` mode a write with an error-level finding is refused; warnings never refuse. In
``warn`` mode nothing is refused. Either way the findings a write was accepted with are tagged on
the object (``mlflow_guard.findings``) and logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import ENV_SERVER_MODE, MLFLOW_PROMPT_TAG, SERVER_MODES

__all__ = ["WRITE_RULES", "Policy", "Verdict", "server_mode"]

#: what each kind of write is judged by; MLG004 (could not be checked) always reports
WRITE_RULES: Mapping[str, frozenset[str]] = {
    "experiment": frozenset({"MLG101"}),
    "registered_model": frozenset({"MLG103"}),
    "run": frozenset({"MLG102", "MLG202", "MLG203", "MLG602"}),
    "model_version": frozenset({"MLG303", "MLG304"}),
    "stage": frozenset({"MLG401"}),
}
_UNCHECKED = "MLG004"


def server_mode(value: str | None) -> str:
    """The mode named by ``MLFLOW_GUARD_SERVER_MODE`` (``enforce`` when unset)."""
    mode = (value or "enforce").strip().lower()
    if mode not in SERVER_MODES:
        raise ConfigError(
            f"{ENV_SERVER_MODE}={value!r} is not a mode; expected one of {', '.join(SERVER_MODES)}"
        )
    return mode


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...] = ()
    refused: bool = False

    @property
    def codes(self) -> str:
        """The rule codes, comma separated, each once (the ``mlflow_guard.findings`` tag)."""
        return ",".join(dict.fromkeys(f.rule for f in self.findings))

    def message(self) -> str:
        """What the client reads: each finding with its code, name and the rule's message (which
        names the offending value and what was expected)."""
        errors = [f for f in self.findings if f.severity == "error"] if self.refused else []
        shown = errors or list(self.findings)
        # rule messages quote the offending values: a version's source URI may carry credentials
        lines = "; ".join(f"{f.rule} {f.name}: {redact_text(clean(f.message))}" for f in shown)
        head = "mlflow-guard refused this write" if self.refused else "mlflow-guard findings"
        return f"{head}: {lines}"


@dataclass
class Policy:
    config: GuardConfig
    mode: str = "enforce"

    def __post_init__(self) -> None:
        Engine(self.config)  # an unknown rule or severity fails at startup, not per request

    @property
    def needs_experiment_names(self) -> bool:
        """Whether a run's experiment name can change the verdict (per-experiment overrides)."""
        return bool(self.config.overrides)

    # --- one method per kind of write --------------------------------------------------------

    def experiment(self, name: str) -> Verdict:
        return self._judge("experiment", ExperimentRecord(experiment_id="", name=name))

    def registered_model(self, name: str, tags: Mapping[str, str]) -> Verdict:
        if str(tags.get(MLFLOW_PROMPT_TAG, "")).lower() == "true":
            return Verdict()  # a prompt of MLflow's prompt registry is not a model
        return self._judge("registered_model", RegisteredModelRecord(name=name, tags=dict(tags)))

    def run(
        self,
        experiment_name: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Verdict:
        """A run being created or written to: only what this write sets is judged (the run's
        other tags were judged when they were written)."""
        config = self.config.for_experiment(experiment_name)
        codes = set(WRITE_RULES["run"])
        if not run_name or not config.run_name_pattern:
            codes.discard("MLG102")  # names: only a pattern the team configured
        record = RunRecord(
            run_id="",
            experiment_id="",
            experiment_name=experiment_name,
            run_name=run_name,
            status="RUNNING",
            tags=dict(tags or {}),
            params=dict(params or {}),
            name_generated=False,
        )
        return self._judge("run", record, codes)

    def model_version(self, model: RegisteredModelRecord, version: ModelVersionRecord) -> Verdict:
        return self._judge(
            "model_version", replace(model, versions=(version,)), WRITE_RULES["model_version"]
        )

    def stage(self, model_after: RegisteredModelRecord) -> Verdict:
        """A stage transition, judged on the versions as they would be after it."""
        return self._judge("stage", model_after)

    # --- the engine --------------------------------------------------------------------------

    def _judge(self, kind: str, record: Record, codes: Iterable[str] | None = None) -> Verdict:
        wanted = {*(WRITE_RULES[kind] if codes is None else codes), _UNCHECKED}
        engine = Engine(self.config)
        findings = tuple(f for f in engine.check([record]) if f.rule in wanted)
        refused = self.mode == "enforce" and any(
            f.severity == "error" and f.rule != _UNCHECKED for f in findings
        )
        return Verdict(findings, refused)
