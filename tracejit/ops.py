"""The user-facing ops, with TensorFlow's names and semantics: one namespace over the
modules that define them by concern.

- `convert`: the dtype policy (TensorFlow's: Python floats default to float32 and ints to
  int32, a Python scalar next to a tensor takes its dtype, tensors of different dtypes are
  never promoted silently), `constant`, `convert_to_tensor`, `cast`, and the
  normalization of shape and axis arguments;
- `elementwise`: arithmetic, comparisons, logic and math functions, `where`, `add_n`;
- `shapes`: reshape, transpose, concat/stack, gather, one_hot, matmul, tensordot;
- `creation`: fill, ones, zeros, their `_like` forms, range;
- `reductions`: reduce_*, argmax/argmin, norm.

Each op converts its operands, normalizes its parameters (negative axes, `None` axes, -1
in shapes) and calls `bind` once per primitive it is made of; it never computes with NumPy
itself, so every op works the same eagerly, on tapes and traced. The one-line wrappers take
their docstrings (with examples) from `opdocs.py`, attached here at import.
"""
from __future__ import annotations

from .convert import (_array_of, _axes, _axis, _dtype, _float_tensor, _operands, bool_,
                      cast, constant, convert_to_tensor, float16, float32, float64, int32,
                      int64)
from .creation import fill, ones, ones_like, range, zeros, zeros_like  # noqa: A004
from .elementwise import (abs, add, add_n, clip_by_value, cos, divide, equal,  # noqa: A004
                          exp, expm1, floor, floordiv, greater, greater_equal, identity,
                          less, less_equal, log, log1p, logical_and, logical_not,
                          logical_or, maximum, minimum, mod, multiply, negative, not_equal,
                          pow, relu, sigmoid, sign, sin, softplus, sqrt, square,
                          stop_gradient, subtract, tan, tanh, truediv, where)
from .reductions import (argmax, argmin, norm, reduce_all, reduce_any, reduce_logsumexp,
                         reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_std,
                         reduce_sum, reduce_variance)
from .shapes import (broadcast_to, concat, expand_dims, gather, matmul, matrix_transpose,
                     one_hot, reshape, squeeze, stack, tensordot, transpose, unstack)

__all__ = [
    "_array_of", "_axes", "_axis", "_dtype", "_float_tensor", "_operands",
    "abs", "add", "add_n", "argmax", "argmin", "bool_", "broadcast_to", "cast",
    "clip_by_value", "concat", "constant", "convert_to_tensor", "cos", "divide", "equal",
    "exp", "expand_dims", "expm1", "fill", "float16", "float32", "float64", "floor",
    "floordiv", "gather", "greater", "greater_equal", "identity", "int32", "int64", "less",
    "less_equal", "log", "log1p", "logical_and", "logical_not", "logical_or", "matmul",
    "matrix_transpose", "maximum", "minimum", "mod", "multiply", "negative", "norm",
    "not_equal", "one_hot", "ones", "ones_like", "pow", "range", "reduce_all", "reduce_any",
    "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod",
    "reduce_std", "reduce_sum", "reduce_variance", "relu", "reshape", "sigmoid", "sign",
    "sin", "softplus", "sqrt",
    "square", "squeeze", "stack", "stop_gradient", "subtract", "tan", "tanh", "tensordot",
    "transpose", "truediv", "unstack", "where", "zeros", "zeros_like",
]

# The modules that define `tj`'s ops (a test checks `tj`'s imports against the table by them).
MODULES = ("tracejit.convert", "tracejit.elementwise", "tracejit.shapes",
           "tracejit.creation", "tracejit.reductions", "tracejit.arrayops",
           "tracejit.hyperbolic", "tracejit.mathops",
           "tracejit.einsum", "tracejit.losses",
           "tracejit.padding", "tracejit.scatter", "tracejit.masking",
           "tracejit.special", "tracejit.arith", "tracejit.scans", "tracejit.sorting",
           "tracejit.segment_ops", "tracejit.ordering", "tracejit.debugging",
           "tracejit.counting")


def _attach_docs() -> None:
    """The one-line wrappers take their docstrings (with examples) from opdocs.py, which
    keeps their modules readable tables. A wrapper with a docstring of its own must not be
    listed there too."""
    from .opdocs import DOCS
    for name, doc in DOCS.items():
        fn = globals()[name]
        if fn.__doc__ is not None:
            raise RuntimeError(f"tracejit.ops.{name} has a docstring and one in opdocs.py")
        fn.__doc__ = doc


_attach_docs()
