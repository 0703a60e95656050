"""Reports: ``build_report(DIR, analysis)`` writes ``figures/*.png`` and a self-contained
``report.html`` for a sweep directory (the fit is :mod:`miub.runners.fit`)."""

from __future__ import annotations

from miub.report.build import REPORT_FILE, build_report

__all__ = ["REPORT_FILE", "build_report"]
