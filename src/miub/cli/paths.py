"""Path checks done up front, before any work: a command that will write a file or a
directory checks here that it can, and fails with one :class:`~miub.errors.MiubUserError` line
naming the flag, the path and the fix.

Used by every command that writes (``--json``, ``--out``, a study dir read by ``fit`` /
``report``); nothing is created by a check except an out dir that ``create`` asks for.

Every path option and argument is parsed by :func:`path_value`: an empty string is refused
(``Path("")`` is ``.``, so ``--out ''`` would otherwise mean the current directory).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from miub.errors import MiubUserError


def path_value(value: str | Path) -> Path:
    """The typer ``parser`` of every path option: ``value`` as a Path, ``~`` expanded; an
    empty or blank string is a usage error naming the flag (never the current directory)."""
    if isinstance(value, Path):  # a default
        return value
    if not str(value).strip():
        raise typer.BadParameter("empty path; pass a file or directory name")
    return Path(value).expanduser()


def text_value(value: str) -> str:
    """The typer ``parser`` of a name option (``--model``): an empty string is a usage error."""
    if not str(value).strip():
        raise typer.BadParameter("empty value; pass a name")
    return str(value)


def _probe(directory: Path) -> str | None:
    """None if a file can be created in ``directory``, else the reason."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".miub-write-test-"):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def writable_file(path: Path, flag: str) -> Path:
    """Check that ``path`` can be written as a file: not a directory, its parent an existing
    writable directory, and the file itself writable if it exists."""
    if str(path).strip() == "":
        raise MiubUserError(f"{flag}: empty path; pass a file name")
    path = Path(path).expanduser()
    if path.is_dir():
        raise MiubUserError(f"{flag}: {path} is a directory; pass a file path")
    parent = path.parent
    if not parent.exists():
        raise MiubUserError(f"{flag}: directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise MiubUserError(f"{flag}: {parent} is not a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise MiubUserError(f"{flag}: {path} is not writable; check its permissions")
    reason = _probe(parent)
    if reason is not None:
        raise MiubUserError(f"{flag}: cannot write in {parent} ({reason}); write elsewhere")
    return path


def writable_dir(path: Path, flag: str, *, create: bool = True) -> Path:
    """Check that ``path`` is (or, with ``create``, can become) a writable directory."""
    if str(path).strip() == "":
        raise MiubUserError(f"{flag}: empty path; pass a directory")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise MiubUserError(f"{flag}: {path} is a file, not a directory; pass a directory")
    if not path.exists():
        if not create:
            raise MiubUserError(f"{flag}: directory {path} does not exist")
        existing = path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise MiubUserError(f"{flag}: {existing} is a file, not a directory")
        reason = _probe(existing)
        if reason is not None:
            raise MiubUserError(f"{flag}: cannot create {path} ({reason}); write elsewhere")
        return path
    reason = _probe(path)
    if reason is not None:
        raise MiubUserError(f"{flag}: cannot write in {path} ({reason}); write elsewhere")
    return path


def study_dir_for_writing(path: Path, flag: str = "DIR") -> Path:
    """A study dir that ``fit`` / ``report`` read and write into: it must exist and be a
    writable directory (a read-only dir fails here, before anything is fitted)."""
    return writable_dir(path, flag, create=False)
