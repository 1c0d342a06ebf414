"""tracejit.ir: the SSA IR, its primitives, printer/parser, verifier, reference
interpreter, autodiff, batching (`vmap`) and passes. Imports only NumPy (never codegen or
the user API)."""
from __future__ import annotations

from .batching import vmap
from . import batching_control  # noqa: F401  (enters the region instructions' batching rules)
from . import batching_rules  # noqa: F401  (enters the core primitives' batching rules)
from . import batching_ops  # noqa: F401  (enters the scans' batching rules)
from . import batching_lapack  # noqa: F401  (enters the LAPACK primitives' batching rules)
from . import batching_conv  # noqa: F401  (enters the convolution and pooling batching rules)
from .core import (DTYPES, Builder, Function, Instr, Interpreter, TensorType, Value, bind,
                   current_interpreter, interpreting, set_default_interpreter)
from .errors import DTypeError, IRError, ShapeError
from .prims import Primitive, all_primitives, get_primitive

__all__ = ["DTYPES", "Builder", "Function", "Instr", "Interpreter", "TensorType", "Value",
           "bind", "current_interpreter", "interpreting", "set_default_interpreter",
           "DTypeError", "IRError", "ShapeError", "Primitive", "all_primitives",
           "get_primitive", "vmap"]
