"""Lowering the plan's own tasks: a `LoopTask`'s fused loop nest and a `CheckTask`'s bounds
check (a `KernelTask` is lowered by its primitive's rule in `rules.KERNEL_RULES`).

Invariants: a loop task stores every kept value of its stores at the loop index, in the
order of `task.stores`, and reads earlier stores of the same iteration from registers
(`Emitter`'s memo), never from memory; its reductions accumulate in the same loop
(`accumulate`). A check task writes nothing unless an index is out of range.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from . import lower_vector
from .accumulate import Accumulator, end_blocks
from .llvmtypes import I1
from .loops import I64, ZERO, block_ranges, const, for_range, loop_nest
from .plan import ELEMENTWISE, CheckTask, LoopTask, checked_indices, closure, index_bound

if TYPE_CHECKING:
    from ..ir import Instr
    from .lower import Lowerer

# Loop tasks over (n, m) with m in this range whose operands are only broadcast run as one
# flat loop (`loop_task`); at m = 2 or 3 the nested loop is as fast.
FLATTEN_ROWS = (4, 32)


def loop_task(lw: Lowerer, task: LoopTask) -> None:
    """Emit `task`'s loop nest: each store's element computed (or copied) and stored at
    the loop index, each full reduction accumulated; short tasks of small vectors as
    straight-line vector code instead (`lower_vector`). Inside a chunk function
    (`lw.chunk`, see `lower_parallel`) only the chunk's part of the split dimension runs
    and each reduction's total goes to the chunk's slot of its partials."""
    if lw.chunk is None and lower_vector.eligible(lw.plan, task):
        lower_vector.vector_task(lw, task)
        return
    b = lw.b
    shape = task.vshape.get(id(task.key()), task.shape)
    chunk = lw.chunk
    span = None if chunk is None else (chunk.dim, chunk.start, chunk.stop)
    accs = [Accumulator(lw, ins) for ins in task.reductions]
    for a in accs:
        a.start()
    blocks = [a.block for a in accs if a.blocked]
    with contextlib.ExitStack() as stack:
        if blocks and shape:
            # The innermost dimension runs in blocks: float sums add block totals.
            last = len(shape) - 1
            inner = span is not None and span[0] == last
            outer = stack.enter_context(loop_nest(b, shape[:-1],
                                                  span=None if inner else span))
            lo, hi = stack.enter_context(block_ranges(
                b, shape[-1], min(blocks), span=(span[1], span[2]) if inner and span else None))
            for a in accs:
                if a.blocked:
                    a.start_block()
            stack.callback(end_blocks, accs)
            j = stack.enter_context(for_range(b, lo, hi, name="j"))
            idx = tuple(outer) + (j,)
        elif len(shape) == 2 and FLATTEN_ROWS[0] <= shape[1] <= FLATTEN_ROWS[1] and \
                shape[0] > 1 and _broadcasts_only(lw, task):
            # Short rows (a softmax over 10 classes) under a row-broadcast operand:
            # one flat loop, the row and column recomputed from the flat index, so
            # LLVM sees one long contiguous loop instead of a short inner loop that
            # it would fully unroll and then vectorize across rows with gathers.
            # (With a transposed or reversed operand the nested loop is faster.)
            m = const(shape[1])
            if span is None:
                (k,) = stack.enter_context(loop_nest(b, (shape[0] * shape[1],)))
            else:               # a chunk of rows (the split dimension is 0)
                k = stack.enter_context(for_range(b, b.mul(span[1], m), b.mul(span[2], m),
                                                  name="k"))
            idx = (b.udiv(k, m), b.urem(k, m))
        else:
            idx = stack.enter_context(loop_nest(b, shape, span=span))
        em = lw.emitter(task.vshape)
        for s in task.stores:
            x = em.compute(s.value, idx) if s.compute else em.value(s.value, idx)
            if s.keep:
                ptr = lw.ptr(s.value) if s.slot is None else lw.out_ptrs[s.slot]
                lw.store_at(ptr, s.value.dtype, em.offset(idx, shape), x)
        for a in accs:
            a.add(em, idx)
    for k, a in enumerate(accs):
        if chunk is None:
            a.finish()
        else:
            a.finish_partial(chunk.partials[k], chunk.index)


def _broadcasts_only(lw: Lowerer, task: LoopTask) -> bool:
    """Whether every value `task` computes is elementwise (operands read at their
    broadcast index: contiguous or repeated, never transposed or reversed)."""
    instrs, _ = closure(lw.plan, *task.roots(lw.plan))
    return all(ins.prim in ELEMENTWISE or ins.prim == "constant" for ins in instrs)


def check_task(lw: Lowerer, task: CheckTask) -> None:
    """Emit the bounds check of `task`'s indices: one loop tests every index; only when
    one is out of range, a second loop finds the first such, and the function returns
    its instruction's code with (index, bound) in the status buffer."""
    ins = task.instr
    idx_v = checked_indices(ins)
    assert idx_v is not None, ins
    bound = index_bound(ins)
    b = lw.b

    def index_at(idx: tuple[ir.Value, ...]) -> ir.Value:
        k = lw.emitter().value(idx_v, idx)
        return b.sext(k, I64) if k.type != I64 else k

    def out_of_range(idx: tuple[ir.Value, ...]) -> tuple[ir.Value, ir.Value]:
        k = index_at(idx)
        return b.icmp_unsigned(">=", k, const(bound)), k

    fail_first(lw, ins, idx_v.shape, out_of_range, bound)


def fail_first(lw: Lowerer, ins: Instr, shape: tuple[int, ...],
               bad_at: Callable[[tuple[ir.Value, ...]], tuple[ir.Value, ir.Value]],
               detail: int) -> None:
    """Fail with `ins`'s code if any element of `shape` is bad: `bad_at(idx)` gives (an i1,
    true where the element is bad; an i64 to report for it). One loop tests every element
    (it vectorizes); only when one is bad, a second loop finds the first such in row-major
    order, and the function returns the code with (its report, `detail`) in the status
    buffer."""
    b = lw.b
    bad = lw.alloca(I1, "bad")
    b.store(ir.Constant(I1, 0), bad)
    with loop_nest(b, shape, "chk") as idx:
        b.store(b.or_(b.load(bad), bad_at(idx)[0]), bad)
    with b.if_then(b.load(bad), likely=False):
        found = lw.alloca(I1, "found")
        first = lw.alloca(I64, "first")
        b.store(ir.Constant(I1, 0), found)
        b.store(ZERO, first)
        with loop_nest(b, shape, "find") as idx:
            is_bad, report = bad_at(idx)
            here = b.and_(is_bad, b.not_(b.load(found)))
            b.store(b.select(here, report, b.load(first)), first)
            b.store(b.or_(here, b.load(found)), found)
        lw.fail_index(ins, b.load(first), detail)
