"""Native code with runtime sizes, for Functions with unknown dimensions (`poly.py`).

`build_poly(fn)` lowers `fn` (calls inlined) to an LLVM module exporting

    i32 tj_poly_entry(i64* dims, i8** bufs, i64* status)

(and, given an `Abi`, `tj_poly_call(i64* dims, tuple)`, which reads and checks the
arrays of a Python tuple natively, as `build.py`'s entry does), where `dims` holds the
value of each symbol (`symbol_names(fn)` order), `bufs` the data pointers of the
arguments then of the results (C-contiguous, allocated by the caller for the result
shapes the symbols give). Loop bounds, strides and scratch sizes are computed from
`dims` at run time; one compile serves every shape.

Each instruction is its own loop nest, except elementwise values read only by
elementwise ops and reductions (`_virtual`): they are computed inside their readers'
loops. Elementwise loops over operands of one shape run flat (one loop, which LLVM
vectorizes); reductions over leading axes add row after row into an accumulator row
(`_reduce_rows`), other reductions keep a register accumulator. Matrix products call
`tj_gemm_*` with runtime m, n, k (BLAS for large products, the builtin kernel else, as
fixed-shape code chooses). Scratch lives in one heap block sized at run time.

Invariants:
- Only primitives in `supported()` are lowered (`blocker`), and an elementwise operand's
  unknown dimension is never broadcast: the caller checks `requirements` at each call
  (and runs code specialized to the shapes when they fail).
- Return codes: 0; NOMEM (-3) when the scratch block cannot be allocated; k > 0 when an
  index of instruction k-1 is out of range, with (index, bound, k) in `status`.
- Float32 sums accumulate in float64, as the fixed-shape code does.
"""
from __future__ import annotations

from typing import Any

from llvmlite import ir

from ..ir import Function, Instr, dims
from . import engine
from .build import dtype_matches, layout_matches, load_field, require
from .inline import inline_calls
from .irbuild import Builder, new_function
from .irtext import module_text
from .llvmtypes import I32, VOIDP
from .loops import I64, const
from .lower import BADARGS, LAYOUT
from .lower_elementwise import SCALAR_OPS
from .poly_core import ENTRY, symbol_names
from .poly_kernels import BATCH, POOLS, kernel_blocker
from .poly_lapack import ORDER
from .poly_ops import PolyLowerer

__all__ = ["CALLER", "ENTRY", "blocker", "build_poly", "requirements", "supported",
           "symbol_names"]

CALLER = "tj_poly_call"
_OWN = {"call", "custom_vjp",       # inlined first
        "constant", "iota", "reshape", "transpose", "matmul", "gather", "one_hot",
        "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
        "scatter_add", "slice", "rev", "pad", "concat", "cumsum", "cumprod",
        "cumlogsumexp", "linrec", "segment_max", "segment_min", "segment_prod", "philox",
        "sort", "while", "cond", "scan", "assert", *BATCH}


def supported() -> frozenset[str]:
    """The primitives `build_poly` lowers: its own rules, and the elementwise ones with a
    scalar rule (`SCALAR_OPS`, complete once every rule module is imported)."""
    return frozenset(SCALAR_OPS) | _OWN


def _nested(ins: Instr) -> list[Function]:
    """The Functions a region instruction holds (its body, condition, branches)."""
    out: list[Function] = []
    for v in ins.params.values():
        for g in (v if isinstance(v, tuple) else (v,)):
            if isinstance(g, Function):
                out.append(g)
    return out


def blocker(fn: Function, known: set[str] | None = None) -> str | None:
    """None when `build_poly` lowers `fn`, else what stops it (a primitive's name). The
    Functions of region instructions are checked too, against the symbols of `fn`."""
    known = set(symbol_names(fn)) if known is None else known
    ok = supported()
    for ins in inline_calls(fn).instrs:
        if ins.prim not in ok:
            return ins.prim
        if ins.prim in BATCH and ins.prim not in ORDER + POOLS:
            why = kernel_blocker(ins)
            if why is not None:
                return why
        for v in list(ins.inputs) + list(ins.outs):
            if any(s not in known for s in dims.symbols(v.type.shape)):
                return f"{ins.prim} (a dimension no argument gives)"
        for g in _nested(ins) if ins.prim in ("while", "cond", "scan") else ():
            why = blocker(g, known)
            if why is not None:
                return why
    return None


def requirements(fn: Function) -> list[tuple[Any, Any]]:
    """Pairs of dimensions that must be equal at run time for the code of `build_poly`:
    an elementwise operand's (or a matmul's batch) unknown dimension against the
    result's (equal, or the operand would need broadcasting from 1, which that code does
    not do; the caller runs such a call through code specialized to its shapes); region
    bodies' included."""
    pairs: dict[tuple[Any, Any], None] = {}
    for ins in inline_calls(fn).instrs:
        if ins.prim in ("while", "cond", "scan"):
            for g in _nested(ins):
                pairs.update(dict.fromkeys(requirements(g)))
        if ins.prim in SCALAR_OPS or ins.prim == "matmul":
            out = ins.outs[0].type.shape
            for x in ins.inputs:
                lead = len(out) - x.ndim
                for i, d in enumerate(x.type.shape[:-2] if ins.prim == "matmul"
                                      else x.type.shape):
                    if dims.is_dim(d) and d is not out[lead + i]:
                        pairs[(d, out[lead + i])] = None
    return list(pairs)


def _build_caller(lw: PolyLowerer, abi: Any) -> None:
    """`tj_poly_call(i64* dims, tuple) -> i32` with `tuple = (in0.., out0.., status,
    ndarray)`: checks that every input is an ndarray of its parameter's canonical dtype
    (else BADARGS), C-contiguous and aligned (else LAYOUT), then calls the entry with the
    arrays' data pointers (read natively, at the `abi` offsets; shapes are the caller's
    to check, as the dims are)."""
    fn, module = lw.fn, lw.module
    n_in, n_out = len(fn.params), len(fn.results)
    f = new_function(module, ir.FunctionType(I32, [I64.as_pointer(), VOIDP]), CALLER)
    b = Builder(f.append_basic_block("entry"))
    bufs = b.alloca(VOIDP, size=const(max(1, n_in + n_out)), name="bufs")
    items = b.bitcast(b.gep(f.args[1], [const(abi.tuple_items)]), VOIDP.as_pointer())
    objs = [b.load(b.gep(items, [const(k)]), align=8) for k in range(n_in + n_out + 2)]

    for o, p in zip(objs[:n_in], fn.params):
        require(b, b.icmp_unsigned("==", load_field(b, o, abi.ob_type, VOIDP), objs[-1]),
                BADARGS)
        require(b, dtype_matches(b, abi, o, p.dtype.name), BADARGS)
        require(b, layout_matches(b, abi, o), LAYOUT)
    for k, o in enumerate(objs[:n_in + n_out]):
        b.store(load_field(b, o, abi.data, VOIDP), b.gep(bufs, [const(k)]))
    status = b.bitcast(load_field(b, objs[-2], abi.data, VOIDP), I64.as_pointer())
    b.ret(b.call(lw.ll, [f.args[0], bufs, status]))


def build_poly(fn: Function, abi: Any = None) -> tuple[str, Function]:
    """The LLVM IR text of `fn` lowered with runtime sizes (see the module docstring), and
    the flat Function (calls inlined) whose instruction numbers its codes refer to."""
    flat = inline_calls(fn)
    module = ir.Module(name=fn.name)
    info = engine.host_info(machine=False)   # the same triple and layout, no target machine made
    module.triple = info["triple"]
    module.data_layout = info["data_layout"]
    lw = PolyLowerer(flat, module)
    lw.run()
    if abi is not None:
        _build_caller(lw, abi)
    return module_text(module), flat
