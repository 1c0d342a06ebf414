"""Inline, vectorizable transcendental functions: ``emit_math(builder, name, args)``.

Each function is emitted into the current basic block as straight-line code: float and
integer arithmetic, ``select``, bitcasts and the intrinsics that are single vector
instructions (``llvm.fma``, ``llvm.fabs``, ``llvm.rint``, ``llvm.floor``, ``llvm.sqrt``,
``llvm.copysign``). There are no branches and no libm calls, so the loop vectorizer turns a
loop over any of them into SIMD code.

Invariants:

- scalar ``float`` or ``double`` in (two for ``pow``), the same type out;
- NaN, +-inf, -0.0 and subnormals come out as NumPy gives them (``exp(-inf) = 0``,
  ``log(-0.0) = -inf``, ``sin(-0.0) = -0.0``, ``tanh(-0.0) = -0.0``, ``sin(inf) = nan``, ...);
- no fast-math flags at all: the algorithms rely on every rounding (exact
  products by ``fma``, two-sum error terms), so LLVM may not reassociate or contract them;
- every polynomial runs on a reduced argument, with Remez-style (Chebyshev-node) fitted
  coefficients; each table is written for its own precision.

Where things are: `mathcore` holds the `MathEmitter` (float arithmetic of one type over an
``IRBuilder``) and the constants of each precision; `mathexp` the exponential and
logarithm families, ``tanh``, ``logistic``, ``softplus`` and ``pow``; `mathtrig` ``sin``,
``cos``, ``tan`` and ``atan2``, ``atan``, ``asin``, ``acos``; `mathspecial` ``erf`` and
``erfc``. Each module's docstring states its methods. This module is the entry point and
the table `FUNCTIONS`: a new function is an emitter in the module of its family and one
entry here. ``sqrt`` is ``llvm.sqrt`` (one instruction, correctly rounded).

Range claims. The inline ``sin``/``cos``/``tan`` hold the bound for ``|x| <= 1e5`` in
float32 and for ``|x| <= 1e15`` in float64 (measured to 1.26e16, where ``q`` stops being
an exact integer at 2^53), float64 ``tan`` for ``|x| <= 1e6`` (`mathcall.limit`). Beyond
that the float64 sin/cos reduced argument is clamped to the polynomial's interval and the
float32 (and float64 tan) result is 0 (any finite argument still gives a value in
``[-1, 1]`` for sin and cos, a finite one for tan; +-inf gives NaN), and compiled code
does not use it there: lowering (``lower_elementwise.trig``) notes such arguments and
recomputes their task with the C library's ``sin``/``sinf``/... for them, whose
Payne-Hanek reduction is exact, so compiled sin/cos/tan hold the bound over the whole
range (``tests/codegen/test_trig_range.py``). Every other function here holds its bound
over the whole range of the type, including subnormal inputs and results.

Measured max error in ulp (the tested bound is 4 ulp for every function and type).
float32 is measured against NumPy's float64 result (0.5 would be correct rounding):
exhaustively over all 2^32 bit patterns for the one-argument functions (over every
float32 in ``[0, 1e5]`` for sin/cos, which are odd/even); exp, log, log1p, tanh,
logistic and softplus (rewritten since) over every 7th bit pattern (614 million points),
tan over every 3rd float32 in ``[0, 1e5]`` plus the test's samples and a second
sweep (its 2.91 is at +-32026.967; log's 2.40 at 1.4142085); on random pairs for pow
(10.8 million, ``x^y`` sweeping the whole range) and
atan2 (2.1 million pairs, random bit patterns, ratios near every eighth); atan, asin and
acos on 2.4 million points (random bit patterns, all of [-1, 1], near +-1 and 0 on log
scales).
float64 is measured against NumPy's long double (64-bit mantissa) result on several
million points per function (log-spaced sweeps over every binade of both signs, random finite
and random bit patterns, overflow/underflow thresholds, neighbours of multiples of pi/2,
near 0 and 1; pow with ``y`` chosen so ``x^y`` sweeps the whole range), plus an mpmath
spot check. ``tests/codegen/test_mathlib.py`` asserts the bound on a smaller sample of
the same kind and prints its own table when run as a script.

==========  =======  =======
function    float32  float64
==========  =======  =======
exp           0.97     0.97
log           2.40     0.87
log1p         2.44     0.88
expm1         1.44     1.79
sin           1.49     0.81
cos           1.49     0.82
tan           2.91     2.47
tanh          2.49     2.52
logistic      2.34     2.31
softplus      2.90     1.59
sqrt          0.50     0.50
pow           0.98     1.15
atan2         2.69     2.06
atan          1.83     1.89
asin          2.64     2.11
acos          2.37     2.64
==========  =======  =======

The table is this module's code (every host). On AVX-512 hosts compiled code runs explicit
vector bodies instead for float64 ``log`` (0.96 ulp), float32 ``pow`` (0.77; 1.05 on 16
million more pairs) and float64 ``pow`` (0.95): `mathvec`, measured by
``tests/codegen/test_mathvec.py``.

``erf`` and ``erfc`` are in `mathspecial`, ``lgamma``, ``digamma`` and ``polygamma`` in
`mathgamma` (method and measured bounds there).
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from . import mathexp, mathgamma, mathspecial, mathtrig, mathzeta
from .mathcore import MathEmitter

# The names `mathspecial` imports from here (its emitters are written over these).
_Em = MathEmitter
_exp_reduce = mathexp.exp_reduce

# ---------------------------------------------------------------- entry point


def emit_math(builder: ir.IRBuilder, name: str, args: list[ir.Value],
              avx512: bool | None = None) -> ir.Value:
    """Emit ``name(*args)`` inline for scalar float or double values; returns the result.

    ``name`` is one of ``SUPPORTED``; ``pow`` takes ``[x, y]``, ``atan2`` ``[y, x]``, the
    others ``[x]`` (``FUNCTIONS`` has each one's count). ``avx512`` (default: whether the
    host has AVX-512F) selects the code that uses ``llvm.ldexp`` (one ``vscalef``); tests
    pass False to check the generic code on any host. The code
    is straight-line (see the module docstring), so a loop around it vectorizes::

        y = emit_math(builder, "exp", [x])      # x: an ir.Value of type float or double
    """
    entry = FUNCTIONS.get(name)
    if entry is None:
        raise NotImplementedError(f"emit_math: unknown function {name!r}; supported: "
                                  + ", ".join(sorted(SUPPORTED)))
    want, fn = entry
    if len(args) != want:
        raise ValueError(f"emit_math: {name} takes {want} argument(s), got {len(args)}")
    ty = args[0].type
    if not isinstance(ty, (ir.FloatType, ir.DoubleType)) or any(a.type != ty for a in args):
        raise TypeError(f"emit_math: {name} needs float or double arguments of one type, got "
                        + ", ".join(str(a.type) for a in args))
    return fn(MathEmitter(builder, ty, avx512), *args)


#: The library: name -> (number of arguments, emitter). Each name is the primitive it
#: computes, so lowering dispatches every primitive named here to `emit_math`.
FUNCTIONS: dict[str, tuple[int, Callable[..., ir.Value]]] = {
    "exp": (1, mathexp.exp), "log": (1, mathexp.log), "log1p": (1, mathexp.log1p),
    "expm1": (1, mathexp.expm1), "tanh": (1, mathexp.tanh), "logistic": (1, mathexp.logistic),
    "softplus": (1, mathexp.softplus), "pow": (2, mathexp.power),
    "sin": (1, mathtrig.sin), "cos": (1, mathtrig.cos), "tan": (1, mathtrig.tan),
    "atan2": (2, mathtrig.atan2), "atan": (1, mathtrig.atan), "asin": (1, mathtrig.asin),
    "acos": (1, mathtrig.acos),
    "sqrt": (1, MathEmitter.sqrt),
    # special functions (`mathspecial`, with their own measured table)
    "erf": (1, mathspecial._erf), "erfc": (1, mathspecial._erfc),
    # the gamma family (`mathgamma`, with its own measured table)
    **mathgamma.FUNCTIONS,
    **mathzeta.FUNCTIONS,
}
SUPPORTED: frozenset[str] = frozenset(FUNCTIONS)
