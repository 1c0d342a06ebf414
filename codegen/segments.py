"""Splitting a plan's tasks into segments, each lowered into a function of its own.

LLVM's function passes (GVN, instruction combining, the SLP vectorizer, ...) take more
than linear time in the size of a function: one function of 300 small loops (a 100-step
unrolled simulation with its gradient) spent 3 s in them, ten of 30 loops a fraction of
that. So the tasks of a large plan are cut, in order, into segments of at most
`SEGMENT_COST` estimated LLVM instructions; `Lowerer.run` emits each segment as an
internal `noinline` function that the body calls in turn.

Invariants:
- Segments cover the tasks in order, without gaps or overlap; a plan that fits one
  segment is one segment (lowered into the body itself, as before).
- `Segment.live_in` holds exactly the scratch values allocated before the segment
  (`born < start`) that one of its tasks reads, writes or frees (`dies` in it), plus the
  stack buffers in the body's frame that it uses, in the order of `plan.scratch`, less
  the buffers in the arena; everything else a segment touches is a parameter, an
  output, an arena buffer or a buffer it allocates itself (on the heap or in its own
  frame).
- Arena buffers whose lifetimes (born to dies, in tasks) overlap never overlap in the
  arena.
"""
from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from ..ir import Value
from . import parts
from .fusion import MATH_COST
from .plan import (CheckTask, KernelTask, Plan, size_of, task_instrs, task_reads,
                   task_writes)

# Estimated LLVM instructions per segment (see `task_cost`). At about this size O3's time
# per instruction is still what it is on small functions.
SEGMENT_COST = 2000
# A module estimated beyond this (about four segments) is optimized without the SLP
# vectorizer, whose time grows faster than the straight-line code it searches: it took
# 45% of O3's time on 900 small unrolled loops (a 300-step spring chain with gradient).
SLP_MAX_COST = 8000
# The estimated LLVM instructions that stand for what the caller does besides compiling
# the main module's segments, while the thread compiles the first part: lowering and
# printing the main module, and compiling the entry module (`build.py`). A plan compiled
# in two parts at once (`parts.THREAD_MIN_COST`) is cut so that both take about as long.
# For W3 (fresh process, quiet machine, thread CPU), at 600 the thread's part took 58-77
# ms and ended 10-20 ms after the caller's 7 + 39-43; at 300 (one task fewer in the
# first part) 61-65 against 7 + 41-49, ending together.
MAIN_EXTRA_COST = 300
# Scratch buffers of at most STACK_BYTES live on the stack (no allocation call, no failure
# path, and LLVM can keep a buffer used within one function in registers), up to
# STACK_TOTAL bytes per module.
STACK_BYTES = 1024
STACK_TOTAL = 128 << 10
# The other small scratch buffers share one heap block per call of the function (the
# arena, at most ARENA_MAX bytes), at offsets fixed at compile time: one allocation and one
# failure test per call instead of one per buffer. Allocating each one made the code of a
# long program's segments about 3x as large as with stack buffers (an allocation call, a
# failure path and slot-table stores per buffer), so the share of buffers that fit the
# stack budget changed LLVM's time per instruction with the program's length.
ARENA_MAX = 64 << 20


@dataclass
class Segment:
    start: int
    stop: int
    live_in: list[Value] = field(default_factory=list)
    cost: int = 0           # estimated LLVM instructions (`task_cost`)


def stack_scratch(plan: Plan) -> set[int]:
    """The scratch values (ids) that get stack buffers: small ones, in plan order, while
    the total stays within STACK_TOTAL."""
    out: set[int] = set()
    total = 0
    for v in plan.scratch:
        nbytes = -(-size_of(v.shape) * v.dtype.itemsize // 64) * 64
        if id(v) in plan.born and nbytes <= STACK_BYTES and total + nbytes <= STACK_TOTAL:
            out.add(id(v))
            total += nbytes
    return out


def _rounded(v: Value) -> int:
    return -(-size_of(v.shape) * v.dtype.itemsize // 64) * 64


def arena_scratch(plan: Plan, stack: set[int]) -> tuple[dict[int, int], int]:
    """The byte offsets in the arena of the small scratch buffers (at most STACK_BYTES,
    64-byte aligned) not in `stack`, and the arena's size. A buffer reuses the bytes of
    one of the same size that died in an earlier task (a task's buffers are placed before
    the buffers it reads last are released), so the arena holds about the most small
    buffers live at once; buffers past ARENA_MAX stay separate heap buffers."""
    born_at: dict[int, list[Value]] = {}
    dies_at: dict[int, list[Value]] = {}
    for v in plan.scratch:
        if id(v) in plan.born and id(v) not in stack and _rounded(v) <= STACK_BYTES:
            born_at.setdefault(plan.born[id(v)], []).append(v)
            dies_at.setdefault(plan.dies[id(v)], []).append(v)
    offsets: dict[int, int] = {}
    free: dict[int, list[int]] = {}
    size = 0
    for k in sorted(set(born_at) | set(dies_at)):
        for v in born_at.get(k, ()):
            n = _rounded(v)
            if free.get(n):
                offsets[id(v)] = free[n].pop()
            elif size + n <= ARENA_MAX:
                offsets[id(v)] = size
                size += n
        for v in dies_at.get(k, ()):
            if id(v) in offsets:
                free.setdefault(_rounded(v), []).append(offsets[id(v)])
    return offsets, size


def task_cost(plan: Plan, k: int) -> int:
    """A rough count of the LLVM instructions task `k` lowers to (loop control and
    addressing per loop, a few per inlined instruction, inline math at its cost)."""
    t = plan.tasks[k]
    instrs = task_instrs(plan, t)
    cost = 20 + 3 * len(instrs)
    if isinstance(t, KernelTask):
        cost += 150
    if not isinstance(t, CheckTask) and not t.outline:
        cost += sum(MATH_COST.get(ins.prim, 0) for ins in instrs)
    return cost


def split(plan: Plan, stack: set[int], budget: int | None = None,
          arena: Container[int] = ()) -> tuple[list[Segment], set[int]]:
    """The segments of `plan` (one when its estimated size is within `budget`; the
    estimate of the whole plan is left in `plan.cost`), and the
    stack buffers (of `stack`) used in more than one segment: those live in the body's
    frame and are in the `live_in` of every segment that uses them, the one that writes
    them first included. Buffers in the `arena` are in no `live_in` (each function finds
    them at their offset in the arena)."""
    n = len(plan.tasks)
    task_costs = [task_cost(plan, k) for k in range(n)]
    plan.cost = sum(task_costs)
    if budget is None:
        budget = SEGMENT_COST
        if parts.THREAD_MIN_COST <= plan.cost < parts.PARALLEL_MIN_COST:
            # Two parts compiled at once (`parts.count`): the first segment in one, the
            # second with the body and the entry in the other, each about half the work.
            budget = min(budget, (plan.cost + MAIN_EXTRA_COST) // 2)
    bounds = [0]
    costs = []
    acc = 0
    for k, c in enumerate(task_costs):
        if acc and acc + c > budget:
            bounds.append(k)
            costs.append(acc)
            acc = 0
        acc += c
    bounds.append(n)
    costs.append(acc)
    segs = [Segment(a, b, cost=c) for a, b, c in zip(bounds, bounds[1:], costs)]
    if len(segs) <= 1:
        return [Segment(0, n, cost=plan.cost)], set()
    seg_of = [0] * n
    for s, seg in enumerate(segs):
        for k in range(seg.start, seg.stop):
            seg_of[k] = s
    # The segments that use each value, in increasing order (time linear in the uses: a
    # scan over every segment a value lives through was quadratic for long programs).
    used: dict[int, list[int]] = {}
    for k, t in enumerate(plan.tasks):
        for v in task_reads(plan, t) + task_writes(t):
            at = used.setdefault(id(v), [])
            if not at or at[-1] != seg_of[k]:
                at.append(seg_of[k])
    shared: set[int] = set()
    for v in plan.scratch:
        if id(v) not in plan.born or id(v) in arena:
            continue
        born, dies = seg_of[plan.born[id(v)]], seg_of[plan.dies[id(v)]]
        first = born + 1
        if id(v) in stack and born != dies:
            shared.add(id(v))
            first -= 1
        at = [s for s in used.get(id(v), []) if first <= s <= dies]
        if dies >= first and (not at or at[-1] != dies):
            at.append(dies)         # it is freed there
        for s in at:
            segs[s].live_in.append(v)
    return segs, shared
