"""Special functions of `tj.math`: the error function family (and the gamma family),
with TensorFlow's names and semantics.

`erf` and `erfc` are primitives (vector math within 4 ulp in native code, see
`codegen.mathspecial`); float32 and float64 only, as TensorFlow's kernels.
"""
from __future__ import annotations

from . import ops
from .exports import export
from .ir.core import bind
from .tensor import Tensor, TensorInput


@export("math.erf")
def erf(x: TensorInput, name: str | None = None) -> Tensor:
    """The error function, 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x,
    elementwise; its gradient is 2/sqrt(pi) exp(-x^2).

    >>> tj.math.erf([-1., 0., 0.5]).numpy()
    array([-0.8427008,  0.       ,  0.5204999], dtype=float32)
    """
    return bind("erf", ops._float_tensor("erf", x))


@export("math.erfc")
def erfc(x: TensorInput, name: str | None = None) -> Tensor:
    """The complementary error function 1 - erf(x), elementwise, accurate where it is
    tiny (large x) instead of cancelling to 0; gradient -2/sqrt(pi) exp(-x^2).

    >>> tj.math.erfc([-1., 0., 3.]).numpy()
    array([1.8427008e+00, 1.0000000e+00, 2.2090497e-05], dtype=float32)
    """
    return bind("erfc", ops._float_tensor("erfc", x))
