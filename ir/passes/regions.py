"""Region passes: move work across the boundary of `while`, `scan` and `cond` instructions.

`regions(fn)` rewrites every region instruction of `fn` (not of its nested Functions:
`optimize` visits those on their own) in three steps:

1. Sink: a small `constant` operand among the consts becomes a `constant` instruction
   inside each nested Function, so folding and simplification see it there.
2. Hoist: an instruction of a loop body (`while`, `scan`) whose operands are all consts of
   the loop (or outputs of instructions hoisted before it) is computed once, before the
   loop, and passed in as a new const. Bounds-checked primitives stay where they are (a loop
   that runs zero times must not raise), and so does every `constant` (kept inside, copied
   outside when a hoisted instruction reads it). `cond` branches are not hoisted from (only
   one of them runs).
3. Prune: consts that no nested Function reads are dropped from the instruction.

Invariants: the result computes the same values (every primitive is pure); nested Functions
keep their consts leading and every nested Function of one instruction takes the same
parameters; `fn` itself is never modified.
"""
from __future__ import annotations

from ..dims import at_most
from ..core import Function, Instr, Value
from .subst import substituted
from ..prims import all_primitives
from ..prims.control import REGIONS

#: Constants up to this many elements are copied into the regions that read them.
SINK_ELEMENTS = 64
#: Never hoisted: a loop that runs zero times must not raise their bounds errors (or
#: their assertions' errors).
CHECKED = frozenset(n for n, p in all_primitives().items()
                    if p.indices is not None or p.raises)


def regions(fn: Function) -> Function:
    """Example: in `while(%a, %x) {body: y = exp(a); ...}` the `exp` moves before the loop."""
    if not any(ins.prim in REGIONS for ins in fn.instrs):
        return fn
    defs = {id(o): ins for ins in fn.instrs for o in ins.outs}
    instrs: list[Instr] = []
    changed = False
    for ins in fn.instrs:
        if ins.prim in REGIONS:
            new = _sink(ins, defs)
            if new.prim in ("while", "scan"):
                n = len(instrs)
                new = _hoist(new, instrs)
                changed = changed or len(instrs) != n
            new = _prune(new)
            changed = changed or new is not ins
            ins = new
        instrs.append(ins)
    return Function(fn.name, fn.params, instrs, fn.results) if changed else fn


# --------------------------------------------------------------------------- helpers


def _n_consts(ins: Instr) -> int:
    return 0 if ins.prim == "cond" else int(ins.params["n_consts"])


def _first_operand(ins: Instr) -> int:
    """Index of the first const among the operands (`cond`'s index and a dynamic `scan`'s
    step count come first)."""
    return 1 if ins.prim == "cond" or ins.params.get("dynamic", False) else 0


def _fn_keys(ins: Instr) -> list[str]:
    return ["branches"] if ins.prim == "cond" else (["cond", "body"] if ins.prim == "while"
                                                    else ["body"])


def _fns(ins: Instr) -> list[Function]:
    if ins.prim == "cond":
        return list(ins.params["branches"])
    return [ins.params[k] for k in _fn_keys(ins)]


def _rebuild(ins: Instr, fns: list[Function], inputs: list[Value], n_consts: int) -> Instr:
    params = dict(ins.params)
    if ins.prim == "cond":
        params["branches"] = tuple(fns)
    else:
        for k, f in zip(_fn_keys(ins), fns):
            params[k] = f
        params["n_consts"] = n_consts
    return Instr(ins.prim, inputs, params, ins.outs)


def _with_params(fn: Function, params: list[Value], prefix: list[Instr],
                 subst: dict[int, Value]) -> Function:
    instrs = prefix + [substituted(i, subst) for i in fn.instrs]
    return Function(fn.name, params, instrs, [subst.get(id(r), r) for r in fn.results])


# --------------------------------------------------------------------------- sink


def _sink(ins: Instr, defs: dict[int, Instr]) -> Instr:
    first, k = _first_operand(ins), _n_consts(ins)
    if ins.prim == "cond":
        k = len(ins.inputs) - 1        # every operand of a branch acts as a const
    consts = ins.inputs[first:first + k]
    sink = [j for j, x in enumerate(consts)
            if (d := defs.get(id(x))) is not None and d.prim == "constant"
            and at_most(x.type.size, SINK_ELEMENTS)]
    if not sink:
        return ins
    fns = []
    for f in _fns(ins):
        prefix, subst = [], {}
        for j in sink:
            p = f.params[j]
            v = Value(p.type, p.hint)
            prefix.append(Instr("constant", [], defs[id(consts[j])].params, [v]))
            subst[id(p)] = v
        fns.append(_with_params(f, list(f.params), prefix, subst))
    return _rebuild(ins, fns, list(ins.inputs), _n_consts(ins))


# --------------------------------------------------------------------------- hoist


def _hoist(ins: Instr, outer: list[Instr]) -> Instr:
    first, k = _first_operand(ins), _n_consts(ins)
    body: Function = ins.params["body"]
    outside: dict[int, Value] = {id(p): x for p, x in zip(body.params[:k],
                                                          ins.inputs[first:first + k])}
    hoisted: list[Instr] = []
    for i in body.instrs:
        if i.prim in CHECKED or any(id(x) not in outside for x in i.inputs):
            continue
        if not i.inputs and i.prim != "constant":
            continue
        outs = [Value(o.type, o.hint) for o in i.outs]
        hoisted.append(Instr(i.prim, [outside[id(x)] for x in i.inputs], i.params, outs))
        for o, n in zip(i.outs, outs):
            outside[id(o)] = n
    moved = [i for i in hoisted if i.inputs]
    if not moved:
        return ins
    # The body keeps its constants; only values of moved instructions come in as consts.
    inner = [i for i in body.instrs if i.prim in CHECKED
             or any(id(x) not in outside for x in i.inputs) or not i.inputs]
    inside_outs = {id(o) for i in inner for o in i.outs}
    needed: list[Value] = []        # body values (outputs of moved instructions) now consts
    seen = {id(p) for p in body.params} | inside_outs
    for x in [x for i in inner for x in i.inputs] + list(body.results):
        if id(x) in outside and id(x) not in seen:
            seen.add(id(x))
            needed.append(x)
    # Emit the hoisted instructions that the needed values depend on, in order.
    want = {id(outside[id(v)]) for v in needed}
    keep: list[Instr] = []
    for i in reversed(hoisted):
        if any(id(o) in want for o in i.outs):
            keep.append(i)
            want.update(id(x) for x in i.inputs)
    outer.extend(reversed(keep))
    new_params = [Value(v.type, v.hint) for v in needed]
    subst = {id(v): p for v, p in zip(needed, new_params)}
    new_body = Function(body.name, list(body.params[:k]) + new_params + list(body.params[k:]),
                        [substituted(i, subst) for i in inner],
                        [subst.get(id(r), r) for r in body.results])
    fns = [new_body]
    if ins.prim == "while":
        cond: Function = ins.params["cond"]
        extra = [Value(v.type) for v in needed]
        fns.insert(0, Function(cond.name, list(cond.params[:k]) + extra + list(cond.params[k:]),
                               cond.instrs, cond.results))
    inputs = list(ins.inputs[:first + k]) + [outside[id(v)] for v in needed] + \
        list(ins.inputs[first + k:])
    return _rebuild(ins, fns, inputs, k + len(needed))


# --------------------------------------------------------------------------- prune


def _prune(ins: Instr) -> Instr:
    first, k = _first_operand(ins), _n_consts(ins)
    if ins.prim == "cond":
        k = len(ins.inputs) - 1
    fns = _fns(ins)
    used: set[int] = set()
    for f in fns:
        reads = {id(x) for i in f.instrs for x in i.inputs} | {id(r) for r in f.results}
        used.update(j for j, p in enumerate(f.params[:k]) if id(p) in reads)
    drop = [j for j in range(k) if j not in used]
    if not drop:
        return ins
    keep = [j for j in range(len(fns[0].params)) if j not in drop]
    new_fns = [Function(f.name, [f.params[j] for j in keep], f.instrs, f.results) for f in fns]
    inputs = list(ins.inputs[:first]) + [ins.inputs[first + j] for j in keep]
    return _rebuild(ins, new_fns, inputs, k - len(drop) if ins.prim != "cond" else 0)
