"""Fusion planning: which values get a buffer, and which loop nests compute them.

A value is either *materialized* (it has a buffer: a parameter, an output, or scratch) or
*inlined* (recomputed, element by element, inside the loop nest of every materialized
value or kernel that reads it). Lowering then runs the tasks of a `Plan` in order:

- `LoopTask`: one loop nest over a shape that computes and stores one or more
  materialized values of that shape and accumulates any number of full reductions
  (`reduce_*` over every axis) of values of that shape (multi-output fusion); the
  expression of each stored or reduced value is emitted per element, down to materialized
  leaves.
- `KernelTask`: a non-elementwise instruction with its own loop structure (partial
  reductions, argmax/argmin, matmul, scatter_add, and the region instructions `while`,
  `scan`, `cond`, which read every operand from its buffer); it reads its inputs element by element
  too, so
  an elementwise producer fuses into a reduction.
- `CheckTask`: the bounds check of the indices of gather / scatter_add / checked one_hot.
  It runs before any task that reads those indices, so indexed loads need no test of their
  own.

Invariants of a plan:
- Every parameter, result and kernel output is materialized; so is every operand that a
  matmul reads (after folding a swap of its last two axes into the transpose flag).
- An inlined value that is not cheap is read in exactly one task, and no more often than
  it has elements (no recomputation under broadcasting); a cheap one is read in at most
  `MAX_CHEAP_CONTEXTS` tasks, at most twice per element in each (so chains of values
  read twice cannot grow the code exponentially).
- Within a `LoopTask`, a stored value is read by later stores of the same task only at
  the loop index itself, so those reads are served from registers and never from memory
  written in the same iteration; a scratch value that no other task reads is not stored
  at all. Nothing in a `LoopTask` reads the result of one of its own reductions (it is
  complete only after the loop).
- A scratch value is written by task `born[v]` before any task reads it and read by no
  task after `dies[v]`; a scratch value with no task (it has no elements) is in neither.
- No chain of inlined instructions is longer than `MAX_INLINE_DEPTH`.
- A `LoopTask`'s `vshape` (when not empty) gives every value of its expressions a
  coalesced shape of one common rank: adjacent dimensions that every operand either spans
  or broadcasts over are merged, so the innermost loop is as long as possible.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..ir import Function, Instr, Value, all_primitives, get_primitive
from ..ir.prims import Primitive
from .mathlib import SUPPORTED as MATHLIB


def _prims(test: Callable[[Primitive], bool]) -> frozenset[str]:
    """The registered primitives passing `test` (fusion classes derive from the registry
    entries' `kind` and `cost`; no list here names primitives)."""
    return frozenset(n for n, p in all_primitives().items() if test(p))


# Reductions over a set of axes: over every axis, one accumulates in a LoopTask.
REDUCTIONS = _prims(lambda p: p.kind == "reduce" and "axes" in p.axis_params)
# Region instructions (loops, branches): kernels that read every operand from its buffer.
REGIONS = _prims(lambda p: p.kind == "region")
KERNELS = _prims(lambda p: p.kind in ("reduce", "kernel", "region"))
def checked_indices(ins: Instr) -> Value | None:
    """The operand of `ins` whose indices a CheckTask bounds-checks, if any (the
    primitive's registry field `indices`)."""
    try:
        spec = get_primitive(ins.prim).indices
    except KeyError:        # an unknown primitive: lowering names it
        return None
    return None if spec is None else spec.operand_of(ins.params, ins.inputs)


def index_bound(ins: Instr) -> int:
    """The size that `checked_indices(ins)` index."""
    spec = get_primitive(ins.prim).indices
    assert spec is not None, ins
    return int(spec.bound(ins.params, [x.type for x in ins.inputs]))
# Index arithmetic plus at most one load (inline cost 0): recomputing these is always fine.
FREE = _prims(lambda p: p.cost == 0)
# A few instructions per element: recomputed rather than stored when read in a few places.
CHEAP_COST = 8
CHEAP = _prims(lambda p: p.cost is not None and p.cost <= CHEAP_COST)
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
# Reads one operand element per output element, at the broadcast index.
ELEMENTWISE = _prims(lambda p: p.kind == "elementwise")


@dataclass
class Store:
    """Store `value` into its own buffer (`slot is None`) or into output `slot`; computed
    from its expression (`compute`) or copied from its buffer. With `keep=False` the value
    is only computed, at this point of the loop body, for the stores after it to read
    from registers (which also bounds the depth of the expressions emitted after it)."""
    value: Value
    slot: int | None
    compute: bool
    keep: bool = True


@dataclass
class LoopTask:
    shape: tuple[int, ...]
    stores: list[Store]
    vshape: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # Full reductions of values of `shape`, accumulated in the same loop.
    reductions: list[Instr] = field(default_factory=list)
    # Math functions are called out of line (`mathcall`) instead of emitted inline.
    outline: bool = False

    def roots(self, plan: Plan) -> tuple[list[Value], list[Value]]:
        """(values computed from their expressions, values read from their buffers)."""
        computed = [s.value for s in self.stores if s.compute]
        read = [s.value for s in self.stores if not s.compute]
        for ins in self.reductions:
            x = ins.inputs[0]
            (read if id(x) in plan.materialized else computed).append(x)
        return computed, read

    def key(self) -> Value:
        """The value whose (coalesced) shape the loop nest runs over."""
        return self.stores[0].value if self.stores else self.reductions[0].inputs[0]


@dataclass
class KernelTask:
    instr: Instr
    outline: bool = False


@dataclass
class CheckTask:
    instr: Instr


Task = LoopTask | KernelTask | CheckTask


@dataclass
class Plan:
    fn: Function
    producer: dict[int, Instr]
    materialized: set[int]
    out_slot: dict[int, int]          # value id -> output slot that is its buffer
    scratch: list[Value]              # materialized values that need scratch buffers
    tasks: list[Task]
    matmul_operands: dict[int, list[tuple[Value, bool]]]   # id(instr) -> [(a, ta), (b, tb)]
    # Scratch lifetimes in task numbers: allocated before task `born`, freed after `dies`.
    born: dict[int, int] = field(default_factory=dict)
    dies: dict[int, int] = field(default_factory=dict)
    # Estimated LLVM instructions of the lowered plan (`segments.split` sets it).
    cost: int = 0


def size_of(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


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


def region_buffers(fn: Function) -> int:
    """The heap buffers the region instructions of `fn` hold at once at most: two per
    loop-carried value (`lower_region`)."""
    n = 0
    for ins in fn.instrs:
        if ins.prim == "while":
            n = max(n, 2 * (len(ins.inputs) - ins.params["n_consts"]))
        elif ins.prim == "scan":
            n = max(n, 2 * ins.params["n_carry"])
    return n


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


def task_reads(plan: Plan, t: Task) -> list[Value]:
    """The materialized values task `t` reads."""
    if isinstance(t, LoopTask):
        _, leaves = closure(plan, *t.roots(plan))
        return leaves
    ins = t.instr
    if isinstance(t, CheckTask):
        chk = checked_indices(ins)
        roots = [] if chk is None else [chk]
    elif ins.prim == "matmul":
        roots = [x for x, _ in plan.matmul_operands[id(ins)]]
    else:
        roots = list(ins.inputs)
    inline = [r for r in roots if id(r) not in plan.materialized]
    _, leaves = closure(plan, inline, [r for r in roots if id(r) in plan.materialized])
    return leaves


def task_instrs(plan: Plan, t: Task) -> list[Instr]:
    """The instructions task `t` emits (its own and those inlined into it)."""
    if isinstance(t, LoopTask):
        return closure(plan, *t.roots(plan))[0]
    inline = [x for x in t.instr.inputs if id(x) not in plan.materialized]
    return [t.instr] + (closure(plan, inline)[0] if inline else [])


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


def task_writes(t: Task) -> list[Value]:
    if isinstance(t, LoopTask):
        return ([s.value for s in t.stores if s.compute and s.keep]
                + [ins.outs[0] for ins in t.reductions])
    return list(t.instr.outs) if isinstance(t, KernelTask) else []


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


def closure(plan: Plan, roots: list[Value], leaves_in: Sequence[Value] = ()
            ) -> tuple[list[Instr], list[Value]]:
    """The inlined instructions computing `roots` (the roots' own producers included) and
    the materialized values they read (`leaves_in` are read as they are)."""
    instrs: dict[int, Instr] = {}
    leaves: dict[int, Value] = {id(v): v for v in leaves_in}
    stack = [plan.producer[id(r)] for r in roots]
    while stack:
        ins = stack.pop()
        if id(ins) in instrs:
            continue
        instrs[id(ins)] = ins
        for x in ins.inputs:
            if id(x) in plan.materialized:
                leaves[id(x)] = x
            else:
                stack.append(plan.producer[id(x)])
    return list(instrs.values()), list(leaves.values())


def coalesce(plan: Plan, shape: tuple[int, ...], roots: list[Value],
             leaves_in: Sequence[Value] = (), reduced: frozenset[int] = frozenset()
             ) -> tuple[dict[int, tuple[int, ...]], list[list[int]]] | None:
    """Coalesced shapes over loop `shape` for every value of the expressions computing
    `roots` and reading `leaves_in`, and the groups of original dimensions each coalesced
    dimension stands for; None when an instruction needs the real indices or nothing
    merges. Dimensions in `reduced` merge only with each other."""
    instrs, leaves = closure(plan, roots, leaves_in)
    if any(ins.prim not in ELEMENTWISE and ins.prim != "constant" for ins in instrs):
        return None
    values = {id(v): v for v in leaves}
    for ins in instrs:
        values[id(ins.outs[0])] = ins.outs[0]
        for x in ins.inputs:
            values[id(x)] = x
    rank = len(shape)
    aligned = {k: (1,) * (rank - len(v.shape)) + tuple(v.shape) for k, v in values.items()}

    def pattern(d: int) -> tuple[bool, ...]:
        return (d in reduced,) + tuple(aligned[k][d] != 1 for k in values)

    # Size-1 loop dimensions are size 1 in every value, so they vanish; adjacent remaining
    # dimensions merge when every value spans both or broadcasts over both.
    groups: list[list[int]] = []
    for d in range(rank):
        if shape[d] == 1:
            continue
        if groups and pattern(groups[-1][-1]) == pattern(d):
            groups[-1].append(d)
        else:
            groups.append([d])
    if len(groups) == rank:
        return None
    vshape = {k: tuple(size_of(tuple(aligned[k][d] for d in g)) for g in groups)
              for k in values}
    return vshape, groups


def format_plan(plan: Plan) -> str:
    """The tasks of `plan`, one per line, with value numbers as in the printed function:
    `loop f32[256,10] -> %14 %15 (out 0)`, `kernel %16 = reduce_sum(...)`, `check ...`."""
    names: dict[int, str] = {id(p): f"%{p.hint or f'arg{i}'}"
                             for i, p in enumerate(plan.fn.params)}
    for k, ins in enumerate(plan.fn.instrs):
        for j, o in enumerate(ins.outs):
            names[id(o)] = f"%{k}" if len(ins.outs) == 1 else f"%{k}.{j}"
    order = {id(ins): k for k, ins in enumerate(plan.fn.instrs)}
    lines = []
    for t in plan.tasks:
        if isinstance(t, LoopTask):
            stores = " ".join(
                names[id(s.value)] + ("" if s.slot is None else f"->out{s.slot}")
                + ("" if s.compute else "(copy)") + ("" if s.keep else "(reg)")
                for s in t.stores)
            for ins in t.reductions:
                stores += (" " if stores else "") + f"{names[id(ins.outs[0])]}" + \
                    f"({ins.prim}" + (f"->out{plan.out_slot[id(ins.outs[0])]})"
                                      if id(ins.outs[0]) in plan.out_slot else ")")
            instrs, leaves = closure(plan, *t.roots(plan))
            fused = " ".join(names[id(i.outs[0])]
                             for i in sorted(instrs, key=lambda i: order[id(i)]))
            vs = t.vshape.get(id(t.key())) if t.vshape else None
            lines.append(f"loop {t.shape}{f' as {vs}' if vs else ''}: store {stores}; "
                         f"computes {fused}; reads {' '.join(names[id(v)] for v in leaves)}")
        else:
            ins = t.instr
            kind = "kernel" if isinstance(t, KernelTask) else "check"
            args = ", ".join(names[id(x)] for x in ins.inputs)
            lines.append(f"{kind} {names[id(ins.outs[0])]} = {ins.prim}({args})")
    scratch = ", ".join(f"{names[id(v)]}:{v.type}" for v in plan.scratch)
    lines.append(f"scratch: {scratch or '-'}")
    return "\n".join(lines)
