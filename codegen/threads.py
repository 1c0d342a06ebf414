"""The thread pool of generated code, written in LLVM IR: `parallel_for(fn, ctx, n)` runs
`fn(ctx, i)` for every chunk number `i` in `range(n)`, on the calling thread and the
pool's workers, and returns when all have run.

    void parallel_for(void (*fn)(i8* ctx, i64 i), i8* ctx, i64 n)

`codegen/runtime.py` compiles this library once per process (`runtime.pool_symbol()`),
like the GEMM kernels, and sets its thread count global; generated code declares it
(`declare_parallel_for`). The pool itself starts lazily: no thread exists until the first
call that may use one, so a process whose loops are all small never starts any.

How a call runs: the caller takes the pool (`busy`, a compare-and-swap; when another
caller holds it, or the thread count is 1, or `n < 2`, the caller runs every chunk
itself, in order), starts workers up to `threads - 1` if fewer exist, publishes the job
(fn, ctx, n) and a new generation in `ticket` (generation << 32 | next chunk), wakes the
workers and takes chunks itself. Each chunk is claimed by one compare-and-swap on
`ticket`, so it runs exactly once, on whichever thread claims it; the caller waits until
`done` counts all `n`, spinning briefly, then blocking on a condition variable that the
worker finishing the last chunk signals. A worker that has no job spins on `ticket` for
`SPIN_ROUNDS` pauses (a job that follows soon starts without a system call), then
for `YIELD_ROUNDS` calls of `sched_yield` (a few milliseconds, as OpenBLAS's threads
do: see `_wait_until`), then sleeps on a condition variable that every new job is
broadcast on.

The functions that run once per job or per thread (`parallel_for`, `worker`,
`after_fork`) are compiled without the code generator's optimizations
(`gemm_pack.mark_cold`): their time goes to atomics, cache-line transfers, pauses and
system calls, not to instructions (the library's code generation: 12 -> 8 ms); the loop
that claims chunks (`run_chunks`) is optimized.

Invariants:
- Chunk `i` of a job runs exactly once and `parallel_for` returns only after every chunk
  has returned; what a chunk computes cannot depend on the thread that runs it, so the
  results are the same for any thread count when chunks write disjoint memory.
- A worker reads a job's fields before its claiming compare-and-swap; the swap succeeds
  only while that job's chunk is unclaimed, i.e. while the job is current: the caller
  closes the old ticket (chunk number 2**32 - 1, beyond every n) before it writes the
  next job's fields, so a worker that read the old ticket after its last claim and the
  next job's n fails its swap, and a worker never runs a chunk with another job's
  fields (`tests/codegen/test_threads.py::test_jobs_of_alternating_sizes_never_run_a_chunk_twice`).
- Workers never hold or take the GIL; they are never joined (they live until the
  process ends, so `runtime` never frees this library's code) and a forked child starts
  with none (`{name}_after_fork`, which `runtime` calls in the child).
- A job of `2**32 - 1` chunks or more runs on the calling thread (`ticket` counts chunks
  in 32 bits).
- Exported: `{name}`, the globals `{name}_threads` (threads a job may use, the caller
  included; 1 until the loader sets it) and `{name}_workers` (workers started), and
  `{name}_after_fork()`; everything else is internal.
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .gemm_pack import declare, internal_function, mark_cold
from .irbuild import Builder, new_function
from .llvmtypes import I1, I8, I32, VOIDP
from .loops import I64, const, for_range

# The signature of a chunk function and of `parallel_for`.
CHUNK_FN = ir.FunctionType(ir.VoidType(), [VOIDP, I64])
PARALLEL_FOR = ir.FunctionType(ir.VoidType(), [CHUNK_FN.as_pointer(), VOIDP, I64])
# Workers a pool starts at most (a larger thread count uses this many).
MAX_WORKERS = 255
# Pause instructions a waiting thread spins before it yields: about 50 us in all (a pause
# took 24 ns on a 2.6 GHz znver4).
SPIN_ROUNDS = 2000
# Then `sched_yield` calls before it sleeps: about 3.5 ms on an idle CPU (0.7 us each on a
# 2-vCPU KVM guest); on a busy one each lets the other threads run first.
YIELD_ROUNDS = 5000
# Room for a pthread mutex or condition variable (40-64 bytes on the platforms we know).
_SYNC_BYTES = 128
_LOW = (1 << 32) - 1


def declare_parallel_for(module: ir.Module, name: str) -> ir.Function:
    """The declaration of the pool's `parallel_for` (exported as `name`) in `module`."""
    fn = declare(module, name, PARALLEL_FOR)
    fn.attributes.add("nounwind")
    return fn


class _Pool:
    """The globals and libc functions of the pool library while it is being defined."""

    def __init__(self, module: ir.Module, name: str, triple: str):
        self.module, self.name, self.triple = module, name, triple
        self.threads = self._global(f"{name}_threads", I32, 1, exported=True)
        self.workers = self._global(f"{name}_workers", I32, 0, exported=True)
        self.busy = self._global("busy", I32, 0)
        self.inited = self._global("inited", I32, 0)
        self.ticket = self._global("ticket", I64, 0)
        self.done = self._global("done", I64, 0)
        self.job_fn = self._global("job_fn", CHUNK_FN.as_pointer(), None)
        self.job_ctx = self._global("job_ctx", VOIDP, None)
        self.job_n = self._global("job_n", I64, 0)
        self.job_workers = self._global("job_workers", I32, 0)
        sync = ir.ArrayType(I8, _SYNC_BYTES)
        self.mutex = self._global("mutex", sync, None)
        self.wake = self._global("wake", sync, None)
        self.finished = self._global("finished", sync, None)
        mutex_fn = ir.FunctionType(I32, [VOIDP])
        self.lock = declare(module, "pthread_mutex_lock", mutex_fn)
        self.unlock = declare(module, "pthread_mutex_unlock", mutex_fn)
        self.broadcast = declare(module, "pthread_cond_broadcast", mutex_fn)
        self.sched_yield = declare(module, "sched_yield", ir.FunctionType(I32, []))
        self.wait = declare(module, "pthread_cond_wait", ir.FunctionType(I32, [VOIDP, VOIDP]))
        self.mutex_init = declare(module, "pthread_mutex_init",
                                  ir.FunctionType(I32, [VOIDP, VOIDP]))
        self.cond_init = declare(module, "pthread_cond_init",
                                 ir.FunctionType(I32, [VOIDP, VOIDP]))

    def _global(self, name: str, ty: ir.Type, init: int | None,
                exported: bool = False) -> ir.GlobalVariable:
        g = ir.GlobalVariable(self.module, ty, name if exported else f"{self.name}.{name}")
        g.initializer = ir.Constant(ty, None if init is None else init)
        if not exported:
            g.linkage = "internal"
        g.align = 64        # one cache line each: no false sharing between the counters
        return g

    def ptr(self, g: ir.GlobalVariable, b: ir.IRBuilder) -> ir.Value:
        return b.bitcast(g, VOIDP)

    def pause(self, b: ir.IRBuilder) -> None:
        """A spin-wait hint to the CPU (nothing where none is known)."""
        if self.triple.startswith(("x86_64", "i686", "i386")):
            b.call(declare(self.module, "llvm.x86.sse2.pause",
                           ir.FunctionType(ir.VoidType(), [])), [])
        elif self.triple.startswith(("aarch64", "arm64")):
            b.asm(ir.FunctionType(ir.VoidType(), []), "yield", "", [], side_effect=True)

    def signal(self, b: ir.IRBuilder, cond: ir.GlobalVariable) -> None:
        b.call(self.lock, [self.ptr(self.mutex, b)])
        b.call(self.broadcast, [self.ptr(cond, b)])
        b.call(self.unlock, [self.ptr(self.mutex, b)])


def define_pool(module: ir.Module, name: str, triple: str) -> ir.Function:
    """Define the pool library's functions and globals in `module` (exported as `name`,
    see the module docstring); returns `parallel_for`."""
    pool = _Pool(module, name, triple)
    claim = _define_claim(pool)
    worker = _define_worker(pool, claim)
    _define_after_fork(pool)
    return _define_parallel_for(pool, claim, worker)


def _define_claim(pool: _Pool) -> ir.Function:
    """`run_chunks(gen, is_worker)`: claim and run chunks of job `gen` until none is
    left; the thread that finishes the last chunk signals `finished` if it is a worker."""
    fn = internal_function(pool.module, f"{pool.name}.run_chunks",
                           ir.FunctionType(ir.VoidType(), [I64, I1]), inline=False)
    gen, is_worker = fn.args
    entry = fn.append_basic_block("entry")
    top = fn.append_basic_block("claim")
    race = fn.append_basic_block("race")
    run = fn.append_basic_block("run")
    out = fn.append_basic_block("out")
    b = Builder(entry)
    b.branch(top)
    b.position_at_end(top)
    tk = b.load_atomic(pool.ticket, "acquire", 8)
    i = b.and_(tk, const(_LOW))
    current = b.icmp_unsigned("==", b.lshr(tk, const(32)), gen)
    b.cbranch(current, race, out)
    b.position_at_end(race)
    # Acquire: a job field written for a later job comes after that job's closing of
    # this one's ticket (`_define_parallel_for`), so the swap below then fails.
    job = b.load_atomic(pool.job_fn, "acquire", 8)
    ctx = b.load_atomic(pool.job_ctx, "acquire", 8)
    n = b.load_atomic(pool.job_n, "acquire", 8)
    left = b.icmp_unsigned("<", i, n)
    with b.if_then(b.not_(left)):
        b.branch(out)
    pair = b.cmpxchg(pool.ticket, tk, b.add(tk, const(1)), "acq_rel", "acquire")
    b.cbranch(b.extract_value(pair, 1), run, top)
    b.position_at_end(run)
    b.call(job, [ctx, i])
    d = b.atomic_rmw("add", pool.done, const(1), "acq_rel")
    last = b.and_(is_worker, b.icmp_unsigned("==", b.add(d, const(1)), n))
    with b.if_then(last, likely=False):
        pool.signal(b, pool.finished)
    b.branch(top)
    b.position_at_end(out)
    b.ret_void()
    return fn


def _define_worker(pool: _Pool, claim: ir.Function) -> ir.Function:
    """`worker(arg)`, a pthread start routine: arg = (generation at its start << 32) | its
    number k. It waits for a newer generation (spinning, then sleeping on `wake`), takes
    part when k < the job's worker count, and waits again, forever."""
    fn = internal_function(pool.module, f"{pool.name}.worker",
                           ir.FunctionType(VOIDP, [VOIDP]), cold=True)
    b = Builder(fn.append_basic_block("entry"))
    arg = b.ptrtoint(fn.args[0], I64)
    k = b.trunc(b.and_(arg, const(_LOW)), I32)
    seen = b.alloca(I64, name="seen")
    spins = b.alloca(I32, name="spins")
    b.store(b.lshr(arg, const(32)), seen)
    wait = fn.append_basic_block("wait")
    got = fn.append_basic_block("got")
    b.branch(wait)

    b.position_at_end(wait)
    _wait_until(pool, b, lambda b: b.icmp_unsigned(
        "!=", b.lshr(b.load_atomic(pool.ticket, "acquire", 8), const(32)), b.load(seen)),
        pool.wake, spins, got, "wait", yields=YIELD_ROUNDS)

    b.position_at_end(got)
    gen = b.lshr(b.load_atomic(pool.ticket, "acquire", 8), const(32))
    b.store(gen, seen)
    allowed = b.icmp_signed("<", k, b.load_atomic(pool.job_workers, "monotonic", 4))
    with b.if_then(allowed):
        b.call(claim, [gen, ir.Constant(I1, 1)])
    b.branch(wait)
    return fn


def _wait_until(pool: _Pool, b: ir.IRBuilder, ready: Callable[[ir.IRBuilder], ir.Value],
                cond: ir.GlobalVariable, spins: ir.Value, after: ir.Block, name: str,
                yields: int = 0) -> None:
    """Wait until `ready(b)` holds, then continue at `after`: test it up to `SPIN_ROUNDS`
    times with a pause between, then `yields` times with a `sched_yield` between, then
    sleep on `cond` under the pool's mutex, testing it again at each wake-up (the signal
    is sent under the same mutex after the state changes, so none is lost). `spins` is
    an i32 slot outside any loop.

    Only an idle worker yields (`YIELD_ROUNDS`), never the caller waiting for a job's
    last chunks: under Linux's EEVDF scheduler each `sched_yield` moves the thread's
    deadline a time slice later until it next sleeps, so a caller that yielded would
    then lose its vCPU to every other runnable thread; the worker's next sleep resets it.

    Why an idle worker yields before sleeping: a sleeping worker costs each job a
    wake-up, and on a 2-vCPU VM that was the caller's futex call (3-10 us), the worker's
    start 10-30 us later, and, whenever the other vCPU was busy, the woken worker
    preempting the caller on its own vCPU and running both halves of a product while
    the caller waited (W3's two large products took the single-thread time in about half
    its calls at load 3). A yielding worker is never woken: on an idle vCPU it takes a
    job within about a microsecond; on a busy one it takes it late or not at all, and
    the caller, never preempted by it, runs the job's chunks itself (W3's median call
    1043 and 1089 against 1205 and 1206 us, alternating processes at load 3, about the
    time of one thread: the machine had no second vCPU to give)."""
    fn = b.function
    spin = fn.append_basic_block(f"{name}.spin")
    sleep = fn.append_basic_block(f"{name}.sleep")
    sleep_test = fn.append_basic_block(f"{name}.test")
    sleep_wait = fn.append_basic_block(f"{name}.wait")
    woke = fn.append_basic_block(f"{name}.woke")
    b.store(ir.Constant(I32, 0), spins)
    b.branch(spin)
    b.position_at_end(spin)
    with b.if_then(ready(b)):
        b.branch(after)
    s = b.load(spins)
    with b.if_then(b.icmp_signed(">=", s, ir.Constant(I32, SPIN_ROUNDS + yields))):
        b.branch(sleep)
    b.store(b.add(s, ir.Constant(I32, 1)), spins)
    if yields:
        with b.if_else(b.icmp_signed("<", s, ir.Constant(I32, SPIN_ROUNDS))) as (pause, yield_):
            with pause:
                pool.pause(b)
            with yield_:
                b.call(pool.sched_yield, [])
    else:
        pool.pause(b)
    b.branch(spin)
    b.position_at_end(sleep)
    b.call(pool.lock, [pool.ptr(pool.mutex, b)])
    b.branch(sleep_test)
    b.position_at_end(sleep_test)
    b.cbranch(ready(b), woke, sleep_wait)
    b.position_at_end(sleep_wait)
    b.call(pool.wait, [pool.ptr(cond, b), pool.ptr(pool.mutex, b)])
    b.branch(sleep_test)
    b.position_at_end(woke)
    b.call(pool.unlock, [pool.ptr(pool.mutex, b)])
    b.branch(after)


def _define_after_fork(pool: _Pool) -> None:
    """`{name}_after_fork()`: the state of a fresh pool, for a forked child (which has
    none of its parent's workers, and whose parent may have held the pool or its mutex
    while forking)."""
    fn = new_function(pool.module, ir.FunctionType(ir.VoidType(), []),
                     f"{pool.name}_after_fork")
    fn.attributes.add("nounwind")
    mark_cold(fn)
    b = Builder(fn.append_basic_block("entry"))
    for g in (pool.busy, pool.inited, pool.workers):
        b.store(ir.Constant(I32, 0), g)
    b.ret_void()


def _define_parallel_for(pool: _Pool, claim: ir.Function, worker: ir.Function) -> ir.Function:
    fn = new_function(pool.module, PARALLEL_FOR, pool.name)
    fn.attributes.add("nounwind")
    mark_cold(fn)
    job, ctx, n = fn.args
    b = Builder(fn.append_basic_block("entry"))
    serial = fn.append_basic_block("serial")
    threads = b.load_atomic(pool.threads, "monotonic", 4)
    # (n must fit the 32 bits of `ticket` that count chunks.)
    wide = b.and_(b.and_(b.icmp_signed(">=", n, const(2)), b.icmp_signed("<", n, const(_LOW))),
                  b.icmp_signed(">=", threads, ir.Constant(I32, 2)))
    with b.if_then(b.not_(wide)):
        b.branch(serial)
    took = b.cmpxchg(pool.busy, ir.Constant(I32, 0), ir.Constant(I32, 1), "acquire",
                     "monotonic")
    with b.if_then(b.not_(b.extract_value(took, 1)), likely=False):
        b.branch(serial)

    # Holding the pool: first use initializes it, workers start up to what this job wants.
    with b.if_then(b.icmp_signed("==", b.load(pool.inited), ir.Constant(I32, 0)),
                   likely=False):
        null = ir.Constant(VOIDP, None)
        b.call(pool.mutex_init, [pool.ptr(pool.mutex, b), null])
        b.call(pool.cond_init, [pool.ptr(pool.wake, b), null])
        b.call(pool.cond_init, [pool.ptr(pool.finished, b), null])
        b.store(ir.Constant(I32, 1), pool.inited)
    want = b.sext(b.sub(threads, ir.Constant(I32, 1)), I64)
    want = _smin(b, _smin(b, want, b.sub(n, const(1))), const(MAX_WORKERS))
    old_gen = b.lshr(b.load_atomic(pool.ticket, "monotonic", 8), const(32))
    _start_workers(pool, b, worker, want, old_gen)
    want = _smin(b, want, b.sext(b.load(pool.workers), I64))
    with b.if_then(b.icmp_signed("<=", want, const(0)), likely=False):
        b.store_atomic(ir.Constant(I32, 0), pool.busy, "release", 4)
        b.branch(serial)

    # Close the previous job's ticket before its fields change: a worker that read the
    # ticket after that job's last claim (chunk number = its n) and then read the new,
    # larger n would otherwise claim a chunk of no job with a swap that still succeeds,
    # running it with the new job's fields and counting it in the new job's `done`
    # (which then never equals n: a hang). A closed ticket's chunk number (2**32 - 1)
    # is at least every job's n, and any swap from the old value fails.
    b.store_atomic(b.or_(b.shl(old_gen, const(32)), const(_LOW)), pool.ticket, "seq_cst", 8)
    b.store_atomic(job, pool.job_fn, "release", 8)
    b.store_atomic(ctx, pool.job_ctx, "release", 8)
    b.store_atomic(n, pool.job_n, "release", 8)
    b.store_atomic(b.trunc(want, I32), pool.job_workers, "monotonic", 4)
    b.store_atomic(const(0), pool.done, "monotonic", 8)
    gen = b.and_(b.add(old_gen, const(1)), const(_LOW))
    b.store_atomic(b.shl(gen, const(32)), pool.ticket, "release", 8)
    pool.signal(b, pool.wake)
    b.call(claim, [gen, ir.Constant(I1, 0)])
    _wait_done(pool, b, n)
    b.store_atomic(ir.Constant(I32, 0), pool.busy, "release", 4)
    b.ret_void()

    b.position_at_end(serial)
    with for_range(b, n, name="chunk") as i:
        b.call(job, [ctx, i])
    b.ret_void()
    return fn


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _start_workers(pool: _Pool, b: ir.IRBuilder, worker: ir.Function, want: ir.Value,
                   gen: ir.Value) -> None:
    """Start workers (detached) until `want` exist or one cannot be started."""
    create = declare(pool.module, "pthread_create", ir.FunctionType(
        I32, [I64.as_pointer(), VOIDP, worker.type, VOIDP]))
    detach = declare(pool.module, "pthread_detach", ir.FunctionType(I32, [I64]))
    tid = b.alloca(I64, name="tid")
    fn = b.function
    test = fn.append_basic_block("start.test")
    body = fn.append_basic_block("start.body")
    started = fn.append_basic_block("start.ok")
    after = fn.append_basic_block("start.end")
    b.branch(test)
    b.position_at_end(test)
    have = b.load(pool.workers)
    b.cbranch(b.icmp_signed("<", b.sext(have, I64), want), body, after)
    b.position_at_end(body)
    arg = b.inttoptr(b.or_(b.shl(gen, const(32)), b.zext(have, I64)), VOIDP)
    rc = b.call(create, [tid, ir.Constant(VOIDP, None), worker, arg])
    b.cbranch(b.icmp_signed("==", rc, ir.Constant(I32, 0)), started, after)
    b.position_at_end(started)
    b.call(detach, [b.load(tid)])
    b.store(b.add(have, ir.Constant(I32, 1)), pool.workers)
    b.branch(test)
    b.position_at_end(after)


def _wait_done(pool: _Pool, b: ir.IRBuilder, n: ir.Value) -> None:
    """Wait until `done` counts `n` chunks: spin, then sleep on `finished`."""
    spins = b.alloca(I32, name="spins")
    after = b.function.append_basic_block("done.end")
    _wait_until(pool, b, lambda b: b.icmp_unsigned(
        "==", b.load_atomic(pool.done, "acquire", 8), n), pool.finished, spins, after, "done")
    b.position_at_end(after)
