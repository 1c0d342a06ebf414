"""The native dispatcher: a call of a compiled function made entirely in native code.

`Dispatcher(owner, slot, fallback, boxing, none_var, empty_var)` builds (once per
process; object code in the disk cache) a function written with llvmlite against the
CPython and NumPy C APIs and installs it as `owner.__call__`, a real method descriptor
(`METH_FASTCALL | METH_KEYWORDS`, made by `PyDescr_NewMethod`). A call `obj(*args)`:

1. takes the dispatch table in `obj`'s slot `slot` (a tuple made by `table()`; anything
   else means "no table");
2. requires no keyword arguments, the context variable `none_var` to be None and
   `empty_var` to be an empty tuple (no trace, no tape), at most `MAX_ARGS` arguments;
3. unboxes each argument (an object of exactly `boxing.type`: its `boxing.field`; an
   `ndarray` as is) and requires an `ndarray` of exactly that type;
4. finds the first table entry whose inputs have exactly the arguments' ranks, shapes,
   dtype numbers and byte orders;
5. allocates the entry's outputs with `PyArray_NewFromDescr`, calls the executable's
   `items_entry` (which checks every input again, contiguity and alignment included,
   and makes the outputs read-only on success), releasing the GIL around it when the
   entry says so;
6. counts the call (`*counter += 1`) and returns the result boxed as `boxing` says.

Any miss or failure in 1-5 (keywords, a tape, a new shape, a non-array, a strided
array, an index out of bounds, no memory) returns `fallback(obj, *args, **kwargs)`
instead: the Python call path, which converts, copies, traces or raises as it always
did. So the native path never changes what a call means; it only skips Python.

Invariants:
- Native code is only called with inputs its own entry accepted (the checked buffers
  rule): the dispatcher's match is a lookup, never a substitute for the entry's check.
- References: arguments and their arrays are borrowed (the caller holds them); outputs
  are new and either returned (boxed) or released; the table tuple is held across a
  call that releases the GIL, so the executables it keeps alive stay loaded.
- An entry's table holds pointers to objects (`descr`s) that the table tuple keeps.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import llvmlite.binding as llvm
from llvmlite import ir

from . import engine, objcache
from .call import ABI, Boxing
from .loops import I64, const
from .llvmtypes import I8, I32, VOIDP
from .runtime import SOURCE_DIGEST

MAX_ARGS = 16
MAX_OUTS = 8
MAX_INIT = 4
NAME = f"tj_dispatch_{SOURCE_DIGEST}"
GLOBALS = f"tj_dispatch_globals_{SOURCE_DIGEST}"
# Words of the globals array (process addresses and offsets, filled at load time).
(G_NDARRAY, G_BOX_TYPE, G_BOX_FIELD, G_SLOT, G_FALLBACK, G_NONE_VAR, G_EMPTY_VAR, G_NONE,
 G_TUPLE, G_NEW_DESCR, G_INIT_N) = range(11)
G_INIT = 11                     # then (offset, object) pairs, MAX_INIT of them
G_WORDS = G_INIT + 2 * MAX_INIT
OB_SIZE = 16                    # PyVarObject.ob_size on 64-bit CPython (probed below)
METH_FASTCALL_KEYWORDS = 0x80 | 0x02
_CAPI = ("PyContextVar_Get", "Py_IncRef", "Py_DecRef", "PyErr_Clear", "PyType_GenericAlloc",
         "PyObject_Vectorcall", "PyEval_SaveThread", "PyEval_RestoreThread")


def _word(addr: int) -> int:
    return ctypes.c_ssize_t.from_address(addr).value


def slot_offset(cls: type, name: str) -> int:
    """The byte offset of `__slots__` member `name` in instances of `cls` (probed: two
    different objects stored there must each be found at the same word)."""
    obj: Any = object.__new__(cls)
    found = []
    for probe in (object(), object()):
        setattr(obj, name, probe)
        found.append({off for off in range(16, 512, 8) if _word(id(obj) + off) == id(probe)})
    hits = found[0] & found[1]
    if len(hits) != 1:
        raise RuntimeError(f"cannot locate slot {name!r} of {cls.__name__} natively")
    return hits.pop()


def _numpy_api() -> int:
    """The address of NumPy's C API table (`PyArray_API`)."""
    import importlib
    try:
        mu = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:                      # NumPy 1.x
        mu = importlib.import_module("numpy.core._multiarray_umath")
    cap = mu._ARRAY_API
    getname = ctypes.pythonapi.PyCapsule_GetName
    getname.restype, getname.argtypes = ctypes.c_char_p, [ctypes.py_object]
    getptr = ctypes.pythonapi.PyCapsule_GetPointer
    getptr.restype, getptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    addr = getptr(cap, getname(cap))
    if not addr:
        raise RuntimeError("NumPy's C API table is not available")
    return int(addr)


def _check_ob_size() -> None:
    if not all(_word(id(t) + OB_SIZE) == len(t) for t in ((1,), (1, 2, 3), ())):
        raise RuntimeError("tuple sizes are not where the dispatcher reads them")


# ---- the LLVM IR ---------------------------------------------------------------------

def _module_ir() -> str:
    module = ir.Module(name="tracejit_dispatch")
    info = engine.host_info()
    module.triple, module.data_layout = info["triple"], info["data_layout"]
    P = VOIDP
    PP = P.as_pointer()
    i64p = I64.as_pointer()
    gvar = ir.GlobalVariable(module, i64p, GLOBALS)
    gvar.initializer = ir.Constant(i64p, None)
    decl = {
        "PyContextVar_Get": ir.FunctionType(I32, [P, P, PP]),
        "Py_IncRef": ir.FunctionType(ir.VoidType(), [P]),
        "Py_DecRef": ir.FunctionType(ir.VoidType(), [P]),
        "PyErr_Clear": ir.FunctionType(ir.VoidType(), []),
        "PyType_GenericAlloc": ir.FunctionType(P, [P, I64]),
        "PyObject_Vectorcall": ir.FunctionType(P, [P, PP, I64, P]),
        "PyEval_SaveThread": ir.FunctionType(P, []),
        "PyEval_RestoreThread": ir.FunctionType(ir.VoidType(), [P]),
    }
    capi = {n: ir.Function(module, t, n) for n, t in decl.items()}
    new_descr_t = ir.FunctionType(P, [P, P, I32, i64p, i64p, P, I32, P])
    entry_t = ir.FunctionType(I32, [PP, i64p, P])
    fn = ir.Function(module, ir.FunctionType(P, [P, PP, I64, P]), NAME)
    self_, args, nargs, kwnames = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    fallback = fn.append_basic_block("fallback")
    null = ir.Constant(P, None)
    zero, one = const(0), const(1)

    def at(obj: ir.Value, offset: Any, ty: ir.Type = P) -> ir.Value:
        off = offset if isinstance(offset, ir.Value) else const(offset)
        return b.load(b.bitcast(b.gep(obj, [off]), ty.as_pointer()), align=1)

    def g(k: int) -> ir.Value:
        return b.load(b.gep(G, [const(k)]), align=8)

    def gp(k: int) -> ir.Value:
        return b.inttoptr(g(k), P)

    def require(ok: ir.Value, name: str) -> None:
        cont = fn.append_basic_block(name)
        b.cbranch(ok, cont, fallback)
        b.position_at_end(cont)

    def counter(name: str) -> ir.AllocaInstr:
        with b.goto_entry_block():
            slot = b.alloca(I64, name=name)
        b.store(zero, slot)
        return slot

    # Locals live in the entry block (so O3 makes registers of them).
    with b.goto_entry_block():
        arrs = b.alloca(P, size=MAX_ARGS + MAX_OUTS, name="items")
        status = b.alloca(I64, size=4, name="status")
        vslot = b.alloca(P, name="ctxvalue")
        cur = b.alloca(i64p, name="cursor")
        spec = b.alloca(i64p, name="spec")
        no_kw = b.alloca(I64, name="no_keywords")
    G = b.load(gvar, align=8)
    b.store(zero, no_kw)

    # 1-2: no keywords, a table, no trace, no tape, few arguments.
    has_kw = b.icmp_unsigned("!=", kwnames, null)
    with b.if_then(has_kw, likely=False):
        kw_empty = b.icmp_signed("==", at(kwnames, OB_SIZE, I64), zero)
        require(kw_empty, "no_keywords")
    table_obj = at(self_, g(G_SLOT))
    require(b.icmp_unsigned("!=", table_obj, null), "has_slot")
    require(b.icmp_unsigned("==", at(table_obj, ABI.ob_type), gp(G_TUPLE)), "has_table")
    tab = b.bitcast(at(at(table_obj, ABI.tuple_items), ABI.data), i64p)
    require(b.icmp_signed("<=", nargs, const(MAX_ARGS)), "few_args")
    none = gp(G_NONE)
    for var, name in ((G_NONE_VAR, "no_trace"), (G_EMPTY_VAR, "no_tape")):
        b.store(null, vslot)
        rc = b.call(capi["PyContextVar_Get"], [gp(var), null, vslot])
        with b.if_then(b.icmp_signed("<", rc, ir.Constant(I32, 0)), likely=False):
            b.call(capi["PyErr_Clear"], [])
            b.branch(fallback)
        v = b.load(vslot)
        if var == G_NONE_VAR:
            ok = b.icmp_unsigned("==", v, none)
        else:
            nonnull = b.icmp_unsigned("!=", v, null)
            safe = b.select(nonnull, v, none)       # None: a non-tuple, read its type only
            is_tuple = b.icmp_unsigned("==", at(safe, ABI.ob_type), gp(G_TUPLE))
            ok = b.and_(is_tuple, b.icmp_signed("==", at(safe, OB_SIZE, I64), zero))
        b.call(capi["Py_DecRef"], [v])             # Py_DecRef accepts NULL
        require(ok, name)

    # 3: unbox the arguments into items[0:nargs].
    ndarray, box_type = gp(G_NDARRAY), gp(G_BOX_TYPE)
    i = counter("i")
    loop, body, done = (fn.append_basic_block(n) for n in ("unbox", "unbox_body", "unboxed"))
    b.branch(loop)
    b.position_at_end(loop)
    k = b.load(i)
    b.cbranch(b.icmp_signed("<", k, nargs), body, done)
    b.position_at_end(body)
    o = b.load(b.gep(args, [k]))
    t = at(o, ABI.ob_type)
    boxed = b.icmp_unsigned("==", t, box_type)
    with b.if_else(boxed) as (then, other):
        with then:
            a1 = at(o, g(G_BOX_FIELD))
            bb1 = b.block
        with other:
            require(b.icmp_unsigned("==", t, ndarray), "is_ndarray")
            bb2 = b.block
    a = b.phi(P)
    a.add_incoming(a1, bb1)
    a.add_incoming(o, bb2)
    require(b.icmp_unsigned("!=", a, null), "has_array")
    require(b.icmp_unsigned("==", at(a, ABI.ob_type), ndarray), "array_is_ndarray")
    b.store(a, b.gep(arrs, [k]))
    b.store(b.add(k, one), i)
    b.branch(loop)

    # 4: the first entry whose inputs match exactly.
    b.position_at_end(done)
    n_entries = b.load(b.gep(tab, [one]))
    e_idx = counter("entry")
    b.store(b.gep(tab, [const(2)]), cur)
    scan, check, inputs, in_body = (fn.append_basic_block(n) for n in
                                    ("scan", "check", "inputs", "input"))
    nxt, found = fn.append_basic_block("next_entry"), fn.append_basic_block("found")
    b.branch(scan)
    b.position_at_end(scan)
    require(b.icmp_signed("<", b.load(e_idx), n_entries), "entries_left")
    e = b.load(cur)
    b.cbranch(b.icmp_signed("==", b.load(b.gep(e, [const(2)])), nargs), check, nxt)
    b.position_at_end(check)
    j = counter("j")
    b.store(b.gep(e, [const(5)]), spec)
    b.branch(inputs)
    b.position_at_end(inputs)
    jj = b.load(j)
    b.cbranch(b.icmp_signed("<", jj, nargs), in_body, found)
    b.position_at_end(in_body)
    p = b.load(spec)
    arr = b.load(b.gep(arrs, [jj]))
    nd = b.sext(at(arr, ABI.nd, I32), I64)
    descr = at(arr, ABI.descr)
    same = b.and_(b.icmp_signed("==", nd, b.load(p)),
                  b.icmp_signed("==", b.sext(at(descr, ABI.type_num, I32), I64),
                                b.load(b.gep(p, [one]))))
    same = b.and_(same, b.icmp_signed("==", b.zext(at(descr, ABI.byteorder, I8), I64),
                                      b.load(b.gep(p, [const(2)]))))
    dims_ok = fn.append_basic_block("dims")
    b.cbranch(same, dims_ok, nxt)
    b.position_at_end(dims_ok)
    dims = b.bitcast(at(arr, ABI.dims), i64p)
    d = counter("d")
    dloop, dbody, dnext = (fn.append_basic_block(n) for n in ("dim", "dim_body", "dim_next"))
    b.branch(dloop)
    b.position_at_end(dloop)
    dd = b.load(d)
    b.cbranch(b.icmp_signed("<", dd, nd), dbody, dnext)
    b.position_at_end(dbody)
    eq = b.icmp_signed("==", b.load(b.gep(dims, [dd])), b.load(b.gep(p, [b.add(dd, const(3))])))
    b.store(b.add(dd, one), d)
    b.cbranch(eq, dloop, nxt)
    b.position_at_end(dnext)
    b.store(b.gep(p, [b.add(nd, const(3))]), spec)
    b.store(b.add(jj, one), j)
    b.branch(inputs)
    b.position_at_end(nxt)
    e = b.load(cur)
    b.store(b.gep(e, [b.load(e)]), cur)
    b.store(b.add(b.load(e_idx), one), e_idx)
    b.branch(scan)

    # 5: allocate the outputs, call the entry.
    b.position_at_end(found)
    e = b.load(cur)
    n_out = b.load(b.gep(e, [const(3)]))
    q = counter("q")
    oloop, obody, oerr, called = (fn.append_basic_block(n) for n in
                                  ("alloc", "alloc_body", "alloc_failed", "allocated"))
    b.branch(oloop)
    b.position_at_end(oloop)
    qq = b.load(q)
    b.cbranch(b.icmp_signed("<", qq, n_out), obody, called)
    b.position_at_end(obody)
    p = b.load(spec)
    onum = b.load(p)
    odescr = b.inttoptr(b.load(b.gep(p, [one])), P)
    b.call(capi["Py_IncRef"], [odescr])           # PyArray_NewFromDescr steals it
    new_descr = b.bitcast(gp(G_NEW_DESCR), new_descr_t.as_pointer())
    out = b.call(new_descr, [ndarray, odescr, b.trunc(onum, I32), b.gep(p, [const(2)]),
                             ir.Constant(i64p, None), null, ir.Constant(I32, 0), null])
    slot_q = b.gep(arrs, [b.add(nargs, qq)])
    b.store(out, slot_q)
    b.store(b.gep(p, [b.add(onum, const(2))]), spec)
    b.store(b.add(qq, one), q)
    b.cbranch(b.icmp_unsigned("==", out, null), oerr, oloop)

    def release_outputs(count: ir.Value) -> None:
        r = counter("r")
        rl, rb, rd = (fn.append_basic_block(n) for n in ("free", "free_body", "freed"))
        b.branch(rl)
        b.position_at_end(rl)
        rr = b.load(r)
        b.cbranch(b.icmp_signed("<", rr, count), rb, rd)
        b.position_at_end(rb)
        b.call(capi["Py_DecRef"], [b.load(b.gep(arrs, [b.add(nargs, rr)]))])
        b.store(b.add(rr, one), r)
        b.branch(rl)
        b.position_at_end(rd)

    b.position_at_end(oerr)
    b.call(capi["PyErr_Clear"], [])
    release_outputs(b.sub(b.load(q), one))        # the failed one is NULL
    b.branch(fallback)

    b.position_at_end(called)
    for w, v in enumerate((0, 0, 0, 1)):           # element 3: make outputs read-only
        b.store(const(v), b.gep(status, [const(w)]))
    entry = b.inttoptr(b.load(b.gep(e, [one])), entry_t.as_pointer())
    release = b.icmp_signed("!=", b.load(b.gep(e, [const(4)])), zero)
    with b.if_else(release) as (then, other):
        with then:
            b.call(capi["Py_IncRef"], [table_obj])
            ts = b.call(capi["PyEval_SaveThread"], [])
            rc1 = b.call(entry, [arrs, status, ndarray])
            b.call(capi["PyEval_RestoreThread"], [ts])
            b.call(capi["Py_DecRef"], [table_obj])
            r1 = b.block
        with other:
            rc2 = b.call(entry, [arrs, status, ndarray])
            r2 = b.block
    rc = b.phi(I32)
    rc.add_incoming(rc1, r1)
    rc.add_incoming(rc2, r2)
    ran = fn.append_basic_block("ran")
    failed = fn.append_basic_block("failed")
    b.cbranch(b.icmp_signed("==", rc, ir.Constant(I32, 0)), ran, failed)
    b.position_at_end(failed)
    release_outputs(n_out)
    b.branch(fallback)

    # 6: count the call and box the result.
    b.position_at_end(ran)
    calls = b.inttoptr(b.load(tab), i64p)
    b.store(b.add(b.load(calls), one), calls)
    result = b.call(capi["PyType_GenericAlloc"], [box_type, zero])
    out0 = b.load(b.gep(arrs, [nargs]))
    with b.if_then(b.icmp_unsigned("==", result, null), likely=False):
        b.call(capi["Py_DecRef"], [out0])
        b.ret(null)                                # MemoryError is set
    b.store(out0, b.bitcast(b.gep(result, [g(G_BOX_FIELD)]), PP))
    n_init = g(G_INIT_N)
    for w in range(MAX_INIT):
        with b.if_then(b.icmp_signed(">", n_init, const(w))):
            val = gp(G_INIT + 2 * w + 1)
            b.call(capi["Py_IncRef"], [val])
            b.store(val, b.bitcast(b.gep(result, [g(G_INIT + 2 * w)]), PP))
    b.ret(result)

    # Anything else: fallback(self, *args, **kwargs), the Python call path.
    b.position_at_end(fallback)
    kw_null = b.icmp_unsigned("==", kwnames, null)
    kw_size = b.bitcast(b.gep(kwnames, [const(OB_SIZE)]), i64p)
    n_kw = b.load(b.select(kw_null, no_kw, kw_size), align=1)
    total = b.add(nargs, n_kw)
    stack = b.alloca(P, size=b.add(total, one), name="stack")
    b.store(self_, stack)
    m = counter("m")
    cl, cb, cd = (fn.append_basic_block(n) for n in ("copy", "copy_body", "copied"))
    b.branch(cl)
    b.position_at_end(cl)
    mm = b.load(m)
    b.cbranch(b.icmp_signed("<", mm, total), cb, cd)
    b.position_at_end(cb)
    b.store(b.load(b.gep(args, [mm])), b.gep(stack, [b.add(mm, one)]))
    b.store(b.add(mm, one), m)
    b.branch(cl)
    b.position_at_end(cd)
    b.ret(b.call(capi["PyObject_Vectorcall"], [gp(G_FALLBACK), stack, b.add(nargs, one),
                                                kwnames]))
    return str(module)


# ---- loading and installing ----------------------------------------------------------

_state: dict[str, Any] = {}


def _load() -> tuple[int, int]:
    """(address of the dispatcher, address of its globals pointer), compiled once per
    process (or loaded from the disk cache)."""
    if "addr" in _state:
        return _state["addr"], _state["globals"]
    _check_ob_size()
    with engine.LLVM_LOCK:
        for n in _CAPI:
            llvm.add_symbol(n, ctypes.cast(getattr(ctypes.pythonapi, n), ctypes.c_void_p).value)
    key = objcache.key_for(f"native dispatcher {NAME} {ABI}")
    obj = objcache.load(key) if objcache.enabled() else None
    jm = None
    if obj is not None:
        try:
            jm = engine.load_object(obj)
        except Exception:  # unusable object code: rebuild and replace it
            jm = None
    if jm is None:
        jm = engine.jit(_module_ir(), on_object=lambda o: objcache.store(key, o)
                        if objcache.enabled() else None)
    _state["jm"] = jm
    _state["addr"], _state["globals"] = jm.address(NAME), jm.global_address(GLOBALS)
    return _state["addr"], _state["globals"]


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


@dataclass
class Entry:
    """One signature in a dispatch table: the executable (with `items_entry`), the
    input `(shape, dtype)`s it was compiled for and whether a call releases the GIL."""

    exe: Any
    in_types: Sequence[tuple[tuple[int, ...], np.dtype[Any]]]
    out_types: Sequence[tuple[tuple[int, ...], np.dtype[Any]]]
    release_gil: bool


class Dispatcher:
    """The native `__call__` of `owner` (see the module docstring).

    Example::

        d = Dispatcher(Owner, "_table", Owner._python_call, Boxing(Box, "array"),
                       interp_var, tapes_var)
        obj._table = d.table(counter, [Entry(exe, exe.fn.in_types, ..., False)])
    """

    def __init__(self, owner: type, slot: str, fallback: Callable[..., Any], boxing: Boxing,
                 none_var: ContextVar[Any], empty_var: ContextVar[Any]):
        if len(boxing.init) > MAX_INIT:
            raise ValueError(f"a native boxing sets at most {MAX_INIT} attributes")
        addr, gaddr = _load()
        g = np.zeros(G_WORDS, np.int64)
        keep: list[Any] = [fallback, boxing, none_var, empty_var]
        g[G_NDARRAY], g[G_BOX_TYPE] = id(np.ndarray), id(boxing.type)
        g[G_BOX_FIELD] = slot_offset(boxing.type, boxing.field)
        g[G_SLOT] = slot_offset(owner, slot)
        g[G_FALLBACK], g[G_NONE_VAR], g[G_EMPTY_VAR] = id(fallback), id(none_var), id(empty_var)
        g[G_NONE], g[G_TUPLE] = id(None), id(tuple)
        g[G_NEW_DESCR] = _word(_numpy_api() + 8 * 94)           # PyArray_NewFromDescr
        g[G_INIT_N] = len(boxing.init)
        for w, (name, value) in enumerate(boxing.init):
            g[G_INIT + 2 * w] = slot_offset(boxing.type, name)
            g[G_INIT + 2 * w + 1] = id(value)
            keep.append(value)
        self._globals, self._keep = g, keep
        if _word(gaddr) not in (0, g.ctypes.data):
            raise RuntimeError("one native dispatcher per process")
        ctypes.c_void_p.from_address(gaddr).value = g.ctypes.data
        self._def = _MethodDef(b"__call__", addr, METH_FASTCALL_KEYWORDS,
                               b"Call the compiled function (natively when possible).")
        new = ctypes.pythonapi.PyDescr_NewMethod
        new.restype, new.argtypes = ctypes.py_object, [ctypes.py_object, ctypes.c_void_p]
        self.method = new(owner, ctypes.addressof(self._def))
        _state["keep"] = self         # the method definition must outlive every call

    @staticmethod
    def table(counter: int, entries: Sequence[Entry]) -> tuple[Any, ...]:
        """The value for an owner's slot: a tuple of the int64 table and what it refers
        to. `counter` is the address of an int64 each native call increments."""
        words: list[int] = [counter, len(entries)]
        keep: list[Any] = []
        for en in entries:
            if en.exe.items_entry is None or len(en.out_types) > MAX_OUTS:
                raise ValueError("this executable cannot be called natively")
            rec = [0, en.exe.items_entry, len(en.in_types), len(en.out_types),
                   int(en.release_gil)]
            for shape, dt in en.in_types:
                rec += [len(shape), *ABI.dtypes[dt.name], *shape]
            for shape, dt in en.out_types:
                rec += [len(shape), id(dt), *shape]
                keep.append(dt)
            rec[0] = len(rec)
            words += rec
            keep.append(en.exe)
        return (np.array(words, np.int64), keep)
