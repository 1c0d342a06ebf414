"""Every registered primitive with its leading dimension unknown (`input_signature` with
None), against the same primitive with shapes fixed: the registry-iterating oracle of
shape polymorphism.

For each primitive, hypothesis draws a case (`tests/ir/prim_cases.py`); the leading
dimension of the operands of highest rank becomes the symbol `n0`, or every dimension
of theirs (larger than 1) a symbol `n<axis>` (and the `shape` or `limits` param entries
that name them); a region instruction's nested Functions are traced again for the
symbolic operands (a scan's step axis keeps its size). When the shape rule accepts that, the
symbolic Function must give the reference interpreter's results on the case's arrays:
through the reference interpreter (which binds n0) and, for the primitives that lower with
runtime sizes (`lower_poly.supported()`), through the one native code compiled for every
size. `NOT_YET` lists the primitives that still compile once per shape: a primitive
gaining runtime-size support must leave it (the list only shrinks). `BATCH_ONLY` lists the
kernels that take unknown batch dimensions only (their other unknown dimensions compile
per shape; the results are checked either way). Axes of a LAPACK kernel's operands of one
size share a symbol, so square matrices may have an unknown order.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracejit.codegen import compile_function, lower_poly
from tracejit.codegen.poly import PolyExecutable
from tracejit.ir import Function, all_primitives, bind, dims
from tracejit.ir.core import Builder, TensorType, interpreting
from tracejit.ir.interp import evaluate

from tests.codegen.test_prims import _outs, _tolerance
from tests.codegen.helpers import assert_close
from tests.ir.prim_cases import CASES

PRIMS = all_primitives()
POLY = settings(deadline=None, max_examples=4, suppress_health_check=[HealthCheck.too_slow])
N0 = dims.symbol("n0")

# The primitives whose lowering does not take runtime sizes yet (a Function using one on
# an unknown dimension compiles once per shape of it). Written out: a new primitive
# without runtime sizes must be added here, and one that gains them removed.
NOT_YET: list[str] = []

# Batched kernels of which only the batch dimensions may be unknown, with the leading
# axes of their operands that are batch axes (every unknown dimension of a Function of only
# batch dimensions must lower with runtime sizes; another unknown dimension, a channel
# count or a matrix size, compiles per shape). The pools take unknown channels, and the
# other LAPACK kernels an unknown matrix order, too.
LAPACK = ["cholesky", "eigh", "lu", "qr", "slogdet", "solve", "svd", "triangular_solve"]
BATCH_ONLY: dict[str, Any] = {
    "conv": lambda a: [1, 0], "conv_filter_grad": lambda a: [1, 1],
    **{p: (lambda a: [a[0].ndim - 2] * len(a)) for p in ("eigh", "qr", "svd")},
}


def _only_batch_unknown(name: str, fn: Function) -> bool:
    axes = BATCH_ONLY[name](fn.params)
    return not any(dims.is_symbolic(p.type.shape[r:]) for p, r in zip(fn.params, axes))


def _skipped_axes(name: str, n: int, params: dict[str, Any]) -> list[int]:
    """Per operand, the leading axes that keep their size: a scan's step axis of `xs`."""
    if name != "scan":
        return [0] * n
    first = int(params.get("dynamic", False)) + params["n_consts"] + params["n_carry"]
    return [int(j >= first) for j in range(n)]


def _retype(fn: Function, types: list[TensorType]) -> Function:
    """`fn` traced again with parameters of `types` (each instruction bound anew)."""
    b = Builder(fn.name)
    vals = {id(p): b.param(t) for p, t in zip(fn.params, types)}
    with interpreting(b):
        for ins in fn.instrs:
            outs = _outs(bind(ins.prim, *[vals[id(x)] for x in ins.inputs], **ins.params))
            vals.update(zip(map(id, ins.outs), outs))
    return b.build([vals[id(r)] for r in fn.results])


def _retyped_regions(name: str, types: list[TensorType], params: dict[str, Any]
                     ) -> dict[str, Any]:
    """The nested Functions of a region instruction traced again for operands of `types`
    (a while's condition and body take the operands, a cond's branches all but the index,
    a scan's body the operands with one step's rows of `xs`)."""
    if name == "while":
        return {k: _retype(params[k], types) for k in ("cond", "body")}
    if name == "cond":
        return {"branches": tuple(_retype(f, types[1:]) for f in params["branches"])}
    if name == "scan":
        ops = types[int(params.get("dynamic", False)):]
        first = params["n_consts"] + params["n_carry"]
        rows = ops[:first] + [TensorType(t.shape[1:], t.dtype) for t in ops[first:]]
        return {"body": _retype(params["body"], rows)}
    return {}


def _symbolic(name: str, args: list[np.ndarray], params: dict[str, Any], every: bool = False,
              axes: tuple[int, ...] | None = None) -> tuple[Function | None, dict[str, Any]]:
    """The primitive applied to operands whose leading dimension is n0 (see the module
    docstring), or with `every`, whose every dimension (of size > 1, where the operands
    of highest rank agree; only the first and last when the rule refuses that, or those
    of `axes`) is a symbol `n<axis>`; None when its shape rule does not accept that."""
    skip = _skipped_axes(name, len(args), params)
    views = [a.shape[k:] for a, k in zip(args, skip)]
    rank = max((len(v) for v in views), default=0)
    if rank == 0:
        return None, params
    top = [v for v in views if len(v) == rank]
    sym: dict[int, Any] = {}
    for i in axes if axes is not None else range(rank if every else 1):
        sizes = {s[i] for s in top}
        if len(sizes) == 1 and (not every or sizes != {1}):
            sym[i] = (dims.symbol(f"n{i}"), sizes.pop())
        elif len(sizes) > 1 and top[0][i] != 1:
            # Operands that differ there (a batch against a filter): those with the first
            # one's size (a 1 that broadcasts stays).
            sym[i] = (dims.symbol(f"n{i}"), top[0][i])
    if name in LAPACK:
        # Square matrices: axes of one size share their symbol (an unknown order n x n).
        first = {size: d for d, size in reversed(list(sym.values()))}
        sym = {i: (first[size], size) for i, (_, size) in sym.items()}
    types = [TensorType(a.shape[:k] + tuple(
        sym[i][0] if len(v) == rank and i in sym and d == sym[i][1] else d
        for i, d in enumerate(v)), a.dtype) for a, k, v in zip(args, skip, views)]
    p = dict(params)
    try:
        p.update(_retyped_regions(name, types, params))
    except (ValueError, TypeError):
        return None, p
    if isinstance(p.get("shape"), tuple) and len(p["shape"]) >= rank:
        lead = len(p["shape"]) - rank
        p["shape"] = tuple(sym[i - lead][0] if i - lead in sym and d == sym[i - lead][1]
                           else d for i, d in enumerate(p["shape"]))
    if isinstance(p.get("limits"), tuple) and len(p["limits"]) == rank:
        p["limits"] = tuple(sym[i][0] if i in sym and e == sym[i][1] and s == 0 and k == 1
                            else e for i, (s, e, k) in enumerate(
                                zip(p["starts"], p["limits"], p["strides"])))
    b = Builder(f"{name}_poly")
    xs = [b.param(t) for t in types]
    try:
        with interpreting(b):
            outs = _outs(bind(name, *xs, **p))
    except (ValueError, TypeError):
        if every and axes is None and rank >= 3:
            # Sizes the rule needs known (a pool's spatial ones): only the outer axes.
            return _symbolic(name, args, params, True, (0, rank - 1))
        return None, p
    if not any(x.type.symbolic for x in xs):
        return None, p
    return b.build(outs), p


def test_not_yet_lists_the_primitives_without_runtime_sizes() -> None:
    assert lower_poly.supported() <= set(PRIMS)
    assert set(PRIMS) - lower_poly.supported() == set(NOT_YET)


@pytest.mark.parametrize("name", sorted(PRIMS))
@POLY
@given(data=st.data())
def test_primitive_with_unknown_leading_dim(name: str, data: st.DataObject) -> None:
    args, params = data.draw(CASES[name], label="case")
    every = data.draw(st.booleans(), label="every dimension unknown")
    fn, sparams = _symbolic(name, list(args), params, every)
    if fn is None:
        return
    b = Builder(name)
    xs = [b.param(TensorType(a.shape, a.dtype)) for a in args]
    with interpreting(b):
        static = b.build(_outs(bind(name, *xs, **params)))
    with np.errstate(all="ignore"):
        ref = evaluate(static, list(args))
        got = evaluate(fn, list(args))
    for k, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, *_tolerance(name, r.dtype), what=f"{name}: interpreted {k}")
    if name not in lower_poly.supported():
        return
    exe = PolyExecutable(fn, compile_function)
    if name in BATCH_ONLY and not _only_batch_unknown(name, fn):
        assert exe.blocker is not None and name in exe.blocker, (name, exe.blocker)
    else:
        assert exe.blocker is None, (name, exe.blocker)
    before = [np.array(a, copy=True) for a in args]
    got = exe(*args)
    for a, c in zip(args, before):
        np.testing.assert_array_equal(a, c, err_msg=f"{name}: an input was modified")
    if name == "eigh" and got[1].dtype == np.float32:
        # float32 syevd flips the sign of some eigenvectors against NumPy's for a few
        # matrices, fixed-shape code alike: compare the directions.
        got[1] = got[1] * np.sign(np.sum(got[1] * ref[1], axis=-2, keepdims=True))
    for k, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, *_tolerance(name, r.dtype), what=f"{name}: native result {k}")
