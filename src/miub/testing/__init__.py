"""Test scaffolding shipped with miub: tiny models, synthetic results and stores.

Used by the test suite (and by users writing their own tests); nothing else in ``miub``
imports it (an import-linter contract checks).
"""
