"""Fixtures for the IR tests: a temporary `test_call` primitive whose params hold every
kind of param value (a callee Function, strings, None, nested tuples, floats, dtypes), the
way the future `call` primitive will. It is registered only for the test that asks for
it, so tests iterating over the registry never see it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tracejit.ir import Function, TensorType
from tracejit.ir.interp import evaluate
from tracejit.ir.prims import registry


def _call_rule(*xs: TensorType, fn: Any, tag: Any, opts: Any) -> list[TensorType]:
    if not isinstance(fn, Function):
        raise TypeError(f"test_call: fn must be a Function, got {fn!r}")
    if list(xs) != fn.in_types:
        raise TypeError(f"test_call: @{fn.name} takes {fn.in_types}, got {list(xs)}")
    return fn.out_types


def _call_impl(*xs: np.ndarray, fn: Function, tag: Any, opts: Any) -> Any:
    out = evaluate(fn, xs)
    return out[0] if len(out) == 1 else tuple(out)


@pytest.fixture
def call_prim(monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.Primitive]:
    p = registry.Primitive("test_call", kind="call",
                           params={"fn": None, "tag": "", "opts": ()},
                           shape_rule=_call_rule, impl=_call_impl, vjp=None,
                           n_outs=lambda fn, tag, opts: len(fn.results))
    monkeypatch.setitem(registry._REGISTRY, "test_call", p)
    yield p
