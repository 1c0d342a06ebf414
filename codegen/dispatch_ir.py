"""The LLVM IR of the native dispatcher (`dispatch.py` loads and installs it): what the
function does, step by step, is in `dispatch.py`'s docstring; the numbered comments below
follow it.

Invariants: the IR refers to process addresses only through the globals array (`G_*`
words, filled at load time) and to CPython by exported function names, so its object
code can live in the disk cache; offsets of CPython and NumPy fields are the ones `call.ABI`
probed (the cache key includes them).
"""
from __future__ import annotations

from typing import Any

from llvmlite import ir

from . import engine
from .call import ABI
from .irbuild import Builder, new_function
from .irtext import module_text
from .loops import I64, const, for_range, value_where
from .llvmtypes import I8, I32, VOIDP
from .runtime import SOURCE_DIGEST

MAX_ARGS = 16
MAX_OUTS = 8
MAX_INIT = 4
NAME = f"tj_dispatch_{SOURCE_DIGEST}"
GLOBALS = f"tj_dispatch_globals_{SOURCE_DIGEST}"
# Words of the globals array (process addresses and offsets, filled at load time).
(G_NDARRAY, G_BOX_TYPE, G_BOX_FIELD, G_SLOT, G_FALLBACK, G_NONE_VAR, G_EMPTY_VAR, G_NONE,
 G_TUPLE, G_NEW_DESCR, G_RLOCK_COUNT, G_INIT_N) = range(12)
G_INIT = 12                     # then (offset, object) pairs, MAX_INIT of them
# Words of an entry's record: its size, the items entry, the numbers of inputs, outputs,
# captures and assignments, whether to release the GIL, and where (in words from the
# record's start) the capture, output and assignment specs begin; the input specs follow.
(R_SIZE, R_FN, R_N_IN, R_N_OUT, R_RELEASE, R_N_CAP, R_N_ASG, R_CAP, R_OUT, R_ASG,
 R_INPUTS) = range(11)
G_WORDS = G_INIT + 2 * MAX_INIT
OB_SIZE = 16                    # PyVarObject.ob_size on 64-bit CPython (probed below)


def module_ir() -> str:
    """The dispatcher's module as LLVM IR text."""
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
    capi = {n: new_function(module, t, n) for n, t in decl.items()}
    new_descr_t = ir.FunctionType(P, [P, P, I32, i64p, i64p, P, I32, P])
    entry_t = ir.FunctionType(I32, [PP, i64p, P])
    fn = new_function(module, ir.FunctionType(P, [P, PP, I64, P]), NAME)
    self_, args, nargs, kwnames = fn.args
    b = Builder(fn.append_basic_block("entry"))
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
        arrs = b.alloca(P, size=2 * MAX_ARGS + MAX_OUTS, name="items")
        status = b.alloca(I64, size=4, name="status")
        vslot = b.alloca(P, name="ctxvalue")
        cur = b.alloca(i64p, name="cursor")
        spec = b.alloca(i64p, name="spec")
        no_kw = b.alloca(I64, name="no_keywords")
        boxes = b.alloca(P, size=MAX_OUTS, name="boxes")
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
    with for_range(b, nargs, name="unbox") as k:
        o = b.load(b.gep(args, [k]))
        boxed = b.icmp_unsigned("==", at(o, ABI.ob_type), box_type)
        # A box's array, or the argument itself, which must then be an ndarray (below).
        a = value_where(b, boxed, o, lambda: at(o, g(G_BOX_FIELD)))
        require(b.icmp_unsigned("!=", a, null), "has_array")
        require(b.icmp_unsigned("==", at(a, ABI.ob_type), ndarray), "array_is_ndarray")
        b.store(a, b.gep(arrs, [k]))

    # 4: the first entry whose inputs match exactly.
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
    b.cbranch(b.icmp_signed("==", b.load(b.gep(e, [const(R_N_IN)])), nargs), check, nxt)
    b.position_at_end(check)
    j = counter("j")
    b.store(b.gep(e, [const(R_INPUTS)]), spec)
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

    def word(k: int) -> ir.Value:
        return b.load(b.gep(e, [const(k)]))

    # 4b: the captured arrays (items[nargs:nargs + n_cap]): `obj.off1` (an ndarray), or
    # `obj.off1.off2` when off2 >= 0 (a box of one); and no assigned object's lock held.
    b.position_at_end(found)
    e = b.load(cur)
    n_cap, n_asg = word(R_N_CAP), word(R_N_ASG)
    with for_range(b, n_cap, name="capture") as c:
        rec = b.gep(e, [b.add(word(R_CAP), b.mul(c, const(3)))])
        obj = b.inttoptr(b.load(rec), P)
        v = at(obj, b.load(b.gep(rec, [one])))
        require(b.icmp_unsigned("!=", v, null), "capture_set")
        off2 = b.load(b.gep(rec, [const(2)]))
        chained = b.icmp_signed(">=", off2, zero)

        def boxed_array() -> ir.Value:
            require(b.icmp_unsigned("==", at(v, ABI.ob_type), box_type), "capture_boxed")
            return at(v, off2)
        arr_c = value_where(b, chained, v, boxed_array)
        require(b.icmp_unsigned("!=", arr_c, null), "capture_array")
        require(b.icmp_unsigned("==", at(arr_c, ABI.ob_type), ndarray), "capture_ndarray")
        b.store(arr_c, b.gep(arrs, [b.add(nargs, c)]))
    with for_range(b, n_asg, name="unlocked") as a:
        rec = b.gep(e, [b.add(word(R_ASG), b.mul(a, const(3)))])
        lock = b.inttoptr(b.load(b.gep(rec, [const(2)])), P)
        require(b.icmp_signed("==", at(lock, g(G_RLOCK_COUNT), I64), zero), "lock_free")
    base = b.add(nargs, n_cap)

    # 5: allocate the outputs, call the entry.
    b.store(b.gep(e, [word(R_OUT)]), spec)
    n_out = word(R_N_OUT)
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
    slot_q = b.gep(arrs, [b.add(base, qq)])
    b.store(out, slot_q)
    b.store(b.gep(p, [b.add(onum, const(2))]), spec)
    b.store(b.add(qq, one), q)
    b.cbranch(b.icmp_unsigned("==", out, null), oerr, oloop)

    def release_outputs(count: ir.Value) -> None:
        with for_range(b, count, name="free") as r:
            b.call(capi["Py_DecRef"], [b.load(b.gep(arrs, [b.add(base, r)]))])

    b.position_at_end(oerr)
    b.call(capi["PyErr_Clear"], [])
    release_outputs(b.sub(b.load(q), one))        # the failed one is NULL
    b.branch(fallback)

    b.position_at_end(called)
    for w, v in enumerate((0, 0, 0, 1)):           # element 3: make outputs read-only
        b.store(const(v), b.gep(status, [const(w)]))
    entry = b.inttoptr(word(R_FN), entry_t.as_pointer())
    release = b.icmp_signed("!=", word(R_RELEASE), zero)
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

    # 6: box the result and each assigned value (all allocated first, so a failure
    # changes nothing), store the assigned values, release the rest, count the call.
    b.position_at_end(ran)
    n_box = b.add(n_asg, one)
    with for_range(b, n_box, name="box") as k:
        box = b.call(capi["PyType_GenericAlloc"], [box_type, zero])
        b.store(box, b.gep(boxes, [k]))
        with b.if_then(b.icmp_unsigned("==", box, null), likely=False):
            with for_range(b, k, name="unbox_failed") as m:
                b.call(capi["Py_DecRef"], [b.load(b.gep(boxes, [m]))])
            release_outputs(n_out)
            b.ret(null)                            # MemoryError is set
    n_init = g(G_INIT_N)
    with for_range(b, n_box, name="fill") as k:
        box = b.load(b.gep(boxes, [k]))
        b.store(b.load(b.gep(arrs, [b.add(base, k)])),
                b.bitcast(b.gep(box, [g(G_BOX_FIELD)]), PP))
        for w in range(MAX_INIT):
            with b.if_then(b.icmp_signed(">", n_init, const(w))):
                val = gp(G_INIT + 2 * w + 1)
                b.call(capi["Py_IncRef"], [val])
                b.store(val, b.bitcast(b.gep(box, [g(G_INIT + 2 * w)]), PP))
    with for_range(b, n_asg, name="assign") as k:          # in program order
        rec = b.gep(e, [b.add(word(R_ASG), b.mul(k, const(3)))])
        obj = b.inttoptr(b.load(rec), P)
        field = b.bitcast(b.gep(obj, [b.load(b.gep(rec, [one]))]), PP)
        old = b.load(field, align=1)
        b.store(b.load(b.gep(boxes, [b.add(k, one)])), field, align=1)
        b.call(capi["Py_DecRef"], [old])
    # The outputs after the assigned ones (the results of the function's checks, true
    # once it ran) are released.
    with for_range(b, b.sub(n_out, n_box), name="checks") as k:
        b.call(capi["Py_DecRef"], [b.load(b.gep(arrs, [b.add(base, b.add(n_box, k))]))])
    calls = b.inttoptr(b.load(tab), i64p)
    b.store(b.add(b.load(calls), one), calls)
    b.ret(b.load(boxes))

    # Anything else: fallback(self, *args, **kwargs), the Python call path.
    b.position_at_end(fallback)
    kw_null = b.icmp_unsigned("==", kwnames, null)
    kw_size = b.bitcast(b.gep(kwnames, [const(OB_SIZE)]), i64p)
    n_kw = b.load(b.select(kw_null, no_kw, kw_size), align=1)
    total = b.add(nargs, n_kw)
    stack = b.alloca(P, size=b.add(total, one), name="stack")
    b.store(self_, stack)
    with for_range(b, total, name="copy") as m:
        b.store(b.load(b.gep(args, [m])), b.gep(stack, [b.add(m, one)]))
    b.ret(b.call(capi["PyObject_Vectorcall"], [gp(G_FALLBACK), stack, b.add(nargs, one),
                                                kwnames]))
    return module_text(module)
