"""Ops whose output size depends on data: boolean_mask, where(condition) with one
argument, and indexing with a boolean mask.

Their output shape is the number of True elements, so the mask's values must be known
when the op runs: eagerly always; inside a compiled function only when the mask is a
constant of the trace (a NumPy array, a Python list or an eager tensor captured by the
function), since tracejit's shapes are static. A traced mask raises TracingError naming
the op and the user's line, with the static-shape alternatives (`tj.where(mask, x, 0)`
keeps the shape). Given the mask, each op is a `gather` at the constant indices of the
True elements, so it is differentiable (the gradient scatters back, zeros elsewhere).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .convert import _axis, _user_error, constant, convert_to_tensor
from .errors import TracingError
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .shapes import reshape
from .tensor import Tensor, TensorInput, TensorLike


def _known(op: str, value: Any, what: str) -> np.ndarray:
    """The NumPy value of `value`, or TracingError when it is a traced tensor."""
    try:
        return np.asarray(value)
    except TracingError:
        raise _user_error(TracingError(
            f"{op}: the output's size is the number of True elements of {what}, whose values "
            "are not known while tracing a compiled function (tracejit's shapes are static). "
            f"Keep the shape with tj.where({what}, x, 0) or a masked reduction, compute "
            f"{what} from Python/NumPy values, or call {op} outside the compiled function"
        )) from None


@export("boolean_mask")
def boolean_mask(tensor: TensorInput, mask: Any, axis: Any = None, name: str | None = None
                 ) -> Tensor:
    """The elements (or slices) of `tensor` where `mask` is True: `mask` covers the
    dimensions `axis .. axis + mask.ndim` of `tensor`, which become one dimension holding
    the selected entries in row-major order. The mask's values must be known (see the
    module docstring); the selection is a gather, so gradients flow to the kept entries.

    >>> tj.boolean_mask(tj.constant([[1, 2], [3, 4]]), [True, False]).numpy()
    array([[1, 2]], dtype=int32)
    """
    x = convert_to_tensor(tensor)
    m = _known("boolean_mask", mask, "mask")
    if m.dtype != np.bool_:
        raise _user_error(TypeError(f"boolean_mask: mask must be bool, got {m.dtype}"))
    k = m.ndim
    if k == 0:
        raise _user_error(ShapeError("boolean_mask: mask cannot be a scalar"))
    ax = _axis("boolean_mask", 0 if axis is None else axis, x.ndim)
    if not 0 <= ax <= x.ndim - k or x.shape[ax:ax + k] != m.shape:
        raise _user_error(ShapeError(
            f"boolean_mask: mask of shape {m.shape} does not match the dimensions of "
            f"tensor {x.shape} starting at axis {axis if axis is not None else 0}"))
    flat = reshape(x, x.shape[:ax] + (int(np.prod(m.shape, dtype=np.int64)),)
                   + x.shape[ax + k:])
    idx = np.flatnonzero(m).astype(np.int64)
    return bind("gather", flat, constant(idx), axis=ax)


def where_indices(condition: Any) -> Tensor:
    """`tf.where(condition)`: the int64 coordinates (one row each, shape [n, rank]) of the
    True (nonzero) elements of `condition`, in row-major order."""
    c = _known("where", condition, "condition")
    return constant(np.argwhere(c).astype(np.int64).reshape(-1, c.ndim))


def mask_index(x: Tensor, key: Any) -> Tensor | None:
    """`x[key]` for a key holding one boolean mask (alone, or in a tuple whose other
    entries are `:` and at most one `...`), or None when the key holds no mask."""
    items = list(key) if isinstance(key, tuple) else [key]
    pos = [i for i, k in enumerate(items) if _is_bool_mask(k)]
    if not pos:
        return None
    plain = [k is Ellipsis or (isinstance(k, slice) and k == slice(None))
             for i, k in enumerate(items) if i != pos[0]]
    if len(pos) > 1 or not all(plain):
        raise _user_error(IndexError(
            "a boolean mask index may only be combined with ':' and '...'; use "
            "tj.boolean_mask(x, mask, axis=...) and index the result"))
    p = pos[0]
    m = _known("boolean mask indexing", items[p], "mask")
    if Ellipsis in items[:p]:
        axis = x.ndim - (len(items) - p - 1) - m.ndim
    else:
        axis = p
    return boolean_mask(x, m, axis=axis)


def _is_bool_mask(k: Any) -> bool:
    if isinstance(k, TensorLike):
        return bool(k.dtype == np.bool_)
    if isinstance(k, (list, np.ndarray)):
        return bool(np.asarray(k).dtype == np.bool_)
    return False
