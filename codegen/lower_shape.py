"""Element rules for shape and indexing primitives: index arithmetic, then one read.

Invariants:
- Each rule maps its output index to an operand index (or computes the element directly:
  `constant`, `iota`, `one_hot`) and never copies; a chain of these over a materialized
  buffer is a single load at a computed offset.
- Every index a rule passes to an operand lies inside that operand's shape, including
  in the padding of `pad` and the pieces of `concat` not selected (indices are clamped
  there and the element is replaced by a `select`), so evaluating any rule is safe.
- `gather` reads data-dependent indices only after the plan's `CheckTask` has verified
  them, so it contains no test of its own. `one_hot` never reads memory at an index: it
  compares the index with the column, so an index outside [0, depth) (negative ones
  sign-extended) matches no column and gives an all-`off` row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from ..ir import Instr
from .loops import I64, NUW_NSW, ZERO, const, linear_index
from .llvmtypes import scalar_constant
from .rules import element_rule
from .lower_elementwise import convert

if TYPE_CHECKING:
    from .emit import Emitter

Idx = tuple[ir.Value, ...]


@element_rule("constant")
def constant(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    value = np.asarray(ins.params["value"])
    out = ins.outs[0]
    flat = value.reshape(-1)
    if flat.size <= 1 or (flat.view(np.uint8).reshape(flat.size, -1)
                          == flat[:1].view(np.uint8)).all():
        return scalar_constant(flat[0] if flat.size else 0, out.dtype)
    lw = em.lw
    ptr = lw.const_ptrs.get(id(ins))
    if ptr is None:
        ptr = lw.const_ptrs[id(ins)] = lw.global_array(value)
    return lw.load_at(ptr, out.dtype, linear_index(em.b, idx, em.shape(out)))


@element_rule("iota")
def iota(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    return convert(em.b, idx[ins.params["dimension"]], np.int64, ins.params["dtype"])


def _delinearize(b: ir.IRBuilder, lin: ir.Value, shape: tuple[int, ...]) -> list[ir.Value]:
    out: list[ir.Value] = []
    for k in range(len(shape) - 1, -1, -1):
        d = shape[k]
        if d == 1:
            out.append(ZERO)
        elif k == 0:
            out.append(lin)
        else:
            out.append(b.urem(lin, const(d)))
            lin = b.udiv(lin, const(d))
    return out[::-1]


@element_rule("reshape")
def reshape(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    x = ins.inputs[0]
    out_shape = ins.outs[0].shape
    if id(x) in em.lw.plan.materialized:
        # A contiguous buffer has the same linear offset in both shapes.
        lin = linear_index(em.b, idx, out_shape)
        return em.lw.load_at(em.lw.ptr(x), x.dtype, lin)
    if [d for d in x.shape if d != 1] == [d for d in out_shape if d != 1]:
        # Only size-1 axes are added or removed: carry the other indices across.
        real = iter([i for i, d in zip(idx, out_shape) if d != 1])
        return em.value(x, tuple(ZERO if d == 1 else next(real) for d in x.shape))
    lin = linear_index(em.b, idx, out_shape)
    return em.value(x, tuple(_delinearize(em.b, lin, x.shape)))


@element_rule("transpose")
def transpose(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    perm = ins.params["perm"]
    src: list[ir.Value] = [ZERO] * len(perm)
    for i, p in enumerate(perm):
        src[p] = idx[i]
    return em.value(ins.inputs[0], tuple(src))


@element_rule("slice")
def slice_(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    b = em.b
    src = []
    for i, s, k in zip(idx, ins.params["starts"], ins.params["strides"]):
        j = i if k == 1 else b.mul(i, const(k), flags=NUW_NSW)
        src.append(j if s == 0 else b.add(j, const(s), flags=NUW_NSW))
    return em.value(ins.inputs[0], tuple(src))


@element_rule("rev")
def rev(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    x = ins.inputs[0]
    axes = ins.params["axes"]
    src = tuple(em.b.sub(const(d - 1), i) if a in axes else i
                for a, (i, d) in enumerate(zip(idx, x.shape)))
    return em.value(x, src)


@element_rule("pad")
def pad(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    b = em.b
    x = ins.inputs[0]
    zero = scalar_constant(0, x.dtype)
    if any(d == 0 for d in x.shape):
        return zero
    src, valid = [], None
    for i, d, lo, hi, inter in zip(idx, x.shape, ins.params["lo"], ins.params["hi"],
                                   ins.params["interior"]):
        if lo == hi == inter == 0:
            src.append(i)
            continue
        k = inter + 1
        pos = b.sub(i, const(lo)) if lo else i
        # Unsigned compare: a negative position (in the low padding) is huge.
        ok = b.icmp_unsigned("<", pos, const((d - 1) * k + 1))
        j = b.select(ok, pos, ZERO)
        if k > 1:
            ok = b.and_(ok, b.icmp_unsigned("==", b.urem(j, const(k)), ZERO))
            j = b.udiv(j, const(k))
        src.append(j)
        valid = ok if valid is None else b.and_(valid, ok)
    v = em.value(x, tuple(src))
    return v if valid is None else b.select(valid, v, zero)


@element_rule("concat")
def concat(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    b = em.b
    axis = ins.params["axis"]
    pieces, off = [], 0
    for x in ins.inputs:
        n = x.shape[axis]
        if n:
            pieces.append((x, off, n))
        off += n
    i = idx[axis]
    result = None
    for x, start, n in reversed(pieces):
        local = b.sub(i, const(start)) if start else i
        inside = b.and_(b.icmp_signed(">=", local, ZERO), b.icmp_signed("<", local, const(n)))
        j = b.select(inside, local, ZERO) if len(pieces) > 1 else local
        v = em.value(x, idx[:axis] + (j,) + idx[axis + 1:])
        result = v if result is None else b.select(
            b.icmp_signed("<", i, const(start + n)), v, result)
    assert result is not None, "concat of an empty result is never emitted"
    return result


def _as_i64(b: ir.IRBuilder, k: ir.Value) -> ir.Value:
    return k if k.type == I64 else b.sext(k, I64)


@element_rule("gather")
def gather(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    x, ind = ins.inputs
    axis = ins.params["axis"]
    r = ind.ndim
    k = _as_i64(em.b, em.value(ind, idx[axis:axis + r]))
    return em.value(x, idx[:axis] + (k,) + idx[axis + r:])


@element_rule("one_hot")
def one_hot(em: Emitter, ins: Instr, idx: Idx) -> ir.Value:
    dt = np.dtype(ins.params["dtype"])
    k = _as_i64(em.b, em.value(ins.inputs[0], idx[:-1]))
    on = scalar_constant(np.asarray(ins.params["on"], dt), dt)
    off = scalar_constant(np.asarray(ins.params["off"], dt), dt)
    return em.b.select(em.b.icmp_signed("==", k, idx[-1]), on, off)

