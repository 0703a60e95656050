"""Runners: explicit, top-to-bottom jobs (measure, demo) that the CLI calls."""
