"""The plan of a function's native code: which values get a buffer, and which loop nests
compute them; and the queries lowering makes of a plan.

`fusion.make_plan` decides a plan (the module docstring there says how); this module
defines what a plan is, the invariants every plan holds, and reads it.

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
  `fusion.MAX_CHEAP_CONTEXTS` tasks, at most twice per element in each (so chains of values
  read twice cannot grow the code exponentially).
- Within a `LoopTask`, a stored value is read by later stores of the same task only at
  the loop index itself, so those reads are served from registers and never from memory
  written in the same iteration; a scratch value that no other task reads is not stored
  at all. Nothing in a `LoopTask` reads the result of one of its own reductions (it is
  complete only after the loop).
- A scratch value is written by task `born[v]` before any task reads it and read by no
  task after `dies[v]`; a scratch value with no task (it has no elements) is in neither.
- No chain of inlined instructions is longer than `fusion.MAX_INLINE_DEPTH`.
- A `LoopTask`'s `vshape` (when not empty) gives every value of its expressions a
  coalesced shape of one common rank: adjacent dimensions that every operand either spans
  or broadcasts over are merged, so the innermost loop is as long as possible.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..ir import Function, Instr, Value, all_primitives, get_primitive
from ..ir.prims import Primitive


def prims_where(test: Callable[[Primitive], bool]) -> frozenset[str]:
    """The registered primitives passing `test` (fusion classes derive from the registry
    entries' `kind` and `cost`; no list here names primitives)."""
    return frozenset(n for n, p in all_primitives().items() if test(p))


# Reads one operand element per output element, at the broadcast index.
ELEMENTWISE = prims_where(lambda p: p.kind == "elementwise")


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


def task_writes(t: Task) -> list[Value]:
    if isinstance(t, LoopTask):
        return ([s.value for s in t.stores if s.compute and s.keep]
                + [ins.outs[0] for ins in t.reductions])
    return list(t.instr.outs) if isinstance(t, KernelTask) else []


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
