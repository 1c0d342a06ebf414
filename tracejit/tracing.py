"""Tracing a compiled function's Python code for one call signature into a `Concrete`.

Invariants:
- Tensor and NumPy leaves become parameters in leaf order; Variables passed as arguments
  follow them as parameters passed by reference (stand-ins while tracing, unless the call
  aliases a Variable the function reads from outside); captured tensors and Variables
  follow those. A trace keeps no argument alive.
- The Python code runs once, with no tape active; a function that changes its Python
  arguments while traced is refused (as TensorFlow does).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .concrete import Concrete
from .context import TraceInterpreter, TraceState, active_tapes
from .errors import TracingError, at_user_line
from .ir import dims
from .ir.core import Function, TensorType, interpreting
from .trees import flatten, unflatten
from .tensor import Tensor
from .variable import Variable

if TYPE_CHECKING:
    from .compile import CompiledFunction

log = logging.getLogger("tracejit")


def trace(owner: CompiledFunction, leaves: list[Any], tree: Any,
          aliased: bool = False, shapes: list[Any] | None = None) -> Concrete:
    """Trace `owner` for these arguments (`leaves` of the `trees` tree `tree`).

    Variable arguments are traced as stand-ins (so reads through the parameter and reads
    of a Variable captured from outside stay apart, and the trace serves any Variable of
    that shape and dtype), unless `aliased`: the trace for a call where an argument is
    also a Variable the function reads from outside, which treats them as the one
    Variable they are.

    `shapes` (one entry per leaf, or None) traces a tensor leaf with the shape given by
    its entry, where `None` is a dimension unknown until run time (a symbol `n0`,
    `n1`, ... in the IR, one per `None`): the Concrete then serves every shape that
    matches (`input_signature` with `None`)."""
    name = owner.__name__
    st = TraceState(name)
    traced_leaves, dyn_idx, var_args = _parameters(st, owner, leaves, tree, aliased, shapes)
    args, kwargs = unflatten(tree, traced_leaves)
    interp = TraceInterpreter(st)
    saved_tapes = active_tapes.set(())
    arrays = [getattr(leaves[i], "_data", leaves[i]) for i in dyn_idx]
    try:
        with interpreting(interp), owner._creating(st, arrays):
            out = owner.python_function(*args, **kwargs)
    finally:
        active_tapes.reset(saved_tapes)
        st.closed = True
    _check_unmodified(owner, args, kwargs, tree, traced_leaves)
    out_tree, out_kind, results = _outputs(st, interp, name, out)
    n_out = len(results)
    assigned: list[Any] = list(st.assigned.values())
    for var in assigned:
        results.append(st.var_values[id(var)]._val)
    results += st.checks        # kept alive as results; the call drops them
    # Captured tensors and variables follow the dynamic arguments as parameters. Those
    # passed as arguments are taken from each call's arguments (`*_src`: leaf index),
    # and not kept: a trace holds no argument alive.
    captures: list[Any] = [obj for _, obj in st.captures]
    capture_src = [var_args.get(id(obj)) if isinstance(obj, Variable) else None
                   for obj in captures]
    assigned_src = [var_args.get(id(var)) for var in assigned]
    if var_args:
        captures = [None if k is not None else obj for obj, k in zip(captures, capture_src)]
        assigned = [None if k is not None else var for var, k in zip(assigned, assigned_src)]
    fixed_vars = {id(obj) for obj in captures if isinstance(obj, Variable)} \
        if var_args else set()
    trace_fn = Function(name, st.builder.params, st.builder.instrs, results)
    # The IR passes run when the optimized Function is first needed (`Concrete.opt_fn`):
    # code in the disk cache is found by the traced Function.
    log.debug("%s: traced %d instructions", name, len(trace_fn.instrs))
    return Concrete(
        name=name, dyn_idx=dyn_idx, n_leaves=len(leaves), n_dyn=len(dyn_idx),
        out_tree=out_tree, out_kind=out_kind, n_out=n_out, assigned=assigned,
        assigned_src=assigned_src, captures=captures, capture_src=capture_src,
        var_args=bool(var_args), fixed_vars=fixed_vars, trace_fn=trace_fn, optimized=None,
        n_checks=len(st.checks), explain=st.explain,
        origins=st.origins, grad_fns=list(st.grad_functions),
        grad_residuals=st.grad_residuals,
        symbolic=any(p.type.symbolic for p in trace_fn.params))


def _parameters(st: TraceState, owner: CompiledFunction, leaves: list[Any], tree: Any,
                aliased: bool, shapes: list[Any] | None = None
                ) -> tuple[list[Any], list[int], dict[int, int]]:
    """The leaves as the trace sees them, the leaf index of each dynamic (tensor)
    argument, and the leaf index of each Variable argument by its id."""
    dyn_idx: list[int] = []
    traced_leaves: list[Any] = []
    n_sym = 0
    names: list[str | None] | None = None
    for i, x in enumerate(leaves):
        if isinstance(x, (Tensor, np.ndarray)):
            if isinstance(x, Tensor) and x._data is None:
                raise TracingError("a traced tensor from another trace was passed in")
            from .ops import _dtype
            _dtype(x.dtype)
            shape: tuple[Any, ...] = tuple(x.shape)
            if shapes is not None and shapes[i] is not None:
                shape, n_sym = _symbolic_shape(shapes[i], shape, n_sym)
            if names is None:
                names = _leaf_names(owner, leaves, tree)
            v = st.builder.param(TensorType(shape, x.dtype), names[i])
            traced_leaves.append(st.wrap(v))
            dyn_idx.append(i)
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
    return traced_leaves, dyn_idx, var_args


def _outputs(st: TraceState, interp: TraceInterpreter, name: str, out: Any
             ) -> tuple[Any, list[Any], list[Any]]:
    """The structure of what the function returned, how to make each of its leaves at a
    call (`("r", index)` a result; `("t", array)` a number or array returned, made a new
    tensor at every call, as tf.function does; `("c", value)` any other Python leaf), and
    the traced values of the results."""
    out_leaves, out_tree = flatten(out)
    results: list[Any] = []
    out_kind: list[Any] = []
    for o in out_leaves:
        if isinstance(o, Variable):
            o = st.read_var(o)              # read at call time, after the assigns
        elif isinstance(o, (bool, int, float, np.generic, np.ndarray)):
            from .ops import convert_to_tensor
            out_kind.append(("t", convert_to_tensor(o)._data))
            continue
        if isinstance(o, Tensor) and o._trace is st:
            out_kind.append(("r", len(results)))
            results.append(o._val)
        elif isinstance(o, Tensor) and o._data is not None:
            with interpreting(interp):
                v = st.value_of(o)
            out_kind.append(("r", len(results)))
            results.append(v)
        elif isinstance(o, Tensor):
            raise TracingError(f"{name} returned a tensor of another trace")
        else:
            out_kind.append(("c", o))
    return out_tree, out_kind, results


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
    """The number of leaves of a `trees` tree."""
    if tree is None:
        return 1
    return sum(_count(c) for c in tree[2])


def _stand_in(var: Variable) -> Variable:
    """A Variable object that stands for the argument `var` in a trace (same value, name,
    trainability and creation order; not kept after tracing)."""
    s = object.__new__(Variable)
    s._value, s.trainable, s.name, s._serial = var._value, var.trainable, var.name, var._serial
    return s


def _leaf_names(owner: CompiledFunction, leaves: list[Any], tree: Any) -> list[str | None]:
    """The parameter name of each leaf where it is an identifier (the IR's value hints),
    else None."""
    try:
        names = owner._arg_names(leaves, tree)
    except Exception:
        return [None] * len(leaves)
    return [n if n.isidentifier() else None for n in names] + [None] * (len(leaves) - len(names))



def _symbolic_shape(spec: Any, actual: tuple[int, ...], n_sym: int
                    ) -> tuple[tuple[Any, ...], int]:
    """`spec` (a shape with None for unknown dims) as a parameter shape: a new symbol per
    None, numbered from `n_sym`; the next free number follows."""
    spec = tuple(spec)
    if len(spec) != len(actual):
        raise ValueError(f"a shape {dims.as_text(spec)} was given for an argument of "
                         f"shape {actual}")
    out: list[Any] = []
    for d in spec:
        if d is None:
            out.append(dims.symbol(f"n{n_sym}"))
            n_sym += 1
        else:
            out.append(int(d))
    return tuple(out), n_sym
