"""Compiling one large Function as several LLVM modules at once, in worker processes (or,
for a medium one, on a thread of this process).

A plan estimated beyond `PARALLEL_MIN_COST` LLVM instructions (`segments.task_cost`) is
lowered into several modules of about `PART_COST` estimated instructions each (at least
two): its segments (`segments.py`) go, in order, into part modules 1 to n-1, each a run of
segments defined there; the last segments, the body and the entry stay in the main module
(part 0), which declares the others' segments (or their entries) and calls them. Each
part module carries its own copies of what its segments use (out-of-line math,
constants, GEMM wrappers). Each finished part goes into a queue as soon as it is lowered:
the compile workers take parts from its front while the caller lowers the rest; the
caller then compiles the main module itself and takes parts from the back until none is
left, and waits for the workers' last ones. The object files are linked in one engine
(`engine.bundle`, `engine.load_object`) and stored on disk as one cache entry.

A medium plan (from `THREAD_MIN_COST` to `PARALLEL_MIN_COST`) is two modules, cut by
`segments.split` so that each is about half the work: the first is compiled on a thread
of this process (`llvmthreads`, which passes llvmlite's process-wide lock) while the
caller compiles the main module; no process is started for it.

Parts of a bounded size keep LLVM's work per module bounded (its time per instruction
grew by about 10% from modules of 4 segments to modules of 16) and the queue keeps the
caller and the workers busy until the end, however the cost is spread over the program.

Invariants:
- The number of parts and which segments each holds depend only on the plan and on
  whether `max_workers()` is 0 (never on how many workers are free or how fast they
  are): the object code of a Function is the same from run to run. A part compiled by
  the caller is byte-identical to a worker's (`llvmjob.compile_module`).
- Each part is compiled exactly once, by whichever of the caller and the workers takes
  it from the queue first.
- Every worker taken is given back (`workers.release`) whatever happens; a failure in a
  worker is raised in the caller as a `CompileError` naming the Function and the part.
- Small plans are one module, compiled in the calling process as before: no worker is
  started for them. Medium ones start no process either; when llvmlite's lock cannot
  be passed (`llvmthreads.gate()` is False) the caller compiles both parts.
"""
from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llvmlite import ir

from ..ir.errors import CompileError
from . import engine, irtext, llvmthreads, workers

if TYPE_CHECKING:
    from concurrent.futures import Future

# What compiles a part: a worker process, or a thread of this process.
AnyWorker = workers.Worker | llvmthreads.ThreadWorker

# Plans estimated below this many LLVM instructions are one module. A part has its own
# copy of the out-of-line math and a worker costs about 60 ms of CPU to start: the sin
# chain of 1,000 (estimated 6,100, 0.3 s of LLVM) paid 0.1 s more CPU in all for a lower
# wall time (benchmarks/RESULTS.md, W10 run 3); W3 (2,300) stays one module.
PARALLEL_MIN_COST = 4000
# From this estimated size up, a plan of two or more segments is compiled in two parts,
# the first on a thread of this process (`llvmthreads`: no process to start): W3's
# module (estimated 2,300; 85-95 ms of LLVM, its first segment about 55) then takes
# about 60 ms of wall time on two cores.
THREAD_MIN_COST = 1500
# The estimated size of a part: about 5 segments, 0.5-1 s of LLVM. Each part costs a
# fixed 0.05-0.1 s (its copy of the out-of-line math, a context, a job); LLVM's time per
# instruction grows somewhat with the module beyond about 4 segments.
PART_COST = 10000
# No part is planned smaller than this.
PART_MIN_COST = 2000
# The main part's share of the work relative to a worker part's: the caller lowers and
# prints every part before compiling its own.
MAIN_SHARE = 0.8


def count(cost: int, n_segments: int) -> int:
    """How many parts a plan of estimated `cost` in `n_segments` segments is compiled in:
    one when it is small or no worker may run, else at least two, about `PART_COST`
    each."""
    if n_segments < 2 or workers.max_workers() == 0:
        return 1
    if cost < PARALLEL_MIN_COST:
        return 2 if cost >= THREAD_MIN_COST else 1
    return max(2, min(n_segments, cost // PART_MIN_COST, round(cost / PART_COST)))


def assign(costs: list[int], n: int) -> list[int]:
    """The part of each segment (of estimated `costs`, in order): parts 1 to n-1 take the
    first segments in turn, each about the same cost, and part 0 (the main module) the
    rest, about `MAIN_SHARE` of a worker part. Parts that would be empty are dropped (so
    the numbers used are 1..m-1 and 0, in that order, with m <= n).

    Example: `assign([10, 10, 10, 10, 10], 2)` is `[1, 1, 1, 0, 0]`."""
    total = sum(costs)
    unit = total / (n - 1 + MAIN_SHARE)
    raw = []
    acc = 0.0
    for c in costs:
        mid = acc + c / 2
        acc += c
        p = int(mid // unit) + 1
        raw.append(0 if p >= n else p)
    used = sorted({p for p in raw if p})
    renumber = {p: k + 1 for k, p in enumerate(used)}
    return [renumber.get(p, 0) for p in raw]


@dataclass
class Stats:
    """Who compiled the parts of the last module compiled in parts (`last_stats`): how
    many each side compiled and the CPU seconds it spent in LLVM on them (the caller's
    from its own thread's clock, the workers' as they report it), and how long the caller
    then waited for the workers. For benchmarks: an uneven split shows here."""

    caller_parts: int = 0
    caller_cpu: float = 0.0
    worker_parts: int = 0
    worker_cpu: float = 0.0
    caller_wait: float = 0.0    # seconds the caller waited for workers after its last part


last_stats = Stats()


class Parts:
    """The parts of one Function's module while it is lowered and compiled (see the module
    docstring). `Lowerer.run` asks `plan` how many to make and calls `submit` with each
    finished part module in turn; `objects` then compiles the main module and what no
    worker took, and waits for the rest."""

    def __init__(self, name: str):
        self.name = name
        self.workers: list[AnyWorker] = []
        self.texts: list[str] = []
        self.slp = True
        self.stats = Stats()
        self._header: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._queue: list[int] = []             # parts no one has taken yet, in order
        self._idle: list[AnyWorker] = []   # workers without a job
        self._futures: dict[int, Future[workers.Reply]] = {}
        self._done: dict[int, bytes] = {}       # compiled by the caller
        self._jobs: dict[int, Future[workers.Reply]] = {}   # each worker's last
        self._closed = False

    def plan(self, cost: int, n_segments: int, slp: bool) -> int:
        """The number of parts to make (1: one module); takes the workers for them."""
        n = count(cost, n_segments)
        self.slp = slp
        if n > 1:
            # Made here, once: `engine.job_header` takes the LLVM lock, which the caller
            # holds while it compiles a part. Made in `_dispatch`, a worker's reply waited
            # for the caller's part to finish before the worker got its next one (at
            # 10,000 ops with gradient the worker compiled 6 of 19 parts).
            self._header = engine.job_header(slp=slp)
            if cost < PARALLEL_MIN_COST:
                self.workers = [llvmthreads.ThreadWorker()] if llvmthreads.gate() else []
            else:
                self.workers = list(workers.acquire(n - 1))
            self._idle = list(self.workers)
        return n

    def submit(self, module: ir.Module) -> None:
        """A finished part module: printed and queued; an idle worker takes it at once."""
        text = irtext.module_text(module)
        with self._lock:
            self.texts.append(text)
            self._queue.append(len(self.texts) - 1)
        self._dispatch()

    def _dispatch(self) -> None:
        """Give queued parts (from the front) to idle workers. Takes no lock the caller
        holds while it compiles (a worker's reply calls this)."""
        from concurrent.futures import Future
        while True:
            with self._lock:
                if self._closed or not self._queue or not self._idle:
                    return
                k, w = self._queue.pop(0), self._idle.pop()
                fut: Future[workers.Reply] = Future()
                self._futures[k] = fut
                self._jobs[id(w)] = fut
            job = w.submit(self._header, self.texts[k].encode())
            job.add_done_callback(functools.partial(self._finished, w, fut=fut))

    def _finished(self, w: AnyWorker, job: Future[workers.Reply], *,
                  fut: Future[workers.Reply]) -> None:
        """A worker's job ended: its part's result is set, and the worker takes the next
        queued part, unless it broke."""
        if not w.broken:
            with self._lock:
                self._idle.append(w)
        exc = job.exception()
        if exc is None:
            fut.set_result(job.result())
        else:
            fut.set_exception(exc)
        self._dispatch()

    def _take_last(self) -> int | None:
        with self._lock:
            return self._queue.pop() if self._queue else None

    def _compile_here(self, text: str, slp: bool) -> bytes:
        cpu = time.thread_time()
        obj = engine.compile_object(text, slp=slp)
        self.stats.caller_parts += 1
        self.stats.caller_cpu += time.thread_time() - cpu
        return obj

    def objects(self, main: str, slp: bool) -> list[bytes]:
        """The object code of the main module `main` (compiled here, with the SLP
        vectorizer if `slp`) and then of every part sent to `submit`, in order: the
        caller compiles queued parts from the back while the workers take them from the
        front, then waits for the workers' replies. Gives the workers back."""
        global last_stats
        try:
            out = [self._compile_here(main, slp)]
            while (k := self._take_last()) is not None:
                self._done[k] = self._compile_here(self.texts[k], self.slp)
            for k in range(len(self.texts)):
                if k in self._done:
                    out.append(self._done[k])
                    continue
                try:
                    waited = time.perf_counter()
                    obj, warnings, cpu = self._futures[k].result()
                    self.stats.caller_wait += time.perf_counter() - waited
                except CompileError as e:
                    raise CompileError(f"@{self.name}: compiling part {k + 1} of "
                                       f"{len(self.texts) + 1} of its module in a worker "
                                       f"process failed: {e}") from None
                for w in warnings:
                    engine.log.warning(w)
                self.stats.worker_parts += 1
                self.stats.worker_cpu += cpu
                out.append(obj)
        finally:
            self.close()
        if self.texts:
            last_stats = self.stats
        return out

    def close(self) -> None:
        """Give the workers back (killing any whose job is still running: the caller
        stopped waiting, say because lowering failed; a thread's job runs to its end and
        is dropped). No part is dispatched after."""
        with self._lock:
            self._closed = True
            ws, self.workers = self.workers, []
            self._idle = []
            busy = {id(w) for w in ws if id(w) in self._jobs and not self._jobs[id(w)].done()}
        for w in ws:
            if not isinstance(w, llvmthreads.ThreadWorker):
                workers.release([w], abandon=id(w) in busy)
