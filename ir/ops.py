"""Thin wrappers over `bind` that VJP rules (and passes) are written with.

Each function only calls `bind`, so it works in every context: on NumPy arrays with the
reference interpreter, on IR Values inside a `Builder`, on user tensors in eager mode.
Operands must already share a dtype; `const` makes a scalar of a given dtype.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .core import bind


def const(value: Any, dtype: Any) -> Any:
    return bind("constant", value=np.asarray(value, dtype=np.dtype(dtype)))


def full(shape: Sequence[int], value: Any, dtype: Any) -> Any:
    return broadcast_to(const(value, dtype), tuple(shape))


def zeros_like(x: Any) -> Any:
    return full(x.shape, 0, x.dtype)


def ones_like(x: Any) -> Any:
    return full(x.shape, 1, x.dtype)


def add(x: Any, y: Any) -> Any: return bind("add", x, y)
def sub(x: Any, y: Any) -> Any: return bind("sub", x, y)
def mul(x: Any, y: Any) -> Any: return bind("mul", x, y)
def div(x: Any, y: Any) -> Any: return bind("div", x, y)
def neg(x: Any) -> Any: return bind("neg", x)
def pow(x: Any, y: Any) -> Any: return bind("pow", x, y)
def exp(x: Any) -> Any: return bind("exp", x)
def log(x: Any) -> Any: return bind("log", x)
def sin(x: Any) -> Any: return bind("sin", x)
def cos(x: Any) -> Any: return bind("cos", x)
def sign(x: Any) -> Any: return bind("sign", x)
def logistic(x: Any) -> Any: return bind("logistic", x)
def floordiv(x: Any, y: Any) -> Any: return bind("floordiv", x, y)
def select(c: Any, x: Any, y: Any) -> Any: return bind("select", c, x, y)
def eq(x: Any, y: Any) -> Any: return bind("eq", x, y)
def gt(x: Any, y: Any) -> Any: return bind("gt", x, y)
def ge(x: Any, y: Any) -> Any: return bind("ge", x, y)
def le(x: Any, y: Any) -> Any: return bind("le", x, y)
def convert(x: Any, dtype: Any) -> Any: return bind("convert", x, dtype=np.dtype(dtype))


def zero_gradient_link(g: Any, x: Any) -> Any:
    """`g` itself, with `x` (of `g`'s shape and dtype) joined to it through a select that
    never takes `x`: the value is `g` exactly and the gradient for `x` exact zeros (never
    NaN times 0). A VJP rule returns it where TensorFlow's gradient has a gradient of zeros
    for an operand the rule's result otherwise does not depend on, so that a second
    derivative is zeros, not None; the optimizer folds the select away.
    Example: `max_pool`'s VJP, `zero_gradient_link(g, out)`."""
    return select(full(tuple(g.shape), False, np.bool_), x, g)


def scale(x: Any, c: float) -> Any:
    return mul(x, const(c, x.dtype))


def square(x: Any) -> Any:
    return mul(x, x)


def reduce_sum(x: Any, axes: Sequence[int], keepdims: bool = False) -> Any:
    return bind("reduce_sum", x, axes=tuple(axes), keepdims=keepdims)


def reduce_prod(x: Any, axes: Sequence[int], keepdims: bool = False) -> Any:
    return bind("reduce_prod", x, axes=tuple(axes), keepdims=keepdims)


def iota(shape: Sequence[int], dimension: int, dtype: Any = np.int32) -> Any:
    return bind("iota", shape=tuple(shape), dimension=dimension, dtype=np.dtype(dtype))


def reshape(x: Any, shape: Sequence[int]) -> Any:
    shape = tuple(shape)
    return x if tuple(x.shape) == shape else bind("reshape", x, shape=shape)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    shape = tuple(shape)
    return x if tuple(x.shape) == shape else bind("broadcast_to", x, shape=shape)


def transpose(x: Any, perm: Sequence[int]) -> Any:
    perm = tuple(perm)
    return x if perm == tuple(range(len(perm))) else bind("transpose", x, perm=perm)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    return bind("matmul", a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def sum_to_shape(x: Any, shape: Sequence[int]) -> Any:
    """Undo NumPy broadcasting: sum `x` down to `shape` (the one unbroadcast helper)."""
    shape = tuple(shape)
    xs = tuple(x.shape)
    if xs == shape:
        return x
    lead = len(xs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and xs[lead + i] != 1)
    if axes:
        x = reduce_sum(x, axes)
    return reshape(x, shape)


def expand_reduced(g: Any, in_shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> Any:
    """Broadcast a reduction's cotangent `g` back to the operand's shape."""
    if not keepdims:
        kshape = tuple(1 if i in axes else d for i, d in enumerate(in_shape))
        g = reshape(g, kshape)
    return broadcast_to(g, tuple(in_shape))
