#!/usr/bin/env python3
"""W11: forward mode against JAX, side by side in one process, float32:

    hvp n     Hessian-vector product of W4a's f(x) = sum(x**3 * sin(x)), forward over
              reverse, for n = 1,000 and 100,000:
              tracejit  tj.function(lambda x, v: tj.autodiff.hvp(f, x, v))
              JAX       jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
    jacfwd    the Jacobian of g: R^10 -> R^1000, g(x) = tanh(W x) * sum(x * x), W fixed
              (1000 x 10):
              tracejit  tj.function(tj.autodiff.jacfwd(g))
              JAX       jax.jit(jax.jacfwd(g))

Every result is checked first against float64 NumPy (the HVP's closed form, the
Jacobian's). Rows are timed in `--rounds` interleaved rounds; a sample is a batch of
back-to-back calls of at least ~2 ms, with the GC off; the report is the median (and the
min) per call and the ratio tracejit / JAX of the medians (target: < 1, ahead of JAX).
JAX is optional (a missing one leaves its rows out). Run it where both are installed:

    ~/.cache/tracejit-peers-venv/bin/python benchmarks/forward_bench.py
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import tracejit as tj  # noqa: E402
from timing import calibrate  # noqa: E402


def sample(fn: Callable[[], Any], n: int) -> float:
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n
    finally:
        gc.enable()


def hvp_reference(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """d2/dx2 of x^3 sin x = 6x sin x + 6x^2 cos x - x^3 sin x (the Hessian is diagonal)."""
    x = x.astype(np.float64)
    return (6 * x * np.sin(x) + 6 * x * x * np.cos(x) - x ** 3 * np.sin(x)) * v


def _blocking(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """A call of the JAX function `fn` on `args` that waits for its result."""
    def call() -> Any:
        return fn(*args).block_until_ready()
    return call


def rows(quick: bool) -> list[tuple[str, Callable[[], Any], Callable[[], Any] | None, Any, Any]]:
    """(name, tracejit call, JAX call or None, reference, check tolerance)."""
    rng = np.random.default_rng(0)
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    out = []

    def f_tj(x: Any) -> Any:
        return tj.reduce_sum(x ** 3. * tj.sin(x))

    hvp_tj = tj.function(lambda x, v: tj.autodiff.hvp(f_tj, x, v))
    if jax is not None:
        def f_jax(x: Any) -> Any:
            return jnp.sum(x ** 3 * jnp.sin(x))
        hvp_jax = jax.jit(lambda x, v: jax.jvp(jax.grad(f_jax), (x,), (v,))[1])
    for n in (1_000, 100_000):
        x = rng.uniform(-2, 2, n).astype(np.float32)
        v = rng.standard_normal(n).astype(np.float32)
        xt, vt = tj.constant(x), tj.constant(v)
        call_jax = None
        if jax is not None:
            call_jax = _blocking(hvp_jax, jnp.asarray(x), jnp.asarray(v))
        out.append((f"hvp n={n:,}", lambda xt=xt, vt=vt: hvp_tj(xt, vt), call_jax,
                    hvp_reference(x, v), 1e-4))

    w = rng.standard_normal((1000, 10)).astype(np.float32) / 3
    wt = tj.constant(w)

    def g_tj(x: Any) -> Any:
        return tj.tanh(tj.reshape(wt @ tj.reshape(x, (10, 1)), (1000,))) * tj.reduce_sum(x * x)

    jac_tj = tj.function(tj.autodiff.jacfwd(g_tj))
    x10 = rng.uniform(-1, 1, 10).astype(np.float32)
    xt10 = tj.constant(x10)
    call_jax = None
    if jax is not None:
        wj = jnp.asarray(w)

        def g_jax(x: Any) -> Any:
            return jnp.tanh(wj @ x) * jnp.sum(x * x)
        call_jax = _blocking(jax.jit(jax.jacfwd(g_jax)), jnp.asarray(x10))
    xd, wd = x10.astype(np.float64), w.astype(np.float64)
    t = np.tanh(wd @ xd)
    ref = (1 - t * t)[:, None] * wd * np.sum(xd * xd) + t[:, None] * 2 * xd[None, :]
    out.append(("jacfwd 10->1000", lambda: jac_tj(xt10), call_jax, ref, 1e-4))
    return out


def check(name: str, got: Any, ref: np.ndarray, tol: float) -> None:
    got = np.asarray(got, np.float64)
    err = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    if not err <= tol:
        raise SystemExit(f"{name}: result differs from the float64 reference by {err:.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="timing per row and peer")
    args = ap.parse_args()
    table = rows(False)
    timers: list[tuple[str, str, Callable[[], Any]]] = []
    for name, call_tj, call_jax, ref, tol in table:
        check(f"{name} tracejit", call_tj(), ref, tol)
        timers.append((name, "tracejit", call_tj))
        if call_jax is not None:
            check(f"{name} jax", call_jax(), ref, tol)
            timers.append((name, "jax.jit", call_jax))
    times: dict[tuple[str, str], list[float]] = {(n, p): [] for n, p, _ in timers}
    sizes = {(n, p): calibrate(fn) for n, p, fn in timers}
    for r in range(args.rounds):
        order = timers[r % len(timers):] + timers[:r % len(timers)]
        for n, p, fn in order:
            k = sizes[(n, p)]
            budget = time.perf_counter() + args.seconds / args.rounds
            while time.perf_counter() < budget:
                times[(n, p)].append(sample(fn, k))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    print(f"{'row':<18} {'peer':<9} {'median us':>10} {'min us':>9} {'x jax (median)':>15}")
    for name, *_ in table:
        jax_t = times.get((name, "jax.jit"))
        jmed = statistics.median(jax_t) if jax_t else None
        for peer in ("tracejit", "jax.jit"):
            ts = times.get((name, peer))
            if not ts:
                continue
            med = statistics.median(ts)
            ratio = f"{med / jmed:.2f}x" if jmed else "-"
            print(f"{name:<18} {peer:<9} {med * 1e6:>10.1f} {min(ts) * 1e6:>9.1f} {ratio:>15}")


if __name__ == "__main__":
    main()
