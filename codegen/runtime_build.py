"""What each runtime library (`runtime.py`) is before any is loaded: its exported symbol,
its disk-cache key and its LLVM IR, and the compile job that builds its object code
meanwhile, on a thread of this process or in a compile worker.

The libraries are the builtin GEMM kernel of each dtype (`gemm_kernel.define_blocked`,
behind `gemm_kernel.define_parallel`, which splits large products in two halves on the
thread pool) and the thread pool that runs large fused loops in chunks
(`threads.define_pool`). Each library's IR is written as explicit vector code and compiled
without the O3 pipeline (about 35 ms of code generation after 13 ms of Python building
its IR: the float32 GEMM kernel, AVX-512).

Invariants:
- A symbol's name carries `SOURCE_DIGEST`, a digest of codegen's sources: object code
  made by another version (from a disk cache) cannot bind to this version's kernel.
- A library's disk-cache key (`key`) is `objcache.key_for` of its symbol and the host's
  tile shape: its IR is a function of those and of what every key covers (versions,
  host), so the key is known without building the IR.
- Nothing here holds state: which libraries this process has loaded, and how, is
  `runtime.py`'s.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from . import engine, gemm_kernel, llvmthreads, objcache, threads as pool, workers
from .irtext import module_text

if TYPE_CHECKING:
    from concurrent.futures import Future


# The fingerprint of the code generator's sources that disk-cache keys carry too.
SOURCE_DIGEST = objcache.source_digest()
TYPES: dict[str, ir.Type] = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
# The libraries: the GEMM kernel of each dtype, and the thread pool.
POOL = "pool"
KINDS = (*TYPES, POOL)


def symbol(dtype: str) -> str:
    """The exported name of the builtin GEMM kernel for `dtype` ("f32" or "f64"), or of
    the thread pool's `parallel_for` for `POOL`."""
    if dtype == POOL:
        return pool_symbol()
    return f"tj_gemm_{dtype}_blocked_{SOURCE_DIGEST}"


def pool_symbol() -> str:
    """The exported name of the thread pool's `parallel_for` (`threads.py`)."""
    return f"tj_parallel_for_{SOURCE_DIGEST}"


def dtype_of(name: str) -> str | None:
    """The kind (a dtype or `POOL`) of library symbol `name`, None if it names none."""
    return next((d for d in KINDS if symbol(d) == name), None)


def key(dtype: str, name: str) -> str:
    """The disk-cache key of library `name` of kind `dtype` (see the module docstring)."""
    shape = "" if dtype == POOL else gemm_kernel.host_kernel_shape(dtype)
    return objcache.key_for(f"runtime library {name} {shape}", entries=False)


def library_ir(dtype: str, name: str, info: dict[str, str] | None = None) -> str:
    """The library's LLVM IR (`info`: `engine.host_info()`, which takes the LLVM lock)."""
    module = ir.Module(name=f"tracejit_runtime_{dtype}")
    info = info or engine.host_info()
    module.triple = info["triple"]
    module.data_layout = info["data_layout"]
    if dtype == POOL:
        pool.define_pool(module, name, info["triple"])
        return module_text(module)
    serial = gemm_kernel.define_blocked(module, dtype, TYPES[dtype],
                                        name=f"{name}_serial")
    gemm_kernel.define_parallel(module, dtype, TYPES[dtype], serial, name,
                                pool.declare_parallel_for(module, pool_symbol()))
    return module_text(module)


def submit(w: workers.Worker | llvmthreads.ThreadWorker, dtype: str, name: str
           ) -> tuple[Future[workers.Reply], str | None]:
    """Start compiling library `name` of kind `dtype` on `w` (unoptimized, as `runtime`
    compiles it here); returns the job and the IR, or None for the IR when the job
    builds it itself (on a thread). A worker is released when its job is done."""
    header = engine.job_header(optimize=False)
    if isinstance(w, workers.Worker):
        text = library_ir(dtype, name)
        job = w.submit(header, text.encode())
        job.add_done_callback(lambda _: workers.release([w]))
        return job, text
    # The thread builds the IR too (Python, about 13 ms for a GEMM kernel), while the
    # caller lowers its module and then runs LLVM on it without the GIL.
    info = engine.host_info()
    return w.submit(header, lambda: library_ir(dtype, name, info).encode()), None
