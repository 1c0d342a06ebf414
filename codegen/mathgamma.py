"""Inline, vectorizable gamma-family functions for `mathlib`: ``lgamma``, ``digamma`` and
``polygamma(n, x)`` (its Hurwitz zeta in `mathzeta`).

The same contract as `mathlib` (straight-line code: arithmetic, ``select``, the
single-instruction intrinsics; no branches, no libm calls, no fast-math flags; scalar
``float`` or ``double`` in and out). Both types are computed in float64 lanes with the
float64 polynomials; float32 is rounded once at the end (so it is within about half an ulp
wherever float64 is good to a few ulp). Special values follow TensorFlow 2.21:
``lgamma`` is ``+inf`` at the poles (0, -0, negative integers, -inf) and at +inf;
``digamma`` is NaN at the poles and -inf, +inf at +inf; ``polygamma(n, x)`` is NaN
unless ``n`` is a non-negative integer, ``digamma`` for ``n = 0``, and at the poles
``+inf`` for odd ``n`` and NaN for even ``n`` (from the two sides the signs differ).

Methods (``p`` is the positive argument: ``x``, or ``1 - x`` for the reflection):

- ``lgamma``: ``p < 1/2``: ``p Q1(p) - log p`` with ``Q1(t) = lgamma(1 + t) / t``;
  ``[1/2, 3/2)``: ``t Q1(t)``, ``t = p - 1`` exact; ``[3/2, 3)``: ``t Q2(t)``,
  ``Q2(t) = lgamma(2 + t) / t``, ``t = p - 2`` exact (so the zeros at 1 and 2 keep full
  relative accuracy); ``[3, 10)``: ``lgamma(y) + log(y (y + 1) ... (y + k - 1))`` with
  ``y = p - k`` in ``[2, 3)`` (exact) and the product carried exactly as hi + lo;
  ``p >= 10``: Stirling, ``p (log p - 1) - log(p) / 2 + log(2 pi) / 2 + w(1 / p)``, with
  ``log p`` as a double-double (mathlib's pow kernel) and the sum carried as hi + lo.
  ``x < 0``: ``lgamma(x) = -log|r| - log(sin(pi r) / (pi r)) - lgamma(1 - x)`` with
  ``r = x - rint(x)`` exact and the middle term a polynomial ``r^2 LS(r^2)``.
- ``digamma``: ``p < 1``: ``psi(1 + p) - 1/p``; ``[1, 2)``: ``(t - t0) D(t)`` with
  ``t = p - 1`` and ``t0 + 1`` the positive zero of psi (``t0`` as hi + lo, so the zero
  keeps full relative accuracy); ``[2, 10)``: ``psi(y) + sum 1/(y + j)`` with ``y`` in
  ``[1, 2)`` and the reciprocals and the sum carried exactly as hi + lo; ``p >= 10``:
  ``log p - 1/(2p) - sum B_2k / (2k p^2k)``. ``x < 0``: ``psi(1 - x) - pi cot(pi x)``,
  ``cot(pi r) = cos(pi r) / sin(pi r)`` with both from one ``sin(pi u) / u`` polynomial
  (``cos(pi r) = sin(pi (1/2 - |r|))``, exact argument), or for ``|r| < 1/4``
  ``pi cot(pi r) = 1/r + r C(r^2)`` with ``1/r`` as hi + lo.
- ``polygamma(n, x)``, ``n >= 1``: ``(-1)^(n+1) n! Z(n + 1, x)`` with
  ``Z(s, x) = sum_k (x + k)^-s``; for ``x > 0`` that is Hurwitz's zeta, for ``x < 0``
  ``Z(s, x) = zeta(s, f) + (-1)^s (zeta(s, 1 - f) - zeta(s, 1 - x))`` with
  ``f = x - floor(x)`` (``zeta(s, 1 - x)`` is the part of ``zeta(s, 1 - f)``'s sum from
  the ``-floor(x)``-th term on, or Euler-Maclaurin's tail alone beyond the shifted
  terms). Hurwitz's zeta: ``sum_{j < N} (q + j)^-s`` plus the Euler-Maclaurin tail at
  ``w = q + N`` (no shift once ``q`` is large against ``s``), every ``q + j`` carried as
  hi + lo into the power to first order; ``n!`` is ``(10k)!`` from a table of hi + lo
  constants times the remaining factors, an exact double-double product (orders up to
  170; beyond, ``n!`` overflows and the result is +-inf, as TensorFlow's).

Fits: polynomials interpolated at Chebyshev nodes with mpmath at 200 bits (relative
error below 1e-16 before rounding the coefficients).

Measured max error in ulp (``python -m tests.codegen.test_mathgamma`` prints it), float64
against mpmath at 100 bits, float32 against the float64 result of the same mpmath value.
Where a function has a zero the relative error is meaningless (and no libm holds it near
the negative zeros of lgamma), so the error is measured in ulp of
``max(|f(x)|, |g(x)|)``, where ``g`` is the largest term the method adds (libm test suites
do the same): for ``x < 0`` in lgamma ``g = max(|lgamma(1 - x)|, |log(pi / sin(pi x))|)``,
in digamma ``g = max(|psi(1 - x)|, |pi cot(pi x)|)``, in polygamma of even order
``g = n! (zeta(n + 1, f) + zeta(n + 1, 1 - f))`` (odd orders have no zeros).
Orders of polygamma are measured for ``n <= 20``.

==========  =======  =======
function    float32  float64
==========  =======  =======
lgamma        0.50     2.54
digamma       0.50     2.55
polygamma     0.50     3.02
==========  =======  =======

(21,000 points per function, on log sweeps over the whole range of both signs, uniform
on [0, 12] and [-30, 0], around 1 and 2, next to the integers up to 60 of both signs and
random bit patterns; polygamma on 2,200 points per order n = 1..20; its worst order is
n = 6, the others are within 2.8 ulp.) Results of polygamma that are subnormal (high
orders at large x, e.g. ``polygamma(30, 2.4e11) = -2.6e-311``) keep about 12 digits, not
the last bit.
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .mathcore import MathEmitter as _Em
from .mathexp import log_dd as _log_dd
from .mathexp import log as _log

_INF = float("inf")
_NAN = float("nan")

# Polynomials, highest degree first (see the module docstring for what each one is).
_Q1 = (-0.2251396034009193, 0.23220268431813382, 0.16833795110458488, -0.17310581118613022,
       -0.15340561526661967, 0.15846766634774326, -0.004485262603857743,
       0.005299145410064582, -0.05663969322285954, 0.05928878667667664,
       -0.051177808935222266, 0.054058776743014576, -0.05898924031065899,
       0.0626711104727693, -0.06665550719444015, 0.07141935724662937, -0.07693324338734528,
       0.08335458900295017, -0.09095399050709609, 0.10009943008747753,
       -0.11133426648064039, 0.12550967015385275, -0.14404989676093186,
       0.16955717698926046, -0.20738555102872175, 0.2705808084278337, -0.4006856343865313,
       0.8224670334241131, -0.5772156649015329)
_Q2 = (-7.135464237889196e-10, 5.599043748827476e-09, -2.072250123349412e-08,
       5.115528766000617e-08, -1.0529221472564566e-07, 2.1314308874814206e-07,
       -4.47207500870406e-07, 9.537731988135254e-07, -2.0394514921931776e-06,
       4.3753272614320604e-06, -9.439539486525303e-06, 2.0507135107697608e-05,
       -4.4926217372662964e-05, 9.945751997086566e-05, -0.0002231547609815286,
       0.000509669524385722, -0.0011927539115411708, 0.0028905103307501107,
       -0.0073855510286789435, 0.020580808427784467, -0.06735230105319803,
       0.3224670334241132, 0.42278433509846713)
_D = (5.596002350342592e-05, -0.0007554603762670956, 0.004865025457393708,
      -0.01994800658341644, 0.058721117253207805, -0.13290704562915945, 0.2425000232004317,
      -0.37048020435719825, 0.4904624601402627, -0.5816704146549394, 0.6382236370392429,
      -0.6669050150020259, 0.6788124544340014, -0.6828767821166839, 0.6840762626460354,
      -0.6845198765618055, 0.6849693366820493, -0.6858009220247125, 0.6874892570390758,
      -0.6909821117553209, 0.6983635062827709, -0.7145407117237952, 0.7524682722898366,
      -0.8546933606017872, 1.2503801375034054)
# log(sin(pi r) / (pi r)) / r^2 and sin(pi r) / r, both in z = r^2 on [0, 1/4]
_LS = (-0.4663842533732108, 0.37895513311753104, -0.3373112253634216, 0.010799424592471392,
       -0.11394393898999185, -0.09604171703944575, -0.11159624432133705,
       -0.12495963988301707, -0.14286848171826025, -0.1667075728485711,
       -0.20019891796834885, -0.2510193390014526, -0.3391143539952259, -0.5411616168555677,
       -1.6449340668482264)
_SP = (5.249879114060463e-10, -2.293998713586946e-08, 7.952025736213849e-07,
       -2.191535285969446e-05, 0.0004663028056889684, -0.007370430945707596,
       0.08214588661112787, -0.5992645293207921, 2.5501640398773455, -5.16771278004997,
       3.141592653589793)
#: (pi cot(pi r) r - 1) / r^2 in z = r^2 on [0, 1/16]
_COT = (-2.84409741632748, -1.8664404896715077, -2.011567378490729, -1.9994173162156266,
        -2.000143257977329, -2.000491723449518, -2.001989156311443, -2.0081547123483974,
        -2.034686123969089, -2.1646464674222763, -3.289868133696453)
#: psi(1 + t) = 0 at t = T0 (hi, lo)
_T0 = (0.46163214496836236, -1.5522348162858677e-17)
#: B_2k / (2k (2k - 1)), k = 12..1 (Stirling's series of lgamma in 1/p)
_STIRLING = (-156.84828462600203, 13.402864044168393, -1.3924322169059011,
             0.17964437236883057, -0.029550653594771242, 0.00641025641025641,
             -0.0019175269175269176, 0.0008417508417508417, -0.0005952380952380953,
             0.0007936507936507937, -0.002777777777777778, 0.08333333333333333)
#: B_2k / 2k, k = 12..1 (the asymptotic series of psi in 1/p^2)
_PSI_ASYM = (-3607.5105463980462, 281.46014492753625, -26.456212121212122,
             3.0539543302701198, -0.4432598039215686, 0.08333333333333333,
             -0.021092796092796094, 0.007575757575757576, -0.004166666666666667,
             0.003968253968253968, -0.008333333333333333, 0.08333333333333333)
_HALF_LOG_2PI = (0.9189385332046728, -3.8782941580672414e-17)
_PI = 3.141592653589793


# ---------------------------------------------------------------- shared pieces


def _sinpi_over(m: _Em, u: ir.Value) -> ir.Value:
    """sin(pi u) / u for |u| <= 1/2 (pi at u = 0)."""
    return m.poly(m.mul(u, u), _SP)


def _recip(m: _Em, v: ir.Value) -> tuple[ir.Value, ir.Value]:
    """1/v as hi + lo (the residual of the rounded quotient, to first order)."""
    r = m.div(1.0, v)
    lo = m.div(m.neg(m.fma(r, v, -1.0)), v)
    return r, m.sel(m.isinf(r), 0.0, lo)


def _mul_dd(m: _Em, ah: ir.Value, al: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(ah + al) b as hi + lo."""
    h = m.mul(ah, b)
    return h, m.fma(al, b, m.fma(ah, b, m.neg(h)))


# ---------------------------------------------------------------- lgamma


def _lgamma_pos(m: _Em, p: ir.Value, t1: ir.Value) -> ir.Value:
    """lgamma(p) for p > 0; `t1` is p - 1 where p is in [1/2, 3/2) (exactly, the caller
    may know it better than p - 1 rounded)."""
    b = m.b
    small = m.cmp("<", p, 0.5)
    # [0, 3/2): Q1 at p itself (p < 1/2) or at t1
    tq = m.sel(small, p, t1)
    q1 = m.mul(tq, m.poly(tq, _Q1))
    low = m.sel(small, m.sub(q1, _log(m, m.sel(small, p, 1.0))), q1)
    # [3/2, 10): y = p - k in [2, 3) exact, lgamma(y) = t Q2(t) with t = y - 2, plus the log
    # of y (y + 1) ... (y + k - 1) carried as hi + lo
    fl = m.floor(p)
    k = m.sel(m.cmp(">=", p, 3.0), m.sub(fl, 2.0), 0.0)
    k = m.sel(m.cmp("<", p, 10.0), k, 0.0)
    y = m.sub(p, k)
    t2 = m.sub(y, 2.0)
    q2 = m.mul(t2, m.poly(t2, _Q2))
    ph, pl = m.c(1.0), m.c(0.0)
    for j in range(7):
        f = m.sel(m.cmp("<", m.c(float(j)), k), m.add(y, float(j)), 1.0)
        ph, pl = _mul_dd(m, ph, pl, f)
    logp = m.add(_log(m, ph), m.div(pl, ph))
    mid = m.add(logp, q2)
    # p >= 10: Stirling with log p as hi + lo
    big = m.sel(m.cmp(">=", p, 10.0), p, 10.0)
    lh, ll = _log_dd(m, big)
    mh, me = m.two_sum(lh, m.c(-1.0))
    ml = m.add(me, ll)
    sh, sl = _mul_dd(m, mh, ml, big)                       # p (log p - 1)
    hh, he = m.two_sum(sh, m.mul(lh, -0.5))
    hl = m.add(m.add(sl, he), m.mul(ll, -0.5))
    ch, ce = m.two_sum(hh, m.c(_HALF_LOG_2PI[0]))
    z = m.div(1.0, big)
    w = m.mul(z, m.poly(m.mul(z, z), _STIRLING))
    st = m.add(ch, m.add(m.add(ce, hl), m.add(w, _HALF_LOG_2PI[1])))
    st = m.sel(m.isinf(sh), _INF, st)                      # beyond ~2.6e305 lgamma overflows
    r = m.sel(m.cmp("<", p, 1.5), low, mid)
    return m.sel(b.not_(m.cmp("<", p, 10.0)), st, r)


def _lgamma64(m: _Em, x: ir.Value) -> ir.Value:
    neg = m.cmp("<", x, 0.0)
    p = m.sel(neg, m.sub(1.0, x), x)
    t1 = m.sel(neg, m.neg(x), m.sub(x, 1.0))
    pos = _lgamma_pos(m, p, t1)
    # x < 0: lgamma(x) = -log|r| - log(sin(pi r) / (pi r)) - lgamma(1 - x)
    r = m.sub(x, m.rint(x))
    ar = m.abs(r)
    ls = m.mul(m.mul(r, r), m.poly(m.mul(r, r), _LS))
    refl = m.sub(m.neg(m.add(_log(m, m.sel(neg, ar, 1.0)), ls)), pos)
    y = m.sel(neg, refl, pos)
    pole = m.b.or_(m.cmp("==", r, 0.0), m.isinf(x))       # 0, negative integers, +-inf
    y = m.sel(m.b.and_(pole, m.cmp("<=", x, 0.0)), _INF, y)
    y = m.sel(m.cmp("==", x, _INF), _INF, y)
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- digamma


def _digamma_pos(m: _Em, p: ir.Value, t1: ir.Value) -> ir.Value:
    """psi(p) for p > 0; `t1` is p - 1 where p is in [1, 2) (see `_lgamma_pos`)."""
    b = m.b
    small = m.cmp("<", p, 1.0)
    fl = m.floor(p)
    k = m.sel(m.cmp(">=", p, 2.0), m.sub(fl, 1.0), 0.0)
    k = m.sel(m.cmp("<", p, 10.0), k, 0.0)
    y = m.sub(p, k)                                        # in [1, 2) exact
    t = m.sel(small, p, m.sel(m.cmp("<", p, 2.0), t1, m.sub(y, 1.0)))
    core = m.mul(m.sub(m.sub(t, _T0[0]), _T0[1]), m.poly(t, _D))    # psi(1 + t)
    # p < 1: psi(p) = psi(1 + p) - 1/p
    rh, rl = _recip(m, m.sel(small, p, 1.0))
    low = m.sub(m.sub(core, rl), rh)
    # [2, 10): psi(y) + sum_{j < k} 1/(y + j), the sum as hi + lo
    sh, sl = m.c(0.0), m.c(0.0)
    for j in reversed(range(8)):
        on = m.cmp("<", m.c(float(j)), k)
        vh, vl = _recip(m, m.add(y, float(j)))
        sh, e = m.two_sum(sh, m.sel(on, vh, 0.0))
        sl = m.add(sl, m.add(e, m.sel(on, vl, 0.0)))
    hh, he = m.two_sum(sh, core)
    mid = m.add(hh, m.add(he, sl))
    # p >= 10: log p - 1/(2p) - sum B_2k / (2k p^2k)
    big = m.sel(m.cmp(">=", p, 10.0), p, 10.0)
    z = m.div(1.0, big)
    z2 = m.mul(z, z)
    tail = m.fma(z, 0.5, m.mul(z2, m.poly(z2, _PSI_ASYM)))
    st = m.sub(_log(m, big), tail)
    r = m.sel(small, low, mid)
    return m.sel(b.not_(m.cmp("<", p, 10.0)), st, r)


def _digamma64(m: _Em, x: ir.Value) -> ir.Value:
    neg = m.cmp("<", x, 0.0)
    p = m.sel(neg, m.sub(1.0, x), x)
    t1 = m.sel(neg, m.neg(x), m.sub(x, 1.0))
    pos = _digamma_pos(m, p, t1)
    # x < 0: psi(x) = psi(1 - x) - pi cot(pi r), r = x - rint(x), |r| <= 1/2
    r = m.sub(x, m.rint(x))
    u = m.sub(0.5, m.abs(r))                               # exact
    num, den = m.mul(u, _sinpi_over(m, u)), m.mul(r, _sinpi_over(m, r))
    cot = m.div(num, den)
    cot = m.add(cot, m.div(m.fma(m.neg(cot), den, num), den))    # the quotient's residual
    far = m.sub(pos, m.mul(cot, _PI))
    # |r| < 1/4: pi cot(pi r) = 1/r + r C(r^2), 1/r as hi + lo (near the poles it dominates)
    rr = m.sel(m.cmp("<", m.abs(r), 0.25), r, 0.25)
    rh, rl = _recip(m, rr)
    near = m.sub(m.sub(m.sub(pos, m.mul(rr, m.poly(m.mul(rr, rr), _COT))), rl), rh)
    y = m.sel(m.cmp("<", m.abs(r), 0.25), near, far)
    y = m.sel(neg, y, pos)
    pole = m.b.or_(m.cmp("==", r, 0.0), m.isinf(x))
    y = m.sel(m.b.and_(pole, m.cmp("<=", x, 0.0)), _NAN, y)
    y = m.sel(m.cmp("==", x, _INF), _INF, y)
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- entry points


def _in_double(m: _Em, fn: Callable[..., ir.Value], *xs: ir.Value) -> ir.Value:
    """fn(*xs) in float64 lanes, rounded once to the operands' type."""
    if m.is64:
        return fn(m, *xs)
    d = ir.DoubleType()
    return m.b.fptrunc(fn(_Em(m.b, d), *(m.b.fpext(x, d) for x in xs)), m.ty)


def _lgamma(m: _Em, x: ir.Value) -> ir.Value:
    return _in_double(m, _lgamma64, x)


def _digamma(m: _Em, x: ir.Value) -> ir.Value:
    return _in_double(m, _digamma64, x)


#: name -> (number of arguments, emitter), merged into `mathlib.FUNCTIONS`.
FUNCTIONS: dict[str, tuple[int, Callable[..., ir.Value]]] = {
    "lgamma": (1, _lgamma), "digamma": (1, _digamma),
}
