"""Rule tables keyed by primitive name: the one decorator that fills them.

Example::

    RULES: dict[str, Rule] = {}

    @entering(("sin", "cos"), RULES)
    def _trig(...): ...
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

F = TypeVar("F")


def entering(names: Sequence[str], *tables: dict[str, F]) -> Callable[[F], F]:
    """A decorator that enters its function in each of `tables` under each of `names`
    and returns it unchanged."""
    def deco(f: F) -> F:
        for name in names:
            for table in tables:
                table[name] = f
        return f
    return deco
