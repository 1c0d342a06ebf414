"""One traced signature of a compiled function (`Concrete`) and how it is called.

Invariants:
- Called where no tape watches its inputs, a call is one native call: the fast path for
  flat positional arguments is a function codegen builds (`Executable.fast_caller`).
  Under an eager tape it is one `call` instruction (recorded; its VJP is the compiled
  backward).
- Variables and outside tensors read in the trace are passed by reference at every
  call; the assignments of the trace are written back after the native call, in program
  order, as one atomic update of the assigned Variables.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import executables
from .codegen import Boxing
from .context import TraceInterpreter, active_tapes, keep_checks, locate_index_error
from .errors import at_user_line
from .ir.core import Function, bind, current_interpreter
from .ir.errors import InvalidArgumentError, LinAlgError, ShapeError
from .trees import unflatten
from .notice import Notice
from .tensor import Tensor
from .variable import Variable

# How a Tensor holds its array, for the fast callers codegen builds (`Tensor._wrap`).
TENSOR_BOXING = Boxing(Tensor, "_data", (("_val", None), ("_trace", None)))


@dataclass(eq=False, repr=False)
class Concrete:
    """One traced signature: the traced and optimized Functions, the native executable,
    and how to map Python arguments in and results out (built by `tracing.trace`)."""

    name: str
    dyn_idx: list[int]                  # leaf index of each dynamic (tensor) argument
    n_leaves: int
    n_dyn: int
    out_tree: Any
    out_kind: list[Any]                 # per output leaf: ("r", i), ("t", array), ("c", v)
    n_out: int
    assigned: list[Any]                 # Variables the trace assigns (None: an argument)
    assigned_src: list[int | None]      # leaf index of an assigned Variable argument
    captures: list[Any]                 # captured tensors and Variables (None: an argument)
    capture_src: list[int | None]       # leaf index of a captured Variable argument
    var_args: bool                      # whether any argument is a Variable
    fixed_vars: set[int]                # ids of the Variables captured from outside
    trace_fn: Function
    optimized: Function | None          # `opt_fn` once made (None: not yet)
    origins: Any
    grad_fns: list[Any]
    grad_residuals: Any
    notice: Notice | None = None        # the progress notice of tracing, resumed to compile
    key: Any = None                     # the call key it was traced for (`keys.py`)
    python_signature: Any = None        # the traced Python function's inspect.Signature
    symbolic: bool = False              # traced with unknown dims: serves every shape
    input_signature: Any = None         # the function's input_signature (or None)
    n_checks: int = 0                   # results of `assert`s after the Variables' values
    explain: Any = None                 # `TraceState.explain` (failed checks' values)
    instance: Any = None                # weakref to a method's instance (its first arg)
    fast: Callable[[tuple[Any, ...]], Any] = field(init=False)
    _exe: Any = field(init=False, default=None)
    _single: bool = field(init=False)
    _exe_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _opt_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.optimized is not None:
            executables.OPTIMIZED_FNS.add(self.optimized)
        self.fast = self._first_fast
        # One tensor result, nothing assigned or checked: no structure to rebuild.
        self._single = (self.out_tree is None and not self.assigned and not self.n_checks
                        and self.out_kind == [("r", 0)])

    def __repr__(self) -> str:
        return f"<Concrete @{self.name} {self.opt_fn.in_types} -> {self.opt_fn.out_types}>"

    @property
    def in_shapes(self) -> list[tuple[int | None, ...]]:
        """The shape of each dynamic argument, None for a dimension unknown until run
        time (`input_signature` with None)."""
        from .ir.dims import as_none
        return [as_none(p.type.shape) for p in self.trace_fn.params[:self.n_dyn]]

    def _first_fast(self, args: tuple[Any, ...]) -> Any:
        """`fast` before the code exists: compile, then specialize `fast` to it."""
        self.executable()
        self.fast = self._make_fast()
        return self.fast(args)

    def _make_fast(self) -> Callable[[tuple[Any, ...]], Any]:
        """A call path specialized to this signature, for flat positional arguments with
        no tape watching: built by the executable (the buffers, one native call whose
        result comes back read-only, the result wrapped); anything unusual goes through
        `call`."""
        if self.captures or not self._single or self.symbolic:
            return self.call
        call = self.call
        return self._exe.fast_caller(self.dyn_idx, TENSOR_BOXING,  # type: ignore[no-any-return]
                                     lambda args: call(list(args)))

    @property
    def opt_fn(self) -> Function:
        """The traced Function after the IR passes (`ir.passes.optimize`), made when first
        needed: code found in the disk cache by the traced Function needs it only for a
        call that fails, a tape, an export or the IR texts."""
        opt = self.optimized
        if opt is None:
            with self._opt_lock:
                opt = self.optimized
                if opt is None:
                    from .ir.passes import optimize
                    opt = optimize(self.trace_fn)
                    executables.OPTIMIZED_FNS.add(opt)
                    self.optimized = opt
            exe = self._exe
            if exe is not None:
                executables.NATIVE_OF[opt] = weakref.ref(exe)
        return opt

    def executable(self) -> Any:
        if self._exe is None:
            with self._exe_lock:
                if self._exe is None:
                    exe = None
                    if self.optimized is None and not self.symbolic:
                        exe = executables.cached(self.trace_fn, _optimizer(self),
                                                 self.notice)
                    if exe is None:
                        exe = executables.native(self.opt_fn, keep=False,
                                                 notice=self.notice, traced=self.trace_fn)
                    self._exe = exe
                    if self.optimized is not None:
                        executables.NATIVE_OF[self.optimized] = weakref.ref(exe)
        return self._exe

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call this signature (TensorFlow's concrete function): the arguments must have
        the shapes, dtypes and Python values it was traced for.

        >>> f = tj.function(lambda x: x * 2.)
        >>> f.get_concrete_function(tj.constant([1., 2.]))(tj.constant([3., 4.])).numpy()
        array([6., 8.], dtype=float32)
        """
        from .compile import _convert_arrays
        from .keys import leaf_key
        from .trees import flatten
        from .signature import key_matches
        if self.instance is not None:
            obj = self.instance()
            if obj is None:
                raise ReferenceError(f"the instance of concrete method {self.name} is gone")
            args = (obj, *args)
        if self.python_signature is not None and self.key is not None:
            from .concrete_info import fill_static
            args, kwargs = fill_static(self, args, kwargs)
        kwargs = dict(sorted(kwargs.items()))
        leaves, tree = flatten((args, kwargs))
        _convert_arrays(leaves)
        aliases: dict[int, int] = {}
        key = (tree, tuple(leaf_key(x, aliases, i, lambda: f"{self.name}: an argument")
                           for i, x in enumerate(leaves)))
        if key != self.key and not key_matches(self.key, key):
            from .keys import describe
            raise TypeError(f"Binding inputs to concrete function {self.name} failed: it "
                            "takes (" + ", ".join(describe(k) for k in self.key[1])
                            + "), not (" + ", ".join(describe(k) for k in key[1]) + ")")
        if isinstance(current_interpreter(), TraceInterpreter):
            return self.call_instruction(leaves)
        return self.call(leaves)

    @property
    def structured_input_signature(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(args, kwargs) as traced: a `TensorSpec` per tensor argument (named after its
        parameter), the value of each Python argument (TensorFlow's)."""
        from .concrete_info import input_signature
        return input_signature(self)

    @property
    def structured_outputs(self) -> Any:
        """The structure the function returns, a `TensorSpec` per tensor."""
        from .concrete_info import outputs
        return outputs(self)

    @property
    def output_shapes(self) -> Any:
        """The structure the function returns, a `tj.TensorShape` per tensor."""
        from .concrete_info import output_shapes
        return output_shapes(self)

    @property
    def output_dtypes(self) -> Any:
        """The structure the function returns, a dtype per tensor."""
        from .concrete_info import output_dtypes
        return output_dtypes(self)

    def lower(self) -> Any:
        """The compiler's view of this trace, for `as_text(stage)` (`tj.function`'s
        `lower`)."""
        from .stages import Lowered
        return Lowered(self)

    def __reduce__(self) -> Any:
        """Pickled by value as an artifact of this signature (`tj.load`); unpickling
        loads its object code, or compiles its IR on another host (never traces)."""
        from .export import reduce_concrete
        return reduce_concrete(self)

    def call_instruction(self, leaves: list[Any]) -> Any:
        """This signature called inside another trace: one `call` instruction of the
        optimized Function (assignments in program order), as when called under a tape."""
        from .ops import convert_to_tensor
        ins = [convert_to_tensor(leaves[i]) for i in self.dyn_idx]
        ins += [obj._read() if isinstance(obj, Variable) else obj
                for obj in self._captured(leaves)]
        outs = bind("call", *ins, fn=self.opt_fn)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        for var, t in zip(self._assigned_vars(leaves), outs[self.n_out:]):
            var.assign(t)
        if self.n_checks:           # the callee's asserts stay results of this trace
            keep_checks(outs[len(outs) - self.n_checks:])
        res = [outs[k[1]] if k[0] == "r" else Tensor._wrap(k[1]) if k[0] == "t" else k[1]
               for k in self.out_kind]
        return unflatten(self.out_tree, res)

    def aliases_capture(self, leaves: list[Any]) -> bool:
        """Whether a Variable argument is also a Variable the trace read from outside."""
        return any(id(x) in self.fixed_vars for x in leaves if isinstance(x, Variable))

    def _captured(self, leaves: list[Any]) -> list[Any]:
        """This call's captured objects: the trace's, with Variable arguments resolved."""
        if not self.var_args:
            return self.captures
        return [obj if k is None else leaves[k]
                for obj, k in zip(self.captures, self.capture_src)]

    def _inputs(self, leaves: list[Any]) -> list[Any]:
        if not self.captures:
            return [x._data if type(x) is Tensor else x
                    for x in [leaves[i] for i in self.dyn_idx]]
        arrays: list[Any] = []
        for i in self.dyn_idx:
            x = leaves[i]
            arrays.append(x._data if isinstance(x, Tensor) else x)
        for obj in self._captured(leaves):
            if isinstance(obj, Variable):
                arrays.append(obj._value._data)
            else:
                arrays.append(obj._data)
        return arrays

    def call(self, leaves: Any) -> Any:
        if not self.assigned:
            return self._call(leaves)
        # Read, run and write back as one atomic update of the assigned Variables.
        locks = Variable._locks_of(self._assigned_vars(leaves))
        for lock in locks:
            lock.acquire()
        try:
            return self._call(leaves)
        finally:
            for lock in reversed(locks):
                lock.release()

    def _call(self, leaves: Any) -> Any:
        tapes = active_tapes.get()
        if tapes and self._watched_by(tapes, leaves):
            return self._call_recorded(leaves)
        arrays = self._inputs(leaves)
        try:
            outs = (self._exe or self.executable())(*arrays)
        except (IndexError, InvalidArgumentError) as e:
            raise self._located(e, arrays) from None
        except (ShapeError, LinAlgError) as e:  # unknown dimensions that do not agree, a
            raise at_user_line(e) from None        # singular matrix: name the call
        if self._single:
            return Tensor._wrap(outs[0])
        return self._finish([Tensor._wrap(o) for o in outs], leaves)

    def _located(self, e: Exception, arrays: Any) -> BaseException:
        """The error to raise for `e`, an index error or failed check of native code
        (`locate_index_error`: the op and line, a failed check's values)."""
        if isinstance(e, InvalidArgumentError) and not self.explain:
            return e        # its message names the check and the line already
        return locate_index_error(self.trace_fn, arrays, self.origins, e, self.explain)

    def _assigned_vars(self, leaves: list[Any]) -> list[Variable]:
        """The Variables this call assigns (Variable arguments resolved)."""
        return self.assigned if not self.var_args else [
            var if k is None else leaves[k] for var, k in zip(self.assigned, self.assigned_src)]

    def _finish(self, outs: list[Tensor], leaves: list[Any]) -> Any:
        for var, t in zip(self._assigned_vars(leaves), outs[self.n_out:]):
            var._value = t
        res = [outs[k[1]] if k[0] == "r" else Tensor._wrap(k[1]) if k[0] == "t" else k[1]
               for k in self.out_kind]
        return unflatten(self.out_tree, res)

    def _watched_by(self, tapes: Any, leaves: list[Any]) -> bool:
        for t in tapes:
            if not t._recording:
                continue
            for i in self.dyn_idx:
                if id(leaves[i]) in t._watched:
                    return True
            for obj in self._captured(leaves):
                if isinstance(obj, Variable):
                    if t._watches_variable(obj):
                        return True
                elif id(obj) in t._watched:
                    return True
        return False

    def _call_recorded(self, leaves: list[Any]) -> Any:
        from .ops import convert_to_tensor
        ins = [convert_to_tensor(leaves[i]) for i in self.dyn_idx]
        for obj in self._captured(leaves):
            ins.append(obj._read() if isinstance(obj, Variable) else obj)
        try:
            outs = bind("call", *ins, fn=self.opt_fn)
        except (IndexError, InvalidArgumentError) as e:
            raise self._located(e, self._inputs(leaves)) from None
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        return self._finish(outs, leaves)


def _optimizer(conc: Concrete) -> Callable[[], Function]:
    """`conc.opt_fn` as a function that holds no reference to `conc` (an executable keeps
    it: a reference would make a cycle): after `conc` is gone, the passes run again."""
    ref, traced = weakref.ref(conc), conc.trace_fn

    def optimized() -> Function:
        c = ref()
        if c is not None:
            return c.opt_fn
        from .ir.passes import optimize
        return optimize(traced)
    return optimized
