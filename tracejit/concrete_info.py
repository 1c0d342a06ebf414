"""What a concrete function tells about itself, as TensorFlow's `ConcreteFunction`:
`structured_input_signature`, `structured_outputs`, `output_shapes`, `output_dtypes`.

Invariants:
- The input signature is rebuilt from the call key the trace was made for (`keys.py`):
  a tensor argument as a `TensorSpec` named after its parameter (`None` where the trace
  serves any size), a Python argument as its value; a method's instance is left out.
- Outputs: a tensor result as a `TensorSpec` of its traced type (TensorFlow gives
  symbolic tensors), a Python value returned as it is; `output_shapes` and
  `output_dtypes` have the same structure (None for a Python value that is not a number).
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import numpy as np

from .trees import leaf_paths, unflatten
from .tensorshape import TensorShape, as_none
from .tensorspec import TensorSpec

if TYPE_CHECKING:
    from .concrete import Concrete


def _names(tree: Any, sig: inspect.Signature | None) -> list[str]:
    """A TensorFlow-style name per leaf: the parameter, `_i` / `_key` for nesting."""
    (_, _, (args_t, kwargs_t)) = tree
    params = list(sig.parameters) if sig is not None else []
    out: list[str] = []
    for i, c in enumerate(args_t[2]):
        out += leaf_paths(c, params[i] if i < len(params) else f"args_{i}", tf_names=True)
    for k, c in zip(kwargs_t[1], kwargs_t[2]):
        out += leaf_paths(c, k, tf_names=True)
    return out


def _leaf_value(k: Any, name: str) -> Any:
    kind = k[0]
    if kind in ("T", "V"):
        return TensorSpec(as_none(tuple(k[1])), np.dtype(k[2]), name)
    if kind == "S":
        return k[2]
    if kind == "F" and k[1] is float:
        return float(np.frombuffer(k[2], np.float64)[0])
    from .keys import describe
    return f"<{describe(k)}>"


def input_signature(conc: Concrete) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """`structured_input_signature`: (args, kwargs) with TensorSpecs for tensors."""
    tree, leaf_keys = conc.key[0], conc.key[1]
    names = _names(tree, conc.python_signature)
    leaves = [_leaf_value(k, n) for k, n in zip(leaf_keys, names)]
    args, kwargs = unflatten(tree, leaves)
    sig = conc.python_signature
    if sig is not None:              # defaults the call left out, as TensorFlow shows them
        args = list(args)
        for p in list(sig.parameters.values())[len(args):]:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) \
                    or p.default is p.empty or p.name in kwargs:
                break
            args.append(p.default)
    if conc.instance is not None:
        args = args[1:]
    return tuple(args), dict(kwargs)


def _out_leaves(conc: Concrete) -> list[Any]:
    """Per output leaf: a TensorSpec of a tensor result, else the Python value."""
    out: list[Any] = []
    for kind, v in conc.out_kind:
        if kind == "r":
            t = conc.trace_fn.results[v].type
            out.append(TensorSpec(as_none(tuple(t.shape)), t.dtype))
        elif kind == "t":
            out.append(TensorSpec(v.shape, v.dtype))
        else:
            out.append(v)
    return out


def outputs(conc: Concrete) -> Any:
    """`structured_outputs`: the returned structure, TensorSpecs for tensors."""
    return unflatten(conc.out_tree, _out_leaves(conc))


def output_shapes(conc: Concrete) -> Any:
    """`output_shapes`: the returned structure, a TensorShape per leaf."""
    return unflatten(conc.out_tree, [x.shape if isinstance(x, TensorSpec) else
                                     TensorShape(None) for x in _out_leaves(conc)])


def output_dtypes(conc: Concrete) -> Any:
    """`output_dtypes`: the returned structure, a dtype per tensor leaf (else None)."""
    return unflatten(conc.out_tree, [x.dtype if isinstance(x, TensorSpec) else None
                                     for x in _out_leaves(conc)])


def fill_static(conc: Concrete, args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A call of the concrete function in canonical form, with the Python arguments it
    was traced with filled in where the call leaves them out (`c(x)` for a trace of
    `f(x, k=3)`)."""
    from .trees import flatten
    sig = conc.python_signature
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:
        return args, kwargs
    tree, leaf_keys = conc.key[0], conc.key[1]
    t_args, t_kwargs = unflatten(tree, [_leaf_value(k, "") for k in leaf_keys])
    params = list(sig.parameters)
    traced = dict(zip(params, t_args))
    traced.update(t_kwargs)
    for name, value in traced.items():
        if name not in bound.arguments and not any(
                isinstance(x, TensorSpec) or isinstance(x, str) and x.startswith("<")
                for x in flatten(value)[0]):
            bound.arguments[name] = value
    return tuple(bound.args), dict(bound.kwargs)
