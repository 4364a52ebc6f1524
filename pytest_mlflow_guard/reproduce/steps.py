"""``mlflow-guard reproduce --print-steps``: the manual recipe, for a replay somewhere else
(another machine, a cluster job) where ``mlflow-guard reproduce`` itself cannot run. Pure.

Everything recorded comes from the store: values are shell-quoted where they are arguments,
and every line is shown through ``display.clean``, so a newline in a tag cannot add a command
of its own and a commit that is not a SHA is not printed as one.
"""

from __future__ import annotations

import re
import shlex

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.records import RunFacts
from pytest_mlflow_guard.vocabulary import TAG_GIT_COMMIT, TAG_GIT_DIRTY, TAG_GIT_REMOTE

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


def shell_steps(run: RunFacts, tracking_uri: str) -> str:
    """Shell lines that rebuild ``run`` by hand from what it recorded; ``tracking_uri`` must
    already be free of credentials."""
    tags = run.tags
    lines = [f"# Replay run {run.run_id} ({run.run_name}) with the code and environment it used"]
    remote = tags.get(TAG_GIT_REMOTE)
    if remote:
        lines.append(f"git clone {shlex.quote(remote)} replay && cd replay")
    if run.commit and _SHA.fullmatch(run.commit):
        lines.append(f"git checkout {run.commit}")
    else:
        lines.append(
            f"# no usable {TAG_GIT_COMMIT} recorded ({run.commit!r}): check out the code by hand"
        )
    if tags.get(TAG_GIT_DIRTY) == "true":
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
    return "\n".join(clean(line) for line in lines) + "\n"
