"""`@tj.compile` (alias `tj.function`): trace Python into IR, optimize, run natively.

Invariants:
- A call is keyed as `keys.py` says (tensors by shape and dtype, Variable arguments by
  shape, dtype and aliasing, Python values by value, floats bit for bit); each key is
  traced and compiled once, even when threads race (the first compiles, the others wait).
  Keyword order does not matter. Nothing in a trace or its key keeps an argument alive.
- Variables (read from outside or passed as arguments) and outside tensors read in the
  trace are parameters, passed by reference at every call, so assigning a Variable is
  seen by the next call; a returned Variable is read at call time. What Python computes
  while tracing is baked at trace time, as in TensorFlow: a Python number captured by a
  closure (or a global) and a NumPy array used inside (copied when the trace meets it;
  changing it in place later changes nothing; logged at DEBUG) keep their trace-time
  values until something in the call's key changes. Pass such values as arguments, or
  use a Variable. Assignments inside the trace are extra results written back after the
  native call, in program order.
- Called where no tape watches its inputs, a compiled function is one native call. Under
  an eager tape it is one `call` instruction (recorded; its VJP is the compiled backward).
"""
from __future__ import annotations

import inspect
import logging
from logging import DEBUG
import threading
from collections import OrderedDict, deque
import warnings
import weakref
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from .codegen import Boxing
from .context import (TraceInterpreter, TraceState, active_tapes, locate_index_error,
                      register_eager_rule)
from .errors import TracingError, at_user_line
from .ir import settings
from .ir.caches import on_clear
from .ir.core import DTYPE_NAMES, Function, _current, bind, current_interpreter, interpreting
from .keys import describe, float_bits, identity, leaf_key
from .nest import flatten, leaf_paths, unflatten
from .notice import Notice, gc_paused
from .ops import _array_of
from .tensor import Tensor
from .variable import Variable

log = logging.getLogger("tracejit")

# How a Tensor holds its array, for the fast callers codegen builds (`Tensor._wrap`).
TENSOR_BOXING = Boxing(Tensor, "_data", (("_val", None), ("_trace", None)))

# The retrace warning follows TensorFlow 2.21's rule (FREQUENT_TRACING_WARNING_* in its
# polymorphic_function.py): a trace warns when the traces of the last RETRACE_WINDOW calls,
# with the trace before them, number RETRACE_WARN or more (the first trace counts), at most
# RETRACE_MAX_WARNINGS times. Calls are counted per Python function code, so a compiled
# function created anew in a loop is caught too.
RETRACE_WARN = 5
RETRACE_WINDOW = 10
RETRACE_MAX_WARNINGS = 2
KEYS_KEPT = 8  # recent call signatures kept (as text) to say why a call retraced


class _RetraceDetector:
    """Counts calls and remembers the call numbers of recent traces."""

    __slots__ = ("calls", "traces", "warned", "__weakref__")

    def __init__(self) -> None:
        self.calls = 0
        self.traces: deque[int] = deque(maxlen=RETRACE_WINDOW + 1)
        self.warned = 0

    def traced(self) -> tuple[int, int] | None:
        """Note a trace in the current call; (traces, calls) when a warning is due."""
        c = self.calls
        self.traces.append(c)
        recent = [t for t in self.traces if t > c - RETRACE_WINDOW]
        older = [t for t in self.traces if t <= c - RETRACE_WINDOW]
        kept = older[-1:] + recent
        if len(kept) < RETRACE_WARN or self.warned >= RETRACE_MAX_WARNINGS:
            return None
        self.warned += 1
        return len(kept), c - kept[0] + 1


_DETECTORS: weakref.WeakKeyDictionary[Any, _RetraceDetector] = weakref.WeakKeyDictionary()
_DETECTORS_LOCK = threading.Lock()
# Every live compiled function, so `tj.clear_caches()` can empty their trace caches.
_LIVE: weakref.WeakSet[CompiledFunction] = weakref.WeakSet()


def _clear_compiled() -> None:
    with _DETECTORS_LOCK:
        live = list(_LIVE)
        _DETECTORS.clear()
    for f in live:
        f._clear_cache()


on_clear("compiled functions: traces and retrace counts", _clear_compiled)


def _detector_for(fn: Callable[..., Any]) -> _RetraceDetector:
    target: Any = fn
    while hasattr(target, "__wrapped__"):
        target = target.__wrapped__
    target = getattr(target, "__func__", target)
    target = getattr(target, "__code__", target)
    with _DETECTORS_LOCK:
        try:
            det = _DETECTORS.get(target)
            if det is None:
                det = _DETECTORS[target] = _RetraceDetector()
            return det
        except TypeError:  # neither hashable nor weakly referenceable: its own counter
            return _RetraceDetector()


class _Config:
    """Process-wide switches, as TensorFlow's `tf.config` (`tj.config`).

    >>> tj.config.functions_run_eagerly()
    False
    """

    def __init__(self) -> None:
        self._eager = settings.switch("TRACEJIT_DISABLE_JIT")

    def run_functions_eagerly(self, run_eagerly: bool) -> None:
        """With True, compiled functions run as plain Python on NumPy (for `pdb` and
        `print`); the default is `TRACEJIT_DISABLE_JIT`, else False.

        >>> tj.config.run_functions_eagerly(True)
        >>> tj.function(lambda x: float(x) + 1)(tj.constant(1.))   # float() works eagerly
        2.0
        >>> tj.config.run_functions_eagerly(False)
        """
        self._eager = bool(run_eagerly)

    def functions_run_eagerly(self) -> bool:
        """Whether `run_functions_eagerly(True)` is in effect."""
        return self._eager


config = _Config()


def compile(func: Callable[..., Any] | None = None, *, input_signature: Any = None,
            jit_compile: Any = None, reduce_retracing: bool = False, autograph: bool = True,
            name: str | None = None) -> Any:  # noqa: A001
    """Decorator: trace `func` per input shape/dtype, compile to native code, cache (also
    `tj.function`, so `@tf.function` code runs unchanged).

    Tensor and NumPy arguments are dynamic (keyed by shape and dtype), other Python values
    static (keyed by value: a new value traces again). TensorFlow's other arguments are
    accepted for such code and change nothing: `jit_compile` (the code is always
    compiled), `reduce_retracing` (shapes are never relaxed: each new shape traces once)
    and `autograph` (Python `if` and `for` on traced values are not converted: use
    `tj.cond`, `tj.while_loop`, `tj.scan`). `input_signature` is not supported.

    >>> @tj.function
    ... def f(x):
    ...     return tj.reduce_sum(x * x)
    >>> f(np.ones(3, np.float32)).numpy()      # traced and compiled for f32[3]
    array(3., dtype=float32)
    >>> f(tj.constant([1., 2.])).numpy(), f.trace_count
    (array(5., dtype=float32), 2)
    """
    if input_signature is not None:
        raise NotImplementedError("input_signature is not supported; shapes come from the "
                                  "arguments of each call")

    def wrap(f: Callable[..., Any]) -> CompiledFunction:
        if not callable(f):
            raise TypeError(f"tj.compile needs a function (a callable object), got {f!r} of "
                            f"type {type(f).__name__}")
        return CompiledFunction(f, name)
    return wrap if func is None else wrap(func)


function = compile


_STATIC_TYPES = (int, float, bool, str, type(None))


def _fast_key(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A cheap key for flat arguments (tensors, arrays, Python scalars), or None."""
    key: list[Any] = []
    for a in args:
        t = type(a)
        if t is Tensor:
            d = a._data
            if d is None:
                return None
            key.append(d.shape)
            key.append(d.dtype)
        elif t is np.ndarray:
            key.append(a.shape)
            key.append(a.dtype)
        elif t in _STATIC_TYPES:
            # Floats bit for bit: 0.0 == -0.0 and nan != nan would mislead the dict.
            key.append((t, a) if t is not float or a == a and a != 0.0
                       else (t, float_bits(a)))
        else:
            return None
    return tuple(key)


def _convert_arrays(leaves: list[Any]) -> bool:
    """Make array leaves what `tj.constant` makes of them, in place: arrays of other
    integer dtypes (int8, uint16, ...) become int64, ndarray subclasses plain arrays;
    unsupported dtypes raise its DTypeError. Returns whether any leaf changed."""
    converted = False
    for k, x in enumerate(leaves):
        if isinstance(x, np.ndarray) and (type(x) is not np.ndarray
                                          or x.dtype not in DTYPE_NAMES):
            leaves[k] = _array_of(x)
            converted = True
    return converted


class CompiledFunction:
    """A Python function traced and compiled per call signature."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None):
        self.python_function = fn
        self.__name__: str = name or str(getattr(fn, "__name__", "f"))
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._cache: dict[Any, Concrete] = {}
        self._fast: dict[Any, Concrete] = {}
        self._pending: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()
        # Retrace diagnostics: the last few signatures in words (never the arguments),
        # the call numbers of the last traces, and how many warnings were given.
        self._keys: deque[tuple[Any, list[str]]] = deque(maxlen=KEYS_KEPT)
        self._detector = _detector_for(fn)
        self.trace_count = 0
        try:
            self._sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._sig = None
        with _DETECTORS_LOCK:
            _LIVE.add(self)

    def _clear_cache(self) -> None:
        """Forget every trace: the next call of each signature traces again."""
        with self._lock:
            self._cache.clear()
            self._fast = {}

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        import functools
        return functools.partial(self.__call__, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._detector.calls += 1
        if not kwargs and self._fast and not config._eager and _current.get() is None \
                and not active_tapes.get():
            # Fast dispatch: flat arguments of a known signature, no trace around us and
            # no tape to record on: one native call. `_fast_key`, with the commonest
            # case (one tensor) inlined: this is the hottest path there is.
            if len(args) == 1 and type(args[0]) is Tensor and args[0]._data is not None:
                d = args[0]._data
                conc = self._fast.get((d.shape, d.dtype))
            else:
                fk = _fast_key(args)
                conc = None if fk is None else self._fast.get(fk)
            if conc is not None:
                if log.isEnabledFor(DEBUG):
                    log.debug("%s: memory cache hit", self.__name__)
                return conc.fast(args)
        if kwargs:
            args, kwargs = self._canonical(args, kwargs)
        leaves, tree = flatten((args, kwargs))
        converted = _convert_arrays(leaves)     # every path below sees the same arrays
        if config._eager:
            # As traced: NumPy arrays arrive as tensors, so both modes run the same code.
            leaves = [Tensor._wrap(np.array(x)) if isinstance(x, np.ndarray) else x
                      for x in leaves]
            args, kwargs = unflatten(tree, leaves)
            return self.python_function(*args, **kwargs)
        if isinstance(current_interpreter(), TraceInterpreter):
            # Inside another trace: inline (the outer compile sees every op).
            if converted:
                args, kwargs = unflatten(tree, leaves)
            return self.python_function(*args, **kwargs)
        key = self._key(leaves, tree)
        conc = self._cache.get(key)
        if conc is None:
            conc = self._get(key, leaves, tree)
        else:
            log.debug("%s: memory cache hit", self.__name__)
        if conc.fixed_vars and conc.aliases_capture(leaves):
            # A Variable argument is also read from outside by the trace: trace the
            # aliasing explicitly (reads and assignments of both names are one value).
            key = (*key, tuple(identity(x) for x in leaves if isinstance(x, Variable)))
            conc = self._cache.get(key) or self._get(key, leaves, tree, aliased=True)
        if not kwargs and not converted:
            fk = _fast_key(args)
            if fk is not None and len(self._fast) < CACHE_SIZE:
                self._fast[fk] = conc
        return conc.call(leaves)

    def _canonical(self, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments in one order whatever order the keywords came in (as TensorFlow's
        canonicalization): parameters given by name become positional where they can
        be, and the remaining keywords are sorted."""
        if self._sig is not None:
            try:
                bound = self._sig.bind(*args, **kwargs)
            except TypeError:
                pass  # the call itself raises Python's own error
            else:
                args, kwargs = bound.args, bound.kwargs
        return args, dict(sorted(kwargs.items()))

    def _key(self, leaves: list[Any], tree: Any) -> Any:
        aliases: dict[int, int] = {}
        names: list[str] = []

        def describe_arg(i: int) -> Callable[[], str]:
            def text() -> str:
                if not names:
                    names.extend(self._arg_names(leaves, tree))
                return f"{self.__name__}: argument `{names[i]}`"
            return text
        try:
            return (tree, tuple(leaf_key(x, aliases, i, describe_arg(i))
                                for i, x in enumerate(leaves)))
        except TypeError as e:
            raise at_user_line(e) from None

    def _get(self, key: Any, leaves: list[Any], tree: Any, aliased: bool = False
             ) -> Concrete:
        while True:
            with self._lock:
                conc = self._cache.get(key)
                if conc is not None:
                    return conc
                ev = self._pending.get(key)
                if ev is None:
                    ev = threading.Event()
                    self._pending[key] = ev
                    break
            ev.wait()
        try:
            conc = self._trace(key, leaves, tree, aliased)
            with self._lock:
                self._cache[key] = conc
                while len(self._cache) > CACHE_SIZE:
                    old = self._cache.pop(next(iter(self._cache)))
                    self._fast = {k: v for k, v in self._fast.items() if v is not old}
            return conc
        finally:
            with self._lock:
                self._pending.pop(key, None)
            ev.set()

    def _arg_names(self, leaves: list[Any], tree: Any) -> list[str]:
        """A readable name per leaf: the parameter name, with [i] / ['k'] for nesting."""
        (_, _, (args_t, kwargs_t)) = tree
        params = list(self._sig.parameters) if self._sig else []
        names: list[str] = []
        for i, c in enumerate(args_t[2]):
            names += leaf_paths(c, params[i] if i < len(params) else f"args[{i}]")
        for k, c in zip(kwargs_t[1], kwargs_t[2]):
            names += leaf_paths(c, k)
        return names

    def _trace(self, key: Any, leaves: list[Any], tree: Any, aliased: bool = False
               ) -> Concrete:
        self.trace_count += 1
        prev = self._keys[-1] if self._keys else None
        summary = (tree, [describe(k) for k in key[1]])
        self._keys.append(summary)
        why = ""
        if prev is not None:
            names = self._arg_names(leaves, tree)
            diffs = [f"{n}: {a} -> {b}" for n, a, b in zip(names, prev[1], summary[1])
                     if a != b]
            why = "; ".join(diffs) if prev[0] == tree else "the argument structure changed"
        log.debug("%s: tracing (trace #%d)%s", self.__name__, self.trace_count,
                  f" because {why}" if why else "")
        due = self._detector.traced()
        if due is not None:
            warnings.warn(
                f"{due[0]} of the last {due[1]} calls of tj.compile function "
                f"{self.__name__!r} traced it; this trace because "
                f"{why or 'of a new call signature'}. Each new shape, dtype or Python value "
                "retraces and recompiles: pass tensors instead of Python numbers, keep "
                "shapes fixed, and define compiled functions outside loops.", stacklevel=4)
        notice = Notice(self.__name__, "tracing")
        try:
            with gc_paused():
                conc = Concrete.trace(self, leaves, tree, aliased)
        finally:
            notice.pause()
        conc.notice = notice
        return conc

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The compiler's view of a call with these arguments, for `as_text(stage)`."""
        if kwargs:
            args, kwargs = self._canonical(args, kwargs)
        leaves, tree = flatten((args, kwargs))
        _convert_arrays(leaves)
        key = self._key(leaves, tree)
        conc = self._cache.get(key) or self._get(key, leaves, tree)
        return Lowered(conc)

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> Concrete:
        return self.lower(*args, **kwargs).concrete


STAGES = ("trace", "grad", "opt", "plan", "llvm", "asm")


class Lowered:
    def __init__(self, conc: Concrete):
        self.concrete = conc

    def as_text(self, stage: str = "opt") -> str:
        """`trace` (as traced, with replayed gradient code), `grad` (the gradient Functions
        tapes made, before replay), `opt` (what codegen receives), `plan` (its fusion into
        loop nests and kernels), `llvm`, `asm`."""
        from .ir.printer import print_function
        c = self.concrete
        if stage == "trace":
            return print_function(c.trace_fn)
        if stage == "grad":
            if not c.grad_fns:
                raise ValueError(f"function {c.name!r} computes no gradient (no tape.gradient "
                                 "inside it), so there is no 'grad' stage; differentiate it "
                                 "with a tape, or use `tracejit dump --grad`")
            return "\n\n".join(print_function(g.fn) for g in c.grad_fns)
        if stage == "opt":
            return print_function(c.opt_fn)
        if stage == "plan":
            from .codegen import fusion_plan
            return fusion_plan(c.opt_fn)
        if stage == "llvm":
            return c.executable().llvm_ir
        if stage == "asm":
            return c.executable().asm
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")


class Concrete:
    """One traced signature: the traced and optimized Functions, the native executable,
    and how to map Python arguments in and results out."""

    # Set by `trace`, the one constructor.
    name: str
    dyn_idx: list[int]                  # leaf index of each dynamic (tensor) argument
    n_leaves: int
    n_dyn: int
    out_tree: Any
    out_kind: list[Any]                 # per output leaf: ("r", i), ("t", array), ("c", v)
    n_out: int
    assigned: list[Any]                 # Variables the trace assigns (None: an argument)
    assigned_src: list[int | None]
    captures: list[Any]                 # captured tensors and Variables (None: an argument)
    capture_src: list[int | None]
    var_args: bool
    fixed_vars: set[int]
    trace_fn: Function
    opt_fn: Function
    origins: Any
    grad_fns: list[Any]
    grad_residuals: Any
    fast: Callable[[tuple[Any, ...]], Any]
    notice: Notice
    _exe: Any
    _single: bool
    _exe_lock: threading.Lock

    @classmethod
    def trace(cls, owner: CompiledFunction, leaves: list[Any], tree: Any,
              aliased: bool = False) -> Concrete:
        """Trace `owner` for these arguments. Variable arguments are traced as stand-ins
        (so reads through the parameter and reads of a Variable captured from outside stay
        apart, and the trace serves any Variable of that shape and dtype), unless `aliased`:
        the trace for a call where an argument is also a Variable the function reads from
        outside, which treats them as the one Variable they are."""
        self = cls()
        self.name = owner.__name__
        st = TraceState(owner.__name__)
        self.dyn_idx = []
        self.n_leaves = len(leaves)
        traced_leaves: list[Any] = []
        for i, x in enumerate(leaves):
            if isinstance(x, (Tensor, np.ndarray)):
                if isinstance(x, Tensor) and x._data is None:
                    raise TracingError("a traced tensor from another trace was passed in")
                arr_dtype = x.dtype
                from .ops import _dtype
                _dtype(arr_dtype)
                v = st.builder.param(_type(x), _leaf_hint(owner, i, leaves, tree))
                traced_leaves.append(st.wrap(v))
                self.dyn_idx.append(i)
            else:
                traced_leaves.append(x)
        # Variables passed as arguments: parameters after the tensors, passed by reference
        # (the trace serves every Variable of the same shape and dtype).
        var_args: dict[int, int] = {}       # id(Variable) -> leaf index
        stand_ins: dict[int, Variable] = {}
        for i, x in enumerate(leaves):
            if isinstance(x, Variable):
                if not aliased:
                    if id(x) not in stand_ins:
                        stand_ins[id(x)] = _stand_in(x)
                    x = traced_leaves[i] = stand_ins[id(x)]
                if id(x) not in var_args:
                    var_args[id(x)] = i
                    st.read_var(x)
        args, kwargs = unflatten(tree, traced_leaves)
        n_dyn = len(self.dyn_idx)
        interp = TraceInterpreter(st)
        saved_tapes = active_tapes.set(())
        try:
            with interpreting(interp):
                out = owner.python_function(*args, **kwargs)
        finally:
            active_tapes.reset(saved_tapes)
            st.closed = True
        _check_unmodified(owner, args, kwargs, tree, traced_leaves)
        out_leaves, self.out_tree = flatten(out)
        results: list[Any] = []
        # ("r", index) a result; ("t", array) a number or array returned, made a new
        # tensor at every call (as tf.function); ("c", value) any other Python leaf.
        self.out_kind = []
        for o in out_leaves:
            if isinstance(o, Variable):
                o = st.read_var(o)              # read at call time, after the assigns
            elif isinstance(o, (bool, int, float, np.generic, np.ndarray)):
                from .ops import convert_to_tensor
                self.out_kind.append(("t", convert_to_tensor(o)._data))
                continue
            if isinstance(o, Tensor) and o._trace is st:
                self.out_kind.append(("r", len(results)))
                results.append(o._val)
            elif isinstance(o, Tensor) and o._data is not None:
                with interpreting(interp):
                    v = st.value_of(o)
                self.out_kind.append(("r", len(results)))
                results.append(v)
            elif isinstance(o, Tensor):
                raise TracingError(f"{self.name} returned a tensor of another trace")
            else:
                self.out_kind.append(("c", o))
        self.n_out = len(results)
        self.assigned = list(st.assigned.values())
        for var in self.assigned:
            results.append(st.var_values[id(var)]._val)
        # Captured tensors and variables follow the dynamic arguments as parameters. Those
        # passed as arguments are taken from each call's arguments (`*_src`: leaf index),
        # and not kept: a trace holds no argument alive.
        self.captures = [obj for _, obj in st.captures]
        self.capture_src = [var_args.get(id(obj)) if isinstance(obj, Variable) else None
                            for obj in self.captures]
        self.assigned_src = [var_args.get(id(var)) for var in self.assigned]
        self.var_args = bool(var_args)
        if var_args:
            self.captures = [None if k is not None else obj
                             for obj, k in zip(self.captures, self.capture_src)]
            self.assigned = [None if k is not None else var
                             for var, k in zip(self.assigned, self.assigned_src)]
        self.fixed_vars = {id(obj) for obj in self.captures if isinstance(obj, Variable)} \
            if var_args else set()
        params = st.builder.params
        self.trace_fn = Function(owner.__name__, params, st.builder.instrs, results)
        self.origins = st.origins
        self.grad_fns = list(st.grad_functions)
        self.grad_residuals = st.grad_residuals
        self.n_dyn = n_dyn
        from .ir.passes import optimize
        self.opt_fn = optimize(self.trace_fn)
        _OPTIMIZED_FNS.add(self.opt_fn)
        self._exe = None
        self.fast = self._first_fast
        # One tensor result, nothing assigned: no structure to rebuild.
        self._single = (self.out_tree is None and not self.assigned
                        and self.out_kind == [("r", 0)])
        self._exe_lock = threading.Lock()
        log.debug("%s: traced %d instructions, %d after optimization", self.name,
                  len(self.trace_fn.instrs), len(self.opt_fn.instrs))
        return self

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
        if self.captures or not self._single:
            return self.call
        call = self.call
        return self._exe.fast_caller(self.dyn_idx, TENSOR_BOXING,  # type: ignore[no-any-return]
                                     lambda args: call(list(args)))

    def executable(self) -> Any:
        if self._exe is None:
            with self._exe_lock:
                if self._exe is None:
                    self._exe = native(self.opt_fn, keep=False,
                                       notice=getattr(self, "notice", None))
                    _NATIVE_OF[self.opt_fn] = weakref.ref(self._exe)
        return self._exe

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
        except IndexError as e:
            raise locate_index_error(self.trace_fn, arrays, self.origins, e) from None
        if self._single:
            return Tensor._wrap(outs[0])
        return self._finish([Tensor._wrap(o) for o in outs], leaves)

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
                    if obj.trainable and t._watch_accessed or id(obj._value) in t._watched:
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
        except IndexError as e:
            raise locate_index_error(self.trace_fn, self._inputs(leaves), self.origins,
                                     e) from None
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        return self._finish(outs, leaves)


def _check_unmodified(owner: CompiledFunction, args: tuple[Any, ...], kwargs: dict[str, Any],
                      tree: Any, leaves: list[Any]) -> None:
    """Refuse a function that changed its Python arguments (a list it appended to, a dict
    it set a key of) while traced: its Python code runs only when tracing, so later calls
    would silently skip the change (TensorFlow raises the same ValueError)."""
    after, after_tree = flatten((args, kwargs))
    if after_tree == tree and len(after) == len(leaves) and all(
            a is b for a, b in zip(after, leaves)):
        return
    names = list(owner._sig.parameters) if owner._sig else []
    (_, _, (args_t, kwargs_t)) = tree
    changed: list[str] = []
    start = 0
    parts = [(names[i] if i < len(names) else f"args[{i}]", c, args[i] if i < len(args) else
              None) for i, c in enumerate(args_t[2])]
    parts += [(k, c, kwargs.get(k)) for k, c in zip(kwargs_t[1], kwargs_t[2])]
    for name, sub, value in parts:
        n = _count(sub)
        now, now_tree = flatten(value)
        if now_tree != sub or any(a is not b for a, b in zip(now, leaves[start:start + n])):
            changed.append(name)
        start += n
    raise at_user_line(ValueError(
        f"{owner.__name__}({', '.join(names)}) modified its Python input argument(s) "
        f"{', '.join(changed) or '(structure)'} while traced. A compiled function runs its "
        "Python code only when it traces, so later calls would not make the change: "
        "modify a copy instead (e.g. `xs = list(xs)`), or return the new value."))


def _count(tree: Any) -> int:
    """The number of leaves of a `nest` tree."""
    if tree is None:
        return 1
    return sum(_count(c) for c in tree[2])


def _stand_in(var: Variable) -> Variable:
    """A Variable object that stands for the argument `var` in a trace (same value, name,
    trainability and creation order; not kept after tracing)."""
    s = object.__new__(Variable)
    s._value, s.trainable, s.name, s._serial = var._value, var.trainable, var.name, var._serial
    return s


def _type(x: Any) -> Any:
    from .ir.core import TensorType
    return TensorType(x.shape, x.dtype)


def _leaf_hint(owner: CompiledFunction, i: int, leaves: list[Any], tree: Any) -> str | None:
    try:
        name = owner._arg_names(leaves, tree)[i]
    except Exception:
        return None
    return name if name.isidentifier() else None


# ------------------------------------------------------------------ native execution

class _LRU:
    """A small thread-safe LRU map keyed by object identity (holds the key object, so an
    id is never reused while its entry lives). Evicted executables free their engines."""

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, obj: Any) -> Any:
        with self._lock:
            hit = self._d.get(id(obj))
            if hit is None or hit[0] is not obj:
                return None
            self._d.move_to_end(id(obj))
            return hit[1]

    def put(self, obj: Any, value: Any) -> None:
        with self._lock:
            self._d[id(obj)] = (obj, value)
            self._d.move_to_end(id(obj))
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_NATIVE = _LRU(32)
CACHE_SIZE = 32  # traced signatures kept per compiled function (the oldest go first)
# The executable of each traced signature's optimized Function while its trace lives (the
# trace owns it; held weakly here, since an executable refers to its Function, which would
# otherwise keep the entry alive), and the Functions that are optimized already.
_NATIVE_OF: weakref.WeakKeyDictionary[Function, weakref.ref[Any]] = weakref.WeakKeyDictionary()
_OPTIMIZED_FNS: weakref.WeakSet[Function] = weakref.WeakSet()


def native(fn: Function, keep: bool = True, notice: Notice | None = None) -> Any:
    """The native executable of an optimized Function (compiled once per Function).

    A traced signature's own Function has its executable in `_NATIVE_OF`, so the code
    lives exactly as long as the trace that owns it; other Functions (backward passes of
    compiled calls) are kept in a small LRU map."""
    ref = _NATIVE_OF.get(fn)
    exe = ref() if ref is not None else None
    if exe is not None:
        return exe
    hit = _NATIVE.get(fn)
    if hit is not None:
        return hit
    from . import codegen
    log.debug("compiling @%s (%d instructions) to native code", fn.name, len(fn.instrs))
    if notice is None:
        notice = Notice(fn.name, "compiling to native code", fn)
    else:
        notice.resume("compiling to native code", fn)
    try:
        with gc_paused():
            exe = codegen.compile_function(fn)
    except (TypeError, ValueError, IndexError) as e:
        raise at_user_line(e) from None
    finally:
        notice.done()
    if keep:
        _NATIVE.put(fn, exe)
    return exe


def _eager_call(args: Sequence[Any], params: dict[str, Any]) -> Any:
    """A `call` run eagerly: the callee optimized, compiled once, and run natively."""
    fn = params["fn"]
    if fn is None or not isinstance(fn, Function):
        raise TypeError("call needs a Function")
    opt = fn if fn in _OPTIMIZED_FNS else _optimized(fn)
    arrays = []
    for a in args:
        t = a if isinstance(a, Tensor) else a._read()
        arrays.append(t._data)
    try:
        outs = native(opt)(*arrays)
    except (TypeError, ValueError) as e:
        raise at_user_line(e) from None
    outs = [np.asarray(o) for o in outs]
    return outs[0] if len(outs) == 1 else tuple(outs)


_OPTIMIZED = _LRU(64)


def _optimized(fn: Function) -> Function:
    hit = _OPTIMIZED.get(fn)
    if hit is not None:
        return hit
    from .ir.passes import optimize
    opt = optimize(fn)
    _OPTIMIZED_FNS.add(opt)
    _OPTIMIZED.put(fn, opt)
    return opt


def _clear_function_maps() -> None:
    _NATIVE.clear()
    _OPTIMIZED.clear()
    _NATIVE_OF.clear()      # the traces that own these are cleared too
    _OPTIMIZED_FNS.clear()


on_clear("compiled functions: executables and optimized Functions", _clear_function_maps)


register_eager_rule("call", _eager_call)
