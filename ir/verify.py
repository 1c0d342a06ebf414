"""The verifier: re-checks a whole Function (SSA, params, types), as tests do after
every pass.

`verify(fn)` returns None for a well-formed Function and otherwise raises an `IRError` that
names the function and quotes the offending instruction in its printed form.

A well-formed Function satisfies:
- SSA: parameters are distinct Values; every instruction output is a new Value, defined
  once; every instruction input and every result is a parameter or an output of an
  earlier instruction.
- Params: the keys are exactly the primitive's (`Primitive.param_defaults`), and every
  value is of a kind the text form round-trips: bool, int, float, str, None, NumPy dtype
  of `core.DTYPES`, ndarray of such a dtype, Function (itself well-formed), or tuples of
  these. (NumPy scalars and lists are not: they would not compare equal after a round
  trip.)
- Types: the output count is `Primitive.n_outs(params)` and each output type equals the
  one `Primitive.infer` gives for the input types.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .dims import Dim
from .core import DTYPE_NAMES, Function, Instr, TensorType, Value
from .errors import IRError
from .prims import get_primitive
from .printer import format_instr, function_name, value_names


def verify(fn: Function) -> None:
    """Raise IRError unless `fn` (and every callee in its params) is well-formed.

    Example: `verify(cse(f))` after a pass."""
    _verify(fn, set())


def _verify(fn: Function, done: set[int]) -> None:
    if not isinstance(fn, Function):
        raise IRError(f"expected a Function, got {type(fn).__name__}")
    done.add(id(fn))
    where = f"verify {function_name(fn.name)}"
    names = value_names(fn)
    defined: set[int] = set()
    for i, p in enumerate(fn.params):
        if not isinstance(p, Value) or not isinstance(p.type, TensorType):
            raise IRError(f"{where}: parameter {i} is not a typed Value: {p!r}")
        if id(p) in defined:
            raise IRError(f"{where}: parameter {i} ({names[id(p)]}) is listed twice")
        defined.add(id(p))
    later = {id(o) for ins in fn.instrs for o in ins.outs}

    for n, ins in enumerate(fn.instrs):
        def fail(msg: str, ins: Instr = ins, n: int = n) -> IRError:
            return IRError(f"{where}, instruction {n} `{format_instr(ins, names)}`: {msg}")

        for k, x in enumerate(ins.inputs):
            if not isinstance(x, Value):
                raise fail(f"input {k} is not a Value: {x!r}")
            if id(x) not in defined:
                when = "used before its definition" if id(x) in later else "not defined"
                raise fail(f"input {k} {_hint(x)}is {when}")
        try:
            prim = get_primitive(ins.prim)
        except KeyError:
            raise fail(f"unknown primitive {ins.prim!r}") from None
        missing = [k for k in prim.param_defaults if k not in ins.params]
        unknown = [k for k in ins.params if k not in prim.param_defaults]
        if missing or unknown:
            raise fail(f"params are not canonical: missing {missing}, unknown {unknown}; "
                       f"{ins.prim} takes {list(prim.param_defaults)}")
        for key, v in ins.params.items():
            bad = _bad_param(v)
            if bad is not None:
                raise fail(f"param {key} holds {bad}, which the text form cannot round-trip")
            for callee in _functions(v):
                if id(callee) not in done:
                    try:
                        _verify(callee, done)
                    except IRError as e:
                        raise fail(f"callee {function_name(callee.name)}: {e}") from None
        try:
            inferred = prim.infer([x.type for x in ins.inputs], ins.params)
            n_outs = prim.n_outs(ins.params)
        except Exception as e:  # noqa: BLE001  (a shape rule fed junk params may fail anyhow)
            raise fail(f"shape rule fails: {e}") from None
        if len(ins.outs) != n_outs or len(inferred) != n_outs:
            raise fail(f"{len(ins.outs)} output(s), but {ins.prim} has {n_outs} here "
                       f"(its shape rule gives {len(inferred)})")
        for k, (o, t) in enumerate(zip(ins.outs, inferred)):
            if not isinstance(o, Value):
                raise fail(f"output {k} is not a Value: {o!r}")
            if o.type != t:
                raise fail(f"output {k} has type {o.type}, but the inferred type is {t}")
            if id(o) in defined:
                raise fail(f"output {k} is defined twice")
            defined.add(id(o))

    for k, r in enumerate(fn.results):
        if not isinstance(r, Value) or id(r) not in defined:
            raise IRError(f"{where}: result {k} {_hint(r)}is not defined in the function")


def _hint(v: Any) -> str:
    h = getattr(v, "hint", None)
    return f"(hint {h!r}) " if h else ""


def _bad_param(v: Any) -> str | None:
    """None if `v` is a canonical param value, else a description of the culprit."""
    if v is None or isinstance(v, (bool, str, Function, Dim)):
        return None
    if isinstance(v, (int, float)) and not isinstance(v, np.generic):
        return None
    if isinstance(v, tuple):
        for e in v:
            bad = _bad_param(e)
            if bad is not None:
                return bad
        return None
    if isinstance(v, np.dtype):
        return None if v in DTYPE_NAMES else f"the unsupported dtype {v}"
    if isinstance(v, np.ndarray):
        return None if v.dtype in DTYPE_NAMES else f"an array of unsupported dtype {v.dtype}"
    return f"{type(v).__name__} {v!r}"


def _functions(v: Any) -> list[Function]:
    if isinstance(v, Function):
        return [v]
    if isinstance(v, tuple):
        return [f for e in v for f in _functions(e)]
    return []
