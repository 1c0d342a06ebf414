"""Around a compilation: notices for long ones, and the cyclic garbage collector paused.

A first call that traces and compiles for more than `NOTICE_AFTER` seconds is never
silent.

`Notice(name)` starts a timer; when it fires, the `tracejit` logger says at INFO what is
being done (tracing, or compiling to native code), for how long, and how big the program
is; where the program repeats one block of instructions many times (a Python loop that
tracing unrolled), it suggests the structured loops that compile the body once. After a
notice fired, `done()` logs the total time.

`gc_paused()` turns Python's cyclic garbage collector off while tracing and compiling
(tracing and lowering allocate millions of objects that all stay alive until the end, so
each full collection walks them all again: half the time of tracing and lowering a
34,000-instruction program went to collections). Nested and concurrent uses count; the
collector is re-enabled, if it was enabled before, when the last one leaves.

Invariants: the timer is a daemon thread and never touches the program being compiled
beyond reading its instruction list; `pause()` keeps the elapsed time, so tracing and
compiling together count towards one threshold; nothing is logged for fast compiles.
"""
from __future__ import annotations

import _thread
import contextlib
import gc
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("tracejit")

NOTICE_AFTER = 2.0
# A block of instructions counts as an unrolled loop body from this many repeats on.
MIN_REPEATS = 50
_WINDOW = 6


_gc_lock = threading.Lock()
_gc_state = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector disabled (see the module
    docstring); reference counting still frees everything that is not in a cycle."""
    with _gc_lock:
        if _gc_state["depth"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["depth"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["depth"] -= 1
            if _gc_state["depth"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def repeated_block(prims: list[str]) -> tuple[int, int] | None:
    """(block length, repeats) of the most repeated block of instructions in `prims`
    (opcode names in program order), when some run of `_WINDOW` opcodes occurs at least
    `MIN_REPEATS` times; the block length is the usual distance between occurrences.
    Linear in `len(prims)`.

    Example: `repeated_block(["sin", "mul"] * 500) == (2, 497)` (about)."""
    if len(prims) < _WINDOW * MIN_REPEATS:
        return None
    windows = [tuple(prims[i:i + _WINDOW]) for i in range(len(prims) - _WINDOW + 1)]
    top, count = Counter(windows).most_common(1)[0]
    if count < MIN_REPEATS:
        return None
    where = [i for i, w in enumerate(windows) if w == top]
    gaps = Counter(b - a for a, b in zip(where, where[1:]))
    period = gaps.most_common(1)[0][0]
    return period, count


def describe(fn: Any) -> str:
    """Size of a Function, and the unrolled-loop hint if it applies."""
    n = len(fn.instrs)
    text = f"{n:,} instructions"
    rep = repeated_block([ins.prim for ins in fn.instrs])
    if rep is not None:
        period, count = rep
        text += (f"; a block of {period} instructions repeats {count:,} times, as a Python "
                 "loop unrolled by tracing does: tj.fori_loop or tj.while_loop trace the "
                 "body once and compile it as one loop")
    return text


class _Watcher:
    """One daemon thread that fires the notices of the whole process when they are due
    (a thread per compile cost 0.2 ms of a first call that loads its code from the
    disk cache, and several under load: `threading.Thread.start` waits until the new
    thread runs). Started at the first notice, without waiting for it to run."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: dict[int, tuple[float, Notice]] = {}     # id -> (when, notice)
        self._running = False

    def watch(self, n: Notice, delay: float) -> None:
        """Call `n._due()` in `delay` seconds (unless `forget(n)` comes first)."""
        with self._cond:
            self._due[id(n)] = (time.monotonic() + max(0.0, delay), n)
            if not self._running:
                self._running = True
                _thread.start_new_thread(self._run, ())
            else:
                self._cond.notify()

    def forget(self, n: Notice) -> None:
        with self._cond:
            self._due.pop(id(n), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = [n for when, n in self._due.values() if when <= now]
                    if due:
                        for n in due:
                            del self._due[id(n)]
                        break
                    soonest = min((when for when, _ in self._due.values()), default=None)
                    self._cond.wait(None if soonest is None else soonest - now)
            for n in due:
                try:
                    n._due()
                except Exception:       # a notice must never take the watcher down
                    log.debug("notice of %s failed", n.name, exc_info=True)


_WATCHER = _Watcher()


def _after_fork_in_child() -> None:
    global _WATCHER
    _WATCHER = _Watcher()       # the parent's thread does not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Notice:
    """A timer that logs a notice if compiling `name` takes longer than NOTICE_AFTER.

    The process's one watcher thread (`_Watcher`) serves every notice; `pause()`
    (tracing done) leaves the notice watched, and it checks the time counted when it is
    due (watched again for what is left, or left to the next `resume()`)."""

    def __init__(self, name: str, stage: str = "tracing", fn: Any = None):
        self.name = name
        self.stage, self.fn = stage, fn
        self.elapsed = 0.0
        self.fired = False
        self._t0: float | None = None
        self._armed = False
        self._lock = threading.Lock()
        self._finished = False
        self.resume(stage, fn)

    def resume(self, stage: str, fn: Any = None) -> None:
        """Count time again, now doing `stage` (on Function `fn`, if given)."""
        with self._lock:
            self.stage, self.fn = stage, fn
            self._t0 = time.perf_counter()
            self._finished = False
            if not self.fired and NOTICE_AFTER - self.elapsed <= 0:
                self.fired = True
            elif not self.fired:
                if not self._armed:
                    self._armed = True
                    _WATCHER.watch(self, NOTICE_AFTER - self.elapsed)
                return
        self._log()

    def _due(self) -> None:
        """Called by the watcher: fire if the time counted is up."""
        with self._lock:
            self._armed = False
            if self.fired or self._finished or self._t0 is None:
                return              # done, or paused: the next resume watches again
            left = NOTICE_AFTER - self._now()
            if left > 0:            # time was paused meanwhile
                self._armed = True
                _WATCHER.watch(self, left)
                return
            self.fired = True
        self._log()

    def pause(self) -> None:
        with self._lock:
            if self._t0 is not None:
                self.elapsed += time.perf_counter() - self._t0
                self._t0 = None

    def done(self) -> None:
        with self._lock:
            if self._t0 is not None:
                self.elapsed += time.perf_counter() - self._t0
                self._t0 = None
            self._finished = True
            if self._armed:
                self._armed = False
                _WATCHER.forget(self)
        if self.fired:
            log.info("%s: traced and compiled in %.1f s", self.name, self.elapsed)

    def _now(self) -> float:
        return self.elapsed + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def _log(self) -> None:
        try:
            size = f": {describe(self.fn)}" if self.fn is not None else ""
        except Exception:   # the Function is being built: its size is not available yet
            size = ""
        log.info("%s: %s (%.1f s so far)%s", self.name, self.stage, self._now(), size)
