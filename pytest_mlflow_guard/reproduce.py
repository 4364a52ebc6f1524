"""``mlflow-guard reproduce RUN_ID``: the shell steps that rebuild a run from what it recorded.

Uses the convention tags (``git.commit``, ``git.remote``, ``source.workdir``, ``source.command``)
and the ``environment/requirements.txt`` artifact written by ``log_environment``.
"""

from __future__ import annotations

import shlex

from .errors import GuardError


def reproduction_steps(run_id: str, tracking_uri: str | None = None) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from .mlflow_io.links import redact_uri

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        run = client.get_run(run_id)
        artifacts = {a.path for a in client.list_artifacts(run_id, "environment")}
    except MlflowException as exc:
        raise GuardError(f"run {run_id!r}: {exc.message}") from None
    tags = run.data.tags
    commit = tags.get("git.commit")
    command = tags.get("source.command")
    missing = [t for t, v in (("git.commit", commit), ("source.command", command)) if not v]
    if "environment/requirements.txt" not in artifacts:
        missing.append("environment/requirements.txt artifact")
    if missing:
        raise GuardError(
            f"run {run_id} cannot be replayed: it did not record {', '.join(missing)} "
            "(rules MLG201, MLG501, MLG502)"
        )
    uri = redact_uri(tracking_uri or client.tracking_uri)
    lines = [f"# Replay run {run_id} ({run.info.run_name}) with the code and environment it used"]
    remote = tags.get("git.remote")
    if remote:
        lines.append(f"git clone {shlex.quote(remote)} replay && cd replay")
    lines.append(f"git checkout {commit}")
    if tags.get("git.dirty") == "true":
        lines.append("# warning: the run was made from a tree with uncommitted changes (MLG204);")
        lines.append("# this commit may not hold exactly the code that ran")
    lines += [
        "python -m venv .venv-replay && . .venv-replay/bin/activate",
        f"MLFLOW_TRACKING_URI={shlex.quote(uri)} mlflow artifacts download "
        f"--run-id {run_id} --artifact-path environment/requirements.txt --dst-path .",
        "pip install -r requirements.txt",
    ]
    workdir = tags.get("source.workdir")
    if workdir and workdir != ".":
        lines.append(f"cd {shlex.quote(workdir)}")
    lines.append(command or "")
    if run.data.params:
        lines.append("# the run logged these params; compare them with the new run's:")
        lines += [f"#   {k} = {v}" for k, v in sorted(run.data.params.items())]
    return "\n".join(lines)
