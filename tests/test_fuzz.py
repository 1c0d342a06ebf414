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
from tracejit.ir import bind
from tracejit.ir.interp import evaluate

from tests.fuzz import checks
from tests.fuzz.checks import (
    Mismatch,
    Report,
    check_forward,
    check_gradients,
    compare,
    forward_case,
    gradient_case,
    noisy_runs,
    print_function,
)
from tests.strategies import build_function

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
    assert report.checks >= 3  # round trip, optimize, native


@settings(max_examples=12, **SETTINGS)
@given(gradient_case())
def test_gradients_to_order_two_match_finite_differences(
        case: tuple[Any, list[np.ndarray], int]) -> None:
    fn, args, seed = case
    report = Report()
    check_gradients(fn, args, report, order=2, seed=seed)
    assert not report.mismatches, explain(report.mismatches[0])


# ------------------------------------------------------------------ the checker itself


def test_the_checker_accepts_rounding_and_rejects_wrong_results() -> None:
    rng = np.random.default_rng(0)
    fn = build_function("f", [((131,), np.float64), ((131,), np.float64)],
                        lambda x, y: bind("add", bind("mul", x, y), x))
    args = [rng.standard_normal(131), rng.standard_normal(131)]
    (ref,) = evaluate(fn, args)
    noisy = [n[0] for n in noisy_runs(fn, args, 4, seed=0)]
    fused = (args[0].astype(np.longdouble) * args[1] + args[0]).astype(np.float64)  # an fma
    assert compare(ref, ref, noisy) is None
    assert compare(fused, ref, noisy) is None
    assert compare(ref * (1 + 1e-10), ref, noisy) is not None        # beyond rounding
    nan = ref.copy()
    nan[7] = np.nan
    assert "first at (7,)" in (compare(nan, ref, noisy) or "")       # NaN where none is
    assert compare(ref.astype(np.float32), ref, noisy) is not None   # wrong dtype


def test_check_forward_reports_a_wrong_native_result(monkeypatch: Any) -> None:
    fn = build_function("f", [((101,), np.float32)], lambda x: bind("exp", x))

    class Wrong:
        def __init__(self, f: Any) -> None:
            self.exe = checks.compile_function(f)

        def __call__(self, *args: Any) -> list[np.ndarray]:
            out = self.exe(*args)
            out[0][50] *= np.float32(1.001)
            return out

    monkeypatch.setattr(checks, "native", Wrong)
    report = Report()
    check_forward(fn, [np.linspace(-3, 3, 101, dtype=np.float32)], report)
    assert {m.kind for m in report.mismatches} == {"native", "native-unoptimized"}
    assert "first at (50,)" in report.mismatches[0].message
