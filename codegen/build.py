"""The native module of a Function: `body` (from `lower.py`) plus the exported entry.

`entry(tuple) -> i32` (exported as `ENTRY`) takes one Python tuple: the input arrays, the
output arrays, a 4-element int64 status array and the `numpy.ndarray` type object. It
reads the tuple items and each array's fields natively, at the offsets an `Abi` gives,
checks the inputs and calls `body` (which allocates and frees its own scratch buffers).
Elements 0-2 of the status array receive error details; element 3 is read only: when it
is not 0, a successful call clears the outputs' `WRITEABLE` flag (what
`ndarray.setflags(write=False)` does, without its cost per call).

Return codes: 0 ok; `BADARGS` when an input is not an ndarray of exactly the parameter's
shape and (canonical) dtype, `LAYOUT` when one is not C-contiguous and aligned (in both
cases nothing ran: the caller converts or copies and calls again); `NOMEM` when scratch
allocation failed; k > 0 when the bounds check of instruction k-1 of the flat function
failed, with (index, bound, k) written to the status array.

The entries are a module of their own, compiled without the O3 pipeline and at code
generation level 0 (`ENTRY_CODEGEN`): they are straight-line loads, compares and one
call, which O3 cannot make faster in any way that matters beside the body's work, but
on which it spent 15-20 ms of W3's 50 ms main module (their checks make one basic
block each). Code generation level 0 turns them into machine code in about 2 ms.

Invariants: no field of an input is read before its type was checked, and no dimension
before its rank; outputs and the status array are trusted (the caller allocates them); no value's
byte
size may overflow 64-bit index arithmetic (`MemoryError` at build time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from llvmlite import ir

from ..ir import Function
from . import engine
from .inline import inline_calls
from .irbuild import Builder, new_function
from .loops import I64, const
from .llvmtypes import I1, I8, I32, VOIDP, mem_type
from .lower import BADARGS, LAYOUT, Lowerer
from .parts import Parts
from .fusion import make_plan
from .plan import size_of
from .runtime import SOURCE_DIGEST

MAX_BYTES = 1 << 62
# The code generation level of the entry module (see the module docstring).
ENTRY_CODEGEN = 0
WRITEABLE = 0x400     # NPY_ARRAY_WRITEABLE


# The digest of codegen's sources in the exported symbol's name: object code made by any
# other version of codegen (say, from a disk cache) cannot be bound to this version's
# calling convention: looking its entry up fails instead.
ENTRY = f"tracejit_entry_{SOURCE_DIGEST}"
# The items entry of a module (see `_build_entry`) is exported under ENTRY + VECTOR_SUFFIX.
VECTOR_SUFFIX = "_items"


@dataclass(frozen=True)
class Abi:
    """Where the entry function finds things in CPython and NumPy objects: byte offsets
    of a tuple's items, of an object's type, of an array's `nd`, `dimensions`, `descr`,
    `data` and `flags`, and of a dtype's `type_num` and `byteorder`; plus, per dtype name,
    the (type_num, byteorder) of its canonical NumPy dtype (`abi.probe_abi` measures
    them in the running interpreter)."""

    tuple_items: int
    ob_type: int
    nd: int
    dims: int
    descr: int
    data: int
    flags: int
    type_num: int
    byteorder: int
    dtypes: dict[str, tuple[int, int]]


def _build_entry(lw: Lowerer, module: ir.Module, name: str, abi: Abi) -> None:
    """`entry(t)` with `t = (in0.., out0.., status, ndarray)`, defined in `module` (the
    entry module, which declares the main module's `body`):
    checks every input (an ndarray of the exact shape and dtype, else `BADARGS`;
    C-contiguous and aligned, else `LAYOUT`), reads data pointers and calls `body`. The
    same work on an array of object pointers `(in0.., out0..)`, a status array and the
    ndarray type is exported as `name + VECTOR_SUFFIX` (`items_entry(items, status,
    ndarray)`), for the native dispatcher (`dispatch.py`)."""
    fn = lw.plan.fn
    n_in, n_out = len(fn.params), len(fn.results)
    inner_type = ir.FunctionType(I32, [VOIDP.as_pointer(), I64.as_pointer(), VOIDP])
    inner = new_function(module, inner_type,
                        name + VECTOR_SUFFIX)
    body = new_function(module, lw.fn.function_type, lw.fn.name)    # the main module's
    _build_items_entry(lw, inner, body, abi)
    entry = new_function(module, ir.FunctionType(I32, [VOIDP]), name)
    b = Builder(entry.append_basic_block("entry"))
    items = b.bitcast(b.gep(entry.args[0], [const(abi.tuple_items)]), VOIDP.as_pointer())
    st = b.load(b.gep(items, [const(n_in + n_out)]), align=8)
    status = b.bitcast(b.load(b.bitcast(b.gep(st, [const(abi.data)]), VOIDP.as_pointer()),
                              align=1), I64.as_pointer())
    ndarray = b.load(b.gep(items, [const(n_in + n_out + 1)]), align=8)
    b.ret(b.call(inner, [items, status, ndarray]))


def _build_items_entry(lw: Lowerer, entry: ir.Function, body: ir.Function, abi: Abi
                       ) -> None:
    """`items_entry(items, status, ndarray)` with `items = (in0.., out0..)`: the checks
    and the call of `body` (see `_build_entry`)."""
    fn = lw.plan.fn
    n_in, n_out = len(fn.params), len(fn.results)
    b = Builder(entry.append_basic_block("entry"))
    items = entry.args[0]
    objs = [b.load(b.gep(items, [const(k)]), align=8) for k in range(n_in + n_out)]
    ndarray = entry.args[2]

    layout_ok = ir.Constant(I1, 1)
    for o, p in zip(objs[:n_in], fn.params):
        # Only an ndarray's fields may be read: test the type first, then the rank.
        require(b, b.icmp_unsigned("==", load_field(b, o, abi.ob_type, VOIDP), ndarray), BADARGS)
        require(b, b.icmp_signed("==", load_field(b, o, abi.nd, I32), ir.Constant(I32, p.ndim)),
                BADARGS)
        dims = b.bitcast(load_field(b, o, abi.dims, VOIDP), I64.as_pointer())
        ok = dtype_matches(b, abi, o, p.dtype.name)
        for k, d in enumerate(p.shape):
            ok = b.and_(ok, b.icmp_signed("==", b.load(b.gep(dims, [const(k)]), align=8),
                                          const(d)))
        require(b, ok, BADARGS)
        layout_ok = b.and_(layout_ok, layout_matches(b, abi, o))
    require(b, layout_ok, LAYOUT)
    args = [b.bitcast(load_field(b, o, abi.data, VOIDP), mem_type(v.dtype).as_pointer())
            for o, (v, _) in zip(objs[:n_in + n_out], lw.buffers)]
    status = entry.args[1]
    rc = b.call(body, args + [status])
    freeze = b.icmp_signed("!=", b.load(b.gep(status, [const(3)]), align=8), const(0))
    with b.if_then(b.and_(freeze, b.icmp_signed("==", rc, ir.Constant(I32, 0)))):
        for o in objs[n_in:n_in + n_out]:
            ptr = b.bitcast(b.gep(o, [const(abi.flags)]), I32.as_pointer())
            b.store(b.and_(b.load(ptr, align=1), ir.Constant(I32, ~WRITEABLE)), ptr, align=1)
    b.ret(rc)


# ---- reading an ndarray's fields natively (the entries here and `lower_poly`'s caller)

def load_field(b: ir.IRBuilder, obj: ir.Value, offset: int, ty: ir.Type) -> ir.Value:
    """The `ty` at byte `offset` of the object `obj` points to (`Abi`'s offsets)."""
    return b.load(b.bitcast(b.gep(obj, [const(offset)]), ty.as_pointer()), align=1)


def require(b: ir.IRBuilder, ok: ir.Value, code: int) -> None:
    """Return the status `code` unless `ok`."""
    with b.if_then(b.not_(ok), likely=False):
        b.ret(ir.Constant(I32, code))


def dtype_matches(b: ir.IRBuilder, abi: Abi, arr: ir.Value, dtype: str) -> ir.Value:
    """Whether ndarray `arr`'s descr is `dtype`'s canonical one (type number and byte
    order)."""
    descr = load_field(b, arr, abi.descr, VOIDP)
    num, order = abi.dtypes[dtype]
    return b.and_(
        b.icmp_signed("==", load_field(b, descr, abi.type_num, I32), ir.Constant(I32, num)),
        b.icmp_unsigned("==", load_field(b, descr, abi.byteorder, I8), ir.Constant(I8, order)))


def layout_matches(b: ir.IRBuilder, abi: Abi, arr: ir.Value) -> ir.Value:
    """Whether ndarray `arr` is C-contiguous and aligned."""
    need = ir.Constant(I32, 0x1 | 0x100)   # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
    return b.icmp_unsigned("==", b.and_(load_field(b, arr, abi.flags, I32), need), need)


def _check_sizes(fn: Function) -> None:
    """Index arithmetic is 64-bit: refuse values whose byte size could overflow it."""
    values = list(fn.params) + [o for ins in fn.instrs for o in ins.outs]
    for v in values:
        nbytes = size_of(v.shape) * v.dtype.itemsize
        if nbytes > MAX_BYTES:
            raise MemoryError(f"@{fn.name}: a value of type {v.type} would need {nbytes} bytes")


class Lowered(NamedTuple):
    """What `build_module` makes: the module defining `body` (the main module when the
    plan was cut into parts), the flat Function (calls inlined) whose instruction
    numbers the status codes refer to, the entry module, which calls `body`, and the
    plan's estimated size in LLVM instructions (`segments.split`, `SLP_MAX_COST`)."""

    module: ir.Module
    flat: Function
    entries: ir.Module
    plan_cost: int


def build_module(fn: Function, abi: Abi, entry_name: str = ENTRY, parts: Parts | None = None
                 ) -> Lowered:
    """Lower `fn` to an llvmlite module defining `body` (see the module docstring) and an
    entry module exporting `entry_name` and its items form, which call `body`. With
    `parts`, a large plan's first segments go to part modules handed to `parts` as they
    are finished (`parts.py`); the module returned is then the main one, which calls them.

    Example: `module, flat, entries, plan_cost = build_module(fn, call.ABI)`."""
    fn = inline_calls(fn)
    _check_sizes(fn)
    plan = make_plan(fn)
    info = engine.host_info(machine=False)   # the same triple and layout, no target machine made
    module, entries = ir.Module(name=fn.name), ir.Module(name=fn.name + ".entry")
    for m in (module, entries):
        m.triple = info["triple"]
        m.data_layout = info["data_layout"]
    lw = Lowerer(plan, module, parts=parts)
    lw.run()
    lw.fn.linkage = ""                  # called from the entry module
    _build_entry(lw, entries, entry_name, abi)
    return Lowered(module, fn, entries, plan.cost)
