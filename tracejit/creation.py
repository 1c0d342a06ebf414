"""Tensor creation: fill, ones, zeros (and their `_like` forms), range."""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

import numpy as np

from .convert import (_dtype, _shape_arg, _user_error, constant, convert_to_tensor, float32)
from .exports import export
from .ir.core import TensorType
from .ir.memory import check_allocation
from .shapes import broadcast_to
from .tensor import Tensor, TensorInput, TensorLike

@export("fill")
def fill(dims: Sequence[int], value: TensorInput, name: str | None = None, *, dtype: Any = None
         ) -> Tensor:
    v = convert_to_tensor(value) if dtype is None else constant(value, dtype)
    return broadcast_to(v, _shape_arg(dims))




@export("ones")
def ones(shape: Any, dtype: Any = float32, name: str | None = None) -> Tensor:
    return fill(shape, 1, dtype=_dtype(dtype))   # (None: TypeError, as TensorFlow's)


@export("zeros")
def zeros(shape: Any, dtype: Any = float32, name: str | None = None) -> Tensor:
    return fill(shape, 0, dtype=_dtype(dtype))


@export("ones_like")
def ones_like(input: TensorInput, dtype: Any = None, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return fill(x.shape, 1, dtype=dtype or x.dtype)


@export("zeros_like")
def zeros_like(input: TensorInput, dtype: Any = None, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return fill(x.shape, 0, dtype=dtype or x.dtype)


# TensorFlow's range takes the widest of its arguments' dtypes in this order (a tensor or
# NumPy scalar brings its own, a Python float float32, a Python int int32).
_RANGE_DTYPES = [np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float32),
                 np.dtype(np.float64)]


def _range_dtype(args: Sequence[Any], vals: Sequence[Any]) -> Any:
    kinds = []
    for a, v in zip(args, vals):
        dt = getattr(a, "dtype", None)
        if dt is not None and np.dtype(dt) in _RANGE_DTYPES:
            kinds.append(np.dtype(dt))
        else:
            kinds.append(np.dtype(np.float32) if isinstance(v, float) else np.dtype(np.int32))
    return max(kinds, key=_RANGE_DTYPES.index)


@export("range")
def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,
          name: str | None = None) -> Tensor:  # noqa: A001  (TensorFlow's name)
    if limit is None:
        start, limit = 0, start
    args = (start, limit, delta)
    vals = [np.asarray(v).item() if isinstance(v, (TensorLike, np.generic)) else v
            for v in args]
    if dtype is None:
        dtype = _range_dtype(args, vals)
    if vals[2] == 0:
        raise _user_error(ValueError("range: delta must not be 0"))
    if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
        # TensorFlow: InvalidArgumentError; math.ceil raised ValueError or OverflowError
        # about converting a float to an integer.
        raise _user_error(ValueError(f"range: start, limit and delta must be finite, got "
                                     f"{vals[0]!r}, {vals[1]!r}, {vals[2]!r}"))
    dt = _dtype(dtype)
    start, limit, delta = vals
    if all(isinstance(v, (int, np.integer)) for v in vals):
        n = max(0, -(-(limit - start) // delta))           # exact for any Python int
    else:
        n = max(0, math.ceil((limit - start) / delta))
    # Check before NumPy allocates and fills: neither a huge length nor values that the
    # dtype would wrap around.
    try:
        check_allocation([TensorType((n,), dt)], "range")
    except MemoryError as e:
        raise _user_error(e) from None
    if n and dt.kind in "iu":
        info = np.iinfo(dt)
        for v in (start, start + (n - 1) * delta):
            if not info.min <= v <= info.max:
                raise _user_error(OverflowError(
                    f"range: {v!r} is out of the range of {dt} [{info.min}, {info.max}]; "
                    "pass dtype=tj.int64"))
    return constant(np.arange(*vals).astype(dt))
