"""Can two threads run LLVM's O3 pipeline at once through llvmlite? (issue 13, item 5)

Builds the LLVM IR of one W10 program (`compile_bench.py`'s rows; default the sin chain
of 300 with gradient), then optimizes and compiles `--copies` copies of it, each in its
own context with its own target machine and pass builder:

- `seq`: one after the other;
- `threads`: one thread per copy, through llvmlite's API;
- `raw`: one thread per copy, the O3 call made on the C function itself
  (`llvmlite.binding.ffi.lib._lib`, a private attribute), past the process-wide lock in
  which llvmlite's wrapper runs every call.

It prints, per copy, the span of its O3 call (start and end in seconds from the first
start) and the CPU time of its thread, then the wall and process CPU time of the whole
mode and a digest of each object file (all copies and modes must agree). Spans that do not
overlap mean the calls ran one after the other.

    .venv/bin/python benchmarks/llvm_threads.py [--row "sin-grad 300"] [--copies 2]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
from typing import Any

os.environ.setdefault("TRACEJIT_CACHE", "0")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def module_text(row: str) -> str:
    """The unoptimized LLVM IR of a compile_bench row."""
    import compile_bench
    import tracejit.codegen as cg
    from tracejit.codegen.build import build_module
    from tracejit.codegen.call import ABI

    kind, n = row.split()
    f, args = compile_bench.build("tracejit", kind, int(n))
    captured: dict[str, Any] = {}

    class Captured(Exception):
        pass

    def capture(fn: Any, abi: Any, *a: Any, **k: Any) -> Any:
        captured["fn"] = fn
        raise Captured

    cg.build_module = capture  # type: ignore[assignment]
    try:
        f(*args)
    except Captured:
        pass
    finally:
        cg.build_module = build_module
    return str(build_module(captured["fn"], ABI)[0])


def compile_copy(text: str, mode: str, out: list[Any], k: int) -> None:
    import llvmlite.binding as llvm
    from llvmlite.binding import ffi
    from tracejit.codegen import engine

    ctx = llvm.create_context()
    mod = llvm.parse_assembly(text, context=ctx)
    tm = engine._new_target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    t0, c0 = time.perf_counter(), time.thread_time()
    if mode == "raw":
        ffi.lib._lib.LLVMPY_RunNewModulePassManager(mpm, mod, pb)
    else:
        mpm.run(mod, pb)
    span = (t0, time.perf_counter(), time.thread_time() - c0)
    obj = bytes(tm.emit_object(mod))
    out[k] = (span, hashlib.sha256(obj).hexdigest()[:12])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--row", default="sin-grad 300")
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--modes", default="seq,threads,raw")
    opts = ap.parse_args()
    from tracejit.codegen import engine
    engine.host_info()          # initializes LLVM's native target once
    text = module_text(opts.row)
    print(f"{opts.row}: {text.count(chr(10))} lines of LLVM IR, {opts.copies} copies")
    for mode in opts.modes.split(","):
        out: list[Any] = [None] * opts.copies
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "seq":
            for k in range(opts.copies):
                compile_copy(text, mode, out, k)
        else:
            th = [threading.Thread(target=compile_copy, args=(text, mode, out, k))
                  for k in range(opts.copies)]
            for t in th:
                t.start()
            for t in th:
                t.join()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        base = min(o[0][0] for o in out)
        spans = ", ".join(f"[{a - base:.2f}-{b - base:.2f} s, {c:.2f} s CPU]"
                          for (a, b, c), _ in out)
        print(f"{mode:8s} wall {wall:.2f} s, CPU {cpu:.2f} s; O3 spans {spans}; "
              f"objects {sorted({h for _, h in out})}")


if __name__ == "__main__":
    main()
