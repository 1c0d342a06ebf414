"""`tj.experimental.numpy` (also `tj.numpy`), part 3: NumPy's products (`matmul`, `dot`,
`inner`, `outer`, `kron`, `cross`, `tensordot`, `einsum`), each a composition of
tracejit's ops (so differentiable to any order and compiled like them). NumPy's rules where
they differ from TensorFlow's: `dot`, `inner` and `matmul` accept vectors (a 1-D operand
is a row or a column, and that axis is dropped), and scalars multiply.
"""
from __future__ import annotations

import builtins

from . import ops
from .einsum import einsum
from .errors import at_user_line
from .exports import export, public
from .tensor import Tensor, TensorInput
from .tnp_shape import moveaxis

public(ops.tensordot, "numpy.tensordot")
public(einsum, "numpy.einsum")


@export("numpy.matmul")
def matmul(x1: TensorInput, x2: TensorInput) -> Tensor:
    """The matrix product with NumPy's rules for vectors: a 1-D first operand is a row and
    a 1-D second operand a column, and that axis is dropped from the result.

    >>> tj.numpy.matmul([1., 2.], [[1., 0.], [0., 1.]]).numpy()
    array([1., 2.], dtype=float32)
    """
    a, b = ops._operands("matmul", x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        raise at_user_line(ValueError("matmul: operands must not be scalars (use multiply)"))
    if a.ndim == 1 and b.ndim == 1:
        return einsum("i,i->", a, b)
    if a.ndim == 1:
        return ops.squeeze(ops.matmul(ops.reshape(a, [1, -1]), b), [-2])
    if b.ndim == 1:
        return ops.squeeze(ops.matmul(a, ops.reshape(b, [-1, 1])), [-1])
    return ops.matmul(a, b)


@export("numpy.dot")
def dot(a: TensorInput, b: TensorInput) -> Tensor:
    """NumPy's dot: a product for scalars, the inner product of vectors, else the sum over
    the last axis of `a` and the second-to-last of `b` (the last if `b` is 1-D).

    >>> tj.numpy.dot([[1., 2.], [3., 4.]], [1., 1.]).numpy()
    array([3., 7.], dtype=float32)
    """
    x, y = ops._operands("dot", a, b)
    if x.ndim == 0 or y.ndim == 0:
        return ops.multiply(x, y)
    return ops.tensordot(x, y, [[x.ndim - 1], [max(y.ndim - 2, 0)]])


@export("numpy.inner")
def inner(a: TensorInput, b: TensorInput) -> Tensor:
    """The sum of products over the last axes of `a` and `b` (a product for scalars).

    >>> tj.numpy.inner([[1., 2.], [3., 4.]], [1., 1.]).numpy()
    array([3., 7.], dtype=float32)
    """
    x, y = ops._operands("inner", a, b)
    if x.ndim == 0 or y.ndim == 0:
        return ops.multiply(x, y)
    return ops.tensordot(x, y, [[x.ndim - 1], [y.ndim - 1]])


@export("numpy.outer")
def outer(a: TensorInput, b: TensorInput) -> Tensor:
    """`a[i] * b[j]` of the flattened operands.

    >>> tj.numpy.outer([1., 2.], [1., 10.]).numpy()
    array([[ 1., 10.],
           [ 2., 20.]], dtype=float32)
    """
    x, y = ops._operands("outer", a, b)
    return ops.multiply(ops.reshape(x, [-1, 1]), ops.reshape(y, [1, -1]))


@export("numpy.kron")
def kron(a: TensorInput, b: TensorInput) -> Tensor:
    """The Kronecker product: blocks `a[i, j] * b` (operands of unequal rank get leading
    axes of size 1).

    >>> tj.numpy.kron([1., 2.], [1., 10.]).numpy()
    array([ 1., 10.,  2., 20.], dtype=float32)
    """
    x, y = ops._operands("kron", a, b)
    nd = max(x.ndim, y.ndim)
    x = ops.reshape(x, [1] * (nd - x.ndim) + list(x.shape))
    y = ops.reshape(y, [1] * (nd - y.ndim) + list(y.shape))
    xs = ops.reshape(x, [d for s in x.shape for d in (s, 1)])
    ys = ops.reshape(y, [d for s in y.shape for d in (1, s)])
    return ops.reshape(ops.multiply(xs, ys), [p * q for p, q in zip(x.shape, y.shape)])


@export("numpy.cross")
def cross(a: TensorInput, b: TensorInput, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Tensor:
    """The cross product of 3-vectors (or of 2-vectors: its z component) along `axisa` of
    `a` and `axisb` of `b`, broadcast over the other axes, placed at `axisc`.

    >>> tj.numpy.cross([1., 0., 0.], [0., 1., 0.]).numpy()
    array([0., 0., 1.], dtype=float32)
    """
    x, y = ops._operands("cross", a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    x = moveaxis(x, axisa, -1)
    y = moveaxis(y, axisb, -1)
    if x.shape[-1] not in (2, 3) or y.shape[-1] not in (2, 3):
        raise at_user_line(ValueError(
            f"cross: vectors must have 2 or 3 components, got shapes {x.shape} and {y.shape}"))

    def comp(t: Tensor, i: int) -> Tensor:
        return t[..., i] if i < t.shape[-1] else ops.zeros_like(t[..., 0])

    x0, x1, x2 = (comp(x, i) for i in builtins.range(3))
    y0, y1, y2 = (comp(y, i) for i in builtins.range(3))
    z = ops.subtract(ops.multiply(x0, y1), ops.multiply(x1, y0))
    if x.shape[-1] == 2 and y.shape[-1] == 2:
        return z
    out = ops.stack([ops.subtract(ops.multiply(x1, y2), ops.multiply(x2, y1)),
                     ops.subtract(ops.multiply(x2, y0), ops.multiply(x0, y2)), z], -1)
    return moveaxis(out, -1, axisc)
