"""Out-of-line math (`codegen/mathcall.py`): tasks over the plan's math budget call one
function per (math function, type) and its vector variant instead of inlining the
polynomials; results must be those of the inline code (and of the reference)."""
from __future__ import annotations

import numpy as np
import pytest
from tracejit.codegen import compile_function, mathcall, mathlib
from tracejit.codegen.fusion import MATH_COST, TASK_MATH_BUDGET, make_plan
from tracejit.ir import bind

from tests.codegen.helpers import ATOL_MATH, RTOL_MATH, check, fn_of

# Every out-of-line function of one argument (pow is added by `_many`).
UNARY = sorted(n for n in MATH_COST if mathlib.FUNCTIONS[n][0] == 1)


def _many(x, names, repeat):
    """A sum of `repeat` rounds of every function in `names` applied to x (and pow)."""
    acc = x
    for _ in range(repeat):
        for n in names:
            acc = bind("add", acc, bind(n, x))
        acc = bind("add", acc, bind("pow", bind("abs", x), x))
    return acc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outlined_math_matches_reference_and_vectorizes(dtype):
    repeat = TASK_MATH_BUDGET // sum(MATH_COST[n] for n in UNARY) + 1
    fn = fn_of([((203,), dtype)], lambda x: _many(x, UNARY, repeat))
    (task,) = make_plan(fn).tasks
    assert task.outline
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 1.4, 203).astype(dtype)       # in every function's domain
    # Far sin/cos/tan arguments take the C library's path inside the called function.
    x[[5, 77, 190]] = np.array([3e7, 1e16, 2.5e9], dtype)
    x[[6, 78]] = dtype(np.inf), dtype(np.nan)
    fn_far = fn_of([((203,), dtype)], lambda x: _many(x, ["sin", "cos", "tan"], repeat * 4))
    exe = check(fn, [np.abs(x[np.isfinite(x)][:203]).astype(dtype).repeat(2)[:203]],
                rtol=RTOL_MATH[np.dtype(dtype)] * 50, atol=ATOL_MATH[np.dtype(dtype)] * 50)
    check(fn_far, [x], rtol=RTOL_MATH[np.dtype(dtype)] * 50,
          atol=ATOL_MATH[np.dtype(dtype)] * 50)
    # One definition per function and type, called in vector form by the fused loop.
    ir_text = exe.llvm_ir
    tag = "f64" if dtype == np.float64 else "f32"
    w = mathcall.lanes(mathcall.ir.DoubleType() if dtype == np.float64
                       else mathcall.ir.FloatType())
    assert ir_text.count(f"define internal <{w} x") >= len(UNARY) + 1
    assert f"@tj.sin.{tag}.v{w}(" in ir_text
    assert f"call <{w} x {'double' if tag == 'f64' else 'float'}> @tj.exp.{tag}.v{w}(" \
        in ir_text


def test_small_tasks_keep_inline_math():
    fn = fn_of([((100,), np.float32)], lambda x: bind("add", bind("sin", x), bind("exp", x)))
    (task,) = make_plan(fn).tasks
    assert not task.outline
    exe = compile_function(fn)
    assert "@tj.sin" not in exe.llvm_ir_unoptimized


def test_an_outlined_function_called_with_a_constant_argument_stays_valid(caplog):
    """polygamma(1, x) is outlined; every call passes the constant 1, so without its address
    kept (llvm.compiler.used) LLVM drops that argument and the two-argument vector-variant
    attribute fails verification (the module was then compiled unoptimized, with a
    warning in the log)."""
    import logging

    import tracejit as tj
    from tracejit.codegen.llvmjob import INVALID_AFTER_O3

    x = np.linspace(0.1, 5, 100)
    f = tj.function(lambda v: tj.math.polygamma(1.0, v))
    with caplog.at_level(logging.WARNING):
        got = f.lower(x).as_text("asm")
    assert INVALID_AFTER_O3 not in caplog.text
    assert "tj.polygamma.f64" in got
    np.testing.assert_allclose(f(x).numpy(), tj.math.polygamma(1.0, x).numpy(), rtol=1e-13)
