"""Hypothesis strategies for random, valid IR programs, and inputs to run them on.

    from hypothesis import given, strategies as st
    from tests.strategies import programs, random_inputs

    @given(programs(max_instrs=6), st.integers(0, 2**32 - 1))
    def test_native_matches_interpreter(fn, seed):
        args = random_inputs(fn, np.random.default_rng(seed))
        ...

Invariants of every drawn Function:
- it is built with `Builder` and `bind`, so it verifies (`tracejit.ir.verify.verify`);
- parameters and results have dtypes in `dtypes` (bool results only if `np.bool_` is in
  `dtypes`); intermediate values may have other dtypes (comparisons give bool, `gather`
  and `one_hot` take int indices);
- every value has at most `max_size` elements and rank at most `max_rank + 1`; dimensions
  range over `min_dim`..`max_dim` (and 0, only with `allow_zero_dims`);
- the operations drawn are those in `allow` (default: `ALL_PRIMS`). `constant` may also
  appear as a helper (an operand of a matching shape, `gather`/`one_hot` indices, `safe`
  guards); if `"constant"` is not allowed, operands of dtypes in `dtypes` become new
  parameters instead (indices and guards stay constants);
- `gather`, `scatter_add` and `one_hot` indices are in range, so the reference interpreter
  never raises;
- with `safe=True`, `log`, `log1p`, `sqrt`, the base of `pow` and the divisor of `div` see
  `x * x + 0.5` and `exp`, `expm1`, `tan` and the exponent of `pow` see `tanh(x)`: no
  domain errors or poles (long chains of products may still overflow). Pair it with
  `allow=SMOOTH_PRIMS` for gradient checks (no kinks, no integer or boolean values in
  between);
- `call` instructions call small random callees (nested at most twice, drawn with the
  same options); leave `"call"` out of `allow` to get flat programs;
- `while`, `scan` and `cond` region instructions (`tests/strategies_regions.py`) hold
  nested random programs drawn with the same options (nested at most twice), with
  captured loop invariants, carried values of mixed types, zero-trip and data-dependent
  loops, reverse scans and several branches; leave `REGIONS` out of `allow` to get none.

Also here: `inputs(fn)`, a strategy of argument lists; `build_function(name, types, body)`,
a Function from a Python body written with `bind`; `ALL_PRIMS`, `SMOOTH_PRIMS`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from tracejit.ir import Builder, Function, TensorType, Value, bind, get_primitive, interpreting
from tracejit.ir.prims.elementwise import broadcast_shapes

from tests.strategies_regions import region_generators

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
FLOATS = (F32, F64)
INTS = (I32, I64)

UNARY_FLOAT = ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "floor",
               "logistic", "softplus")
UNARY_NUM = ("neg", "abs", "sign", "relu")
BINARY_FLOAT = ("div", "pow")
BINARY_NUM = ("add", "sub", "mul", "maximum", "minimum", "floordiv", "mod")
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
REDUCE = ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")
ARG_REDUCE = ("argmax", "argmin")
SHAPE = ("reshape", "transpose", "broadcast_to", "slice", "pad", "rev", "concat")
LOGICAL = ("logical_and", "logical_or", "logical_not")
OTHER = ("select", "matmul", "constant", "iota", "convert", "gather", "scatter_add", "one_hot",
         "identity", "stop_gradient", "call")
#: Region instructions (`tests/strategies_regions.py`): loops and branches whose nested
#: Functions are random programs drawn with the same options.
REGIONS = ("cond", "scan", "while")
#: Every primitive the strategy draws, simplest first (failing examples shrink towards the
#: front of this order).
ORDER = BINARY_NUM + UNARY_NUM + BINARY_FLOAT + UNARY_FLOAT + SHAPE + REDUCE + COMPARE \
    + LOGICAL + OTHER + ARG_REDUCE + REGIONS
ALL_PRIMS = frozenset(ORDER)
#: Primitives that are smooth on floats (for finite-difference gradient checks).
SMOOTH_PRIMS = ALL_PRIMS - {"floor", "abs", "sign", "relu", "maximum", "minimum", "floordiv",
                            "mod", "reduce_max", "reduce_min", "select", "one_hot",
                            *COMPARE, *LOGICAL, *ARG_REDUCE}


@dataclass
class _Ctx:
    """The state of one program being drawn."""

    draw: Callable[[st.SearchStrategy[Any]], Any]
    b: Builder
    dtypes: tuple[np.dtype, ...]
    allow: frozenset[str]
    max_rank: int
    max_dim: int
    max_size: int
    allow_zero_dims: bool
    special_values: bool
    safe: bool
    pool: list[Value] = field(default_factory=list)
    depth: int = 0                                  # of `call` and region nesting
    callees: list[int] = field(default_factory=lambda: [0])  # shared callee counter
    min_dim: int = 1
    regions: int = 0          # percent of operations drawn among the allowed REGIONS

    # ------------------------------------------------------------ drawing helpers

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def boolean(self) -> bool:
        return bool(self.draw(st.booleans()))

    def choice(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(options)))

    def pick(self, pred: Callable[[Value], bool]) -> Value | None:
        """A value of the pool satisfying `pred`, recent ones first when shrinking."""
        cands = [v for v in reversed(self.pool) if pred(v)]
        return self.choice(cands) if cands else None

    def dim(self) -> int:
        if self.allow_zero_dims and self.integer(0, 9) == 0:
            return 0
        return self.integer(self.min_dim, self.max_dim)

    def shape(self, rank: int | None = None) -> tuple[int, ...]:
        if rank is None:
            rank = self.integer(0, self.max_rank)
        for _ in range(4):
            s = tuple(self.dim() for _ in range(rank))
            if math.prod(s) <= self.max_size:
                return s
        return (1,) * rank

    def fits(self, shape: Sequence[int]) -> bool:
        return math.prod(shape) <= self.max_size and len(shape) <= self.max_rank + 1

    # ------------------------------------------------------------ making values

    def emit(self, prim: str, *args: Value, **params: Any) -> Value | None:
        """Append `prim` if its outputs fit the size bounds, else None."""
        p = get_primitive(prim)
        params = p.canonical_params(params)
        outs = p.infer([a.type for a in args], params)
        if not all(self.fits(t.shape) for t in outs):
            return None
        with interpreting(self.b):
            r = bind(p, *args, **params)
        return r if isinstance(r, Value) else r[0]

    def array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        kind = self.choice(["random", "one", "zero", "small"])
        rng = np.random.default_rng(self.integer(0, 2**16))
        if dtype == BOOL:
            return rng.integers(0, 2, shape).astype(bool)
        if kind == "one":
            a = np.ones(shape, dtype)
        elif kind == "zero":
            a = np.zeros(shape, dtype) * (-1 if self.boolean() else 1)  # -0.0 sometimes
        elif kind == "small" or dtype.kind in "iu":
            a = rng.integers(-3, 4, shape).astype(dtype)
        else:
            a = rng.uniform(-2, 2, shape).astype(dtype)
        if self.special_values and dtype.kind == "f" and a.size and self.boolean():
            a = a.copy()
            a.flat[self.integer(0, a.size - 1)] = self.choice([np.inf, -np.inf, np.nan, -0.0])
        return np.asarray(a, dtype)

    def constant(self, shape: tuple[int, ...], dtype: np.dtype) -> Value:
        v = self.emit("constant", value=self.array(shape, dtype))
        assert v is not None
        return v

    def operand(self, shape: tuple[int, ...], dtype: np.dtype) -> Value:
        """A new value of this type: a constant or a new parameter (always a constant
        in a callee or for a dtype outside `dtypes`, else never one if constants are not
        allowed)."""
        if (self.depth or dtype not in self.dtypes
                or ("constant" in self.allow and self.boolean())):
            return self.constant(shape, dtype)
        v = self.b.param(TensorType(shape, dtype), self.hint())
        self.pool.append(v)
        return v

    def hint(self) -> str | None:
        return self.choice([None, "x", "y", "w", "b", "x", "arg0", "in put"])

    def partner(self, dtype: np.dtype, *shapes: tuple[int, ...]) -> Value:
        """A value of `dtype` whose shape broadcasts with all `shapes` to a fitting shape:
        from the pool or new."""
        def ok(v: Value) -> bool:
            if v.type.dtype != dtype:
                return False
            try:
                return self.fits(broadcast_shapes(v.type.shape, *shapes))
            except ValueError:
                return False
        if self.boolean():
            v = self.pick(ok)
            if v is not None:
                return v
        return self.operand(self.compatible_shape(broadcast_shapes(*shapes)), dtype)

    def compatible_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape that broadcasts with `shape` without growing it (or growing it by a
        leading axis)."""
        keep = self.integer(0, len(shape))
        s = tuple(d if self.boolean() else 1 for d in shape[len(shape) - keep:])
        if len(s) <= self.max_rank and len(shape) == len(s) and self.integer(0, 3) == 0:
            s = (self.choice([1, 2]),) + s
        return s if self.fits(broadcast_shapes(s, shape)) else shape

    def guard_positive(self, x: Value) -> Value:
        """x * x + 0.5 (>= 0.5 for finite x)."""
        sq = self.emit("mul", x, x)
        half = self.emit("constant", value=np.asarray(0.5, x.type.dtype))
        assert sq is not None and half is not None
        r = self.emit("add", sq, half)
        assert r is not None
        return r

    def guard_bounded(self, x: Value) -> Value:
        r = self.emit("tanh", x)
        assert r is not None
        return r

    def floats(self, v: Value) -> bool:
        return v.type.dtype in FLOATS

    def numeric(self, v: Value) -> bool:
        return v.type.dtype.kind in "fiu"


# --------------------------------------------------------------------------- generators
# Each takes the context and returns the new value (or None when the op does not apply).

Gen = Callable[[_Ctx, str], "Value | None"]


def _unary_float(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.floats)
    if x is None:
        return None
    if c.safe and op in ("log", "log1p", "sqrt"):
        x = c.guard_positive(x)
    elif c.safe and op in ("exp", "expm1", "tan"):
        x = c.guard_bounded(x)
    return c.emit(op, x)


def _unary_num(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.numeric)
    return None if x is None else c.emit(op, x)


def _binary(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.floats if op in BINARY_FLOAT else c.numeric)
    if x is None:
        return None
    y = c.partner(x.type.dtype, x.type.shape)
    if c.boolean():
        x, y = y, x
    if c.safe and op == "div":
        y = c.guard_positive(y)
    if c.safe and op == "pow":
        x, y = c.guard_positive(x), c.guard_bounded(y)
    return c.emit(op, x, y)


def _compare(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.numeric)
    if x is None:
        return None
    return c.emit(op, x, c.partner(x.type.dtype, x.type.shape))


def _select(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.numeric)
    if x is None:
        return None
    xs = x.type.shape
    cond = c.pick(lambda v: v.type.dtype == BOOL and c.fits(_bshape(v.type.shape, xs)))
    if cond is None:
        cmps = sorted(set(COMPARE) & c.allow)
        if not cmps:
            return None
        cond = c.emit(c.choice(cmps), x, c.partner(x.type.dtype, x.type.shape))
        if cond is None:
            return None
    y = c.partner(x.type.dtype, x.type.shape, cond.type.shape)
    if c.boolean():
        x, y = y, x
    return c.emit(op, cond, x, y)


def _bshape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return broadcast_shapes(*shapes)
    except ValueError:
        return (1 << 30,)


def _axes(c: _Ctx, ndim: int) -> tuple[int, ...]:
    return tuple(a for a in range(ndim) if c.boolean())


def _reduce(c: _Ctx, op: str) -> Value | None:
    x = c.pick(c.numeric)
    if x is None:
        return None
    return c.emit(op, x, axes=_axes(c, x.type.ndim), keepdims=c.boolean())


def _arg_reduce(c: _Ctx, op: str) -> Value | None:
    ints = [d for d in c.dtypes if d in INTS]
    if not ints and "convert" not in c.allow:
        return None
    x = c.pick(lambda v: c.numeric(v) and any(d > 0 for d in v.type.shape))
    if x is None:
        return None
    axis = c.choice([i for i, d in enumerate(x.type.shape) if d > 0])
    r = c.emit(op, x, axis=axis, dtype=c.choice(ints or INTS))
    if r is not None and not ints:
        r = c.emit("convert", r, dtype=c.choice(c.dtypes))
    return r


def _reshape(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    if x is None:
        return None
    return c.emit(op, x, shape=_factor_shape(c, x.type.size))


def _factor_shape(c: _Ctx, size: int) -> tuple[int, ...]:
    """A random shape with `size` elements and rank <= max_rank + 1."""
    rank = c.integer(0 if size == 1 else 1, c.max_rank)
    if size == 0:
        return tuple(0 if i == 0 else c.dim() for i in range(rank))[::-1 if c.boolean() else 1]
    dims = [1] * rank
    n, p = size, 2
    while n > 1:
        while n % p:
            p += 1
        dims[c.integer(0, rank - 1)] *= p
        n //= p
    return tuple(dims)


def _transpose(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    if x is None:
        return None
    return c.emit(op, x, perm=tuple(c.draw(st.permutations(range(x.type.ndim)))))


def _broadcast_to(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    if x is None:
        return None
    shape = tuple(c.dim() if d == 1 and c.boolean() else d for d in x.type.shape)
    if x.type.ndim <= c.max_rank and c.boolean():
        shape = (c.dim(),) + shape
    return c.emit(op, x, shape=shape)


def _slice(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    if x is None:
        return None
    starts, limits, strides = [], [], []
    for d in x.type.shape:
        s = c.integer(0, d)
        starts.append(s)
        limits.append(c.integer(s, d))
        strides.append(c.integer(1, 3))
    return c.emit(op, x, starts=tuple(starts), limits=tuple(limits), strides=tuple(strides))


def _pad(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    if x is None:
        return None
    n = x.type.ndim
    return c.emit(op, x, lo=tuple(c.integer(0, 2) for _ in range(n)),
                  hi=tuple(c.integer(0, 2) for _ in range(n)),
                  interior=tuple(c.integer(0, 1) for _ in range(n)))


def _rev(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    return None if x is None else c.emit(op, x, axes=_axes(c, x.type.ndim))


def _concat(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: v.type.ndim >= 1)
    if x is None:
        return None
    axis = c.integer(0, x.type.ndim - 1)
    parts = [x]

    def same_but_axis(v: Value) -> bool:
        return (v.type.dtype == x.type.dtype and v.type.ndim == x.type.ndim and all(
            a == b for i, (a, b) in enumerate(zip(v.type.shape, x.type.shape)) if i != axis))

    for _ in range(c.integer(1, 2)):
        v = c.pick(same_but_axis) if c.boolean() else None
        if v is None:
            shape = list(x.type.shape)
            shape[axis] = c.integer(0, 2)
            if not c.fits(shape):
                return None
            v = c.operand(tuple(shape), x.type.dtype)
        parts.insert(c.integer(0, len(parts)), v)
    return c.emit(op, *parts, axis=axis)


def _matmul(c: _Ctx, op: str) -> Value | None:
    a = c.pick(lambda v: c.floats(v) and v.type.ndim >= 2)
    if a is None:
        return None
    ta, tb = c.boolean(), c.boolean()
    k = a.type.shape[-2] if ta else a.type.shape[-1]
    batch = a.type.shape[:-2]

    def fits_b(v: Value) -> bool:
        if v.type.dtype != a.type.dtype or v.type.ndim < 2:
            return False
        kb = v.type.shape[-1] if tb else v.type.shape[-2]
        return kb == k and _bshape(v.type.shape[:-2], batch) != (1 << 30,)
    b = c.pick(fits_b) if c.boolean() else None
    if b is None:
        n = c.dim()
        shape = c.compatible_shape(batch) + ((n, k) if tb else (k, n))
        if not c.fits(shape):
            return None
        b = c.operand(shape, a.type.dtype)
    return c.emit(op, a, b, transpose_a=ta, transpose_b=tb)


def _constant(c: _Ctx, op: str) -> Value | None:
    return c.constant(c.shape(), c.choice(c.dtypes))


def _iota(c: _Ctx, op: str) -> Value | None:
    shape = c.shape(c.integer(1, c.max_rank))
    return c.emit(op, shape=shape, dimension=c.integer(0, len(shape) - 1),
                  dtype=c.choice([d for d in c.dtypes if d != BOOL] or [I32]))


def _convert(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    return None if x is None else c.emit(op, x, dtype=c.choice(c.dtypes))


def _indices(c: _Ctx, bound: int) -> Value:
    shape = c.shape(c.integer(0, 2))
    rng = np.random.default_rng(c.integer(0, 2**16))
    idx = rng.integers(0, bound, shape).astype(c.choice(INTS))
    v = c.emit("constant", value=idx)
    assert v is not None
    return v


def _gather(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: any(d > 0 for d in v.type.shape))
    if x is None:
        return None
    axis = c.choice([i for i, d in enumerate(x.type.shape) if d > 0])
    return c.emit(op, x, _indices(c, x.type.shape[axis]), axis=axis)


def _scatter_add(c: _Ctx, op: str) -> Value | None:
    """Updates of shape x.shape[:axis] + idx.shape + x.shape[axis+1:] added into `size` rows
    (gather's transpose); repeated indices accumulate."""
    x = c.pick(lambda v: c.numeric(v) and v.type.ndim >= 1)
    if x is None:
        return None
    axis = c.integer(0, x.type.ndim - 1)
    size = c.integer(1, c.max_dim)
    rng = np.random.default_rng(c.integer(0, 2**16))
    idx = rng.integers(0, size, x.type.shape[axis]).astype(c.choice(INTS))
    iv = c.emit("constant", value=idx)
    assert iv is not None
    return c.emit(op, x, iv, axis=axis, size=size)


def _logical(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: v.type.dtype == BOOL)
    if x is None:
        cmps = sorted(set(COMPARE) & c.allow)
        y = c.pick(c.numeric)
        if not cmps or y is None:
            return None
        x = c.emit(c.choice(cmps), y, c.partner(y.type.dtype, y.type.shape))
        if x is None:
            return None
    if op == "logical_not":
        return c.emit(op, x)
    return c.emit(op, x, c.partner(BOOL, x.type.shape))


def _one_hot(c: _Ctx, op: str) -> Value | None:
    depth = c.integer(1, c.max_dim)
    dtype = c.choice(c.dtypes)
    on, off = (1.0, 0.0) if c.boolean() else (2.5, -1.0)
    if dtype.kind != "f":
        on, off = 1.0, 0.0
    return c.emit(op, _indices(c, depth), depth=depth, dtype=dtype, on=on, off=off)


def _call(c: _Ctx, op: str) -> Value | None:
    """A `call` of a new small callee (itself a random program, nested at most twice) on
    one or two values of the pool."""
    if c.depth >= 2:
        return None
    args = [c.pick(lambda v: True) for _ in range(c.integer(1, 2))]
    name = f"{c.b.name}_callee{c.callees[0]}"
    c.callees[0] += 1
    sub = _Ctx(c.draw, Builder(name), c.dtypes, c.allow, c.max_rank, c.max_dim, c.max_size,
               c.allow_zero_dims, c.special_values, c.safe, depth=c.depth + 1,
               callees=c.callees, min_dim=c.min_dim, regions=c.regions)
    sub.pool = [sub.b.param(a.type, c.hint()) for a in args if a is not None]
    if not sub.pool:
        return None
    _grow(sub, c.integer(1, 3))
    results = [sub.pool[-1]] + [c.choice(sub.pool) for _ in range(c.integer(0, 1))]
    callee = sub.b.build(results)
    with interpreting(c.b):
        outs = bind("call", *[a for a in args if a is not None], fn=callee)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    c.pool.extend(outs[:-1])
    return outs[-1]


def _any_unary(c: _Ctx, op: str) -> Value | None:
    x = c.pick(lambda v: True)
    return None if x is None else c.emit(op, x)


GENERATORS: dict[str, Gen] = {
    **{op: _unary_float for op in UNARY_FLOAT}, **{op: _unary_num for op in UNARY_NUM},
    **{op: _binary for op in BINARY_FLOAT + BINARY_NUM}, **{op: _compare for op in COMPARE},
    **{op: _reduce for op in REDUCE}, **{op: _arg_reduce for op in ARG_REDUCE},
    "select": _select, "reshape": _reshape, "transpose": _transpose,
    "broadcast_to": _broadcast_to, "slice": _slice, "pad": _pad, "rev": _rev,
    "concat": _concat, "matmul": _matmul, "constant": _constant, "iota": _iota,
    "convert": _convert, "gather": _gather, "scatter_add": _scatter_add, "one_hot": _one_hot,
    **{op: _logical for op in LOGICAL}, "identity": _any_unary,
    "stop_gradient": _any_unary, "call": _call,
}
GENERATORS.update(region_generators())


# --------------------------------------------------------------------------- strategies


@st.composite
def programs(draw: Callable[[st.SearchStrategy[Any]], Any], *,
             dtypes: Iterable[Any] = FLOATS, max_instrs: int = 8, max_params: int = 3,
             allow: Iterable[str] | None = None, max_rank: int = 3, max_dim: int = 4,
             max_size: int = 256, max_results: int = 3, allow_zero_dims: bool = True,
             special_values: bool = False, safe: bool = False, name: str = "f",
             min_dim: int = 1, regions: float = 0.1) -> Function:
    """A random well-formed Function (see the module docstring for what is guaranteed).

    `dtypes`: dtypes of parameters, results and most values; `allow`: primitive names to
    draw from; `special_values`: constants may hold inf, -inf, NaN and -0.0; `safe`: guard
    the arguments of log, sqrt, div, pow, exp, ... (module docstring); `min_dim` > 1 makes
    most arrays big (e.g. 100 for vector loops with a remainder); `regions`: the share of
    operations drawn among the allowed region instructions (else they are drawn like any
    other operation)."""
    dts = tuple(np.dtype(d) for d in dtypes)
    allowed = frozenset(ALL_PRIMS if allow is None else allow)
    unknown = allowed - set(GENERATORS)
    if unknown:
        raise ValueError(f"programs(): no generator for {sorted(unknown)}")
    c = _Ctx(draw, Builder(name), dts, allowed, max_rank, max_dim, max_size, allow_zero_dims,
             special_values, safe, min_dim=min(min_dim, max_dim),
             regions=round(100 * regions))
    for _ in range(draw(st.integers(1 if "constant" not in allowed else 0, max_params))):
        c.pool.append(c.b.param(TensorType(c.shape(), c.choice(dts)), c.hint()))
    if not c.pool:
        c.pool.append(c.constant(c.shape(), c.choice(dts)))
    _grow(c, draw(st.integers(1, max_instrs)))
    return _finish(c, max_results)


def _grow(c: _Ctx, n: int) -> None:
    """Draw `n` operations (a few tries each) and add their results to the pool."""
    ops = sorted(c.allow, key=ORDER.index)
    regions = sorted(c.allow & set(REGIONS))
    for _ in range(n):
        for _attempt in range(3):
            if regions and c.regions and c.integer(1, 100) > 100 - c.regions:
                op = c.choice(regions)
            else:
                op = c.choice(ops)
            v = GENERATORS[op](c, op)
            if v is not None:
                c.pool.append(v)
                break


def _finish(c: _Ctx, max_results: int) -> Function:
    ok = [v for v in c.pool if v.type.dtype in c.dtypes]
    if not ok:  # e.g. only comparisons were drawn: return something of the right dtype
        ok = [c.b.param(TensorType((), c.dtypes[0]), None)]
    results = [ok[-1]]
    for _ in range(c.integer(0, max_results - 1)):
        results.append(c.choice(ok))
    return c.b.build(results)


def random_inputs(fn: Function, rng: np.random.Generator, low: float = -2.0,
                  high: float = 2.0) -> list[np.ndarray]:
    """One array per parameter of `fn`: floats uniform in [low, high), ints in [-3, 3],
    bools at random. Example: `evaluate(fn, random_inputs(fn, np.random.default_rng(0)))`."""
    out = []
    for p in fn.params:
        shape, dt = p.type.shape, p.type.dtype
        if dt.kind == "f":
            a = rng.uniform(low, high, shape).astype(dt)
        elif dt.kind in "iu":
            a = rng.integers(-3, 4, shape).astype(dt)
        else:
            a = rng.integers(0, 2, shape).astype(bool)
        out.append(np.asarray(a, dt))
    return out


def inputs(fn: Function, low: float = -2.0, high: float = 2.0
           ) -> st.SearchStrategy[list[np.ndarray]]:
    """A strategy for `random_inputs(fn, ...)`, drawn from a random seed."""
    return st.integers(0, 2**32 - 1).map(
        lambda seed: random_inputs(fn, np.random.default_rng(seed), low, high))


def build_function(name: str, types: Sequence[TensorType | tuple[Sequence[int], Any]],
                   body: Callable[..., Any], hints: Sequence[str | None] | None = None
                   ) -> Function:
    """A Function with parameters of `types` whose results are `body(*params)` (one value
    or a tuple), built with `bind`. Example:
    `build_function("f", [((2,), np.float32)], lambda x: bind("neg", x), ["x"])`."""
    b = Builder(name)
    params = []
    for i, t in enumerate(types):
        tt = t if isinstance(t, TensorType) else TensorType(*t)
        params.append(b.param(tt, hints[i] if hints else None))
    with interpreting(b):
        out = body(*params)
    return b.build(list(out) if isinstance(out, (tuple, list)) else [out])
