"""Library code compiled once per process and shared by every module: the builtin GEMM
kernels (which split large products in two halves on the thread pool; `threads()` sets
whether they may) and the thread pool that runs large fused loops in chunks
(`pool_symbol()`; `pool_threads()` is its thread count, `set_pool_threads` changes it at
run time). What each library is (its symbol, disk-cache key and IR, and the job that
compiles it elsewhere) is `runtime_build.py`; the joint entry of the pool and a GEMM
library, `runtime_pair.py`. This module holds the libraries this process has loaded.

A module that multiplies matrices on the builtin kernel declares `symbol(dtype)`
external instead of carrying its own copy (which cost 130 ms of O3 and code generation
in every such module, more than the rest of a typical training step; the library itself
compiles in about 35 ms). Before object code that refers to a library symbol is
loaded, `ensure(code)` compiles that library (or loads it from the disk cache, like any
other object) and registers its address with LLVM's process symbol table, through which
MCJIT resolves the reference. Declaring the symbol (`gemm.declare_gemm`) loads the
library too, so any module built in this process can be loaded by any engine; lowering
(which `compile_function` follows with `ensure`) only `request`s it: when it is not in the
disk cache, a thread of this process (`llvmthreads.py`; where llvmlite's lock cannot be
passed, a compile worker process, `workers.py`) compiles it while the caller lowers and
compiles the function's own module (the library took 75 of the 330 ms of a small training
step's first call in a fresh process, W5). Before that, at import, `prefetch` starts
compiling the pool and the float32 GEMM library on a background thread when the disk
cache has neither: the first call that needs them then finds them compiled, or on their
way, instead of starting them itself (W5's first call with an empty disk cache: 104-136
ms without, runs 20-21; 88-97 ms with the prefetch started after all of codegen, runs
22-23; 69 ms, W5 alone, with it started here, as soon as this module is loaded).

Invariants:
- Each library is compiled at most once per process (in this process or by one worker
  job), and lives (with its registered address) until the process ends. Object code
  from a worker or a thread is the same as compiled here (`llvmjob.compile_module`);
  when the worker fails, it is compiled here.
- `ensure` looks for the symbol's name in the code it is given (LLVM IR text or an
  object file, whose string table names every undefined symbol), so a module that does
  not multiply matrices never pays for the kernels.
- A library's object code is kept with its key (`runtime_build.key`), so an exported
  artifact can carry it (`libraries_of`); object code offered back (`offer`) is used
  instead of compiling only under the same key here.
- A GEMM library and the pool also have a joint disk-cache entry (`runtime_pair`),
  written when either was missing from it; when neither is loaded yet (nor on its way,
  nor offered) both are loaded from it with one read and one link. An entry that is
  missing or does not load is never fatal: they load one by one.
"""
from __future__ import annotations

import ctypes
from concurrent import futures
import logging
import os
import threading
from typing import TYPE_CHECKING, NamedTuple

import llvmlite.binding as llvm
from llvmlite import ir

from ..ir import settings
from ..ir.caches import on_clear
from ..ir.errors import CompileError, SettingError
from . import blas, cpus, engine, llvmthreads, objcache, runtime_build as build, runtime_pair
from . import threads as pool, workers
from .runtime_build import KINDS, POOL as POOL, SOURCE_DIGEST as SOURCE_DIGEST
from .runtime_build import pool_symbol as pool_symbol, symbol as symbol

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger("tracejit")


_lock = threading.RLock()     # re-entered: loading a GEMM kernel loads the pool
_loaded: dict[str, engine.JitModule] = {}
_objects: dict[str, tuple[str, bytes]] = {}     # name -> (key, object code) of each loaded
_offered: dict[str, bytes] = {}                 # name -> object code to load instead
# name -> (its job, its LLVM IR unless the job builds it, whether the job runs on a thread
# of this process)
_pending: dict[str, tuple[Future[workers.Reply], str | None, bool]] = {}
on_clear("runtime libraries: object code offered by artifacts", _offered.clear)


def declare_parallel_for(module: ir.Module) -> ir.Function:
    """`parallel_for(fn, ctx, n)` of the thread pool, declared in `module`; the pool
    library is loaded by the `ensure` that precedes loading code calling it.

    Example::

        pfor = declare_parallel_for(module)
        builder.call(pfor, [chunk_fn, ctx, ir.Constant(I64, n_chunks)])
    """
    return pool.declare_parallel_for(module, pool_symbol())


def ensure(code: str | bytes) -> None:
    """Make every library symbol `code` refers to resolvable by MCJIT (the runtime
    libraries' and LAPACK's)."""
    blas.ensure_lapack(code)
    for kind in KINDS:
        name = symbol(kind)
        found = name.encode() in code if isinstance(code, bytes) else name in code
        if name not in _loaded and found:
            load(kind)


def libraries_of(code: bytes) -> list[tuple[str, str, bytes]]:
    """(symbol, key, object code) of each library object code `code` refers to, directly
    or through another library (a GEMM kernel refers to the pool), loaded in this process
    by `ensure`."""
    ensure(code)
    names: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        for name in _objects:
            if name not in names and name.encode() in c:
                names.add(name)
                todo.append(_objects[name][1])
    return [(name, *_objects[name]) for name in sorted(names)]


def offer(name: str, key: str, obj: bytes) -> bool:
    """Use `obj` (from `libraries_of` in another process) as library `name` when it is
    first needed, if it was made under the key this host and install give it; returns
    whether it was accepted."""
    dtype = build.dtype_of(name)
    if dtype is None or name in _loaded or key != build.key(dtype, name):
        return False
    _offered[name] = obj
    return True


def load(dtype: str) -> str:
    """Compile (once) the library for `dtype` and register it (waiting for the worker
    that `request` gave it to, if any); returns its symbol."""
    name = symbol(dtype)
    if name not in _loaded:
        with _lock:
            if name not in _loaded:
                _loaded[name] = _load(dtype, name, _pending.pop(name, None))
    return name


# A worker is started for a library only for a module estimated at least this large
# (`segments.task_cost`): starting one takes about 60 ms and the library 55-75 ms to
# compile, so only a module that compiles for longer than both (W3's, estimated 2,300,
# about 140 ms) gains; a smaller one would wait longer than compiling it here takes.
# An idle worker is used whatever the size; a new one is started only while a CPU looks
# idle (`workers.core_idle`): on a loaded machine the worker's start and the caller take
# turns, and W5's first call took 590 ms instead of 453 (8 runs each, load 5).
WORKER_MIN_COST = 1500
# How long code about to be loaded waits for a worker's library before compiling it here.
WAIT_FOR_WORKER = 0.02


def request(dtype: str, module_cost: int = WORKER_MIN_COST) -> str:
    """The symbol of the library for `dtype`, usable by code loaded after the next
    `ensure` or `load`: loaded now if it is loaded, offered or in the disk cache, else
    compiled meanwhile while a CPU looks idle, on a thread (`llvmthreads`) or, where
    llvmlite's lock cannot be passed, by a compile worker (an idle one, or a new one for a
    module of estimated `module_cost` from `WORKER_MIN_COST`), else now. (On a loaded
    machine the threads' turns at the GIL and at the CPUs made W5's first call with an
    empty cache slower: 395-420 ms against 328-352 compiling here, load 4.5.)"""
    name = symbol(dtype)
    if name in _loaded:
        return name
    pair_tried = False
    if dtype != POOL and _pair_applies(name):
        # The joint entry has both (its hits keep it, not theirs, recent): linked now, as
        # `load` would (one read, not a look here and a read there).
        with _lock:
            if name not in _loaded and _pair_applies(name):
                jm = _load_pair(dtype, name, runtime_pair.key(dtype, name))
                if jm is not None:
                    _loaded[name] = jm
                    return name
                pair_tried = True
    idle = workers.core_idle()
    if dtype != POOL and idle and llvmthreads.gate():
        request(POOL, module_cost)      # the GEMM kernels call it: on a thread too
    with _lock:
        if name in _loaded or name in _pending:
            return name
        own = None
        if name not in _offered and objcache.enabled():
            own = objcache.load(build.key(dtype, name))
        stored = name in _offered or own is not None
        on_thread = not stored and idle and llvmthreads.gate()
        if on_thread:
            got: list[workers.Worker | llvmthreads.ThreadWorker] = [llvmthreads.ThreadWorker()]
        else:
            start = module_cost >= WORKER_MIN_COST and idle
            got = [] if stored else list(workers.acquire(1, start=start))
        if not got:
            _loaded[name] = _load(dtype, name, found=_Found(own, pair_tried))
            return name
        log.debug("compiling runtime library %s with LLVM in a %s", name,
                  "thread" if on_thread else "compile worker")
        job, text = build.submit(got[0], dtype, name)
        _pending[name] = job, text, on_thread
    return name


# The GEMM libraries `prefetch` compiles: float32's, TensorFlow's default float dtype.
PREFETCH = ("f32",)


def prefetch() -> threading.Thread | None:
    """Start compiling the thread pool and the GEMM libraries of `PREFETCH` on a background
    thread when the disk cache is on and has neither them nor their joint entry, so that
    the first compiled call that needs them finds them ready (codegen's package calls
    this as soon as this module is loaded, about halfway into `import tracejit`: the
    rest of the import runs beside it). The thread compiles each library once for this
    machine and version (the disk cache keeps it for every later process), on threads
    past llvmlite's lock as `request` does, then links it and writes it to the disk
    cache. Returns the thread, or None when nothing is started: `TRACEJIT_PREFETCH` or
    the disk cache is off, this process may use one CPU or one thread
    (`TRACEJIT_NUM_THREADS=1`), compiles nothing in parallel
    (`TRACEJIT_COMPILE_WORKERS=0`) or runs nothing native (`TRACEJIT_DISABLE_JIT`), or a
    setting is misspelled (the error comes where it is used). The thread itself stops at
    once when the libraries are in the disk cache (the first call that needs them loads
    them), when the disk cache cannot be written (every process would compile them
    again) or when llvmlite's lock cannot be passed (numba's lock callbacks). The thread
    is not a daemon: the interpreter's exit waits for it (tens of milliseconds), so that
    no LLVM code runs while the process tears down; `os.fork` waits for it too (at most
    `FORK_WAITS_FOR_PREFETCH` seconds), so that the child gets no lock of LLVM's that
    the thread held."""
    try:
        if (not settings.switch("TRACEJIT_PREFETCH") or not objcache.enabled()
                or settings.switch("TRACEJIT_DISABLE_JIT")
                or threads() < 2 or workers.max_workers() == 0):
            return None
    except SettingError:        # reported where the setting is used, not at import
        return None
    t = threading.Thread(target=_prefetch, name="tracejit-prefetch", daemon=False)
    try:
        t.start()
    except RuntimeError:        # the OS's thread limit: the first call compiles them
        return None
    _prefetching.append(t)
    return t


_prefetching: list[threading.Thread] = []
# How long a fork waits for `prefetch`'s thread (it takes tens of milliseconds; a fork
# while LLVM runs on another thread could leave the child one of LLVM's locks held).
FORK_WAITS_FOR_PREFETCH = 10.0


def _prefetch() -> None:
    try:
        if not llvmthreads.gate() or llvmthreads.callbacks() or not objcache.writable():
            return      # (a cache it cannot write would have every process compile them)
        jobs = []
        with _lock:
            for kind in (POOL, *PREFETCH):
                name = symbol(kind)
                if not _stored(kind):
                    # On a thread past llvmlite's lock whether or not a CPU looks idle
                    # (the import keeps one busy): never in turn with the caller's LLVM.
                    log.debug("compiling runtime library %s with LLVM in a thread, "
                              "ahead of any call", name)
                    job, text = build.submit(llvmthreads.ThreadWorker(), kind, name)
                    _pending[name] = job, text, True
                    jobs.append((kind, job))
        for kind, job in jobs:
            futures.wait([job])                 # outside `_lock`: the caller may request
            load(kind)                          # link it and write the disk cache
    except Exception as e:  # noqa: BLE001  (the first call that needs them tries again)
        log.debug("prefetching the runtime libraries failed: %s", e)


def _stored(kind: str) -> bool:
    """Whether this process has library `kind` (or has it on its way), or the disk
    cache has it, alone or in a joint entry `prefetch` would write."""
    name = symbol(kind)
    if name in _loaded or name in _pending or name in _offered:
        return True
    pairs = PREFETCH if kind == POOL else (kind,)
    return (any(objcache.present(runtime_pair.key(d, symbol(d))) for d in pairs)
            or objcache.present(build.key(kind, name)))


class _Found(NamedTuple):
    """What `request` found in the disk cache just before it calls `_load`, which does not
    look again: the library's own object code (None: not there), and whether the joint
    entry was tried (and was missing or unusable)."""

    own: bytes | None
    pair_tried: bool


def _load(dtype: str, name: str,
          pending: tuple[Future[workers.Reply], str | None, bool] | None = None,
          found: _Found | None = None) -> engine.JitModule:
    """The library loaded: from the reply of a worker's `pending` job if it comes within
    `WAIT_FOR_WORKER` seconds (a thread's whenever it comes: it is already compiling on
    this machine), offered object code or the disk cache (what `request` `found` there,
    if it looked), else compiled here (a loaded machine can delay a worker's start far
    beyond the library's own compile: the caller then compiles it itself; the worker's
    late reply is dropped)."""
    pair = None
    if dtype != POOL:
        if pending is None and _pair_applies(name):
            pair = runtime_pair.key(dtype, name)
            tried = found is not None and found.pair_tried
            jm = None if tried else _load_pair(dtype, name, pair)
            if jm is not None:
                return jm
        load(POOL)          # the GEMM kernels split large products on the pool
    jm = None
    key = build.key(dtype, name)
    obj, fresh, text = None, False, None
    if pending is not None:
        job, text, on_thread = pending
        try:
            obj, fresh = job.result(timeout=None if on_thread else WAIT_FOR_WORKER)[0], True
        except CompileError as e:
            log.debug("runtime library %s: the compile worker failed (%s)", name, e)
        except futures.TimeoutError:       # the builtin TimeoutError from Python 3.11
            log.debug("runtime library %s: the compile worker is not done", name)
    if obj is None:
        obj = _offered.pop(name, None)
    if obj is None and objcache.enabled():
        # (`request` looked unless the library was offered, and then `obj` is that.)
        obj = objcache.load(key) if found is None else found.own
    if obj is not None:
        try:
            jm = engine.load_object(obj, permanent=True)
            _objects[name] = (key, obj)
            if fresh and objcache.enabled():
                objcache.store(key, obj)
            log.debug("runtime library %s: loaded from object code", name)
        except Exception as e:  # unusable object code: rebuild and replace it
            log.debug("runtime library %s: object code cannot be loaded (%s)", name, e)
    if jm is None:
        log.debug("compiling runtime library %s with LLVM", name)

        def store(o: bytes) -> None:
            _objects[name] = (key, o)
            if objcache.enabled():
                objcache.store(key, o)
        # Written as explicit vector code: the code generator alone makes it as fast as
        # O3 does, in a third of the time (benchmarks/gemm_bench.py --compile).
        jm = engine.jit(text or build.library_ir(dtype, name), on_object=store,
                        optimize=False, permanent=True)
        fresh = True
    _register(dtype, name, jm)
    if dtype != POOL and (pair is not None or fresh):
        # The joint entry was missing, or this GEMM library is new: write it.
        _store_pair(pair or runtime_pair.key(dtype, name), name)
    return jm


def _register(dtype: str, name: str, jm: engine.JitModule) -> None:
    """Set the thread count of library `name`, just linked as `jm`, and make its symbol
    resolvable by code loaded later."""
    ctypes.c_int32.from_address(jm.global_address(f"{name}_threads")).value = (
        pool_threads() if dtype == POOL else threads())
    if dtype == POOL:
        # The pool's workers run its code until the process ends (after their last job
        # they spin in it, then sleep in it): it must never be freed, not even when
        # the interpreter tears down its modules at exit. One reference is never dropped.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(jm))
    with engine.LLVM_LOCK:
        llvm.add_symbol(name, jm.address(name))


def _pair_applies(name: str) -> bool:
    """Whether GEMM library `name` and the pool may come from their joint entry: the pool
    is not loaded or on its way, neither was offered, and the disk cache is on."""
    pool_name = pool_symbol()
    return (objcache.enabled() and pool_name not in _loaded and pool_name not in _pending
            and pool_name not in _offered and name not in _offered)


def _load_pair(dtype: str, name: str, pair: str) -> engine.JitModule | None:
    """The pool and GEMM library `name` linked together from their joint disk-cache entry
    `pair` (`runtime_pair`), both registered; None if the entry is missing or unusable
    (the caller loads them one by one and writes it again)."""
    got = runtime_pair.load(name, pair)
    if got is None:
        return None
    jm, pool_obj, gemm_obj = got
    pool_name = pool_symbol()
    _objects[pool_name] = (build.key(POOL, pool_name), pool_obj)
    _objects[name] = (build.key(dtype, name), gemm_obj)
    _register(POOL, pool_name, jm)
    _loaded[pool_name] = jm
    _register(dtype, name, jm)
    log.debug("runtime libraries %s and %s: loaded from joint object code", pool_name, name)
    return jm


def _store_pair(pair: str, name: str) -> None:
    """Write the joint entry of the pool and GEMM library `name` (both loaded from
    object code this process holds), for the next process's `_load_pair`."""
    pool_entry = _objects.get(pool_symbol())
    gemm = _objects.get(name)
    if pool_entry is not None and gemm is not None:
        runtime_pair.store(pair, pool_entry[1], gemm[1])


def threads() -> int:
    """Threads a large matrix product may use: `TRACEJIT_NUM_THREADS` if set, else the
    CPUs this process may run on, at most 2 (the kernel splits a product in two)."""
    n = settings.integer("TRACEJIT_NUM_THREADS")
    return max(1, min(2, cpus.available() if n is None else n))


def pool_threads() -> int:
    """Threads a large fused loop may use, the calling thread included:
    `TRACEJIT_NUM_THREADS` if set, else the CPUs this process may run on (read when the
    pool library is loaded; `set_pool_threads` changes it later)."""
    n = settings.integer("TRACEJIT_NUM_THREADS")
    return max(1, min(pool.MAX_WORKERS + 1, cpus.available() if n is None else n))


def _pool_global(suffix: str) -> ctypes.c_int32 | None:
    name = pool_symbol()
    jm = _loaded.get(name)
    return None if jm is None else ctypes.c_int32.from_address(
        jm.global_address(f"{name}_{suffix}"))


def set_pool_threads(n: int | None) -> int:
    """Set the threads of the loaded pool to `n` (None: `pool_threads()`), loading the
    pool library first; returns the previous count. Code compiled before keeps working:
    it reads the count at every call."""
    load(POOL)
    count = _pool_global("threads")
    assert count is not None
    old = count.value
    count.value = pool_threads() if n is None else max(1, min(pool.MAX_WORKERS + 1, n))
    return int(old)


def pool_workers() -> int:
    """Worker threads the pool has started (0 until a large loop first runs on it)."""
    workers_started = _pool_global("workers")
    return 0 if workers_started is None else int(workers_started.value)


def _before_fork() -> None:
    for t in _prefetching:
        if t.is_alive() and t is not threading.current_thread():
            t.join(FORK_WAITS_FOR_PREFETCH)


def _after_fork_in_child() -> None:
    # A forked child has none of its parent's workers: it compiles what is pending itself,
    # and its pool starts empty. A lock another thread of the parent held at the fork
    # (loading a library, compiling) has no owner here: it starts free, and a library
    # whose load was under way is loaded again when first needed.
    llvmthreads.after_fork_in_child()     # llvmlite's lock first: everything below calls LLVM
    _lock._at_fork_reinit()         # type: ignore[attr-defined]
    engine.LLVM_LOCK._at_fork_reinit()   # type: ignore[attr-defined]
    _pending.clear()
    _prefetching.clear()
    jm = _loaded.get(pool_symbol())
    if jm is not None:
        ctypes.CFUNCTYPE(None)(jm.address(f"{pool_symbol()}_after_fork"))()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
