"""`tj.experimental.numpy` (also `tj.numpy`), part 1: NumPy's names and semantics for
elementwise functions, reductions and array creation over tracejit tensors.

Each function converts its operands and calls tracejit's ops, so it runs eagerly, records
on tapes and traces into compiled code like any op, and its gradient is theirs. NumPy's
semantics where they differ from TensorFlow's: `mean`, `std` and `var` of integers are
float64 and take `ddof`; `round` takes `decimals`; reductions take `axis=None` for all
axes. tracejit's dtype rule stays: operands of different dtypes raise instead of
promoting, and Python floats are float32 (TensorFlow's NumPy API does the same with
`tnp.experimental_enable_numpy_behavior(prefer_float32=True)`).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from . import hyperbolic, mathops, ops, reductions
from .exports import export, named, public
from .tensor import Tensor, TensorInput, TensorLike

# Functions whose TensorFlow form already has NumPy's semantics for the arguments NumPy
# code passes positionally: the same objects, under NumPy's names.
for _name, _fn in {
        "abs": ops.abs, "absolute": ops.abs, "add": ops.add, "subtract": ops.subtract,
        "multiply": ops.multiply, "divide": ops.truediv, "true_divide": ops.truediv,
        "floor_divide": ops.floordiv, "mod": ops.mod, "remainder": ops.mod,
        "power": ops.pow, "negative": ops.negative, "sqrt": ops.sqrt, "square": ops.square,
        "exp": ops.exp, "expm1": ops.expm1, "log": ops.log, "log1p": ops.log1p,
        "sin": ops.sin, "cos": ops.cos, "tan": ops.tan, "tanh": ops.tanh,
        "sign": ops.sign, "floor": ops.floor, "maximum": ops.maximum,
        "minimum": ops.minimum, "equal": ops.equal, "not_equal": ops.not_equal,
        "less": ops.less, "less_equal": ops.less_equal, "greater": ops.greater,
        "greater_equal": ops.greater_equal, "logical_and": ops.logical_and,
        "logical_or": ops.logical_or, "logical_not": ops.logical_not, "where": ops.where,
        "sinh": hyperbolic.sinh, "cosh": hyperbolic.cosh, "arcsinh": hyperbolic.asinh,
        "arccosh": hyperbolic.acosh, "arctanh": hyperbolic.atanh,
        "exp2": hyperbolic.exp2, "log2": hyperbolic.log2, "log10": hyperbolic.log10,
        "arcsin": mathops.asin, "arccos": mathops.acos, "arctan": mathops.atan,
        "arctan2": mathops.atan2, "ceil": mathops.ceil, "rint": mathops.rint,
        "reciprocal": mathops.reciprocal, "isnan": mathops.is_nan, "isinf": mathops.is_inf,
        "isfinite": mathops.is_finite, "zeros_like": ops.zeros_like,
        "ones_like": ops.ones_like}.items():
    public(_fn, f"numpy.{_name}")


@export("numpy.positive")
def positive(x: TensorInput) -> Tensor:
    """`+x`: `x` itself, as a tensor.

    >>> tj.numpy.positive([1., -2.]).numpy()
    array([ 1., -2.], dtype=float32)
    """
    return ops.identity(x)


@export("numpy.round", "numpy.around")
def round_(a: TensorInput, decimals: int = 0) -> Tensor:
    """`a` rounded to `decimals` decimal places, halves to even (NumPy's rule: it scales
    by `10**decimals`, rounds and scales back).

    >>> tj.numpy.round([0.5, 1.5, 2.675], 2).numpy()
    array([0.5 , 1.5 , 2.68], dtype=float32)
    """
    x = ops._float_tensor("round", a)
    if decimals == 0:
        return mathops.round(x)
    s = 10.0 ** decimals
    return ops.divide(mathops.round(ops.multiply(x, s)), s)


@export("numpy.clip")
def clip(a: TensorInput, a_min: TensorInput, a_max: TensorInput) -> Tensor:
    """`minimum(maximum(a, a_min), a_max)`, elementwise with broadcasting.

    >>> tj.numpy.clip([-1., 0.5, 2.], 0., 1.).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return ops.clip_by_value(a, a_min, a_max)


@export("numpy.deg2rad", "numpy.radians")
def deg2rad(x: TensorInput) -> Tensor:
    """Degrees to radians: `x * pi / 180`.

    >>> tj.numpy.deg2rad([180.]).numpy()
    array([3.1415927], dtype=float32)
    """
    return ops.multiply(ops._float_tensor("deg2rad", x), np.pi / 180.0)


@export("numpy.rad2deg", "numpy.degrees")
def rad2deg(x: TensorInput) -> Tensor:
    """Radians to degrees: `x * 180 / pi`.

    >>> tj.numpy.rad2deg([np.pi]).numpy()
    array([180.], dtype=float32)
    """
    return ops.multiply(ops._float_tensor("rad2deg", x), 180.0 / np.pi)


# ---------------------------------------------------------------------------- reductions


class Reduction(Protocol):
    """A reduction of `tj.numpy`: NumPy's signature (no `dtype` or `out`)."""

    def __call__(self, a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor: ...


def _reduction(fn: Any, *paths: str, doc: str) -> Reduction:
    """The public op `paths[0]`: tracejit's reduction `fn` under NumPy's argument names."""
    def op(a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor:
        return fn(a, axis=axis, keepdims=keepdims)
    return named(op, *paths, doc=doc)


sum_ = _reduction(ops.reduce_sum, "numpy.sum", doc="""
    The sum over `axis` (all axes when None).

    >>> tj.numpy.sum([[1., 2.], [3., 4.]], axis=0).numpy()
    array([4., 6.], dtype=float32)
    """)


prod = _reduction(ops.reduce_prod, "numpy.prod", doc="""
    The product over `axis` (all axes when None).

    >>> tj.numpy.prod([[1., 2.], [3., 4.]]).numpy()
    array(24., dtype=float32)
    """)


max_ = _reduction(ops.reduce_max, "numpy.max", "numpy.amax", doc="""
    The maximum over `axis` (all axes when None); NaN propagates.

    >>> tj.numpy.max([[1., 5.], [3., 4.]], axis=1).numpy()
    array([5., 4.], dtype=float32)
    """)


min_ = _reduction(ops.reduce_min, "numpy.min", "numpy.amin", doc="""
    The minimum over `axis` (all axes when None); NaN propagates.

    >>> tj.numpy.min([[1., 5.], [3., 4.]], axis=1).numpy()
    array([1., 3.], dtype=float32)
    """)


@export("numpy.all")
def all_(a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor:
    """True where every element over `axis` is nonzero.

    >>> tj.numpy.all([[1., 0.], [2., 3.]], axis=1).numpy()
    array([False,  True])
    """
    return reductions.reduce_all(_nonzero(a), axis=axis, keepdims=keepdims)


@export("numpy.any")
def any_(a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor:
    """True where some element over `axis` is nonzero.

    >>> tj.numpy.any([[1., 0.], [0., 0.]], axis=1).numpy()
    array([ True, False])
    """
    return reductions.reduce_any(_nonzero(a), axis=axis, keepdims=keepdims)


def _nonzero(a: TensorInput) -> Tensor:
    x = ops.convert_to_tensor(a)
    return x if x.dtype == ops.bool_ else ops.not_equal(x, ops.zeros_like(x))


def _as_float(op: str, a: TensorInput) -> Tensor:
    """Integers and bools as float64 (NumPy's mean and moments of integers)."""
    x = ops.convert_to_tensor(a)
    return x if x.dtype.kind == "f" else ops.cast(x, ops.float64)


@export("numpy.mean")
def mean(a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The mean over `axis` (all axes when None); of integers, a float64 mean.

    >>> tj.numpy.mean(tj.constant([1, 2])).numpy()
    array(1.5)
    """
    return ops.reduce_mean(_as_float("mean", a), axis=axis, keepdims=keepdims)


@export("numpy.var")
def var(a: TensorInput, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """The variance over `axis`: `sum((a - mean)**2) / (n - ddof)`.

    >>> tj.numpy.var([1., 2., 3., 4.], ddof=1).numpy()
    array(1.6666666, dtype=float32)
    """
    x = _as_float("var", a)
    ax = list(ops._axes("var", axis, x.ndim))
    n = int(np.prod([x.shape[i] for i in ax], dtype=np.int64))
    d = ops.subtract(x, ops.reduce_mean(x, ax, keepdims=True))
    s = ops.reduce_sum(ops.multiply(d, d), ax, keepdims=keepdims)
    return ops.divide(s, float(n - ddof)) if n - ddof != 1 else s


@export("numpy.std")
def std(a: TensorInput, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """The standard deviation over `axis`: `sqrt(var(a, axis, ddof))`.

    >>> tj.numpy.std([1., 3.]).numpy()
    array(1., dtype=float32)
    """
    return ops.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


@export("numpy.argmax")
def argmax(a: TensorInput, axis: int | None = None) -> Tensor:
    """The index of the maximum along `axis` (of the flattened array when None).

    >>> tj.numpy.argmax([[1., 5.], [7., 4.]]).numpy()
    array(2)
    """
    x = ops.convert_to_tensor(a)
    return ops.argmax(ops.reshape(x, [-1]) if axis is None else x, 0 if axis is None else axis)


@export("numpy.argmin")
def argmin(a: TensorInput, axis: int | None = None) -> Tensor:
    """The index of the minimum along `axis` (of the flattened array when None).

    >>> tj.numpy.argmin([[1., 5.], [0., 4.]], axis=1).numpy()
    array([0, 0])
    """
    x = ops.convert_to_tensor(a)
    return ops.argmin(ops.reshape(x, [-1]) if axis is None else x, 0 if axis is None else axis)


@export("numpy.count_nonzero")
def count_nonzero(a: TensorInput, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The number of nonzero elements over `axis` (int64).

    >>> tj.numpy.count_nonzero([[1., 0.], [2., 3.]]).numpy()
    array(3)
    """
    return ops.reduce_sum(ops.cast(_nonzero(a), ops.int64), axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------------------- creation

@export("numpy.array", "numpy.asarray")
def array(object: TensorInput, dtype: Any = None) -> Tensor:  # noqa: A002
    """A tensor of `object` (a tensor, array, number or nested list), of `dtype` if given
    (a tensor of another dtype is cast).

    >>> tj.numpy.array([[1, 2]], dtype=tj.float32).numpy()
    array([[1., 2.]], dtype=float32)
    """
    if dtype is None:
        return ops.convert_to_tensor(object)
    if isinstance(object, TensorLike):
        x = ops.convert_to_tensor(object)
        return x if x.dtype == np.dtype(dtype) else ops.cast(x, dtype)
    return ops.constant(object, dtype=dtype)


@export("numpy.zeros")
def zeros(shape: Any, dtype: Any = np.float32) -> Tensor:
    """A tensor of zeros (float32 unless `dtype` says otherwise).

    >>> tj.numpy.zeros((2,)).numpy()
    array([0., 0.], dtype=float32)
    """
    return ops.zeros(shape, np.float32 if dtype is None else dtype)  # None: the default


@export("numpy.ones")
def ones(shape: Any, dtype: Any = np.float32) -> Tensor:
    """A tensor of ones (float32 unless `dtype` says otherwise).

    >>> tj.numpy.ones((2,), dtype=tj.int32).numpy()
    array([1, 1], dtype=int32)
    """
    return ops.ones(shape, np.float32 if dtype is None else dtype)


@export("numpy.full")
def full(shape: Any, fill_value: Any, dtype: Any = None) -> Tensor:
    """A tensor of `shape` filled with `fill_value`.

    >>> tj.numpy.full((2,), 7).numpy()
    array([7, 7], dtype=int32)
    """
    return ops.fill(shape, fill_value, dtype=dtype)


@export("numpy.arange")
def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> Tensor:
    """`start, start + step, ...` below `stop` (NumPy's arange).

    >>> tj.numpy.arange(1, 7, 2).numpy()
    array([1, 3, 5], dtype=int32)
    """
    return ops.range(start, stop, step, dtype=dtype)
