"""Shape, indexing and contraction ops: reshape, transpose, concat and stack, gather and
one_hot, matmul and tensordot.
"""
from __future__ import annotations

import builtins
from typing import Any
from collections.abc import Sequence

import numpy as np

from .convert import (_axes, _axis, _check_dims, _dtype, _operands, _shape_arg, _shape_dim,
                      _user_error, bool_, constant, convert_to_tensor, float32, int32,
                      static_int)
from .exports import export
from .ir import dims
from .ir.axes import normalize_perm
from .ir.core import bind
from .ir.errors import AxisError, DTypeError, ShapeError
from .tensor import Tensor, TensorInput, TensorLike

builtins_range = builtins.range


@export("reshape")
def reshape(tensor: TensorInput, shape: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(tensor)
    if isinstance(shape, TensorLike):
        shape = np.asarray(shape).tolist()
    try:
        shape = [_shape_dim(d)
                 for d in ([shape] if isinstance(shape, (int, np.integer)) else shape)]
    except (TypeError, ValueError):
        raise _user_error(TypeError(f"reshape: shape must be a sequence of ints, got "
                                    f"{shape!r}")) from None
    if shape.count(-1) > 1:
        raise _user_error(ShapeError(f"reshape: at most one -1 in shape {shape}"))
    _check_dims("reshape: ", tuple(shape))
    if -1 in shape:
        # Exact products (an unknown dimension of a symbolic trace stays a symbol: the -1
        # is then the quotient for every value of it, or the reshape is refused).
        known = dims.size([d for d in shape if d != -1])
        size = dims.size(x.shape)
        rest = dims.exact_quotient(size, known) if known != 0 else None
        if rest is None:
            raise _user_error(ShapeError(
                f"cannot reshape a tensor of shape {x.shape} ({size} elements) to {shape}"))
        shape[shape.index(-1)] = rest
    if tuple(shape) == x.shape:
        return x
    return bind("reshape", x, shape=tuple(shape))


@export("broadcast_to")
def broadcast_to(input: TensorInput, shape: Any, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return bind("broadcast_to", x, shape=shape)


@export("transpose")
def transpose(a: TensorInput, perm: Any = None, conjugate: bool = False, name: str | None = None
              ) -> Tensor:
    x = convert_to_tensor(a)
    if perm is None:
        perm = tuple(reversed(builtins_range(x.ndim)))
    try:
        perm = normalize_perm("transpose", "perm", perm, x.ndim)
    except (TypeError, ValueError) as e:
        raise _user_error(e) from None
    if perm == tuple(builtins_range(x.ndim)):
        return x
    return bind("transpose", x, perm=perm)


@export("squeeze")
def squeeze(input: TensorInput, axis: Any = None, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = _axes("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise _user_error(ShapeError(
                    f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1"))
    return reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])


@export("expand_dims")
def expand_dims(input: TensorInput, axis: int, name: str | None = None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    axis = _axis("expand_dims", axis, x.ndim, extra=1)
    shape = list(x.shape)
    shape.insert(axis, 1)
    return bind("reshape", x, shape=tuple(shape))


@export("concat")
def concat(values: Sequence[Any], axis: int, name: str | None = None) -> Tensor:
    xs = _operands("concat", *values)
    if not xs:
        raise _user_error(ValueError("concat needs at least one tensor"))
    ax = _axis("concat", axis, xs[0].ndim)
    if len(xs) == 1:
        return xs[0]
    return bind("concat", *xs, axis=ax)


@export("stack")
def stack(values: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    xs = _operands("stack", *values)
    if not xs:
        raise _user_error(ValueError("stack needs at least one tensor"))
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise _user_error(ShapeError("stack: all tensors must have one shape, got "
                                     + ", ".join(str(x.shape) for x in xs)))
    ax = _axis("stack", axis, xs[0].ndim, extra=1)
    xs = [expand_dims(x, ax) for x in xs]
    return xs[0] if len(xs) == 1 else bind("concat", *xs, axis=ax)


@export("meshgrid")
def meshgrid(*args: TensorInput, **kwargs: Any) -> list[Tensor]:
    """N-D coordinate grids from N vectors (any other rank is flattened first), as
    TensorFlow's and NumPy's `meshgrid`: `indexing="xy"` (the default) makes the first
    two outputs' axes (len(y), len(x), ...), `"ij"` (len(x), len(y), ...). Every
    argument must have one dtype.

    >>> X, Y = tj.meshgrid([1, 2, 3], [4, 5])
    >>> X.numpy().tolist(), Y.numpy().tolist()
    ([[1, 2, 3], [1, 2, 3]], [[4, 4, 4], [5, 5, 5]])
    """
    indexing = kwargs.pop("indexing", "xy")
    kwargs.pop("name", None)
    if kwargs:
        raise _user_error(TypeError(f"meshgrid: unexpected keyword argument(s) "
                                     f"{', '.join(sorted(kwargs))}"))
    if indexing not in ("xy", "ij"):
        raise _user_error(ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got "
                                      f"{indexing!r}"))
    vecs = [reshape(convert_to_tensor(a), [-1]) for a in args]
    if len({v.dtype for v in vecs}) > 1:
        raise _user_error(DTypeError("meshgrid: the arguments must have one dtype, got "
                                      + ", ".join(str(v.dtype) for v in vecs)))
    n = len(vecs)
    sizes = [v.shape[0] for v in vecs]
    if indexing == "xy" and n > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, v in enumerate(vecs):
        axis = (1 if i == 0 else 0 if i == 1 else i) if indexing == "xy" and n > 1 else i
        shape = [1] * n
        shape[axis] = -1
        out.append(broadcast_to(reshape(v, shape), sizes))
    return out


@export("unstack")
def unstack(value: TensorInput, num: Any = None, axis: int = 0, name: str | None = None
            ) -> list[Tensor]:
    x = convert_to_tensor(value)
    ax = _axis("unstack", axis, x.ndim)
    if num is not None and not dims.is_dim(x.shape[ax]):
        n = static_int("unstack", "num", num)
        if n != x.shape[ax]:    # TensorFlow: InvalidArgumentError
            raise _user_error(ShapeError(f"unstack: num={n} does not match axis {ax} of "
                                         f"shape {x.shape} (size {x.shape[ax]})"))
    perm = [ax] + [i for i in builtins_range(x.ndim) if i != ax]
    xt = transpose(x, perm)
    return [xt[i] for i in builtins_range(x.shape[ax])]


@export("matmul", "linalg.matmul")
def matmul(a: TensorInput, b: TensorInput, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, name: str | None = None
           ) -> Tensor:
    x, y = _operands("matmul", a, b)
    ta, tb = bool(transpose_a or adjoint_a), bool(transpose_b or adjoint_b)
    if x.dtype.kind in "iu" and x.dtype == y.dtype and x.ndim >= 2 and y.ndim >= 2:
        return _int_matmul(x, y, ta, tb)
    return bind("matmul", x, y, transpose_a=ta, transpose_b=tb)


def _int_matmul(x: Tensor, y: Tensor, ta: bool, tb: bool) -> Tensor:
    """Integer matmul (TensorFlow has it; wraps around on overflow as NumPy does): a sum
    over k of broadcast products, which native code fuses into one loop nest with no
    (m, k, n) intermediate. The float GEMM kernels never see integers."""
    if ta:
        x = matrix_transpose(x)
    if tb:
        y = matrix_transpose(y)
    if x.shape[-1] != y.shape[-2]:
        raise _user_error(ShapeError(
            f"matmul inner dimensions differ: {x.dtype}{list(x.shape)} @ "
            f"{y.dtype}{list(y.shape)} (after transpose_a={ta}, transpose_b={tb}) has "
            f"{x.shape[-1]} != {y.shape[-2]}"))
    prod = bind("mul", expand_dims(x, -1), expand_dims(y, -3)) if x.shape[:-2] == \
        y.shape[:-2] else _broadcast_mul(expand_dims(x, -1), expand_dims(y, -3))
    return bind("reduce_sum", prod, axes=(prod.ndim - 2,))


def _broadcast_mul(x: Tensor, y: Tensor) -> Tensor:
    from .elementwise import multiply
    try:
        return multiply(x, y)
    except ShapeError:
        raise _user_error(ShapeError(f"matmul batch dimensions do not broadcast: shapes "
                                     f"{x.shape[:-3]} and {y.shape[:-3]}")) from None


@export("matrix_transpose", "linalg.matrix_transpose")
def matrix_transpose(a: TensorInput, name: str | None = None) -> Tensor:
    x = convert_to_tensor(a)
    if x.ndim < 2:
        raise _user_error(ShapeError(f"matrix_transpose needs rank >= 2, got shape {x.shape}"))
    return transpose(x, list(builtins_range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


@export("tensordot", "linalg.tensordot")
def tensordot(a: TensorInput, b: TensorInput, axes: Any, name: str | None = None) -> Tensor:
    x, y = _operands("tensordot", a, b)
    ax_a: list[Any]
    ax_b: list[Any]
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(x.ndim, y.ndim):
            raise _user_error(ShapeError(f"tensordot: cannot contract {int(axes)} axes of "
                                         f"shapes {x.shape} and {y.shape}"))
        ax_a = list(builtins_range(x.ndim - int(axes), x.ndim))
        ax_b = list(builtins_range(int(axes)))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [_axis("tensordot", a_, x.ndim, "axes[0]") for a_ in ax_a]
    ax_b = [_axis("tensordot", b_, y.ndim, "axes[1]") for b_ in ax_b]
    if len(ax_a) != len(ax_b) or any(x.shape[i] != y.shape[j] for i, j in zip(ax_a, ax_b)):
        raise _user_error(ShapeError(f"tensordot: contracted axes {ax_a} of {x.shape} and "
                                     f"{ax_b} of {y.shape} do not match"))
    free_a = [i for i in builtins_range(x.ndim) if i not in ax_a]
    free_b = [j for j in builtins_range(y.ndim) if j not in ax_b]
    k = int(np.prod([x.shape[i] for i in ax_a], dtype=np.int64))
    xa = reshape(transpose(x, free_a + ax_a), [-1 if k else 0, k] if k else
                 [int(np.prod([x.shape[i] for i in free_a], dtype=np.int64)), 0])
    yb = reshape(transpose(y, ax_b + free_b), [k, int(np.prod([y.shape[j] for j in free_b],
                                                               dtype=np.int64))])
    out = matmul(xa, yb)
    return reshape(out, [x.shape[i] for i in free_a] + [y.shape[j] for j in free_b])


@export("gather")
def gather(params: TensorInput, indices: TensorInput, validate_indices: Any = None,
           axis: Any = None, batch_dims: int = 0, name: str | None = None) -> Tensor:
    x = convert_to_tensor(params)
    idx = convert_to_tensor(indices) if isinstance(indices, TensorLike) else \
        constant(np.asarray(indices, dtype=np.int64) if np.asarray(indices).dtype.kind in "iu"
                 else indices)
    if batch_dims:
        from .scatter import check_batch_dims, gather_batched
        b = check_batch_dims("gather", batch_dims, x, idx)
        if b:
            return gather_batched(x, idx, _axis("gather", b if axis is None else axis, x.ndim),
                                  b)
    ax = _axis("gather", 0 if axis is None else axis, x.ndim)
    return bind("gather", x, idx, axis=ax)


def _one_hot_value(op_arg: str, v: Any, hint: np.dtype | None) -> tuple[float, np.dtype]:
    """(value, dtype) of one_hot's `on_value`/`off_value`, typed as TensorFlow types it:
    `dtype` is only a hint (a Python int may become a float, never a float an int)."""
    dt: np.dtype
    if isinstance(v, bool):
        dt = bool_
    elif isinstance(v, int) and not isinstance(v, np.integer):
        dt = hint if hint is not None and hint.kind in "iuf" else int32
    elif isinstance(v, float) and not isinstance(v, np.floating):
        dt = hint if hint is not None and hint.kind == "f" else float32
    else:
        t = convert_to_tensor(v)
        if t.ndim:
            raise _user_error(ShapeError(f"one_hot: {op_arg} must be a scalar, got shape "
                                         f"{t.shape}"))
        return float(t.numpy()), t.dtype
    return float(v), dt


@export("one_hot")
def one_hot(indices: TensorInput, depth: int, on_value: Any = None, off_value: Any = None,
            axis: Any = None, dtype: Any = None, name: str | None = None) -> Tensor:
    """One-hot rows: `on_value` where the index equals the column, else `off_value`. An
    index outside [0, depth), -1 included, gives a row of `off_value` (TensorFlow's
    "ignore this label" idiom). The dtype is `dtype`, else that of `on_value` or
    `off_value`, else float32; `on_value` and `off_value` of other dtypes raise TypeError,
    as in TensorFlow.

    >>> tj.one_hot([0, -1], 2).numpy()
    array([[1., 0.],
           [0., 0.]], dtype=float32)
    """
    idx = convert_to_tensor(indices)
    want = _dtype(dtype) if dtype is not None else None
    given = {arg: _one_hot_value(arg, v, want)
             for arg, v in (("on_value", on_value), ("off_value", off_value)) if v is not None}
    for arg, (_, dt) in given.items():
        if want is not None and dt != want:
            raise _user_error(DTypeError(f"one_hot: dtype {dt} of {arg} does not match the "
                                         f"dtype parameter {want}"))
    if len(given) == 2 and given["on_value"][1] != given["off_value"][1]:
        raise _user_error(DTypeError(
            f"one_hot: dtype {given['on_value'][1]} of on_value does not match dtype "
            f"{given['off_value'][1]} of off_value"))
    dt = want or next((d for _, d in given.values()), float32)
    on = given.get("on_value", (1.0, dt))[0]
    off = given.get("off_value", (0.0, dt))[0]
    if axis is not None:
        # TensorFlow's rule, narrower than an insertion point's: -1 or 0..rank.
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise _user_error(TypeError(f"one_hot: axis must be an int, got {axis!r}"))
        if axis != -1 and not 0 <= axis <= idx.ndim:
            raise _user_error(AxisError(
                f"one_hot: axis={int(axis)} is out of range for indices of rank {idx.ndim} "
                f"(valid: -1 or 0..{idx.ndim})"))
    out = bind("one_hot", idx, depth=static_int("one_hot", "depth", depth), dtype=dt, on=on,
               off=off)
    if axis is not None and axis != -1 and axis != out.ndim - 1:
        perm = list(builtins_range(out.ndim - 1))
        perm.insert(axis, out.ndim - 1)
        out = transpose(out, perm)
    return out


