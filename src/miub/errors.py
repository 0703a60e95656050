"""User-facing errors: raised for bad input, shown as one line with exit code 2 by the CLI.

One mechanism: code raises :class:`MiubUserError` where it detects a problem the user can fix;
the CLI (:func:`miub.cli.main.main`) maps it, and the handful of operating-system errors a
user causes (:func:`user_os_error`: permission denied, read-only file system, disk full, a
directory where a file belongs, ...), to one line on stderr and exit code 2. Every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno

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
