"""Reports: ``build_report(DIR)`` writes ``fits.json``, ``figures/*.png`` and a
self-contained ``report.html`` for a sweep directory."""

from __future__ import annotations

from miub.report.build import FITS_FILE, REPORT_FILE, build_report, fit_directory, write_fits

__all__ = ["FITS_FILE", "REPORT_FILE", "build_report", "fit_directory", "write_fits"]
