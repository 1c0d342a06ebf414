"""``polygamma(n, x)`` for `mathgamma`'s family, through the Hurwitz zeta function:
``polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x)`` for ``n >= 1`` (``digamma`` for ``n = 0``),
zeta summed directly for a few terms and then by Euler-Maclaurin's tail. The contract,
special values and accuracy are `mathgamma`'s (its docstring and its measured table).
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .mathcore import MathEmitter as _Em
from .mathexp import exp as _exp
from .mathexp import log_dd as _log_dd
from .mathgamma import _INF, _NAN, _digamma64, _in_double, _mul_dd

#: B_2k / (2k)!, k = 1..ZETA_TERMS (Euler-Maclaurin's coefficients)
_EM = (0.08333333333333333, -0.001388888888888889, 3.306878306878307e-05,
       -8.267195767195768e-07, 2.08767569878681e-08, -5.284190138687493e-10,
       1.3382536530684679e-11, -3.3896802963225823e-13, 8.586062056277845e-15,
       -2.1748686985580617e-16, 5.5090028283602295e-18, -1.3954464685812522e-19)
#: Hurwitz zeta: terms summed before the Euler-Maclaurin tail, and the arguments beyond
#: which the tail alone is used (q >= ZETA_FAR + ZETA_FAR_S s).
ZETA_SHIFT = 8
ZETA_FAR = 16.0
ZETA_FAR_S = 1.0
#: (10k)! as hi + lo, k = 0..17
_FACT10 = ((1.0, 0.0),
            (3628800.0, 0.0),
            (2.43290200817664e+18, 0.0),
            (2.6525285981219107e+32, -9581293239009280.0),
            (8.159152832478977e+47, 5.055006274829492e+31),
            (3.0414093201713376e+64, 2.467245641759317e+48),
            (8.32098711274139e+81, 2.4921661177717873e+65),
            (1.1978571669969892e+100, -4.165219629645988e+83),
            (7.156945704626381e+118, -3.4141987765091054e+102),
            (1.4857159644817615e+138, -1.7608564698848314e+121),
            (9.332621544394415e+157, 1.716052534060313e+141),
            (1.588245541522743e+178, -8.832292783108172e+161),
            (6.689502913449127e+198, -6.292118137709166e+181),
            (6.466855489220474e+219, -4.74854729876235e+203),
            (1.3462012475717526e+241, -1.1363583462763976e+225),
            (5.713383956445855e+262, -9.351617682362424e+245),
            (4.7147236359920616e+284, -2.871145013595789e+268),
            (7.257415615307999e+306, -6.760368134125985e+289))
#: n! overflows beyond this order.
MAX_ORDER = 170


# ---------------------------------------------------------------- polygamma


def _pow_neg(m: _Em, qh: ir.Value, ql: ir.Value, s: ir.Value, e: ir.Value) -> ir.Value:
    """2^e (qh + ql)^-s for qh > 0: exp(e ln2 - s log(q)) with the exponent as hi + lo
    (log q a double-double, ql entering to first order as -s ql / qh), so the power of a
    large s neither loses the last bits of log q nor underflows before the scaling by
    n! = 2^e M."""
    l_hi, l_lo = _log_dd(m, qh)
    ns = m.neg(s)
    t_hi = m.mul(ns, l_hi)
    t_lo = m.fma(ns, l_lo, m.fma(ns, l_hi, m.neg(t_hi)))
    h, err = m.two_sum(t_hi, m.mul(e, m.k.ln2_hi_k))          # e ln2_hi_k is exact
    lo = m.add(m.add(t_lo, err), m.fma(e, m.k.ln2_lo_k, m.mul(ns, m.div(ql, qh))))
    lo = m.sel(m.cmp("<", m.abs(h), 1000.0), lo, 0.0)
    return _exp(m, h, lo)


def _em_tail(m: _Em, s: ir.Value, wh: ir.Value, wl: ir.Value, e: ir.Value) -> ir.Value:
    """2^e times Euler-Maclaurin's tail of zeta(s, .) from w = wh + wl on:
    w^-s (w / (s - 1) + 1/2 + sum_k c_k (s)_{2k-1} / w^(2k-1))."""
    iw = m.div(1.0, wh)
    iw2 = m.mul(iw, iw)
    pk = m.mul(s, iw)
    terms = []
    for k, c in enumerate(_EM, start=1):
        terms.append(m.mul(pk, c))
        # (s)_{2k+1} / w^(2k+1) = (s)_{2k-1} / w^(2k-1) (s + 2k - 1)(s + 2k) / w^2
        pk = m.mul(pk, m.mul(m.mul(m.add(s, 2.0 * k - 1), m.add(s, 2.0 * k)), iw2))
    acc = m.c(0.0)
    for tk in reversed(terms):
        acc = m.add(acc, tk)
    # as w^(1-s) (1 / (s - 1) + (1/2 + the sum) / w): w^-s alone may underflow where the
    # tail does not
    sm1 = m.sub(s, 1.0)
    bracket = m.add(m.div(1.0, sm1), m.mul(iw, m.add(0.5, acc)))
    return m.mul(_pow_neg(m, wh, wl, sm1, e), bracket)


def _zeta(m: _Em, s: ir.Value, qh: ir.Value, ql: ir.Value, e: ir.Value,
          cut: ir.Value | None = None) -> tuple[ir.Value, ir.Value]:
    """2^e times Hurwitz's zeta(s, qh + ql) for qh > 0 and an integer s >= 2, and the part
    of it from the `cut`-th term on (sum_{j >= cut} (q + j)^-s; meaningful for cut <= ZETA_SHIFT
    where q is shifted), summed in the same order whatever `cut` is."""
    shift = m.cmp("<", qh, m.fma(s, ZETA_FAR_S, ZETA_FAR))
    wh, we = m.two_sum(qh, m.sel(shift, float(ZETA_SHIFT), 0.0))
    total = _em_tail(m, s, wh, m.add(we, ql), e)
    rest = total
    for j in reversed(range(ZETA_SHIFT)):
        h, lo_j = m.two_sum(qh, m.c(float(j)))
        term = m.sel(shift, _pow_neg(m, h, m.add(lo_j, ql), s, e), 0.0)
        total = m.add(total, term)
        if cut is not None:
            rest = m.add(rest, m.sel(m.cmp("<", m.c(float(j)), cut), 0.0, term))
    return total, rest


def _factorial(m: _Em, n: ir.Value) -> tuple[ir.Value, ir.Value]:
    """n! as hi + lo for an integer-valued n in [0, MAX_ORDER]: (10k)! from a table of
    hi + lo constants times the at most 9 factors after it, an exact double-double
    product."""
    tens = m.floor(m.mul(n, 0.1))
    base = m.mul(tens, 10.0)
    base = m.sel(m.cmp(">", base, n), m.sub(base, 10.0), base)   # n / 10 rounded up
    fh, fl = m.c(1.0), m.c(0.0)
    for k, (hi, lo) in enumerate(_FACT10):
        at = m.cmp("==", base, float(10 * k))
        fh, fl = m.sel(at, hi, fh), m.sel(at, lo, fl)
    for r in range(1, 10):
        i = m.add(base, float(r))
        fh, fl = _mul_dd(m, fh, fl, m.sel(m.cmp("<=", i, n), i, 1.0))
    return fh, fl


def _polygamma64(m: _Em, n: ir.Value, x: ir.Value) -> ir.Value:
    b = m.b
    s = m.add(n, 1.0)
    # x > 0: zeta(s, x); x < 0: zeta(s, f) + (-1)^s (zeta(s, 1 - f) - zeta(s, 1 - x))
    neg = m.cmp("<", x, 0.0)
    fh, fe = m.two_sum(x, m.neg(m.floor(x)))               # f = x - floor(x), in (0, 1]
    q1h = m.sel(neg, fh, x)
    q1l = m.sel(neg, fe, 0.0)
    q2h, q2e = m.two_sum(m.c(1.0), m.neg(fh))
    q2l = m.sub(q2e, fe)
    q3h, q3l = m.two_sum(m.c(1.0), m.neg(x))
    # the arguments of the negative-x terms are kept positive for positive x (unused there)
    q2h = m.sel(neg, q2h, 1.0)
    q3h = m.sel(neg, q3h, 2.0)
    # n! = 2^e M with M in [1, 2): the zetas are scaled by 2^e inside their powers
    nc = m.sel(m.cmp("<=", n, float(MAX_ORDER)), n, 0.0)
    f_hi, f_lo = _factorial(m, nc)
    ei = m.b.sub(m.b.lshr(m.bits(f_hi), m.i(m.mant)), m.i(m.bias))
    e = m.to_float(ei)
    unscale = m.pow2(m.b.neg(ei))
    mant = m.add(m.mul(f_hi, unscale), m.mul(f_lo, unscale))
    z1, _ = _zeta(m, s, m.sel(m.cmp(">", q1h, 0.0), q1h, 1.0), q1l, e)
    # zeta(s, 1 - x) = zeta(s, 1 - f + mm), mm = -floor(x): the terms of zeta(s, 1 - f) from
    # the mm-th on, or beyond the shifted ones Euler-Maclaurin's tail alone (1 - x > N,
    # where it is small against zeta(s, 1 - f) >= 1)
    mm = m.neg(m.floor(x))
    z2, z3 = _zeta(m, s, q2h, m.sel(neg, q2l, 0.0), e, mm)
    far = m.cmp(">", mm, float(ZETA_SHIFT))
    z3 = m.sel(far, _em_tail(m, s, m.sel(far, q3h, 20.0), m.sel(far, q3l, 0.0), e), z3)
    half_s = m.mul(s, 0.5)
    s_odd = m.cmp("!=", m.floor(half_s), half_s)           # (-1)^s = -1
    # (z1 + (-1)^s z2) first: for odd s its leading terms f^-s and (1 - f)^-s cancel (they
    # are equal at f = 1/2, next to the zero of an even order)
    d = m.add(z1, m.sel(s_odd, m.neg(z2), z2))
    z = m.sel(neg, m.sub(d, m.sel(s_odd, m.neg(z3), z3)), z1)
    mag = m.mul(mant, z)
    mag = m.sel(m.cmp(">", n, float(MAX_ORDER)), _INF, mag)
    y = m.sel(s_odd, m.neg(mag), mag)                      # (-1)^(n+1) = (-1)^s
    # poles (0, negative integers, -inf): +inf for odd n, NaN for even n
    pole = b.and_(m.cmp("<=", x, 0.0), b.or_(m.cmp("==", x, m.floor(x)), m.isinf(x)))
    y = m.sel(pole, m.sel(s_odd, _NAN, _INF), y)
    y = m.sel(m.cmp("==", x, _INF), m.sel(s_odd, -0.0, 0.0), y)
    y = m.sel(m.cmp("==", n, 0.0), _digamma64(m, x), y)
    valid = b.and_(m.cmp(">=", n, 0.0), m.cmp("==", m.floor(n), n))
    valid = b.and_(valid, m.cmp("!=", n, _INF))
    y = m.sel(valid, y, _NAN)
    return m.sel(b.or_(m.isnan(x), m.isnan(n)), m.add(x, n), y)



def _polygamma(m: _Em, n: ir.Value, x: ir.Value) -> ir.Value:
    return _in_double(m, _polygamma64, n, x)


#: name -> (number of arguments, emitter), merged into `mathlib.FUNCTIONS`.
FUNCTIONS: dict[str, tuple[int, Callable[..., ir.Value]]] = {"polygamma": (2, _polygamma)}
