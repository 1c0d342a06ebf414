"""The interpreters `bind` hands operations to, and the hook through which tapes record.

Invariants:
- Exactly one interpreter is current per thread and context (`ir.core`'s context
  variable): `EagerInterpreter` (the default: NumPy now) or a `TraceInterpreter` (append
  to the Function being traced). Both take and return `Tensor`s.
- After an operation runs, every active, recording tape that watches one of its inputs
  records it (`record`), in both modes: that single rule is what makes tapes work inside
  compiled code and nested tapes give higher derivatives.
- Errors from shape/dtype rules are re-raised with the user's own source line.
- A value check that needs run-time values (`run_time_check`) is an `assert` instruction
  whose result the trace keeps in `TraceState.checks`: the traced Function returns it
  after the Variables' values (a region joins it into its own results), so it is never
  pruned; the call drops it.
- A trace remembers the user's line of each indexing operation (`TraceState.origins`), and
  the op the user called when a composite checks its indices with it (`index_op`: the
  gathers that bounds-check `scatter_nd`'s index rows), so an index error found by native
  code names that op and the line that made it (`locate_index_error`).
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .errors import TracingError, at_user_line, user_frame
from .ir.core import (Builder, Interpreter, TensorType, Value, _current, bind,
                      current_interpreter, set_default_interpreter)
from .ir.caches import on_clear
from .ir.memory import CHECK_ABOVE, check_allocation
from .ir.errors import DTypeError, InvalidArgumentError, IRError, ShapeError
from .ir.prims.registry import Primitive
from .tensor import Tensor

_new_tensor = object.__new__

_USER_ERRORS = (ShapeError, DTypeError, IRError, TypeError, ValueError, IndexError,
                MemoryError)

# The public op whose indices the indexing operations bound now check (None: their own).
_INDEX_OP: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tracejit_index_op", default=None)


@contextmanager
def index_op(op: str) -> Iterator[None]:
    """Index errors of the operations bound inside name `op` (the composite the user
    called, e.g. `scatter_nd`), not the primitive (`gather`) that checks its indices."""
    token = _INDEX_OP.set(op)
    try:
        yield
    finally:
        _INDEX_OP.reset(token)


# Tapes currently inside their `with` block, innermost last.
active_tapes: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "tracejit_tapes", default=())


def record(prim: Primitive, args: Sequence[Tensor], params: dict[str, Any],
           outs: Sequence[Tensor]) -> None:
    for tape in active_tapes.get():
        tape._record(prim, args, params, outs)


# Eager rules that replace a primitive's NumPy reference implementation (the `call` of a
# compiled Function runs its native code; executables.py registers that one). A rule gets the
# operands as eager Tensors and the canonical parameters and returns the output array(s).
EagerRule = Callable[[Sequence[Tensor], dict[str, Any]], Any]
EAGER_RULES: dict[str, EagerRule] = {}


def register_eager_rule(name: str, rule: EagerRule) -> None:
    """Run `rule` instead of primitive `name`'s NumPy implementation in eager mode."""
    EAGER_RULES[name] = rule


# Eager applications whose shape rule passed and whose results need at most CHECK_ABOVE
# bytes (so `check_allocation` makes no system call), by primitive, operand shapes and
# dtypes and parameters: a repeated op skips both checks, which cost more than NumPy's own
# work on small arrays.
_CHECKED: dict[Any, bool] = {}
CHECKED_MAX = 4096
on_clear("eager shape checks", _CHECKED.clear)


def _checked_key(prim: Primitive, arrays: Sequence[np.ndarray],
                 params: dict[str, Any]) -> tuple[Any, bool]:
    """(the `_CHECKED` key of an application, whether it is there); (None, False) for
    unhashable parameters."""
    # Parameter types are part of the key: 1, 1.0 and True are equal but not the same.
    key = (prim, tuple([(a.shape, a.dtype) for a in arrays]),
           tuple([(k, type(v), v) for k, v in params.items()]) if params else ())
    try:
        return key, key in _CHECKED
    except TypeError:
        return None, False


# Applications of primitives without parameters or an eager rule, with one result, on one
# or two operands, that passed the checks above: (prim, shape, dtype[, shape, dtype]) ->
# True. They run on `EagerInterpreter.apply`'s short path (at most CHECKED_MAX entries).
_SHORT: dict[Any, bool] = {}
on_clear("eager short-path signatures", _SHORT.clear)


def _numpy_ignoring_errors() -> tuple[Any, Any] | None:
    """(NumPy's error-state context variable, its value under `np.errstate(all="ignore")`):
    setting that variable is what `np.errstate` does, at a tenth of its cost. None when
    this NumPy keeps its error state elsewhere (then `np.errstate` is used)."""
    try:
        from numpy._core import _ufunc_config as uc
        var = getattr(uc, "_extobj_contextvar")     # noqa: B009 (private: may be missing)
        with np.errstate(all="ignore"):
            value = var.get()
        return var, value
    except (ImportError, AttributeError):
        return None


_IGNORE = _numpy_ignoring_errors()


def _run_impl(prim: Primitive, arrays: Sequence[np.ndarray],
              params: dict[str, Any] | None = None) -> Any:
    """`prim.impl(*arrays, **params)` with NumPy's floating-point errors ignored."""
    if _IGNORE is None:
        with np.errstate(all="ignore"):
            return prim.impl(*arrays, **params) if params else prim.impl(*arrays)
    var, value = _IGNORE
    token = var.set(value)
    try:
        return prim.impl(*arrays, **params) if params else prim.impl(*arrays)
    finally:
        var.reset(token)


class EagerInterpreter(Interpreter):
    """Runs each primitive's NumPy reference implementation at once (or its rule in
    `EAGER_RULES`)."""

    def apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        # The short path (eager arithmetic on small arrays is dominated by this Python):
        # one or two eager tensors, a signature checked before, no parameters, one result.
        n_args = len(args)
        if not params and 0 < n_args <= 2 and type(args[0]) is Tensor:
            x = args[0]._data
            if n_args == 1:
                key: Any = None if x is None else (prim, x.shape, x.dtype)
                arrays: Any = (x,)
            else:
                y = args[1]
                y = y._data if type(y) is Tensor else None
                key = None if x is None or y is None else (prim, x.shape, x.dtype,
                                                          y.shape, y.dtype)
                arrays = (x, y)
            if key is not None and key in _SHORT:
                try:
                    out = _run_impl(prim, arrays)
                except _USER_ERRORS as e:
                    raise at_user_line(e) from None
                if type(out) is not np.ndarray:
                    out = np.asarray(out)
                out.setflags(False)             # write=False, positionally (faster)
                res = _new_tensor(Tensor)
                res._data, res._val, res._trace = out, None, None
                if active_tapes.get():
                    record(prim, args, params, (res,))
                return res
        return self._apply(prim, args, params)

    def _apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        arrays = []
        for a in args:
            if type(a) is not Tensor:
                args = [_as_tensor(a) for a in args]
                break
        for a in args:
            if a._data is None:
                raise TracingError(
                    f"{prim.name}: a traced tensor {a!r} was used outside the compiled "
                    "function that made it; return it from that function instead")
            arrays.append(a._data)
        try:
            key, checked = _checked_key(prim, arrays, params)
            if not checked:
                types = prim.infer([TensorType.of_array(x) for x in arrays], params)
                # Refuse what cannot fit before NumPy tries (it may overcommit, and the OOM
                # killer ends the process later instead of an exception now).
                check_allocation(types, prim.name)
                if key is not None and sum(t.nbytes for t in types) <= CHECK_ABOVE:
                    if len(_CHECKED) >= CHECKED_MAX:
                        _CHECKED.clear()
                    _CHECKED[key] = True
                    if (not params and 0 < len(arrays) <= 2 and len(types) == 1
                            and prim.name not in EAGER_RULES and prim.n_outs(params) == 1):
                        if len(_SHORT) >= CHECKED_MAX:
                            _SHORT.clear()
                        short = (prim,) + tuple(v for a in arrays for v in (a.shape, a.dtype))
                        _SHORT[short] = True
            rule = EAGER_RULES.get(prim.name)
            if rule is not None:
                out = rule(args, params)
            else:
                out = _run_impl(prim, arrays, params)
        except _USER_ERRORS as e:
            raise at_user_line(e) from None
        n = prim.n_outs(params)
        if n == 1:
            res = Tensor._wrap(out if type(out) is np.ndarray else np.asarray(out))
            tapes = active_tapes.get()
            if tapes:
                record(prim, args, params, (res,))
            return res
        outs = tuple(Tensor._wrap(np.asarray(o)) for o in out)
        if active_tapes.get():
            record(prim, args, params, outs)
        return outs


def bind_plain(prim: Primitive, *args: Any) -> Any:
    """`bind(prim, *args)` for a primitive without parameters, skipping `bind`'s lookups:
    with no interpreter current, the eager interpreter (the default) applies it, as
    `bind` would."""
    if _current.get() is None:
        return EAGER.apply(prim, args, {})
    return bind(prim, *args)


def _as_tensor(a: Any) -> Tensor:
    from .variable import Variable
    if isinstance(a, Variable):
        return a._read()
    if isinstance(a, Tensor):
        return a
    raise TypeError(f"expected a tensor, got {type(a).__name__}")


class TraceState:
    """What a trace has built so far: the Function's builder, the outside tensors it
    captured (each becomes a parameter, passed by reference at every call), and the
    current traced value of each Variable it read or assigned."""

    def __init__(self, name: str):
        self.builder = Builder(name)
        self.captures: list[tuple[Value, Any]] = []       # (param, Tensor or Variable)
        self._captured: dict[int, Value] = {}
        self.var_values: dict[int, Tensor] = {}           # id(Variable) -> traced value
        self.variables: dict[int, Any] = {}               # id(Variable) -> Variable
        self.assigned: dict[int, Any] = {}                # Variables assigned in the trace
        self.grad_functions: list[Any] = []               # GradFunctions made by tapes
        # id(out) -> (user line, the op the user called or None), of indexing operations
        self.origins: dict[int, tuple[str, str | None]] = {}
        self.grad_residuals: dict[int, list[Any]] = {}    # id(GradFunction) -> residuals'
        #                                                   tensors (to name them in dumps)
        # The results of the trace's `assert` instructions (bool scalars): results of the
        # traced Function after the Variables' values, or joined into a region's
        # (`regions.join_checks`), so that no pass prunes them.
        self.checks: list[Value] = []
        # id(an assert's result) -> (the text of its failure from its operands' values, or
        # None where they pass; those operands), to name the values when a check fails
        self.explain: dict[int, tuple[Callable[[list[Any]], str | None], list[Value]]] = {}
        self.closed = False

    def wrap(self, v: Value) -> Tensor:
        return Tensor(None, v, self)

    def capture(self, obj: Any, type: TensorType, hint: str | None = None) -> Value:
        key = id(obj)
        v = self._captured.get(key)
        if v is None:
            v = self.builder.param(type, hint)
            self._captured[key] = v
            self.captures.append((v, obj))
        return v

    def value_of(self, t: Tensor) -> Value:
        if t._trace is self:
            return t._val  # type: ignore[return-value]
        if t._data is not None:
            return self.capture(t, TensorType(t.shape, t.dtype), "capture")
        if t._trace is not None and getattr(t._trace, "closed", False):
            raise TracingError(
                f"a traced tensor {t!r} escaped the compiled function that made it (stored "
                "in a global or a Python list?); return it from the function instead")
        # A tensor of an enclosing trace: nested traces see it as a captured input.
        return self.capture(t, TensorType(t.shape, t.dtype), "capture")

    def read_var(self, var: Any) -> Tensor:
        cur = self.var_values.get(id(var))
        if cur is None:
            v = self.capture(var, TensorType(var.shape, var.dtype), _hint(var.name))
            cur = self.wrap(v)
            self.var_values[id(var)] = cur
            self.variables[id(var)] = var
        return cur

    def assign_var(self, var: Any, value: Tensor) -> None:
        self.read_var(var)  # the variable is an input even if only written
        self.var_values[id(var)] = value
        self.assigned[id(var)] = var


def tracing() -> TraceState | None:
    """The state of the trace being built, or None when running eagerly."""
    interp = current_interpreter()
    return interp.state if isinstance(interp, TraceInterpreter) else None


def run_time_check(st: TraceState, cond: Tensor, message: str,
                   error: str = "invalid_argument",
                   explain: tuple[Callable[[list[Any]], str | None], Sequence[Tensor]]
                   | None = None) -> None:
    """Trace an `assert` of the bool tensor `cond` into `st`: at run time, unless every
    element is true, the call raises `error`'s exception (`ir.prims.checks.ERRORS`) with
    `message` and the user's line. With `explain = (text, tensors)`, a failure replays the
    trace to give `text(values of tensors)` instead of `message` (`locate_index_error`): the
    eager message, which names the values."""
    where = user_frame()
    if where is not None:
        file, line, text = where
        message = f"{message}\n  at {file}:{line}" + (f": {text}" if text else "")
    ok = st.value_of(bind("assert", cond, message=message, error=error))
    st.checks.append(ok)
    if explain is not None:
        st.explain[id(ok)] = (explain[0], [st.value_of(t) for t in explain[1]])


def keep_checks(results: Sequence[Any]) -> None:
    """Keep `results` (of `assert`s, or the joined checks a region instruction or a call
    returns) among the checks of the trace being built, so that no pass prunes them;
    eagerly there is nothing to keep (they ran)."""
    st = tracing()
    if st is not None:
        st.checks += [st.value_of(t) for t in results]


def _hint(name: str | None) -> str | None:
    if not name:
        return None
    h = "".join(c if c.isalnum() or c == "_" else "_" for c in name.split(":")[0])
    return h if h and not h[0].isdigit() else None


class TraceInterpreter(Interpreter):
    """Appends each operation to the Function of a `TraceState` and returns traced
    Tensors."""

    def __init__(self, state: TraceState):
        self.state = state

    def apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        st = self.state
        if any(type(a) is not Tensor for a in args):
            args = [_as_tensor(a) for a in args]
        vals = [st.value_of(a) for a in args]
        try:
            outs = st.builder.emit(prim, vals, params)
        except _USER_ERRORS as e:
            raise at_user_line(e) from None
        res = tuple(Tensor(None, o, st) for o in outs)
        if prim.kind == "index":
            where = user_frame()
            if where is not None:
                file, line, text = where
                st.origins[id(outs[0])] = (f"{file}:{line}: {text}" if text else
                                           f"{file}:{line}", _INDEX_OP.get())
        if active_tapes.get():
            record(prim, args, params, res)
        return res[0] if len(res) == 1 else res


EAGER = EagerInterpreter()
set_default_interpreter(EAGER)


def locate_index_error(fn: Any, arrays: Sequence[Any],
                       origins: dict[int, tuple[str, str | None]],
                       err: Exception, explain: dict[int, Any] | None = None
                       ) -> BaseException:
    """The error to raise for `err`, an index error native code found running `fn` (as
    traced, before optimization) on `arrays`: replay `fn` with the reference
    implementations to find the first instruction that fails, which names the op the
    user wrote (a gather whose forward value was optimized away fails in its gradient's
    scatter_add natively), and add the line that made it. A failed `assert` (native code
    reports one inside a region against the region instruction) gives its own error, with
    the text `explain` makes from its operands' values where it has an entry
    (`TraceState.explain`). Only runs on the error path."""
    from .ir.core import interpreting
    from .ir.interp import NumpyInterpreter
    from .ir.specialize import bind_arguments, is_symbolic, specialize
    if is_symbolic(fn):
        # Unknown dimensions: replay the trace specialized to these arguments' shapes,
        # whose instructions stand in order for the trace's (origins are keyed by those).
        try:
            spec = specialize(fn, bind_arguments(fn, [np.shape(a) for a in arrays]))
        except Exception:   # noqa: BLE001  (the native error is still right)
            return at_user_line(err)
        pairs = _paired_values(fn, spec, {})
        origins = {id(pairs[k]): v for k, v in origins.items() if k in pairs}
        explain = {id(pairs[k]): (text, [pairs[id(v)] for v in operands])
                   for k, (text, operands) in (explain or {}).items()
                   if k in pairs and all(id(v) in pairs for v in operands)}
        fn = spec
    env: dict[int, Any] = {id(p): np.asarray(a) for p, a in zip(fn.params, arrays)}
    try:
        with interpreting(NumpyInterpreter()):
            for ins in fn.instrs:
                try:
                    out = _bind_reference(ins, env)
                except InvalidArgumentError as e:
                    return _explained(e, getattr(e, "instr", None) or ins,
                                      getattr(e, "env", None) or env, explain or {})
                except IndexError as e:
                    inner = getattr(e, "instr", None) or ins    # an op of a loop body, say
                    if hasattr(e, "env"):       # not kept alive by the error raised
                        del e.env
                    origin = origins.get(id(inner.outs[0])) if inner.outs else None
                    if origin is None:
                        return at_user_line(e)
                    where, op = origin
                    msg = str(e)
                    if op is not None:      # "gather: index 5 ..." of a component check
                        msg = f"{op}: {msg.partition(': ')[2]} (a component of an index row)"
                    return IndexError(f"{msg}\n  at {where}")
                outs = out if len(ins.outs) != 1 else (out,)
                for v, o in zip(ins.outs, outs):
                    env[id(v)] = o
    except Exception:   # the reference cannot replay it (memory, ...): the native error
        pass
    return at_user_line(err)


def explained(e: InvalidArgumentError, explain: dict[int, Any]) -> BaseException:
    """The error for `e`, a failed `assert` of a reference run (`ir.interp.run_env` set
    its instruction and values), with its `explain` text where it has one."""
    ins, env = getattr(e, "instr", None), getattr(e, "env", None)
    return e if ins is None or env is None else _explained(e, ins, env, explain)


def _explained(e: InvalidArgumentError, ins: Any, env: dict[int, Any],
               explain: dict[int, Any]) -> BaseException:
    """The error of `assert` instruction `ins` that failed with `e` in a replay whose
    values are `env`: its `explain` text (the user's line kept), else `e`."""
    for attr in ("instr", "env"):       # the replay's values are not kept alive by `e`
        if hasattr(e, attr):
            delattr(e, attr)
    entry = explain.get(id(ins.outs[0])) if ins.outs else None
    if entry is None:
        return e
    text, operands = entry
    try:
        msg = text([np.asarray(env[id(v)]) for v in operands])
    except Exception:   # noqa: BLE001  (the error stands without the values)
        return e
    if msg is None:
        return e
    _, sep, line = str(e).rpartition("\n  at ")
    return type(e)(f"{msg}{sep}{line}" if sep else msg)


def _paired_values(fn: Any, spec: Any, pairs: dict[int, Any]) -> dict[int, Any]:
    """Each parameter and instruction output of `fn` (nested Functions, loop bodies and
    branches, included), by id, paired with the Value of `spec` that stands for it:
    `spec`'s instructions stand in order for `fn`'s."""
    from .ir.core import Function
    for p, q in zip(fn.params, spec.params):
        pairs[id(p)] = q
    for i, s in zip(fn.instrs, spec.instrs):
        for o, t in zip(i.outs, s.outs):
            pairs[id(o)] = t
        for key, v in i.params.items():
            w = s.params.get(key)
            both = zip(v, w) if isinstance(v, tuple) and isinstance(w, tuple) else [(v, w)]
            for f, g in both:
                if isinstance(f, Function) and isinstance(g, Function) and f is not g:
                    _paired_values(f, g, pairs)
    return pairs


def _bind_reference(ins: Any, env: dict[int, Any]) -> Any:
    from .ir.core import bind
    return bind(ins.prim, *[env[id(x)] for x in ins.inputs], **ins.params)
