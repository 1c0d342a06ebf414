"""Runtime values of dimensions unknown at trace time (`input_signature` with None).

Inside a function traced with unknown dimensions, a `Tensor.shape` entry may be a
`Dim` (a symbol such as `n0`). `dim_value` gives its value as a scalar tensor computed
by the native code at run time (`tj.shape`, `reduce_mean`'s count use it), built from
existing primitives: the sum of a broadcast integer one over a vector of that length,
which is exact in int64 and costs one pass over the symbol's extent.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .ir.core import bind
from .ir.dims import Dim
from .tensor import Tensor


def dim_value(d: Any, dtype: Any) -> Tensor:
    """The value of dimension `d` (an int or a `Dim`) as a scalar tensor of `dtype`.

    >>> dim_value(3, np.int32).numpy()
    array(3, dtype=int32)
    """
    from .convert import constant
    dt = np.dtype(dtype)
    if type(d) is not Dim:
        return constant(np.asarray(d, dt))
    one = constant(np.asarray(1, np.int64))
    n: Any = constant(np.asarray(d.coef, np.int64))
    for s in d.syms:
        ones = bind("broadcast_to", one, shape=(Dim(1, (s,)),))
        n = bind("mul", n, bind("reduce_sum", ones, axes=(0,), keepdims=False))
    return n if dt == np.dtype(np.int64) else bind("convert", n, dtype=dt)  # type: ignore
