"""The compiler's stages, one pipeline: `trace` (as traced, with replayed gradient code),
`grad` (the gradient Functions tapes made, before replay), `jvp` (forward mode: the
tangent Function of the trace with respect to every float parameter), `opt` (what
codegen receives), `plan` (its fusion into loop nests and kernels), `llvm`, `asm`.

`Lowered.as_text(stage)` (from `f.lower(*args)`) and `tracejit dump` both show a stage
through a `Pipeline`: of a traced signature (`Pipeline.of_concrete`) or of an IR
Function read from a file (`Pipeline.of_function`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .concrete import Concrete
from .ir.core import Function

STAGES = ("trace", "grad", "jvp", "opt", "plan", "llvm", "asm")
IR_STAGES = ("trace", "grad", "jvp", "opt")    # stages that are IR Functions (printable, drawable)


def check_stage(stage: str) -> None:
    """Raise ValueError naming the stages unless `stage` is one."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")


class Pipeline:
    """The stages of one Function: its trace, the gradient Functions made while tracing,
    the optimized Function and (compiled on request) its native executable."""

    def __init__(self, name: str, trace_fn: Function, grad_fns: list[Function],
                 optimized: Callable[[], Function], executable: Callable[[], Any]):
        self.name = name
        self.trace_fn = trace_fn
        self.grad_fns = grad_fns
        self._optimized = optimized
        self._executable = executable

    @classmethod
    def of_concrete(cls, conc: Concrete) -> Pipeline:
        """The stages of a traced signature (its executable is the one its calls run)."""
        return cls(conc.name, conc.trace_fn, [g.fn for g in conc.grad_fns],
                   lambda: conc.opt_fn, conc.executable)

    @classmethod
    def of_function(cls, fn: Function) -> Pipeline:
        """The stages of an IR Function (no tape made it: no `grad` stage); optimized and
        compiled on request, not cached."""
        opt: list[Function] = []

        def optimized() -> Function:
            if not opt:
                from .ir.passes import optimize
                opt.append(optimize(fn))
            return opt[0]

        def executable() -> Any:
            from . import codegen
            return codegen.compile_function(optimized())
        return cls(fn.name, fn, [], optimized, executable)

    def functions(self, stage: str) -> list[Function]:
        """The Functions of an IR stage (`trace`, `grad`, `jvp`, `opt`)."""
        check_stage(stage)
        if stage == "trace":
            return [self.trace_fn]
        if stage == "grad":
            if not self.grad_fns:
                raise ValueError(f"function {self.name!r} computes no gradient (no "
                                 "tape.gradient inside it), so there is no 'grad' stage; "
                                 "differentiate it with a tape, or use `tracejit dump --grad`")
            return list(self.grad_fns)
        if stage == "jvp":
            from .ir.core import FLOAT_DTYPES
            from .ir.jvp import jvp
            flags = [p.type.dtype in FLOAT_DTYPES for p in self.trace_fn.params]
            return [jvp(self.trace_fn, flags, name=f"jvp_{self.name}").fn]
        if stage == "opt":
            return [self._optimized()]
        raise ValueError(f"stage {stage!r} is not IR; the IR stages are "
                         f"{', '.join(IR_STAGES)}")

    def text(self, stage: str) -> str:
        """The text of any stage: printed IR, the fusion plan, LLVM IR or assembly."""
        check_stage(stage)
        if stage in IR_STAGES:
            from .ir.printer import print_function
            return "\n\n".join(print_function(f) for f in self.functions(stage))
        if stage == "plan":
            from .codegen import fusion_plan
            return fusion_plan(self._optimized())
        exe = self._executable()
        return exe.llvm_ir if stage == "llvm" else exe.asm  # type: ignore[no-any-return]


class Lowered:
    """The compiler's view of one traced signature (`f.lower(*args)`)."""

    def __init__(self, conc: Concrete):
        self.concrete = conc

    def as_text(self, stage: str = "opt") -> str:
        """`trace` (as traced, with replayed gradient code), `grad` (the gradient Functions
        tapes made, before replay), `jvp` (the trace's tangent Function: its parameters,
        then one tangent per float parameter; its results, then their tangents), `opt`
        (what codegen receives), `plan` (its fusion into loop nests and kernels), `llvm`,
        `asm`."""
        return Pipeline.of_concrete(self.concrete).text(stage)
