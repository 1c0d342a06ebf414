"""Shared pytest configuration.

Hypothesis runs with the "ci" profile by default (no deadline, so first-call compiles do
not flake, and a bounded number of examples); `HYPOTHESIS_PROFILE=dev` runs more.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=50,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
