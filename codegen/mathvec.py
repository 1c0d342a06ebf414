"""Explicit vector bodies for `mathcall`'s out-of-line math on AVX-512 hosts.

LLVM's loop vectorizer widens `mathlib`'s scalar code lane by lane: it cannot turn a
scalar table lookup into a register permute (``vpermt2pd``), nor bit manipulations into
``vgetexp``/``vgetmant``. For the (function, type) pairs in `BODIES`, `mathcall` defines
the vector variant of its out-of-line function with the registered body instead of its
lane loop, and lowering calls that out-of-line function for every elementwise use
(`explicit`). The vectorizer replaces those calls by calls of the variant, which is
`alwaysinline`: `llvmjob.optimize` inlines it after O3, so the loop holds the body with its
tables and constants in registers. The scalar function (lane 0 of the body, for loops
that were not vectorized) and the narrow variants (epilogues) call one standalone copy.

The contract of a body (``BODIES[(name, type)]``, type ``"double"`` or ``"float"``):

- ``body(builder, args) -> value``: ``args`` are `FUNCTIONS[name][0]` values of type
  ``<8 x double>`` (``"double"``) or ``<16 x float>`` (``"float"``), the builder is
  positioned in the variant's entry block; the body may add blocks (the builder ends where
  the result is defined) and returns a value of the same vector type;
- it computes `mathlib`'s function lane by lane to within the library's bound (4 ulp;
  measured in ``tests/codegen/test_mathvec.py``, which runs every registered body), with
  NumPy's results for NaN, +-inf, +-0, subnormals and every C99 special case, and needs
  AVX-512F and DQ only: `body` offers it on such hosts alone;
- it uses no fast-math flags and no C library call; x86 intrinsics by name
  (`mathvec_ops.VecEmitter`: ``vgetexp``, ``vgetmant``, register tables, ``vscalef``,
  ``vfixupimm``, ``vfpclass``, ``vrange``);
- every lane's result depends on that lane's arguments only (the other lanes may be
  padding: `mathcall`'s narrow variants and its scalar function fill them with zeros).

A new body is a function in its own module (``mathvec_<family>.py``) and one entry in
`BODIES`. On hosts without AVX-512F nothing here is used: `mathlib`'s generic code stays.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from llvmlite import ir

from . import engine, mathvec_log, mathvec_pow, mathvec_pow32

Body = Callable[[ir.IRBuilder, list[ir.Value]], ir.Value]

#: (function name, "double" | "float") -> explicit 512-bit vector body
BODIES: dict[tuple[str, str], Body] = {
    ("log", "double"): mathvec_log.log64,
    ("pow", "float"): mathvec_pow32.pow32,
    ("pow", "double"): mathvec_pow.pow64,
}


@functools.cache
def host_avx512() -> bool:
    """Whether code for this host may use AVX-512F and DQ instructions (the engine's
    feature string, which compiled code is generated for)."""
    feats = engine.host_info(machine=False)["features"].split(",")
    return "+avx512f" in feats and "+avx512dq" in feats


def body(name: str, ty: ir.Type) -> Body | None:
    """The explicit vector body of `name` for scalar type `ty` on this host, or None."""
    if not isinstance(ty, (ir.FloatType, ir.DoubleType)):
        return None
    found = BODIES.get((name, str(ty)))
    return found if found is not None and host_avx512() else None


def explicit(name: str, ty: ir.Type) -> bool:
    """Whether elementwise `name` of type `ty` is lowered to `mathcall`'s out-of-line
    function (whose vector variant is the explicit body) rather than inline code."""
    return body(name, ty) is not None


def width(ty: ir.Type) -> int:
    """Lanes of a body's vectors for scalar type `ty` (512 bits)."""
    return 8 if isinstance(ty, ir.DoubleType) else 16
