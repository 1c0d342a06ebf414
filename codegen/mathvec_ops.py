"""The vocabulary explicit AVX-512 vector bodies (`mathvec`) are written in: `VecEmitter`,
a `MathEmitter` over ``<8 x double>`` or ``<16 x float>`` values, and the x86 intrinsics
that LLVM's loop vectorizer never produces from scalar code: ``vgetexp``, ``vgetmant``,
``vpermi2var`` (a 16-entry table held in two registers), ``vscalef``, ``vfixupimm`` and
``vfpclass``.

Invariants:

- every helper is one instruction of AVX-512F (``vfpclass``: AVX-512DQ), called through
  LLVM's ``llvm.x86.avx512.*`` intrinsics by name, unmasked and with the current rounding
  mode (``_MM_FROUND_CUR_DIRECTION``), so bodies built from them are only emitted for hosts
  with AVX-512F (`mathvec.body` checks);
- `VecEmitter` keeps `MathEmitter`'s contract (no fast-math flags, Python floats become
  constants, splatted across the lanes), so a scalar emitter's special-case code
  (`mathexp.pow_special`) runs unchanged on whole vectors;
- tables are 16 (float64) or 16 or 32 (float32) Python floats, indexed by the low 4 or 5
  bits of each lane's integer index (higher bits are ignored by the instruction).
"""
from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from .irbuild import new_function
from .mathcore import MathEmitter, Num

F32 = ir.FloatType()
F64 = ir.DoubleType()
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
CUR_DIRECTION = 4                  # _MM_FROUND_CUR_DIRECTION: MXCSR's rounding
# vgetmant's immediate: interval [3/4, 3/2) (bits 1:0 = 3), sign cleared (bits 3:2 = 1)
MANT_P75_1P5_ABS = 0b0111


def _suffix(elem: ir.Type) -> str:
    return "pd" if isinstance(elem, ir.DoubleType) else "ps"


def intrinsic(b: ir.IRBuilder, name: str, ret: ir.Type, args: Sequence[ir.Value]) -> ir.Value:
    """Call the LLVM intrinsic `name` (declared in the module on first use)."""
    fn = b.module.globals.get(name)
    if fn is None:
        fn = new_function(b.module, ir.FunctionType(ret, [a.type for a in args]), name)
    return b.call(fn, list(args))


class VecEmitter(MathEmitter):
    """`MathEmitter` over 512-bit vectors: ``VecEmitter(b, F64)`` is ``<8 x double>``,
    ``VecEmitter(b, F32)`` ``<16 x float>``; ``m.ity`` is the integer vector of the same
    shape. Intrinsics such as ``llvm.fma`` are mangled for the vector type."""

    def __init__(self, b: ir.IRBuilder, elem: ir.Type) -> None:
        super().__init__(b, elem, avx512=True)
        self.elem = elem
        self.n = 512 // (64 if self.is64 else 32)
        self.ty = ir.VectorType(elem, self.n)
        self.ity = ir.VectorType(ir.IntType(64 if self.is64 else 32), self.n)
        self.mask = ir.Constant(I8 if self.is64 else I16, -1)
        self.sfx = _suffix(elem)

    def c(self, v: Num) -> ir.Value:
        return v if isinstance(v, ir.Value) else ir.Constant(self.ty, [float(v)] * self.n)

    def i(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, [v] * self.n)

    def _intr(self, name: str, *args: Num) -> ir.Value:
        tag = f"v{self.n}f{64 if self.is64 else 32}"
        return intrinsic(self.b, f"{name}.{tag}", self.ty, [self.c(a) for a in args])

    def _x86(self, op: str, args: Sequence[ir.Value]) -> ir.Value:
        name = f"llvm.x86.avx512.mask.{op}.{self.sfx}.512"
        return intrinsic(self.b, name, self.ty, args)

    # ---------------------------------------------------------------- AVX-512F
    def getexp(self, x: ir.Value) -> ir.Value:
        """floor(log2 |x|) as a float (``vgetexp``): exact for subnormals too;
        -inf for +-0, +inf for +-inf, NaN for NaN."""
        return self._x86("getexp", [x, x, self.mask, I32(CUR_DIRECTION)])

    def getmant(self, x: ir.Value, imm: int = MANT_P75_1P5_ABS) -> ir.Value:
        """|x|'s significand scaled into [3/4, 3/2) (``vgetmant``, the default ``imm``):
        ``x = 2^e m`` with ``e = getexp(x) + (m < 1)``; +-0 gives 0, +-inf 1, NaN NaN."""
        return self._x86("getmant", [x, I32(imm), x, self.mask, I32(CUR_DIRECTION)])

    def scalef(self, a: ir.Value, q: ir.Value) -> ir.Value:
        """a 2^floor(q), rounded once (subnormal and overflowing results included)."""
        return self._x86("scalef", [a, q, a, self.mask, I32(CUR_DIRECTION)])

    def clamp(self, x: ir.Value, bound: float) -> ir.Value:
        """x with its magnitude capped at `bound`, x's sign kept (``vrange``, AVX-512DQ: the
        smaller magnitude). NaN gives +-bound on some CPUs (AMD Zen 4): not kept."""
        return self._x86("range", [x, self.c(bound), I32(0b0010), x, self.mask,
                                   I32(CUR_DIRECTION)])

    def fixup(self, y: ir.Value, x: ir.Value, table: int) -> ir.Value:
        """``vfixupimm``: y, except where x is special: `table` holds a 4-bit response per
        class of x (bits 4c..4c+3 for class c: 0 QNaN, 1 SNaN, 2 +-0, 3 +1, 4 -inf, 5 +inf,
        6 negative, 7 positive; responses 0 keep y, 2 x quieted, 3 the default NaN, 4 -inf,
        5 +inf, 8 +0, 10 +1, ...)."""
        ity = self.ity
        return self._x86("fixupimm", [y, x, ir.Constant(ity, [table] * self.n), I32(0),
                                      self.mask, I32(CUR_DIRECTION)])

    def table(self, values: Sequence[float], idx: ir.Value) -> ir.Value:
        """values[idx mod len(values)] per lane: a table of 2 registers (``vpermi2var``:
        16 doubles or 32 floats) or of one (``vpermps``: 16 floats)."""
        n = len(values)
        if n == self.n:
            if self.is64:
                raise ValueError("table: a float64 table has 16 entries")
            tbl = ir.Constant(self.ty, [float(v) for v in values])
            return intrinsic(self.b, "llvm.x86.avx512.permvar.sf.512", self.ty, [tbl, idx])
        if n != 2 * self.n:
            raise ValueError(f"table: {self.n} or {2 * self.n} entries, got {n}")
        lo = ir.Constant(self.ty, [float(v) for v in values[:self.n]])
        hi = ir.Constant(self.ty, [float(v) for v in values[self.n:]])
        return intrinsic(self.b, f"llvm.x86.avx512.vpermi2var.{self.sfx}.512", self.ty,
                         [lo, idx, hi])

    def fpclass(self, x: ir.Value, imm: int) -> ir.Value:
        """Per lane, whether x is in one of the classes of `imm` (``vfpclass``, AVX-512DQ):
        0x01 QNaN, 0x02 +0, 0x04 -0, 0x08 +inf, 0x10 -inf, 0x20 subnormal, 0x40 negative
        finite, 0x80 SNaN."""
        name = f"llvm.x86.avx512.fpclass.{self.sfx}.512"
        return intrinsic(self.b, name, ir.VectorType(ir.IntType(1), self.n), [x, I32(imm)])

    def any(self, lanes: ir.Value) -> ir.Value:
        """Whether any lane of an ``<n x i1>`` is set (one ``kortest``)."""
        bits = self.b.bitcast(lanes, ir.IntType(self.n))
        return self.b.icmp_unsigned("!=", bits, ir.Constant(ir.IntType(self.n), 0))

