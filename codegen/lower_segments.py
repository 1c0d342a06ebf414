"""A large plan's tasks emitted as segment functions (`segments.split` chooses the
segments): each segment is a function `seg_k` of its own, called in order from the body,
in this module or, when `parts` splits the plan, in a part module compiled elsewhere.

Invariants: a segment function takes the body's buffers, status and slot table plus the
scratch buffers it reads that earlier segments wrote (`live_in`); buffers it allocates
go into the body's slot table, so the body frees whatever is left on any failure; a
failing segment returns its code, which the body returns after freeing. A segment whose
live-ins include heap buffers is called through a small entry function that loads them
from the slot table (`_segment_entry`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ..ir import Value
from . import mathcall, segments
from .irbuild import Builder, new_function
from .llvmtypes import I32, VOIDP, mem_type
from .loops import const
from .parts import assign as parts_of

if TYPE_CHECKING:
    from .lower import Lowerer


def emit_segments(lw: Lowerer, segs: list[segments.Segment]) -> None:
    """Emit every segment: into this module, or, when `parts` splits the plan
    (`parts.py`), the first ones into part modules, each handed to `parts.submit` as
    soon as its last segment is emitted."""
    n = 1
    if lw.parts is not None:
        n = lw.parts.plan(lw.plan.cost, len(segs),
                          slp=lw.plan.cost <= segments.SLP_MAX_COST)
    where = parts_of([s.cost for s in segs], n) if n > 1 else [0] * len(segs)
    main = lw.module
    part: ir.Module | None = None
    for k, seg in enumerate(segs):
        if part is not None and (where[k] == 0 or where[k] != where[k - 1]):
            mathcall.finish(part)
            assert lw.parts is not None
            lw.parts.submit(part)
            part = None
        if where[k] and part is None:
            part = ir.Module(name=f"{main.name}.part{where[k]}")
            part.triple, part.data_layout = main.triple, main.data_layout
        _segment(lw, k, seg, part)


def _segment(lw: Lowerer, k: int, seg: segments.Segment, part: ir.Module | None = None) -> None:
    """Emit tasks `seg.start` to `seg.stop` into a function of their own, called from
    the body: `seg_k(params.., outs.., status, slots, live_in..) -> i32`. Buffers the
    segment allocates go into the body's slot table; a failure returns its code, and
    the body frees whatever the table holds. With `part`, the function is defined
    there and the body calls it (or its entry, `_segment_entry`) through a
    declaration."""
    body = (lw.fn, lw.b, lw.alloca_block, lw.ptrs, lw.status, lw.out_ptrs,
            lw.slots, lw.const_ptrs, lw.trig_far, lw.arena)
    n_buf = len(lw.buffers)
    argtys = [a.type for a in lw.fn.args] + [lw.slots.type] + \
        [mem_type(v.dtype).as_pointer() for v in seg.live_in]
    # Unique in the module: a nested Function of a region is lowered into the same
    # module and may be segmented too.
    fnty = ir.FunctionType(I32, argtys)
    main = lw.module
    name = main.get_unique_name(f"seg{k}")
    fn = new_function(part or main, fnty, name)
    heap_in = any(id(v) not in lw.stack for v in seg.live_in)
    if part is None or heap_in:
        fn.linkage = "internal"     # called by its entry (below) or by the body
    if part is not None:
        lw.module = part
    fn.attributes.add("noinline")
    for a in fn.args[:n_buf] + fn.args[n_buf + 2:]:
        a.add_attribute("noalias")
    lw.fn = fn
    lw.alloca_block = fn.append_basic_block("allocas")
    lw.b = Builder(fn.append_basic_block("start"))
    lw.ptrs = {vid: p for vid, p in body[3].items() if isinstance(p, ir.Constant)}
    args = list(fn.args)
    for (v, _), a in zip(lw.buffers, args):
        lw.ptrs.setdefault(id(v), a)
    lw.out_ptrs = args[len(lw.plan.fn.params):n_buf]
    for vid, slot in lw.plan.out_slot.items():
        lw.ptrs[vid] = lw.out_ptrs[slot]
    lw.status, lw.slots = args[n_buf], args[n_buf + 1]
    body_slots = lw.slot_of, lw.raw_of      # the body's own (the arena)
    lw.slot_of, lw.raw_of = {}, {}
    for v, a in zip(seg.live_in, args[n_buf + 2:]):
        lw.ptrs[id(v)] = a
        if id(v) not in lw.stack:
            lw.slot_of[id(a)] = lw.value_slot[id(v)]
            lw.raw_of[id(a)] = lw.b.bitcast(a, VOIDP)
    lw.const_ptrs = {}
    lw.trig_far = None          # made on first use (`far_flag`)
    if lw.arena_slot is not None:     # the arena's address, from the slot table
        with lw.b.goto_block(lw.alloca_block):
            lw.arena = lw.b.load(lw.b.gep(lw.slots, [const(lw.arena_slot)]))
    lw.in_segment = True
    lw.run_tasks(seg.start, seg.stop)
    # Whatever is still allocated lives on in the slot table (the next segments get
    # it as an argument).
    lw.slot_of, lw.raw_of = body_slots
    lw.b.ret(ir.Constant(I32, 0))
    with lw.b.goto_block(lw.alloca_block):
        lw.b.branch(fn.blocks[1])
    lw.in_segment = False
    entry, on_stack = _segment_entry(lw, fn, seg, part)
    lw.module = main
    (lw.fn, lw.b, lw.alloca_block, lw.ptrs, lw.status, lw.out_ptrs,
     lw.slots, lw.const_ptrs, lw.trig_far, lw.arena) = body
    b = lw.b
    callee = entry or fn
    if part is not None:        # a declaration (the segment's name stays taken here)
        if entry is not None:
            main.scope.register(fn.name)
        callee = new_function(main, callee.function_type, callee.name)
    live = [lw.ptrs[id(v)] for v in on_stack]
    rc = b.call(callee, list(lw.fn.args) + [lw.slots] + live)
    with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I32, 0)), likely=False):
        lw.bail(rc)


def _segment_entry(lw: Lowerer, seg_fn: ir.Function, seg: segments.Segment,
                   part: ir.Module | None) -> tuple[ir.Function | None, list[Value]]:
    """The function the body calls for segment `seg_fn` when some of its live-in
    buffers are on the heap: `enter.seg_k(params.., outs.., status, slots, stack
    live-ins..)` loads those buffers' pointers from the slot table and calls
    `seg_fn` (None when every live-in is a stack buffer of the body: the body calls
    `seg_fn` itself). Loading them in the body instead made its size grow with the
    whole program: LLVM's instruction combining took time quadratic in the uses of
    the slot table there (2.8 s of 10 s of O3 for 50,000 instructions). Also
    returns the live-ins the body passes: the stack buffers, in `live_in` order."""
    on_stack = [v for v in seg.live_in if id(v) in lw.stack]
    if len(on_stack) == len(seg.live_in):
        return None, on_stack
    module = seg_fn.module
    n_fixed = len(lw.buffers) + 2     # buffers, status, slots
    argtys = [a.type for a in seg_fn.args[:n_fixed]] + \
        [mem_type(v.dtype).as_pointer() for v in on_stack]
    entry = new_function(module, ir.FunctionType(I32, argtys), f"enter.{seg_fn.name}")
    entry.linkage = "internal" if part is None else "external"
    entry.attributes.add("noinline")
    b = Builder(entry.append_basic_block("start"))
    slots = entry.args[n_fixed - 1]
    stack_args = iter(entry.args[n_fixed:])
    live = [next(stack_args) if id(v) in lw.stack else
            b.bitcast(b.load(b.gep(slots, [const(lw.value_slot[id(v)])])),
                      mem_type(v.dtype).as_pointer()) for v in seg.live_in]
    b.ret(b.call(seg_fn, list(entry.args[:n_fixed]) + live))
    return entry, on_stack
