"""A bounded differential fuzz run on every test run (the long runs are
`tests/fuzz/fuzz.py`): random programs over every primitive, native code of the
optimized and of the unoptimized program vs the reference interpreter (float32 and
float64, hundreds of elements, NaN/inf, strided/reversed/misaligned/read-only inputs),
the optimize pipeline vs the interpreter, and gradients of smooth programs at order 1 and
2 vs central finite differences, evaluated by the interpreter and by native code; and a
few compiled Python programs (`tests/fuzz/pyprogs.py`) vs eager execution.

The checks and their tolerances are `tests/fuzz/checks.py`'s.
"""
from __future__ import annotations

import re
import textwrap
from typing import Any

import numpy as np
import tracejit as tj
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
from tests.fuzz.pyprogs import PRELUDE, check_python, python_case
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


# ------------------------------------------------------ compiled Python programs vs eager

@settings(max_examples=6, derandomize=True, **SETTINGS)
@given(python_case(max_calls=4))
def test_compiled_python_programs_match_eager_execution(source: str) -> None:
    """A few random programs of `tests/fuzz/pyprogs.py` (static arguments of every kind,
    Variables read, assigned, passed and returned), each called several times, compiled
    vs eagerly. Derandomized: the long random runs are `tests/fuzz/fuzz.py`'s."""
    report = Report()
    check_python(source, report)
    assert not report.mismatches, f"{report.mismatches[0].message}\n{source}"
    assert report.checks >= 1


def test_python_programs_cover_every_static_kind_and_variable_use() -> None:
    rng_sources: list[str] = []

    @settings(max_examples=150, database=None, derandomize=True, **SETTINGS)
    @given(python_case())
    def draw(source: str) -> None:
        rng_sources.append(source)

    draw()
    text = "\n".join(rng_sources)
    calls = "\n".join(s.split("def call(")[1] for s in rng_sources)
    for constructor in ("Frozen(", "Plain(", "Obj(", "EqObj(", "Mode.", "np.float64(-0.0)",
                        "-0.0", "nan", "inf", "None", "True", '"relu"', '{"a": '):
        assert constructor in calls, constructor
    for use in (".assign(", ".assign_add(", ".assign_sub(", "GradientTape", "class Model",
                "[1][0]", "[1]\n",
                "@dataclasses.dataclass\n", "tj.constant(", '=world["p0_alt"]', "*, ",
                "tj.cond(", "tj.switch_case(", "maximum_iterations=", "tj.fori_loop(0, s",
                "lambda i, u: u * 0.5 + v", "lambda i, u: tj.sin(u) * u"):
        assert use in text, use
    # Variables returned directly and inside dicts.
    rets = [r for s in rng_sources for r in re.findall(r"^ +return (.*)$", s, re.M)
            if r not in ("f", "Model")]
    assert any(re.fullmatch(r"[vp]\d", r) for r in rets)
    assert any(re.search(r'": [vp]\d', r) for r in rets)


def test_check_python_reports_a_wrong_compiled_result() -> None:
    source = PRELUDE + textwrap.dedent('''
        def new_world():
            return {"v0": tj.Variable(_a([1.0, -2.0], "float32", (2,)), name="v0")}

        def make(world, compile):
            v0 = world["v0"]

            @compile
            def f(x0, s0, *, cfg):
                v0.assign_add(x0 * cfg.a)
                return {"y": x0 / s0, "v": v0}
            return f

        N_CALLS = 3

        def call(f, world, k):
            return f(_a([1.0, 0.5], "float32", (2,)), [1.5, 2.0, 3.0][k], cfg=Plain(k, 0))

        def outside(world, k):
            world["v0"].assign_add(_a([0.25, 0.25], "float32", (2,)))
        ''')
    report = Report()
    check_python(source, report)
    assert not report.mismatches and report.checks == 3

    def wrong(f: Any) -> Any:   # compiled, but a result is off by 1e-4 (relative)
        cf = tj.compile(f)

        def g(*args: Any, **kwargs: Any) -> Any:
            out = dict(cf(*args, **kwargs))
            out["y"] = out["y"] * np.float32(1.0001)
            return out
        return g

    report = Report()
    check_python(source, report, compile=wrong)
    assert [m.kind for m in report.mismatches] == ["py-result"]
    assert "call 0" in report.mismatches[0].message
