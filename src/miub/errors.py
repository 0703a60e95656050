"""User-facing errors: raised for bad input, shown as one line with exit code 2 by the CLI.

One mechanism: code raises :class:`MiubUserError` where it detects a problem the user can fix;
the CLI (:func:`miub.cli.main.main`) maps it, and the handful of operating-system errors a
user causes (:func:`user_os_error`: permission denied, read-only file system, disk full, a
directory where a file belongs, ...), to one line on stderr and exit code 2. Every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterable, Mapping
from typing import Any

_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): (.*)$", re.DOTALL)

USER_ERRNOS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "not a directory",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
}
"""errno → reason of the OS errors a user causes (and can fix)."""


class MiubUserError(Exception):
    """Bad input from the user. The message names the problem and the fix, in one line."""


def user_os_error(error: BaseException) -> str | None:
    """One line for an OS error the user caused (see :data:`USER_ERRNOS`), else None."""
    if not isinstance(error, OSError) or error.errno not in USER_ERRNOS:
        return None
    where = error.filename if error.filename is not None else "a file"
    reason = USER_ERRNOS[error.errno]
    fix = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EDQUOT: "free some space or write elsewhere",
        errno.EISDIR: "pass a file path, not a directory",
        errno.ENOTDIR: "a parent of this path is a file; pass another path",
        errno.EEXIST: "pass another path",
    }.get(error.errno, "check the permissions or write elsewhere")
    return f"cannot write {where}: {reason}; {fix}"


def format_validation_error(
    error: Any, known_keys: Iterable[str] = (), names: Mapping[str, str] | None = None
) -> str:
    """One line ``key.path: message; ...`` from a pydantic ``ValidationError`` — the one
    formatter of config errors (study files, ``--set``, ``miub train`` options and overrides).

    ``known_keys``: valid keys, to suggest the closest to an unknown one. ``names``: how the
    user wrote a location (``{"learning_rate": "--lr"}``), so errors name flags, not fields.
    """
    parts = []
    names = names or {}
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else f".{part}" if location else part
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            key = str(item["loc"][-1])
            close = difflib.get_close_matches(key, sorted(known_keys), n=1)
            message = "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "finite_number":
            message = "must be a finite number (not nan or inf)"
        elif match := _KEY_PREFIX.match(message):
            location = f"{location}.{match.group(1)}" if location else match.group(1)
            message = match.group(2)
        if "input" in item and item["type"] in _SHOW_INPUT:
            message += f" (got {item['input']!r})"
        parts.append(f"{names.get(location, location) or '<top>'}: {message}")
    return "; ".join(parts)


_SHOW_INPUT = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number",
    "int_parsing", "float_parsing", "int_from_float", "string_pattern_mismatch", "literal_error",
}  # fmt: skip


def parse_assignments(assignments: Iterable[str], flag: str) -> dict[str, Any]:
    """``["training.epochs=2", "grid.ranks=[1, 2]"]`` → a nested dict; each value is read as
    YAML (numbers, lists, null, strings). MiubUserError naming ``flag`` for a malformed one."""
    import yaml

    nested: dict[str, Any] = {}
    for text in assignments:
        path, sep, raw = text.partition("=")
        keys = path.strip().split(".")
        if not sep or not all(key.strip() for key in keys):
            raise MiubUserError(f"{flag} {text!r}: write key.path=value, e.g. training.epochs=2")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = nested
        for key in keys[:-1]:
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                raise MiubUserError(f"{flag} {text!r}: {key} is set to a value and a section")
            target = child
        target[keys[-1]] = value
    return nested


def merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, recursively (nested dicts merge, the rest replaces)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
