"""examples/gp_regression.py: the gradient of the negative log marginal likelihood with
respect to the kernel's hyperparameters (through cholesky and cholesky_solve) against
central finite differences at orders 1 and 2, and the fit lowering the loss."""
from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import numpy as np

import tracejit as tj
from tests.test_grad_ops import gradcheck


def _example() -> ModuleType:
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "gp_regression.py")
    spec = importlib.util.spec_from_file_location("gp_regression", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GP = _example()


def test_likelihood_gradient_matches_finite_differences() -> None:
    x, y = GP.make_data(n=12)
    gradcheck(lambda ll, ls, ln: GP.neg_log_likelihood(tj.constant(x), tj.constant(y), ll, ls,
                                                       ln),
              np.log(1.3), np.log(0.8), np.log(0.3), order=2)


def test_fit_lowers_the_loss_and_finds_the_noise() -> None:
    losses = GP.train(steps=60, verbose=False)
    assert losses[-1] < losses[0] - 50
    assert 0.05 < float(np.exp(GP.params[2].numpy())) < 0.2     # the data's noise is 0.1
