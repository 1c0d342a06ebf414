"""Structured control flow: region instructions `while`, `scan` and `cond`.

A region instruction holds nested `Function`s as parameters (the loop condition and body,
the branches), like `call`; the values it reads from outside come in as leading operands
(`n_consts` of them) and every nested Function takes them as its leading parameters, so
the IR stays SSA with no free variables.

- `while(consts.., init..) {cond, body, n_consts, max_iters} -> (final.., count)`:
  `cond(consts.., state..) -> bool[]`, `body(consts.., state..) -> state..`; runs `body`
  while `cond` holds (and, when `max_iters` is an int, at most that many times); the last
  output is the number of iterations run (`i32[]`), which reverse mode needs.
- `scan(consts.., init.., xs..) {body, n_consts, n_carry, length, reverse, dynamic}
  -> (final.., ys..)`: `body(consts.., carry.., x..) -> (carry.., y..)` over the leading
  axis (of size `length`) of every `xs`, last to first when `reverse`; each `ys` stacks
  the per-step `y` along a new leading axis (at the step's index, also when `reverse`).
  With `dynamic`, a leading operand `steps: i32[]` (clamped to `[0, length]`) says how many
  steps run: rows `0 .. steps-1` (from `steps-1` down when `reverse`); the other rows of
  the `ys` are zero and those of the `xs` are not read. `length` is then a capacity: the
  `ys` are preallocated buffers, which is how a `while` saves one state per iteration.
- `cond(index, operands..) {branches} -> results`: runs `branches[index]` (an index outside
  `[0, len(branches))` runs the last branch, as `tf.switch_case` does); every branch takes
  the operands and returns results of one common list of types.

Invariants: the shape rules check every nested signature against the operand types (so the
verifier checks them); the reference implementations interpret the nested Functions with
the reference interpreter; the VJP rules (`control_ad`) emit region instructions again.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from ..core import Function, TensorType
from ..errors import IRError
from .registry import Primitive, register

#: Primitives whose params hold nested Functions that run in a loop or a branch.
REGIONS = frozenset({"while", "scan", "cond"})
I32 = np.dtype(np.int32)
BOOL = np.dtype(np.bool_)


def _types(ts: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in ts) + ")"


def _check_fn(prim: str, role: str, fn: Any, params: Sequence[TensorType],
              results: Sequence[TensorType] | None) -> None:
    if not isinstance(fn, Function):
        raise IRError(f"{prim}: parameter {role} must be a Function, got {type(fn).__name__}")
    got = [p.type for p in fn.params]
    if got != list(params):
        raise IRError(f"{prim}: {role} @{fn.name} takes {_types(got)}, but the operands "
                      f"give {_types(params)}")
    if results is not None and [r.type for r in fn.results] != list(results):
        raise IRError(f"{prim}: {role} @{fn.name} returns "
                      f"{_types([r.type for r in fn.results])}, expected {_types(results)}")


def _check_count(prim: str, what: str, n: Any, at_most: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= at_most:
        raise IRError(f"{prim}: {what} must be an int in [0, {at_most}], got {n!r}")
    return n


def _bare(outs: tuple[Any, ...]) -> Any:
    """One result is returned bare, as every single-output implementation does."""
    return outs[0] if len(outs) == 1 else outs


# --------------------------------------------------------------------------- while


def _while_rule(*ins: TensorType, cond: Function, body: Function, n_consts: int,
                max_iters: int | None) -> list[TensorType]:
    k = _check_count("while", "n_consts", n_consts, len(ins))
    if max_iters is not None and (not isinstance(max_iters, int) or isinstance(max_iters, bool)
                                  or max_iters < 0):
        raise IRError(f"while: max_iters must be None or an int >= 0, got {max_iters!r}")
    _check_fn("while", "cond", cond, ins, [TensorType((), BOOL)])
    _check_fn("while", "body", body, ins, ins[k:])
    return list(ins[k:]) + [TensorType((), I32)]


def _while_impl(*arrays: Any, cond: Function, body: Function, n_consts: int,
                max_iters: int | None) -> Any:
    from ..interp import evaluate_nested as evaluate
    consts, state = list(arrays[:n_consts]), list(arrays[n_consts:])
    n = 0
    while (max_iters is None or n < max_iters) and bool(evaluate(cond, consts + state)[0]):
        state = evaluate(body, consts + state)
        n += 1
    return _bare(tuple(state) + (np.array(n, np.int32),))


# --------------------------------------------------------------------------- scan


def _scan_rule(*ins: TensorType, body: Function, n_consts: int, n_carry: int, length: int,
               reverse: bool, dynamic: bool = False) -> list[TensorType]:
    if not isinstance(dynamic, bool):
        raise IRError(f"scan: dynamic must be a bool, got {dynamic!r}")
    if dynamic:
        if not ins or ins[0] != TensorType((), I32):
            got = ins[0] if ins else "nothing"
            raise IRError(f"scan: a dynamic scan's first operand is its step count, i32[]; "
                          f"got {got}")
        ins = ins[1:]
    k = _check_count("scan", "n_consts", n_consts, len(ins))
    m = _check_count("scan", "n_carry", n_carry, len(ins) - k)
    _check_count("scan", "length", length, 1 << 62)
    if not isinstance(reverse, bool):
        raise IRError(f"scan: reverse must be a bool, got {reverse!r}")
    xs = ins[k + m:]
    for i, x in enumerate(xs):
        if not x.shape or x.shape[0] != length:
            raise IRError(f"scan: xs[{i}] of type {x} has no leading axis of the scan's "
                          f"length {length}")
    slices = [TensorType(x.shape[1:], x.dtype) for x in xs]
    _check_fn("scan", "body", body, list(ins[:k + m]) + slices, None)
    res = [r.type for r in body.results]
    if len(res) < m or res[:m] != list(ins[k:k + m]):
        raise IRError(f"scan: body @{body.name} returns {_types(res)}, whose first {m} types "
                      f"must be the carried types {_types(ins[k:k + m])}")
    return list(ins[k:k + m]) + [TensorType((length,) + t.shape, t.dtype) for t in res[m:]]


def _scan_impl(*arrays: Any, body: Function, n_consts: int, n_carry: int, length: int,
               reverse: bool, dynamic: bool = False) -> Any:
    from ..interp import evaluate_nested as evaluate
    steps = length
    if dynamic:
        steps, arrays = min(max(int(arrays[0]), 0), length), arrays[1:]
    k, m = n_consts, n_carry
    consts, carry, xs = list(arrays[:k]), list(arrays[k:k + m]), arrays[k + m:]
    ys = [np.zeros((length,) + r.type.shape, r.type.dtype) for r in body.results[m:]]
    for i in (range(steps - 1, -1, -1) if reverse else range(steps)):
        outs = evaluate(body, consts + carry + [x[i] for x in xs])
        carry = list(outs[:m])
        for y, o in zip(ys, outs[m:]):
            y[i] = o
    return _bare(tuple(carry) + tuple(ys))


# --------------------------------------------------------------------------- cond


def _cond_rule(index: TensorType, *ins: TensorType, branches: tuple[Function, ...]
               ) -> list[TensorType]:
    if index.shape != () or index.dtype != I32:
        raise IRError(f"cond: the branch index must be i32[], got {index}")
    if not isinstance(branches, tuple) or not branches:
        raise IRError(f"cond: branches must be a non-empty tuple of Functions, got {branches!r}")
    first = branches[0]
    _check_fn("cond", "branch 0", first, ins, None)
    res = [r.type for r in first.results]
    for i, br in enumerate(branches[1:], 1):
        _check_fn("cond", f"branch {i}", br, ins, res)
    return res


def branch_index(index: Any, n: int) -> int:
    """The branch that runs for `index`: out-of-range indices run the last branch."""
    i = int(index)
    return i if 0 <= i < n else n - 1


def _cond_impl(index: Any, *arrays: Any, branches: tuple[Function, ...]) -> Any:
    from ..interp import evaluate_nested as evaluate
    outs = evaluate(branches[branch_index(index, len(branches))], list(arrays))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _n_results(fn: Any, extra: int = 0) -> int:
    return len(fn.results) + extra if isinstance(fn, Function) else 1


from .control_ad import cond_vjp, scan_vjp, while_vjp  # noqa: E402  (uses REGIONS)
from .control_jvp import cond_jvp, scan_jvp, while_jvp  # noqa: E402

register(Primitive("while", kind="region",
                   params={"cond": None, "body": None, "n_consts": 0, "max_iters": None},
                   shape_rule=_while_rule, impl=_while_impl, vjp=while_vjp, jvp=while_jvp,
                   n_outs=lambda cond, body, n_consts, max_iters: _n_results(body, 1)))
register(Primitive("scan", kind="region",
                   params={"body": None, "n_consts": 0, "n_carry": 0, "length": 0,
                           "reverse": False, "dynamic": False},
                   shape_rule=_scan_rule, impl=_scan_impl, vjp=scan_vjp, jvp=scan_jvp,
                   n_outs=lambda body, n_consts, n_carry, length, reverse, dynamic=False:
                   _n_results(body)))
register(Primitive("cond", kind="region", params={"branches": ()},
                   shape_rule=_cond_rule, impl=_cond_impl, vjp=cond_vjp, jvp=cond_jvp,
                   n_outs=lambda branches: _n_results(branches[0] if branches else None)))
