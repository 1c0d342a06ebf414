"""Pooling of `tj.nn`: `max_pool1d`, `max_pool2d`, `max_pool` and the `avg_pool` forms
(TensorFlow's names, argument orders and errors).

Each is one primitive (`ir/prims/pool.py`): `max_pool` (TensorFlow's first maximum of a
window gets the gradient) and `avg_pool` (padding never counts in the mean: TensorFlow's
SAME semantics). `max_pool` and `avg_pool` take the rank from the input (3, 4 or 5:
1-D, 2-D or 3-D pooling). Max pools accept explicit padding as TensorFlow does; average
pools only 'SAME' and 'VALID'.
"""
from __future__ import annotations

from typing import Any

from . import conv_args as ca
from .exports import export
from .ir.core import bind
from .tensor import Tensor, TensorInput


def _pool(op: str, prim: str, input: TensorInput, ksize: Any, strides: Any, padding: Any,
          data_format: str | None, ranks: tuple[int, ...]) -> Tensor:
    x = ca.float_input(op, input, ranks)
    nsp = x.ndim - 2
    first = ca.channels_first(op, data_format, nsp)
    x = ca.to_last(x, first)
    k = ca.per_axis(op, "ksize", ksize, nsp, first)
    s = ca.per_axis(op, "strides", strides, nsp, first)
    sizes = tuple(x.shape[1:-1])
    lo, hi = ca.padding_of(op, padding, sizes, k, s, (1,) * nsp, first,
                           explicit=prim == "max_pool")
    ca.check_output(op, sizes, k, (1,) * nsp, lo, hi, x.shape)
    if any(a >= kk or b >= kk for a, b, kk in zip(lo, hi, k)):
        raise ca.fail(ValueError(f"{op}: explicit padding {padding!r} must be smaller than "
                                 f"the window {list(k)}"))
    y = bind(prim, x, window=k, strides=s, pad_lo=lo, pad_hi=hi)
    return ca.to_first(y, first)


@export("nn.max_pool2d")
def max_pool2d(input: TensorInput, ksize: Any, strides: Any, padding: Any,
               data_format: str = "NHWC", name: str | None = None) -> Tensor:
    """The max over each `ksize` window of `input` `[batch, height, width, channels]`,
    moved by `strides`; padded positions never win. `ksize`, `strides`: an int, 2 ints or
    4 (batch and channel entries 1); `padding`: 'SAME', 'VALID' or explicit pairs. The
    gradient goes to the first maximum of each window (TensorFlow's).

    >>> x = tj.reshape(tj.range(16.), [1, 4, 4, 1])
    >>> tj.nn.max_pool2d(x, 2, 2, "VALID").numpy().ravel()
    array([ 5.,  7., 13., 15.], dtype=float32)
    """
    return _pool("max_pool2d", "max_pool", input, ksize, strides, padding, data_format, (4,))


@export("nn.avg_pool2d")
def avg_pool2d(input: TensorInput, ksize: Any, strides: Any, padding: Any,
               data_format: str = "NHWC", name: str | None = None) -> Tensor:
    """The mean over each `ksize` window of `input` `[batch, height, width, channels]`;
    with 'SAME', padded positions are not counted (TensorFlow's).

    >>> x = tj.reshape(tj.range(9.), [1, 3, 3, 1])
    >>> tj.nn.avg_pool2d(x, 2, 2, "SAME").numpy().ravel()
    array([2. , 3.5, 6.5, 8. ], dtype=float32)
    """
    return _pool("avg_pool2d", "avg_pool", input, ksize, strides, padding, data_format, (4,))


@export("nn.max_pool1d")
def max_pool1d(input: TensorInput, ksize: Any, strides: Any, padding: Any,
               data_format: str = "NWC", name: str | None = None) -> Tensor:
    """`max_pool2d` over one spatial axis: `input` `[batch, width, channels]`.

    >>> tj.nn.max_pool1d(tj.reshape(tj.range(4.), [1, 4, 1]), 2, 2, "VALID").numpy().ravel()
    array([1., 3.], dtype=float32)
    """
    return _pool("max_pool1d", "max_pool", input, ksize, strides, padding, data_format, (3,))


@export("nn.avg_pool1d")
def avg_pool1d(input: TensorInput, ksize: Any, strides: Any, padding: Any,
               data_format: str = "NWC", name: str | None = None) -> Tensor:
    """`avg_pool2d` over one spatial axis: `input` `[batch, width, channels]`.

    >>> tj.nn.avg_pool1d(tj.reshape(tj.range(4.), [1, 4, 1]), 2, 2, "VALID").numpy().ravel()
    array([0.5, 2.5], dtype=float32)
    """
    return _pool("avg_pool1d", "avg_pool", input, ksize, strides, padding, data_format, (3,))


@export("nn.max_pool")
def max_pool(input: TensorInput, ksize: Any, strides: Any, padding: Any,
             data_format: str | None = None, name: str | None = None) -> Tensor:
    """Max pooling over 1, 2 or 3 spatial axes, from the input's rank (3, 4 or 5).

    >>> tj.nn.max_pool(tj.reshape(tj.range(8.), [1, 2, 2, 2, 1]), 2, 2, "VALID").numpy().ravel()
    array([7.], dtype=float32)
    """
    return _pool("max_pool", "max_pool", input, ksize, strides, padding, data_format,
                 (3, 4, 5))


@export("nn.avg_pool")
def avg_pool(input: TensorInput, ksize: Any, strides: Any, padding: Any,
             data_format: str | None = None, name: str | None = None) -> Tensor:
    """Average pooling over 1, 2 or 3 spatial axes, from the input's rank (3, 4 or 5).

    >>> tj.nn.avg_pool(tj.reshape(tj.range(4.), [1, 4, 1]), 2, 2, "SAME").numpy().ravel()
    array([0.5, 2.5], dtype=float32)
    """
    return _pool("avg_pool", "avg_pool", input, ksize, strides, padding, data_format,
                 (3, 4, 5))
