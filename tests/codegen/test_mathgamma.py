"""Accuracy of codegen/mathgamma.py (lgamma, digamma, polygamma) over the whole range.

Oracles: mpmath at 100 bits for float64 (and for float32's digamma/polygamma), Python's
``math.lgamma`` for float32's lgamma. Errors are in ulp of the result type; near the zeros
of a function (the negative zeros of lgamma and digamma, the negative zeros of
polygamma of even order) relative error is meaningless, so there the error is counted in
ulp of ``max(|f(x)|, |g(x)|)`` where ``g`` is the term of the reflection the value comes
from (``mathgamma``'s docstring says which), as libm test suites measure in absolute
terms near zeros.

Run ``python -m tests.codegen.test_mathgamma`` to print the measured table (more points).
"""
from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest

from tests.codegen.test_mathlib import (ALLOWED_CALLS, BOUND, Kernels, _finite_bits, _functions,
                                        ulp_error)

mpmath = pytest.importorskip("mpmath")
NAMES = ["lgamma", "digamma", "polygamma"]
ORDERS = (1, 2, 3, 4, 7, 12, 20)
LD = np.longdouble


@functools.cache
def kernels(dtype: type) -> Kernels:
    return Kernels(dtype, NAMES)


def _mp(fn: object, xs: np.ndarray, *extra: float) -> np.ndarray:
    with mpmath.workprec(100):
        out = []
        for v in xs:
            try:
                r = fn(*extra, mpmath.mpf(float(v)))          # type: ignore[operator]
            except (ValueError, ZeroDivisionError):
                r = mpmath.inf
            out.append(mpmath.nstr(r, 30, strip_zeros=False))
    return np.array(out, dtype=LD)


def _lgamma_mp(x: object) -> object:
    return mpmath.log(abs(mpmath.gamma(x))) if x < 0 else mpmath.loggamma(x)


def reference(name: str, dtype: type, x: np.ndarray, n: float = 0) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(f(x), the scale below which error is absolute) in the wider type."""
    neg = x < 0
    if name == "lgamma":
        if dtype == np.float32:
            f = np.array([math.lgamma(v) if v != np.floor(v) or v > 0 else math.inf
                          for v in x.astype(np.float64)], dtype=LD)
            g = np.array([max(abs(math.lgamma(1 - v)),
                              abs(math.log(math.pi / abs(math.sin(math.pi * v)))))
                          if v < 0 else 0.0 for v in x.astype(np.float64)], dtype=LD)
        else:
            f = _mp(_lgamma_mp, x)
            g = (np.maximum(np.abs(_mp(_lgamma_mp, (1 - x.astype(LD))[neg])),
                            np.abs(_mp(lambda v: mpmath.log(mpmath.pi / abs(mpmath.sinpi(v))),
                                       x[neg])))
                 if neg.any() else None)
    elif name == "digamma":
        f = _mp(mpmath.digamma, x)
        g = (np.maximum(np.abs(_mp(mpmath.digamma, (1 - x.astype(LD))[neg])),
                        np.abs(_mp(lambda v: mpmath.pi * mpmath.cot(mpmath.pi * v), x[neg])))
             if neg.any() else None)
    else:
        f = _mp(mpmath.polygamma, x, n)
        # Z(s, x) = zeta(s, f) - zeta(s, 1 - f) + zeta(s, 1 - x) for odd s = n + 1: the
        # first two nearly cancel next to each zero (close to the half-integers)
        frac = (x - np.floor(x))[neg]
        g = (math.factorial(int(n)) * (_mp(lambda v: mpmath.zeta(n + 1, v), frac)
                                        + _mp(lambda v: mpmath.zeta(n + 1, v), 1 - frac))
             if neg.any() and n % 2 == 0 else None)
    scale = np.abs(f)
    if name != "lgamma" or dtype != np.float32:
        if g is not None:
            scale[neg] = np.maximum(scale[neg], g)
    else:
        scale = np.where(neg, np.maximum(scale, g), scale)
    return f, scale


def errors(name: str, dtype: type, x: np.ndarray, n: float = 0) -> np.ndarray:
    k = kernels(dtype)
    got = k(name, np.full(x.shape, n), x) if name == "polygamma" else k(name, x)
    f, scale = reference(name, dtype, x, n)
    # error in ulp of the scale: measure against f, then rescale where scale > |f|
    err = ulp_error(dtype, got, f)
    with np.errstate(all="ignore"):
        fi = np.finfo(dtype)
        e_f = np.maximum(np.frexp(np.abs(f).astype(np.float64))[1] - 1, fi.minexp)
        e_s = np.maximum(np.frexp(scale.astype(np.float64))[1] - 1, fi.minexp)
        shrink = np.where(np.isfinite(scale) & (scale > np.abs(f)),
                          np.ldexp(1.0, (e_f - e_s).astype(np.int64)), 1.0)
    return np.where(np.isfinite(err), err * shrink, err)


def inputs(name: str, dtype: type, n_pts: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    top = 1e300 if dtype == np.float64 else 1e37
    u = rng.uniform
    sweep = np.geomspace(float(fi.smallest_subnormal), top, n_pts)
    ints = rng.integers(1, 60, n_pts // 4).astype(np.float64)
    near = ints * (1 + rng.choice([-1, 1], ints.size) * np.geomspace(1e-15, 0.3, ints.size))
    parts = [sweep, u(0, 12, n_pts), u(-30, 0, n_pts), -np.geomspace(1e-30, 1e15, n_pts // 2),
             1 + u(-0.5, 0.5, n_pts // 2), 2 + u(-0.5, 0.5, n_pts // 2), near, -near,
             np.abs(_finite_bits(dtype, n_pts // 4, rng)),
             np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 9.999, 10.0, 1.4616321449683623,
                       -0.5, -1.5, -2.5, -2.4570247382208006, -2.7476826467274127])]
    if name == "polygamma":
        parts = [np.geomspace(1e-12, 1e12, n_pts), u(0, 40, n_pts), u(-25, 0, n_pts),
                 near, -near, np.array([0.5, 1.0, 2.5, 10.0, 16.5, 29.0, -0.5, -3.25])]
    x = np.concatenate([np.asarray(p, dtype) for p in parts])
    return x[np.isfinite(x) & (x != 0) & ~((x < 0) & (x == np.floor(x)))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_ulp_bound(name: str, dtype: type) -> None:
    x = inputs(name, dtype, 600)
    err = errors(name, dtype, x)
    i = int(np.argmax(err))
    assert err[i] <= BOUND, f"{name} {np.dtype(dtype).name}: {err[i]:.2f} ulp at {x[i]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", ORDERS)
def test_polygamma_ulp_bound(n: int, dtype: type) -> None:
    x = inputs("polygamma", dtype, 60, seed=n)
    err = errors("polygamma", dtype, x, float(n))
    i = int(np.argmax(err))
    assert err[i] <= BOUND, f"polygamma({n}) {np.dtype(dtype).name}: {err[i]:.2f} ulp at {x[i]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_special_values_follow_tensorflow(dtype: type) -> None:
    """Poles, infinities and NaN as TensorFlow 2.21 gives them."""
    inf, nan = np.inf, np.nan
    x = np.array([-inf, -3.0, -1.0, -0.0, 0.0, inf, nan], dtype)
    k = kernels(dtype)
    np.testing.assert_array_equal(k("lgamma", x), np.array([inf] * 6 + [nan], dtype))
    np.testing.assert_array_equal(k("digamma", x),
                                  np.array([nan] * 5 + [inf, nan], dtype))
    odd = k("polygamma", np.full(x.shape, 1.0), x)
    np.testing.assert_array_equal(odd, np.array([inf] * 5 + [0.0, nan], dtype))
    even = k("polygamma", np.full(x.shape, 2.0), x)
    np.testing.assert_array_equal(even, np.array([nan] * 5 + [-0.0, nan], dtype))
    assert np.signbit(even[5])
    np.testing.assert_array_equal(k("polygamma", np.full(x.shape, 0.0), x), k("digamma", x))
    bad_n = np.array([-1.0, 0.5, inf, nan], dtype)
    assert np.isnan(k("polygamma", bad_n, np.full(bad_n.shape, 2.0, dtype))).all()
    # exact values at the integers where they are exact
    one_two = np.array([1.0, 2.0], dtype)
    np.testing.assert_array_equal(k("lgamma", one_two), np.zeros(2, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_every_loop_vectorizes_without_calls(dtype: type) -> None:
    width = "float" if dtype == np.float32 else "double"
    fns = _functions(kernels(dtype).optimized_ir)
    assert sorted(fns) == [f"k_{n}" for n in sorted(NAMES)]
    for name, body in fns.items():
        assert re.search(rf"<\d+ x (double|{width})>", body), f"{name}: no vector code"
        calls = set(re.findall(r"call [^@]*@([\w.]+)", body))
        assert all(c.startswith(ALLOWED_CALLS) for c in calls), f"{name} calls {calls}"


def main() -> None:
    print(f"{'function':14} {'float32':>8} {'float64':>8}")
    for name in ("lgamma", "digamma"):
        e = [float(errors(name, dt, inputs(name, dt, 5000, seed=7)).max())
             for dt in (np.float32, np.float64)]
        print(f"{name:14} {e[0]:8.2f} {e[1]:8.2f}")
    for n in range(1, 21):
        e = [float(errors("polygamma", dt, inputs("polygamma", dt, 400, seed=n),
                          float(n)).max()) for dt in (np.float32, np.float64)]
        print(f"polygamma({n:2}) {e[0]:8.2f} {e[1]:8.2f}")


if __name__ == "__main__":
    main()
