"""Calling compiled code from Python: `Executable` and the NumPy calling convention.

The native entry is `i32 entry(PyTupleObject* t)` with
`t = (in0.., out0.., status, numpy.ndarray)`, called through a `ctypes.CFUNCTYPE` (which
releases the GIL) with `id(t)`: one pointer argument is the cheapest ctypes conversion
there is, and `t` stays referenced for the whole call. Native code reads the tuple items
and each array's type, shape, dtype, flags and data pointer itself, at the offsets
`probe_abi()` finds.

Invariants:
- Native code runs only on inputs that are ndarrays of exactly the parameter's shape and
  canonical dtype, C-contiguous and aligned: it checks that itself before anything else,
  and otherwise returns at once; then the arguments are checked here (raising
  `TypeError`/`ValueError` that name the argument) or converted (array-likes, dtype
  objects that are equal but not canonical) or copied (strided, misaligned) and the call
  is made again. Inputs are never written.
- Every output is a fresh `np.empty` array, so outputs never alias inputs or each other.
- A call whose outputs and scratch buffers exceed the memory available raises `MemoryError`
  (naming the shape, dtype and bytes) before anything is allocated.
- One `exe(...)` is one native call on the common path; the status buffer is per thread,
  so an `Executable` may be called from many threads at once.
"""
from __future__ import annotations

import ctypes
import keyword
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Function
from ..ir.memory import CHECK_ABOVE, check_allocation
from . import engine
from .abi import ABI as ABI, probe_abi as probe_abi  # re-exported: imported from here
from .build import ENTRY, ENTRY_CODEGEN, VECTOR_SUFFIX
from .lower import BADARGS, LAYOUT, NOMEM
from .rules import FAILURES




class _Status(threading.local):
    """Per-thread status arrays (see build.py): `arr` for writable outputs, `frozen` for
    read-only ones."""

    def __init__(self) -> None:
        self.arr = np.zeros(4, np.int64)
        self.frozen = np.array([0, 0, 0, 1], np.int64)


_status = _Status()


class _Signature:
    """What a call needs besides the code: types and the native function. It holds no
    reference to its `Executable`, so the fast path forms no reference cycle and
    compiled code is freed as soon as the `Executable` is dropped."""

    def __init__(self, fn: Function, cfunc: Any, flat: Function | Callable[[], Function],
                 scratch: int | None = None):
        """`fn` gives the types (the optimized Function, or the traced one it was made
        from: the same parameter and result types); `flat` is the optimized Function with
        its calls inlined, or what makes it when first needed (only a failed call's
        status names one of its instructions), then `scratch` is given."""
        self.fn = fn
        self._flat = flat
        self.cfunc = cfunc
        self.in_types = [(p.shape, np.dtype(p.dtype.name)) for p in fn.params]
        self.out_types = [(r.shape, np.dtype(r.dtype.name)) for r in fn.results]
        if scratch is None:
            assert isinstance(flat, Function)
            scratch = _scratch_bytes(flat, sum(t.nbytes for t in fn.out_types))
        self.scratch = scratch
        # Small enough never to need a look at free memory (the common case: no cost).
        self.big = sum(t.nbytes for t in fn.out_types) + self.scratch > CHECK_ABOVE

    @property
    def flat(self) -> Function:
        if not isinstance(self._flat, Function):
            self._flat = self._flat()
        return self._flat

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
            if type(a) is not np.ndarray or a.dtype is not dt:
                a = a.view(type=np.ndarray, dtype=dt)     # canonical type and dtype object
            if not (a.flags.c_contiguous and a.flags.aligned):
                a = np.array(a, order="C", copy=True)
            conv.append(a)
        if self.big:
            self.check_memory()
        outs = [np.empty(shape, dt) for shape, dt in self.out_types]
        rc = self._call(conv, outs)
        if rc in (BADARGS, LAYOUT):   # cannot happen: every argument was made acceptable
            raise RuntimeError(f"@{name}: native code rejected checked arguments ({rc})")
        return outs if rc == 0 else self.done(rc, tuple(conv), outs)

    def _call(self, args: Sequence[np.ndarray], outs: list[np.ndarray]) -> int:
        t = (*args, *outs, _status.arr, np.ndarray)
        return int(self.cfunc(id(t)))

    def done(self, rc: int, args: tuple[Any, ...], outs: list[np.ndarray]) -> list[np.ndarray]:
        """Finish a call whose native status was not 0."""
        if rc == BADARGS:
            return self.slow(args)
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
            failure = FAILURES.get(ins.prim)
            if failure is not None:
                raise failure(ins, index, bound)
            raise IndexError(f"{ins.prim}: index {index} is out of bounds for size {bound}")
        raise RuntimeError(f"@{self.fn.name}: native code returned status {rc}")

    def fast_path(self) -> Callable[..., list[np.ndarray]]:
        """A function specialized to this signature: allocate the outputs, one native call
        (which checks the arguments itself). Anything unusual (conversions, copies,
        errors) goes to `slow`/`done`."""
        n_in = len(self.in_types)
        lines, env = self._call_lines([f"args[{i}]" for i in range(n_in)], frozen=False)
        env.update(slow=self.slow, done=self.done)
        outs = ", ".join(f"_o{k}" for k in range(len(self.out_types)))
        return _generated("call", f"<tracejit call @{self.fn.name}>", env, [
            "def call(self, *args):",
            f"    if len(args) != {n_in}:",
            "        return slow(args)",
            *lines,
            "    if _rc == 0:",
            f"        return [{outs}]",
            f"    return done(_rc, args, [{outs}])",
        ])

    def fast_caller(self, positions: Sequence[int], boxing: Boxing,
                    fallback: Callable[[tuple[Any, ...]], Any]
                    ) -> Callable[[tuple[Any, ...]], Any]:
        """See `Executable.fast_caller`."""
        if len(positions) != len(self.in_types):
            raise ValueError(f"@{self.fn.name} takes {len(self.in_types)} argument(s), "
                             f"got {len(positions)} positions")
        if len(self.out_types) != 1:
            raise ValueError(f"@{self.fn.name} has {len(self.out_types)} results; a fast "
                             "caller returns one")
        field = boxing.field
        arrays = [f"a{j}.{field} if type(a{j}) is _tjbox else a{j}"
                  for j in range(len(positions))]
        lines, env = self._call_lines(arrays, frozen=True)
        env.update(_tjbox=boxing.type, _tjnew=object.__new__, _tjfallback=fallback)
        init = []
        for k, (name, value) in enumerate(boxing.init):
            env[f"_tjinit{k}"] = value
            init.append(f"    _b.{name} = _tjinit{k}")
        return _generated("fast", f"<tracejit dispatch @{self.fn.name}>", env, [
            "def fast(args):",
            *[f"    a{j} = args[{i}]" for j, i in enumerate(positions)],
            *lines,
            "    if _rc:",
            "        return _tjfallback(args)",
            "    _b = _tjnew(_tjbox)",
            f"    _b.{field} = _o0",
            *init,
            "    return _b",
        ])

    def _call_lines(self, arrays: Sequence[str], frozen: bool
                    ) -> tuple[list[str], dict[str, Any]]:
        """For a function generated for this signature: Python lines (indented by 4) that
        allocate the outputs `_o0, _o1, ...`, call the native code once on the array
        expressions `arrays` and leave its status in `_rc`; when `_rc == 0` the outputs
        hold the results (read-only if `frozen`). Otherwise the caller must call the
        `Executable` instead (which converts, copies or raises). The globals the lines
        need are returned with them (their names start with `_tj`)."""
        env: dict[str, Any] = {"_tjcfunc": self.cfunc, "_tjstatus": _status,
                               "_tjnd": np.ndarray, "_tjempty": np.empty,
                               "_tjcheck": self.check_memory}
        lines = ["    _tjcheck()"] if self.big else []
        outs = []
        for k, (shape, dt) in enumerate(self.out_types):
            env[f"_tjos{k}"], env[f"_tjod{k}"] = shape, dt
            lines.append(f"    _o{k} = _tjempty(_tjos{k}, _tjod{k})")
            outs.append(f"_o{k}")
        status = "_tjstatus.frozen" if frozen else "_tjstatus.arr"
        items = ", ".join([*arrays, *outs, status, "_tjnd"])
        lines += [f"    _t = ({items},)",
                  "    _rc = _tjcfunc(id(_t))"]
        return lines, env


def _generated(name: str, filename: str, env: dict[str, Any], lines: list[str]
               ) -> Callable[..., Any]:
    """The function `name` defined by `lines`. The text is generated here from a
    signature's types and positions only (never from user text), like attrs or
    dataclasses do: a Python function specialized to one signature has no loops and
    no lookups left, which is what makes a small native call cheap."""
    exec(compile("\n".join(lines), filename, "exec"), env)  # noqa: S102
    return env[name]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Boxing:
    """How a caller's own array objects wrap NumPy arrays, for `Executable.fast_caller`:
    an argument of exactly `type` passes its attribute `field`, and the result is a new
    `type` made by `object.__new__` with `field` set to the result array and each
    `(attribute, value)` of `init` set (so no constructor runs on the hot path).

    Example::

        Boxing(Box, "array", (("extra", None),))
    """

    type: type
    field: str
    init: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name in (self.field, *(n for n, _ in self.init)):
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"Boxing: {name!r} is not an attribute name")


def _scratch_bytes(flat: Function, out_bytes: int) -> int:
    """Bytes of the scratch arena the native entry allocates (one 64-byte aligned slot per
    scratch value of the fusion plan); the plan is only consulted when all intermediate
    values together could matter."""
    upper = sum(o.type.nbytes for ins in flat.instrs for o in ins.outs)
    if out_bytes + upper <= CHECK_ABOVE:
        return 0
    from .fusion import make_plan
    scratch = make_plan(flat).scratch
    return sum(-(-v.type.nbytes // 64) * 64 for v in scratch) + 64 if scratch else 0


class Executable:
    """A compiled `Function`: `exe(*arrays)` returns a list of new arrays, one per result.

    Example::

        exe = compile_function(fn)
        (y,) = exe(np.ones((2, 2), np.float32))
        print(exe.asm)
    """

    def __init__(self, fn: Function, jm: engine.JitModule,
                 unoptimized_ir: str | list[str] | None, entry: str = ENTRY,
                 flat: Function | None = None, slp: bool = True,
                 optimized: Callable[[], Function] | None = None, scratch: int = 0):
        """With `optimized`, `fn` is the traced Function the code was optimized from
        (code from the disk cache, found by the traced Function): `optimized()` makes the
        optimized one when it is first needed (`fn`, a failed call's status, the IR
        texts), and `scratch` is the bytes of the scratch arena."""
        self._fn: Function | None = None if optimized is not None else fn
        self._make_fn = optimized
        self._slp = slp         # whether O3 ran with the SLP vectorizer
        self._jm = jm
        # The text of each module: the main one first, then the parts when it was
        # compiled in parts, and last the entry module (`build.py`, compiled without
        # optimization); None when the code came from the disk cache.
        self._modules = [unoptimized_ir] if isinstance(unoptimized_ir, str) else unoptimized_ir
        self._optimized: list[str] | None = None
        self._asm: str | None = None
        # The object code the machine code was loaded from (set by `compile_function`),
        # for exporting it: loading it again on this host and install skips LLVM.
        self.object_code: bytes | None = None
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
        if optimized is not None:
            from .inline import inline_calls
            make = optimized        # (no reference to self: see `_Signature`)
            self._sig = _Signature(fn, proto(jm.address(entry)),
                                   lambda: inline_calls(make()), scratch)
        else:
            self._sig = _Signature(fn, proto(jm.address(entry)), flat or fn)
        try:
            # `items_entry(items, status, ndarray)` for the native dispatcher (`dispatch`).
            self.items_entry: int | None = jm.address(entry + VECTOR_SUFFIX)
        except LookupError:     # object code exported by a version without it
            self.items_entry = None
        # From the second call on, the specialized call is this object's own `__call__`
        # (special methods are looked up on the type, hence a subclass per Executable):
        # no extra Python frame. Making it takes 0.2 ms: a first call (from the disk
        # cache, a few ms in all) goes the checked way instead (`_Fresh`).
        self._called = False
        self.__class__ = _Fresh

    @property
    def fn(self) -> Function:
        """The optimized Function this is the code of."""
        if self._fn is None:
            assert self._make_fn is not None
            self._fn = self._make_fn()
        return self._fn

    def _texts(self) -> list[str]:
        if self._modules is None:
            from .build import build_module
            from .irtext import module_text
            from .segments import SLP_MAX_COST
            module, _, entries, plan_cost = build_module(self.fn, ABI)
            self._modules = [module_text(module), module_text(entries)]
            self._slp = plan_cost <= SLP_MAX_COST
        return self._modules

    @staticmethod
    def _joined(texts: list[str]) -> str:
        if len(texts) == 1:
            return texts[0]
        return "\n".join(f"; module {k + 1} of {len(texts)}\n{t}" for k, t in enumerate(texts))

    @property
    def llvm_ir_unoptimized(self) -> str:
        """The LLVM IR as lowered, before the O3 pipeline: the modules one after the
        other, the main one first, then its parts when the Function was compiled in
        parts (not when the code came from the disk cache), and last the entry module."""
        return self._joined(self._texts())

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR (derived on request: the modules optimized again; the
        entry module, which is compiled without optimization, as it is)."""
        return self._joined(self._optimized_texts())

    def _optimized_texts(self) -> list[str]:
        if self._optimized is None:
            *texts, entry = self._texts()
            self._optimized = [engine.optimize_ir(t, self._slp) for t in texts] + [entry]
        return self._optimized

    @property
    def asm(self) -> str:
        """Host assembly of the optimized modules (the entry module's at its own code
        generation level)."""
        if self._asm is None:
            *texts, entry = self._optimized_texts()
            self._asm = self._joined([engine.assembly(t) for t in texts]
                                     + [engine.assembly(entry, ENTRY_CODEGEN)])
        return self._asm

    def fast_caller(self, positions: Sequence[int], boxing: Boxing,
                    fallback: Callable[[tuple[Any, ...]], Any]
                    ) -> Callable[[tuple[Any, ...]], Any]:
        """A function `fast(args)` specialized to this signature, for a caller whose
        arguments arrive as a tuple: it takes the arrays at `positions` of `args`
        (unboxing those of `boxing.type`), allocates the result, calls the native code
        once and returns the result boxed as `boxing` says, read-only. When the native
        code refuses the arguments (a dtype, shape or layout to convert, an index out of
        bounds, no memory) it returns `fallback(args)` instead, which should take the
        careful way (`exe(*arrays)`, which converts, copies or raises). For Functions
        of one result.

        Example::

            fast = exe.fast_caller([0], Boxing(Box, "array"), slow_call)
            y = fast((Box(np.ones(3, np.float32)),))
        """
        return self._sig.fast_caller(positions, boxing, fallback)

    @property
    def checks_memory(self) -> bool:
        """Whether a call looks at free memory before allocating (large outputs or
        scratch): such calls must go through `__call__`, never `items_entry` alone."""
        return self._sig.big

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        """Run the compiled code: one new array per result (replaced per instance by the
        specialized fast path of `_Signature.fast_path`)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Executable @{self.fn.name} {self.fn.in_types} -> {self.fn.out_types}>"


class _Fresh(Executable):
    """An Executable before its second call: `__call__` checks the arguments in Python
    (`_Signature.slow`) the first time, then makes the specialized call."""

    def __call__(self, *arrays: Any) -> list[np.ndarray]:
        if not self._called:
            self._called = True
            return self._sig.slow(arrays)
        self.__class__ = type("Executable", (Executable,), {"__call__": self._sig.fast_path()})
        return self(*arrays)
