"""Provenance recorded with every result: package versions, git revision, host, time."""

from __future__ import annotations

import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("miub", "torch", "transformers", "peft", "datasets", "numpy", "scipy", "pandas")


def package_versions() -> dict[str, str]:
    """Installed versions of Python and the packages that decide miub's numbers."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision(path: Path | None = None) -> str | None:
    """The git commit of the miub source tree (with ``-dirty`` if modified), or None."""
    where = path or Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if dirty else revision


def provenance() -> dict[str, Any]:
    """Everything needed to tell where a result came from."""
    return {
        "versions": package_versions(),
        "git_revision": git_revision(),
        "platform": platform.platform(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
