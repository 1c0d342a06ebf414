"""Symbolic dimensions: a size known only at run time (`input_signature` with `None`).

A dimension of a `TensorType` is an `int` or a `Dim`: a monomial `coef * s1 * s2 ...` of
named symbols (`n0`, `n0*784`, `2*n0*n1` print as `n0`, `n0*784`, `n0*n1*2`). Shape rules
compute with them: products (`reshape`, sizes) stay monomials, an exact quotient (a
reshape's -1) is computed when it exists, and a comparison the trace cannot decide
(`n0` against `n1`, or `n0` against 784 when broadcasting) assumes what the operation
needs; `specialize` checks it at run time by running every shape rule again on the
concrete dims, which raises the eager error when the assumption is false.

Invariants:
- `Dim`s are interned: equal monomials are the same object; a monomial with no symbol is
  an `int` (`monomial` never returns a `Dim` without symbols); `coef >= 1`.
- `int(d)`, `d < k` and the like raise `TypeError` naming the symbol: code that needs a
  number never silently gets one.
- Symbols come only from a function's parameters: binding the dims of the arguments
  binds every symbol (`bind_shapes`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from .errors import ShapeError

NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class Dim:
    """An unknown dimension: `coef` times the product of the symbols `syms` (sorted)."""

    __slots__ = ("coef", "syms", "__weakref__")
    _interned: dict[tuple[int, tuple[str, ...]], Dim] = {}

    coef: int
    syms: tuple[str, ...]

    def __new__(cls, coef: int, syms: tuple[str, ...]) -> Dim:
        key = (coef, syms)
        d = cls._interned.get(key)
        if d is None:
            d = object.__new__(cls)
            object.__setattr__(d, "coef", coef)
            object.__setattr__(d, "syms", syms)
            cls._interned[key] = d
        return d

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Dim is immutable")

    def __reduce__(self) -> Any:
        return (Dim, (self.coef, self.syms))

    def __str__(self) -> str:
        return "*".join(self.syms + ((str(self.coef),) if self.coef != 1 else ()))

    def __repr__(self) -> str:
        return str(self)

    def __mul__(self, other: Any) -> DimLike:
        if isinstance(other, Dim):
            return monomial(self.coef * other.coef, self.syms + other.syms)
        if isinstance(other, int) and not isinstance(other, bool):
            return monomial(self.coef * other, self.syms)
        return NotImplemented

    __rmul__ = __mul__

    def __add__(self, other: Any) -> DimLike:
        if isinstance(other, Dim) and other.syms == self.syms:
            return monomial(self.coef + other.coef, self.syms)
        if isinstance(other, int) and other == 0:
            return self
        if isinstance(other, (int, Dim)):
            raise ShapeError(f"the sum of dimensions {self} and {other} is not supported "
                             "with unknown dimensions")
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> DimLike:
        if isinstance(other, Dim) and other.syms == self.syms and other.coef <= self.coef:
            return monomial(self.coef - other.coef, self.syms)
        if isinstance(other, int) and other == 0:
            return self
        if isinstance(other, (int, Dim)):
            raise ShapeError(f"the difference of dimensions {self} and {other} is not "
                             "supported with unknown dimensions")
        return NotImplemented

    def __rsub__(self, other: Any) -> DimLike:
        if isinstance(other, int):
            raise ShapeError(f"the difference of dimensions {other} and {self} is not "
                             "supported with unknown dimensions")
        return NotImplemented

    def __neg__(self) -> DimLike:
        raise ShapeError(f"the negative of dimension {self} is not supported with unknown "
                         "dimensions")

    def __floordiv__(self, other: Any) -> DimLike:
        q = exact_quotient(self, other)
        if q is None:
            raise ShapeError(f"dimension {self} is not known to be a multiple of {other}")
        return q

    def _no_number(self, *_: Any) -> Any:
        raise TypeError(f"dimension {self} is unknown while tracing (a None in the input "
                        "signature); use tj.shape(x) for its runtime value")

    __int__ = __index__ = __float__ = __lt__ = __le__ = __gt__ = __ge__ = _no_number
    __bool__ = lambda self: True  # noqa: E731  (a dimension is never "empty" as a truth value)


DimLike = Union[int, Dim]  # noqa: UP007  (a runtime alias: `|` on a class needs 3.10)


def is_dim(d: object) -> bool:
    """Whether `d` is an unknown dimension (a `Dim`) rather than an int."""
    return type(d) is Dim


def monomial(coef: int, syms: Iterable[str]) -> DimLike:
    """`coef * prod(syms)`: an int when there is no symbol."""
    s = tuple(sorted(syms))
    if not s or coef == 0:
        return coef
    return Dim(coef, s)


def symbol(name: str) -> Dim:
    """The dimension named `name` (`symbol("n0")`)."""
    if not NAME.match(name):
        raise ShapeError(f"bad dimension name {name!r}")
    return Dim(1, (name,))


def is_symbolic(shape: Sequence[Any]) -> bool:
    """Whether any dimension of `shape` is unknown."""
    return any(type(d) is Dim for d in shape)


def exact_quotient(a: DimLike, b: DimLike) -> DimLike | None:
    """`a / b` when it is a dimension for every value of the symbols, else None."""
    ca, sa = (a.coef, list(a.syms)) if isinstance(a, Dim) else (a, [])
    cb, sb = (b.coef, b.syms) if isinstance(b, Dim) else (b, ())
    if cb == 0 or ca % cb:
        return None
    for s in sb:
        if s not in sa:
            return None
        sa.remove(s)
    return monomial(ca // cb, sa)


def dims_equal(a: DimLike, b: DimLike) -> bool | None:
    """True or False when the trace can decide `a == b`, None when only run time can."""
    if a is b or (type(a) is int and type(b) is int):
        return a == b
    if type(a) is int or type(b) is int:    # a monomial's value is a multiple of its coef
        n, d = (a, b) if type(a) is int else (b, a)
        if isinstance(n, int) and isinstance(d, Dim) and n % d.coef:
            return False
    return None


def size(shape: Sequence[DimLike]) -> DimLike:
    """The number of elements: an int, or a monomial when a dimension is unknown."""
    n: DimLike = 1
    for d in shape:
        n = n * d
    return n


def symbols(shape: Sequence[Any]) -> set[str]:
    return {s for d in shape if type(d) is Dim for s in d.syms}


def evaluate(d: DimLike, env: Mapping[str, int]) -> int:
    """The value of `d` with the symbols bound by `env` (KeyError on an unbound one)."""
    if type(d) is not Dim:
        return int(d)
    n = d.coef
    for s in d.syms:
        n *= env[s]
    return n


def substitute(v: Any, env: Mapping[str, int]) -> Any:
    """`v` (a dim, or tuples/lists of them as in params) with the symbols bound."""
    if type(v) is Dim:
        return evaluate(v, env)
    if isinstance(v, tuple):
        return tuple(substitute(e, env) for e in v)
    if isinstance(v, list):
        return [substitute(e, env) for e in v]
    return v


def has_dim(v: Any) -> bool:
    """Whether a param value holds a `Dim` (also inside tuples and lists)."""
    if type(v) is Dim:
        return True
    if isinstance(v, (tuple, list)):
        return any(has_dim(e) for e in v)
    return False


def bind_shapes(formal: Sequence[Sequence[DimLike]], actual: Sequence[Sequence[int]],
                env: dict[str, int] | None = None) -> dict[str, int]:
    """The values of the symbols that make each shape of `formal` the shape in `actual`;
    ShapeError naming both shapes when they cannot match."""
    env = {} if env is None else env
    pending: list[tuple[Dim, int, int]] = []
    for k, (f, a) in enumerate(zip(formal, actual)):
        if len(f) != len(a):
            raise ShapeError(f"argument {k}: expected a shape {as_text(f)}, got {tuple(a)}")
        for d, n in zip(f, a):
            if type(d) is not Dim:
                if d != n:
                    raise ShapeError(f"argument {k}: expected a shape {as_text(f)}, "
                                     f"got {tuple(a)}")
            elif d.coef == 1 and len(d.syms) == 1:
                s = d.syms[0]
                if env.setdefault(s, n) != n:
                    raise ShapeError(f"argument {k}: expected a shape {as_text(f)} with "
                                     f"{s} = {env[s]}, got {tuple(a)}")
            else:
                pending.append((d, k, n))
    for d, k, n in pending:
        try:
            ok = evaluate(d, env) == n
        except KeyError:
            raise ShapeError(f"argument {k}: dimension {d} is not bound by a plain "
                             "symbol of an argument") from None
        if not ok:
            raise ShapeError(f"argument {k}: expected dimension {d} = {evaluate(d, env)}, "
                             f"got {n}")
    return env


def as_none(shape: Sequence[Any]) -> tuple[int | None, ...]:
    """The shape with None for each unknown dimension (TensorFlow's partial shape)."""
    return tuple(None if type(d) is Dim else d for d in shape)


def as_text(shape: Sequence[Any]) -> str:
    """`(None, 784)` style text of a symbolic shape, for error messages."""
    return "(" + ", ".join("None" if type(d) is Dim else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def compatible(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether shapes `a` and `b` can be equal: same rank, and each pair of dims equal
    or undecided until run time (TensorFlow's `is_compatible_with`)."""
    return len(a) == len(b) and all(dims_equal(x, y) is not False for x, y in zip(a, b))


def at_most(n: DimLike, k: int) -> bool:
    """`n <= k` for a size known at trace time; False for an unknown one (which may be
    any size: passes treat it as large)."""
    return type(n) is not Dim and n <= k
