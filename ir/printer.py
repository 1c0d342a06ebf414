"""The IR's text form (MLIR/jaxpr-like), which `parser.parse` reads back.

    func @f(%x: f32[2,2]) -> f32[] {
      %0 = reduce_sum(%x) {axes=(0,1), keepdims=False} : f32[]
      %1 = mul(%0, %0) : f32[]
      return %1
    }

Invariants:
- The text is a pure function of a Function's structure and its parameters' hints, so it
  is stable (golden tests compare it) and alpha-equivalent functions with the same hints
  print identically.
- Values are named by the printer: a parameter by its hint when that is a valid identifier
  no other parameter claims (else `%argN`, N its position), instruction outputs `%0, %1, ...`
  in definition order.
- Params print in the order of the primitive's `param_defaults`; every param value prints
  so that it parses back equal (`core.params_equal`), floats bit-exact (NaN payloads aside).
- A callee Function (a param value) prints as its own `func` block before its caller; the
  param prints as its label, `@name` (or `@name#1`, ... for a different function whose
  name an earlier one took). The Functions of a region instruction (`while`, `scan`,
  `cond`) print instead right under that instruction, indented, the first time their
  label appears.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .dims import Dim
from .core import DTYPE_NAMES, Function, Instr, TensorType, Value, params_equal
from .prims import get_primitive
from .prims.control import REGIONS

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ARG_NAME = re.compile(r"arg[0-9]+\Z")


# --------------------------------------------------------------------------- names


def value_names(fn: Function) -> dict[int, str]:
    """The printed name (with `%`) of every parameter and instruction output, keyed by id.

    Example: for `func @f(%x: f32[]) ...` the first parameter maps to `"%x"`."""
    counts = Counter(p.hint for p in fn.params if p.hint)
    names: dict[int, str] = {}
    for i, p in enumerate(fn.params):
        h = p.hint
        ok = (isinstance(h, str) and IDENTIFIER.match(h) is not None and counts[h] == 1
              and (_ARG_NAME.match(h) is None or h == f"arg{i}"))
        names[id(p)] = "%" + (h if ok and isinstance(h, str) else f"arg{i}")
    n = 0
    for ins in fn.instrs:
        for o in ins.outs:
            names[id(o)] = f"%{n}"
            n += 1
    return names


def function_name(name: str) -> str:
    """`@name`, quoted as a JSON string when `name` is not an identifier."""
    return "@" + (name if IDENTIFIER.match(name) else json.dumps(name))


# --------------------------------------------------------------------------- types


def format_type(t: TensorType) -> str:
    return str(t)


def format_types(ts: Sequence[TensorType]) -> str:
    """One type bare, any other number in parentheses: `f32[]`, `(f32[], i32[3])`, `()`."""
    if len(ts) == 1:
        return format_type(ts[0])
    return "(" + ", ".join(format_type(t) for t in ts) + ")"


# --------------------------------------------------------------------------- param values


def _float_text(x: float, dtype: np.dtype | None = None) -> str:
    """A float literal that parses back to the same bits (NaN payloads aside).

    float32 elements use NumPy's shortest float32 text when it converts back exactly
    through a Python float (what the parser does); otherwise, and for float64, `repr`."""
    x = float(x)
    if dtype == np.float32 and not math.isnan(x):
        s = str(np.float32(x))
        if np.float32(float(s)).tobytes() == np.float32(x).tobytes():
            return s
    return repr(x)


def _leaf_text(x: Any, dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return _float_text(x, dtype)
    if dtype.kind == "b":
        return "True" if x else "False"
    return str(int(x))


def _nested_text(x: Any, dtype: np.dtype) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested_text(e, dtype) for e in x) + "]"
    return _leaf_text(x, dtype)


def format_dense(a: np.ndarray, with_type: bool) -> str:
    """`dense<2.0>`, `dense<[[1, 2], [3, 4]]>`; the shape and dtype are the instruction's
    output type unless `with_type`, which appends them: `dense<[1.0] : f32[1]>`."""
    body = _nested_text(a.tolist(), a.dtype)
    if with_type:
        body += " : " + format_type(TensorType(a.shape, a.dtype))
    return f"dense<{body}>"


def format_param(v: Any, out_type: TensorType | None = None,
                 labels: Mapping[int, str] | None = None) -> str:
    """The text of one param value. `out_type` is the instruction's single output type, if
    any: an array of exactly that type prints without its type (`constant`'s value).
    `labels` gives the label of a Function (`function_labels`), else it prints as `@name`."""
    if isinstance(v, np.generic) and not isinstance(v, np.ndarray):
        v = v.item()  # NumPy scalars print (and parse back) as Python scalars
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, (int, Dim)):
        return str(v)
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        items = [format_param(e, None, labels) for e in v]
        return "(" + ",".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(v, np.dtype):
        return DTYPE_NAMES.get(v, f"<dtype {v}>")
    if isinstance(v, np.ndarray):
        if v.dtype not in DTYPE_NAMES:
            return f"<array of dtype {v.dtype}>"
        return format_dense(v, with_type=out_type != TensorType(v.shape, v.dtype))
    if isinstance(v, Function):
        return (labels or {}).get(id(v)) or function_name(v.name)
    return f"<{type(v).__name__} {v!r}>"  # not a param kind; the parser rejects it


def _param_order(ins: Instr) -> list[str]:
    try:
        order = list(get_primitive(ins.prim).param_defaults)
    except KeyError:
        order = []
    return [k for k in order if k in ins.params] + sorted(k for k in ins.params
                                                          if k not in order)


# --------------------------------------------------------------------------- instructions


def format_instr(ins: Instr, names: Mapping[int, str] | None = None,
                 labels: Mapping[int, str] | None = None) -> str:
    """One instruction, e.g. `%1 = mul(%0, %0) : f32[]`.

    `names` maps `id(value)` to printed names (`value_names`); values missing from it print
    as `%?`. Without `names`, values are named by their hints, else `%v0, %v1, ...`."""
    if names is None:
        local: dict[int, str] = {}
        unnamed = 0
        for v in list(ins.outs) + list(ins.inputs):
            if id(v) not in local:
                h = getattr(v, "hint", None)
                if isinstance(h, str) and IDENTIFIER.match(h):
                    local[id(v)] = "%" + h
                else:
                    local[id(v)] = f"%v{unnamed}"
                    unnamed += 1
        names = local

    def name(v: Value) -> str:
        return names.get(id(v), "%?")

    out_type = ins.outs[0].type if len(ins.outs) == 1 else None
    text = f"{ins.prim}({', '.join(name(x) for x in ins.inputs)})"
    if ins.params:
        text += " {" + ", ".join(f"{k}={format_param(ins.params[k], out_type, labels)}"
                                 for k in _param_order(ins)) + "}"
    text += " : " + format_types([o.type for o in ins.outs])
    if ins.outs:
        text = ", ".join(name(o) for o in ins.outs) + " = " + text
    return text


# --------------------------------------------------------------------------- functions


def _callees(v: Any, into: list[Function]) -> None:
    if isinstance(v, Function):
        if all(f is not v for f in into):
            for ins in v.instrs:
                for p in ins.params.values():
                    _callees(p, into)
            into.append(v)
    elif isinstance(v, (tuple, list)):
        for e in v:
            _callees(e, into)


def function_labels(fn: Function) -> tuple[list[Function], dict[int, str]]:
    """The functions to print for `fn` (its callees, each before its callers, then `fn`)
    and the label of every reachable function, keyed by id.

    A label is `@name`; structurally equal functions of one name share a label and print
    once, and a different function whose name is taken gets `@name#1`, `@name#2`, ... (the
    parser reads the suffix as part of the label, not of the name)."""
    found: list[Function] = []
    _callees(fn, found)
    labels: dict[int, str] = {}
    printed: list[Function] = []
    by_name: dict[str, list[tuple[Function, str]]] = {}
    regions = _region_functions(found)
    for f in found:
        group = by_name.setdefault(f.name, [])
        label = next((lab for g, lab in group if g is f or params_equal(g, f)), None)
        if label is None:
            label = function_name(f.name) + (f"#{len(group)}" if group else "")
            group.append((f, label))
            if id(f) not in regions or f is fn:
                printed.append(f)
        labels[id(f)] = label
    if not printed or printed[-1] is not fn:  # `fn` equals one of its callees: print it
        printed.append(fn)
    return printed, labels


def _region_functions(found: list[Function]) -> set[int]:
    """The ids of the Functions that are params of region instructions (printed indented
    under their instruction, not as top-level blocks)."""
    out: set[int] = set()
    for f in found:
        for ins in f.instrs:
            if ins.prim in REGIONS:
                for v in ins.params.values():
                    out.update(id(g) for g in _functions_in(v))
    return out


def _functions_in(v: Any) -> list[Function]:
    if isinstance(v, Function):
        return [v]
    if isinstance(v, (tuple, list)):
        return [g for e in v for g in _functions_in(e)]
    return []


def _print_one(fn: Function, labels: Mapping[int, str], done: set[str],
               indent: str = "") -> str:
    """`fn`'s block; the Functions of a region instruction follow that instruction,
    indented, the first time their label is printed (`done` holds the printed labels)."""
    done.add(labels[id(fn)])
    names = value_names(fn)
    params = ", ".join(f"{names[id(p)]}: {format_type(p.type)}" for p in fn.params)
    results = format_types([r.type for r in fn.results])
    lines = [f"{indent}func {labels[id(fn)]}({params}) -> {results} {{"]
    for ins in fn.instrs:
        lines.append(indent + "  " + format_instr(ins, names, labels))
        if ins.prim in REGIONS:
            for k in _param_order(ins):
                for g in _functions_in(ins.params[k]):
                    if labels[id(g)] not in done:
                        lines.append(_print_one(g, labels, done, indent + "    "))
    ret = ", ".join(names.get(id(r), "%?") for r in fn.results)
    lines.append(indent + "  return" + (" " + ret if ret else ""))
    lines.append(indent + "}")
    return "\n".join(lines)


def print_function(fn: Function) -> str:
    """The text of `fn`, preceded by the `func` blocks of its callees (blank-line
    separated, no trailing newline). Example: `print(print_function(f))`."""
    printed, labels = function_labels(fn)
    done: set[str] = set()
    return "\n\n".join(_print_one(f, labels, done) for f in printed)
