"""Calling compiled code from Python: `Executable` and the NumPy calling convention.

The native entry is `i32 entry(PyObject* in0.., PyObject* out0.., i64* status)`, called
through a `ctypes.CFUNCTYPE` (which releases the GIL). Native code reads each array's data
pointer and flags itself, at the `PyArrayObject` offsets found by `pyarray_offsets()`.

Invariants:
- Native code only ever sees arrays whose shape and dtype equal the parameter types
  exactly (checked here, before the call) and, for inputs, that are C-contiguous and
  aligned (checked natively; otherwise nothing runs and the call is retried once with
  contiguous copies). Inputs are never written.
- Every output is a fresh `np.empty` array, so outputs never alias inputs or each other.
- One `exe(...)` is one native call on the common path; the status buffer is per thread,
  so an `Executable` may be called from many threads at once.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir import Function
from . import engine
from .lower import LAYOUT, NOMEM


def pyarray_offsets() -> tuple[int, int]:
    """Byte offsets of `data` and `flags` inside a PyArrayObject, found by probing."""
    probes = [np.zeros(3, np.float64), np.zeros((4, 4), np.float32)[:, 1]]
    data_off = flags_off = None
    for off in range(8, 128, 8):
        if all(ctypes.c_void_p.from_address(id(p) + off).value == p.ctypes.data
               for p in probes):
            data_off = off
            break
    for off in range(8, 160, 4):
        if all(ctypes.c_int.from_address(id(p) + off).value == p.flags.num for p in probes):
            flags_off = off
            break
    if data_off is None or flags_off is None:
        raise RuntimeError("cannot locate the data and flags fields of NumPy arrays")
    return data_off, flags_off


DATA_OFFSET, FLAGS_OFFSET = pyarray_offsets()


class _Status(threading.local):
    def __init__(self) -> None:
        self.buf = (ctypes.c_int64 * 3)()
        self.addr = ctypes.addressof(self.buf)


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
        outs = [np.empty(shape, dt) for shape, dt in self.out_types]
        rc = self.cfunc(*conv, *outs, _status.addr)
        return outs if rc == 0 else self.done(rc, tuple(conv), outs)

    def done(self, rc: int, args: tuple[Any, ...], outs: list[np.ndarray]) -> list[np.ndarray]:
        """Finish a call whose native status was not 0."""
        if rc == LAYOUT:
            fixed = tuple(a if a.flags.c_contiguous and a.flags.aligned
                          else np.array(a, order="C", copy=True) for a in args)
            rc = self.cfunc(*fixed, *outs, _status.addr)
            if rc == 0:
                return outs
        if rc == NOMEM:
            raise MemoryError(f"@{self.fn.name}: cannot allocate scratch memory")
        if rc > 0:
            ins = self.flat.instrs[rc - 1]
            index, bound = _status.buf[0], _status.buf[1]
            raise IndexError(f"{ins.prim}: index {index} is out of bounds for size {bound}")
        raise RuntimeError(f"@{self.fn.name}: native code returned status {rc}")

    def fast_path(self) -> Callable[..., list[np.ndarray]]:
        """A function specialized to this signature: identity dtype checks, one native
        call. Anything unusual (copies, conversions, errors) goes to `slow`/`done`."""
        n_in, n_out = len(self.in_types), len(self.out_types)
        env: dict[str, Any] = {"nd": np.ndarray, "empty": np.empty, "cfunc": self.cfunc,
                               "status": _status, "slow": self.slow, "done": self.done}
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
            *[f"        {a}" for a in allocs],
            f"        outs = [{', '.join(outs)}]",
            f"        rc = cfunc({', '.join(ins + outs + ['status.addr'])})",
            "        if rc == 0:",
            "            return outs",
            "        return done(rc, args, outs)",
            "    return slow(args)",
        ])
        # Generated from our own signature only (no user text), like attrs or dataclasses.
        exec(compile(src, f"<tracejit call @{self.fn.name}>", "exec"), env)  # noqa: S102
        return env["call"]  # type: ignore[no-any-return]


class Executable:
    """A compiled `Function`: `exe(*arrays)` returns a list of new arrays, one per result.

    Example::

        exe = compile_function(fn)
        (y,) = exe(np.ones((2, 2), np.float32))
        print(exe.asm)
    """

    def __init__(self, fn: Function, jm: engine.JitModule, unoptimized_ir: str,
                 entry: str = "entry", flat: Function | None = None):
        self.fn = fn
        self._jm = jm
        self.llvm_ir_unoptimized = unoptimized_ir
        self._asm: str | None = None
        n = len(fn.params) + len(fn.results)
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, *([ctypes.py_object] * n), ctypes.c_void_p)
        self._sig = _Signature(fn, proto(jm.address(entry)), flat or fn)
        self._fast = self._sig.fast_path()

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR."""
        return self._jm.optimized_ir

    @property
    def asm(self) -> str:
        """Host assembly of the optimized module."""
        if self._asm is None:
            self._asm = engine.assembly(self._jm.optimized_ir)
        return self._asm

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        return self._fast(*arrays)

    def __repr__(self) -> str:
        return f"<Executable @{self.fn.name} {self.fn.in_types} -> {self.fn.out_types}>"
