"""Local reproducibility checks: replay a recorded run and compare what it logs.

``mlflow-guard reproduce RUN_ID`` and the pytest ``reproduce`` fixture / ``reproducible`` marker
are built from small parts, so each can be tested (and reasoned about) alone:

* ``preflight``: can this run be replayed here? Evaluated on plain data, no git, no MLflow.
* ``compare``: metric and param comparison with tolerances, no I/O.
* ``report``: the text and JSON renderings.
* ``workspace``: git worktree, virtualenv and subprocess orchestration (no MLflow).
* ``runner``: glues them with ``mlflow_io.replay``, the only module that talks to MLflow.

Importing this package imports neither pytest nor MLflow.
"""

from __future__ import annotations
