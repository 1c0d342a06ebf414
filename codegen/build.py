"""The native module of a Function: `body` (from `lower.py`) plus the exported entry.

`entry(tuple) -> i32` takes one Python tuple of NumPy arrays (inputs, outputs, then a
3-element int64 status array), reads the tuple items and each array's data pointer and
flags natively, at the offsets an `Abi` gives, allocates one scratch arena, calls `body`
and frees the arena.

Return codes: 0 ok; `LAYOUT` when an input is not C-contiguous and aligned (nothing was
run; the caller copies and calls again); `NOMEM` when scratch allocation failed; k > 0
when the bounds check of instruction k-1 of the flat function failed, with (index,
bound, k) written to the status array.

Invariants: the caller has checked every array's shape and dtype; scratch buffers are
64-byte aligned, disjoint, and freed before `entry` returns; no value's byte size may
overflow 64-bit index arithmetic (`MemoryError` at build time, before any allocation).
"""
from __future__ import annotations

from llvmlite import ir

from ..ir import Function
from . import engine
from .inline import inline_calls
from .loops import I64, const
from .lower import I1, I32, LAYOUT, NOMEM, VOIDP, Lowerer, libc, mem_type
from .plan import make_plan, size_of

MAX_BYTES = 1 << 62


class Abi:
    """Byte offsets, in CPython objects, that the entry function reads: the items of a
    tuple, and the `data` and `flags` fields of a NumPy array."""

    def __init__(self, tuple_items: int, data: int, flags: int):
        self.tuple_items = tuple_items
        self.data = data
        self.flags = flags


def _build_entry(lw: Lowerer, name: str, abi: Abi) -> None:
    """`entry(tuple)`: the tuple holds the input arrays, the output arrays and the status
    array. Checks input layout flags, reads data pointers, allocates the scratch arena and
    calls `body`."""
    fn = lw.plan.fn
    n_in, n_out = len(fn.params), len(fn.results)
    module = lw.module
    entry = ir.Function(module, ir.FunctionType(I32, [VOIDP]), name)
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    items = b.bitcast(b.gep(entry.args[0], [const(abi.tuple_items)]), VOIDP.as_pointer())
    objs = [b.load(b.gep(items, [const(k)]), align=8) for k in range(n_in + n_out + 1)]

    def field(obj: ir.Value, offset: int, ty: ir.Type) -> ir.Value:
        return b.load(b.bitcast(b.gep(obj, [const(offset)]), ty.as_pointer()), align=4)

    ok = ir.Constant(I1, 1)
    need = ir.Constant(I32, 0x1 | 0x100)   # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
    for o in objs[:n_in]:
        flags = field(o, abi.flags, I32)
        ok = b.and_(ok, b.icmp_unsigned("==", b.and_(flags, need), need))
    with b.if_then(b.not_(ok), likely=False):
        b.ret(ir.Constant(I32, LAYOUT))
    args = [b.bitcast(field(o, abi.data, VOIDP), mem_type(v.dtype).as_pointer())
            for o, (v, _) in zip(objs[:n_in + n_out], lw.buffers)]
    status = b.bitcast(field(objs[-1], abi.data, VOIDP), I64.as_pointer())
    offsets, total = [], 0
    for v in lw.plan.scratch:
        offsets.append(total)
        total += -(-size_of(v.shape) * v.dtype.itemsize // 64) * 64
    raw = None
    if lw.plan.scratch:
        raw = b.call(libc(module, "malloc"), [const(total + 64)])
        with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(VOIDP, None)), likely=False):
            b.ret(ir.Constant(I32, NOMEM))
        addr = b.ptrtoint(raw, I64)
        base = b.and_(b.add(addr, const(63)), const(~63))
        for v, off in zip(lw.plan.scratch, offsets):
            p = b.inttoptr(b.add(base, const(off)), mem_type(v.dtype).as_pointer())
            args.append(p)
    rc = b.call(lw.fn, args + [status])
    if raw is not None:
        b.call(libc(module, "free"), [raw])
    b.ret(rc)


def _check_sizes(fn: Function) -> None:
    """Index arithmetic is 64-bit: refuse values whose byte size could overflow it."""
    values = list(fn.params) + [o for ins in fn.instrs for o in ins.outs]
    for v in values:
        nbytes = size_of(v.shape) * v.dtype.itemsize
        if nbytes > MAX_BYTES:
            raise MemoryError(f"@{fn.name}: a value of type {v.type} would need {nbytes} bytes")


def build_module(fn: Function, abi: Abi, entry_name: str = "entry"
                 ) -> tuple[ir.Module, Function]:
    """Lower `fn` to an llvmlite module exporting `entry_name` (see the module docstring).
    Also returns the flat function (calls inlined) whose instruction numbers the status
    codes refer to.

    Example: `module, flat = build_module(fn, Abi(24, 16, 64))`."""
    fn = inline_calls(fn)
    _check_sizes(fn)
    plan = make_plan(fn)
    module = ir.Module(name=fn.name)
    info = engine.host_info()
    module.triple = info["triple"]
    module.data_layout = info["data_layout"]
    lw = Lowerer(plan, module)
    lw.run()
    _build_entry(lw, entry_name, abi)
    return module, fn
