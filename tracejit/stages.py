"""The compiler's stages of a traced signature as text: `trace`, `grad`, `opt`, `plan`,
`llvm`, `asm` (what `CompiledFunction.lower(...).as_text(stage)` shows)."""
from __future__ import annotations

from .concrete import Concrete

STAGES = ("trace", "grad", "opt", "plan", "llvm", "asm")


class Lowered:
    """The compiler's view of one traced signature (`f.lower(*args)`)."""

    def __init__(self, conc: Concrete):
        self.concrete = conc

    def as_text(self, stage: str = "opt") -> str:
        """`trace` (as traced, with replayed gradient code), `grad` (the gradient Functions
        tapes made, before replay), `opt` (what codegen receives), `plan` (its fusion into
        loop nests and kernels), `llvm`, `asm`."""
        from .ir.printer import print_function
        c = self.concrete
        if stage == "trace":
            return print_function(c.trace_fn)
        if stage == "grad":
            if not c.grad_fns:
                raise ValueError(f"function {c.name!r} computes no gradient (no tape.gradient "
                                 "inside it), so there is no 'grad' stage; differentiate it "
                                 "with a tape, or use `tracejit dump --grad`")
            return "\n\n".join(print_function(g.fn) for g in c.grad_fns)
        if stage == "opt":
            return print_function(c.opt_fn)
        if stage == "plan":
            from .codegen import fusion_plan
            return fusion_plan(c.opt_fn)
        if stage == "llvm":
            return c.executable().llvm_ir
        if stage == "asm":
            return c.executable().asm
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
