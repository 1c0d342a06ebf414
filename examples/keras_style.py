"""A Keras-style model: layers are `tj.Module`s whose weights are created lazily, on the
first (compiled) call, from the shape of the first input, as `tf.function` allows.

The training step has an `input_signature` with a `None` batch dimension, so every batch
size is accepted (and checked: a batch with the wrong number of features is a TypeError
naming the argument). The last batch of each epoch is smaller than the others.

    python examples/keras_style.py
"""
from __future__ import annotations

import numpy as np

import tracejit as tj

FEATURES, HIDDEN = 8, 16


class Dense(tj.Module):
    """A dense layer `activation(x @ w + b)`; `w` and `b` are made on the first call."""

    def __init__(self, units: int, activation=None, name: str | None = None):
        super().__init__(name=name)
        self.units = units
        self.activation = activation
        self.w = None
        self.b = None

    @tj.function
    def __call__(self, x):
        if self.w is None:                  # the first call only: build from x's shape
            with self.name_scope:
                init = tj.random.normal([x.shape[-1], self.units],
                                        stddev=(2.0 / x.shape[-1]) ** 0.5)
                self.w = tj.Variable(init, name="w")
                self.b = tj.Variable(tj.zeros([self.units]), name="b")
        y = tj.matmul(x, self.w) + self.b
        return self.activation(y) if self.activation is not None else y


class MLP(tj.Module):
    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        self.hidden = Dense(HIDDEN, tj.nn.relu, name="hidden")
        self.out = Dense(1, name="out")

    @tj.function
    def __call__(self, x):
        return self.out(self.hidden(x))


def make_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = (np.sin(X[:, :1]) + 0.5 * X[:, 1:2] ** 2 - X[:, 2:3]).astype(np.float32)
    return X, y


def make_step(model: MLP, learning_rate: float = 0.05):
    """The compiled training step: forward, gradient and SGD update in one native call."""
    @tj.function(input_signature=[tj.TensorSpec([None, FEATURES], tj.float32),
                                  tj.TensorSpec([None, 1], tj.float32)])
    def train_step(x, y):
        with tj.GradientTape() as tape:
            loss = tj.reduce_mean(tj.square(model(x) - y))
        variables = model.trainable_variables
        for v, g in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(learning_rate * g)
        return loss
    return train_step


def train(epochs: int = 20, batch: int = 128, verbose: bool = True, seed: int = 0
          ) -> tuple[list[float], MLP, object]:
    """Train for `epochs` epochs over 1000 rows (the last batch has 1000 % batch rows);
    returns the mean loss of each epoch, the model and the step."""
    tj.random.set_seed(seed)
    X, y = make_data()
    model = MLP()
    step = make_step(model)
    losses: list[float] = []
    for epoch in range(epochs):
        total = 0.0
        for i in range(0, len(X), batch):
            total += float(step(X[i:i + batch], y[i:i + batch])) * len(X[i:i + batch])
        losses.append(total / len(X))
        if verbose and (epoch % 5 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:2d}  loss {losses[-1]:.4f}")
    return losses, model, step


if __name__ == "__main__":
    losses, model, step = train()
    print("variables:", [f"{v.name} {tuple(v.shape)}" for v in model.trainable_variables])
    print("traces of the training step:", step.experimental_get_tracing_count())
