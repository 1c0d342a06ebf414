"""Large fused loops split into chunks that the thread pool runs (`threads.py`).

A `LoopTask` over at least `PAR_MIN_ELEMENTS` elements is emitted as a chunk function
`par_k(ctx, i)`, and the body calls the pool's `parallel_for(par_k, ctx, n_chunks)`:

- the split dimension is the first of the loop's (coalesced) shape longer than 1; chunk
  `i` runs its indices `[i * rows, min((i + 1) * rows, size))` with the rest of the nest
  whole, `rows` chosen from the shape alone (`partition`) so a chunk holds about
  `CHUNK_ELEMENTS` elements, never more than `MAX_CHUNKS` chunks;
- `ctx` holds the address of every buffer the task reads or writes and of one array of
  partial totals per full reduction; `par_k` loads them and calls `par_k.body`, whose
  pointer arguments are `noalias` like the body's own, so the chunk's loop vectorizes as
  the whole loop does;
- a chunk's reductions store their totals (`Accumulator.finish_partial`) into their
  slot; after `parallel_for` returns the body combines the slots in chunk order
  (`Accumulator.combine_partials`) and stores each result.

A reduction kernel whose kept dimensions all precede its reduced ones (a row-wise sum,
max, ..., `lower_kernels.independent_rows`) over at least `PAR_MIN_ELEMENTS` operand
elements is split the same way over its kept dimensions: each chunk computes whole
output elements, each in the order one thread would.

Invariants:
- The partition depends only on the loop's shape, and a chunk computes the same bits on
  any thread, so results are bit-identical for every thread count (`TRACEJIT_NUM_THREADS`,
  1 included: one thread runs the same chunks in order). Stores write disjoint elements
  (a store writes its value at the loop index only), so chunks never race.
- A chunk's sin/cos/tan task runs in its two versions (`Lowerer.task`) inside the chunk
  function, so a far argument re-runs only its chunk.
- Reductions that cannot be split without changing their result stay on one thread: a
  float `reduce_prod` multiplies in order (see `accumulate.combine`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llvmlite import ir

from . import runtime
from .accumulate import SUM_BLOCK, Accumulator
from .irbuild import Builder, new_function
from .llvmtypes import VOIDP
from .loops import I64, const
from .lower_kernels import independent_rows
from .plan import KernelTask, LoopTask, size_of, task_reads, task_writes
from .threads import CHUNK_FN

if TYPE_CHECKING:
    from ..ir import Value
    from .lower import Lowerer

# Loops over fewer elements run on the calling thread alone: a chunk's hand-over costs a
# few microseconds, about what 256k elements of a cheap loop take on one core.
PAR_MIN_ELEMENTS = 1 << 18
# Elements per chunk (rounded to whole rows of the split dimension): about 10-50 us of
# work, small enough to balance two or more threads, large enough to amortize a claim.
CHUNK_ELEMENTS = 1 << 15
MAX_CHUNKS = 256


@dataclass
class Chunk:
    """What `lower_tasks.loop_task` needs to emit one chunk: the split dimension `dim`
    runs over `range(start, stop)`; reduction k stores its total in `partials[k][index]`."""
    dim: int
    start: ir.Value
    stop: ir.Value
    index: ir.Value
    partials: list[ir.Value]


def partition(shape: tuple[int, ...], blocked: bool, per: int = 1
              ) -> tuple[int, int, int] | None:
    """(split dimension, its indices per chunk, number of chunks) for a loop over
    `shape` whose every index does `per` elements' work (None when it is too small to
    split). With `blocked` (a float sum, summed in blocks of the innermost dimension) a
    split innermost dimension gets whole blocks."""
    if size_of(shape) * per < PAR_MIN_ELEMENTS:
        return None
    dim = next((d for d, n in enumerate(shape) if n > 1), None)
    if dim is None:
        return None
    n = shape[dim]
    inner = size_of(shape[dim + 1:]) * per
    rows = max(-(-CHUNK_ELEMENTS // inner), -(-n // MAX_CHUNKS))
    if blocked and dim == len(shape) - 1:
        rows = -(-rows // SUM_BLOCK) * SUM_BLOCK
    chunks = -(-n // rows)
    return (dim, rows, chunks) if chunks >= 2 else None


def _split(lw: Lowerer, task: LoopTask | KernelTask) -> tuple[int, int, int] | None:
    if lw.chunk is not None:
        return None
    if isinstance(task, KernelTask):
        rows = independent_rows(lw, task.instr)
        return None if rows is None else partition(rows[0], False, per=rows[1])
    accs = task.reductions
    if any(ins.prim == "reduce_prod" and ins.inputs[0].dtype.kind == "f" for ins in accs):
        return None
    shape = task.vshape.get(id(task.key()), task.shape)
    blocked = any(ins.prim == "reduce_sum" and ins.inputs[0].dtype.kind == "f"
                  for ins in accs)
    return partition(tuple(shape), blocked)


def parallel_task(lw: Lowerer, task: LoopTask | KernelTask) -> bool:
    """Emit `task` as chunks run by the pool, if it is large enough and can be split (a
    loop task whose every reduction can be split, or a reduction kernel over independent
    rows, `lower_kernels.independent_rows`); returns whether it did (else the caller
    emits it whole)."""
    split = _split(lw, task)
    if split is None:
        return False
    dim, rows, n_chunks = split
    # The buffers the chunk touches, as the body sees them.
    values: dict[int, Value] = {id(v): v for v in task_reads(lw.plan, task)}
    if isinstance(task, KernelTask):
        values.update((id(v), v) for v in task_writes(task))
    stores = task.stores if isinstance(task, LoopTask) else []
    for s in stores:
        if s.keep and s.slot is None:
            values[id(s.value)] = s.value
    slots = sorted({s.slot for s in stores if s.keep and s.slot is not None})
    outer = [lw.ptr(v) for v in values.values()] + [lw.out_ptrs[k] for k in slots]
    reductions = task.reductions if isinstance(task, LoopTask) else []
    accs = [Accumulator(lw, ins) for ins in reductions]
    partials = [lw.alloca(a.partial_type, "partials", n_chunks) for a in accs]
    args = outer + partials

    name = lw.module.get_unique_name("par")
    if isinstance(task, LoopTask):
        size = task.vshape.get(id(task.key()), task.shape)[dim]
    else:
        shape = independent_rows(lw, task.instr)
        assert shape is not None
        size = shape[0][dim]
    body = _chunk_body(lw, task, name, [a.type for a in args], values, slots, len(accs),
                       dim, rows, size)
    chunk = new_function(lw.module, CHUNK_FN, name)
    chunk.linkage = "internal"
    cb = Builder(chunk.append_basic_block("entry"))
    table = cb.bitcast(chunk.args[0], VOIDP.as_pointer())
    loaded = [cb.bitcast(cb.load(cb.gep(table, [const(k)])), a.type)
              for k, a in enumerate(args)]
    cb.call(body, loaded + [chunk.args[1]])
    cb.ret_void()

    b = lw.b
    ctx = lw.alloca(VOIDP, "ctx", max(1, len(args)))
    for k, a in enumerate(args):
        b.store(b.bitcast(a, VOIDP), b.gep(ctx, [const(k)]))
    b.call(runtime.declare_parallel_for(lw.module),
           [chunk, b.bitcast(ctx, VOIDP), const(n_chunks)])
    for a, p in zip(accs, partials):
        a.combine_partials(p, n_chunks)
    return True


def _chunk_body(lw: Lowerer, task: LoopTask | KernelTask, name: str, argtys: list[ir.Type],
                values: dict[int, Value], slots: list[int], n_partials: int, dim: int,
                rows: int, size: int) -> ir.Function:
    """`name.body(buffers.., partials.., i)`: chunk `i` of `task`, emitted by the
    Lowerer's own task lowering with its state pointed at this function."""
    fn = new_function(lw.module, ir.FunctionType(ir.VoidType(), argtys + [I64]),
                     f"{name}.body")
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    fn.attributes.add("nounwind")
    for a in fn.args[:-1]:
        a.add_attribute("noalias")
    saved = (lw.fn, lw.b, lw.alloca_block, lw.ptrs, lw.out_ptrs, lw.const_ptrs,
             lw.trig_far, lw.status)
    lw.fn = fn
    lw.alloca_block = fn.append_basic_block("allocas")
    lw.b = Builder(fn.append_basic_block("start"))
    ptr_args = iter(fn.args)
    lw.ptrs = {vid: next(ptr_args) for vid in values}
    out_ptrs: list[ir.Value] = list(lw.out_ptrs)
    for k in slots:
        out_ptrs[k] = next(ptr_args)
    lw.out_ptrs = out_ptrs
    partials = [next(ptr_args) for _ in range(n_partials)]
    index = fn.args[-1]
    lw.const_ptrs = {}
    lw.trig_far = None          # made on first use (`far_flag`)
    # Neither loop tasks nor row reductions fail; a status pointer that is not an
    # argument of this function would not verify.
    lw.status = ir.Constant(I64.as_pointer(), None)
    b = lw.b
    start = b.mul(index, const(rows))
    stop = b.add(start, const(rows))
    stop = b.select(b.icmp_signed("<", stop, const(size)), stop, const(size))
    lw.chunk = Chunk(dim, start, stop, index, partials)
    try:
        lw.task(task)
    finally:
        lw.chunk = None
    lw.b.ret_void()
    with lw.b.goto_block(lw.alloca_block):
        lw.b.branch(fn.blocks[1])
    (lw.fn, lw.b, lw.alloca_block, lw.ptrs, lw.out_ptrs, lw.const_ptrs,
     lw.trig_far, lw.status) = saved
    return fn

