"""tracejit's own stages take time linear (or n log n) in the program: tracing with
autodiff, the IR passes, the fusion plan, lowering to LLVM IR and printing, measured on an
unrolled 8-mass spring chain with its gradient at about 2,000 and 20,000 instructions.
The check is the ratio of the time per instruction (at most 3x), not a wall-clock bound;
LLVM itself is not run here (its time is bounded per function by codegen/segments.py)."""
from __future__ import annotations

import time

import numpy as np
import tracejit as tj
from tracejit.codegen import build, call, fusion
from tracejit.ir.passes import optimize
from tracejit.ir.printer import print_function
from tracejit.notice import gc_paused


def _spring(steps: int):
    @tj.function
    def f(x, v):
        with tj.GradientTape() as t:
            t.watch([x, v])
            p, w = x, v
            for _ in range(steps):
                s = 10.0 * (p[1:] - p[:-1] - 1.0)
                zero = tj.zeros((1,))
                w = w + 0.01 * (tj.concat([s, zero], 0) - tj.concat([zero, s], 0))
                p = p + 0.01 * w
            loss = tj.reduce_sum(p * p)
        return loss, t.gradient(loss, [x, v])
    return f


def _stage_times(steps: int) -> tuple[int, dict[str, float]]:
    x, v = np.arange(8, dtype=np.float32), np.zeros(8, np.float32)
    out: dict[str, float] = {}

    def timed(name, fn, *a):
        with gc_paused():       # as compiling does (tracejit/notice.py)
            t0 = time.process_time()
            r = fn(*a)
            out[name] = time.process_time() - t0
        return r

    conc = timed("trace+autodiff+passes", _spring(steps).get_concrete_function, x, v)
    timed("passes", optimize, conc.trace_fn)
    timed("plan", fusion.make_plan, conc.opt_fn)
    module = timed("plan+lower", build.build_module, conc.opt_fn, call.ABI).module
    timed("print IR", print_function, conc.opt_fn)
    timed("print LLVM IR", str, module)
    return len(conc.trace_fn.instrs), out


def test_stages_are_linear_in_program_size():
    n_small, small = min((_stage_times(60) for _ in range(2)),
                         key=lambda r: sum(r[1].values()))
    n_big, big = _stage_times(600)
    assert 1_800 <= n_small <= 2_500 and 18_000 <= n_big <= 25_000, (n_small, n_big)
    ratios = {k: (big[k] / n_big) / max(small[k] / n_small, 1e-7) for k in big}
    slow = {k: round(r, 2) for k, r in ratios.items() if r > 3.0 and big[k] > 0.05}
    assert not slow, f"time per instruction grew: {slow} ({small} -> {big})"
