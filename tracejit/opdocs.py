"""Docstrings of the op wrappers whose definitions are one line each (kept here so their
modules, `elementwise.py` mostly, stay readable tables); `ops.py` attaches them at import.
Each example runs as a doctest in tests/test_apidoc.py, so it cannot go stale.
"""
from __future__ import annotations

DOCS: dict[str, str] = {
    "add": """`x + y` elementwise, with NumPy broadcasting. A Python number takes the
tensor's dtype; tensors of two dtypes raise `TypeError` (use `tj.cast`).

>>> x = tj.constant([1., 2.])
>>> tj.add(x, 10.).numpy()
array([11., 12.], dtype=float32)
""",
    "subtract": """`x - y` elementwise, with broadcasting.

>>> tj.subtract(tj.constant([3., 4.]), tj.constant(1.)).numpy()
array([2., 3.], dtype=float32)
""",
    "multiply": """`x * y` elementwise, with broadcasting.

>>> tj.multiply(tj.constant([[1.], [2.]]), tj.constant([1., 10.])).numpy()
array([[ 1., 10.],
       [ 2., 20.]], dtype=float32)
""",
    "divide": """`x / y` elementwise (true division: integer tensors give float64, as in
TensorFlow). Also `tj.math.truediv`.

>>> tj.divide(tj.constant([1, 3]), tj.constant(2)).numpy()
array([0.5, 1.5])
>>> tj.math.truediv(tj.constant([1., 3.]), 2.).numpy()
array([0.5, 1.5], dtype=float32)
""",
    "floordiv": """`x // y` elementwise: the quotient rounded toward minus infinity, as
TensorFlow's `floordiv`: `floor(x / y)` for floats (Python's `1.0 // 0.1` is 9.0; here,
as in TensorFlow, 10.0). An integer divisor with a zero raises DivisionByZeroError (an
InvalidArgumentError and a ZeroDivisionError): at once where it is known (eagerly, or a
Python or NumPy value), else when compiled code runs.

>>> tj.floordiv(tj.constant([7, -7]), 2).numpy()
array([ 3, -4], dtype=int32)
""",
    "mod": """`x % y` elementwise, with the sign of `y` (as TensorFlow's `floormod`; a
float zero result keeps the sign of `x`, as there). An integer divisor with a zero is
refused as `floordiv`'s is.

>>> tj.math.mod(tj.constant([7, -7]), 3).numpy()
array([1, 2], dtype=int32)
""",
    "pow": """`x ** y` elementwise. The gradient of `x ** 2` is exact at `x = 0` to every
order. Integer powers wrap on overflow (as NumPy's and TensorFlow's) and have no gradient;
a negative integer exponent raises ValueError where it is known (eagerly, or a Python
number), as TensorFlow; a traced one gives the integer part of 1 / x^|y| (and 0 for x = 0).

>>> tj.pow(tj.constant([2., 3.]), 2.).numpy()
array([4., 9.], dtype=float32)
>>> tj.pow(tj.constant([3, -2]), tj.constant([2, 3])).numpy()
array([ 9, -8], dtype=int32)
""",
    "maximum": """The larger of `x` and `y` elementwise; NaN propagates. At a tie the
gradient goes to `x`.

>>> tj.maximum(tj.constant([1., 5.]), 3.).numpy()
array([3., 5.], dtype=float32)
""",
    "minimum": """The smaller of `x` and `y` elementwise; NaN propagates. At a tie the
gradient goes to `x`.

>>> tj.minimum(tj.constant([1., 5.]), 3.).numpy()
array([1., 3.], dtype=float32)
""",
    "negative": """`-x` elementwise.

>>> tj.negative(tj.constant([1., -2.])).numpy()
array([-1.,  2.], dtype=float32)
""",
    "abs": """`|x|` elementwise (gradient 0 at 0, as in TensorFlow).

>>> tj.abs(tj.constant([-1.5, 2.])).numpy()
array([1.5, 2. ], dtype=float32)
""",
    "sign": """-1, 0 or 1 by the sign of `x`, elementwise (gradient 0).

>>> tj.sign(tj.constant([-3., 0., 2.])).numpy()
array([-1.,  0.,  1.], dtype=float32)
""",
    "square": """`x * x` elementwise.

>>> tj.square(tj.constant([2., -3.])).numpy()
array([4., 9.], dtype=float32)
""",
    "sqrt": """The square root of `x` elementwise.

>>> tj.sqrt(tj.constant([4., 9.])).numpy()
array([2., 3.], dtype=float32)
""",
    "exp": """`e ** x` elementwise (vectorized in native code, within 4 ulp).

>>> tj.exp(tj.constant([0., 1.])).numpy()
array([1.      , 2.718282], dtype=float32)
""",
    "expm1": """`exp(x) - 1` elementwise, accurate for small `x`.

>>> tj.math.expm1(tj.constant([0., 1e-10], tj.float64)).numpy()
array([0.e+00, 1.e-10])
""",
    "log": """The natural logarithm of `x` elementwise.

>>> tj.math.log(tj.constant([1., 100.])).numpy()
array([0.       , 4.6051702], dtype=float32)
""",
    "log1p": """`log(1 + x)` elementwise, accurate for small `x`.

>>> tj.math.log1p(tj.constant([0., 1e-10], tj.float64)).numpy()
array([0.e+00, 1.e-10])
""",
    "sin": """The sine of `x` (radians) elementwise.

>>> tj.sin(tj.constant([0., 1.5707964])).numpy()
array([0., 1.], dtype=float32)
""",
    "cos": """The cosine of `x` (radians) elementwise.

>>> tj.cos(tj.constant([0., 3.1415927])).numpy()
array([ 1., -1.], dtype=float32)
""",
    "tan": """The tangent of `x` (radians) elementwise.

>>> tj.tan(tj.constant([0., 0.7853982])).numpy()
array([0., 1.], dtype=float32)
""",
    "tanh": """The hyperbolic tangent of `x` elementwise.

>>> tj.tanh(tj.constant([0., 100.])).numpy()
array([0., 1.], dtype=float32)
""",
    "floor": """The largest integer not greater than `x`, elementwise (gradient 0).

>>> tj.floor(tj.constant([1.5, -1.5])).numpy()
array([ 1., -2.], dtype=float32)
""",
    "sigmoid": """`1 / (1 + exp(-x))` elementwise; stable (finite values and gradients for
any `x`).

>>> tj.sigmoid(tj.constant([0., 100., -100.])).numpy()
array([5.0e-01, 1.0e+00, 3.8e-44], dtype=float32)
""",
    "softplus": """`log(1 + exp(features))` elementwise; stable for large `|features|`.

>>> tj.math.softplus(tj.constant([0., 100.])).numpy()
array([  0.6931472, 100.       ], dtype=float32)
""",
    "relu": """`max(features, 0)` elementwise (gradient 0 at 0, as in TensorFlow).

>>> tj.nn.relu(tj.constant([-1., 0., 2.])).numpy()
array([0., 0., 2.], dtype=float32)
""",
    "identity": """A tensor with the same value as `input` (a Variable is read).

>>> tj.identity(tj.Variable([1., 2.])).numpy()
array([1., 2.], dtype=float32)
""",
    "stop_gradient": """`input` itself, through which no gradient flows.

>>> x = tj.Variable(3.)
>>> with tj.GradientTape() as tape:
...     y = x * tj.stop_gradient(x)
>>> tape.gradient(y, x).numpy()
array(3., dtype=float32)
""",
    "equal": """`x == y` elementwise, as a bool tensor.

>>> tj.equal(tj.constant([1, 2]), 2).numpy()
array([False,  True])
""",
    "not_equal": """`x != y` elementwise, as a bool tensor.

>>> tj.not_equal(tj.constant([1, 2]), 2).numpy()
array([ True, False])
""",
    "less": """`x < y` elementwise, as a bool tensor.

>>> tj.less(tj.constant([1., 2.]), 2.).numpy()
array([ True, False])
""",
    "less_equal": """`x <= y` elementwise, as a bool tensor.

>>> tj.less_equal(tj.constant([1., 2.]), 2.).numpy()
array([ True,  True])
""",
    "greater": """`x > y` elementwise, as a bool tensor.

>>> tj.greater(tj.constant([1., 2.]), 1.).numpy()
array([False,  True])
""",
    "greater_equal": """`x >= y` elementwise, as a bool tensor.

>>> tj.greater_equal(tj.constant([1., 2.]), 2.).numpy()
array([False,  True])
""",
    "logical_and": """`x and y` elementwise, for bool tensors.

>>> tj.logical_and(tj.constant([True, True]), tj.constant([True, False])).numpy()
array([ True, False])
""",
    "logical_or": """`x or y` elementwise, for bool tensors.

>>> tj.logical_or(tj.constant([True, False]), tj.constant([False, False])).numpy()
array([ True, False])
""",
    "logical_not": """`not x` elementwise, for bool tensors.

>>> tj.logical_not(tj.constant([True, False])).numpy()
array([False,  True])
""",
    "cast": """`x` converted to `dtype`. Float to int rounds toward zero and saturates; NaN
becomes 0.

>>> tj.cast(tj.constant([1.7, -1.7, 1e10]), tj.int32).numpy()
array([         1,         -1, 2147483647], dtype=int32)
""",
    "clip_by_value": """`t` limited to `[clip_value_min, clip_value_max]` elementwise; NaN
propagates.

>>> tj.clip_by_value(tj.constant([-2., 0.5, 3.]), 0., 1.).numpy()
array([0. , 0.5, 1. ], dtype=float32)
""",
    "add_n": """The sum of a list of tensors of one shape and dtype.

>>> tj.add_n([tj.constant([1., 2.]), tj.constant([3., 4.]), tj.constant([5., 6.])]).numpy()
array([ 9., 12.], dtype=float32)
""",
    "reduce_max": """The maximum over `axis` (all axes when None); NaN propagates. Tied
maxima share the gradient equally.

>>> x = tj.constant([[1., 5.], [3., 2.]])
>>> tj.reduce_max(x, axis=1).numpy()
array([5., 3.], dtype=float32)
""",
    "reduce_min": """The minimum over `axis` (all axes when None); NaN propagates. Tied
minima share the gradient equally.

>>> x = tj.constant([[1., 5.], [3., 2.]])
>>> tj.reduce_min(x, axis=0).numpy()
array([1., 2.], dtype=float32)
""",
    "reduce_prod": """The product over `axis` (all axes when None).

>>> x = tj.constant([[1., 2.], [3., 4.]])
>>> tj.reduce_prod(x, axis=0).numpy()
array([3., 8.], dtype=float32)
""",
    "reduce_all": """The logical and of a bool tensor over `axis` (all axes when None);
True over an empty axis.

>>> x = tj.constant([[True, False], [True, True]])
>>> tj.reduce_all(x).numpy(), tj.reduce_all(x, axis=1).numpy()
(array(False), array([False,  True]))
""",
    "reduce_any": """The logical or of a bool tensor over `axis` (all axes when None);
False over an empty axis.

>>> x = tj.constant([[True, False], [False, False]])
>>> tj.reduce_any(x).numpy(), tj.reduce_any(x, axis=1).numpy()
(array(True), array([ True, False]))
""",
    "reduce_variance": """The population variance over `axis` (all axes when None).

>>> tj.math.reduce_variance(tj.constant([1., 2., 3., 4.])).numpy()
array(1.25, dtype=float32)
""",
    "reduce_std": """The population standard deviation over `axis` (all axes when None).

>>> tj.math.reduce_std(tj.constant([1., 3.])).numpy()
array(1., dtype=float32)
""",
    "argmax": """The index of the largest value along `axis` (the first one at a tie), as
`output_type` (int64 by default, as in TensorFlow).

>>> tj.argmax(tj.constant([[1., 5.], [3., 2.]]), axis=1).numpy()
array([1, 0])
""",
    "argmin": """The index of the smallest value along `axis` (the first one at a tie), as
`output_type` (int64 by default, as in TensorFlow).

>>> tj.argmin(tj.constant([[1., 5.], [3., 2.]]), axis=0).numpy()
array([0, 1])
""",
    "norm": """TensorFlow's norm. Over `axis` (an int, or None for all elements) the
vector norm of order `ord`: 'euclidean' or 2, 1, np.inf, or any p > 0 ((sum |x|^p)^(1/p)).
Over a pair of axes `[rows, cols]` the matrix norm: 'fro' or 'euclidean' (Frobenius), 1
(the largest column sum of |x|), np.inf (the largest row sum), 2 (the largest singular
value).

>>> tj.norm(tj.constant([3., 4.])).numpy()
array(5., dtype=float32)
>>> a = tj.constant([[1., -2.], [3., 4.]])
>>> tj.norm(a, ord=1, axis=[0, 1]).numpy(), tj.norm(a, ord=np.inf, axis=[0, 1]).numpy()
(array(6., dtype=float32), array(7., dtype=float32))
""",
    "matmul": """The matrix product `a @ b` (rank >= 2; leading dimensions are batch
dimensions and broadcast), optionally transposing either operand. Float32 and float64; calls
OpenBLAS or a vectorized kernel.

>>> a = tj.constant([[1., 2.], [3., 4.]])
>>> tj.matmul(a, a, transpose_b=True).numpy()
array([[ 5., 11.],
       [11., 25.]], dtype=float32)
""",
    "matrix_transpose": """`a` with its last two dimensions swapped.

>>> tj.linalg.matrix_transpose(tj.constant([[1, 2, 3]])).shape
TensorShape([3, 1])
""",
    "tensordot": """The sum of products of `a` and `b` over `axes`: an int (the last `axes`
dimensions of `a` with the first of `b`) or a pair of axis lists.

>>> a = tj.constant([[1., 2.], [3., 4.]])
>>> tj.tensordot(a, a, axes=1).numpy()
array([[ 7., 10.],
       [15., 22.]], dtype=float32)
""",
    "transpose": """`a` with its dimensions permuted by `perm` (reversed when None).

>>> tj.transpose(tj.zeros([2, 3, 4]), perm=[2, 0, 1]).shape
TensorShape([4, 2, 3])
""",
    "reshape": """`tensor` with a new `shape` of as many elements; one dimension may be -1.

>>> tj.reshape(tj.range(6), [2, -1]).numpy()
array([[0, 1, 2],
       [3, 4, 5]], dtype=int32)
""",
    "broadcast_to": """`input` repeated along new or size-1 dimensions to `shape` (NumPy's
rules).

>>> tj.broadcast_to(tj.constant([1, 2]), [2, 2]).numpy()
array([[1, 2],
       [1, 2]], dtype=int32)
""",
    "squeeze": """`input` without its size-1 dimensions (only those in `axis` when given).

>>> tj.squeeze(tj.zeros([1, 3, 1])).shape
TensorShape([3])
""",
    "expand_dims": """`input` with a new size-1 dimension at `axis`.

>>> tj.expand_dims(tj.zeros([3]), axis=0).shape
TensorShape([1, 3])
""",
    "concat": """The tensors of `values` joined along an existing `axis`.

>>> tj.concat([tj.constant([[1, 2]]), tj.constant([[3, 4]])], axis=0).numpy()
array([[1, 2],
       [3, 4]], dtype=int32)
""",
    "stack": """The tensors of `values` (one shape) joined along a new `axis`.

>>> tj.stack([tj.constant([1, 2]), tj.constant([3, 4])], axis=1).numpy()
array([[1, 3],
       [2, 4]], dtype=int32)
""",
    "unstack": """The slices of `value` along `axis`, as a list of tensors.

>>> [t.numpy() for t in tj.unstack(tj.constant([[1, 2], [3, 4]]))]
[array([1, 2], dtype=int32), array([3, 4], dtype=int32)]
""",
    "gather": """Slices of `params` at `indices` along `axis`. Indices are bounds-checked:
one out of range raises `IndexError`, never clamps.

>>> tj.gather(tj.constant([10., 20., 30.]), [2, 0]).numpy()
array([30., 10.], dtype=float32)
""",
    "fill": """A tensor of shape `dims` with every element `value` (of `value`'s dtype, or
`dtype`: an argument TensorFlow's `fill` does not have).

>>> tj.fill([2, 2], 7).numpy()
array([[7, 7],
       [7, 7]], dtype=int32)
>>> tj.fill([2], 0.5).numpy()
array([0.5, 0.5], dtype=float32)
""",
    "ones": """A tensor of shape `shape` filled with ones (float32 by default).

>>> tj.ones([2, 3]).shape
TensorShape([2, 3])
""",
    "zeros": """A tensor of shape `shape` filled with zeros (float32 by default).

>>> tj.zeros([2], dtype=tj.int32).numpy()
array([0, 0], dtype=int32)
""",
    "ones_like": """Ones of the shape (and dtype, unless given) of `input`.

>>> tj.ones_like(tj.constant([1, 2])).numpy()
array([1, 1], dtype=int32)
""",
    "zeros_like": """Zeros of the shape (and dtype, unless given) of `input`.

>>> tj.zeros_like(tj.constant([1., 2.])).numpy()
array([0., 0.], dtype=float32)
""",
    "range": """The numbers `start, start + delta, ...` below `limit` (as Python's `range`;
int32, or float32 when any bound is a float).

>>> tj.range(5).numpy()
array([0, 1, 2, 3, 4], dtype=int32)
>>> tj.range(1., 2., 0.25).numpy()
array([1.  , 1.25, 1.5 , 1.75], dtype=float32)
""",
}

