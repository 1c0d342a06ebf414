"""Newton-CG on the Rosenbrock function, with Hessian-vector products two ways.

Each Newton step solves H p = -g by conjugate gradients, where every product H v is
either the gradient of (grad f . v), a tape inside a tape (reverse over reverse), or the
derivative of grad f along v, a tape inside a `ForwardAccumulator` (forward over
reverse: one forward sweep over the gradient computation, the cheaper of the two). Both
compile into one native function; no Hessian is ever formed.

    python examples/newton.py
"""
from __future__ import annotations

import numpy as np

import tracejit as tj


def rosenbrock(x):
    return tj.reduce_sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@tj.compile
def value_and_grad(x):
    with tj.GradientTape() as tape:
        tape.watch(x)
        y = rosenbrock(x)
    return y, tape.gradient(y, x)


@tj.compile
def hvp(x, v):
    with tj.GradientTape() as outer:
        outer.watch(x)
        with tj.GradientTape() as inner:
            inner.watch(x)
            y = rosenbrock(x)
        g = inner.gradient(y, x)
        gv = tj.reduce_sum(g * v)
    return outer.gradient(gv, x)


@tj.compile
def hvp_forward(x, v):
    with tj.autodiff.ForwardAccumulator(x, v) as acc:
        with tj.GradientTape() as tape:
            tape.watch(x)
            y = rosenbrock(x)
        g = tape.gradient(y, x)
    return acc.jvp(g)          # (tj.autodiff.hvp(rosenbrock, x, v) does the same)


def conjugate_gradient(x, g, max_iter=50, tol=1e-10, hvp=hvp):
    """Approximately solve H p = -g with CG, stopping at negative curvature."""
    p = np.zeros_like(g)
    r = -g.copy()
    d = r.copy()
    rr = r @ r
    for _ in range(max_iter):
        hd = hvp(x, d).numpy()
        curv = d @ hd
        if curv <= 0:
            return p if p.any() else -g
        alpha = rr / curv
        p = p + alpha * d
        r = r - alpha * hd
        rr_new = r @ r
        if np.sqrt(rr_new) < tol:
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p


def newton_cg(x0, steps=50, verbose=True, hvp=hvp):
    x = np.array(x0, dtype=np.float64)
    for k in range(steps):
        f, g = value_and_grad(x)
        f, g = float(f), g.numpy()
        if verbose:
            print(f"iter {k:2d}  f = {f:.3e}  |g| = {np.linalg.norm(g):.3e}  "
                  f"x[:3] = {np.array2string(x[:3], precision=5)}")
        if np.linalg.norm(g) < 1e-10:
            break
        p = conjugate_gradient(x, g, hvp=hvp)
        t = 1.0
        while float(value_and_grad(x + t * p)[0]) > f + 1e-4 * t * (g @ p) and t > 1e-8:
            t *= 0.5
        x = x + t * p
    return x


if __name__ == "__main__":
    x = newton_cg(np.zeros(6))
    print("minimum found at", x, "(expected all ones)")
    print("again, with forward-over-reverse Hessian-vector products:")
    x = newton_cg(np.zeros(6), hvp=hvp_forward)
    print("minimum found at", x, "(expected all ones)")
