"""The explicit AVX-512 vector bodies of `codegen/mathvec.py`, as compiled code runs them:
loops calling `mathcall`'s out-of-line function, vectorized and optimized by the same
pipeline as the engine's (`llvmjob.optimize`, which inlines the bodies into the loops),
for the engine's target. Accuracy against the references of ``test_mathlib`` (float32
against float64, float64 against long double) on its inputs, NumPy's special values
exactly, the same result for an element whatever its position (vector lanes, the
vectorizer's epilogue, scalar calls), and the instructions the bodies exist for.
On hosts without AVX-512 `mathvec` offers no body and the generic code is what
``test_mathlib`` measures; here that is checked by `test_no_body_without_avx512`.
"""
from __future__ import annotations

import functools
import re

import numpy as np
import pytest
from llvmlite import binding as llvm
from llvmlite import ir
from tracejit.codegen import engine, llvmjob, mathcall, mathvec
from tracejit.codegen.mathlib import FUNCTIONS

from tests.codegen import test_mathlib
from tests.codegen.test_mathlib import BOUND, _check_special_values, measure, pow_inputs

BODIES = sorted(mathvec.BODIES)
needs_avx512 = pytest.mark.skipif(not mathvec.host_avx512(),
                                  reason="explicit bodies are for AVX-512 hosts")
DTYPE = {"float": np.float32, "double": np.float64}


def _ty(dtype: type) -> ir.Type:
    return ir.FloatType() if dtype == np.float32 else ir.DoubleType()


def build_module(dtype: type, names: list[str]) -> str:
    """``void k_<name>(T* x, T* y, T* out, i64 n)``: out[i] = name(x[i], y[i]) through
    `mathcall.function` (the route lowering takes for a function with a body)."""
    def call(b: ir.IRBuilder, name: str, args: list[ir.Value]) -> ir.Value:
        return b.call(mathcall.function(b.module, name, args[0].type), args)
    return test_mathlib.build_module(dtype, names, emit=call)


class Kernels(test_mathlib.Kernels):
    """The module of `build_module`, optimized as the engine does and run by MCJIT."""

    def __init__(self, dtype: type, names: list[str]) -> None:
        info = engine.host_info()
        self.dtype = dtype
        tm = llvmjob.target_machine(info["triple"], info["cpu"], info["features"])
        self.ctx = llvm.create_context()
        mod = llvmjob.parse(build_module(dtype, names), self.ctx)
        llvmjob.optimize(mod, tm)
        mod.verify()
        self.asm = tm.emit_assembly(mod)
        self._link(mod, tm, names)


@functools.cache
def kernels(dtype: type) -> Kernels:
    names = [n for n, t in BODIES if DTYPE[t] == dtype]
    return Kernels(dtype, names)


def _ids(key: tuple[str, str]) -> str:
    return f"{key[0]}-{key[1]}"


@needs_avx512
@pytest.mark.parametrize("key", BODIES, ids=_ids)
def test_ulp_bound(key: tuple[str, str]) -> None:
    name, t = key
    worst, x, y = measure(name, DTYPE[t], kernels(DTYPE[t]))
    at = f"x={x!r}" + ("" if y is None else f", y={y!r}")
    assert worst <= BOUND, f"{name} {t}: {worst:.2f} ulp at {at}"


@needs_avx512
@pytest.mark.parametrize("key", BODIES, ids=_ids)
def test_special_values(key: tuple[str, str]) -> None:
    """NaN, +-inf, signed zeros exactly as NumPy gives them (for pow: every pair of
    special values, each lane's case whatever the other lanes hold)."""
    name, t = key
    _check_special_values(name, DTYPE[t], kernels(DTYPE[t]))


@needs_avx512
@pytest.mark.parametrize("key", BODIES, ids=_ids)
def test_result_does_not_depend_on_position(key: tuple[str, str]) -> None:
    """An element's result is the same in a full vector, in the vectorizer's epilogue
    and alone (the scalar function is lane 0 of the body)."""
    name, t = key
    dtype = DTYPE[t]
    k = kernels(dtype)
    if FUNCTIONS[name][0] == 2:
        x, y = pow_inputs(dtype, seed=3)
        x, y = x[:4099], y[:4099]
    else:
        x, y = np.random.default_rng(3).uniform(1e-3, 1e3, 4099).astype(dtype), None
    whole = k(name, x, y)
    for start, size in ((0, 1), (5, 3), (17, 7), (100, 31), (4000, 99)):
        part = k(name, x[start:start + size], None if y is None else y[start:start + size])
        np.testing.assert_array_equal(part, whole[start:start + size])


@needs_avx512
@pytest.mark.parametrize("dtype", sorted({DTYPE[t] for _, t in BODIES}, key=str),
                         ids=lambda d: np.dtype(d).name)
def test_loops_run_the_inlined_body(dtype: type) -> None:
    """The vectorized loop has the body inline (vgetmant, a register table permute): no
    call of the full-width variant is left (the vectorizer's epilogue may call a narrow
    one, which pads to the full width)."""
    k = kernels(dtype)
    fns = {m.group(1): m.group(0) for m in re.finditer(
        r"^(k_\w+):.*?\.Lfunc_end", k.asm, re.DOTALL | re.MULTILINE)}
    assert sorted(fns) == sorted(f"k_{n}" for n, t in BODIES if DTYPE[t] == dtype)
    width = mathvec.width(_ty(dtype))
    for name, text in fns.items():
        assert re.search(r"vgetmantp[sd]\s+\$\d+, %zmm", text), f"{name}: no vgetmant"
        assert re.search(r"vperm[it]2p[sd]\s", text), f"{name}: no register table"
        wide = f"tj.{name[2:]}.{'f32' if dtype == np.float32 else 'f64'}.v{width}"
        ir_body = re.search(rf"define [^@]*@{name}\(.*?\n}}", k.optimized_ir, re.DOTALL)
        assert ir_body is not None
        assert not re.search(rf"call [^@]*@\"?{re.escape(wide)}\b", ir_body.group(0)), \
            f"{name}: {wide} is called, not inlined"


def test_no_body_without_avx512(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without AVX-512F no body is offered: lowering keeps `mathlib`'s inline code."""
    monkeypatch.setattr(mathvec, "host_avx512", lambda: False)
    for name, t in BODIES:
        ty = _ty(DTYPE[t])
        assert mathvec.body(name, ty) is None and not mathvec.explicit(name, ty)


def test_bodies_match_the_library() -> None:
    """Every registered body is a `mathlib` function of one of the two types."""
    for name, t in BODIES:
        assert name in FUNCTIONS and t in DTYPE
