"""The native executables of optimized Functions, and the eager run of a `call`.

Invariants:
- A Function is compiled once while its executable is kept: a traced signature's own
  Function has its executable in `NATIVE_OF` (held weakly: the trace owns it), other
  Functions (backward passes of compiled calls) in a small LRU map.
- A `call` run eagerly optimizes its callee once (`OPTIMIZED_FNS` are those optimized
  already) and runs it natively. `tj.clear_caches()` empties every map here.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .context import register_eager_rule
from .errors import at_user_line
from .ir.caches import on_clear
from .ir.core import Function
from .ir.specialize import is_symbolic
from .notice import Notice, gc_paused
from .tensor import Tensor

log = logging.getLogger("tracejit")


class _LRU:
    """A small thread-safe LRU map keyed by object identity (holds the key object, so an
    id is never reused while its entry lives). Evicted executables free their engines."""

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, obj: Any) -> Any:
        with self._lock:
            hit = self._d.get(id(obj))
            if hit is None or hit[0] is not obj:
                return None
            self._d.move_to_end(id(obj))
            return hit[1]

    def put(self, obj: Any, value: Any) -> None:
        with self._lock:
            self._d[id(obj)] = (obj, value)
            self._d.move_to_end(id(obj))
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()




_NATIVE = _LRU(32)
# The executable of each traced signature's optimized Function while its trace lives (the
# trace owns it; held weakly here, since an executable refers to its Function, which would
# otherwise keep the entry alive), and the Functions that are optimized already.
NATIVE_OF: weakref.WeakKeyDictionary[Function, weakref.ref[Any]] = weakref.WeakKeyDictionary()
OPTIMIZED_FNS: weakref.WeakSet[Function] = weakref.WeakSet()


def native(fn: Function, keep: bool = True, notice: Notice | None = None,
           traced: Function | None = None) -> Any:
    """The native executable of an optimized Function (compiled once per Function).

    A traced signature's own Function has its executable in `NATIVE_OF`, so the code
    lives exactly as long as the trace that owns it; other Functions (backward passes of
    compiled calls) are kept in a small LRU map. `traced`: the Function `fn` was
    optimized from, under whose key the disk cache finds the code next time (`cached`)."""
    ref = NATIVE_OF.get(fn)
    exe = ref() if ref is not None else None
    if exe is not None:
        return exe
    hit = _NATIVE.get(fn)
    if hit is not None:
        return hit
    from . import codegen
    log.debug("compiling @%s (%d instructions) to native code", fn.name, len(fn.instrs))
    if notice is None:
        notice = Notice(fn.name, "compiling to native code", fn)
    else:
        notice.resume("compiling to native code", fn)
    try:
        with gc_paused():
            if is_symbolic(fn):         # unknown dimensions: one executable, every shape
                exe = codegen.PolyExecutable(fn, codegen.compile_function)
            else:
                exe = codegen.compile_function(fn, traced=traced)
    except (TypeError, ValueError, IndexError) as e:
        raise at_user_line(e) from None
    finally:
        notice.done()
    if keep:
        _NATIVE.put(fn, exe)
    return exe


def cached(traced: Function, optimized: Callable[[], Function],
           notice: Notice | None = None) -> Any:
    """The executable of a trace from the disk cache, found by the traced Function
    (`codegen.load_traced`: its IR passes are not run), or None. `optimized()` gives the
    optimized Function if the executable needs it later."""
    from . import codegen
    if notice is not None:
        notice.resume("loading native code", traced)
    exe = None
    try:
        with gc_paused():
            exe = codegen.load_traced(traced, optimized)
        if exe is not None:
            log.debug("@%s: native code loaded from the disk cache, found by its trace",
                      traced.name)
        return exe
    finally:
        if notice is not None:      # a miss goes on to compile, under the same notice
            notice.done() if exe is not None else notice.pause()


def _eager_call(args: Sequence[Any], params: dict[str, Any]) -> Any:
    """A `call` run eagerly: the callee optimized, compiled once, and run natively."""
    fn = params["fn"]
    if fn is None or not isinstance(fn, Function):
        raise TypeError("call needs a Function")
    opt = fn if fn in OPTIMIZED_FNS else _optimized(fn)
    arrays = []
    for a in args:
        t = a if isinstance(a, Tensor) else a._read()
        arrays.append(t._data)
    try:
        outs = native(opt)(*arrays)
    except (TypeError, ValueError) as e:
        raise at_user_line(e) from None
    outs = [np.asarray(o) for o in outs]
    return outs[0] if len(outs) == 1 else tuple(outs)


_OPTIMIZED = _LRU(64)


def _optimized(fn: Function) -> Function:
    hit = _OPTIMIZED.get(fn)
    if hit is not None:
        return hit
    from .ir.passes import optimize
    opt = optimize(fn)
    OPTIMIZED_FNS.add(opt)
    _OPTIMIZED.put(fn, opt)
    return opt


def _clear_function_maps() -> None:
    _NATIVE.clear()
    _OPTIMIZED.clear()
    NATIVE_OF.clear()      # the traces that own these are cleared too
    OPTIMIZED_FNS.clear()


on_clear("compiled functions: executables and optimized Functions", _clear_function_maps)


register_eager_rule("call", _eager_call)
