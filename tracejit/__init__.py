"""tracejit: TensorFlow-style automatic differentiation to any order, traced to an SSA IR
and compiled to native code with llvmlite.

    import tracejit as tj
    x = tj.Variable(3.0)
    with tj.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)          # 6.0

Eager by default (every op runs at once on NumPy); `@tj.compile` (alias `tj.function`)
traces the same code, differentiates it as IR and runs it as native code.
"""
from __future__ import annotations

import builtins as _builtins
import types as _types

from . import context as _context  # noqa: F401  (installs the eager interpreter)
from . import codegen as _codegen  # noqa: F401  (loaded with the package, and early: a first
#   compiled call pays for tracing and compiling only, and the runtime libraries' prefetch,
#   when the disk cache lacks them, runs beside the rest of the import)
from . import mathops as _mathops  # noqa: F401  (enters tj.math's rounding, ... ops)
from . import special as _special  # noqa: F401  (enters tj.math's erf, ... )
from . import arith as _arith  # noqa: F401  (enters tj.math's logaddexp, ... )
from .scans import cumsum
from .sorting import argsort, searchsorted, sort
from . import segment_ops as _segment_ops  # noqa: F401  (enters tj.math's segment ops)
from .convert import bool_ as bool  # noqa: A004  (TensorFlow's name of the dtype)
from . import nn
from . import random
from .errors import CompileError, DTypeError, ShapeError, TracingError
from . import exports as _exports
# The ops and dtypes of `tj` itself, named here so that type checkers see them; a test
# keeps this list equal to the table of public names (`exports.TABLE[""]`).
from .ops import (abs, add, add_n, argmax, argmin, bool_, broadcast_to, cast, clip_by_value,
                  concat, constant, convert_to_tensor, cos, divide, equal, exp, expand_dims,
                  expm1, fill, float16, float32, float64, floor, floordiv, gather, greater,
                  greater_equal, identity, int32, int64, less, less_equal, log, log1p,
                  logical_and, logical_not, logical_or, matmul, matrix_transpose, maximum,
                  minimum, mod, multiply, negative, norm, not_equal, one_hot, ones, ones_like,
                  pow, range,
                  reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod,
                  reduce_std, reduce_sum, reduce_variance, relu, reshape, sigmoid, sign, sin,
                  softplus, sqrt, square, squeeze, stack, stop_gradient, subtract, tan, tanh,
                  tensordot, transpose, truediv, unstack, where, zeros, zeros_like)
from .arrayops import (eye, linspace, rank, repeat, reverse, roll, shape, size, slice,  # noqa: A004
                       split, tile)
from .padding import pad
from .masking import boolean_mask, sequence_mask
from .scatter import (gather_nd, scatter_nd, tensor_scatter_nd_add, tensor_scatter_nd_max,
                      tensor_scatter_nd_min, tensor_scatter_nd_sub, tensor_scatter_nd_update)
from .shapes import meshgrid
from .convert import get_static_value, is_tensor
from .ordering import control_dependencies, group, identity_n, no_op
from .counting import unique, unique_with_counts
from .debugging import assert_equal, assert_greater, assert_less, assert_rank, ensure_shape
from . import matrices as _matrices  # noqa: F401  (enters tj.linalg's diag, trace, ... ops)
from . import linalg_solve as _linalg_solve  # noqa: F401  (enters tj.linalg's cholesky, solve, ...)
from . import linalg_decomp as _linalg_decomp  # noqa: F401  (enters tj.linalg's eigh, qr, svd, lstsq)
from . import linalg_expm as _linalg_expm  # noqa: F401  (enters tj.linalg.expm)
from .hyperbolic import acosh, asinh, atanh, cosh, sinh
from .reductions import reduce_all, reduce_any
from .mathops import acos, asin, atan, atan2, round  # noqa: A004
from .einsum import einsum
from .losses import clip_by_global_norm, clip_by_norm
from . import tnp_array as _tnp_array, tnp_math as _tnp_math  # noqa: F401  (enter tj.numpy)
from . import tnp_shape as _tnp_shape, tnp_extra as _tnp_extra  # noqa: F401
from . import tnp_products as _tnp_products  # noqa: F401
from .custom import custom_gradient
from .tape import GradientTape, UnconnectedGradients
from . import forward as _forward, jacfwd as _jacfwd  # noqa: F401  (enter tj.autodiff)
from .tensor import Tensor
from .tensorshape import TensorShape
from .variable import Variable, VariableAggregation, VariableSynchronization
from .module import Module, name_scope
from .compile import compile, config, function  # noqa: A004
from .tensorspec import TensorSpec
from .loading import load
from .recompute import recompute_grad  # noqa: E402
from .control import (cond, foldl, foldr, fori_loop, map_fn, scan, switch_case,  # noqa: E402
                      vectorized_map, while_loop)
from . import nest  # noqa: E402  (`tj.nest`: TensorFlow's tf.nest)

from .ir.version import VERSION as __version__  # noqa: E402

# `x[:, tj.newaxis]` adds an axis, as NumPy's and TensorFlow's `newaxis`.
newaxis = None


def enable_eager_execution(*args: object, **kwargs: object) -> None:
    """Accepted for old TensorFlow code; eager execution is always the default.

    >>> tj.enable_eager_execution()
    >>> tj.executing_eagerly()
    True
    """


def clear_caches() -> None:
    """Empty every in-memory cache of the process: the traces and native code of every
    compiled function (the next call traces again, and takes its machine code from the
    disk cache when that is on), memoized shape rules, gradient and batched Functions,
    eager scalar constants, the BLAS search and the verified cache directories. Each of
    these is bounded anyway; this is for tests and for long-running processes that want
    to release the memory at once (like `jax.clear_caches()`).

    >>> f = tj.function(lambda x: x * 2.)
    >>> _ = f(tj.constant(1.))
    >>> tj.clear_caches()
    >>> _ = f(tj.constant(1.))         # traced again
    >>> f.trace_count
    2
    """
    from .ir.caches import clear_all
    clear_all()


def executing_eagerly() -> _builtins.bool:
    """False while a compiled function is being traced, True otherwise.

    >>> tj.function(lambda: tj.constant(tj.executing_eagerly()))().numpy()
    array(False)
    """
    from .context import TraceInterpreter
    from .ir.core import current_interpreter
    return not isinstance(current_interpreter(), TraceInterpreter)


# `tj.math` and `tj.linalg`: from the one table of public names (`exports`), where each
# op is entered by the decorator on its definition.
math = _exports.namespace("math", "`tj.math`: elementwise math, comparisons and reductions.")
linalg = _exports.namespace("linalg", "`tj.linalg`: matrix products and norms.")
numpy = _exports.namespace("numpy", "`tj.numpy` (also `tj.experimental.numpy`, TensorFlow's "
                           "NumPy API): NumPy's names and semantics over tracejit tensors, "
                           "differentiable and compiled like every op.")
autodiff = _exports.namespace("autodiff", "`tj.autodiff`: forward mode (TensorFlow's "
                              "`tf.autodiff`): ForwardAccumulator, and jvp, hvp and jacfwd.")
debugging = _exports.namespace("debugging", "`tj.debugging`: TensorFlow's checks of shapes "
                               "(statically) and values (where they are known, else when "
                               "compiled code runs).")
experimental = _types.ModuleType("tracejit.experimental", "`tj.experimental.numpy`, as "
                                 "TensorFlow's `tf.experimental.numpy` (also `tj.numpy`).")
experimental.numpy = numpy  # type: ignore[attr-defined]
experimental.__all__ = ["numpy"]  # type: ignore[attr-defined]


# The public API: every name above that is not private or a helper module (keep this
# last, so a name added above is public without a second list to update). `dir(tj)`
# shows only these; the modules stay importable as tracejit.ops, tracejit.ir, ...
__all__ = sorted([_n for _n, _v in list(globals().items())
                  if not _n.startswith("_") and _n != "annotations"
                  and not isinstance(_v, _types.ModuleType)]
                 + ["autodiff", "debugging", "errors", "experimental", "linalg", "math", "nest",
                    "nn", "numpy", "random"])


def __dir__() -> list[str]:
    return sorted(__all__ + [n for n in globals() if n.startswith("__") and n.endswith("__")])
