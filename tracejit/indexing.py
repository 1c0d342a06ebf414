"""Python indexing of tensors: ints, slices (any step), None, Ellipsis, one integer
tensor/array index (a gather), and one boolean mask (`masking.mask_index`).

Basic indexing becomes at most one `slice`, one `rev` (for negative steps) and one
`reshape` (dropping int-indexed axes and inserting new ones); out-of-range int indices
raise IndexError at once, as for NumPy arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .ir.dims import is_dim
from .errors import at_user_line
from .ir.core import bind
from .tensor import Tensor, TensorLike


def getitem(x: Any, key: Any) -> Tensor:
    from .ops import convert_to_tensor, gather
    from .masking import mask_index
    t = convert_to_tensor(x)
    masked = mask_index(t, key)
    if masked is not None:
        return masked
    items = list(key) if isinstance(key, tuple) else [key]
    n_real = sum(1 for k in items if k is not None and k is not Ellipsis)
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise at_user_line(IndexError("an index can only have a single ellipsis ('...')"))
    if n_real > t.ndim:
        raise at_user_line(IndexError(
            f"too many indices for a tensor of shape {t.shape}: {n_real} were given"))
    if any(k is Ellipsis for k in items):
        i = next(j for j, k in enumerate(items) if k is Ellipsis)
        items[i:i + 1] = [slice(None)] * (t.ndim - n_real)
    else:
        items += [slice(None)] * (t.ndim - n_real)

    advanced = [i for i, k in enumerate(items) if _is_index_array(k)]
    at = _int_on_unknown(t, items)
    if at is not None:
        # an int on a size known only at run time: a gather, bounds-checked in native code
        j, axis, i = at
        if advanced:
            raise at_user_line(IndexError(
                f"an int index on a dimension unknown until run time ({t.shape[axis]}) "
                "together with a tensor/array index is not supported; apply tj.gather "
                "repeatedly"))
        idx = _wrap_negative(convert_to_tensor(np.asarray(i, np.int32)), t, axis)
        return getitem(gather(t, idx, axis=axis), tuple(items[:j] + items[j + 1:]))
    if len(advanced) > 1:
        raise at_user_line(IndexError("only one tensor/array index per subscript is "
                                      "supported; apply tj.gather repeatedly"))

    starts, limits, strides, rev_axes, out_shape = [], [], [], [], []
    gather_at = None
    axis = 0
    for k in items:
        if k is None:
            out_shape.append(1)
            continue
        d = t.shape[axis]
        if _is_index_array(k):
            starts.append(0)
            limits.append(d)
            strides.append(1)
            gather_at = (axis, k, len(out_shape))
            out_shape.append(d)
        elif isinstance(k, slice) and is_dim(d):
            if k not in (slice(None), slice(None, None, 1), slice(0, None)):
                raise at_user_line(IndexError(
                    f"slicing {k} of a dimension unknown until run time (a None in the "
                    "input signature) is not supported; only `:` takes it whole"))
            starts.append(0)
            limits.append(d)
            strides.append(1)
            out_shape.append(d)
        elif isinstance(k, slice):
            start, stop, step = k.indices(d)
            m = len(range(start, stop, step))
            if step > 0:
                starts.append(start if m else 0)
                limits.append(start + (m - 1) * step + 1 if m else 0)
                strides.append(step)
            else:
                first = start + (m - 1) * step if m else 0
                starts.append(first)
                limits.append(start + 1 if m else 0)
                strides.append(-step)
                rev_axes.append(axis)
            out_shape.append(m)
        else:
            try:
                i = int(k.__index__()) if not isinstance(k, (int, np.integer)) else int(k)
            except (TypeError, AttributeError):
                raise at_user_line(IndexError(
                    f"invalid index {k!r}: use ints, slices, None, ... or an int tensor")) \
                    from None
            if not -d <= i < d:
                raise at_user_line(IndexError(
                    f"index {i} is out of bounds for axis {axis} with size {d}"))
            i %= d
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
        axis += 1

    out = t
    if any(s != 0 or lim != d or k != 1
           for s, lim, k, d in zip(starts, limits, strides, t.shape)):
        out = bind("slice", out, starts=tuple(starts), limits=tuple(limits),
                   strides=tuple(strides))
    if rev_axes:
        out = bind("rev", out, axes=tuple(rev_axes))
    if gather_at is not None:
        ax, idx, _ = gather_at
        flat = list(out.shape)
        idx = _wrap_negative(idx, t, ax)
        out = gather(out, idx, axis=ax)
        # reshape: int-indexed axes drop, None axes insert; the index's dims sit where the
        # index was, as in NumPy.
        idx_shape = tuple(idx.shape)
        shape = []
        front = 0  # number of dims before the index's dims
        axis = 0
        for k in items:
            if k is None:
                shape.append(1)
            elif _is_index_array(k):
                front = len(shape)
                shape.extend(idx_shape)
                axis += 1
            elif isinstance(k, slice):
                shape.append(flat[axis])
                axis += 1
            else:
                axis += 1
        if tuple(shape) != out.shape:
            out = bind("reshape", out, shape=tuple(shape))
        # NumPy: ints next to an array index are advanced indices too; when the advanced
        # indices are not adjacent in the key (a slice, None or ... between them, even a
        # ... that stands for no axis), their dims go first.
        adv = [i for i, k in enumerate(key if isinstance(key, tuple) else (key,))
               if k is not None and k is not Ellipsis and not isinstance(k, slice)]
        if front and adv[-1] - adv[0] + 1 != len(adv):
            n = len(idx_shape)
            perm = list(range(front, front + n)) + [i for i in range(len(shape))
                                                    if not front <= i < front + n]
            out = bind("transpose", out, perm=tuple(perm))
        return out
    if tuple(out_shape) != out.shape:
        out = bind("reshape", out, shape=tuple(out_shape))
    if out is t:
        out = bind("identity", t)
    return out


def _int_on_unknown(t: Tensor, items: list[Any]) -> tuple[int, int, int] | None:
    """(position in `items`, axis of `t`, value) of the first int index on a dimension
    unknown until run time, or None."""
    axis = 0
    for j, k in enumerate(items):
        if k is None:
            continue
        if not isinstance(k, slice) and not _is_index_array(k) and is_dim(t.shape[axis]):
            try:
                return j, axis, int(k.__index__())
            except (TypeError, AttributeError):
                raise at_user_line(IndexError(
                    f"invalid index {k!r}: use ints, slices, None, ... or an int tensor")) \
                    from None
        axis += 1
    return None


def _wrap_negative(idx: Any, x: Tensor, axis: int) -> Any:
    """An index array into `x` along `axis` with negative entries counted from the end (as
    NumPy does); entries still out of range are left for gather's bounds check to report.
    A size unknown until run time is read at run time."""
    from .dimvalues import dim_value
    from .ops import add, convert_to_tensor, greater_equal, less, logical_and, where
    d = x.shape[axis]
    if is_dim(d) and not isinstance(idx, TensorLike):
        idx = convert_to_tensor(np.asarray(idx).astype(np.int64))
    if isinstance(idx, TensorLike):
        t = convert_to_tensor(idx)
        if t.dtype.kind not in "iu":
            raise at_user_line(IndexError(f"tensor indices must be integers, got {t.dtype}"))
        n = dim_value(d, t.dtype) if is_dim(d) else d
        # Below -d the index stays as written, so the bounds check names the user's index.
        return where(logical_and(less(t, 0), greater_equal(t, -n)), add(t, n), t)
    a = np.asarray(idx)
    if a.size == 0:
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise at_user_line(IndexError(f"array indices must be integers, got {a.dtype}"))
    a = a.astype(np.int64)
    return np.where((a < 0) & (a >= -d), a + d, a)


def _is_index_array(k: Any) -> bool:
    if isinstance(k, TensorLike):
        if k.ndim == 0 and k.dtype.kind in "iu" and not getattr(k, "is_traced", False):
            return False  # a concrete scalar int tensor is a plain int index
        if k.dtype.kind == "b":
            raise at_user_line(IndexError("boolean mask indexing gives a data-dependent "
                                          "shape, which tracejit does not support; use "
                                          "tj.where"))
        return True
    if isinstance(k, (list, np.ndarray)):
        a = np.asarray(k)
        if a.dtype.kind == "b":
            raise at_user_line(IndexError("boolean mask indexing is not supported; use "
                                          "tj.where"))
        return True
    return False
