"""Compiling a part module (`parts.py`) on a thread of this process, beside the caller.

llvmlite runs every call into LLVM inside one process-wide lock (`llvmlite.binding.ffi`:
each wrapped C function runs `with lib._lock`), so two threads compiling two modules take
turns. LLVM itself compiles separate modules at once when each has its own context and
target machine (`benchmarks/llvm_threads.py`: object code byte-identical to sequential
compilation), and ctypes releases the GIL during each call. `gate()` puts a thread-aware
gate in front of llvmlite's lock: a thread running `compile_part` passes it, every other
thread takes the lock as before. A part compiled here costs no process start (a compile
worker costs about 60 ms of CPU to start), so a medium module (W3's, about 90 ms of LLVM)
is compiled in two halves at once on two cores.

Invariants:
- A job touches only objects of its own: a context, a module parsed into it and a target
  machine made for its thread (`llvmjob.target_machine`); it never touches an engine, the
  process symbol table or any object another thread uses. Object code is the same as
  `llvmjob.compile_module` gives in any thread or worker process.
- When llvmlite's lock is not built as this module expects (another llvmlite version),
  `gate()` installs nothing and returns False: parts are then compiled by the caller.
- A thread passes the gate only inside `compile_part`, and only while no callback is
  registered with `llvmlite.binding.ffi.register_lock_callback` (numba registers some):
  llvmlite runs those at every acquire, including the gate's, and promises them one
  holder at a time, so with callbacks present the job takes the real lock (its half is
  then compiled in turn with the caller's). Other threads lock as before.
- A forked child starts with llvmlite's lock and this module's free
  (`after_fork_in_child`, called first by `runtime`'s fork handler): a compile thread of
  the parent that held them does not exist in the child.
- When no thread can be started (the OS's thread limit), `submit` compiles the job on
  the calling thread before it returns: slower, never a failed compile.
- While any job runs, the interpreter's switch interval is at most
  `JOB_SWITCH_INTERVAL`; the last job to end restores the interval the first found
  (unless something else changed it meanwhile).
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..ir.caches import on_clear
from . import llvmjob

Reply = tuple[bytes, list[str], float]      # as `workers.Reply`

_local = llvmjob.thread_state     # `free`: this thread passes the gate
_installed: list[bool] = []
_install_lock = threading.Lock()


class _Gate:
    """Stands in for the `threading.RLock` inside llvmlite's `_LLVMLock`: a thread inside
    `compile_part` passes, any other acquires and releases the real lock."""

    def __init__(self, lock: Any) -> None:
        self._real = lock

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        if getattr(_local, "free", False):
            return True
        return bool(self._real.acquire(*args, **kwargs))

    def release(self) -> None:
        if not getattr(_local, "free", False):
            self._real.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _at_fork_reinit(self) -> None:
        self._real._at_fork_reinit()


def gate() -> bool:
    """Install the gate in front of llvmlite's lock (once); whether threads may compile
    parts at once."""
    with _install_lock:
        if not _installed:
            _installed.append(_install())
        return _installed[0]


def callbacks() -> bool:
    """Whether lock callbacks are registered with llvmlite (the gate must not be passed)."""
    try:
        from llvmlite.binding import ffi
        return bool(ffi.lib._lock._cblist)
    except (ImportError, AttributeError):
        return True


def after_fork_in_child() -> None:
    """Make llvmlite's lock and this module's locks free in a forked child: a compile
    thread of the parent may have held them at the fork (the child would hang at its
    first call into LLVM); give the child the switch interval its parent's jobs found."""
    global _install_lock, _switch_lock
    _install_lock = threading.Lock()
    # No job of the parent runs here: the interval it shortened is the child's to restore.
    _switch_lock = threading.Lock()
    if _switch_state[0] and _switch_state[1] is not None:
        sys.setswitchinterval(_switch_state[1])
    _switch_state[:] = [0, None]
    try:
        from llvmlite.binding import ffi
        inner = ffi.lib._lock._lock
    except (ImportError, AttributeError):
        return
    reinit = getattr(inner, "_at_fork_reinit", None)
    if reinit is not None:
        reinit()


def _install() -> bool:
    try:
        from llvmlite.binding import ffi
        outer = ffi.lib._lock
        inner = outer._lock
    except (ImportError, AttributeError):
        return False
    if isinstance(inner, _Gate):
        return True
    if not (hasattr(inner, "acquire") and hasattr(inner, "release")
            and type(outer).__name__ == "_LLVMLock"):
        return False
    outer._lock = _Gate(inner)
    return True


# Target machines no job is using, by (triple, cpu, features): each job takes one for
# itself (LLVM's code generator is not meant to share one between threads).
_machines: dict[tuple[str, str, str], list[Any]] = {}
on_clear("compile threads: idle target machines", _machines.clear)


def compile_part(text: str, header: dict[str, Any]) -> Reply:
    """Compile one part (`llvmjob.serve`'s request: `header` names the target and the
    options) on the calling thread, past llvmlite's lock; returns what a worker replies
    (object code, warnings, CPU seconds)."""
    key = (header["triple"], header["cpu"], header["features"])
    with _install_lock:
        free = _machines.setdefault(key, [])
        tm = free.pop() if free else None
    if tm is None:
        tm = llvmjob.target_machine(*key)   # under llvmlite's lock (not yet passed)
    _local.free = not callbacks()
    try:
        cpu = time.thread_time()
        obj, _, warnings = llvmjob.compile_module(text, tm, bool(header["optimize"]),
                                                  bool(header["slp"]))
        assert obj is not None
        return obj, warnings, time.thread_time() - cpu
    finally:
        _local.free = False
        with _install_lock:
            _machines.setdefault(key, []).append(tm)


# The interpreter's switch interval while a compile job runs. A job makes about 20 calls
# into LLVM, each releasing the GIL; at each return the job waits for the GIL, which the
# caller (lowering the next part in Python) gives up only when the switch interval (5 ms
# by default) has passed: W3's part waited 9-11 ms in all (thread wall time less CPU
# time), 2 ms with this interval.
JOB_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_state: list[Any] = [0, None]       # jobs running, the interval before the first


def _short_switches(delta: int) -> None:
    """Count a compile job in (+1) or out (-1): the first in sets `JOB_SWITCH_INTERVAL`
    (unless the interval is already shorter), the last out restores the one it found."""
    with _switch_lock:
        n = _switch_state[0] + delta
        if n == 1 and delta > 0:
            before = sys.getswitchinterval()
            _switch_state[1] = before
            if before > JOB_SWITCH_INTERVAL:
                sys.setswitchinterval(JOB_SWITCH_INTERVAL)
        elif n == 0 and _switch_state[1] is not None:
            if abs(sys.getswitchinterval() - min(JOB_SWITCH_INTERVAL, _switch_state[1])) < 1e-7:
                sys.setswitchinterval(_switch_state[1])   # unless someone else changed it
            _switch_state[1] = None
        _switch_state[0] = n


class ThreadWorker:
    """A compile worker (`workers.Worker`'s `submit` and `broken`) that runs each job on
    a new thread of this process (`compile_part`)."""

    broken = False

    def submit(self, header: dict[str, Any], payload: bytes | Callable[[], bytes]
               ) -> Future[Reply]:
        """Compile `payload` (LLVM IR text, or a function that makes it, called on the
        thread) on a thread; the future gets the reply or the exception (a
        `CompileError` for an LLVM error, as from a worker process)."""
        from ..ir.errors import CompileError
        fut: Future[Reply] = Future()

        def run() -> None:
            _short_switches(+1)
            try:
                text = payload if isinstance(payload, bytes) else payload()
                fut.set_result(compile_part(text.decode(), header))
            except Exception as e:      # noqa: BLE001  (reported in the caller)
                fut.set_exception(CompileError(f"LLVM: {type(e).__name__}: {e}"))
            finally:
                _short_switches(-1)

        try:
            threading.Thread(target=run, name="tracejit-compile-part", daemon=True).start()
        except RuntimeError:            # the OS's thread limit: compiled by the caller
            run()
        return fut
