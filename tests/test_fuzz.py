"""A bounded differential fuzz run on every test run (the long runs are
`tests/fuzz/fuzz.py`): random programs over every primitive, native code of the
optimized and of the unoptimized program vs the reference interpreter (float32 and
float64, hundreds of elements, NaN/inf, strided/reversed/misaligned/read-only inputs),
the optimize pipeline vs the interpreter, and gradients of smooth programs at order 1 and
2 vs central finite differences, evaluated by the interpreter and by native code.

The checks and their tolerances are `tests/fuzz/checks.py`'s.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

from tests.fuzz.checks import (
    Mismatch,
    Report,
    check_forward,
    check_gradients,
    forward_case,
    gradient_case,
    print_function,
)

SETTINGS: dict[str, Any] = {"deadline": None,
                             "suppress_health_check": [HealthCheck.too_slow,
                                                       HealthCheck.data_too_large]}


def explain(m: Mismatch) -> str:
    args = "\n".join(f"  arg{i} = np.{a!r}" for i, a in enumerate(m.args))
    return f"[{m.kind}] {m.message}\n{print_function(m.fn)}\ninputs:\n{args}"


@settings(max_examples=60, **SETTINGS)
@given(forward_case())
def test_native_and_optimized_programs_match_the_interpreter(
        case: tuple[Any, list[np.ndarray], int]) -> None:
    fn, args, seed = case
    report = Report()
    check_forward(fn, args, report, seed=seed)
    assert not report.mismatches, explain(report.mismatches[0])
    assert report.checks >= 3  # round trip, optimize, native (unless a known limitation)


@settings(max_examples=12, **SETTINGS)
@given(gradient_case())
def test_gradients_to_order_two_match_finite_differences(
        case: tuple[Any, list[np.ndarray], int]) -> None:
    fn, args, seed = case
    report = Report()
    check_gradients(fn, args, report, order=2, seed=seed)
    assert not report.mismatches, explain(report.mismatches[0])
