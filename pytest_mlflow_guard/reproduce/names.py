"""Names shared by the replay, the run-context provider and the pytest marker (stdlib only).

Kept in a module of their own so ``context.py`` can import them without pulling in anything else.
"""

from __future__ import annotations

#: tag on a replayed run: the id of the run it reproduces
TAG_REPRODUCTION_OF = "reproduction.of"
#: set in the replayed command's environment; the run-context provider copies it into
#: ``TAG_REPRODUCTION_OF`` so the tag is there from the run's first moment
ENV_REPRODUCTION_OF = "MLFLOW_GUARD_REPRODUCTION_OF"

#: tags on the runs the ``reproducible`` marker makes
TAG_REPEAT = "reproducible.repeat"  # "1/2"
TAG_REPEAT_GROUP = "reproducible.group"  # one id shared by the repetitions of one test

EXIT_REPRODUCED, EXIT_NOT_REPRODUCED, EXIT_CANNOT_REPLAY = 0, 1, 2

DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-9
