"""Shared helpers for the native-code tests: build, compile, run, compare with the
reference interpreter.

`check(fn, args)` compiles `fn`, runs it on `args`, and asserts that the results equal
`evaluate(fn, args)` (same shapes and dtypes; floats within the tolerance of DESIGN.md's
"Testing decisions") and that no argument was modified.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from tracejit.codegen import Executable, compile_function
from tracejit.ir import Function
from tracejit.ir.interp import evaluate

from tests.strategies import build_function

# rtol per dtype: exact arithmetic (no vector math) and with transcendentals.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
RTOL_MATH = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-14}
ATOL_MATH = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-14}


def host_target_machine() -> llvm.TargetMachine:
    """A new O3 target machine for the host CPU and all its features, for tests that
    build and compile their own modules without tracejit's engine (an MCJIT engine takes
    ownership of the one it is given, so each call makes a fresh one)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, jit=True)


def fn_of(types: Sequence[tuple[Sequence[int], Any]], body: Any, name: str = "f") -> Function:
    return build_function(name, [(tuple(s), np.dtype(d)) for s, d in types], body)


def assert_close(got: np.ndarray, ref: np.ndarray, rtol: float | None = None,
                 atol: float = 0.0, what: str = "") -> None:
    ref = np.asarray(ref)
    assert isinstance(got, np.ndarray), what
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != {ref.dtype}"
    if ref.dtype.kind == "f":
        r = RTOL[ref.dtype] if rtol is None else rtol
        np.testing.assert_allclose(got, ref, rtol=r, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=what)


def check(fn: Function, args: Sequence[np.ndarray], rtol: float | None = None,
          atol: float = 0.0, exe: Executable | None = None,
          names: Sequence[str] | None = None) -> Executable:
    """Native vs reference on `args`; returns the Executable for more calls."""
    exe = exe or compile_function(fn)
    before = [np.array(a, copy=True) for a in args]
    got = exe(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b, err_msg="an input was modified")
    with np.errstate(all="ignore"):
        ref = evaluate(fn, list(args))
    assert len(got) == len(ref)
    for k, (g, r) in enumerate(zip(got, ref)):
        what = names[k] if names else f"result {k} of {fn.name}"
        assert_close(g, r, rtol, atol, what)
    return exe


def floats(rng: np.random.Generator, shape: Sequence[int], dtype: Any, scale: float = 3.0,
           special: bool = True) -> np.ndarray:
    """Random floats, with some NaN, +-inf, +-0 and integers sprinkled in."""
    a = rng.standard_normal(tuple(shape)) * scale
    if special and a.size:
        mask = rng.random(a.shape)
        pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.0, -3.0])
        pick = pool[rng.integers(0, len(pool), a.shape)]
        a = np.where(mask < 0.15, pick, a)
    return a.astype(dtype)


def ints(rng: np.random.Generator, shape: Sequence[int], dtype: Any, extremes: bool = True
         ) -> np.ndarray:
    a = rng.integers(-9, 10, tuple(shape)).astype(dtype)
    if extremes and a.size:
        info = np.iinfo(dtype)
        mask = rng.random(a.shape)
        pool = np.array([info.min, info.max, 0, -1, 1], dtype)
        a = np.where(mask < 0.15, pool[rng.integers(0, len(pool), a.shape)], a)
    return a
