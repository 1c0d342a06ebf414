"""Lowering of the region instructions `while`, `scan` and `cond` to real LLVM loops and
branches (never unrolled).

Every nested Function (loop condition, loop body, branch) is lowered on its own, with its
own fusion plan, into an internal LLVM function of the same module with the signature of
`Lowerer.fn` (`(p0.., out0.., status) -> i32`); the region instruction's kernel calls it
once per iteration (LLVM inlines it where that pays). So a body fuses and vectorizes like
any other code.

Invariants:
- Loop-carried values live in two heap buffers each, allocated once per execution of the
  loop: the body reads the current set and writes the other, and the two are swapped
  (pointer swap, no copy) after every iteration; the initial values are copied in once and
  the final ones out once. A body therefore never reads memory it writes (its pointer
  arguments are `noalias`).
- `scan` reads each step's `x` and writes each step's `y` in place, at the step's offset of
  the `xs` operands and the `ys` outputs. A dynamic `scan` runs its clamped step count
  and zeroes the rows of the `ys` it does not write (one memset each).
- A failing status of a nested function (an index out of bounds, no memory) ends the
  enclosing function with the same status; an index error is reported against the region
  instruction (the user API replays the trace to name the op inside and its line).
"""
from __future__ import annotations

from typing import Any

from llvmlite import ir

from ..ir import Function, Instr, Value
from .inline import inline_calls
from .loops import I64, const
from .llvmtypes import I1, I8, I32, VOIDP, mem_type
from .lower import NOMEM, Lowerer
from .rules import kernel_rule
from .fusion import make_plan
from .plan import size_of


def nested_function(lw: Lowerer, fn: Function) -> ir.Function:
    """`fn` lowered into an internal function of `lw`'s module."""
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in fn.name)
    sub = Lowerer(make_plan(inline_calls(fn)), lw.module,
                  lw.module.get_unique_name(f"region_{name}"))
    sub.run()
    return sub.fn


def _bytes(v: Value) -> int:
    return size_of(v.shape) * v.dtype.itemsize


def _memcpy(lw: Lowerer, dst: ir.Value, src: ir.Value, nbytes: int) -> None:
    if nbytes == 0:
        return
    fn = lw.module.declare_intrinsic("llvm.memcpy", [VOIDP, VOIDP, I64])
    lw.b.call(fn, [lw.b.bitcast(dst, VOIDP), lw.b.bitcast(src, VOIDP), const(nbytes),
                   ir.Constant(I1, 0)])


def _call(lw: Lowerer, ins: Instr, fn: ir.Function, args: list[ir.Value]) -> None:
    """Call a nested function; a failing status ends the enclosing function with it."""
    b = lw.b
    rc = b.call(fn, args + [lw.status])
    with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I32, 0)), likely=False):
        code = ir.Constant(I32, lw.plan.fn.instrs.index(ins) + 1)
        nomem = b.icmp_signed("==", rc, ir.Constant(I32, NOMEM))
        # An index error: (index, bound) stay in the status; the code names `ins`.
        b.store(b.sext(code, I64), b.gep(lw.status, [const(2)], inbounds=True))
        lw.bail(b.select(nomem, rc, code))


class _Carried:
    """Double-buffered loop-carried values: `cur` (read by the body) and `nxt` (written)."""

    def __init__(self, lw: Lowerer, init: list[Value]):
        self.lw = lw
        self.values = init
        self.raw: list[ir.Value] = []
        self.cur: list[ir.Value] = []
        self.nxt: list[ir.Value] = []
        for v in init:
            ty = mem_type(v.dtype)
            a, c = lw.malloc(_bytes(v), ty), lw.malloc(_bytes(v), ty)
            self.raw += [a, c]
            pc, pn = lw.alloca(ty.as_pointer(), "cur"), lw.alloca(ty.as_pointer(), "nxt")
            lw.b.store(a, pc)
            lw.b.store(c, pn)
            self.cur.append(pc)
            self.nxt.append(pn)
            _memcpy(lw, a, lw.ptr(v), _bytes(v))

    def current(self) -> list[ir.Value]:
        return [self.lw.b.load(p) for p in self.cur]

    def following(self) -> list[ir.Value]:
        return [self.lw.b.load(p) for p in self.nxt]

    def swap(self) -> None:
        b = self.lw.b
        for pc, pn in zip(self.cur, self.nxt):
            x, y = b.load(pc), b.load(pn)
            b.store(y, pc)
            b.store(x, pn)

    def finish(self, outs: list[Value]) -> None:
        for v, p in zip(outs, self.current()):
            _memcpy(self.lw, self.lw.ptr(v), p, _bytes(v))
        for r in self.raw:
            self.lw.free(r)


# --------------------------------------------------------------------------- while


@kernel_rule("while")
def _while(lw: Lowerer, ins: Instr) -> None:
    k = ins.params["n_consts"]
    max_iters = ins.params["max_iters"]
    cond_fn = nested_function(lw, ins.params["cond"])
    body_fn = nested_function(lw, ins.params["body"])
    b = lw.b
    consts = [lw.ptr(x) for x in ins.inputs[:k]]
    state = _Carried(lw, list(ins.inputs[k:]))
    flag = lw.alloca(I8, "flag")
    count = lw.alloca(I32, "count")
    b.store(ir.Constant(I32, 0), count)
    head, test, body, done = _enter_loop(b, "while", "head", "test", "body", "done")
    n = b.load(count)
    if max_iters is not None:
        b.cbranch(b.icmp_signed("<", n, ir.Constant(I32, max_iters)), test, done)
    else:
        b.branch(test)
    b.position_at_end(test)
    _call(lw, ins, cond_fn, consts + state.current() + [flag])
    b.cbranch(b.icmp_unsigned("!=", b.load(flag), ir.Constant(I8, 0)), body, done)
    b.position_at_end(body)
    _call(lw, ins, body_fn, consts + state.current() + state.following())
    state.swap()
    b.store(b.add(b.load(count), ir.Constant(I32, 1)), count)
    b.branch(head)
    b.position_at_end(done)
    state.finish(list(ins.outs[:-1]))
    b.store(b.load(count), lw.ptr(ins.outs[-1]))


def _enter_loop(b: ir.IRBuilder, kind: str, *names: str) -> list[ir.Block]:
    """The blocks `kind.name` of a loop, in order; the builder branches into the first
    and is left at its start."""
    blocks = [b.append_basic_block(f"{kind}.{n}") for n in names]
    b.branch(blocks[0])
    b.position_at_end(blocks[0])
    return blocks


# --------------------------------------------------------------------------- scan


@kernel_rule("scan")
def _scan(lw: Lowerer, ins: Instr) -> None:
    k, m = ins.params["n_consts"], ins.params["n_carry"]
    length, reverse = ins.params["length"], ins.params["reverse"]
    operands = list(ins.inputs)
    body_fn = nested_function(lw, ins.params["body"])
    b = lw.b
    xs, ys = operands[k + m:], ins.outs[m:]
    if ins.params.get("dynamic", False):
        n = b.sext(b.load(lw.ptr(operands.pop(0))), I64)
        n = b.select(b.icmp_signed("<", n, const(0)), const(0), n)
        n = b.select(b.icmp_signed(">", n, const(length)), const(length), n)
        xs = operands[k + m:]
        for y in ys:
            row = size_of(y.shape[1:]) * y.dtype.itemsize
            _memset(lw, b.gep(b.bitcast(lw.ptr(y), VOIDP), [b.mul(n, const(row))]),
                    b.mul(b.sub(const(length), n), const(row)))
    else:
        n = const(length)
    consts = [lw.ptr(x) for x in operands[:k]]
    state = _Carried(lw, operands[k:k + m])
    step = lw.alloca(I64, "step")
    b.store(const(0), step)
    head, body, done = _enter_loop(b, "scan", "head", "body", "done")
    t = b.load(step)
    b.cbranch(b.icmp_signed("<", t, n), body, done)
    b.position_at_end(body)
    i = b.sub(b.sub(n, const(1)), t) if reverse else t

    def at(v: Value) -> ir.Value:
        return b.gep(lw.ptr(v), [b.mul(i, const(size_of(v.shape[1:])))], inbounds=True)
    _call(lw, ins, body_fn, consts + state.current() + [at(x) for x in xs]
          + state.following() + [at(y) for y in ys])
    state.swap()
    b.store(b.add(t, const(1)), step)
    b.branch(head)
    b.position_at_end(done)
    state.finish(list(ins.outs[:m]))


def _memset(lw: Lowerer, dst: ir.Value, nbytes: ir.Value) -> None:
    fn = lw.module.declare_intrinsic("llvm.memset", [VOIDP, I64])
    lw.b.call(fn, [dst, ir.Constant(I8, 0), nbytes, ir.Constant(I1, 0)])


# --------------------------------------------------------------------------- cond


@kernel_rule("cond")
def _cond(lw: Lowerer, ins: Instr) -> None:
    branches: tuple[Function, ...] = ins.params["branches"]
    fns = [nested_function(lw, f) for f in branches]
    b = lw.b
    operands = [lw.ptr(x) for x in ins.inputs[1:]]
    outs = [lw.ptr(o) for o in ins.outs]
    index = b.load(lw.ptr(ins.inputs[0]))
    done = b.append_basic_block("cond.done")
    last = b.append_basic_block(f"cond.branch{len(fns) - 1}")
    sw = b.switch(index, last)
    blocks: list[Any] = []
    for j in range(len(fns) - 1):
        blk = b.append_basic_block(f"cond.branch{j}")
        sw.add_case(ir.Constant(I32, j), blk)
        blocks.append(blk)
    blocks.append(last)
    for blk, fn in zip(blocks, fns):
        b.position_at_end(blk)
        _call(lw, ins, fn, operands + outs)
        b.branch(done)
    b.position_at_end(done)
