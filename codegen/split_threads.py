"""Two calls of one kernel function, run at once on two threads when the process may use
two CPUs: the way a kernel rule (the direct convolutions, `conv_direct.py`) splits its work
between the calling thread and one more, as `gemm_kernel.define_parallel` does for large
matrix products.

Invariants:
- `both(b, kernel, first, second, work)` has the effect of `kernel(*first)` followed by
  `kernel(*second)`; the two calls must write disjoint memory and neither may read what the
  other writes, so the result is the same bit for bit with one thread or two.
- The second call runs on a new thread (`pthread_create`, joined before `both` returns)
  only when the thread count is at least 2 and `work` (multiply-adds, known when lowering)
  is at least `MIN_WORK`; if the thread cannot be created, the caller makes the call itself.
- The thread count is the process-wide 32-bit integer `THREADS_SYMBOL`, which generated
  code declares as an external global; `register(n)` sets it and makes the symbol known to
  LLVM, and `runtime.ensure` calls it for any code that names the symbol, before that code
  is loaded. A waiting caller blocks in `pthread_join` (no spinning).
"""
from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
from llvmlite import ir

from . import engine

THREADS_SYMBOL = "tj_split_threads"
# Below this many multiply-adds a second thread (its creation and join: tens of
# microseconds, more on a loaded machine) does not pay for itself.
MIN_WORK = 1 << 23

_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_count = ctypes.c_int32(1)
_registered = False


def register(threads: int) -> None:
    """Set the thread count generated code reads and make its symbol resolvable."""
    global _registered
    _count.value = max(1, threads)
    if not _registered:
        with engine.LLVM_LOCK:
            llvm.add_symbol(THREADS_SYMBOL, ctypes.addressof(_count))
        _registered = True


def _threads_global(module: ir.Module) -> ir.GlobalVariable:
    g = module.globals.get(THREADS_SYMBOL)
    if g is None:
        g = ir.GlobalVariable(module, _I32, THREADS_SYMBOL)
        g.linkage = "external"
    assert isinstance(g, ir.GlobalVariable)
    return g


def _thunk(module: ir.Module, kernel: ir.Function) -> tuple[ir.Function, ir.LiteralStructType]:
    """`kernel.thunk(void* args)`: calls `kernel` with the fields of the struct at args."""
    args_t = ir.LiteralStructType(list(kernel.function_type.args))
    name = f"{kernel.name}.thunk"
    found = module.globals.get(name)
    if isinstance(found, ir.Function):
        return found, args_t
    fn = ir.Function(module, ir.FunctionType(_I8P, [_I8P]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    packed = b.bitcast(fn.args[0], args_t.as_pointer())
    b.call(kernel, [b.load(b.gep(packed, [ir.Constant(_I32, 0), ir.Constant(_I32, i)]))
                    for i in range(len(args_t.elements))])
    b.ret(ir.Constant(_I8P, None))
    return fn, args_t


def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    found = module.globals.get(name)
    if isinstance(found, ir.Function):
        return found
    return ir.Function(module, fnty, name)


def both(b: ir.IRBuilder, kernel: ir.Function, first: list[ir.Value], second: list[ir.Value],
         work: int) -> None:
    """Emit `kernel(*first); kernel(*second)`, the second on a new thread when allowed (see
    the module's invariants). Example, splitting rows [0, m) in two::

        both(b, kern, [x, y, const(0), half], [x, y, half, const(m)], work=m * k)
    """
    if work < MIN_WORK:
        b.call(kernel, first)
        b.call(kernel, second)
        return
    module = b.module
    thunk, args_t = _thunk(module, kernel)
    create = _declare(module, "pthread_create", ir.FunctionType(
        _I32, [_I64.as_pointer(), _I8P, thunk.type, _I8P]))
    join = _declare(module, "pthread_join", ir.FunctionType(_I32, [_I64, _I8P.as_pointer()]))
    threads = b.load(_threads_global(module))
    with b.if_else(b.icmp_signed(">=", threads, ir.Constant(_I32, 2))) as (split, alone):
        with split:
            with b.goto_block(b.function.entry_basic_block):   # once, not per loop trip
                slot = b.alloca(args_t)
                tid = b.alloca(_I64)
            for i, v in enumerate(second):
                b.store(v, b.gep(slot, [ir.Constant(_I32, 0), ir.Constant(_I32, i)]))
            rc = b.call(create, [tid, ir.Constant(_I8P, None), thunk, b.bitcast(slot, _I8P)])
            b.call(kernel, first)
            with b.if_else(b.icmp_signed("==", rc, ir.Constant(_I32, 0)), likely=True) as (
                    joined, failed):
                with joined:
                    b.call(join, [b.load(tid), ir.Constant(_I8P.as_pointer(), None)])
                with failed:
                    b.call(kernel, second)
        with alone:
            b.call(kernel, first)
            b.call(kernel, second)
