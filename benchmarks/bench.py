#!/usr/bin/env python3
"""tracejit side by side with the tools a user would pick instead: W1-W6, W8, W9.

Run it in an environment that has the peers installed next to tracejit (each peer is
optional: one that does not import is a SKIP row), with this machine's OpenBLAS
overrides removed in this command only (they select a slower kernel in a current
NumPy's OpenBLAS, which both NumPy and tracejit's matmul call):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py [--quick]
        [--only W5,W8]

Workloads (float32 unless said, inputs from a fixed seed; `--only` runs a subset):

  W1   call of a tiny compiled function `x * 2 + 1` on a 1-element array
  W2   sum(tanh(x) * exp(-x*x) + sin(x)**2) and its gradient, 1,000,000 elements;
       tracejit on TRACEJIT_NUM_THREADS threads (default: every CPU the process may
       use) and on one thread (the `, 1 thread` row, for the all-cores target)
  W3   loss and the 4 parameter gradients of a 784-256(tanh)-10 MLP, mean softmax
       cross-entropy, batch 128
  W4a  full Hessian of sum(x**3 * sin(x)), x of 100 elements
  W4b  d2/dx2 of x**3 at x = 1 by nested tapes (nested grad), a scalar
  W5   first call of W3 in a fresh process (trace + compile + run); tracejit cold
       (empty $TRACEJIT_CACHE_DIR), cold function with the GEMM runtime library
       already in the disk cache (what a new function meets once an earlier one
       multiplied matrices), and warm (that directory filled by a previous process;
       measured only when tracejit wrote something there)
  W6   peak RSS (`ru_maxrss`) of a fresh process per peer running 1,000 W3 steps; and
       tracejit's current RSS after 1,000 / 2,000 / 5,000 / 10,000 W3 calls
  W8   vector math: each of sin cos tan tanh exp log log1p expm1 sigmoid softplus erf pow
       sqrt alone in a compiled function (`tj.compile(tj.sin)(x)`, a new result per call),
       1,000,000 elements, float32 and float64, beside NumPy's allocating call on the same
       array (SciPy's expit and erf for sigmoid and erf, np.logaddexp(0, x) for softplus):
       `benchmarks/vecmath_bench.py`'s functions and inputs. ONE THREAD EACH: these rows
       run in a child process with TRACEJIT_NUM_THREADS=1 (NumPy's ufuncs are
       single-threaded), timed there as below with 0.4 x --budget per row (52 rows).
       Errors are in ulp of the result type, against NumPy in float64 (float32 rows) or
       in long double (float64 rows; float64 erf against SciPy's float64 erf)
  W9   one training step of an MLP, batch 32, 64-32-10, tanh, softmax cross-entropy, SGD
       on the four parameters (`benchmarks/mlp_step_bench.py`'s steps: tracejit compiled
       with Variables updated inside the step, hand-written NumPy, PyTorch eager, jax.jit);
       a step changes the parameters, so the first step's loss is checked against float64
       NumPy and the last one (after the timing) must be finite and below it

tracejit's rows are written as a TensorFlow user would write them: `tj.GradientTape`
inside `@tj.compile` functions. W1-W4 and W9 run in ONE process (W8 likewise, in its
child), interleaved within a workload: every row is
timed in each of `--rounds` rounds (the order rotates), so a burst of load from other
processes hits several rows a little rather than one row a lot. A row is warmed up,
then timed in samples of back-to-back calls (each sample >= ~1 ms) with the GC off;
the report is the median and the min over all samples, per call. Each result (first
call and last call) is checked against a float64 NumPy reference: a wrong answer is
MISMATCH and gets no time. Child processes of tracejit (W5, W6) run with compiled
bytecode in a private PYTHONPYCACHEPREFIX, as an installed package has it.

Ratios: `x best` = median / the best non-tracejit median of the workload (in W8: of the
same function and dtype, i.e. tracejit / NumPy); `x jax` = median / the jax.jit median.
Targets (the project's "Speed" issues) are checked at the end. Output: tables, then the
JSON record (`--json`, default benchmarks/results.json for a full run, none for --quick
unless given).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import importlib.metadata as _md
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

# CPU-only, quiet frameworks (the user's own settings win).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:           # W8 and W9 import their scripts' functions
    sys.path.append(HERE)
SEED = 0
F32 = np.float32
TOL = 1e-3                      # max |got - ref| / max |ref| accepted for float32 results
N_W2 = 1_000_000
BATCH, D_IN, D_HID, D_OUT = 128, 784, 256, 10
N_W4 = 100
W6_STEPS = 1_000
W6_GROWTH_CALLS = (1_000, 2_000, 5_000, 10_000)
W6_GROWTH_LIMIT_MIB = 2.0       # "no growth": RSS after 10,000 calls within this of 1,000
W8_DTYPES = ("float32", "float64")
W8_ULP = 4.0                    # issue 21: every function within 4 ulp
W8_WRONG_ULP = 64.0             # beyond: a wrong answer (MISMATCH, no time)
W8_BUDGET_SHARE = 0.4           # each of W8's 52 rows gets this share of --budget

WORKLOADS = ("W1", "W2", "W3", "W4a", "W4b", "W5", "W6", "W8", "W9")
TITLES = {
    "W1": "call of a compiled x * 2 + 1 on a 1-element f32 array",
    "W2": "value + gradient of sum(tanh(x)*exp(-x*x) + sin(x)**2), 1M f32",
    "W3": "MLP 784-256(tanh)-10, batch 128, softmax cross-entropy: loss + 4 gradients",
    "W4a": "full Hessian of sum(x**3 * sin(x)), x: 100 f32",
    "W4b": "d2/dx2 of x**3 at x = 1 by nested tapes, scalar f32",
    "W5": "first call of W3 in a fresh process (trace + compile + run)",
    "W6": "peak RSS of a fresh process running 1,000 W3 steps",
    "W8": "each vector-math function alone, compiled, 1M elements, f32 and f64; one thread "
          "each (TRACEJIT_NUM_THREADS=1)",
    "W9": "MLP training step, batch 32, 64-32-10, tanh, softmax cross-entropy, SGD",
}


class Skip(Exception):
    """This row cannot run here (a peer is not installed, a feature is unavailable)."""


_modules: dict[str, Any] = {}


def need(name: str) -> Any:
    """Import `name` once; raise Skip (with the reason) if that fails."""
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(name)
        except Exception as e:  # noqa: BLE001  (ImportError, or a broken install)
            _modules[name] = Skip(f"{name} not importable: {type(e).__name__}: {str(e)[:100]}")
    m = _modules[name]
    if isinstance(m, Skip):
        raise m
    return m


# ------------------------------------------------------------------------------ data

def make_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    d: dict[str, Any] = {}
    d["w1_x"] = rng.standard_normal(1).astype(F32)
    d["w2_x"] = rng.standard_normal(N_W2).astype(F32)
    d["w3_X"] = rng.standard_normal((BATCH, D_IN)).astype(F32)
    d["w3_y"] = rng.integers(0, D_OUT, size=BATCH).astype(np.int64)
    d["w3_Y"] = np.eye(D_OUT, dtype=F32)[d["w3_y"]]
    d["w3_params"] = (
        (rng.standard_normal((D_IN, D_HID)) / np.sqrt(D_IN)).astype(F32),
        (0.1 * rng.standard_normal(D_HID)).astype(F32),
        (rng.standard_normal((D_HID, D_OUT)) / np.sqrt(D_HID)).astype(F32),
        (0.1 * rng.standard_normal(D_OUT)).astype(F32),
    )
    d["w4a_x"] = rng.uniform(-2, 2, N_W4).astype(F32)
    d["w4b_x"] = F32(1.0)
    d["w9"] = importlib.import_module("mlp_step_bench").data()     # x, y, params
    return d


# ----------------------------------------------------------- float64 references and NumPy

def w2_numpy(x: np.ndarray) -> tuple[Any, np.ndarray]:
    """Value and hand-written gradient of sum(tanh(x)*exp(-x*x) + sin(x)**2)."""
    t = np.tanh(x)
    e = np.exp(-x * x)
    s = np.sin(x)
    value = np.sum(t * e + s * s)
    grad = e * (1 - t * t - 2 * x * t) + 2 * s * np.cos(x)
    return value, grad


def w3_numpy(params: tuple[np.ndarray, ...], X: np.ndarray, y: np.ndarray
             ) -> tuple[Any, tuple[np.ndarray, ...]]:
    """Loss and hand-written backward of the MLP (any float dtype)."""
    W1, b1, W2, b2 = params
    n = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, y])
    dlogits = e / s
    dlogits[rows, y] -= 1
    dlogits /= n
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dz = (dlogits @ W2.T) * (1 - h * h)
    dW1 = X.T @ dz
    db1 = dz.sum(axis=0)
    return loss, (dW1, db1, dW2, db2)


def references(d: dict[str, Any]) -> dict[str, Any]:
    x1 = d["w1_x"].astype(np.float64)
    v2, g2 = w2_numpy(d["w2_x"].astype(np.float64))
    p64 = tuple(p.astype(np.float64) for p in d["w3_params"])
    l3, g3 = w3_numpy(p64, d["w3_X"].astype(np.float64), d["w3_y"])
    x4 = d["w4a_x"].astype(np.float64)
    h4 = np.diag(6 * x4 * np.sin(x4) + 6 * x4 ** 2 * np.cos(x4) - x4 ** 3 * np.sin(x4))
    x9, y9, p9 = d["w9"]
    l9 = importlib.import_module("mlp_step_bench").numpy_step(
        x9.astype(np.float64), y9, [p.astype(np.float64) for p in p9])()
    return {"W1": x1 * 2 + 1, "W2": [v2, g2], "W3": [l3, list(g3)], "W4a": h4,
            "W4b": np.float64(6.0), "W9": np.float64(l9)}


def to_numpy(x: Any) -> Any:
    """A framework tensor, or nested lists/tuples of them, as NumPy."""
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    if hasattr(x, "detach"):                                      # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):     # tf, tracejit
        return x.numpy()
    return np.asarray(x)


def rel_err(got: Any, ref: Any) -> float:
    """max |got - ref| / max(|ref|), over arrays or nested lists of them (inf: bad shape)."""
    if isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(ref):
            return float("inf")
        return max(rel_err(g, r) for g, r in zip(got, ref))
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if g.shape != r.shape:
        if g.size != r.size:
            return float("inf")
        g = g.reshape(r.shape)
    if not np.all(np.isfinite(g)):
        return float("inf")
    scale = max(float(np.max(np.abs(r))), 1e-30)
    return float(np.max(np.abs(g - r))) / scale


def ulp_error(got: Any, ref: Any, dtype: Any) -> float:
    """max |got - ref| in ulp of `dtype` at ref's binade (`ref` in a wider type); equal
    infinities and NaN against NaN count as 0, any other non-finite mismatch as inf."""
    fi = np.finfo(dtype)
    r = np.asarray(ref)
    g = np.asarray(got).astype(r.dtype).reshape(r.shape)
    with np.errstate(all="ignore"):
        _, e = np.frexp(r)
        step = np.ldexp(r.dtype.type(1), np.maximum(e - 1, fi.minexp) - fi.nmant)
        err = np.abs(g - r) / step
    same = (g == r) | (np.isnan(g) & np.isnan(r))
    err = np.where(same, 0.0, np.where(np.isfinite(err), err, np.inf))
    return float(np.max(err)) if err.size else 0.0


# ------------------------------------------------------------------------------ timing

def blas_limit(threads: int | None) -> Any:
    """A context that limits BLAS (OpenBLAS, as NumPy and tracejit's matmul use) to
    `threads` threads; raises Skip without threadpoolctl. None: no change."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise Skip("needs threadpoolctl to limit the BLAS threads") from None
    return threadpool_limits(limits=threads, user_api="blas")


def calibrate(fn: Callable[[], Any], target_s: float = 1e-3) -> int:
    """Calls per sample so that one sample lasts about `target_s`."""
    t0 = time.perf_counter()
    k = 0
    while True:
        fn()
        k += 1
        el = time.perf_counter() - t0
        if el >= 2e-3 or k >= 2000:
            break
    per = el / k
    return max(1, int(target_s / per)) if per < target_s else 1


def sample(fn: Callable[[], Any], number: int, budget_s: float, min_samples: int,
           max_samples: int = 2000) -> list[float]:
    """Per-call seconds of samples of `number` back-to-back calls, GC off."""
    out: list[float] = []
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        deadline = time.perf_counter() + budget_s
        while len(out) < max_samples and (len(out) < min_samples
                                          or time.perf_counter() < deadline):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - t0) / number)
    finally:
        if was:
            gc.enable()
    return out


# ------------------------------------------------------------------------------ rows
# A builder takes the data and returns (fn, post): fn() is one complete, synchronized call
# (what is timed); post(out) turns its result into the reference's structure (not timed).

class Row:
    """One timed row. `group`: rows compared with each other within a workload (W8: one
    function and dtype); `ref`: its key in the references (default: the workload);
    `check(got, ref)` -> error, a MISMATCH above `tol` (`err_unit` names its unit);
    `stateful`: each call changes state (a training step), so after the timing the result
    is checked to be finite and no larger than the first call's instead."""

    def __init__(self, workload: str, name: str, builder: Callable[..., Any],
                 tracejit: bool = False, jax_ref: bool = False, primary: bool = False,
                 blas_threads: int | None = None, group: str = "", ref: str = "",
                 check: Callable[[Any, Any], float] | None = None, tol: float = TOL,
                 err_unit: str = "relative", stateful: bool = False):
        self.workload, self.name, self.builder = workload, name, builder
        self.tracejit, self.jax_ref, self.primary = tracejit, jax_ref, primary
        self.blas_threads = blas_threads
        self.group, self.ref, self.check, self.tol = group, ref or workload, check, tol
        self.err_unit, self.stateful = err_unit, stateful


ROWS: list[Row] = []


def row(workload: str, name: str, **kw: Any) -> Callable[[Callable[..., Any]], Any]:
    def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
        ROWS.append(Row(workload, name, builder, **kw))
        return builder
    return deco


def pair(o: Any) -> list[Any]:
    return [to_numpy(o[0]), to_numpy(o[1])]


def loss_and_grads(o: Any) -> list[Any]:
    return [to_numpy(o[0]), [to_numpy(g) for g in o[1]]]


_torch_compile_ok: list[Any] = []


def need_torch_compile(opts: argparse.Namespace) -> Any:
    """torch.compile on CPU needs a working C++ toolchain: probe it once."""
    torch = need("torch")
    if opts.no_torch_compile:
        raise Skip("torch.compile rows disabled (--no-torch-compile / --quick)")
    if not _torch_compile_ok:
        try:
            torch.compile(lambda x: x + 1)(torch.ones(2))
            _torch_compile_ok.append(None)
        except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
            _torch_compile_ok.append(f"torch.compile unusable: {type(e).__name__}: {str(e)[:120]}")
    if _torch_compile_ok[0] is not None:
        raise Skip(_torch_compile_ok[0])
    return torch


# ---- tracejit: TensorFlow-style user code --------------------------------------------

def tj_w1(tj: Any) -> Any:
    @tj.compile
    def f(x):
        return x * 2 + 1
    return f


def tj_w2(tj: Any) -> Any:
    def value_and_grad(x):
        with tj.GradientTape() as tape:
            tape.watch(x)
            y = tj.reduce_sum(tj.tanh(x) * tj.exp(-x * x) + tj.sin(x) ** 2)
        return y, tape.gradient(y, x)
    return value_and_grad


def tj_w3(tj: Any) -> Any:
    def loss_and_gradients(W1, b1, W2, b2, X, Y):
        params = [W1, b1, W2, b2]
        with tj.GradientTape() as tape:
            tape.watch(params)
            h = tj.tanh(tj.matmul(X, W1) + b1)
            logits = tj.matmul(h, W2) + b2
            loss = tj.reduce_mean(tj.nn.softmax_cross_entropy_with_logits(labels=Y,
                                                                         logits=logits))
        return loss, tape.gradient(loss, params)
    return loss_and_gradients


def tj_w3_variables(tj: Any, params: tuple[np.ndarray, ...]) -> tuple[Any, list[Any]]:
    """The Keras-like way: parameters are Variables the function reads."""
    W1, b1, W2, b2 = (tj.Variable(p) for p in params)

    def loss_and_gradients(X, Y):
        with tj.GradientTape() as tape:
            h = tj.tanh(tj.matmul(X, W1) + b1)
            logits = tj.matmul(h, W2) + b2
            loss = tj.reduce_mean(tj.nn.softmax_cross_entropy_with_logits(labels=Y,
                                                                         logits=logits))
        return loss, tape.gradient(loss, [W1, b1, W2, b2])
    return loss_and_gradients, [W1, b1, W2, b2]


def tj_w4a(tj: Any) -> Any:
    def hessian(x):
        with tj.GradientTape() as outer:
            outer.watch(x)
            with tj.GradientTape() as inner:
                inner.watch(x)
                y = tj.reduce_sum(x ** 3 * tj.sin(x))
            g = inner.gradient(y, x)
        return outer.jacobian(g, x)
    return hessian


def tj_w4b(tj: Any) -> Any:
    def d2(x):
        with tj.GradientTape() as outer:
            outer.watch(x)
            with tj.GradientTape() as inner:
                inner.watch(x)
                y = x ** 3
            g = inner.gradient(y, x)
        return outer.gradient(g, x)
    return d2


# ---- W1 ------------------------------------------------------------------------------

@row("W1", "tracejit.compile (tj.constant input)", tracejit=True, primary=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj_w1(tj), tj.constant(d["w1_x"])
    return (lambda: f(x)), to_numpy


@row("W1", "tracejit.compile (numpy input)", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj_w1(tj), d["w1_x"].copy()
    return (lambda: f(x)), to_numpy


@row("W1", "tracejit eager", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    x = tj.constant(d["w1_x"])
    return (lambda: x * 2 + 1), to_numpy


@row("W1", "numpy")
def _(d: dict, o: Any) -> Any:
    x = d["w1_x"].copy()
    return (lambda: x * 2 + 1), to_numpy


@row("W1", "numba.njit")
def _(d: dict, o: Any) -> Any:
    numba = need("numba")

    @numba.njit
    def f(x):
        return x * np.float32(2) + np.float32(1)
    x = d["w1_x"].copy()
    return (lambda: f(x)), to_numpy


@row("W1", "jax.jit", jax_ref=True)
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f = jax.jit(lambda x: x * 2 + 1)
    x = jax.device_put(d["w1_x"])
    return (lambda: f(x).block_until_ready()), to_numpy


@row("W1", "jax.jit (numpy input)")
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f = jax.jit(lambda x: x * 2 + 1)
    x = d["w1_x"].copy()
    return (lambda: f(x).block_until_ready()), to_numpy


@row("W1", "torch eager")
def _(d: dict, o: Any) -> Any:
    torch = need("torch")
    x = torch.from_numpy(d["w1_x"].copy())
    return (lambda: x * 2 + 1), to_numpy


@row("W1", "torch.compile")
def _(d: dict, o: Any) -> Any:
    torch = need_torch_compile(o)
    f = torch.compile(lambda x: x * 2 + 1)
    x = torch.from_numpy(d["w1_x"].copy())
    return (lambda: f(x)), to_numpy


@row("W1", "tf.function")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    f = tf.function(lambda x: x * 2 + 1)
    x = tf.constant(d["w1_x"])
    return (lambda: f(x)), to_numpy


@row("W1", "tf eager")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    x = tf.constant(d["w1_x"])
    return (lambda: x * 2 + 1), to_numpy


# ---- W2 ------------------------------------------------------------------------------

@row("W2", "tracejit.compile GradientTape", tracejit=True, primary=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj.compile(tj_w2(tj)), tj.constant(d["w2_x"])
    return (lambda: f(x)), pair


@row("W2", "tracejit.compile GradientTape, 1 thread", tracejit=True)
def _(d: dict, o: Any) -> Any:
    # The primary row runs on TRACEJIT_NUM_THREADS threads (default: every CPU the
    # process may use); this one on the calling thread alone, for the ratio of the two.
    tj = need("tracejit")
    from tracejit.codegen import runtime
    f, x = tj.compile(tj_w2(tj)), tj.constant(d["w2_x"])

    def one_thread() -> Any:
        old = runtime.set_pool_threads(1)
        try:
            return f(x)
        finally:
            runtime.set_pool_threads(old)
    return one_thread, pair


@row("W2", "tracejit eager GradientTape", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj_w2(tj), tj.constant(d["w2_x"])
    return (lambda: f(x)), pair


@row("W2", "numpy (hand-written gradient)")
def _(d: dict, o: Any) -> Any:
    x = d["w2_x"]
    return (lambda: w2_numpy(x)), pair


def numba_w2(parallel: bool) -> Any:
    numba = need("numba")
    one, two = np.float32(1), np.float32(2)
    loop = numba.prange if parallel else range

    @numba.njit(parallel=parallel, fastmath=False)
    def value_and_grad(x):
        g = np.empty_like(x)
        acc = 0.0
        for i in loop(x.shape[0]):
            xi = x[i]
            t = np.tanh(xi)
            e = np.exp(-xi * xi)
            s = np.sin(xi)
            acc += t * e + s * s
            g[i] = e * (one - t * t - two * xi * t) + two * s * np.cos(xi)
        return acc, g
    return value_and_grad


@row("W2", "numba.njit loop (hand-written gradient)")
def _(d: dict, o: Any) -> Any:
    f, x = numba_w2(False), d["w2_x"]
    return (lambda: f(x)), pair


@row("W2", "numba.njit(parallel) loop (hand-written gradient)")
def _(d: dict, o: Any) -> Any:
    f, x = numba_w2(True), d["w2_x"]
    return (lambda: f(x)), pair


def w2_fn(m: Any) -> Callable[[Any], Any]:
    return lambda x: m.sum(m.tanh(x) * m.exp(-x * x) + m.sin(x) ** 2)


@row("W2", "jax.jit(value_and_grad)", jax_ref=True)
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f = jax.jit(jax.value_and_grad(w2_fn(jax.numpy)))
    x = jax.device_put(d["w2_x"])
    return (lambda: jax.block_until_ready(f(x))), pair


def torch_w2(d: dict, compiled: bool, o: Any) -> Any:
    torch = need_torch_compile(o) if compiled else need("torch")
    f = w2_fn(torch)
    if compiled:
        f = torch.compile(f)
    x = torch.from_numpy(d["w2_x"].copy()).requires_grad_()

    def call():
        y = f(x)
        return y, torch.autograd.grad(y, x)[0]
    return call, pair


@row("W2", "torch eager autograd.grad")
def _(d: dict, o: Any) -> Any:
    return torch_w2(d, False, o)


@row("W2", "torch.compile + autograd.grad")
def _(d: dict, o: Any) -> Any:
    return torch_w2(d, True, o)


def tf_w2(tf: Any) -> Any:
    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.tanh(x) * tf.exp(-x * x) + tf.sin(x) ** 2)
        return y, tape.gradient(y, x)
    return value_and_grad


@row("W2", "tf.function GradientTape")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    f, x = tf.function(tf_w2(tf)), tf.constant(d["w2_x"])
    return (lambda: f(x)), pair


@row("W2", "tf.function(jit_compile=True) GradientTape")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    f, x = tf.function(tf_w2(tf), jit_compile=True), tf.constant(d["w2_x"])
    return (lambda: f(x)), pair


@row("W2", "autograd (HIPS) value_and_grad")
def _(d: dict, o: Any) -> Any:
    ag = need("autograd")
    f, x = ag.value_and_grad(w2_fn(need("autograd.numpy"))), d["w2_x"]
    return (lambda: f(x)), pair


# ---- W3 ------------------------------------------------------------------------------

def w3_tj_args(tj: Any, d: dict) -> list[Any]:
    return [tj.constant(p) for p in d["w3_params"]] + [tj.constant(d["w3_X"]),
                                                       tj.constant(d["w3_Y"])]


@row("W3", "tracejit.compile GradientTape (params as arguments)", tracejit=True,
     primary=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, args = tj.compile(tj_w3(tj)), w3_tj_args(tj, d)
    return (lambda: f(*args)), loss_and_grads


@row("W3", "tracejit.compile GradientTape, BLAS 1 thread",
     tracejit=True, blas_threads=1)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, args = tj.compile(tj_w3(tj)), w3_tj_args(tj, d)
    return (lambda: f(*args)), loss_and_grads


@row("W3", "tracejit.compile GradientTape (params as Variables)", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    fn, _params = tj_w3_variables(tj, d["w3_params"])
    f, X, Y = tj.compile(fn), tj.constant(d["w3_X"]), tj.constant(d["w3_Y"])
    return (lambda: f(X, Y)), loss_and_grads


@row("W3", "tracejit eager GradientTape", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, args = tj_w3(tj), w3_tj_args(tj, d)
    return (lambda: f(*args)), loss_and_grads


@row("W3", "numpy (hand-written backward)")
def _(d: dict, o: Any) -> Any:
    p, X, y = d["w3_params"], d["w3_X"], d["w3_y"]
    return (lambda: w3_numpy(p, X, y)), loss_and_grads


@row("W3", "numpy (hand-written backward), BLAS 1 thread", blas_threads=1)
def _(d: dict, o: Any) -> Any:
    p, X, y = d["w3_params"], d["w3_X"], d["w3_y"]
    return (lambda: w3_numpy(p, X, y)), loss_and_grads


def jax_w3_loss(jax: Any) -> Any:
    jnp = jax.numpy

    def loss(params, X, y):
        W1, b1, W2, b2 = params
        h = jnp.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        picked = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)
    return loss


def jax_w3_setup(jax: Any, d: dict) -> Callable[[], Any]:
    f = jax.jit(jax.value_and_grad(jax_w3_loss(jax)))
    p = tuple(jax.device_put(t) for t in d["w3_params"])
    X, y = jax.device_put(d["w3_X"]), jax.device_put(d["w3_y"].astype(np.int32))
    return lambda: jax.block_until_ready(f(p, X, y))


@row("W3", "jax.jit(value_and_grad)", jax_ref=True)
def _(d: dict, o: Any) -> Any:
    return jax_w3_setup(need("jax"), d), loss_and_grads


def torch_w3_setup(torch: Any, d: dict, compiled: bool) -> Callable[[], Any]:
    F = torch.nn.functional

    def loss(W1, b1, W2, b2, X, y):
        return F.cross_entropy(torch.tanh(X @ W1 + b1) @ W2 + b2, y)
    if compiled:
        loss = torch.compile(loss)
    p = [torch.from_numpy(t.copy()).requires_grad_() for t in d["w3_params"]]
    X, y = torch.from_numpy(d["w3_X"]), torch.from_numpy(d["w3_y"])

    def call():
        L = loss(*p, X, y)
        return L, torch.autograd.grad(L, p)
    return call


@row("W3", "torch eager autograd.grad")
def _(d: dict, o: Any) -> Any:
    return torch_w3_setup(need("torch"), d, False), loss_and_grads


@row("W3", "torch.compile + autograd.grad")
def _(d: dict, o: Any) -> Any:
    return torch_w3_setup(need_torch_compile(o), d, True), loss_and_grads


def tf_w3_setup(tf: Any, d: dict, **fn_kw: Any) -> Callable[[], Any]:
    def loss_and_gradients(W1, b1, W2, b2, X, Y):
        params = [W1, b1, W2, b2]
        with tf.GradientTape() as tape:
            tape.watch(params)
            h = tf.tanh(tf.matmul(X, W1) + b1)
            logits = tf.matmul(h, W2) + b2
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y,
                                                                         logits=logits))
        return loss, tape.gradient(loss, params)
    f = tf.function(loss_and_gradients, **fn_kw)
    args = [tf.constant(p) for p in d["w3_params"]] + [tf.constant(d["w3_X"]),
                                                       tf.constant(d["w3_Y"])]
    return lambda: f(*args)


@row("W3", "tf.function GradientTape")
def _(d: dict, o: Any) -> Any:
    return tf_w3_setup(need("tensorflow"), d), loss_and_grads


@row("W3", "tf.function(jit_compile=True) GradientTape")
def _(d: dict, o: Any) -> Any:
    return tf_w3_setup(need("tensorflow"), d, jit_compile=True), loss_and_grads


def autograd_w3_setup(d: dict) -> Callable[[], Any]:
    ag, anp = need("autograd"), need("autograd.numpy")
    logsumexp = need("autograd.scipy.special").logsumexp

    def loss(params, X, y):
        W1, b1, W2, b2 = params
        h = anp.tanh(anp.dot(X, W1) + b1)
        logits = anp.dot(h, W2) + b2
        return anp.mean(logsumexp(logits, axis=1) - logits[np.arange(X.shape[0]), y])
    f = ag.value_and_grad(loss)
    p, X, y = d["w3_params"], d["w3_X"], d["w3_y"]
    return lambda: f(p, X, y)


@row("W3", "autograd (HIPS) value_and_grad")
def _(d: dict, o: Any) -> Any:
    return autograd_w3_setup(d), loss_and_grads


# ---- W4a -----------------------------------------------------------------------------

@row("W4a", "tracejit.compile nested tapes + jacobian", tracejit=True, primary=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj.compile(tj_w4a(tj)), tj.constant(d["w4a_x"])
    return (lambda: f(x)), to_numpy


@row("W4a", "tracejit eager nested tapes + jacobian", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj_w4a(tj), tj.constant(d["w4a_x"])
    return (lambda: f(x)), to_numpy


def w4_fn(m: Any) -> Callable[[Any], Any]:
    return lambda x: m.sum(x ** 3 * m.sin(x))


@row("W4a", "jax.jit(hessian)", jax_ref=True)
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f, x = jax.jit(jax.hessian(w4_fn(jax.numpy))), jax.device_put(d["w4a_x"])
    return (lambda: f(x).block_until_ready()), to_numpy


@row("W4a", "torch.func.hessian")
def _(d: dict, o: Any) -> Any:
    torch = need("torch")
    f, x = torch.func.hessian(w4_fn(torch)), torch.from_numpy(d["w4a_x"].copy())
    return (lambda: f(x)), to_numpy


@row("W4a", "torch.autograd.functional.hessian(vectorize=True)")
def _(d: dict, o: Any) -> Any:
    torch = need("torch")
    f, x = w4_fn(torch), torch.from_numpy(d["w4a_x"].copy())
    return (lambda: torch.autograd.functional.hessian(f, x, vectorize=True)), to_numpy


def tf_w4a(tf: Any) -> Any:
    def hessian(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(x ** 3 * tf.sin(x))
            g = inner.gradient(y, x)
        return outer.jacobian(g, x)
    return hessian


@row("W4a", "tf.function nested tapes + jacobian")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    f, x = tf.function(tf_w4a(tf)), tf.constant(d["w4a_x"])
    return (lambda: f(x)), to_numpy


@row("W4a", "autograd (HIPS) hessian")
def _(d: dict, o: Any) -> Any:
    ag = need("autograd")
    f, x = ag.hessian(w4_fn(need("autograd.numpy"))), d["w4a_x"]
    return (lambda: f(x)), to_numpy


# ---- W4b -----------------------------------------------------------------------------

@row("W4b", "tracejit.compile nested tapes", tracejit=True, primary=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj.compile(tj_w4b(tj)), tj.constant(d["w4b_x"])
    return (lambda: f(x)), to_numpy


@row("W4b", "tracejit eager nested tapes", tracejit=True)
def _(d: dict, o: Any) -> Any:
    tj = need("tracejit")
    f, x = tj_w4b(tj), tj.constant(d["w4b_x"])
    return (lambda: f(x)), to_numpy


def cube(x: Any) -> Any:
    return x ** 3


@row("W4b", "jax.jit(grad(grad))", jax_ref=True)
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f, x = jax.jit(jax.grad(jax.grad(cube))), jax.device_put(d["w4b_x"])
    return (lambda: f(x).block_until_ready()), to_numpy


@row("W4b", "jax grad(grad) (no jit)")
def _(d: dict, o: Any) -> Any:
    jax = need("jax")
    f, x = jax.grad(jax.grad(cube)), jax.device_put(d["w4b_x"])
    return (lambda: f(x).block_until_ready()), to_numpy


@row("W4b", "torch double backward")
def _(d: dict, o: Any) -> Any:
    torch = need("torch")
    x = torch.tensor(float(d["w4b_x"]), dtype=torch.float32, requires_grad=True)

    def call():
        (g,) = torch.autograd.grad(x ** 3, x, create_graph=True)
        return torch.autograd.grad(g, x)[0]
    return call, to_numpy


def tf_w4b(tf: Any) -> Any:
    def d2(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = x ** 3
            g = inner.gradient(y, x)
        return outer.gradient(g, x)
    return d2


@row("W4b", "tf.function nested tapes")
def _(d: dict, o: Any) -> Any:
    tf = need("tensorflow")
    f, x = tf.function(tf_w4b(tf)), tf.constant(d["w4b_x"])
    return (lambda: f(x)), to_numpy


@row("W4b", "autograd (HIPS) grad(grad)")
def _(d: dict, o: Any) -> Any:
    ag = need("autograd")
    f, x = ag.grad(ag.grad(cube)), d["w4b_x"]
    return (lambda: f(x)), to_numpy


# ---- W8 (built in its child process, see run_w8) --------------------------------------

def w8_setup(opts: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    """W8's rows, a tracejit row and a NumPy row per function and dtype (each pair next to
    each other, so a round times them back to back), and their references: NumPy in
    float64 for float32 rows, in long double for float64 rows where the function has a
    long double loop (all but SciPy's erf)."""
    vm = importlib.import_module("vecmath_bench")
    theirs, what = vm.numpy_functions()
    wide = {"float32": np.float64, "float64": np.longdouble}
    rng = np.random.default_rng(SEED)          # vecmath_bench's order: the same inputs
    rows: list[Row] = []
    refs: dict[str, Any] = {}
    for dt in W8_DTYPES:
        for name in vm.NAMES:
            args = vm.inputs(name, np.dtype(dt), rng)
            group = f"{name} {dt}"
            ours_name = f"tracejit.compile {group}"
            np_name = f"{what.get(name, 'np.' + name)} {dt}"
            if not (selected(opts, ours_name) or selected(opts, np_name)):
                continue
            try:
                refs[group] = theirs[name](*(a.astype(wide[dt]) for a in args))
            except TypeError:                  # no long double loop (scipy.special.erf)
                refs[group] = theirs[name](*(a.astype(np.float64) for a in args))

            def check(got: Any, ref: Any, dt: str = dt) -> float:
                return ulp_error(got, ref, np.dtype(dt))

            def ours(d: dict, o: Any, name: str = name, args: tuple = args) -> Any:
                tj = need("tracejit")
                f = tj.compile(vm.tracejit_functions()[name])
                targs = [tj.constant(a) for a in args]
                return (lambda: f(*targs)), to_numpy

            def numpy_row(d: dict, o: Any, g: Any = theirs[name], args: tuple = args) -> Any:
                return (lambda: g(*args)), np.asarray

            kw = {"group": group, "ref": group, "check": check, "tol": W8_WRONG_ULP,
                  "err_unit": "ulp"}
            rows.append(Row("W8", ours_name, ours, tracejit=True, primary=True, **kw))
            rows.append(Row("W8", np_name, numpy_row, **kw))
    return rows, refs


# ---- W9 ------------------------------------------------------------------------------

def mlp() -> Any:
    return importlib.import_module("mlp_step_bench")


def w9_start(d: dict) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """W9's data with a private copy of the initial parameters (a step updates them)."""
    x, y, p = d["w9"]
    return x, y, [a.copy() for a in p]


def loss_value(o: Any) -> float:
    return float(to_numpy(o))


@row("W9", "tracejit.compile (Variables, SGD inside the step)", tracejit=True, primary=True,
     stateful=True)
def _(d: dict, o: Any) -> Any:
    need("tracejit")
    return mlp().tracejit_step(*w9_start(d)), loss_value


@row("W9", "numpy (hand-written backward + SGD)", stateful=True)
def _(d: dict, o: Any) -> Any:
    return mlp().numpy_step(*w9_start(d)), loss_value


@row("W9", "torch eager autograd.grad + SGD", stateful=True)
def _(d: dict, o: Any) -> Any:
    need("torch")
    return mlp().torch_step(*w9_start(d)), loss_value


@row("W9", "jax.jit(value_and_grad) + SGD", jax_ref=True, stateful=True)
def _(d: dict, o: Any) -> Any:
    need("jax")
    return mlp().jax_step(*w9_start(d)), loss_value


# ------------------------------------------------------------- W5 / W6: child processes
# A child is this script run as `--child KIND:PEER`; it prints one line "CHILD {json}".

W3_STEP_BUILDERS: dict[str, Callable[[dict], Callable[[], Any]]] = {}


def w3_step(peer: str) -> Callable[[Callable[[dict], Callable[[], Any]]], Any]:
    def deco(b: Callable[[dict], Callable[[], Any]]) -> Any:
        W3_STEP_BUILDERS[peer] = b
        return b
    return deco


@w3_step("tracejit")
def _(d: dict) -> Callable[[], Any]:
    tj = importlib.import_module("tracejit")
    f, args = tj.compile(tj_w3(tj)), w3_tj_args(tj, d)
    return lambda: f(*args)


@w3_step("jax")
def _(d: dict) -> Callable[[], Any]:
    return jax_w3_setup(importlib.import_module("jax"), d)


@w3_step("torch")
def _(d: dict) -> Callable[[], Any]:
    return torch_w3_setup(importlib.import_module("torch"), d, False)


@w3_step("torch.compile")
def _(d: dict) -> Callable[[], Any]:
    return torch_w3_setup(importlib.import_module("torch"), d, True)


@w3_step("tf.function")
def _(d: dict) -> Callable[[], Any]:
    return tf_w3_setup(importlib.import_module("tensorflow"), d)


@w3_step("autograd")
def _(d: dict) -> Callable[[], Any]:
    importlib.import_module("autograd")
    return autograd_w3_setup(d)


@w3_step("numpy")
def _(d: dict) -> Callable[[], Any]:
    p, X, y = d["w3_params"], d["w3_X"], d["w3_y"]
    return lambda: w3_numpy(p, X, y)


CHILD_MODULE = {"tracejit": "tracejit", "jax": "jax", "torch": "torch",
                "torch.compile": "torch", "tf.function": "tensorflow",
                "autograd": "autograd", "numpy": "numpy"}


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return maxrss_mib()


def hwm_mib() -> float | None:
    """Peak RSS of this process's address space (Linux VmHWM), a cross-check."""
    try:
        with open("/proc/self/status") as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) / 1024
    except OSError:
        pass
    return None


def maxrss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2 ** 20 if sys.platform == "darwin" else r / 1024   # bytes on macOS, KiB else


def child(spec: str, opts: argparse.Namespace) -> None:
    kind, peer = spec.split(":", 1)
    if kind == "w8":            # W8's timed rows (run_w8 sets TRACEJIT_NUM_THREADS=1)
        rows, refs = w8_setup(opts)
        results: list[dict] = []
        with contextlib.redirect_stdout(sys.stderr):
            run_timed(opts, {}, refs, "W8", results, rows)
        print("CHILD " + json.dumps({"results": results}, default=float), flush=True)
        return
    if kind == "runtime":       # fill the disk cache with W3's GEMM runtime library only
        importlib.import_module("tracejit.codegen.runtime").load("f32")
        print("CHILD {}", flush=True)
        return
    d = make_data()
    res: dict[str, Any] = {"rss_start_mib": maxrss_mib()}
    t0 = time.perf_counter()
    importlib.import_module(CHILD_MODULE[peer])
    res["import_s"] = time.perf_counter() - t0
    res["rss_imported_mib"] = maxrss_mib()
    t0 = time.perf_counter()
    step = W3_STEP_BUILDERS[peer](d)
    out = step()
    res["first_call_s"] = time.perf_counter() - t0
    res["err"] = rel_err(loss_and_grads(out), references(d)["W3"])
    later = []
    for _ in range(3):
        t0 = time.perf_counter()
        step()
        later.append(time.perf_counter() - t0)
    res["second_call_s"] = later[0]
    res["steady_call_s"] = statistics.median(later)
    if kind == "w6":
        for _ in range(W6_STEPS - 4):
            step()
        res["maxrss_mib"] = maxrss_mib()
        res["vmhwm_mib"] = hwm_mib()
    elif kind == "growth":
        done, rss = 4, {}
        for n in W6_GROWTH_CALLS:
            while done < n:
                step()
                done += 1
            gc.collect()
            rss[str(n)] = rss_mib()
        res["rss_after_calls_mib"] = rss
        res["maxrss_mib"] = maxrss_mib()
    print("CHILD " + json.dumps(res), flush=True)


def run_child(spec: str, env_extra: dict[str, str] | None = None, timeout: float = 900,
              args: list[str] | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(env_extra or {})
    if spec.endswith(":tracejit"):
        env.update(bytecode_env())
    cmd = [sys.executable, os.path.abspath(__file__), "--child", spec] + (args or [])
    if os.path.exists("/bin/sh"):
        # Linux carries a process's peak RSS across fork + exec (ru_maxrss starts at the
        # parent's, here with every framework loaded): a small shell in between forks the
        # child from its own few MiB, so the child's ru_maxrss is the child's alone.
        cmd = ["/bin/sh", "-c", '"$0" "$@"; exit $?'] + cmd
    cp = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                        check=False)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("CHILD ")]
    if cp.returncode != 0 or not lines:
        tail = (cp.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"child {spec} failed (rc {cp.returncode}): {tail[:200]}")
    return json.loads(lines[-1][len("CHILD "):])


_PYCACHE: list[str] = []


def bytecode_env() -> dict[str, str]:
    """Environment for tracejit's child processes: compiled bytecode kept, as an installed
    package has it. (An editable checkout under PYTHONDONTWRITEBYTECODE=1 has no .pyc, so
    every fresh process would compile tracejit's sources, while the peers' wheels ship
    theirs.) The .pyc files go to a private temporary prefix, filled by a first process."""
    if not _PYCACHE:
        _PYCACHE.append(tempfile.mkdtemp(prefix="tracejit-bench-pyc-"))
        env = dict(os.environ, PYTHONPYCACHEPREFIX=_PYCACHE[0], TRACEJIT_CACHE="0")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", ("import tracejit as tj, tracejit.codegen; "
                        "tj.compile(lambda x: x + 1)(tj.constant(1.0))")],
                       env=env, capture_output=True, timeout=600, check=False)
    return {"PYTHONPYCACHEPREFIX": _PYCACHE[0], "PYTHONDONTWRITEBYTECODE": ""}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------ report

def fmt_time(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.3g} ms"
    return f"{us:.3g} us"


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                            "cpu": platform.processor()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for ln in text.splitlines():
            if ln.startswith("model name"):
                info["cpu"] = ln.split(":", 1)[1].strip()
            if ln.startswith("flags"):
                flags = set(ln.split(":", 1)[1].split())
                info["simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f",
                                            "avx512bw", "avx512vl", "avx512_bf16", "amx_tile")
                                if f in flags]
                break
    except OSError:
        pass
    try:
        import llvmlite.binding as llvm
        info["llvm_host_cpu"] = llvm.get_host_cpu_name()
    except ImportError:
        info["llvm_host_cpu"] = "unknown (no llvmlite)"
    info["env"] = {k: os.environ[k] for k in (
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS") if k in os.environ}
    return info


def blas_info() -> Any:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed: BLAS kernel unknown"
    return [{k: v for k, v in p.items() if k in ("internal_api", "prefix", "version",
                                                  "architecture", "num_threads",
                                                  "threading_layer")}
            for p in threadpool_info()]


def source_state() -> dict[str, Any]:
    """The commit of the tracejit checkout measured, and whether its sources were edited."""
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--",
                                "tracejit", "ir", "codegen"],
                               capture_output=True, text=True, timeout=10,
                               check=False).stdout.split("\n")
        return {"commit": head, "modified_sources": [ln[3:] for ln in dirty if ln.strip()]}
    except (OSError, subprocess.SubprocessError):
        return {}


def versions() -> dict[str, str]:
    v = {"python": platform.python_version()}
    for dist in ("tracejit", "numpy", "llvmlite", "jax", "jaxlib", "torch", "tensorflow",
                 "tensorflow-cpu", "autograd", "numba", "threadpoolctl"):
        try:
            v[dist] = _md.version(dist)
        except _md.PackageNotFoundError:
            pass
    return v


# ------------------------------------------------------------------------------ driver

def run_timed(opts: argparse.Namespace, data: dict, refs: dict, workload: str,
              results: list[dict], rows: list[Row] | None = None) -> None:
    """Build, check and time the rows of `workload` (default: those registered by @row)
    in interleaved rounds; append their result dicts to `results`."""
    print(f"\n[{workload}] {TITLES[workload]}   (load {load()})", flush=True)
    live = []        # [result dict, fn, post, samples, round medians, number, row, first]
    for r in ROWS if rows is None else rows:
        if r.workload != workload or not selected(opts, r.name):
            continue
        res: dict[str, Any] = {"workload": workload, "peer": r.name, "tracejit": r.tracejit,
                               "jax_ref": r.jax_ref, "primary": r.primary}
        results.append(res)
        if r.blas_threads is not None:
            res["blas_threads"] = r.blas_threads
        if r.group:
            res["group"] = r.group
        if r.err_unit != "relative":
            res["err_unit"] = r.err_unit
        check = r.check or rel_err
        try:
            gc.collect()
            with blas_limit(r.blas_threads):
                fn, post = r.builder(data, opts)
                t0 = time.perf_counter()
                out = fn()
                res["first_call_s"] = time.perf_counter() - t0
                first = post(out)
                res["err"] = check(first, refs[r.ref])
                if res["err"] > r.tol:
                    res["status"] = "mismatch"
                    continue
                res["status"] = "ok"
                t_end = time.perf_counter() + 0.1 * opts.budget      # warm-up
                n = 0
                while n < 5 or time.perf_counter() < t_end:
                    fn()
                    n += 1
                number = calibrate(fn)
            live.append([res, fn, post, [], [], number, r, first])
        except Skip as e:
            res.update(status="skip", note=str(e))
        except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
            res.update(status="error",
                       note=traceback.format_exception_only(type(e), e)[-1].strip()[:240])
    for k in range(opts.rounds):
        order = live[k % len(live):] + live[:k % len(live)] if live else []
        for item in order:
            res, fn = item[0], item[1]
            if res["status"] != "ok":
                continue
            try:
                with blas_limit(res.get("blas_threads")):
                    s = sample(fn, item[5], opts.budget / opts.rounds, min_samples=3)
                item[3] += s
                item[4].append(statistics.median(s))
            except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
                res.update(status="error", note="while timing: " + str(e)[:200])
    for res, fn, post, smp, rmeds, number, r, first in live:
        if res["status"] != "ok":
            continue
        last = post(fn())
        if r.stateful:
            # A training step: the loss after the timed steps, finite and not above the first.
            res["last_value"] = float(last)
            if not (np.isfinite(last) and last <= first):
                res.update(status="mismatch", note=f"the last step's value {last:.6g} is "
                           f"not finite or above the first's ({first:.6g})")
                continue
        else:
            res["err_last"] = (r.check or rel_err)(last, refs[r.ref])
            if res["err_last"] > r.tol:
                res["status"] = "mismatch"
                continue
        res.update(median_us=statistics.median(smp) * 1e6, min_us=min(smp) * 1e6,
                   samples=len(smp), calls_per_sample=number,
                   round_medians_us=[round(m * 1e6, 3) for m in rmeds],
                   spread=(max(rmeds) / min(rmeds) - 1) if len(rmeds) > 1 else 0.0)
    print_rows([x for x in results if x["workload"] == workload])


def fmt_err(x: dict) -> str:
    return f"{x['err']:.2f} ulp" if x.get("err_unit") == "ulp" else f"{x['err']:.1e}"


def print_rows(rows: list[dict]) -> None:
    for x in rows:
        if x["status"] == "ok":
            print(f"  {x['peer']:<54} {fmt_time(x['median_us']):>10} (min "
                  f"{fmt_time(x['min_us'])}, {x['samples']}x{x['calls_per_sample']}, "
                  f"err {fmt_err(x)})", flush=True)
        else:
            err = f" err {fmt_err(x)}" if x["status"] == "mismatch" and "err" in x else ""
            print(f"  {x['peer']:<54} {x['status'].upper()} {x.get('note', '')}{err}",
                  flush=True)


def run_w8(opts: argparse.Namespace, results: list[dict]) -> None:
    """W8 in a child process with TRACEJIT_NUM_THREADS=1 (one thread each: NumPy's ufuncs
    are single-threaded), timed there by run_timed with W8_BUDGET_SHARE of --budget."""
    print(f"\n[W8] {TITLES['W8']}   (load {load()}; in a child process)", flush=True)
    args = ["--budget", repr(opts.budget * W8_BUDGET_SHARE), "--rounds", str(opts.rounds),
            "--peers", opts.peers]
    try:
        r = run_child("w8:tracejit", {"TRACEJIT_NUM_THREADS": "1"}, args=args)
    except Exception as e:  # noqa: BLE001  (the child may fail in any way)
        res = {"workload": "W8", "peer": "tracejit.compile, every function", "tracejit": True,
               "jax_ref": False, "primary": True, "status": "error", "note": str(e)[:240]}
        results.append(res)
        print(f"  {res['peer']:<54} ERROR {res['note']}", flush=True)
        return
    for x in r["results"]:
        x["threads"] = 1
    results.extend(r["results"])
    print_rows(r["results"])


def run_w5(opts: argparse.Namespace, results: list[dict]) -> None:
    print(f"\n[W5] {TITLES['W5']}   (load {load()})", flush=True)
    runs = opts.w5_runs
    tmp = tempfile.mkdtemp(prefix="tracejit-bench-w5-")
    cases = [("tracejit.compile, cold disk cache", "tracejit", "cold"),
             ("tracejit.compile, cold function, GEMM runtime in the disk cache", "tracejit",
              "coldfn"),
             ("tracejit.compile, warm disk cache", "tracejit", "warm"),
             ("tracejit.compile, warm disk cache, BLAS 1 thread", "tracejit", "warm1"),
             ("jax.jit(value_and_grad)", "jax", None),
             ("tf.function GradientTape", "tf.function", None),
             ("torch.compile + autograd.grad", "torch.compile", None)]
    warm_dir = None
    cache_written = False
    try:
        for name, peer, cache in cases:
            res: dict[str, Any] = {"workload": "W5", "peer": name, "unit": "first call",
                                   "tracejit": peer == "tracejit", "jax_ref": peer == "jax",
                                   "primary": cache == "cold"}
            results.append(res)
            if not selected(opts, name):
                res.update(status="skip", note="not selected")
            elif not installed(CHILD_MODULE[peer]):
                res.update(status="skip", note=f"{CHILD_MODULE[peer]} not installed")
            elif peer == "torch.compile" and opts.no_torch_compile:
                res.update(status="skip", note="--no-torch-compile / --quick")
            elif cache in ("warm", "warm1") and warm_dir is None:
                res.update(status="skip", note="needs the cold case's cache directory")
            elif cache in ("warm", "warm1") and not cache_written:
                res.update(status="skip", note="no disk cache: the cold runs left "
                           "$TRACEJIT_CACHE_DIR empty, so only the cold case is measured")
            if res.get("status") == "skip":
                print(f"  {name:<54} SKIP {res['note']}", flush=True)
                continue
            firsts, seconds, imports, errs, overheads = [], [], [], [], []
            try:
                for _ in range(runs):
                    env = {}
                    if cache == "cold":
                        cdir = tempfile.mkdtemp(prefix="cold-", dir=tmp)
                        warm_dir = warm_dir or cdir
                        env["TRACEJIT_CACHE_DIR"] = cdir
                    elif cache == "coldfn":
                        # Only the runtime library (codegen/runtime.py) is on disk: what a
                        # new function meets once any earlier one multiplied matrices.
                        env["TRACEJIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="coldfn-", dir=tmp)
                        run_child("runtime:tracejit", env)
                    elif cache == "warm":
                        env["TRACEJIT_CACHE_DIR"] = warm_dir
                    elif cache == "warm1":
                        env.update(TRACEJIT_CACHE_DIR=warm_dir, OPENBLAS_NUM_THREADS="1")
                    elif peer == "torch.compile":
                        env["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="ind-", dir=tmp)
                    r = run_child(f"w5:{peer}", env)
                    firsts.append(r["first_call_s"])
                    seconds.append(r["second_call_s"])
                    overheads.append(r["first_call_s"] - r["steady_call_s"])
                    imports.append(r["import_s"])
                    errs.append(r["err"])
                if cache == "cold":
                    cache_written = any(files for _, _, files in os.walk(warm_dir))
            except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
                res.update(status="error", note=str(e)[:240])
                print(f"  {name:<54} ERROR {res['note']}", flush=True)
                continue
            bad = max(errs) > TOL
            res.update(status="mismatch" if bad else "ok", err=max(errs),
                       median_us=statistics.median(firsts) * 1e6, min_us=min(firsts) * 1e6,
                       samples=len(firsts), calls_per_sample=1,
                       second_call_us=statistics.median(seconds) * 1e6,
                       import_s=statistics.median(imports),
                       first_minus_steady_us=statistics.median(overheads) * 1e6,
                       note=f"{len(firsts)} fresh processes; import "
                            f"{statistics.median(imports):.2f} s; 2nd call "
                            f"{fmt_time(statistics.median(seconds) * 1e6)}; first - steady "
                            f"{fmt_time(statistics.median(overheads) * 1e6)}")
            if cache == "cold":
                res["disk_cache_written"] = cache_written
            print(f"  {name:<54} {fmt_time(res['median_us']):>10} (min "
                  f"{fmt_time(res['min_us'])}) {res['note']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_w6(opts: argparse.Namespace, results: list[dict]) -> None:
    print(f"\n[W6] {TITLES['W6']}   (load {load()})", flush=True)
    peers = [("tracejit.compile GradientTape", "tracejit"), ("jax.jit(value_and_grad)", "jax"),
             ("numpy (hand-written backward)", "numpy"), ("torch eager autograd.grad", "torch"),
             ("tf.function GradientTape", "tf.function"),
             ("autograd (HIPS) value_and_grad", "autograd")]
    for name, peer in peers:
        res: dict[str, Any] = {"workload": "W6", "peer": name, "unit": "MiB",
                               "tracejit": peer == "tracejit", "jax_ref": peer == "jax",
                               "primary": peer == "tracejit"}
        results.append(res)
        if not selected(opts, name) or not installed(CHILD_MODULE[peer]):
            res.update(status="skip", note=f"{CHILD_MODULE[peer]} not installed"
                       if selected(opts, name) else "not selected")
            print(f"  {name:<54} SKIP {res['note']}", flush=True)
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="tracejit-bench-w6-") as cdir:
                # an empty disk cache: tracejit's peak includes compiling with LLVM
                r = run_child(f"w6:{peer}", {"TRACEJIT_CACHE_DIR": cdir})
        except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
            res.update(status="error", note=str(e)[:240])
            print(f"  {name:<54} ERROR {res['note']}", flush=True)
            continue
        res.update(status="ok" if r["err"] <= TOL else "mismatch", err=r["err"],
                   peak_mib=r["maxrss_mib"], vmhwm_mib=r.get("vmhwm_mib"),
                   imported_mib=r["rss_imported_mib"],
                   start_mib=r["rss_start_mib"],
                   note=f"after import {r['rss_imported_mib']:.0f} MiB, "
                        f"+{r['maxrss_mib'] - r['rss_imported_mib']:.0f} MiB for setup and "
                        f"{W6_STEPS} steps")
        print(f"  {name:<54} {r['maxrss_mib']:>7.0f} MiB peak ({res['note']})", flush=True)
    res = {"workload": "W6", "peer": "tracejit growth: RSS after 1k/2k/5k/10k W3 calls",
           "unit": "MiB", "tracejit": True, "jax_ref": False, "primary": False}
    results.append(res)
    if not installed("tracejit") or not selected(opts, "tracejit"):
        res.update(status="skip", note="tracejit not installed or not selected")
        return
    try:
        with tempfile.TemporaryDirectory(prefix="tracejit-bench-w6-") as cdir:
            # One BLAS thread: the memory check does not depend on it, and 10,000 calls
            # stay short even when other processes keep both cores busy.
            r = run_child("growth:tracejit", {"TRACEJIT_CACHE_DIR": cdir,
                                              "OPENBLAS_NUM_THREADS": "1"})
    except Exception as e:  # noqa: BLE001  (a peer may fail in any way)
        res.update(status="error", note=str(e)[:240])
        print(f"  {res['peer']:<54} ERROR {res['note']}", flush=True)
        return
    rss = r["rss_after_calls_mib"]
    first, last = rss[str(W6_GROWTH_CALLS[0])], rss[str(W6_GROWTH_CALLS[-1])]
    res.update(status="ok", rss_after_calls_mib=rss, growth_mib=last - first,
               note=", ".join(f"{int(k) // 1000}k: {v:.1f}" for k, v in rss.items()))
    print(f"  {res['peer']:<54} {last - first:+.1f} MiB from 1k to 10k calls "
          f"({res['note']} MiB)", flush=True)


def selected(opts: argparse.Namespace, name: str) -> bool:
    return not opts.peers or any(p.strip().lower() in name.lower()
                                 for p in opts.peers.split(",") if p.strip())


def add_ratios(results: list[dict]) -> None:
    """x_best_peer and x_jax of each timed row, within its workload and group."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        if r["status"] == "ok" and "median_us" in r:
            groups.setdefault((r["workload"], r.get("group", "")), []).append(r)
    for rows in groups.values():
        best = [r["median_us"] for r in rows if not r["tracejit"]]
        jax = [r["median_us"] for r in rows if r["jax_ref"]]
        for r in rows:
            if best:
                r["x_best_peer"] = r["median_us"] / min(best)
            if jax:
                r["x_jax"] = r["median_us"] / jax[0]


def get(results: list[dict], w: str, pred: Callable[[dict], bool]) -> dict | None:
    for r in results:
        if r["workload"] == w and r["status"] == "ok" and pred(r):
            return r
    return None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def w8_targets(results: list[dict], functions: tuple[str, ...] | None = None) -> list[dict]:
    """Issue 21's W8 targets per dtype: every function's tracejit / NumPy <= 1.0, and every
    function within W8_ULP ulp on the benchmark's inputs. A function whose tracejit row
    failed (error, mismatch) misses; one without both rows, or not run (`functions`,
    default vecmath_bench's, names those expected), leaves the target unknown."""
    if functions is None:
        functions = tuple(importlib.import_module("vecmath_bench").NAMES)
    out = []
    for dt in W8_DTYPES:
        mine = [r for r in results if r["workload"] == "W8" and r["tracejit"]
                and r.get("group", "").endswith(" " + dt)]
        if not mine:
            for what in ("<= 1.0x NumPy", f"within {W8_ULP:g} ulp"):
                out.append({"workload": "W8", "target": f"{dt}: every function {what}",
                            "value": "n/a", "met": None})
            continue
        slow, failed, unknown, ratios, ulps = [], [], [], [], []
        not_run = [f for f in functions if f"{f} {dt}" not in {r["group"] for r in mine}]
        for r in mine:
            fn = r["group"].split(" ")[0]
            if r["status"] in ("error", "mismatch"):
                failed.append(f"{fn} {r['status'].upper()}")
            elif "x_best_peer" not in r:
                unknown.append(fn)
            else:
                ratios.append((r["x_best_peer"], fn))
                if r["x_best_peer"] > 1.0:
                    slow.append(f"{fn} {r['x_best_peer']:.2f}x")
            if "err" in r and r["status"] != "error":
                ulps.append((max(r["err"], r.get("err_last", 0.0)), fn))
        parts = [f"{len(ratios) - len(slow)} of {len(mine)} ahead"]
        if slow or failed:
            parts.append("behind: " + ", ".join(slow + failed))
        elif ratios:
            ratio, fn = max(ratios)
            parts.append(f"slowest {fn} {ratio:.2f}x")
        if unknown:
            parts.append("no ratio: " + ", ".join(unknown))
        if not_run:
            parts.append("not run: " + (", ".join(not_run) if len(not_run) <= 3
                                        else f"{len(not_run)} functions"))
        out.append({"workload": "W8", "target": f"{dt}: every function <= 1.0x NumPy",
                    "value": "; ".join(parts),
                    "met": False if slow or failed else None if unknown or not_run else True})
        bad = [f"{fn} {u:.2f}" for u, fn in ulps if u > W8_ULP]
        if bad:
            value, met = "over: " + ", ".join(bad), False
        elif ulps:
            worst, fn = max(ulps)
            value = f"max {worst:.2f} ulp ({fn})"
            met = True if len(ulps) == len(mine) and not not_run else None
        else:
            value, met = "n/a", None
        out.append({"workload": "W8", "target": f"{dt}: every function within {W8_ULP:g} ulp",
                    "value": value, "met": met})
    return out


def w9_targets(results: list[dict]) -> list[dict]:
    """Issue 21's W9 targets: tracejit's step <= 0.5x hand-written NumPy's and <= 1.0x
    PyTorch eager's."""
    out = []
    t = get(results, "W9", lambda r: r["primary"])
    # A tracejit row that ran but failed (a wrong first loss, a diverging step) misses
    # every target; only a row that never ran leaves them unknown.
    failed = next((r for r in results if r["workload"] == "W9" and r.get("primary")
                   and r["status"] not in ("ok", "skip")), None)
    for prefix, limit in (("numpy", 0.5), ("torch eager", 1.0)):
        p = get(results, "W9", lambda r, s=prefix: r["peer"].startswith(s))
        ratio = t["median_us"] / p["median_us"] if t and p else None
        target = f"<= {limit:.1f}x {p['peer'] if p else prefix}"
        if failed is not None:
            out.append({"workload": "W9", "target": target,
                        "value": f"tracejit row {failed['status']}", "met": False})
            continue
        out.append({"workload": "W9", "target": target,
                    "value": (f"{ratio:.2f}x ({fmt_time(t['median_us'])} vs "
                              f"{fmt_time(p['median_us'])})" if ratio is not None else "n/a"),
                    "met": ratio <= limit if ratio is not None else None})
    return out


def check_targets(results: list[dict]) -> list[dict]:
    """The "Speed" issue's targets, each with the measured value and met / missed."""
    out: list[dict] = []

    def add(w: str, target: str, value: str, ok: bool | None) -> None:
        out.append({"workload": w, "target": target, "value": value,
                    "met": ok if ok is not None else None})

    prim = {w: get(results, w, lambda r: r["primary"]) for w in WORKLOADS}
    jaxr = {w: get(results, w, lambda r: r["jax_ref"]) for w in WORKLOADS}
    t = prim["W1"]
    add("W1", "<= 2 us per call", fmt_time(t["median_us"]) if t else "n/a",
        t["median_us"] <= 2.0 if t else None)
    add("W1", "<= 0.3x jax.jit", f"{t['x_jax']:.2f}x" if t and "x_jax" in t else "n/a",
        t["x_jax"] <= 0.3 if t and "x_jax" in t else None)
    # Issue 21: the native dispatch path against numba, eager mode against PyTorch's.
    for label, mine, peer in (("W1", "tracejit.compile (tj.constant input)", "numba.njit"),
                              ("W1e", "tracejit eager", "torch eager")):
        a = get(results, "W1", lambda r, n=mine: r["peer"] == n)
        b = get(results, "W1", lambda r, n=peer: r["peer"] == n)
        ratio = a["median_us"] / b["median_us"] if a and b else None
        add(label, f"<= 1.0x {peer}", f"{ratio:.2f}x" if ratio is not None else "n/a",
            ratio <= 1.0 if ratio is not None else None)
    t = prim["W2"]
    add("W2", "<= 1.0x jax.jit(value_and_grad)",
        f"{t['x_jax']:.2f}x" if t and "x_jax" in t else "n/a",
        t["x_jax"] <= 1.0 if t and "x_jax" in t else None)
    npr = get(results, "W2", lambda r: r["peer"].startswith("numpy"))
    if t and npr:
        sp = npr["median_us"] / t["median_us"]
        add("W2", ">= 3x faster than hand-written NumPy", f"{sp:.2f}x faster", sp >= 3.0)
    else:
        add("W2", ">= 3x faster than hand-written NumPy", "n/a", None)
    one = get(results, "W2", lambda r: r["peer"].endswith(", 1 thread"))
    if t and one:
        ratio = t["median_us"] / one["median_us"]
        add("W2", "all cores <= 0.6x of 1 thread (2 cores or more)",
            f"{ratio:.2f}x on {_cpus()} CPUs", ratio <= 0.6 if _cpus() >= 2 else None)
    else:
        add("W2", "all cores <= 0.6x of 1 thread (2 cores or more)", "n/a", None)
    for w, what in (("W3", "<= 1.0x jax.jit(value_and_grad)"), ("W4a", "<= 1.0x jax.jit(hessian)"),
                    ("W4b", "<= 1.0x jax.jit(grad(grad))")):
        t = prim[w]
        add(w, what, f"{t['x_jax']:.2f}x" if t and "x_jax" in t else "n/a",
            t["x_jax"] <= 1.0 if t and "x_jax" in t else None)
    # Issue 21: W3 against the fastest of NumPy and PyTorch eager in the same run.
    t = prim["W3"]
    fast = [r for r in results if r["workload"] == "W3" and r["status"] == "ok"
            and not r["tracejit"] and "1 thread" not in r["peer"]
            and r["peer"].startswith(("numpy", "torch eager"))]
    best = min(fast, key=lambda r: r["median_us"]) if fast else None
    add("W3", "<= 1.0x the fastest of NumPy and PyTorch eager",
        f"{t['median_us'] / best['median_us']:.2f}x ({best['peer']})" if t and best else "n/a",
        t["median_us"] <= best["median_us"] if t and best else None)
    cold = get(results, "W5", lambda r: r["peer"].startswith("tracejit") and "cold" in r["peer"])
    warm = get(results, "W5", lambda r: r["peer"] == "tracejit.compile, warm disk cache")
    j = jaxr["W5"]
    add("W5", "cold first call <= JAX's first call",
        f"{fmt_time(cold['median_us'])} vs {fmt_time(j['median_us'])}" if cold and j else "n/a",
        cold["median_us"] <= j["median_us"] if cold and j else None)
    add("W5", "<= 30 ms with a warm disk cache",
        fmt_time(warm["median_us"]) if warm
        else "not measured (no disk cache written)" if cold else "n/a",
        warm["median_us"] <= 30e3 if warm else None)
    # Issue 21: a 100 ms cold first call (the empty disk cache, and a cache holding only
    # the GEMM runtime library, which any earlier process that multiplied matrices left)
    # and 10 ms with a warm disk cache.
    for peer in ("tracejit.compile, cold disk cache",
                 "tracejit.compile, cold function, GEMM runtime in the disk cache"):
        r = get(results, "W5", lambda r, n=peer: r["peer"] == n)
        add("W5", f"<= 100 ms: {peer.split(', ', 1)[1]}",
            fmt_time(r["median_us"]) if r else "n/a", r["median_us"] <= 100e3 if r else None)
    add("W5", "<= 10 ms with a warm disk cache", fmt_time(warm["median_us"]) if warm else "n/a",
        warm["median_us"] <= 10e3 if warm else None)
    tw = get(results, "W6", lambda r: r["primary"])
    jw = get(results, "W6", lambda r: r["jax_ref"])
    add("W6", "peak RSS of 1,000 W3 steps <= JAX's",
        f"{tw['peak_mib']:.0f} MiB vs {jw['peak_mib']:.0f} MiB" if tw and jw else "n/a",
        tw["peak_mib"] <= jw["peak_mib"] if tw and jw else None)
    g = get(results, "W6", lambda r: "growth" in r["peer"])
    add("W6", f"no RSS growth from 1,000 to 10,000 calls (<= {W6_GROWTH_LIMIT_MIB:g} MiB)",
        f"{g['growth_mib']:+.1f} MiB" if g else "n/a",
        g["growth_mib"] <= W6_GROWTH_LIMIT_MIB if g else None)
    # Issue 21: vector math against NumPy (one thread each) and the small MLP's step.
    return out + w8_targets(results) + w9_targets(results)


def print_summary(results: list[dict], targets: list[dict]) -> None:
    w_ = 58
    print("\n" + "=" * 110)
    print(f"{'':<5} {'peer':<{w_}} {'median':>10} {'min':>10} {'x best peer':>11} "
          f"{'x jax':>7} {'spread':>7}")
    print("-" * 110)
    for w in WORKLOADS:
        for r in (x for x in results if x["workload"] == w):
            name = ("* " if r["tracejit"] else "  ") + r["peer"]
            if r["status"] != "ok":
                print(f"{w:<5} {name:<{w_}} {r['status'].upper():>10}")
            elif "peak_mib" in r:
                print(f"{w:<5} {name:<{w_}} {r['peak_mib']:>6.0f} MiB peak RSS")
            elif "growth_mib" in r:
                print(f"{w:<5} {name:<{w_}} {r['growth_mib']:>+6.1f} MiB ({r['note']})")
            else:
                xb = f"{r['x_best_peer']:.2f}" if "x_best_peer" in r else "-"
                xj = f"{r['x_jax']:.2f}" if "x_jax" in r else "-"
                sp = f"{100 * r['spread']:.0f}%" if "spread" in r else "-"
                print(f"{w:<5} {name:<{w_}} {fmt_time(r['median_us']):>10} "
                      f"{fmt_time(r['min_us']):>10} {xb:>11} {xj:>7} {sp:>7}")
    print("-" * 110)
    print("* tracejit rows; x best peer = median / best non-tracejit median; x jax = median / "
          "jax.jit median;\nspread = max/min - 1 of the per-round medians (noise)")
    print("\nTargets")
    for t in targets:
        mark = {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"  {t['workload']:<4} {t['target']:<62} {t['value']:<32} {mark}")


def markdown(path: str) -> str:
    """The tables of a JSON record (as written by --json) in Markdown, for RESULTS.md."""
    with open(path) as f:
        rec = json.load(f)
    out = ["| workload | implementation | median | min | x best peer | x jax | spread |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rec["results"]:
        name = f"**{r['peer']}**" if r["tracejit"] else r["peer"]
        if r["status"] != "ok":
            note = r.get("note", "")
            out.append(f"| {r['workload']} | {name} | {r['status'].upper()} | | | | {note} |")
        elif "peak_mib" in r:
            out.append(f"| {r['workload']} | {name} | {r['peak_mib']:.0f} MiB peak RSS | "
                       f"| | | after import {r['imported_mib']:.0f} MiB |")
        elif "growth_mib" in r:
            out.append(f"| {r['workload']} | {name} | {r['growth_mib']:+.1f} MiB | | | | "
                       f"{r['note']} MiB |")
        else:
            xb = f"{r['x_best_peer']:.2f}" if "x_best_peer" in r else "-"
            xj = f"{r['x_jax']:.2f}" if "x_jax" in r else "-"
            sp = f"{100 * r['spread']:.0f}%" if r.get("spread") is not None and \
                "round_medians_us" in r else "-"
            out.append(f"| {r['workload']} | {name} | {fmt_time(r['median_us'])} | "
                       f"{fmt_time(r['min_us'])} | {xb} | {xj} | {sp} |")
    out += ["", "| workload | target | measured | |", "| --- | --- | --- | --- |"]
    for t in rec["targets"]:
        mark = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        out.append(f"| {t['workload']} | {t['target']} | {t['value']} | {mark} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short budgets, 2 rounds, 1 W5 run, no torch.compile rows")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timing per row over all rounds (default 2.0; quick 0.3)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="interleaved timing rounds (default 5; quick 2)")
    ap.add_argument("--w5-runs", type=int, default=None,
                    help="fresh processes per W5 case (default 3; quick 1)")
    ap.add_argument("--only", "--workloads", dest="workloads", default=",".join(WORKLOADS),
                    help="the workloads to run, e.g. W5,W8 (default: all)")
    ap.add_argument("--peers", default="", help="comma list of substrings of row names")
    ap.add_argument("--no-torch-compile", action="store_true",
                    help="skip torch.compile rows (each compiles C++ for tens of seconds)")
    ap.add_argument("--json", default=None, help="write the JSON record here "
                    "(default benchmarks/results.json; none with --quick)")
    ap.add_argument("--markdown", default="", metavar="JSON",
                    help="print the tables of a JSON record as Markdown, run nothing")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.child:
        return child(opts.child, opts)
    if opts.markdown:
        print(markdown(opts.markdown))
        return None
    if opts.budget is None:
        opts.budget = 0.3 if opts.quick else 2.0
    if opts.rounds is None:
        opts.rounds = 2 if opts.quick else 5
    if opts.w5_runs is None:
        opts.w5_runs = 1 if opts.quick else 3
    if opts.quick:
        opts.no_torch_compile = True
    if opts.json is None:
        opts.json = "" if opts.quick else os.path.join(HERE, "results.json")
    workloads = [w.strip() for w in opts.workloads.split(",") if w.strip()]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")

    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = time.perf_counter()
    load_start = load()
    source = source_state()
    data = make_data()
    refs = references(data)
    results: list[dict] = []
    imports = {}
    for m in ("tracejit", "jax", "torch", "tensorflow", "numba", "autograd"):
        t0 = time.perf_counter()
        try:
            need(m)
        except Skip:
            pass
        imports[m] = round(time.perf_counter() - t0, 3)
    blas = blas_info()
    print(f"tracejit benchmark, {started:%Y-%m-%d %H:%M} UTC; load {load_start}; "
          f"BLAS {json.dumps(blas)}", flush=True)
    sections: dict[str, dict[str, Any]] = {}
    for w in workloads:
        t0, l0 = time.perf_counter(), load()
        if w == "W5":
            run_w5(opts, results)
        elif w == "W6":
            run_w6(opts, results)
        elif w == "W8":
            run_w8(opts, results)
        else:
            run_timed(opts, data, refs, w, results)
        sections[w] = {"wall_s": round(time.perf_counter() - t0, 1), "load_start": l0,
                       "load_end": load()}
    add_ratios(results)
    targets = check_targets(results)
    print_summary(results, targets)
    total = time.perf_counter() - t_start
    threads = {}
    try:
        threads["torch"] = need("torch").get_num_threads()
    except Skip:
        pass
    record = {
        "schema": "tracejit-bench/1", "date": started.isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "quick": opts.quick, "budget_s": opts.budget, "rounds": opts.rounds,
        "w5_runs": opts.w5_runs, "load_start": load_start, "load_end": load(),
        "machine": machine(), "blas": blas, "versions": versions(), "threads": threads,
        "source": source,
        "import_s": imports, "total_s": round(total, 1), "sections": sections,
        "results": results,
        "targets": targets,
    }
    for d in _PYCACHE:
        shutil.rmtree(d, ignore_errors=True)
    print(f"\ntotal {total:.0f} s; load at start {load_start}, at end {record['load_end']}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(record, f, indent=1, default=float)
            f.write("\n")
        print(f"JSON record: {opts.json}")


if __name__ == "__main__":
    main()
