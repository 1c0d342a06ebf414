"""Runtime-sized rules of the region instructions `while`, `cond` and `scan`
(`lower_poly.py`), as `lower_region` lowers them for fixed shapes: real loops and branches
that call each nested Function, never unrolled.

Each nested Function (loop condition, body, branch) is lowered with runtime sizes on its
own into an internal function of the module with the entry's signature
`(i64* dims, i8** bufs, i64* status) -> i32`, reading the same `dims` (region bodies share
the symbols of the Function holding them, so a carried value's size is the same runtime
value in the body and around it; a loop never changes a carried shape).

Invariants:
- Loop-carried values live in two buffers each, from the caller's scratch block
  (`temporaries`): the body reads the current set and writes the other, and the two are
  swapped (pointer swap) after every iteration; initial values are copied in once and the
  final ones out once.
- `scan` passes each step's rows of `xs` and `ys` in place (offset: the step times a row's
  runtime element count); a dynamic `scan` runs its clamped step count and zeroes the
  rows of `ys` it does not write.
- A failing status of a nested function ends the enclosing one: NOMEM as it is; an index
  error `(index, bound)` with the code of the region instruction (as fixed-shape code
  reports it).
"""
from __future__ import annotations

from llvmlite import ir

from ..ir import Function, Instr, Value, dims
from .inline import inline_calls
from .llvmtypes import I1, I8, I32, VOIDP
from .loops import I64, const, for_range
from .lower import NOMEM
from .poly_pool import PolyPools


def _carried(ins: Instr) -> list[Value]:
    """The loop-carried operands of a `while` or `scan` (their initial values)."""
    p = ins.params
    if ins.prim == "while":
        return list(ins.inputs[p["n_consts"]:])
    ops = list(ins.inputs[1:] if p.get("dynamic", False) else ins.inputs)
    return ops[p["n_consts"]:p["n_consts"] + p["n_carry"]]


class PolyRegions(PolyPools):
    """The region rules (see the module docstring)."""

    def temporaries(self, ins: Instr) -> list[Value]:
        if ins.prim in ("while", "scan"):
            return [Value(v.type) for v in _carried(ins) for _ in range(2)]
        return super().temporaries(ins)

    def nested(self, fn: Function) -> ir.Function:
        """`fn` lowered with runtime sizes into an internal function of the module."""
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in fn.name)
        sub = type(self)(inline_calls(fn), self.module,
                         self.module.get_unique_name(f"region_{name}"), self.names)
        return sub.run()

    def call_nested(self, ins: Instr, fn: ir.Function, ptrs: list[ir.Value]) -> None:
        """Call a nested function on these buffers; its failure ends this function."""
        b = self.b
        with b.goto_block(self.alloca_block):
            bufs = b.alloca(VOIDP, size=const(max(1, len(ptrs))), name="regionbufs")
        for k, p in enumerate(ptrs):
            b.store(b.bitcast(p, VOIDP), b.gep(bufs, [const(k)]))
        rc = b.call(fn, [self.dims_p, bufs, self.status])
        with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I32, 0)), likely=False):
            code = ir.Constant(I32, self.number[id(ins)] + 1)
            nomem = b.icmp_signed("==", rc, ir.Constant(I32, NOMEM))
            b.store(const(self.number[id(ins)] + 1), b.gep(self.status, [const(2)]))
            self.release()
            b.ret(b.select(nomem, rc, code))

    def _copy(self, dst: ir.Value, src: ir.Value, v: Value) -> None:
        b = self.b
        memcpy = self.module.declare_intrinsic("llvm.memcpy", [VOIDP, VOIDP, I64])
        nbytes = b.mul(self.count(v), const(v.dtype.itemsize))
        b.call(memcpy, [b.bitcast(dst, VOIDP), b.bitcast(src, VOIDP), nbytes,
                        ir.Constant(I1, 0)])

    def _state(self, ins: Instr) -> tuple[list[ir.Value], list[ir.Value]]:
        """Pointer slots (current, next) of the carried values, the initial values copied
        into the current buffers."""
        b, temps = self.b, self.temps[id(ins)]
        cur, nxt = [], []
        for j, v in enumerate(_carried(ins)):
            a, c = self.ptr(temps[2 * j]), self.ptr(temps[2 * j + 1])
            with b.goto_block(self.alloca_block):
                pc, pn = b.alloca(a.type, name="cur"), b.alloca(a.type, name="nxt")
            b.store(a, pc)
            b.store(c, pn)
            self._copy(a, self.ptr(v), v)
            cur.append(pc)
            nxt.append(pn)
        return cur, nxt

    def _swap(self, cur: list[ir.Value], nxt: list[ir.Value]) -> None:
        b = self.b
        for pc, pn in zip(cur, nxt):
            x, y = b.load(pc), b.load(pn)
            b.store(y, pc)
            b.store(x, pn)

    def _while(self, ins: Instr) -> None:
        b, p = self.b, ins.params
        k = p["n_consts"]
        cond_fn, body_fn = self.nested(p["cond"]), self.nested(p["body"])
        consts = [self.ptr(x) for x in ins.inputs[:k]]
        cur, nxt = self._state(ins)
        with b.goto_block(self.alloca_block):
            flag = b.alloca(I8, name="flag")
            count = b.alloca(I32, name="count")
        b.store(ir.Constant(I32, 0), count)
        head = b.append_basic_block("while.head")
        test = b.append_basic_block("while.test")
        body = b.append_basic_block("while.body")
        done = b.append_basic_block("while.done")
        b.branch(head)
        b.position_at_end(head)
        if p["max_iters"] is not None:
            b.cbranch(b.icmp_signed("<", b.load(count), ir.Constant(I32, p["max_iters"])),
                      test, done)
        else:
            b.branch(test)
        b.position_at_end(test)
        self.call_nested(ins, cond_fn, consts + [b.load(c) for c in cur] + [flag])
        b.cbranch(b.icmp_unsigned("!=", b.load(flag), ir.Constant(I8, 0)), body, done)
        b.position_at_end(body)
        self.call_nested(ins, body_fn, consts + [b.load(c) for c in cur]
                         + [b.load(n) for n in nxt])
        self._swap(cur, nxt)
        b.store(b.add(b.load(count), ir.Constant(I32, 1)), count)
        b.branch(head)
        b.position_at_end(done)
        for o, c in zip(ins.outs[:-1], cur):
            self._copy(self.ptr(o), b.load(c), o)
        b.store(b.load(count), self.ptr(ins.outs[-1]))

    def _scan(self, ins: Instr) -> None:
        b, p = self.b, ins.params
        k, m, length = p["n_consts"], p["n_carry"], p["length"]
        ops = list(ins.inputs)
        ys = ins.outs[m:]
        body_fn = self.nested(p["body"])
        if p.get("dynamic", False):
            n = b.sext(b.load(self.ptr(ops.pop(0))), I64)
            n = b.select(b.icmp_signed("<", n, const(0)), const(0), n)
            n = b.select(b.icmp_signed(">", n, const(length)), const(length), n)
            memset = self.module.declare_intrinsic("llvm.memset", [VOIDP, I64])
            for y in ys:
                row = b.mul(self.dim(dims.size(y.type.shape[1:])), const(y.dtype.itemsize))
                start = b.gep(b.bitcast(self.ptr(y), VOIDP), [b.mul(n, row)])
                b.call(memset, [start, ir.Constant(I8, 0),
                                b.mul(b.sub(const(length), n), row), ir.Constant(I1, 0)])
        else:
            n = const(length)
        xs = ops[k + m:]
        consts = [self.ptr(x) for x in ops[:k]]
        cur, nxt = self._state(ins)

        def at(v: Value, i: ir.Value) -> ir.Value:
            return b.gep(self.ptr(v), [b.mul(i, self.dim(dims.size(v.type.shape[1:])))])

        with for_range(b, n, name="scan") as t:
            i = b.sub(b.sub(n, const(1)), t) if p["reverse"] else t
            self.call_nested(ins, body_fn, consts + [b.load(c) for c in cur]
                             + [at(x, i) for x in xs] + [b.load(c) for c in nxt]
                             + [at(y, i) for y in ys])
            self._swap(cur, nxt)
        for o, c in zip(ins.outs[:m], cur):
            self._copy(self.ptr(o), b.load(c), o)

    def _cond(self, ins: Instr) -> None:
        b = self.b
        fns = [self.nested(f) for f in ins.params["branches"]]
        ptrs = [self.ptr(x) for x in ins.inputs[1:]] + [self.ptr(o) for o in ins.outs]
        index = b.load(self.ptr(ins.inputs[0]))
        done = b.append_basic_block("cond.done")
        blocks = [b.append_basic_block(f"cond.branch{j}") for j in range(len(fns))]
        sw = b.switch(index, blocks[-1])
        for j, blk in enumerate(blocks[:-1]):
            sw.add_case(ir.Constant(I32, j), blk)
        for blk, fn in zip(blocks, fns):
            b.position_at_end(blk)
            self.call_nested(ins, fn, ptrs)
            b.branch(done)
        b.position_at_end(done)
