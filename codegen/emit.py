"""The element emitter the lowering rules program against: `Emitter.value(v, idx)` is
the element of IR value `v` at loop index `idx`, loaded from `v`'s buffer when the plan
materializes it, else computed from its instruction by the instruction's element rule
(`rules.ELEMENT_RULES`), recursively down to materialized leaves.

Invariant: inside one straight-line block, each (value, index) is emitted once: later
requests reuse the first result (an index is keyed by its LLVM values' identity, or by
value for constants). A new block or loop needs a new `Emitter` (`Lowerer.emitter()`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llvmlite import ir

from ..ir import Value
from .loops import linear_index
from .rules import ELEMENT_RULES, lowering

if TYPE_CHECKING:
    from .lower import Lowerer


def _key(idx: Sequence[ir.Value]) -> tuple[Any, ...]:
    return tuple(("c", i.constant) if isinstance(i, ir.Constant) else id(i) for i in idx)


class Emitter:
    """Emits elements of values at an index, inside one straight-line block. Each
    (value, index) is emitted once: later requests reuse the first result."""

    def __init__(self, lw: Lowerer, vshape: dict[int, tuple[int, ...]] | None = None):
        self.lw = lw
        self.b = lw.b
        self.vshape = vshape or {}
        self.memo: dict[tuple[Any, ...], tuple[ir.Value, Sequence[ir.Value]]] = {}
        self.offsets: dict[tuple[Any, ...], tuple[ir.Value, Sequence[ir.Value]]] = {}

    def shape(self, v: Value) -> tuple[int, ...]:
        return self.vshape.get(id(v), tuple(v.shape))

    def value(self, v: Value, idx: Sequence[ir.Value]) -> ir.Value:
        """The element of `v` at `idx` (indices into `self.shape(v)`)."""
        key = (id(v),) + _key(idx)
        hit = self.memo.get(key)
        if hit is not None:
            return hit[0]
        if id(v) in self.lw.plan.materialized:
            r = self.lw.load_at(self.lw.ptr(v), v.dtype, self.offset(idx, self.shape(v)))
            self.memo[key] = (r, idx)
            return r
        return self.compute(v, idx)

    def offset(self, idx: Sequence[ir.Value], shape: Sequence[int]) -> ir.Value:
        """The row-major offset of `idx` in an array of `shape` (`loops.linear_index`),
        emitted once per (index, shape): the loads and stores of one element share it."""
        key = _key(idx) + tuple(shape)
        hit = self.offsets.get(key)
        if hit is not None:
            return hit[0]
        off = linear_index(self.b, idx, shape)
        # The index is kept alive with its offset: the key holds the ids of its values.
        self.offsets[key] = (off, idx)
        return off

    def compute(self, v: Value, idx: Sequence[ir.Value]) -> ir.Value:
        """The element of `v` at `idx`, computed from its instruction (never loaded)."""
        ins = self.lw.plan.producer[id(v)]
        with lowering(ins):
            rule = ELEMENT_RULES[ins.prim]
            r = rule(self, ins, tuple(idx))
        self.memo[(id(v),) + _key(idx)] = (r, idx)
        return r
