"""Helpers shared by the CLI tests (importable from every test module): the texts and bytes
of the test world, the kinds of store damage, and ``run_cli``."""

from __future__ import annotations

from miub.cli.main import main

TEXTS = [f"The mill number {i} stands by {i % 5} bridges." for i in range(16)]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
STORE_DAMAGE = ("tail-garbage", "head-garbage", "half", "empty")
"""How ``runs.sqlite`` is damaged: 4 KB of garbage over its end / its header, cut to half,
cut to 0 bytes (the issue's table); ``missing`` and ``mismatch`` are built beside them."""


def run_cli(argv: list[str]) -> int:
    """Exit code of ``miub ARGV`` run in-process; an escaping exception (a traceback) fails
    the calling test."""
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0
