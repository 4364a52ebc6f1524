"""A record of the running Python environment that ``pip install -r`` can rebuild.

Only distribution names, versions and where non-index installs came from: never environment
variables, never credentials (VCS URLs are stripped of them).
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata

from .gitinfo import strip_credentials

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


def requirement_line(dist: metadata.Distribution) -> str:
    name = dist.metadata["Name"]
    version = dist.version
    direct = _direct_url(dist)
    if direct is not None:
        url = strip_credentials(str(direct.get("url", "")))
        vcs = direct.get("vcs_info")
        if isinstance(vcs, dict) and vcs.get("commit_id"):
            return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
        if url.startswith("file:"):
            # A local checkout or editable install: no index has it, so a bare pin would make
            # `pip install -r` fail. Reinstall it from its repository at the run's git.commit.
            return f"# {name}=={version} (installed from a local path; install it from its repo)"
        return f"{name} @ {url}"
    return f"{name}=={version}"


def requirements_txt() -> str:
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _canonical(name) in _SKIP or _canonical(name) in seen:
            continue  # a distribution found twice on sys.path: the first one is what imports
        seen[_canonical(name)] = requirement_line(dist)
    header = (
        f"# Environment of the run: Python {platform.python_version()} on {platform.platform()}\n"
        "# Recreate with: pip install -r requirements.txt\n"
    )
    return header + "".join(line + "\n" for _, line in sorted(seen.items()))


def python_info() -> dict[str, str]:
    return {
        "python_version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable_prefix_is_venv": str(sys.prefix != sys.base_prefix).lower(),
    }
