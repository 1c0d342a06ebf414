#!/usr/bin/env python3
"""W7: loops that stay loops. The 8-mass spring chain of `examples/spring_chain.py`,
10,000 semi-implicit Euler steps in float64, side by side:

- tracejit `tj.fori_loop` in `@tj.compile` (forward, and value + gradient w.r.t. the
  initial positions and the spring constant);
- a hand-written `numba.njit` loop (forward);
- `jax.lax.fori_loop` under `jax.jit` (forward, and `jax.value_and_grad`);
- `tf.while_loop` in `tf.function` (forward).

Reports the first call (trace + compile + run) and the median steady call, each result
checked against a NumPy float64 reference, and for tracejit the optimized IR size at 10
and 10,000 steps, the steady time of a `while_loop` gradient with a data-dependent trip
count at 1k, 10k and 100k iterations, and the peak RSS growth of one gradient call at
10k, 40k and 160k steps for the chain written with `fori_loop` or `while_loop` (with and
without `maximum_iterations` and `tj.recompute_grad` on the body; one subprocess each).
Every peer is optional: run it with any interpreter; rows whose framework is missing are
skipped. The project's own venv has tracejit, the peers venv
(~/.cache/tracejit-peers-venv) the peers:

    .venv/bin/python benchmarks/loops_bench.py
    ~/.cache/tracejit-peers-venv/bin/python benchmarks/loops_bench.py
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import numpy as np  # noqa: E402

N, STEPS, DT, REST, K = 8, 10_000, 1e-3, 1.0, 3.0
X0 = np.arange(1, N + 1, dtype=np.float64) + np.random.default_rng(0).uniform(-0.2, 0.2, N)
V0 = np.zeros(N)


def reference(steps: int = STEPS) -> np.ndarray:
    x, v = X0.copy(), V0.copy()
    for _ in range(steps):
        t = K * (x - np.concatenate([[0.0], x[:-1]]) - REST)
        v = v + DT * (np.concatenate([t[1:], [0.0]]) - t)
        x = x + DT * v
    return x


def timed(name: str, f: Callable[[], Any], check: Callable[[Any], None]) -> None:
    t0 = time.perf_counter()
    out = f()
    first = time.perf_counter() - t0
    check(out)
    samples = []
    for _ in range(15):
        t0 = time.perf_counter()
        f()
        samples.append(time.perf_counter() - t0)
    print(f"{name:34s} first {first * 1e3:9.1f} ms   steady {statistics.median(samples) * 1e3:8.3f}"
          f" ms (min {min(samples) * 1e3:.3f})")


def close(want: np.ndarray) -> Callable[[Any], None]:
    def check(got: Any) -> None:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=1e-12)
    return check


def run_tracejit(want: np.ndarray) -> None:
    import tracejit as tj
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import spring_chain as sc
    x0, v0, k = tj.constant(X0), tj.constant(V0), tj.constant(K, tj.float64)
    timed("tracejit fori_loop (forward)", lambda: sc.final_positions(x0, v0, k), close(want))
    target = tj.constant(want + 0.01)
    timed("tracejit fori_loop (value+grad)", lambda: sc.loss_and_grads(x0, v0, k, target),
          lambda out: None)
    for steps in (10, STEPS):
        f = tj.compile(lambda a, b, c, s=steps: sc.simulate(a, b, c, s))
        n = len(f.lower(x0, v0, k).as_text("opt").splitlines())
        print(f"tracejit optimized IR at {steps:6d} steps: {n} lines")


#: How the subprocess of `peak_rss_of_gradient` writes the chain's loop. `n` is a tensor, so
#: the `while_loop` forms have a data-dependent trip count.
FORMS = {
    "fori_loop": "x, _ = tj.fori_loop(0, steps, lambda i, s: sc.step(s[0], s[1], c), (a, b))",
    "fori_loop + recompute_grad":
        "x, _ = tj.fori_loop(0, steps, lambda i, s: tj.recompute_grad("
        "lambda x, v: sc.step(x, v, c))(s[0], s[1]), (a, b))",
    "while_loop, maximum_iterations":
        "_, x, _ = tj.while_loop(lambda i, x, v: i < n, lambda i, x, v: (i + 1,) + "
        "sc.step(x, v, c), (0, a, b), maximum_iterations=steps)",
    "while_loop + recompute_grad, max_iter":
        "_, x, _ = tj.while_loop(lambda i, x, v: i < n, lambda i, x, v: (i + 1,) + "
        "tj.recompute_grad(lambda x, v: sc.step(x, v, c))(x, v), (0, a, b), "
        "maximum_iterations=steps)",
    "while_loop, no maximum_iterations":
        "_, x, _ = tj.while_loop(lambda i, x, v: i < n, lambda i, x, v: (i + 1,) + "
        "sc.step(x, v, c), (0, a, b))",
}


def peak_rss_of_gradient(steps: int, form: str = "fori_loop") -> float:
    """MiB of peak RSS growth of one gradient call over the RSS before it (subprocess,
    Linux: the peak is reset through /proc/self/clear_refs after compiling and a first call
    with zero steps): the heap the call allocates, its stacks of saved states included."""
    code = f"""
import sys, os
sys.path.insert(0, {os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")!r})
import numpy as np, tracejit as tj, spring_chain as sc
x0 = tj.constant(np.arange(1, 9, dtype=np.float64)); v0 = tj.constant(np.zeros(8))
k = tj.constant(3.0, tj.float64)
n = tj.constant({steps})
steps = {steps}
@tj.compile
def grad(a, b, c, n):
    with tj.GradientTape() as t:
        t.watch([a, c])
        {FORMS[form]}
        loss = tj.reduce_sum(x ** 2)
    return t.gradient(loss, [a, c])
grad.lower(x0, v0, k, n).concrete.executable()
grad(x0, v0, k, 0 * n)
def status(key):
    line = next(x for x in open("/proc/self/status") if x.startswith(key))
    return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")       # peak RSS := current RSS (Linux)
before = status("VmRSS:")
grad(x0, v0, k, n)
print((status("VmHWM:") - before) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, TRACEJIT_CACHE="0"))
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def while_backward_times() -> None:
    """Steady CPU time (best of 7) of the gradient of a `while_loop` whose trip count is a
    tensor (data-dependent), at 1k, 10k and 100k iterations: linear when the time per
    iteration stays flat."""
    import tracejit as tj

    def make(max_iters: int | None) -> Any:
        @tj.compile
        def grad(a: Any, n: Any) -> Any:
            with tj.GradientTape() as t:
                t.watch(a)
                _, y = tj.while_loop(lambda i, y: i < n,
                                     lambda i, y: (i + 1, y * 0.9999 + 1e-4 * tj.sin(a + y)),
                                     (0, a), maximum_iterations=max_iters)
            return t.gradient(y, a)
        return grad
    for max_iters in (None, 200_000):
        grad = make(max_iters)
        for n in (1_000, 10_000, 100_000):
            a, nt = tj.constant(0.5, tj.float64), tj.constant(n)
            grad(a, nt)
            samples = []
            for _ in range(7):  # CPU time of this process: the machine may be shared
                t0 = time.process_time()
                grad(a, nt)
                samples.append(time.process_time() - t0)
            best = min(samples)
            print(f"tracejit while_loop gradient, maximum_iterations={max_iters!s:7s} "
                  f"n={n:7d}: {best * 1e3:8.3f} ms CPU ({best / n * 1e9:6.1f} ns/iteration)")


def run_numba(want: np.ndarray) -> None:
    import numba

    @numba.njit
    def sim(x0: np.ndarray, v0: np.ndarray, k: float, steps: int) -> np.ndarray:
        x, v, n = x0.copy(), v0.copy(), x0.shape[0]
        t = np.empty(n)
        for _ in range(steps):
            for i in range(n):
                t[i] = k * (x[i] - (x[i - 1] if i > 0 else 0.0) - REST)
            for i in range(n):
                v[i] += DT * ((t[i + 1] if i + 1 < n else 0.0) - t[i])
                x[i] += DT * v[i]
        return x
    timed("numba njit loop (forward)", lambda: sim(X0, V0, K, STEPS), close(want))


def run_jax(want: np.ndarray) -> None:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def step(i: Any, s: Any, k: Any) -> Any:
        x, v = s
        t = k * (x - jnp.concatenate([jnp.zeros(1), x[:-1]]) - REST)
        v = v + DT * (jnp.concatenate([t[1:], jnp.zeros(1)]) - t)
        return x + DT * v, v

    @jax.jit
    def fwd(x0: Any, v0: Any, k: Any) -> Any:
        return jax.lax.fori_loop(0, STEPS, lambda i, s: step(i, s, k), (x0, v0))[0]
    x0, v0 = jnp.asarray(X0), jnp.asarray(V0)
    timed("jax.lax.fori_loop jit (forward)",
          lambda: fwd(x0, v0, K).block_until_ready(), close(want))
    target = jnp.asarray(want + 0.01)
    vg = jax.jit(jax.value_and_grad(lambda x, k: jnp.sum((fwd(x, v0, k) - target) ** 2),
                                    argnums=(0, 1)))
    timed("jax value_and_grad (value+grad)",
          lambda: jax.block_until_ready(vg(x0, K)), lambda out: None)


def run_tf(want: np.ndarray) -> None:
    import tensorflow as tf

    @tf.function
    def fwd(x0: Any, v0: Any, k: Any) -> Any:
        def body(i: Any, x: Any, v: Any) -> Any:
            t = k * (x - tf.concat([tf.zeros(1, tf.float64), x[:-1]], 0) - REST)
            v = v + DT * (tf.concat([t[1:], tf.zeros(1, tf.float64)], 0) - t)
            return i + 1, x + DT * v, v
        return tf.while_loop(lambda i, x, v: i < STEPS, body, (0, x0, v0))[1]
    x0, v0, k = tf.constant(X0), tf.constant(V0), tf.constant(K, tf.float64)
    timed("tf.while_loop in tf.function (forward)", lambda: fwd(x0, v0, k).numpy(),
          close(want))


def main() -> None:
    want = reference()
    print(f"W7: 8-mass spring chain, {STEPS} steps, float64 ({sys.executable})")
    for name, run in (("tracejit", run_tracejit), ("numba", run_numba), ("jax", run_jax),
                      ("tensorflow", run_tf)):
        try:
            run(want)
        except ImportError as e:
            print(f"{name:34s} skipped ({e.name} not installed)")
    try:
        import tracejit  # noqa: F401
    except ImportError:
        return
    while_backward_times()
    for form in FORMS:
        rss = [peak_rss_of_gradient(steps, form) for steps in (10_000, 40_000, 160_000)]
        print(f"tracejit gradient peak RSS growth, {form:38s} at 10k/40k/160k steps: "
              + " / ".join(f"{r:.1f}" for r in rss) + " MiB")


if __name__ == "__main__":
    main()
