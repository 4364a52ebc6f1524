"""Exit codes and default tolerances of ``reproduce``, its report and the CLI (stdlib only)."""

from __future__ import annotations

EXIT_REPRODUCED, EXIT_NOT_REPRODUCED, EXIT_CANNOT_REPLAY = 0, 1, 2

DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-9
