"""What codegen and the passes know about each primitive is derived from its registry entry
(kind, gradient, cost, `indices`), never typed out in a list: mutation checks that
deleting a lowering rule, a scalar rule, a batching rule or a registry fact (`indices`) makes the
registry-iterating tests fail, and that the derived tables follow the registry."""
from __future__ import annotations

import numpy as np
import pytest

from tracejit.codegen import LOWERINGS, compile_function, fusion, lower_vector, plan
from tracejit.codegen.lower_elementwise import SCALAR_OPS
from tracejit.codegen.mathlib import SUPPORTED as MATHLIB
from tracejit.ir import batching, bind
from tracejit.ir.passes.regions import CHECKED as NEVER_HOISTED
from tracejit.ir.prims import all_primitives, get_primitive

from tests.codegen.helpers import fn_of


def _missing_lowerings() -> list[str]:
    return sorted(set(all_primitives()) - set(LOWERINGS))


def test_deleting_a_lowering_rule_fails_the_registry_checks(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    assert _missing_lowerings() == []
    monkeypatch.delitem(LOWERINGS, "tanh")
    assert _missing_lowerings() == ["tanh"]       # tests/codegen/test_call.py fails


def test_deleting_a_scalar_rule_fails_native_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The native-code oracle (tests/codegen/test_prims.py) compiles every primitive: one
    without its element rule cannot compile."""
    fn = fn_of([((5,), np.float32)], lambda x: bind("tanh", bind("mul", x, x)))
    compile_function(fn, cache=False)
    monkeypatch.delitem(SCALAR_OPS, "tanh")
    with pytest.raises(Exception, match="tanh"):
        compile_function(fn, cache=False)


def test_deleting_a_batching_rule_fails_the_registry_check(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    assert batching.missing_rules() == []
    for name in ("gather", "matmul", "concat"):     # kinds without a standard rule
        with monkeypatch.context() as m:
            m.delitem(batching.RULES, name)
            assert batching.missing_rules() == [name]  # tests/ir/test_batching.py fails


def test_every_index_primitive_names_its_indices_operand(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Native code checks data-dependent indices; which operand holds them is a fact of
    the registry entry, and the plan's CheckTasks and the passes derive from it."""
    prims = all_primitives()
    for name, p in prims.items():
        if p.kind == "index":
            assert p.indices is not None, name
    assert NEVER_HOISTED == {n for n, p in prims.items() if p.indices is not None or p.raises}
    assert "assert" in NEVER_HOISTED
    fn = fn_of([((4, 3), np.float32), ((2,), np.int32)],
               lambda x, i: bind("gather", x, i, axis=0))
    assert any(isinstance(t, plan.CheckTask) for t in fusion.make_plan(fn).tasks)
    monkeypatch.setattr(get_primitive("gather"), "indices", None)
    assert not any(isinstance(t, plan.CheckTask) for t in fusion.make_plan(fn).tasks)


def test_vector_lowering_sets_follow_the_registry() -> None:
    prims = all_primitives()
    assert lower_vector.VECTOR_OPS == {n for n, p in prims.items()
                                       if p.kind == "elementwise" and p.cost is not None
                                       and p.cost <= lower_vector.VECTOR_COST} - MATHLIB
    assert lower_vector.SHUFFLES | {"constant", "iota"} == {n for n, p in prims.items()
                                                           if p.kind == "shape"}
    assert {"add", "ceil", "round", "floordiv", "mod", "select"} <= lower_vector.VECTOR_OPS
    assert not {"exp", "tanh", "sqrt"} & lower_vector.VECTOR_OPS
