"""Accuracy and vectorization of codegen/mathlib.py.

Each dtype gets one small native module (one loop kernel per function, O3 for the host,
MCJIT, ctypes), independent of the engine. Errors are measured in ulp of the result type:

- float32 against NumPy's float64 result (an error of 0.5 ulp is correct rounding);
- float64 against NumPy's long double result where long double has a 64-bit mantissa
  (about 2^-11 float64 ulp of its own error); otherwise against NumPy's float64, which is
  itself within about 1 ulp, so the bound is then relative to it; plus a spot check
  of a few thousand points against mpmath when it is installed.

Run ``python -m tests.codegen.test_mathlib`` to print the measured table.
"""
from __future__ import annotations

import ctypes
import functools
import math
import re
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest
from llvmlite import binding as llvm
from llvmlite import ir
from tracejit.codegen.mathgamma import FUNCTIONS as GAMMA
from tracejit.codegen.mathzeta import FUNCTIONS as ZETA
from tracejit.codegen import mathcall
from tracejit.codegen.mathcore import host_avx512
from tracejit.codegen.mathlib import FUNCTIONS, SUPPORTED, emit_math

from tests.codegen.helpers import host_target_machine

BOUND = 4.0                       # ulp, for every function and both dtypes
#: the gamma family is measured by test_mathgamma (mpmath oracles, absolute error near zeros)
NAMES = sorted(SUPPORTED - set(GAMMA) - set(ZETA))
def trig_limit(name: str, dtype: type) -> float:
    """Where the inline sin/cos/tan hold the bound (beyond, compiled code calls libm)."""
    return mathcall.limit(name, ir.FloatType() if dtype == np.float32 else ir.DoubleType())


LD = np.longdouble if np.finfo(np.longdouble).nmant >= 63 else np.float64

# ---------------------------------------------------------------- a tiny native module


Emit = Callable[[ir.IRBuilder, str, list[ir.Value]], ir.Value]


def build_module(dtype: type, names: list[str], avx512: bool | None = None,
                 emit: Emit | None = None) -> str:
    """LLVM IR with ``void k_<name>(T* x, T* y, T* out, i64 n)``: out[i] = name(x[i], y[i])
    as `emit(builder, name, args)` makes it (default: the inline `emit_math`;
    ``avx512=False`` emits its generic code whatever the host)."""
    if emit is None:
        def emit(b: ir.IRBuilder, name: str, args: list[ir.Value]) -> ir.Value:
            return emit_math(b, name, args, avx512)
    ty = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    i64 = ir.IntType(64)
    mod = ir.Module(name=f"mathlib_{np.dtype(dtype).name}")
    mod.triple = llvm.get_process_triple()
    for name in names:
        p = ty.as_pointer()
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [p, p, p, i64]), name=f"k_{name}")
        xs, ys, out, n = fn.args
        for a in (xs, ys, out):
            a.add_attribute("noalias")
        entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed(">", n, i64(0)), loop, done)
        b.position_at_end(loop)
        i = b.phi(i64)
        i.add_incoming(i64(0), entry)
        args = [b.load(b.gep(xs, [i]))]
        if FUNCTIONS[name][0] == 2:
            args.append(b.load(b.gep(ys, [i])))
        b.store(emit(b, name, args), b.gep(out, [i]))
        nxt = b.add(i, i64(1), flags=("nuw", "nsw"))
        i.add_incoming(nxt, loop)
        b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
        b.position_at_end(done)
        b.ret_void()
    mathcall.finish(mod)        # out-of-line functions kept until the vectorizer ran
    return str(mod)


class Kernels:
    def __init__(self, dtype: type, names: list[str], avx512: bool | None = None) -> None:
        self.dtype = dtype
        self.tm = host_target_machine()
        self.ctx = llvm.create_context()
        mod = llvm.parse_assembly(build_module(dtype, names, avx512), context=self.ctx)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)
        self._link(mod, self.tm, names)

    def _link(self, mod: Any, tm: Any, names: list[str]) -> None:
        """Keep the optimized IR of `mod`, compile it with `tm` and find each `k_<name>`."""
        self.optimized_ir = str(mod)
        self.engine = llvm.create_mcjit_compiler(mod, tm)
        self.engine.finalize_object()
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_int64)
        self.fns = {n: proto(self.engine.get_function_address(f"k_{n}")) for n in names}

    def __call__(self, name: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        x = np.ascontiguousarray(x, self.dtype)
        y = x if y is None else np.ascontiguousarray(np.broadcast_to(y, x.shape), self.dtype)
        out = np.empty_like(x)
        self.fns[name](x.ctypes.data, y.ctypes.data, out.ctypes.data, x.size)
        return out


@functools.cache
def kernels(dtype: type) -> Kernels:
    return Kernels(dtype, NAMES)


#: The functions with AVX-512-only code (``ldexp``, one ``vscalef``): their generic code is
#: tested too, on every host.
SCALE_USERS = ["exp", "logistic", "softplus"]


@functools.cache
def generic_kernels(dtype: type) -> Kernels:
    return Kernels(dtype, SCALE_USERS, avx512=False)


# ---------------------------------------------------------------- references


def _logistic(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


REF: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sqrt": np.sqrt, "pow": np.power,
    "logistic": _logistic, "softplus": _softplus, "atan2": np.arctan2, "atan": np.arctan,
    "asin": np.arcsin, "acos": np.arccos,
    "erf": np.frompyfunc(math.erf, 1, 1), "erfc": np.frompyfunc(math.erfc, 1, 1)}
#: Functions NumPy has no long double version of: float64 is measured against mpmath (at
#: 80 bits, on fewer points: mpmath takes ~30 us a point).
MPMATH_REF = {"erf": "erf", "erfc": "erfc"}


def _mpmath_reference(name: str, x: np.ndarray) -> np.ndarray:
    mpmath = pytest.importorskip("mpmath")
    fn = getattr(mpmath, MPMATH_REF[name])
    with mpmath.workprec(80):
        # beyond +-40 erf is +-1 and erfc 0 or 2 to any precision (mpmath fails at 1e308)
        xc = np.where(np.isnan(x), x, np.clip(x, -40.0, 40.0))
        return np.array([LD(mpmath.nstr(fn(mpmath.mpf(float(v))), 30, strip_zeros=False))
                         for v in xc], dtype=LD)


def reference(name: str, dtype: type, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """The function in the wider type (float64 for float32, long double for float64)."""
    wide = np.float64 if dtype == np.float32 else LD
    if name in MPMATH_REF:
        if dtype == np.float64:
            return _mpmath_reference(name, x)
        with np.errstate(all="ignore"):
            return REF[name](x.astype(np.float64)).astype(np.float64)
    with np.errstate(all="ignore"):
        args = [x.astype(wide)] + ([] if y is None else [y.astype(wide)])
        return REF[name](*args)


def ulp_error(dtype: type, got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ulp of ref's binade in ``dtype``; inf counts as 2^(emax+1)."""
    fi = np.finfo(dtype)
    wide = ref.dtype
    with np.errstate(all="ignore"):
        top = np.ldexp(wide.type(1.0), fi.maxexp)            # 2^128 or 2^1024
        g = got.astype(wide)
        g = np.where(np.isinf(g), np.copysign(top, g), g)
        r = np.where(np.abs(ref) >= top * (1 - wide.type(2.0) ** (-fi.nmant - 2)),
                     np.copysign(top, ref), ref)
        _, e = np.frexp(r)
        e = np.maximum(e - 1, fi.minexp) - fi.nmant
        err = np.abs(g - r) / np.ldexp(wide.type(1.0), e)
    both_nan = np.isnan(g) & np.isnan(r)
    err = np.where(both_nan, 0.0, err)
    return np.where(np.isnan(err), np.inf, err).astype(np.float64)


# ---------------------------------------------------------------- inputs


def _finite_bits(dtype: type, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform over bit patterns of finite values: every binade equally often, both signs."""
    it = np.uint32 if dtype == np.float32 else np.uint64
    top = int(np.array(np.finfo(dtype).max, dtype).view(it))
    v = rng.integers(0, top, size=n, dtype=it, endpoint=True)
    sign = rng.integers(0, 2, size=n, dtype=it) << it(8 * np.dtype(it).itemsize - 1)
    return (v | sign).view(dtype)


def _random_bits(dtype: type, n: int, rng: np.random.Generator) -> np.ndarray:
    it = np.uint32 if dtype == np.float32 else np.uint64
    return rng.integers(0, np.iinfo(it).max, size=n, dtype=it, endpoint=True).view(dtype)


def specials(dtype: type) -> np.ndarray:
    fi = np.finfo(dtype)
    tiny = fi.smallest_subnormal
    v = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, fi.max, -fi.max, fi.tiny, -fi.tiny,
         1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, fi.eps, -fi.eps]
    return np.array(v, dtype)


def inputs(name: str, dtype: type, seed: int = 0) -> np.ndarray:
    """The x values one function is measured on (pow's y come from ``pow_inputs``)."""
    rng = np.random.default_rng(seed)
    n = 200_000 if dtype == np.float32 else 100_000
    if name in MPMATH_REF and dtype == np.float64:
        n = 4000
    fi = np.finfo(dtype)
    tiny = float(fi.smallest_subnormal)
    sweep = np.geomspace(tiny, float(fi.max) / 2, n // 2)
    parts = [sweep, -sweep, _finite_bits(dtype, n, rng), _random_bits(dtype, n // 4, rng),
             specials(dtype)]
    u = rng.uniform
    if name in ("exp", "expm1", "logistic", "softplus", "tanh"):
        hi = 90.0 if dtype == np.float32 else 712.0
        lo = -110.0 if dtype == np.float32 else -750.0
        parts += [u(lo, hi, n), u(-1, 1, n), u(-20, 20, n),
                  np.geomspace(1e-30, 1, n // 4) * rng.choice([-1, 1], n // 4)]
        if dtype == np.float32:
            thr = [88.72283, 88.72284, -87.33654, -103.27893, -103.97208]
        else:
            thr = [709.782712893384, 709.7827128933841, -708.3964185322641, -744.4400719213812,
                   -745.1332191019411]
        parts.append(np.concatenate([np.array(t, dtype) + np.arange(-50, 50) * fi.eps * abs(t)
                                     for t in thr]))
    if name in ("erf", "erfc"):
        # every piece of the method, its seams (1/4, 0.84375) and the underflow of erfc
        top = 10.1 if dtype == np.float32 else 27.3
        seams = np.concatenate([np.array(t, dtype) + np.arange(-20, 20) * fi.eps * t
                                for t in (0.25, 0.5, 0.84375, 1.0, 6.0, top - 0.2)])
        parts += [u(-6, 6, n), u(-top, top, n // 2), seams, -seams,
                  np.geomspace(1e-30, 1, n // 4) * rng.choice([-1, 1], n // 4)]
    if name in ("asin", "acos"):
        near = np.geomspace(tiny, 1, n // 2)
        parts += [u(-1, 1, n), 1 - near, -1 + near, np.geomspace(tiny, 1, n // 4)]
    if name in ("log", "log1p"):
        parts += [1 + u(-0.5, 0.5, n), u(0, 10, n), np.geomspace(tiny, 1e-30, n // 4),
                  u(-1, 1, n), -1 + np.geomspace(1e-30, 1, n // 4)]
    if name in ("sin", "cos", "tan"):
        lim = trig_limit(name, dtype)
        k = np.concatenate([np.arange(-200, 200), rng.integers(-int(lim / 1.6), int(lim / 1.6),
                                                               n // 4)])
        mult = (k * (np.pi / 2)).astype(dtype)
        parts += [u(-4, 4, n), u(-lim, lim, n), np.geomspace(1e-30, lim, n // 2),
                  -np.geomspace(1e-30, lim, n // 4), mult,
                  np.nextafter(mult, dtype(np.inf)), np.nextafter(mult, dtype(-np.inf))]
    return np.concatenate([np.asarray(p, dtype) for p in parts])


def pow_inputs(dtype: type, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 200_000 if dtype == np.float32 else 100_000
    lo, hi = (-105.0, 89.5) if dtype == np.float32 else (-746.0, 710.5)
    # y chosen so that x^y sweeps the whole range, including overflow and underflow
    x1 = np.abs(_finite_bits(dtype, n, rng)).astype(np.float64)
    x1 = x1[x1 != 1.0]
    y1 = rng.uniform(lo, hi, x1.size) / np.log(x1)
    x2 = rng.uniform(0, 10, n)
    y2 = rng.uniform(-40, 40, n)
    x3 = -rng.uniform(0, 10, n)                     # negative bases, integer exponents
    y3 = rng.integers(-40, 40, n).astype(np.float64)
    x4 = 1 + rng.uniform(-1e-3, 1e-3, n)            # large y
    y4 = rng.uniform(lo, hi, n) / np.log(x4)
    s = specials(dtype).astype(np.float64)
    extra = np.array([0.5, -0.5, 1.5, 1e30, -1e30, 4.0, -4.0])
    sx, sy = np.meshgrid(s, np.concatenate([s, extra]))
    x5 = np.array([1.0171994])                      # float32 pow's largest error found: 1.10 ulp
    y5 = np.array([-5059.364])
    xs = [x1, x2, x3, x4, _finite_bits(dtype, n // 2, rng), sx.ravel(), x5]
    ys = [y1, y2, y3, y4, _finite_bits(dtype, n // 2, rng), sy.ravel(), y5]
    with np.errstate(all="ignore"):
        return (np.concatenate([np.asarray(v, dtype) for v in xs]),
                np.concatenate([np.asarray(v, dtype) for v in ys]))


def atan2_inputs(dtype: type, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pairs: random bit patterns, moderate values, every pair of special values,
    tiny over moderate, and ratios |y/x| and |x/y| near every eighth (where the table
    entry changes)."""
    rng = np.random.default_rng(seed)
    n = 200_000 if dtype == np.float32 else 100_000
    s = specials(dtype).astype(np.float64)
    sy, sx = np.meshgrid(s, s)
    base = rng.uniform(0.1, 10, n)
    ratio = (rng.integers(0, 9, n) + rng.uniform(-0.5, 0.5, n)) / 8
    sign = lambda: rng.choice([-1.0, 1.0], n)  # noqa: E731
    ys = [_finite_bits(dtype, n, rng), rng.uniform(-3, 3, n), sy.ravel(),
          rng.uniform(-1, 1, n) * 1e-30, base * ratio * sign(), base * sign()]
    xs = [_finite_bits(dtype, n, rng), rng.uniform(-3, 3, n), sx.ravel(),
          rng.uniform(-1, 1, n), base * sign(), base * ratio * sign()]
    with np.errstate(all="ignore"):
        return (np.concatenate([np.asarray(v, dtype) for v in ys]),
                np.concatenate([np.asarray(v, dtype) for v in xs]))


# ---------------------------------------------------------------- measurement


def measure(name: str, dtype: type, k: Kernels | None = None
            ) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Max ulp error over the claimed range; returns it with the worst input(s)."""
    k = kernels(dtype) if k is None else k
    if name == "pow":
        x, y = pow_inputs(dtype)
    elif name == "atan2":
        x, y = atan2_inputs(dtype)
    else:
        x, y = inputs(name, dtype), None
    got = k(name, x, y)
    err = ulp_error(dtype, got, reference(name, dtype, x, y))
    if name in ("sin", "cos", "tan"):
        err = np.where(np.abs(x) <= trig_limit(name, dtype), err, 0.0)
    i = int(np.argmax(err))
    return float(err[i]), x[i], None if y is None else y[i]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_ulp_bound(name: str, dtype: type) -> None:
    worst, x, y = measure(name, dtype)
    at = f"x={x!r}" + ("" if y is None else f", y={y!r}")
    assert worst <= BOUND, f"{name} {np.dtype(dtype).name}: {worst:.2f} ulp at {at}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", SCALE_USERS)
def test_generic_code_ulp_bound(name: str, dtype: type) -> None:
    """The code for hosts without AVX-512 holds the bound too (and uses no ``ldexp``)."""
    k = generic_kernels(dtype)
    assert "llvm.ldexp" not in k.optimized_ir
    worst, x, _ = measure(name, dtype, k)
    assert worst <= BOUND, f"{name} {np.dtype(dtype).name}: {worst:.2f} ulp at x={x!r}"
    _check_special_values(name, dtype, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name: str, dtype: type) -> None:
    """Where NumPy gives NaN, +-inf or a signed zero, the result is exactly that."""
    _check_special_values(name, dtype, kernels(dtype))


def _check_special_values(name: str, dtype: type, k: Kernels) -> None:
    s = specials(dtype)
    if FUNCTIONS[name][0] == 2:
        x, y = (a.ravel() for a in np.meshgrid(s, s))
        with np.errstate(all="ignore"):
            want = REF[name](x, y)
    else:
        x, y = s, None
        with np.errstate(all="ignore"):
            want = REF[name](s).astype(dtype)
    got = k(name, x, y)
    exact = np.isnan(want) | np.isinf(want) | (want == 0)
    np.testing.assert_array_equal(got[exact], want[exact])    # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(got[exact & ~np.isnan(want)]),
                                  np.signbit(want[exact & ~np.isnan(want)]))
    err = ulp_error(dtype, got, reference(name, dtype, x, y))
    if name in ("sin", "cos", "tan"):
        err = np.where(np.abs(x) <= trig_limit(name, dtype), err, 0.0)
    assert err.max() <= BOUND


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["expm1", "log1p", "sin", "tan", "tanh"])
def test_tiny_arguments_are_returned_exactly(name: str, dtype: type) -> None:
    """f(x) = x + O(x^2) rounds to x itself for |x| < 2^-(p+1), subnormals included."""
    fi = np.finfo(dtype)
    mags = np.concatenate([np.arange(1, 64) * fi.smallest_subnormal,
                           np.geomspace(float(fi.tiny), 2.0 ** -(fi.nmant + 3), 200)])
    x = np.concatenate([mags, -mags]).astype(dtype)
    np.testing.assert_array_equal(kernels(dtype)(name, x), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_huge_arguments_stay_bounded(name: str, dtype: type) -> None:
    rng = np.random.default_rng(1)
    x = _finite_bits(dtype, 50_000, rng)
    x = x[np.abs(x) > trig_limit(name, dtype)]
    got = kernels(dtype)(name, x)
    assert np.isfinite(got).all()
    if name != "tan":
        assert (np.abs(got) <= 1).all()


def test_mpmath_spot_check_float64() -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    rng = np.random.default_rng(2)
    k = kernels(np.float64)
    mp_fn: dict[str, Callable[..., object]] = {
        "exp": mpmath.exp, "log": mpmath.log, "log1p": mpmath.log1p, "expm1": mpmath.expm1,
        "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "tanh": mpmath.tanh,
        "sqrt": mpmath.sqrt, "logistic": lambda v: 1 / (1 + mpmath.exp(-v)),
        "softplus": lambda v: mpmath.log1p(mpmath.exp(v)), "pow": mpmath.power,
        "atan2": mpmath.atan2, "atan": mpmath.atan, "asin": mpmath.asin,
        "acos": mpmath.acos, "erf": mpmath.erf, "erfc": mpmath.erfc}
    ranges = {"erf": (-6, 6), "erfc": (-6, 27.2),
              "exp": (-740, 705), "expm1": (-40, 705), "log": (1e-300, 1e300),
              "log1p": (-0.999, 1e10), "sqrt": (0, 1e300), "tanh": (-20, 20),
              "logistic": (-700, 700), "softplus": (-700, 700), "atan": (-1e3, 1e3),
              "asin": (-1, 1), "acos": (-1, 1)}
    for name in NAMES:
        if name == "pow":
            x = rng.uniform(0, 20, 1500)
            y = rng.uniform(-200, 200, 1500)
        elif name == "atan2":
            x = rng.uniform(-10, 10, 1500) * 10.0 ** rng.integers(-5, 5, 1500)
            y = rng.uniform(-10, 10, 1500)
        elif name in ("sin", "cos", "tan"):
            lim = trig_limit(name, np.float64)
            x = np.concatenate([rng.uniform(-10, 10, 750), rng.uniform(-lim, lim, 750)])
            y = None
        else:
            lo, hi = ranges[name]
            x = (np.geomspace(lo, hi, 1500) if lo > 0 else rng.uniform(lo, hi, 1500))
            y = None
        got = k(name, x, y)
        args = [x] if y is None else [x, y]
        ref = np.array([LD(mpmath.nstr(mp_fn[name](*(mpmath.mpf(float(a[i])) for a in args)),
                                       30, strip_zeros=False))
                        for i in range(x.size)], dtype=LD)
        err = ulp_error(np.float64, got, ref)
        assert err.max() <= BOUND, f"{name}: {err.max():.2f} ulp at {x[np.argmax(err)]!r}"


ALLOWED_CALLS = ("llvm.fma.", "llvm.fabs.", "llvm.rint.", "llvm.nearbyint.", "llvm.floor.",
                 "llvm.copysign.", "llvm.sqrt.", "llvm.minnum.", "llvm.maxnum.",
                 "llvm.is.fpclass.") + (("llvm.ldexp.",) if host_avx512() else ())


def _functions(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"define [^@]*@(k_\w+)\(.*?\n}", text,
                                                        re.DOTALL)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_loop_vectorizes(dtype: type) -> None:
    text = Kernels(dtype, ["exp"]).optimized_ir
    width = "float" if dtype == np.float32 else "double"
    assert re.search(rf"<(8|16) x {width}>" if dtype == np.float32 else
                     rf"<(4|8) x {width}>", text), "no vector code in the exp loop"
    assert not re.search(r"@(expf?|llvm\.exp\.)\b", text), "the exp loop calls libm"


@pytest.mark.skipif(not host_avx512(), reason="ldexp is vscalef only with AVX-512")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_scales_with_vscalef(dtype: type) -> None:
    """On AVX-512 hosts exp's 2^n is one vscalef per vector: never a call of ldexp."""
    tm = host_target_machine()
    mod = llvm.parse_assembly(build_module(dtype, ["exp"]), context=llvm.create_context())
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    asm = tm.emit_assembly(mod)
    assert re.search(r"vscalefp[sd]\s+%[yz]mm", asm), "exp's vector loop has no vscalef"
    assert not re.search(r"\bcall", asm), "exp calls a function"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_every_loop_vectorizes_without_calls(dtype: type) -> None:
    width = "float" if dtype == np.float32 else "double"
    fns = _functions(kernels(dtype).optimized_ir)
    assert sorted(fns) == [f"k_{n}" for n in NAMES]
    for name, body in fns.items():
        assert re.search(rf"<\d+ x {width}>", body), f"{name}: no vector code"
        calls = set(re.findall(r"call [^@]*@([\w.]+)", body))
        assert all(c.startswith(ALLOWED_CALLS) for c in calls), f"{name} calls {calls}"
        # the vectorized loop body is one basic block: no branches inside the math
        vbody = body.split("vector.body:", 1)[1].split("middle.block:", 1)[0]
        assert not re.search(r"^[\w.]+:", vbody, re.MULTILINE), f"{name}: vector body has branches"


def main() -> None:
    print(f"{'function':10} {'float32':>8} {'float64':>8}")
    for name in NAMES:
        e32 = measure(name, np.float32)[0]
        e64 = measure(name, np.float64)[0]
        print(f"{name:10} {e32:8.2f} {e64:8.2f}")
    print("float64 reference:", "long double" if LD is not np.float64 else "float64")


if __name__ == "__main__":
    main()
