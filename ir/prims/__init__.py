"""All primitives, registered on import, grouped by kind (one module each)."""
from __future__ import annotations

from . import (arith, call, checks, control, conv, conv_filter, custom, elementwise,  # noqa: F401
               gamma, index, lapack, lapack_decomp, linalg, pool, random, recurrence, reduce,
               scans, segments, shape, sorting, special)
from .registry import Primitive, all_primitives, get_primitive, register

__all__ = ["Primitive", "all_primitives", "get_primitive", "register"]
