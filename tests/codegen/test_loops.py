"""`loops.for_range` follows Python's `range`: one bound is the stop, two are start and
stop, with an optional step; the emitted loop visits exactly the indices `range` gives."""
from __future__ import annotations

import ctypes
import gc
import re
import weakref

import llvmlite.binding as llvm
import pytest
from llvmlite import ir
from tracejit.codegen.loops import I64, for_range

from tests.codegen.helpers import host_target_machine


def _visited(*bounds: int, step: int | None = None) -> list[int]:
    """Run a loop `for_range(b, *bounds[, step])` that stores each index it visits."""
    module = ir.Module(name="loops")
    module.triple = llvm.get_process_triple()
    fn = ir.Function(module, ir.FunctionType(I64, [I64.as_pointer()]), name="visit")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    out = fn.args[0]
    n = b.alloca(I64)
    b.store(ir.Constant(I64, 0), n)
    kwargs = {} if step is None else {"step": step}
    with for_range(b, *bounds, name="k", **kwargs) as i:
        k = b.load(n)
        b.store(i, b.gep(out, [k]))
        b.store(b.add(k, ir.Constant(I64, 1)), n)
    b.ret(b.load(n))
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, host_target_machine())
    engine.finalize_object()
    buf = (ctypes.c_int64 * 64)()
    count = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(
        engine.get_function_address("visit"))(ctypes.addressof(buf))
    return list(buf[:count])


@pytest.mark.parametrize("bounds,step", [((5,), None), ((0,), None), ((3, 10), None),
                                          ((3, 10), 2), ((0, 17), 5), ((7, 7), None),
                                          ((9, 4), None), ((1,), None), ((4, 5), 3)])
def test_for_range_visits_what_range_gives(bounds: tuple[int, ...], step: int | None) -> None:
    want = list(range(*bounds) if step is None else range(*bounds, step))
    assert _visited(*bounds, step=step) == want


def test_a_loop_of_a_constant_nonzero_trip_count_tests_at_its_bottom() -> None:
    # Two blocks and no test before the first iteration (LLVM's rotated form, whose
    # optimized code is the same); a count known only at run time keeps the test first.
    module = ir.Module(name="loops")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64]), name="f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with for_range(b, 5, name="k"):
        pass
    with for_range(b, fn.args[0], name="n"):
        pass
    b.ret_void()
    text = str(module)
    assert "k.cond:" not in text and 'icmp slt i64 %"k.next", 5' in text
    assert "n.cond:" in text
    llvm.parse_assembly(text).verify()


def test_loops_share_one_unroll_disable_node_per_module_and_leave_the_module_alone() -> None:
    # Every loop not to unroll gets its own loop ID naming one shared flag node per module
    # (kept beside the module, never as an attribute set on llvmlite's object).
    fresh = set(vars(ir.Module(name="fresh")))
    texts = []
    for _ in range(2):
        module = ir.Module(name="loops")
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64]), name="f")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        for name in ("a", "b", "c"):
            with for_range(b, fn.args[0], name=name):
                pass
        b.ret_void()
        assert set(vars(module)) == fresh
        text = str(module)
        assert text.count('= !{ !"llvm.loop.unroll.disable" }') == 1
        flag = re.search(r'^(!\d+) = !\{ !"llvm.loop.unroll.disable" \}$', text, re.M)
        assert flag is not None
        # Three self-referential loop IDs, each naming the one flag node.
        ids = re.findall(rf"^(!\d+) = !\{{ \1, {flag[1]} \}}$", text, re.M)
        assert len(ids) == 3
        texts.append(text)
    assert texts[0] == texts[1]     # a second module makes its own node, numbered alike
    llvm.parse_assembly(texts[0]).verify()


def test_a_module_with_loops_is_freed_with_its_unroll_disable_entry() -> None:
    # Nothing may keep the module's unroll-disable node beside it (the node refers to its
    # module: a table of nodes kept every compiled module alive, 64 KiB a compilation).
    module = ir.Module(name="loops")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64]), name="f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with for_range(b, fn.args[0], name="k"):
        pass
    b.ret_void()
    ref = weakref.ref(module)
    del module, fn, b
    gc.collect()
    assert ref() is None
