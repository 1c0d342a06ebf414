"""Linear regression trained by a compiled step that updates Variables in place.

The whole step (forward, gradient by a tape, and the `assign_sub` updates) is one native
function, traced once; the Variables are read and written by reference at every call.

    python examples/linear_regression.py
"""
from __future__ import annotations

import numpy as np

import tracejit as tj

TRUE_W = np.array([[2.0], [-3.4], [0.5]], np.float32)
TRUE_B = 4.2


def make_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, TRUE_W.shape[0])).astype(np.float32)
    y = (X @ TRUE_W + TRUE_B + 0.01 * rng.normal(size=(n, 1))).astype(np.float32)
    return X, y


w = tj.Variable(np.zeros_like(TRUE_W), name="w")
b = tj.Variable(0.0, name="b")


@tj.compile
def train_step(X, y, learning_rate):
    with tj.GradientTape() as tape:
        pred = tj.matmul(X, w) + b
        loss = tj.reduce_mean(tj.square(pred - y))
    dw, db = tape.gradient(loss, [w, b])
    w.assign_sub(learning_rate * dw)
    b.assign_sub(learning_rate * db)
    return loss


def train(steps: int = 300, learning_rate: float = 0.1, verbose: bool = True) -> float:
    X, y = make_data()
    loss = None
    for step in range(steps):
        loss = train_step(X, y, learning_rate)
        if verbose and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:3d}  loss {float(loss):.6f}")
    return float(loss)


if __name__ == "__main__":
    train()
    print("learned w:", w.numpy().ravel(), " true w:", TRUE_W.ravel())
    print("learned b:", float(b.numpy()), " true b:", TRUE_B)
    print("traces of train_step:", train_step.trace_count)
