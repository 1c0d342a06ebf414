#!/usr/bin/env python3
"""W9: one training step of a small MLP (batch 32, 64-32-10, tanh, softmax cross-entropy,
SGD on all four parameters): tracejit compiled (parameters as Variables, updated inside
the function), hand-written NumPy (forward, backward and update by hand), PyTorch eager
(`autograd.grad`, in-place update) and `jax.jit` (value_and_grad, new parameters
returned), in one process, interleaved rounds, medians of back-to-back steps. Every
implementation starts from the same parameters and data; after the timing each one's loss
is checked against NumPy's step from the same start (float32, rtol 1e-4).

Targets (issue 21): tracejit <= 0.5x hand-written NumPy and <= 1.0x PyTorch eager;
`benchmarks/bench.py` runs these four steps as its workload W9 and checks them there
(`bench.py --only W9`).

    python benchmarks/mlp_step_bench.py [--rounds 7] [--seconds 0.2] [--threads 1]

`--threads 1` limits PyTorch to one thread (tracejit's step runs on one).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import seconds_per_call  # noqa: E402

BATCH, INPUTS, HIDDEN, CLASSES = 32, 64, 32, 10
LR = np.float32(0.1)


def data() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, INPUTS)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    params = [(rng.standard_normal((INPUTS, HIDDEN)) * 0.1).astype(np.float32),
              np.zeros(HIDDEN, np.float32),
              (rng.standard_normal((HIDDEN, CLASSES)) * 0.1).astype(np.float32),
              np.zeros(CLASSES, np.float32)]
    return x, y, params


def numpy_step(x: np.ndarray, y: np.ndarray, p: list[np.ndarray]) -> Callable[[], float]:
    onehot = np.eye(CLASSES, dtype=np.float32)[y]

    def step() -> float:
        w1, b1, w2, b2 = p
        h = np.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        prob = e / e.sum(1, keepdims=True)
        loss = float(-np.log(prob[np.arange(BATCH), y]).mean())
        dz = (prob - onehot) / BATCH
        dw2, db2 = h.T @ dz, dz.sum(0)
        da = (dz @ w2.T) * (1 - h * h)
        dw1, db1 = x.T @ da, da.sum(0)
        w1 -= LR * dw1
        b1 -= LR * db1
        w2 -= LR * dw2
        b2 -= LR * db2
        return loss
    return step


def tracejit_step(x: np.ndarray, y: np.ndarray, p: list[np.ndarray]) -> Callable[[], Any]:
    import tracejit as tj
    v = [tj.Variable(a) for a in p]
    xt, yt = tj.constant(x), tj.constant(y)

    @tj.function
    def step(x: tj.Tensor, y: tj.Tensor) -> tj.Tensor:
        with tj.GradientTape() as tape:
            h = tj.tanh(x @ v[0] + v[1])
            z = h @ v[2] + v[3]
            loss = tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(y, z))
        for var, g in zip(v, tape.gradient(loss, v)):
            var.assign_sub(LR * g)
        return loss
    return lambda: step(xt, yt)


def torch_step(x: np.ndarray, y: np.ndarray, p: list[np.ndarray]) -> Callable[[], Any]:
    import torch
    tp = [torch.tensor(a, requires_grad=True) for a in p]
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step() -> Any:
        h = torch.tanh(xt @ tp[0] + tp[1])
        loss = torch.nn.functional.cross_entropy(h @ tp[2] + tp[3], yt)
        grads = torch.autograd.grad(loss, tp)
        with torch.no_grad():
            for t, g in zip(tp, grads):
                t.sub_(LR * g)
        return loss.detach()
    return step


def jax_step(x: np.ndarray, y: np.ndarray, p: list[np.ndarray]) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    def loss_fn(params: list[Any], x: Any, y: Any) -> Any:
        w1, b1, w2, b2 = params
        z = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], 1))

    @jax.jit
    def update(params: list[Any], x: Any, y: Any) -> Any:
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, [a - LR * b for a, b in zip(params, g)]
    state = [[jnp.asarray(a) for a in p]]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def step() -> Any:
        loss, state[0] = update(state[0], xj, yj)
        return loss.block_until_ready()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=0, help="PyTorch's threads (0: default)")
    opts = ap.parse_args()
    x, y, p = data()
    first = numpy_step(x, y, [a.copy() for a in p])()
    makers = {"tracejit.compile": tracejit_step, "numpy (by hand)": numpy_step,
              "torch eager": torch_step, "jax.jit": jax_step}
    steps: dict[str, Callable[[], Any]] = {}
    for name, make in makers.items():
        try:
            if name == "torch eager" and opts.threads:
                import torch
                torch.set_num_threads(opts.threads)
            s = make(x, y, [a.copy() for a in p])
        except ImportError:
            continue
        got = float(s())
        if not np.isclose(got, first, rtol=1e-4):
            raise SystemExit(f"{name}: first loss {got} != NumPy's {first}")
        steps[name] = s
    times: dict[str, list[float]] = {n: [] for n in steps}
    for _ in range(opts.rounds):
        for n, s in steps.items():
            times[n].append(seconds_per_call(s, opts.seconds))
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"W9 MLP step, batch {BATCH}, {INPUTS}-{HIDDEN}-{CLASSES}: medians of "
          f"{opts.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for n, t in med.items():
        print(f"  {n:18} {t * 1e6:9.1f} us   x tracejit {t / med['tracejit.compile']:.2f}")
    base = med["tracejit.compile"]
    print(f"  tracejit / numpy {base / med['numpy (by hand)']:.2f} (target <= 0.5)"
          + (f", / torch eager {base / med['torch eager']:.2f} (target <= 1.0)"
             if "torch eager" in med else ""))


if __name__ == "__main__":
    main()
