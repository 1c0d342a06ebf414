"""`tj.Module` and `tj.name_scope`, as TensorFlow's `tf.Module` and `tf.name_scope`.

Invariants:
- A module's `variables`, `trainable_variables`, `non_trainable_variables` and
  `submodules` are found by walking its attributes, as TensorFlow's `_flatten_module`:
  attributes in sorted name order, each flattened (lists and tuples in order, dicts by
  sorted key); the matching leaves of this module first, then each submodule met, depth
  first, in the order met; every object once (cycles and shared objects too).
- A Variable made inside `with module.name_scope:` (or a `with_name_scope` method, or a
  `tj.name_scope`) is named with the scopes as a prefix (`dense/w:0`), as in TensorFlow.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from .variable import Variable, _NAME_SCOPE

_IGNORED = ("_name", "_scope_name")
_CAMEL1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL2 = re.compile(r"([a-z0-9])([A-Z])")


class name_scope:  # noqa: N801  (TensorFlow's name)
    """A context in which Variables are named `scope/name:0` (scopes nest), as
    `tf.name_scope`.

    >>> with tj.name_scope("block"):
    ...     v = tj.Variable(1., name="w")
    >>> v.name
    'block/w:0'
    """

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"name_scope: name must be a string, got {name!r}")
        self._name = name
        self._token: Any = []

    @property
    def name(self) -> str:
        """The scope's name as entered (`outer/inner/` inside `outer`)."""
        base = self._name
        return base if base.endswith("/") or not base else base + "/"

    def __enter__(self) -> str:
        full = self._name if self._name.endswith("/") else _NAME_SCOPE.get() + self.name
        self._token.append(_NAME_SCOPE.set(full))
        return full

    def __exit__(self, *exc: Any) -> None:
        _NAME_SCOPE.reset(self._token.pop())


def _snake(name: str) -> str:
    return _CAMEL2.sub(r"\1_\2", _CAMEL1.sub(r"\1_\2", name)).lower()


class Module:
    """A container of Variables and other modules, as `tf.Module`: a model is a class
    whose `__call__` is compiled, and `tape.gradient(loss, model.trainable_variables)`
    differentiates with respect to every Variable it holds, however nested.

    >>> class Scale(tj.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = tj.Variable(2., name="w")
    ...     @tj.function
    ...     def __call__(self, x):
    ...         return x * self.w
    >>> m = Scale()
    >>> m.name, [v.name for v in m.trainable_variables], m(tj.constant(3.)).numpy()
    ('scale', ['w:0'], array(6., dtype=float32))
    """

    def __init__(self, name: str | None = None):
        if name is None:
            name = _snake(type(self).__name__)
        elif not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid module name. Module names must be "
                             "valid Python identifiers (e.g. a valid class name).")
        self._name = name
        self._scope_name = _NAME_SCOPE.get() + name + "/"

    @property
    def name(self) -> str:
        """The module's name (its class name in snake case unless given)."""
        return self._name

    @property
    def name_scope(self) -> name_scope:
        """The name scope of this module (`outer/name/` when made inside `outer`)."""
        return name_scope(self._scope_name)

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Every Variable of this module and its submodules, each once."""
        return tuple(_flatten(self, lambda x: isinstance(x, Variable)))

    @property
    def trainable_variables(self) -> tuple[Variable, ...]:
        """The trainable Variables of this module and its submodules."""
        return tuple(_flatten(self, lambda x: isinstance(x, Variable) and x.trainable))

    @property
    def non_trainable_variables(self) -> tuple[Variable, ...]:
        """The Variables made with `trainable=False`."""
        return tuple(_flatten(self, lambda x: isinstance(x, Variable) and not x.trainable))

    @property
    def submodules(self) -> tuple[Module, ...]:
        """Every module held by this one, recursively, each once."""
        return tuple(_flatten(self, lambda x: isinstance(x, Module)))

    @classmethod
    def with_name_scope(cls, method: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: run the method inside the module's name scope.

        >>> class M(tj.Module):
        ...     @tj.Module.with_name_scope
        ...     def build(self):
        ...         self.v = tj.Variable(1., name="v")
        >>> m = M(name="m"); m.build(); m.v.name
        'm/v:0'
        """
        @functools.wraps(method)
        def wrapped(self: Module, *args: Any, **kwargs: Any) -> Any:
            with self.name_scope:
                return method(self, *args, **kwargs)
        return wrapped

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"


def _leaves(x: Any) -> Iterator[Any]:
    """The leaves of an attribute value: lists and tuples in order, dicts by sorted key."""
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:
            keys = list(x)
        for k in keys:
            yield from _leaves(x[k])
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _flatten(module: Module, predicate: Callable[[Any], bool],
             seen: set[int] | None = None) -> Iterator[Any]:
    """TensorFlow's `_flatten_module`: this module's matching leaves, then each
    submodule's, depth first."""
    if seen is None:
        seen = {id(module)}
    submodules: list[Module] = []
    attrs = vars(module)
    for key in sorted(attrs):
        if key in _IGNORED:
            continue
        for leaf in _leaves(attrs[key]):
            if id(leaf) in seen:
                continue
            seen.add(id(leaf))
            if predicate(leaf):
                yield leaf
            if isinstance(leaf, Module):
                submodules.append(leaf)
    for sub in submodules:
        yield from _flatten(sub, predicate, seen)
