"""Retrace diagnostics of compiled functions: when tracing too often warns.

The warning follows TensorFlow 2.21's rule (FREQUENT_TRACING_WARNING_* in its
polymorphic_function.py): a trace warns when the traces of the last RETRACE_WINDOW calls,
with the trace before them, number RETRACE_WARN or more (the first trace counts), at most
RETRACE_MAX_WARNINGS times. Calls are counted per Python function code, so a compiled
function created anew in a loop is caught too.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from .ir.caches import on_clear

RETRACE_WARN = 5
RETRACE_WINDOW = 10
RETRACE_MAX_WARNINGS = 2
KEYS_KEPT = 8  # recent call signatures kept (as text) to say why a call retraced


class RetraceDetector:
    """Counts calls and remembers the call numbers of recent traces."""

    __slots__ = ("_calls", "native", "traces", "warned", "__weakref__")

    def __init__(self) -> None:
        self._calls = 0
        # Calls the native dispatcher made (it increments this cell, never `_calls`).
        self.native = ctypes.c_int64(0)
        self.traces: deque[int] = deque(maxlen=RETRACE_WINDOW + 1)
        self.warned = 0

    @property
    def calls(self) -> int:
        """Calls so far, from Python and from the native dispatcher."""
        return self._calls + self.native.value

    @calls.setter
    def calls(self, value: int) -> None:
        self._calls = value - self.native.value

    def traced(self) -> tuple[int, int] | None:
        """Note a trace in the current call; (traces, calls) when a warning is due."""
        c = self.calls
        self.traces.append(c)
        recent = [t for t in self.traces if t > c - RETRACE_WINDOW]
        older = [t for t in self.traces if t <= c - RETRACE_WINDOW]
        kept = older[-1:] + recent
        if len(kept) < RETRACE_WARN or self.warned >= RETRACE_MAX_WARNINGS:
            return None
        self.warned += 1
        return len(kept), c - kept[0] + 1



_DETECTORS: weakref.WeakKeyDictionary[Any, RetraceDetector] = weakref.WeakKeyDictionary()
_DETECTORS_LOCK = threading.Lock()


def _clear_detectors() -> None:
    with _DETECTORS_LOCK:
        _DETECTORS.clear()


on_clear("compiled functions: retrace counts", _clear_detectors)


def detector_for(fn: Callable[..., Any]) -> RetraceDetector:
    """The detector shared by every compiled function of `fn`'s Python code."""
    target: Any = fn
    while hasattr(target, "__wrapped__"):
        target = target.__wrapped__
    target = getattr(target, "__func__", target)
    target = getattr(target, "__code__", target)
    with _DETECTORS_LOCK:
        try:
            det = _DETECTORS.get(target)
            if det is None:
                det = _DETECTORS[target] = RetraceDetector()
            return det
        except TypeError:  # neither hashable nor weakly referenceable: its own counter
            return RetraceDetector()
