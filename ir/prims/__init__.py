"""All primitives, registered on import, grouped by kind (one module each)."""
from __future__ import annotations

from . import (call, control, custom, elementwise, index, linalg, random, reduce,  # noqa: F401
               shape, special)
from .registry import Primitive, all_primitives, get_primitive, register

__all__ = ["Primitive", "all_primitives", "get_primitive", "register"]
