"""Back-to-back pool jobs whose chunk count alternates between a small and a large one:
`python -m tests.codegen.pool_stress THREADS SECONDS` prints `ok <rounds>` or the first
error, `[wrong ctx, i >= n, chunk not run, chunk run twice]` counts (a hang is an error
too: the caller gives it a timeout). A worker that read the ticket just after a job's
last claim used to claim a chunk of the next, larger job with the old ticket
(`codegen/threads.py`)."""
from __future__ import annotations

import ctypes
import sys
import time

import numpy as np
from llvmlite import ir

from tracejit.codegen import engine, runtime
from tracejit.codegen.loops import for_range
from tracejit.codegen.threads import CHUNK_FN

I64 = ir.IntType(64)


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _chunk(m: ir.Module, tag: int) -> ir.Function:
    """chunk(ctx, i), ctx = i64[4] {tag, n, counts*, errors*}: counts[i] += 1, or an
    error count when its ctx is another job's or i >= n."""
    f = ir.Function(m, CHUNK_FN, f"chunk{tag}")
    b = ir.IRBuilder(f.append_basic_block())
    ctx, i = b.bitcast(f.args[0], I64.as_pointer()), f.args[1]
    n = b.load(b.gep(ctx, [_c(1)]))
    counts = b.inttoptr(b.load(b.gep(ctx, [_c(2)])), I64.as_pointer())
    errs = b.inttoptr(b.load(b.gep(ctx, [_c(3)])), I64.as_pointer())
    with b.if_then(b.icmp_signed("!=", b.load(ctx), _c(tag))):
        b.atomic_rmw("add", errs, _c(1), "monotonic")
    oob = b.icmp_unsigned(">=", i, n)
    with b.if_else(oob) as (then, other):
        with then:
            b.atomic_rmw("add", b.gep(errs, [_c(1)]), _c(1), "monotonic")
        with other:
            b.atomic_rmw("add", b.gep(counts, [i]), _c(1), "monotonic")
    b.ret_void()
    return f


def build() -> tuple[ctypes._CFuncPtr, engine.JitModule]:
    """Native `stress(rounds, counts, errors, n_small, n_big)`: per round, a job of
    n_small chunks then one of n_big, each followed by a check that every chunk ran
    exactly once (errors[2]: not run, errors[3]: run twice)."""
    m = ir.Module("pool_stress")
    info = engine.host_info()
    m.triple, m.data_layout = info["triple"], info["data_layout"]
    small, big = _chunk(m, 1), _chunk(m, 2)
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [I64, I64.as_pointer(),
                                                      I64.as_pointer(), I64, I64]), "stress")
    rounds, counts, errs, n_small, n_big = fn.args
    b = ir.IRBuilder(fn.append_basic_block())
    pfor = runtime.declare_parallel_for(m)
    jobs = []
    for tag, chunk, n in ((1, small, n_small), (2, big, n_big)):
        ctx = b.alloca(I64, _c(4))
        for k, v in enumerate((_c(tag), n, b.ptrtoint(counts, I64), b.ptrtoint(errs, I64))):
            b.store(v, b.gep(ctx, [_c(k)]))
        jobs.append((ctx, chunk, n))
    with for_range(b, rounds):
        for ctx, chunk, n in jobs:
            b.call(pfor, [chunk, b.bitcast(ctx, ir.IntType(8).as_pointer()), n])
            with for_range(b, n) as k:
                p = b.gep(counts, [k])
                v = b.load(p)
                for slot, bad in ((2, b.icmp_signed("<", v, _c(1))),
                                  (3, b.icmp_signed(">", v, _c(1)))):
                    with b.if_then(bad):
                        e = b.gep(errs, [_c(slot)])
                        b.store(b.add(b.load(e), _c(1)), e)
                b.store(_c(0), p)
    b.ret_void()
    text = str(m)
    runtime.ensure(text)
    jm = engine.jit(text)
    proto = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_int64, ctypes.c_int64)
    return proto(jm.address("stress")), jm


def main() -> None:
    threads, seconds = int(sys.argv[1]), float(sys.argv[2])
    stress, _jm = build()
    runtime.set_pool_threads(threads)
    counts, errs = np.zeros(64, np.int64), np.zeros(4, np.int64)
    t0, total = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        stress(20_000, counts.ctypes.data, errs.ctypes.data, 2, 9)
        total += 20_000
        if errs.any():
            print(f"error after {total} rounds: {errs.tolist()}", flush=True)
            return
    print(f"ok {total}", flush=True)


if __name__ == "__main__":
    main()
