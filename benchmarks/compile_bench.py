"""W10: compile time on long programs, tracejit beside jax.jit and tf.function(jit_compile).

Workloads (float32), each timed as the first call in a fresh process (trace, compile,
run), with tracejit's disk cache off (TRACEJIT_CACHE=0):

- `sin N`: x = sin(x) * 1.001 repeated N times on 100 elements, then reduce_sum;
- `sin-grad N`: the same, value and gradient with respect to x;
- `spring-grad S`: an 8-mass spring chain (unit masses, springs of stiffness 10 and rest
  length 1 between neighbours) integrated by S explicit Euler steps of 0.01, unrolled by
  the Python loop; loss = sum of the final positions squared; value and gradient with
  respect to the initial positions and velocities.

For tracejit the child also reports where the time went: trace (with autodiff) and IR
passes, fusion plan + lowering to LLVM IR (Python), and LLVM (parse, O3, code
generation, loading, and waiting for the compile workers). Each process also reports its
CPU time (all threads, plus tracejit's compile worker processes, also shown alone), which
a loaded machine inflates less than the wall-clock time; for tracejit also the calling
thread's CPU time beside the workers', and how many parts of a module compiled in parts
(`codegen/parts.py`) each side compiled, with the LLVM CPU time it spent on them and how
long the caller waited for the workers' last parts (an uneven split shows there); and the
load average at the start and end of each process. The growth exponent between two sizes is
log(t2 / t1) / log(n2 / n1) (1 = linear).

    python benchmarks/compile_bench.py                       # all rows, all peers
    python benchmarks/compile_bench.py --only tracejit --rows "sin 1000,spring-grad 100"
    python benchmarks/compile_bench.py --json out.json

Peers run only where installed (the peers' venv: ~/.cache/tracejit-peers-venv).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from typing import Any

ROWS = ["sin 100", "sin 500", "sin 1000", "sin 10000", "sin-grad 100", "sin-grad 500",
        "sin-grad 1000", "sin-grad 10000", "spring-grad 100", "spring-grad 1000"]
IMPLS = ["tracejit", "jax", "tf"]
K, L, DT = 10.0, 1.0, 0.01


def _data() -> tuple[Any, Any, Any]:
    import numpy as np
    x = np.linspace(-2.0, 2.0, 100).astype(np.float32)
    p = (np.arange(8) * 1.1).astype(np.float32)
    v = np.linspace(-0.5, 0.5, 8).astype(np.float32)
    return x, p, v


def reference(kind: str, n: int) -> float:
    """The loss in float64 NumPy (checks every implementation's value)."""
    import numpy as np
    x, p, v = (a.astype(np.float64) for a in _data())
    if kind.startswith("sin"):
        for _ in range(n):
            x = np.sin(x) * 1.001
        return float(x.sum())
    for _ in range(n):
        f = K * (p[1:] - p[:-1] - L)
        force = np.concatenate([f, [0.0]]) - np.concatenate([[0.0], f])
        v = v + DT * force
        p = p + DT * v
    return float((p * p).sum())


def build(impl: str, kind: str, n: int) -> tuple[Any, list[Any]]:
    """(function, arguments) for one row in one framework; the function returns the loss
    first (and the gradients for the -grad rows)."""
    x, p, v = _data()
    if impl == "tracejit":
        import tracejit as m
        ops = {"sin": m.sin, "sum": m.reduce_sum, "concat": lambda xs: m.concat(xs, 0),
               "zero": lambda: m.zeros((1,))}
    elif impl == "jax":
        import jax
        import jax.numpy as m
        ops = {"sin": m.sin, "sum": m.sum, "concat": lambda xs: m.concatenate(xs, 0),
               "zero": lambda: m.zeros((1,), m.float32)}
    else:
        import tensorflow as m
        ops = {"sin": m.sin, "sum": m.reduce_sum, "concat": lambda xs: m.concat(xs, 0),
               "zero": lambda: m.zeros((1,))}

    def chain(x: Any) -> Any:
        for _ in range(n):
            x = ops["sin"](x) * 1.001
        return ops["sum"](x)

    def spring(p: Any, v: Any) -> Any:
        for _ in range(n):
            f = K * (p[1:] - p[:-1] - L)
            zero = ops["zero"]()
            v = v + DT * (ops["concat"]([f, zero]) - ops["concat"]([zero, f]))
            p = p + DT * v
        return ops["sum"](p * p)

    loss = chain if kind.startswith("sin") else spring
    args = [x] if kind.startswith("sin") else [p, v]
    grad = kind.endswith("grad")
    if impl == "jax":
        f = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(len(args)))) if grad
                    else loss)
        return f, args
    tf = m

    def tape_fn(*a: Any) -> Any:
        with tf.GradientTape() as t:
            t.watch(list(a))
            y = loss(*a)
        return (y, t.gradient(y, list(a))) if grad else y

    f = tf.function(tape_fn, jit_compile=True) if impl == "tf" else tf.function(tape_fn)
    return f, args


def _stage_timers() -> dict[str, float]:
    """Wrap tracejit's stages with timers (child process only)."""
    import importlib
    import tracejit.codegen as cg
    from tracejit.codegen import engine
    tc = importlib.import_module("tracejit.tracing")
    from tracejit.codegen import parts
    stages = {"trace+passes": 0.0, "plan+lower": 0.0, "llvm": 0.0}
    depth = [0]         # only the outermost timed call counts (objects() compiles too)

    def timed(name: str, f: Any) -> Any:
        def g(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            depth[0] += 1
            try:
                return f(*a, **k)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    stages[name] += time.perf_counter() - t0
        return g

    tc.trace = timed("trace+passes", tc.trace)
    cg.build_module = timed("plan+lower", cg.build_module)
    engine._optimized = timed("llvm", engine._optimized)
    engine.load_object = timed("llvm", engine.load_object)
    parts.Parts.objects = timed("llvm", parts.Parts.objects)
    return stages


def child(impl: str, kind: str, n: int) -> dict[str, Any]:
    os.environ["TRACEJIT_CACHE"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import numpy as np
    stages = _stage_timers() if impl == "tracejit" else {}
    if impl == "tf":
        import tensorflow  # noqa: F401  (import time is not compile time)
    elif impl == "jax":
        import jax  # noqa: F401
    f, args = build(impl, kind, n)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load0 = os.getloadavg()[0]
    t0, c0, th0 = time.perf_counter(), time.process_time(), time.thread_time()
    out = f(*args)
    value = out[0] if isinstance(out, tuple) else out
    value = float(np.asarray(value))
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    caller_cpu = time.thread_time() - th0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers_cpu = 0.0
    split: dict[str, Any] = {}
    if impl == "tracejit":
        # The compile workers' CPU time counts too: end them, then read it.
        from tracejit.codegen import parts, workers
        workers.shutdown()
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = ch.ru_utime + ch.ru_stime
        st = getattr(parts, "last_stats", None)      # None: code older than the split stats
        if st is not None:
            split = {"caller_parts": st.caller_parts, "caller_llvm_cpu_s": st.caller_cpu,
                     "worker_parts": st.worker_parts, "worker_llvm_cpu_s": st.worker_cpu,
                     "caller_wait_s": st.caller_wait}
    ref = reference(kind, n)
    return {"impl": impl, "row": f"{kind} {n}", "first_call_s": total,
            "cpu_s": cpu + workers_cpu, "workers_cpu_s": workers_cpu,
            # The calling thread alone, and the process's other threads (a framework's
            # own compile threads; tracejit's only wait on its workers' pipes).
            "caller_thread_cpu_s": caller_cpu, "other_threads_cpu_s": cpu - caller_cpu,
            "parts": split,
            "stages": stages, "peak_rss_mib": rss / 1024, "rss_before_mib": rss0 / 1024,
            "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "rel_err": abs(value - ref) / max(1.0, abs(ref))}


def run_row(impl: str, row: str, python: str, timeout: float) -> dict[str, Any]:
    kind, n = row.split()
    cmd = [python, os.path.abspath(__file__), "--child", impl, kind, n]
    env = dict(os.environ, TRACEJIT_CACHE="0")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "row": row, "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        return {"impl": impl, "row": row, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def growth(results: list[dict[str, Any]], impl: str, kind: str, n1: int, n2: int
           ) -> float | None:
    t = {r["row"]: r.get("first_call_s") for r in results if r["impl"] == impl}
    a, b = t.get(f"{kind} {n1}"), t.get(f"{kind} {n2}")
    return math.log(b / a) / math.log(n2 / n1) if a and b else None


def _cpu_split(r: dict[str, Any]) -> str:
    """A tracejit row's CPU seconds by thread: the calling thread, the compile workers,
    and how many parts of the module each side compiled with the LLVM CPU time it spent
    on them (an uneven split leaves a core idle)."""
    if "caller_thread_cpu_s" not in r:
        return "-"
    text = f"{r['caller_thread_cpu_s']:.2f} / {r['workers_cpu_s']:.2f} s"
    p = r.get("parts") or {}
    if p.get("worker_parts") or p.get("caller_parts", 0) > 1:
        text += (f" ({p['caller_parts']} parts {p['caller_llvm_cpu_s']:.2f} s / "
                 f"{p['worker_parts']} parts {p['worker_llvm_cpu_s']:.2f} s; caller waited "
                 f"{p.get('caller_wait_s', 0.0):.2f} s)")
    return text


def markdown(results: list[dict[str, Any]]) -> str:
    by = {(r["impl"], r["row"]): r for r in results}
    rows = list(dict.fromkeys(r["row"] for r in results))
    impls = [i for i in IMPLS if any(r["impl"] == i for r in results)]
    head = ["program"] + [f"{i} first call" for i in impls] + \
        ["tracejit: trace+passes / plan+lower / LLVM", "tracejit CPU: caller thread / "
         "workers (LLVM parts: caller / workers)", "tracejit peak RSS", "load"]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row]
        for i in impls:
            r = by.get((i, row), {})
            cells.append(f"{r['first_call_s']:.2f} s ({r['cpu_s']:.2f} s CPU)"
                         if "cpu_s" in r else f"{r['first_call_s']:.2f} s"
                         if "first_call_s" in r else r.get("error", "-")[:40])
        r = by.get(("tracejit", row), {})
        st = r.get("stages") or {}
        cells.append(" / ".join(f"{st[k]:.2f}" for k in ("trace+passes", "plan+lower", "llvm"))
                     if st else "-")
        cells.append(_cpu_split(r))
        cells.append(f"{r['peak_rss_mib']:.0f} MiB" if "peak_rss_mib" in r else "-")
        loads = [x for i in impls for x in by.get((i, row), {}).get("load", [])]
        cells.append(f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for kind, n1, n2 in (("sin", 1000, 10000), ("sin-grad", 1000, 10000),
                         ("spring-grad", 100, 1000)):
        g = {i: growth(results, i, kind, n1, n2) for i in impls}
        shown = ", ".join(f"{i} {v:.2f}" for i, v in g.items() if v is not None)
        if shown:
            out.append(f"- growth exponent of `{kind}` from {n1} to {n2}: {shown}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--only", default=",".join(IMPLS), help="implementations, e.g. tracejit,jax")
    ap.add_argument("--rows", default=",".join(ROWS), help='e.g. "sin 1000,spring-grad 100"')
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes per row (median)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    ap.add_argument("--json", default="", help="write all results here")
    ap.add_argument("--tracejit-python", default=sys.executable,
                    help="the Python that runs the tracejit rows (default: this one)")
    opts = ap.parse_args()
    if opts.child:
        impl, kind, n = opts.child
        print(json.dumps(child(impl, kind, int(n))))
        return
    results = []
    for row in [r.strip() for r in opts.rows.split(",") if r.strip()]:
        for impl in [i.strip() for i in opts.only.split(",") if i.strip()]:
            python = opts.tracejit_python if impl == "tracejit" else sys.executable
            runs = [run_row(impl, row, python, opts.timeout) for _ in range(opts.repeat)]
            ok = sorted((r for r in runs if "first_call_s" in r),
                        key=lambda r: r["first_call_s"])
            r = ok[len(ok) // 2] if ok else runs[0]
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    print(markdown(results))
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
