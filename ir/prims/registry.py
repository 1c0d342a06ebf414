"""The primitive registry: one `Primitive` record per operation, defined once.

Invariants:
- Every primitive has a name, a parameter list with defaults, a shape/dtype rule, a NumPy
  reference implementation and a VJP rule, and says in `gradient` what TensorFlow registers
  for the operation: `"rule"` (a gradient), `"zero"` (a gradient that is zero everywhere,
  e.g. `sign`: sources stay connected and get zeros) or `"none"` (no gradient, e.g.
  `floor`, `stop_gradient`: the autodiff pass treats its outputs as constants, so a source
  reachable only through it is unconnected, `None` at the user API). The VJP rule of a
  `"zero"` or `"none"` primitive gives no cotangent to any input.
- VJP rules build their results with `bind` (through `ir.ops`), never with NumPy arrays, so
  a gradient is again a program of primitives and can be differentiated again.
- Every primitive has a JVP rule (forward mode), also written with `bind`:
  `jvp(ts, *ins, out=..., **params)` takes one tangent per operand (None for an operand
  without one) and returns one tangent per output (None: no tangent), each of the output's
  type. The outputs of a `"none"` or `"zero"` primitive have no tangent (TensorFlow's
  forward mode gives None through `sign`); an elementwise `"rule"` primitive derives its
  JVP from its VJP (`tangents.from_vjp`) unless it registers its own; every other
  primitive registers one (`tangents` holds the shared forms: linear, multilinear, ...).
- Every parameter that names axes is declared in `axis_params` and range-checked by
  `ir.axes.check_params` before the shape rule runs (one check for every primitive; a
  test iterates the registry for parameters named like axes that are not declared).
- Every primitive states its `kind`, from which the rest of the system derives what it
  needs, so no list elsewhere names primitives:
  * `"elementwise"`: output element i reads each operand at its NumPy-broadcast index
    of i (n-ary ops, `select`, `convert`, and `broadcast_to`); fuses into loops, and its
    batching rule is the standard one (`ir.batching`) unless it registers its own;
  * `"reduce"`: reduces the axes named by its declared axis parameters; its standard
    batching rule shifts those axes past the batch axis;
  * `"shape"`: moves elements without arithmetic (`reshape`, `slice`, `constant`, ...);
  * `"index"`: reads at data-dependent indices, element by element (`gather`);
  * `"kernel"`: has its own loop structure in native code (`matmul`, `scatter_add`);
  * `"region"`: control flow holding nested Functions (`while`, `scan`, `cond`);
  * `"call"`: a call of a Function, inlined before lowering (`call`, `custom_vjp`).
- `cost` is the inline cost of one element in native code, about the LLVM instructions
  it takes (a division or square root counts ~10 for its latency, the vector-math
  functions their measured float32 size): 0 is index arithmetic and at most one load,
  which is always worth recomputing. Reductions, kernels, regions and calls have none
  (`None`): they are never inlined.
- `dtypes` lists the operand dtypes an elementwise primitive accepts (its shape rule
  enforces them; tests draw operands from them).
- `indices` (an `Indices`, or None) names the operand holding data-dependent indices and
  the size they index: the reference implementation raises IndexError for one out of
  range, and native code checks them all before using any (`codegen.plan`'s CheckTask;
  the region passes never hoist such an instruction out of a loop).
- `raises` (default False): the instruction fails at run time on some operand values
  (`assert`); like one with `indices`, it is never hoisted out of a loop.
- `foldable` (default True) lets constant folding (`passes.fold`) replace an instruction
  whose inputs are constants by the reference implementation's result; False where that
  result must not stand in for native code's (`philox`: its normal draws would differ
  from native code's in the last bits, and draws must be bit-identical everywhere).
- Lowerings are not here: `codegen` keys its own table by `Primitive.name`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from ..axes import AxisParam, check_params
from ..caches import Memo, on_clear
from ..errors import ShapeError

_REGISTRY: dict[str, Primitive] = {}
INFER_CACHE = 4096      # memoized shape-rule results per primitive
GRADIENT_KINDS = ("rule", "zero", "none")
KINDS = ("elementwise", "reduce", "shape", "index", "kernel", "region", "call")
_INLINED = ("elementwise", "shape", "index")     # the kinds that have an inline cost


@dataclass(frozen=True)
class Indices:
    """Operand `operand` holds indices into a dimension of size `bound(params, in_types)`
    (when `applies(params)`).

    Example: gather's `Indices(1, lambda p, ts: ts[0].shape[p["axis"]])`."""

    operand: int
    bound: Callable[[dict[str, Any], Sequence[Any]], int]
    applies: Callable[[dict[str, Any]], bool] = lambda params: True

    def operand_of(self, prim_params: dict[str, Any], inputs: Sequence[Any]) -> Any | None:
        """The index operand among `inputs`, or None when these params check nothing."""
        return inputs[self.operand] if self.applies(prim_params) else None


class Primitive:
    """One operation of the IR. Example: `get_primitive("mul").impl(a, b)`."""

    def __init__(self, name: str, *, kind: str, params: dict[str, Any] | None = None,
                 shape_rule: Callable[..., Any], impl: Callable[..., Any],
                 vjp: Callable[..., Sequence[Any]] | None, n_outs: int | Callable[..., int] = 1,
                 n_inputs: int | None = None, gradient: str = "rule",
                 axis_params: dict[str, AxisParam] | None = None, cost: int | None = None,
                 dtypes: tuple[np.dtype, ...] | None = None, foldable: bool = True,
                 indices: Indices | None = None, jvp: Callable[..., Sequence[Any]] | None = None,
                 raises: bool = False):
        if gradient not in GRADIENT_KINDS:
            raise ValueError(f"primitive {name}: gradient must be one of {GRADIENT_KINDS}, "
                             f"got {gradient!r}")
        if kind not in KINDS:
            raise ValueError(f"primitive {name}: kind must be one of {KINDS}, got {kind!r}")
        if (cost is None) == (kind in _INLINED):
            raise ValueError(f"primitive {name}: a primitive of kind {kind!r} "
                             + ("needs an inline cost" if cost is None else "has no cost"))
        self.name = name
        self.gradient = gradient
        self.kind = kind
        self.param_defaults = dict(params or {})
        self.shape_rule = shape_rule
        self.impl = impl
        self.vjp = vjp
        if jvp is None:
            from .tangents import derived_jvp
            jvp = derived_jvp(self)
        self.jvp = jvp
        self._n_outs = n_outs
        self.n_inputs = n_inputs
        self.cost = cost
        self.foldable = foldable
        self.indices = indices
        self.raises = raises
        self.dtypes = tuple(np.dtype(d) for d in dtypes) if dtypes is not None else None
        self.axis_params = dict(axis_params or {})
        self._inferred: Memo[Any, tuple[Any, ...]] = Memo(f"shape rule of {name}", INFER_CACHE,
                                                          register=False)

    def __repr__(self) -> str:
        return f"<Primitive {self.name}>"

    def n_outs(self, params: dict[str, Any]) -> int:
        return self._n_outs(**params) if callable(self._n_outs) else self._n_outs

    def canonical_params(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params and not self.param_defaults:
            return {}                   # most elementwise ops: the eager hot path
        if not params.keys() <= self.param_defaults.keys():
            unknown = set(params) - set(self.param_defaults)
            raise TypeError(f"{self.name}: unknown parameter(s) {sorted(unknown)}; "
                            f"expected {sorted(self.param_defaults)}")
        out = {}
        for k, default in self.param_defaults.items():
            v = params.get(k, default)
            if isinstance(v, list):
                v = tuple(v)
            elif isinstance(default, np.dtype) and not isinstance(v, np.dtype):
                v = np.dtype(v)  # np.float32 and "float32" mean np.dtype("float32")
            out[k] = v
        return out

    def infer(self, in_types: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        """Output types for these input types, or a ShapeError/TypeError naming them.
        Results for hashable parameters are memoized (shape rules are pure functions of
        types and parameters; failures are not memoized, so each raises afresh)."""
        try:
            # Types are part of the key: 1, 1.0 and True are equal but not interchangeable.
            key: Any = (tuple(in_types), tuple((k, type(v), v) for k, v in params.items()))
            hit = self._inferred.get(key)
        except TypeError:               # an unhashable parameter (a constant's array)
            key, hit = None, None
        if hit is not None:
            return list(hit)
        out = self._infer(in_types, params)
        if key is not None:
            self._inferred.put(key, tuple(out))
        return out

    def _infer(self, in_types: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        if self.n_inputs is not None and len(in_types) != self.n_inputs:
            raise TypeError(f"{self.name} takes {self.n_inputs} operand(s), got {len(in_types)}")
        try:
            if self.axis_params:
                check_params(self.name, self.axis_params, in_types, params)
            out = self.shape_rule(*in_types, **params)
        except (ShapeError, TypeError, ValueError) as e:
            shown = ", ".join(str(t) for t in in_types)
            msg = str(e)
            if shown and shown not in msg:
                msg = f"{msg} (operands: {shown})"
            if not msg.startswith(self.name):
                msg = f"{self.name}: {msg}"
            raise type(e)(msg) from None
        return list(out) if isinstance(out, (list, tuple)) else [out]


def register(p: Primitive) -> Primitive:
    if p.name in _REGISTRY:
        raise ValueError(f"primitive {p.name!r} defined twice")
    _REGISTRY[p.name] = p
    return p


def get_primitive(name: str) -> Primitive:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}") from None


def all_primitives() -> dict[str, Primitive]:
    return dict(_REGISTRY)


def _clear_shape_memos() -> None:
    for p in list(_REGISTRY.values()):
        p._inferred.clear()


on_clear("shape-rule results", _clear_shape_memos)
