"""Sorting: `tj.sort`, `tj.argsort` and `tj.math.top_k` (also `tj.nn.top_k`), with
TensorFlow's names and arguments.

All three are the `sort` primitive (a stable merge sort of the last axis in native code,
with the permutation as its second result): `sort`/`argsort` along another axis move it
last and back, and `top_k` is the first k of a descending sort. Gradients flow through the
selected values to where they came from; indices have none. NaN sorts above +inf
(NumPy's order); equal elements keep their order in both directions, so `argsort` is
always stable and `top_k` gives the lowest index first among ties, as TensorFlow's.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy as np

from . import ops
from .convert import _axis, _user_error, cast, convert_to_tensor, int32, static_int
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .tensor import Tensor, TensorInput

TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def _sorted(op: str, values: TensorInput, axis: Any, direction: str) -> tuple[Tensor, Tensor]:
    if direction not in ("ASCENDING", "DESCENDING"):
        raise _user_error(ValueError("Argument `direction` should be one of ASCENDING, "
                                     f"DESCENDING. Received: direction={direction}"))
    x = convert_to_tensor(values)
    if x.dtype.kind not in "fiu":
        raise _user_error(DTypeError(f"{op} needs a numeric tensor, got {x.dtype.name}"))
    if x.ndim == 0:
        raise _user_error(ShapeError(f"{op} needs a tensor of rank >= 1, got a scalar"))
    ax = _axis(op, axis, x.ndim)
    last = x.ndim - 1
    perm = list(range(x.ndim))
    perm[ax], perm[last] = last, ax
    if ax != last:
        x = ops.transpose(x, perm)
    v, i = bind("sort", x, descending=direction == "DESCENDING")
    if ax != last:
        v, i = ops.transpose(v, perm), ops.transpose(i, perm)
    return v, i


@export("sort")
def sort(values: TensorInput, axis: Any = -1, direction: str = "ASCENDING",
         name: str | None = None) -> Tensor:
    """`values` sorted along `axis` (the last by default), `direction` "ASCENDING" or
    "DESCENDING"; NaN sorts above +inf. The gradient goes to where each value came from.

    >>> tj.sort([3., 1., 2.], direction="DESCENDING").numpy()
    array([3., 2., 1.], dtype=float32)
    """
    return _sorted("sort", values, axis, direction)[0]


@export("argsort")
def argsort(values: TensorInput, axis: Any = -1, direction: str = "ASCENDING",
            stable: bool = False, name: str | None = None) -> Tensor:
    """The int32 indices that sort `values` along `axis`: always a stable sort (equal
    values keep their order, in both directions), which `stable=False` also allows.

    >>> tj.argsort([3, 1, 3, 2], direction="DESCENDING").numpy()
    array([0, 2, 3, 1], dtype=int32)
    """
    return _sorted("argsort", values, axis, direction)[1]


@export("math.top_k", "nn.top_k")
def top_k(input: TensorInput, k: Any = 1, sorted: bool = True,  # noqa: A002
          index_type: Any = int32, name: str | None = None) -> Any:
    """The k largest entries of the last axis and their indices, as a named tuple
    `(values, indices)`, largest first; among equal values the lower index comes first.
    The result is sorted also with `sorted=False` (TensorFlow leaves the order open there).
    The gradient goes to the selected entries.

    >>> r = tj.math.top_k([1., 5., 3., 5.], k=2)
    >>> r.values.numpy(), r.indices.numpy()
    (array([5., 5.], dtype=float32), array([1, 3], dtype=int32))
    """
    x = convert_to_tensor(input)
    kk = static_int("top_k", "k", k.numpy() if isinstance(k, Tensor) else k)
    if x.ndim == 0:
        raise _user_error(ShapeError("top_k: input must be >= 1-D, got shape ()"))
    n = x.shape[-1]
    if kk < 0:
        raise _user_error(ValueError(f"top_k: need k >= 0, got {kk}"))
    if kk > n:
        raise _user_error(ValueError(f"top_k: input must have at least k columns. Had {n}, "
                                     f"needed {kk}"))
    v, i = _sorted("top_k", x, -1, "DESCENDING")
    starts = (0,) * x.ndim
    limits = tuple(x.shape[:-1]) + (kk,)
    strides = (1,) * x.ndim
    v = bind("slice", v, starts=starts, limits=limits, strides=strides)
    i = bind("slice", i, starts=starts, limits=limits, strides=strides)
    if np.dtype(index_type) != np.int32:
        i = cast(i, index_type)
    return TopKV2(v, i)
