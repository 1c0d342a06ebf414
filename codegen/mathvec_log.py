"""Explicit AVX-512 body of float64 ``log`` (`mathvec`'s contract: ``body(builder, [x])
-> result`` over ``<8 x double>``).

``x = 2^k m`` by ``vgetexp``/``vgetmant`` (``m`` in ``[3/4, 3/2)``, ``k`` corrected by one
where ``m < 1``; exact for subnormals, no integer bit games); ``c ~ m`` on a grid of
sixteenths from two 16-entry tables held in registers (``vpermi2var``): the index is
``round(16 m)``, read off the low bits of ``m + 2^48``; its 13 values 12..24 fall on
distinct entries mod 16. ``inv`` is a double near ``1/c`` (exactly 1 for ``c = 1``),
chosen (Gal's accurate tables) so that ``-log(inv)`` is within 6e-5 ulp of the double
stored beside it; then ``r = m inv - 1`` (``|r| <= 0.0418``, one ``fma``) and
``log m = -log(inv) + log1p(r)``, ``log1p(r) = r + r^2 P(r)`` (degree 9, relative error
2^-52.9 on ``P``). ``k ln2_hi + logc`` and ``+ r`` are fast two-sums (``k ln2_hi`` is
exact); ``vfixupimm`` gives 0, negatives, inf and NaN their results: no division, no
select. Measured 0.96 ulp (``tests/codegen/test_mathvec.py``'s inputs; the worst at
the edge of an entry, where the rounding of ``r`` reaches half an ulp of the result).
"""
from __future__ import annotations

from llvmlite import ir

from .mathcore import F64 as K64
from .mathvec_ops import F64, VecEmitter

# Entry j & 15 for j = round(16 m) in 12..24 (entries 9-11 unused): inv ~ 16/j and
# logc = -log(inv) rounded (each within 6e-5 ulp of the exact value).
INV = (1.0, 0.9412295956749882, 0.8889351519580635, 0.8421218417549886, 0.8000222282958058,
       0.7618621715327017, 0.7272680337017936, 0.6956781084262573, 0.6666487460125722,
       1.0, 1.0, 1.0, 1.3334100449112452, 1.2308269739057172, 1.1429146364394402,
       1.0666911707544855)
LOGC = (0.0, 0.060568178004741784, 0.11773099105790563, 0.17183057003639834,
        0.2231157663304587, 0.2719896169094263, 0.31846018479939336, 0.36286821352153764,
        0.40549198945060616, 0.0, 0.0, 0.0, -0.2877396044802159, -0.2076862799761046,
        -0.13358169824368396, -0.0645614934560356)
# (log1p(r) - r) / r^2, |r| <= 0.0418, highest degree first
P_LOG = (0.09122985011422628, -0.10036366262919608, 0.11111065774906669,
         -0.12499944547009147, 0.1428571430991582, -0.16666666701164767,
         0.19999999999996765, -0.2499999999999249, 0.3333333333333333, -0.5)
# vfixupimm responses by class of x for log: NaN -> x quieted, +-0 -> -inf, +1 -> +0,
# -inf -> NaN, +inf -> +inf, negative -> NaN, positive -> the computed value
LOG_FIXUP = 0x03538422
SIXTEENTHS = 2.0 ** 48             # m + 2^48 rounds m to a sixteenth (ulp 1/16)


def _reduce(m: VecEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """x = 2^k mt, mt in [3/4, 3/2): returns (k as a double, mt, the table index)."""
    mt = m.getmant(x)
    e = m.getexp(x)
    k = m.sel(m.cmp("<", mt, 1.0), m.add(e, 1.0), e)
    return k, mt, m.bits(m.add(mt, SIXTEENTHS))


def log64(b: ir.IRBuilder, args: list[ir.Value]) -> ir.Value:
    """log(x) for ``<8 x double>`` x."""
    m = VecEmitter(b, F64)
    x = args[0]
    k, mt, idx = _reduce(m, x)
    inv, logc = m.table(INV, idx), m.table(LOGC, idx)
    r = m.fma(mt, inv, -1.0)
    # hi + lo = k ln2_hi + logc exactly: k ln2_hi is exact, and |k ln2_hi| > |logc| or k = 0
    kh = m.mul(k, K64.ln2_hi_k)
    hi = m.add(kh, logc)
    lo = m.add(m.sub(kh, hi), logc)
    # t + lo2 = hi + r exactly: |hi| > |r| (|logc| >= 0.06 for c != 1) or hi = 0
    t = m.add(hi, r)
    lo2 = m.add(m.sub(hi, t), r)
    tail = m.fma(k, K64.ln2_lo_k, m.add(lo, lo2))
    y = m.add(t, m.fma(m.mul(r, r), m.poly(r, P_LOG), tail))
    return m.fixup(y, x, LOG_FIXUP)
