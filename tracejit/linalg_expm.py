"""`tj.linalg.expm`: the matrix exponential by scaling and squaring with Padé approximants
(Higham 2005), TensorFlow's algorithm step for step.

The l1 norm of each matrix picks the Padé degree (3, 5, 7, 9 or 13 in float64; 3, 5 or 7
in float32, with TensorFlow's thresholds) and the number of squarings s; the approximant
of A / 2^s is `solve(V - U, V + U)` (`tj.linalg.solve`), then squared s times inside a
`while_loop` that runs max(s) iterations, each matrix of a batch squared only while its
own count lasts. Everything is composed from matmul, solve, where and while_loop, so
expm compiles to native code and its gradient is that of the approximant (as in
TensorFlow), to any order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .control import while_loop
from .exports import export
from .ir.core import bind
from .ir.ops import const
from .linalg_solve import _matrix
from .tensor import Tensor, TensorInput

# Padé coefficients b_0 .. b_{m-1} of degree m (the leading 1 is implicit).
_PADE = {
    3: [120.0, 60.0, 12.0],
    5: [30240.0, 15120.0, 3360.0, 420.0, 30.0],
    7: [17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0],
    9: [17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0,
        110880.0, 3960.0, 90.0],
    13: [64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
         129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
         40840800.0, 960960.0, 16380.0, 182.0],
}
# (degrees, l1-norm thresholds below which each but the last is used, the last's
# maximal norm before squaring), as TensorFlow's expm.
_PLAN = {
    np.dtype(np.float64): ((3, 5, 7, 9, 13), (1.495585217958292e-002, 2.539398330063230e-001,
                                              9.504178996162932e-001, 2.097847961257068e+000),
                           5.371920351148152),
    np.dtype(np.float32): ((3, 5, 7), (4.258730016922831e-001, 1.880152677804762e+000),
                           3.925724783138660),
}




def _mm(a: Any, b: Any) -> Any:
    return bind("matmul", a, b, transpose_a=False, transpose_b=False)


def _lin(terms: list[tuple[float, Any]], ident: Any) -> Any:
    """sum of c * X over `terms` (X None for the identity)."""
    out = None
    for c, x in terms:
        t = bind("mul", const(c, ident.dtype), ident if x is None else x)
        out = t if out is None else bind("add", out, t)
    return out


def _pade(a: Any, m: int, ident: Any) -> tuple[Any, Any]:
    """(U, V) of the degree-m approximant: exp(A) ~ (V - U)^-1 (V + U)."""
    b = _PADE[m]
    p = {2: _mm(a, a)}
    for k in range(4, min(m, 7) + 1, 2):
        p[k] = _mm(p[k - 2], p[2])
    if m == 9:
        p[8] = _mm(p[6], p[2])
    if m == 13:
        tmp_u = bind("add", _mm(p[6], _lin([(1.0, p[6]), (b[11], p[4]), (b[9], p[2])], ident)),
                     _lin([(b[7], p[6]), (b[5], p[4]), (b[3], p[2]), (b[1], None)], ident))
        tmp_v = _lin([(b[12], p[6]), (b[10], p[4]), (b[8], p[2])], ident)
        v = bind("add", _mm(p[6], tmp_v),
                 _lin([(b[6], p[6]), (b[4], p[4]), (b[2], p[2]), (b[0], None)], ident))
        return _mm(a, tmp_u), v
    odd = [(1.0, p[m - 1])] + [(b[k], p[k - 1] if k > 1 else None) for k in range(m - 2, 0, -2)]
    even = [(b[k], p[k] if k else None) for k in range(m - 1, -1, -2)]
    return _mm(a, _lin(odd, ident)), _lin(even, ident)


@export("linalg.expm")
def expm(input: TensorInput, name: str | None = None) -> Tensor:  # noqa: A002
    """The matrix exponential of each square matrix (TensorFlow's scaling and squaring with
    Padé approximants); differentiable, and compiled to native code with a loop for the
    squarings.

    >>> tj.linalg.expm(tj.constant([[0., 1.], [0., 0.]])).numpy()
    array([[1., 1.],
           [0., 1.]], dtype=float32)
    """
    a = _matrix("expm", input)
    dt = np.dtype(a.dtype)
    n = a.shape[-1]
    lead = tuple(a.shape[:-2])
    degrees, cases, maxnorm = _PLAN[dt]
    ident = bind("convert", bind("eq", bind("iota", shape=(n, n), dimension=0),
                                 bind("iota", shape=(n, n), dimension=1)), dtype=dt)
    col = bind("reduce_sum", bind("abs", a), axes=(len(a.shape) - 2,), keepdims=True)
    l1 = bind("stop_gradient", bind("reduce_max", col, axes=(len(a.shape) - 1,),
                                    keepdims=True))                   # [..., 1, 1]
    if n == 0:
        return a
    sq = bind("maximum", bind("floor", bind("div", bind("log", bind("div", l1, const(maxnorm, dt))),
                                            const(math.log(2.0), dt))), const(0.0, dt))
    scaled = bind("div", a, bind("pow", const(2.0, dt), sq))
    pairs = [_pade(a, m, ident) for m in degrees[:-1]] + [_pade(scaled, degrees[-1], ident)]
    u, v = pairs[-1]
    for (pu, pv), bound in reversed(list(zip(pairs[:-1], cases))):
        small = bind("lt", l1, const(bound, dt))
        u, v = bind("select", small, pu, u), bind("select", small, pv, v)
    shape = lead + (n, n)
    result = bind("solve", bind("broadcast_to", bind("sub", v, u), shape=shape),
                  bind("broadcast_to", bind("add", v, u), shape=shape), adjoint=False)
    max_sq = bind("reduce_max", sq, axes=tuple(range(len(sq.shape))), keepdims=False)

    def body(i: Tensor, r: Tensor) -> list[Tensor]:
        squared = bind("matmul", r, r, transpose_a=False, transpose_b=False)
        return [bind("add", i, const(1.0, dt)), bind("select", bind("lt", i, sq), squared, r)]

    _, result = while_loop(lambda i, r: bind("lt", i, max_sq), body, [const(0.0, dt), result])
    return result
