"""Elementwise ops: arithmetic, comparisons, logic and math functions, one primitive
each (or a few), with TensorFlow's names and broadcasting. The one-line wrappers take their
docstrings from `opdocs.py` (attached by `tracejit.ops`).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from .convert import _operands, _user_error, bool_, cast, convert_to_tensor, float64
from .exports import export, public
from .ir.core import bind
from .ir.errors import DTypeError, ShapeError
from .tensor import Tensor, TensorInput, TensorLike

def _unary(prim: str, x: Any) -> Tensor:
    return bind(prim, convert_to_tensor(x))


def _binary(prim: str, x: Any, y: Any, name: str) -> Tensor:
    a, b = _operands(name, x, y)
    return bind(prim, a, b)


@export("add", "math.add")
def add(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("add", x, y, "add")
@export("subtract", "math.subtract")
def subtract(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("sub", x, y, "subtract")
@export("multiply", "math.multiply")
def multiply(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("mul", x, y, "multiply")
@export("maximum", "math.maximum")
def maximum(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("maximum", x, y, "maximum")
@export("minimum", "math.minimum")
def minimum(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("minimum", x, y, "minimum")
@export("floordiv", "math.floordiv")
def floordiv(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("floordiv", x, y, "floordiv")
@export("mod", "math.mod", "math.floormod")
def mod(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("mod", x, y, "mod")
@export("equal", "math.equal")
def equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("eq", x, y, "equal")
@export("not_equal", "math.not_equal")
def not_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("ne", x, y, "not_equal")
@export("less", "math.less")
def less(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("lt", x, y, "less")
@export("less_equal", "math.less_equal")
def less_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("le", x, y, "less_equal")
@export("greater", "math.greater")
def greater(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("gt", x, y, "greater")
@export("greater_equal", "math.greater_equal")
def greater_equal(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("ge", x, y, "greater_equal")
@export("logical_and", "math.logical_and")
def logical_and(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("logical_and", x, y, "logical_and")
@export("logical_or", "math.logical_or")
def logical_or(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    return _binary("logical_or", x, y, "logical_or")
@export("logical_not", "math.logical_not")
def logical_not(x: TensorInput, name: str | None = None) -> Tensor: return _unary("logical_not", x)


@export("divide", "math.divide")
def divide(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:
    a, b = _operands("divide", x, y)
    if a.dtype.kind in "iub":
        # TensorFlow's true division of integers gives float64.
        a, b = cast(a, float64), cast(b, float64)
    return bind("div", a, b)


truediv = public(divide, "truediv", "math.truediv")


@export("pow", "math.pow")
def pow(x: TensorInput, y: TensorInput, name: str | None = None) -> Tensor:  # noqa: A001
    a, b = _operands("pow", x, y)
    if a.dtype.kind in "iu":
        # Integer powers wrap as NumPy's and TensorFlow's; a negative exponent is refused
        # where its value is known (eagerly, or a constant), with TensorFlow's message.
        known = (b.numpy() if not b.is_traced
                 else None if isinstance(y, TensorLike) else np.asarray(y))
        if known is not None and (known < 0).any():
            raise _user_error(ValueError("pow: integers to negative integer powers are not "
                                         f"allowed (exponent {known.min()})"))
        return bind("ipow", a, b)
    return bind("pow", a, b)


@export("negative", "math.negative")
def negative(x: TensorInput, name: str | None = None) -> Tensor: return _unary("neg", x)
@export("exp", "math.exp")
def exp(x: TensorInput, name: str | None = None) -> Tensor: return _unary("exp", x)
@export("log", "math.log")
def log(x: TensorInput, name: str | None = None) -> Tensor: return _unary("log", x)
@export("log1p", "math.log1p")
def log1p(x: TensorInput, name: str | None = None) -> Tensor: return _unary("log1p", x)
@export("expm1", "math.expm1")
def expm1(x: TensorInput, name: str | None = None) -> Tensor: return _unary("expm1", x)
@export("sin", "math.sin")
def sin(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sin", x)
@export("cos", "math.cos")
def cos(x: TensorInput, name: str | None = None) -> Tensor: return _unary("cos", x)
@export("tan", "math.tan")
def tan(x: TensorInput, name: str | None = None) -> Tensor: return _unary("tan", x)
@export("tanh", "math.tanh", "nn.tanh")
def tanh(x: TensorInput, name: str | None = None) -> Tensor: return _unary("tanh", x)
@export("sqrt", "math.sqrt")
def sqrt(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sqrt", x)
@export("abs", "math.abs")
def abs(x: TensorInput, name: str | None = None) -> Tensor: return _unary("abs", x)  # noqa: A001
@export("sign", "math.sign")
def sign(x: TensorInput, name: str | None = None) -> Tensor: return _unary("sign", x)
@export("floor", "math.floor")
def floor(x: TensorInput, name: str | None = None) -> Tensor: return _unary("floor", x)
@export("sigmoid", "math.sigmoid", "nn.sigmoid")
def sigmoid(x: TensorInput, name: str | None = None) -> Tensor: return _unary("logistic", x)
@export("softplus", "math.softplus", "nn.softplus")
def softplus(features: TensorInput, name: str | None = None) -> Tensor:
    return _unary("softplus", features)
@export("relu", "nn.relu")
def relu(features: TensorInput, name: str | None = None) -> Tensor: return _unary("relu", features)
@export("identity")
def identity(input: TensorInput, name: str | None = None) -> Tensor:
    return _unary("identity", input)
@export("stop_gradient")
def stop_gradient(input: TensorInput, name: str | None = None) -> Tensor:
    return _unary("stop_gradient", input)


@export("square", "math.square")
def square(x: TensorInput, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    return bind("mul", x, x)


@export("where")
def where(condition: TensorInput, x: TensorInput | None = None, y: TensorInput | None = None,
          name: str | None = None, *, size: int | None = None, fill_value: Any = 0) -> Tensor:
    """`x` where `condition` is True, else `y`, elementwise with broadcasting. The branch
    not taken gets exact zero gradients (never NaN times zero). With `condition` alone:
    the int64 coordinates of its True (nonzero) elements, shape [n, rank]; n depends on
    the values, so inside a compiled function the condition must be a constant (a traced
    one raises TracingError naming the line) unless `size` bounds it: then exactly `size`
    rows, the first ones and then rows of `fill_value` (a tracejit extension, as JAX's
    `jnp.argwhere(size=...)`).

    >>> x = tj.constant([-1., 4.])
    >>> tj.where(x > 0., tj.sqrt(tj.abs(x)), 0.).numpy()
    array([0., 2.], dtype=float32)
    >>> tj.where([[True, False], [False, True]]).numpy()
    array([[0, 0],
           [1, 1]])
    """
    if x is None and y is None:
        from .masking import where_indices
        return where_indices(condition, size, fill_value)
    if x is None or y is None:
        raise _user_error(ValueError("where: x and y must both be given, or neither (then "
                                     "the coordinates of the True elements are returned)"))
    c = convert_to_tensor(condition)
    if c.dtype != bool_:
        raise _user_error(DTypeError(f"where: the condition must be bool, got {c.dtype}"))
    a, b = _operands("where", x, y)
    return bind("select", c, a, b)




@export("clip_by_value")
def clip_by_value(t: TensorInput, clip_value_min: TensorInput, clip_value_max: TensorInput,
                  name: str | None = None) -> Tensor:
    return minimum(maximum(t, clip_value_min), clip_value_max)


@export("add_n", "math.add_n")
def add_n(inputs: Sequence[Any], name: str | None = None) -> Tensor:
    if not inputs:
        raise _user_error(ValueError("add_n needs at least one input"))
    xs = _operands("add_n", *inputs)
    shapes = {x.shape for x in xs}
    if len(shapes) > 1:
        raise _user_error(ShapeError(f"add_n: inputs must have one shape, got "
                                     f"{sorted(shapes)}"))
    out = xs[0]
    for x in xs[1:]:
        out = bind("add", out, x)
    return out if len(xs) > 1 else identity(out)

