"""sin, cos and tan over the whole range of float32 and float64 in compiled code.

mathlib's inline argument reduction holds its bound up to `mathcall.limit`; beyond, lowering
reruns the task with the C library's functions for those elements (`Lowerer.task`).
These tests check the 4-ulp bound on finite arguments of every binade, the special
values, that a task whose huge argument appears anywhere (fused into other stores,
reductions, kernels, bounds-checked indices) still gives the reference result, and that
the hot loop stays vectorized.
"""
from __future__ import annotations

import numpy as np
import pytest
from tracejit.codegen import compile_function, mathcall
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of
from tests.codegen.test_mathlib import BOUND, _finite_bits, reference, specials, ulp_error

TRIG = sorted(mathcall.TRIG)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", TRIG)
def test_ulp_bound_over_the_whole_range(name: str, dtype: type) -> None:
    rng = np.random.default_rng(31)
    x = np.concatenate([_finite_bits(dtype, 100_000, rng), specials(dtype)])
    (got,) = compile_function(fn_of([(x.shape, dtype)], lambda v: bind(name, v)))(x)
    err = ulp_error(dtype, got, reference(name, dtype, x, None))
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND, f"{name}({x[worst]!r}) = {got[worst]!r}: {err[worst]:.2f} ulp"
    assert np.count_nonzero(np.abs(x) > 1e15) > 1000          # huge arguments were tested


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_one_huge_argument_anywhere_in_a_fused_task(dtype: type) -> None:
    # Stores, a full reduction and a partial-reduction kernel that all read sin/cos of x;
    # one element of x is huge, so each task runs its exact version too.
    def body(x, y):
        s, c = bind("sin", x), bind("cos", x)
        z = bind("add", bind("mul", s, y), c)
        return z, bind("reduce_sum", z, axes=(0, 1)), bind("reduce_max", bind("tan", x),
                                                           axes=(1,))

    rng = np.random.default_rng(32)
    x = rng.standard_normal((37, 300)).astype(dtype)
    y = rng.standard_normal((37, 300)).astype(dtype)
    fn = fn_of([(x.shape, dtype)] * 2, body)
    exe = check(fn, [x, y], atol=1e-5 if dtype == np.float32 else 1e-12)
    x[5, 123] = dtype(3e30)
    x[36, 299] = dtype(-7e25)
    check(fn, [x, y], atol=1e-5 if dtype == np.float32 else 1e-12, exe=exe)


def test_huge_argument_in_a_flat_short_row_loop() -> None:
    # (300, 10) under a row broadcast runs as one flat loop; its exact version too.
    def body(x, b):
        return bind("add", bind("sin", x), b)

    rng = np.random.default_rng(33)
    x = rng.standard_normal((300, 10)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    fn = fn_of([(x.shape, np.float32), (b.shape, np.float32)], body)
    exe = check(fn, [x, b], atol=1e-6)
    assert "udiv" in exe.llvm_ir_unoptimized
    x[123, 7] = np.float32(-4e30)
    check(fn, [x, b], atol=1e-6, exe=exe)


def test_huge_argument_behind_a_bounds_checked_index() -> None:
    # gather's indices are computed from sin: the bounds check evaluates them too.
    def body(x, table):
        i = bind("convert", bind("mul", bind("add", bind("sin", x), bind("constant",
                 value=np.asarray(1.0))), bind("constant", value=np.asarray(1.5))),
                 dtype=np.dtype(np.int32))
        return bind("gather", table, i, axis=0)

    x = np.array([0.3, -1.2, 1e300, 2.0, -5e22])
    table = np.arange(4.0)
    check(fn_of([(x.shape, np.float64), (table.shape, np.float64)], body), [x, table])


def test_the_hot_loop_stays_vectorized() -> None:
    exe = compile_function(fn_of([((4096,), np.float32)], lambda v: bind("sin", v)))
    ir_text = exe.llvm_ir
    assert "x float>" in ir_text                     # the inline version is vectorized
    assert "@sinf(" in ir_text                       # the exact version calls the C library
