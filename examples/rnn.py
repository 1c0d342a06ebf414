"""A small recurrent network over a sequence with `tj.scan`, trained a few steps.

The task: read a sequence of 50 noisy values and predict their running mean at the end.
The recurrence `h = tanh(x W + h U + b)` is one `scan`, compiled to one native loop (the
compiled function has the same size for any sequence length) and differentiated in
reverse through it.

    python examples/rnn.py
"""
from __future__ import annotations

import time

import numpy as np

import tracejit as tj

SEQ, BATCH, HIDDEN = 50, 32, 16
rng = np.random.default_rng(0)
W = tj.Variable(rng.normal(0, 0.5, (1, HIDDEN)).astype(np.float32), name="W")
U = tj.Variable(rng.normal(0, 0.3, (HIDDEN, HIDDEN)).astype(np.float32), name="U")
b = tj.Variable(np.zeros(HIDDEN, np.float32), name="b")
V = tj.Variable(rng.normal(0, 0.3, (HIDDEN, 1)).astype(np.float32), name="V")
params = [W, U, b, V]


def predict(xs: tj.Tensor) -> tj.Tensor:
    """xs: (SEQ, BATCH, 1) -> (BATCH, 1), from the last hidden state."""
    h0 = tj.zeros([BATCH, HIDDEN])
    hs = tj.scan(lambda h, x: tj.tanh(x @ W + h @ U + b), xs, initializer=h0)
    return hs[-1] @ V


@tj.compile
def train_step(xs: tj.Tensor, ys: tj.Tensor, lr: float) -> tj.Tensor:
    with tj.GradientTape() as tape:
        loss = tj.reduce_mean(tj.square(predict(xs) - ys))
    for p, g in zip(params, tape.gradient(loss, params)):
        p.assign_sub(lr * g)
    return loss


def batch() -> tuple[np.ndarray, np.ndarray]:
    xs = rng.normal(0.5, 1.0, (SEQ, BATCH, 1)).astype(np.float32)
    return xs, xs.mean(axis=0)


def main() -> None:
    t0 = time.perf_counter()
    losses = []
    for step in range(200):
        xs, ys = batch()
        losses.append(float(train_step(xs, ys, 0.05)))
        if step == 0:
            print(f"first step (trace + compile + run): {time.perf_counter() - t0:.2f} s")
    print(f"loss: {np.mean(losses[:10]):.4f} (first 10 steps) -> "
          f"{np.mean(losses[-10:]):.4f} (last 10), {time.perf_counter() - t0:.2f} s in all")
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


if __name__ == "__main__":
    main()
