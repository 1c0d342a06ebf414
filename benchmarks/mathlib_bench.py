"""Time a compiled loop over 1M elements for each codegen/mathlib function against NumPy.

    python benchmarks/mathlib_bench.py [--dtype float32|float64] [--n 1000000] [--zmm]
                                       [--only log,pow]

Prints, per function, the best-of-20 time of the native loop, of the NumPy ufunc writing
into a preallocated output (for logistic/softplus, the stable NumPy expression, which
allocates temporaries) and their ratio (NumPy / native: > 1 means the native loop is
faster). Single thread, same process, same input. The kernels are compiled for the host
CPU and its features at O3; ``--zmm`` adds ``-prefer-256-bit`` so that on AVX-512 hosts
whose tuning prefers 256-bit vectors the loops use 512-bit ones. A function with an
explicit AVX-512 vector body on this host (`codegen/mathvec.py`) gets a second row,
``name*``: the loop calling `mathcall`'s out-of-line function, as compiled code does.
"""
from __future__ import annotations

import argparse
import ctypes
import time
from collections.abc import Callable

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from tracejit.codegen import mathcall, mathvec
from tracejit.codegen.mathlib import SUPPORTED, emit_math


def _logistic(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


NUMPY: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sqrt": np.sqrt, "pow": np.power,
    "logistic": _logistic, "softplus": _softplus}
UFUNCS = {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "pow"}


def compile_kernels(dtype: type, names: list[str], extra_features: str = ""
                    ) -> tuple[object, dict[str, Callable[..., None]]]:
    ty = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    i64 = ir.IntType(64)
    mod = ir.Module(name="mathlib_bench")
    mod.triple = llvm.get_process_triple()
    for kname in names:
        name = kname.rstrip("*")
        p = ty.as_pointer()
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [p, p, p, i64]),
                         name=f"k_{name}{'_x' if kname != name else ''}")
        for a in fn.args[:3]:
            a.add_attribute("noalias")
        xs, ys, out, n = fn.args
        entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed(">", n, i64(0)), loop, done)
        b.position_at_end(loop)
        i = b.phi(i64)
        i.add_incoming(i64(0), entry)
        args = [b.load(b.gep(xs, [i]))]
        if name == "pow":
            args.append(b.load(b.gep(ys, [i])))
        if kname != name:
            y = b.call(mathcall.function(mod, name, ty), args)
        else:
            y = emit_math(b, name, args)
        b.store(y, b.gep(out, [i]))
        nxt = b.add(i, i64(1), flags=("nuw", "nsw"))
        i.add_incoming(nxt, loop)
        b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
        b.position_at_end(done)
        b.ret_void()
    mathcall.finish(mod)
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten() + extra_features,
        opt=3, jit=True)
    llmod = llvm.parse_assembly(str(mod), context=llvm.create_context())
    llmod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(llmod, pb)
    engine = llvm.create_mcjit_compiler(llmod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_int64)
    return engine, {n: proto(engine.get_function_address(
        f"k_{n.rstrip('*')}{'_x' if n.endswith('*') else ''}")) for n in names}


def best_of(fn: Callable[[], object], repeat: int = 20) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def inputs(name: str, dtype: type, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    if name in ("log", "sqrt"):
        return (rng.uniform(1e-3, 1e3, n).astype(dtype),)
    if name == "log1p":
        return (rng.uniform(-0.9, 1e3, n).astype(dtype),)
    if name == "pow":
        return rng.uniform(0.1, 10, n).astype(dtype), rng.uniform(-10, 10, n).astype(dtype)
    if name in ("sin", "cos", "tan"):
        return (rng.uniform(-100, 100, n).astype(dtype),)
    return (rng.uniform(-20, 20, n).astype(dtype),)


def time_one(kernel: Callable[..., None], ref: Callable[..., np.ndarray], is_ufunc: bool,
             args: tuple[np.ndarray, ...]) -> tuple[float, float]:
    x = args[0]
    y = args[1] if len(args) > 1 else x
    out = np.empty_like(x)
    px, py, po = x.ctypes.data, y.ctypes.data, out.ctypes.data
    t_native = best_of(lambda: kernel(px, py, po, x.size))
    if is_ufunc:
        t_numpy = best_of(lambda: ref(*args, out=out))
    else:
        t_numpy = best_of(lambda: ref(*args))
    return t_native, t_numpy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--zmm", action="store_true", help="compile with -prefer-256-bit")
    ap.add_argument("--only", default="", help="comma-separated function names")
    opts = ap.parse_args()
    dtype = np.float32 if opts.dtype == "float32" else np.float64
    ty = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    names = sorted(n for n in SUPPORTED if n in NUMPY
                   and (not opts.only or n in opts.only.split(",")))
    names = [k for n in names for k in ([n, n + "*"] if mathvec.explicit(n, ty) else [n])]
    _engine, fns = compile_kernels(dtype, names, ",-prefer-256-bit" if opts.zmm else "")
    print(f"{opts.n} x {opts.dtype}, host cpu {llvm.get_host_cpu_name()}"
          + (", -prefer-256-bit" if opts.zmm else ""))
    print(f"{'function':10} {'native ms':>10} {'numpy ms':>10} {'numpy/native':>13}")
    for name in names:
        base = name.rstrip("*")
        args = inputs(base, dtype, opts.n, np.random.default_rng(0))
        t_native, t_numpy = time_one(fns[name], NUMPY[base], base in UFUNCS, args)
        print(f"{name:10} {t_native * 1e3:10.3f} {t_numpy * 1e3:10.3f} "
              f"{t_numpy / t_native:13.2f}")

if __name__ == "__main__":
    main()
