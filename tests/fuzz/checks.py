"""The differential checks shared by the fuzz script (`tests/fuzz/fuzz.py`) and the bounded
run in the suite (`tests/test_fuzz.py`).

`forward_case()` and `gradient_case()` are the hypothesis strategies of what is checked:
random programs (`tests/strategies.py`) over every primitive, in float32, float64, int and
bool mixes, small high-rank or long (hundreds of elements) shapes, with or without special
values (NaN, inf, -0.0, 1e30, subnormals, the extreme integers) in constants and inputs;
and smooth, guarded float64 programs for gradients.

For one random program `fn` and its inputs:

- `check_forward`: the reference interpreter on `fn` is the oracle. Against it: the
  interpreter on `optimize(fn)` (the pipeline preserves results bit for bit), native code of
  `optimize(fn)` and of `fn` itself, and native code called on strided, reversed, Fortran,
  misaligned and read-only views of the inputs (bit-identical to the contiguous call, and
  the views are never written). The printed text must parse back to `fn`.
- `check_gradients`: for a smooth float64 program, VJPs at order 1 and 2 against central
  finite differences (`tests/gradcheck.py`), once evaluated by the interpreter and once by
  native code of the gradient Function (itself compiled from IR built by the autodiff
  pass).

Tolerance. Native code is allowed to round differently from NumPy: vector math is within
4 ulp (`codegen/mathlib.py`), sums and products are blocked, and fast-math `reassoc` and
`contract` allow fused multiply-adds and reordered chains. How far that can move a result
depends on the program (cancellation, an `exp` of a large value, a `floor` right at an
integer), so the tolerance is measured, not guessed: `NoisyInterpreter` re-runs the
program with every inexact operation perturbed by a few ulp (the inputs of sums, products
and matmuls too, which is how cancellation shows; and by a few subnormals where a result
can underflow), and an element is accepted if it lies
within the range spanned by the reference and the noisy runs, widened by `SAFETY` times
that range plus DESIGN.md's base tolerance (float64 rtol 1e-12, float32 rtol 1e-5) and a
few ulp of the result's magnitude. Integers, booleans, NaN and inf must match exactly
unless a noisy run shows them to be rounding-sensitive. A suspected mismatch is re-judged
with many more noisy runs (same noise, same tolerance: a rare rounding that flips a
comparison or a `floor` shows up in some of them) before it is reported; if those explain
it, it is counted as `unstable` (too ill-conditioned to judge), never as a pass or a bug.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from tracejit.codegen import compile_function
from tracejit.codegen.inline import inline_calls
from tracejit.ir import Builder, Function, Value, interpreting
from tracejit.ir.core import type_of
from tracejit.ir.interp import NumpyInterpreter, evaluate, run
from tracejit.ir.parser import parse
from tracejit.ir.passes import optimize
from tracejit.ir.printer import print_function
from tracejit.ir.verify import verify

from tests.gradcheck import check_grads, ir_vjp_of, on_numpy
from tests.strategies import BOOL, F32, F64, FLOATS, INTS, SMOOTH_PRIMS, programs, random_inputs

# Compile every program afresh: what is under test is the compiler, not the disk cache
# (which keys object code by IR text and version, so it would replay code compiled before
# a lowering changed).
_NO_CACHE = {"cache": False} if "cache" in inspect.signature(compile_function).parameters \
    else {}


def native(fn: Function) -> Any:
    return compile_function(fn, **_NO_CACHE)


# ------------------------------------------------------------------------- tolerances

BASE_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
SAFETY = 4.0
N_NOISY = 4          # noisy runs per program
N_CONFIRM = 32       # more noisy runs before a mismatch is reported
#: Per-operation noise in ulp: vector math (4 ulp bound plus NumPy's own error), and
#: arithmetic that fast-math may fuse or reorder.
K_MATH = 8.0
K_ARITH = 4.0
MATH = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic",
                  "softplus", "pow"})
ARITH = frozenset({"add", "sub", "mul", "div", "sqrt", "reduce_sum", "reduce_prod",
                   "matmul"})
#: Operations whose inputs are perturbed too: their internal roundings scale with the
#: magnitude of the inputs, not of the result.
NOISY_INPUTS = frozenset({"reduce_sum", "reduce_prod", "matmul"})
#: Operations that can underflow: below the normal range an error is absolute (up to the
#: smallest subnormal per rounding, so a product taken in another order may be -1e-45
#: where NumPy's is -0.0), which relative noise cannot show. (Sums and differences never
#: round in the subnormal range.)
UNDERFLOW = MATH | {"mul", "div", "reduce_prod", "matmul"}


class NoisyInterpreter(NumpyInterpreter):
    """The reference interpreter with every inexact float result (and the inputs of sums,
    products and matmuls) multiplied by `1 + d * eps`, `d` uniform in [-k, k]."""

    def __init__(self, rng: np.random.Generator, scale: float = 1.0):
        self.rng = rng
        self.scale = scale

    def jitter(self, a: Any, k: float, underflow: bool = False) -> Any:
        """`a * (1 + d eps)`, plus `e * smallest subnormal` (e uniform in [-k, k]) where
        `underflow`."""
        a = np.asarray(a)
        if a.dtype.kind != "f" or a.size == 0:
            return a
        info = np.finfo(a.dtype)
        d = self.rng.uniform(-k, k, a.shape) * self.scale * info.eps
        with np.errstate(all="ignore"):
            r = a.astype(np.float64) * (1.0 + d)
            if underflow:
                r = r + self.rng.uniform(-k, k, a.shape) * float(info.smallest_subnormal)
            return np.asarray(r, a.dtype)

    def apply(self, prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
        if prim.name in NOISY_INPUTS:
            args = [self.jitter(a, K_ARITH) for a in args]
        out = super().apply(prim, args, params)
        k = K_MATH if prim.name in MATH else K_ARITH if prim.name in ARITH else 0.0
        if not k:
            return out
        tiny = prim.name in UNDERFLOW
        if isinstance(out, tuple):
            return tuple(self.jitter(o, k, tiny) for o in out)
        return self.jitter(out, k, tiny)


def noisy_runs(fn: Function, args: Sequence[np.ndarray], n: int, seed: int,
               scale: float = 1.0) -> list[list[np.ndarray]]:
    """`n` evaluations of `fn` (calls inlined, so callees are perturbed too)."""
    flat = inline_calls(fn)
    out = []
    for k in range(n):
        interp = NoisyInterpreter(np.random.default_rng([seed, k]), scale)
        with interpreting(interp):
            out.append([np.asarray(r) for r in run(flat, list(args))])
    return out


def compare(got: Any, ref: np.ndarray, noisy: Sequence[np.ndarray], safety: float = SAFETY
            ) -> str | None:
    """None if `got` is acceptable (see the module docstring), else a description of the
    first bad element."""
    ref = np.asarray(ref)
    if not isinstance(got, np.ndarray):
        return f"got a {type(got).__name__}, expected an ndarray"
    if got.shape != ref.shape or got.dtype != ref.dtype:
        return f"got {got.dtype}{list(got.shape)}, expected {ref.dtype}{list(ref.shape)}"
    if ref.size == 0:
        return None
    runs = np.stack([ref] + [np.asarray(n, ref.dtype) for n in noisy])
    if ref.dtype.kind != "f":
        lo, hi = runs.min(axis=0), runs.max(axis=0)
        bad = (got < lo) | (got > hi)
        return _describe(bad, got, ref, lo, hi) if bad.any() else None
    with np.errstate(all="ignore"):
        nan = np.isnan(runs)
        any_nan = nan.any(axis=0)
        finite = np.where(nan, np.nan, runs)
        lo = np.nanmin(np.where(np.isnan(finite), np.inf, finite), axis=0)
        hi = np.nanmax(np.where(np.isnan(finite), -np.inf, finite), axis=0)
        all_nan = nan.all(axis=0)
        mag = np.maximum(np.abs(lo), np.abs(hi))
        mag = np.where(np.isfinite(mag), mag, 0.0)
        finite_ref = ref[np.isfinite(ref)]
        scale = float(np.max(np.abs(finite_ref))) if finite_ref.size else 0.0
        eps = float(np.finfo(ref.dtype).eps)
        tol = BASE_RTOL[ref.dtype] * mag + safety * (hi - lo) + 4 * eps * scale
        g = got
        ok_nan = np.isnan(g) & any_nan
        ok_inf = np.isinf(g) & ((g == lo) | (g == hi))
        ok_fin = np.isfinite(g) & ~all_nan & (g >= lo - tol) & (g <= hi + tol)
        bad = ~(ok_nan | ok_inf | ok_fin)
    return _describe(bad, got, ref, lo, hi) if bad.any() else None


def _describe(bad: np.ndarray, got: np.ndarray, ref: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> str:
    j = tuple(int(k) for k in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} elements differ; first at {j}: got {got[j]!r}, "
            f"reference {ref[j]!r} (noisy runs span [{lo[j]!r}, {hi[j]!r}])")


# ------------------------------------------------------------------------- drawing

DTYPE_SETS = [FLOATS, (F32,), (F64,), FLOATS + INTS, FLOATS + INTS + (BOOL,)]
#: (min_dim, max_dim, max_rank, max_size): long vectors and big matrices (vector loops and
#: their scalar remainders; listed twice, so over half the programs have arrays of 100
#: elements or more), small high-rank tensors, medium ones.
SHAPES = [(100, 300, 1, 1200), (5, 45, 2, 2500), (100, 300, 1, 1200), (5, 45, 2, 2500),
          (1, 4, 3, 256), (1, 13, 2, 1024)]
#: Smooth primitives, less `stop_gradient`: finite differences see through it, by design
#: its VJP does not.
GRAD_PRIMS = SMOOTH_PRIMS - {"stop_gradient"}
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-40, 88.0, -104.0])


@st.composite
def forward_case(draw: Any, regions: float = 0.1) -> tuple[Any, list[np.ndarray], int]:
    """A random program of any primitives and inputs for it (maybe with special values);
    `regions`: the share of operations drawn among `while`, `scan` and `cond`."""
    dtypes = draw(st.sampled_from(DTYPE_SETS))
    min_dim, max_dim, max_rank, max_size = draw(st.sampled_from(SHAPES))
    special = draw(st.booleans())
    fn = draw(programs(dtypes=dtypes, max_instrs=draw(st.integers(4, 16)), max_dim=max_dim,
                       max_rank=max_rank, max_size=max_size, special_values=special,
                       safe=draw(st.booleans()), min_dim=min_dim, regions=regions))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([2.0, 2.0, 30.0]))
    args = random_inputs(fn, rng, -scale, scale)
    if special:
        for a in args:
            if a.dtype.kind in "fi" and a.size and rng.random() < 0.5:
                idx = rng.random(a.shape) < 0.1
                pool = SPECIALS if a.dtype.kind == "f" else _int_specials(a.dtype)
                a[idx] = pool[rng.integers(0, len(pool), int(idx.sum()))]
    return fn, args, seed


def _int_specials(dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.array([info.min, info.max, info.min + 1, -1, 0, 1 << (info.bits - 2)], dtype)


@st.composite
def gradient_case(draw: Any, regions: float = 0.1) -> tuple[Any, list[np.ndarray], int]:
    """A smooth, guarded float64 program with small inputs (finite differences are one
    evaluation per element)."""
    fn = draw(programs(dtypes=(F64,), allow=GRAD_PRIMS, safe=True, max_instrs=6,
                       max_params=2, max_dim=3, max_rank=2, max_size=12, name="g",
                       regions=regions)
              .filter(lambda f: len(f.params) > 0))
    seed = draw(st.integers(0, 2**32 - 1))
    return fn, random_inputs(fn, np.random.default_rng(seed)), seed


# ------------------------------------------------------------------------- reports


def text_of(fn: Function | str) -> str:
    """A program as text: a Function's IR, or the source of a Python program
    (`tests/fuzz/pyprogs.py`)."""
    return fn if isinstance(fn, str) else print_function(fn)


@dataclass
class Mismatch:
    kind: str
    message: str
    fn: Function | str     # the IR program, or a Python program's source
    args: list[np.ndarray]

    def key(self) -> str:
        h = hashlib.sha1(text_of(self.fn).encode())
        for a in self.args:
            h.update(np.ascontiguousarray(a).tobytes())
        return f"{self.kind}-{h.hexdigest()[:12]}"


@dataclass
class Report:
    programs: int = 0
    py_programs: int = 0      # of `programs`, compiled Python programs
    control_programs: int = 0  # of those, control-flow programs (`pycontrol.py`)
    grad_programs: int = 0
    checks: int = 0
    unstable: int = 0
    duplicates: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    on_mismatch: Callable[[Mismatch], None] | None = None
    on_unstable: Callable[[Mismatch], None] | None = None
    seen: set[str] = field(default_factory=set)

    def too_unstable(self, kind: str, message: str, fn: Function | str,
                     args: Sequence[np.ndarray]) -> None:
        """Count a case too ill-conditioned to judge (and hand it to `on_unstable`)."""
        self.unstable += 1
        if self.on_unstable is not None:
            self.on_unstable(Mismatch(kind, message, fn, [np.array(a) for a in args]))

    def fail(self, kind: str, message: str, fn: Function | str, args: Sequence[np.ndarray]) -> None:
        """Record a mismatch (a second one of the same kind, program and inputs, which
        hypothesis sometimes draws again, only counts as a duplicate)."""
        m = Mismatch(kind, message, fn, [np.array(a, copy=True) for a in args])
        if m.key() in self.seen:
            self.duplicates += 1
            return
        self.seen.add(m.key())
        self.mismatches.append(m)
        if self.on_mismatch is not None:
            self.on_mismatch(m)

    def crashed(self, kind: str, fn: Function | str, args: Sequence[np.ndarray]) -> None:
        self.fail(kind, "raised " + traceback.format_exc(limit=-6), fn, args)

    def merge(self, other: Report) -> None:
        self.programs += other.programs
        self.py_programs += other.py_programs
        self.control_programs += other.control_programs
        self.grad_programs += other.grad_programs
        self.checks += other.checks
        self.unstable += other.unstable
        self.duplicates += other.duplicates
        self.mismatches += other.mismatches


def save(m: Mismatch, directory: str) -> str:
    """Write `<kind>-<hash>.ir` (the printer's text, the message as `//` comments, so it
    parses back) and `.npz` (the inputs, `arg0`, `arg1`, ...); or, for a Python program,
    `<kind>-<hash>.py` (its source, the message as `#` comments). Returns the path."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, m.key())
    if isinstance(m.fn, str):
        comment = "".join(f"# {line}\n" for line in f"{m.kind}: {m.message}".splitlines())
        with open(base + ".py", "w") as f:
            f.write(comment + m.fn)
        return base + ".py"
    comment = "".join(f"// {line}\n" for line in f"{m.kind}: {m.message}".splitlines())
    with open(base + ".ir", "w") as f:
        f.write(comment + print_function(m.fn) + "\n")
    np.savez(base + ".npz", **{f"arg{i}": a for i, a in enumerate(m.args)})
    return base + ".ir"


def load(path: str) -> tuple[Function, list[np.ndarray]]:
    """A saved failure: the Function (the last in the file) and its inputs."""
    with open(path) as f:
        fn = parse(f.read())
    with np.load(path[:-3] + ".npz") as z:
        args = [z[f"arg{i}"] for i in range(len(z.files))]
    return fn, args


# ------------------------------------------------------------------------- forward checks


class _Oracle:
    """The reference results of one program and the noisy runs that bound rounding."""

    def __init__(self, fn: Function, args: Sequence[np.ndarray], seed: int):
        self.fn, self.args, self.seed = fn, list(args), seed
        self.ref = evaluate(fn, self.args)
        self.noisy = noisy_runs(fn, self.args, N_NOISY, seed)
        self._confirm: list[list[np.ndarray]] | None = None

    def check(self, got: Sequence[Any], report: Report, kind: str, fn: Function | None = None
              ) -> bool:
        report.checks += 1
        if len(got) != len(self.ref):
            report.fail(kind, f"{len(got)} results, expected {len(self.ref)}",
                        fn or self.fn, self.args)
            return False
        for k, (g, r) in enumerate(zip(got, self.ref)):
            err = compare(g, r, [n[k] for n in self.noisy])
            if err is None:
                continue
            if self._confirm is None:
                self._confirm = noisy_runs(self.fn, self.args, N_CONFIRM, self.seed + 1)
            if compare(g, r, [n[k] for n in self.noisy + self._confirm]) is None:
                report.too_unstable(kind, f"result {k}: {err}", fn or self.fn, self.args)
                continue
            report.fail(kind, f"result {k}: {err}", fn or self.fn, self.args)
            return False
        return True


def views(args: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Equal-valued inputs in unusual layouts: every other element of a bigger buffer,
    negative strides, Fortran order, a byte offset of 1 (misaligned), read-only."""
    out = []
    for a in args:
        kind = rng.integers(0, 5) if a.ndim else 4
        if kind == 0:      # strided: every other element along each axis
            big = np.zeros(tuple(2 * d + 1 for d in a.shape), a.dtype)
            v = big[tuple(slice(1, None, 2) for _ in a.shape)]
        elif kind == 1:    # negative strides
            v = np.zeros(a.shape, a.dtype)[tuple(slice(None, None, -1) for _ in a.shape)]
        elif kind == 2:    # Fortran order
            v = np.zeros(a.shape, a.dtype, order="F")
        elif kind == 3:    # misaligned: at byte offset 1 of a uint8 buffer
            buf = np.zeros(a.nbytes + 1, np.uint8)
            v = buf[1:].view(a.dtype).reshape(a.shape)
        else:              # read-only (and 0-d)
            v = np.array(a, copy=True)
        v[...] = a
        v.flags.writeable = False
        out.append(v)
    return out


def check_forward(fn: Function, args: Sequence[np.ndarray], report: Report, seed: int = 0,
                  native_raw: bool = True, layouts: bool = True) -> None:
    """All forward checks of one program (module docstring)."""
    report.programs += 1
    args = [np.asarray(a) for a in args]
    try:
        with np.errstate(all="ignore"):
            oracle = _Oracle(fn, args, seed)
    except Exception:  # noqa: BLE001  (any exception is a finding)
        report.crashed("interp", fn, args)
        return

    # The text form is what failures are saved as: it must round-trip.
    report.checks += 1
    try:
        if parse(print_function(fn)) != fn:
            report.fail("roundtrip", "parse(print(fn)) != fn", fn, args)
    except Exception:  # noqa: BLE001  (any exception is a finding)
        report.crashed("roundtrip", fn, args)

    try:
        opt = optimize(fn)
        verify(opt)
    except Exception:  # noqa: BLE001  (any exception is a finding)
        report.crashed("optimize", fn, args)
        return
    try:
        with np.errstate(all="ignore"):
            got = evaluate(opt, args)
        # The passes rewrite only what is exact in IEEE arithmetic and fold with the same
        # NumPy code, so the interpreter must give the same bits (signed zeros included).
        report.checks += 1
        bad = [k for k, (g, r) in enumerate(zip(got, oracle.ref)) if not _same(g, r)]
        if bad:
            k = bad[0]
            report.fail("optimize", f"result {k} changed: {oracle.ref[k]!r} became "
                        f"{got[k]!r}", fn, args)
    except Exception:  # noqa: BLE001  (any exception is a finding)
        report.crashed("optimize", fn, args)

    for what, f in [("native", opt)] + ([("native-unoptimized", fn)] if native_raw else []):
        before = [np.array(a, copy=True) for a in args]
        try:
            exe = native(f)
            got = exe(*args)
        except Exception:  # noqa: BLE001  (any exception is a finding)
            report.crashed(what, fn, args)
            continue
        if not oracle.check(got, report, what, fn):
            continue
        report.checks += 1
        if not all(_same(a, b) for a, b in zip(args, before)):
            report.fail(what, "an input was modified", fn, before)
            continue
        if not layouts or what != "native":
            continue
        report.checks += 1
        vs = views(args, np.random.default_rng(seed))
        try:
            got_v = exe(*vs)
        except Exception:  # noqa: BLE001  (any exception is a finding)
            report.crashed("layout", fn, args)
            continue
        bad = [k for k, (x, y) in enumerate(zip(got_v, got)) if not _same(x, y)]
        if bad or not all(_same(v, a) for v, a in zip(vs, args)):
            layouts_ = ", ".join(_layout(v) for v in vs)
            report.fail("layout", f"results {bad} differ (or an input changed) when the "
                        f"inputs are views ({layouts_})", fn, args)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, dtypes and bits (NaN payloads aside)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        keep = ~np.isnan(a)
        return bool(np.array_equal(a, b, equal_nan=True)
                    and np.array_equal(np.signbit(a[keep]), np.signbit(b[keep])))
    return bool(np.array_equal(a, b))


def _layout(v: np.ndarray) -> str:
    if not v.flags.aligned:
        return "misaligned"
    if v.ndim and any(s < 0 for s in v.strides):
        return "negative strides"
    if v.flags.f_contiguous and not v.flags.c_contiguous:
        return "Fortran"
    if not v.flags.c_contiguous:
        return "strided"
    return "read-only"


# ------------------------------------------------------------------------- gradients


def as_python(fn: Function) -> Callable[..., Any]:
    """`fn` as a Python function of its parameters, through `bind` (so it is traceable)."""
    def f(*xs: Any) -> Any:
        outs = run(fn, list(xs))
        return outs[0] if len(outs) == 1 else tuple(outs)
    return f


def native_vjp_of(f: Callable[..., Any]) -> Callable[..., list[Any]]:
    """Like `tests.gradcheck.ir_vjp_of`, but called on arrays it runs native code of one
    Function `(x..., seed...) -> cotangents` traced from the IR VJP (so forward residuals
    and gradient are compiled together, as in a compiled function with a tape). Called
    on IR Values (tracing a higher order) it is `ir_vjp_of`, so it can be differentiated."""
    ir = ir_vjp_of(f)
    cache: dict[tuple[Any, ...], tuple[Any, list[bool]]] = {}

    def f_vjp(*args: Any, seed: Any) -> list[Any]:
        seeds = list(seed) if isinstance(seed, tuple) else [seed]
        if any(isinstance(a, Value) for a in [*args, *seeds]):
            return ir(*args, seed=seed)
        types = tuple(type_of(np.asarray(a)) for a in [*args, *seeds])
        hit = cache.get(types)
        if hit is None:
            b = Builder("vjp")
            ps = [b.param(t) for t in types]
            n = len(args)
            with interpreting(b):
                cts = ir(*ps[:n], seed=tuple(ps[n:]) if isinstance(seed, tuple) else ps[n])
            mask = [c is not None for c in cts]
            g = b.build([c for c in cts if c is not None])
            hit = cache[types] = (native(optimize(g)), mask)
        exe, mask = hit
        outs = iter(exe(*[np.asarray(a) for a in [*args, *seeds]]))
        return [next(outs) if m else None for m in mask]

    return on_numpy(f_vjp)


def check_gradients(fn: Function, args: Sequence[np.ndarray], report: Report, order: int = 2,
                    seed: int = 0) -> None:
    """VJPs of a smooth float64 program at orders 1..`order`, by the interpreter and by
    native code, against central finite differences.

    A failing check is retried with finite-difference steps 100x larger and 10x smaller:
    a wrong rule is off by O(|gradient|) at every step, while a function too curved or too
    flat for the default step passes at another one (counted as `unstable`)."""
    args = [np.asarray(a) for a in args]
    if not any(a.dtype == np.float64 and a.size for a in args):
        return
    report.grad_programs += 1
    f = on_numpy(as_python(fn))
    for kind, vjp_of in [("grad-interp", ir_vjp_of), ("grad-native", native_vjp_of)]:
        report.checks += order
        try:
            with np.errstate(all="ignore"):
                check_grads(f, args, vjp_of, order=order, rng=np.random.default_rng(seed))
            continue
        except AssertionError as e:
            err = str(e).split("\nanalytic:")[0]
        except Exception:  # noqa: BLE001  (any exception is a finding)
            report.crashed(kind, fn, args)
            continue
        for step in (1e-4, 1e-7):
            try:
                with np.errstate(all="ignore"):
                    check_grads(f, args, vjp_of, order=order, step=step,
                                rng=np.random.default_rng(seed))
                report.too_unstable(kind, f"passes with step {step}: {err}", fn, args)
                break
            except Exception:  # noqa: BLE001, S112  (any exception is a finding)
                continue
        else:
            report.fail(kind, err, fn, args)
