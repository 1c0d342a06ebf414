"""examples/cnn.py: a few compiled training steps of the small convolutional network
lower the loss on synthetic images."""
from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import numpy as np


def _example() -> ModuleType:
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "cnn.py")
    spec = importlib.util.spec_from_file_location("cnn_example", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_training_lowers_the_loss() -> None:
    cnn = _example()
    losses = cnn.train(steps=25, batch=32, verbose=False)
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.6 * losses[0], losses
