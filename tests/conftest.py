"""Shared pytest configuration.

Hypothesis runs with the "ci" profile by default (no deadline, so first-call compiles do
not flake, a bounded number of examples, and derandomized: a run draws the same examples
every time, so the suite's result does not depend on luck; the random exploration is
`tests/fuzz/fuzz.py`'s, and `HYPOTHESIS_PROFILE=dev` draws more, at random).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=50, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
