"""A small convolutional network trained on synthetic images.

Images are 16x16 grayscale with one of three patterns at a random place plus noise:
a horizontal bar, a vertical bar or a square's outline. The network is TensorFlow's
textbook CNN at miniature size:

    conv2d 3x3, 8 channels, SAME -> relu -> max_pool 2x2
    conv2d 3x3, 16 channels, SAME -> relu -> max_pool 2x2
    flatten (4 * 4 * 16) -> dense 3 -> sparse softmax cross entropy

One compiled training step (`tj.function`) computes the loss, its gradient with respect
to every Variable (a tape: the convolutions' and pools' gradients are convolutions,
`conv_filter_grad` and scatters) and a momentum SGD update, all in one native call.

    python examples/cnn.py
"""
from __future__ import annotations

import numpy as np

import tracejit as tj

SIZE, CLASSES = 16, 3


def make_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 16, 16, 1) float32 and their labels (n,) int32."""
    rng = np.random.default_rng(seed)
    x = 0.3 * rng.standard_normal((n, SIZE, SIZE, 1)).astype(np.float32)
    labels = rng.integers(0, CLASSES, n).astype(np.int32)
    for img, label in zip(x, labels):
        r, c = rng.integers(2, SIZE - 8, 2)
        if label == 0:
            img[r + 3, c:c + 6, 0] += 1.0                 # horizontal bar
        elif label == 1:
            img[r:r + 6, c + 3, 0] += 1.0                 # vertical bar
        else:
            img[r:r + 5, c, 0] += 1.0                     # a square's outline
            img[r:r + 5, c + 4, 0] += 1.0
            img[r, c:c + 5, 0] += 1.0
            img[r + 4, c:c + 5, 0] += 1.0
    return x, labels


def _init(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> tj.Variable:
    return tj.Variable((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))


rng0 = np.random.default_rng(1)
params = {
    "w1": _init(rng0, (3, 3, 1, 8), 9), "b1": tj.Variable(np.zeros(8, np.float32)),
    "w2": _init(rng0, (3, 3, 8, 16), 72), "b2": tj.Variable(np.zeros(16, np.float32)),
    "w3": _init(rng0, (4 * 4 * 16, CLASSES), 256),
    "b3": tj.Variable(np.zeros(CLASSES, np.float32)),
}
velocity = {k: tj.Variable(np.zeros(v.shape, np.float32)) for k, v in params.items()}


def logits(x: tj.Tensor) -> tj.Tensor:
    p = params
    h = tj.nn.relu(tj.nn.conv2d(x, p["w1"], 1, "SAME") + p["b1"])
    h = tj.nn.max_pool2d(h, 2, 2, "VALID")                        # (n, 8, 8, 8)
    h = tj.nn.relu(tj.nn.conv2d(h, p["w2"], 1, "SAME") + p["b2"])
    h = tj.nn.max_pool2d(h, 2, 2, "VALID")                        # (n, 4, 4, 16)
    return tj.reshape(h, [-1, 4 * 4 * 16]) @ p["w3"] + p["b3"]


@tj.function
def train_step(x: tj.Tensor, labels: tj.Tensor, lr: float, momentum: float) -> tj.Tensor:
    with tj.GradientTape() as tape:
        loss = tj.reduce_mean(tj.nn.sparse_softmax_cross_entropy_with_logits(labels,
                                                                            logits(x)))
    grads = tape.gradient(loss, params)
    for k, v in params.items():
        velocity[k].assign(momentum * velocity[k] - lr * grads[k])
        v.assign_add(velocity[k])
    return loss


@tj.function
def accuracy(x: tj.Tensor, labels: tj.Tensor) -> tj.Tensor:
    hit = tj.equal(tj.cast(tj.argmax(logits(x), axis=1), tj.int32), labels)
    return tj.reduce_mean(tj.cast(hit, tj.float32))


def train(steps: int = 60, batch: int = 64, verbose: bool = True) -> list[float]:
    """Train on fresh batches; returns the loss of every step."""
    losses = []
    for step in range(steps):
        x, y = make_images(batch, seed=100 + step)
        losses.append(float(train_step(tj.constant(x), tj.constant(y), 0.05, 0.9)))
        if verbose and step % 10 == 0:
            print(f"step {step:3d}  loss {losses[-1]:.4f}")
    return losses


if __name__ == "__main__":
    train()
    xt, yt = make_images(500, seed=7)
    print(f"test accuracy {float(accuracy(tj.constant(xt), tj.constant(yt))):.3f}")
