"""Cumulative sums, products and log-sum-exps along an axis: `tj.cumsum`,
`tj.math.cumsum`, `tj.math.cumprod`, `tj.math.cumulative_logsumexp`, with TensorFlow's
`exclusive` and `reverse`.

Each is one scan primitive (`ir.prims.scans`: a loop along the axis in native code, exact
gradients, batching); the exclusive forms shift the inclusive scan by one element
(`ir.prims.recurrence.shifted`) and put the identity (0, 1 or -inf) in front.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .convert import _axis, _user_error, convert_to_tensor
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError
from .ir.prims.recurrence import shifted
from .tensor import Tensor, TensorInput

_IDENTITY = {"cumsum": 0.0, "cumprod": 1.0, "cumlogsumexp": -np.inf}


def _scan(op: str, prim: str, x: TensorInput, axis: Any, exclusive: bool, reverse: bool,
          kinds: str) -> Tensor:
    t = convert_to_tensor(x)
    if t.dtype.kind not in kinds:
        want = "a float" if kinds == "f" else "a numeric"
        raise _user_error(DTypeError(f"{op} needs {want} tensor, got {t.dtype.name}"))
    ax = _axis(op, axis, t.ndim)
    reverse = bool(reverse)
    y = bind(prim, t, axis=ax, reverse=reverse)
    if not exclusive:
        return y
    # exclusive: the inclusive scan moved one step on, the identity where nothing precedes
    return shifted(y, ax, not reverse, _IDENTITY[prim])


@export("cumsum", "math.cumsum")
def cumsum(x: TensorInput, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
           name: str | None = None) -> Tensor:
    """The cumulative sum along `axis`: element i is x[0] + ... + x[i] (`exclusive`: up to
    x[i-1], so the first is 0; `reverse`: from the end). Integers wrap; bool is refused, as
    in TensorFlow.

    >>> tj.cumsum([1, 2, 3, 4]).numpy()
    array([ 1,  3,  6, 10], dtype=int32)
    >>> tj.cumsum([1, 2, 3, 4], exclusive=True, reverse=True).numpy()
    array([9, 7, 4, 0], dtype=int32)
    """
    return _scan("cumsum", "cumsum", x, axis, exclusive, reverse, "fiu")


@export("math.cumprod")
def cumprod(x: TensorInput, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
            name: str | None = None) -> Tensor:
    """The cumulative product along `axis` (`exclusive`: the first is 1). Its gradient is
    exact where x has zeros (TensorFlow's is not: it divides by x).

    >>> tj.math.cumprod([1., 2., 3., 4.], exclusive=True).numpy()
    array([1., 1., 2., 6.], dtype=float32)
    """
    return _scan("cumprod", "cumprod", x, axis, exclusive, reverse, "fiu")


@export("math.cumulative_logsumexp")
def cumulative_logsumexp(x: TensorInput, axis: Any = 0, exclusive: bool = False,
                         reverse: bool = False, name: str | None = None) -> Tensor:
    """log(cumsum(exp(x))) along `axis` without overflow (`exclusive`: the first is -inf);
    floats only.

    >>> tj.math.cumulative_logsumexp([1., 2., 3.]).numpy()
    array([1.       , 2.3132617, 3.4076061], dtype=float32)
    """
    return _scan("cumulative_logsumexp", "cumlogsumexp", x, axis, exclusive, reverse, "f")
