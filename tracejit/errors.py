"""Exceptions a user may catch, and the helper that points errors at the user's own line.

Every class subclasses the builtin that fits (ValueError, TypeError), so code written
against NumPy or TensorFlow error types keeps working.
"""
from __future__ import annotations

import os
import sys
from types import FrameType

import numpy as np

from .ir.errors import (AxisError, CompileError, DivisionByZeroError, DTypeError, IRError,
                        InvalidArgumentError, LinAlgError, SettingError, ShapeError)


class TracingError(TypeError):
    """A Python operation that needs a concrete value was applied to a traced tensor."""


class ConversionError(DTypeError, ValueError):
    """A tensor or Variable asked to convert to another dtype (`convert_to_tensor(x,
    dtype=...)`, a Variable's `assign`): a DTypeError and, as TensorFlow raises for it, a
    ValueError."""


class ArtifactError(ValueError):
    """An exported artifact (`tj.load`) that is damaged, truncated, of another format
    version or malformed: it is refused, and nothing in it runs."""


_OUR_DIRS: tuple[str, ...] = ()


def _our_dirs() -> tuple[str, ...]:
    global _OUR_DIRS
    if not _OUR_DIRS:
        from . import codegen, ir
        here = os.path.dirname(os.path.abspath(__file__))
        # NumPy's own frames too: `np.sum(t)` reaches us through numpy/_core, and the
        # line to show is the user's call of np.sum.
        dirs = {here, os.path.dirname(os.path.abspath(ir.__file__)),
                os.path.dirname(os.path.abspath(codegen.__file__)),
                os.path.dirname(os.path.abspath(np.__file__))}
        _OUR_DIRS = tuple(d + os.sep for d in dirs)
    return _OUR_DIRS


def user_frame() -> tuple[str, int, str] | None:
    """(file, line, source text) of the innermost frame outside tracejit, if any."""
    dirs = _our_dirs()
    f: FrameType | None = sys._getframe(1)
    while f is not None:
        fn = os.path.abspath(f.f_code.co_filename)
        # "<tracejit ...>": the call wrappers codegen generates for one signature.
        if not fn.startswith(dirs) and not f.f_code.co_filename.startswith(("<frozen",
                                                                            "<tracejit ")) \
                and "contextlib" not in fn and os.sep + "threading.py" not in fn:
            import linecache
            line = linecache.getline(fn, f.f_lineno).strip()
            return f.f_code.co_filename, f.f_lineno, line
        f = f.f_back
    return None


def at_user_line(e: BaseException) -> BaseException:
    """A copy of `e` whose message ends with the user's file:line (added once)."""
    where = user_frame()
    msg = str(e.args[0]) if e.args else str(e)
    if where is None or "\n  at " in msg:
        return e
    file, line, text = where
    msg = f"{msg}\n  at {file}:{line}: {text}" if text else f"{msg}\n  at {file}:{line}"
    try:
        new = type(e)(msg)
    except Exception:
        return e
    new.__traceback__ = None
    return new


__all__ = ["ArtifactError", "AxisError", "CompileError", "ConversionError", "DivisionByZeroError",
           "DTypeError",
           "IRError", "InvalidArgumentError", "LinAlgError", "SettingError", "ShapeError",
           "TracingError", "at_user_line", "user_frame"]


def __dir__() -> list[str]:
    """`dir(tj.errors)`: the public names only (not this module's imports)."""
    return sorted(__all__ + [n for n in globals() if n.startswith("__") and n.endswith("__")])
