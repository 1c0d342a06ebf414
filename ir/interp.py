"""The reference interpreter: the oracle that native code is tested against.

`run(fn, args)` replays a Function through `bind`, so it means whatever the current
interpreter makes of each instruction: NumPy evaluation here (`evaluate`), tape-recorded
tensors in the user API, or new instructions inside a `Builder` (inlining).
"""
from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

import numpy as np

from .core import Function, Interpreter, bind, interpreting
from .errors import InvalidArgumentError, IRError
from .prims.registry import Primitive
from .specialize import bind_arguments, is_symbolic, specialize


class NumpyInterpreter(Interpreter):
    """Runs each primitive's NumPy reference implementation on NumPy arrays."""

    def apply(self, prim: Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
        arrays = [np.asarray(a) for a in args]
        types = prim.infer([_type(a) for a in arrays], params)  # same checks as traced code
        token = _enclosing.set(self)
        try:
            with np.errstate(all="ignore"):
                out = prim.impl(*arrays, **params)
        finally:
            _enclosing.reset(token)
        outs = [np.asarray(out)] if prim.n_outs(params) == 1 else [np.asarray(o) for o in out]
        for t, o in zip(types, outs):
            if o.shape != t.shape or o.dtype != t.dtype:
                raise IRError(f"{prim.name}: the reference implementation gave "
                              f"{o.dtype}{list(o.shape)} where the shape rule says {t}")
        return outs[0] if len(outs) == 1 else tuple(outs)


#: The NumpyInterpreter running the instruction whose reference implementation is running
#: (so nested Functions run under it too: `evaluate_nested`).
_enclosing: contextvars.ContextVar[NumpyInterpreter | None] = contextvars.ContextVar(
    "tracejit_enclosing_interpreter", default=None)


def _type(a: np.ndarray) -> Any:
    from .core import TensorType
    return TensorType(a.shape, a.dtype)


def run(fn: Function, args: Sequence[Any]) -> list[Any]:
    """Replay `fn` on `args` through `bind` in the current context."""
    env = run_env(fn, args)
    return [env[id(r)] for r in fn.results]


def run_env(fn: Function, args: Sequence[Any]) -> dict[int, Any]:
    """Like `run`, but return what every value of `fn` became, keyed by `id(value)`."""
    if len(args) != len(fn.params):
        raise IRError(f"@{fn.name} takes {len(fn.params)} arguments, got {len(args)}")
    env: dict[int, Any] = {id(p): a for p, a in zip(fn.params, args)}
    for ins in fn.instrs:
        try:
            out = bind(ins.prim, *[env[id(x)] for x in ins.inputs], **ins.params)
        except (IndexError, InvalidArgumentError) as e:
            # The innermost instruction that failed (inside a loop body, say) and the
            # values there, so that an index error can be reported against the op the
            # user wrote, and a failed assert with its operands' values.
            if getattr(e, "instr", None) is None:
                setattr(e, "instr", ins)  # noqa: B010 (an attribute exceptions lack)
                setattr(e, "env", env)  # noqa: B010
            raise
        outs = out if len(ins.outs) != 1 else (out,)
        for v, o in zip(ins.outs, outs):
            env[id(v)] = o
    return env


def evaluate(fn: Function, args: Sequence[Any]) -> list[np.ndarray]:
    """Evaluate `fn` on NumPy arrays with the reference implementations.

    Example: `evaluate(f, [np.ones((2, 2), np.float32)])`."""
    arrays = []
    if len(args) == len(fn.params) and is_symbolic(fn):
        # Unknown dimensions: bound by the arguments, checked by the shape rules.
        fn = specialize(fn, bind_arguments(fn, [np.shape(a) for a in args]))
    for p, a in zip(fn.params, args):
        a = np.asarray(a)
        if a.shape != p.type.shape or a.dtype != p.type.dtype:
            raise IRError(f"@{fn.name}: argument of shape {a.shape} and dtype {a.dtype} "
                          f"does not match parameter type {p.type}")
        arrays.append(a)
    with interpreting(NumpyInterpreter()):
        return run(fn, arrays)


def evaluate_nested(fn: Function, args: Sequence[Any]) -> list[np.ndarray]:
    """`evaluate` for the reference implementation of an instruction that holds `fn` (a
    callee, a loop body or condition, a branch): `fn` runs under the NumpyInterpreter that
    runs the enclosing instruction, so a subclass's behaviour (e.g. the fuzzer's per-
    operation rounding noise) reaches into nested Functions; a plain one if there is none."""
    outer = _enclosing.get()
    if outer is None:
        return evaluate(fn, args)
    arrays = [np.asarray(a) for a in args]
    if len(args) == len(fn.params) and is_symbolic(fn):
        fn = specialize(fn, bind_arguments(fn, [a.shape for a in arrays]))
    with interpreting(outer):
        return [np.asarray(r) for r in run(fn, arrays)]
