"""Random region programs: `tests/strategies.programs` with a high share of `while`, `scan`
and `cond` instructions (nested, with captured loop invariants, carried values of mixed
shapes and dtypes, zero-trip, data-dependent and `max_iters`-cut loops, reverse scans,
switches of several branches; `tests/strategies_regions.py`).

Checked as the fuzzer checks every program (`tests/fuzz/checks.py`): the reference
interpreter is the oracle for the optimize pipeline and for native code of the optimized
(fused) and of the unoptimized program, on unusual input layouts too; reverse mode at
orders 1 and 2, by the interpreter and by native code, against central finite differences
in float64.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.ir import Builder, Function, TensorType, bind, interpreting, ops
from tracejit.ir.interp import evaluate

import tracejit as tj

from tests.fuzz import checks
from tests.fuzz.checks import GRAD_PRIMS, Report, check_forward, check_gradients
from tests.strategies import BOOL, F32, F64, FLOATS, I32, INTS, build_function, programs, \
    random_inputs
from tests.strategies_regions import nested_functions

SETTINGS: dict[str, Any] = {"deadline": None,
                             "suppress_health_check": [HealthCheck.too_slow,
                                                       HealthCheck.data_too_large]}


@st.composite
def region_case(draw: Any) -> tuple[Function, list[np.ndarray], int]:
    dtypes = draw(st.sampled_from([(F64,), FLOATS, (F32,) + INTS, FLOATS + INTS + (BOOL,)]))
    special = draw(st.booleans())
    fn = draw(programs(dtypes=dtypes, max_instrs=6, max_rank=2, max_dim=4, max_size=48,
                       special_values=special, safe=draw(st.booleans()), regions=0.5))
    seed = draw(st.integers(0, 2**32 - 1))
    return fn, random_inputs(fn, np.random.default_rng(seed)), seed


@st.composite
def smooth_region_case(draw: Any) -> tuple[Function, list[np.ndarray], int]:
    fn = draw(programs(dtypes=(F64,), allow=GRAD_PRIMS, safe=True, max_instrs=5,
                       max_params=2, max_dim=3, max_rank=2, max_size=12, name="g",
                       regions=0.5).filter(lambda f: len(f.params) > 0))
    seed = draw(st.integers(0, 2**32 - 1))
    return fn, random_inputs(fn, np.random.default_rng(seed)), seed


def _explain(r: Report) -> str:
    m = r.mismatches[0]
    return f"[{m.kind}] {m.message}\n{checks.text_of(m.fn)}\ninputs: {m.args!r}"


@settings(max_examples=20, **SETTINGS)
@given(region_case())
def test_native_region_programs_match_the_interpreter(
        case: tuple[Function, list[np.ndarray], int]) -> None:
    fn, args, seed = case
    report = Report()
    check_forward(fn, args, report, seed=seed)
    assert not report.mismatches, _explain(report)


@settings(max_examples=6, **SETTINGS)
@given(smooth_region_case())
def test_region_programs_differentiate_like_finite_differences(
        case: tuple[Function, list[np.ndarray], int]) -> None:
    fn, args, seed = case
    report = Report()
    check_gradients(fn, args, report, order=2, seed=seed)
    assert not report.mismatches, _explain(report)


# --------------------------------------------------------------------------- coverage


def _features(fn: Function, depth: int = 0) -> Counter[str]:
    """What a drawn program exercises (counted over all nested Functions)."""
    out: Counter[str] = Counter()
    for ins in fn.instrs:
        p = ins.params
        if ins.prim == "while":
            k = p["n_consts"]
            state = ins.inputs[k:]
            out["while"] += 1
            out["while captures"] += k > 0
            out["while max_iters"] += p["max_iters"] is not None
            out["while without counter"] += not any(v.type.dtype in INTS for v in state)
            out["while data-dependent"] += any(i.prim == "reduce_sum"
                                               for i in p["cond"].instrs)
            out["while mixed carried"] += len({(v.type.shape, v.type.dtype)
                                               for v in state}) > 1
        elif ins.prim == "scan":
            out["scan"] += 1
            out["scan reverse"] += p["reverse"]
            out["scan zero length"] += p["length"] == 0
            out["scan captures"] += p["n_consts"] > 0
            out["scan xs"] += len(ins.inputs) > p["n_consts"] + p["n_carry"]
        elif ins.prim == "cond":
            out["cond"] += 1
            out["cond 3+ branches"] += len(p["branches"]) >= 3
        if ins.prim in ("while", "scan", "cond") and depth:
            out["nested"] += 1
    for f in nested_functions(fn):
        out += _features(f, depth + 1)
    return out


def test_region_programs_cover_loops_scans_and_switches() -> None:
    seen: Counter[str] = Counter()

    # Drawing is cheap (nothing is compiled): enough examples that every feature shows up
    # whatever the registry holds (the strategies draw from it, so a new primitive moves
    # the sample; 60 missed the rarest feature once).
    @settings(max_examples=200, database=None, **SETTINGS)
    @given(st.one_of(region_case(), smooth_region_case()))
    def draw(case: tuple[Function, list[np.ndarray], int]) -> None:
        seen.update(_features(case[0]))
    draw()
    want = ["while", "while captures", "while max_iters", "while without counter",
            "while data-dependent", "while mixed carried", "scan", "scan reverse",
            "scan zero length", "scan captures", "scan xs", "cond", "cond 3+ branches",
            "nested"]
    assert [w for w in want if not seen[w]] == [], seen


# --------------------------------------------------------------------------- regressions


def _contract(x: Any, n: int) -> Any:
    """n steps of x = x / 2 + sum(sin(x)) / 20: each step a reduction, so a plan of many
    tasks (well conditioned for positive x)."""
    for _ in range(n):
        s = bind("reduce_sum", bind("sin", x), axes=(0,), keepdims=True)
        x = bind("add", bind("mul", x, ops.const(0.5, F64)), bind("mul", s, ops.const(0.05, F64)))
    return x


def test_a_segmented_loop_body_inside_a_segmented_function_compiles(monkeypatch: Any
                                                                    ) -> None:
    """Both the function and a loop body are big enough to be lowered as several segment
    functions into one module: their names collided (`DuplicatedNameError: seg0`)."""
    from tracejit.codegen import segments
    monkeypatch.setattr(segments, "SEGMENT_COST", 100)   # segments of a few tasks
    n = 8
    cb = Builder("c")
    ps = [cb.param(TensorType((8,), F64)), cb.param(TensorType((), I32))]
    with interpreting(cb):
        fc = cb.build([bind("lt", ps[1], ops.const(2, I32))])
    bb = Builder("b")
    ps = [bb.param(TensorType((8,), F64)), bb.param(TensorType((), I32))]
    with interpreting(bb):
        fb = bb.build([_contract(ps[0], n), bind("add", ps[1], ops.const(1, I32))])

    def body(x: Any) -> Any:
        out = bind("while", _contract(x, n), ops.const(0, I32), cond=fc, body=fb,
                   n_consts=0, max_iters=None)
        return _contract(out[0], n)
    fn = build_function("f", [((8,), F64)], body)
    x = np.linspace(0.1, 1.0, 8)
    np.testing.assert_allclose(compile_function(fn, cache=False)(x)[0],
                               evaluate(fn, [x])[0], rtol=1e-12)


def test_the_fuzzers_rounding_noise_reaches_into_loop_bodies() -> None:
    """The tolerance of native results comes from noisy interpreter runs: the noise must
    perturb a loop body's operations too (the reference implementation of `while` ran
    its body under a fresh, noiseless interpreter)."""
    cb = Builder("c")
    ps = [cb.param(TensorType((3,), F64)), cb.param(TensorType((), I32))]
    with interpreting(cb):
        fc = cb.build([bind("lt", ps[1], ops.const(2, I32))])
    bb = Builder("b")
    ps = [bb.param(TensorType((3,), F64)), bb.param(TensorType((), I32))]
    with interpreting(bb):
        fb = bb.build([bind("exp", ps[0]), bind("add", ps[1], ops.const(1, I32))])
    fn = build_function("f", [((3,), F64)], lambda x: bind(
        "while", x, ops.const(0, I32), cond=fc, body=fb, n_consts=0, max_iters=None)[0])
    x = np.array([0.1, 0.2, 0.3])
    ref = evaluate(fn, [x])[0]
    runs = [r[0] for r in checks.noisy_runs(fn, [x], 4, seed=0)]
    assert any(not np.array_equal(r, ref) for r in runs)
    assert all(np.allclose(r, ref, rtol=1e-13) for r in runs)


def test_a_module_the_slp_vectorizer_breaks_is_optimized_again_without_it(monkeypatch: Any
                                                                          ) -> None:
    """LLVM's SLP vectorizer made invalid IR of the Hessian of two reverse scans (`r .
    jacobian` in tests/test_fuzz_control.py), and the code generator aborted the process:
    a module that fails verification after O3 is optimized again without SLP."""
    from tracejit.codegen import llvmjob
    runs: list[bool] = []
    optimize, valid = llvmjob.optimize, llvmjob.valid

    def recording(mod: Any, tm: Any, slp: bool = True) -> None:
        runs.append(slp)
        optimize(mod, tm, slp)
    monkeypatch.setattr(llvmjob, "optimize", recording)
    monkeypatch.setattr(llvmjob, "valid", lambda mod: valid(mod) and len(runs) > 1)
    fn = build_function("f", [((5,), F64)], lambda x: bind("mul", bind("sin", x), x))
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_array_equal(compile_function(fn, cache=False)(x)[0],
                                  compile_function(fn, cache=False)(x)[0])
    assert runs[:2] == [True, False]


def test_a_module_the_optimizer_breaks_even_without_slp_runs_unoptimized(
        monkeypatch: Any, caplog: Any) -> None:
    """If O3 without the SLP vectorizer breaks the module too, the verified unoptimized
    module is compiled (and a warning says so); the process never reaches LLVM's code
    generator with invalid IR."""
    from tracejit.codegen import llvmjob
    monkeypatch.setattr(llvmjob, "valid", lambda mod: False)
    fn = build_function("f", [((5,), F64)], lambda x: bind("mul", bind("sin", x), x))
    x = np.linspace(-1.0, 1.0, 5)
    with caplog.at_level("WARNING", logger="tracejit"):
        got = compile_function(fn, cache=False)(x)[0]
    np.testing.assert_allclose(got, np.sin(x) * x, rtol=1e-15)
    assert "compiled without optimization" in caplog.text


def test_the_compiled_hessian_of_two_reverse_scans_matches_eager_mode() -> None:
    """Found by the control-flow fuzzer: O3 (with and without the SLP vectorizer) made
    invalid IR of this compiled `jacobian` of a gradient (a use not dominated by its
    definition), and LLVM's code generator aborted the process."""
    import tracejit as tj

    def f(y: Any, w: Any) -> Any:
        y = tj.scan(lambda u, e: (u[0] * 0.5 + e * u[1], u[1] * 0.9 + tj.reduce_sum(e) * 0.1),
                    y, initializer=(y[0] * 0.5, w), reverse=True)[0]
        y = tj.scan(lambda u, e: (u[0] / (1.0 + u[0] * u[0]) * 0.5 + e * u[1],
                                  u[1] * 0.9 + tj.reduce_sum(e) * 0.1),
                    y, initializer=(y[0] * 0.5, w), reverse=True)[0]
        return tj.reduce_sum(tj.sin(y))

    def hessian(x: Any, w: Any) -> Any:
        with tj.GradientTape() as t2:
            t2.watch(x)
            with tj.GradientTape() as t:
                t.watch(x)
                loss = f(x, w)
            g = t.gradient(loss, x)
        return t2.jacobian(g, x)

    x = tj.constant(np.array([1.44, 0.729, 0.427, -1.15]))
    w = tj.constant(np.float64(-0.682))
    np.testing.assert_allclose(tj.compile(hessian)(x, w).numpy(), hessian(x, w).numpy(),
                               rtol=1e-9, atol=1e-12)


def test_a_vector_task_reading_a_scan_s_stacked_outputs_compiles() -> None:
    """A reverse scan without initializer (its outputs, stacked in a frame buffer by
    the loop, joined to the last element by a small vector task) made LLVM's O3 abort the
    process; found by the fuzzer."""
    x = tj.constant(np.array([[0.203, -1.445], [1.114, -1.121], [0.78, 1.049]]))

    def f(x: Any) -> Any:
        y = tj.scan(lambda a, e: a * 0.5 + e, x, reverse=True)
        z = tj.while_loop(lambda i, u: i < 1, lambda i, u: (
            i + 1, tj.scan(lambda a, e: a / (1.0 + a * a) + e, u, reverse=True)),
            (tj.constant(0), x))[1]
        return y, z

    for got, want in zip(tj.function(f)(x), f(x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
