"""Cross-entropies, normalization and clipping by norm, and moments, written as TensorFlow
writes them (so values and gradients, subgradients at the clipping boundary included,
are TensorFlow's) from tracejit's primitives.

- the cross-entropies are stable for any logits: every exponential sees `x - max(x)` or
  `-|x|`; the gradient of `softmax_cross_entropy_with_logits` is TensorFlow's,
  `softmax - labels` for the logits also where the labels do not sum to 1 (a custom
  gradient, differentiable again);
- `clip_by_norm`/`clip_by_global_norm` divide by `maximum(norm, clip_norm)` (or multiply
  by `minimum(1 / norm, 1 / clip_norm)`); at a tie the gradient goes to the norm, as in
  TensorFlow (`maximum`/`minimum` send a tie to the first operand);
- `moments` takes the variance about `stop_gradient(mean)`, as TensorFlow does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .custom import custom_gradient
from .errors import at_user_line
from .exports import export
from .ir.errors import ShapeError
from .mathops import rsqrt
from .tensor import Tensor, TensorInput, TensorLike


def _broadcast_shape(op: str, a: Tensor, b: Tensor, what: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise at_user_line(ShapeError(
            f"{op}: {what} must have the same shape or broadcast, got {a.shape} and "
            f"{b.shape}")) from None


@export("nn.softmax_cross_entropy_with_logits")
def softmax_cross_entropy_with_logits(labels: TensorInput, logits: TensorInput, axis: int = -1,
                                      name: str | None = None) -> Tensor:
    """`-sum(labels * log_softmax(logits))` over `axis` (labels and logits broadcast); one
    value per example. Labels of another dtype are cast to the logits' (one-hot int32
    labels, float32 labels with float64 logits), as TensorFlow casts them. The gradient is
    TensorFlow's: `softmax(logits) - labels` for the logits and `-log_softmax(logits)` for
    the labels.

    >>> tj.nn.softmax_cross_entropy_with_logits(labels=tj.constant([[0., 1.]]),
    ...                                         logits=tj.constant([[0., 0.]])).numpy()
    array([0.6931472], dtype=float32)
    """
    lg = ops._float_tensor("softmax_cross_entropy_with_logits", logits)
    lb = ops.convert_to_tensor(labels, dtype_hint=lg.dtype)
    if lb.dtype != lg.dtype:
        lb = ops.cast(lb, lg.dtype)
    shape = _broadcast_shape("softmax_cross_entropy_with_logits", lb, lg, "labels and logits")
    axis = ops._axis("softmax_cross_entropy_with_logits", axis, len(shape))
    return _softmax_xent(ops.broadcast_to(lb, shape), ops.broadcast_to(lg, shape), axis)


def _softmax_xent(labels: Tensor, logits: Tensor, axis: int) -> Tensor:
    """The loss of labels and logits of one shape. Its gradient is TensorFlow's, which is
    the derivative of the loss only for labels that sum to 1 (`softmax - labels` for the
    logits, not `sum(labels) * softmax - labels`), so it is a custom gradient; both parts
    are functions of the tensors the forward computed, so they differentiate again."""
    @custom_gradient
    def xent(lb: Tensor, lg: Tensor) -> tuple[Tensor, Any]:
        m = ops.stop_gradient(ops.reduce_max(lg, axis, keepdims=True))
        m = ops.where(ops.less(ops.abs(m), np.inf), m, ops.zeros_like(m))
        xs = ops.subtract(lg, m)
        lse = ops.log(ops.reduce_sum(ops.exp(xs), axis, keepdims=True))
        loss = ops.subtract(ops.multiply(ops.reduce_sum(lb, axis, keepdims=True), lse),
                            ops.reduce_sum(ops.multiply(lb, xs), axis, keepdims=True))

        def grad(g: Tensor) -> tuple[Tensor, Tensor]:
            ge = ops.expand_dims(g, axis)
            log_sm = ops.subtract(xs, lse)
            return (ops.multiply(ge, ops.negative(log_sm)),
                    ops.multiply(ge, ops.subtract(ops.exp(log_sm), lb)))
        return ops.squeeze(loss, [axis]), grad
    return xent(labels, logits)


@export("nn.sigmoid_cross_entropy_with_logits")
def sigmoid_cross_entropy_with_logits(labels: TensorInput | None = None,
                                      logits: TensorInput | None = None,
                                      name: str | None = None) -> Tensor:
    """The logistic loss `-z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))` of logits `x`
    and labels `z` of one shape, as `max(x, 0) - x z + log1p(exp(-|x|))` (stable for any
    x); its gradient is `sigmoid(x) - z` (and `-x` for the labels).

    >>> tj.nn.sigmoid_cross_entropy_with_logits(labels=tj.constant([1., 0.]),
    ...                                         logits=tj.constant([0., 100.])).numpy()
    array([  0.6931472, 100.       ], dtype=float32)
    """
    if labels is None or logits is None:
        raise at_user_line(ValueError(
            "sigmoid_cross_entropy_with_logits needs both labels and logits"))
    x = ops._float_tensor("sigmoid_cross_entropy_with_logits", logits)
    z = ops.convert_to_tensor(labels, dtype_hint=x.dtype)
    z, x = ops._operands("sigmoid_cross_entropy_with_logits", z, x)
    if z.shape != x.shape:
        raise at_user_line(ShapeError(
            f"sigmoid_cross_entropy_with_logits: logits and labels must have the same "
            f"shape, got {x.shape} and {z.shape}"))
    zeros = ops.zeros_like(x)
    pos = ops.greater_equal(x, zeros)
    relu_x = ops.where(pos, x, zeros)
    neg_abs = ops.where(pos, ops.negative(x), x)
    return ops.add(ops.subtract(relu_x, ops.multiply(x, z)), ops.log1p(ops.exp(neg_abs)))


@export("nn.l2_normalize", "math.l2_normalize", "linalg.l2_normalize")
def l2_normalize(x: TensorInput, axis: Any = None, epsilon: float = 1e-12,
                 name: str | None = None, dim: Any = None) -> Tensor:
    """`x / sqrt(max(sum(x**2, axis), epsilon))`: unit L2 norm along `axis` (all axes when
    None); a zero slice stays zero.

    >>> tj.nn.l2_normalize(tj.constant([3., 4.]), axis=0).numpy()
    array([0.6, 0.8], dtype=float32)
    """
    t = ops._float_tensor("l2_normalize", x)
    ax = list(ops._axes("l2_normalize", dim if axis is None else axis, t.ndim))
    sq = ops.reduce_sum(ops.multiply(t, t), ax, keepdims=True)
    return ops.multiply(t, rsqrt(ops.maximum(sq, epsilon)))


@export("nn.moments")
def moments(x: TensorInput, axes: Any, shift: Any = None, keepdims: bool = False,
            name: str | None = None) -> tuple[Tensor, Tensor]:
    """`(mean, variance)` of `x` over `axes`, the variance about `stop_gradient(mean)` (as
    TensorFlow computes it).

    >>> m, v = tj.nn.moments(tj.constant([[1., 2.], [3., 5.]]), axes=[0])
    >>> m.numpy(), v.numpy()
    (array([2. , 3.5], dtype=float32), array([1.  , 2.25], dtype=float32))
    """
    y = ops.convert_to_tensor(x)
    ax = list(ops._axes("moments", axes, y.ndim, "axes"))
    mean = ops.reduce_mean(y, ax, keepdims=True)
    d = ops.subtract(y, ops.stop_gradient(mean))
    var = ops.reduce_mean(ops.multiply(d, d), ax, keepdims=True)
    if not keepdims:
        mean, var = ops.squeeze(mean, ax), ops.squeeze(var, ax)
    return mean, var


@export("nn.normalize_moments")
def normalize_moments(counts: TensorInput, mean_ss: TensorInput, variance_ss: TensorInput,
                      shift: TensorInput | None, name: str | None = None
                      ) -> tuple[Tensor, Tensor]:
    """`(mean, variance)` from sufficient statistics (a count, the sum of the values and of
    their squares, each about `shift` if given), as TensorFlow computes them:
    `mean = mean_ss / counts (+ shift)`, `variance = variance_ss / counts - (mean_ss /
    counts)**2`.

    >>> m, v = tj.nn.normalize_moments(4., tj.constant([4., 8.]), tj.constant([10., 30.]), None)
    >>> m.numpy(), v.numpy()
    (array([1., 2.], dtype=float32), array([1.5, 3.5], dtype=float32))
    """
    ss = ops.convert_to_tensor(mean_ss)
    divisor = ops.divide(ops.ones_like(ss), ops.convert_to_tensor(counts, dtype_hint=ss.dtype))
    shifted_mean = ops.multiply(ss, divisor)
    mean = shifted_mean if shift is None else ops.add(shifted_mean, shift)
    variance = ops.subtract(ops.multiply(variance_ss, divisor), ops.square(shifted_mean))
    return mean, variance


@export("nn.weighted_moments")
def weighted_moments(x: TensorInput, axes: Any, frequency_weights: TensorInput,
                     keepdims: bool = False, name: str | None = None
                     ) -> tuple[Tensor, Tensor]:
    """`(mean, variance)` of `x` over `axes`, each element counted `frequency_weights` times
    (a tensor that broadcasts to `x`), as TensorFlow computes them.

    >>> m, v = tj.nn.weighted_moments(tj.constant([1., 3.]), [0], tj.constant([1., 3.]))
    >>> m.numpy(), v.numpy()
    (array(2.5, dtype=float32), array(0.75, dtype=float32))
    """
    y = ops.convert_to_tensor(x)
    w = ops.convert_to_tensor(frequency_weights, dtype_hint=y.dtype)
    ax = list(ops._axes("weighted_moments", axes, y.ndim, "axes"))
    total = ops.reduce_sum(ops.multiply(w, y), ax, keepdims=True)
    weight = ops.reduce_sum(ops.add(w, ops.zeros_like(y)), ax, keepdims=True)
    divisor = ops.divide(ops.ones_like(weight), weight)
    mean = ops.multiply(total, divisor)
    dist = ops.reduce_sum(ops.multiply(w, ops.square(ops.subtract(y, mean))), ax,
                          keepdims=True)
    variance = ops.multiply(dist, divisor)
    if not keepdims:
        mean, variance = ops.squeeze(mean, ax), ops.squeeze(variance, ax)
    return mean, variance


@export("nn.weighted_cross_entropy_with_logits")
def weighted_cross_entropy_with_logits(labels: TensorInput, logits: TensorInput,
                                       pos_weight: TensorInput, name: str | None = None
                                       ) -> Tensor:
    """Sigmoid cross-entropy with the positive term weighted by `pos_weight`, elementwise,
    as TensorFlow computes it (stable for large |logits|): `(1 - labels) * logits +
    (1 + (pos_weight - 1) * labels) * (log1p(exp(-|logits|)) + relu(-logits))`.

    >>> tj.nn.weighted_cross_entropy_with_logits([0., 1.], [-1., 2.], pos_weight=2.).numpy()
    array([0.31326163, 0.253856  ], dtype=float32)
    """
    z = ops.convert_to_tensor(logits)
    t = ops.convert_to_tensor(labels, dtype_hint=z.dtype)
    if t.shape != z.shape:
        raise at_user_line(ShapeError(f"weighted_cross_entropy_with_logits: logits and labels "
                                      f"must have the same shape, got {z.shape} and {t.shape}"))
    q = ops.convert_to_tensor(pos_weight, dtype_hint=z.dtype)
    log_weight = ops.add(1.0, ops.multiply(ops.subtract(q, 1.0), t))
    soft = ops.add(ops.log1p(ops.exp(ops.negative(ops.abs(z)))), ops.relu(ops.negative(z)))
    return ops.add(ops.multiply(ops.subtract(1.0, t), z), ops.multiply(log_weight, soft))


@export("nn.compute_average_loss")
def compute_average_loss(per_example_loss: TensorInput, sample_weight: TensorInput | None = None,
                         global_batch_size: int | None = None) -> Tensor:
    """The sum of the (weighted) per-example losses divided by the global batch size (by
    default the first dimension's size: one process, one replica), as TensorFlow's.

    >>> tj.nn.compute_average_loss([1., 2., 3., 6.], global_batch_size=8).numpy()
    array(1.5, dtype=float32)
    """
    loss = ops.convert_to_tensor(per_example_loss)
    if sample_weight is not None:
        loss = ops.multiply(loss, ops.convert_to_tensor(sample_weight, dtype_hint=loss.dtype))
    if global_batch_size is None:
        if loss.ndim == 0:
            raise at_user_line(ShapeError("compute_average_loss: per_example_loss must have a "
                                          "batch dimension (rank 1 or more), got a scalar"))
        global_batch_size = loss.shape[0]
    return ops.divide(ops.reduce_sum(loss), ops.cast(global_batch_size, loss.dtype)
                      if loss.dtype.kind == "f" else global_batch_size)


@export("clip_by_norm")
def clip_by_norm(t: TensorInput, clip_norm: TensorInput, axes: Any = None,
                 name: str | None = None) -> Tensor:
    """`t * clip_norm / max(norm(t, axes), clip_norm)`: `t` rescaled so that its L2 norm
    over `axes` (all axes when None) is at most `clip_norm`. At a norm equal to
    `clip_norm` the gradient is the norm's branch, and a zero `t` passes its gradient
    through unchanged (TensorFlow's choices).

    >>> tj.clip_by_norm(tj.constant([3., 4.]), 1.).numpy()
    array([0.6, 0.8], dtype=float32)
    """
    v = ops._float_tensor("clip_by_norm", t)
    v, c = ops._operands("clip_by_norm", v, clip_norm)
    ax = list(ops._axes("clip_by_norm", axes, v.ndim, "axes"))
    sq = ops.reduce_sum(ops.multiply(v, v), ax, keepdims=True)
    pos = ops.greater(sq, 0.0)
    safe = ops.where(pos, sq, ops.ones_like(sq))
    norm = ops.where(pos, ops.sqrt(safe), sq)
    return ops.divide(ops.multiply(v, c), ops.maximum(norm, c))


def _tensor_list(op: str, t_list: Any) -> list[Tensor | None]:
    if isinstance(t_list, (TensorLike, np.ndarray)) or not isinstance(t_list, Sequence):
        raise at_user_line(TypeError(f"{op}: t_list must be a sequence of tensors, got "
                                     f"{type(t_list).__name__}"))
    return [None if v is None else ops.convert_to_tensor(v) for v in t_list]


@export("linalg.global_norm")
def global_norm(t_list: Sequence[TensorInput | None], name: str | None = None) -> Tensor:
    """`sqrt(sum(sum(t**2) for t in t_list))`, skipping None entries (0.0 if all are).

    >>> tj.linalg.global_norm([tj.constant([3.]), None, tj.constant([[4.]])]).numpy()
    array(5., dtype=float32)
    """
    ts = [v for v in _tensor_list("global_norm", t_list) if v is not None]
    if not ts:
        return ops.constant(0.0)
    ts = ops._operands("global_norm", *ts)
    return ops.sqrt(ops.add_n([ops.reduce_sum(ops.multiply(v, v)) for v in ts]))


@export("clip_by_global_norm")
def clip_by_global_norm(t_list: Sequence[TensorInput | None], clip_norm: TensorInput,
                        use_norm: TensorInput | None = None, name: str | None = None
                        ) -> tuple[list[Tensor | None], Tensor]:
    """`([t * clip_norm / max(global_norm, clip_norm) for t in t_list], global_norm)`:
    every tensor scaled by one factor so that their joint L2 norm is at most `clip_norm`.
    None entries stay None; `use_norm` replaces the computed norm; an infinite norm gives
    NaN tensors (TensorFlow's rule).

    >>> (a, b), n = tj.clip_by_global_norm([tj.constant([3.]), tj.constant([4.])], 1.)
    >>> a.numpy(), b.numpy(), n.numpy()
    (array([0.6], dtype=float32), array([0.8], dtype=float32), array(5., dtype=float32))
    """
    ts = _tensor_list("clip_by_global_norm", t_list)
    norm = global_norm(ts) if use_norm is None else ops.convert_to_tensor(use_norm)
    norm, c = ops._operands("clip_by_global_norm", norm, clip_norm)
    scale = ops.multiply(c, ops.minimum(ops.divide(1.0, norm), ops.divide(1.0, c)))
    scale = ops.add(scale, ops.subtract(norm, norm))     # NaN when the norm is inf
    out = [None if v is None else ops.identity(ops.multiply(v, ops.cast(scale, v.dtype)))
           for v in ts]
    return out, norm
