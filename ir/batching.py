"""Batching: `vmap(fn, batched, size)` adds a leading batch axis to a Function (JAX's `vmap`,
TensorFlow's `pfor`), so that a Jacobian is one batched backward pass instead of one pass
per output.

`vmap` interprets `fn` instruction by instruction inside a `Builder`. Each value of `fn`
becomes a pair (value, batched): a batched value has the batch axis first, of length `size`,
then the original shape; an unbatched value keeps the original type and stands for the same
array in every batch element. An instruction without batched operands is emitted as it is;
otherwise its primitive's batching rule (`rule_for`) emits the batched form.

Invariants:
- Every registered primitive has a batching rule (`rule_for`): its own in `RULES` (entered
  by `_register` in `batching_rules`, `batching_ops`, `batching_control`), or the
  standard one its kind implies (`standard_rule`). All have one signature:
  `rule(xs, bat, bsize, **params) -> (outs, outs_batched)`, where `xs` are the operands,
  `bat[i]` says whether `xs[i]` has a batch axis and `bsize` is the batch size (not called
  `size`: that is a parameter of `scatter_add`). `vmap` calls a rule only for instructions
  with a batched operand; the rules of nullary primitives simply bind.
- Rules build their results with `bind` only, so a batched Function is made of ordinary
  primitives again: it verifies, differentiates and lowers like any other Function.
- The batch axis is always axis 0 of a batched value. `batch_values` checks every rule's
  output types against this.
- Unbatched values stay unbatched as long as possible: a rule materializes the batch axis
  of an unbatched operand only where the primitive cannot broadcast it (`concat`, and
  `scatter_add` updates with batched indices); `vmap` broadcasts results that depend on no
  batched parameter, and nothing else.
- The instructions emitted per instruction of `fn` do not depend on `size`, so a batched
  backward pass has the same length for 10 or 1000 seeds; a product of a batched operand
  with an unbatched matrix stays one matrix product (the batch folds into rows or columns).
- Data-dependent indices keep their bounds check: an index outside [0, n) in any batch
  element still raises IndexError in the batched Function.
- Code that runs only for some batch elements (a branch of a `cond` with a batched index,
  the body of a `while` with a batched condition, a step of a `scan` past some elements'
  counts) is batched under their mask (`only_where`); a run-time check (`assert`, a
  primitive that `raises`) there checks only those elements, so a branch not taken never
  fails. The masks made in the current Builder apply (a region nested inside such code,
  batched into a Builder of its own, checks every element).

Example::

    fb = vmap(f, [True, False], 5)        # f: (f64[3], f64[3]) -> f64[]
    evaluate(fb, [xs, y])[0][b] == evaluate(f, [xs[b], y])[0]     # xs: f64[5,3]
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import ops
from .caches import Memo
from .core import Builder, Function, TensorType, bind, current_interpreter, interpreting
from .errors import IRError
from .prims import Primitive, all_primitives
from .prims.elementwise import broadcast_shapes
from .tables import entering

__all__ = ["RULES", "batch_values", "batched_callee", "live_mask", "missing_rules",
           "only_where", "rule_for", "standard_rule", "vmap"]

#: A rule's operands (Values, or whatever `bind` accepts in the current context).
Xs = list[Any]
#: What a rule returns: its outputs, and for each whether it has a batch axis.
Out = tuple[list[Any], list[bool]]
Rule = Callable[..., Out]

#: The batching rules of primitives that need their own, keyed by primitive name.
RULES: dict[str, Rule] = {}


# Masks of the batch elements the code being batched runs for: (Builder, bool[size] value).
_MASKS: contextvars.ContextVar[tuple[tuple[Any, Any], ...]] = contextvars.ContextVar(
    "tracejit_batch_masks", default=())
#: Primitives that fail on some values at run time: batched under a mask even when no
#: operand is batched.
RAISES = frozenset(n for n, p in all_primitives().items() if p.raises)


@contextlib.contextmanager
def only_where(mask: Any) -> Iterator[None]:
    """Batch code that runs only for the elements where the bool `(size,)` value `mask`
    (of the current Builder) holds: its run-time checks check only those."""
    token = _MASKS.set(_MASKS.get() + ((current_interpreter(), mask),))
    try:
        yield
    finally:
        _MASKS.reset(token)


def live_mask() -> Any | None:
    """The elements the code being batched into the current Builder runs for (the
    logical_and of its masks), or None for all."""
    here = current_interpreter()
    masks = [m for b, m in _MASKS.get() if b is here]
    if not masks:
        return None
    live = masks[0]
    for m in masks[1:]:
        live = bind("logical_and", live, m)
    return live


# --------------------------------------------------------------------------- the transform


def vmap(fn: Function, batched: Sequence[bool], size: int, *, name: str | None = None
         ) -> Function:
    """A Function computing `fn` for `size` batch elements at once.

    Parameter i gets type `(size,) + fn.params[i].shape` if `batched[i]`, else keeps its
    type; every result gets a leading axis of `size` (a result that depends on no batched
    parameter is broadcast to it). For every b, `vmap(fn, ...)(*args)[k][b]` equals
    `fn(*args_b)[k]`, where `args_b` takes each batched argument at `[b]`.
    Example: `vmap(grad.fn, [False] * len(grad.residuals) + [True], n)` runs a backward pass
    for n seeds at once (the rows of a Jacobian for identity seeds)."""
    flags = [bool(x) for x in batched]
    if len(flags) != len(fn.params):
        raise IRError(f"vmap of @{fn.name}: {len(flags)} batched flags for "
                      f"{len(fn.params)} parameters")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
        raise IRError(f"vmap of @{fn.name}: the batch size must be an int >= 0, got {size!r}")
    size = int(size)
    b = Builder(name or f"{fn.name}_vmap")
    args = [b.param(_batched_type(p.type, size) if bt else p.type, p.hint)
            for p, bt in zip(fn.params, flags)]
    with interpreting(b):
        outs = batch_values(fn, args, flags, size)
        results = [_bcast(v, bt, size) for v, bt in outs]
    return b.build(results)


def batch_values(fn: Function, args: Sequence[Any], batched: Sequence[bool], size: int
                 ) -> list[tuple[Any, bool]]:
    """Emit the batched body of `fn` in the current context: `args[i]` stands for parameter
    i, with a leading batch axis of `size` if `batched[i]`. Returns (value, batched) for
    each result of `fn`; unbatched results are left unbroadcast."""
    env: dict[int, tuple[Any, bool]] = {
        id(p): (a, bool(bt)) for p, a, bt in zip(fn.params, args, batched)}
    for ins in fn.instrs:
        xs = [env[id(x)][0] for x in ins.inputs]
        bat = [env[id(x)][1] for x in ins.inputs]
        if any(bat) or (ins.prim in RAISES and live_mask() is not None):
            rule = rule_for(ins.prim)
            if rule is None:
                raise IRError(f"primitive {ins.prim} has no batching rule")
            outs, out_bat = rule(xs, bat, size, **ins.params)
        else:
            out = bind(ins.prim, *xs, **ins.params)
            outs = list(out) if len(ins.outs) != 1 else [out]
            out_bat = [False] * len(outs)
        if len(outs) != len(ins.outs) or len(out_bat) != len(ins.outs):
            raise IRError(f"the batching rule of {ins.prim} gave {len(outs)} results for "
                          f"{len(ins.outs)} outputs")
        for o, v, bt in zip(ins.outs, outs, out_bat):
            want = _batched_type(o.type, size) if bt else o.type
            got = TensorType(np.shape(v), v.dtype)
            if got != want:
                raise IRError(f"the batching rule of {ins.prim} gave {got}, expected {want} "
                              f"(batched={bt}) for {ins!r}")
            env[id(o)] = (v, bool(bt))
    return [env[id(r)] for r in fn.results]


_CALLEES: Memo[tuple[int, tuple[bool, ...], int], tuple[Function, Function, list[bool]]] = \
    Memo("batching: batched callees")


def batched_callee(fn: Function, batched: Sequence[bool], size: int
                   ) -> tuple[Function, list[bool]]:
    """`fn` batched over the parameters flagged in `batched`, with the results that depend
    on none of them left unbatched; the flags say which results have a batch axis. Cached
    per (callee, flags, size), so batching many calls of one callee builds it once."""
    key = (id(fn), tuple(bool(x) for x in batched), int(size))
    hit = _CALLEES.get(key)
    if hit is not None and hit[0] is fn:
        return hit[1], list(hit[2])
    b = Builder(f"{fn.name}_vmap")
    args = [b.param(_batched_type(p.type, size) if bt else p.type, p.hint)
            for p, bt in zip(fn.params, key[1])]
    with interpreting(b):
        outs = batch_values(fn, args, key[1], size)
    callee = b.build([v for v, _ in outs])
    flags = [bt for _, bt in outs]
    _CALLEES.put(key, (fn, callee, flags))
    return callee, list(flags)


def missing_rules() -> list[str]:
    """Registered primitives without a batching rule, their own or their kind's standard
    one (a test keeps this empty)."""
    return sorted(n for n in all_primitives() if rule_for(n) is None)


# --------------------------------------------------------------------------- helpers


def _batched_type(t: TensorType, size: int) -> TensorType:
    return TensorType((size,) + t.shape, t.dtype)


def _bcast(x: Any, bt: bool, bsize: int) -> Any:
    """`x` with a batch axis: broadcast (materialized) if it has none."""
    return x if bt else ops.broadcast_to(x, (bsize,) + tuple(x.shape))


def _elem_shape(x: Any, bt: bool) -> tuple[int, ...]:
    """The shape of one batch element of `x`."""
    return tuple(x.shape)[1:] if bt else tuple(x.shape)


def _lift_rank(x: Any, rank: int) -> Any:
    """A batched `(B,) + xs` reshaped to `(B,) + (1,) * (rank - len(xs)) + xs`, so that
    NumPy broadcasting lines its element axes up with those of a rank-`rank` result."""
    shape = tuple(x.shape)
    return ops.reshape(x, shape[:1] + (1,) * (rank - len(shape) + 1) + shape[1:])


def _move_to_front(x: Any, axis: int) -> Any:
    return ops.transpose(x, (axis,) + tuple(i for i in range(x.ndim) if i != axis))


def _offset_indices(idx: Any, n: int, bsize: int) -> Any:
    """Batched indices `(B,) + s` into an axis of length n, as indices into the flattened
    `(B * n)` axis: `idx[b] + b * n`. An index outside [0, n) is sent outside [0, B * n)
    (a negative one is kept, one >= n is shifted by (B - 1) * n), so the bounds check of
    the batched gather/scatter still raises instead of reaching another batch element."""
    if bsize * n >= 2**31 - 1 and idx.dtype != np.dtype(np.int64):
        idx = ops.convert(idx, np.int64)
    dt = idx.dtype
    rows = ops.reshape(ops.iota((bsize,), 0, dt), (bsize,) + (1,) * (idx.ndim - 1))
    good = ops.mul(rows, ops.const(n, dt))
    neg = bind("lt", idx, ops.const(0, dt))
    in_range = bind("logical_and", bind("logical_not", neg), bind("lt", idx, ops.const(n, dt)))
    bad = ops.select(neg, ops.const(0, dt), ops.const((bsize - 1) * n, dt))
    return ops.add(idx, ops.select(in_range, good, bad))


def _register(*names: str) -> Callable[[Rule], Rule]:
    return entering(names, RULES)


# --------------------------------------------------------------------------- standard rules
# Derived from the primitive's registry entry (`standard_rule`), as JAX's `standard_naryop`
# derives batching from one call: no list here names primitives.
# - "elementwise": a unary op maps the batch axis through; an n-ary op (arithmetic,
#   comparisons, select) broadcasts as NumPy does, so unbatched operands need nothing and
#   only batched operands of lower element rank are reshaped (`_lift_rank`).
# - "reduce": every declared axis parameter shifts by one; the batch axis is never reduced.
# - no operands (`constant`, `iota`): never batched, the same value in every element.


def _unary(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        return [bind(prim, xs[0], **params)], [True]
    return rule


def _nary(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        rank = len(broadcast_shapes(*[_elem_shape(x, bt) for x, bt in zip(xs, bat)]))
        lifted = [_lift_rank(x, rank) if bt else x for x, bt in zip(xs, bat)]
        return [bind(prim, *lifted, **params)], [True]
    return rule


def _reduce(prim: str, axis_params: Sequence[str]) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        for k in axis_params:
            v = params[k]
            params[k] = tuple(a + 1 for a in v) if isinstance(v, tuple) else v + 1
        return [bind(prim, xs[0], **params)], [True]
    return rule


def _nullary(prim: str) -> Rule:
    def rule(xs: Xs, bat: list[bool], bsize: int, **params: Any) -> Out:
        return [bind(prim, **params)], [False]
    return rule


def standard_rule(prim: Primitive) -> Rule | None:
    """The batching rule that `prim`'s kind implies, or None when it needs its own."""
    if prim.n_inputs == 0:
        return _nullary(prim.name)
    if prim.kind == "elementwise":
        return _unary(prim.name) if prim.n_inputs == 1 else _nary(prim.name)
    if prim.kind == "reduce" and prim.n_inputs == 1 and prim.axis_params:
        return _reduce(prim.name, tuple(prim.axis_params))
    return None


_STANDARD: dict[str, Rule] = {}


def rule_for(name: str) -> Rule | None:
    """The batching rule of primitive `name`: its own (`RULES`) or its kind's standard one."""
    rule = RULES.get(name)
    if rule is not None:
        return rule
    rule = _STANDARD.get(name)
    if rule is None:
        prims = all_primitives()
        rule = standard_rule(prims[name]) if name in prims else None
        if rule is not None:
            _STANDARD[name] = rule
    return rule
