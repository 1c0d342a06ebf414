"""TensorFlow's "Automatic differentiation and gradient tape" tutorial, run with tracejit.

Every program is the tutorial's own code with `import tracejit as tf`; each runs eagerly
and again with its work inside `@tf.function` (tracejit's `compile`). Run:

    python examples/tutorial.py

Each program is a module-level function, so `tracejit dump examples/tutorial.py:NAME`
can show what the compiler makes of it.
"""
from __future__ import annotations

import warnings

import tracejit as tf

tf.enable_eager_execution()  # old tutorial versions call this; eager is the default


def gradient_wrt_input(x):
    """1. dz/dx for z = (sum x)^2."""
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    return t.gradient(z, x)


def gradient_wrt_intermediate(x):
    """2. dz/dy for the intermediate y = sum x."""
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    return t.gradient(z, y)


def persistent_tape(x):
    """3. Two gradients from one persistent tape."""
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * y
    dz_dx = t.gradient(z, x)  # 108.0 (4*x^3 at x = 3)
    dy_dx = t.gradient(y, x)  # 6.0
    del t
    return dz_dx, dy_dx


def f(x, y):
    output = 1.0
    for i in range(y):
        if i > 1 and i < 5:
            output = tf.multiply(output, x)
    return output


def grad(x, y):
    """4. Python control flow is recorded as it runs."""
    with tf.GradientTape() as t:
        t.watch(x)
        out = f(x, y)
    return t.gradient(out, x)


def higher_order(x):
    """5. Nested tapes: first and second derivative of x^3."""
    with tf.GradientTape() as t:
        with tf.GradientTape() as t2:
            y = x * x * x
        dy_dx = t2.gradient(y, x)
    d2y_dx2 = t.gradient(dy_dx, x)
    return dy_dx, d2y_dx2


def square_variable(input_var):
    """6a. Trainable variables are watched without `watch`."""
    with tf.GradientTape() as tape:
        result = tf.square(input_var)
    return tape.gradient(result, input_var)


def square_constant(input_const, watch=True):
    """6b. A constant must be watched; without `watch` the gradient is None."""
    with tf.GradientTape() as tape:
        if watch:
            tape.watch(input_const)
        result = tf.square(input_const)
    return tape.gradient(result, input_const)


def falling_apple(time):
    """7. Acceleration as the second derivative of position."""
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as inner_tape:
            position = 4.9 * time ** 2
        speed = inner_tape.gradient(position, time)
    acceleration = outer_tape.gradient(speed, time)
    return speed, acceleration


def run(compiled: bool) -> None:
    wrap = tf.function if compiled else (lambda fn: fn)
    mode = "compiled" if compiled else "eager"
    print(f"--- {mode} ---")
    print("executing eagerly:", tf.executing_eagerly())

    x = tf.ones((2, 2))
    dz_dx = wrap(gradient_wrt_input)(x)
    for i in [0, 1]:
        for j in [0, 1]:
            assert dz_dx[i][j].numpy() == 8.0
    print("1. dz/dx =", dz_dx.numpy().tolist())

    dz_dy = wrap(gradient_wrt_intermediate)(x)
    assert dz_dy.numpy() == 8.0
    print("2. dz/dy =", dz_dy.numpy())

    dz_dx, dy_dx = wrap(persistent_tape)(tf.constant(3.0))
    assert dz_dx.numpy() == 108.0 and dy_dx.numpy() == 6.0
    print("3. dz/dx =", dz_dx.numpy(), " dy/dx =", dy_dx.numpy())

    x = tf.convert_to_tensor(2.0)
    g = wrap(grad)
    assert g(x, 6).numpy() == 12.0
    assert g(x, 5).numpy() == 12.0
    assert g(x, 4).numpy() == 4.0
    print("4. grad(x, 6), grad(x, 5), grad(x, 4) =", g(x, 6).numpy(), g(x, 5).numpy(),
          g(x, 4).numpy())

    x = tf.Variable(1.0)
    dy_dx, d2y_dx2 = wrap(higher_order)(x)
    assert dy_dx.numpy() == 3.0
    assert d2y_dx2.numpy() == 6.0
    print("5. dy/dx =", dy_dx.numpy(), " d2y/dx2 =", d2y_dx2.numpy())

    gradient = wrap(square_variable)(tf.Variable(initial_value=3.))
    assert gradient.numpy() == 6.0
    print("6. d(v^2)/dv =", gradient.numpy(), end="")
    gradient = wrap(square_constant)(tf.constant(3.))
    assert gradient.numpy() == 6.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unwatched = wrap(square_constant)(tf.constant(3.), False)
    assert unwatched is None
    print("; watched constant:", gradient.numpy(), "; unwatched constant:", unwatched)

    speed, acceleration = wrap(falling_apple)(tf.Variable(0.))
    assert speed.numpy() == 0.0
    assert acceleration.numpy() == tf.constant(9.8).numpy()
    print("7. speed =", speed.numpy(), " acceleration =", acceleration.numpy())


if __name__ == "__main__":
    run(compiled=False)
    run(compiled=True)
