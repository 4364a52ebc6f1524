"""``python -m pytest_mlflow_guard.cli``."""

import sys

from pytest_mlflow_guard.cli import main

sys.exit(main())
