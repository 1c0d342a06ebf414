"""Ops whose output size depends on data: boolean_mask, where(condition) with one
argument, and indexing with a boolean mask.

Their output shape is the number of True elements, so the mask's values must be known
when the op runs: eagerly always; inside a compiled function only when the mask is a
constant of the trace (a NumPy array, a Python list or an eager tensor captured by the
function), since tracejit's shapes are static. A traced mask raises TracingError naming
the op and the user's line, with the static-shape alternatives (`tj.where(mask, x, 0)`
keeps the shape). Given the mask, each op is a `gather` at the constant indices of the
True elements, so it is differentiable (the gradient scatters back, zeros elsewhere).

`boolean_mask(..., size=k)` and `where(condition, size=k)` bound the count instead (JAX's
`size=` of `jnp.nonzero`; TensorFlow has no such argument): exactly k entries, the first
k selected ones and then `fill_value`. With a traced mask each element's row is its
running count among the True ones (a `scan`), and the kept slices are scattered there
(`scatter_add` in mode "set"; rows are distinct, so the gradient is exact).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrayops import is_concrete
from .convert import _axis, _operands, _user_error, constant, convert_to_tensor
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
def boolean_mask(tensor: TensorInput, mask: Any, axis: Any = None, name: str | None = None,
                 *, size: int | None = None, fill_value: Any = 0) -> Tensor:
    """The elements (or slices) of `tensor` where `mask` is True: `mask` covers the
    dimensions `axis .. axis + mask.ndim` of `tensor`, which become one dimension holding
    the selected entries in row-major order. Without `size` the mask's values must be
    known (see the module docstring). With `size` (a tracejit extension, as JAX's
    `jnp.nonzero(size=...)`) that dimension has exactly `size` entries: the first `size`
    selected ones, then `fill_value`; this works on a mask traced in a compiled function.
    Gradients flow to the kept entries.

    >>> tj.boolean_mask(tj.constant([[1, 2], [3, 4]]), [True, False]).numpy()
    array([[1, 2]], dtype=int32)
    >>> tj.boolean_mask(tj.constant([5, 6, 7]), [True, False, True], size=3).numpy()
    array([5, 7, 0], dtype=int32)
    """
    x = convert_to_tensor(tensor)
    if size is not None:
        return _boolean_mask_bounded(x, mask, axis, _count_bound("boolean_mask", size),
                                     fill_value)
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


def _boolean_mask_bounded(x: Tensor, mask: Any, axis: Any, size: int, fill: Any) -> Tensor:
    m = convert_to_tensor(mask)
    if m.dtype != np.bool_:
        raise _user_error(TypeError(f"boolean_mask: mask must be bool, got {m.dtype}"))
    if m.ndim == 0:
        raise _user_error(ShapeError("boolean_mask: mask cannot be a scalar"))
    ax = _axis("boolean_mask", 0 if axis is None else axis, x.ndim)
    k = m.ndim
    if not 0 <= ax <= x.ndim - k or x.shape[ax:ax + k] != m.shape:
        raise _user_error(ShapeError(
            f"boolean_mask: mask of shape {m.shape} does not match the dimensions of "
            f"tensor {x.shape} starting at axis {axis if axis is not None else 0}"))
    n = int(np.prod(m.shape, dtype=np.int64))
    flat = reshape(x, x.shape[:ax] + (n,) + x.shape[ax + k:])
    return _bounded("boolean_mask", flat, reshape(m, (n,)), ax, size, fill)


def where_indices(condition: Any, size: int | None = None, fill_value: Any = 0) -> Tensor:
    """`tf.where(condition)`: the int64 coordinates (one row each, shape [n, rank]) of the
    True (nonzero) elements of `condition`, in row-major order; with `size`, exactly
    `size` rows (the first ones, then rows of `fill_value`), also for a traced condition."""
    if size is None:
        c = _known("where", condition, "condition")
        return constant(np.argwhere(c).astype(np.int64).reshape(-1, c.ndim))
    bound = _count_bound("where", size)
    from .ops import floordiv, mod, not_equal, stack
    t = convert_to_tensor(condition)
    m = t if t.dtype == np.bool_ else not_equal(t, 0)
    n = int(np.prod(t.shape, dtype=np.int64))
    lin = bind("iota", shape=(n,), dimension=0, dtype=np.dtype(np.int64))
    coords, stride = [], n
    for d in t.shape:
        stride //= max(d, 1)
        coords.append(mod(floordiv(lin, max(stride, 1)), max(d, 1)))
    table = stack(coords, axis=1) if coords else bind(
        "broadcast_to", constant(np.zeros((), np.int64)), shape=(n, 0))
    fv = fill_value if not isinstance(fill_value, (int, np.integer)) else np.int64(fill_value)
    return _bounded("where", table, reshape(m, (n,)), 0, bound, fv)


def _count_bound(op: str, size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise _user_error(TypeError(f"{op}: size must be a non-negative Python int, got "
                                    f"{size!r}"))
    return int(size)


def _slots(mask: Tensor, size: int) -> Tensor:
    """For a traced 1-D bool mask: the output row of each element, int64, in [0, size]:
    its rank among the True elements when it is True and within the first `size` of them,
    else `size` (a spare row that is dropped). The ranks are a running count (`scan`)."""
    from .control import scan
    from .ops import cast, less_equal, logical_and, subtract, where
    pos = scan(lambda a, v: a + v, cast(mask, np.int64))
    keep = logical_and(mask, less_equal(pos, size))
    return where(keep, subtract(pos, 1), constant(np.asarray(size, np.int64)))


def _bounded(op: str, flat: Tensor, m: Any, ax: int, size: int, fill: Any) -> Tensor:
    """The first `size` slices of `flat` along `ax` where the 1-D mask `m` is True, then
    `fill` up to `size`: a gather at the known indices when the mask is known, else a
    scatter of each selected slice to its row (the mask traced in a compiled function)."""
    from .ops import fill as full, greater, reshape as reshape_, where
    shape = flat.shape[:ax] + (size,) + flat.shape[ax + 1:]
    _, fv = _operands(op, flat, fill)
    if fv.ndim:
        raise _user_error(ShapeError(f"{op}: fill_value must be a scalar, got shape "
                                     f"{fv.shape}"))
    if not isinstance(m, Tensor) or is_concrete(m):
        idx = np.flatnonzero(np.asarray(m))[:size].astype(np.int64)
        got = bind("gather", flat, constant(idx), axis=ax)
        if len(idx) == size:
            return got
        lo = tuple(0 for _ in shape)
        hi = tuple(size - len(idx) if i == ax else 0 for i in range(len(shape)))
        padded = bind("pad", got, lo=lo, hi=hi, interior=lo)
        inside = reshape_(constant(np.arange(size) < len(idx)),
                          tuple(size if i == ax else 1 for i in range(len(shape))))
        return where(inside, padded, fv)
    if m.shape[0] == 0:
        return full(shape, fv)
    slot = _slots(m, size)
    vals = bind("scatter_add", flat, slot, axis=ax, size=size + 1, mode="set")
    ones = bind("broadcast_to", constant(np.ones((), np.int32)), shape=m.shape)
    hit = bind("scatter_add", ones, slot, axis=0, size=size + 1, mode="add")
    starts = (0,) * len(shape)
    vals = bind("slice", vals, starts=starts, limits=shape, strides=(1,) * len(shape))
    hit = bind("slice", hit, starts=(0,), limits=(size,), strides=(1,))
    hit = reshape_(greater(hit, 0), tuple(size if i == ax else 1 for i in range(len(shape))))
    return where(hit, vals, fv)


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


@export("sequence_mask")
def sequence_mask(lengths: TensorInput, maxlen: Any = None, dtype: Any = np.bool_,
                  name: str | None = None) -> Tensor:
    """`mask[..., j] = j < lengths[...]` for `j < maxlen`, as TensorFlow's: shape
    `lengths.shape + (maxlen,)`, cast to `dtype`. Without `maxlen` it is the largest
    length, whose value must then be known (not a tensor traced in a compiled function).

    >>> tj.sequence_mask([1, 3, 2], 4).numpy().astype(int).tolist()
    [[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]]
    """
    from .convert import cast
    from .creation import range as tj_range
    from .shapes import expand_dims
    n = convert_to_tensor(lengths)
    if n.dtype.kind not in "iuf":
        raise _user_error(TypeError(f"sequence_mask: lengths must be integers or floats, got "
                                    f"{n.dtype}"))
    if maxlen is None:
        known = _known_value("sequence_mask", n, "lengths", "pass maxlen")
        m = int(known.max()) if known.size else 0
    else:
        known = _known_value("sequence_mask", maxlen, "maxlen", "pass a Python int")
        if known.ndim != 0:
            raise _user_error(ValueError(f"sequence_mask: maxlen must be a scalar, got shape "
                                         f"{known.shape}"))
        m = int(known)
    if m < 0:
        raise _user_error(ValueError(f"sequence_mask: maxlen must not be negative, got {m}"))
    row = cast(tj_range(m), n.dtype)
    mask = bind("lt", row, expand_dims(n, -1))
    return mask if np.dtype(dtype) == np.bool_ else cast(mask, dtype)


def _known_value(op: str, value: Any, what: str, instead: str) -> np.ndarray:
    """The NumPy value of `value`, which sets an output size; TracingError when traced."""
    try:
        return np.asarray(value)
    except TracingError:
        raise _user_error(TracingError(
            f"{op}: {what} sets the output's size, and its value is not known while tracing "
            f"a compiled function (tracejit's shapes are static): {instead}")) from None
