"""``mlflow-guard reproduce --print-steps``: the manual recipe, for a replay somewhere else
(another machine, a cluster job) where ``mlflow-guard reproduce`` itself cannot run. Pure.
"""

from __future__ import annotations

import shlex

from .preflight import RunFacts


def shell_steps(run: RunFacts, tracking_uri: str) -> str:
    """Shell lines that rebuild ``run`` by hand from what it recorded; ``tracking_uri`` must
    already be free of credentials."""
    tags = run.tags
    lines = [f"# Replay run {run.run_id} ({run.run_name}) with the code and environment it used"]
    remote = tags.get("git.remote")
    if remote:
        lines.append(f"git clone {shlex.quote(remote)} replay && cd replay")
    lines.append(f"git checkout {run.commit or '<no git.commit recorded>'}")
    if tags.get("git.dirty") == "true":
        lines.append("# warning: the run was made from a tree with uncommitted changes (MLG204);")
        lines.append("# this commit may not hold exactly the code that ran")
    lines.append("python -m venv .venv-replay && . .venv-replay/bin/activate")
    if run.requirements:
        lines += [
            f"MLFLOW_TRACKING_URI={shlex.quote(tracking_uri)} mlflow artifacts download "
            f"--run-id {run.run_id} --artifact-path environment/requirements.txt --dst-path .",
            "pip install -r requirements.txt",
        ]
    else:
        lines.append("# no environment/requirements.txt recorded (MLG501): install by hand")
    if run.workdir != ".":
        lines.append(f"cd {shlex.quote(run.workdir)}")
    lines.append(run.command or "# no source.command recorded (MLG502)")
    if run.params:
        lines.append("# the run logged these params; compare them with the new run's:")
        lines += [f"#   {k} = {v}" for k, v in sorted(run.params.items())]
    return "\n".join(lines) + "\n"
