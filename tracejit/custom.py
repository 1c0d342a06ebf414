"""`custom_gradient`, with TensorFlow's calling convention and semantics.

`f(*args)` returns `(result, grad_fn)`; `grad_fn(*dresult)` returns one gradient per
positional argument of `f` (None allowed; those of Python numbers are ignored, and one per
*tensor* argument is accepted too). If `f` reads trainable Variables that are not its
arguments, `grad_fn(*dresult, variables=[...])` receives them and returns
`(input_grads, variable_grads)`.

How it is recorded:
- eagerly, each recording tape gets one record whose VJP calls `grad_fn` when the gradient
  is taken (traced into the gradient Function, so an enclosing tape records what it
  computes: second derivatives through a custom gradient); each active
  `ForwardAccumulator` gives the results the tangents of what computed them, or, where
  those have none, `grad_fn` transposed (TensorFlow's forward mode, see
  `ForwardAccumulator._custom`);
- while tracing (inside `tj.function`, or inside a gradient function being built), `grad_fn`
  is traced at once into its own Function and the results become a `custom_vjp`
  instruction, so the custom gradient survives in the IR: a tape inside the trace, an
  eager tape around the compiled call, or an outer tape replaying a gradient that
  contains it all use it.

Invariants: the forward runs in view of the tapes (tensors `grad_fn` closes over stay
connected to the inputs, as in TensorFlow); the results are new tensors whose only
recorded producer is the custom record or instruction.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any
from collections.abc import Callable

from .context import TraceInterpreter, TraceState, active_tapes
from .forward import ForwardAccumulator
from .errors import at_user_line
from .ir.core import Function, TensorType, bind, current_interpreter, interpreting
from .trees import flatten, unflatten
from .replay import _no_tapes
from .tape import CUSTOM, GradientTape
from .tensor import Tensor, TensorLike


class _VariableWatcher:
    """Sits among the active tapes while `f` runs and notes the trainable Variables it
    reads (TensorFlow's VariableWatcher); it records nothing."""

    _recording = False
    _watch_accessed = False

    def __init__(self) -> None:
        self._watched: dict[int, Any] = {}
        self.variables: dict[int, Any] = {}

    def _read_variable(self, var: Any, t: Tensor) -> None:
        if var.trainable:
            self.variables.setdefault(id(var), var)

    def _record(self, *a: Any, **k: Any) -> None:
        pass


def _accepts_variables(fn: Callable[..., Any]) -> bool:
    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return "variables" in ps or any(p.kind is p.VAR_KEYWORD for p in ps.values())


class _Grads:
    """`grad_fn` adapted to the recorded inputs: called with one cotangent per result, it
    returns one gradient (or None) per recorded input: tensor arguments, then Variables."""

    def __init__(self, grad_fn: Callable[..., Any], name: str, n_args: int,
                 tensor_pos: list[int], variables: list[Any]):
        self.grad_fn = grad_fn
        self.name = name
        self.n_args = n_args
        self.tensor_pos = tensor_pos
        self.variables = variables

    def __call__(self, *dys: Any) -> list[Any]:
        if self.variables:
            res = self.grad_fn(*dys, variables=list(self.variables))
            if not isinstance(res, (list, tuple)) or len(res) != 2:
                raise at_user_line(ValueError(
                    f"the gradient function of {self.name} reads Variables, so it must return "
                    "(input_gradients, variable_gradients)"))
            input_grads, var_grads = res
            var_grads = flatten(var_grads)[0]
            if len(var_grads) != len(self.variables):
                raise at_user_line(ValueError(
                    f"the gradient function of {self.name} returned {len(var_grads)} variable "
                    f"gradients for the {len(self.variables)} Variables it was given"))
        else:
            input_grads, var_grads = self.grad_fn(*dys), []
        flat = flatten(input_grads)[0] if isinstance(input_grads, (list, tuple)) \
            else [input_grads]
        if len(flat) == self.n_args:
            picked = [flat[i] for i in self.tensor_pos]
        elif len(flat) == len(self.tensor_pos):
            picked = flat
        else:
            of = f" ({len(self.tensor_pos)} of them tensors)" \
                if len(self.tensor_pos) != self.n_args else ""
            raise at_user_line(ValueError(
                f"the custom gradient function of {self.name} returned {len(flat)} gradients "
                f"for {self.n_args} inputs{of}: return one per positional argument (None "
                "where there is none)"))
        return picked + list(var_grads)


def custom_gradient(f: Callable[..., Any] | None = None) -> Any:
    """Decorator with TensorFlow's convention: `f(*x)` returns `(y, grad_fn)` and
    `grad_fn(*upstream)` returns one gradient per input x.

    Example:
        @tj.custom_gradient
        def log1pexp(x):
            e = tj.exp(x)
            return tj.math.log(1 + e), lambda dy: dy * (1 - 1 / (1 + e))
    """
    if f is None:
        return custom_gradient

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tapes = active_tapes.get()
        watcher = _VariableWatcher()
        token = active_tapes.set(tapes + (watcher,))
        try:
            result, grad_fn = f(*args, **kwargs)
        finally:
            active_tapes.reset(token)
        tracing = isinstance(current_interpreter(), TraceInterpreter)
        recording = [t for t in tapes if isinstance(t, GradientTape) and t._recording]
        accumulating = [t for t in tapes if isinstance(t, ForwardAccumulator) and t._recording]
        if not tracing and not recording and not accumulating:
            return result
        name = getattr(f, "__name__", "custom_gradient")
        variables = [v for v in watcher.variables.values()
                     if not any(v is a for a in args)]
        if variables and not _accepts_variables(grad_fn):
            raise at_user_line(TypeError(
                f"{name} reads the Variables {[v.name for v in variables]}, so its gradient "
                "function must accept the keyword argument `variables` (and return "
                "(input_gradients, variable_gradients)), as with TensorFlow"))
        from .ops import convert_to_tensor
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, TensorLike)]
        inputs = [convert_to_tensor(args[i]) for i in tensor_pos]
        inputs += [v._read_untracked() for v in variables]
        grads = _Grads(grad_fn, name, len(args), tensor_pos, variables)
        leaves, tree = flatten(result)
        if tracing:
            outs = _emit(name, inputs, [convert_to_tensor(o) for o in leaves], grads)
        else:
            from .ops import identity
            with _no_tapes():
                outs = [identity(convert_to_tensor(o)) for o in leaves]
            for tape in recording:
                tape._record(CUSTOM, inputs, {}, outs, custom=grads)
            results = [convert_to_tensor(o) for o in leaves]
            for acc in accumulating:
                acc._custom(inputs, variables, results, outs, grads)
        return unflatten(tree, outs)
    return wrapper


def _emit(name: str, xs: list[Tensor], ys: list[Tensor], grads: _Grads) -> list[Tensor]:
    """Trace the gradient function into its own Function and bind one `custom_vjp`
    instruction in the current trace; returns its results (the new forward results)."""
    from .ops import convert_to_tensor
    from .ir import ops as irops
    from .variable import Variable
    bst = TraceState(f"{name}_grad")
    seeds = [bst.wrap(bst.builder.param(TensorType(y.shape, y.dtype), "seed")) for y in ys]
    with interpreting(TraceInterpreter(bst)), _no_tapes():
        gs = grads(*seeds)
        vals: list[Any] = []
        for x, g in zip(xs, gs):
            if g is None or x.dtype.kind != "f":
                vals.append(None)
                continue
            g = convert_to_tensor(g, dtype_hint=x.dtype)
            if g.dtype != x.dtype:
                raise at_user_line(TypeError(
                    f"the custom gradient of {name} for an input of dtype {x.dtype} has "
                    f"dtype {g.dtype}"))
            if g.shape != x.shape:
                try:
                    g = irops.sum_to_shape(g, x.shape)
                except Exception:
                    raise at_user_line(ValueError(
                        f"the custom gradient of {name} has shape {g.shape} for an input of "
                        f"shape {x.shape}")) from None
            vals.append(bst.value_of(g))
    bst.closed = True
    seed_vals: list[Any] = [s._val for s in seeds]
    params = [p for p, _ in bst.captures] + seed_vals
    bwd = Function(bst.builder.name, params, bst.builder.instrs,
                   [v for v in vals if v is not None])
    rs = [obj._read_untracked() if isinstance(obj, Variable) else obj
          for _, obj in bst.captures]
    out = bind("custom_vjp", *xs, *ys, *rs, bwd=bwd, n_in=len(xs), n_out=len(ys),
               connected=tuple(v is not None for v in vals))
    return list(out) if isinstance(out, tuple) else [out]
