"""User-facing errors: raised for bad input, shown as one line with exit code 2 by the CLI."""

from __future__ import annotations


class MiubUserError(Exception):
    """Bad input from the user. The message names the problem and the fix, in one line."""
