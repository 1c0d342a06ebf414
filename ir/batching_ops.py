"""Batching rules of the kernel primitives whose parameters name one axis of their operand
(the scans): the batch axis comes first, so the axis moves up by one; see `batching`."""
from __future__ import annotations

from typing import Any

from .batching import Out, Rule, Xs, _register
from .core import bind


def _along_axis(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, *, axis: int, **params: Any) -> Out:
        return [bind(prim, xs[0], axis=axis + 1, **params)], [True]
    return rule


for _name in ("cumsum", "cumprod", "cumlogsumexp"):
    _register(_name)(_along_axis(_name))
