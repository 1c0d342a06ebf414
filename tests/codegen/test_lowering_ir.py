"""The LLVM IR the lowering emits leaves out work LLVM would delete anyway (the Python
side of a compile prints and LLVM parses every instruction): no flag for sin/cos/tan
arguments where no task computes them, no address computed twice for one element, no
`getelementptr` by a constant 0. The native results are checked as everywhere else."""
from __future__ import annotations

import re

import numpy as np
from tracejit.ir import bind

from tests.codegen.helpers import check, fn_of


def _function(text: str, name: str) -> str:
    """The text of the function `name` in a module's text."""
    start = text.index(f'@"{name}"(')
    return text[start:text.index("\n}", start)]


def test_far_flag_only_where_a_task_computes_trig() -> None:
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    plain = check(fn_of([((64,), np.float32)], lambda v: bind("exp", v)), [x])
    assert '"far"' not in plain.llvm_ir_unoptimized

    # The flag is cleared where each of the two trig tasks starts, not before the others
    # (a product and a reduction of its own).
    def body(v):
        w = bind("matmul", bind("reshape", v, shape=(8, 8)), bind("reshape", v, shape=(8, 8)))
        s = bind("reduce_sum", bind("sin", w), axes=(0, 1))
        return bind("add", bind("cos", v), s), bind("reduce_max", w, axes=(0, 1))

    exe = check(fn_of([((64,), np.float32)], body), [x], atol=1e-4)
    text = _function(exe.llvm_ir_unoptimized, "body")
    assert text.count('store i1 0, i1* %"far"') == 2
    assert text.count('%"far" = alloca i1') == 1
    x[7] = np.float32(3e30)             # the exact versions run
    check(fn_of([((64,), np.float32)], body), [x], atol=1e-4, exe=exe)


def test_one_offset_per_element_and_no_zero_offsets() -> None:
    # x[i, j] is loaded and the sum stored at the same offset i * 64 + j: one multiply.
    def body(x, b):
        return bind("add", x, b), bind("reduce_sum", x, axes=(0, 1))

    rng = np.random.default_rng(5)
    args = [rng.standard_normal((8, 64)).astype(np.float32),
            rng.standard_normal(64).astype(np.float32)]
    exe = check(fn_of([((8, 64), np.float32), ((64,), np.float32)], body), args)
    text = _function(exe.llvm_ir_unoptimized, "body")
    assert text.count("mul nuw nsw") == 1
    # The scalar total is stored through its pointer itself, not at `gep ..., i64 0`.
    assert not re.search(r"getelementptr[^\n]*, i64 0\n", text)
