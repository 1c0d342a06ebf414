"""The lowering rule table, keyed by primitive name, and the error every rule raises.

Invariants:
- `LOWERINGS` has an entry for every primitive of the registry once `tracejit.codegen`
  is imported: the rule modules (`lower_elementwise`, `lower_shape`, `lower_kernels`,
  `lower_region`) enter theirs with `element_rule` / `kernel_rule`, and the package
  imports each of them by name. Element rules have the signature `rule(em, instr, idx)`
  and return the element of the instruction's output at `idx`; kernel rules have the
  signature `rule(lw, instr)` and fill the output buffer.
- Every failure while lowering an instruction is re-raised as a `LoweringError` that
  names that instruction (`lowering`).
"""
from __future__ import annotations

import contextlib
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from llvmlite import ir

from ..ir import Instr
from ..ir.tables import entering

if TYPE_CHECKING:
    from .emit import Emitter
    from .lower import Lowerer


class LoweringError(Exception):
    """Lowering an instruction failed; the message names the instruction."""


def describe(ins: Instr) -> str:
    try:
        return repr(ins)
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        # No printer for it: a plain rendering.
        ins_t = ", ".join(str(x.type) for x in ins.inputs)
        outs_t = ", ".join(str(o.type) for o in ins.outs)
        params = {k: v for k, v in ins.params.items() if k != "value"}
        return f"{ins.prim}({ins_t}) {params} : {outs_t}"


@contextlib.contextmanager
def lowering(ins: Instr) -> Iterator[None]:
    """Error context: any failure inside names the instruction being lowered."""
    try:
        yield
    except LoweringError:
        raise
    except Exception as e:
        raise LoweringError(f"while lowering `{describe(ins)}`: {type(e).__name__}: {e}") \
            from e


ElementRule = Callable[["Emitter", Instr, tuple[ir.Value, ...]], ir.Value]
KernelRule = Callable[["Lowerer", Instr], None]


# The rule table (see the module's invariants for who fills it).
ELEMENT_RULES: dict[str, ElementRule] = {}
KERNEL_RULES: dict[str, KernelRule] = {}
# Every rule, by primitive name (a view of both tables).
LOWERINGS: Mapping[str, ElementRule | KernelRule] = ChainMap[str, Any](ELEMENT_RULES, KERNEL_RULES)


#: How a kernel's failure status becomes an exception, by primitive name:
#: `FAILURES[name](instr, detail0, detail1)`, with the two numbers the kernel wrote to the
#: status buffer (`Lowerer.fail`). A primitive without an entry fails with IndexError
#: (the bounds checks: index and bound).
FailureRule = Callable[[Instr, int, int], Exception]
FAILURES: dict[str, FailureRule] = {}


def element_rule(*names: str) -> Callable[[ElementRule], ElementRule]:
    """Enter the decorated function as the element rule of primitives `names`."""
    return entering(names, ELEMENT_RULES)


def kernel_rule(*names: str) -> Callable[[KernelRule], KernelRule]:
    """Enter the decorated function as the kernel rule of primitives `names`."""
    return entering(names, KERNEL_RULES)


def failure_rule(*names: str) -> Callable[[FailureRule], FailureRule]:
    """Enter the decorated function as the failure rule of primitives `names`."""
    return entering(names, FAILURES)
