"""Batching rules of the LAPACK primitives (`prims.lapack`, `prims.lapack_decomp`); see
`batching`. Each works on the last two axes and treats every leading axis as a batch axis,
so the new batch axis in front maps through; the two-operand ones need equal batch shapes,
so an unbatched operand is broadcast to the batch."""
from __future__ import annotations

from typing import Any

from .batching import Out, Rule, Xs, _bcast, _register
from .core import bind
from .prims import all_primitives

UNARY = ("cholesky", "slogdet", "eigh", "qr", "svd", "lu")
BINARY = ("triangular_solve", "solve")


def _unary(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        out = bind(prim, xs[0], **params)
        outs = list(out) if isinstance(out, tuple) else [out]
        return outs, [True] * len(outs)
    return rule


def _binary(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        a, b = (_bcast(x, bt, bsize) for x, bt in zip(xs, bat))
        return [bind(prim, a, b, **params)], [True]
    return rule


_PRIMS = all_primitives()
for _name in UNARY:
    if _name in _PRIMS:
        _register(_name)(_unary(_name))
for _name in BINARY:
    _register(_name)(_binary(_name))
