"""Every program of TUTORIAL.md, written as the tutorial writes it with
`import tracejit as tf`, run eagerly with its exact values; and `examples/tutorial.py`."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import tracejit
import tracejit as tf
import tracejit.tape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "tutorial.py")
HAS_NATIVE = hasattr(importlib.import_module("tracejit.codegen"), "compile_function")
needs_native = pytest.mark.skipif(not HAS_NATIVE,
                                  reason="tracejit.codegen has no compile_function yet")


@pytest.fixture
def fresh_unwatched_warning() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("default")   # Python's default: once per call site
        yield


def test_setup_lines() -> None:
    assert tf.enable_eager_execution() is None
    assert tf.executing_eagerly() is True


# 1 ---------------------------------------------------------------------------------------


def test_1_gradient_with_respect_to_an_input() -> None:
    x = tf.ones((2, 2))
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    dz_dx = t.gradient(z, x)
    for i in [0, 1]:
        for j in [0, 1]:
            assert dz_dx[i][j].numpy() == 8.0
    assert dz_dx.shape == (2, 2) and dz_dx.dtype == np.float32


# 2 ---------------------------------------------------------------------------------------


def test_2_gradient_with_respect_to_an_intermediate_value() -> None:
    x = tf.ones((2, 2))
    with tf.GradientTape() as t:
        t.watch(x)
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    dz_dy = t.gradient(z, y)
    assert dz_dy.numpy() == 8.0
    assert dz_dy.shape == () and dz_dy.dtype == np.float32


# 3 ---------------------------------------------------------------------------------------


def test_3_persistent_tape() -> None:
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * y
    dz_dx = t.gradient(z, x)  # 108.0 (4*x^3 at x = 3)
    dy_dx = t.gradient(y, x)  # 6.0
    del t
    assert dz_dx.numpy() == 108.0
    assert dy_dx.numpy() == 6.0


def test_3_without_persistent_the_second_gradient_raises() -> None:
    x = tf.constant(3.0)
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
        z = y * y
    assert t.gradient(z, x).numpy() == 108.0
    with pytest.raises(RuntimeError):
        t.gradient(y, x)


# 4 ---------------------------------------------------------------------------------------


def f(x: Any, y: int) -> Any:
    output = 1.0
    for i in range(y):
        if i > 1 and i < 5:
            output = tf.multiply(output, x)
    return output


def grad(x: Any, y: int) -> Any:
    with tf.GradientTape() as t:
        t.watch(x)
        out = f(x, y)
    return t.gradient(out, x)


def test_4_python_control_flow_is_recorded_as_it_runs() -> None:
    x = tf.convert_to_tensor(2.0)
    assert grad(x, 6).numpy() == 12.0
    assert grad(x, 5).numpy() == 12.0
    assert grad(x, 4).numpy() == 4.0
    # y <= 2: the output is the Python float 1.0, which does not depend on x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert grad(x, 2) is None


# 5 ---------------------------------------------------------------------------------------


def test_5_higher_order_gradients_by_nesting_tapes() -> None:
    x = tf.Variable(1.0)
    with tf.GradientTape() as t:
        with tf.GradientTape() as t2:
            y = x * x * x
        dy_dx = t2.gradient(y, x)
    d2y_dx2 = t.gradient(dy_dx, x)
    assert dy_dx.numpy() == 3.0
    assert d2y_dx2.numpy() == 6.0


# 6 ---------------------------------------------------------------------------------------


def test_6_variables_are_watched_by_default_constants_are_not() -> None:
    input_var = tf.Variable(initial_value=3.)
    with tf.GradientTape() as tape:
        result = tf.square(input_var)
    gradient = tape.gradient(result, input_var)
    assert gradient.numpy() == 6.0

    input_const = tf.constant(3.)
    with tf.GradientTape() as tape:
        tape.watch(input_const)
        result = tf.square(input_const)
    gradient = tape.gradient(result, input_const)
    assert gradient.numpy() == 6.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tf.GradientTape() as tape:
            result = tf.square(input_const)
        assert tape.gradient(result, input_const) is None


# 7 ---------------------------------------------------------------------------------------


def test_7_the_falling_apple() -> None:
    time = tf.Variable(0.)
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as inner_tape:
            position = 4.9 * time ** 2
        speed = inner_tape.gradient(position, time)
    acceleration = outer_tape.gradient(speed, time)  # 9.8
    assert speed.numpy() == 0.0 and not np.signbit(speed.numpy())
    assert acceleration.numpy() == np.float32(9.8)
    assert acceleration.dtype == np.float32


def test_7_the_falling_apple_at_later_times() -> None:
    for t0 in (0.5, 2.0):
        time = tf.Variable(t0)
        with tf.GradientTape() as outer_tape:
            with tf.GradientTape() as inner_tape:
                position = 4.9 * time ** 2
            speed = inner_tape.gradient(position, time)
        acceleration = outer_tape.gradient(speed, time)
        assert speed.numpy() == np.float32(9.8) * np.float32(t0)
        assert acceleration.numpy() == np.float32(9.8)


# 8 ---------------------------------------------------------------------------------------


def test_8_forgotten_watch_gives_none_and_a_warning(fresh_unwatched_warning: Any) -> None:
    x = tf.ones((2, 2))
    with tf.GradientTape() as t:
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    with pytest.warns(UserWarning) as rec:
        dz_dx = t.gradient(z, x)
    assert dz_dx is None
    msg = str(rec[0].message)
    assert "watch" in msg and "Variable" in msg
    assert rec[0].filename == __file__
    with pytest.raises(TypeError):
        dz_dx[0][0]  # where the translated program then fails, as with TensorFlow


def test_8_forgotten_watch_in_programs_2_and_4(fresh_unwatched_warning: Any) -> None:
    x = tf.ones((2, 2))
    with tf.GradientTape() as t:
        y = tf.reduce_sum(x)
        z = tf.multiply(y, y)
    with pytest.warns(UserWarning, match="watch"):
        # y is an intermediate recorded on no tape, so it was never watched either
        assert t.gradient(z, y) is None

    def grad_unwatched(x: Any, y: int) -> Any:
        with tf.GradientTape() as t:
            out = f(x, y)
        return t.gradient(out, x)

    x = tf.convert_to_tensor(2.0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")
        assert grad_unwatched(x, 6) is None
        assert grad_unwatched(x, 4) is None
    assert len(rec) == 1  # once per call site (both calls meet it at the same line)


# ---------------------------------------------------------------------------- the example


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tutorial_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_runs_eagerly(capsys: pytest.CaptureFixture[str]) -> None:
    tutorial = load_example()
    tutorial.run(compiled=False)
    out = capsys.readouterr().out
    assert "--- eager ---" in out
    assert "1. dz/dx = [[8.0, 8.0], [8.0, 8.0]]" in out
    assert "3. dz/dx = 108.0  dy/dx = 6.0" in out
    assert "4. grad(x, 6), grad(x, 5), grad(x, 4) = 12.0 12.0 4.0" in out
    assert "5. dy/dx = 3.0  d2y/dx2 = 6.0" in out
    assert "unwatched constant: None" in out
    assert "7. speed = 0.0  acceleration = 9.8" in out


@needs_native
def test_example_runs_compiled(capsys: pytest.CaptureFixture[str]) -> None:
    tutorial = load_example()
    tutorial.run(compiled=True)
    out = capsys.readouterr().out
    assert "--- compiled ---" in out
    assert "7. speed = 0.0  acceleration = 9.8" in out


def test_example_script_as_a_subprocess() -> None:
    """`python examples/tutorial.py` runs the eager programs, then the compiled ones (which
    need native code generation)."""
    env = dict(os.environ, TRACEJIT_CACHE="0")
    proc = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT, check=False)
    eager = proc.stdout.split("--- compiled ---")[0]
    assert "--- eager ---" in eager, proc.stderr
    for want in ("1. dz/dx = [[8.0, 8.0], [8.0, 8.0]]", "2. dz/dy = 8.0",
                 "4. grad(x, 6), grad(x, 5), grad(x, 4) = 12.0 12.0 4.0",
                 "7. speed = 0.0  acceleration = 9.8"):
        assert want in eager, (want, proc.stdout, proc.stderr)
    if HAS_NATIVE:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("7. speed = 0.0  acceleration = 9.8") == 2
