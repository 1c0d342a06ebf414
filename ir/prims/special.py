"""Special functions: the error function family (elementwise, float32 and float64).

Invariants: each is an elementwise primitive of float operands whose native code is the
vector-math function of the same name (`codegen.mathspecial`); the NumPy reference is
the C library's function (`math.erf`, ...) applied per element in float64 and rounded
once to the operand's dtype (NumPy has no erf, and tracejit depends on NumPy only).
VJPs are written with `bind`, so they differentiate again.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .elementwise import unary

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _per_element(fn: Any) -> Any:
    ufunc = np.frompyfunc(fn, 1, 1)

    def impl(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return np.asarray(ufunc(x.astype(np.float64)), dtype=np.float64).astype(x.dtype)

    return impl


def _gauss(g: Any, x: Any, c: float) -> Any:
    """g c exp(-x^2): the derivative of erf (c = 2/sqrt(pi)) and of erfc (its negative)."""
    return ops.mul(g, ops.scale(ops.exp(ops.neg(ops.square(x))), c))


# erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt; erfc = 1 - erf without the cancellation. The
# costs are mathspecial's float32 sizes (computed in float64 lanes, so they count double).
unary("erf", _per_element(math.erf), lambda g, x, *, out: (_gauss(g, x, _TWO_OVER_SQRT_PI),),
      cost=107)
unary("erfc", _per_element(math.erfc),
      lambda g, x, *, out: (_gauss(g, x, -_TWO_OVER_SQRT_PI),), cost=128)
