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

import contextlib
import gc
import logging
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


class Notice:
    """A timer that logs a notice if compiling `name` takes longer than NOTICE_AFTER.

    One timer thread serves the whole compile: `pause()` (tracing done) leaves it
    running, and it checks the time counted when it goes off (arming itself again for
    what is left, or leaving the next `resume()` to), so tracing then compiling starts
    one thread, not two (a thread start is 0.2 ms, and under load several, of a first
    call that loads its code from the disk cache)."""

    def __init__(self, name: str, stage: str = "tracing", fn: Any = None):
        self.name = name
        self.stage, self.fn = stage, fn
        self.elapsed = 0.0
        self.fired = False
        self._t0: float | None = None
        self._timer: threading.Timer | None = None
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
                if self._timer is None:
                    self._arm(NOTICE_AFTER - self.elapsed)
                return
        self._log()

    def _arm(self, delay: float) -> None:
        """Start the timer (under the lock)."""
        self._timer = threading.Timer(max(0.0, delay), self._due)
        self._timer.daemon = True
        self._timer.start()

    def _due(self) -> None:
        """The timer went off (in its thread): fire if the time counted is up."""
        with self._lock:
            self._timer = None
            if self.fired or self._finished or self._t0 is None:
                return              # done, or paused: the next resume arms a timer
            left = NOTICE_AFTER - self._now()
            if left > 0:            # time was paused meanwhile
                self._arm(left)
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
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
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
