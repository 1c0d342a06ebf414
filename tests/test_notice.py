"""A long compilation is never silent: past NOTICE_AFTER seconds the `tracejit` logger
says at INFO what is being compiled and how big it is, and points an unrolled Python loop
to the structured loops."""
from __future__ import annotations

import logging

import numpy as np
import tracejit as tj
from tracejit import notice


def test_repeated_block_finds_the_loop_body():
    prims = ["add"] * 7 + ["sin", "mul", "add", "slice", "sub"] * 200 + ["reduce_sum"]
    assert notice.repeated_block(prims) == (5, 199)
    assert notice.repeated_block(["sin", "mul", "exp", "log", "tanh", "add"] * 40) is None
    rng = np.random.default_rng(0)
    assert notice.repeated_block(list(rng.choice(["a", "b", "c"], 3000))) is None


def test_slow_compile_logs_size_and_suggests_structured_loops(monkeypatch, caplog):
    monkeypatch.setattr(notice, "NOTICE_AFTER", 0.0)
    monkeypatch.setenv("TRACEJIT_CACHE", "0")   # compiled, not found in the disk cache

    @tj.function
    def f(x):
        for _ in range(80):
            x = tj.sin(x) * 1.001 + x[::-1] - 0.5
        return tj.reduce_sum(x)

    with caplog.at_level(logging.INFO, logger="tracejit"):
        f(np.ones(4, np.float32))
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert "f: compiling to native code" in text and "instructions" in text
    assert "repeats" in text and "tj.fori_loop" in text and "tj.while_loop" in text
    assert "traced and compiled in" in text


def test_fast_compile_is_silent(caplog):
    @tj.function
    def g(x):
        return x * 2.0

    with caplog.at_level(logging.INFO, logger="tracejit"):
        g(np.ones(3, np.float32))
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


def test_gc_paused_nests_and_restores():
    import gc
    assert gc.isenabled()
    with notice.gc_paused():
        assert not gc.isenabled()
        with notice.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with notice.gc_paused():
            pass
        assert not gc.isenabled()      # was off before: stays off
    finally:
        gc.enable()


def test_one_watcher_thread_serves_every_compile(monkeypatch):
    started = []
    start = notice._thread.start_new_thread
    monkeypatch.setattr(notice._thread, "start_new_thread",
                        lambda *a: started.append(a) or start(*a))
    monkeypatch.setattr(notice, "_WATCHER", notice._Watcher())

    for k in range(3):
        @tj.function
        def h(x, scale=float(k + 3)):
            return tj.reduce_sum(tj.exp(x) * scale)
        h(np.arange(5, dtype=np.float32))
    assert len(started) == 1 and not notice._WATCHER._due     # none left watched


def test_paused_time_does_not_count(monkeypatch, caplog):
    import time
    monkeypatch.setattr(notice, "NOTICE_AFTER", 0.15)
    with caplog.at_level(logging.INFO, logger="tracejit"):
        n = notice.Notice("slow")
        n.pause()
        time.sleep(0.3)                 # the timer goes off while paused: nothing yet
        assert not n.fired and n.elapsed < 0.15
        n.resume("compiling to native code")
        deadline = time.monotonic() + 10
        while not n.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        n.done()
    assert n.fired and n.elapsed >= 0.15
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "slow: compiling to native code" in text and "traced and compiled in" in text
