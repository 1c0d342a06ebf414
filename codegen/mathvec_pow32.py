"""Explicit AVX-512 body of float32 ``pow`` (`mathvec`'s contract): all 16 lanes in
float32, with the few steps that need more precision carried as unevaluated float-float
sums (the method of Intel's SVML ``powf16``, written anew for our tables).

``|x|^y = 2^t``, ``t = y log2|x|``. An error ``d`` in ``t`` is a relative error ``d ln2``
of the result, and ``|t| < 150`` wherever the result is neither 0 nor inf, so ``t`` is
needed to about 2^-28 absolute, ``log2|x|`` to about 2^-35 relative: float-float.

- ``x = 2^k M`` by ``vgetexp``/``vgetmant`` (``M`` in ``[3/4, 3/2)``, ``k`` corrected by one
  where ``M < 1``; subnormals exact). ``j = round(32 M)`` (24..48, distinct mod 32) from the
  low bits of ``M + 2^18`` indexes three 32-entry tables held in two registers each
  (``vpermi2ps``): ``inv ~ 32/j`` with few bits (1 for ``j = 32``), ``-log2(inv) = Th + Tl``
  with ``Th`` a multiple of 2^-15 (so ``k + Th`` is exact).
- ``R = M inv - 1`` exact in float32 (``|R| <= 0.0298``, one ``fma``); ``log2(1 + R) = R C1h
  + R Pl(R)`` (``C1h`` = 1/ln2 in float32, ``Pl`` degree 5, 2^-36.8 absolute).
- ``High + Lo = k + Th + R C1h + (Tl + R Pl(R))``: ``R C1h`` split exactly by
  ``fma``, the rounding of each sum kept (fast two-sums: ``|k + Th| >= 0.044 > |R C1h|``
  unless it is 0).
- ``Zh + Zl = y (High + Lo)``: ``Zh`` rounded and clamped to +-192 (``vrange``), ``Zl`` its
  exact remainder by ``fma`` plus ``y Lo``.
- ``2^t = 2^q 2^(j/16) 2^f``: ``q`` = ``Zh`` to the nearest sixteenth (``Zh + 1.5 * 2^19``),
  ``f = (Zh - q) + Zl`` (capped at +-1/16 for the saturated lanes), ``2^(j/16) = Eh (1 +
  Erel)`` from two 16-entry tables (``vpermps``), ``2^f - 1 = f E(f)`` (degree 2,
  2^-22.8), ``Eh + Eh (Erel + f E(f))`` rounded once, ``2^floor(q)`` by ``vscalefps``.

Measured: 0.9 ulp against float64 on ``tests/codegen/test_mathvec.py``'s inputs, 1.10 ulp
at most in a fuzz of 2.4M pairs (x = 1.0171994, y = -5059.364, now among those inputs). C99's
special cases run only where some lane of the vector has a zero, negative, infinite or
NaN ``x`` or a non-finite ``y`` (`mathexp.pow_special` after the magnitude is made exact
for 0, inf and NaN); elsewhere the magnitude is the result (``y = 0`` and ``x = 1`` give
``2^0 = 1``).
"""
from __future__ import annotations

from llvmlite import ir

from . import mathexp
from .loops import unless_rare
from .mathvec_ops import F32, VecEmitter

# Entry j mod 32 for j = round(32 M) in 24..48 (entries 17-23 unused). inv = n / 2^a with
# the fewest bits a that keep every R = M inv - 1 of the bin (|R| <= 0.0298) below 2^-a
# (M < 1, a multiple of 2^-24) or 2^(1-a) (M >= 1): M inv - 1 is then a float32, one fma.
INV = (1.0, 0.96875, 0.9375, 0.9140625, 0.890625, 0.859375, 0.84375, 0.8203125, 0.796875,
       0.78125, 0.765625, 0.7421875, 0.7265625, 0.7109375, 0.6953125, 0.6796875, 0.671875,
       1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.3125, 1.28125, 1.21875, 1.1875, 1.15625,
       1.09375, 1.0625, 1.03125)
TH = (0.0, 0.045806884765625, 0.093109130859375, 0.129638671875, 0.1671142578125,
      0.2186279296875, 0.2451171875, 0.2857666015625, 0.32757568359375, 0.35614013671875,
      0.385284423828125, 0.430145263671875, 0.460845947265625, 0.492218017578125,
      0.524261474609375, 0.55706787109375, 0.57373046875, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
      -0.392303466796875, -0.3575439453125, -0.285400390625, -0.2479248046875,
      -0.209442138671875, -0.1292724609375, -0.08746337890625, -0.044403076171875)
TL = (0.0, -3.195152430635062e-06, 2.7353209475222684e-07, -3.391458449186757e-06,
      -4.271977104508551e-06, 1.2356787919998169e-05, -4.68966345579247e-06,
      -1.2119228813389782e-05, -1.0255652114210534e-06, 3.6735066260007443e-06,
      5.732056706619915e-06, -8.720028290554183e-07, -4.75837350677466e-06,
      -1.2657777006097604e-05, 5.094424068374792e-06, -1.1366942089807708e-05,
      4.776547939400189e-06, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.3955981557955965e-05,
      -8.059305400820449e-06, -1.8282372593603213e-06, -2.7087560283689527e-06,
      -1.1226957212784328e-05, -1.0556007509876508e-05, 5.376559215619636e-07,
      8.956813871918712e-06)
C1H = 1.4426950216293335            # 1/ln2 in float32
# (log2(1 + R) - R C1h) / R for |R| <= 0.0298, highest degree first (float32 coefficients)
PL = (-0.24073024094104767, 0.2888143062591553, -0.3606736361980438, 0.48089826107025146,
      -0.7213475108146667, 1.9264172479438457e-08)
# 2^(j/16) = EH (1 + EREL), j = 0..15
EH = (1.0, 1.0442737340927124, 1.0905077457427979, 1.1387885808944702, 1.1892070770263672,
      1.2418577671051025, 1.2968395948410034, 1.3542555570602417, 1.4142135381698608,
      1.4768261909484863, 1.5422108173370361, 1.610490322113037, 1.6817928552627563,
      1.7562521696090698, 1.8340080976486206, 1.9152065515518188)
EREL = (0.0, 4.6285471455576044e-08, -1.199215748926008e-08, 4.7297824323777604e-08,
        3.1934181521364735e-08, 3.621057231839586e-08, -3.0990719324108795e-08,
        -7.475213337215791e-09, 1.7114270889351246e-08, -3.047683350132502e-08,
        5.233334210430485e-09, 6.10759176566944e-09, -1.4719605090363075e-08,
        -5.258795177098818e-09, -6.128259677495862e-09, 5.140609271592211e-09)
# (2^f - 1) / f for |f| <= 1/30
E = (0.05550558865070343, 0.24023452401161194, 0.6931471824645996)
THIRTYSECONDS = 2.0 ** 18           # M + 2^18 rounds M to a multiple of 1/32 (ulp 1/32)
ROUND16 = 1.5 * 2.0 ** 19           # z + 1.5 * 2^19: z to a multiple of 1/16, either sign
Z_CLAMP = 192.0                     # 2^+-192 is inf / 0 in float32
F_CLAMP = 1.0 / 16.0
# vfpclass: x is +-0, negative, +-inf or NaN; y is +-inf or NaN
X_SPECIAL = 0xDF
Y_SPECIAL = 0x99


def _log2(m: VecEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log2|x| = High + Lo (float-float) for finite x != 0."""
    mt = m.getmant(x)
    e = m.getexp(x)
    k = m.sel(m.cmp("<", mt, 1.0), m.add(e, 1.0), e)
    idx = m.bits(m.add(mt, THIRTYSECONDS))
    inv, th, tl = m.table(INV, idx), m.table(TH, idx), m.table(TL, idx)
    r = m.fma(mt, inv, -1.0)                         # exact (see INV)
    h0 = m.add(k, th)                                # exact: th is a multiple of 2^-15
    rch = m.mul(r, C1H)
    rcl = m.fma(r, C1H, m.neg(rch))                  # r C1h = rch + rcl exactly
    high1 = m.add(h0, rch)
    e1 = m.add(m.sub(h0, high1), rch)                # exact: |h0| > |rch| or h0 = 0
    low = m.fma(r, m.poly(r, PL), m.add(tl, m.add(e1, rcl)))
    high = m.add(high1, low)
    lo = m.sub(low, m.sub(high, high1))              # exact: |high1| > |low|
    return high, lo


def pow_abs(m: VecEmitter, x: ir.Value, y: ir.Value) -> ir.Value:
    """|x|^y for finite x != 0 (any y; 0, inf and NaN in x are made right by the caller)."""
    high, lo = _log2(m, x)
    zh = m.clamp(m.mul(y, high), Z_CLAMP)
    zl = m.fma(y, lo, m.fma(y, high, m.neg(zh)))   # +-inf where zh was clamped
    s = m.add(zh, ROUND16)
    q = m.sub(s, ROUND16)
    f = m.clamp(m.add(m.sub(zh, q), zl), F_CLAMP)
    idx = m.bits(s)
    eh, erel = m.table(EH, idx), m.table(EREL, idx)
    u = m.fma(f, m.poly(f, E), erel)                # 2^f (1 + erel) - 1, to 2^-29
    return m.scalef(m.fma(eh, u, eh), q)


def pow32(b: ir.IRBuilder, args: list[ir.Value]) -> ir.Value:
    """x^y for ``<16 x float>`` x and y."""
    x, y = args
    m = VecEmitter(b, F32)
    mag = pow_abs(m, x, y)
    special = m.any(b.or_(m.fpclass(x, X_SPECIAL), m.fpclass(y, Y_SPECIAL)))

    def fixed() -> ir.Value:
        # |x| = 0 or inf: the magnitude is 0 or inf by the sign of y; NaN from NaN
        ax = m.abs(x)
        neg_y = m.cmp("<", y, 0.0)
        out = m.sel(m.cmp("==", ax, 0.0), m.sel(neg_y, float("inf"), 0.0), mag)
        out = m.sel(m.cmp("==", ax, float("inf")), m.sel(neg_y, 0.0, float("inf")), out)
        out = m.sel(b.fcmp_unordered("uno", x, y), float("nan"), out)
        return mathexp.pow_special(m, x, y, out)
    return unless_rare(b, special, mag, fixed)
