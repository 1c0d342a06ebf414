"""Fusion decisions: `make_plan(fn)` builds the `plan.Plan` that lowering runs.

The decisions, in the order `make_plan` takes them:

- materialization, users before producers: kernel outputs, results and the operands of
  matmul (after folding a swap of their last two axes into the transpose flag) and of
  region instructions get a buffer; any other value is inlined when its reads allow it:
  a free one (`FREE`: index arithmetic and at most one load) always, a cheap one
  (`CHEAP`) when at most `MAX_CHEAP_CONTEXTS` tasks read it at most twice per element,
  any other when one task reads it at most once per element; chains of inlined values
  longer than `MAX_INLINE_DEPTH` are cut by a buffer;
- one task per materialized value in program order (a `CheckTask` before any task that
  reads checked indices), then adjacent LoopTasks of one shape merged while their stores
  read earlier ones only at the loop index (`MAX_TASK_INSTRS`, `MAX_TASK_STORES` bound a
  merged loop's size);
- demotion: a scratch value only its own LoopTask reads is kept in registers, unstored;
- the math budget: tasks whose inline vector math would cost too much call it out of
  line (`mathcall`);
- scratch lifetimes (`Plan.born`, `Plan.dies`) and each LoopTask's coalesced shapes.

The fusion classes are derived from the registry entries' `kind` and `cost`; no list
here names primitives.
"""
from __future__ import annotations

from ..ir import Function, Instr, Value, all_primitives
from .mathlib import SUPPORTED as MATHLIB
from .plan import (ELEMENTWISE, CheckTask, KernelTask, LoopTask, Plan, Store, Task,
                   checked_indices, closure, coalesce, prims_where, size_of, task_instrs,
                   task_reads, task_writes)

# Reductions over a set of axes: over every axis, one accumulates in a LoopTask.
REDUCTIONS = prims_where(lambda p: p.kind == "reduce" and "axes" in p.axis_params)
# Region instructions (loops, branches): kernels that read every operand from its buffer.
REGIONS = prims_where(lambda p: p.kind == "region")
KERNELS = prims_where(lambda p: p.kind in ("reduce", "kernel", "region"))
# Index arithmetic plus at most one load (inline cost 0): recomputing these is always fine.
FREE = prims_where(lambda p: p.cost == 0)
# A few instructions per element: recomputed rather than stored when read in a few places.
CHEAP_COST = 8
CHEAP = prims_where(lambda p: p.cost is not None and p.cost <= CHEAP_COST)
MAX_CHEAP_CONTEXTS = 4
MAX_INLINE_DEPTH = 40
# LLVM's work grows faster than linearly with a loop body, so merged LoopTasks stop
# growing at this many instructions (a longer chain passes values through scratch).
MAX_TASK_INSTRS = 400
# ... and at this many stores: the loop vectorizer's dependence analysis is quadratic in
# the memory accesses of a loop (250 stores took seconds).
MAX_TASK_STORES = 24
# The vector-math functions worth calling out of line (more than OUTLINE_COST inline
# instructions), with their inline cost: LLVM instructions of mathlib's code for float32
# (float64: about 10% more); sin/cos/tan count twice, as a task computing them is emitted
# twice (lower.Lowerer.task).
OUTLINE_COST = 20
MATH_COST = {n: p.cost for n, p in all_primitives().items()
             if n in MATHLIB and p.cost is not None and p.cost > OUTLINE_COST}
# A task whose inline math would cost more than this, or would take the module's total
# beyond MODULE_MATH_BUDGET, calls out-of-line math functions instead (`mathcall`): each
# inline sin costs ~30 ms of LLVM time, an out-of-line function about as much once per
# module, and each call of it ~0.2 ms.
TASK_MATH_BUDGET = 1200
MODULE_MATH_BUDGET = 3000


def _is_swap_last2(perm: tuple[int, ...]) -> bool:
    r = len(perm)
    return r >= 2 and tuple(perm) == tuple(range(r - 2)) + (r - 1, r - 2)


class _Reads:
    """How many elements of one value each context reads. Elementwise users read it at
    their broadcast index, which the emitter computes once per index, so they share
    reads; other users (transposes, slices, pads, ...) read it at other indices, so their
    reads add up."""

    def __init__(self) -> None:
        self.shared: dict[tuple[str, int], float] = {}
        self.added: dict[tuple[str, int], float] = {}

    def add(self, key: tuple[str, int], reads: float, shared: bool) -> None:
        if shared:
            self.shared[key] = max(self.shared.get(key, 0.0), reads)
        else:
            self.added[key] = self.added.get(key, 0.0) + reads

    def totals(self) -> dict[tuple[str, int], float]:
        keys = set(self.shared) | set(self.added)
        return {k: self.shared.get(k, 0.0) + self.added.get(k, 0.0) for k in keys}


def make_plan(fn: Function) -> Plan:
    """Decide materialization and build the task list for `fn`."""
    producer = {id(o): ins for ins in fn.instrs for o in ins.outs}
    users: dict[int, list[Instr]] = {}
    for ins in fn.instrs:
        seen: set[int] = set()
        for x in ins.inputs:
            if id(x) not in seen:
                seen.add(id(x))
                users.setdefault(id(x), []).append(ins)
    results = {id(r) for r in fn.results}
    params = {id(p) for p in fn.params}
    mat: set[int] = set(params)

    mm_ops: dict[int, list[tuple[Value, bool]]] = {}
    forced: set[int] = set()
    folded: set[tuple[int, int]] = set()     # (id(matmul), id(transposed operand))
    for ins in fn.instrs:
        if ins.prim == "matmul":
            ops = []
            for x, flag in zip(ins.inputs, (ins.params["transpose_a"],
                                            ins.params["transpose_b"])):
                p = producer.get(id(x))
                if p is not None and p.prim == "transpose" and _is_swap_last2(p.params["perm"]):
                    folded.add((id(ins), id(x)))
                    x, flag = p.inputs[0], not flag
                ops.append((x, bool(flag)))
                forced.add(id(x))
            mm_ops[id(ins)] = ops
        elif ins.prim in REGIONS:
            forced.update(id(x) for x in ins.inputs)

    # Decide users before producers: a value's reads are known once all its users are.
    contexts: dict[int, dict[tuple[str, int], float]] = {}
    for ins in reversed(fn.instrs):
        for v in ins.outs:
            if ins.prim in KERNELS or id(v) in results or id(v) in forced:
                mat.add(id(v))
                continue
            acc = _Reads()
            for u in users.get(id(v), []):
                if checked_indices(u) is v:
                    acc.add(("check", id(u)), size_of(v.shape), False)
                if u.prim == "matmul":
                    continue      # reads a materialized operand, never `v` inline
                if u.prim in KERNELS:
                    reads = size_of(u.inputs[0].shape) if u.prim == "scatter_add" else \
                        size_of(v.shape)
                    acc.add(("kernel", id(u)), reads, False)
                    continue
                o = u.outs[0]
                # Every rule evaluates each operand once per output element (pad and
                # concat too: they select among operand values evaluated at clamped
                # indices), so reads propagate one to one.
                r = 1.0
                shared = u.prim in ELEMENTWISE
                if id(o) in mat:
                    acc.add(("root", id(o)), size_of(o.shape) * r, shared)
                else:
                    for key, n_reads in contexts[id(o)].items():
                        acc.add(key, n_reads * r, shared)
            ctxs = acc.totals()
            n = size_of(v.shape)
            most = max(ctxs.values(), default=0.0)
            if ins.prim in FREE:
                inline = True
            elif ins.prim in CHEAP:
                inline = len(ctxs) <= MAX_CHEAP_CONTEXTS and most <= 2.0001 * n
            else:
                inline = len(ctxs) <= 1 and most <= 1.0001 * n
            if inline:
                contexts[id(v)] = ctxs
            else:
                mat.add(id(v))

    # Bound the depth of inlined expressions (the emitter recurses through them).
    depth: dict[int, int] = {}
    for ins in fn.instrs:
        d = 1 + max((depth.get(id(x), 0) for x in ins.inputs), default=0)
        for o in ins.outs:
            if id(o) in mat:
                continue
            if d > MAX_INLINE_DEPTH:
                mat.add(id(o))
            else:
                depth[id(o)] = d

    out_slot: dict[int, int] = {}
    copies: list[tuple[int, Value]] = []
    for k, res in enumerate(fn.results):
        if id(res) in params or id(res) in out_slot:
            copies.append((k, res))
        else:
            out_slot[id(res)] = k
    scratch = [o for ins in fn.instrs for o in ins.outs
               if id(o) in mat and id(o) not in out_slot]

    tasks: list[Task] = []
    for ins in fn.instrs:
        chk = checked_indices(ins)
        if chk is not None and size_of(chk.shape) > 0:
            tasks.append(CheckTask(ins))
        if ins.prim in KERNELS:
            if is_full_reduction(ins):
                tasks.append(LoopTask(ins.inputs[0].shape, [], reductions=[ins]))
            elif ins.prim in REGIONS or size_of(ins.outs[0].shape) > 0:
                tasks.append(KernelTask(ins))
            continue
        v = ins.outs[0]
        if id(v) in mat and size_of(v.shape) > 0:
            tasks.append(LoopTask(v.shape, [Store(v, out_slot.get(id(v)), True)]))
    for k, res in copies:
        if size_of(res.shape) > 0:
            tasks.append(LoopTask(res.shape, [Store(res, k, False)]))

    plan = Plan(fn, producer, mat, out_slot, scratch, [], mm_ops)
    plan.tasks = _merge_loops(plan, tasks)
    _demote(plan)
    _math_budget(plan)
    _lifetimes(plan)
    for t in plan.tasks:
        if isinstance(t, LoopTask):
            c = coalesce(plan, t.shape, *t.roots(plan))
            t.vshape = c[0] if c else {}
    return plan


def is_full_reduction(ins: Instr) -> bool:
    """A reduction over every axis of a non-empty operand: it runs as an accumulator in a
    LoopTask (and so fuses with the loops over its operand's shape)."""
    if ins.prim not in REDUCTIONS:
        return False
    x = ins.inputs[0]
    return (size_of(x.shape) > 0
            and set(ins.params["axes"]) == set(range(len(x.shape))))


def _accesses(plan: Plan, root: Value, loop: tuple[int, ...], computed: bool = True
              ) -> dict[int, bool]:
    """Materialized values read by `root`'s expression (by `root` itself when not
    `computed`): id -> True when every read is at the loop index itself (a path of
    same-shape elementwise instructions)."""
    out: dict[int, bool] = {}
    seen: set[tuple[int, bool]] = set()
    if not computed:
        return {id(root): root.shape == loop}
    ins = plan.producer[id(root)]
    stack = [(x, ins.prim in ELEMENTWISE and x.shape == loop) for x in ins.inputs]
    while stack:
        x, ident = stack.pop()
        if (id(x), ident) in seen:
            continue
        seen.add((id(x), ident))
        if id(x) in plan.materialized:
            out[id(x)] = out.get(id(x), True) and ident
            continue
        p = plan.producer[id(x)]
        for y in p.inputs:
            stack.append((y, ident and p.prim in ELEMENTWISE and y.shape == loop))
    return out


def _merge_loops(plan: Plan, tasks: list[Task]) -> list[Task]:
    """Fuse adjacent LoopTasks of one shape when later stores and reductions read earlier
    stores only at the loop index, and no earlier reduction at all."""
    merged: list[Task] = []
    size: dict[int, int] = {}
    for t in tasks:
        last = merged[-1] if merged else None
        if isinstance(t, LoopTask):
            size[id(t)] = len(closure(plan, *t.roots(plan))[0])
        if isinstance(t, LoopTask) and isinstance(last, LoopTask) and last.shape == t.shape \
                and size[id(last)] + size[id(t)] <= MAX_TASK_INSTRS \
                and len(last.stores) + len(t.stores) <= MAX_TASK_STORES:
            stored = {id(s.value) for s in last.stores if s.compute}
            reduced = {id(ins.outs[0]) for ins in last.reductions}
            reads = [(s.value, s.compute) for s in t.stores]
            for ins in t.reductions:
                x = ins.inputs[0]
                reads.append((x, id(x) not in plan.materialized))
            ok = True
            for v, computed in reads:
                acc = _accesses(plan, v, t.shape, computed)
                if any(vid in reduced or (vid in stored and not ident)
                       for vid, ident in acc.items()):
                    ok = False
            if ok:
                last.stores.extend(t.stores)
                last.reductions.extend(t.reductions)
                size[id(last)] += size[id(t)]
                continue
        merged.append(t)
    return merged


def _demote(plan: Plan) -> None:
    """Stop storing scratch values that only the stores of their own LoopTask read (they
    read them at the loop index, from registers)."""
    readers: dict[int, set[int]] = {}
    for k, t in enumerate(plan.tasks):
        for v in task_reads(plan, t):
            readers.setdefault(id(v), set()).add(k)
    dropped: set[int] = set()
    for k, t in enumerate(plan.tasks):
        if not isinstance(t, LoopTask) or len(t.stores) + len(t.reductions) < 2:
            continue
        for s in t.stores:
            vid = id(s.value)
            if s.compute and s.slot is None and readers.get(vid, set()) <= {k}:
                dropped.add(vid)
                s.keep = False
    plan.materialized -= dropped
    plan.scratch = [v for v in plan.scratch if id(v) not in dropped]


def _math_budget(plan: Plan) -> None:
    """Mark the tasks that call math out of line: those whose inline math costs more
    than TASK_MATH_BUDGET, and every task once the module's total would pass
    MODULE_MATH_BUDGET."""
    used = 0
    for t in plan.tasks:
        if isinstance(t, CheckTask):
            continue
        cost = sum(MATH_COST.get(ins.prim, 0) for ins in task_instrs(plan, t))
        if cost > TASK_MATH_BUDGET or used + cost > MODULE_MATH_BUDGET:
            t.outline = True
        else:
            used += cost


def _lifetimes(plan: Plan) -> None:
    """The first task that writes each scratch value, and the last that reads it."""
    scratch = {id(v) for v in plan.scratch}
    for k, t in enumerate(plan.tasks):
        for v in task_writes(t):
            if id(v) in scratch:
                plan.born.setdefault(id(v), k)
                plan.dies[id(v)] = max(plan.dies.get(id(v), k), k)
        for v in task_reads(plan, t):
            if id(v) in scratch:
                plan.dies[id(v)] = max(plan.dies.get(id(v), k), k)
