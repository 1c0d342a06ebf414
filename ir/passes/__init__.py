"""IR-to-IR passes; each takes a Function and returns a new one (inputs are never mutated).

Each pass preserves what the Function computes (the reference interpreter gives the same
results) and keeps it well-formed (`verify`). `optimize` runs them to a fixed point.
"""
from __future__ import annotations

from ..core import Function
from .cse import cse
from .dce import dce
from .fold import fold
from .simplify import simplify

__all__ = ["cse", "dce", "fold", "optimize", "simplify"]


def optimize(fn: Function, *, max_rounds: int = 10, check: bool = False) -> Function:
    """simplify -> fold -> cse -> dce, repeated until nothing changes (at most
    `max_rounds` rounds). With `check`, every intermediate Function is verified.

    Example: `optimize(f)` is what codegen receives."""
    passes = (simplify, fold, cse, dce)
    cur = fn
    for _ in range(max_rounds):
        nxt = cur
        for p in passes:
            nxt = p(nxt)
            if check:
                from ..verify import verify
                verify(nxt)
        if nxt == cur:
            return nxt
        cur = nxt
    return cur
