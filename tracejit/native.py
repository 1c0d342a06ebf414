"""Which calls of compiled functions the native dispatcher serves (`codegen/dispatch.py`).

A compiled function's `__call__` is the native dispatcher once any function has a
table: a call with positional tensor or array arguments of a signature in the
function's table (no keywords, no trace, no tape) runs without Python; anything else
calls `CompiledFunction._python_call`, the Python path, which is what every call was
before.

Invariants:
- A signature enters a function's table only after the Python path served it (`offer`
  from its fast path), and only when that path is one native call whose arguments are
  all tensors or arrays: one tensor result, fixed shapes, outputs too small to need a
  look at free memory; captured tensors and Variables are read at each call, assigned
  Variables written in program order after it, with the GIL held throughout and only
  while none of their locks is held (else the Python path takes the locks). The table
  matches exactly the shapes and dtypes the Python path's key matched, so both paths
  pick the same code.
- Whatever empties or changes a function's fast signatures (`_clear_cache`, eviction,
  running functions eagerly) empties its table (`forget`); the Python path then fills
  it again.
- The dispatcher counts its calls in the function's `RetraceDetector.native`.
- If the dispatcher cannot be built here (another Python or NumPy layout), `__call__`
  stays the Python path: nothing else changes.
"""
from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from typing import Any

import numpy as np

from .concrete import TENSOR_BOXING, Concrete
from .context import active_tapes
from .ir.core import _current
from .tensor import Tensor
from .variable import Variable

log = logging.getLogger("tracejit")

# Calls whose inputs, intermediates and results total at least this many bytes release
# the GIL around the native code; smaller ones keep it (releasing costs more than they
# run).
RELEASE_GIL_BYTES = 1 << 15
# A call that assigns Variables holds the GIL through the native code (that is what makes
# its read-run-write atomic without taking the Variables' locks); bigger ones than this
# take the Python path, which takes the locks and releases the GIL.
HOLD_GIL_BYTES = 1 << 20
# The dispatcher is built (or loaded from the disk cache: 10-30 ms) once the Python fast
# path has served this many calls in the process, so a short script never pays for it.
NATIVE_AFTER = 256

_state: dict[str, Any] = {}
_build_lock = threading.Lock()
_TABLED: weakref.WeakSet[Any] = weakref.WeakSet()


def _dispatcher() -> Any:
    """The dispatcher, installed as `CompiledFunction.__call__` (built on first use);
    None when it cannot be built."""
    if "d" in _state:
        return _state["d"]
    with _build_lock:       # two threads' first calls build one dispatcher, not two
        if "d" not in _state:
            from .codegen.dispatch import Dispatcher
            from .compile import CompiledFunction
            d: Any
            try:
                d = Dispatcher(CompiledFunction, "_native", CompiledFunction._python_call,
                               TENSOR_BOXING, _current, active_tapes)
            except Exception as e:   # another ABI than the one it is written for
                log.debug("native dispatch is not available: %s", e)
                d = None
            else:
                setattr(CompiledFunction, "__call__", d.method)   # noqa: B010 (a slot)
            _state["d"] = d
    return _state["d"]


def _entry(conc: Concrete, args: tuple[Any, ...]) -> Any:
    """The table entry of `conc` for calls like `args`, or None when it cannot have one."""
    from .codegen.dispatch import MAX_ARGS, MAX_OUTS, Entry, slot_offset
    exe = conc._exe
    one_result = conc._single or (conc.out_tree is None and conc.n_out == 1
                                  and conc.out_kind == [("r", 0)])
    if (exe is None or getattr(exe, "items_entry", None) is None or exe.checks_memory
            or not one_result or conc.symbolic or conc.var_args
            or len(exe.fn.results) > MAX_OUTS
            or len(args) > MAX_ARGS or conc.n_leaves != len(args)
            or conc.dyn_idx != list(range(len(args)))
            or not all(type(a) is Tensor or type(a) is np.ndarray for a in args)):
        return None
    data = slot_offset(Tensor, "_data")
    value = slot_offset(Variable, "_value")
    captures: list[tuple[Any, int, int]] = []
    for obj in conc.captures:
        if type(obj) is Variable:
            captures.append((obj, value, data))
        elif type(obj) is Tensor and obj._data is not None:
            captures.append((obj, data, -1))
        else:
            return None
    assigns: list[tuple[Any, int, Any]] = []
    for var in conc.assigned:
        if type(var) is not Variable:
            return None
        assigns.append((var, value, var._lock))
    fn = exe.fn
    nbytes = sum(p.type.nbytes for p in fn.params) + sum(
        o.type.nbytes for ins in fn.instrs for o in ins.outs)
    if assigns and nbytes >= HOLD_GIL_BYTES:
        return None     # holding the GIL that long would stall other threads
    return Entry(exe, [(p.shape, np.dtype(p.dtype.name)) for p in fn.params[:len(args)]],
                 [(r.shape, np.dtype(r.dtype.name)) for r in fn.results],
                 release_gil=not assigns and nbytes >= RELEASE_GIL_BYTES,
                 captures=captures, assigns=assigns)


def offer(f: Any, key: Any, conc: Concrete, args: tuple[Any, ...]) -> None:
    """Called by `f`'s Python fast path after it served `args` (fast key `key`) with
    `conc`: add the signature to `f`'s native table when it qualifies."""
    if "d" not in _state:
        _state["offers"] = _state.get("offers", 0) + 1
        if _state["offers"] < NATIVE_AFTER:
            return
    entry = _entry(conc, args)
    f._native_entries[key] = entry          # None: do not ask again
    if entry is None or _dispatcher() is None:
        return
    from .codegen.dispatch import Dispatcher
    entries = [e for e in f._native_entries.values() if e is not None]
    counter = ctypes.addressof(f._detector.native)
    f._native = Dispatcher.table(counter, entries)
    _TABLED.add(f)


def forget(f: Any) -> None:
    """Empty `f`'s native table (its fast signatures changed)."""
    f._native = None
    f._native_entries = {}


def forget_all() -> None:
    """Empty every native table (functions now run eagerly)."""
    for f in list(_TABLED):
        forget(f)
