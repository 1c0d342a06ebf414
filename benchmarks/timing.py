"""Timing helpers shared by the side-by-side benchmark scripts (`bench.py` has its own
sampler, with GC control and budgets, for the W1-W6 table)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def seconds_per_call(fn: Callable[[], Any], min_seconds: float,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of `fn`, from back-to-back calls filling `min_seconds` of `clock`
    (`time.process_time`: the CPU time of every thread of this process, which a loaded
    machine disturbs far less than the wall clock, and which sums the threads' times)."""
    k, t0 = 0, clock()
    while True:
        fn()
        k += 1
        dt = clock() - t0
        if dt >= min_seconds:
            return dt / k


def calibrate(fn: Callable[[], Any], target_s: float = 2e-3, cap: int = 1 << 20) -> int:
    """The number of back-to-back calls (a power of two, at most `cap`) that lasts at least
    `target_s`."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= target_s or n >= cap:
            return n
        n *= 2
