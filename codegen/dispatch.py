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
   dtype numbers and byte orders; reads the entry's captured arrays (`Entry.captures`)
   and requires the locks of its assigned objects (`Entry.assigns`) to be free;
5. allocates the entry's outputs with `PyArray_NewFromDescr`, calls the executable's
   `items_entry` (which checks every input again, contiguity and alignment included,
   and makes the outputs read-only on success), releasing the GIL around it when the
   entry says so (never for an entry that assigns);
6. boxes output 0 (the result) and the assigned outputs as `boxing` says, stores the
   latter in their objects in order, releases any outputs after those (the results of
   the function's run-time checks, which passed), counts the call (`*counter += 1`) and
   returns the result.

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
- An entry's table holds pointers to objects (`descr`s, captured and assigned objects,
  locks) that the table tuple keeps.
- A call that assigns holds the GIL from its reads to its stores, and starts only while
  no assigned object's lock is held: it is atomic with respect to the Python path, which
  takes those locks.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import llvmlite.binding as llvm

from . import engine, objcache
from .call import ABI, Boxing
from .dispatch_ir import (G_BOX_FIELD, G_BOX_TYPE, G_EMPTY_VAR, G_FALLBACK, G_INIT, G_INIT_N,
                          G_NDARRAY, G_NEW_DESCR, G_NONE, G_NONE_VAR, G_RLOCK_COUNT, G_SLOT,
                          G_TUPLE, G_WORDS, GLOBALS, MAX_ARGS, MAX_INIT, MAX_OUTS, NAME,
                          OB_SIZE, R_ASG, R_CAP, R_FN, R_INPUTS, R_N_ASG, R_N_CAP, R_N_IN,
                          R_N_OUT, R_OUT, R_RELEASE, R_SIZE, module_ir)

__all__ = ["MAX_ARGS", "Dispatcher", "Entry", "slot_offset"]

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


_RLOCK = type(threading.RLock())


def _rlock_count_offset() -> int:
    """The byte offset of a C `threading.RLock`'s recursion count (probed: the same word
    must read 3, 2, 1 and 0 as it is released)."""
    lock = threading.RLock()
    for _ in range(3):
        lock.acquire()
    hits = {off for off in range(16, 128, 8) if _word(id(lock) + off) == 3}
    for n in (2, 1, 0):
        lock.release()
        hits = {off for off in hits if _word(id(lock) + off) == n}
    if len(hits) != 1 or _RLOCK.__module__ != "_thread":
        raise RuntimeError("cannot locate the count of an RLock natively")
    return hits.pop()


# ---- loading and installing ----------------------------------------------------------

_state: dict[str, Any] = {}


def _load() -> tuple[int, int]:
    """(address of the dispatcher, address of its globals pointer), compiled once per
    process (or loaded from the disk cache)."""
    with _load_lock:    # one build: a second one would drop the first one's code
        if "addr" not in _state:
            _build()
    return _state["addr"], _state["globals"]


_load_lock = threading.Lock()


def _build() -> None:
    _check_ob_size()
    with engine.LLVM_LOCK:
        for n in _CAPI:
            llvm.add_symbol(n, ctypes.cast(getattr(ctypes.pythonapi, n), ctypes.c_void_p).value)
    key = objcache.key_for(f"native dispatcher {NAME} {ABI}")
    obj = objcache.load(key) if objcache.enabled() else None
    jm = None
    if obj is not None:
        try:
            jm = engine.load_object(obj, permanent=True)
        except Exception:  # unusable object code: rebuild and replace it
            jm = None
    if jm is None:
        jm = engine.jit(module_ir(), on_object=lambda o: objcache.store(key, o)
                        if objcache.enabled() else None, permanent=True)
    _state["jm"] = jm
    _state["addr"], _state["globals"] = jm.address(NAME), jm.global_address(GLOBALS)


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


@dataclass
class Entry:
    """One signature in a dispatch table: the executable (with `items_entry`), the
    `(shape, dtype)` of each positional argument it takes and of each output, whether a
    call releases the GIL; the captured inputs after the arguments, each `(obj, off1,
    off2)`: the array at slot `off1` of `obj`, or in slot `off2` of the box there
    (`off2 >= 0`); and the assignments: after output 0 (the result), output `k + 1`
    boxed goes to slot `off` of `obj` for each `(obj, off, rlock)` of `assigns`, in
    order; the call is native only while no `rlock` (a `threading.RLock`) is held. Any
    outputs after those are released."""

    exe: Any
    in_types: Sequence[tuple[tuple[int, ...], np.dtype[Any]]]
    out_types: Sequence[tuple[tuple[int, ...], np.dtype[Any]]]
    release_gil: bool
    captures: Sequence[tuple[Any, int, int]] = ()
    assigns: Sequence[tuple[Any, int, Any]] = ()


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
        g[G_RLOCK_COUNT] = _rlock_count_offset()
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
            if (en.exe.items_entry is None or len(en.out_types) > MAX_OUTS
                    or len(en.captures) > MAX_ARGS or len(en.in_types) > MAX_ARGS
                    or len(en.out_types) < 1 + len(en.assigns)
                    or en.assigns and en.release_gil):
                raise ValueError("this executable cannot be called natively")
            rec = [0] * R_INPUTS
            rec[R_FN], rec[R_RELEASE] = en.exe.items_entry, int(en.release_gil)
            rec[R_N_IN], rec[R_N_OUT] = len(en.in_types), len(en.out_types)
            rec[R_N_CAP], rec[R_N_ASG] = len(en.captures), len(en.assigns)
            for shape, dt in en.in_types:
                rec += [len(shape), *ABI.dtypes[dt.name], *shape]
            rec[R_CAP] = len(rec)
            for obj, off1, off2 in en.captures:
                rec += [id(obj), off1, off2]
                keep.append(obj)
            rec[R_OUT] = len(rec)
            for shape, dt in en.out_types:
                rec += [len(shape), id(dt), *shape]
                keep.append(dt)
            rec[R_ASG] = len(rec)
            for obj, off, lock in en.assigns:
                if type(lock) is not _RLOCK:
                    raise ValueError("an assignment's lock must be a threading.RLock")
                rec += [id(obj), off, id(lock)]
                keep += [obj, lock]
            rec[R_SIZE] = len(rec)
            words += rec
            keep.append(en.exe)
        return (np.array(words, np.int64), keep)
