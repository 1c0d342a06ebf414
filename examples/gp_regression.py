"""Gaussian-process regression: fit the kernel's hyperparameters by gradient descent on the
negative log marginal likelihood, through a Cholesky factorization.

With the RBF kernel k(x, x') = s^2 exp(-|x - x'|^2 / (2 l^2)) and noise variance n^2,
K = k(X, X) + n^2 I = L L^T and

    -log p(y | X) = 1/2 y^T K^-1 y + sum(log diag L) + N/2 log(2 pi),

with K^-1 y from `tj.linalg.cholesky_solve`. The three hyperparameters are Variables
holding their logarithms (so they stay positive); one compiled step computes the loss,
its gradient through `cholesky` and the triangular solves (a tape), and an Adam update.
The posterior mean at new points is k(X*, X) K^-1 y.

    python examples/gp_regression.py
"""
from __future__ import annotations

import math

import numpy as np

import tracejit as tj


def make_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, n))[:, None]
    y = np.sin(2 * x) + 0.1 * rng.standard_normal((n, 1))
    return x, y


# log lengthscale, log signal std, log noise std
params = [tj.Variable(np.log(2.0), name="log_length"),
          tj.Variable(np.log(0.5), name="log_signal"),
          tj.Variable(np.log(0.5), name="log_noise")]


def kernel(a: tj.Tensor, b: tj.Tensor, log_length: tj.Tensor, log_signal: tj.Tensor
           ) -> tj.Tensor:
    d2 = tj.square(a - tj.transpose(b))          # (n, 1) - (1, m): squared distances
    return tj.exp(2.0 * log_signal) * tj.exp(-0.5 * d2 * tj.exp(-2.0 * log_length))


def neg_log_likelihood(x: tj.Tensor, y: tj.Tensor, log_length: tj.Tensor,
                       log_signal: tj.Tensor, log_noise: tj.Tensor) -> tj.Tensor:
    n = x.shape[0]
    k = kernel(x, x, log_length, log_signal) + tj.exp(2.0 * log_noise) * tj.eye(
        n, dtype=tj.float64)
    chol = tj.linalg.cholesky(k)
    alpha = tj.linalg.cholesky_solve(chol, y)
    fit = 0.5 * tj.reduce_sum(y * alpha)
    complexity = tj.reduce_sum(tj.math.log(tj.linalg.diag_part(chol)))
    return fit + complexity + 0.5 * n * math.log(2 * math.pi)


class Adam:
    """Adam's moments as Variables, so the update runs inside the compiled step."""

    def __init__(self, variables: list[tj.Variable], lr: float = 0.05) -> None:
        self.lr = lr
        self.m = [tj.Variable(np.zeros_like(v.numpy())) for v in variables]
        self.v = [tj.Variable(np.zeros_like(v.numpy())) for v in variables]
        self.t = tj.Variable(0.0, dtype=tj.float64)

    def apply(self, grads: list[tj.Tensor], variables: list[tj.Variable]) -> None:
        self.t.assign_add(1.0)
        for g, var, m, v in zip(grads, variables, self.m, self.v):
            m.assign(0.9 * m + 0.1 * g)
            v.assign(0.999 * v + 0.001 * g * g)
            mhat = m / (1.0 - 0.9 ** self.t)
            vhat = v / (1.0 - 0.999 ** self.t)
            var.assign_sub(self.lr * mhat / (tj.sqrt(vhat) + 1e-8))


opt = Adam(params)


@tj.function
def train_step(x: tj.Tensor, y: tj.Tensor) -> tj.Tensor:
    with tj.GradientTape() as tape:
        loss = neg_log_likelihood(x, y, *params)
    opt.apply(tape.gradient(loss, params), params)
    return loss


@tj.function
def predict(x: tj.Tensor, y: tj.Tensor, x_new: tj.Tensor) -> tj.Tensor:
    log_length, log_signal, log_noise = params
    n = x.shape[0]
    k = kernel(x, x, log_length, log_signal) + tj.exp(2.0 * log_noise) * tj.eye(
        n, dtype=tj.float64)
    alpha = tj.linalg.cholesky_solve(tj.linalg.cholesky(k), y)
    return tj.matmul(kernel(x_new, x, log_length, log_signal), alpha)


def train(steps: int = 200, verbose: bool = True) -> list[float]:
    x, y = make_data()
    losses = []
    for step in range(steps):
        losses.append(float(train_step(tj.constant(x), tj.constant(y))))
        if verbose and (step % 40 == 0 or step == steps - 1):
            print(f"step {step:3d}  -log p(y) {losses[-1]:9.4f}  "
                  + "  ".join(f"{name} {math.exp(float(p.numpy())):.4f}"
                              for name, p in zip(("length", "signal", "noise"), params)))
    return losses


if __name__ == "__main__":
    train()
    x, y = make_data()
    x_new = np.linspace(-3, 3, 7)[:, None]
    mean = predict(tj.constant(x), tj.constant(y), tj.constant(x_new)).numpy()
    for xi, mi in zip(x_new[:, 0], mean[:, 0]):
        print(f"x={xi:5.2f}  posterior mean {mi:7.4f}  sin(2x) {math.sin(2 * xi):7.4f}")
