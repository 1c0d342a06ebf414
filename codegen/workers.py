"""Compile worker processes: LLVM jobs (`llvmjob`) run in child processes, so that the
parts of a large module (`parts.py`) compile on several cores at once.

llvmlite runs every call into LLVM under one process-wide lock (`llvmlite.binding.ffi`),
so two threads optimizing two modules take turns (`benchmarks/llvm_threads.py`) unless
one passes the lock through a private attribute (`llvmthreads.py`, used for medium
modules, whose one part does not pay for a process start). Processes need no private
API and give true parallelism; a worker starts in about 60 ms, while the caller is still
lowering.

Invariants:
- A worker runs `llvmjob.main` under this Python with this process's `sys.path`, and
  imports only llvmlite (never tracejit, never the user's `__main__`): starting one runs
  no user code.
- A worker belongs to one caller at a time, from `acquire` to `release`, and serves one
  job at a time; `acquire` never waits for another caller's workers (it starts new ones
  while fewer than `max_workers()` live, else returns fewer).
- A worker that failed (died, or a reply that could not be read) is killed, never reused.
  One idle for `IDLE_SECONDS` is closed; all idle ones are closed at exit, and every
  worker sees the end of its input and exits when this process ends. A child made by
  `os.fork` forgets its parent's workers (and closes its copies of their pipes).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

from ..ir import settings
from ..ir.caches import on_clear
from ..ir.errors import CompileError
from . import cpus, llvmjob

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger("tracejit")

Reply = tuple[bytes, list[str], float]      # a job's object code, warnings, CPU seconds

IDLE_SECONDS = 30.0
# Loads the worker module by its path: `python -c` with an import of `tracejit...` would
# run tracejit's package __init__ (hundreds of milliseconds), and running the file as a
# script would put its folder first on sys.path.
_BOOT = ("import importlib.util, json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "s = importlib.util.spec_from_file_location('tracejit_llvmjob', sys.argv[2]); "
         "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); m.main()")


def max_workers() -> int:
    """How many worker processes may run at once: `TRACEJIT_COMPILE_WORKERS` if set (0
    compiles everything in the calling process), else one less than the CPUs this
    process may run on, at most 3."""
    n = settings.integer("TRACEJIT_COMPILE_WORKERS")
    if n is not None:
        return n
    return max(0, min(3, cpus.available() - 1))


def core_idle() -> bool:
    """Whether a CPU of this process's looks idle: fewer threads other than the caller
    are running now than the CPUs it may run on (`running_now`), or, where that count
    is not available, the 1-minute load average is below those CPUs less a half. A new
    worker's start (about 60 ms of CPU) only pays for a short job when it runs beside
    the caller, not in turn with it, and so does a compile thread. (The load average
    alone still counted a benchmark's previous, finished multi-threaded rows for a
    minute.)"""
    running = running_now()
    if running is not None:
        return running - 1 < cpus.available()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return True
    return load < cpus.available() - 0.5


def running_now() -> int | None:
    """The threads running or ready to run on the machine now, the caller included
    (Linux's `/proc/loadavg`), or None where that is not available."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


class Worker:
    """One worker process (see the module docstring). `submit` sends a job; the reply
    arrives in the returned future as (object code, warnings, CPU seconds)."""

    def __init__(self) -> None:
        import subprocess      # here: most processes never start a worker
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, json.dumps(sys.path), llvmjob.__file__],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            close_fds=True)
        self.idle_since = time.monotonic()
        self.broken = False

    def submit(self, header: dict[str, Any], payload: bytes
               ) -> Future[Reply]:
        """Send one job (`llvmjob.serve`'s request) on a thread of its own (a large
        request fills the pipe before the worker reads it) and return its future: the
        object code, the warnings and the CPU seconds the job took in the worker. An
        LLVM error sets the future's exception to a `CompileError` and leaves the worker
        usable; a worker that died or garbled its reply is marked broken."""
        from concurrent.futures import Future
        fut: Future[Reply] = Future()

        def run() -> None:
            try:
                assert self.proc.stdin is not None and self.proc.stdout is not None
                llvmjob.write_frame(self.proc.stdin, header, payload)
                reply = llvmjob.read_frame(self.proc.stdout)
            except (OSError, ValueError):
                reply = None
            if reply is None:
                self.broken = True
                fut.set_exception(CompileError(self._death()))
            elif reply[0].get("ok"):
                fut.set_result((reply[1], list(reply[0].get("warnings", [])),
                                float(reply[0].get("cpu", 0.0))))
            else:
                fut.set_exception(CompileError(f"LLVM: {reply[0].get('error')}"))

        threading.Thread(target=run, name="tracejit-compile-io", daemon=True).start()
        return fut

    def _death(self) -> str:
        """Why the worker gave no reply: its exit status and the end of its stderr."""
        code = self._wait(5)
        how = (f"killed by {signal.Signals(-code).name}" if code < 0
               else f"exit status {code}")
        try:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 2000))
            tail = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            tail = ""
        return (f"the compile worker process {self.proc.pid} died ({how})"
                + (f": {tail}" if tail else ""))

    def _wait(self, timeout: float) -> int:
        """The worker's exit status, once it exits; killed if it has not within `timeout`
        seconds."""
        import subprocess
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close_pipes(self) -> None:
        """Close this process's ends of the worker's input and output: the worker sees
        the end of its input and exits (unless another process still holds them)."""
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def close(self, wait: bool = True) -> None:
        """End the worker (end of its input; killed if it does not exit within a second)."""
        self.close_pipes()
        if wait:
            self._wait(1)
        self._stderr.close()

    def kill(self) -> None:
        """End the worker now (a job may be running)."""
        try:
            self.proc.kill()
        except OSError:
            pass
        self.close()


_lock = threading.Lock()
_idle: list[Worker] = []
_live: list[int] = [0]          # workers alive: idle plus checked out
_reaper: list[threading.Thread] = []


def acquire(n: int, start: bool = True) -> list[Worker]:
    """Up to `n` workers for the caller alone (idle ones first, then, if `start`, new ones
    while fewer than `max_workers()` live); fewer, or none, when the limit is reached or a
    process cannot be started. Give them back with `release`."""
    cap = max_workers()
    out: list[Worker] = []
    with _lock:
        while _idle and len(out) < n:
            out.append(_idle.pop())
        new = max(0, min(n - len(out), cap - _live[0])) if start else 0
        _live[0] += new
    for k in range(new):
        try:
            out.append(Worker())
        except OSError as e:
            log.debug("cannot start a compile worker: %s", e)
            with _lock:
                _live[0] -= new - k
            break
    return out


def release(workers: list[Worker], abandon: bool = False) -> None:
    """Give back workers `acquire` returned. Broken ones, and all of them if `abandon`
    (the caller stopped waiting for their jobs), are killed; the others wait for the
    next caller (at most `IDLE_SECONDS`)."""
    keep = []
    for w in workers:
        if w.broken or abandon:
            w.kill()
        else:
            w.idle_since = time.monotonic()
            keep.append(w)
    with _lock:
        _live[0] -= len(workers) - len(keep)
        _idle.extend(keep)
        if keep and not (_reaper and _reaper[0].is_alive()):
            _reaper[:] = [threading.Thread(target=_reap, name="tracejit-compile-reaper",
                                           daemon=True)]
            _reaper[0].start()


def _reap() -> None:
    """Close workers idle for `IDLE_SECONDS`; end when none is idle."""
    while True:
        time.sleep(IDLE_SECONDS / 4)
        now = time.monotonic()
        with _lock:
            old = [w for w in _idle if now - w.idle_since >= IDLE_SECONDS]
            _idle[:] = [w for w in _idle if w not in old]
            _live[0] -= len(old)
            done = not _idle
        for w in old:
            w.close()
        if done:
            return


def shutdown() -> None:
    """Close every idle worker and wait for it to exit (at exit, by `tj.clear_caches()`,
    and for a benchmark, which then reads the workers' CPU time from
    `resource.RUSAGE_CHILDREN`)."""
    with _lock:
        old, _idle[:] = list(_idle), []
        _live[0] -= len(old)
    for w in old:
        w.close()


def _forget_after_fork() -> None:
    """In a forked child: the workers are the parent's. Close the child's copies of their
    pipes (so they still see the end of input when the parent ends) and forget them."""
    for w in _idle:
        w.close_pipes()
    _idle.clear()
    _live[0] = 0
    _reaper.clear()


atexit.register(shutdown)
on_clear("compile workers: idle processes", shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
