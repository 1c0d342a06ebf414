"""Loop nests for generated code, in the style of numba's `cgutils.for_range`.

Invariants:
- Indices are `i64`, counted from 0 with `add nuw nsw`, so LLVM sees canonical loops with
  constant trip counts it can vectorize.
- A loop of a constant, non-zero trip count tests its index at the bottom (the rotated form
  LLVM's loop passes turn every loop into): one block and one branch fewer to build, print
  and parse than the test at the top, and the same optimized code (W1-W4b and the runtime
  libraries compile to identical machine code either way).
- A dimension of size 1 gets no loop: its index is the constant `ZERO` (which keeps the
  emitted expressions loop-invariant where they can be).
- A nest over a shape with a zero dimension emits its body into an unreachable block, so
  the body is never run, yet callers need no special case.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from llvmlite import ir

from ..ir.caches import on_clear
from .irbuild import known_metadata

I64 = ir.IntType(64)
ZERO = ir.Constant(I64, 0)
NUW_NSW = ("nuw", "nsw")


def const(n: int) -> ir.Constant:
    """The i64 constant `n`. Shared: one object per value (llvmlite caches a constant's
    text on it, so a module prints each distinct constant once)."""
    c = _CONSTS.get(n)
    if c is None:
        c = ir.Constant(I64, int(n))
        if len(_CONSTS) < _MAX_CONSTS:
            _CONSTS[int(n)] = c
    return c


_CONSTS: dict[int, ir.Constant] = {0: ZERO}
_MAX_CONSTS = 4096


def _forget_constants() -> None:
    _CONSTS.clear()
    _CONSTS[0] = ZERO


on_clear("codegen: shared i64 constants", _forget_constants)


@contextlib.contextmanager
def for_range(builder: ir.IRBuilder, start: ir.Value | int, stop: ir.Value | int | None = None,
              step: ir.Value | int = 1, name: str = "i") -> Iterator[ir.Value]:
    """`for i in range(start, stop, step)`, or `range(stop)` with one bound, as Python's
    `range` (non-negative bounds, positive step): emits the loop, yields `i` with the
    builder positioned in the body, and leaves the builder after the loop."""
    if stop is None:
        start, stop = 0, start
    count = const(stop) if isinstance(stop, int) else stop
    start = const(start) if isinstance(start, int) else start
    inc = const(step) if isinstance(step, int) else step
    pre = builder.block
    # At least one iteration: the test at the bottom (see the module docstring).
    bottom = (isinstance(count, ir.Constant) and isinstance(start, ir.Constant)
              and isinstance(inc, ir.Constant) and 0 <= int(start.constant) < int(count.constant)
              and int(inc.constant) > 0)
    cond = None if bottom else builder.append_basic_block(f"{name}.cond")
    body = builder.append_basic_block(f"{name}.body")
    end = builder.append_basic_block(f"{name}.end")
    head = body if cond is None else cond
    builder.branch(head)
    builder.position_at_end(head)
    idx = builder.phi(I64, name=name)
    idx.add_incoming(start, pre)
    if cond is not None:
        builder.cbranch(builder.icmp_signed("<", idx, count), body, end)
        builder.position_at_end(body)
    yield idx
    nxt = builder.add(idx, inc, name=f"{name}.next", flags=NUW_NSW)
    idx.add_incoming(nxt, builder.block)
    latch = (builder.branch(cond) if cond is not None
             else builder.cbranch(builder.icmp_signed("<", nxt, count), body, end))
    if not isinstance(count, ir.Constant) or int(count.constant) >= UNROLL_MAX_TRIPS:
        latch.set_metadata("llvm.loop", no_unroll(builder.module))
    builder.position_at_end(end)


# Loops of at least this many iterations (or of a trip count known only at run time) are
# never unrolled by LLVM (`llvm.loop.unroll.disable`): the vectorizer still widens and
# interleaves them, and unrolling the vector loop again bought nothing measurable on
# W2, W3 or the vector math of 1M elements, while it made W3's module 2.2x larger and
# cost 45 of its 140 ms of LLVM time (benchmarks/profile_tracejit.py w5). Shorter loops
# may still be unrolled in full, where that does pay.
UNROLL_MAX_TRIPS = 4


def value_where(builder: ir.IRBuilder, cond: ir.Value, usual: ir.Value,
                make: Callable[[], ir.Value], likely: bool | None = None) -> ir.Value:
    """`usual`, or the value `make()` emits where the i1 `cond` holds: `make` runs in a
    branch (`likely`: its hint, as `IRBuilder.if_then`'s), joined by a phi."""
    pre = builder.block
    with builder.if_then(cond, likely=likely):
        made = make()
        then = builder.block
    out = builder.phi(usual.type)
    out.add_incoming(usual, pre)
    out.add_incoming(made, then)
    return out


def unless_rare(builder: ir.IRBuilder, rare: ir.Value, usual: ir.Value,
                make: Callable[[], ir.Value]) -> ir.Value:
    """`usual`, or the value `make()` emits where the i1 `rare` holds: `make` runs in a
    branch marked unlikely (a slow path for special inputs), joined by a phi."""
    return value_where(builder, rare, usual, make, likely=False)


# The operands of the `llvm.loop.unroll.disable` node, to find a module's node in its own
# metadata cache (`Module.add_metadata` keys nodes by their operands, compared by value):
# no table of modules to keep (a table's node would refer to its module and keep it).
_UNROLL_DISABLE_KEY = (ir.MetaDataString(ir.Module(), "llvm.loop.unroll.disable"),)


def no_unroll(module: ir.Module) -> ir.MDValue:
    """A new loop ID (a self-referential node, as LLVM requires of each loop's own ID)
    that asks LLVM not to unroll its loop."""
    flag = known_metadata(module, _UNROLL_DISABLE_KEY)
    if flag is None:
        flag = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
    # A unique placeholder makes a new node (`add_metadata` reuses equal ones); its first
    # operand then becomes the node itself.
    loop_id = module.add_metadata([ir.MetaDataString(module, f"tj.loop.{len(module.metadata)}"),
                                   flag])
    loop_id.operands = (loop_id, flag)
    return loop_id


@contextlib.contextmanager
def block_ranges(builder: ir.IRBuilder, n: int, block: int,
                 span: tuple[ir.Value, ir.Value] | None = None
                 ) -> Iterator[tuple[ir.Value, ir.Value]]:
    """The blocks of `block` indices that cover `range(n)`: yields each block's bounds
    `(lo, hi)` with the builder in the body of the loop over blocks (no loop at all when
    one block covers `n`), and leaves the builder after it. With `span = (start, stop)`
    (`start` a multiple of `block`), only the blocks covering `range(start, stop)`."""
    if span is not None:
        start, stop = span
        with for_range(builder, start, stop, block, name="blk") as lo:
            hi = builder.add(lo, const(block))
            yield lo, builder.select(builder.icmp_signed("<", hi, stop), hi, stop)
        return
    if n <= block:
        yield ZERO, const(n)
        return
    with for_range(builder, -(-n // block), name="blk") as blk:
        lo = builder.mul(blk, const(block))
        hi = builder.add(lo, const(block))
        yield lo, builder.select(builder.icmp_signed("<", hi, const(n)), hi, const(n))


@contextlib.contextmanager
def loop_nest(builder: ir.IRBuilder, shape: Sequence[int], name: str = "i",
              span: tuple[int, ir.Value, ir.Value] | None = None
              ) -> Iterator[tuple[ir.Value, ...]]:
    """Nested loops over `shape` in row-major order; yields one index per dimension.
    With `span = (d, start, stop)`, dimension `d` runs over `range(start, stop)` only
    (a chunk of the nest).

    Example::

        with loop_nest(builder, (3, 4)) as (i, j):
            ...  # body, run 12 times
    """
    shape = tuple(int(d) for d in shape)
    if span is not None:
        d0, start, stop = span
        with contextlib.ExitStack() as stack:
            idx = []
            for k, d in enumerate(shape):
                if k == d0:
                    idx.append(stack.enter_context(for_range(builder, start, stop,
                                                             name=f"{name}{k}")))
                elif d == 1:
                    idx.append(ZERO)
                else:
                    idx.append(stack.enter_context(for_range(builder, d, name=f"{name}{k}")))
            yield tuple(idx)
        return
    if any(d == 0 for d in shape):
        fn = builder.function
        dead = fn.append_basic_block(f"{name}.empty")
        after = fn.append_basic_block(f"{name}.skip")
        builder.branch(after)
        builder.position_at_end(dead)
        yield tuple(ZERO for _ in shape)
        builder.branch(after)
        builder.position_at_end(after)
        return
    with contextlib.ExitStack() as stack:
        idx = []
        for k, d in enumerate(shape):
            if d == 1:
                idx.append(ZERO)
            else:
                idx.append(stack.enter_context(for_range(builder, d, name=f"{name}{k}")))
        yield tuple(idx)


def linear_index(builder: ir.IRBuilder, idx: Sequence[ir.Value], shape: Sequence[int]
                 ) -> ir.Value:
    """The row-major offset of `idx` in a contiguous array of `shape`."""
    off: ir.Value | None = None
    stride = 1
    for i, d in reversed(list(zip(idx, shape))):
        if d != 1:
            term = i if stride == 1 else builder.mul(i, const(stride), flags=NUW_NSW)
            off = term if off is None else builder.add(off, term, flags=NUW_NSW)
        stride *= d
    return ZERO if off is None else off


def broadcast_index(idx: Sequence[ir.Value], out_shape: Sequence[int],
                    in_shape: Sequence[int]) -> tuple[ir.Value, ...]:
    """The index into an operand of `in_shape` broadcast (NumPy rules) to `out_shape`."""
    off = len(out_shape) - len(in_shape)
    return tuple(ZERO if d == 1 else idx[off + i] for i, d in enumerate(in_shape))
