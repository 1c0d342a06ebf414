"""Calling compiled code from Python: `Executable` and the NumPy calling convention.

The native entry is `i32 entry(PyTupleObject* t)` with `t = (in0.., out0.., status)`,
called through a `ctypes.CFUNCTYPE` (which releases the GIL) with `id(t)`: one pointer
argument is the cheapest ctypes conversion there is. Native code reads the tuple items and
each array's data pointer and flags itself, at the offsets `probe_abi()` finds.

Invariants:
- Native code only ever sees arrays whose shape and dtype equal the parameter types
  exactly (checked here, before the call) and, for inputs, that are C-contiguous and
  aligned (checked natively; otherwise nothing runs and the call is retried once with
  contiguous copies). Inputs are never written.
- Every output is a fresh `np.empty` array, so outputs never alias inputs or each other.
- A call whose outputs and scratch arena exceed the memory available raises `MemoryError`
  (naming the shape, dtype and bytes) before anything is allocated.
- One `exe(...)` is one native call on the common path; the status buffer is per thread,
  so an `Executable` may be called from many threads at once.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Function
from ..ir.core import CHECK_ABOVE, check_allocation
from . import engine
from .build import Abi
from .lower import LAYOUT, NOMEM


def probe_abi() -> Abi:
    """Byte offsets of a tuple's items and of an array's `data` and `flags` fields in this
    CPython and NumPy, found by probing live objects."""
    probes: list[np.ndarray] = [np.zeros(3, np.float64), np.zeros((4, 4), np.float32)[:, 1]]
    tup = (probes[0], probes[1])

    def find(step: int, ok: Callable[[int], bool]) -> int:
        for off in range(8, 160, step):
            if ok(off):
                return off
        raise RuntimeError("cannot locate the fields of tuples and NumPy arrays natively")

    items = find(8, lambda off: ctypes.c_void_p.from_address(id(tup) + off).value == id(tup[0])
                 and ctypes.c_void_p.from_address(id(tup) + off + 8).value == id(tup[1]))
    data = find(8, lambda off: all(ctypes.c_void_p.from_address(id(p) + off).value
                                   == p.ctypes.data for p in probes))
    flags = find(4, lambda off: all(ctypes.c_int.from_address(id(p) + off).value
                                    == p.flags.num for p in probes))
    return Abi(items, data, flags)


ABI = probe_abi()


class _Status(threading.local):
    def __init__(self) -> None:
        self.arr = np.zeros(3, np.int64)


_status = _Status()


class _Signature:
    """What a call needs besides the code: types and the native function. It holds no
    reference to its `Executable`, so the fast path forms no reference cycle and
    compiled code is freed as soon as the `Executable` is dropped."""

    def __init__(self, fn: Function, cfunc: Any, flat: Function):
        self.fn = fn
        self.flat = flat
        self.cfunc = cfunc
        self.in_types = [(p.shape, np.dtype(p.dtype.name)) for p in fn.params]
        self.out_types = [(r.shape, np.dtype(r.dtype.name)) for r in fn.results]
        self.scratch = _scratch_bytes(flat, sum(t.nbytes for t in fn.out_types))
        # Small enough never to need a look at free memory (the common case: no cost).
        self.big = sum(t.nbytes for t in fn.out_types) + self.scratch > CHECK_ABOVE

    def check_memory(self) -> None:
        check_allocation(self.fn.out_types, f"@{self.fn.name}", self.scratch)

    def slow(self, args: tuple[Any, ...]) -> list[np.ndarray]:
        """Check every argument, copy those that need it, then call."""
        name = self.fn.name
        if len(args) != len(self.in_types):
            raise TypeError(f"@{name} takes {len(self.in_types)} argument(s), got {len(args)}")
        conv = []
        for i, (a, (shape, dt), p) in enumerate(zip(args, self.in_types, self.fn.params)):
            a = np.asarray(a)
            if a.dtype != dt:
                raise TypeError(f"@{name}: argument {i} must be {p.type} (dtype {dt}), got an "
                                f"array of dtype {a.dtype} and shape {a.shape}")
            if a.shape != shape:
                raise ValueError(f"@{name}: argument {i} must be {p.type} (shape {shape}), "
                                 f"got an array of shape {a.shape} and dtype {a.dtype}")
            if type(a) is not np.ndarray:
                a = a.view(np.ndarray)
            if not (a.flags.c_contiguous and a.flags.aligned):
                a = np.array(a, order="C", copy=True)
            conv.append(a)
        if self.big:
            self.check_memory()
        outs = [np.empty(shape, dt) for shape, dt in self.out_types]
        rc = self._call(conv, outs)
        return outs if rc == 0 else self.done(rc, tuple(conv), outs)

    def _call(self, args: Sequence[np.ndarray], outs: list[np.ndarray]) -> int:
        t = (*args, *outs, _status.arr)
        return int(self.cfunc(id(t)))

    def done(self, rc: int, args: tuple[Any, ...], outs: list[np.ndarray]) -> list[np.ndarray]:
        """Finish a call whose native status was not 0."""
        if rc == LAYOUT:
            fixed = tuple(a if a.flags.c_contiguous and a.flags.aligned
                          else np.array(a, order="C", copy=True) for a in args)
            rc = self._call(fixed, outs)
            if rc == 0:
                return outs
        if rc == NOMEM:
            raise MemoryError(f"@{self.fn.name}: cannot allocate scratch memory")
        if rc > 0:
            ins = self.flat.instrs[rc - 1]
            index, bound = int(_status.arr[0]), int(_status.arr[1])
            raise IndexError(f"{ins.prim}: index {index} is out of bounds for size {bound}")
        raise RuntimeError(f"@{self.fn.name}: native code returned status {rc}")

    def fast_path(self) -> Callable[..., list[np.ndarray]]:
        """A function specialized to this signature: identity dtype checks, one native
        call. Anything unusual (copies, conversions, errors) goes to `slow`/`done`."""
        n_in, n_out = len(self.in_types), len(self.out_types)
        env: dict[str, Any] = {"nd": np.ndarray, "empty": np.empty, "cfunc": self.cfunc,
                               "status": _status, "slow": self.slow, "done": self.done,
                               "check": self.check_memory}
        checks = []
        for i, (shape, dt) in enumerate(self.in_types):
            env[f"s{i}"], env[f"d{i}"] = shape, dt
            checks.append(f"type(a{i}) is nd and a{i}.dtype is d{i} and a{i}.shape == s{i}")
        allocs = []
        for k, (shape, dt) in enumerate(self.out_types):
            env[f"os{k}"], env[f"od{k}"] = shape, dt
            allocs.append(f"o{k} = empty(os{k}, od{k})")
        ins = [f"a{i}" for i in range(n_in)]
        outs = [f"o{k}" for k in range(n_out)]
        src = "\n".join([
            "def call(*args):",
            f"    if len(args) != {n_in}:",
            "        return slow(args)",
            f"    {', '.join(ins)}{',' if n_in == 1 else ''} = args" if n_in else "    pass",
            f"    if {' and '.join(checks) or 'True'}:",
            *(["        check()"] if self.big else []),
            *[f"        {a}" for a in allocs],
            f"        t = ({', '.join(ins + outs + ['status.arr'])},)",
            "        rc = cfunc(id(t))",
            "        if rc == 0:",
            f"            return [{', '.join(outs)}]",
            f"        return done(rc, args, [{', '.join(outs)}])",
            "    return slow(args)",
        ])
        # Generated from our own signature only (no user text), like attrs or dataclasses.
        exec(compile(src, f"<tracejit call @{self.fn.name}>", "exec"), env)  # noqa: S102
        return env["call"]  # type: ignore[no-any-return]


def _scratch_bytes(flat: Function, out_bytes: int) -> int:
    """Bytes of the scratch arena the native entry allocates (one 64-byte aligned slot per
    scratch value of the fusion plan); the plan is only consulted when all intermediate
    values together could matter."""
    upper = sum(o.type.nbytes for ins in flat.instrs for o in ins.outs)
    if out_bytes + upper <= CHECK_ABOVE:
        return 0
    from .plan import make_plan
    scratch = make_plan(flat).scratch
    return sum(-(-v.type.nbytes // 64) * 64 for v in scratch) + 64 if scratch else 0


class Executable:
    """A compiled `Function`: `exe(*arrays)` returns a list of new arrays, one per result.

    Example::

        exe = compile_function(fn)
        (y,) = exe(np.ones((2, 2), np.float32))
        print(exe.asm)
    """

    def __init__(self, fn: Function, jm: engine.JitModule, unoptimized_ir: str | None,
                 entry: str = "entry", flat: Function | None = None):
        self.fn = fn
        self._jm = jm
        self._unoptimized = unoptimized_ir  # None when the code came from the disk cache
        self._asm: str | None = None
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
        self._sig = _Signature(fn, proto(jm.address(entry)), flat or fn)
        self._fast = self._sig.fast_path()

    @property
    def llvm_ir_unoptimized(self) -> str:
        """The LLVM IR as lowered, before the O3 pipeline."""
        if self._unoptimized is None:
            from .build import build_module
            self._unoptimized = str(build_module(self.fn, ABI)[0])
        return self._unoptimized

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR (re-derived on request for code loaded from disk)."""
        if not self._jm.optimized_ir:
            self._jm.optimized_ir = engine.optimize_ir(self.llvm_ir_unoptimized)
        return self._jm.optimized_ir

    @property
    def asm(self) -> str:
        """Host assembly of the optimized module."""
        if self._asm is None:
            self._asm = engine.assembly(self.llvm_ir)
        return self._asm

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        return self._fast(*arrays)

    def __repr__(self) -> str:
        return f"<Executable @{self.fn.name} {self.fn.in_types} -> {self.fn.out_types}>"
