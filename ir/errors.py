"""Exception classes raised by the IR layer; the user API re-exports them.

Each subclasses the builtin a user would catch (`ValueError`, `TypeError`), so code
written against NumPy or TensorFlow error types keeps working."""
from __future__ import annotations

import numpy as np


class IRError(ValueError):
    """A malformed Function or instruction (found by the builder, parser or verifier)."""


class ShapeError(ValueError):
    """Operand shapes that an operation cannot accept; the message names every shape."""


class DTypeError(TypeError):
    """Operand dtypes that an operation cannot accept; the message names every dtype."""


class AxisError(ShapeError, IndexError):
    """An axis, list of axes or permutation out of range for the operand's rank (a
    ValueError and an IndexError, as NumPy's AxisError); the message names the op, the
    argument, its value and the rank."""


class SettingError(ValueError):
    """A `TRACEJIT_*` environment variable holds a value tracejit does not accept; the
    message names the variable, its value and what is accepted."""


class InvalidArgumentError(ValueError):
    """A run-time check failed: a `tj.debugging` assertion on values, `tj.ensure_shape`, or
    an `assert` instruction in compiled code (TensorFlow's `InvalidArgumentError`, here a
    ValueError as the errors tracejit raises where TensorFlow raises that one)."""


class DivisionByZeroError(InvalidArgumentError, ZeroDivisionError):
    """An integer division or remainder (`floordiv`, `mod`) by zero: TensorFlow's
    `InvalidArgumentError`, and Python's `ZeroDivisionError`."""


class CompileError(RuntimeError):
    """Native code generation failed for a traced function: for example, LLVM rejected a
    part of a large function, or the worker process compiling it died. The message names
    the function, the part and what happened."""


class LinAlgError(np.linalg.LinAlgError):
    """A linear-algebra operation failed on its input (a singular matrix for `solve`,
    `inv`, `lu`; an eigensolver that did not converge); a ValueError and NumPy's
    `LinAlgError`. The message names the operation, the matrix shape and what failed."""
