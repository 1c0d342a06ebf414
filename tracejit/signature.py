"""`input_signature` and `reduce_retracing` of `tj.function`, as TensorFlow's.

Invariants:
- An input signature is a list or tuple of (nested lists, tuples, namedtuples and dicts
  of) `TensorSpec`s, checked when the function is decorated (TensorFlow's TypeErrors).
- A call is bound to it before anything is keyed or traced: the signature's specs go to
  the first positional parameters (or `*args`); every argument is converted to a tensor
  of its spec's dtype (NumPy arrays, lists and Python numbers as `tj.convert_to_tensor`
  with that dtype; a Variable is read; a tensor of another dtype is refused) and must
  have a compatible shape and the spec's structure, else TypeError naming the argument,
  the expected spec and what was passed (TensorFlow's "Binding inputs to tf.function
  failed due to `Can not cast ...`"). Parameters after the signature take their
  defaults: a value passed for one is refused, as in TensorFlow.
- `relaxed_shapes`: TensorFlow's `reduce_retracing` relaxation. A call whose key no trace
  serves, compared with the traced keys of the same structure, Python values, dtypes and
  ranks, gets `None` for every dimension where they differ.
"""
from __future__ import annotations

import inspect
from typing import Any, cast

import numpy as np

from .errors import at_user_line
from .trees import flatten
from .tensor import Tensor, raw_shape
from .tensorspec import TensorSpec
from .variable import Variable

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_input_signature(sig: Any) -> tuple[Any, ...]:
    """The signature as a tuple, or TensorFlow's TypeError for a malformed one."""
    if not isinstance(sig, (list, tuple)):
        raise TypeError(f"input_signature must be either a tuple or a list, got {type(sig)}.")
    leaves, _ = flatten(list(sig))
    bad = [x for x in leaves if not isinstance(x, TensorSpec)]
    if bad:
        raise TypeError("input_signature must be a possibly nested sequence of TensorSpec "
                        f"objects, got invalid args {bad} with types "
                        f"{[type(x) for x in bad]}.")
    return tuple(sig)


def _short(x: Any) -> str:
    """An argument in an error message: tensors by shape and dtype, never their values."""
    if isinstance(x, (Tensor, Variable)):
        kind = "Variable" if isinstance(x, Variable) else "Tensor"
        return f"<tj.{kind} shape={tuple(raw_shape(x))} dtype={x.dtype.name}>"
    if isinstance(x, np.ndarray):
        return f"<ndarray shape={x.shape} dtype={x.dtype.name}>"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(_short(v) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    r = repr(x)
    return r if len(r) < 80 else r[:77] + "..."


def _spec_text(spec: Any) -> str:
    if isinstance(spec, TensorSpec):
        return repr(spec)
    if isinstance(spec, dict):
        return "{" + ", ".join(f"{k!r}: {_spec_text(v)}" for k, v in spec.items()) + "}"
    inner = ", ".join(_spec_text(v) for v in spec)
    return f"[{inner}]" if isinstance(spec, list) else f"({inner})"


class InputSignature:
    """A function's `input_signature`, bound to its Python parameters."""

    def __init__(self, specs: tuple[Any, ...], sig: inspect.Signature | None, name: str):
        self.specs = specs
        self.name = name
        self.sig = sig
        self.flat: list[TensorSpec] = flatten(list(specs))[0]
        self.names: list[str] = []
        if sig is None:
            self.names = [f"args[{i}]" for i in range(len(specs))]
            return
        params = list(sig.parameters.values())
        positional = [p for p in params if p.kind in _POSITIONAL]
        varargs = [p for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL]
        if len(specs) > len(positional) and not varargs:
            raise TypeError(f"input_signature contains {len(specs) - len(positional)} extra "
                            "type constraints.")
        self.names = [p.name for p in positional[:len(specs)]]
        self.names += [f"{varargs[0].name}[{i}]" for i in range(len(specs) - len(positional))]
        self.covered = {p.name for p in positional[:len(specs)]}
        self.positional = positional

    def describe(self) -> str:
        return ", ".join(f"{n}: {_spec_text(s)}" for n, s in zip(self.names, self.specs))

    def fail(self, reason: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TypeError:
        e = TypeError(
            f"Binding inputs to tj.function {self.name!r} failed due to `{reason}`. "
            f"Received args: {_short(tuple(args))} and kwargs: {_short(kwargs)} for "
            f"signature: ({self.describe()}).")
        return cast(TypeError, at_user_line(e))

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any], specs: bool = False
             ) -> tuple[Any, ...]:
        """The call's arguments as the signature's tensors, in parameter order (with
        `specs`, a TensorSpec compatible with the signature's is accepted as it is)."""
        n = len(self.specs)
        if self.sig is None:
            if kwargs or len(args) != n:
                raise self.fail(f"expected {n} positional arguments", args, kwargs)
            values = list(args)
        else:
            try:
                bound = self.sig.bind(*args, **kwargs)
            except TypeError as e:
                raise self.fail(str(e), args, kwargs) from None
            values = []
            for p in self.positional[:n]:
                if p.name not in bound.arguments:
                    raise self.fail(f"missing a required argument: {p.name!r}", args, kwargs)
                values.append(bound.arguments[p.name])
            for name, v in bound.arguments.items():
                if name in self.covered:
                    continue
                p = self.sig.parameters[name]
                if p.kind is inspect.Parameter.VAR_POSITIONAL:
                    values.extend(v)
                    continue
                raise self.fail(f"argument {name!r} is not in the input_signature: it takes "
                                f"its default ({p.default!r}) and cannot be passed",
                                args, kwargs)
            if len(values) != n:
                raise self.fail(f"expected {n} positional arguments, got {len(values)}",
                                args, kwargs)
        return tuple(self._match(s, v, path, args, kwargs, specs)
                     for s, v, path in zip(self.specs, values, self.names))

    def _match(self, spec: Any, value: Any, path: str, args: tuple[Any, ...],
               kwargs: dict[str, Any], specs: bool) -> Any:
        if isinstance(spec, TensorSpec):
            return self._leaf(spec, value, path, args, kwargs, specs)
        if isinstance(spec, dict):
            if not isinstance(value, dict) or set(value) != set(spec):
                raise self.fail(f"argument `{path}`: {_short(value)} does not have the keys "
                                f"of {_spec_text(spec)}", args, kwargs)
            return {k: self._match(s, value[k], f"{path}[{k!r}]", args, kwargs, specs)
                    for k, s in spec.items()}
        named = hasattr(spec, "_fields")
        if (type(value) is not type(spec)) if named else not (
                isinstance(value, (list, tuple)) and isinstance(value, list)
                == isinstance(spec, list)):
            raise self.fail(f"argument `{path}`: Can not cast {_short(value)} to "
                            f"{type(spec).__name__} type", args, kwargs)
        if len(value) != len(spec):
            raise self.fail(f"argument `{path}`: {_short(value)} has {len(value)} elements, "
                            f"the signature {len(spec)}: {_spec_text(spec)}", args, kwargs)
        items = [self._match(s, v, f"{path}[{i}]", args, kwargs, specs)
                 for i, (s, v) in enumerate(zip(spec, value))]
        return type(spec)(*items) if named else type(spec)(items)

    def _leaf(self, spec: TensorSpec, value: Any, path: str, args: tuple[Any, ...],
              kwargs: dict[str, Any], specs: bool) -> Tensor:
        from .ops import convert_to_tensor
        if isinstance(value, TensorSpec) and specs:
            if not spec.is_compatible_with(value):
                raise self.fail(f"argument `{path}`: Can not cast {value!r} to {spec!r}",
                                args, kwargs)
            return value  # type: ignore[return-value]
        if isinstance(value, Variable):
            value = value.value()
        if isinstance(value, Tensor):
            t = value
        else:
            if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
                raise self.fail(f"argument `{path}`: Cannot convert an array of dtype "
                                f"{value.dtype} to a tensor of dtype {spec.dtype.name}",
                                args, kwargs)
            if value is None or isinstance(value, (str, bytes)) or not (
                    isinstance(value, (bool, int, float, list, tuple, np.ndarray,
                                       np.generic))):
                raise self.fail(f"argument `{path}`: Attempt to convert a value "
                                f"({_short(value)}) with an unsupported type "
                                f"({type(value)}) to a Tensor of {spec!r}", args, kwargs)
            try:
                t = convert_to_tensor(value, dtype=spec.dtype)
            except (TypeError, ValueError) as e:
                raise self.fail(f"argument `{path}`: Cannot convert {_short(value)} to a "
                                f"tensor of dtype {spec.dtype.name}: {e}", args, kwargs
                                ) from None
        if t.dtype != spec.dtype or not spec.shape.is_compatible_with(raw_shape(t)):
            got = TensorSpec(tuple(t.shape), t.dtype)
            raise self.fail(f"argument `{path}`: Can not cast {got!r} to {spec!r}", args,
                            kwargs)
        return t


def leaf_shapes(sig: InputSignature) -> list[tuple[Any, ...] | None]:
    """Per flattened leaf of a bound call: the spec's shape with None where a size is
    free, or None where the spec fixes every size (or leaves the rank free)."""
    out: list[tuple[Any, ...] | None] = []
    for s in sig.flat:
        shp = s.shape
        out.append(None if shp.rank is None or shp.is_fully_defined() else tuple(shp))
    return out


def relaxed_shapes(key: Any, previous: list[Any]) -> list[tuple[Any, ...] | None] | None:
    """TensorFlow's `reduce_retracing`: the per-leaf shapes (None where a dimension is
    free) that generalize `key` with the earlier keys of the same structure, Python values,
    dtypes and ranks, or None when there is no such earlier key or nothing to relax.

    >>> k = lambda *s: (None, tuple(("T", d, "<f4") for d in s))
    >>> relaxed_shapes(k((2, 3)), [k((1, 3))])
    [(None, 3)]
    """
    tree, leaves = key
    shapes: list[list[Any] | None] = [list(k[1]) if k[0] == "T" else None for k in leaves]
    found = False
    for prev in previous:
        if len(prev) != 2 or prev[0] != tree or len(prev[1]) != len(leaves):
            continue
        ok = True
        for a, b in zip(leaves, prev[1]):
            if a[0] == "T":
                if b[0] != "T" or a[2] != b[2] or len(a[1]) != len(b[1]):
                    ok = False
                    break
            elif a != b:
                ok = False
                break
        if not ok:
            continue
        found = True
        for s, b in zip(shapes, prev[1]):
            if s is not None:
                for i, d in enumerate(b[1]):
                    if s[i] != d:
                        s[i] = None
    if not found or all(s is None or None not in s for s in shapes):
        return None
    return [None if s is None or None not in s else tuple(s) for s in shapes]


def poly_key(key: Any, shapes: list[tuple[Any, ...] | None]) -> Any:
    """`key` with each tensor leaf's shape replaced by its entry of `shapes` (if any)."""
    tree, leaves = key
    return (tree, tuple(k if s is None or k[0] != "T" else ("T", s, k[2])
                        for k, s in zip(leaves, shapes)))


def key_matches(general: Any, key: Any) -> bool:
    """Whether the call key `key` fits `general` (a key whose tensor shapes may hold None)."""
    if len(general) != 2 or len(key) != 2 or general[0] != key[0] \
            or len(general[1]) != len(key[1]):
        return False
    for g, k in zip(general[1], key[1]):
        if g == k:
            continue
        if g[0] != "T" or k[0] != "T" or g[2] != k[2] or len(g[1]) != len(k[1]):
            return False
        if any(a is not None and a != b for a, b in zip(g[1], k[1])):
            return False
    return True
