"""The plugin's options as data, and their resolution: command line > environment > ini > default.

``plugin.py`` registers one ``mlflow-guard`` option group from ``OPTIONS`` and hands the raw
values here; what comes back says, for every setting, which of the three places it came from, so
the report header can show it (like pytest-django does for its settings). No pytest, no MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlflow_guard.config import GuardConfig, _read_toml
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.vocabulary import (
    ENV_BASELINE,
    ENV_CONFIG,
    ENV_EXPERIMENT,
    ENV_GUARD,
    ENV_ISOLATED,
    ENV_MLFLOW_TRACKING_URI,
    ENV_MODE,
    ENV_SCOPE,
    ENV_TEST_FINDINGS,
)

MODES = ("enforce", "warn", "off")
SCOPES = ("session", "experiment", "all")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Option:
    dest: str  # attribute name of the setting
    flag: str  # command-line flag
    ini: str  # key in [tool.pytest.ini_options] / pytest.ini
    env: str | None  # environment override, None when one makes no sense
    kind: str  # "bool", "str", "choice" or "list"
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None


OPTIONS: tuple[Option, ...] = (
    Option(
        "enabled",
        "--mlflow-guard",
        "mlflow_guard",
        ENV_GUARD,
        "bool",
        "switch the guard on: a session run and the convention gate",
        default=False,
    ),
    Option(
        "mode",
        "--mlflow-guard-mode",
        "mlflow_guard_mode",
        ENV_MODE,
        "choice",
        "enforce: findings fail the build; warn: report only; off: track, check nothing",
        MODES,
        "enforce",
    ),
    Option(
        "tracking_uri",
        "--mlflow-guard-tracking-uri",
        "mlflow_guard_tracking_uri",
        ENV_MLFLOW_TRACKING_URI,
        "str",
        "tracking store for the session (default: MLflow's own, sqlite:///mlflow.db)",
    ),
    Option(
        "experiment",
        "--mlflow-guard-experiment",
        "mlflow_guard_experiment",
        ENV_EXPERIMENT,
        "str",
        "experiment of the session run and of the fixtures' runs (default: PROJECT/tests)",
    ),
    Option(
        "scope",
        "--mlflow-guard-scope",
        "mlflow_guard_scope",
        ENV_SCOPE,
        "choice",
        "what the gate checks: runs this session made, its experiments, or all",
        SCOPES,
        "session",
    ),
    Option(
        "reports",
        "--mlflow-guard-report",
        "mlflow_guard_report",
        None,
        "list",
        "write the gate report as FORMAT:PATH (a format of mlflow-guard check); repeatable",
        default=(),
    ),
    Option(
        "baseline",
        "--mlflow-guard-baseline",
        "mlflow_guard_baseline",
        ENV_BASELINE,
        "str",
        "baseline file of accepted findings",
    ),
    Option(
        "isolated",
        "--mlflow-guard-isolated",
        "mlflow_guard_isolated",
        ENV_ISOLATED,
        "bool",
        "use a fresh throwaway sqlite store for this session (unit tests)",
        default=False,
    ),
    Option(
        "test_findings",
        "--mlflow-guard-test-findings",
        "mlflow_guard_test_findings",
        ENV_TEST_FINDINGS,
        "bool",
        "also report findings on the test that created the run, as a teardown error",
        default=True,
    ),
    Option(
        "config",
        "--mlflow-guard-config",
        "mlflow_guard_config",
        ENV_CONFIG,
        "str",
        "file holding [tool.mlflow-guard] (default: the nearest pyproject.toml)",
    ),
)


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    mode: str = "enforce"
    tracking_uri: str | None = None
    experiment: str | None = None
    scope: str = "session"
    reports: tuple[tuple[str, str], ...] = ()  # (format, path)
    baseline: str | None = None
    isolated: bool = False
    test_findings: bool = True
    config: str | None = None
    #: where each setting came from: "cli", "env NAME", "ini", or "default"
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def gate_on(self) -> bool:
        return self.enabled and self.mode != "off"


def _parse(option: Option, raw: Any, where: str) -> Any:
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{where}: {raw!r} is not a boolean (true/false)")
    if option.kind == "choice":
        value = str(raw).strip().lower()
        if value not in option.choices:
            raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(option.choices)}")
        return value
    if option.kind == "list":
        items = [raw] if isinstance(raw, str) else list(raw)
        return tuple(_report_target(str(item), where) for item in items if str(item).strip())
    value = str(raw).strip()
    if value and option.dest == "tracking_uri":
        from pytest_mlflow_guard.mlflow_io.connect import check_uri

        check_uri(where, value)
    return value or None


def _report_target(item: str, where: str) -> tuple[str, str]:
    from pytest_mlflow_guard.gate.reporters import FORMATS

    fmt, sep, path = item.strip().partition(":")
    if not sep or not path or fmt not in FORMATS:
        raise ConfigError(
            f"{where}: {item!r} is not FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}"
        )
    return fmt, path


def resolve(
    cli: Mapping[str, Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str],
) -> Settings:
    """Settings from the command-line values (``None``/empty when not given), the ini reader
    (returns ``None``/empty when unset) and the environment. Raises ``ConfigError`` naming the
    flag, variable or key and the offending value."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        candidates: Sequence[tuple[str, str, Any]] = (
            ("cli", option.flag, cli.get(option.dest)),
            (
                f"env {option.env}",
                f"environment variable {option.env}",
                environ.get(option.env) if option.env else None,
            ),
            ("ini", f"ini option {option.ini}", ini(option.ini)),
        )
        for source, where, raw in candidates:
            if raw is None or raw == [] or raw == ():
                continue
            if isinstance(raw, str) and not raw.strip() and option.kind != "bool":
                continue
            values[option.dest] = _parse(option, raw, where)
            sources[option.dest] = source
            break
        else:
            values[option.dest] = option.default
            sources[option.dest] = "default"
    return Settings(**values, sources=sources)


SESSION_MODULE = "tests"


def default_experiment(rootpath: Path, config: GuardConfig) -> str:
    """``<project>/tests``: the project is the prefix of the first scope glob (``mushroom/*``),
    else the ``[project] name`` of the rootdir's pyproject.toml, else the rootdir's name."""
    project = ""
    for glob in config.scope.experiments:
        head = glob.split("/", 1)[0]
        if head and not any(c in head for c in "*?["):
            project = head
            break
    if not project:
        pyproject = rootpath / "pyproject.toml"
        if pyproject.is_file():
            try:
                project = str(_read_toml(pyproject).get("project", {}).get("name", ""))
            except ConfigError:
                project = ""
    project = project or rootpath.name
    slug = "".join(c if c.isalnum() or c in "_-" else "-" for c in project.lower()).strip("-_")
    return f"{slug or 'project'}/{SESSION_MODULE}"


def header_line(settings: Settings, tracking_uri: str, experiment: str) -> str:
    """``mlflow-guard: mode=enforce (ini), tracking=... (env MLFLOW_TRACKING_URI), ...``"""
    from pytest_mlflow_guard.redact import redact_text

    s = settings.sources
    if not settings.enabled:
        return f"mlflow-guard: mode=not switched on (fixtures only) ({s.get('enabled', 'default')})"
    store = "isolated throwaway " if settings.isolated else ""
    parts = [
        f"on ({s.get('enabled', 'default')})",
        f"mode={settings.mode} ({s.get('mode', 'default')})",
        f"tracking={store}{redact_text(tracking_uri)} "
        f"({s.get('isolated' if settings.isolated else 'tracking_uri', 'default')})",
        f"experiment={experiment} ({s.get('experiment', 'default')})",
        f"scope={settings.scope} ({s.get('scope', 'default')})",
    ]
    from pytest_mlflow_guard.display import clean

    return clean("mlflow-guard: " + ", ".join(parts))


def markdown_table() -> str:
    """The options as the README's table (a test keeps the README in step with ``OPTIONS``)."""
    rows = [
        "| command line | ini key | environment | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for opt in OPTIONS:
        value = {"list": "=FORMAT:PATH", "bool": ""}.get(opt.kind, "=VALUE")
        if opt.choices:
            value = "={" + ",".join(opt.choices) + "}"
        flag = f"`{opt.flag}{value}`"
        if opt.kind == "bool":
            flag += f", `--no-{opt.flag[2:]}`"
        default = {False: "false", True: "true", (): "—", None: "—"}.get(opt.default, "")
        if isinstance(opt.default, str):
            default = f"`{opt.default}`"  # fmt: skip
        env = f"`{opt.env}`" if opt.env else ""
        rows.append(f"| {flag} | `{opt.ini}` | {env} | {default} | {opt.help} |")
    return "\n".join(rows) + "\n"
