"""Compiling one large Function as several LLVM modules at once, in worker processes.

A plan estimated beyond `PARALLEL_MIN_COST` LLVM instructions (`segments.task_cost`) is
lowered into up to `1 + workers.max_workers()` modules: its first segments (`segments.py`)
go, in order, into part modules 1 to n-1, each a run of segments defined as external
functions there; the last segments, the body and the entry stay in the main module (part
0), which declares the others' segments and calls them. Each part module carries its own
copies of what its segments use (out-of-line math, constants, GEMM wrappers). The caller
sends each part to a worker as soon as it is lowered, while it lowers the rest, then
compiles the main module itself; the object files are linked in one engine
(`engine.bundle`, `engine.load_object`) and stored on disk as one cache entry.

Invariants:
- The number of parts and which segments each holds depend only on the plan and on
  `max_workers()` (never on how many workers are free): the object code of a Function is
  the same from run to run. A part no worker took is compiled by the caller, like the
  main module (byte-identical object code either way: `llvmjob.compile_module`).
- Every worker taken is given back (`workers.release`) whatever happens; a failure in a
  worker is raised in the caller as a `CompileError` naming the Function and the part.
- Small plans are one module, compiled in the calling process as before: no worker is
  started for them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ..ir.errors import CompileError
from . import engine, workers

if TYPE_CHECKING:
    from concurrent.futures import Future

# Plans estimated below this many LLVM instructions are one module. A part has its own
# copy of the out-of-line math and a worker costs about 60 ms of CPU to start: the sin
# chain of 1,000 (estimated 6,100, 0.3 s of LLVM) paid 0.1 s more CPU in all for a lower
# wall time (benchmarks/RESULTS.md, W10 run 3); W3 (2,300) stays one module.
PARALLEL_MIN_COST = 4000
# No part is planned smaller than this.
PART_MIN_COST = 2000
# The main part's share of the work relative to a worker part's: the caller lowers and
# prints every part before compiling its own.
MAIN_SHARE = 0.8


def count(cost: int, n_segments: int) -> int:
    """How many parts a plan of estimated `cost` in `n_segments` segments is compiled in."""
    if cost < PARALLEL_MIN_COST or n_segments < 2:
        return 1
    return max(1, min(1 + workers.max_workers(), n_segments, cost // PART_MIN_COST))


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


class Parts:
    """The parts of one Function's module while it is lowered and compiled (see the module
    docstring). `Lowerer.run` asks `plan` how many to make and calls `submit` with each
    finished part module in turn; `objects` then waits for their object code."""

    def __init__(self, name: str):
        self.name = name
        self.workers: list[workers.Worker] = []
        self.texts: list[str] = []
        self.futures: list[Future[tuple[bytes, list[str]]] | None] = []
        self.slp = True

    def plan(self, cost: int, n_segments: int, slp: bool) -> int:
        """The number of parts to make (1: one module); takes the workers for them."""
        n = count(cost, n_segments)
        self.slp = slp
        if n > 1:
            self.workers = workers.acquire(n - 1)
        return n

    def submit(self, module: ir.Module) -> None:
        """A finished part module: printed and sent to the next free worker, if any."""
        text = str(module)
        k = len(self.texts)
        self.texts.append(text)
        fut = None
        if k < len(self.workers):
            fut = self.workers[k].submit(engine.job_header(slp=self.slp), text.encode())
        self.futures.append(fut)

    def objects(self) -> list[bytes]:
        """The object code of every part sent to `submit`, in order: parts that went to a
        worker as it replies, the others compiled here. Gives the workers back."""
        out = []
        try:
            for k, (text, fut) in enumerate(zip(self.texts, self.futures)):
                if fut is None:
                    out.append(engine.compile_object(text, slp=self.slp))
                    continue
                try:
                    obj, warnings = fut.result()
                except CompileError as e:
                    raise CompileError(f"@{self.name}: compiling part {k + 1} of "
                                       f"{len(self.texts) + 1} of its module in a worker "
                                       f"process failed: {e}") from None
                for w in warnings:
                    engine.log.warning(w)
                out.append(obj)
        finally:
            self.close()
        return out

    def close(self) -> None:
        """Give the workers back (killing any whose job is still running: the caller
        stopped waiting, say because lowering failed)."""
        ws, self.workers = self.workers, []
        for k, w in enumerate(ws):
            fut = self.futures[k] if k < len(self.futures) else None
            workers.release([w], abandon=fut is not None and not fut.done())
