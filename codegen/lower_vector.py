"""Small loop tasks lowered without a loop: every value is one LLVM vector.

A `LoopTask` over a few elements (at most `VECTOR_MAX`) whose expressions are plain
arithmetic, comparisons, selects, conversions and index shuffles (slice, concat, pad,
rev, reshape, transpose, broadcast) is emitted as straight-line code on whole values:
each value is a `<n x T>` vector in row-major order, each elementwise instruction one
vector instruction, each shape instruction one or a few `shufflevector`s with constant
masks, each materialized operand one vector load and each store one vector store.

Why: a chain of small unrolled steps (a spring chain of 8 masses, 1,000 Euler steps with
its gradient) lowers to thousands of 7- or 8-element loop nests; LLVM's loop passes,
vectorizer and full unrolling spent about 5 ms on each, most of the compile. The same
work as vector code is a tenth of the instructions and has no loops to analyze.

Invariants:
- The same results as the loop version (`lower_tasks.loop_task`): the elementwise code is
  the scalar rule (`lower_elementwise.SCALAR_OPS`) applied to vectors, so the NumPy
  semantics of each primitive are shared, not restated; the shape masks come from the
  primitive's own NumPy `impl` applied to arrays of element numbers, so they follow
  the primitive's definition by construction.
- Only tasks without reductions, math functions, gathers or zero-size values take this
  path (`eligible`); everything else keeps its loop.
- Loads and stores are aligned to the element size only, as in the loop version.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from ..ir.prims.registry import all_primitives, get_primitive
from .lower_elementwise import SCALAR_OPS
from .llvmtypes import I8, I32, mem_type, reg_type, scalar_constant
from .rules import lowering
from .mathlib import SUPPORTED as MATHLIB
from .plan import LoopTask, Plan, closure, size_of

if TYPE_CHECKING:
    from .lower import Lowerer

# Tasks over at most this many elements, whose every value has at most this many
# elements, become vector code (two AVX-512 registers of float32).
VECTOR_MAX = 32
# Elementwise primitives whose scalar rule also runs on vectors: the straight-line ones,
# that is all but the vector-math functions (`mathlib` emits scalar code) and rules
# costing more than VECTOR_COST instructions an element (math composed inline, as
# logaddexp, or loops, as integer pow); tasks with those keep their loops.
VECTOR_COST = 30
VECTOR_OPS = frozenset(n for n, p in all_primitives().items()
                       if p.kind == "elementwise" and n not in MATHLIB
                       and p.cost is not None and p.cost <= VECTOR_COST)
# Primitives that only move elements (their output element j is operand element m[j],
# or zero for padding): the shape primitives with operands (`constant` and `iota` have
# none and are emitted as constant vectors).
SHUFFLES = frozenset(n for n, p in all_primitives().items()
                     if p.kind == "shape" and p.n_inputs != 0)
SUPPORTED = VECTOR_OPS | SHUFFLES | {"constant", "iota"}


def _small(v: Value) -> bool:
    return 0 < size_of(v.shape) <= VECTOR_MAX


def eligible(plan: Plan, task: LoopTask) -> bool:
    """Whether `task` is lowered as vector code (see the module docstring)."""
    if task.reductions or not 1 < size_of(task.shape) <= VECTOR_MAX:
        return False
    instrs, leaves = closure(plan, *task.roots(plan))
    return all(ins.prim in SUPPORTED and _small(ins.outs[0]) and all(map(_small, ins.inputs))
               for ins in instrs) and all(map(_small, leaves))


def _vec(ty: ir.Type, n: int) -> ir.VectorType:
    return ir.VectorType(ty, n)


@lru_cache(maxsize=4096)
def _mask_of(m: tuple[int, ...]) -> ir.Constant:
    return ir.Constant(_vec(I32, len(m)), list(m))


def _mask(m: Any) -> ir.Constant:
    """A shufflevector mask (constants are values without a parent: shared freely)."""
    return _mask_of(tuple(int(k) for k in m))


@lru_cache(maxsize=4096)
def _broadcast_mask(src: tuple[int, ...], dst: tuple[int, ...]) -> ir.Constant:
    m = np.broadcast_to(np.arange(size_of(src)).reshape(src), dst).reshape(-1)
    return _mask(m)


def _hashable(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, v if not isinstance(v, list) else tuple(v))
                        for k, v in params.items()))


@lru_cache(maxsize=4096)
def _shuffle_map(prim: str, shapes: tuple[tuple[int, ...], ...],
                 params: tuple[Any, ...]) -> tuple[int, ...]:
    """For a shape primitive over operands of `shapes`: each output element's number in
    the operands laid end to end, counted from 1 (0: a padding zero)."""
    arrays, base = [], 1
    for s in shapes:
        n = size_of(s)
        arrays.append(np.arange(base, base + n, dtype=np.int64).reshape(s))
        base += n
    out = get_primitive(prim).impl(*arrays, **dict(params))
    return tuple(int(k) for k in np.asarray(out).reshape(-1))


@lru_cache(maxsize=4096)
def _constant_vector(raw: bytes, src: str, dtype: str) -> ir.Constant:
    data = np.frombuffer(raw, np.dtype(src))
    return ir.Constant(_vec(reg_type(dtype), data.size),
                       [scalar_constant(x, dtype).constant for x in data])


class VectorEmitter:
    """Whole values of one task as vectors, each emitted once. A value of one element
    is a scalar (LLVM 20's inliner aborted on `<1 x float>` code inside a loop)."""

    def __init__(self, lw: Lowerer):
        self.lw = lw
        self.b = lw.b
        self.memo: dict[int, ir.Value] = {}

    def value(self, v: Value) -> ir.Value:
        hit = self.memo.get(id(v))
        if hit is None:
            hit = self.load(v) if id(v) in self.lw.plan.materialized else self.compute(v)
            self.memo[id(v)] = hit
        return hit

    def load(self, v: Value) -> ir.Value:
        n = size_of(v.shape)
        ty = mem_type(v.dtype)
        vty = ty if n == 1 else _vec(ty, n)
        if n > 1 and id(v) in self.lw.stack and self._from_region(v):
            # A region's output in the frame, loaded element by element: one vector load
            # of a stack buffer that a loop of region calls wrote piecewise made LLVM 20's
            # O3 abort ("Referenced value not in value map", cloning after SROA); the
            # element loads are combined again by the optimizer.
            ptr = self.lw.ptr(v)
            x = ir.Constant(vty, ir.Undefined)
            for k in range(n):
                e = self.b.load(self.b.gep(ptr, [ir.Constant(I32, k)], inbounds=True),
                                align=v.dtype.itemsize)
                x = self.b.insert_element(x, e, ir.Constant(I32, k))
        else:
            x = self.b.load(self.b.bitcast(self.lw.ptr(v), vty.as_pointer()),
                            align=v.dtype.itemsize)
        if v.dtype.kind == "b":
            x = self.b.icmp_unsigned("!=", x, ir.Constant(vty, 0))
        return x

    def _from_region(self, v: Value) -> bool:
        ins = self.lw.plan.producer.get(id(v))
        return ins is not None and get_primitive(ins.prim).kind == "region"

    def store(self, ptr: ir.Value, v: Value, x: ir.Value) -> None:
        n = size_of(v.shape)
        if v.dtype.kind == "b":
            x = self.b.zext(x, _vec(I8, n))
        vty = _vec(mem_type(v.dtype), n)
        self.b.store(x, self.b.bitcast(ptr, vty.as_pointer()), align=v.dtype.itemsize)

    def compute(self, v: Value) -> ir.Value:
        ins = self.lw.plan.producer[id(v)]
        with lowering(ins):
            if ins.prim in SHUFFLES:
                r = self.shuffle(ins)
            elif ins.prim in ("constant", "iota"):
                r = self.constant(ins)
            else:
                r = self.elementwise(ins)
        self.memo[id(v)] = r
        return r

    def constant(self, ins: Instr) -> ir.Value:
        out = ins.outs[0]
        data = np.broadcast_to(np.asarray(get_primitive(ins.prim).impl(**ins.params)),
                               out.shape).reshape(-1)
        if data.size == 1:
            return scalar_constant(data[0], out.dtype)
        return _constant_vector(data.tobytes(), data.dtype.str, out.dtype.str)

    def splat(self, x: ir.Value, n: int) -> ir.Value:
        """Scalar `x` in every lane of an `n`-vector (n >= 2)."""
        vty = _vec(x.type, n)
        one = self.b.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(I32, 0))
        return self.b.shuffle_vector(one, one, _mask([0] * n))

    def broadcast(self, x: Value, shape: tuple[int, ...]) -> ir.Value:
        """Operand `x` at the NumPy-broadcast index of each element of `shape`."""
        xv = self.value(x)
        if tuple(x.shape) == tuple(shape) or size_of(shape) == 1:
            return xv
        if size_of(x.shape) == 1:
            return self.splat(xv, size_of(shape))
        return self.b.shuffle_vector(xv, xv, _broadcast_mask(tuple(x.shape), tuple(shape)))

    def elementwise(self, ins: Instr) -> ir.Value:
        shape = tuple(ins.outs[0].shape)
        if ins.prim == "broadcast_to":
            return self.broadcast(ins.inputs[0], shape)
        args = [self.broadcast(x, shape) for x in ins.inputs]
        return SCALAR_OPS[ins.prim](self.b, ins, args)

    def _widen(self, x: ir.Value, n: int) -> ir.Value:
        """`x` (a scalar or a vector of at most `n` lanes) as the first lanes of an
        `n`-vector."""
        if not isinstance(x.type, ir.VectorType):
            return self.b.insert_element(ir.Constant(_vec(x.type, n), ir.Undefined), x,
                                         ir.Constant(I32, 0))
        k = x.type.count
        return x if k == n else self.b.shuffle_vector(x, x, _mask(list(range(k)) + [0] * (n - k)))

    def shuffle(self, ins: Instr) -> ir.Value:
        b = self.b
        out = ins.outs[0]
        m = _shuffle_map(ins.prim, tuple(tuple(x.shape) for x in ins.inputs),
                         _hashable(ins.params))
        parts = [(self.value(x), size_of(x.shape)) for x in ins.inputs]
        if len(m) == 1:         # one element out: the element itself, as a scalar
            k = m[0] - 1
            if k < 0:
                return scalar_constant(0, out.dtype)
            for x, n in parts:
                if k < n:
                    return x if n == 1 else b.extract_element(x, ir.Constant(I32, k))
                k -= n
        pool, n = parts[0]
        for x, n_b in parts[1:]:
            w = max(n, n_b, 2)
            pool = b.shuffle_vector(self._widen(pool, w), self._widen(x, w),
                                    _mask(list(range(n)) + list(range(w, w + n_b))))
            n += n_b
        if n == 1 or 0 in m:
            w = max(n, 2)
            pool = self._widen(pool, w)
            zero = ir.Constant(pool.type, scalar_constant(0, out.dtype).constant)
            return b.shuffle_vector(pool, zero, _mask([k - 1 if k else w for k in m]))
        if list(m) == list(range(1, n + 1)) and pool.type.count == n:
            return pool
        return b.shuffle_vector(pool, pool, _mask([k - 1 for k in m]))


def vector_task(lw: Lowerer, task: LoopTask) -> None:
    """Emit `task` (for which `eligible` holds) as straight-line vector code."""
    em = VectorEmitter(lw)
    for s in task.stores:
        x = em.compute(s.value) if s.compute else em.value(s.value)
        if s.keep:
            ptr = lw.ptr(s.value) if s.slot is None else lw.out_ptrs[s.slot]
            em.store(ptr, s.value, x)
