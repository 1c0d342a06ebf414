"""The exponential and logarithm families of the vector-math library: ``exp``, ``expm1``,
``log``, ``log1p``, the functions composed of them (``tanh``, ``logistic``, ``softplus``)
and ``pow``.

Each emitter takes an `MathEmitter` and scalar values and returns the result, as straight-line
code (the contract of `mathlib`, which dispatches to them), e.g. ``y = exp(m, x)``.

Methods. ``exp``: ``x = n ln2 + r`` (``n ln2_hi`` is exact inside an ``fma``), a
polynomial for ``e^r - 1``, then ``2^n``: on AVX-512 hosts one ``vscalef`` (``llvm.ldexp``,
`MathEmitter.scale`), which rounds a subnormal result once; elsewhere (the generic code,
where ``ldexp`` would be a C library call) the rounding of ``r`` is carried to first order
and ``2^n`` is applied in two halves, each a normal power of two.
``log``: ``x = 2^k m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` read off the bits
(subnormal ``x`` rescaled first), ``f = m - 1`` exact; float64:
``log(m) = 2s + s R(s^2) = f + s (s R(s^2) - f)`` with ``s = f/(2 + f)``; float32: a
polynomial ``f H(f)`` (no division). ``log1p``: the same on ``u = 1 + x`` plus
``err/u`` for the exact rounding error ``err`` of that sum.
``expm1``: ``2 (h (e^r - 1) + (h - 1/2))`` with ``h = 2^(n-1)``, one ``fma``, exact near 0.
``tanh(x) = -t / (t + 2)`` with ``t = e^(-2|x|) - 1 = q (e^r - 1) + (q - 1)``, ``q = 2^n``
(``n`` by a magic-number ``fma``, no float-to-integer conversion, so NaN needs no
select), sign restored by ``copysign``.
``logistic`` and ``softplus`` only evaluate ``exp(-|x|)``:
``logistic = (x >= 0 ? 1 : e) / (1 + e)``, ``softplus = max(x, 0) + log1p(e)``.
``pow``: ``|x|^y = exp(y log|x|)`` where ``log|x|`` and the product ``y log|x|`` are
unevaluated sums hi + lo (double-double for float64, float-float for float32), so the
error of ``log`` is not multiplied by ``|y log x|`` (up to ~745); then NumPy's (C99's)
special cases by ``select``: ``pow(x, 0) = 1`` and ``pow(1, y) = 1`` even for NaN,
``pow(-1, +-inf) = 1``, a negative base with an odd integer exponent gives the negative
result (``pow(-0.0, -1) = -inf``), a finite negative base with a finite non-integer
exponent gives NaN.
"""
from __future__ import annotations

from llvmlite import ir

from .mathcore import MathEmitter, Num

# ---------------------------------------------------------------- exp family


def _clamp(m: MathEmitter, x: ir.Value, lo_bound: float) -> ir.Value:
    """x clamped to [lo_bound, exp_hi]; ordered compares send NaN to the bound (callers
    select NaN back at the end)."""
    xc = m.sel(m.cmp("<=", x, m.k.exp_hi), x, m.k.exp_hi)
    return m.sel(m.cmp(">=", xc, lo_bound), xc, lo_bound)


def exp_reduce(m: MathEmitter, x: ir.Value, lo_bound: float,
                lo: ir.Value | None = None) -> tuple[ir.Value, ir.Value]:
    """x (+ lo) = n ln2 + r with x clamped to [lo_bound, exp_hi]: returns n as an integer
    and e^r - 1."""
    n, em1 = _reduce(m, x, lo_bound, lo)
    return m.to_int(n), em1


def _reduce(m: MathEmitter, x: ir.Value, lo_bound: float,
            lo: ir.Value | None = None) -> tuple[ir.Value, ir.Value]:
    """`exp_reduce` with n as a float."""
    k = m.k
    xc = _clamp(m, x, lo_bound)
    n = m.rint(m.mul(xc, k.log2e))
    nn = m.neg(n)
    r_hi = m.fma(nn, k.ln2_hi, xc)           # exact: the difference fits the format
    r_lo = m.fma(nn, k.ln2_lo, 0.0 if lo is None else lo)
    r = m.add(r_hi, r_lo)
    r_err = m.sub(r_lo, m.sub(r, r_hi))         # what the rounding of r dropped
    em1 = m.fma(m.mul(r, r), m.poly(r, k.P), r)
    em1 = m.fma(em1, r_err, m.add(em1, r_err))  # e^(r + d) - 1 ~ em1 + d (1 + em1)
    return n, em1


def exp(m: MathEmitter, x: ir.Value, lo: ir.Value | None = None) -> ir.Value:
    if lo is None and m.avx512:
        # r = x - n ln2 rounds once (n ln2_hi is exact inside the fma and so is the
        # difference): at most a quarter ulp more than carrying r's error, and 2^n is one
        # vscalef, which rounds a subnormal result once.
        k = m.k
        xc = _clamp(m, x, k.exp_lo)
        n = m.rint(m.mul(xc, k.log2e))
        nn = m.neg(n)
        r = m.fma(nn, k.ln2_lo, m.fma(nn, k.ln2_hi, xc))
        p = m.fma(m.mul(r, r), m.poly(r, k.P), r)
        y = m.scale(m.add(p, 1.0), n)
        return m.sel(m.isnan(x), x, y)
    if m.avx512:
        nf, em1 = _reduce(m, x, m.k.exp_lo, lo)
        return m.sel(m.isnan(x), x, m.scale(m.add(em1, 1.0), nf))
    ni, em1 = exp_reduce(m, x, m.k.exp_lo, lo)
    p = m.add(em1, 1.0)
    # 2^n in two halves: each is a normal number and only the last product rounds.
    n1 = m.b.ashr(ni, m.i(1))
    n2 = m.b.sub(ni, n1)
    y = m.mul(m.mul(p, m.pow2(n1)), m.pow2(n2))
    return m.sel(m.isnan(x), x, y)


def expm1(m: MathEmitter, x: ir.Value) -> ir.Value:
    ni, em1 = exp_reduce(m, x, m.k.expm1_lo)
    # 2^n e^r - 1 = 2 (h em1 + (h - 1/2)) with h = 2^(n-1); h - 1/2 is exact while it matters.
    h = m.pow2(m.b.sub(ni, m.i(1)))
    y = m.mul(2.0, m.fma(h, em1, m.sub(h, 0.5)))
    # Below 2^-(p+1), expm1(x) rounds to x: this keeps -0.0 and the last bit of subnormals,
    # which h em1 with h = 1/2 would round away.
    y = m.sel(m.cmp("<", m.abs(x), 2.0 ** -(m.mant + 2)), x, y)
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- log family


def log_parts(m: MathEmitter, x: ir.Value, normal: bool = False) -> tuple[ir.Value, ir.Value]:
    """x = 2^k m with m in [sqrt(1/2), sqrt(2)), for finite x > 0: returns (k as float, m - 1).

    ``normal=True`` skips the rescaling of subnormal x (for callers whose x is never
    subnormal).
    """
    k = m.k
    xs = x
    # ix = bits(x) - bits(sqrt(1/2)): its arithmetic shift is k (the bias cancels), its
    # low bits plus bits(sqrt(1/2)) are m's bits
    shift: ir.Value = m.i(-k.sqrt_half_bits)
    if not normal:
        sub = m.cmp("<", x, 2.0 ** (-1022 if m.is64 else -126))
        xs = m.sel(sub, m.mul(x, 2.0 ** k.sub_scale), x)
        # the rescaling's exponent comes off in the same integer add
        shift = m.b.select(sub, m.i(-k.sqrt_half_bits - (k.sub_scale << m.mant)), shift)
    ix = m.b.add(m.bits(xs), shift)
    e = m.b.ashr(ix, m.i(m.mant))
    mb = m.b.add(m.b.and_(ix, m.i((1 << m.mant) - 1)), m.i(k.sqrt_half_bits))
    f = m.sub(m.from_bits(mb), 1.0)             # exact (Sterbenz)
    return m.to_float(e), f


def log_kernel(m: MathEmitter, kf: ir.Value, f: ir.Value, c: Num = 0.0) -> ir.Value:
    """k ln2 + log(1 + f) + c, for |f| <= sqrt(2) - 1 and a small correction c."""
    k = m.k
    if not m.is64:
        # float32: log(1+f) = f H(f), no division (a degree-8 H: 2.3 ulp at most; degree 10
        # with f + f^2 G(f) measured 1.0 ulp and took 10% more time). One fma with ln2
        # rounded to float32 suffices: for k != 0 the result is at least ln2/2, so k times
        # ln2's rounding error stays below 0.1 ulp.
        lf = m.mul(f, m.poly(f, k.H)) if isinstance(c, float) and c == 0.0 else \
            m.fma(f, m.poly(f, k.H), c)
        return m.fma(kf, k.ln2_hi, lf)
    s = m.div(f, m.add(f, 2.0))
    z = m.mul(s, s)
    # log(1+f) = 2s + s z T(z) = f + s (z T(z) - f), since 2s = f - s f exactly in real
    # numbers: f is exact and the rounding errors of s (and of 2 + f) only reach the
    # small second term.
    lo = m.mul(kf, k.ln2_lo) if isinstance(c, float) and c == 0.0 else m.fma(kf, k.ln2_lo, c)
    w = m.fma(s, m.fma(z, m.poly(z, k.T), m.neg(f)), lo)
    return m.fma(kf, k.ln2_hi, m.add(f, w))


def log(m: MathEmitter, x: ir.Value) -> ir.Value:
    kf, f = log_parts(m, x)
    y = log_kernel(m, kf, f)
    y = m.sel(m.b.fcmp_unordered("<", x, m.c(0.0)), float("nan"), y)   # x < 0 or NaN
    y = m.sel(m.cmp("==", x, 0.0), float("-inf"), y)
    return m.sel(m.cmp("==", x, float("inf")), x, y)


def log1p(m: MathEmitter, x: ir.Value) -> ir.Value:
    u, err = m.two_sum(m.c(1.0), x)             # u + err == 1 + x exactly
    # u is 0 or at least 2^-(p+1): never subnormal
    kf, f = log_parts(m, u, normal=True)
    y = log_kernel(m, kf, f, m.div(err, u))    # log(u + err) ~ log(u) + err/u
    y = m.sel(m.cmp("==", x, 0.0), x, y)        # keeps -0.0
    y = m.sel(m.cmp("==", u, 0.0), float("-inf"), y)
    y = m.sel(m.b.fcmp_unordered("<", x, m.c(-1.0)), float("nan"), y)  # x < -1 or NaN
    return m.sel(m.cmp("==", x, float("inf")), x, y)



# ---------------------------------------------------------------- composed functions


# 1.5 * 2^p: v + MAGIC rounds v to an integer n left in the low mantissa bits (|n| < 2^22)
MAGIC = {False: 12582912.0, True: 6755399441055744.0}
# tanh clamps -2|x| here: beyond, tanh(x) is +-1 in both types, and 2^n stays normal.
TANH_LO = -40.0


def tanh(m: MathEmitter, x: ir.Value) -> ir.Value:
    """tanh(x) = -t / (t + 2) with t = e^(-2|x|) - 1 = q (e^r - 1) + (q - 1), q = 2^n.

    n comes from one fma with `MAGIC` (no conversion to an integer: NaN flows through as
    bits, and every step is defined for it), r = v - n ln2 by two fmas, so NaN needs no
    select; the sign by ``copysign`` (keeps -0.0); tiny x gives t = -2|x| exactly and
    the quotient rounds to x itself.
    """
    k, b = m.k, m.b
    v = m.mul(m.abs(x), -2.0)
    v = m.sel(m.cmp("<", v, TANH_LO), TANH_LO, v)   # NaN stays NaN
    magic = MAGIC[m.is64]
    nm = m.fma(v, k.log2e, magic)
    nn = m.sub(magic, nm)                           # -n, exact
    r = m.fma(nn, k.ln2_lo, m.fma(nn, k.ln2_hi, v))
    em1 = m.fma(m.mul(r, r), m.poly(r, k.P), r)
    q = m.from_bits(b.shl(b.add(m.bits(nm), m.i(m.bias)), m.i(m.mant)))
    t = m.fma(q, em1, m.sub(q, 1.0))
    return m.copysign(m.div(m.neg(t), m.add(t, 2.0)), x)


def logistic(m: MathEmitter, x: ir.Value) -> ir.Value:
    e = exp(m, m.neg(m.abs(x)))                # never overflows
    return m.div(m.sel(m.cmp(">=", x, 0.0), 1.0, e), m.add(e, 1.0))


def softplus(m: MathEmitter, x: ir.Value) -> ir.Value:
    # max(x, 0) + log1p(e) with e = exp(-|x|) in [0, 1]: log1p specialised to that range.
    e = exp(m, m.neg(m.abs(x)))
    u = m.add(e, 1.0)
    err = m.sub(e, m.sub(u, 1.0))               # exact (fast two-sum, 1 >= e)
    kf, f = log_parts(m, u, normal=True)
    y = m.add(m.sel(m.cmp(">", x, 0.0), x, 0.0), log_kernel(m, kf, f, m.div(err, u)))
    return m.sel(m.isnan(x), x, y)


# ---------------------------------------------------------------- pow


def log_dd(m: MathEmitter, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log(x) as an unevaluated sum hi + lo (double-double or float-float), finite x > 0.

    Its relative error is about 2^-66 in float64 and 2^-35 in float32: enough that
    multiplying it by y, with |y log x| up to the overflow threshold, costs under 0.1 ulp.
    """
    k = m.k
    kf, f = log_parts(m, x)
    d_hi = m.add(f, 2.0)
    d_lo = m.sub(f, m.sub(d_hi, 2.0))           # exact: |f| < 2
    # s = f / d as s_hi + s_lo: one division; s_hi need not be the rounded quotient, the
    # exact residual f - s_hi d_hi (by fma) carries the rest into s_lo
    rcp = m.div(1.0, d_hi)
    s_hi = m.mul(f, rcp)
    s_lo = m.mul(m.sub(m.fma(m.neg(s_hi), d_hi, f), m.mul(s_hi, d_lo)), rcp)
    z_hi = m.mul(s_hi, s_hi)
    z_lo = m.fma(s_hi, s_hi, m.neg(z_hi))
    z_lo = m.fma(m.mul(s_hi, 2.0), s_lo, z_lo)
    s3_hi = m.mul(s_hi, z_hi)
    s3_lo = m.fma(s_hi, z_hi, m.neg(s3_hi))
    s3_lo = m.add(s3_lo, m.fma(s_hi, z_lo, m.mul(s_lo, z_hi)))
    b_hi = m.mul(s3_hi, k.two3_hi)
    b_lo = m.fma(s3_hi, k.two3_hi, m.neg(b_hi))
    b_lo = m.add(b_lo, m.fma(s3_lo, k.two3_hi, m.mul(s3_hi, k.two3_lo)))
    tail = m.mul(m.mul(s3_hi, z_hi), m.poly(z_hi, k.U))
    # log(1+f) = 2s + 2s^3/3 + s^5 U(s^2); |2s| > |2s^3/3| so fast two-sum applies.
    a_hi = m.mul(s_hi, 2.0)
    h = m.add(a_hi, b_hi)
    lo = m.sub(b_hi, m.sub(h, a_hi))
    lo = m.add(lo, m.add(m.add(m.mul(s_lo, 2.0), b_lo), tail))
    # + k ln2, with k ln2_hi_k exact
    h2, e2 = m.two_sum(m.mul(kf, k.ln2_hi_k), h)
    lo = m.add(e2, m.fma(kf, k.ln2_lo_k, lo))
    hi = m.add(h2, lo)
    return hi, m.sub(lo, m.sub(hi, h2))


def pow_abs(m: MathEmitter, ax: ir.Value, y: ir.Value) -> ir.Value:
    """|x|^y for |x| >= 0 and any y: exp(y log|x|) with y log|x| as hi + lo."""
    l_hi, l_lo = log_dd(m, ax)
    l_hi = m.sel(m.cmp("==", ax, 0.0), float("-inf"), l_hi)
    l_hi = m.sel(m.cmp("==", ax, float("inf")), ax, l_hi)
    l_hi = m.sel(m.isnan(ax), ax, l_hi)
    t_hi = m.mul(y, l_hi)
    t_lo = m.fma(y, l_hi, m.neg(t_hi))
    t_lo = m.fma(y, l_lo, t_lo)
    # Only finite, in-range products keep the low part (elsewhere it may be NaN).
    t_lo = m.sel(m.cmp("<", m.abs(t_hi), 1000.0), t_lo, 0.0)
    return exp(m, t_hi, t_lo)


def power(m: MathEmitter, x: ir.Value, y: ir.Value) -> ir.Value:
    return pow_special(m, x, y, pow_abs(m, m.abs(x), y))


def pow_special(m: MathEmitter, x: ir.Value, y: ir.Value, mag: ir.Value) -> ir.Value:
    """x^y from mag = |x|^y computed as exp(y log|x|) (which gives 0 or inf for |x| = 0
    or inf and NaN for NaN): C99's special cases and the sign, by ``select``. Written
    over `MathEmitter` operations only, so vector emitters (`mathvec_ops.VecEmitter`) run
    it on whole vectors."""
    b = m.b
    ax = m.abs(x)
    fy = m.floor(y)
    y_int = m.cmp("==", fy, y)                  # true for +-inf, false for NaN
    half = m.mul(y, 0.5)
    y_odd = b.and_(y_int, m.cmp("!=", m.floor(half), half))
    # |x| = 1 with y = +-inf is 1 (exp(inf * 0) would be NaN).
    mag = m.sel(b.and_(m.cmp("==", ax, 1.0), m.isinf(y)), 1.0, mag)
    x_signed = b.icmp_signed("<", m.bits(x), m.i(0))  # includes -0.0
    r = m.sel(b.and_(x_signed, y_odd), m.neg(mag), mag)
    # finite x < 0 with a finite non-integer y has no real power
    bad = b.and_(b.and_(m.cmp("<", x, 0.0), m.cmp("!=", ax, float("inf"))),
                 m.cmp("!=", fy, y))
    r = m.sel(bad, float("nan"), r)
    r = m.sel(m.cmp("==", x, 1.0), 1.0, r)
    return m.sel(m.cmp("==", y, 0.0), 1.0, r)

