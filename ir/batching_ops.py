"""Batching rules of the scans (and `linrec`), `sort` and the segment reductions; see
`batching`. The scans' parameters name one axis of their operand: the batch axis comes
first, so the axis moves up by one. `sort` sorts the last axis, which a batch axis in
front leaves alone. Segment reductions with batched ids treat the batch as one more id
dimension whose segments are apart (`_offset_indices` keeps an invalid id invalid)."""
from __future__ import annotations

from typing import Any

from . import ops
from .batching import Out, Rule, Xs, _bcast, _offset_indices, _register
from .core import bind


def _along_axis(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, *, axis: int, **params: Any) -> Out:
        return [bind(prim, xs[0], axis=axis + 1, **params)], [True]
    return rule


for _name in ("cumsum", "cumprod", "cumlogsumexp"):
    _register(_name)(_along_axis(_name))


@_register("linrec")
def _linrec(xs: Xs, bat: list[bool], bsize: int, *, axis: int, reverse: bool) -> Out:
    a, b = (_bcast(x, bt, bsize) for x, bt in zip(xs, bat))
    return [bind("linrec", a, b, axis=axis + 1, reverse=reverse)], [True]


@_register("sort")
def _sort(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
    return list(bind("sort", xs[0], **params)), [True, True]


def _segment(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, *, num_segments: int) -> Out:
        d, ids = xs
        if not bat[1]:
            # the batch axis moves behind the id dimensions, and back to the front after
            r = ids.ndim
            moved = ops.transpose(d, tuple(range(1, r + 1)) + (0,) + tuple(range(r + 1, d.ndim)))
            out = bind(prim, moved, ids, num_segments=num_segments)
            return [ops.transpose(out, (1, 0) + tuple(range(2, out.ndim)))], [True]
        # batched ids: the batch becomes one more id dimension, each row's segments apart
        d = _bcast(d, bat[0], bsize)
        out = bind(prim, d, _offset_indices(ids, num_segments, bsize),
                   num_segments=bsize * num_segments)
        return [ops.reshape(out, (bsize, num_segments) + tuple(out.shape[1:]))], [True]
    return rule


for _name in ("segment_max", "segment_min", "segment_prod"):
    _register(_name)(_segment(_name))
