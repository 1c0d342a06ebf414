"""Ops whose output size is counted from their input's values: `tj.unique`,
`tj.unique_with_counts` and `tj.math.bincount`.

Shapes are static in tracejit, so these need the values that set the size when the op
runs: eagerly, or inside a compiled function for Python or NumPy inputs. A traced input
raises TracingError naming the line, except that `bincount` with `minlength == maxlength`
has a fixed size and runs on traced input too. TensorFlow's graphs allow a dynamic size.

`unique` is computed on the values (NumPy), so its results have no gradient (TensorFlow
registers none). `bincount` is a `scatter_add` of ones (or of the weights) into the bins,
so native code computes it and the weights get their gradient (TensorFlow has none); a
value at or beyond `maxlength` goes to one extra bin that is dropped.
"""
from __future__ import annotations

import collections
import math
from typing import Any

import numpy as np

from .arrayops import static_ints
from .convert import _axis, _user_error, cast, constant, convert_to_tensor
from .errors import InvalidArgumentError, TracingError
from .exports import export
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .ir.ops import const
from .tensor import Tensor, TensorInput, TensorLike

Unique = collections.namedtuple("Unique", ["y", "idx"])
UniqueWithCounts = collections.namedtuple("UniqueWithCounts", ["y", "idx", "count"])
I32, I64 = np.dtype(np.int32), np.dtype(np.int64)


def _values(op: str, raw: Any, t: Tensor, instead: str) -> np.ndarray:
    """The NumPy value of input `raw` (converted: `t`); TracingError when it is traced."""
    if not isinstance(raw, TensorLike):
        return np.asarray(raw).astype(t.dtype)
    try:
        return np.asarray(t)
    except TracingError:
        raise _user_error(TracingError(
            f"{op}: the output's size depends on the values of its input, which are not known "
            f"while tracing a compiled function (tracejit's shapes are static): {instead}"
        )) from None


def _index_dtype(op: str, out_idx: Any) -> np.dtype:
    d = np.dtype(out_idx)
    if d not in (I32, I64):
        raise _user_error(DTypeError(f"{op}: out_idx must be int32 or int64, got {d.name}"))
    return d


def _unique(op: str, x: TensorInput, out_idx: Any) -> tuple[Tensor, Tensor, Tensor]:
    d = _index_dtype(op, out_idx)
    t = convert_to_tensor(x)
    if t.ndim != 1:
        raise _user_error(ShapeError(f"{op} expects a 1-D tensor, got shape {t.shape}"))
    a = _values(op, x, t, "call it outside the compiled function, or on a Python/NumPy value")
    # Sorted, each value's first occurrence (a stable sort keeps the first of equal values,
    # so -0.0 and 0.0 are one value, shown as whichever comes first); NaN is never equal to
    # anything, so every NaN is a value of its own, as in TensorFlow.
    _, first, inverse, counts = np.unique(a, return_index=True, return_inverse=True,
                                          return_counts=True, equal_nan=False)
    order = np.argsort(first, kind="stable")           # values by first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return (constant(a[first[order]]), constant(rank[inverse.reshape(-1)].astype(d)),
            constant(counts[order].astype(d)))


@export("unique")
def unique(x: TensorInput, out_idx: Any = I32, name: str | None = None) -> Unique:
    """The distinct elements `y` of the 1-D tensor `x` in the order they first appear, and
    for each element of `x` its index `idx` in `y` (int32, or `out_idx`): `x == gather(y,
    idx)`. NaNs are all distinct; -0.0 and 0.0 are one element. Needs `x`'s values (not
    a traced tensor; see the module docstring); no gradient.

    >>> y, idx = tj.unique([3, 1, 3, 2, 1])
    >>> y.numpy(), idx.numpy()
    (array([3, 1, 2], dtype=int32), array([0, 1, 0, 2, 1], dtype=int32))
    """
    y, idx, _ = _unique("unique", x, out_idx)
    return Unique(y, idx)


@export("unique_with_counts")
def unique_with_counts(x: TensorInput, out_idx: Any = I32, name: str | None = None
                       ) -> UniqueWithCounts:
    """`tj.unique`'s `y` and `idx`, and how often each element of `y` occurs in `x`
    (`count`, of `out_idx`'s dtype).

    >>> tj.unique_with_counts([3, 1, 3, 2, 1]).count.numpy()
    array([2, 2, 1], dtype=int32)
    """
    return UniqueWithCounts(*_unique("unique_with_counts", x, out_idx))


def _length(a: Any, minlength: Any, maxlength: Any) -> int:
    """The number of bins, TensorFlow's: max(arr) + 1 but at least `minlength`, at most
    `maxlength` (a negative minlength counts as none)."""
    n = int(a.max()) + 1 if a.size else 0
    if minlength is not None:
        n = max(n, int(minlength))
    if maxlength is not None:
        n = min(n, max(0, int(maxlength)))
    return n


def _static_length(op: str, v: Any) -> Any:
    if v is None:
        return None
    return int(static_ints(op, "minlength/maxlength", v))


@export("math.bincount")
def bincount(arr: TensorInput, weights: TensorInput | None = None, minlength: Any = None,
             maxlength: Any = None, dtype: Any = I32, name: str | None = None,
             axis: Any = None, binary_output: bool = False) -> Tensor:
    """How often each value 0, 1, ... occurs in the non-negative integers `arr` (all of
    them, or with `axis=-1` each row of a 2-D `arr`): the sum of `weights` (same shape)
    at each value instead, if given. The length is max(arr) + 1, at least `minlength`
    and at most `maxlength` (larger values are dropped); `binary_output` gives 1 for
    every value that occurs. The result has `weights`' dtype, else `dtype`. Inside a
    compiled function a traced `arr` needs `minlength == maxlength` (a fixed length).

    >>> tj.math.bincount([1, 1, 3], minlength=5).numpy()
    array([0, 2, 0, 1, 0], dtype=int32)
    """
    op = "bincount"
    t = convert_to_tensor(arr)
    if t.dtype.kind == "f":                          # TensorFlow casts it, as here
        t = cast(t, I32)
    elif t.dtype.kind not in "iu":
        raise _user_error(DTypeError(f"{op}: arr must be an integer tensor, got {t.dtype}"))
    if axis not in (None, 0, -1):
        _axis(op, axis, t.ndim)                 # AxisError when out of range
        raise _user_error(ValueError(f"{op}: unsupported value for argument axis={axis}. "
                                     "Only 0 and -1 are currently supported."))
    rows = axis == -1 and t.ndim == 2
    if axis == -1 and t.ndim > 2:
        raise _user_error(ValueError(f"{op}: axis=-1 needs arr of rank 2 at most, got shape "
                                     f"{t.shape}"))
    w = None
    if weights is not None:
        if binary_output:
            raise _user_error(ValueError("Arguments `binary_output` and `weights` are mutually "
                                         "exclusive. Please specify only one."))
        w = convert_to_tensor(weights)
        if w.dtype.kind not in "iuf":
            raise _user_error(DTypeError(f"{op}: weights must be numeric, got {w.dtype}"))
        if w.shape != t.shape:
            if math.prod(w.shape) != 0:
                raise _user_error(ShapeError(
                    f"{op}: weights must have the shape of arr {t.shape} (or no elements), "
                    f"got {w.shape}"))
            w = None
    out = w.dtype if w is not None else np.dtype(dtype)
    if out not in (I32, I64, np.dtype(np.float32), np.dtype(np.float64)):
        raise _user_error(DTypeError(f"{op}: dtype must be int32, int64, float32 or float64, "
                                     f"got {out.name}"))
    lo, hi = _static_length(op, minlength), _static_length(op, maxlength)
    if lo is not None and lo == hi and lo >= 0:
        n = lo
        try:
            a = np.asarray(t)
        except TracingError:
            a = None
    else:
        a = _values(op, arr, t, "pass minlength=maxlength=n for a fixed length n, or call "
                    "it outside the compiled function")
        if a.dtype.kind == "f":
            a = a.astype(I32)
        n = _length(a, lo, hi)
    if a is not None and a.size and a.min() < 0:
        raise _user_error(InvalidArgumentError(f"{op}: Input arr must be non-negative! Got "
                                               f"{a.min()}"))
    return _bins(t, w, n, out, rows, binary_output)


def _bins(t: Tensor, w: Tensor | None, n: int, out: np.dtype, rows: bool,
          binary_output: bool) -> Tensor:
    """A scatter_add into n + 1 bins per row (the last takes every value >= n), which then
    is dropped. A negative value is out of the scatter's bounds: IndexError in native code."""
    nr = t.shape[0] if rows else 1
    size = math.prod(t.shape)
    flat = bind("reshape", t, shape=(size,))
    ids = bind("select", bind("lt", flat, const(n, flat.dtype)), flat, const(n, flat.dtype))
    if rows:
        row = bind("iota", shape=t.shape, dimension=0, dtype=flat.dtype)
        ids = bind("add", ids, bind("mul", bind("reshape", row, shape=(size,)),
                                    const(n + 1, flat.dtype)))
        # A negative value stays itself, out of bounds, not in the row before.
        ids = bind("select", bind("lt", flat, const(0, flat.dtype)), flat, ids)
    upd = (bind("broadcast_to", const(1, out), shape=(size,)) if w is None
           else bind("reshape", w, shape=(size,)))
    counts = bind("scatter_add", upd, ids, axis=0, size=nr * (n + 1))
    counts = bind("reshape", counts, shape=(nr, n + 1))
    counts = bind("slice", counts, starts=(0, 0), limits=(nr, n), strides=(1, 1))
    if binary_output:
        counts = bind("convert", bind("gt", counts, const(0, out)), dtype=out)
    return bind("reshape", counts, shape=(nr, n) if rows else (n,))
