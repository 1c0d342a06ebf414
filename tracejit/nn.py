"""`tj.nn`: activations, softmax and the cross-entropies, all numerically stable.

sigmoid, softplus and relu are primitives (stable for any |x|, exact subgradients); the
others are compositions whose gradients stay finite at |x| = 100 and beyond, because every
exponential sees `x - max(x)`.
"""
from __future__ import annotations

from .ir.dims import compatible
from . import ops
from . import exports
from .errors import at_user_line
from .exports import export
from .ir.core import bind
from .ir.errors import ShapeError
from .tensor import Tensor, TensorInput

def __dir__() -> list[str]:
    """Only the public API (not the helpers this module imports)."""
    return sorted(__all__ + [n for n in globals() if n.startswith("__") and n.endswith("__")])


# The primitives entered under "nn" where they are defined (`ops`).
relu = ops.relu
sigmoid = ops.sigmoid
softplus = ops.softplus
tanh = ops.tanh
from .scatter import embedding_lookup  # noqa: E402,F401  (entered under "nn" where defined)


@export("nn.softmax", "math.softmax")
def softmax(logits: TensorInput, axis: int | None = None, name: str | None = None) -> Tensor:
    """`exp(logits) / sum(exp(logits))` along `axis` (the last when None); stable (the max is
    subtracted first).

    >>> tj.nn.softmax(tj.constant([0., 0., 1000.])).numpy()
    array([0., 0., 1.], dtype=float32)
    """
    x = ops.convert_to_tensor(logits)
    axis = ops._axis("softmax", -1 if axis is None else axis, x.ndim)   # TensorFlow: None is -1
    m = ops.stop_gradient(ops.reduce_max(x, axis, keepdims=True))
    e = ops.exp(ops.subtract(x, m))
    return ops.divide(e, ops.reduce_sum(e, axis, keepdims=True))


@export("nn.log_softmax", "math.log_softmax")
def log_softmax(logits: TensorInput, axis: int | None = None, name: str | None = None) -> Tensor:
    """`logits - reduce_logsumexp(logits)` along `axis` (the last when None): the log of
    `softmax`, stable.

    >>> tj.nn.log_softmax(tj.constant([0., 0.])).numpy()
    array([-0.6931472, -0.6931472], dtype=float32)
    """
    x = ops.convert_to_tensor(logits)
    axis = ops._axis("log_softmax", -1 if axis is None else axis, x.ndim)   # TensorFlow: None is -1
    return ops.subtract(x, ops.reduce_logsumexp(x, axis, keepdims=True))


@export("nn.sparse_softmax_cross_entropy_with_logits")
def sparse_softmax_cross_entropy_with_logits(labels: TensorInput, logits: TensorInput,
                                             name: str | None = None) -> Tensor:
    """Cross-entropy with integer class labels; labels out of range raise IndexError.

    >>> tj.nn.sparse_softmax_cross_entropy_with_logits(labels=tj.constant([1]),
    ...                                                logits=tj.constant([[0., 0.]])).numpy()
    array([0.6931472], dtype=float32)
    """
    lg = ops.convert_to_tensor(logits)
    lb = ops.convert_to_tensor(labels)
    if lb.dtype.kind not in "iu":
        raise at_user_line(TypeError(f"sparse_softmax_cross_entropy_with_logits: labels "
                                     f"must be integers, got {lb.dtype}"))
    if lg.ndim < 1 or not compatible(tuple(lb.shape), tuple(lg.shape[:-1])):
        raise at_user_line(ShapeError(
            f"sparse_softmax_cross_entropy_with_logits: labels of shape {lb.shape} must "
            f"match logits of shape {lg.shape} without its last axis"))
    # Out-of-range labels raise (TensorFlow's CPU kernel does), where tj.one_hot gives
    # an all-zero row: the primitive's `checked` form.
    hot = bind("one_hot", lb, depth=lg.shape[-1], dtype=lg.dtype, on=1.0, off=0.0,
               checked=True)
    return ops.negative(ops.reduce_sum(ops.multiply(hot, log_softmax(lg)), -1))


@export("nn.bias_add")
def bias_add(value: TensorInput, bias: TensorInput, data_format: str | None = None,
             name: str | None = None) -> Tensor:
    """`value + bias` along the channel axis: the last one for `data_format` None or of the
    form `N...C` (NHWC), axis 1 for `NC...` (NCHW); `bias` is 1-D, one entry per channel,
    of `value`'s dtype, and `value` has rank 2 or more, as TensorFlow's.

    >>> tj.nn.bias_add(tj.ones([2, 3]), [1., 2., 3.]).numpy()
    array([[2., 3., 4.],
           [2., 3., 4.]], dtype=float32)
    """
    x = ops.convert_to_tensor(value)
    b = ops.convert_to_tensor(bias, dtype=x.dtype)     # as TensorFlow's (a list takes it)
    channels_first = data_format is not None and data_format.startswith("NC")
    if data_format is not None and not channels_first and not (
            data_format.startswith("N") and data_format.endswith("C")):
        raise at_user_line(ValueError(f"bias_add: data_format must be of the form 'N...C' or "
                                      f"'NC...', got {data_format!r}"))
    if x.ndim < 2:
        raise at_user_line(ShapeError(f"bias_add: value must have rank 2 or more, got shape "
                                      f"{x.shape}"))
    if b.ndim != 1:
        raise at_user_line(ShapeError(f"bias_add: bias must be 1-D, got shape {b.shape}"))
    axis = 1 if channels_first else x.ndim - 1
    if not compatible((b.shape[0],), (x.shape[axis],)):
        raise at_user_line(ShapeError(
            f"bias_add: bias has {b.shape[0]} entries, value's channel axis {axis} has "
            f"{x.shape[axis]} (value shape {x.shape}, data_format {data_format!r})"))
    if channels_first:
        b = ops.reshape(b, (-1,) + (1,) * (x.ndim - 2))
    return ops.add(x, b)


@export("nn.dropout")
def dropout(x: TensorInput, rate: TensorInput, noise_shape: object = None,
            seed: int | None = None, name: str | None = None) -> Tensor:
    """Each element (or each slice of `noise_shape`, which broadcasts to `x`'s shape) set to
    0 with probability `rate`, the others scaled by `1 / (1 - rate)`, as TensorFlow's:
    `x` is a float tensor, a Python `rate` is in [0, 1) (0 returns `x`); the draws come
    from `tj.random` (`seed` as its op seed), so they are not TensorFlow's numbers.
    Gradients flow to the kept elements, scaled.

    >>> y = tj.nn.dropout([1.] * 1000, 0.5, seed=1)
    >>> sorted(set(y.numpy().tolist()))
    [0.0, 2.0]
    """
    from .random import uniform
    t = ops.convert_to_tensor(x)
    if t.dtype.kind != "f":
        raise at_user_line(ValueError(f"dropout: x must be a float tensor (it is scaled), got "
                                      f"{t.dtype}"))
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        if rate < 0 or rate >= 1:
            raise at_user_line(ValueError(f"dropout: rate must be in [0, 1), got {rate}"))
        if rate == 0:
            return t
        scaled = ops.multiply(t, 1.0 / (1.0 - rate))
        r = ops.convert_to_tensor(float(rate), dtype=t.dtype)
    else:
        r = ops.convert_to_tensor(rate, dtype_hint=t.dtype)
        if r.ndim != 0:
            raise at_user_line(ValueError(f"dropout: rate must be a scalar, got shape "
                                          f"{r.shape}"))
        scaled = ops.divide(t, ops.subtract(1.0, r))
    shape = t.shape if noise_shape is None else noise_shape
    keep = ops.greater_equal(uniform(shape, dtype=t.dtype, seed=seed), r)
    return ops.where(keep, scaled, ops.zeros_like(scaled))


@export("nn.batch_normalization")
def batch_normalization(x: TensorInput, mean: TensorInput, variance: TensorInput,
                        offset: TensorInput | None, scale: TensorInput | None,
                        variance_epsilon: float, name: str | None = None) -> Tensor:
    """`(x - mean) / sqrt(variance + variance_epsilon) * scale + offset` (scale and offset
    may be None), computed as TensorFlow computes it: `x * inv + (offset - mean * inv)`
    with `inv = rsqrt(variance + variance_epsilon) * scale`.

    >>> tj.nn.batch_normalization(tj.constant([1., 3.]), 2., 1., None, None, 0.).numpy()
    array([-1.,  1.], dtype=float32)
    """
    from .mathops import rsqrt
    t = ops.convert_to_tensor(x)
    inv = rsqrt(ops.add(ops.convert_to_tensor(variance, dtype_hint=t.dtype),
                            variance_epsilon))
    if scale is not None:
        inv = ops.multiply(inv, scale)
    shift = ops.negative(ops.multiply(mean, inv)) if offset is None else \
        ops.subtract(offset, ops.multiply(mean, inv))
    return ops.add(ops.multiply(t, inv), shift)


def _block(op: str, block_size: int) -> int:
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 2:
        raise at_user_line(ValueError(f"{op}: block_size must be an int of at least 2, got "
                                      f"{block_size!r}"))
    return block_size


def _channels_last(op: str, x: Tensor, data_format: str) -> tuple[Tensor, bool]:
    """`x` (rank 4) in NHWC, and whether it came in NCHW."""
    if data_format not in ("NHWC", "NCHW"):
        raise at_user_line(ValueError(f"{op}: data_format must be 'NHWC' or 'NCHW', got "
                                      f"{data_format!r}"))
    if x.ndim != 4:
        raise at_user_line(ShapeError(f"{op}: input must have rank 4, got shape {x.shape}"))
    first = data_format == "NCHW"
    return (ops.transpose(x, [0, 2, 3, 1]) if first else x), first


@export("nn.depth_to_space")
def depth_to_space(input: TensorInput, block_size: int, data_format: str = "NHWC",  # noqa: A002
                   name: str | None = None) -> Tensor:
    """Rearrange depth into spatial blocks (pixel shuffle): each position's
    `block_size**2 * c` channels become a `block_size x block_size` patch of `c` channels,
    as TensorFlow's.

    >>> tj.nn.depth_to_space(tj.reshape(tj.range(8.), [1, 1, 1, 8]), 2).shape
    TensorShape([1, 2, 2, 2])
    """
    b = _block("depth_to_space", block_size)
    x, first = _channels_last("depth_to_space", ops.convert_to_tensor(input), data_format)
    n, h, w, c = x.shape
    if c % (b * b):
        raise at_user_line(ShapeError(f"depth_to_space: the depth {c} must be divisible by "
                                      f"block_size**2 = {b * b}"))
    y = ops.reshape(x, [n, h, w, b, b, c // (b * b)])
    y = ops.reshape(ops.transpose(y, [0, 1, 3, 2, 4, 5]), [n, h * b, w * b, c // (b * b)])
    return ops.transpose(y, [0, 3, 1, 2]) if first else y


@export("nn.space_to_depth")
def space_to_depth(input: TensorInput, block_size: int, data_format: str = "NHWC",  # noqa: A002
                   name: str | None = None) -> Tensor:
    """Rearrange spatial `block_size x block_size` patches into depth, the inverse of
    `depth_to_space`, as TensorFlow's.

    >>> tj.nn.space_to_depth(tj.reshape(tj.range(8.), [1, 2, 2, 2]), 2).shape
    TensorShape([1, 1, 1, 8])
    """
    b = _block("space_to_depth", block_size)
    x, first = _channels_last("space_to_depth", ops.convert_to_tensor(input), data_format)
    n, h, w, c = x.shape
    if h % b or w % b:
        raise at_user_line(ShapeError(f"space_to_depth: height {h} and width {w} must be "
                                      f"divisible by block_size {b}"))
    y = ops.reshape(x, [n, h // b, b, w // b, b, c])
    y = ops.reshape(ops.transpose(y, [0, 1, 3, 2, 4, 5]), [n, h // b, w // b, b * b * c])
    return ops.transpose(y, [0, 3, 1, 2]) if first else y


@export("nn.l2_loss")
def l2_loss(t: TensorInput, name: str | None = None) -> Tensor:
    """`sum(t ** 2) / 2`, as TensorFlow's `tf.nn.l2_loss`.

    >>> tj.nn.l2_loss(tj.constant([3., 4.])).numpy()
    array(12.5, dtype=float32)
    """
    x = ops.convert_to_tensor(t)
    return ops.divide(ops.reduce_sum(ops.multiply(x, x)), 2.0)



_GELU_C = 0.7978845608028654       # sqrt(2 / pi)


@export("nn.gelu")
def gelu(features: TensorInput, approximate: bool = False, name: str | None = None) -> Tensor:
    """The Gaussian error linear unit. `approximate=False` (TensorFlow's default) is exact,
    x * Phi(x) = x / 2 * erfc(-x / sqrt(2)) (erfc rather than 1 + erf, as TensorFlow, so
    the tiny values for very negative x keep their precision); `approximate=True` is the
    tanh form, x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))), computed as
    x * sigmoid(2 * sqrt(2 / pi) * (x + 0.044715 * x**3)) (the same function without
    1 + tanh's cancellation for negative x).

    >>> tj.nn.gelu([-1., 0., 1.]).numpy()
    array([-0.15865526,  0.        ,  0.8413447 ], dtype=float32)
    >>> tj.nn.gelu([-1., 0., 1.], approximate=True).numpy()
    array([-0.158808,  0.      ,  0.841192], dtype=float32)
    """
    x = ops._float_tensor("gelu", features)
    if not approximate:
        return ops.multiply(ops.multiply(x, 0.5),
                            bind("erfc", ops.multiply(x, -0.7071067811865476)))
    z = ops.multiply(ops.add(x, ops.multiply(ops.multiply(ops.multiply(x, x), x), 0.044715)),
                     2 * _GELU_C)
    return ops.multiply(x, ops.sigmoid(z))
# ------------------------------------------------------------------ activations
# Compositions of primitives. Where one branch of a `where` could overflow (expm1 of a
# large x), its argument is clamped, so the branch not taken never sends NaN into a
# gradient (the where's zeros times an infinite derivative).

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946



def _elu_neg(x: Tensor) -> Tensor:
    """expm1(x) for x <= 0, and 0 for x > 0 (the negative branch of elu and selu)."""
    return ops.expm1(ops.minimum(x, ops.zeros_like(x)))


@export("nn.elu")
def elu(features: TensorInput, name: str | None = None) -> Tensor:
    """exp(x) - 1 if x < 0 else x; at 0 (and NaN) its gradients are those of the x branch,
    1 and then 0, as TensorFlow's EluGrad (`outputs < 0 ? ... : dy`) gives.

    >>> tj.nn.elu([-1., 2.]).numpy()
    array([-0.63212055,  2.        ], dtype=float32)
    """
    x = ops._float_tensor("elu", features)
    return ops.where(ops.less(x, 0.0), _elu_neg(x), x)


@export("nn.selu")
def selu(features: TensorInput, name: str | None = None) -> Tensor:
    """scale * (alpha * (exp(x) - 1) if x < 0 else x) with the self-normalizing constants
    alpha = 1.6733 and scale = 1.0507 (Klambauer et al.; TensorFlow's).

    >>> tj.nn.selu([-1., 2.]).numpy()
    array([-1.1113307,  2.101402 ], dtype=float32)
    """
    x = ops._float_tensor("selu", features)
    neg = ops.multiply(_elu_neg(x), _SELU_ALPHA)
    # The x branch at 0: the gradient there is scale (TensorFlow's SeluGrad), not the
    # negative branch's scale * alpha.
    return ops.multiply(ops.where(ops.less(x, 0.0), neg, x), _SELU_SCALE)


@export("nn.leaky_relu")
def leaky_relu(features: TensorInput, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """x if x > 0 else alpha * x; its gradient at 0 is alpha (TensorFlow's).

    >>> tj.nn.leaky_relu([-1., 2.]).numpy()
    array([-0.2,  2. ], dtype=float32)
    """
    x = ops._float_tensor("leaky_relu", features)
    # relu(x) is x where it is taken; through relu's gradient a second derivative is
    # zeros, not None (TensorFlow's LeakyReluGrad has a gradient of zeros for x).
    return ops.where(ops.greater(x, 0.0), ops.relu(x), ops.multiply(x, alpha))


@export("nn.relu6")
def relu6(features: TensorInput, name: str | None = None) -> Tensor:
    """min(max(x, 0), 6); gradient 1 strictly between 0 and 6, else 0 (TensorFlow's).

    >>> tj.nn.relu6([-1., 3., 7.]).numpy()
    array([0., 3., 6.], dtype=float32)
    """
    x = ops.convert_to_tensor(features)
    return ops.where(ops.greater_equal(x, 6), ops.fill(x.shape, 6, dtype=x.dtype), ops.relu(x))


@export("nn.silu", "nn.swish")
def silu(features: TensorInput, beta: float = 1.0, name: str | None = None) -> Tensor:
    """x * sigmoid(beta * x) (also `tj.nn.swish`).

    >>> tj.nn.silu([0., 1.]).numpy()
    array([0.       , 0.7310586], dtype=float32)
    """
    x = ops._float_tensor("silu", features)
    return ops.multiply(x, ops.sigmoid(ops.multiply(x, beta) if beta != 1.0 else x))


swish = silu


@export("nn.softsign", "math.softsign")
def softsign(features: TensorInput, name: str | None = None) -> Tensor:
    """x / (1 + |x|).

    >>> tj.nn.softsign([-3., 1.]).numpy()
    array([-0.75,  0.5 ], dtype=float32)
    """
    x = ops._float_tensor("softsign", features)
    return ops.divide(x, ops.add(ops.abs(x), 1.0))

from .losses import (compute_average_loss, l2_normalize, moments,  # noqa: E402,F401
                     normalize_moments, sigmoid_cross_entropy_with_logits,
                     softmax_cross_entropy_with_logits, weighted_cross_entropy_with_logits,
                     weighted_moments)
from .sorting import top_k  # noqa: E402,F401
from .conv import conv1d, conv2d, conv2d_transpose, depthwise_conv2d  # noqa: E402,F401
from .pooling import (avg_pool, avg_pool1d, avg_pool2d, max_pool, max_pool1d,  # noqa: E402,F401
                      max_pool2d)

# The public names, from the one table of public names (a test checks that each is
# defined here); the docstring lists them.
__all__ = exports.names("nn")
__doc__ = f"{__doc__}\nNames:\n\n{exports.listing('nn')}\n"
