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


def project_checkout(package_dir: Path | None = None) -> Path | None:
    """The root of the miub checkout this package was installed from (an editable install:
    ``ROOT/src/miub`` with ``ROOT/pyproject.toml`` naming the project ``miub``), else None —
    a wheel installed inside someone else's git repo is not a checkout of miub."""
    package = (package_dir or Path(__file__).resolve().parent).resolve()
    if package.name != "miub" or package.parent.name != "src":
        return None
    root = package.parent.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    if not any(line.replace(" ", "") == 'name="miub"' for line in text.splitlines()):
        return None
    return root if (root / ".git").exists() else None


def git_revision(path: Path | None = None) -> str | None:
    """The git commit of the miub checkout (with ``-dirty`` if modified), or None when the
    package is not installed from a checkout of miub (then the package version says it)."""
    where = project_checkout(path)
    if where is None:
        return None
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
