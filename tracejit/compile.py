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

import functools
import inspect
import logging
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from logging import DEBUG
from typing import Any

import numpy as np

from . import native, tracing
from .concrete import Concrete
from .context import TraceInterpreter, active_tapes
from .errors import at_user_line
from .firstcall import Creation, check_first_trace, creating
from .ir import settings
from .ir.caches import on_clear
from .ir.core import DTYPE_NAMES, _current, current_interpreter
from .ir.errors import ShapeError
from .keys import describe, float_bits, identity, leaf_key
from .trees import flatten, leaf_paths, unflatten
from .notice import Notice, gc_paused
from .ops import _array_of
from .retrace import KEYS_KEPT, detector_for
from .signature import (InputSignature, check_input_signature, key_matches, leaf_shapes,
                        poly_key, relaxed_shapes)
from .stages import Lowered
from .tensor import Tensor
from .variable import Variable

log = logging.getLogger("tracejit")

CACHE_SIZE = 32  # traced signatures kept per compiled function (the oldest go first)
# Every live compiled function, so `tj.clear_caches()` can empty their trace caches.
_LIVE: weakref.WeakSet[CompiledFunction] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def _clear_compiled() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for f in live:
        f._clear_cache()


on_clear("compiled functions: traces", _clear_compiled)



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
        if self._eager:
            native.forget_all()

    def functions_run_eagerly(self) -> bool:
        """Whether `run_functions_eagerly(True)` is in effect."""
        return self._eager


config = _Config()


def compile(func: Callable[..., Any] | None = None, *, input_signature: Any = None,
            jit_compile: Any = None, reduce_retracing: bool = False, autograph: bool = True,
            name: str | None = None, experimental_relax_shapes: bool | None = None,
            **unused: Any) -> Any:  # noqa: A001
    """Decorator: trace `func` per input shape/dtype, compile to native code, cache (also
    `tj.function`, so `@tf.function` code runs unchanged).

    Tensor and NumPy arguments are dynamic (keyed by shape and dtype), other Python values
    static (keyed by value: a new value traces again). `input_signature=[tj.TensorSpec(
    ...), ...]` fixes what the function accepts: each call is checked against it (a
    TypeError names the argument, the spec and what was passed) and its arguments
    converted to the specs' dtypes; `None` in a spec's shape accepts any size there, and
    one shape-polymorphic trace serves them all. `reduce_retracing=True` (TensorFlow's
    older name: `experimental_relax_shapes`) generalizes a dimension seen with two sizes
    to `None`, so a third size does not trace again.
    Variables may be created on the first call only (TensorFlow's rule). TensorFlow's
    other arguments are accepted and change nothing: `jit_compile` (the code is always
    compiled) and `autograph` (Python `if` and `for` on traced values are not converted:
    use `tj.cond`, `tj.while_loop`, `tj.scan`).

    >>> @tj.function
    ... def f(x):
    ...     return tj.reduce_sum(x * x)
    >>> f(np.ones(3, np.float32)).numpy()      # traced and compiled for f32[3]
    array(3., dtype=float32)
    >>> f(tj.constant([1., 2.])).numpy(), f.trace_count
    (array(5., dtype=float32), 2)
    """
    unknown = set(unused) - _TF_OPTIONS
    if unknown:
        raise TypeError(f"tj.function got unexpected keyword argument(s) "
                        f"{', '.join(sorted(unknown))}")
    if input_signature is not None:
        input_signature = check_input_signature(input_signature)
    relax = bool(reduce_retracing or experimental_relax_shapes)

    def wrap(f: Callable[..., Any]) -> CompiledFunction:
        if not callable(f):
            raise TypeError(f"tj.compile needs a function (a callable object), got {f!r} of "
                            f"type {type(f).__name__}")
        return CompiledFunction(f, name, input_signature, relax)
    return wrap if func is None else wrap(func)


function = compile

# tf.function's remaining arguments, accepted for TensorFlow code (they change nothing).
_TF_OPTIONS = {"experimental_implements", "experimental_autograph_options",
               "experimental_attributes", "experimental_compile",
               "experimental_follow_type_hints"}
# Whether `tracing.trace` takes `shapes` (the shape-polymorphic trace).
_POLY = "shapes" in inspect.signature(tracing.trace).parameters


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


def _described(k: Any) -> str:
    """A retrace summary's entry in words (see `CompiledFunction._keys`)."""
    return k if isinstance(k, str) else describe(k)


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

    # `_native`: the table of the native dispatcher (`native.py`), or None.
    __slots__ = ("__dict__", "__weakref__", "_native")

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 input_signature: tuple[Any, ...] | None = None,
                 reduce_retracing: bool = False, method: bool = False):
        self.python_function = fn
        self.__name__: str = name or str(getattr(fn, "__name__", "f"))
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._cache: dict[Any, Concrete] = {}
        self._fast: dict[Any, Concrete] = {}
        self._native: Any = None
        self._native_entries: dict[Any, Any] = {}     # fast key -> native.Entry
        self._pending: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()
        # Retrace diagnostics: the last few signatures (never the arguments: in words,
        # or a tensor's key, its shape and dtype, which `_described` puts in words when a
        # retrace is explained), the call numbers of the last traces, and how many
        # warnings were given.
        self._keys: deque[tuple[Any, list[Any]]] = deque(maxlen=KEYS_KEPT)
        self._detector = detector_for(fn)
        self.trace_count = 0
        try:
            self._sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._sig = None
        self.input_signature = input_signature
        self._reduce_retracing = reduce_retracing
        self._method = method               # a method's function for one instance
        self._input_sig: InputSignature | None = None
        if input_signature is not None:
            sig = self._sig
            if method and sig is not None:
                sig = sig.replace(parameters=list(sig.parameters.values())[1:])
            self._input_sig = InputSignature(input_signature, sig, self.__name__)
        self._general: list[Any] = []      # keys with None sizes (shape-polymorphic traces)
        # keys with None sizes that `reduce_retracing` could not trace: calls they would
        # serve trace their exact shapes
        self._unrelaxable: set[Any] = set()
        self._initialized = False           # traced once: Variables may no longer be made
        self._mode = "first"                # the Variable-creation policy of the next trace
        self._last_created: list[Variable] = []
        self._last_creation: Creation | None = None
        # Held while a trace may still create Variables: traces of different keys on the
        # first calls run one at a time, so only the first creates them.
        self._first_lock = threading.RLock()
        self._created_variables: list[Variable] = []   # made in the first trace, kept
        self._instances: dict[int, Any] = {}           # id(obj) -> (weakref, bound method)
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _clear_cache(self) -> None:
        """Forget every trace: the next call of each signature traces again."""
        with self._lock:
            self._cache.clear()
            self._fast = {}
            native.forget(self)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """A compiled method: one compiled function per instance (its own traces, trace
        count and first-call Variables, as TensorFlow's), kept while the instance lives."""
        if obj is None:
            return self
        hit = self._instances.get(id(obj))
        if hit is not None and hit[0]() is obj:
            return hit[1]
        from .methods import bind_method
        bound = bind_method(self, obj)
        if bound is None:                   # cannot be weakly referenced: share this one
            return functools.partial(self.__call__, obj)
        return bound

    def _creating(self, state: Any, arrays: list[Any]) -> Any:
        """The Variable-creation policy of the trace being made (`firstcall`)."""
        c = Creation(self._mode, state, arrays)
        self._last_created = c.created
        self._last_creation = c
        return creating(c)

    def experimental_get_tracing_count(self) -> int:
        """How many times this function has been traced (TensorFlow's name).

        >>> f = tj.function(lambda x: x + 1.)
        >>> _ = f(tj.constant(1.)); _ = f(tj.constant(2.)); _ = f(tj.constant([1.]))
        >>> f.experimental_get_tracing_count()
        2
        """
        return self.trace_count

    def _python_call(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function (`__call__`): the native dispatcher (`native.py`) handles a
        call of a known signature with tensor or array arguments; everything else comes
        here."""
        self._detector._calls += 1
        if not kwargs and self._fast and not config._eager and _current.get() is None \
                and not active_tapes.get():
            # Fast dispatch: flat arguments of a known signature, no trace around us and
            # no tape to record on: one native call. `_fast_key`, with the commonest
            # case (one tensor) inlined: this is the hottest path there is.
            if len(args) == 1 and type(args[0]) is Tensor and args[0]._data is not None:
                d = args[0]._data
                fk: Any = (d.shape, d.dtype)
                conc = self._fast.get(fk)
            else:
                fk = _fast_key(args)
                conc = None if fk is None else self._fast.get(fk)
            if conc is not None:
                if log.isEnabledFor(DEBUG):
                    log.debug("%s: memory cache hit", self.__name__)
                out = conc.fast(args)
                if fk not in self._native_entries:
                    native.offer(self, fk, conc, args)
                return out
        if self._input_sig is not None:
            args, kwargs = self._bind_signature(args, kwargs), {}
        elif kwargs:
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
            conc = self._lookup(key, leaves, tree)
        else:
            log.debug("%s: memory cache hit", self.__name__)
        if conc.fixed_vars and conc.aliases_capture(leaves):
            # A Variable argument is also read from outside by the trace: trace the
            # aliasing explicitly (reads and assignments of both names are one value).
            key = (*key, tuple(identity(x) for x in leaves if isinstance(x, Variable)))
            conc = self._cache.get(key) or self._get(key, leaves, tree, aliased=True)
        try:
            out = conc.call(leaves)
        except ShapeError:
            if self._input_sig is not None or conc.key not in self._general:
                raise
            # A shape-polymorphic trace (`reduce_retracing`, a concrete function with None
            # sizes) whose assumptions these shapes break (unknown sizes that broadcast
            # against each other were assumed equal): only the input signature promises
            # that error; otherwise the call gets a trace of its own shapes.
            conc = self._get(key, leaves, tree)
            out = conc.call(leaves)
        if not kwargs and not converted:
            fk = _fast_key(args)
            if fk is not None and len(self._fast) < CACHE_SIZE:
                self._fast[fk] = conc
        return out

    __call__ = _python_call     # until the native dispatcher is installed

    def _bind_signature(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                        specs: bool = False) -> tuple[Any, ...]:
        """The call bound to the input signature (a method's instance stays first)."""
        assert self._input_sig is not None
        if self._method:
            return (args[0], *self._input_sig.bind(args[1:], kwargs, specs))
        return self._input_sig.bind(args, kwargs, specs)

    def _lookup(self, key: Any, leaves: list[Any], tree: Any) -> Concrete:
        """The trace for a call whose exact key has none: a shape-polymorphic trace that
        serves it (from the input signature, `reduce_retracing` or `get_concrete_function`
        with None sizes), else a new trace of its exact key."""
        if _POLY:
            shapes: list[Any] | None = None
            if self._input_sig is not None:
                shapes = leaf_shapes(self._input_sig)
                if self._method:
                    shapes = [None] * (len(leaves) - len(shapes)) + shapes
                if all(s is None for s in shapes):
                    shapes = None
            if shapes is None:
                for general in self._general:
                    conc = self._cache.get(general)
                    if conc is not None and key_matches(general, key):
                        return conc
                if self._reduce_retracing:
                    shapes = relaxed_shapes(key, list(self._cache))
                    if shapes is not None and poly_key(key, shapes) in self._unrelaxable:
                        shapes = None
                    elif shapes is not None:
                        # `reduce_retracing` is a hint: a function that cannot be traced
                        # with unknown sizes (a slice or a scan of one) traces its shapes
                        pkey = poly_key(key, shapes)
                        try:
                            return self._general_trace(pkey, leaves, tree, shapes)
                        except Exception:  # noqa: BLE001  (the exact trace raises its own)
                            self._unrelaxable.add(pkey)
                            return self._get(key, leaves, tree)
            if shapes is not None:
                return self._general_trace(poly_key(key, shapes), leaves, tree, shapes)
        return self._get(key, leaves, tree)

    def _general_trace(self, pkey: Any, leaves: list[Any], tree: Any, shapes: list[Any]
                       ) -> Concrete:
        conc = self._cache.get(pkey)
        if conc is None:
            conc = self._get(pkey, leaves, tree, shapes=shapes)
            if pkey not in self._general:
                self._general.append(pkey)
        return conc

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

    def _get(self, key: Any, leaves: list[Any], tree: Any, aliased: bool = False,
             shapes: list[Any] | None = None) -> Concrete:
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
        pending_key = key       # `key` changes below when the first call makes Variables
        first = None if self._initialized else self._first_lock
        if first is not None:
            first.acquire()
        try:
            conc = self._trace(key, leaves, tree, aliased, shapes)
            made = None
            if self._last_created:
                made = self._last_creation
                # Variables were made on the first call: trace again with them (it must
                # make none), keyed by the arguments as they are now (an instance holding
                # the new Variables), as TensorFlow does.
                self._created_variables.extend(self._last_created)
                key = self._key(leaves, tree) if shapes is None else \
                    poly_key(self._key(leaves, tree), shapes)
                self._mode = "verify"
                try:
                    conc = self._trace(key, leaves, tree, aliased, shapes, again=True)
                finally:
                    self._mode = "later"
            self._initialized = True
            self._mode = "later"
            conc.key, conc.python_signature = key, self._sig
            conc.input_signature = self.input_signature
            if self._method:
                conc.instance = weakref.ref(leaves[0])
            with self._lock:
                self._cache[key] = conc
                while len(self._cache) > CACHE_SIZE:
                    old = self._cache.pop(next(iter(self._cache)))
                    self._fast = {k: v for k, v in self._fast.items() if v is not old}
                    native.forget(self)
            if made is not None:    # the first trace's checks, which the call runs
                check_first_trace(made)
            return conc
        finally:
            if first is not None:
                first.release()
            with self._lock:
                self._pending.pop(pending_key, None)
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

    def _trace(self, key: Any, leaves: list[Any], tree: Any, aliased: bool = False,
               shapes: list[Any] | None = None, again: bool = False) -> Concrete:
        self.trace_count += 1
        prev = self._keys[-1] if self._keys else None
        # (Words for tensors cost 0.1 ms of a first call: NumPy's dtype names.)
        summary = (tree, [k if k[0] == "T" else describe(k) for k in key[1]])
        self._keys.append(summary)
        why = ""
        if prev is not None:
            names = self._arg_names(leaves, tree)
            diffs = [f"{n}: {a} -> {b}" for n, a, b in zip(
                names, map(_described, prev[1]), map(_described, summary[1])) if a != b]
            why = "; ".join(diffs) if prev[0] == tree else "the argument structure changed"
        log.debug("%s: tracing (trace #%d)%s", self.__name__, self.trace_count,
                  f" because {why}" if why else "")
        due = None if again else self._detector.traced()   # one per call, as TensorFlow
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
                conc = (tracing.trace(self, leaves, tree, aliased, shapes=shapes)  # type: ignore[call-arg]
                        if shapes is not None else tracing.trace(self, leaves, tree, aliased))
        finally:
            notice.pause()
        conc.notice = notice
        return conc

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The compiler's view of a call with these arguments (tensors, arrays or
        `tj.TensorSpec`s), for `as_text(stage)`."""
        return Lowered(self.get_concrete_function(*args, **kwargs))

    def get_concrete_function(self, *args: Any, **kwargs: Any) -> Concrete:
        """The trace for these arguments (tensors, arrays or `tj.TensorSpec`s; Python
        values as in a call), traced now if new: a concrete function, callable with
        tensors of the traced shapes and dtypes, with TensorFlow's
        `structured_input_signature`, `structured_outputs`, `output_shapes` and
        `output_dtypes`. With an `input_signature`, no arguments means the signature.

        >>> f = tj.function(lambda x, k: x * k)
        >>> c = f.get_concrete_function(tj.TensorSpec([2]), 3.)
        >>> c.structured_input_signature
        ((TensorSpec(shape=(2,), dtype=tj.float32, name='x'), 3.0), {})
        >>> c(tj.constant([1., 2.])).numpy(), c.output_shapes
        (array([3., 6.], dtype=float32), TensorShape([2]))
        """
        from .export import example_of
        from .tensorspec import TensorSpec
        if self._input_sig is not None:
            if not args and not kwargs or self._method and len(args) == 1 and not kwargs:
                args = (*args[:1 if self._method else 0], *self._input_sig.specs)
            # Specs and tensors are checked against the signature; its specs are traced.
            self._bind_signature(args, kwargs, specs=True)
            args = (*args[:1 if self._method else 0], *self._input_sig.specs)
            kwargs = {}
        elif kwargs:
            args, kwargs = self._canonical(args, kwargs)
        leaves, tree = flatten((args, kwargs))
        specs = [x if isinstance(x, TensorSpec) else None for x in leaves]
        shapes = [None if s is None or s.shape.is_fully_defined() else
                  (None if s.shape.rank is None else tuple(s.shape)) for s in specs]
        if any(s is not None and s.shape.rank is None for s in specs):
            raise ValueError(f"{self.__name__}.get_concrete_function: a TensorSpec of unknown "
                             "rank (shape=None) cannot be traced: give its rank")
        if any(s is not None for s in shapes):
            if not _POLY:
                raise ValueError(
                    f"{self.__name__}.get_concrete_function: a TensorSpec with None sizes "
                    "needs the shape-polymorphic trace, which this build does not have; "
                    "give every size")
            leaves = [np.zeros(tuple(1 if d is None else d for d in s.shape), s.dtype)
                      if s is not None else x for x, s in zip(leaves, specs)]
        leaves = [example_of(x) for x in leaves]
        _convert_arrays(leaves)
        key = self._key(leaves, tree)
        if any(s is not None for s in shapes):
            key = poly_key(key, shapes)
            conc = self._cache.get(key) or self._get(key, leaves, tree, shapes=shapes)
            if key not in self._general:
                self._general.append(key)
            return conc
        return self._cache.get(key) or self._lookup(key, leaves, tree)

    def export(self, *args: Any, path: Any = None, backward: bool = False,
               **kwargs: Any) -> bytes:
        """The artifact of this function for these arguments (tensors, arrays or
        `tj.TensorSpec`s; Python values as in a call), for `tj.load` in this or another
        process: the optimized IR, the object code for this CPU, the argument and result
        structure, the Variables read with their values, and the versions it was built
        with (format: `tracejit.artifact`). With `backward`, also the backward Function
        a tape differentiates a call with (compiled now). Written to `path` if given.

        >>> f = tj.function(lambda x: x * 2.)
        >>> data = f.export(tj.TensorSpec([3]))
        >>> tj.load(data)(tj.constant([1., 2., 3.])).numpy()
        array([2., 4., 6.], dtype=float32)
        """
        data, _ = self._export(args, kwargs, backward)
        if path is not None:
            with open(path, "wb") as fh:
                fh.write(data)
        return data

    def _export(self, args: tuple[Any, ...], kwargs: dict[str, Any], backward: bool = False
                ) -> tuple[bytes, list[Variable]]:
        """`export`'s artifact and the Variables it holds, in its order."""
        from .export import example_of, export_signatures
        if kwargs:
            args, kwargs = self._canonical(args, kwargs)
        leaves, tree = flatten((args, kwargs))
        leaves = [example_of(x) for x in leaves]
        _convert_arrays(leaves)
        key = self._key(leaves, tree)
        conc = self._cache.get(key) or self._get(key, leaves, tree)
        return export_signatures(self.__name__, self._sig, [(key, conc)], backward)

    def __reduce__(self) -> Any:
        """Pickled by value, as the artifact of every signature traced so far (never its
        Python code): unpickling loads it (`tj.load`), so workers never trace."""
        from .export import reduce_compiled
        return reduce_compiled(self)

