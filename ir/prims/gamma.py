"""The gamma family: `lgamma`, `digamma` and `polygamma(a, x)` (elementwise, float32 and
float64, TensorFlow's semantics).

Invariants: each is an elementwise primitive of float operands whose native code is the
vector-math function of the same name (`codegen.mathgamma`); their VJPs chain into one
another (d lgamma = digamma, d digamma = polygamma(1, .), d polygamma(n, .) =
polygamma(n + 1, .)), written with `bind`, so every order of derivative exists.
`polygamma`'s order operand `a` gets no gradient (TensorFlow registers None). Special
values follow TensorFlow 2.21: `lgamma` is +inf at its poles (0, negative integers, -inf)
and at +inf; `digamma` is NaN at its poles and at -inf; `polygamma(a, x)` is NaN unless
`a` is a non-negative integer, and at the poles +inf for odd `a`, NaN for even `a`.

The NumPy references compute in float64 and round once: `lgamma` is the C library's
(`math.lgamma`, per element); `digamma` and `polygamma` are written here (NumPy has
neither): the series `psi^(n)(x) = (-1)^(n+1) n! sum_k (x + k)^-(n+1)` summed upwards to
`x + k >= 20`, then Euler-Maclaurin's tail; for x < 0 digamma reflects
(`psi(x) = psi(1 - x) - pi cot(pi x)`) and polygamma uses
`sum_k (x + k)^-s = zeta(s, f) + (-1)^s (zeta(s, 1 - f) - zeta(s, 1 - x))`,
`f = x - floor(x)`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..core import bind
from .elementwise import FLOAT, binary, unary

_SHIFT_TO = 20.0
# B_2k / (2k)!, k = 1..10 (Euler-Maclaurin) and B_2k / 2k (digamma's asymptotic series)
_EM = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000,
       1 / 74724249600, -3617 / 10670622842880000, 43867 / 5109094217170944000,
       -174611 / 802857662698291200000)
_PSI = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def _rounded(fn: Any) -> Any:
    """fn on float64 copies of the operands, the result rounded to their dtype."""
    def impl(*xs: np.ndarray) -> np.ndarray:
        dt = np.result_type(*xs)
        with np.errstate(all="ignore"):
            r = fn(*np.broadcast_arrays(*(np.asarray(x, np.float64) for x in xs)))
        return np.asarray(r, np.float64).astype(dt)
    return impl


def _lgamma_scalar(v: float) -> float:
    try:
        return math.lgamma(v)
    except ValueError:               # a pole: 0 or a negative integer
        return math.inf


def _lgamma(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.frompyfunc(_lgamma_scalar, 1, 1)(x), np.float64)


def _factorial(n: float) -> float:
    """n! rounded once (inf beyond 170!)."""
    try:
        return float(math.factorial(int(n)))
    except OverflowError:
        return math.inf


def _digamma_pos(x: np.ndarray) -> np.ndarray:
    """psi(x) for x > 0: upwards to x >= 20, then the asymptotic series."""
    acc = np.zeros_like(x)
    w = x.copy()
    for _ in range(int(_SHIFT_TO)):
        low = w < _SHIFT_TO
        acc -= np.where(low, 1.0 / np.where(low, w, 1.0), 0.0)
        w = np.where(low, w + 1.0, w)
    z = 1.0 / (w * w)
    series = np.zeros_like(x)
    for c in reversed(_PSI):
        series = series * z + c
    return np.asarray(acc + np.log(w) - 0.5 / w - z * series)


def _digamma(x: np.ndarray) -> np.ndarray:
    neg = x < 0
    r = x - np.round(x)
    pos = _digamma_pos(np.where(neg, 1.0 - x, np.where(x > 0, x, 1.0)))
    refl = pos - np.pi / np.tan(np.pi * np.where(r == 0, 0.5, r))
    y = np.where(neg, refl, pos)
    y = np.where((x <= 0) & ((r == 0) | np.isinf(x)), np.nan, y)
    y = np.where(x == np.inf, np.inf, y)
    return np.where(np.isnan(x), x, y)


def _zeta(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hurwitz's zeta(s, q) for q > 0 and s >= 2."""
    acc = np.zeros_like(q)
    w = q.copy()
    for _ in range(int(_SHIFT_TO)):
        low = w < _SHIFT_TO + s
        acc += np.where(low, w ** -s, 0.0)
        w = np.where(low, w + 1.0, w)
    # tail: w^-s (w / (s - 1) + 1/2 + sum_k B_2k / (2k)! (s)_{2k-1} / w^(2k-1))
    tail = np.zeros_like(q)
    rising = s / w
    for k, c in enumerate(_EM, start=1):
        tail += c * rising
        rising = rising * (s + 2 * k - 1) * (s + 2 * k) / (w * w)
    return np.asarray(acc + w ** -s * (w / (s - 1) + 0.5 + tail))


def _polygamma(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    valid = (a >= 0) & (a == np.floor(a)) & np.isfinite(a)
    n = np.where(valid & (a > 0), a, 1.0)
    s = n + 1
    neg = x < 0
    f = x - np.floor(x)
    q1 = np.where(neg, np.where(f > 0, f, 0.5), np.where(x > 0, x, 1.0))
    z1 = _zeta(s, np.where(np.isfinite(q1), q1, 1.0))
    sign_s = np.where(s % 2 == 0, 1.0, -1.0)
    q2 = np.where(neg & (f > 0), 1.0 - f, 1.0)
    q3 = np.where(neg & np.isfinite(x), 1.0 - x, 2.0)
    z = np.where(neg, z1 + sign_s * _zeta(s, q2) - sign_s * _zeta(s, q3), z1)
    fact = np.asarray(np.frompyfunc(_factorial, 1, 1)(n), np.float64)
    y = sign_s * fact * z
    pole = (x <= 0) & ((x == np.floor(x)) | np.isinf(x))
    y = np.where(pole, np.where(sign_s > 0, np.inf, np.nan), y)
    y = np.where(x == np.inf, sign_s * 0.0, y)
    y = np.where(a == 0, _digamma(x), y)
    y = np.where(valid, y, np.nan)
    return np.where(np.isnan(x) | np.isnan(a), np.nan, y)


def _digamma_vjp(g: Any, x: Any, *, out: Any) -> tuple[Any]:
    return (ops.mul(g, bind("polygamma", ops.full(x.shape, 1, x.dtype), x)),)


def _polygamma_vjp(g: Any, a: Any, x: Any, *, out: Any) -> tuple[Any, Any]:
    # d/dx psi^(n)(x) = psi^(n+1)(x); the order gets none (TensorFlow registers None).
    return None, ops.mul(g, bind("polygamma", ops.add(a, ops.const(1, a.dtype)), x))


# lgamma(x) = log|Gamma(x)|; the costs are mathgamma's float32 sizes (in float64 lanes).
unary("lgamma", _rounded(_lgamma), lambda g, x, *, out: (ops.mul(g, bind("digamma", x)),),
      cost=408)
unary("digamma", _rounded(_digamma), _digamma_vjp, cost=355)
binary("polygamma", _rounded(_polygamma), _polygamma_vjp, allowed=FLOAT, cost=3489)
