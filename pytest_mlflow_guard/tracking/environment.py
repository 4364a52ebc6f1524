"""A record of the running Python environment that ``pip install -r`` can rebuild.

Only distribution names, versions and where non-index installs came from: never environment
variables, never credentials (VCS URLs are stripped of them).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import TAG_GIT_COMMIT, TAG_PLATFORM, TAG_PYTHON_VERSION

if TYPE_CHECKING:
    from importlib import metadata

# pip itself is not a requirement of the code; pinning it would downgrade the user's pip.
_SKIP = {"pip"}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _direct_url(dist: metadata.Distribution) -> dict[str, object] | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    from urllib.request import url2pathname  # pulls in ssl and http: only when needed

    return Path(url2pathname(parsed.path)) if parsed.scheme == "file" else None


def requirement_line(dist: metadata.Distribution, repo_root: Path | None = None) -> str:
    name = dist.metadata["Name"]
    version = dist.version
    direct = _direct_url(dist)
    if direct is not None:
        url = redact_text(str(direct.get("url", "")))
        vcs = direct.get("vcs_info")
        if isinstance(vcs, dict) and vcs.get("commit_id"):
            return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
        path = _local_path(url)
        if path is None:
            return f"{name} @ {url}"
        if repo_root is not None and path.resolve().is_relative_to(repo_root.resolve()):
            # Part of the run's own repository (the example project, the team's package): the
            # checkout at git.commit has it, so install it from there, as it was installed.
            relative = path.resolve().relative_to(repo_root.resolve()).as_posix()
            target = "." if relative == "." else f"./{relative}"
            dir_info = direct.get("dir_info")
            editable = isinstance(dir_info, dict) and dir_info.get("editable")
            return f"-e {target}" if editable else target
        # Elsewhere on that machine: no index has it, so a bare pin would make `pip install -r`
        # fail. Leave a note for whoever replays the run.
        return f"# {name}=={version} (installed from a local path outside the repository)"
    return f"{name}=={version}"


def requirements_txt(repo_root: Path | None = None) -> str:
    """Pinned requirements of the running environment; local paths relative to ``repo_root``."""
    chosen: dict[str, metadata.Distribution] = {}
    from importlib import metadata  # slow-ish: only when a run records its environment

    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        key = _canonical(name) if name else ""
        if not key or key in _SKIP:
            continue
        # A distribution can be found twice on sys.path: an editable install plus the
        # `*.egg-info` its build left in the source tree (on sys.path under pytest). The
        # installer's record (direct_url.json) says how it was really installed.
        if key not in chosen or (_direct_url(chosen[key]) is None and _direct_url(dist)):
            chosen[key] = dist
    seen = {key: requirement_line(dist, repo_root) for key, dist in chosen.items()}
    header = (
        f"# Environment of the run: Python {platform.python_version()} on {platform.platform()}\n"
        f"# Recreate it from the repository root at the run's {TAG_GIT_COMMIT}:\n"
        "#   pip install -r requirements.txt\n"
    )
    return header + "".join(line + "\n" for _, line in sorted(seen.items()))


def payload(repo_root: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """What a run records of its environment: the files of its ``environment/`` folder and the
    ``python.version`` and ``platform`` tags."""
    info = python_info()
    files = {
        "requirements.txt": requirements_txt(repo_root),
        "python.json": json.dumps(info, indent=2, sort_keys=True) + "\n",
    }
    return files, {TAG_PYTHON_VERSION: info["python_version"], TAG_PLATFORM: info["platform"]}


def python_info() -> dict[str, str]:
    return {
        "python_version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable_prefix_is_venv": str(sys.prefix != sys.base_prefix).lower(),
    }
